//! Backends: the algorithm catalogue (names, parameters, which backends implement what) and the
//! [`Trainer`] interface through which the runner drives every implementation step by step.
//!
//! Native implementations own their loops and report a step per iteration; library backends
//! with a one-shot `fit` (linfa-logistic, smartcore) are a single step.

pub mod boosting;
pub mod ensemble;
pub mod estimation;
pub mod explain;
pub mod knn;
pub mod linfa;
pub mod native;
pub mod params;
pub mod pca;
pub mod saved;
pub mod smartcore;
pub mod tree;

pub use crate::data::Task;
use crate::data::TrainSet;
pub use crate::metrics::{Metrics, Prediction};
use ndarray::ArrayView2;
pub use params::{AlgoParams, ParamDef, ParamKind};
use std::fmt;

/// Where an algorithm's implementation comes from. Running one algorithm on several backends
/// side by side is a comparison ratlab exists to make easy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Native,
    Linfa,
    Smartcore,
    Torch,
}

impl Backend {
    pub const ALL: [Backend; 4] = [Backend::Native, Backend::Linfa, Backend::Smartcore, Backend::Torch];
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Native => "native",
            Backend::Linfa => "linfa",
            Backend::Smartcore => "smartcore",
            Backend::Torch => "torch",
        }
    }
    pub fn parse(s: &str) -> Option<Backend> {
        Backend::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

/// The algorithms ratlab knows, as named in `algorithm:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    LogisticRegression,
    Estimation,
    Knn,
    KnnScaling,
    Pca,
    DecisionTree,
    GradientBoosting,
    Bagging,
    RandomForest,
    AdaBoost,
    Stacking,
    /// A small LLaMA-style language model (torch backend, trained in the `ratlab-torch` worker).
    Transformer,
}

impl Algorithm {
    pub const ALL: [Algorithm; 12] = [
        Algorithm::LogisticRegression,
        Algorithm::Estimation,
        Algorithm::Knn,
        Algorithm::KnnScaling,
        Algorithm::Pca,
        Algorithm::DecisionTree,
        Algorithm::GradientBoosting,
        Algorithm::Bagging,
        Algorithm::RandomForest,
        Algorithm::AdaBoost,
        Algorithm::Stacking,
        Algorithm::Transformer,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::LogisticRegression => "logistic_regression",
            Algorithm::Estimation => "estimation",
            Algorithm::Knn => "knn",
            Algorithm::KnnScaling => "knn_scaling",
            Algorithm::Pca => "pca",
            Algorithm::DecisionTree => "decision_tree",
            Algorithm::GradientBoosting => "gradient_boosting",
            Algorithm::Bagging => "bagging",
            Algorithm::RandomForest => "random_forest",
            Algorithm::AdaBoost => "adaboost",
            Algorithm::Stacking => "stacking",
            Algorithm::Transformer => "transformer",
        }
    }
    /// Ensembles take other estimators as members.
    pub fn is_ensemble(self) -> bool {
        matches!(self, Algorithm::Bagging | Algorithm::AdaBoost | Algorithm::Stacking)
    }
    pub fn parse(s: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.as_str() == s)
    }
    /// Language models learn from text, instructions or preferences, not from a table.
    pub fn is_language_model(self) -> bool {
        self == Algorithm::Transformer
    }
    /// Backends that implement this algorithm.
    pub fn backends(self) -> &'static [Backend] {
        match self {
            Algorithm::LogisticRegression | Algorithm::Knn | Algorithm::Pca => &[Backend::Native, Backend::Linfa, Backend::Smartcore],
            Algorithm::Estimation | Algorithm::KnnScaling => &[Backend::Native],
            Algorithm::DecisionTree => &[Backend::Linfa, Backend::Smartcore, Backend::Native],
            Algorithm::RandomForest => &[Backend::Native, Backend::Smartcore, Backend::Linfa],
            Algorithm::GradientBoosting | Algorithm::Bagging | Algorithm::AdaBoost | Algorithm::Stacking => &[Backend::Native],
            Algorithm::Transformer => &[Backend::Torch],
        }
    }
    /// The tasks this algorithm can solve on a dataset; empty when it takes no dataset.
    pub fn tasks(self) -> &'static [Task] {
        match self {
            Algorithm::LogisticRegression | Algorithm::AdaBoost | Algorithm::Stacking => &[Task::Classification],
            Algorithm::Knn | Algorithm::Pca | Algorithm::DecisionTree | Algorithm::GradientBoosting | Algorithm::Bagging | Algorithm::RandomForest => {
                &[Task::Classification, Task::Regression]
            }
            Algorithm::Estimation | Algorithm::KnnScaling | Algorithm::Transformer => &[],
        }
    }
    /// Whether runs of this algorithm train on the experiment's dataset.
    pub fn uses_data(self) -> bool {
        !self.tasks().is_empty()
    }
    /// What one step is on the x axis of its curves.
    pub fn x_label(self) -> &'static str {
        match self {
            Algorithm::LogisticRegression => "iteration",
            Algorithm::Estimation => "sample size",
            Algorithm::Knn => "step",
            Algorithm::KnnScaling => "dimension",
            Algorithm::Pca => "components",
            Algorithm::DecisionTree => "step",
            Algorithm::GradientBoosting | Algorithm::AdaBoost => "round",
            Algorithm::Bagging | Algorithm::RandomForest | Algorithm::Stacking => "members",
            Algorithm::Transformer => "step",
        }
    }
}

