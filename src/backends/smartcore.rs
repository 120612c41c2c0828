//! smartcore backend: logistic regression through smartcore's L-BFGS, as a one-shot fit
//! reported as a single step.
//!
//! smartcore minimizes Σ log-loss + α/2‖w‖² with the intercept unpenalized (binary and
//! multinomial with one weight vector per class), so `alpha = λ`. It has no L1 penalty, always
//! fits an intercept, and sets its own iteration limit and tolerance (ratlab's `max_iter` and
//! `tol` do not reach it); it also predicts labels only, so ratlab computes probabilities
//! from its coefficients.

use crate::backends::native::linear::probabilities;
use crate::backends::params::LogisticParams;
use crate::backends::{Prediction, Predictor, StepOut, TrainError, Trainer};
use crate::data::TrainSet;
use ndarray::{Array1, Array2, ArrayView2};
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};

/// A smartcore logistic-regression fit, converted to ratlab's weight layout.
pub struct SmartcoreLogistic {
    params: LogisticParams,
    data: Option<TrainSet>,
    n_classes: usize,
    w: Array2<f64>,
    b: Array1<f64>,
    present: Vec<usize>,
}

/// ndarray → smartcore's DenseMatrix (row-major, no element-wise reshuffle).
pub fn to_dense(x: &Array2<f64>) -> Result<DenseMatrix<f64>, TrainError> {
    let (n, p) = x.dim();
    let values: Vec<f64> = x.iter().copied().collect(); // logical (row-major) order
    DenseMatrix::new(n, p, values, false).map_err(|e| TrainError::backend("smartcore", e))
}

impl SmartcoreLogistic {
    pub fn new(params: LogisticParams, data: &TrainSet) -> Result<Self, TrainError> {
        if data.n_classes < 2 {
            return Err(TrainError::Data("logistic regression needs at least 2 classes".into()));
        }
        Ok(SmartcoreLogistic { params, data: Some(data.clone()), n_classes: data.n_classes, w: Array2::zeros((0, 0)), b: Array1::zeros(0), present: vec![] })
    }

    fn fit(&mut self, data: TrainSet) -> Result<(), TrainError> {
        let x = to_dense(&data.x)?;
        let y: Vec<i64> = data.labels().into_iter().map(|v| v as i64).collect();
        let mut present: Vec<usize> = data.labels();
        present.sort_unstable();
        present.dedup();
        let params = LogisticRegressionParameters::default().with_alpha(self.params.lambda());
        let model: LogisticRegression<f64, i64, DenseMatrix<f64>, Vec<i64>> =
            LogisticRegression::fit(&x, &y, params).map_err(|e| TrainError::backend("smartcore", e))?;
        let coef = model.coefficients();
        let icpt = model.intercept();
        let (rows, p) = coef.shape();
        // smartcore: one row per class (one row for binary: the log-odds of its second class).
        self.w = Array2::from_shape_fn((p, rows), |(j, c)| *coef.get((c, j)));
        self.b = Array1::from_shape_fn(rows, |c| *icpt.get((c, 0)));
        self.present = present;
        Ok(())
    }
}

impl Trainer for SmartcoreLogistic {
    fn step(&mut self) -> Result<StepOut, TrainError> {
        if let Some(data) = self.data.take() {
            self.fit(data)?;
        }
        Ok(StepOut { done: true, ..StepOut::default() })
    }
    fn predictor(&self) -> Option<&dyn Predictor> {
        Some(self)
    }
    fn total_steps(&self) -> Option<u64> {
        Some(1)
    }
}

impl Predictor for SmartcoreLogistic {
    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Prediction, TrainError> {
        let p = probabilities(x, &self.w, &self.b);
        if self.present.len() == self.n_classes {
            return Ok(Prediction::Proba(p));
        }
        // Classes absent from training get probability 0 (a binary fit inside a multiclass
        // problem gives the probabilities of the two classes it saw).
        let mut full = Array2::zeros((p.nrows(), self.n_classes));
        for (col, &c) in self.present.iter().enumerate() {
            full.column_mut(c).assign(&p.column(col));
        }
        Ok(Prediction::Proba(full))
    }
}
