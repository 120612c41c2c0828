//! ratlab's integration tests: one test binary (so polars is linked once), one module per
//! area of user-facing behaviour.

mod cli;
mod e2e;
mod fixtures;
mod knn;
mod logistic;
mod pca;
mod records;
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
