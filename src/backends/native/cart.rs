//! The native CART tree: classification (Gini or entropy) and regression (variance reduction)
//! on histogram bins, with sample weights and seeded per-split feature sampling. It is fast,
//! deterministic whatever the thread count, and takes weights, which is what random forests,
//! bagging and AdaBoost need from a base tree (linfa-trees is none of these).
//!
//! Node statistics per row: the weight on the row's class (one column per class) or the
//! weighted moments (w, w·y, w·y²) for regression, plus the unweighted row count (for
//! `min_samples_leaf` / `min_samples_split`). Scores are minus the weighted impurity, so a
//! split's gain is its weighted impurity decrease.

use super::hist::{self, Binned, Criterion, Cuts, Features, Shape, Tree, TreeModel, Workspace};
use crate::backends::params::CartParams;
use crate::backends::saved::SavedModel;
use crate::backends::{Prediction, Predictor, StepOut, TrainError, Trainer};
use crate::data::TrainSet;
use ndarray::ArrayView2;

/// CART split criteria.
pub struct Impurity {
    /// Classes (0 for regression).
    pub k: usize,
    pub entropy: bool,
    pub min_samples_leaf: f64,
    pub min_samples_split: f64,
}

impl Criterion for Impurity {
    fn width(&self) -> usize {
        if self.k > 0 {
            self.k + 1
        } else {
            4
        }
    }
    fn score(&self, s: &[f64]) -> f64 {
        if self.k > 0 {
            let w: f64 = s[..self.k].iter().sum();
            if w <= 0.0 {
                return 0.0;
            }
            if self.entropy {
                s[..self.k].iter().filter(|v| **v > 0.0).map(|v| v * (v / w).ln()).sum()
            } else {
                s[..self.k].iter().map(|v| v * v).sum::<f64>() / w - w
            }
        } else if s[0] > 0.0 {
            s[1] * s[1] / s[0] - s[2]
        } else {
            0.0
        }
    }
    fn cover(&self, s: &[f64]) -> f64 {
        if self.k > 0 {
            s[..self.k].iter().sum()
        } else {
            s[0]
        }
    }
    fn child_ok(&self, s: &[f64]) -> bool {
        s[self.width() - 1] >= self.min_samples_leaf && self.cover(s) > 0.0
    }
    fn splittable(&self, s: &[f64]) -> bool {
        // Pure nodes (impurity 0) stay leaves.
        s[self.width() - 1] >= self.min_samples_split && self.score(s) < -1e-12 * self.cover(s).max(1.0)
    }
    fn min_gain(&self, parent: &[f64]) -> f64 {
        1e-12 * self.cover(parent).max(1.0)
    }
    fn leaf(&self, s: &[f64], out: &mut Vec<f64>) {
        if self.k > 0 {
            let w: f64 = s[..self.k].iter().sum();
            out.extend(s[..self.k].iter().map(|v| if w > 0.0 { v / w } else { 1.0 / self.k as f64 }));
        } else {
            out.push(if s[0] > 0.0 { s[1] / s[0] } else { 0.0 });
        }
    }
    fn leaf_width(&self) -> usize {
        self.k.max(1)
    }
    /// Two classes: the smoothed share of class 1 (Breiman: sorted by it, the best Gini or
    /// entropy split of categories is a prefix); regression: the smoothed mean. More classes
    /// have no such order.
    fn cat_key(&self, s: &[f64], smooth: f64) -> Option<f64> {
        match self.k {
            0 => Some(s[1] / (s[0] + smooth)),
            2 => Some(s[1] / (s[0] + s[1] + smooth)),
            _ => None,
        }
    }
}

/// Bins a training set once and fits any number of trees on weighted row subsets of it (a
/// random forest fits all its trees from one binning).
pub struct CartFitter {
    pub cuts: Cuts,
    pub binned: Binned,
    crit: Impurity,
    params: CartParams,
    y: Vec<f64>,
    sample_weights: Option<Vec<f64>>,
}

impl CartFitter {
    pub fn new(p: &CartParams, data: &TrainSet) -> Result<CartFitter, TrainError> {
        if data.is_empty() {
            return Err(TrainError::Data("the training set is empty".into()));
        }
        // Rare categories are grouped by their mean label (binary) or target (regression).
        let target = (data.n_classes <= 2).then(|| data.y.as_slice()).flatten();
        let cuts = Cuts::fit_with(data.x.view(), None, p.max_bin, &data.categories, target, p.cat.cat_smooth);
        let binned = cuts.apply(data.x.view());
        let crit = Impurity {
            k: data.n_classes,
            entropy: p.tree.entropy,
            min_samples_leaf: p.tree.min_samples_leaf as f64,
            min_samples_split: p.tree.min_samples_split as f64,
        };
        Ok(CartFitter { cuts, binned, crit, params: p.clone(), y: data.y.to_vec(), sample_weights: data.weights.as_ref().map(|w| w.to_vec()) })
    }

    pub fn n_classes(&self) -> usize {
        self.crit.k
    }

