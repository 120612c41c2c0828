//! Searches: a run's `search:` section expanded into its trials (grid, zip, random draws, or
//! TPE proposals when they run), each with its own name and seed, and the search's metric and
//! pruning rule.

use super::runs::typed_params;
use super::space::{dim_is_int, json_path, parse_dim, set_searched, with_path, Dim};
use super::{pos, Checker, RunPlan, Trial};
use crate::backends::params::{self, backend_limit, check_value, ParamMap};
use crate::backends::Algorithm;
use crate::error::{quote, Pos};
use crate::experiments::spec::{ExperimentSpec, RunSpec, SearchSpec, S};
use crate::metrics::Metric;
use serde_json::Value;

/// How a search picks its trials' values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchMethod {
    /// Every combination of the lists.
    Grid,
    /// The lists walked together: trial i takes the i-th value of each.
    Zip,
    /// Values drawn from the distributions (or uniformly from the lists), seeded.
    Random,
    /// Values proposed by a tree-structured Parzen estimator from the trials finished before
    /// (in batches of [`TPE_BATCH`] after [`TPE_STARTUP`] draws from the prior), when they run.
    Tpe,
}

/// Steps before a pruning rule decides anything, unless `warmup` says otherwise.
pub const PRUNE_WARMUP: u64 = 5;
/// A pruned search runs in batches of this many trials; each is compared with the batches
/// before it.
pub const PRUNE_BATCH: usize = 4;

/// Trials of a TPE search drawn from the prior before the estimator takes over.
pub const TPE_STARTUP: usize = 10;
/// TPE proposes this many trials at a time, each batch from every trial before it: a fixed
/// size, so the trials and results do not depend on `-j`.
pub const TPE_BATCH: usize = 4;

impl SearchMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            SearchMethod::Grid => "grid",
            SearchMethod::Zip => "zip",
            SearchMethod::Random => "random",
            SearchMethod::Tpe => "tpe",
        }
    }
}

/// A search of the plan: its trials (positions in [`Plan::runs`]) and what "best" means; for
/// TPE, also the space and the fixed parameters, to fill in each trial when it runs.
#[derive(Debug, Clone)]
pub struct SearchPlan {
    pub run: String,
    pub method: SearchMethod,
    pub metric: crate::metrics::Objective,
    pub trials: Vec<usize>,
    pub space: Vec<(String, Dim)>,
    pub fixed: ParamMap,
    /// Pruning, if the search asks for it.
    pub prune: Option<crate::experiments::prune::PruneSpec>,
}

impl SearchPlan {
    /// The space as TPE models it.
    pub fn tpe_space(&self, algorithm: Algorithm) -> Vec<crate::experiments::tpe::Space> {
        let defs = params::defs(algorithm);
        self.space
            .iter()
            .map(|(k, d)| {
                let head = k.split_once('.').map_or(k.as_str(), |p| p.0);
                let int = defs.iter().find(|p| p.name == head).is_some_and(|p| dim_is_int(k, p, d));
                match d {
                    Dim::List(v) => crate::experiments::tpe::Space::Choice(v.len()),
                    Dim::Uniform(a, b) => crate::experiments::tpe::Space::Number { low: *a, high: *b, log: false, int },
                    Dim::LogUniform(a, b) => crate::experiments::tpe::Space::Number { low: *a, high: *b, log: true, int },
                    Dim::Int(a, b) => crate::experiments::tpe::Space::Number { low: *a as f64, high: *b as f64, log: false, int: true },
                }
            })
            .collect()
    }

    /// A trial's values as TPE sees them (`None` if one does not fit the space).
    pub fn encode(&self, values: &serde_json::Map<String, Value>) -> Option<Vec<crate::experiments::tpe::Value>> {
        self.space
            .iter()
            .map(|(k, d)| {
                let v = values.get(k)?;
                match d {
                    Dim::List(list) => list.iter().position(|x| x == v).map(crate::experiments::tpe::Value::Choice),
                    _ => v.as_f64().map(crate::experiments::tpe::Value::Number),
                }
            })
            .collect()
    }

