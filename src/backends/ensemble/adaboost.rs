//! AdaBoost (SAMME): members fitted on reweighted rows, voting with their α's.

use super::{fit_estimator, samme_proba, votes, Member, Samme};
use crate::backends::native::hist::mix;
use crate::backends::params::AdaBoostParams;
use crate::backends::saved::SavedModel;
use crate::backends::{Metrics, Prediction, Predictor, StepOut, TrainError, Trainer};
use crate::data::TrainSet;
use ndarray::{Array1, Array2, ArrayView2, Axis};

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
        let pred = votes(&m.predict(self.data.x.view())?);
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
            for (r, c) in votes(&m.predict(tx.view())?).into_iter().enumerate() {
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
        Some(SavedModel::new(Samme { n_classes: self.k, members, alphas: self.alphas.clone() }))
    }
}

impl Predictor for AdaBoostTrainer {
    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Prediction, TrainError> {
        let mut v = Array2::zeros((x.nrows(), self.k));
        for (m, a) in self.members.iter().zip(&self.alphas) {
            for (i, c) in votes(&m.predict(x)?).into_iter().enumerate() {
                v[[i, c.min(self.k - 1)]] += a;
            }
        }
        Ok(self.proba(&v))
    }
}
