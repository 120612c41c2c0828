//! Ensembles over any ratlab estimator: bagging, random forests (native, smartcore,
//! linfa-ensemble), AdaBoost (SAMME) and stacking. Each member added is a step, so the curves
//! show the score against the ensemble's size and the ensembles can be laid over each other.
//!
//! Averaging ensembles fit their members in parallel batches (member `i` depends only on the
//! seed and `i`, so the result is the same whatever the thread count) and keep running sums of
//! the members' predictions on the training and test rows: a step costs one member's
//! predictions, not the whole ensemble's.

use super::native::cart::{self, CartFitter};
use super::native::hist::{mix, Workspace};
use super::params::{AdaBoostParams, BaggingParams, Estimator, ForestParams, StackingParams};
use super::saved::{accumulate, mean, samme_proba, stack_features, votes, SavedModel};
use super::{build_trainer, Backend, Metrics, Prediction, Predictor, StepOut, TrainError, Trainer};
use crate::data::{split, TrainSet};
use crate::metrics::Metric;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::Rng;
use rayon::prelude::*;
use std::collections::VecDeque;

/// Train an estimator to the end of its steps.
pub fn fit_estimator(est: &Estimator, set: &TrainSet, seed: u64) -> Result<Box<dyn Trainer>, TrainError> {
    let mut t = build_trainer(est.backend, &est.params, Some(set), None, seed)?;
    while !t.step()?.done {}
    t.finish();
    Ok(t)
}

/// A fitted member: the saved form when it has one (it predicts identically), else the trainer.
pub struct Member {
    trainer: Option<Box<dyn Trainer>>,
    saved: Option<SavedModel>,
    /// The feature columns it was fitted on (bagging's `max_features`); all when `None`.
    features: Option<Vec<usize>>,
    /// How often each training row was drawn for it (0 = out of bag).
    counts: Vec<f64>,
}

impl Member {
    fn from_trainer(t: Box<dyn Trainer>, features: Option<Vec<usize>>, counts: Vec<f64>) -> Member {
        let saved = t.saved();
        Member { trainer: if saved.is_some() { None } else { Some(t) }, saved, features, counts }
    }
    fn predict(&self, x: ArrayView2<'_, f64>) -> Prediction {
        match &self.features {
            Some(c) => self.predict_all(x.select(Axis(1), c).view()),
            None => self.predict_all(x),
        }
    }
    fn predict_all(&self, x: ArrayView2<'_, f64>) -> Prediction {
        match (&self.saved, &self.trainer) {
            (Some(s), _) => s.predict(x),
            (None, Some(t)) => match t.predictor() {
                Some(p) => p.predict(x),
                None => Prediction::undefined(x.nrows()),
            },
            (None, None) => Prediction::undefined(x.nrows()),
        }
    }
}

/// Why an ensemble cannot be saved: the first member without a saved form.
fn unsaved_member<'a>(mut members: impl Iterator<Item = &'a Member>) -> Option<String> {
    members.find_map(|m| {
        m.trainer.as_ref().map(|t| {
            t.unsaved_reason().unwrap_or_else(|| "a member cannot be saved (native trees, boosting, forests and logistic regression can; kNN and library models cannot yet)".into())
        })
    })
}

/// Where an averaging ensemble's members come from.
enum Source {
    /// Bagging: any estimator on resampled rows (and features).
    Bagging { p: BaggingParams, data: TrainSet },
    /// A native random forest: trees from one binning, bootstrap as row multiplicities.
    Forest { p: ForestParams, fitter: CartFitter, n: usize },
}

impl Source {
    fn n_estimators(&self) -> usize {
        match self {
            Source::Bagging { p, .. } => p.n_estimators,
            Source::Forest { p, .. } => p.n_estimators,
        }
    }

