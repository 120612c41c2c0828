//! Nested estimators: an ensemble's members, written like runs (`{algorithm, backend, params}`)
//! and checked like them, nested a few ensembles deep at most.

use super::tree::cart;
use super::{backend_limit, check_nested, default_value, defs, show, AlgoParams, ParamMap, ParamValue};
use crate::backends::{Algorithm, Backend};
use serde_json::Value;

/// A nested estimator of an ensemble, validated like a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimator {
    pub algorithm: Algorithm,
    pub backend: Backend,
    pub params: AlgoParams,
    /// Its parameters with defaults, as recorded.
    pub json: Value,
}

/// How deep ensembles may nest (an ensemble of ensembles of …).
pub const MAX_NESTING: usize = 3;

impl Estimator {
    /// Parse and check `{algorithm, backend, params}`; `depth` counts the ensembles around it.
    pub fn parse(v: &Value, depth: usize) -> Result<Estimator, String> {
        let Value::Object(m) = v else {
            return Err(format!("{} is not an estimator; expected {{algorithm: NAME, backend: NAME, params: {{...}}}}", show(v)));
        };
        for k in m.keys() {
            if !["algorithm", "backend", "params"].contains(&k.as_str()) {
                return Err(format!("unknown field '{k}' in an estimator; allowed: algorithm, backend, params"));
            }
        }
        let name = m.get("algorithm").and_then(Value::as_str).ok_or("an estimator needs algorithm: NAME")?;
        let algorithm = Algorithm::parse(name)
            .ok_or_else(|| format!("unknown algorithm '{name}'; allowed: {}", Algorithm::ALL.map(Algorithm::as_str).join(", ")))?;
        if !algorithm.uses_data() {
            return Err(format!("{algorithm} takes no dataset and cannot be an ensemble member"));
        }
        if algorithm.is_ensemble() && depth >= MAX_NESTING {
            return Err(format!("ensembles nest {MAX_NESTING} deep at most; {algorithm} here would be level {}", depth + 1));
        }
        let backend = match m.get("backend") {
            None => algorithm.backends()[0],
            Some(b) => {
                let bs = b.as_str().unwrap_or("");
                Backend::parse(bs).filter(|bb| algorithm.backends().contains(bb)).ok_or_else(|| {
                    format!("{} is not a backend of {algorithm}; allowed: {}", show(b), algorithm.backends().iter().map(|b| b.as_str()).collect::<Vec<_>>().join(", "))
                })?
            }
        };
        let defs = defs(algorithm);
        let mut map = ParamMap::new();
        match m.get("params") {
            None | Some(Value::Null) => {}
            Some(Value::Object(given)) => {
                for (k, v) in given {
                    let d = defs.iter().find(|d| d.name == k).ok_or_else(|| {
                        format!("unknown parameter '{k}' for {algorithm}; allowed: {}", defs.iter().map(|d| d.name).collect::<Vec<_>>().join(", "))
                    })?;
                    map.insert(k.clone(), check_nested(d, v, depth + 1).map_err(|e| format!("{algorithm}.{k}: {e}"))?);
                }
            }
            Some(other) => return Err(format!("params {} must be fields (key: value)", show(other))),
        }
        for d in defs {
            map.entry(d.name.to_string()).or_insert_with(|| default_value(d));
        }
        if let Some((k, msg)) = backend_limit(algorithm, backend, &map) {
            return Err(format!("{algorithm}.{k}: {msg}"));
        }
        let params_json = Value::Object(map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect());
        let json = serde_json::json!({"algorithm": algorithm.as_str(), "backend": backend.as_str(), "params": params_json});
        Ok(Estimator { algorithm, backend, params: AlgoParams::from_map(algorithm, &map), json })
    }

    /// Every estimator inside this one (itself included), for checks against the task.
    pub fn walk<'a>(&'a self, out: &mut Vec<&'a Estimator>) {
        out.push(self);
        self.params.members(out);
    }
}

/// The estimator parameter `k` of a checked map.
pub(super) fn est(m: &ParamMap, k: &str) -> Box<Estimator> {
    match m.get(k) {
        Some(ParamValue::Estimator(e)) => e.clone(),
        // Defaults are parsed from the table, whose unit test checks them; a tree stands in.
        _ => Box::new(Estimator {
            algorithm: Algorithm::DecisionTree,
            backend: Backend::Native,
            params: AlgoParams::Tree(cart(&ParamMap::new())),
            json: Value::Null,
        }),
    }
}
