//! Checking one run of the file: its name, algorithm and backend, its parameters against the
//! algorithm's table, learning-curve sizes, a parameter sweep and preprocessing stages. A run
//! with a `search:` expands into its trials ([`super::search`]).

use super::{check_name, pos, Checker, RunPlan};
use crate::backends::params::{self, backend_limit, check_value, AlgoParams, ParamMap};
use crate::backends::{Algorithm, Backend};
use crate::error::quote;
use crate::experiments::spec::RunSpec;
use serde_json::Value;

impl Checker {
    pub(super) fn run(&mut self, i: usize, r: &RunSpec, seed: u64) -> Option<Vec<RunPlan>> {
        let f = |s: &str| format!("runs[{i}].{s}");
        if r.name.value.trim().is_empty() {
            self.err(Some(pos(&r.name)), &f("name"), "must not be empty");
        } else if let Err(why) = check_name(&r.name.value) {
            self.err(Some(pos(&r.name)), &f("name"), why);
        }
        let Some(algorithm) = Algorithm::parse(&r.algorithm.value) else {
            self.err(Some(pos(&r.algorithm)), &f("algorithm"), format!(
                "unknown algorithm {}; allowed: {}",
                quote(&r.algorithm.value),
                Algorithm::ALL.map(Algorithm::as_str).join(", ")
            ));
            return None;
        };
        let backend = match &r.backend {
            None => algorithm.backends()[0],
            Some(b) => match Backend::parse(&b.value) {
                Some(bb) if algorithm.backends().contains(&bb) => bb,
                Some(_) | None => {
                    self.err(Some(pos(b)), &f("backend"), format!(
                        "{} is not a backend of {algorithm}; allowed: {}",
                        quote(&b.value),
                        algorithm.backends().iter().map(|b| b.as_str()).collect::<Vec<_>>().join(", ")
                    ));
                    return None;
                }
            },
        };
        // Parameters against the algorithm's table.
        let defs = params::defs(algorithm);
        let given = r.params.as_ref().map(|p| &p.value);
        let (map, mut ok) = self.params(algorithm, given, &f("params"));
        // Parameters that only apply to another mode (`prior_alpha` with model: gaussian).
        if let Some(given) = given {
            for d in defs {
                if let (Some((key, val)), Some(v)) = (d.only_when, given.get(d.name)) {
                    let actual = match map.get(key) {
                        Some(params::ParamValue::Word(w)) => w.clone(),
                        _ => String::new(),
                    };
                    if actual != val {
                        ok = false;
                        self.err(Some(pos(v)), &f(&format!("params.{}", d.name)), format!(
                            "only applies when {key} is {val} (here {key} is {actual})"
                        ));
                    }
                }
            }
        }
        if let Some((k, msg)) = backend_limit(algorithm, backend, &map) {
            ok = false;
            let at = given.and_then(|g| g.get(k)).map(pos).or(r.backend.as_ref().map(pos));
            self.err(at, &f(&format!("params.{k}")), msg);
        }
        // Learning-curve sizes.
        let train_sizes = match &r.train_sizes {
            None => None,
            Some(ts) => {
                if !algorithm.uses_data() {
                    self.err(Some(pos(ts)), &f("train_sizes"), format!("{algorithm} takes no dataset; use its params.sizes"));
                }
                let mut out = Vec::new();
                for (j, s) in ts.value.iter().enumerate() {
                    let v = s.value;
                    let valid = v > 0.0 && (v <= 1.0 || v.fract() == 0.0) && out.last().is_none_or(|l: &f64| *l < v);
                    if !valid {
                        self.err(Some(pos(s)), &f(&format!("train_sizes[{j}]")), format!(
                            "{v} is not allowed; expected increasing counts (10, 20, …) or increasing fractions in (0, 1]"
                        ));
                    }
                    out.push(v);
                }
                if out.is_empty() {
                    self.err(Some(pos(ts)), &f("train_sizes"), "is empty; list at least one size");
                }
                let fractions = out.iter().all(|v| *v <= 1.0);
                let counts = out.iter().all(|v| v.fract() == 0.0);
                if !fractions && !counts {
                    self.err(Some(pos(ts)), &f("train_sizes"), "mixes fractions and counts; use one or the other");
                }
                Some(out)
            }
        };
        let sweep = match &r.sweep {
            None => None,
            Some(sw) => {
                let name = &sw.value.param.value;
                if r.train_sizes.is_some() {
                    self.err(Some(pos(sw)), &f("sweep"), "cannot be combined with train_sizes in one run; use two runs");
                }
                match defs.iter().find(|d| d.name == name) {
                    None => {
                        ok = false;
                        self.err(Some(pos(&sw.value.param)), &f("sweep.param"), format!(
                            "unknown parameter {} for {algorithm}; allowed: {}",
                            quote(name),
                            defs.iter().map(|d| d.name).collect::<Vec<_>>().join(", ")
                        ));
                        None
                    }
                    Some(d) => {
                        let mut points = Vec::new();
                        if sw.value.values.value.is_empty() {
                            ok = false;
                            self.err(Some(pos(&sw.value.values)), &f("sweep.values"), "is empty; list the values to try");
                        }
                        for (j, v) in sw.value.values.value.iter().enumerate() {
                            match check_value(d, &v.value) {
                                Ok(pv) => {
                                    let x = match &pv {
                                        params::ParamValue::Float(x) => *x,
                                        params::ParamValue::Int(i) => *i as f64,
                                        _ => j as f64,
                                    };
                                    let mut m = map.clone();
                                    m.insert(name.clone(), pv);
                                    if let Some((k, msg)) = backend_limit(algorithm, backend, &m) {
                                        ok = false;
                                        self.err(Some(pos(v)), &f(&format!("sweep.values[{j}]")), format!("{k}: {msg}"));
                                    }
                                    points.push((x, AlgoParams::from_map(algorithm, &m)));
                                }
                                Err(msg) => {
                                    ok = false;
                                    self.err(Some(pos(v)), &f(&format!("sweep.values[{j}]")), msg);
                                }
                            }
                        }
                        Some((name.clone(), points))
                    }
                }
            }
        };
        let mut preprocess = Vec::new();
        if let Some(pp) = &r.preprocess {
            if !algorithm.uses_data() || algorithm == Algorithm::Pca {
                ok = false;
                self.err(Some(pos(pp)), &f("preprocess"), format!("{algorithm} does not take preprocessing stages"));
            }
            for (j, stage) in pp.value.iter().enumerate() {
                if stage.value.len() != 1 {
                    ok = false;
                    self.err(Some(pos(stage)), &f(&format!("preprocess[{j}]")), "each stage is one name with its parameters, e.g. {pca: {n_components: 5}}");
                    continue;
                }
                for (name, given) in &stage.value {
                    if name != "pca" {
                        ok = false;
                        self.err(Some(pos(given)), &f(&format!("preprocess[{j}]")), format!("unknown stage {}; allowed: pca", quote(name)));
                        continue;
                    }
                    let (pm, stage_ok) = self.params(Algorithm::Pca, Some(&given.value), &f(&format!("preprocess[{j}].pca")));
                    ok &= stage_ok;
                    if let AlgoParams::Pca(pp) = AlgoParams::from_map(Algorithm::Pca, &pm) {
                        preprocess.push(pp);
                    }
                }
            }
        }
        if !ok {
            return None;
        }
        let (params, params_json) = typed_params(algorithm, &map);
        let base = RunPlan {
            index: i,
            spec_index: i,
            trial: None,
            pruner: None,
            name: r.name.value.clone(),
            algorithm,
            backend,
            params,
            params_json,
            train_sizes,
            sweep,
            preprocess,
            seed: r.seed.as_ref().map_or(seed, |s| s.value),
            lm: None,
        };
        match &r.search {
            None => Some(vec![base]),
            Some(sr) => self.trials(i, r, sr, base, &map),
        }
    }
}

/// A checked parameter map as the run's typed parameters and as recorded in its events.
pub(super) fn typed_params(algorithm: Algorithm, m: &ParamMap) -> (AlgoParams, Value) {
    let mut json = Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect());
    let params = AlgoParams::from_map(algorithm, m);
    if let (AlgoParams::Transformer(t), Value::Object(j)) = (&params, &mut json) {
        // Record the SwiGLU width actually used (0 means "from d_model").
        j.insert("mlp_hidden".into(), Value::from(t.mlp_hidden));
    }
    (params, json)
}