    /// Trial `run` of this search with values `vals` (from [`super::tpe`]) filled in.
    pub fn fill(&self, run: &RunPlan, vals: &[crate::experiments::tpe::Value]) -> Result<RunPlan, String> {
        let defs = params::defs(run.algorithm);
        let mut m = self.fixed.clone();
        let mut values = serde_json::Map::new();
        for ((k, d), v) in self.space.iter().zip(vals) {
            let head = k.split_once('.').map_or(k.as_str(), |p| p.0);
            let def = defs.iter().find(|p| p.name == head).ok_or_else(|| format!("unknown parameter {k}"))?;
            let int = dim_is_int(k, def, d);
            let json = match (d, v) {
                (Dim::List(list), crate::experiments::tpe::Value::Choice(i)) => list.get(*i).cloned().ok_or_else(|| format!("no choice {i} for {k}"))?,
                (_, crate::experiments::tpe::Value::Number(x)) if int => Value::from(x.round() as i64),
                (_, crate::experiments::tpe::Value::Number(x)) => Value::from(*x),
                _ => return Err(format!("a value of the wrong kind for {k}")),
            };
            set_searched(&mut m, def, k, &json).map_err(|e| format!("{k}: {e}"))?;
            values.insert(k.clone(), json);
        }
        if let Some((k, msg)) = backend_limit(run.algorithm, run.backend, &m) {
            return Err(format!("{k}: {msg}"));
        }
        let mut out = run.clone();
        (out.params, out.params_json) = typed_params(run.algorithm, &m);
        if let Some(t) = &mut out.trial {
            t.values = values;
        }
        Ok(out)
    }
}

