//! Validation: the raw [`spec`](super::spec) becomes a typed [`Plan`] — or every problem in the
//! file is reported at once, each with file, line, column, field, the bad value and what is
//! allowed. Nothing runs until the whole file is valid.
//!
//! One file per part of the experiment: [`data`] (the data section, and what only the data can
//! show), [`runs`] (each run: algorithm, backend, parameters, learning curves, sweeps,
//! preprocessing), [`search`] and [`space`] (searches and their trials), [`language`]
//! (language-model runs, `init_from` and checkpoints) and [`families`] (what each algorithm
//! family asks of the rest of the experiment). This file holds the plan's types, loading, and
//! the [`Checker`] that walks the file and collects every error.

mod data;
mod families;
mod language;
mod runs;
mod search;
mod space;
mod yaml;

pub use data::resolve_path;
pub use language::{read_checkpoint, read_checkpoint_params};
pub use search::{SearchMethod, SearchPlan, PRUNE_BATCH, PRUNE_WARMUP, TPE_BATCH, TPE_STARTUP};
pub use space::Dim;
pub use yaml::{parse_yaml, yaml_error};

use language::is_lm_spec;

use super::overrides;
use super::spec::{ExperimentSpec, S};
use crate::backends::params::{self, check_value, default_value, AlgoParams, ParamMap};
use crate::backends::{Algorithm, Backend, Task};
use crate::data::lm::LmDataConfig;
use crate::data::{DataConfig, Evaluation, Source};
use crate::error::{quote, snippet, InputError, InputErrors, Pos};
use crate::metrics::Metric;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A validated experiment, ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub description: Option<String>,
    pub seed: u64,
    pub data: Option<DataConfig>,
    pub metrics: Vec<Metric>,
    pub runs: Vec<RunPlan>,
    /// The searches among the runs, in file order.
    pub searches: Vec<SearchPlan>,
    /// The file it came from.
    pub source: PathBuf,
    /// The experiment as it will run: overrides applied, seed filled in, data paths absolute.
    /// Stored with every run so it can be re-executed exactly.
    pub resolved: Value,
    /// Positions of data fields whose problems only show when the data is read
    /// (`data.target`, `data.features`, `data.drop`), so those errors can point at the file too.
    pub positions: BTreeMap<String, Pos>,
    /// The experiment text, for error snippets.
    pub text: String,
}

impl Plan {
    /// Attach the experiment file, position and snippet to a data error that names a field.
    pub fn locate(&self, e: InputError) -> InputError {
        if e.file.is_some() {
            return e;
        }
        let pos = e.field.as_ref().and_then(|f| self.positions.get(f)).copied();
        let snip = pos.and_then(|p| snippet(&self.text, p));
        let mut e = e.file(&self.source).at_opt(pos);
        if let Some(s) = snip {
            e.detail = Some(match e.detail.take() {
                Some(d) => format!("{d}\n{s}"),
                None => s,
            });
        }
        e
    }
}

/// One validated run.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// Position in [`Plan::runs`] (a search's trials each have their own).
    pub index: usize,
    /// Position of the run in the file's `runs` list (shared by a search's trials).
    pub spec_index: usize,
    /// The trial of a search this run is, if it is one.
    pub trial: Option<Trial>,
    /// A pruned search's trial: what stops it early (set by the runner when it starts).
    pub pruner: Option<std::sync::Arc<crate::experiments::prune::Pruner>>,
    pub name: String,
    pub algorithm: Algorithm,
    pub backend: Backend,
    pub params: AlgoParams,
    /// Every parameter with defaults filled in, as recorded in events.
    pub params_json: Value,
    pub train_sizes: Option<Vec<f64>>,
    /// Parameter sweep: the swept parameter and, per value, its x and the run's parameters.
    pub sweep: Option<(String, Vec<(f64, AlgoParams)>)>,
    /// Preprocessing stages, in order.
    pub preprocess: Vec<crate::backends::params::PcaParams>,
    pub seed: u64,
    /// A language-model run's data and starting checkpoint (transformer runs only).
    pub lm: Option<LmRun>,
}

/// One trial of a search: the search (its run's name), the trial's number among how many, and
/// the values it tries of the searched parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    pub search: String,
    pub number: usize,
    pub count: usize,
    pub values: serde_json::Map<String, Value>,
}

/// Most trials a search may expand to unless `--max-trials` says otherwise.
pub const MAX_TRIALS: usize = 10_000;

/// What a language-model run learns from and starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct LmRun {
    pub data: LmDataConfig,
    pub init_from: Option<InitFrom>,
}

/// Where a fine-tuning run's starting weights come from.
#[derive(Debug, Clone, PartialEq)]
pub enum InitFrom {
    /// An earlier run of the same experiment (its index), found in the run store when it ran.
    Run(usize),
    /// A recorded run directory holding `model.safetensors`.
    Dir(PathBuf),
}

