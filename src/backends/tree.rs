//! Decision trees (CART): linfa-trees (classification; Gini or entropy) and smartcore
//! (classification, and regression trees by variance reduction), as one-step trainers. The
//! fitted linfa tree is drawn as text (each split `x[j] ≤ t` with its impurity decrease, each
//! leaf with its class) and reports feature importances (normalized impurity decrease). These
//! trees are the base learners the ensembles build on.
//!
//! `max_depth` counts levels of splits, as scikit-learn and linfa do (1 = a stump). smartcore
//! counts the root as depth 1 (its depth 1 is a single leaf: measured on wine, train accuracy
//! equal to the majority-class share), so ratlab passes it max_depth + 1.
//!
//! linfa-trees breaks ties between equally good splits through hash-map order, so two fits on
//! the same data can differ (see DESIGN.md); smartcore is deterministic.

use super::params::TreeParams;
use super::{Backend, Prediction, Predictor, StepOut, TrainError, Trainer};
use crate::data::TrainSet;
use ndarray::{Array1, Array2, ArrayView2};

enum Model {
    Linfa(linfa_trees::DecisionTree<f64, usize>),
    SmartcoreClassifier(smartcore::tree::decision_tree_classifier::DecisionTreeClassifier<f64, i64, smartcore::linalg::basic::matrix::DenseMatrix<f64>, Vec<i64>>),
    SmartcoreRegressor(smartcore::tree::decision_tree_regressor::DecisionTreeRegressor<f64, f64, smartcore::linalg::basic::matrix::DenseMatrix<f64>, Vec<f64>>),
}

/// A fitted decision tree.
pub struct TreeTrainer {
    model: Model,
    n_classes: usize,
    /// Classes present in the training rows, in smartcore's column order (sorted).
    present: Vec<usize>,
    done: bool,
}

impl TreeTrainer {
    pub fn new(p: TreeParams, backend: Backend, data: &TrainSet) -> Result<TreeTrainer, TrainError> {
        if data.is_empty() {
            return Err(TrainError::Data("the training set is empty".into()));
        }
        let model = match backend {
            Backend::Linfa if data.n_classes == 0 => return Err(TrainError::Data("linfa-trees has classification trees only".into())),
            Backend::Linfa => {
                use linfa::traits::Fit;
                use linfa_trees::{DecisionTree, SplitQuality};
                let ds = linfa::Dataset::new(data.x.clone(), Array1::from(data.labels()));
                let params = DecisionTree::params()
                    .split_quality(if p.entropy { SplitQuality::Entropy } else { SplitQuality::Gini })
                    .max_depth(p.max_depth)
                    .min_weight_split(p.min_samples_split as f32)
                    .min_weight_leaf(p.min_samples_leaf as f32);
                Model::Linfa(params.fit(&ds).map_err(|e| TrainError::backend("linfa", e))?)
            }
            _ => {
                let x = super::smartcore::to_dense(&data.x)?;
                if data.n_classes > 0 {
                    use smartcore::tree::decision_tree_classifier::{DecisionTreeClassifier, DecisionTreeClassifierParameters, SplitCriterion};
                    let mut params = DecisionTreeClassifierParameters::default()
                        .with_criterion(if p.entropy { SplitCriterion::Entropy } else { SplitCriterion::Gini })
                        .with_min_samples_leaf(p.min_samples_leaf)
                        .with_min_samples_split(p.min_samples_split);
                    if let Some(d) = p.max_depth {
                        params = params.with_max_depth((d + 1).min(u16::MAX as usize) as u16);
                    }
                    let y: Vec<i64> = data.labels().into_iter().map(|v| v as i64).collect();
                    Model::SmartcoreClassifier(DecisionTreeClassifier::fit(&x, &y, params).map_err(|e| TrainError::backend("smartcore", e))?)
                } else {
                    use smartcore::tree::decision_tree_regressor::{DecisionTreeRegressor, DecisionTreeRegressorParameters};
                    let mut params = DecisionTreeRegressorParameters::default().with_min_samples_leaf(p.min_samples_leaf).with_min_samples_split(p.min_samples_split);
                    if let Some(d) = p.max_depth {
                        params = params.with_max_depth((d + 1).min(u16::MAX as usize) as u16);
                    }
                    let y: Vec<f64> = data.y.to_vec();
                    Model::SmartcoreRegressor(DecisionTreeRegressor::fit(&x, &y, params).map_err(|e| TrainError::backend("smartcore", e))?)
                }
            }
        };
        let mut present = data.labels();
        present.sort_unstable();
        present.dedup();
        Ok(TreeTrainer { model, n_classes: data.n_classes, present, done: false })
    }

