//! PCA against references: the backends agree on explained variance (1e-8 relative) and on
//! components up to sign, k components explain the sum of the top-k covariance eigenvalues,
//! and the Jacobi solver matches the 2×2 closed form.

use ndarray::{Array2, Axis};
use ratlab::backends::native::linalg::sym_eigen;
use ratlab::backends::pca::PcaFit;
use ratlab::backends::{Backend, Task};
use crate::{bundled, standardized};

fn data(name: &str) -> Array2<f64> {
    standardized(bundled(name, Task::Classification)).x
}

fn cov(x: &Array2<f64>) -> Array2<f64> {
    let xc = x - &x.mean_axis(Axis(0)).unwrap();
    xc.t().dot(&xc) / (x.nrows() as f64 - 1.0)
}

#[test]
fn backends_agree_on_explained_variance_and_components() {
    for name in ["iris", "wine", "breast_cancer"] {
        let x = data(name);
        let k = x.ncols().min(10);
        let native = PcaFit::fit(&x, k, Backend::Native).unwrap();
        for backend in [Backend::Linfa, Backend::Smartcore] {
            let other = PcaFit::fit(&x, k, backend).unwrap();
            for j in 0..k {
                let (a, b) = (native.variances[j] / native.total, other.variances[j] / other.total);
                assert!((a - b).abs() <= 1e-8 * a, "{name} {backend:?} component {j}: ratio {a} vs {b}");
                let dot = native.components.column(j).dot(&other.components.column(j)).abs();
                assert!((dot - 1.0).abs() < 1e-6, "{name} {backend:?} component {j}: |cos| = {dot}");
            }
        }
    }
}

#[test]
fn k_components_explain_the_top_k_covariance_eigenvalues() {
    for name in ["wine", "breast_cancer"] {
        let x = data(name);
        let (eig, _) = sym_eigen(&cov(&x));
        let total: f64 = eig.iter().sum();
        for backend in [Backend::Native, Backend::Linfa, Backend::Smartcore] {
            let fit = PcaFit::fit(&x, 8, backend).unwrap();
            assert!((fit.total - total).abs() < 1e-9 * total, "the total variance is the trace");
            for k in 1..=8 {
                let got: f64 = fit.variances[..k].iter().sum();
                let want: f64 = eig[..k].iter().sum();
                assert!((got - want).abs() <= 1e-8 * want, "{name} {backend:?} k={k}: {got} vs {want}");
            }
            // Reconstruction error with k components: the remaining eigenvalues × (n−1)/n.
            let err = fit.reconstruction_errors(&x);
            let n = x.nrows() as f64;
            for k in 1..=8 {
                let want = eig[k..].iter().sum::<f64>() * (n - 1.0) / n;
                assert!((err[k - 1] - want).abs() <= 1e-8 * want.max(1e-12), "{name} {backend:?} k={k}: {} vs {want}", err[k - 1]);
            }
        }
    }
}

#[test]
fn jacobi_matches_the_two_by_two_closed_form() {
    let (a, b, c) = (2.5, -0.7, 1.1);
    let (vals, _) = sym_eigen(&ndarray::array![[a, b], [b, c]]);
    let m = (a + c) / 2.0;
    let r = (((a - c) / 2.0f64).powi(2) + b * b).sqrt();
    assert!((vals[0] - (m + r)).abs() < 1e-14 && (vals[1] - (m - r)).abs() < 1e-14, "{vals:?}");
}

#[test]
fn a_variance_fraction_chooses_the_fewest_components_that_reach_it() {
    let x = data("wine");
    let fit = PcaFit::fit(&x, 13, Backend::Native).unwrap();
    let k = fit.choose(0.95);
    let cum = |k: usize| fit.variances[..k].iter().sum::<f64>() / fit.total;
    assert!(cum(k) >= 0.95 && cum(k - 1) < 0.95, "k = {k}");
    assert_eq!(fit.choose(3.0), 3);
}

#[test]
fn wide_data_is_refused_by_the_covariance_solvers_and_fitted_by_linfa() {
    // 40 rows, 1,001 features: past native's 500 and smartcore's 1,000, refused before the
    // p × p covariance is formed; linfa's truncated SVD fits it, and its variance figures
    // (computed from the rows, not from C) equal the covariance's Rayleigh quotients.
    let x = Array2::from_shape_fn((40, 1_001), |(i, j)| ((i * 7 + j * 13) % 17) as f64 + (i as f64 * j as f64).sin());
    for (backend, max) in [(Backend::Native, "500 at most"), (Backend::Smartcore, "1000 at most")] {
        let err = PcaFit::fit(&x, 3, backend).expect_err("refused").to_string();
        assert!(err.contains("1001 features") && err.contains(max) && err.contains("backend: linfa"), "{err}");
    }
    let fit = PcaFit::fit(&x, 3, Backend::Linfa).unwrap();
    let c = cov(&x);
    assert!((fit.total - c.diag().sum()).abs() < 1e-9 * fit.total);
    for (j, v) in fit.components.columns().into_iter().enumerate() {
        let rayleigh = v.dot(&c.dot(&v));
        assert!((fit.variances[j] - rayleigh).abs() < 1e-9 * rayleigh, "component {j}: {} vs {rayleigh}", fit.variances[j]);
    }
}

#[test]
fn a_count_above_fifty_is_honoured_and_a_fraction_out_of_reach_says_so() {
    use ratlab::backends::params::PcaParams;
    use ratlab::backends::pca::PcaTrainer;
    use ratlab::backends::Trainer;
    use ratlab::data::TrainSet;
    // 200 rows of 80 nearly independent features: 0.99 of the variance needs more than 50.
    let x = Array2::from_shape_fn((200, 80), |(i, j)| ((i * 31 + j * 17) % 97) as f64 / 97.0 + (i as f64 * (j + 1) as f64).sin());
    let train = TrainSet::new(x, ndarray::Array1::zeros(200), 0);
    let last = |t: &mut PcaTrainer| loop {
        let s = t.step().unwrap();
        if s.done {
            break s;
        }
    };
    let mut t = PcaTrainer::new(PcaParams { n_components: 60.0, whiten: false }, Backend::Native, &train, None).unwrap();
    let end = last(&mut t);
    assert_eq!(t.final_metrics().unwrap()["n_components"], 60.0, "{:?}", end.message);
    let mut t = PcaTrainer::new(PcaParams { n_components: 0.99, whiten: false }, Backend::Native, &train, None).unwrap();
    let message = last(&mut t).message.unwrap_or_default();
    let kept = t.final_metrics().unwrap()["explained_variance"];
    assert!(kept < 0.99 && message.contains("short of 99.00%") && message.contains("ask for a count"), "{kept}: {message}");
}
