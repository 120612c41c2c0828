//! Logistic regression by maximum likelihood (MLE) or maximum a posteriori (MAP), one Newton
//! iteration per step.
//!
//! Minimizes F(w, b) = Σᵢ ℓᵢ + λ·pen(w), with ℓ the negative log-likelihood (binary: softplus(zᵢ)
//! − yᵢzᵢ; multinomial: logsumexp(zᵢ) − zᵢ,yᵢ with one weight vector per class, as
//! scikit-learn), pen(w) = ½‖w‖² for a Gaussian prior (L2) or ‖w‖₁ for a Laplace prior (L1),
//! and the intercept never penalized. λ = 1/C in scikit-learn's terms.
//!
//! - none / gaussian: damped Newton with Armijo backtracking (the Hessian is
//!   X̃ᵀ diag(σ(1−σ)) X̃ + λI, or its softmax block form).
//! - laplace: proximal Newton — the same quadratic model plus λ‖w‖₁, minimized by coordinate
//!   descent with soft-thresholding, then a line search on F (as in newGLMNET).
//!
//! Without a prior on separable classes, the likelihood approaches 1 as ‖w‖ → ∞ and no finite
//! MLE exists. Whenever an iterate classifies every training row correctly, the data are
//! separable (scaling that w up drives the loss to 0), so the trainer stops and says so.

use crate::backends::native::linalg::damped_solve;
use crate::backends::native::linear::{probabilities, sigmoid, LinearModel};
use crate::backends::saved::SavedModel;
use crate::backends::params::{LogisticParams, Prior};
use crate::backends::{Prediction, Predictor, StepOut, TrainError, Trainer};
use crate::data::TrainSet;
use ndarray::{s, Array1, Array2, ArrayView2, Axis};

/// The most weights the native solver fits: each Newton step forms and factors a dense
/// Hessian over all of them, (features + intercept) × (classes, or 1 for two), whose
/// factorization alone takes about 1 s at 2,000 weights and grows as their cube (and its
/// forming grows with rows × weights²). linfa and smartcore (L-BFGS) store no Hessian.
pub const MAX_WEIGHTS: usize = 2_000;

/// The weights native logistic regression fits on `features` columns and `classes` classes.
pub fn weights(features: usize, classes: usize, fit_intercept: bool) -> usize {
    (features + usize::from(fit_intercept)) * if classes <= 2 { 1 } else { classes }
}

/// Why the native solver refuses this size, or `None`: the guard checked when the experiment
/// is validated (and again at fit, for library callers).
pub fn width_limit(params: &LogisticParams, features: usize, classes: usize) -> Option<String> {
    let d = weights(features, classes, params.fit_intercept);
    (d > MAX_WEIGHTS).then(|| {
        let per = if classes > 2 { format!(" × {classes} classes") } else { String::new() };
        let instead = if params.prior == Prior::Laplace {
            "the Laplace prior (L1) is native only, so use fewer features (a one-hot column adds one per category), or prior: gaussian on backend: linfa or smartcore (L-BFGS, no Hessian)"
        } else {
            "use backend: linfa or smartcore (L-BFGS, no Hessian), or fewer features (a one-hot column adds one per category)"
        };
        format!("{features} features{per} make {d} weights, more than native logistic regression fits ({MAX_WEIGHTS} at most): its Newton step factors a dense {d} × {d} Hessian, which grows as the cube; {instead}")
    })
}

/// A native logistic-regression fit in progress.
pub struct NativeLogistic {
    params: LogisticParams,
    /// Rows with a trailing 1 when fitting an intercept: n × p̃.
    xt: Array2<f64>,
    y: Vec<usize>,
    /// Number of classes; the binary case keeps one weight vector (m = 1), else m = k.
    k: usize,
    p: usize,
    /// Parameters: p̃ × m (the last row is the intercept when fitted).
    theta: Array2<f64>,
    cur: Eval,
    iter: u64,
    done: bool,
}

/// Objective, gradient and probabilities at one parameter value.
#[derive(Clone)]
struct Eval {
    /// F including the penalty.
    f: f64,
    /// Gradient of the smooth part (likelihood, plus L2 when gaussian).
    g: Array2<f64>,
    /// n × m: σ(z) (binary) or softmax probabilities.
    prob: Array2<f64>,
}

fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

fn soft_threshold(v: f64, t: f64) -> f64 {
    if v > t {
        v - t
    } else if v < -t {
        v + t
    } else {
        0.0
    }
}

