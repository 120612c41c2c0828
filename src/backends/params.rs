//! Algorithm parameters: one table per algorithm says each parameter's name, type, range,
//! default and meaning. Validation, defaults, error messages and the docs all read the same
//! table, so they cannot drift apart.

use super::{Algorithm, Backend};
use serde_json::Value;
use std::collections::BTreeMap;

/// The type and allowed range of one parameter.
#[derive(Debug, Clone, Copy)]
pub enum ParamKind {
    /// A float in `[min, max]` (`min_open` makes the lower bound exclusive).
    Float { min: f64, max: f64, min_open: bool },
    /// An integer in `[min, max]`.
    Int { min: i64, max: i64 },
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    Bool,
    /// A non-empty list of positive integers, strictly increasing.
    SizeList,
    /// A fraction in (0, 1] written with a decimal point (`0.5`, `1.0`), a count ≥ 1 written as
    /// a whole number (`8`), or one of the words.
    Portion(&'static [&'static str]),
    /// A nested estimator, written like a run: `{algorithm, backend, params}`.
    Estimator,
    /// A non-empty list of nested estimators.
    Estimators,
    /// LoRA adapters: `none`, or `{rank, alpha, dropout, targets}`.
    Lora,
    /// A run's name or a directory (`init_from`), or `none`.
    RunRef,
}

/// One parameter of one algorithm.
#[derive(Debug, Clone, Copy)]
pub struct ParamDef {
    pub name: &'static str,
    pub kind: ParamKind,
    pub default: &'static str,
    pub help: &'static str,
    /// When set, the parameter only applies if another parameter has this value
    /// (`("model", "bernoulli")`).
    pub only_when: Option<(&'static str, &'static str)>,
}

const fn p(name: &'static str, kind: ParamKind, default: &'static str, help: &'static str) -> ParamDef {
    ParamDef { name, kind, default, help, only_when: None }
}
const fn pw(
    name: &'static str,
    kind: ParamKind,
    default: &'static str,
    help: &'static str,
    when: (&'static str, &'static str),
) -> ParamDef {
    ParamDef { name, kind, default, help, only_when: Some(when) }
}

const POS: ParamKind = ParamKind::Float { min: 0.0, max: f64::INFINITY, min_open: true };
const NONNEG: ParamKind = ParamKind::Float { min: 0.0, max: f64::INFINITY, min_open: false };

static LOGISTIC: &[ParamDef] = &[
    p("prior", ParamKind::Choice(&["none", "gaussian", "laplace"]), "none",
      "none = maximum likelihood; gaussian = MAP with a Gaussian prior (L2); laplace = MAP with a Laplace prior (L1)"),
    p("strength", NONNEG, "1.0",
      "λ in Σ log-loss + λ·penalty(w); penalty ½‖w‖² (gaussian) or ‖w‖₁ (laplace); λ = 1/C of scikit-learn"),
    p("max_iter", ParamKind::Int { min: 1, max: 1_000_000 }, "100", "optimizer iterations at most"),
    p("tol", POS, "1e-8", "stop when the largest gradient (or optimality) component is below tol·max(1, |objective|/n)"),
    p("fit_intercept", ParamKind::Bool, "true", "learn an (unpenalized) intercept"),
];

static ESTIMATION: &[ParamDef] = &[
    p("model", ParamKind::Choice(&["bernoulli", "gaussian"]), "bernoulli",
      "bernoulli: estimate a coin's p with a Beta prior; gaussian: estimate a mean with a Normal prior"),
    p("true_value", ParamKind::Float { min: f64::NEG_INFINITY, max: f64::INFINITY, min_open: false }, "0.3",
      "the true parameter the samples are drawn from (p for bernoulli, μ for gaussian)"),
    pw("prior_alpha", POS, "2.0", "Beta(α, β) prior: α", ("model", "bernoulli")),
    pw("prior_beta", POS, "2.0", "Beta(α, β) prior: β", ("model", "bernoulli")),
    pw("prior_mean", ParamKind::Float { min: f64::NEG_INFINITY, max: f64::INFINITY, min_open: false }, "0.0",
       "Normal prior mean μ₀", ("model", "gaussian")),
    pw("prior_std", POS, "1.0", "Normal prior standard deviation τ", ("model", "gaussian")),
    pw("noise_std", POS, "1.0", "known standard deviation σ of each observation", ("model", "gaussian")),
    p("sizes", ParamKind::SizeList, "[1, 2, 3, 5, 8, 13, 20, 30, 50, 80, 130, 200, 300, 500, 1000]",
      "sample sizes, one step each"),
    p("repetitions", ParamKind::Int { min: 1, max: 1_000_000 }, "500", "seeded repetitions averaged per sample size"),
];

static KNN: &[ParamDef] = &[
    p("k", ParamKind::Int { min: 1, max: 100_000 }, "5", "number of neighbours"),
    p("weights", ParamKind::Choice(&["uniform", "distance"]), "uniform", "uniform votes, or weighted by 1/distance"),
    p("metric", ParamKind::Choice(&["euclidean", "manhattan", "chebyshev", "minkowski"]), "euclidean", "distance"),
    pw("p", ParamKind::Float { min: 1.0, max: 1e6, min_open: false }, "2.0", "Minkowski exponent p", ("metric", "minkowski")),
    p("leaf_size", ParamKind::Int { min: 1, max: 1_000_000 }, "16", "points per leaf of the tree index"),
    p("index", ParamKind::Choice(&["auto", "kdtree", "brute", "balltree", "covertree"]), "auto",
      "native: kdtree | brute | auto (the tree, unless a probe shows it cannot prune); linfa: kdtree | balltree | brute; smartcore: covertree | brute"),
];

static KNN_SCALING: &[ParamDef] = &[
    p("dims", ParamKind::SizeList, "[2, 4, 8, 16, 32, 64]", "dimensions, one step each"),
    p("n_points", ParamKind::Int { min: 100, max: 10_000_000 }, "20000", "points indexed"),
    p("n_queries", ParamKind::Int { min: 1, max: 1_000_000 }, "1000", "queries timed per dimension"),
    p("k", ParamKind::Int { min: 1, max: 1000 }, "10", "neighbours per query"),
    p("distribution", ParamKind::Choice(&["uniform", "clustered"]), "uniform", "uniform in the unit cube, or 100 Gaussian clusters (σ = 0.05)"),
    p("leaf_size", ParamKind::Int { min: 1, max: 100_000 }, "16", "points per leaf"),
];

