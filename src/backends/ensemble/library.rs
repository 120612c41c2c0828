//! The random forests of smartcore and linfa-ensemble, fitted in one step, for comparison with
//! the native forest.

use crate::backends::params::ForestParams;
use crate::backends::{Backend, Prediction, Predictor, StepOut, TrainError, Trainer};
use crate::data::{split, TrainSet};
use ndarray::{Array1, ArrayView2};

/// Random forests of the library backends, fitted in one step for comparison.
pub enum LibraryForest {
    /// smartcore's classifier votes hard labels (it has no probabilities).
    Smartcore(smartcore::ensemble::random_forest_classifier::RandomForestClassifier<f64, i64, smartcore::linalg::basic::matrix::DenseMatrix<f64>, Vec<i64>>),
    SmartcoreRegressor(smartcore::ensemble::random_forest_regressor::RandomForestRegressor<f64, f64, smartcore::linalg::basic::matrix::DenseMatrix<f64>, Vec<f64>>),
    Linfa(linfa_ensemble::RandomForest<f64, usize>),
}

/// A library random forest as a one-step trainer.
pub struct LibraryForestTrainer {
    model: LibraryForest,
    n_classes: usize,
}

impl LibraryForestTrainer {
    pub fn new(p: &ForestParams, backend: Backend, data: &TrainSet, seed: u64) -> Result<LibraryForestTrainer, TrainError> {
        if data.is_empty() {
            return Err(TrainError::Data("the training set is empty".into()));
        }
        let d = data.x.ncols();
        let m = p.tree.max_features.of(d);
        let model = match backend {
            Backend::Linfa => {
                use linfa::traits::Fit;
                if data.n_classes == 0 {
                    return Err(TrainError::Data("linfa-ensemble's random forest is for classification only; use backend: native or smartcore".into()));
                }
                let ds = linfa::Dataset::new(data.x.clone(), Array1::from(data.labels()));
                let tree = linfa_trees::DecisionTree::params()
                    .split_quality(if p.tree.tree.entropy { linfa_trees::SplitQuality::Entropy } else { linfa_trees::SplitQuality::Gini })
                    .max_depth(p.tree.tree.max_depth)
                    .min_weight_split(p.tree.tree.min_samples_split as f32)
                    .min_weight_leaf(p.tree.tree.min_samples_leaf as f32);
                // linfa-ensemble samples features per tree (not per split): the same share.
                let model = linfa_ensemble::EnsembleLearnerParams::new_fixed_rng(tree, split::rng(seed))
                    .ensemble_size(p.n_estimators)
                    .bootstrap_proportion(1.0)
                    .feature_proportion(m as f64 / d as f64)
                    .fit(&ds)
                    .map_err(|e| TrainError::backend("linfa", e))?;
                LibraryForest::Linfa(model)
            }
            _ => {
                let x = crate::backends::smartcore::to_dense(&data.x)?;
                let depth = p.tree.tree.max_depth.map(|v| (v + 1).min(u16::MAX as usize) as u16);
                if data.n_classes > 0 {
                    use smartcore::ensemble::random_forest_classifier::{RandomForestClassifier, RandomForestClassifierParameters};
                    let mut params = RandomForestClassifierParameters::default()
                        .with_criterion(if p.tree.tree.entropy {
                            smartcore::tree::decision_tree_classifier::SplitCriterion::Entropy
                        } else {
                            smartcore::tree::decision_tree_classifier::SplitCriterion::Gini
                        })
                        .with_n_trees(p.n_estimators.min(u16::MAX as usize) as u16)
                        .with_m(m)
                        .with_min_samples_leaf(p.tree.tree.min_samples_leaf)
                        .with_min_samples_split(p.tree.tree.min_samples_split)
                        .with_seed(seed);
                    if let Some(dd) = depth {
                        params = params.with_max_depth(dd);
                    }
                    let y: Vec<i64> = data.labels().into_iter().map(|v| v as i64).collect();
                    LibraryForest::Smartcore(RandomForestClassifier::fit(&x, &y, params).map_err(|e| TrainError::backend("smartcore", e))?)
                } else {
                    use smartcore::ensemble::random_forest_regressor::{RandomForestRegressor, RandomForestRegressorParameters};
                    let mut params = RandomForestRegressorParameters::default()
                        .with_n_trees(p.n_estimators)
                        .with_m(m)
                        .with_min_samples_leaf(p.tree.tree.min_samples_leaf)
                        .with_min_samples_split(p.tree.tree.min_samples_split)
                        .with_seed(seed);
                    if let Some(dd) = depth {
                        params = params.with_max_depth(dd);
                    }
                    LibraryForest::SmartcoreRegressor(RandomForestRegressor::fit(&x, &data.y.to_vec(), params).map_err(|e| TrainError::backend("smartcore", e))?)
                }
            }
        };
        Ok(LibraryForestTrainer { model, n_classes: data.n_classes })
    }
}

impl Trainer for LibraryForestTrainer {
    fn step(&mut self) -> Result<StepOut, TrainError> {
        Ok(StepOut { done: true, ..StepOut::default() })
    }
    fn predictor(&self) -> Option<&dyn Predictor> {
        Some(self)
    }
    fn total_steps(&self) -> Option<u64> {
        Some(1)
    }
    fn unsaved_reason(&self) -> Option<String> {
        Some("the library random forests (smartcore, linfa) cannot be saved; use backend: native".into())
    }
}

impl Predictor for LibraryForestTrainer {
    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Prediction, TrainError> {
        let (n, k) = (x.nrows(), self.n_classes);
        let smartcore = |e: smartcore::error::Failed| TrainError::backend("smartcore", e);
        Ok(match &self.model {
            LibraryForest::Linfa(m) => {
                use linfa::traits::Predict;
                let labels: Array1<usize> = m.predict(&x.to_owned());
                Prediction::one_hot(labels, n, k)
            }
            LibraryForest::Smartcore(m) => {
                let dm = crate::backends::smartcore::to_dense(&x.to_owned())?;
                let labels = m.predict(&dm).map_err(smartcore)?;
                Prediction::one_hot(labels.into_iter().map(|l| l.max(0) as usize), n, k)
            }
            LibraryForest::SmartcoreRegressor(m) => {
                let dm = crate::backends::smartcore::to_dense(&x.to_owned())?;
                Prediction::Values(Array1::from(m.predict(&dm).map_err(smartcore)?))
            }
        })
    }
}
