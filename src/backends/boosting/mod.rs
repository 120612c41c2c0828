//! Native gradient boosting, xgboost's second-order algorithm on histogram trees.
//!
//! Each round fits a regression tree to the loss's second-order expansion around the current
//! margins: with gradient sums G and hessian sums H of a node's rows, the best leaf weight is
//! `w = −T_α(G) / (H + λ)` (T_α soft-thresholds by the L1 penalty α) and a split's gain is
//! `T_α(G_L)²/(H_L+λ) + T_α(G_R)²/(H_R+λ) − T_α(G)²/(H+λ)`, kept when it exceeds γ and both
//! children hold a hessian sum of at least `min_child_weight`. Leaf weights are shrunk by η.
//! Missing values go the learned default way at each split ([`crate::backends::native::hist`]).
//!
//! A round is a step. The runner's per-round curves cost no prediction over all trees: the
//! trainer keeps running margins for the training, validation and test rows and adds each new
//! tree's output (training rows straight from the leaf ranges of the partition).
//!
//! [`model`] is the fitted ensemble (what predicts, and what `model.json` keeps); [`trainer`] grows
//! it round by round.

mod model;
mod trainer;

pub use model::{Gbdt, Loss};
pub use trainer::BoostingTrainer;
