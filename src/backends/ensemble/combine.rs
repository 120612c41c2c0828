//! How an ensemble's members combine: averaged (bagging, forests), α-weighted votes (AdaBoost,
//! SAMME), or a final model on their probabilities (stacking). The fitted ensembles here are
//! generic over their members, so the trainers and `model.json` (whose members are saved
//! models) share one prediction code: a saved ensemble predicts bit-identically.

use crate::backends::saved::{Saveable, SavedModel};
use crate::backends::{Prediction, Predictor, TrainError};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

/// Bagging and random forests: the mean of the members' probabilities (or values); each
/// member sees the features listed for it (all when `None`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Averaged<M> {
    pub n_classes: usize,
    pub members: Vec<M>,
    pub features: Vec<Option<Vec<usize>>>,
}

/// AdaBoost (SAMME): the class with the largest α-weighted vote; probabilities are the
/// softmax of the normalized votes divided by K − 1, as scikit-learn's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Samme<M> {
    pub n_classes: usize,
    pub members: Vec<M>,
    pub alphas: Vec<f64>,
}

/// Stacking: the final model on the members' probabilities (all classes' columns, member
/// after member), then the original features when `passthrough`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stacked<M> {
    pub n_classes: usize,
    pub members: Vec<M>,
    pub final_model: Box<M>,
    pub passthrough: bool,
}

/// Check each member for rows of `inputs` features; the widths they give.
fn check_members(members: &[SavedModel], inputs: impl Fn(usize) -> Result<usize, String>) -> Result<Vec<usize>, String> {
    if members.is_empty() {
        return Err("it has no members".into());
    }
    members.iter().enumerate().map(|(i, m)| m.check(inputs(i)?).map_err(|e| format!("member {i}: {e}"))).collect()
}

/// Every member gives `width` outputs a row.
fn same_width(widths: &[usize], width: usize) -> Result<(), String> {
    match widths.iter().position(|&w| w != width) {
        Some(i) => Err(format!("member {i} gives {} output(s) a row, not {width}", widths[i])),
        None => Ok(()),
    }
}

impl Saveable for Averaged<SavedModel> {
    const KIND: &'static str = "average";
    fn check(&self, inputs: usize) -> Result<usize, String> {
        if self.features.len() != self.members.len() {
            return Err(format!("{} member(s) but {} feature list(s)", self.members.len(), self.features.len()));
        }
        let widths = check_members(&self.members, |i| match &self.features[i] {
            None => Ok(inputs),
            Some(cols) => match cols.iter().find(|&&c| c >= inputs) {
                Some(c) => Err(format!("member {i} reads feature {c}, but the rows have {inputs} feature(s)")),
                None => Ok(cols.len()),
            },
        })?;
        let width = self.n_classes.max(1);
        same_width(&widths, width)?;
        Ok(width)
    }
}

impl Saveable for Samme<SavedModel> {
    const KIND: &'static str = "ada_boost";
    fn check(&self, inputs: usize) -> Result<usize, String> {
        if self.n_classes < 2 || self.alphas.len() != self.members.len() {
            return Err(format!("{} class(es), {} member(s) and {} weight(s)", self.n_classes, self.members.len(), self.alphas.len()));
        }
        crate::backends::saved::all_finite(&self.alphas, "member weight")?;
        same_width(&check_members(&self.members, |_| Ok(inputs))?, self.n_classes)?;
        Ok(self.n_classes)
    }
}

impl Saveable for Stacked<SavedModel> {
    const KIND: &'static str = "stacking";
    fn check(&self, inputs: usize) -> Result<usize, String> {
        let widths = check_members(&self.members, |_| Ok(inputs))?;
        // The final model reads the members' outputs side by side, then the rows themselves.
        let stacked = widths.iter().sum::<usize>() + if self.passthrough { inputs } else { 0 };
        let width = self.final_model.check(stacked).map_err(|e| format!("final model: {e}"))?;
        if width != self.n_classes {
            return Err(format!("the final model gives {width} output(s) a row, not the {} classes", self.n_classes));
        }
        Ok(width)
    }
}