static PCA: &[ParamDef] = &[
    p("n_components", POS, "0.95", "a count (5), or the variance fraction to keep (0.95: the fewest components explaining 95%)"),
    p("whiten", ParamKind::Bool, "false", "scale projections to unit variance (for preprocessing)"),
];

static TREE: &[ParamDef] = &[
    p("criterion", ParamKind::Choice(&["gini", "entropy"]), "gini", "split quality for classification (regression trees use variance reduction)"),
    p("max_depth", ParamKind::Int { min: 0, max: 10_000 }, "0", "deepest level (0 = unlimited)"),
    p("min_samples_split", ParamKind::Int { min: 2, max: 1_000_000 }, "2", "rows a node needs to be split"),
    p("min_samples_leaf", ParamKind::Int { min: 1, max: 1_000_000 }, "1", "rows each leaf keeps at least"),
    p("max_features", FEATURES, "\"all\"", "features tried per split (native): all, sqrt, log2, a fraction (0.5) or a count (4)"),
    p("max_bin", ParamKind::Int { min: 2, max: 256 }, "256", "quantile bins per feature, one of them for missing values (native)"),
];

const FEATURES: ParamKind = ParamKind::Portion(&["all", "sqrt", "log2"]);
const FRACTION: ParamKind = ParamKind::Float { min: 0.0, max: 1.0, min_open: true };
const ROUNDS: ParamKind = ParamKind::Int { min: 1, max: 100_000 };

static BOOSTING: &[ParamDef] = &[
    p("objective", ParamKind::Choice(&["auto", "binary_logistic", "softmax", "squared_error", "pseudo_huber"]), "auto",
      "loss: auto picks binary_logistic (2 classes), softmax (more) or squared_error (regression)"),
    p("n_estimators", ROUNDS, "100", "boosting rounds (trees per class for softmax)"),
    p("learning_rate", ParamKind::Float { min: 0.0, max: 10.0, min_open: true }, "0.3", "shrinkage η applied to each tree's leaf weights"),
    p("max_depth", ParamKind::Int { min: 0, max: 64 }, "6", "depth limit (0 = none, for grow_policy lossguide)"),
    p("max_leaves", ParamKind::Int { min: 0, max: 1 << 20 }, "0", "leaf limit (0 = none)"),
    p("grow_policy", ParamKind::Choice(&["depthwise", "lossguide"]), "depthwise", "depthwise: level by level; lossguide: best-gain node first"),
    p("lambda", NONNEG, "1.0", "L2 penalty λ on leaf weights: w = −G/(H+λ)"),
    p("alpha", NONNEG, "0.0", "L1 penalty α on leaf weights (soft-thresholds G)"),
    p("gamma", NONNEG, "0.0", "minimum loss reduction γ for a split"),
    p("min_child_weight", NONNEG, "1.0", "minimum hessian sum in each child"),
    p("subsample", FRACTION, "1.0", "fraction of training rows drawn for each tree (seeded)"),
    p("colsample_bytree", FRACTION, "1.0", "fraction of features drawn for each tree (seeded)"),
    p("max_bin", ParamKind::Int { min: 2, max: 256 }, "256", "quantile bins per feature, one of them for missing values"),
    p("early_stopping_rounds", ParamKind::Int { min: 0, max: 100_000 }, "0", "stop when the validation loss has not improved for this many rounds (0 = off)"),
    p("validation_fraction", ParamKind::Float { min: 0.0, max: 0.9, min_open: true }, "0.1", "training rows held out for early stopping (stratified, seeded)"),
];

const NATIVE_TREE: &str = "{\"algorithm\": \"decision_tree\", \"backend\": \"native\"}";

static BAGGING: &[ParamDef] = &[
    p("estimator", ParamKind::Estimator, NATIVE_TREE, "the base estimator: {algorithm, backend, params}"),
    p("n_estimators", ROUNDS, "10", "members"),
    p("max_samples", ParamKind::Portion(&[]), "1.0", "rows per member: a fraction (0.8) or a count (500)"),
    p("max_features", FEATURES, "\"all\"", "features per member: all, sqrt, log2, a fraction or a count"),
    p("bootstrap", ParamKind::Bool, "true", "draw rows with replacement"),
    p("oob_score", ParamKind::Bool, "false", "score each step on the rows its members did not see (out of bag)"),
];

static FOREST: &[ParamDef] = &[
    p("n_estimators", ROUNDS, "100", "trees"),
    p("criterion", ParamKind::Choice(&["gini", "entropy"]), "gini", "split quality for classification (regression uses variance reduction)"),
    p("max_depth", ParamKind::Int { min: 0, max: 10_000 }, "0", "deepest level (0 = unlimited)"),
    p("min_samples_split", ParamKind::Int { min: 2, max: 1_000_000 }, "2", "rows a node needs to be split"),
    p("min_samples_leaf", ParamKind::Int { min: 1, max: 1_000_000 }, "1", "rows each leaf keeps at least"),
    p("max_features", FEATURES, "\"sqrt\"", "features tried per split: sqrt, log2, all, a fraction or a count"),
    p("bootstrap", ParamKind::Bool, "true", "draw each tree's rows with replacement"),
    p("oob_score", ParamKind::Bool, "false", "score each step on the rows its trees did not see (out of bag; native)"),
    p("max_bin", ParamKind::Int { min: 2, max: 256 }, "256", "quantile bins per feature (native)"),
];

const STUMP: &str = "{\"algorithm\": \"decision_tree\", \"backend\": \"native\", \"params\": {\"max_depth\": 1}}";

static ADABOOST: &[ParamDef] = &[
    p("estimator", ParamKind::Estimator, STUMP, "the base estimator; it must take sample weights (native decision_tree or gradient_boosting)"),
    p("n_estimators", ROUNDS, "50", "boosting rounds"),
    p("learning_rate", POS, "1.0", "shrinkage of each member's vote"),
];

const SIZE: ParamKind = ParamKind::Int { min: 1, max: 1 << 16 };

