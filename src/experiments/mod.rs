//! Experiments: the YAML format ([`spec`]), its validation into a typed plan ([`plan`]), the
//! one runner ([`runner`]) and the one event vocabulary ([`events`]) that the run store
//! ([`store`]), the console and replay all share. Transformer runs train in a separate
//! process ([`worker`]) that speaks the same events.

pub mod events;
pub mod executor;
pub mod fuzzing;
pub mod model_file;
pub mod compare;
pub mod export;
pub mod overrides;
pub mod plan;
pub mod plot;
pub mod prune;
pub mod recorded;
pub mod report;
pub mod runner;
pub mod serve;
pub mod shap_plot;
pub mod spec;
pub mod store;
pub mod tpe;
pub mod worker;