impl NativeLogistic {
    pub fn new(params: LogisticParams, data: &TrainSet) -> Result<Self, TrainError> {
        let k = data.n_classes;
        if k < 2 {
            return Err(TrainError::Data("logistic regression needs at least 2 classes".into()));
        }
        if data.is_empty() {
            return Err(TrainError::Data("the training set is empty".into()));
        }
        let (n, p) = data.x.dim();
        if let Some(why) = width_limit(&params, p, k) {
            return Err(TrainError::Data(why));
        }
        let fi = usize::from(params.fit_intercept);
        let mut xt = Array2::<f64>::ones((n, p + fi));
        xt.slice_mut(s![.., ..p]).assign(&data.x);
        let m = if k == 2 { 1 } else { k };
        let theta = Array2::zeros((p + fi, m));
        let y = data.labels();
        let mut me = NativeLogistic {
            params,
            xt,
            y,
            k,
            p,
            theta,
            cur: Eval { f: 0.0, g: Array2::zeros((0, 0)), prob: Array2::zeros((0, 0)) },
            iter: 0,
            done: false,
        };
        me.cur = me.eval(&me.theta);
        Ok(me)
    }

    fn n(&self) -> usize {
        self.xt.nrows()
    }

    fn is_penalized(&self, j: usize) -> bool {
        j < self.p
    }

    /// The L1 part of F (zero unless the prior is Laplace).
    fn l1(&self, theta: &Array2<f64>) -> f64 {
        if self.params.prior == Prior::Laplace {
            self.params.strength * theta.slice(s![..self.p, ..]).iter().map(|v| v.abs()).sum::<f64>()
        } else {
            0.0
        }
    }

    fn l2_lambda(&self) -> f64 {
        if self.params.prior == Prior::Gaussian {
            self.params.strength
        } else {
            0.0
        }
    }

    fn eval(&self, theta: &Array2<f64>) -> Eval {
        let z = self.xt.dot(theta);
        let n = self.n();
        let mut f = 0.0;
        let mut resid = Array2::<f64>::zeros(z.raw_dim()); // ∂ℓ/∂z
        let mut prob = Array2::<f64>::zeros(z.raw_dim());
        if self.k == 2 {
            for i in 0..n {
                let zi = z[[i, 0]];
                let yi = self.y[i] as f64;
                f += softplus(zi) - yi * zi;
                let pi = sigmoid(zi);
                prob[[i, 0]] = pi;
                resid[[i, 0]] = pi - yi;
            }
        } else {
            for i in 0..n {
                let row = z.row(i);
                let mx = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let lse = mx + row.iter().map(|v| (v - mx).exp()).sum::<f64>().ln();
                f += lse - row[self.y[i]];
                for c in 0..self.k {
                    let pc = (row[c] - lse).exp();
                    prob[[i, c]] = pc;
                    resid[[i, c]] = pc - f64::from(u8::from(c == self.y[i]));
                }
            }
        }
        let mut g = self.xt.t().dot(&resid);
        let l2 = self.l2_lambda();
        if l2 > 0.0 {
            let w = theta.slice(s![..self.p, ..]);
            f += 0.5 * l2 * w.iter().map(|v| v * v).sum::<f64>();
            let mut gw = g.slice_mut(s![..self.p, ..]);
            gw.scaled_add(l2, &w);
        }
        f += self.l1(theta);
        Eval { f, g, prob }
    }

    /// Hessian of the smooth part, as a D × D matrix over θ flattened class by class.
    fn hessian(&self, prob: &Array2<f64>) -> Array2<f64> {
        let pt = self.xt.ncols();
        let m = self.theta.ncols();
        let mut h = Array2::<f64>::zeros((pt * m, pt * m));
        for c in 0..m {
            for d in c..m {
                let s: Array1<f64> = if self.k == 2 {
                    prob.column(0).mapv(|p| p * (1.0 - p))
                } else {
                    let pc = prob.column(c);
                    let pd = prob.column(d);
                    if c == d {
                        pc.mapv(|p| p * (1.0 - p))
                    } else {
                        -(&pc * &pd)
                    }
                };
                let sx = &self.xt * &s.insert_axis(Axis(1));
                let block = self.xt.t().dot(&sx);
                h.slice_mut(s![c * pt..(c + 1) * pt, d * pt..(d + 1) * pt]).assign(&block);
                if c != d {
                    h.slice_mut(s![d * pt..(d + 1) * pt, c * pt..(c + 1) * pt]).assign(&block.t());
                }
            }
        }
        let l2 = self.l2_lambda();
        if l2 > 0.0 {
            for c in 0..m {
                for j in 0..self.p {
                    h[[c * pt + j, c * pt + j]] += l2;
                }
            }
        }
        h
    }

