//! ratlab's integration tests: one test binary (so polars is linked once), one module per
//! area of user-facing behaviour.

mod boosting;
mod chunked;
mod cli;
mod crash;
mod e2e;
mod ensembles;
mod figures;
mod fixtures;
mod fuzz;
mod knn;
mod lm;
mod logistic;
mod models;
mod pca;
mod pretrained;
mod records;
mod search;
mod shap;
mod slurm;
mod trees;
mod tui;

use std::path::PathBuf;

/// The `ratlab` binary built for these tests.
pub fn cmd() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("ratlab").expect("the ratlab binary is built with the tests")
}

/// The crate root (tests run with it as the working directory).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A bundled dataset (`datasets/NAME.csv`, target column `target`), all rows, unscaled.
pub fn bundled(name: &str, task: ratlab::backends::Task) -> ratlab::data::TrainSet {
    use ratlab::data::{prepare, DataConfig, Encoding, Evaluation, Missing, Source};
    let cfg = DataConfig {
        source: Source::File(root().join(format!("datasets/{name}.csv"))),
        target: "target".into(),
        task,
        features: None,
        drop: vec![],
        encoding: Encoding::OneHot,
        categorical: vec![],
        missing: Missing::Error,
        standardize: false,
        evaluation: Evaluation::Holdout { test: 0.25, stratify: true },
        eval_train_rows: ratlab::data::EvalRows::All,
        chunk_rows: None,
    };
    prepare(&cfg, 0).expect("bundled datasets load").data.all()
}

/// The same rows with every feature standardized.
pub fn standardized(mut t: ratlab::data::TrainSet) -> ratlab::data::TrainSet {
    ratlab::data::Scaler::fit(&t.x).apply(&mut t.x);
    t
}
