//! Native Rust implementations: the step-wise estimators whose every iteration ratlab shows,
//! and small dense linear algebra they share.

pub mod cart;
pub mod categories;
pub mod hist;
pub mod kdtree;
pub mod linalg;
pub mod linear;
pub mod logistic;
pub mod pages;
pub mod shap;
