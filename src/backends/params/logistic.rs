//! Logistic regression (MLE, or MAP with a Gaussian or Laplace prior): its table, typed
//! parameters, and what the library backends cannot express.

use super::{f, i, p, w, ParamDef, ParamKind, ParamMap, ParamValue, NONNEG, POS};
use crate::backends::Backend;

/// `logistic_regression`'s parameter table.
pub(super) static LOGISTIC: &[ParamDef] = &[
    p("prior", ParamKind::Choice(&["none", "gaussian", "laplace"]), "none",
      "none = maximum likelihood; gaussian = MAP with a Gaussian prior (L2); laplace = MAP with a Laplace prior (L1)"),
    p("strength", NONNEG, "1.0",
      "λ in Σ log-loss + λ·penalty(w); penalty ½‖w‖² (gaussian) or ‖w‖₁ (laplace); λ = 1/C of scikit-learn"),
    p("max_iter", ParamKind::Int { min: 1, max: 1_000_000 }, "100", "optimizer iterations at most"),
    p("tol", POS, "1e-8", "stop when the largest gradient (or optimality) component is below tol·max(1, |objective|/n)"),
    p("fit_intercept", ParamKind::Bool, "true", "learn an (unpenalized) intercept"),
];

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

/// Typed parameters from a checked, defaults-filled map.
pub(super) fn from_map(m: &ParamMap) -> LogisticParams {
    LogisticParams {
        prior: match w(m, "prior") {
            "gaussian" => Prior::Gaussian,
            "laplace" => Prior::Laplace,
            _ => Prior::None,
        },
        strength: f(m, "strength"),
        max_iter: i(m, "max_iter"),
        tol: f(m, "tol"),
        fit_intercept: !matches!(m.get("fit_intercept"), Some(ParamValue::Bool(false))),
    }
}

/// What linfa and smartcore cannot express: an L1 penalty, and (smartcore) no intercept.
pub(super) fn limit(backend: Backend, m: &ParamMap) -> Option<(&'static str, String)> {
    if !matches!(backend, Backend::Linfa | Backend::Smartcore) {
        return None;
    }
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
    None
}