impl<M: Predictor> Predictor for Averaged<M> {
    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Prediction, TrainError> {
        let mut acc = None;
        for (m, f) in self.members.iter().zip(&self.features) {
            let p = match f {
                Some(cols) => m.predict(x.select(Axis(1), cols).view())?,
                None => m.predict(x)?,
            };
            accumulate(&mut acc, p);
        }
        Ok(mean(acc.as_ref(), self.members.len(), x.nrows(), self.n_classes))
    }
}

impl<M: Predictor> Predictor for Samme<M> {
    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Prediction, TrainError> {
        let mut v = Array2::zeros((x.nrows(), self.n_classes));
        for (m, a) in self.members.iter().zip(&self.alphas) {
            for (i, c) in votes(&m.predict(x)?).into_iter().enumerate() {
                if c < self.n_classes {
                    v[[i, c]] += a;
                }
            }
        }
        Ok(Prediction::Proba(samme_proba(&v, self.alphas.iter().sum(), self.n_classes)))
    }
}

impl<M: Predictor> Predictor for Stacked<M> {
    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Prediction, TrainError> {
        let preds: Vec<Prediction> = self.members.iter().map(|m| m.predict(x)).collect::<Result<_, _>>()?;
        let z = stack_features(&preds, self.passthrough.then_some(x));
        self.final_model.predict(z.view())
    }
}

/// Hard class votes of a prediction (argmax per row).
pub fn votes(p: &Prediction) -> Vec<usize> {
    match p {
        Prediction::Proba(p) => p.rows().into_iter().map(|r| crate::metrics::argmax(&r)).collect(),
        Prediction::Values(v) => v.iter().map(|x| x.max(0.0) as usize).collect(),
    }
}

/// SAMME's probabilities from α-weighted votes: softmax(votes / (Σα · (K − 1))).
pub fn samme_proba(votes: &Array2<f64>, alpha_sum: f64, k: usize) -> Array2<f64> {
    let mut p = votes.clone();
    let scale = alpha_sum.max(1e-300) * (k.max(2) - 1) as f64;
    for mut row in p.rows_mut() {
        let mx = row.iter().copied().fold(f64::NEG_INFINITY, f64::max) / scale;
        let mut z = 0.0;
        for v in row.iter_mut() {
            *v = (*v / scale - mx).exp();
            z += *v;
        }
        row.mapv_inplace(|v| v / z);
    }
    p
}

/// Add member prediction `p` into the running sum `acc` (probabilities or values).
pub fn accumulate(acc: &mut Option<Prediction>, p: Prediction) {
    match (acc.as_mut(), p) {
        (None, p) => *acc = Some(p),
        (Some(Prediction::Proba(a)), Prediction::Proba(b)) => *a += &b,
        (Some(Prediction::Values(a)), Prediction::Values(b)) => *a += &b,
        (Some(_), _) => {}
    }
}

/// Divide a summed prediction by the member count (the sum stays as it is, for the next member).
pub fn mean(acc: Option<&Prediction>, n: usize, rows: usize, n_classes: usize) -> Prediction {
    let d = n.max(1) as f64;
    match acc {
        Some(Prediction::Proba(a)) => Prediction::Proba(a / d),
        Some(Prediction::Values(v)) => Prediction::Values(v / d),
        None if n_classes > 0 => Prediction::Proba(Array2::from_elem((rows, n_classes), 1.0 / n_classes as f64)),
        None => Prediction::Values(Array1::zeros(rows)),
    }
}

/// The meta-features of stacking: the members' probability columns, then (passthrough) `x`.
pub fn stack_features(preds: &[Prediction], x: Option<ArrayView2<'_, f64>>) -> Array2<f64> {
    let mut blocks: Vec<Array2<f64>> = preds
        .iter()
        .map(|p| match p {
            Prediction::Proba(a) => a.clone(),
            Prediction::Values(v) => v.clone().insert_axis(Axis(1)),
        })
        .collect();
    if let Some(x) = x {
        blocks.push(x.to_owned());
    }
    let views: Vec<_> = blocks.iter().map(|b| b.view()).collect();
    ndarray::concatenate(Axis(1), &views).unwrap_or_default()
}
