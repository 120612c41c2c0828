//! ratlab: a terminal workbench for machine-learning experiments.
//!
//! The crate is one engine with several consumers (see `DESIGN.md`): an experiment file is
//! parsed into a raw [`experiments::spec`], validated into a typed [`experiments::plan`], and
//! executed by the one [`experiments::runner`], which pushes [`experiments::events::RunEvent`]s
//! into sinks — the run store, the headless console, and (next) the TUI.

pub mod backends;
pub mod cli;
pub mod data;
pub mod error;
pub mod experiments;
pub mod metrics;
pub mod ui;

pub use error::InputError;