    fn flat(&self, a: &Array2<f64>) -> Array1<f64> {
        // column-major: class blocks
        a.t().iter().copied().collect()
    }

    fn unflat(&self, v: &Array1<f64>) -> Array2<f64> {
        let (pt, m) = self.theta.dim();
        Array2::from_shape_fn((pt, m), |(j, c)| v[c * pt + j])
    }

    /// Largest violation of the optimality conditions (the minimum-norm subgradient with L1).
    fn optimality(&self, theta: &Array2<f64>, g: &Array2<f64>) -> f64 {
        let lam = self.params.strength;
        let mut worst = 0.0f64;
        for ((j, c), &gj) in g.indexed_iter() {
            let v = if self.params.prior == Prior::Laplace && self.is_penalized(j) {
                let w = theta[[j, c]];
                if w != 0.0 {
                    (gj + lam * w.signum()).abs()
                } else {
                    (gj.abs() - lam).max(0.0)
                }
            } else {
                gj.abs()
            };
            worst = worst.max(v);
        }
        worst
    }

    /// Proximal Newton direction: argmin_d gᵀd + ½dᵀHd + λ‖w + d‖₁ by coordinate descent.
    fn prox_direction(&self, h: &Array2<f64>, g: &Array1<f64>, theta: &Array1<f64>) -> Array1<f64> {
        let dim = g.len();
        let pt = self.xt.ncols();
        let lam = self.params.strength;
        let mut d = Array1::<f64>::zeros(dim);
        let mut r = g.clone(); // r = g + H d
        let scale = (0..dim).map(|i| h[[i, i]]).fold(1.0f64, f64::max);
        for _sweep in 0..500 {
            let mut max_delta = 0.0f64;
            for j in 0..dim {
                let a = h[[j, j]] + 1e-12 * scale;
                let v = theta[j] + d[j];
                let newv = if self.is_penalized(j % pt) { soft_threshold(v - r[j] / a, lam / a) } else { v - r[j] / a };
                let delta = newv - v;
                if delta != 0.0 {
                    d[j] += delta;
                    r.scaled_add(delta, &h.column(j));
                    max_delta = max_delta.max(delta.abs() * a.sqrt());
                }
            }
            if max_delta < 1e-13 * (1.0 + theta.iter().map(|v| v.abs()).fold(0.0, f64::max)) {
                break;
            }
        }
        d
    }

    /// Does θ classify every training row correctly (strictly)?
    fn separates(&self, theta: &Array2<f64>) -> bool {
        let z = self.xt.dot(theta);
        (0..self.n()).all(|i| {
            if self.k == 2 {
                let zi = z[[i, 0]];
                if self.y[i] == 1 {
                    zi > 0.0
                } else {
                    zi < 0.0
                }
            } else {
                let row = z.row(i);
                let t = row[self.y[i]];
                row.iter().enumerate().all(|(c, &v)| c == self.y[i] || v < t)
            }
        })
    }

    /// The fitted weights (p × m) and intercepts (m), for reports and comparisons.
    pub fn coefficients(&self) -> (Array2<f64>, Array1<f64>) {
        let w = self.theta.slice(s![..self.p, ..]).to_owned();
        let b = if self.params.fit_intercept { self.theta.row(self.p).to_owned() } else { Array1::zeros(self.theta.ncols()) };
        (w, b)
    }

    /// F at the current parameters (sum over rows, penalty included).
    pub fn objective(&self) -> f64 {
        self.cur.f
    }

    /// Run to convergence (for tests and learning curves).
    pub fn fit(mut self) -> Result<Self, TrainError> {
        while !self.step()?.done {}
        Ok(self)
    }

    fn report(&self, message: Option<String>) -> StepOut {
        let n = self.n() as f64;
        let mut metrics = crate::metrics::Metrics::new();
        metrics.insert("objective".into(), self.cur.f / n);
        metrics.insert("grad_norm".into(), self.optimality(&self.theta, &self.cur.g) / n);
        let w = self.theta.slice(s![..self.p, ..]);
        metrics.insert("weight_norm".into(), w.iter().map(|v| v * v).sum::<f64>().sqrt());
        if self.params.prior == Prior::Laplace {
            metrics.insert("nonzero".into(), w.iter().filter(|v| **v != 0.0).count() as f64);
        }
        StepOut { metrics, x: None, done: self.done, message }
    }
}