    /// The tree as indented text lines (linfa only).
    pub fn text(&self) -> Option<Vec<String>> {
        let Model::Linfa(t) = &self.model else { return None };
        let mut out = Vec::new();
        fn walk(n: &linfa_trees::TreeNode<f64, usize>, depth: usize, out: &mut Vec<String>) {
            let pad = "  ".repeat(depth);
            if n.is_leaf() {
                out.push(format!("{pad}→ class {}", n.prediction().unwrap_or_default()));
                return;
            }
            let (f, v, dec) = n.split();
            out.push(format!("{pad}x[{f}] ≤ {v:.4}   (impurity −{dec:.4})"));
            for c in n.children().into_iter().flatten() {
                walk(c, depth + 1, out);
            }
        }
        walk(t.root_node(), 0, &mut out);
        Some(out)
    }

    /// Normalized impurity decrease per feature (linfa only).
    pub fn importances(&self) -> Option<Vec<f64>> {
        match &self.model {
            Model::Linfa(t) => Some(t.feature_importance()),
            _ => None,
        }
    }
}

impl Trainer for TreeTrainer {
    fn step(&mut self) -> Result<StepOut, TrainError> {
        let first = !self.done;
        self.done = true;
        let mut out = StepOut { done: true, ..StepOut::default() };
        if first {
            if let Model::Linfa(t) = &self.model {
                out.metrics.insert("depth".into(), t.max_depth() as f64);
                out.metrics.insert("leaves".into(), t.num_leaves() as f64);
            }
        }
        Ok(out)
    }
    fn predictor(&self) -> Option<&dyn Predictor> {
        Some(self)
    }
    fn total_steps(&self) -> Option<u64> {
        Some(1)
    }
    fn artifacts(&self) -> Option<serde_json::Value> {
        let text = self.text()?;
        Some(serde_json::json!({"kind": "tree", "text": text, "importances": self.importances().unwrap_or_default()}))
    }
}

impl Predictor for TreeTrainer {
    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Prediction, TrainError> {
        let smartcore = |e: smartcore::error::Failed| TrainError::backend("smartcore", e);
        Ok(match &self.model {
            Model::Linfa(t) => {
                use linfa::traits::Predict;
                let labels: Array1<usize> = t.predict(&x.to_owned());
                Prediction::one_hot(labels, x.nrows(), self.n_classes)
            }
            Model::SmartcoreClassifier(m) => {
                use smartcore::linalg::basic::arrays::Array;
                let dm = super::smartcore::to_dense(&x.to_owned())?;
                let p = m.predict_proba(&dm).map_err(smartcore)?;
                // smartcore's columns are the classes it saw; absent classes get 0.
                let (r, c) = p.shape();
                let mut out = Array2::zeros((r, self.n_classes));
                for (col, &class) in self.present.iter().enumerate().take(c) {
                    for i in 0..r {
                        out[[i, class]] = *p.get((i, col));
                    }
                }
                Prediction::Proba(out)
            }
            Model::SmartcoreRegressor(m) => {
                let dm = super::smartcore::to_dense(&x.to_owned())?;
                Prediction::Values(Array1::from(m.predict(&dm).map_err(smartcore)?))
            }
        })
    }
}
