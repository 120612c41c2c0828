//! linfa backend: logistic regression through linfa-logistic (L-BFGS via argmin), as a
//! one-shot fit reported as a single step.
//!
//! linfa-logistic minimizes exactly ratlab's objective for the Gaussian prior —
//! Σ log-loss + α/2‖w‖² with the intercept unpenalized, one weight vector per class in the
//! multinomial case — so `alpha = λ`. It has no L1 penalty, so `prior: laplace` is rejected
//! at validation. Its gradient tolerance is absolute, so ratlab passes `tol · n`.

use crate::backends::native::linear::probabilities;
use crate::backends::params::LogisticParams;
use crate::backends::{Prediction, Predictor, StepOut, TrainError, Trainer};
use crate::data::TrainSet;
use linfa::traits::Fit;
use linfa_logistic::{LogisticRegression, MultiLogisticRegression};
use ndarray::{Array1, Array2, ArrayView2};

/// A linfa-logistic fit: weights in ratlab's class order (p × m) and intercepts (m).
pub struct LinfaLogistic {
    params: LogisticParams,
    data: Option<TrainSet>,
    n_classes: usize,
    w: Array2<f64>,
    b: Array1<f64>,
    /// Classes present in training, in column order of `w` (multinomial only).
    present: Vec<usize>,
}

impl LinfaLogistic {
    pub fn new(params: LogisticParams, data: &TrainSet) -> Result<Self, TrainError> {
        if data.n_classes < 2 {
            return Err(TrainError::Data("logistic regression needs at least 2 classes".into()));
        }
        Ok(LinfaLogistic { params, data: Some(data.clone()), n_classes: data.n_classes, w: Array2::zeros((0, 0)), b: Array1::zeros(0), present: vec![] })
    }

    fn fit(&mut self, data: TrainSet) -> Result<(), TrainError> {
        let n = data.len() as f64;
        let labels = Array1::from(data.labels());
        let ds = linfa::Dataset::new(data.x, labels.clone());
        let lambda = self.params.lambda();
        let tol = self.params.tol * n;
        if self.n_classes == 2 {
            let model = LogisticRegression::default()
                .alpha(lambda)
                .with_intercept(self.params.fit_intercept)
                .max_iterations(self.params.max_iter)
                .gradient_tolerance(tol)
                .fit(&ds)
                .map_err(|e| TrainError::backend("linfa", e))?;
            // linfa's z is the log-odds of its "positive" class (the larger one); ratlab's of class 1.
            let sign = if model.labels().pos.class == 1 { 1.0 } else { -1.0 };
            self.w = model.params().mapv(|v| sign * v).insert_axis(ndarray::Axis(1));
            self.b = Array1::from(vec![sign * model.intercept()]);
        } else {
            let model = MultiLogisticRegression::default()
                .alpha(lambda)
                .with_intercept(self.params.fit_intercept)
                .max_iterations(self.params.max_iter)
                .gradient_tolerance(tol)
                .fit(&ds)
                .map_err(|e| TrainError::backend("linfa", e))?;
            let mut present: Vec<usize> = labels.to_vec();
            present.sort_unstable();
            present.dedup();
            self.w = model.params().to_owned();
            self.b = model.intercept().to_owned();
            self.present = present;
        }
        Ok(())
    }

    /// Fitted weights (p × m) and intercepts (m), for comparisons with other backends.
    pub fn coefficients(&self) -> (Array2<f64>, Array1<f64>) {
        (self.w.clone(), self.b.clone())
    }
}

impl Trainer for LinfaLogistic {
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

impl Predictor for LinfaLogistic {
    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Prediction, TrainError> {
        let p = probabilities(x, &self.w, &self.b);
        if self.n_classes == 2 || self.present.len() == self.n_classes {
            return Ok(Prediction::Proba(p));
        }
        // Classes absent from training get probability 0.
        let mut full = Array2::zeros((p.nrows(), self.n_classes));
        for (col, &c) in self.present.iter().enumerate() {
            full.column_mut(c).assign(&p.column(col));
        }
        Ok(Prediction::Proba(full))
    }
}