    /// Member `i`, from the seed and `i` alone.
    fn member(&self, i: usize, seed: u64) -> Result<Member, TrainError> {
        let s = mix(seed, i as u64);
        let mut rng = split::rng(s);
        match self {
            Source::Bagging { p, data } => {
                let n = data.len();
                let m = p.max_samples.of(n);
                let mut counts = vec![0.0; n];
                if p.bootstrap {
                    for _ in 0..m {
                        counts[rng.gen_range(0..n)] += 1.0;
                    }
                } else {
                    for j in rand::seq::index::sample(&mut rng, n, m) {
                        counts[j] = 1.0;
                    }
                }
                let d = data.x.ncols();
                let kf = p.max_features.of(d);
                let features = (kf < d).then(|| {
                    let mut f = rand::seq::index::sample(&mut rng, d, kf).into_vec();
                    f.sort_unstable();
                    f
                });
                let rows: Vec<usize> = counts.iter().enumerate().flat_map(|(r, c)| std::iter::repeat_n(r, *c as usize)).collect();
                let mut set = data.subset(&rows);
                if let Some(f) = &features {
                    set.x = set.x.select(Axis(1), f);
                }
                let t = fit_estimator(&p.estimator, &set, s)?;
                Ok(Member::from_trainer(t, features, counts))
            }
            Source::Forest { p, fitter, n } => {
                let mut counts = vec![0.0; *n];
                if p.bootstrap {
                    for _ in 0..*n {
                        counts[rng.gen_range(0..*n)] += 1.0;
                    }
                } else {
                    counts.iter_mut().for_each(|c| *c = 1.0);
                }
                let tree = fitter.fit(&counts, s, &mut Workspace::default());
                Ok(Member { trainer: None, saved: Some(SavedModel::Tree { n_classes: fitter.n_classes(), tree }), features: None, counts })
            }
        }
    }
}

/// Bagging and random forests: the mean of the members' probabilities (or values).
pub struct AveragingTrainer {
    source: Source,
    oob: bool,
    n_classes: usize,
    seed: u64,
    train_x: Array2<f64>,
    train_y: Array1<f64>,
    test_x: Option<Array2<f64>>,
    members: Vec<Member>,
    ready: VecDeque<Member>,
    acc_train: Option<Prediction>,
    acc_test: Option<Prediction>,
    oob_sum: Array2<f64>,
    oob_n: Vec<u32>,
}

impl AveragingTrainer {
    fn new(source: Source, oob: bool, data: &TrainSet, test: Option<&TrainSet>, seed: u64) -> AveragingTrainer {
        let width = data.n_classes.max(1);
        AveragingTrainer {
            source,
            oob,
            n_classes: data.n_classes,
            seed,
            train_x: data.x.clone(),
            train_y: data.y.clone(),
            test_x: test.filter(|t| !t.is_empty()).map(|t| t.x.clone()),
            members: vec![],
            ready: VecDeque::new(),
            acc_train: None,
            acc_test: None,
            oob_sum: Array2::zeros((data.len(), width)),
            oob_n: vec![0; data.len()],
        }
    }

    /// Bagging over any estimator.
    pub fn bagging(p: BaggingParams, data: &TrainSet, test: Option<&TrainSet>, seed: u64) -> Result<AveragingTrainer, TrainError> {
        if data.is_empty() {
            return Err(TrainError::Data("the training set is empty".into()));
        }
        let oob = p.oob_score;
        Ok(AveragingTrainer::new(Source::Bagging { p, data: data.clone() }, oob, data, test, seed))
    }

    /// A native random forest.
    pub fn forest(p: ForestParams, data: &TrainSet, test: Option<&TrainSet>, seed: u64) -> Result<AveragingTrainer, TrainError> {
        let fitter = CartFitter::new(&p.tree, data)?;
        let oob = p.oob_score;
        Ok(AveragingTrainer::new(Source::Forest { p, fitter, n: data.len() }, oob, data, test, seed))
    }