static TRANSFORMER: &[ParamDef] = &[
    p("mode", ParamKind::Choice(&["pretrain", "sft", "dpo"]), "pretrain",
      "pretrain: next-byte prediction on text; sft: instruction tuning, loss on the responses only; dpo: preference tuning against the frozen starting model"),
    p("layers", ParamKind::Int { min: 1, max: 256 }, "4", "transformer blocks"),
    p("d_model", SIZE, "128", "width of the residual stream"),
    p("heads", ParamKind::Int { min: 1, max: 1024 }, "4", "query heads (head dim = d_model / heads)"),
    p("context", ParamKind::Int { min: 8, max: 1 << 16 }, "128", "tokens (bytes) per training window"),
    p("mlp_hidden", ParamKind::Int { min: 0, max: 1 << 20 }, "0", "SwiGLU width; 0 = 8/3·d_model rounded up to a multiple of 32"),
    p("attention", ParamKind::Choice(&["mha", "mqa", "gqa", "mla"]), "mha",
      "mha: a K/V head per query head; mqa: one shared K/V head; gqa: kv_heads K/V heads; mla: K/V from a cached low-rank latent (DeepSeek-V2)"),
    p("kv_heads", ParamKind::Int { min: 1, max: 1024 }, "2", "K/V heads for gqa (must divide heads)"),
    p("kv_lora_rank", ParamKind::Int { min: 1, max: 1 << 16 }, "32", "mla: size of the normalized K/V latent"),
    p("rope_dim", ParamKind::Int { min: 2, max: 1 << 12 }, "16", "mla: size of the decoupled rotary key shared by the heads (even)"),
    p("steps", ParamKind::Int { min: 1, max: 10_000_000 }, "300", "optimizer steps"),
    p("batch_size", ParamKind::Int { min: 1, max: 1 << 16 }, "16", "windows (or examples, or pairs) per step"),
    p("learning_rate", ParamKind::Float { min: 0.0, max: 10.0, min_open: true }, "3e-4", "peak AdamW learning rate"),
    p("warmup_steps", ParamKind::Int { min: 0, max: 10_000_000 }, "30", "linear warm-up, then cosine decay to 10% of the peak"),
    p("weight_decay", NONNEG, "0.1", "AdamW decoupled weight decay"),
    p("grad_clip", NONNEG, "1.0", "clip the global gradient norm to this (0 = off)"),
    p("lora", ParamKind::Lora, "\"none\"",
      "train low-rank adapters on a frozen base: {rank: 8, alpha: 16, dropout: 0.0, targets: [q, v]} (targets among q, k, v, o, gate, up, down)"),
    p("init_from", ParamKind::RunRef, "\"none\"", "an earlier run of this experiment (by name; it runs first) or a run directory: start from its checkpoint"),
    p("beta", POS, "0.1", "dpo: temperature β; the frozen reference is the starting model"),
    p("device", ParamKind::Choice(&["auto", "cpu", "cuda"]), "auto", "auto uses CUDA when there is a GPU"),
    p("eval_every", ParamKind::Int { min: 1, max: 10_000_000 }, "25", "steps between test evaluations (and sample generations)"),
    p("eval_batches", ParamKind::Int { min: 1, max: 100_000 }, "8", "test batches per evaluation (at most the whole test part)"),
];

/// The parameters of `algorithm: transformer` that fix the network's shape: a run that starts
/// from another run's checkpoint takes them from it.
pub const ARCHITECTURE: [&str; 8] = ["layers", "d_model", "heads", "mlp_hidden", "attention", "kv_heads", "kv_lora_rank", "rope_dim"];

static STACKING: &[ParamDef] = &[
    p("estimators", ParamKind::Estimators,
      "[{\"algorithm\": \"random_forest\"}, {\"algorithm\": \"knn\", \"backend\": \"native\"}, {\"algorithm\": \"logistic_regression\", \"params\": {\"prior\": \"gaussian\"}}]",
      "the base estimators, each {algorithm, backend, params}"),
    p("final_estimator", ParamKind::Estimator, "{\"algorithm\": \"logistic_regression\", \"backend\": \"native\", \"params\": {\"prior\": \"gaussian\"}}",
      "the estimator trained on the base estimators' out-of-fold probabilities"),
    p("cv", ParamKind::Int { min: 2, max: 20 }, "5", "folds for the out-of-fold predictions"),
    p("passthrough", ParamKind::Bool, "false", "give the final estimator the original features too"),
];

/// The parameter table of an algorithm.
pub fn defs(algorithm: Algorithm) -> &'static [ParamDef] {
    match algorithm {
        Algorithm::LogisticRegression => LOGISTIC,
        Algorithm::Estimation => ESTIMATION,
        Algorithm::Knn => KNN,
        Algorithm::KnnScaling => KNN_SCALING,
        Algorithm::Pca => PCA,
        Algorithm::DecisionTree => TREE,
        Algorithm::GradientBoosting => BOOSTING,
        Algorithm::Bagging => BAGGING,
        Algorithm::RandomForest => FOREST,
        Algorithm::AdaBoost => ADABOOST,
        Algorithm::Stacking => STACKING,
        Algorithm::Transformer => TRANSFORMER,
    }
}

/// A parameter map from recorded JSON (`params_json`, a checkpoint's `model.json`): each
/// value checked against the table, defaults for what is absent or invalid.
pub fn map_from_json(algorithm: Algorithm, json: &Value) -> ParamMap {
    defs(algorithm)
        .iter()
        .map(|d| {
            let v = json.get(d.name).and_then(|v| check_value(d, v).ok()).unwrap_or_else(|| default_value(d));
            (d.name.to_string(), v)
        })
        .collect()
}

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

/// A parameter value after validation.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Float(f64),
    Int(i64),
    Word(String),
    Bool(bool),
    Sizes(Vec<u64>),
    Estimator(Box<Estimator>),
    Estimators(Vec<Estimator>),
    Lora(Option<LoraConfig>),
}

impl ParamValue {
    pub fn to_json(&self) -> Value {
        match self {
            ParamValue::Float(f) => serde_json::json!(f),
            ParamValue::Int(i) => serde_json::json!(i),
            ParamValue::Word(s) => Value::String(s.clone()),
            ParamValue::Bool(b) => Value::Bool(*b),
            ParamValue::Sizes(v) => serde_json::json!(v),
            ParamValue::Estimator(e) => e.json.clone(),
            ParamValue::Estimators(v) => Value::Array(v.iter().map(|e| e.json.clone()).collect()),
            ParamValue::Lora(None) => Value::String("none".into()),
            ParamValue::Lora(Some(l)) => serde_json::to_value(l).unwrap_or(Value::Null),
        }
    }
}