impl Checker {
    /// A search's trials: the run `base` once per combination (grid), position (zip) or draw
    /// (random) of the searched values, each named `NAME#i` with its own seed.
    pub(super) fn trials(&mut self, i: usize, r: &RunSpec, sr: &S<SearchSpec>, base: RunPlan, map: &ParamMap) -> Option<Vec<RunPlan>> {
        let f = |s: &str| format!("runs[{i}].search.{s}");
        let sp = &sr.value;
        let algorithm = base.algorithm;
        let defs = params::defs(algorithm);
        let mut ok = true;
        let method = match &sp.method {
            None => SearchMethod::Grid,
            Some(m) => match m.value.as_str() {
                "grid" => SearchMethod::Grid,
                "zip" => SearchMethod::Zip,
                "random" => SearchMethod::Random,
                "tpe" => SearchMethod::Tpe,
                other => {
                    self.err(Some(pos(m)), &f("method"), format!("unknown search method {}; allowed: grid, zip, random, tpe", quote(other)));
                    return None;
                }
            },
        };
        if r.sweep.is_some() || r.train_sizes.is_some() {
            self.err(Some(pos(sr)), &format!("runs[{i}].search"), "cannot be combined with sweep or train_sizes in one run; use two runs");
            ok = false;
        }
        if sp.space.value.is_empty() {
            self.err(Some(pos(&sp.space)), &f("space"), "is empty; give each searched parameter its values: {max_depth: [3, 6]}");
            return None;
        }
        let fixed: Vec<String> = r.params.as_ref().map(|p| p.value.keys().cloned().collect()).unwrap_or_default();
        let mut dims: Vec<(String, &params::ParamDef, Dim, Pos)> = Vec::new();
        for (k, v) in &sp.space.value {
            let field = f(&format!("space.{k}"));
            // `lora.rank`: a field inside an object-valued parameter, the rest of it fixed.
            let (head, path) = match k.split_once('.') {
                Some((h, rest)) => (h, Some(rest)),
                None => (k.as_str(), None),
            };
            let Some(d) = defs.iter().find(|d| d.name == head) else {
                self.err(Some(pos(v)), &field, format!(
                    "unknown parameter {} for {algorithm}; allowed: {} (a field inside one as lora.rank)",
                    quote(head),
                    defs.iter().map(|d| d.name).collect::<Vec<_>>().join(", ")
                ));
                ok = false;
                continue;
            };
            let base_json = map.get(head).map(params::ParamValue::to_json);
            match path {
                None if fixed.iter().any(|x| x == k) => {
                    self.err(Some(pos(v)), &field, format!("{} is also fixed in params; a parameter is either fixed or searched", quote(k)));
                    ok = false;
                    continue;
                }
                Some(path) if r.params.as_ref().and_then(|p| p.value.get(head)).is_some_and(|written| json_path(&written.value, path).is_some()) => {
                    self.err(Some(pos(v)), &field, format!("{} is also set in params.{head}; a field is either fixed or searched", quote(path)));
                    ok = false;
                    continue;
                }
                _ => {}
            }
            // Each value is checked as the whole parameter it lands in.
            let check = |x: &Value| -> Result<params::ParamValue, String> {
                match path {
                    None => check_value(d, x),
                    Some(path) => check_value(d, &with_path(base_json.as_ref(), path, x.clone())),
                }
            };
            match parse_dim(d, &v.value, path.is_some(), &check) {
                Ok(dim) => {
                    if matches!(method, SearchMethod::Grid | SearchMethod::Zip) && !matches!(dim, Dim::List(_)) {
                        self.err(Some(pos(v)), &field, format!(
                            "{} search takes lists of values only; {} is a distribution (use method: random)",
                            method.as_str(),
                            quote(k)
                        ));
                        ok = false;
                    }
                    dims.push((k.clone(), d, dim, pos(v)));
                }
                Err(msg) => {
                    self.err(Some(pos(v)), &field, msg);
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        let lens: Vec<usize> = dims.iter().map(|(_, _, d, _)| if let Dim::List(v) = d { v.len() } else { 0 }).collect();
        let count = match method {
            SearchMethod::Grid => lens.iter().try_fold(1usize, |a, &b| a.checked_mul(b)).unwrap_or(usize::MAX),
            SearchMethod::Zip => {
                if lens.iter().any(|&l| l != lens[0]) {
                    let shown: Vec<String> = dims.iter().zip(&lens).map(|((k, ..), l)| format!("{k}: {l}")).collect();
                    self.err(Some(pos(&sp.space)), &f("space"), format!("zip walks the lists together, so they must be equally long ({})", shown.join(", ")));
                    return None;
                }
                lens[0]
            }
            SearchMethod::Random | SearchMethod::Tpe => match &sp.trials {
                Some(t) => t.value.min(usize::MAX as u64) as usize,
                None => {
                    self.err(Some(pos(sr)), &f("trials"), format!("is missing; a {} search runs this many trials: trials: 20", method.as_str()));
                    return None;
                }
            },
        };
        if let (Some(t), SearchMethod::Grid | SearchMethod::Zip) = (&sp.trials, method) {
            self.err(Some(pos(t)), &f("trials"), format!("applies to random and tpe searches only; {} search tries {} trial(s) here", method.as_str(), count));
            return None;
        }
        if count == 0 {
            self.err(Some(pos(sr)), &format!("runs[{i}].search"), "expands to no trial");
            return None;
        }
        if count > self.max_trials {
            let shown = if count == usize::MAX { "more than 10^19".to_string() } else { count.to_string() };
            self.err(Some(pos(sr)), &format!("runs[{i}].search"), format!(
                "expands to {shown} trials, more than the limit of {}; search fewer values or raise the limit with --max-trials",
                self.max_trials
            ));
            return None;
        }
        // The values of every trial, in trial order.
        let mut rng = crate::data::split::rng(crate::backends::native::hist::mix(base.seed, name_hash(&base.name)));
        let mut combos: Vec<Vec<Value>> = Vec::with_capacity(count);
        for t in 0..count {
            let mut rest = t;
            let mut vals = Vec::with_capacity(dims.len());
            // Grid: the last parameter varies fastest.
            let mut digits = vec![0usize; dims.len()];
            if method == SearchMethod::Grid {
                for (j, l) in lens.iter().enumerate().rev() {
                    digits[j] = rest % l;
                    rest /= l;
                }
            }
            if method == SearchMethod::Tpe {
                combos.push(vec![]);
                continue;
            }
            for (j, (key, d, dim, _)) in dims.iter().enumerate() {
                vals.push(match (method, dim) {
                    (SearchMethod::Grid, Dim::List(v)) => v[digits[j]].clone(),
                    (SearchMethod::Zip, Dim::List(v)) => v[t].clone(),
                    (_, dim) => dim.draw(dim_is_int(key, d, dim), &mut rng),
                });
            }
            combos.push(vals);
        }
        let width = count.to_string().len();
        let mut out = Vec::with_capacity(count);
        for (t, vals) in combos.into_iter().enumerate() {
            let mut m = map.clone();
            let mut values = serde_json::Map::new();
            // (TPE trials keep the fixed parameters until their values are proposed.)
            for ((k, d, _, at), v) in dims.iter().zip(vals) {
                match set_searched(&mut m, d, k, &v) {
                    Ok(()) => {}
                    Err(msg) => {
                        self.err(Some(*at), &f(&format!("space.{k}")), msg);
                        return None;
                    }
                }
                values.insert(k.clone(), v);
            }
            if let Some((k, msg)) = backend_limit(algorithm, base.backend, &m) {
                let at = dims.iter().find(|(n, ..)| n == k).map(|(.., p)| *p).unwrap_or(pos(sr));
                self.err(Some(at), &f(&format!("space.{k}")), msg);
                return None;
            }
            let name = format!("{}#{:0width$}", base.name, t);
            let mut run = base.clone();
            (run.params, run.params_json) = typed_params(algorithm, &m);
            run.seed = crate::backends::native::hist::mix(crate::backends::native::hist::mix(base.seed, name_hash(&base.name)), t as u64 + 1);
            run.trial = Some(Trial { search: base.name.clone(), number: t, count, values });
            run.name = name;
            out.push(run);
        }
        self.spaces.insert(i, (dims.iter().map(|(k, _, d, _)| (k.clone(), d.clone())).collect(), map.clone()));
        Some(out)
    }

    /// Each search's trials and metric (default: the experiment's first), which must be one the
    /// experiment computes.
    pub(super) fn searches(&mut self, spec: &ExperimentSpec, runs: &[RunPlan], metrics: &[Metric]) -> Vec<SearchPlan> {
        let mut out = Vec::new();
        for (i, r) in spec.runs.value.iter().enumerate() {
            let Some(sr) = &r.value.search else { continue };
            let trials: Vec<usize> = runs.iter().filter(|p| p.spec_index == i && p.trial.is_some()).map(|p| p.index).collect();
            let first = runs.iter().find(|p| p.spec_index == i && p.trial.is_some());
            let Some(first) = first else { continue };
            // A language model's search ranks by what it reports (default: test loss).
            let lm = first.algorithm.is_language_model();
            let metric = match &sr.value.metric {
                None if lm => crate::metrics::Objective::lm("loss"),
                None => metrics.first().copied().map(crate::metrics::Objective::Metric),
                Some(m) => match Metric::parse(&m.value) {
                    Some(mm) if metrics.contains(&mm) && !lm => Some(crate::metrics::Objective::Metric(mm)),
                    _ if lm => crate::metrics::Objective::lm(&m.value).or_else(|| {
                        self.err(Some(pos(m)), &format!("runs[{i}].search.metric"), format!(
                            "{} is not a figure a transformer run reports; allowed: {}",
                            quote(&m.value),
                            crate::metrics::LM_OBJECTIVES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                        ));
                        None
                    }),
                    _ => {
                        self.err(Some(pos(m)), &format!("runs[{i}].search.metric"), format!(
                            "{} is not among the experiment's metrics; allowed: {} (add it to metrics: to search on it)",
                            quote(&m.value),
                            metrics.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ")
                        ));
                        None
                    }
                },
            };
            if let (Some(metric), Some(t)) = (metric, &first.trial) {
                let (space, fixed) = self.spaces.remove(&i).unwrap_or_default();
                let prune = sr.value.prune.as_ref().and_then(|p| {
                    let rule = match p.value.rule.value.as_str() {
                        "median" => crate::experiments::prune::Rule::Median,
                        "halving" => crate::experiments::prune::Rule::Halving,
                        other => {
                            self.err(Some(pos(&p.value.rule)), &format!("runs[{i}].search.prune.rule"), format!("unknown rule {}; allowed: median, halving", quote(other)));
                            return None;
                        }
                    };
                    let warmup = p.value.warmup.as_ref().map_or(PRUNE_WARMUP, |w| w.value);
                    if warmup == 0 {
                        let at = p.value.warmup.as_ref().map(pos);
                        self.err(at, &format!("runs[{i}].search.prune.warmup"), "0 is not allowed; expected a number of steps ≥ 1");
                        return None;
                    }
                    Some(crate::experiments::prune::PruneSpec { rule, warmup })
                });
                out.push(SearchPlan { run: t.search.clone(), method: search_method(&sr.value), metric, trials, space, fixed, prune });
            }
        }
        out
    }
}

fn search_method(sp: &SearchSpec) -> SearchMethod {
    match sp.method.as_ref().map(|m| m.value.as_str()) {
        Some("zip") => SearchMethod::Zip,
        Some("random") => SearchMethod::Random,
        Some("tpe") => SearchMethod::Tpe,
        _ => SearchMethod::Grid,
    }
}

/// FNV-1a of a run name: trial seeds and draws depend on the name, not on the run's position.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}