impl Plan {
    pub fn task(&self) -> Option<Task> {
        self.data.as_ref().map(|d| d.task)
    }
}

/// Read, parse and validate an experiment file, with `--set KEY=VALUE` overrides applied, and
/// fill in [`Plan::resolved`].
pub fn load(path: &Path, sets: &[String]) -> Result<Plan, InputErrors> {
    load_with(path, sets, MAX_TRIALS)
}

/// [`load`] with a limit on the trials a search may expand to (`--max-trials`).
pub fn load_with(path: &Path, sets: &[String], max_trials: usize) -> Result<Plan, InputErrors> {
    let limit = crate::data::limits::get().yaml_bytes;
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if size > limit as u64 {
        return Err(InputError::new(crate::data::limits::exceeded("yaml_bytes", &format!("the experiment file is {size} bytes"), limit)).file(path).into());
    }
    let bytes = std::fs::read(path).map_err(|e| InputError::new(format!("cannot read the experiment file: {e}")).file(path))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        InputError::new(format!("is not UTF-8 text: byte {at} (line {line}) is not valid UTF-8; save the file as UTF-8")).file(path)
    })?;
    // The file as written must be valid on its own, so errors point at its real lines.
    let mut plan = from_text_with(&text, path, path, max_trials)?;
    let mut doc: Value = parse_yaml(&text).map_err(|e| yaml_error(&e, path, &text))?;
    if !sets.is_empty() {
        for s in sets {
            overrides::apply(&mut doc, s)?;
        }
        let text2 = serde_saphyr::to_string(&doc)
            .map_err(|e| InputError::new(format!("cannot render the overridden experiment: {e}")).file(path))?;
        let label = PathBuf::from(format!("{} (after --set)", path.display()));
        plan = from_text_with(&text2, path, &label, max_trials)?;
    }
    resolve_document(&plan, &mut doc);
    plan.resolved = doc;
    Ok(plan)
}

/// Parse and validate experiment text. `path` locates relative data files; `label` is the name
/// errors show.
pub fn from_text(text: &str, path: &Path, label: &Path) -> Result<Plan, InputErrors> {
    from_text_with(text, path, label, MAX_TRIALS)
}

fn from_text_with(text: &str, path: &Path, label: &Path, max_trials: usize) -> Result<Plan, InputErrors> {
    let spec: ExperimentSpec = parse_yaml(text).map_err(|e| yaml_error(&e, label, text))?;
    let mut c = Checker { file: label.to_path_buf(), base: path.to_path_buf(), text: text.to_string(), errors: vec![], positions: BTreeMap::new(), max_trials, spaces: BTreeMap::new() };
    let plan = c.plan(&spec);
    // Report in file order.
    c.errors.sort_by_key(|e| e.pos.map_or((u64::MAX, 0), |p| (p.line, p.column)));
    if c.errors.is_empty() {
        plan.ok_or_else(|| InputErrors(vec![InputError::new("invalid experiment").file(label)]))
    } else {
        Err(InputErrors(c.errors))
    }
}

/// Fewest training rows a split may leave (per fold).
pub const MIN_TRAIN_ROWS: usize = 5;

/// Longest experiment or run name.
pub const MAX_NAME: usize = 64;

/// Experiment and run names become directory names (`runs/<time>-<experiment>-<run>`), and a
/// run name with `#i` names a search's trials: so a name is letters, digits, `-`, `_` and `.`,
/// at most [`MAX_NAME`] long, starting with a letter, digit or `_`, and not a Windows device
/// name. Nothing a user writes can then reach outside the run store.
pub fn check_name(name: &str) -> Result<(), String> {
    const RULE: &str = "names become directory names, so use letters, digits, '-', '_' and '.' (starting with a letter, digit or '_', at most 64)";
    let bad_char = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')));
    if let Some(c) = bad_char {
        let what = match c {
            '/' | '\\' => "a path separator".to_string(),
            '#' => "'#', which names a search's trials (NAME#3)".to_string(),
            c if c.is_control() => "a control character".to_string(),
            ' ' => "a space".to_string(),
            c => format!("{c:?}"),
        };
        return Err(format!("{} is not allowed: it contains {what}; {RULE}", quote(name)));
    }
    if name.starts_with(['.', '-']) {
        return Err(format!("{} is not allowed: it starts with '{}'; {RULE}", quote(name), &name[..1]));
    }
    if name.chars().count() > MAX_NAME {
        return Err(format!("{} is not allowed: it is {} characters long; {RULE}", quote(name), name.chars().count()));
    }
    let stem = name.split('.').next().unwrap_or("").to_ascii_uppercase();
    let device = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || (stem.len() == 4 && (stem.starts_with("COM") || stem.starts_with("LPT")) && stem.as_bytes()[3].is_ascii_digit());
    if device {
        return Err(format!("{} is not allowed: it is a device name on Windows; {RULE}", quote(name)));
    }
    Ok(())
}

