//! k-nearest neighbours and the curse-of-dimensionality study: their tables, typed parameters,
//! and which index each backend offers.

use super::{f, i, p, pw, w, ParamDef, ParamKind, ParamMap, ParamValue};
use crate::backends::native::kdtree::Metric;
use crate::backends::Backend;

/// `knn`'s parameter table.
pub(super) static KNN: &[ParamDef] = &[
    p("k", ParamKind::Int { min: 1, max: 100_000 }, "5", "number of neighbours"),
    p("weights", ParamKind::Choice(&["uniform", "distance"]), "uniform", "uniform votes, or weighted by 1/distance"),
    p("metric", ParamKind::Choice(&["euclidean", "manhattan", "chebyshev", "minkowski"]), "euclidean", "distance"),
    pw("p", ParamKind::Float { min: 1.0, max: 1e6, min_open: false }, "2.0", "Minkowski exponent p", ("metric", "minkowski")),
    p("leaf_size", ParamKind::Int { min: 1, max: 1_000_000 }, "16", "points per leaf of the tree index"),
    p("index", ParamKind::Choice(&["auto", "kdtree", "brute", "balltree", "covertree"]), "auto",
      "native: kdtree | brute | auto (the tree, unless a probe shows it cannot prune); linfa: kdtree | balltree | brute; smartcore: covertree | brute"),
];

/// `knn_scaling`'s parameter table.
pub(super) static KNN_SCALING: &[ParamDef] = &[
    p("dims", ParamKind::SizeList, "[2, 4, 8, 16, 32, 64]", "dimensions, one step each"),
    p("n_points", ParamKind::Int { min: 100, max: 10_000_000 }, "20000", "points indexed"),
    p("n_queries", ParamKind::Int { min: 1, max: 1_000_000 }, "1000", "queries timed per dimension"),
    p("k", ParamKind::Int { min: 1, max: 1000 }, "10", "neighbours per query"),
    p("distribution", ParamKind::Choice(&["uniform", "clustered"]), "uniform", "uniform in the unit cube, or 100 Gaussian clusters (σ = 0.05)"),
    p("leaf_size", ParamKind::Int { min: 1, max: 100_000 }, "16", "points per leaf"),
];

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
    pub metric: Metric,
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

/// Typed parameters from a checked, defaults-filled map.
pub(super) fn from_map(m: &ParamMap) -> KnnParams {
    KnnParams {
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
    }
}

/// The study's typed parameters from a checked, defaults-filled map.
pub(super) fn scaling_from_map(m: &ParamMap) -> KnnScalingParams {
    KnnScalingParams {
        dims: match m.get("dims") {
            Some(ParamValue::Sizes(s)) => s.clone(),
            _ => vec![],
        },
        n_points: i(m, "n_points") as usize,
        n_queries: i(m, "n_queries") as usize,
        k: i(m, "k") as usize,
        clustered: w(m, "distribution") == "clustered",
        leaf_size: i(m, "leaf_size") as usize,
    }
}

/// An index or a distance the backend does not offer.
pub(super) fn limit(backend: Backend, m: &ParamMap) -> Option<(&'static str, String)> {
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
    None
}