/// Describe what a parameter accepts, for error messages.
pub fn allowed(kind: &ParamKind) -> String {
    match kind {
        ParamKind::Float { min, max, min_open } => match (min.is_finite(), max.is_finite()) {
            (true, true) => format!("a number in [{min}, {max}]"),
            (true, false) if *min_open => format!("a number > {min}"),
            (true, false) => format!("a number ≥ {min}"),
            _ => "a number".to_string(),
        },
        ParamKind::Int { min, max } => format!("an integer in [{min}, {max}]"),
        ParamKind::Choice(c) => format!("one of: {}", c.join(", ")),
        ParamKind::Bool => "true or false".into(),
        ParamKind::SizeList => "a list of increasing positive integers, e.g. [10, 20, 50]".into(),
        ParamKind::Portion([]) => "a fraction in (0, 1] such as 0.5, or a count such as 100".into(),
        ParamKind::Portion(words) => format!("{}, a fraction in (0, 1] such as 0.5, or a count such as 4", words.join(", ")),
        ParamKind::Estimator => "an estimator {algorithm: NAME, backend: NAME, params: {...}}".into(),
        ParamKind::Estimators => "a list of estimators, each {algorithm: NAME, backend: NAME, params: {...}}".into(),
        ParamKind::Lora => "none, or {rank: 8, alpha: 16, dropout: 0.0, targets: [q, v]}".into(),
        ParamKind::RunRef => "the name of an earlier run in this experiment, a run directory, or none".into(),
    }
}

/// A value as the user wrote it, for messages.
pub fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

/// Check one raw value against its definition. The error text quotes the value and says what
/// is allowed.
pub fn check_value(def: &ParamDef, v: &Value) -> Result<ParamValue, String> {
    // A run's own parameters: an estimator in them has one ensemble (the run) around it.
    check_nested(def, v, 1)
}

/// [`check_value`] for a parameter of an estimator nested `depth` ensembles deep.
fn check_nested(def: &ParamDef, v: &Value, depth: usize) -> Result<ParamValue, String> {
    let bad = || format!("{} is not allowed; expected {}", show(v), allowed(&def.kind));
    match def.kind {
        ParamKind::Float { min, max, min_open } => {
            let f = v.as_f64().ok_or_else(bad)?;
            let low_ok = if min_open { f > min } else { f >= min };
            if !f.is_finite() || !low_ok || f > max {
                return Err(bad());
            }
            Ok(ParamValue::Float(f))
        }
        ParamKind::Int { min, max } => {
            let i = v.as_i64().ok_or_else(bad)?;
            if i < min || i > max {
                return Err(bad());
            }
            Ok(ParamValue::Int(i))
        }
        ParamKind::Choice(c) => {
            // YAML reads a bare `none` as a string, but `null`/`~` as null: accept both for "none".
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Null if c.contains(&"none") => "none".into(),
                _ => return Err(bad()),
            };
            if c.contains(&s.as_str()) {
                Ok(ParamValue::Word(s))
            } else {
                Err(bad())
            }
        }
        ParamKind::Bool => v.as_bool().map(ParamValue::Bool).ok_or_else(bad),
        ParamKind::SizeList => {
            let arr = v.as_array().ok_or_else(bad)?;
            let mut out = Vec::with_capacity(arr.len());
            for x in arr {
                let n = x.as_u64().filter(|n| *n > 0).ok_or_else(bad)?;
                if out.last().is_some_and(|last| *last >= n) {
                    return Err(bad());
                }
                out.push(n);
            }
            if out.is_empty() {
                return Err(bad());
            }
            Ok(ParamValue::Sizes(out))
        }
        ParamKind::Portion(words) => match v {
            Value::String(s) if words.contains(&s.as_str()) => Ok(ParamValue::Word(s.clone())),
            Value::Number(n) if n.is_u64() && n.as_u64().is_some_and(|c| c >= 1) => Ok(ParamValue::Int(n.as_u64().unwrap_or(1) as i64)),
            Value::Number(n) if n.is_f64() && n.as_f64().is_some_and(|f| f > 0.0 && f <= 1.0) => Ok(ParamValue::Float(n.as_f64().unwrap_or(1.0))),
            _ => Err(bad()),
        },
        ParamKind::Estimator => Estimator::parse(v, depth).map(|e| ParamValue::Estimator(Box::new(e))),
        ParamKind::Estimators => {
            let arr = v.as_array().filter(|a| !a.is_empty()).ok_or_else(bad)?;
            let list = arr.iter().enumerate().map(|(i, e)| Estimator::parse(e, depth).map_err(|m| format!("[{i}]: {m}"))).collect::<Result<Vec<_>, _>>()?;
            Ok(ParamValue::Estimators(list))
        }
        ParamKind::RunRef => match v {
            Value::Null => Ok(ParamValue::Word("none".into())),
            Value::String(s) if !s.trim().is_empty() => Ok(ParamValue::Word(s.clone())),
            _ => Err(bad()),
        },
        ParamKind::Lora => match v {
            Value::Null => Ok(ParamValue::Lora(None)),
            Value::String(s) if s == "none" => Ok(ParamValue::Lora(None)),
            Value::Object(_) => LoraConfig::parse(v).map(|l| ParamValue::Lora(Some(l))),
            _ => Err(bad()),
        },
    }
}

/// Parse a default from the table (they are written as YAML-ish literals).
pub fn default_value(def: &ParamDef) -> ParamValue {
    let v: Value = serde_json::from_str(def.default).unwrap_or(Value::String(def.default.to_string()));
    // The tables are ours; a bad default is a programming error caught by the unit test below.
    check_value(def, &v).unwrap_or(ParamValue::Word(def.default.to_string()))
}

/// Validated parameters with defaults filled in, in table order.
pub type ParamMap = BTreeMap<String, ParamValue>;

/// Logistic regression's prior on the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prior {
    None,
    Gaussian,
    Laplace,
}

/// Parameters of logistic regression (MLE / MAP).
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticParams {
    pub prior: Prior,
    /// λ: penalty weight. Ignored (0) when `prior` is none.
    pub strength: f64,
    pub max_iter: u64,
    pub tol: f64,
    pub fit_intercept: bool,
}

impl LogisticParams {
    /// λ actually applied: zero without a prior.
    pub fn lambda(&self) -> f64 {
        if self.prior == Prior::None {
            0.0
        } else {
            self.strength
        }
    }
}

/// Which estimation problem the demo solves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EstimationModel {
    Bernoulli,
    Gaussian,
}

/// Parameters of the MLE / MAP / posterior-mean estimation demo.
#[derive(Debug, Clone, PartialEq)]
pub struct EstimationParams {
    pub model: EstimationModel,
    pub true_value: f64,
    pub prior_alpha: f64,
    pub prior_beta: f64,
    pub prior_mean: f64,
    pub prior_std: f64,
    pub noise_std: f64,
    pub sizes: Vec<u64>,
    pub repetitions: u64,
}

