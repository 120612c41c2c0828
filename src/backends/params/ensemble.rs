//! Ensembles: bagging over any estimator, random forests, AdaBoost (SAMME) and stacking: their
//! tables and typed parameters, and what AdaBoost asks of its base estimator.

use super::estimator::{est, Estimator};
use super::tree::{cart, CartParams, MaxFeatures, FEATURES};
use super::{f, i, p, ParamDef, ParamKind, ParamMap, ParamValue, POS, ROUNDS};
use crate::backends::{Algorithm, Backend};

const NATIVE_TREE: &str = "{\"algorithm\": \"decision_tree\", \"backend\": \"native\"}";

/// `bagging`'s parameter table.
pub(super) static BAGGING: &[ParamDef] = &[
    p("estimator", ParamKind::Estimator, NATIVE_TREE, "the base estimator: {algorithm, backend, params}"),
    p("n_estimators", ROUNDS, "10", "members"),
    p("max_samples", ParamKind::Portion(&[]), "1.0", "rows per member: a fraction (0.8) or a count (500)"),
    p("max_features", FEATURES, "\"all\"", "features per member: all, sqrt, log2, a fraction or a count"),
    p("bootstrap", ParamKind::Bool, "true", "draw rows with replacement"),
    p("oob_score", ParamKind::Bool, "false", "score each step on the rows its members did not see (out of bag)"),
];

/// `random_forest`'s parameter table.
pub(super) static FOREST: &[ParamDef] = &[
    p("n_estimators", ROUNDS, "100", "trees"),
    p("criterion", ParamKind::Choice(&["gini", "entropy"]), "gini", "split quality for classification (regression uses variance reduction)"),
    p("max_depth", ParamKind::Int { min: 0, max: 10_000 }, "0", "deepest level (0 = unlimited)"),
    p("min_samples_split", ParamKind::Int { min: 2, max: 1_000_000 }, "2", "rows a node needs to be split"),
    p("min_samples_leaf", ParamKind::Int { min: 1, max: 1_000_000 }, "1", "rows each leaf keeps at least"),
    p("max_features", FEATURES, "\"sqrt\"", "features tried per split: sqrt, log2, all, a fraction or a count"),
    p("bootstrap", ParamKind::Bool, "true", "draw each tree's rows with replacement"),
    p("oob_score", ParamKind::Bool, "false", "score each step on the rows its trees did not see (out of bag; native)"),
    p("max_bin", ParamKind::Int { min: 2, max: 256 }, "256", "quantile bins per feature (native)"),
    super::tree::MAX_CAT_TO_ONEHOT,
    super::tree::CAT_SMOOTH,
    super::tree::MIN_DATA_PER_GROUP,
    super::tree::MAX_CAT_THRESHOLD,
];

const STUMP: &str = "{\"algorithm\": \"decision_tree\", \"backend\": \"native\", \"params\": {\"max_depth\": 1}}";

/// `adaboost`'s parameter table.
pub(super) static ADABOOST: &[ParamDef] = &[
    p("estimator", ParamKind::Estimator, STUMP, "the base estimator; it must take sample weights (native decision_tree or gradient_boosting)"),
    p("n_estimators", ROUNDS, "50", "boosting rounds"),
    p("learning_rate", POS, "1.0", "shrinkage of each member's vote"),
];

/// `stacking`'s parameter table.
pub(super) static STACKING: &[ParamDef] = &[
    p("estimators", ParamKind::Estimators,
      "[{\"algorithm\": \"random_forest\"}, {\"algorithm\": \"knn\", \"backend\": \"native\"}, {\"algorithm\": \"logistic_regression\", \"params\": {\"prior\": \"gaussian\"}}]",
      "the base estimators, each {algorithm, backend, params}"),
    p("final_estimator", ParamKind::Estimator, "{\"algorithm\": \"logistic_regression\", \"backend\": \"native\", \"params\": {\"prior\": \"gaussian\"}}",
      "the estimator trained on the base estimators' out-of-fold probabilities"),
    p("cv", ParamKind::Int { min: 2, max: 20 }, "5", "folds for the out-of-fold predictions"),
    p("passthrough", ParamKind::Bool, "false", "give the final estimator the original features too"),
];

/// A number of rows: a fraction of the training rows or a count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Portion {
    Fraction(f64),
    Count(usize),
}

impl Portion {
    pub(super) fn from_value(v: Option<&ParamValue>) -> Portion {
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

/// Bagging's typed parameters from a checked, defaults-filled map.
pub(super) fn bagging(m: &ParamMap) -> BaggingParams {
    BaggingParams {
        estimator: est(m, "estimator"),
        n_estimators: i(m, "n_estimators") as usize,
        max_samples: Portion::from_value(m.get("max_samples")),
        max_features: MaxFeatures::from_value(m.get("max_features")),
        bootstrap: !matches!(m.get("bootstrap"), Some(ParamValue::Bool(false))),
        oob_score: matches!(m.get("oob_score"), Some(ParamValue::Bool(true))),
    }
}

/// A random forest's typed parameters.
pub(super) fn forest(m: &ParamMap) -> ForestParams {
    ForestParams {
        n_estimators: i(m, "n_estimators") as usize,
        tree: cart(m),
        bootstrap: !matches!(m.get("bootstrap"), Some(ParamValue::Bool(false))),
        oob_score: matches!(m.get("oob_score"), Some(ParamValue::Bool(true))),
    }
}

/// AdaBoost's typed parameters.
pub(super) fn adaboost(m: &ParamMap) -> AdaBoostParams {
    AdaBoostParams {
        estimator: est(m, "estimator"),
        n_estimators: i(m, "n_estimators") as usize,
        learning_rate: f(m, "learning_rate"),
    }
}

/// Stacking's typed parameters.
pub(super) fn stacking(m: &ParamMap) -> StackingParams {
    StackingParams {
        estimators: match m.get("estimators") {
            Some(ParamValue::Estimators(v)) => v.clone(),
            _ => vec![],
        },
        final_estimator: est(m, "final_estimator"),
        cv: i(m, "cv") as usize,
        passthrough: matches!(m.get("passthrough"), Some(ParamValue::Bool(true))),
    }
}

/// AdaBoost reweights rows: its base estimator must take sample weights.
pub(super) fn adaboost_limit(m: &ParamMap) -> Option<(&'static str, String)> {
    if let Some(ParamValue::Estimator(e)) = m.get("estimator") {
        if !(e.backend == Backend::Native && matches!(e.algorithm, Algorithm::DecisionTree | Algorithm::GradientBoosting)) {
            return Some(("estimator", format!("AdaBoost reweights rows, and {} on {} takes no sample weights; use a native decision_tree or gradient_boosting", e.algorithm, e.backend)));
        }
    }
    None
}