impl Trainer for NativeLogistic {
    fn step(&mut self) -> Result<StepOut, TrainError> {
        if self.done {
            return Ok(self.report(None));
        }
        let n = self.n() as f64;
        let tol = self.params.tol * n;
        if self.iter == 0 && self.optimality(&self.theta, &self.cur.g) <= tol {
            self.done = true;
            return Ok(self.report(Some("already optimal at the starting point".into())));
        }
        let h = self.hessian(&self.cur.prob);
        let g = self.flat(&self.cur.g);
        let th = self.flat(&self.theta);
        let laplace = self.params.prior == Prior::Laplace;
        let d = if laplace {
            self.prox_direction(&h, &g, &th)
        } else {
            damped_solve(&h, &(-&g)).ok_or_else(|| TrainError::Diverged("the Newton system could not be solved".into()))?
        };
        // Predicted decrease (for Armijo): gᵀd (+ change in the L1 term).
        let l1_now = self.l1(&self.theta);
        let d_mat = self.unflat(&d);
        let mut decrease = g.dot(&d);
        if laplace {
            decrease += self.l1(&(&self.theta + &d_mat)) - l1_now;
        }
        if !decrease.is_finite() {
            return Err(TrainError::Diverged(format!("non-finite step at iteration {}", self.iter + 1)));
        }
        let mut t = 1.0;
        let mut next = None;
        for _ in 0..60 {
            let cand = &self.theta + &(&d_mat * t);
            let e = self.eval(&cand);
            if e.f.is_finite() && e.f <= self.cur.f + 1e-4 * t * decrease.min(0.0) {
                next = Some((cand, e));
                break;
            }
            t *= 0.5;
        }
        self.iter += 1;
        let f_old = self.cur.f;
        let stalled = next.is_none();
        if let Some((cand, e)) = next {
            self.theta = cand;
            self.cur = e;
        }
        if !self.cur.f.is_finite() {
            return Err(TrainError::Diverged(format!("objective is {} at iteration {}", self.cur.f, self.iter)));
        }
        if self.params.prior == Prior::None && self.separates(&self.theta) {
            return Err(TrainError::NoOptimum(format!(
                "the training data are perfectly separable: the maximum-likelihood estimate does not exist \
                 (the likelihood keeps growing as the weights grow without bound; stopped at iteration {}). \
                 Use a prior (prior: gaussian or laplace) for a finite MAP estimate",
                self.iter
            )));
        }
        let wmax = self.theta.iter().map(|v| v.abs()).fold(0.0, f64::max);
        if self.params.prior == Prior::None && wmax > 1e5 {
            return Err(TrainError::NoOptimum(format!(
                "weights grow without bound (|w| = {wmax:.3e} at iteration {}): the data are (quasi-)separable \
                 or a class is absent, so the maximum-likelihood estimate does not exist; use a prior",
                self.iter
            )));
        }
        let opt = self.optimality(&self.theta, &self.cur.g);
        let converged = opt <= tol || (stalled && opt <= tol * 1e3) || (f_old - self.cur.f).abs() <= 1e-15 * f_old.abs().max(1.0) && opt <= tol * 1e3;
        let mut msg = None;
        if converged {
            self.done = true;
            msg = Some(format!("converged after {} iterations (max |gradient|/n = {:.2e})", self.iter, opt / n));
        } else if self.iter >= self.params.max_iter {
            self.done = true;
            msg = Some(format!(
                "stopped at max_iter = {} before converging (max |gradient|/n = {:.2e} > tol = {:.1e})",
                self.params.max_iter, opt / n, self.params.tol
            ));
        } else if stalled {
            self.done = true;
            msg = Some(format!("line search made no progress at iteration {}; max |gradient|/n = {:.2e}", self.iter, opt / n));
        }
        Ok(self.report(msg))
    }

    fn predictor(&self) -> Option<&dyn Predictor> {
        Some(self)
    }

    fn total_steps(&self) -> Option<u64> {
        Some(self.params.max_iter)
    }
    fn saved(&self) -> Option<SavedModel> {
        let (w, b) = self.coefficients();
        Some(SavedModel::new(LinearModel { weights: w.rows().into_iter().map(|r| r.to_vec()).collect(), intercept: b.to_vec() }))
    }
}