/// Which index a kNN model searches with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnnIndex {
    Auto,
    KdTree,
    Brute,
    BallTree,
    CoverTree,
}

/// Parameters of k-nearest neighbours.
#[derive(Debug, Clone, PartialEq)]
pub struct KnnParams {
    pub k: usize,
    pub distance_weights: bool,
    pub metric: crate::backends::native::kdtree::Metric,
    pub leaf_size: usize,
    pub index: KnnIndex,
}

/// Parameters of the curse-of-dimensionality study.
#[derive(Debug, Clone, PartialEq)]
pub struct KnnScalingParams {
    pub dims: Vec<u64>,
    pub n_points: usize,
    pub n_queries: usize,
    pub k: usize,
    pub clustered: bool,
    pub leaf_size: usize,
}

/// Parameters of PCA.
#[derive(Debug, Clone, PartialEq)]
pub struct PcaParams {
    /// A count (≥ 1) or a variance fraction (< 1).
    pub n_components: f64,
    pub whiten: bool,
}

/// Parameters of a decision tree.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeParams {
    pub entropy: bool,
    pub max_depth: Option<usize>,
    pub min_samples_split: usize,
    pub min_samples_leaf: usize,
}

/// How many features a split (or a member) may use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxFeatures {
    All,
    Sqrt,
    Log2,
    Fraction(f64),
    Count(usize),
}

impl MaxFeatures {
    fn from_value(v: Option<&ParamValue>) -> MaxFeatures {
        match v {
            Some(ParamValue::Word(w)) if w == "sqrt" => MaxFeatures::Sqrt,
            Some(ParamValue::Word(w)) if w == "log2" => MaxFeatures::Log2,
            Some(ParamValue::Float(f)) => MaxFeatures::Fraction(*f),
            Some(ParamValue::Int(i)) => MaxFeatures::Count(*i as usize),
            _ => MaxFeatures::All,
        }
    }
    /// The number of features out of `n` (at least 1, at most `n`).
    pub fn of(self, n: usize) -> usize {
        let k = match self {
            MaxFeatures::All => n,
            MaxFeatures::Sqrt => (n as f64).sqrt().floor() as usize,
            MaxFeatures::Log2 => (n as f64).log2().floor() as usize,
            MaxFeatures::Fraction(f) => (f * n as f64).floor() as usize,
            MaxFeatures::Count(c) => c,
        };
        k.clamp(1, n.max(1))
    }
}

/// A number of rows: a fraction of the training rows or a count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Portion {
    Fraction(f64),
    Count(usize),
}

impl Portion {
    fn from_value(v: Option<&ParamValue>) -> Portion {
        match v {
            Some(ParamValue::Int(i)) => Portion::Count(*i as usize),
            Some(ParamValue::Float(f)) => Portion::Fraction(*f),
            _ => Portion::Fraction(1.0),
        }
    }
    /// Rows out of `n` (at least 1).
    pub fn of(self, n: usize) -> usize {
        match self {
            Portion::Fraction(f) => ((f * n as f64).round() as usize).clamp(1, n.max(1)),
            Portion::Count(c) => c.clamp(1, n.max(1)),
        }
    }
}

/// Native decision tree (and random-forest tree) parameters beyond [`TreeParams`].
#[derive(Debug, Clone, PartialEq)]
pub struct CartParams {
    pub tree: TreeParams,
    pub max_features: MaxFeatures,
    pub max_bin: usize,
}

/// Gradient boosting's loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objective {
    Auto,
    BinaryLogistic,
    Softmax,
    SquaredError,
    PseudoHuber,
}

/// Parameters of native gradient boosting (xgboost's names).
#[derive(Debug, Clone, PartialEq)]
pub struct BoostingParams {
    pub objective: Objective,
    pub n_estimators: usize,
    pub learning_rate: f64,
    pub max_depth: usize,
    pub max_leaves: usize,
    pub lossguide: bool,
    pub lambda: f64,
    pub alpha: f64,
    pub gamma: f64,
    pub min_child_weight: f64,
    pub subsample: f64,
    pub colsample_bytree: f64,
    pub max_bin: usize,
    pub early_stopping_rounds: usize,
    pub validation_fraction: f64,
}

impl Default for BoostingParams {
    /// The parameter table's defaults (xgboost's).
    fn default() -> BoostingParams {
        let m: ParamMap = BOOSTING.iter().map(|d| (d.name.to_string(), default_value(d))).collect();
        match AlgoParams::from_map(Algorithm::GradientBoosting, &m) {
            AlgoParams::Boosting(p) => p,
            _ => unreachable!("gradient_boosting's table gives boosting parameters"),
        }
    }
}

/// Parameters of bagging over any estimator.
#[derive(Debug, Clone, PartialEq)]
pub struct BaggingParams {
    pub estimator: Box<Estimator>,
    pub n_estimators: usize,
    pub max_samples: Portion,
    pub max_features: MaxFeatures,
    pub bootstrap: bool,
    pub oob_score: bool,
}

/// Parameters of a random forest.
#[derive(Debug, Clone, PartialEq)]
pub struct ForestParams {
    pub n_estimators: usize,
    pub tree: CartParams,
    pub bootstrap: bool,
    pub oob_score: bool,
}

/// Parameters of AdaBoost (SAMME).
#[derive(Debug, Clone, PartialEq)]
pub struct AdaBoostParams {
    pub estimator: Box<Estimator>,
    pub n_estimators: usize,
    pub learning_rate: f64,
}

/// Parameters of stacking.
#[derive(Debug, Clone, PartialEq)]
pub struct StackingParams {
    pub estimators: Vec<Estimator>,
    pub final_estimator: Box<Estimator>,
    pub cv: usize,
    pub passthrough: bool,
}

/// What a transformer run trains for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LmMode {
    Pretrain,
    Sft,
    Dpo,
}

impl LmMode {
    /// The data format each mode learns from.
    pub fn format(self) -> crate::data::lm::LmFormat {
        use crate::data::lm::LmFormat;
        match self {
            LmMode::Pretrain => LmFormat::Text,
            LmMode::Sft => LmFormat::Instructions,
            LmMode::Dpo => LmFormat::Preferences,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            LmMode::Pretrain => "pretrain",
            LmMode::Sft => "sft",
            LmMode::Dpo => "dpo",
        }
    }
}

/// The attention variants, which trade KV-cache size against quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttentionKind {
    Mha,
    Mqa,
    Gqa,
    Mla,
}

