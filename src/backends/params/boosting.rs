//! Native gradient boosting (xgboost's parameter names): its table and typed parameters.

use super::{default_value, f, i, p, w, ParamDef, ParamKind, ParamMap, NONNEG, ROUNDS};

/// Subsampling shares: a fraction in (0, 1].
const FRACTION: ParamKind = ParamKind::Float { min: 0.0, max: 1.0, min_open: true };

/// `gradient_boosting`'s parameter table.
pub(super) static BOOSTING: &[ParamDef] = &[
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
    super::tree::MAX_CAT_TO_ONEHOT,
    super::tree::CAT_SMOOTH,
    super::tree::MIN_DATA_PER_GROUP,
    super::tree::MAX_CAT_THRESHOLD,
    super::tree::CAT_L2,
];

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
    /// Categorical splits (`data.encoding: native`).
    pub cat: crate::backends::native::categories::CatRule,
}

impl Default for BoostingParams {
    /// The parameter table's defaults (xgboost's).
    fn default() -> BoostingParams {
        let m: ParamMap = BOOSTING.iter().map(|d| (d.name.to_string(), default_value(d))).collect();
        from_map(&m)
    }
}

/// Typed parameters from a checked, defaults-filled map.
pub(super) fn from_map(m: &ParamMap) -> BoostingParams {
    BoostingParams {
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
        cat: super::tree::cat_rule(m),
    }
}