/// Why training stopped without a model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    /// A loss or parameter became NaN or infinite.
    #[error("diverged: {0}")]
    Diverged(String),
    /// The estimator has no finite solution on this data (e.g. MLE on separable classes).
    #[error("{0}")]
    NoOptimum(String),
    /// The data cannot be used by this algorithm/backend (too few classes, …).
    #[error("{0}")]
    Data(String),
    /// A library backend reported an error.
    #[error("{backend} backend: {message}")]
    Backend { backend: &'static str, message: String },
}

impl TrainError {
    /// A library backend's error, with the backend's name.
    pub fn backend(backend: &'static str, e: impl std::fmt::Display) -> TrainError {
        TrainError::Backend { backend, message: e.to_string() }
    }
}

/// What a trainer reports after one step.
#[derive(Debug, Clone, Default)]
pub struct StepOut {
    /// Optimizer figures (objective, gradient norm, …) or, for trainers without a model,
    /// the step's metrics.
    pub metrics: Metrics,
    /// The x value of this step when it is not the step count (sample size, …).
    pub x: Option<f64>,
    /// No further steps.
    pub done: bool,
    /// A note for the user (converged, hit the iteration limit, …).
    pub message: Option<String>,
}

/// A fitted (or partly fitted) model that can be evaluated.
pub trait Predictor: Send + Sync {
    /// Predict a batch of rows. A backend that cannot (a library refusing the rows) says why:
    /// the run fails with that reason instead of finishing with figures it never computed.
    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Prediction, TrainError>;
}