    /// Fit one tree on the rows with a positive count in `counts` (a bootstrap's
    /// multiplicities, or 1 for every row), each weighing its count times its sample weight,
    /// drawing split features with `seed`.
    pub fn fit(&self, counts: &[f64], seed: u64, ws: &mut Workspace) -> Tree {
        let w = self.crit.width();
        let k = self.crit.k;
        let mut stats = vec![0.0; self.y.len() * w];
        let mut rows = Vec::new();
        for (i, &count) in counts.iter().enumerate() {
            let wt = count * self.sample_weights.as_ref().map_or(1.0, |sw| sw[i]);
            if count <= 0.0 || wt <= 0.0 {
                continue;
            }
            rows.push(i as u32);
            let s = &mut stats[i * w..(i + 1) * w];
            if k > 0 {
                s[self.y[i] as usize] = wt;
            } else {
                s[0] = wt;
                s[1] = wt * self.y[i];
                s[2] = wt * self.y[i] * self.y[i];
            }
            s[w - 1] = count;
        }
        let nf = self.cuts.n_features();
        let kf = self.params.max_features.of(nf);
        let feats = if kf >= nf { Features::Fixed((0..nf as u32).collect()) } else { Features::PerSplit { k: kf, seed } };
        let shape = Shape { max_depth: self.params.tree.max_depth.unwrap_or(0), max_leaves: 0, lossguide: false, cat: self.params.cat };
        hist::grow(&self.binned, &self.cuts, &rows, &stats, &self.crit, &feats, &shape, ws, None).0
    }
}

/// Normalized impurity decrease per feature (scikit-learn's `feature_importances_`).
pub fn importances(trees: &[&Tree], n_features: usize) -> Vec<f64> {
    let (mut g, mut c, mut w) = (vec![0.0; n_features], vec![0.0; n_features], vec![0.0; n_features]);
    for t in trees {
        t.add_importances(&mut g, &mut c, &mut w);
    }
    let total: f64 = g.iter().sum();
    if total > 0.0 {
        g.iter_mut().for_each(|v| *v /= total);
    }
    g
}

/// A tree as indented text: each split `x[j] ≤ t` with its impurity decrease, each leaf with
/// its class (or value).
pub fn text(tree: &Tree, n_classes: usize) -> Vec<String> {
    fn walk(t: &Tree, i: usize, depth: usize, k: usize, out: &mut Vec<String>) {
        let pad = "  ".repeat(depth);
        let n = &t.nodes[i];
        match &n.split {
            Some(s) => {
                let decrease = s.gain / t.nodes[0].cover.max(1e-300);
                if let Some(set) = s.cats.and_then(|c| t.cat_sets.get(c as usize)) {
                    // A categorical split: the category codes going left.
                    let codes = set.list();
                    let shown: Vec<String> = codes.iter().take(8).map(|c| c.to_string()).collect();
                    let more = if codes.len() > 8 { format!(", … {} in all", codes.len()) } else { String::new() };
                    out.push(format!("{pad}x[{}] in {{{}{more}}}   (impurity −{decrease:.4})", s.feature, shown.join(", ")));
                } else if s.threshold == f64::MAX {
                    // The missing-apart split: present values left, missing ones right.
                    out.push(format!("{pad}x[{}] is present   (impurity −{decrease:.4})", s.feature));
                } else {
                    out.push(format!("{pad}x[{}] ≤ {:.4}   (impurity −{decrease:.4})", s.feature, s.threshold));
                }
                walk(t, s.left as usize, depth + 1, k, out);
                walk(t, s.right as usize, depth + 1, k, out);
            }
            None => {
                let o = n.leaf as usize * t.width;
                let v = &t.values[o..o + t.width];
                if k > 0 {
                    let c = v.iter().enumerate().fold(0, |b, (j, x)| if *x > v[b] { j } else { b });
                    out.push(format!("{pad}→ class {c}"));
                } else {
                    out.push(format!("{pad}→ {:.4}", v[0]));
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(tree, 0, 0, n_classes, &mut out);
    out
}

/// `decision_tree` on `backend: native`: a one-step trainer.
pub struct CartTrainer {
    model: TreeModel,
    n_features: usize,
}

impl CartTrainer {
    pub fn new(p: &CartParams, data: &TrainSet, seed: u64) -> Result<CartTrainer, TrainError> {
        let f = CartFitter::new(p, data)?;
        let tree = f.fit(&vec![1.0; data.len()], seed, &mut Workspace::default());
        Ok(CartTrainer { model: TreeModel { n_classes: data.n_classes, tree }, n_features: data.x.ncols() })
    }
    pub fn tree(&self) -> &Tree {
        &self.model.tree
    }
}

impl Trainer for CartTrainer {
    fn step(&mut self) -> Result<StepOut, TrainError> {
        let mut out = StepOut { done: true, ..StepOut::default() };
        out.metrics.insert("depth".into(), self.model.tree.depth() as f64);
        out.metrics.insert("leaves".into(), self.model.tree.n_leaves() as f64);
        Ok(out)
    }
    fn predictor(&self) -> Option<&dyn Predictor> {
        Some(self)
    }
    fn total_steps(&self) -> Option<u64> {
        Some(1)
    }
    fn artifacts(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({
            "kind": "tree",
            "text": text(&self.model.tree, self.model.n_classes),
            "importances": importances(&[&self.model.tree], self.n_features),
        }))
    }
    fn saved(&self) -> Option<SavedModel> {
        Some(SavedModel::new(self.model.clone()))
    }
}

impl Predictor for CartTrainer {
    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Prediction, TrainError> {
        self.model.predict(x)
    }
}
