//! The raw experiment file as written by the user: serde structures that mirror the YAML
//! one-to-one, reject unknown fields, and keep each value's line and column
//! ([`serde_saphyr::Spanned`]) so that [`super::plan`] can point at the exact spot of a bad value.

use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

/// A value with its position in the file.
pub type S<T> = Spanned<T>;

/// The whole experiment file. Field names are the user-facing contract.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSpec {
    pub name: S<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub seed: Option<S<u64>>,
    #[serde(default)]
    pub data: Option<S<DataSpec>>,
    #[serde(default)]
    pub metrics: Option<S<Vec<S<String>>>>,
    pub runs: S<Vec<S<RunSpec>>>,
}

/// Where the data comes from and how it is prepared.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// A `.csv` or `.parquet` file (a text, JSONL, CSV or Parquet file for language models).
    #[serde(default)]
    pub path: Option<S<String>>,
    /// `table` (default), or a language-model form: `text`, `instructions`, `preferences`.
    #[serde(default)]
    pub format: Option<S<String>>,
    /// A synthetic generator instead of a file.
    #[serde(default)]
    pub generate: Option<S<GenerateSpec>>,
    #[serde(default)]
    pub target: Option<S<String>>,
    /// `classification` or `regression`; inferred from the algorithms when absent.
    #[serde(default)]
    pub task: Option<S<String>>,
    /// Feature columns to keep (default: every column but the target).
    #[serde(default)]
    pub features: Option<S<Vec<S<String>>>>,
    /// Feature columns to leave out.
    #[serde(default)]
    pub drop: Option<S<Vec<S<String>>>>,
    /// How string columns become numbers: `onehot` (default) or `ordinal`.
    #[serde(default)]
    pub encoding: Option<S<String>>,
    /// Missing values: `error` (default), `drop` the row, fill with the column `mean`, or
    /// `keep` them missing (for native trees and boosting).
    #[serde(default)]
    pub missing: Option<S<String>>,
    /// Standardize features (fitted on the training part only). Default true.
    #[serde(default)]
    pub standardize: Option<S<bool>>,
    #[serde(default)]
    pub split: Option<S<SplitSpec>>,
    /// Shorthand for `split: {cv: K}`.
    #[serde(default)]
    pub cv: Option<S<u64>>,
    /// Shorthand for `split: {test_path: FILE}`.
    #[serde(default)]
    pub test_path: Option<S<String>>,
    /// Training rows scored after every step: a count (default 10000; 0 = no train metrics)
    /// or `all`.
    #[serde(default)]
    pub eval_train_rows: Option<S<serde_json::Value>>,
    /// Integer columns that hold categories (with `encoding: native`).
    #[serde(default)]
    pub categorical: Option<S<Vec<S<String>>>>,
    /// Read the file this many rows at a time straight into bin codes (native gradient
    /// boosting on data larger than memory).
    #[serde(default)]
    pub chunk_rows: Option<S<u64>>,
}

/// How the data is split into training and evaluation parts: exactly one of `test`, `cv`,
/// `test_path`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSpec {
    #[serde(default)]
    pub test: Option<S<f64>>,
    #[serde(default)]
    pub stratify: Option<S<bool>>,
    #[serde(default)]
    pub cv: Option<S<u64>>,
    #[serde(default)]
    pub test_path: Option<S<String>>,
}

/// A synthetic data generator. Which fields apply depends on `kind`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateSpec {
    pub kind: S<String>,
    #[serde(default)]
    pub n_samples: Option<S<u64>>,
    #[serde(default)]
    pub n_features: Option<S<u64>>,
    #[serde(default)]
    pub n_informative: Option<S<u64>>,
    #[serde(default)]
    pub n_classes: Option<S<u64>>,
    #[serde(default)]
    pub class_sep: Option<S<f64>>,
    #[serde(default)]
    pub label_noise: Option<S<f64>>,
    #[serde(default)]
    pub noise: Option<S<f64>>,
    #[serde(default)]
    pub centers: Option<S<u64>>,
    #[serde(default)]
    pub cluster_std: Option<S<f64>>,
}

/// One run: an algorithm on a backend with parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    pub name: S<String>,
    pub algorithm: S<String>,
    #[serde(default)]
    pub backend: Option<S<String>>,
    #[serde(default)]
    pub params: Option<S<BTreeMap<String, S<serde_json::Value>>>>,
    /// Learning-curve mode: fit on growing training subsets (counts, or fractions ≤ 1).
    #[serde(default)]
    pub train_sizes: Option<S<Vec<S<f64>>>>,
    /// Overrides the experiment seed for this run.
    #[serde(default)]
    pub seed: Option<S<u64>>,
    /// A language-model run's own data (pretrain on text, then SFT on instructions, …);
    /// default: the experiment's.
    #[serde(default)]
    pub data: Option<S<DataSpec>>,
    /// Fit once per value of one parameter; each value is a step (accuracy versus k, …).
    #[serde(default)]
    pub sweep: Option<S<SweepSpec>>,
    /// Stages fitted on each training part and applied to it and its test part before the
    /// estimator: `[{pca: {n_components: 5}}]`.
    #[serde(default)]
    pub preprocess: Option<S<Vec<S<Stage>>>>,
    /// A search over trials, each recorded as its own run (`gb#03`).
    #[serde(default)]
    pub search: Option<S<SearchSpec>>,
}

/// `search: {method, space, trials, metric}`: which parameter values the trials try.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSpec {
    /// `grid` (default), `zip` or `random`.
    #[serde(default)]
    pub method: Option<S<String>>,
    /// Parameter → a list of values, or a distribution (`{uniform: [a, b]}`,
    /// `{log_uniform: [a, b]}`, `{int: [a, b]}`) for random search.
    pub space: S<BTreeMap<String, S<serde_json::Value>>>,
    /// How many trials a random search draws.
    #[serde(default)]
    pub trials: Option<S<u64>>,
    /// What "best" means (default: the experiment's first metric), on the test part.
    #[serde(default)]
    pub metric: Option<S<String>>,
    /// Stop trials whose curve lags the earlier trials': `{rule: median|halving, warmup: N}`.
    #[serde(default)]
    pub prune: Option<S<PruneSpec>>,
}

/// `prune: {rule, warmup}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneSpec {
    pub rule: S<String>,
    #[serde(default)]
    pub warmup: Option<S<u64>>,
}

/// One preprocessing stage: its name (`pca`) → its parameters.
pub type Stage = BTreeMap<String, S<BTreeMap<String, S<serde_json::Value>>>>;

/// `sweep: {param: k, values: [1, 3, 5]}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    pub param: S<String>,
    pub values: S<Vec<S<serde_json::Value>>>,
}
