//! Principal component analysis, one component count per step.
//!
//! The principal axes are the eigenvectors of the training covariance C = XcᵀXc/(n−1); the
//! variance a component explains is λₖ = vₖᵀCvₖ (its eigenvalue), its ratio λₖ / tr C, and the
//! mean squared reconstruction error of a row with k components is ‖xc‖² − Σ_{j≤k}(vⱼᵀxc)².
//! ratlab computes these figures itself from each backend's components, so the backends are
//! compared on the same definitions (linfa's own explained-variance figures do not follow
//! scikit-learn's; see DESIGN.md).
//!
//! Backends: native (cyclic Jacobi on C, accurate to rounding: the reference), linfa-reduction
//! (truncated SVD by LOBPCG) and smartcore (SVD or eigendecomposition of C). Native and
//! smartcore work on the whole p × p covariance, cubic in the features, so they take at most
//! [`MAX_FEATURES_NATIVE`] and [`MAX_FEATURES_SMARTCORE`] features; linfa's truncated SVD never
//! forms C and takes any width.

use super::native::linalg::sym_eigen;
use super::params::PcaParams;
use super::{Backend, Predictor, StepOut, TrainError, Trainer};
use crate::data::TrainSet;
use crate::metrics::Metrics;
use ndarray::{Array1, Array2, Axis};

/// A fitted PCA: mean, components (p × K, unit columns, sign fixed so each column's largest
/// entry is positive) and their variances.
#[derive(Debug, Clone)]
pub struct PcaFit {
    pub mean: Array1<f64>,
    pub components: Array2<f64>,
    pub variances: Vec<f64>,
    /// tr C: the total variance.
    pub total: f64,
}

/// The widest data native PCA takes: its Jacobi sweeps over the p × p covariance take about
/// 4 s at 500 features and grow as p³ (7 s at 600, minutes at a few thousand).
pub const MAX_FEATURES_NATIVE: usize = 500;

/// The widest data smartcore's PCA takes: its eigendecomposition of the p × p covariance takes
/// about 26 s at 1,000 features (2,000 rows) and grows as p³.
pub const MAX_FEATURES_SMARTCORE: usize = 1_000;

/// Why a PCA backend refuses data `features` wide, or `None`: the size guard checked when the
/// experiment is validated (and again at fit, for library callers).
pub fn width_limit(backend: Backend, features: usize) -> Option<String> {
    let (max, how) = match backend {
        Backend::Native => (MAX_FEATURES_NATIVE, "native PCA diagonalizes the full p × p covariance by Jacobi rotations"),
        Backend::Smartcore => (MAX_FEATURES_SMARTCORE, "smartcore's PCA eigendecomposes the full p × p covariance"),
        _ => return None,
    };
    (features > max).then(|| {
        format!("{features} features are more than {backend} PCA takes ({max} at most): {how}, which grows as p³; use backend: linfa, whose truncated SVD scales to wide data (or fewer features: a one-hot column adds one per category)")
    })
}

fn covariance(xc: &Array2<f64>) -> Array2<f64> {
    let n = xc.nrows().max(2) as f64;
    xc.t().dot(xc) / (n - 1.0)
}

fn fix_signs(v: &mut Array2<f64>) {
    for mut col in v.columns_mut() {
        let big = col.iter().copied().fold(0.0f64, |a, b| if b.abs() > a.abs() { b } else { a });
        if big < 0.0 {
            col.mapv_inplace(|x| -x);
        }
    }
}

