//! Saved models: what `model.json` holds for each model ratlab can save, and how a loaded one
//! predicts. A saved model predicts with the very code the trained one used (the same tree
//! walk, the same sums in the same order), so its predictions are bit-identical.

use super::boosting::Gbdt;
use super::native::hist::Tree;
use super::{Prediction, Predictor};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

/// A fitted model in a form that can be written and read back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SavedModel {
    /// Native gradient boosting.
    Boosting(Gbdt),
    /// A native CART tree: leaves hold class probabilities (classification) or a value.
    Tree { n_classes: usize, tree: Tree },
    /// Bagging and random forests: the mean of the members' probabilities (or values); each
    /// member sees the features listed for it (all when `None`).
    Average { n_classes: usize, members: Vec<SavedModel>, features: Vec<Option<Vec<usize>>> },
    /// AdaBoost (SAMME): the class with the largest α-weighted vote; probabilities are the
    /// softmax of the normalized votes divided by K − 1, as scikit-learn's.
    AdaBoost { n_classes: usize, members: Vec<SavedModel>, alphas: Vec<f64> },
    /// Stacking: the final model on the members' probabilities (all classes' columns, member
    /// after member), then the original features when `passthrough`.
    Stacking { n_classes: usize, members: Vec<SavedModel>, final_model: Box<SavedModel>, passthrough: bool },
    /// Multinomial (or binary) logistic regression: softmax(x·W + b).
    Logistic { weights: Vec<Vec<f64>>, intercept: Vec<f64> },
}

/// Each row's leaf values of a tree, as a prediction.
pub fn tree_predict(tree: &Tree, n_classes: usize, x: ArrayView2<'_, f64>) -> Prediction {
    let leaf = |i: usize| -> Vec<f64> {
        let row = x.row(i);
        match row.as_slice() {
            Some(s) => tree.leaf_of(s).to_vec(),
            None => tree.leaf_of(&row.to_vec()).to_vec(),
        }
    };
    if n_classes > 0 {
        let mut p = Array2::zeros((x.nrows(), n_classes));
        for i in 0..x.nrows() {
            for (c, v) in leaf(i).into_iter().enumerate() {
                p[[i, c]] = v;
            }
        }
        Prediction::Proba(p)
    } else {
        Prediction::Values((0..x.nrows()).map(|i| leaf(i)[0]).collect())
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

impl Predictor for SavedModel {
    fn predict(&self, x: ArrayView2<'_, f64>) -> Prediction {
        match self {
            SavedModel::Boosting(g) => g.predict(x),
            SavedModel::Tree { n_classes, tree } => tree_predict(tree, *n_classes, x),
            SavedModel::Average { n_classes, members, features } => {
                let mut acc = None;
                for (m, f) in members.iter().zip(features) {
                    let p = match f {
                        Some(cols) => m.predict(x.select(Axis(1), cols).view()),
                        None => m.predict(x),
                    };
                    accumulate(&mut acc, p);
                }
                mean(acc.as_ref(), members.len(), x.nrows(), *n_classes)
            }
            SavedModel::AdaBoost { n_classes, members, alphas } => {
                let mut v = Array2::zeros((x.nrows(), *n_classes));
                for (m, a) in members.iter().zip(alphas) {
                    for (i, c) in votes(&m.predict(x)).into_iter().enumerate() {
                        if c < *n_classes {
                            v[[i, c]] += a;
                        }
                    }
                }
                Prediction::Proba(samme_proba(&v, alphas.iter().sum(), *n_classes))
            }
            SavedModel::Stacking { members, final_model, passthrough, .. } => {
                let preds: Vec<Prediction> = members.iter().map(|m| m.predict(x)).collect();
                let z = stack_features(&preds, passthrough.then_some(x));
                final_model.predict(z.view())
            }
            SavedModel::Logistic { weights, intercept } => {
                let d = weights.len();
                let k = intercept.len();
                let w = Array2::from_shape_fn((d, k), |(i, j)| weights[i][j]);
                Prediction::Proba(super::native::logistic::probabilities(x, &w, &Array1::from(intercept.clone())))
            }
        }
    }
}
