//! The one event type of a run. The same value is the channel message from the runner, the
//! JSON line in `events.jsonl`, and the input of replay — there is no second vocabulary.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use crate::metrics::Metrics;

/// Final status of a run, as written in `summary.json` and the JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Running,
    Finished,
    Failed,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Finished => "finished",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }
}

/// Severity of a free-text message in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Info,
    Warning,
}

/// Something that happened in a run. Serialized with an `event` tag, one per line.
///
/// Times are milliseconds since the run started (`t_ms`), never wall-clock, so a replay renders
/// exactly like the live run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    /// The run began: what it is, with which parameters and seed.
    Started {
        experiment: String,
        run: String,
        algorithm: String,
        backend: String,
        params: serde_json::Value,
        seed: u64,
        /// What a step means on the x axis (`iteration`, `train_size`, `n`).
        x_label: String,
        /// Steps expected, when known (for progress bars).
        total_steps: Option<u64>,
        /// Wall-clock start, RFC 3339; for listings only, never rendered into curves.
        started_at: String,
    },
    /// One training step: its x value and metrics.
    Step {
        step: u64,
        x: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fold: Option<u32>,
        metrics: Metrics,
        t_ms: u64,
    },
    /// A note from the runner or the algorithm (separable data, convergence, a skipped point).
    Message { level: Level, text: String, t_ms: u64 },
    /// The run ended normally with its final metrics (test set, or CV mean).
    Finished {
        metrics: Metrics,
        #[serde(default)]
        train_metrics: Metrics,
        /// Per-metric standard deviation over CV folds (empty without CV).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        cv_std: Metrics,
        t_ms: u64,
        /// What a view needs beyond curves (PCA's scree and projection).
        #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
        artifacts: serde_json::Value,
    },
    /// The run ended without a result: an error, divergence, or cancellation.
    Failed {
        error: String,
        #[serde(default)]
        cancelled: bool,
        t_ms: u64,
    },
}

impl RunEvent {
    /// True for the events that end a run.
    pub fn is_terminal(&self) -> bool {
        matches!(self, RunEvent::Finished { .. } | RunEvent::Failed { .. })
    }
}