impl PcaFit {
    /// Fit up to `k` components with a backend.
    pub fn fit(x: &Array2<f64>, k: usize, backend: Backend) -> Result<PcaFit, TrainError> {
        let (n, p) = x.dim();
        if n < 2 {
            return Err(TrainError::Data("PCA needs at least 2 rows".into()));
        }
        if let Some(why) = width_limit(backend, p) {
            return Err(TrainError::Data(why));
        }
        let k = k.clamp(1, p);
        let mean = x.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(p));
        let xc = x - &mean;
        // Every figure below comes from the centred rows, never from C, so only the backend
        // that needs C forms it: wide data stays affordable on linfa.
        let dof = (n - 1) as f64;
        let total = xc.iter().map(|v| v * v).sum::<f64>() / dof;
        let mut comps = match backend {
            Backend::Native => {
                let (_, vecs) = sym_eigen(&covariance(&xc));
                vecs.slice(ndarray::s![.., ..k]).to_owned()
            }
            Backend::Linfa => {
                use linfa::traits::Fit;
                let ds = linfa::DatasetBase::from(x.clone());
                // linfa's truncated SVD (LOBPCG) is inaccurate for a partial spectrum (wine,
                // 8 of 13 components: top variance 3.86 instead of 4.73) but exact for the full
                // one, so ask for every component when that is affordable and keep the top k.
                let kk = if p <= 200 { p.min(n - 1) } else { k };
                let fit = linfa_reduction::Pca::params(kk.max(k)).fit(&ds).map_err(|e| TrainError::Backend { backend: "linfa", message: e.to_string() })?;
                fit.components().t().to_owned()
            }
            _ => {
                use smartcore::decomposition::pca::{PCAParameters, PCA};
                use smartcore::linalg::basic::arrays::Array;
                let dm = super::smartcore::to_dense(x)?;
                let fit: PCA<f64, smartcore::linalg::basic::matrix::DenseMatrix<f64>> = PCA::fit(&dm, PCAParameters::default().with_n_components(k))
                    .map_err(|e| TrainError::Backend { backend: "smartcore", message: e.to_string() })?;
                let c = fit.components();
                Array2::from_shape_fn((p, k), |(i, j)| *c.get((i, j)))
            }
        };
        // Unit length (whitened or scaled components would distort the variances).
        for mut col in comps.columns_mut() {
            let norm = col.dot(&col).sqrt();
            if norm > 0.0 {
                col /= norm;
            }
        }
        fix_signs(&mut comps);
        // vᵀCv = ‖Xc v‖² / (n − 1).
        let variances: Vec<f64> = xc.dot(&comps).columns().into_iter().map(|c| c.dot(&c) / dof).collect();
        // Largest variance first, whatever order the backend returned (linfa's LOBPCG does not
        // sort its output).
        let mut order: Vec<usize> = (0..variances.len()).collect();
        order.sort_by(|&a, &b| variances[b].total_cmp(&variances[a]));
        order.truncate(k);
        let components = Array2::from_shape_fn((p, order.len()), |(i, j)| comps[[i, order[j]]]);
        let variances = order.iter().map(|&j| variances[j]).collect();
        Ok(PcaFit { mean, components, variances, total })
    }

    /// Project rows onto the first `k` components (whitened: divided by √λ).
    pub fn transform(&self, x: &Array2<f64>, k: usize, whiten: bool) -> Array2<f64> {
        let mut z = (x - &self.mean).dot(&self.components.slice(ndarray::s![.., ..k]));
        if whiten {
            for (j, mut col) in z.columns_mut().into_iter().enumerate() {
                let s = self.variances[j].sqrt();
                if s > 0.0 {
                    col /= s;
                }
            }
        }
        z
    }

    /// Mean squared reconstruction error of `x` with 1, 2, …, K components.
    pub fn reconstruction_errors(&self, x: &Array2<f64>) -> Vec<f64> {
        let xc = x - &self.mean;
        let n = xc.nrows().max(1) as f64;
        let total: f64 = xc.iter().map(|v| v * v).sum();
        let z = xc.dot(&self.components);
        let mut out = Vec::with_capacity(z.ncols());
        let mut kept = 0.0;
        for col in z.columns() {
            kept += col.dot(&col);
            out.push(((total - kept) / n).max(0.0));
        }
        out
    }

    /// Components needed: a count, or the smallest count whose cumulative ratio reaches a fraction.
    pub fn choose(&self, n_components: f64) -> usize {
        if n_components >= 1.0 {
            return (n_components as usize).clamp(1, self.variances.len());
        }
        let mut cum = 0.0;
        for (i, v) in self.variances.iter().enumerate() {
            cum += v / self.total;
            if cum >= n_components - 1e-12 {
                return i + 1;
            }
        }
        self.variances.len()
    }
}