impl Predictor for NativeLogistic {
    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Prediction, TrainError> {
        let (w, b) = self.coefficients();
        Ok(Prediction::Proba(probabilities(x, &w, &b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn params(prior: Prior, strength: f64) -> LogisticParams {
        LogisticParams { prior, strength, max_iter: 100, tol: 1e-10, fit_intercept: true }
    }

    #[test]
    fn the_weight_limit_counts_intercepts_and_classes_and_holds_at_fit() {
        // (665 + 1) × 3 = 1,998 weights fit; (666 + 1) × 3 = 2,001 do not; two classes need
        // one weight vector, so 1,999 features and an intercept are exactly the limit.
        assert_eq!(weights(665, 3, true), 1_998);
        assert!(width_limit(&params(Prior::Gaussian, 1.0), 665, 3).is_none());
        assert!(width_limit(&params(Prior::Gaussian, 1.0), 666, 3).is_some());
        assert!(width_limit(&params(Prior::None, 0.0), 1_999, 2).is_none());
        let why = width_limit(&params(Prior::Laplace, 1.0), 2_000, 2).unwrap();
        assert!(why.contains("2001 weights") && why.contains("Laplace prior (L1) is native only"), "{why}");
        // A library caller who skips validation gets the same refusal, not a hang.
        let data = TrainSet::new(Array2::zeros((4, 700)), ndarray::Array1::from(vec![0., 1., 2., 0.]), 3);
        match NativeLogistic::new(params(Prior::Gaussian, 1.0), &data) {
            Err(TrainError::Data(why)) => assert!(why.contains("2103 weights"), "{why}"),
            other => panic!("expected a refusal, got {:?}", other.err()),
        }
    }

    #[test]
    fn mle_with_one_binary_feature_matches_the_closed_form() {
        // P(y=1|x=0) = 2/5, P(y=1|x=1) = 4/5: b = logit(0.4), w = logit(0.8) − logit(0.4).
        let x = array![[0.], [0.], [0.], [0.], [0.], [1.], [1.], [1.], [1.], [1.]];
        let y = array![1., 1., 0., 0., 0., 1., 1., 1., 1., 0.];
        let fit = NativeLogistic::new(params(Prior::None, 0.0), &TrainSet::new(x, y, 2)).unwrap().fit().unwrap();
        let (w, b) = fit.coefficients();
        let logit = |p: f64| (p / (1.0 - p)).ln();
        assert!((b[0] - logit(0.4)).abs() < 1e-9, "b = {}", b[0]);
        assert!((w[[0, 0]] - (logit(0.8) - logit(0.4))).abs() < 1e-9, "w = {}", w[[0, 0]]);
    }

    #[test]
    fn separable_data_under_mle_is_detected_not_iterated_to_overflow() {
        let x = array![[-2.], [-1.], [1.], [2.]];
        let y = array![0., 0., 1., 1.];
        let err = NativeLogistic::new(params(Prior::None, 0.0), &TrainSet::new(x.clone(), y.clone(), 2))
            .unwrap()
            .fit()
            .err()
            .expect("separable data must not converge under MLE");
        assert!(matches!(err, TrainError::NoOptimum(ref m) if m.contains("separable")), "{err}");
        // The same data with a Gaussian prior has a finite MAP estimate.
        let fit = NativeLogistic::new(params(Prior::Gaussian, 1.0), &TrainSet::new(x, y, 2)).unwrap().fit().unwrap();
        assert!(fit.coefficients().0[[0, 0]].is_finite());
    }

    #[test]
    fn laplace_prior_zeroes_every_weight_above_lambda_max() {
        // With w = 0 the intercept is logit(ȳ) and the gradient is Xᵀ(ȳ − y); every weight stays
        // exactly zero iff λ ≥ ‖Xᵀ(y − ȳ)‖∞.
        let x = array![[0.5, -1.0], [1.5, 0.3], [-0.7, 0.8], [0.2, 2.0], [-1.1, -0.4], [0.9, 0.1]];
        let y = array![1., 1., 0., 1., 0., 0.];
        let ybar = y.mean().unwrap();
        let lmax = x.t().dot(&(&y - ybar)).iter().map(|v: &f64| v.abs()).fold(0.0, f64::max);
        let data = TrainSet::new(x, y, 2);
        let above = NativeLogistic::new(params(Prior::Laplace, lmax * 1.001), &data).unwrap().fit().unwrap();
        assert!(above.coefficients().0.iter().all(|v| *v == 0.0));
        let below = NativeLogistic::new(params(Prior::Laplace, lmax * 0.9), &data).unwrap().fit().unwrap();
        assert!(below.coefficients().0.iter().any(|v| *v != 0.0));
    }
}
