//! The estimation demo (MLE, MAP and the posterior mean as data grows): its table and typed
//! parameters.

use super::{f, i, p, pw, w, ParamDef, ParamKind, ParamMap, ParamValue, POS};

/// `estimation`'s parameter table.
pub(super) static ESTIMATION: &[ParamDef] = &[
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

/// Typed parameters from a checked, defaults-filled map.
pub(super) fn from_map(m: &ParamMap) -> EstimationParams {
    EstimationParams {
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
    }
}
