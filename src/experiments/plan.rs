//! Validation: the raw [`spec`](super::spec) becomes a typed [`Plan`] — or every problem in the
//! file is reported at once, each with file, line, column, field, the bad value and what is
//! allowed. Nothing runs until the whole file is valid.

use super::overrides;
use super::spec::{DataSpec, ExperimentSpec, GenerateSpec, RunSpec, SearchSpec, S};
use crate::backends::params::{self, backend_limit, check_value, default_value, AlgoParams, ParamMap};
use crate::backends::{Algorithm, Backend, Task};
use crate::data::lm::{LmDataConfig, LmFormat};
use crate::data::{DataConfig, Encoding, EvalRows, Evaluation, GenConfig, Missing, Source};
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
    /// Load and check the data this plan needs (all input checks happen here, before
    /// anything runs). `None` when no run needs a dataset.
    pub fn prepare(&self) -> Result<Option<crate::data::Prepared>, InputError> {
        // Language-model data is read here too, so a missing field or an empty file stops the
        // experiment before anything runs; the worker reads it again for itself.
        let mut checked: Vec<&LmDataConfig> = Vec::new();
        for r in &self.runs {
            if let Some(lm) = &r.lm {
                if !checked.contains(&&lm.data) {
                    crate::data::lm::load(&lm.data, r.seed)?;
                    checked.push(&lm.data);
                }
            }
        }
        let Some(cfg) = &self.data else { return Ok(None) };
        let p = crate::data::prepare(cfg, self.seed).map_err(|e| self.locate(e))?;
        if let Evaluation::CrossValidation { folds, .. } = cfg.evaluation {
            if p.data.x.nrows() < folds {
                return Err(self.locate(
                    InputError::new(format!("{folds}-fold cross-validation needs at least {folds} rows; the data has {}", p.data.x.nrows()))
                        .field("data.split.cv"),
                ));
            }
        }
        self.check_sizes(cfg, &p)?;
        Ok(Some(p))
    }

    /// What only the data can show is wrong, before anything trains: a split that leaves too
    /// few rows to learn from, a k-NN `k` above the training rows, more PCA components than
    /// features.
    fn check_sizes(&self, cfg: &crate::data::DataConfig, p: &crate::data::Prepared) -> Result<(), InputError> {
        let n = p.data.x.nrows();
        let labels: Option<Vec<usize>> = (p.data.task == Task::Classification).then(|| p.data.all().labels());
        let parts: Vec<(usize, usize)> = match (&cfg.evaluation, &p.test) {
            (Evaluation::TestFile(_), Some(t)) => vec![(n, t.x.nrows())],
            (Evaluation::CrossValidation { folds, stratify }, _) => {
                crate::data::split::kfold(n, *folds, if *stratify { labels.as_deref() } else { None }, self.seed).iter().map(|(a, b)| (a.len(), b.len())).collect()
            }
            (Evaluation::Holdout { test, stratify }, _) => {
                let (a, b) = crate::data::split::holdout(n, *test, if *stratify { labels.as_deref() } else { None }, self.seed);
                vec![(a.len(), b.len())]
            }
            (Evaluation::TestFile(_), None) => vec![(n, 0)],
        };
        let train = parts.iter().map(|p| p.0).min().unwrap_or(0);
        let test = parts.iter().map(|p| p.1).min().unwrap_or(0);
        let stratified = matches!(cfg.evaluation, Evaluation::Holdout { stratify: true, .. } | Evaluation::CrossValidation { stratify: true, .. });
        if test == 0 && n > MIN_TRAIN_ROWS && stratified {
            return Err(self.locate(
                InputError::new(format!(
                    "the stratified split leaves no test rows: its {} classes are too small to share out (a class needs a row on each side); set split: {{stratify: false}}, or merge rare classes",
                    p.data.n_classes()
                ))
                .field(if self.positions.contains_key("data.split") { "data.split" } else { "data.path" }),
            ));
        }
        if train < MIN_TRAIN_ROWS || test == 0 {
            return Err(self.locate(
                InputError::new(format!(
                    "{n} row(s) are too few for this split: training would get {train} row(s) and testing {test}; ratlab needs at least {MIN_TRAIN_ROWS} training rows and 1 test row (more data, a smaller split.test, or fewer folds)"
                ))
                .field(if self.positions.contains_key("data.split") { "data.split" } else { "data.path" }),
            ));
        }
        let features = p.data.x.ncols();
        for r in &self.runs {
            let at = format!("runs[{}].params", r.spec_index);
            match &r.params {
                crate::backends::AlgoParams::Knn(k) if k.k > train => {
                    return Err(self.locate(
                        InputError::new(format!("k = {} is more than the {train} training rows; a neighbour vote needs k ≤ the rows it votes among", k.k)).field(format!("{at}.k")),
                    ));
                }
                crate::backends::AlgoParams::Pca(pc) if pc.n_components >= 1.0 && pc.n_components as usize > features => {
                    return Err(self.locate(
                        InputError::new(format!("{} components asked of {features} features; PCA finds at most as many components as features (or give a variance fraction such as 0.95)", pc.n_components)).field(format!("{at}.n_components")),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

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
    pub pruner: Option<std::sync::Arc<super::prune::Pruner>>,
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
    pub prune: Option<super::prune::PruneSpec>,
}

impl SearchPlan {
    /// The space as TPE models it.
    pub fn tpe_space(&self, algorithm: Algorithm) -> Vec<super::tpe::Space> {
        let defs = params::defs(algorithm);
        self.space
            .iter()
            .map(|(k, d)| {
                let head = k.split_once('.').map_or(k.as_str(), |p| p.0);
                let int = defs.iter().find(|p| p.name == head).is_some_and(|p| dim_is_int(k, p, d));
                match d {
                    Dim::List(v) => super::tpe::Space::Choice(v.len()),
                    Dim::Uniform(a, b) => super::tpe::Space::Number { low: *a, high: *b, log: false, int },
                    Dim::LogUniform(a, b) => super::tpe::Space::Number { low: *a, high: *b, log: true, int },
                    Dim::Int(a, b) => super::tpe::Space::Number { low: *a as f64, high: *b as f64, log: false, int: true },
                }
            })
            .collect()
    }

    /// A trial's values as TPE sees them (`None` if one does not fit the space).
    pub fn encode(&self, values: &serde_json::Map<String, Value>) -> Option<Vec<super::tpe::Value>> {
        self.space
            .iter()
            .map(|(k, d)| {
                let v = values.get(k)?;
                match d {
                    Dim::List(list) => list.iter().position(|x| x == v).map(super::tpe::Value::Choice),
                    _ => v.as_f64().map(super::tpe::Value::Number),
                }
            })
            .collect()
    }

    /// Trial `run` of this search with values `vals` (from [`super::tpe`]) filled in.
    pub fn fill(&self, run: &RunPlan, vals: &[super::tpe::Value]) -> Result<RunPlan, String> {
        let defs = params::defs(run.algorithm);
        let mut m = self.fixed.clone();
        let mut values = serde_json::Map::new();
        for ((k, d), v) in self.space.iter().zip(vals) {
            let head = k.split_once('.').map_or(k.as_str(), |p| p.0);
            let def = defs.iter().find(|p| p.name == head).ok_or_else(|| format!("unknown parameter {k}"))?;
            let int = dim_is_int(k, def, d);
            let json = match (d, v) {
                (Dim::List(list), super::tpe::Value::Choice(i)) => list.get(*i).cloned().ok_or_else(|| format!("no choice {i} for {k}"))?,
                (_, super::tpe::Value::Number(x)) if int => Value::from(x.round() as i64),
                (_, super::tpe::Value::Number(x)) => Value::from(*x),
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

/// Why a data path did not resolve: a directory where a file is expected, or not found where
/// ratlab looked.
fn not_found(given: &str, experiment: &Path, tried: &[String]) -> String {
    let dirs: Vec<PathBuf> = std::iter::once(PathBuf::from(given)).chain(experiment.parent().map(|d| d.join(given))).collect();
    if dirs.iter().any(|d| d.is_dir()) {
        format!("{} is a directory; give a data file in it (a .csv or .parquet file, or .txt/.jsonl for a language model)", quote(given))
    } else {
        format!("file {} not found (looked in: {})", quote(given), tried.join(", "))
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

/// Parse YAML with the parser's budget (nesting depth from `--limit yaml_depth`; its caps on
/// aliases, nodes and events defuse alias bombs) and duplicate keys refused.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = crate::data::limits::get().yaml_depth;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    serde_saphyr::from_str_with_options(text, options)
}

/// Turn a YAML/serde error into an [`InputError`] with its position, the field it is on,
/// the bad value, and what is allowed.
pub fn yaml_error(e: &serde_saphyr::Error, file: &Path, text: &str) -> InputError {
    let msg = e.without_snippet().to_string();
    // serde-saphyr prefixes "error: line L column C: "; the position is ours to print.
    let msg = match msg.find(": ") {
        Some(i) if msg.starts_with("error: line ") => msg[i + 2..].to_string(),
        _ => msg,
    };
    // …and some messages end with " at line L, column C".
    let msg = match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains("column") => msg[..i].to_string(),
        _ => msg,
    };
    let msg = msg.trim().to_string();
    let msg = match msg.as_str() {
        "unexpected end of input" if text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) => "the file is empty; an experiment needs at least `name:` and `runs:`".to_string(),
        m if m.starts_with("duplicate mapping key: ") => {
            let key = m.trim_start_matches("duplicate mapping key: ").split(',').next().unwrap_or("").trim();
            format!("{} appears twice in the same map; give each field once", quote(key))
        }
        m if m.starts_with("budget breached: Depth") || m.contains("recursion limit exceeded") => {
            let limit = crate::data::limits::get().yaml_depth;
            crate::data::limits::exceeded("yaml_depth", "the file nests deeper than an experiment needs", limit)
        }
        m if m.starts_with("budget breached") => {
            let what = m.trim_start_matches("budget breached: ").split(" at line").next().unwrap_or("");
            format!("the file expands past the YAML parser's safety budget ({what}): aliases that multiply (an alias bomb) or a very large document; write the values out plainly")
        }
        m if m.starts_with("non-finite float `") => {
            let v = m.trim_start_matches("non-finite float `").split('`').next().unwrap_or("");
            format!("{} is not allowed; expected a finite number (infinities and NaN are not parameters)", quote(v))
        }
        _ => msg,
    };
    let mut err = InputError::new(msg.clone()).file(file);
    if let Some(loc) = e.location() {
        let pos = Pos::from(loc);
        let line = text.lines().nth(pos.line.saturating_sub(1) as usize).unwrap_or("");
        let col = (pos.column.saturating_sub(1) as usize).min(line.len());
        let value = line.get(col..).unwrap_or("").split(" #").next().unwrap_or("").trim();
        // Inside a flow collection ([a, b] or {k: v}) the value ends at the next separator.
        let in_flow = line.get(..col).is_some_and(|before| before.contains(['[', '{']));
        let value = if in_flow && !value.starts_with(['\'', '"', '[', '{']) { value.split([',', ']', '}']).next().unwrap_or(value).trim() } else { value };
        let key = line.get(..col).unwrap_or("").trim().trim_start_matches("- ").trim_end_matches(['[', '{', ' ', ',']).trim_end_matches(':').trim();
        let expected = match msg.as_str() {
            m if m.starts_with("invalid u64") || m.starts_with("invalid i64") => Some("a whole number ≥ 0"),
            m if m.starts_with("invalid f64") || m.starts_with("invalid floating") => Some("a number"),
            m if m.starts_with("invalid bool") => Some("true or false"),
            m if m.starts_with("expected string scalar") => Some("a single text value, not a list or map"),
            m if m.starts_with("expected sequence start") => Some("a list (`- item` lines, or [a, b])"),
            m if m.starts_with("expected mapping start") => Some("fields (`key: value` lines, or {key: value})"),
            _ => None,
        };
        if let Some(exp) = expected {
            err.message = format!("{} is not allowed; expected {exp}", quote(value));
        }
        if !key.is_empty() && !key.contains(' ') && expected.is_some() {
            err = err.field(key.to_string());
        }
        err = err.at(pos);
        if let Some(s) = snippet(text, pos) {
            err = err.detail(s);
        }
    }
    err
}

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
        // Nested estimators must fit the task, and `missing: keep` needs models that take NaN.
        let keep_missing = data.as_ref().is_some_and(|d| d.missing == Missing::Keep);
        for r in &runs {
            let at = spec.runs.value[r.spec_index].value.params.as_ref().map(pos).or(Some(pos(&spec.runs.value[r.spec_index].value.algorithm)));
            let mut inner = Vec::new();
            r.params.members(&mut inner);
            for e in &inner {
                if let Some(t) = task {
                    if !e.algorithm.tasks().contains(&t) {
                        self.err(at, &format!("runs[{}].params", r.spec_index), format!(
                            "the member {} does not do {}; a member must fit the experiment's task",
                            e.algorithm,
                            t.as_str()
                        ));
                    }
                }
            }
            let handles_nan = |a: Algorithm, b: Backend| {
                b == Backend::Native && matches!(a, Algorithm::GradientBoosting | Algorithm::DecisionTree | Algorithm::RandomForest | Algorithm::Bagging | Algorithm::AdaBoost)
            };
            if keep_missing && !(handles_nan(r.algorithm, r.backend) && inner.iter().all(|e| handles_nan(e.algorithm, e.backend))) {
                let at = spec.data.as_ref().and_then(|d| d.value.missing.as_ref()).map(pos);
                self.err(at, "data.missing", format!(
                    "keep leaves empty cells missing, which only native gradient_boosting, decision_tree and random_forest (and bagging or adaboost of them) learn from; run {} is {} on {}: use missing: mean or drop for it",
                    quote(&r.name),
                    r.algorithm,
                    r.backend
                ));
            }
        }
        if task == Some(Task::Regression) {
            for r in &runs {
                if r.algorithm == Algorithm::DecisionTree && r.backend == Backend::Linfa {
                    let at = spec.runs.value[r.spec_index].value.backend.as_ref().map(pos);
                    self.err(at, &format!("runs[{}].backend", r.spec_index), "linfa-trees has classification trees only; use backend: smartcore for regression trees");
                }
            }
        }
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

    fn run(&mut self, i: usize, r: &RunSpec, seed: u64) -> Option<Vec<RunPlan>> {
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

    /// A search's trials: the run `base` once per combination (grid), position (zip) or draw
    /// (random) of the searched values, each named `NAME#i` with its own seed.
    fn trials(&mut self, i: usize, r: &RunSpec, sr: &S<SearchSpec>, base: RunPlan, map: &ParamMap) -> Option<Vec<RunPlan>> {
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
    fn searches(&mut self, spec: &ExperimentSpec, runs: &[RunPlan], metrics: &[Metric]) -> Vec<SearchPlan> {
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
                        "median" => super::prune::Rule::Median,
                        "halving" => super::prune::Rule::Halving,
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
                    Some(super::prune::PruneSpec { rule, warmup })
                });
                out.push(SearchPlan { run: t.search.clone(), method: search_method(&sr.value), metric, trials, space, fixed, prune });
            }
        }
        out
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

    fn data(&mut self, d: &S<DataSpec>, task: &mut Option<Task>, flexible: bool) -> Option<DataConfig> {
        let at = Some(pos(d));
        let d = &d.value;
        for (k, p) in [("data.target", d.target.as_ref().map(pos)), ("data.features", d.features.as_ref().map(pos)), ("data.drop", d.drop.as_ref().map(pos)), ("data.split", d.split.as_ref().map(pos)), ("data.path", d.path.as_ref().map(pos))] {
            if let Some(p) = p {
                self.positions.insert(k.to_string(), p);
            }
        }
        if let Some(t) = &d.task {
            let given = self.choice(&Some(t.clone()), "data.task", &[("classification", Task::Classification), ("regression", Task::Regression)], Task::Classification);
            match *task {
                Some(inferred) if inferred != given => self.err(Some(pos(t)), "data.task", format!(
                    "{} does not fit the runs' algorithms, which are {}",
                    quote(&t.value),
                    inferred.as_str()
                )),
                _ => *task = Some(given),
            }
        }
        // Algorithms that do both follow a regression generator.
        if flexible && task.is_none() {
            if let Some(g) = &d.generate {
                if g.value.kind.value == "regression" {
                    *task = Some(Task::Regression);
                }
            }
        }
        let task_v = task.unwrap_or(Task::Classification);
        *task = Some(task_v);
        let source = match (&d.path, &d.generate) {
            (Some(_), Some(g)) => {
                self.err(Some(pos(g)), "data.generate", "give either data.path or data.generate, not both");
                None
            }
            (None, None) => {
                self.err(at, "data", "needs a file (path: datasets/wine.csv) or a generator (generate: {kind: classification})");
                None
            }
            (Some(p), None) => self.file(p, "data.path").map(Source::File),
            (None, Some(g)) => self.generator(g, task_v).map(Source::Generate),
        };
        let target = match (&d.target, &source) {
            (Some(t), _) => t.value.clone(),
            (None, Some(Source::Generate(_))) => "target".into(),
            (None, _) => {
                self.err(at, "data.target", "is missing; name the column to predict (target: COLUMN)");
                String::new()
            }
        };
        if let (Some(t), Some(Source::Generate(_))) = (&d.target, &source) {
            if t.value != "target" {
                self.err(Some(pos(t)), "data.target", format!("generated data has its target in column 'target', not {}", quote(&t.value)));
            }
        }
        let list = |l: &Option<S<Vec<S<String>>>>| l.as_ref().map(|v| v.value.iter().map(|s| s.value.clone()).collect::<Vec<_>>());
        let encoding = self.choice(&d.encoding, "data.encoding", &[("onehot", Encoding::OneHot), ("ordinal", Encoding::Ordinal)], Encoding::OneHot);
        let missing = self.choice(
            &d.missing,
            "data.missing",
            &[("error", Missing::Error), ("drop", Missing::Drop), ("mean", Missing::Mean), ("keep", Missing::Keep)],
            Missing::Error,
        );
        let eval_train_rows = match &d.eval_train_rows {
            None => EvalRows::AtMost(10_000),
            Some(v) => match &v.value {
                Value::String(s) if s == "all" => EvalRows::All,
                Value::Number(n) if n.is_u64() => EvalRows::AtMost(n.as_u64().unwrap_or(0) as usize),
                other => {
                    self.err(Some(pos(v)), "data.eval_train_rows", format!(
                        "{} is not allowed; expected a number of rows (10000; 0 skips train metrics) or all",
                        match other { Value::String(s) => quote(s), o => o.to_string() }
                    ));
                    EvalRows::AtMost(10_000)
                }
            },
        };
        let standardize = d.standardize.as_ref().is_none_or(|s| s.value);
        // Evaluation: split.{test|cv|test_path}, or the data.cv / data.test_path shorthands.
        let mut choices: Vec<(Pos, Evaluation)> = Vec::new();
        let strat_default = task_v == Task::Classification;
        let mut stratify = strat_default;
        if let Some(sp) = &d.split {
            if let Some(st) = &sp.value.stratify {
                if st.value && task_v == Task::Regression {
                    self.err(Some(pos(st)), "data.split.stratify", "stratification needs class labels; this experiment is regression");
                }
                stratify = st.value;
            }
            if let Some(t) = &sp.value.test {
                if !(t.value > 0.0 && t.value < 1.0) {
                    self.err(Some(pos(t)), "data.split.test", format!("{} is not allowed; expected a fraction in (0, 1), e.g. 0.3", t.value));
                }
                choices.push((pos(t), Evaluation::Holdout { test: t.value, stratify }));
            }
            if let Some(k) = &sp.value.cv {
                self.cv(k, "data.split.cv");
                choices.push((pos(k), Evaluation::CrossValidation { folds: k.value as usize, stratify }));
            }
            if let Some(tp) = &sp.value.test_path {
                if let Some(p) = self.file(tp, "data.split.test_path") {
                    choices.push((pos(tp), Evaluation::TestFile(p)));
                }
            }
        }
        if let Some(k) = &d.cv {
            self.cv(k, "data.cv");
            choices.push((pos(k), Evaluation::CrossValidation { folds: k.value as usize, stratify }));
        }
        if let Some(tp) = &d.test_path {
            if let Some(p) = self.file(tp, "data.test_path") {
                choices.push((pos(tp), Evaluation::TestFile(p)));
            }
        }
        if choices.len() > 1 {
            self.err(Some(choices[1].0), "data.split", "choose one evaluation: a test fraction (test: 0.3), cross-validation (cv: 5) or a test file (test_path: FILE)");
        }
        if let (Some((p, Evaluation::TestFile(_))), Some(Source::Generate(_))) = (choices.first(), &source) {
            self.err(Some(*p), "data.test_path", "a test file needs a training file (data.path), not generated data");
        }
        let evaluation = choices.into_iter().next().map(|c| c.1).unwrap_or(Evaluation::Holdout { test: 0.25, stratify });
        Some(DataConfig {
            source: source?,
            target,
            task: task_v,
            features: list(&d.features),
            drop: list(&d.drop).unwrap_or_default(),
            encoding,
            missing,
            standardize,
            evaluation,
            eval_train_rows,
        })
    }

    /// Language-model runs: their data (own or the experiment's) must fit their mode,
    /// `init_from` must name an earlier transformer run or a run directory (whose architecture
    /// the run takes), and the torch worker must be there to train them.
    fn language_runs(&mut self, spec: &ExperimentSpec, runs: &mut [RunPlan], exp_lm: Option<&LmDataConfig>) {
        let mut worker_checked = false;
        for i in 0..runs.len() {
            let idx = runs[i].spec_index;
            let rs = &spec.runs.value[idx].value;
            let field = |s: &str| format!("runs[{idx}].{s}");
            if !runs[i].algorithm.is_language_model() {
                if let Some(d) = &rs.data {
                    self.err(Some(pos(d)), &field("data"), "only language-model runs (algorithm: transformer) take their own data; use the experiment's data section");
                }
                continue;
            }
            let AlgoParams::Transformer(tp) = runs[i].params.clone() else { continue };
            if !worker_checked {
                worker_checked = true;
                if let Err(why) = super::worker::locate() {
                    self.err(Some(pos(&rs.algorithm)), &field("algorithm"), why);
                }
            }
            let data = match &rs.data {
                Some(d) => self.lm_data(d, &field("data")),
                None => {
                    if exp_lm.is_none() && spec.data.is_none() {
                        self.err(Some(pos(&rs.algorithm)), &field("data"), format!(
                            "a transformer needs language data: data: {{path: FILE, format: {}}} in the run or the experiment",
                            tp.mode.format().as_str()
                        ));
                    } else if exp_lm.is_none() && !spec.data.as_ref().is_some_and(is_lm_spec) {
                        self.err(spec.data.as_ref().map(pos), "data", format!(
                            "is a table, but run {} is a transformer; give the run its own data: {{path: FILE, format: {}}}",
                            quote(&runs[i].name),
                            tp.mode.format().as_str()
                        ));
                    }
                    exp_lm.cloned()
                }
            };
            if let Some(d) = &data {
                if d.format != tp.mode.format() {
                    let at = rs.params.as_ref().and_then(|p| p.value.get("mode")).map(pos).or(Some(pos(&rs.algorithm)));
                    self.err(at, &field("params.mode"), format!(
                        "{} learns from {} data, but the run's data is {}; use format: {} (or mode: {})",
                        tp.mode.as_str(),
                        tp.mode.format().as_str(),
                        d.format.as_str(),
                        tp.mode.format().as_str(),
                        match d.format {
                            LmFormat::Text => "pretrain",
                            LmFormat::Instructions => "sft",
                            LmFormat::Preferences => "dpo",
                        }
                    ));
                }
            }
            let init_from = tp.init_from.as_ref().and_then(|name| {
                let at = rs.params.as_ref().and_then(|p| p.value.get("init_from")).map(pos);
                let f = field("params.init_from");
                let given: Vec<String> = rs.params.as_ref().map(|p| p.value.keys().cloned().collect()).unwrap_or_default();
                let (source, json) = if let Some(j) = runs.iter().position(|r| &r.name == name) {
                    let src = &runs[j];
                    if src.spec_index >= idx || !src.algorithm.is_language_model() {
                        self.err(at, &f, format!(
                            "{} must be a transformer run listed before this one (it runs first)",
                            quote(name)
                        ));
                        return None;
                    }
                    (InitFrom::Run(src.index), src.params_json.clone())
                } else if spec.runs.value.iter().any(|r| &r.value.name.value == name) {
                    return None; // that run is invalid; its own errors say why
                } else {
                    match resolve_dir(name, &self.base) {
                        Some(dir) => match read_checkpoint_params(&dir) {
                            Ok(json) => (InitFrom::Dir(dir), json),
                            Err(why) => {
                                self.err(at, &f, why);
                                return None;
                            }
                        },
                        None => {
                            self.err(at, &f, format!(
                                "{} is neither a run of this experiment (runs: {}) nor a run directory",
                                quote(name),
                                spec.runs.value.iter().map(|r| r.value.name.value.as_str()).collect::<Vec<_>>().join(", ")
                            ));
                            return None;
                        }
                    }
                };
                // The network's shape comes from the checkpoint.
                let mut mine = runs[i].params_json.clone();
                for k in params::ARCHITECTURE {
                    let theirs = json.get(k).cloned().unwrap_or(Value::Null);
                    if given.iter().any(|g| g == k) && mine.get(k) != Some(&theirs) {
                        let at = rs.params.as_ref().and_then(|p| p.value.get(k)).map(pos);
                        self.err(at, &field(&format!("params.{k}")), format!(
                            "is {} here but {} in init_from {}, whose weights this run starts from; remove it (the run takes the checkpoint's)",
                            mine.get(k).cloned().unwrap_or(Value::Null),
                            theirs,
                            quote(name)
                        ));
                    } else if let Value::Object(m) = &mut mine {
                        m.insert(k.to_string(), theirs);
                    }
                }
                let map = params::map_from_json(Algorithm::Transformer, &mine);
                runs[i].params = AlgoParams::from_map(Algorithm::Transformer, &map);
                runs[i].params_json = mine;
                Some(source)
            });
            if let Some(data) = data {
                runs[i].lm = Some(LmRun { data, init_from });
            }
        }
    }

    /// A language-model data section: `{path, format, split: {test | test_path}}`.
    fn lm_data(&mut self, d: &S<DataSpec>, field: &str) -> Option<LmDataConfig> {
        let at = Some(pos(d));
        let d = &d.value;
        let f = |s: &str| format!("{field}.{s}");
        let formats: Vec<(&str, Option<LmFormat>)> = LmFormat::ALL.iter().map(|(n, v)| (*n, Some(*v))).collect();
        let format = match &d.format {
            None => {
                self.err(at, &f("format"), "is missing; a language model's data needs format: text, instructions or preferences");
                None
            }
            Some(s) if s.value == "table" => {
                self.err(Some(pos(s)), &f("format"), "a transformer learns from language data; use format: text, instructions or preferences");
                None
            }
            Some(s) => self.choice(&Some(s.clone()), &f("format"), &formats, None),
        };
        let bad: [(&str, Option<Pos>); 10] = [
            ("generate", d.generate.as_ref().map(pos)),
            ("target", d.target.as_ref().map(pos)),
            ("task", d.task.as_ref().map(pos)),
            ("features", d.features.as_ref().map(pos)),
            ("drop", d.drop.as_ref().map(pos)),
            ("encoding", d.encoding.as_ref().map(pos)),
            ("missing", d.missing.as_ref().map(pos)),
            ("standardize", d.standardize.as_ref().map(pos)),
            ("cv", d.cv.as_ref().map(pos)),
            ("eval_train_rows", d.eval_train_rows.as_ref().map(pos)),
        ];
        for (k, p) in bad {
            if p.is_some() {
                self.err(p, &f(k), "does not apply to language-model data; it takes path, format, split: {test: FRACTION} or test_path");
            }
        }
        let path = match &d.path {
            None => {
                self.err(at, &f("path"), "is missing; name the file (a .txt, .jsonl, .csv or .parquet file)");
                None
            }
            Some(p) => self.lm_file(p, &f("path")),
        };
        let mut test = 0.1;
        let mut test_path = d.test_path.as_ref().and_then(|p| self.lm_file(p, &f("test_path")));
        if let Some(sp) = &d.split {
            if let Some(t) = &sp.value.test {
                if !(t.value > 0.0 && t.value < 1.0) {
                    self.err(Some(pos(t)), &f("split.test"), format!("{} is not allowed; expected a fraction in (0, 1), e.g. 0.1", t.value));
                }
                test = t.value;
            }
            for (k, p) in [("cv", sp.value.cv.as_ref().map(pos)), ("stratify", sp.value.stratify.as_ref().map(pos))] {
                if p.is_some() {
                    self.err(p, &f(&format!("split.{k}")), "does not apply to language-model data; use split: {test: FRACTION} or test_path");
                }
            }
            if let Some(tp) = &sp.value.test_path {
                test_path = self.lm_file(tp, &f("split.test_path"));
            }
        }
        Some(LmDataConfig { path: path?, format: format?, test, test_path })
    }

    fn lm_file(&mut self, p: &S<String>, field: &str) -> Option<PathBuf> {
        match resolve_path(&p.value, &self.base) {
            Ok(path) => Some(path),
            Err(tried) => {
                self.err(Some(pos(p)), field, not_found(&p.value, &self.base, &tried));
                None
            }
        }
    }

    fn cv(&mut self, k: &S<u64>, field: &str) {
        if !(2..=100).contains(&k.value) {
            self.err(Some(pos(k)), field, format!("{} is not allowed; expected a number of folds in [2, 100]", k.value));
        }
    }

    /// Resolve a data file: as given from the current directory, else next to the experiment
    /// file or in one of its parent directories.
    fn file(&mut self, p: &S<String>, field: &str) -> Option<PathBuf> {
        match resolve_path(&p.value, &self.base) {
            Ok(path) => {
                let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
                if !matches!(ext.as_str(), "csv" | "parquet" | "pq") {
                    self.err(Some(pos(p)), field, format!("{} is not a .csv or .parquet file", quote(&p.value)));
                    return None;
                }
                Some(path)
            }
            Err(tried) => {
                self.err(Some(pos(p)), field, not_found(&p.value, &self.base, &tried));
                None
            }
        }
    }

    fn generator(&mut self, g: &S<GenerateSpec>, task: Task) -> Option<GenConfig> {
        let gs = &g.value;
        let kinds = ["classification", "regression", "blobs"];
        if !kinds.contains(&gs.kind.value.as_str()) {
            self.err(Some(pos(&gs.kind)), "data.generate.kind", format!("{} is not allowed; expected one of: {}", quote(&gs.kind.value), kinds.join(", ")));
            return None;
        }
        let kind = gs.kind.value.as_str();
        let gen_task = if kind == "regression" { Task::Regression } else { Task::Classification };
        if gen_task != task {
            self.err(Some(pos(&gs.kind)), "data.generate.kind", format!("{} generates {} data but the runs need {}", quote(kind), gen_task.as_str(), task.as_str()));
        }
        // Which fields each kind takes; any other given field is an error.
        let applies: &[&str] = match kind {
            "classification" => &["n_samples", "n_features", "n_informative", "n_classes", "class_sep", "label_noise"],
            "regression" => &["n_samples", "n_features", "n_informative", "noise"],
            _ => &["n_samples", "n_features", "centers", "cluster_std"],
        };
        let ints: [(&str, &Option<S<u64>>); 5] = [
            ("n_samples", &gs.n_samples),
            ("n_features", &gs.n_features),
            ("n_informative", &gs.n_informative),
            ("n_classes", &gs.n_classes),
            ("centers", &gs.centers),
        ];
        let floats: [(&str, &Option<S<f64>>); 4] =
            [("class_sep", &gs.class_sep), ("label_noise", &gs.label_noise), ("noise", &gs.noise), ("cluster_std", &gs.cluster_std)];
        let mut bad = false;
        for (n, v) in ints.iter().map(|(n, v)| (*n, v.as_ref().map(pos))).chain(floats.iter().map(|(n, v)| (*n, v.as_ref().map(pos)))) {
            if v.is_some() && !applies.contains(&n) {
                bad = true;
                self.err(v, &format!("data.generate.{n}"), format!("does not apply to kind {kind}; it takes: {}", applies.join(", ")));
            }
        }
        let int = |me: &mut Self, v: &Option<S<u64>>, name: &str, def: u64, min: u64, max: u64| -> usize {
            match v {
                None => def as usize,
                Some(s) if s.value >= min && s.value <= max => s.value as usize,
                Some(s) => {
                    me.err(Some(pos(s)), &format!("data.generate.{name}"), format!("{} is not allowed; expected an integer in [{min}, {max}]", s.value));
                    def as usize
                }
            }
        };
        let float = |me: &mut Self, v: &Option<S<f64>>, name: &str, def: f64, min: f64, max: f64| -> f64 {
            match v {
                None => def,
                Some(s) if s.value >= min && s.value <= max => s.value,
                Some(s) => {
                    me.err(Some(pos(s)), &format!("data.generate.{name}"), format!("{} is not allowed; expected a number in [{min}, {max}]", s.value));
                    def
                }
            }
        };
        let n_samples = int(self, &gs.n_samples, "n_samples", 500, 2, 10_000_000);
        let n_features = int(self, &gs.n_features, "n_features", 10, 1, 10_000);
        let out = match kind {
            "classification" => {
                let n_informative = int(self, &gs.n_informative, "n_informative", n_features.min(3) as u64, 1, n_features as u64);
                GenConfig::Classification {
                    n_samples,
                    n_features,
                    n_informative,
                    n_classes: int(self, &gs.n_classes, "n_classes", 2, 2, 1000),
                    class_sep: float(self, &gs.class_sep, "class_sep", 1.0, 0.0, 1e6),
                    label_noise: float(self, &gs.label_noise, "label_noise", 0.0, 0.0, 1.0),
                }
            }
            "regression" => GenConfig::Regression {
                n_samples,
                n_features,
                n_informative: int(self, &gs.n_informative, "n_informative", n_features.min(3) as u64, 0, n_features as u64),
                noise: float(self, &gs.noise, "noise", 1.0, 0.0, 1e6),
            },
            _ => GenConfig::Blobs {
                n_samples,
                n_features,
                centers: int(self, &gs.centers, "centers", 3, 2, 1000),
                cluster_std: float(self, &gs.cluster_std, "cluster_std", 1.0, 0.0, 1e6),
            },
        };
        (!bad).then_some(out)
    }
}

/// Whether a data section describes language-model data (`format` other than `table`).
/// A checked parameter map as the run's typed parameters and as recorded in its events.
fn typed_params(algorithm: Algorithm, m: &ParamMap) -> (AlgoParams, Value) {
    let mut json = Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect());
    let params = AlgoParams::from_map(algorithm, m);
    if let (AlgoParams::Transformer(t), Value::Object(j)) = (&params, &mut json) {
        // Record the SwiGLU width actually used (0 means "from d_model").
        j.insert("mlp_hidden".into(), Value::from(t.mlp_hidden));
    }
    (params, json)
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

/// One searched parameter's values: a list, or a distribution random search draws from.
#[derive(Debug, Clone, PartialEq)]
pub enum Dim {
    List(Vec<Value>),
    Uniform(f64, f64),
    LogUniform(f64, f64),
    Int(i64, i64),
}

impl Dim {
    fn draw(&self, int: bool, rng: &mut impl rand::Rng) -> Value {
        let num = |x: f64| if int { Value::from(x.round() as i64) } else { Value::from(x) };
        match self {
            Dim::List(v) => v[rng.gen_range(0..v.len())].clone(),
            Dim::Uniform(a, b) => num(a + (b - a) * rng.gen::<f64>()),
            Dim::LogUniform(a, b) => num((a.ln() + (b.ln() - a.ln()) * rng.gen::<f64>()).exp()),
            Dim::Int(a, b) => Value::from(rng.gen_range(*a..=*b)),
        }
    }
}

/// Read a `space` entry: a non-empty list of valid values, or `{uniform|log_uniform|int: [a, b]}`
/// with valid bounds.
/// Whether a searched key takes whole numbers: an integer parameter, or (for a field inside
/// one, as `lora.rank`) an `{int: [a, b]}` range or a list of whole numbers.
fn dim_is_int(key: &str, d: &params::ParamDef, dim: &Dim) -> bool {
    if key.contains('.') {
        match dim {
            Dim::Int(..) => true,
            Dim::List(v) => v.iter().all(|x| x.is_i64() || x.is_u64()),
            _ => false,
        }
    } else {
        matches!(d.kind, params::ParamKind::Int { .. })
    }
}

/// The value at a dotted path inside a JSON object.
fn json_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.as_object()?.get(k))
}

/// `base` (an object, or nothing) with `value` set at a dotted path, objects made on the way.
fn with_path(base: Option<&Value>, path: &str, value: Value) -> Value {
    let mut root = match base {
        Some(Value::Object(o)) => Value::Object(o.clone()),
        _ => Value::Object(Default::default()),
    };
    let mut at = &mut root;
    let keys: Vec<&str> = path.split('.').collect();
    for (n, k) in keys.iter().enumerate() {
        if !at.is_object() {
            *at = Value::Object(Default::default());
        }
        let Value::Object(o) = at else { unreachable!("made an object above") };
        if n + 1 == keys.len() {
            o.insert((*k).to_string(), value);
            break;
        }
        at = o.entry((*k).to_string()).or_insert_with(|| Value::Object(Default::default()));
    }
    root
}

/// Put a trial's value for searched key `k` into its checked parameters: the parameter itself,
/// or a field inside an object-valued one (`lora.rank`), merged with what is already set.
fn set_searched(m: &mut ParamMap, d: &params::ParamDef, k: &str, v: &Value) -> Result<(), String> {
    match k.split_once('.') {
        None => {
            m.insert(k.to_string(), check_value(d, v)?);
        }
        Some((head, path)) => {
            let base = m.get(head).map(params::ParamValue::to_json);
            let merged = with_path(base.as_ref(), path, v.clone());
            m.insert(head.to_string(), check_value(d, &merged)?);
        }
    }
    Ok(())
}

fn parse_dim(d: &params::ParamDef, v: &Value, field: bool, check: &dyn Fn(&Value) -> Result<params::ParamValue, String>) -> Result<Dim, String> {
    const FORMS: &str = "a list of values, or one of {uniform: [a, b]}, {log_uniform: [a, b]}, {int: [a, b]}";
    match v {
        Value::Array(a) if a.is_empty() => Err("is empty; list the values to try".into()),
        Value::Array(a) => {
            for (j, x) in a.iter().enumerate() {
                check(x).map_err(|m| format!("value {} ({}): {m}", j + 1, crate::backends::params::show(x)))?;
            }
            Ok(Dim::List(a.clone()))
        }
        Value::Object(o) if o.len() == 1 => {
            let (kind, b) = o.iter().next().ok_or_else(|| FORMS.to_string())?;
            let pair = b.as_array().filter(|p| p.len() == 2).ok_or_else(|| format!("{kind} takes two bounds: {{{kind}: [a, b]}}"))?;
            let int = !field && matches!(d.kind, params::ParamKind::Int { .. });
            for x in pair {
                check(&if int && kind != "int" { Value::from(x.as_f64().unwrap_or(f64::NAN).round() as i64) } else { x.clone() })
                    .map_err(|m| format!("bound {}: {m}", crate::backends::params::show(x)))?;
            }
            match kind.as_str() {
                "int" => {
                    let (Some(a), Some(b)) = (pair[0].as_i64(), pair[1].as_i64()) else {
                        return Err("int takes two whole numbers: {int: [1, 10]}".into());
                    };
                    if a > b {
                        return Err(format!("int bounds must be in order; got [{a}, {b}]"));
                    }
                    Ok(Dim::Int(a, b))
                }
                "uniform" | "log_uniform" => {
                    let (Some(a), Some(b)) = (pair[0].as_f64(), pair[1].as_f64()) else {
                        return Err(format!("{kind} takes two numbers: {{{kind}: [0.1, 1.0]}}"));
                    };
                    if a >= b {
                        return Err(format!("{kind} bounds must be increasing; got [{a}, {b}]"));
                    }
                    if kind == "log_uniform" {
                        if a <= 0.0 {
                            return Err(format!("log_uniform needs positive bounds; got [{a}, {b}]"));
                        }
                        Ok(Dim::LogUniform(a, b))
                    } else {
                        Ok(Dim::Uniform(a, b))
                    }
                }
                other => Err(format!("unknown distribution {}; expected {FORMS}", quote(other))),
            }
        }
        _ => Err(format!("{} is not allowed; expected {FORMS}", crate::backends::params::show(v))),
    }
}

fn is_lm_spec(d: &S<DataSpec>) -> bool {
    d.value.format.as_ref().is_some_and(|f| f.value != "table")
}

/// A run directory given by path: as given from the current directory, or relative to the
/// experiment file's directory.
fn resolve_dir(p: &str, experiment: &Path) -> Option<PathBuf> {
    let given = PathBuf::from(p);
    let mut candidates = vec![given.clone()];
    if let Some(dir) = experiment.parent() {
        candidates.push(dir.join(&given));
    }
    candidates.into_iter().find(|c| c.is_dir()).map(|c| c.canonicalize().unwrap_or(c))
}

/// A transformer checkpoint's `model.json`, once the directory is checked to hold a finished
/// transformer run (`model.safetensors` beside it).
pub fn read_checkpoint(dir: &Path) -> Result<Value, String> {
    let meta = dir.join("model.json");
    if !dir.join("model.safetensors").is_file() {
        return Err(format!("{} holds no model.safetensors; a finished transformer run is needed", dir.display()));
    }
    let text = std::fs::read_to_string(&meta).map_err(|e| format!("cannot read {}: {e}", meta.display()))?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| format!("{} is not valid JSON: {e}", meta.display()))?;
    if doc.get("algorithm").and_then(Value::as_str) != Some("transformer") {
        return Err(format!("{} is not a transformer run (`ratlab predict` applies table models)", dir.display()));
    }
    Ok(doc)
}

/// The parameters a transformer checkpoint was trained with (its `model.json`).
pub fn read_checkpoint_params(dir: &Path) -> Result<Value, String> {
    read_checkpoint(dir)?.get("params").cloned().ok_or_else(|| format!("{} has no params", dir.join("model.json").display()))
}

/// Where a relative data path is looked up: the current directory, then the experiment
/// file's directory and its parents. Returns the places tried on failure.
pub fn resolve_path(p: &str, experiment: &Path) -> Result<PathBuf, Vec<String>> {
    let given = PathBuf::from(p);
    if given.is_absolute() {
        return if given.exists() { Ok(given) } else { Err(vec![p.to_string()]) };
    }
    let mut tried = vec![];
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut candidates = vec![cwd.join(&given)];
    let exp_dir = experiment.parent().map(|d| if d.as_os_str().is_empty() { Path::new(".") } else { d });
    if let Some(dir) = exp_dir.and_then(|d| d.canonicalize().ok()) {
        for anc in dir.ancestors() {
            candidates.push(anc.join(&given));
        }
    }
    for c in candidates {
        if c.is_file() {
            return Ok(c.canonicalize().unwrap_or(c));
        }
        let s = c.parent().map(|d| d.display().to_string()).unwrap_or_default();
        if !tried.contains(&s) {
            tried.push(s);
        }
    }
    Err(tried)
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
