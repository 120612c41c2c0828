//! Data: loading CSV/Parquet through polars ([`table`]), encoding string columns and missing
//! values into a numeric matrix with class labels ([`encode`]), synthetic generators
//! ([`generate`]), seeded splits ([`split`]), and here the data section's types, the folds an
//! evaluation asks for and standardization. Every conversion between polars and ndarray happens
//! in this folder, once.

pub mod generate;
pub mod limits;
pub mod lm;
pub mod split;
pub mod table;

mod encode;

pub use encode::Encoder;

use crate::error::{quote, InputError};
use ndarray::{Array1, Array2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The learning problem a dataset poses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    Classification,
    Regression,
}

impl Task {
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
        }
    }
}

/// How string columns become numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// One 0/1 column per category (`col=value`).
    OneHot,
    /// One column holding the category's index in sorted order.
    Ordinal,
}

/// What to do with missing cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    /// Stop with an error naming the column and row.
    Error,
    /// Drop rows with a missing feature or target.
    Drop,
    /// Fill numeric features with the training file's column mean (string columns with the
    /// most frequent category); rows without a target are dropped.
    Mean,
    /// Keep missing feature cells as missing (NaN) for the algorithms that handle them
    /// (native trees and boosting learn where missing values go); rows without a target are
    /// dropped.
    Keep,
}

/// How many training rows the runner scores after every step for the `train.` curves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalRows {
    /// Every training row.
    All,
    /// A seeded, stratified subsample of at most this many rows (0: no train metrics).
    AtMost(usize),
}

/// How the model is evaluated.
#[derive(Debug, Clone, PartialEq)]
pub enum Evaluation {
    /// A seeded random test split of the given fraction.
    Holdout { test: f64, stratify: bool },
    /// Seeded k-fold cross-validation; final metrics are the fold means.
    CrossValidation { folds: usize, stratify: bool },
    /// A separate test file with the same columns.
    TestFile(PathBuf),
}

/// Parameters of a synthetic generator.
#[derive(Debug, Clone, PartialEq)]
pub enum GenConfig {
    /// Gaussian classes around vertices of a hypercube in `n_informative` dimensions, plus
    /// pure-noise features, with a fraction of labels flipped at random.
    Classification { n_samples: usize, n_features: usize, n_informative: usize, n_classes: usize, class_sep: f64, label_noise: f64 },
    /// y = X·w + ε with `n_informative` non-zero weights.
    Regression { n_samples: usize, n_features: usize, n_informative: usize, noise: f64 },
    /// Isotropic Gaussian clusters; the cluster is the class.
    Blobs { n_samples: usize, n_features: usize, centers: usize, cluster_std: f64 },
}

/// Where rows come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    File(PathBuf),
    Generate(GenConfig),
}

/// A validated `data:` section.
#[derive(Debug, Clone, PartialEq)]
pub struct DataConfig {
    pub source: Source,
    pub target: String,
    pub task: Task,
    pub features: Option<Vec<String>>,
    pub drop: Vec<String>,
    pub encoding: Encoding,
    pub missing: Missing,
    pub standardize: bool,
    pub evaluation: Evaluation,
    pub eval_train_rows: EvalRows,
}

/// How many [`quiet_catch`] calls are running. A reader's panic may happen on one of its own
/// worker threads (polars' pool) and reach us when the pool re-raises it, so quietness is
/// process-wide while one runs.
static QUIET: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Run `f`, turning a panic into its message. The panic is not printed (with
/// [`install_quiet_hook`]): the caller reports it as an error of the input.
pub fn quiet_catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    use std::sync::atomic::Ordering;
    QUIET.fetch_add(1, Ordering::SeqCst);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.fetch_sub(1, Ordering::SeqCst);
    r.map_err(|p| p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_else(|| "panic".into()))
}

/// Keep the panic hook quiet for panics [`quiet_catch`] turns into errors (every other panic
/// prints as before). Called once by the command line.
pub fn install_quiet_hook() {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if QUIET.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            prev(info);
        }
    }));
}

/// A numeric dataset ready for learning.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Rows × features, row-major.
    pub x: Array2<f64>,
    /// Class index (as f64) for classification, the value for regression.
    pub y: Array1<f64>,
    pub feature_names: Vec<String>,
    pub target: String,
    pub task: Task,
    /// Class labels in index order (empty for regression).
    pub classes: Vec<String>,
    /// Where the rows came from, for messages.
    pub source: String,
}

