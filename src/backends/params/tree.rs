//! Decision trees (and the trees of random forests): the table, typed parameters, how many
//! features a split may use, and the parameters only the native tree has.

use super::{f, i, p, w, ParamDef, ParamKind, ParamMap, ParamValue, NONNEG};
use crate::backends::native::categories::CatRule;
use crate::backends::{Algorithm, Backend};

/// Categorical splits (`data.encoding: native`), shared by the native tree, forest and
/// gradient boosting tables.
pub(super) const MAX_CAT_TO_ONEHOT: ParamDef =
    p("max_cat_to_onehot", ParamKind::Int { min: 1, max: 254 }, "4", "categorical features: at most this many categories in a node split one against the rest; more are sorted by gradient/hessian and split by prefix");
pub(super) const CAT_SMOOTH: ParamDef = p("cat_smooth", NONNEG, "10.0", "categorical features: added to each category's hessian (weight) when sorting them by gradient/hessian; a category with fewer rows is not sorted on its own");
pub(super) const MIN_DATA_PER_GROUP: ParamDef =
    p("min_data_per_group", NONNEG, "100.0", "categorical features: the rows each side of a category split needs");
pub(super) const CAT_L2: ParamDef = p("cat_l2", NONNEG, "10.0", "categorical features: more L2 penalty on the leaf weights when scoring a category split");
pub(super) const MAX_CAT_THRESHOLD: ParamDef =
    p("max_cat_threshold", ParamKind::Int { min: 1, max: 254 }, "32", "categorical features: the most categories the scanned side of a split holds (from either end of the sorted order)");

/// The categorical split rule of a checked, defaults-filled map.
pub(super) fn cat_rule(m: &ParamMap) -> CatRule {
    CatRule {
        max_cat_to_onehot: i(m, "max_cat_to_onehot") as usize,
        cat_smooth: f(m, "cat_smooth"),
        min_data_per_group: f(m, "min_data_per_group"),
        max_cat_threshold: i(m, "max_cat_threshold") as usize,
        // Only boosting has it (a CART leaf is a class share or a mean, not a penalized weight).
        cat_l2: if m.contains_key("cat_l2") { f(m, "cat_l2") } else { 0.0 },
    }
}

/// `decision_tree`'s parameter table.
pub(super) static TREE: &[ParamDef] = &[
    p("criterion", ParamKind::Choice(&["gini", "entropy"]), "gini", "split quality for classification (regression trees use variance reduction)"),
    p("max_depth", ParamKind::Int { min: 0, max: 10_000 }, "0", "deepest level (0 = unlimited)"),
    p("min_samples_split", ParamKind::Int { min: 2, max: 1_000_000 }, "2", "rows a node needs to be split"),
    p("min_samples_leaf", ParamKind::Int { min: 1, max: 1_000_000 }, "1", "rows each leaf keeps at least"),
    p("max_features", FEATURES, "\"all\"", "features tried per split (native): all, sqrt, log2, a fraction (0.5) or a count (4)"),
    p("max_bin", ParamKind::Int { min: 2, max: 256 }, "256", "quantile bins per feature, one of them for missing values (native)"),
    MAX_CAT_TO_ONEHOT,
    CAT_SMOOTH,
    MIN_DATA_PER_GROUP,
    MAX_CAT_THRESHOLD,
];

/// `max_features`: all, sqrt, log2, a fraction or a count.
pub(super) const FEATURES: ParamKind = ParamKind::Portion(&["all", "sqrt", "log2"]);

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
    pub(super) fn from_value(v: Option<&ParamValue>) -> MaxFeatures {
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

/// Native decision tree (and random-forest tree) parameters beyond [`TreeParams`].
#[derive(Debug, Clone, PartialEq)]
pub struct CartParams {
    pub tree: TreeParams,
    pub max_features: MaxFeatures,
    pub max_bin: usize,
    pub cat: CatRule,
}

/// A native tree's typed parameters from a checked, defaults-filled map (a forest's table has
/// the same tree fields).
pub(super) fn cart(m: &ParamMap) -> CartParams {
    CartParams {
        tree: TreeParams {
            entropy: w(m, "criterion") == "entropy",
            max_depth: Some(i(m, "max_depth") as usize).filter(|d| *d > 0),
            min_samples_split: i(m, "min_samples_split") as usize,
            min_samples_leaf: i(m, "min_samples_leaf") as usize,
        },
        max_features: MaxFeatures::from_value(m.get("max_features")),
        max_bin: i(m, "max_bin") as usize,
        cat: cat_rule(m),
    }
}

/// Parameters of the native tree (and forest) that the library backends would ignore, and the
/// out-of-bag score they do not report.
pub(super) fn limit(algorithm: Algorithm, backend: Backend, m: &ParamMap) -> Option<(&'static str, String)> {
    if backend == Backend::Native {
        return None;
    }
    for (k, default) in [("max_features", if algorithm == Algorithm::RandomForest { "sqrt" } else { "all" }), ("max_bin", "256")] {
        let given = m.get(k).map(|v| v.to_json().to_string().trim_matches('"').to_string()).unwrap_or_default();
        if given != default && !(k == "max_features" && algorithm == Algorithm::RandomForest && backend == Backend::Smartcore) {
            return Some((k, format!("is a parameter of backend native only (backend {backend} would ignore it); remove it or use backend: native")));
        }
    }
    if algorithm == Algorithm::RandomForest && matches!(m.get("oob_score"), Some(ParamValue::Bool(true))) {
        return Some(("oob_score", format!("backend {backend} does not report out-of-bag scores; use backend: native")));
    }
    None
}
