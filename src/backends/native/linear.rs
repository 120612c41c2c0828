//! A fitted linear classifier: class probabilities σ(x·w + b) with one weight column, softmax
//! with several. Native logistic regression fits one; `model.json` keeps one.

use crate::backends::saved::Saveable;
use crate::backends::{Prediction, Predictor, TrainError};
use ndarray::{Array1, Array2, ArrayView2};
use serde::{Deserialize, Serialize};

/// A saved linear model: `weights[feature][class]` and one intercept per weight column.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LinearModel {
    pub weights: Vec<Vec<f64>>,
    pub intercept: Vec<f64>,
}

impl Saveable for LinearModel {
    const KIND: &'static str = "logistic";
    fn check(&self, inputs: usize) -> Result<usize, String> {
        let k = self.intercept.len();
        if k == 0 || self.weights.len() != inputs {
            return Err(format!("{} weight row(s) and {k} intercept(s) for rows of {inputs} feature(s)", self.weights.len()));
        }
        if let Some(r) = self.weights.iter().position(|w| w.len() != k) {
            return Err(format!("weight row {r} has {} value(s), not one per intercept ({k})", self.weights[r].len()));
        }
        crate::backends::saved::all_finite(&self.intercept, "intercept")?;
        for (r, w) in self.weights.iter().enumerate() {
            crate::backends::saved::all_finite(w, &format!("row {r}: weight"))?;
        }
        // One weight column is the binary model: σ gives two classes.
        Ok(if k == 1 { 2 } else { k })
    }
}

impl Predictor for LinearModel {
    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Prediction, TrainError> {
        let d = self.weights.len();
        let k = self.intercept.len();
        let w = Array2::from_shape_fn((d, k), |(i, j)| self.weights[i][j]);
        Ok(Prediction::Proba(probabilities(x, &w, &Array1::from(self.intercept.clone()))))
    }
}

/// Class probabilities of a linear model: σ for one weight column, softmax for several.
pub fn probabilities(x: ArrayView2<'_, f64>, w: &Array2<f64>, b: &Array1<f64>) -> Array2<f64> {
    let z = x.dot(w) + b;
    let n = z.nrows();
    if z.ncols() == 1 {
        Array2::from_shape_fn((n, 2), |(i, c)| {
            let p = sigmoid(z[[i, 0]]);
            if c == 1 {
                p
            } else {
                1.0 - p
            }
        })
    } else {
        let mut out = z;
        for mut row in out.rows_mut() {
            let mx = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            row.mapv_inplace(|v| (v - mx).exp());
            let s = row.sum();
            row /= s;
        }
        out
    }
}

/// σ(z) = 1 / (1 + e⁻ᶻ), without overflow for large |z|.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}
