//! Ensembles over any ratlab estimator: bagging, random forests (native, smartcore,
//! linfa-ensemble), AdaBoost (SAMME) and stacking. Each member added is a step, so the curves
//! show the score against the ensemble's size and the ensembles can be laid over each other.
//!
//! Averaging ensembles fit their members in parallel batches (member `i` depends only on the
//! seed and `i`, so the result is the same whatever the thread count) and keep running sums of
//! the members' predictions on the training and test rows: a step costs one member's
//! predictions, not the whole ensemble's.
//!
//! [`combine`] is how members' predictions combine, and the fitted ensembles `model.json`
//! keeps; [`averaging`] (bagging and native forests), [`adaboost`] and [`stacking`] fit them;
//! [`library`] wraps the random forests of smartcore and linfa-ensemble.

mod adaboost;
mod averaging;
mod combine;
mod library;
mod stacking;

pub use adaboost::AdaBoostTrainer;
pub use averaging::AveragingTrainer;
pub use combine::{accumulate, mean, samme_proba, stack_features, votes, Averaged, Samme, Stacked};
pub use library::{LibraryForest, LibraryForestTrainer};
pub use stacking::StackingTrainer;

use super::params::Estimator;
use super::saved::SavedModel;
use super::{build_trainer, Prediction, Predictor, TrainError, Trainer};
use crate::data::TrainSet;
use ndarray::{ArrayView2, Axis};

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
    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Prediction, TrainError> {
        match &self.features {
            Some(c) => self.predict_all(x.select(Axis(1), c).view()),
            None => self.predict_all(x),
        }
    }
    fn predict_all(&self, x: ArrayView2<'_, f64>) -> Result<Prediction, TrainError> {
        match (&self.saved, &self.trainer) {
            (Some(s), _) => s.predict(x),
            (None, Some(t)) => match t.predictor() {
                Some(p) => p.predict(x),
                None => Err(TrainError::Data("an ensemble member has no model to predict with".into())),
            },
            (None, None) => Err(TrainError::Data("an ensemble member has no model to predict with".into())),
        }
    }
}

/// Why an ensemble cannot be saved: the first member without a saved form.
pub(super) fn unsaved_member<'a>(mut members: impl Iterator<Item = &'a Member>) -> Option<String> {
    members.find_map(|m| {
        m.trainer.as_ref().map(|t| {
            t.unsaved_reason().unwrap_or_else(|| "a member cannot be saved (native trees, boosting, forests and logistic regression can; kNN and library models cannot yet)".into())
        })
    })
}