    fn oob_score(&self) -> Option<f64> {
        let rows: Vec<usize> = (0..self.oob_n.len()).filter(|&i| self.oob_n[i] > 0).collect();
        if rows.is_empty() {
            return None;
        }
        let y: Array1<f64> = rows.iter().map(|&i| self.train_y[i]).collect();
        let (pred, metric) = if self.n_classes > 0 {
            (Prediction::Proba(self.oob_sum.select(Axis(0), &rows)), Metric::Accuracy)
        } else {
            (Prediction::Values(rows.iter().map(|&i| self.oob_sum[[i, 0]] / self.oob_n[i] as f64).collect()), Metric::R2)
        };
        Some(metric.compute(&pred, y.view()))
    }
}

impl Trainer for AveragingTrainer {
    fn step(&mut self) -> Result<StepOut, TrainError> {
        if self.ready.is_empty() {
            let start = self.members.len();
            let end = (start + rayon::current_num_threads().max(1)).min(self.source.n_estimators());
            let (src, seed) = (&self.source, self.seed);
            let batch: Vec<Member> = (start..end).into_par_iter().map(|i| src.member(i, seed)).collect::<Result<_, _>>()?;
            self.ready.extend(batch);
        }
        let m = self.ready.pop_front().ok_or_else(|| TrainError::Data("no members to fit".into()))?;
        accumulate(&mut self.acc_train, m.predict(self.train_x.view()));
        if let Some(t) = &self.test_x {
            accumulate(&mut self.acc_test, m.predict(t.view()));
        }
        let mut metrics = Metrics::new();
        if self.oob {
            let out: Vec<usize> = (0..m.counts.len()).filter(|&i| m.counts[i] == 0.0).collect();
            if !out.is_empty() {
                let p = m.predict(self.train_x.select(Axis(0), &out).view());
                for (j, &i) in out.iter().enumerate() {
                    match &p {
                        Prediction::Proba(a) => {
                            let mut row = self.oob_sum.row_mut(i);
                            row += &a.row(j);
                        }
                        Prediction::Values(v) => self.oob_sum[[i, 0]] += v[j],
                    }
                    self.oob_n[i] += 1;
                }
            }
            if let Some(s) = self.oob_score() {
                metrics.insert("oob_score".into(), s);
            }
        }
        self.members.push(m);
        Ok(StepOut { metrics, x: None, done: self.members.len() >= self.source.n_estimators(), message: None })
    }
    fn predictor(&self) -> Option<&dyn Predictor> {
        Some(self)
    }
    fn total_steps(&self) -> Option<u64> {
        Some(self.source.n_estimators() as u64)
    }
    fn staged(&self, train_rows: &[usize]) -> Option<(Prediction, Option<Prediction>)> {
        let n = self.members.len();
        let rows_of = |p: &Prediction| match p {
            Prediction::Proba(a) => Prediction::Proba(a.select(Axis(0), train_rows)),
            Prediction::Values(v) => Prediction::Values(v.select(Axis(0), train_rows)),
        };
        let train = mean(self.acc_train.as_ref().map(rows_of).as_ref(), n, train_rows.len(), self.n_classes);
        let test = self.test_x.as_ref().map(|t| mean(self.acc_test.as_ref(), n, t.nrows(), self.n_classes));
        Some((train, test))
    }
    fn artifacts(&self) -> Option<serde_json::Value> {
        let trees: Vec<&super::native::hist::Tree> = self
            .members
            .iter()
            .filter_map(|m| match &m.saved {
                Some(SavedModel::Tree { tree, .. }) if m.features.is_none() => Some(tree),
                _ => None,
            })
            .collect();
        if trees.is_empty() {
            return None;
        }
        Some(serde_json::json!({"kind": "importances", "importances": {"gain": cart::importances(&trees, self.train_x.ncols())}}))
    }
    fn saved(&self) -> Option<SavedModel> {
        let members = self.members.iter().map(|m| m.saved.clone()).collect::<Option<Vec<_>>>()?;
        Some(SavedModel::Average { n_classes: self.n_classes, members, features: self.members.iter().map(|m| m.features.clone()).collect() })
    }
    fn unsaved_reason(&self) -> Option<String> {
        unsaved_member(self.members.iter())
    }
}