impl Dataset {
    pub fn n_classes(&self) -> usize {
        self.classes.len()
    }
    /// Rows `idx` as a training set.
    pub fn subset(&self, idx: &[usize]) -> TrainSet {
        TrainSet { x: self.x.select(Axis(0), idx), y: self.y.select(Axis(0), idx), n_classes: self.n_classes(), weights: None }
    }
    /// Every row as a training set: the matrix copied in parallel (on a million rows the copy is
    /// mostly fresh pages faulted in, which one thread does at half the speed of two).
    pub fn all(&self) -> TrainSet {
        let x = match self.x.as_slice() {
            Some(v) => {
                let mut copy = Vec::with_capacity(v.len());
                copy.par_extend(v.par_iter().copied());
                Array2::from_shape_vec(self.x.raw_dim(), copy).unwrap_or_else(|_| self.x.clone())
            }
            None => self.x.clone(),
        };
        TrainSet { x, y: self.y.clone(), n_classes: self.n_classes(), weights: None }
    }
}

/// Rows handed to a trainer or evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSet {
    pub x: Array2<f64>,
    pub y: Array1<f64>,
    /// Number of classes of the whole dataset (0 for regression), even when a subset lacks some.
    pub n_classes: usize,
    /// Per-row sample weights (AdaBoost's reweighting); `None` means every row weighs 1.
    pub weights: Option<Array1<f64>>,
}

impl TrainSet {
    pub fn labels(&self) -> Vec<usize> {
        self.y.iter().map(|v| *v as usize).collect()
    }
    pub fn len(&self) -> usize {
        self.x.nrows()
    }
    pub fn is_empty(&self) -> bool {
        self.x.nrows() == 0
    }
    pub fn subset(&self, idx: &[usize]) -> TrainSet {
        TrainSet {
            x: self.x.select(Axis(0), idx),
            y: self.y.select(Axis(0), idx),
            n_classes: self.n_classes,
            weights: self.weights.as_ref().map(|w| w.select(Axis(0), idx)),
        }
    }
    /// A training set from a matrix and targets, every row weighing 1.
    pub fn new(x: Array2<f64>, y: Array1<f64>, n_classes: usize) -> TrainSet {
        TrainSet { x, y, n_classes, weights: None }
    }
    /// Row `i`'s sample weight.
    pub fn weight(&self, i: usize) -> f64 {
        self.weights.as_ref().map_or(1.0, |w| w[i])
    }
}

/// One train/test pair, standardized with the training part's statistics.
#[derive(Debug, Clone)]
pub struct Fold {
    pub train: TrainSet,
    pub test: TrainSet,
    /// The standardization fitted on the training part (saved with a model).
    pub scaler: Option<Scaler>,
    /// Training rows the runner scores for the `train.` curves (`data.eval_train_rows`).
    pub eval_rows: Vec<usize>,
}

/// The data of an experiment: the training rows and, with `test_path`, the test rows.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub data: Dataset,
    pub test: Option<Dataset>,
    /// How the file's columns became features (generated data: its numeric columns).
    pub encoder: Encoder,
}

/// Load, encode and check the data an experiment describes.
pub fn prepare(cfg: &DataConfig, seed: u64) -> Result<Prepared, InputError> {
    match &cfg.source {
        Source::Generate(g) => {
            let data = generate::generate(g, seed);
            let encoder = Encoder::numeric(&data.feature_names, cfg, data.classes.clone());
            Ok(Prepared { data, test: None, encoder })
        }
        Source::File(path) => {
            let table = table::read_table(path)?;
            let src = path.display().to_string();
            let enc = Encoder::fit(&table, cfg, &src)?;
            let data = enc.apply(&table, &src, true)?;
            let test = match &cfg.evaluation {
                Evaluation::TestFile(tp) => {
                    let tt = table::read_table(tp)?;
                    let missing: Vec<&str> =
                        table.names().into_iter().filter(|n| tt.column(n).is_none() && enc.uses(n)).collect();
                    if !missing.is_empty() {
                        return Err(InputError::new(format!(
                            "the test file lacks column(s) {} that the training file {} has",
                            missing.iter().map(|m| quote(m)).collect::<Vec<_>>().join(", "),
                            src
                        ))
                        .file(tp));
                    }
                    Some(enc.apply(&tt, &tp.display().to_string(), true)?)
                }
                _ => None,
            };
            Ok(Prepared { data, test, encoder: enc })
        }
    }
}