/// LoRA adapters: `W x + (α/r)·B A x` with the base `W` frozen and `B` starting at zero.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoraConfig {
    pub rank: usize,
    pub alpha: f64,
    pub dropout: f64,
    pub targets: Vec<String>,
}

impl LoraConfig {
    /// The projections an adapter can sit on.
    pub const TARGETS: [&'static str; 7] = ["q", "k", "v", "o", "gate", "up", "down"];

    fn parse(v: &Value) -> Result<LoraConfig, String> {
        let Value::Object(m) = v else { return Err("lora must be none or {rank, alpha, dropout, targets}".into()) };
        for k in m.keys() {
            if !["rank", "alpha", "dropout", "targets"].contains(&k.as_str()) {
                return Err(format!("unknown field '{k}' in lora; allowed: rank, alpha, dropout, targets"));
            }
        }
        let rank = match m.get("rank") {
            None => 8,
            Some(r) => r.as_u64().filter(|r| (1..=4096).contains(r)).ok_or_else(|| format!("lora.rank {} is not allowed; expected an integer in [1, 4096]", show(r)))? as usize,
        };
        let alpha = match m.get("alpha") {
            None => 2.0 * rank as f64,
            Some(a) => a.as_f64().filter(|a| a.is_finite() && *a > 0.0).ok_or_else(|| format!("lora.alpha {} is not allowed; expected a number > 0", show(a)))?,
        };
        let dropout = match m.get("dropout") {
            None => 0.0,
            Some(d) => d.as_f64().filter(|d| (0.0..1.0).contains(d)).ok_or_else(|| format!("lora.dropout {} is not allowed; expected a number in [0, 1)", show(d)))?,
        };
        let targets = match m.get("targets") {
            None => vec!["q".to_string(), "v".to_string()],
            Some(Value::Array(a)) if !a.is_empty() => {
                let mut out = Vec::new();
                for t in a {
                    match t.as_str() {
                        Some(s) if Self::TARGETS.contains(&s) && !out.iter().any(|o: &String| o == s) => out.push(s.to_string()),
                        _ => return Err(format!("lora.targets: {} is not allowed; expected distinct names among {}", show(t), Self::TARGETS.join(", "))),
                    }
                }
                out
            }
            Some(other) => return Err(format!("lora.targets {} is not allowed; expected a list among {}", show(other), Self::TARGETS.join(", "))),
        };
        Ok(LoraConfig { rank, alpha, dropout, targets })
    }
}

/// Parameters of a LLaMA-style transformer on the torch backend. Serializable: the torch
/// worker receives them with its job.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TransformerParams {
    pub mode: LmMode,
    pub layers: usize,
    pub d_model: usize,
    pub heads: usize,
    pub context: usize,
    /// SwiGLU width, resolved (never 0 here).
    pub mlp_hidden: usize,
    pub attention: AttentionKind,
    pub kv_heads: usize,
    pub kv_lora_rank: usize,
    pub rope_dim: usize,
    pub steps: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub warmup_steps: usize,
    pub weight_decay: f64,
    pub grad_clip: f64,
    pub lora: Option<LoraConfig>,
    /// A run name or directory, as written; the runner resolves it to a checkpoint.
    pub init_from: Option<String>,
    pub beta: f64,
    pub device: String,
    pub eval_every: usize,
    pub eval_batches: usize,
}

impl TransformerParams {
    pub fn head_dim(&self) -> usize {
        self.d_model / self.heads.max(1)
    }
    /// K/V heads actually used by the variant (MLA has none: it caches a latent).
    pub fn kv_heads_used(&self) -> usize {
        match self.attention {
            AttentionKind::Mha => self.heads,
            AttentionKind::Mqa => 1,
            AttentionKind::Gqa => self.kv_heads,
            AttentionKind::Mla => 0,
        }
    }
    /// fp32 bytes the KV cache holds per generated token, whole model: K and V per layer, or
    /// MLA's latent and shared rotary key.
    pub fn kv_cache_bytes_per_token(&self) -> usize {
        let per_layer = match self.attention {
            AttentionKind::Mla => self.kv_lora_rank + self.rope_dim,
            _ => 2 * self.kv_heads_used() * self.head_dim(),
        };
        4 * self.layers * per_layer
    }
}

/// Typed parameters of a run.
#[derive(Debug, Clone, PartialEq)]
pub enum AlgoParams {
    Logistic(LogisticParams),
    Estimation(EstimationParams),
    Knn(KnnParams),
    KnnScaling(KnnScalingParams),
    Pca(PcaParams),
    Tree(CartParams),
    Boosting(BoostingParams),
    Bagging(BaggingParams),
    Forest(ForestParams),
    AdaBoost(AdaBoostParams),
    Stacking(StackingParams),
    Transformer(TransformerParams),
}

fn f(m: &ParamMap, k: &str) -> f64 {
    match m.get(k) {
        Some(ParamValue::Float(x)) => *x,
        Some(ParamValue::Int(i)) => *i as f64,
        _ => f64::NAN,
    }
}
fn i(m: &ParamMap, k: &str) -> u64 {
    match m.get(k) {
        Some(ParamValue::Int(x)) => (*x).max(0) as u64,
        _ => 0,
    }
}
fn w<'a>(m: &'a ParamMap, k: &str) -> &'a str {
    match m.get(k) {
        Some(ParamValue::Word(s)) => s,
        _ => "",
    }
}