impl Predictor for AveragingTrainer {
    fn predict(&self, x: ArrayView2<'_, f64>) -> Prediction {
        let mut acc = None;
        for m in &self.members {
            accumulate(&mut acc, m.predict(x));
        }
        mean(acc.as_ref(), self.members.len(), x.nrows(), self.n_classes)
    }
}

/// AdaBoost, SAMME: each member is fitted on reweighted rows; misclassified rows gain weight
/// `exp(α)`, with `α = η·(ln((1 − err)/err) + ln(K − 1))`; the ensemble votes with the α's.
pub struct AdaBoostTrainer {
    p: AdaBoostParams,
    data: TrainSet,
    test_x: Option<Array2<f64>>,
    k: usize,
    seed: u64,
    members: Vec<Member>,
    alphas: Vec<f64>,
    weights: Array1<f64>,
    votes_train: Array2<f64>,
    votes_test: Option<Array2<f64>>,
    done: bool,
}

impl AdaBoostTrainer {
    pub fn new(p: AdaBoostParams, data: &TrainSet, test: Option<&TrainSet>, seed: u64) -> Result<AdaBoostTrainer, TrainError> {
        let k = data.n_classes;
        if k < 2 || data.is_empty() {
            return Err(TrainError::Data("AdaBoost (SAMME) needs classification data with at least two classes".into()));
        }
        let n = data.len();
        let w0 = data.weights.clone().unwrap_or_else(|| Array1::ones(n));
        let s = w0.sum();
        Ok(AdaBoostTrainer {
            test_x: test.filter(|t| !t.is_empty()).map(|t| t.x.clone()),
            votes_test: test.filter(|t| !t.is_empty()).map(|t| Array2::zeros((t.len(), k))),
            votes_train: Array2::zeros((n, k)),
            weights: w0 * (n as f64 / s),
            data: data.clone(),
            p,
            k,
            seed,
            members: vec![],
            alphas: vec![],
            done: false,
        })
    }

    fn proba(&self, votes: &Array2<f64>) -> Prediction {
        Prediction::Proba(samme_proba(votes, self.alphas.iter().sum(), self.k))
    }
}

impl Trainer for AdaBoostTrainer {
    fn step(&mut self) -> Result<StepOut, TrainError> {
        let i = self.members.len();
        let mut set = self.data.clone();
        set.weights = Some(self.weights.clone());
        let t = fit_estimator(&self.p.estimator, &set, mix(self.seed, i as u64))?;
        let m = Member::from_trainer(t, None, vec![]);
        let pred = votes(&m.predict(self.data.x.view()));
        let wsum = self.weights.sum();
        let wrong: Vec<bool> = pred.iter().zip(&self.data.y).map(|(p, y)| *p != *y as usize).collect();
        let err = wrong.iter().zip(&self.weights).filter(|(w, _)| **w).map(|(_, x)| x).sum::<f64>() / wsum;
        let k = self.k as f64;
        let mut metrics = Metrics::new();
        metrics.insert("weighted_error".into(), err);
        let mut message = None;
        if err >= 1.0 - 1.0 / k {
            self.done = true;
            message = Some(format!("stopped at member {}: its weighted error {err:.4} is no better than chance (1 − 1/K = {:.4})", i + 1, 1.0 - 1.0 / k));
            if !self.members.is_empty() {
                return Ok(StepOut { metrics, x: None, done: true, message });
            }
        }
        let alpha = if err <= 0.0 {
            self.done = true;
            message = Some(format!("member {} fits the training rows perfectly; boosting stops there", i + 1));
            1.0
        } else {
            self.p.learning_rate * (((1.0 - err) / err).ln() + (k - 1.0).ln())
        };
        metrics.insert("alpha".into(), alpha);
        // Reweight: misclassified rows by exp(α), then back to mean 1.
        for (w, bad) in self.weights.iter_mut().zip(&wrong) {
            if *bad {
                *w *= alpha.exp();
            }
        }
        let s = self.weights.sum();
        let n = self.weights.len() as f64;
        self.weights.mapv_inplace(|w| w * n / s);
        for (r, c) in pred.into_iter().enumerate() {
            self.votes_train[[r, c.min(self.k - 1)]] += alpha;
        }
        if let (Some(tx), Some(vt)) = (&self.test_x, &mut self.votes_test) {
            for (r, c) in votes(&m.predict(tx.view())).into_iter().enumerate() {
                vt[[r, c.min(self.k - 1)]] += alpha;
            }
        }
        self.members.push(m);
        self.alphas.push(alpha);
        let done = self.done || self.members.len() >= self.p.n_estimators;
        Ok(StepOut { metrics, x: None, done, message })
    }
    fn predictor(&self) -> Option<&dyn Predictor> {
        Some(self)
    }
    fn total_steps(&self) -> Option<u64> {
        Some(self.p.n_estimators as u64)
    }
    fn staged(&self, train_rows: &[usize]) -> Option<(Prediction, Option<Prediction>)> {
        let train = self.proba(&self.votes_train.select(Axis(0), train_rows));
        Some((train, self.votes_test.as_ref().map(|v| self.proba(v))))
    }
    fn saved(&self) -> Option<SavedModel> {
        let members = self.members.iter().map(|m| m.saved.clone()).collect::<Option<Vec<_>>>()?;
        Some(SavedModel::AdaBoost { n_classes: self.k, members, alphas: self.alphas.clone() })
    }
}

