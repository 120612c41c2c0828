//! Saved models: the registry of what `model.json` can hold. Each model that can be saved is a
//! type of its own family that predicts and serializes itself: the boosted ensemble
//! ([`Gbdt`]), a tree ([`TreeModel`]), a linear model ([`LinearModel`]), and ensembles of saved
//! members ([`Averaged`], [`Samme`], [`Stacked`]). This enum names them by their `kind` and hands
//! prediction to them, knowing nothing of their insides; the trainers build their entry.
//!
//! A saved model predicts with the very code the trained one used (the same tree walk, the
//! same sums in the same order), so its predictions are bit-identical.

use super::boosting::Gbdt;
use super::ensemble::{Averaged, Samme, Stacked};
use super::native::hist::TreeModel;
use super::native::linear::LinearModel;
use super::{Prediction, Predictor};
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

/// A fitted model in a form that can be written and read back, tagged by `kind`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SavedModel {
    /// Native gradient boosting.
    Boosting(Gbdt),
    /// A native CART tree.
    Tree(TreeModel),
    /// Bagging and random forests.
    Average(Averaged<SavedModel>),
    /// AdaBoost (SAMME).
    AdaBoost(Samme<SavedModel>),
    /// Stacking.
    Stacking(Stacked<SavedModel>),
    /// Multinomial (or binary) logistic regression: softmax(x·W + b).
    Logistic(LinearModel),
}

impl Predictor for SavedModel {
    fn predict(&self, x: ArrayView2<'_, f64>) -> Prediction {
        match self {
            SavedModel::Boosting(m) => m.predict(x),
            SavedModel::Tree(m) => m.predict(x),
            SavedModel::Average(m) => m.predict(x),
            SavedModel::AdaBoost(m) => m.predict(x),
            SavedModel::Stacking(m) => m.predict(x),
            SavedModel::Logistic(m) => m.predict(x),
        }
    }
}
