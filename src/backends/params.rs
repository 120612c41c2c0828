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
}

impl ParamValue {
    pub fn to_json(&self) -> Value {
        match self {
            ParamValue::Float(f) => serde_json::json!(f),
            ParamValue::Int(i) => serde_json::json!(i),
            ParamValue::Word(s) => Value::String(s.clone()),
            ParamValue::Bool(b) => Value::Bool(*b),
            ParamValue::Sizes(v) => serde_json::json!(v),
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
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

/// Check one raw value against its definition. The error text quotes the value and says what
/// is allowed.
pub fn check_value(def: &ParamDef, v: &Value) -> Result<ParamValue, String> {
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

/// Typed parameters of a run.
#[derive(Debug, Clone, PartialEq)]
pub enum AlgoParams {
    Logistic(LogisticParams),
    Estimation(EstimationParams),
    Knn(KnnParams),
    KnnScaling(KnnScalingParams),
    Pca(PcaParams),
    Tree(TreeParams),
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
            Algorithm::DecisionTree => AlgoParams::Tree(TreeParams {
                entropy: w(m, "criterion") == "entropy",
                max_depth: Some(i(m, "max_depth") as usize).filter(|d| *d > 0),
                min_samples_split: i(m, "min_samples_split") as usize,
                min_samples_leaf: i(m, "min_samples_leaf") as usize,
            }),
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

/// Combinations a backend cannot express, checked before anything runs.
/// Returns the reason, quoted to the user.
pub fn backend_limit(algorithm: Algorithm, backend: Backend, m: &ParamMap) -> Option<(&'static str, String)> {
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