impl Predictor for AdaBoostTrainer {
    fn predict(&self, x: ArrayView2<'_, f64>) -> Prediction {
        let mut v = Array2::zeros((x.nrows(), self.k));
        for (m, a) in self.members.iter().zip(&self.alphas) {
            for (i, c) in votes(&m.predict(x)).into_iter().enumerate() {
                v[[i, c.min(self.k - 1)]] += a;
            }
        }
        self.proba(&v)
    }
}

/// Stacking: each base estimator's out-of-fold probabilities (from `cv` folds) become features
/// of the final estimator; at prediction time the base estimators are refitted on all training
/// rows. Each base estimator added is a step, with the final estimator refitted on the
/// estimators so far.
pub struct StackingTrainer {
    p: StackingParams,
    data: TrainSet,
    folds: Vec<(Vec<usize>, Vec<usize>)>,
    seed: u64,
    members: Vec<Member>,
    oof: Vec<Prediction>,
    final_model: Option<Member>,
}

impl StackingTrainer {
    pub fn new(p: StackingParams, data: &TrainSet, seed: u64) -> Result<StackingTrainer, TrainError> {
        if data.n_classes < 2 {
            return Err(TrainError::Data("stacking stacks class probabilities: it needs classification data".into()));
        }
        if data.len() < p.cv {
            return Err(TrainError::Data(format!("{}-fold stacking needs at least {} training rows; there are {}", p.cv, p.cv, data.len())));
        }
        let labels = data.labels();
        let folds = split::kfold(data.len(), p.cv, Some(&labels), mix(seed, 0x57ac));
        Ok(StackingTrainer { p, data: data.clone(), folds, seed, members: vec![], oof: vec![], final_model: None })
    }

    fn as_proba(&self, p: Prediction, rows: usize) -> Array2<f64> {
        match p {
            Prediction::Proba(a) => a,
            Prediction::Values(v) => v.into_shape_with_order((rows, 1)).unwrap_or_else(|_| Array2::zeros((rows, 1))),
        }
    }
}

