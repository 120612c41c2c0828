//! The data section: a file or a generator, the target, features, encoding, missing values and
//! the evaluation (holdout, cross-validation or a test file); and, once the data is read, what
//! only it can show (too few rows for the split).

use super::{pos, Checker, Plan, MIN_TRAIN_ROWS};
use crate::backends::Task;
use crate::data::lm::LmDataConfig;
use crate::data::{DataConfig, Encoding, EvalRows, Evaluation, GenConfig, Missing, Source};
use crate::error::{quote, InputError, Pos};
use crate::experiments::spec::{DataSpec, GenerateSpec, S};
use serde_json::Value;
use std::path::{Path, PathBuf};

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
    /// few rows to learn from, then what each family asks of the data's size
    /// ([`Plan::check_params_against_data`]).
    fn check_sizes(&self, cfg: &crate::data::DataConfig, p: &crate::data::Prepared) -> Result<(), InputError> {
        let n = p.data.x.nrows();
        let labels: Option<Vec<usize>> = (p.data.task == Task::Classification).then(|| p.data.labels());
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
        // The feature count from the names: rows read in chunks keep no matrix.
        self.check_params_against_data(train, p.data.feature_names.len(), p.data.n_classes())
    }
}

/// Why a data path did not resolve: a directory where a file is expected, or not found where
/// ratlab looked.
pub(super) fn not_found(given: &str, experiment: &Path, tried: &[String]) -> String {
    let dirs: Vec<PathBuf> = std::iter::once(PathBuf::from(given)).chain(experiment.parent().map(|d| d.join(given))).collect();
    if dirs.iter().any(|d| d.is_dir()) {
        format!("{} is a directory; give a data file in it (a .csv or .parquet file, or .txt/.jsonl for a language model)", quote(given))
    } else {
        format!("file {} not found (looked in: {})", quote(given), tried.join(", "))
    }
}

impl Checker {
    pub(super) fn data(&mut self, d: &S<DataSpec>, task: &mut Option<Task>, flexible: bool) -> Option<DataConfig> {
        let at = Some(pos(d));
        let d = &d.value;
        for (k, p) in [("data.target", d.target.as_ref().map(pos)), ("data.features", d.features.as_ref().map(pos)), ("data.drop", d.drop.as_ref().map(pos)), ("data.split", d.split.as_ref().map(pos)), ("data.path", d.path.as_ref().map(pos)), ("data.categorical", d.categorical.as_ref().map(pos))] {
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
        let encoding = self.choice(&d.encoding, "data.encoding", &[("onehot", Encoding::OneHot), ("ordinal", Encoding::Ordinal), ("native", Encoding::Native)], Encoding::OneHot);
        if let (Some(c), false) = (d.categorical.as_ref().filter(|c| !c.value.is_empty()), encoding == Encoding::Native) {
            self.err(Some(pos(c)), "data.categorical", "names category columns for encoding: native (the native tree models split them by sets of categories); set data.encoding: native, or leave it out");
        }
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
        // Chunks go straight into bin codes: nothing standardizes them (trees need no scaling),
        // so standardize defaults to false with chunk_rows.
        let chunk_rows = d.chunk_rows.as_ref().map(|c| {
            if !(1..=1_000_000_000).contains(&c.value) {
                self.err(Some(pos(c)), "data.chunk_rows", format!("{} is not allowed; expected a number of rows in [1, 1000000000], e.g. 100000", c.value));
            }
            if d.generate.is_some() {
                self.err(Some(pos(c)), "data.chunk_rows", "reads a data file in chunks; generated data is made in memory (leave chunk_rows out)");
            }
            if let Some(s) = d.standardize.as_ref().filter(|s| s.value) {
                self.err(Some(pos(s)), "data.standardize", "chunk_rows reads the file straight into bin codes, which are never standardized (trees need no scaling); set standardize: false or leave it out");
            }
            if let Some(m) = d.missing.as_ref().filter(|m| m.value == "mean") {
                self.err(Some(pos(m)), "data.missing", "mean fills cells with a mean of the training rows, which chunk_rows cannot know before it reads them; use keep (the trees learn where missing values go), drop or error");
            }
            c.value as usize
        });
        let standardize = d.standardize.as_ref().map_or(chunk_rows.is_none(), |s| s.value);
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
        if let (Some(c), Evaluation::CrossValidation { .. }) = (&d.chunk_rows, &evaluation) {
            self.err(Some(pos(c)), "data.chunk_rows", "reads the file once per model, which cross-validation would repeat per fold; use a holdout split (split: {test: 0.2}) or a test file (test_path: FILE)");
        }
        Some(DataConfig {
            source: source?,
            target,
            task: task_v,
            features: list(&d.features),
            drop: list(&d.drop).unwrap_or_default(),
            encoding,
            categorical: list(&d.categorical).unwrap_or_default(),
            missing,
            standardize,
            evaluation,
            eval_train_rows,
            chunk_rows,
        })
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