/// One training procedure, advanced one step at a time by the runner.
///
/// Step-wise training is what makes live curves possible, and it gives the runner a place to
/// check for cancellation and divergence between steps without the backend knowing about it.
/// Trainers are `Send + Sync` so that ensembles can fit and query their members on several
/// threads.
pub trait Trainer: Send + Sync {
    fn step(&mut self) -> Result<StepOut, TrainError>;
    /// The current model, for the runner to evaluate on train and test data. `None` for
    /// trainers that report their own metrics (the estimation demo).
    fn predictor(&self) -> Option<&dyn Predictor>;
    /// Number of steps expected, when known.
    fn total_steps(&self) -> Option<u64> {
        None
    }
    /// For trainers without a predictor: the final metrics, when they are not simply the
    /// last step's (PCA reports the chosen number of components).
    fn final_metrics(&self) -> Option<Metrics> {
        None
    }
    /// What a view needs beyond curves (PCA's scree and projection), recorded with the end
    /// of the run.
    fn artifacts(&self) -> Option<serde_json::Value> {
        None
    }
    /// Predictions on (rows `train_rows` of) the training set and on the test set the trainer
    /// was built with, when it keeps them up to date itself — boosting adds each tree's output
    /// to running margins — so the runner need not predict with the whole model every step.
    fn staged(&self, _train_rows: &[usize]) -> Option<(Prediction, Option<Prediction>)> {
        None
    }
    /// Called once after the last step. Returns true when it changed the model (early stopping
    /// keeps the best round), so the runner evaluates once more for the final metrics.
    fn finish(&mut self) -> bool {
        false
    }
    /// The fitted model in the form `model.json` keeps, when this model can be saved.
    fn saved(&self) -> Option<saved::SavedModel> {
        None
    }
    /// Why the model cannot be saved, for the user.
    fn unsaved_reason(&self) -> Option<String> {
        None
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of saved model this ratlab reads back from `model.json`, and how: the catalogue
/// names every model type that can be saved, so that the saved-model format knows none of them.
pub fn saved_kinds() -> [(&'static str, saved::Reader); 6] {
    use saved::{reader, SavedModel};
    [
        reader::<boosting::Gbdt>(),
        reader::<native::hist::TreeModel>(),
        reader::<ensemble::Averaged<SavedModel>>(),
        reader::<ensemble::Samme<SavedModel>>(),
        reader::<ensemble::Stacked<SavedModel>>(),
        reader::<native::linear::LinearModel>(),
    ]
}

/// Build the trainer for a run. `data` is the training set (absent for the estimation demo),
/// `test` the part some trainers measure themselves on (PCA's reconstruction error).
pub fn build_trainer(
    backend: Backend,
    params: &AlgoParams,
    data: Option<&TrainSet>,
    test: Option<&TrainSet>,
    seed: u64,
) -> Result<Box<dyn Trainer>, TrainError> {
    let need = |what: &str| data.ok_or_else(|| TrainError::Data(format!("{what} needs a dataset")));
    match (params, backend) {
        (AlgoParams::Tree(p), Backend::Native) => Ok(Box::new(native::cart::CartTrainer::new(p, need("decision_tree")?, seed)?)),
        (AlgoParams::Tree(p), b) => Ok(Box::new(tree::TreeTrainer::new(p.tree.clone(), b, need("decision_tree")?)?)),
        (AlgoParams::Boosting(p), _) => Ok(Box::new(boosting::BoostingTrainer::new(p.clone(), need("gradient_boosting")?, test, seed)?)),
        (AlgoParams::Bagging(p), _) => Ok(Box::new(ensemble::AveragingTrainer::bagging(p.clone(), need("bagging")?, test, seed)?)),
        (AlgoParams::Forest(p), Backend::Native) => Ok(Box::new(ensemble::AveragingTrainer::forest(p.clone(), need("random_forest")?, test, seed)?)),
        (AlgoParams::Forest(p), b) => Ok(Box::new(ensemble::LibraryForestTrainer::new(p, b, need("random_forest")?, seed)?)),
        (AlgoParams::AdaBoost(p), _) => Ok(Box::new(ensemble::AdaBoostTrainer::new(p.clone(), need("adaboost")?, test, seed)?)),
        (AlgoParams::Stacking(p), _) => Ok(Box::new(ensemble::StackingTrainer::new(p.clone(), need("stacking")?, seed)?)),
        (AlgoParams::Pca(p), b) => {
            let data = data.ok_or_else(|| TrainError::Data("pca needs a dataset".into()))?;
            Ok(Box::new(pca::PcaTrainer::new(p.clone(), b, data, test)?))
        }
        (AlgoParams::Transformer(_), _) => Err(TrainError::Backend {
            backend: "torch",
            message: "transformer runs train in the ratlab-torch worker process, not in this one".into(),
        }),
        (AlgoParams::Estimation(p), _) => Ok(Box::new(estimation::EstimationTrainer::new(p.clone(), seed))),
        (AlgoParams::KnnScaling(p), _) => Ok(Box::new(knn::ScalingTrainer::new(p.clone(), seed))),
        (AlgoParams::Knn(p), b) => {
            let data = data.ok_or_else(|| TrainError::Data("knn needs a dataset".into()))?;
            Ok(Box::new(knn::KnnTrainer::new(p.clone(), b, data)?))
        }
        (AlgoParams::Logistic(p), b) => {
            let data = data.ok_or_else(|| TrainError::Data("logistic regression needs a dataset".into()))?;
            match b {
                Backend::Native => Ok(Box::new(native::logistic::NativeLogistic::new(p.clone(), data)?)),
                Backend::Linfa => Ok(Box::new(linfa::LinfaLogistic::new(p.clone(), data)?)),
                Backend::Smartcore => Ok(Box::new(smartcore::SmartcoreLogistic::new(p.clone(), data)?)),
                Backend::Torch => Err(TrainError::Backend {
                    backend: "torch",
                    message: "logistic regression is not implemented on torch yet".into(),
                }),
            }
        }
    }
}