/// PCA as a trainer: step k reports the k-th component.
pub struct PcaTrainer {
    params: PcaParams,
    fit: PcaFit,
    train_err: Vec<f64>,
    test_err: Vec<f64>,
    chosen: usize,
    next: usize,
    projection: serde_json::Value,
}

impl PcaTrainer {
    pub fn new(params: PcaParams, backend: Backend, train: &TrainSet, test: Option<&TrainSet>) -> Result<PcaTrainer, TrainError> {
        let p = train.x.ncols();
        // Every component up to 50, so the scree plot and the error curve are complete, or as
        // many as a count asks for.
        let asked = if params.n_components >= 1.0 { params.n_components as usize } else { 0 };
        let k = p.min(asked.max(50)).min(train.len().saturating_sub(1)).max(1);
        let fit = PcaFit::fit(&train.x, k, backend)?;
        let train_err = fit.reconstruction_errors(&train.x);
        let test_err = test.filter(|t| !t.is_empty()).map(|t| fit.reconstruction_errors(&t.x)).unwrap_or_default();
        let chosen = fit.choose(params.n_components);
        // The data on the first two components, coloured by class, for the scatter plot.
        let z = fit.transform(&train.x, k.min(2), false);
        let take = z.nrows().min(1500);
        let col = |j: usize| -> Vec<f64> { (0..take).map(|i| if j < z.ncols() { z[[i, j]] } else { 0.0 }).collect() };
        let projection = serde_json::json!({"x": col(0), "y": col(1), "class": train.y.iter().take(take).collect::<Vec<_>>()});
        Ok(PcaTrainer { params, fit, train_err, test_err, chosen, next: 0, projection })
    }

    pub fn fit(&self) -> &PcaFit {
        &self.fit
    }
}

impl Trainer for PcaTrainer {
    fn step(&mut self) -> Result<StepOut, TrainError> {
        let k = self.next;
        if k >= self.fit.variances.len() {
            return Ok(StepOut { done: true, ..StepOut::default() });
        }
        self.next += 1;
        let ratio = self.fit.variances[k] / self.fit.total;
        let cum: f64 = self.fit.variances[..=k].iter().sum::<f64>() / self.fit.total;
        let mut m = Metrics::new();
        m.insert("explained_variance_ratio".into(), ratio);
        m.insert("cumulative_variance".into(), cum);
        m.insert("train.reconstruction_error".into(), self.train_err[k]);
        if let Some(e) = self.test_err.get(k) {
            m.insert("test.reconstruction_error".into(), *e);
        }
        let done = self.next >= self.fit.variances.len();
        let message = done.then(|| {
            let c = self.chosen;
            let cum: f64 = self.fit.variances[..c].iter().sum::<f64>() / self.fit.total;
            let short = if self.params.n_components < 1.0 && cum < self.params.n_components - 1e-12 {
                format!("; short of {:.2}%: the first {c} components are all ratlab fits for a fraction (ask for a count for more)", self.params.n_components * 100.0)
            } else {
                String::new()
            };
            format!("n_components = {} → {c} component(s), explaining {:.2}% of the variance{}{short}", self.params.n_components, cum * 100.0, if self.params.whiten { " (whitened)" } else { "" })
        });
        Ok(StepOut { metrics: m, x: Some((k + 1) as f64), done, message })
    }

    fn predictor(&self) -> Option<&dyn Predictor> {
        None
    }

    fn total_steps(&self) -> Option<u64> {
        Some(self.fit.variances.len() as u64)
    }

    /// Final figures at the chosen number of components.
    fn final_metrics(&self) -> Option<Metrics> {
        let c = self.chosen;
        let mut m = Metrics::new();
        m.insert("n_components".into(), c as f64);
        m.insert("explained_variance".into(), self.fit.variances[..c].iter().sum::<f64>() / self.fit.total);
        m.insert("reconstruction_error".into(), *self.test_err.get(c - 1).or(self.train_err.get(c - 1)).unwrap_or(&f64::NAN));
        Some(m)
    }

    fn artifacts(&self) -> Option<serde_json::Value> {
        let scree: Vec<f64> = self.fit.variances.iter().map(|v| v / self.fit.total).collect();
        Some(serde_json::json!({"kind": "pca", "scree": scree, "chosen": self.chosen, "projection": self.projection}))
    }
}