impl Trainer for StackingTrainer {
    fn step(&mut self) -> Result<StepOut, TrainError> {
        let j = self.members.len();
        let est = self.p.estimators[j].clone();
        let n = self.data.len();
        // Out-of-fold probabilities: each fold's rows predicted by a model that never saw them.
        let seed = mix(self.seed, j as u64);
        let parts: Vec<(Vec<usize>, Array2<f64>)> = self
            .folds
            .par_iter()
            .enumerate()
            .map(|(fi, (tr, te))| {
                let t = fit_estimator(&est, &self.data.subset(tr), mix(seed, fi as u64 + 1))?;
                let m = Member::from_trainer(t, None, vec![]);
                let p = m.predict(self.data.x.select(Axis(0), te).view());
                Ok((te.clone(), self.as_proba(p, te.len())))
            })
            .collect::<Result<_, TrainError>>()?;
        let width = parts.first().map_or(1, |p| p.1.ncols());
        let mut oof = Array2::zeros((n, width));
        for (rows, p) in parts {
            for (r, row) in rows.into_iter().zip(p.rows()) {
                if row.len() == width {
                    oof.row_mut(r).assign(&row);
                }
            }
        }
        self.oof.push(Prediction::Proba(oof));
        let full = fit_estimator(&est, &self.data, seed)?;
        self.members.push(Member::from_trainer(full, None, vec![]));
        // The final estimator on the out-of-fold features so far.
        let z = stack_features(&self.oof, self.p.passthrough.then(|| self.data.x.view()));
        let meta = TrainSet::new(z, self.data.y.clone(), self.data.n_classes);
        let fin = fit_estimator(&self.p.final_estimator, &meta, mix(self.seed, 0xf1a1))?;
        self.final_model = Some(Member::from_trainer(fin, None, vec![]));
        let mut metrics = Metrics::new();
        metrics.insert("estimators".into(), self.members.len() as f64);
        let message = Some(format!("added {} ({}) to the stack", est.algorithm, est.backend));
        Ok(StepOut { metrics, x: None, done: self.members.len() >= self.p.estimators.len(), message })
    }
    fn predictor(&self) -> Option<&dyn Predictor> {
        Some(self)
    }
    fn total_steps(&self) -> Option<u64> {
        Some(self.p.estimators.len() as u64)
    }
    fn saved(&self) -> Option<SavedModel> {
        let members = self.members.iter().map(|m| m.saved.clone()).collect::<Option<Vec<_>>>()?;
        let fin = self.final_model.as_ref()?.saved.clone()?;
        Some(SavedModel::Stacking { n_classes: self.data.n_classes, members, final_model: Box::new(fin), passthrough: self.p.passthrough })
    }
    fn unsaved_reason(&self) -> Option<String> {
        unsaved_member(self.members.iter().chain(self.final_model.iter()))
    }
}

impl Predictor for StackingTrainer {
    fn predict(&self, x: ArrayView2<'_, f64>) -> Prediction {
        let preds: Vec<Prediction> = self.members.iter().map(|m| Prediction::Proba(self.as_proba(m.predict(x), x.nrows()))).collect();
        let z = stack_features(&preds, self.p.passthrough.then_some(x));
        match &self.final_model {
            Some(f) => f.predict(z.view()),
            None => Prediction::Proba(Array2::from_elem((x.nrows(), self.data.n_classes), 1.0 / self.data.n_classes as f64)),
        }
    }
}

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
                let x = super::smartcore::to_dense(&data.x)?;
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
    fn predict(&self, x: ArrayView2<'_, f64>) -> Prediction {
        let (n, k) = (x.nrows(), self.n_classes);
        let nan = || Prediction::undefined(n);
        match &self.model {
            LibraryForest::Linfa(m) => {
                use linfa::traits::Predict;
                let labels: Array1<usize> = m.predict(&x.to_owned());
                Prediction::one_hot(labels, n, k)
            }
            LibraryForest::Smartcore(m) => {
                let Ok(dm) = super::smartcore::to_dense(&x.to_owned()) else { return nan() };
                match m.predict(&dm) {
                    Ok(labels) => Prediction::one_hot(labels.into_iter().map(|l| l.max(0) as usize), n, k),
                    Err(_) => nan(),
                }
            }
            LibraryForest::SmartcoreRegressor(m) => {
                let Ok(dm) = super::smartcore::to_dense(&x.to_owned()) else { return nan() };
                m.predict(&dm).map(|v| Prediction::Values(Array1::from(v))).unwrap_or_else(|_| nan())
            }
        }
    }
}
