//! Algorithm parameters: one table per algorithm says each parameter's name, type, range,
//! default and meaning. Validation, defaults, error messages and the docs all read the same
//! table, so they cannot drift apart.
//!
//! This file is the machinery every table shares (kinds of values, checking, defaults, typed
//! parameters) and the catalogue that names each algorithm's table; each family's table, its
//! typed parameters and the combinations its backends cannot express sit in a file of their own.

mod boosting;
mod ensemble;
mod estimation;
mod estimator;
mod knn;
mod logistic;
mod pca;
mod transformer;
mod tree;

pub use boosting::{BoostingParams, Objective};
pub use ensemble::{AdaBoostParams, BaggingParams, ForestParams, Portion, StackingParams};
pub use estimation::{EstimationModel, EstimationParams};
pub use estimator::{Estimator, MAX_NESTING};
pub use knn::{KnnIndex, KnnParams, KnnScalingParams};
pub use logistic::{LogisticParams, Prior};
pub use pca::PcaParams;
pub use transformer::{AttentionKind, LmMode, LoraConfig, NetShape, TransformerParams, ARCHITECTURE};
pub use tree::{CartParams, MaxFeatures, TreeParams};

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

/// A table row.
const fn p(name: &'static str, kind: ParamKind, default: &'static str, help: &'static str) -> ParamDef {
    ParamDef { name, kind, default, help, only_when: None }
}
/// A table row that applies only when another parameter has a given value.
const fn pw(
    name: &'static str,
    kind: ParamKind,
    default: &'static str,
    help: &'static str,
    when: (&'static str, &'static str),
) -> ParamDef {
    ParamDef { name, kind, default, help, only_when: Some(when) }
}

/// A number > 0.
const POS: ParamKind = ParamKind::Float { min: 0.0, max: f64::INFINITY, min_open: true };
/// A number ≥ 0.
const NONNEG: ParamKind = ParamKind::Float { min: 0.0, max: f64::INFINITY, min_open: false };
/// Rounds or members: an integer in [1, 100000].
const ROUNDS: ParamKind = ParamKind::Int { min: 1, max: 100_000 };

/// The parameter table of an algorithm.
pub fn defs(algorithm: Algorithm) -> &'static [ParamDef] {
    match algorithm {
        Algorithm::LogisticRegression => logistic::LOGISTIC,
        Algorithm::Estimation => estimation::ESTIMATION,
        Algorithm::Knn => knn::KNN,
        Algorithm::KnnScaling => knn::KNN_SCALING,
        Algorithm::Pca => pca::PCA,
        Algorithm::DecisionTree => tree::TREE,
        Algorithm::GradientBoosting => boosting::BOOSTING,
        Algorithm::Bagging => ensemble::BAGGING,
        Algorithm::RandomForest => ensemble::FOREST,
        Algorithm::AdaBoost => ensemble::ADABOOST,
        Algorithm::Stacking => ensemble::STACKING,
        Algorithm::Transformer => transformer::TRANSFORMER,
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
        ParamKind::RunRef => "the name of an earlier run in this experiment, a run directory, a pretrained model (.gguf or model directory), or none".into(),
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
pub(super) fn check_nested(def: &ParamDef, v: &Value, depth: usize) -> Result<ParamValue, String> {
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

/// A number of a checked map (NaN when absent).
pub(super) fn f(m: &ParamMap, k: &str) -> f64 {
    match m.get(k) {
        Some(ParamValue::Float(x)) => *x,
        Some(ParamValue::Int(i)) => *i as f64,
        _ => f64::NAN,
    }
}
/// A whole number of a checked map (0 when absent).
pub(super) fn i(m: &ParamMap, k: &str) -> u64 {
    match m.get(k) {
        Some(ParamValue::Int(x)) => (*x).max(0) as u64,
        _ => 0,
    }
}
/// A word of a checked map (empty when absent).
pub(super) fn w<'a>(m: &'a ParamMap, k: &str) -> &'a str {
    match m.get(k) {
        Some(ParamValue::Word(s)) => s,
        _ => "",
    }
}

impl AlgoParams {
    /// Build typed parameters from a validated, defaults-filled map.
    pub fn from_map(algorithm: Algorithm, m: &ParamMap) -> AlgoParams {
        match algorithm {
            Algorithm::LogisticRegression => AlgoParams::Logistic(logistic::from_map(m)),
            Algorithm::Estimation => AlgoParams::Estimation(estimation::from_map(m)),
            Algorithm::Knn => AlgoParams::Knn(knn::from_map(m)),
            Algorithm::DecisionTree => AlgoParams::Tree(tree::cart(m)),
            Algorithm::GradientBoosting => AlgoParams::Boosting(boosting::from_map(m)),
            Algorithm::Bagging => AlgoParams::Bagging(ensemble::bagging(m)),
            Algorithm::RandomForest => AlgoParams::Forest(ensemble::forest(m)),
            Algorithm::AdaBoost => AlgoParams::AdaBoost(ensemble::adaboost(m)),
            Algorithm::Stacking => AlgoParams::Stacking(ensemble::stacking(m)),
            Algorithm::Transformer => AlgoParams::Transformer(transformer::from_map(m)),
            Algorithm::Pca => AlgoParams::Pca(pca::from_map(m)),
            Algorithm::KnnScaling => AlgoParams::KnnScaling(knn::scaling_from_map(m)),
        }
    }

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
    match algorithm {
        Algorithm::Transformer => transformer::limit(m),
        Algorithm::Knn => knn::limit(backend, m),
        Algorithm::DecisionTree | Algorithm::RandomForest => tree::limit(algorithm, backend, m),
        Algorithm::AdaBoost => ensemble::adaboost_limit(m),
        Algorithm::LogisticRegression => logistic::limit(backend, m),
        Algorithm::Estimation | Algorithm::KnnScaling | Algorithm::Pca | Algorithm::GradientBoosting | Algorithm::Bagging | Algorithm::Stacking => None,
    }
}

#[cfg(test)]
mod tests {
    use super::estimation::ESTIMATION;
    use super::logistic::LOGISTIC;
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