/// Per-feature mean and standard deviation of a training part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub mean: Array1<f64>,
    pub std: Array1<f64>,
}

impl Scaler {
    /// Fit on `x`; constant columns get std 1 so they pass through centred. Missing values
    /// (NaN, with `missing: keep`) are left out of the statistics and stay missing.
    pub fn fit(x: &Array2<f64>) -> Scaler {
        let mut mean = Array1::zeros(x.ncols());
        let mut std = Array1::zeros(x.ncols());
        for (j, col) in x.columns().into_iter().enumerate() {
            let (s, n) = col.iter().filter(|v| !v.is_nan()).fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
            let n = n.max(1) as f64;
            mean[j] = s / n;
            let v = col.iter().filter(|v| !v.is_nan()).map(|a| (a - mean[j]).powi(2)).sum::<f64>() / n;
            std[j] = if v > 1e-24 { v.sqrt() } else { 1.0 };
        }
        Scaler { mean, std }
    }
    pub fn apply(&self, x: &mut Array2<f64>) {
        for mut row in x.rows_mut() {
            for j in 0..row.len() {
                row[j] = (row[j] - self.mean[j]) / self.std[j];
            }
        }
    }
}

/// Build the train/test folds an evaluation asks for, each standardized (when asked) with
/// its own training part's statistics.
pub fn folds(p: &Prepared, cfg: &DataConfig, seed: u64) -> Vec<Fold> {
    let d = &p.data;
    let labels: Option<Vec<usize>> = (d.task == Task::Classification).then(|| d.all().labels());
    let pairs: Vec<(TrainSet, TrainSet)> = match (&cfg.evaluation, &p.test) {
        (Evaluation::TestFile(_), Some(t)) => vec![(d.all(), t.all())],
        (Evaluation::Holdout { .. }, _) | (Evaluation::TestFile(_), None) => {
            let (test, stratify) = match &cfg.evaluation {
                Evaluation::Holdout { test, stratify } => (*test, *stratify),
                _ => (0.25, true),
            };
            let strat = if stratify { labels.as_deref() } else { None };
            let (tr, te) = split::holdout(d.x.nrows(), test, strat, seed);
            vec![(d.subset(&tr), d.subset(&te))]
        }
        (Evaluation::CrossValidation { folds, stratify }, _) => {
            let strat = if *stratify { labels.as_deref() } else { None };
            split::kfold(d.x.nrows(), *folds, strat, seed)
                .into_iter()
                .map(|(tr, te)| (d.subset(&tr), d.subset(&te)))
                .collect()
        }
    };
    pairs
        .into_iter()
        .map(|(mut train, mut test)| {
            let scaler = cfg.standardize.then(|| {
                let s = Scaler::fit(&train.x);
                s.apply(&mut train.x);
                s.apply(&mut test.x);
                s
            });
            let eval_rows = eval_rows(&train, cfg.eval_train_rows, seed);
            Fold { train, test, scaler, eval_rows }
        })
        .collect()
}

/// The training rows scored after each step: all, none, or a seeded stratified subsample
/// (sorted) fixed for the run.
pub fn eval_rows(train: &TrainSet, rows: EvalRows, seed: u64) -> Vec<usize> {
    let n = train.len();
    match rows {
        EvalRows::All => (0..n).collect(),
        EvalRows::AtMost(0) => vec![],
        EvalRows::AtMost(m) if m >= n => (0..n).collect(),
        EvalRows::AtMost(m) => {
            let labels = (train.n_classes > 0).then(|| train.labels());
            let (_, keep) = split::holdout(n, m as f64 / n as f64, labels.as_deref(), seed ^ 0xe7a1);
            keep
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaler_centres_and_scales_training_columns() {
        let mut x = ndarray::array![[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]];
        let s = Scaler::fit(&x);
        s.apply(&mut x);
        assert!((x.column(0).sum()).abs() < 1e-12);
        let var = x.column(0).mapv(|v| v * v).sum() / 3.0;
        assert!((var - 1.0).abs() < 1e-12);
        assert_eq!(x.column(1).to_vec(), vec![0.0, 0.0, 0.0], "constant column passes through centred");
    }
}