/// Walks a parsed experiment and collects every problem with its position, so a file's errors
/// are all reported at once; each part of the file is checked by the methods in its own file.
struct Checker {
    file: PathBuf,
    base: PathBuf,
    text: String,
    errors: Vec<InputError>,
    positions: BTreeMap<String, Pos>,
    max_trials: usize,
    /// Each search's space and fixed parameters, by the run's position in the file.
    spaces: BTreeMap<usize, (Vec<(String, Dim)>, ParamMap)>,
}

fn pos<T>(s: &S<T>) -> Pos {
    Pos::from(s.referenced)
}

impl Checker {
    fn err(&mut self, at: Option<Pos>, field: &str, msg: impl Into<String>) {
        let mut e = InputError::new(msg).file(&self.file).at_opt(at).field(field);
        if let Some(s) = at.and_then(|p| snippet(&self.text, p)) {
            e = e.detail(s);
        }
        self.errors.push(e);
    }

    fn plan(&mut self, spec: &ExperimentSpec) -> Option<Plan> {
        let name = spec.name.value.trim().to_string();
        if name.is_empty() {
            self.err(Some(pos(&spec.name)), "name", "must not be empty");
        } else if let Err(why) = check_name(&name) {
            self.err(Some(pos(&spec.name)), "name", why);
        }
        let seed = spec.seed.as_ref().map_or(0, |s| s.value);
        // Runs first: they decide the task.
        let mut runs = Vec::new();
        let mut names = BTreeSet::new();
        if spec.runs.value.is_empty() {
            self.err(Some(pos(&spec.runs)), "runs", "is empty; list at least one run");
        }
        for (i, r) in spec.runs.value.iter().enumerate() {
            // Where each parameter is, for errors found once the data is read.
            for (k, v) in r.value.params.as_ref().map(|p| p.value.iter()).into_iter().flatten() {
                self.positions.insert(format!("runs[{i}].params.{k}"), pos(v));
            }
            // A run's backend and parameters as a whole (its algorithm line where they are left
            // to their defaults), for the size checks.
            let algorithm = pos(&r.value.algorithm);
            self.positions.insert(format!("runs[{i}].backend"), r.value.backend.as_ref().map_or(algorithm, pos));
            self.positions.insert(format!("runs[{i}].params"), r.value.params.as_ref().map_or(algorithm, pos));
            if !names.insert(r.value.name.value.clone()) {
                self.err(Some(pos(&r.value.name)), &format!("runs[{i}].name"), format!("{} is used by an earlier run; run names must be unique", quote(&r.value.name.value)));
            }
            if let Some(rp) = self.run(i, &r.value, seed) {
                runs.extend(rp);
            }
        }
        for (k, r) in runs.iter_mut().enumerate() {
            r.index = k;
        }
        // The task follows from the algorithms named, even where a run's parameters are invalid:
        // the tasks every data-using algorithm supports.
        let algos: Vec<Algorithm> = spec.runs.value.iter().filter_map(|r| Algorithm::parse(&r.value.algorithm.value)).collect();
        let users: Vec<Algorithm> = algos.iter().copied().filter(|a| a.uses_data()).collect();
        let needs_data = !users.is_empty();
        let possible: Vec<Task> =
            [Task::Classification, Task::Regression].into_iter().filter(|t| users.iter().all(|a| a.tasks().contains(t))).collect();
        if needs_data && possible.is_empty() {
            self.err(Some(pos(&spec.runs)), "runs", "mixes classification-only and regression-only algorithms; split them into two experiments");
        }
        let mut task = match possible.as_slice() {
            [one] => Some(*one),
            _ => None,
        };
        let flexible = possible.len() > 1;
        let exp_is_lm = spec.data.as_ref().is_some_and(is_lm_spec);
        let exp_lm = match &spec.data {
            Some(d) if exp_is_lm => self.lm_data(d, "data"),
            _ => None,
        };
        let data = match (&spec.data, needs_data) {
            (Some(d), true) if exp_is_lm => {
                let names: Vec<&str> = spec.runs.value.iter().filter(|r| Algorithm::parse(&r.value.algorithm.value).is_some_and(|a| a.uses_data())).map(|r| r.value.name.value.as_str()).collect();
                let at = d.value.format.as_ref().map(pos);
                self.err(at, "data.format", format!(
                    "is language-model data, but run(s) {} learn from a table; put the transformer runs in their own experiment",
                    names.join(", ")
                ));
                None
            }
            (Some(_), false) if exp_is_lm => None,
            (None, true) => {
                self.err(None, "data", "is missing; the runs need a dataset (data: {path: FILE, target: COLUMN} or data: {generate: {...}})");
                None
            }
            (Some(d), _) => self.data(d, &mut task, flexible),
            (None, false) => None,
        };
        self.language_runs(spec, &mut runs, exp_lm.as_ref());
        self.families(spec, &runs, task, data.as_ref());
        let metrics = match (&spec.metrics, task) {
            (Some(ms), task) => {
                let mut out = Vec::new();
                for (i, m) in ms.value.iter().enumerate() {
                    match Metric::parse(&m.value) {
                        None => self.err(Some(pos(m)), &format!("metrics[{i}]"), format!(
                            "unknown metric {}; allowed: {}",
                            quote(&m.value),
                            Metric::ALL.map(Metric::as_str).join(", ")
                        )),
                        Some(mm) if task.is_some_and(|t| t != mm.task()) => self.err(Some(pos(m)), &format!("metrics[{i}]"), format!(
                            "{} is a {} metric but this experiment is {}; allowed: {}",
                            quote(&m.value),
                            mm.task().as_str(),
                            task.map_or("", Task::as_str),
                            Metric::ALL.into_iter().filter(|x| Some(x.task()) == task).map(Metric::as_str).collect::<Vec<_>>().join(", ")
                        )),
                        Some(mm) => out.push(mm),
                    }
                }
                out
            }
            (None, Some(t)) => Metric::defaults(t),
            (None, None) => vec![],
        };
        let searches = self.searches(spec, &runs, &metrics);
        Some(Plan { name, description: spec.description.clone(), seed, data, metrics, runs, searches, source: self.base.clone(), resolved: Value::Null, positions: std::mem::take(&mut self.positions), text: self.text.clone() })
    }

