//! Bagging over any estimator and native random forests: members fitted in parallel batches,
//! each from the seed and its number alone, averaged; out-of-bag scores on request.

use super::{accumulate, fit_estimator, mean, unsaved_member, Averaged, Member};
use crate::backends::native::cart::{self, CartFitter};
use crate::backends::native::hist::{mix, TreeModel, Workspace};
use crate::backends::params::{BaggingParams, ForestParams};
use crate::backends::saved::SavedModel;
use crate::backends::{Metrics, Prediction, Predictor, StepOut, TrainError, Trainer};
use crate::data::{split, TrainSet};
use crate::metrics::Metric;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::Rng;
use rayon::prelude::*;
use std::collections::VecDeque;

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
                Ok(Member { trainer: None, saved: Some(SavedModel::new(TreeModel { n_classes: fitter.n_classes(), tree })), features: None, counts })
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
        accumulate(&mut self.acc_train, m.predict(self.train_x.view())?);
        if let Some(t) = &self.test_x {
            accumulate(&mut self.acc_test, m.predict(t.view())?);
        }
        let mut metrics = Metrics::new();
        if self.oob {
            let out: Vec<usize> = (0..m.counts.len()).filter(|&i| m.counts[i] == 0.0).collect();
            if !out.is_empty() {
                let p = m.predict(self.train_x.select(Axis(0), &out).view())?;
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
        let trees: Vec<&crate::backends::native::hist::Tree> = self
            .members
            .iter()
            .filter(|m| m.features.is_none())
            .filter_map(|m| m.saved.as_ref()?.downcast_ref::<TreeModel>().map(|t| &t.tree))
            .collect();
        if trees.is_empty() {
            return None;
        }
        Some(serde_json::json!({"kind": "importances", "importances": {"gain": cart::importances(&trees, self.train_x.ncols())}}))
    }
    fn saved(&self) -> Option<SavedModel> {
        let members = self.members.iter().map(|m| m.saved.clone()).collect::<Option<Vec<_>>>()?;
        Some(SavedModel::new(Averaged { n_classes: self.n_classes, members, features: self.members.iter().map(|m| m.features.clone()).collect() }))
    }
    fn unsaved_reason(&self) -> Option<String> {
        unsaved_member(self.members.iter())
    }
}

impl Predictor for AveragingTrainer {
    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Prediction, TrainError> {
        let mut acc = None;
        for m in &self.members {
            accumulate(&mut acc, m.predict(x)?);
        }
        Ok(mean(acc.as_ref(), self.members.len(), x.nrows(), self.n_classes))
    }
}
