//! Stacking: a final estimator learns from the base estimators' out-of-fold probabilities.

use super::{fit_estimator, stack_features, unsaved_member, Member, Stacked};
use crate::backends::native::hist::mix;
use crate::backends::params::StackingParams;
use crate::backends::saved::SavedModel;
use crate::backends::{Metrics, Prediction, Predictor, StepOut, TrainError, Trainer};
use crate::data::{split, TrainSet};
use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

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
                let p = m.predict(self.data.x.select(Axis(0), te).view())?;
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
        Some(SavedModel::new(Stacked { n_classes: self.data.n_classes, members, final_model: Box::new(fin), passthrough: self.p.passthrough }))
    }
    fn unsaved_reason(&self) -> Option<String> {
        unsaved_member(self.members.iter().chain(self.final_model.iter()))
    }
}

impl Predictor for StackingTrainer {
    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Prediction, TrainError> {
        let preds: Vec<Prediction> = self.members.iter().map(|m| Ok(Prediction::Proba(self.as_proba(m.predict(x)?, x.nrows())))).collect::<Result<_, TrainError>>()?;
        let z = stack_features(&preds, self.p.passthrough.then_some(x));
        match &self.final_model {
            Some(f) => f.predict(z.view()),
            None => Ok(Prediction::Proba(Array2::from_elem((x.nrows(), self.data.n_classes), 1.0 / self.data.n_classes as f64))),
        }
    }
}
