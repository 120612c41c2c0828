//! A fitted boosted ensemble: the loss it was trained for, the base margins and every round's
//! trees; margins of new rows and the prediction they give.

use crate::backends::native::hist::Tree;
use crate::backends::saved::Saveable;
use crate::backends::{Prediction, Predictor, TrainError};
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The loss being boosted, resolved from `objective` and the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    BinaryLogistic,
    Softmax,
    SquaredError,
    PseudoHuber,
}

impl Loss {
    /// The objective's evaluation metric for early stopping (xgboost's default for it).
    pub(super) fn metric_name(self) -> &'static str {
        match self {
            Loss::BinaryLogistic | Loss::Softmax => "log_loss",
            Loss::SquaredError => "rmse",
            Loss::PseudoHuber => "pseudo_huber",
        }
    }
}

/// A fitted boosted ensemble: margins start at `base` and each round adds one tree per output.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Gbdt {
    pub loss: Loss,
    /// Outputs per row: 1, or the class count for softmax.
    pub outputs: usize,
    /// Classes of the task (0 for regression).
    pub n_classes: usize,
    pub base: Vec<f64>,
    /// Round-major: tree `t · outputs + k` is round t's tree for output k. Leaf values include η.
    pub trees: Vec<Tree>,
}

pub(super) fn sigmoid(m: f64) -> f64 {
    1.0 / (1.0 + (-m).exp())
}

impl Gbdt {
    /// Margins of raw rows: `base` plus every tree's leaf value, added in round order.
    pub fn margins(&self, x: ArrayView2<'_, f64>) -> Vec<f64> {
        let k = self.outputs;
        let mut out = vec![0.0; x.nrows() * k];
        out.par_chunks_mut(k).enumerate().with_min_len(256).for_each(|(i, m)| {
            let row = x.row(i);
            let owned;
            let r: &[f64] = match row.as_slice() {
                Some(s) => s,
                None => {
                    owned = row.to_vec();
                    &owned
                }
            };
            m.copy_from_slice(&self.base);
            for (t, tree) in self.trees.iter().enumerate() {
                m[t % k] += tree.leaf_of(r)[0];
            }
        });
        out
    }

    /// Turn margins (rows × outputs) into a prediction.
    pub fn transform(&self, margins: &[f64], rows: impl ExactSizeIterator<Item = usize>) -> Prediction {
        let k = self.outputs;
        let n = rows.len();
        match self.loss {
            Loss::BinaryLogistic => {
                let rows: Vec<usize> = rows.collect();
                let mut p = Array2::zeros((n, 2));
                p.as_slice_mut().unwrap_or_default().par_chunks_mut(2).zip(rows.par_iter()).with_min_len(4096).for_each(|(pr, &r)| {
                    let q = sigmoid(margins[r]);
                    pr[0] = 1.0 - q;
                    pr[1] = q;
                });
                Prediction::Proba(p)
            }
            Loss::Softmax => {
                let mut p = Array2::zeros((n, k));
                for (i, r) in rows.enumerate() {
                    let m = &margins[r * k..(r + 1) * k];
                    let mx = m.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let z: f64 = m.iter().map(|v| (v - mx).exp()).sum();
                    for c in 0..k {
                        p[[i, c]] = (m[c] - mx).exp() / z;
                    }
                }
                Prediction::Proba(p)
            }
            Loss::SquaredError | Loss::PseudoHuber => Prediction::Values(rows.map(|r| margins[r]).collect()),
        }
    }

    /// Gain (average per split), cover (average per split) and weight (number of splits) per
    /// feature, xgboost's three importance types.
    pub fn importances(&self, n_features: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (mut g, mut c, mut w) = (vec![0.0; n_features], vec![0.0; n_features], vec![0.0; n_features]);
        for t in &self.trees {
            t.add_importances(&mut g, &mut c, &mut w);
        }
        for j in 0..n_features {
            if w[j] > 0.0 {
                g[j] /= w[j];
                c[j] /= w[j];
            }
        }
        (g, c, w)
    }
}

impl Predictor for Gbdt {
    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Prediction, TrainError> {
        let m = self.margins(x);
        Ok(self.transform(&m, 0..x.nrows()))
    }
}

impl Saveable for Gbdt {
    const KIND: &'static str = "boosting";
    fn check(&self, inputs: usize) -> Result<usize, String> {
        let (outputs, width) = match self.loss {
            Loss::BinaryLogistic if self.n_classes == 2 => (1, 2),
            Loss::Softmax if self.n_classes >= 2 => (self.n_classes, self.n_classes),
            Loss::SquaredError | Loss::PseudoHuber if self.n_classes == 0 => (1, 1),
            _ => return Err(format!("{:?} does not go with {} class(es)", self.loss, self.n_classes)),
        };
        if self.outputs != outputs || self.base.len() != outputs {
            return Err(format!("{:?} over {} class(es) has {outputs} output(s), not {} with {} base margin(s)", self.loss, self.n_classes, self.outputs, self.base.len()));
        }
        crate::backends::saved::all_finite(&self.base, "base margin")?;
        if !self.trees.len().is_multiple_of(outputs) {
            return Err(format!("{} trees do not make whole rounds of {outputs}", self.trees.len()));
        }
        for (t, tree) in self.trees.iter().enumerate() {
            tree.check(inputs, 1).map_err(|e| format!("tree {t}: {e}"))?;
        }
        Ok(width)
    }
}