impl AlgoParams {
    /// Build typed parameters from a validated, defaults-filled map.
    pub fn from_map(algorithm: Algorithm, m: &ParamMap) -> AlgoParams {
        match algorithm {
            Algorithm::LogisticRegression => AlgoParams::Logistic(LogisticParams {
                prior: match w(m, "prior") {
                    "gaussian" => Prior::Gaussian,
                    "laplace" => Prior::Laplace,
                    _ => Prior::None,
                },
                strength: f(m, "strength"),
                max_iter: i(m, "max_iter"),
                tol: f(m, "tol"),
                fit_intercept: !matches!(m.get("fit_intercept"), Some(ParamValue::Bool(false))),
            }),
            Algorithm::Estimation => AlgoParams::Estimation(EstimationParams {
                model: if w(m, "model") == "gaussian" { EstimationModel::Gaussian } else { EstimationModel::Bernoulli },
                true_value: f(m, "true_value"),
                prior_alpha: f(m, "prior_alpha"),
                prior_beta: f(m, "prior_beta"),
                prior_mean: f(m, "prior_mean"),
                prior_std: f(m, "prior_std"),
                noise_std: f(m, "noise_std"),
                sizes: match m.get("sizes") {
                    Some(ParamValue::Sizes(s)) => s.clone(),
                    _ => vec![],
                },
                repetitions: i(m, "repetitions"),
            }),
            Algorithm::Knn => {
                use crate::backends::native::kdtree::Metric;
                AlgoParams::Knn(KnnParams {
                    k: i(m, "k") as usize,
                    distance_weights: w(m, "weights") == "distance",
                    metric: match w(m, "metric") {
                        "manhattan" => Metric::Manhattan,
                        "chebyshev" => Metric::Chebyshev,
                        "minkowski" => Metric::Minkowski(f(m, "p")),
                        _ => Metric::Euclidean,
                    },
                    leaf_size: i(m, "leaf_size") as usize,
                    index: match w(m, "index") {
                        "kdtree" => KnnIndex::KdTree,
                        "brute" => KnnIndex::Brute,
                        "balltree" => KnnIndex::BallTree,
                        "covertree" => KnnIndex::CoverTree,
                        _ => KnnIndex::Auto,
                    },
                })
            }
            Algorithm::DecisionTree => AlgoParams::Tree(cart(m)),
            Algorithm::GradientBoosting => AlgoParams::Boosting(BoostingParams {
                objective: match w(m, "objective") {
                    "binary_logistic" => Objective::BinaryLogistic,
                    "softmax" => Objective::Softmax,
                    "squared_error" => Objective::SquaredError,
                    "pseudo_huber" => Objective::PseudoHuber,
                    _ => Objective::Auto,
                },
                n_estimators: i(m, "n_estimators") as usize,
                learning_rate: f(m, "learning_rate"),
                max_depth: i(m, "max_depth") as usize,
                max_leaves: i(m, "max_leaves") as usize,
                lossguide: w(m, "grow_policy") == "lossguide",
                lambda: f(m, "lambda"),
                alpha: f(m, "alpha"),
                gamma: f(m, "gamma"),
                min_child_weight: f(m, "min_child_weight"),
                subsample: f(m, "subsample"),
                colsample_bytree: f(m, "colsample_bytree"),
                max_bin: i(m, "max_bin") as usize,
                early_stopping_rounds: i(m, "early_stopping_rounds") as usize,
                validation_fraction: f(m, "validation_fraction"),
            }),
            Algorithm::Bagging => AlgoParams::Bagging(BaggingParams {
                estimator: est(m, "estimator"),
                n_estimators: i(m, "n_estimators") as usize,
                max_samples: Portion::from_value(m.get("max_samples")),
                max_features: MaxFeatures::from_value(m.get("max_features")),
                bootstrap: !matches!(m.get("bootstrap"), Some(ParamValue::Bool(false))),
                oob_score: matches!(m.get("oob_score"), Some(ParamValue::Bool(true))),
            }),
            Algorithm::RandomForest => AlgoParams::Forest(ForestParams {
                n_estimators: i(m, "n_estimators") as usize,
                tree: cart(m),
                bootstrap: !matches!(m.get("bootstrap"), Some(ParamValue::Bool(false))),
                oob_score: matches!(m.get("oob_score"), Some(ParamValue::Bool(true))),
            }),
            Algorithm::AdaBoost => AlgoParams::AdaBoost(AdaBoostParams {
                estimator: est(m, "estimator"),
                n_estimators: i(m, "n_estimators") as usize,
                learning_rate: f(m, "learning_rate"),
            }),
            Algorithm::Stacking => AlgoParams::Stacking(StackingParams {
                estimators: match m.get("estimators") {
                    Some(ParamValue::Estimators(v)) => v.clone(),
                    _ => vec![],
                },
                final_estimator: est(m, "final_estimator"),
                cv: i(m, "cv") as usize,
                passthrough: matches!(m.get("passthrough"), Some(ParamValue::Bool(true))),
            }),
            Algorithm::Transformer => {
                let d_model = i(m, "d_model") as usize;
                let hidden = match i(m, "mlp_hidden") as usize {
                    0 => (8 * d_model).div_ceil(3).div_ceil(32) * 32,
                    h => h,
                };
                AlgoParams::Transformer(TransformerParams {
                    mode: match w(m, "mode") {
                        "sft" => LmMode::Sft,
                        "dpo" => LmMode::Dpo,
                        _ => LmMode::Pretrain,
                    },
                    layers: i(m, "layers") as usize,
                    d_model,
                    heads: i(m, "heads") as usize,
                    context: i(m, "context") as usize,
                    mlp_hidden: hidden,
                    attention: match w(m, "attention") {
                        "mqa" => AttentionKind::Mqa,
                        "gqa" => AttentionKind::Gqa,
                        "mla" => AttentionKind::Mla,
                        _ => AttentionKind::Mha,
                    },
                    kv_heads: i(m, "kv_heads") as usize,
                    kv_lora_rank: i(m, "kv_lora_rank") as usize,
                    rope_dim: i(m, "rope_dim") as usize,
                    steps: i(m, "steps") as usize,
                    batch_size: i(m, "batch_size") as usize,
                    learning_rate: f(m, "learning_rate"),
                    warmup_steps: i(m, "warmup_steps") as usize,
                    weight_decay: f(m, "weight_decay"),
                    grad_clip: f(m, "grad_clip"),
                    lora: match m.get("lora") {
                        Some(ParamValue::Lora(l)) => l.clone(),
                        _ => None,
                    },
                    init_from: Some(w(m, "init_from").to_string()).filter(|s| !s.is_empty() && s != "none"),
                    beta: f(m, "beta"),
                    device: w(m, "device").to_string(),
                    eval_every: i(m, "eval_every") as usize,
                    eval_batches: i(m, "eval_batches") as usize,
                })
            }
            Algorithm::Pca => AlgoParams::Pca(PcaParams { n_components: f(m, "n_components"), whiten: matches!(m.get("whiten"), Some(ParamValue::Bool(true))) }),
            Algorithm::KnnScaling => AlgoParams::KnnScaling(KnnScalingParams {
                dims: match m.get("dims") {
                    Some(ParamValue::Sizes(s)) => s.clone(),
                    _ => vec![],
                },
                n_points: i(m, "n_points") as usize,
                n_queries: i(m, "n_queries") as usize,
                k: i(m, "k") as usize,
                clustered: w(m, "distribution") == "clustered",
                leaf_size: i(m, "leaf_size") as usize,
            }),
        }
    }
}