    /// Check given parameters against an algorithm's table and fill in defaults. Returns the
    /// map and whether every given value was valid; errors name `field.KEY`.
    fn params(&mut self, algorithm: Algorithm, given: Option<&std::collections::BTreeMap<String, S<Value>>>, field: &str) -> (ParamMap, bool) {
        let defs = params::defs(algorithm);
        let mut map = ParamMap::new();
        let mut ok = true;
        for (k, v) in given.into_iter().flatten() {
            match defs.iter().find(|d| d.name == k) {
                None => {
                    ok = false;
                    self.err(Some(pos(v)), &format!("{field}.{k}"), format!(
                        "unknown parameter {} for {algorithm}; allowed: {}",
                        quote(k),
                        defs.iter().map(|d| d.name).collect::<Vec<_>>().join(", ")
                    ));
                }
                Some(d) => match check_value(d, &v.value) {
                    Ok(pv) => {
                        map.insert(k.clone(), pv);
                    }
                    Err(msg) => {
                        ok = false;
                        self.err(Some(pos(v)), &format!("{field}.{k}"), msg);
                    }
                },
            }
        }
        for d in defs {
            map.entry(d.name.to_string()).or_insert_with(|| default_value(d));
        }
        (map, ok)
    }

    fn choice<T: Copy>(&mut self, v: &Option<S<String>>, field: &str, options: &[(&str, T)], default: T) -> T {
        match v {
            None => default,
            Some(s) => match options.iter().find(|(n, _)| *n == s.value) {
                Some((_, t)) => *t,
                None => {
                    self.err(Some(pos(s)), field, format!(
                        "{} is not allowed; expected one of: {}",
                        quote(&s.value),
                        options.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                    ));
                    default
                }
            },
        }
    }
}

/// Build the resolved document stored with each run: seed filled in and data paths absolute,
/// so `rerun` works from any directory.
pub fn resolve_document(plan: &Plan, text_doc: &mut Value) {
    if let Value::Object(m) = text_doc {
        m.insert("seed".into(), Value::from(plan.seed));
        if let (Some(Value::Object(d)), Some(cfg)) = (m.get_mut("data"), &plan.data) {
            if let Source::File(p) = &cfg.source {
                d.insert("path".into(), Value::String(p.display().to_string()));
            }
            if let Evaluation::TestFile(p) = &cfg.evaluation {
                if let Some(Value::Object(sp)) = d.get_mut("split") {
                    if sp.contains_key("test_path") {
                        sp.insert("test_path".into(), Value::String(p.display().to_string()));
                    }
                }
                if d.contains_key("test_path") {
                    d.insert("test_path".into(), Value::String(p.display().to_string()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn names_that_could_leave_the_run_store_are_refused() {
        for ok in ["mle", "gb-1.v2", "_tmp", "a".repeat(64).as_str()] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [("a/b", "a path separator"), ("gb#1", "'#'"), (".hidden", "starts with '.'"), ("-x", "starts with '-'"), ("my run", "a space"), ("nul.txt", "device name"), ("COM1", "device name")] {
            let e = check_name(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(check_name(&"a".repeat(65)).unwrap_err().contains("65 characters"));
    }
}
