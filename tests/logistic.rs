//! Logistic regression against references: the native Newton solver, linfa-logistic and
//! smartcore reach the same optimum on the bundled datasets, and the native optimum satisfies
//! the optimality conditions computed here independently (for λ > 0 the objective is strictly
//! convex, so a zero gradient identifies the unique optimum).

use ndarray::{Array1, Array2};
use ratlab::backends::linfa::LinfaLogistic;
use ratlab::backends::native::linear::probabilities;
use ratlab::backends::native::logistic::NativeLogistic;
use ratlab::backends::params::{LogisticParams, Prior};
use ratlab::backends::{Prediction, Predictor, Task, Trainer};
use crate::{bundled, standardized};

fn params(prior: Prior, strength: f64) -> LogisticParams {
    LogisticParams { prior, strength, max_iter: 500, tol: 1e-10, fit_intercept: true }
}

/// F(w, b) = Σ −log p(yᵢ) + λ/2‖w‖² and its gradient, written out independently of ratlab's solver.
fn objective_and_grad(x: &Array2<f64>, y: &[usize], w: &Array2<f64>, b: &Array1<f64>, lambda: f64) -> (f64, Array2<f64>, Array1<f64>) {
    let p = probabilities(x.view(), w, b); // n × k probabilities
    let k = p.ncols();
    let n = x.nrows();
    let mut f = 0.0;
    let mut r = Array2::<f64>::zeros((n, k));
    for i in 0..n {
        f -= p[[i, y[i]]].ln();
        for c in 0..k {
            r[[i, c]] = p[[i, c]] - if c == y[i] { 1.0 } else { 0.0 };
        }
    }
    f += 0.5 * lambda * w.iter().map(|v| v * v).sum::<f64>();
    if w.ncols() == 1 {
        // Binary: one column, the log-odds of class 1.
        let r1 = r.column(1).to_owned();
        let gw = x.t().dot(&r1).insert_axis(ndarray::Axis(1)) + lambda * w;
        (f, gw, Array1::from(vec![r1.sum()]))
    } else {
        let gw = x.t().dot(&r) + lambda * w;
        (f, gw, r.sum_axis(ndarray::Axis(0)))
    }
}

fn proba(m: &dyn Predictor, x: &Array2<f64>) -> Array2<f64> {
    match m.predict(x.view()).unwrap() {
        Prediction::Proba(p) => p,
        Prediction::Values(_) => panic!("classifier"),
    }
}

#[test]
fn native_matches_linfa_and_the_optimality_conditions_on_bundled_datasets() {
    for name in ["iris", "wine", "breast_cancer"] {
        let data = standardized(bundled(name, Task::Classification));
        let y = data.labels();
        for lambda in [0.1, 1.0, 10.0] {
            let native = NativeLogistic::new(params(Prior::Gaussian, lambda), &data).unwrap().fit().unwrap();
            let (w, b) = native.coefficients();
            let (f, gw, gb) = objective_and_grad(&data.x, &y, &w, &b, lambda);
            assert!((f - native.objective()).abs() <= 1e-9 * f, "{name} λ={lambda}: objective {f} vs {}", native.objective());
            // Optimality: every gradient component below 1e-6 (sums over ≥ 150 rows).
            let gmax = gw.iter().chain(gb.iter()).map(|v| v.abs()).fold(0.0, f64::max);
            assert!(gmax < 1e-6, "{name} λ={lambda}: max |∇F| = {gmax:e}");

            let mut linfa = LinfaLogistic::new(LogisticParams { max_iter: 5000, tol: 1e-12, ..params(Prior::Gaussian, lambda) }, &data).unwrap();
            while !linfa.step().unwrap().done {}
            let (lw, lb) = linfa.coefficients();
            let (lf, _, _) = objective_and_grad(&data.x, &y, &lw, &lb, lambda);
            // Same objective (native is the more precise: Newton vs L-BFGS), same model.
            assert!(f <= lf + 1e-9 * lf, "{name} λ={lambda}: native {f} above linfa {lf}");
            assert!((lf - f) / f < 1e-7, "{name} λ={lambda}: linfa objective {lf} vs native {f}");
            let dp = (proba(&native, &data.x) - proba(&linfa, &data.x)).iter().map(|v| v.abs()).fold(0.0, f64::max);
            assert!(dp < 1e-4, "{name} λ={lambda}: probabilities differ by {dp:e}");
            // Weights are identifiable for λ > 0: compare them directly.
            let dw = (&w - &lw).iter().map(|v| v.abs()).fold(0.0, f64::max);
            assert!(dw < 1e-3 * (1.0 + w.iter().map(|v| v.abs()).fold(0.0, f64::max)), "{name} λ={lambda}: weights differ by {dw:e}");
        }
    }
}

#[test]
fn smartcore_reaches_the_same_model_within_its_own_tolerance() {
    // smartcore fixes its own L-BFGS tolerance, so agreement is looser than with linfa.
    for (name, lambda) in [("iris", 1.0), ("breast_cancer", 1.0)] {
        let data = standardized(bundled(name, Task::Classification));
        let native = NativeLogistic::new(params(Prior::Gaussian, lambda), &data).unwrap().fit().unwrap();
        let mut sc = ratlab::backends::smartcore::SmartcoreLogistic::new(params(Prior::Gaussian, lambda), &data).unwrap();
        sc.step().unwrap();
        let dp = (proba(&native, &data.x) - proba(&sc, &data.x)).iter().map(|v| v.abs()).fold(0.0, f64::max);
        assert!(dp < 1e-3, "{name}: probabilities differ by {dp:e}");
    }
}

#[test]
fn laplace_prior_gives_sparse_weights_that_satisfy_the_subgradient_conditions() {
    let data = standardized(bundled("breast_cancer", Task::Classification));
    let y = data.labels();
    let lambda = 5.0;
    let fit = NativeLogistic::new(params(Prior::Laplace, lambda), &data).unwrap().fit().unwrap();
    let (w, b) = fit.coefficients();
    let (_, gw, gb) = objective_and_grad(&data.x, &y, &w, &b, 0.0);
    assert!(gb[0].abs() < 1e-6);
    let zeros = w.iter().filter(|v| **v == 0.0).count();
    assert!((10..30).contains(&zeros), "L1 zeroes some of the 30 weights exactly: {zeros}");
    for (wj, gj) in w.iter().zip(gw.iter()) {
        if *wj == 0.0 {
            assert!(gj.abs() <= lambda + 1e-6, "zero weight needs |∂f| ≤ λ: {gj}");
        } else {
            assert!((gj + lambda * wj.signum()).abs() < 1e-6, "non-zero weight needs ∂f = −λ·sign(w): {gj}");
        }
    }
}

#[test]
fn multinomial_mle_is_finite_on_overlapping_classes_and_matches_linfa() {
    // wine with 3 features overlaps, so the multinomial MLE exists (λ = 0).
    let mut data = standardized(bundled("wine", Task::Classification));
    data.x = data.x.slice(ndarray::s![.., 0..3]).to_owned();
    let native = NativeLogistic::new(params(Prior::None, 0.0), &data).unwrap().fit().unwrap();
    let mut linfa = LinfaLogistic::new(LogisticParams { max_iter: 5000, tol: 1e-12, ..params(Prior::None, 0.0) }, &data).unwrap();
    while !linfa.step().unwrap().done {}
    // Softmax weights are identified only up to a shared shift: compare probabilities.
    let dp = (proba(&native, &data.x) - proba(&linfa, &data.x)).iter().map(|v| v.abs()).fold(0.0, f64::max);
    assert!(dp < 1e-4, "probabilities differ by {dp:e}");
}