fn cart(m: &ParamMap) -> CartParams {
    CartParams {
        tree: TreeParams {
            entropy: w(m, "criterion") == "entropy",
            max_depth: Some(i(m, "max_depth") as usize).filter(|d| *d > 0),
            min_samples_split: i(m, "min_samples_split") as usize,
            min_samples_leaf: i(m, "min_samples_leaf") as usize,
        },
        max_features: MaxFeatures::from_value(m.get("max_features")),
        max_bin: i(m, "max_bin") as usize,
    }
}

fn est(m: &ParamMap, k: &str) -> Box<Estimator> {
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

impl AlgoParams {
    /// The estimators directly inside an ensemble's parameters.
    pub fn members<'a>(&'a self, out: &mut Vec<&'a Estimator>) {
        match self {
            AlgoParams::Bagging(b) => b.estimator.walk(out),
            AlgoParams::AdaBoost(a) => a.estimator.walk(out),
            AlgoParams::Stacking(s) => {
                for e in &s.estimators {
                    e.walk(out);
                }
                s.final_estimator.walk(out);
            }
            _ => {}
        }
    }
}

/// Combinations a backend cannot express, checked before anything runs.
/// Returns the reason, quoted to the user.
pub fn backend_limit(algorithm: Algorithm, backend: Backend, m: &ParamMap) -> Option<(&'static str, String)> {
    if algorithm == Algorithm::Transformer {
        return transformer_limit(m);
    }
    if algorithm == Algorithm::Knn {
        let index = w(m, "index");
        let allowed: &[&str] = match backend {
            Backend::Native => &["auto", "kdtree", "brute"],
            Backend::Linfa => &["auto", "kdtree", "balltree", "brute"],
            _ => &["auto", "covertree", "brute"],
        };
        if !allowed.contains(&index) {
            return Some(("index", format!("'{index}' is not an index of backend {backend}; allowed: {}", allowed.join(", "))));
        }
        if backend == Backend::Smartcore && w(m, "metric") == "chebyshev" {
            return Some(("metric", "smartcore has no Chebyshev distance; use backend: native or linfa".into()));
        }
        if backend == Backend::Smartcore && w(m, "metric") == "minkowski" && f(m, "p").fract() != 0.0 {
            return Some(("p", "smartcore's Minkowski distance takes a whole p; use backend: native or linfa".into()));
        }
    }
    if matches!(algorithm, Algorithm::DecisionTree | Algorithm::RandomForest) && backend != Backend::Native {
        for (k, default) in [("max_features", if algorithm == Algorithm::RandomForest { "sqrt" } else { "all" }), ("max_bin", "256")] {
            let given = m.get(k).map(|v| v.to_json().to_string().trim_matches('"').to_string()).unwrap_or_default();
            if given != default && !(k == "max_features" && algorithm == Algorithm::RandomForest && backend == Backend::Smartcore) {
                return Some((k, format!("is a parameter of backend native only (backend {backend} would ignore it); remove it or use backend: native")));
            }
        }
        if algorithm == Algorithm::RandomForest && matches!(m.get("oob_score"), Some(ParamValue::Bool(true))) {
            return Some(("oob_score", format!("backend {backend} does not report out-of-bag scores; use backend: native")));
        }
    }
    if algorithm == Algorithm::AdaBoost {
        if let Some(ParamValue::Estimator(e)) = m.get("estimator") {
            if !(e.backend == Backend::Native && matches!(e.algorithm, Algorithm::DecisionTree | Algorithm::GradientBoosting)) {
                return Some(("estimator", format!("AdaBoost reweights rows, and {} on {} takes no sample weights; use a native decision_tree or gradient_boosting", e.algorithm, e.backend)));
            }
        }
    }
    if algorithm == Algorithm::LogisticRegression && matches!(backend, Backend::Linfa | Backend::Smartcore) {
        if w(m, "prior") == "laplace" {
            return Some((
                "prior",
                format!(
                    "'laplace' is not available on backend {backend}: it only has an L2 penalty (prior: none or gaussian); use backend: native for the Laplace prior (L1)"
                ),
            ));
        }
        if backend == Backend::Smartcore && matches!(m.get("fit_intercept"), Some(ParamValue::Bool(false))) {
            return Some(("fit_intercept", "smartcore always fits an intercept; use backend: native or linfa".into()));
        }
    }
    None
}

/// Shapes a transformer cannot take: heads must split d_model into even head dimensions
/// (rotary embeddings rotate pairs), GQA's K/V heads must divide the query heads, and LoRA
/// adapts a trained base.
fn transformer_limit(m: &ParamMap) -> Option<(&'static str, String)> {
    let (d, h) = (i(m, "d_model"), i(m, "heads"));
    if h == 0 || d % h != 0 {
        return Some(("heads", format!("{h} heads do not divide d_model {d}; head dim = d_model / heads must be a whole number")));
    }
    if (d / h) % 2 != 0 {
        return Some(("heads", format!("head dim d_model / heads = {} is odd; rotary embeddings need an even head dim", d / h)));
    }
    let attention = w(m, "attention");
    if attention == "gqa" && h % i(m, "kv_heads").max(1) != 0 {
        return Some(("kv_heads", format!("{} K/V heads do not divide {h} query heads; each K/V head serves a whole group", i(m, "kv_heads"))));
    }
    if attention == "mla" && !i(m, "rope_dim").is_multiple_of(2) {
        return Some(("rope_dim", format!("{} is odd; the rotary key rotates pairs, so rope_dim must be even", i(m, "rope_dim"))));
    }
    if matches!(m.get("lora"), Some(ParamValue::Lora(Some(_)))) && w(m, "init_from") == "none" {
        return Some(("lora", "adapts a trained model, but this run starts from random weights; add init_from: RUN (an earlier run of this experiment or a run directory)".into()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_satisfies_its_own_definition() {
        for a in Algorithm::ALL {
            for d in defs(a) {
                let v: Value = serde_json::from_str(d.default).unwrap_or(Value::String(d.default.into()));
                assert!(check_value(d, &v).is_ok(), "{a}.{}: default {} invalid", d.name, d.default);
            }
        }
    }

    #[test]
    fn values_out_of_range_are_rejected_with_what_is_allowed() {
        let d = &LOGISTIC[1];
        let e = check_value(d, &serde_json::json!(-1.0)).unwrap_err();
        assert!(e.contains("-1.0") && e.contains("≥ 0"), "{e}");
        let d = &LOGISTIC[0];
        let e = check_value(d, &serde_json::json!("gauss")).unwrap_err();
        assert!(e.contains("'gauss'") && e.contains("none, gaussian, laplace"), "{e}");
        assert!(check_value(&ESTIMATION[7], &serde_json::json!([5, 3])).is_err());
    }
}
