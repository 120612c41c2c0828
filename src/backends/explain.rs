//! Explanations of tree models: per-row SHAP values (TreeSHAP, [`super::native::shap`]) of
//! gradient boosting, a decision tree and a random forest (or bagged trees), whatever form they
//! come in: a model just trained or one read back from `model.json`.
//!
//! What is explained is the model's own output before any link: boosting's margin (log-odds
//! for binary classification, one margin per class for softmax, the value for regression); a
//! tree's or forest's class probabilities (of the positive class for two classes) or value.
//! Each row's contributions plus its bias add up to that output.

use super::boosting::Gbdt;
use super::ensemble::Averaged;
use super::native::hist::{Tree, TreeModel};
use super::native::shap::{self, ShapBuffer};
use super::saved::SavedModel;
use ndarray::ArrayView2;
use rayon::prelude::*;

/// Per-row SHAP values: for each row and each explained output, one value per feature, then
/// the bias.
#[derive(Debug, Clone, PartialEq)]
pub struct Contributions {
    /// The class each output explains, by its index among the model's classes (the positive
    /// class, 1, alone for two classes; 0 for a regression value).
    pub classes: Vec<usize>,
    pub n_features: usize,
    /// Row-major: row, then output, then `n_features` values and the bias.
    pub values: Vec<f64>,
    /// What the values add up to, in words ("log-odds margin", "probability", ...).
    pub scale: &'static str,
}

impl Contributions {
    pub fn n_rows(&self) -> usize {
        self.values.len() / (self.classes.len() * (self.n_features + 1)).max(1)
    }

    /// Row `r`'s values for output `o`: one per feature, then the bias.
    pub fn row(&self, r: usize, o: usize) -> &[f64] {
        let w = self.n_features + 1;
        let at = (r * self.classes.len() + o) * w;
        &self.values[at..at + w]
    }

    /// The mean |SHAP value| of each feature over the rows and outputs: a global importance
    /// in the output's own units.
    pub fn mean_abs(&self) -> Vec<f64> {
        let mut m = vec![0.0; self.n_features];
        let n = (self.n_rows() * self.classes.len()).max(1) as f64;
        for chunk in self.values.chunks(self.n_features + 1) {
            for (a, v) in m.iter_mut().zip(chunk) {
                *a += v.abs() / n;
            }
        }
        m
    }
}

/// A tree of an ensemble, with its output, the weight it enters the sum with and the map from
/// its features to the model's.
struct Part<'a> {
    tree: &'a Tree,
    /// Which of the tree's leaf values (its class) and which explained output it adds to.
    value: usize,
    output: usize,
    weight: f64,
    features: Option<&'a [usize]>,
}

/// Why a model cannot be explained, said to the user.
const WHICH: &str = "SHAP values are computed for gradient boosting, decision trees and random forests or bagged trees (native)";

/// Whether an algorithm's native models have SHAP values (its saved form may still be another
/// model's: bagging of something else).
pub fn explains(algorithm: &str) -> bool {
    matches!(algorithm, "gradient_boosting" | "decision_tree" | "random_forest" | "bagging")
}

/// The SHAP values of `model` for the rows of `x` (the rows as the model reads them: encoded),
/// or why this model has none.
pub fn explain(model: &SavedModel, x: ArrayView2<'_, f64>) -> Result<Contributions, String> {
    let d = x.ncols();
    let (classes, base, parts, scale): (Vec<usize>, Vec<f64>, Vec<Part<'_>>, &'static str) = if let Some(g) = model.downcast_ref::<Gbdt>() {
        let k = g.outputs;
        let parts = g.trees.iter().enumerate().map(|(t, tree)| Part { tree, value: 0, output: t % k, weight: 1.0, features: None }).collect();
        let scale = match (g.n_classes, k) {
            (0, _) => "value",
            (_, 1) => "log-odds margin of the positive class",
            _ => "softmax margin of each class",
        };
        let classes = if k == 1 && g.n_classes == 2 { vec![1] } else { (0..k).collect() };
        (classes, g.base.clone(), parts, scale)
    } else if let Some(t) = model.downcast_ref::<TreeModel>() {
        let classes = explained_classes(t.n_classes);
        let parts = classes.iter().enumerate().map(|(o, &c)| Part { tree: &t.tree, value: c, output: o, weight: 1.0, features: None }).collect();
        (classes.clone(), vec![0.0; classes.len()], parts, if t.n_classes > 0 { "probability" } else { "value" })
    } else if let Some(a) = model.downcast_ref::<Averaged<SavedModel>>() {
        let classes = explained_classes(a.n_classes);
        let w = 1.0 / a.members.len().max(1) as f64;
        let mut parts = Vec::new();
        for (m, cols) in a.members.iter().zip(&a.features) {
            let t = m.downcast_ref::<TreeModel>().ok_or_else(|| format!("{WHICH}; this ensemble has members other than trees"))?;
            for (o, &c) in classes.iter().enumerate() {
                parts.push(Part { tree: &t.tree, value: c, output: o, weight: w, features: cols.as_deref() });
            }
        }
        (classes.clone(), vec![0.0; classes.len()], parts, if a.n_classes > 0 { "probability" } else { "value" })
    } else {
        return Err(WHICH.into());
    };
    let outputs = classes.len();
    // The bias: each output's base plus its trees' expected values.
    let mut bias = base;
    for p in &parts {
        bias[p.output] += p.weight * shap::expected_value(p.tree, p.value);
    }
    let depth = parts.iter().map(|p| p.tree.depth()).max().unwrap_or(0);
    let width = outputs * (d + 1);
    let mut values = vec![0.0; x.nrows() * width];
    values.par_chunks_mut(width.max(1)).enumerate().with_min_len(16).for_each_init(
        || (ShapBuffer::new(depth), vec![0.0; d], Vec::with_capacity(d)),
        |(buf, local, sub), (r, out)| {
            let row = x.row(r);
            let owned;
            let row: &[f64] = match row.as_slice() {
                Some(s) => s,
                None => {
                    owned = row.to_vec();
                    &owned
                }
            };
            for p in &parts {
                let o = &mut out[p.output * (d + 1)..(p.output + 1) * (d + 1)];
                match p.features {
                    None if p.weight == 1.0 => shap::add_tree_shap(p.tree, p.value, row, &mut o[..d], buf),
                    None => {
                        local.iter_mut().for_each(|v| *v = 0.0);
                        shap::add_tree_shap(p.tree, p.value, row, local, buf);
                        o.iter_mut().zip(local.iter()).for_each(|(a, v)| *a += p.weight * v);
                    }
                    Some(cols) => {
                        // A member that sees a subset of the features: its own row and values.
                        sub.clear();
                        sub.extend(cols.iter().map(|&c| row[c]));
                        let phi = &mut local[..cols.len()];
                        phi.iter_mut().for_each(|v| *v = 0.0);
                        shap::add_tree_shap(p.tree, p.value, sub, phi, buf);
                        for (&c, v) in cols.iter().zip(phi.iter()) {
                            o[c] += p.weight * v;
                        }
                    }
                }
            }
            for (o, b) in bias.iter().enumerate() {
                out[o * (d + 1) + d] = *b;
            }
        },
    );
    Ok(Contributions { classes, n_features: d, values, scale })
}

/// The classes a tree's probabilities are explained for: the positive one of two, every one of
/// more; the value (0) for regression.
fn explained_classes(n_classes: usize) -> Vec<usize> {
    match n_classes {
        0 => vec![0],
        2 => vec![1],
        k => (0..k).collect(),
    }
}
