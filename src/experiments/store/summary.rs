//! What a run came to: built live from its events and read back from `summary.json`, the
//! same value either way.

use crate::experiments::events::{Metrics, RunEvent, Status};
use serde::{Deserialize, Serialize};

/// What a run came to; the same value is built live and from `events.jsonl` on replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub experiment: String,
    pub run: String,
    pub algorithm: String,
    pub backend: String,
    pub status: Status,
    pub params: serde_json::Value,
    pub seed: u64,
    /// Final test metrics (CV mean with cross-validation).
    pub metrics: Metrics,
    pub train_metrics: Metrics,
    #[serde(default)]
    pub cv_std: Metrics,
    pub steps: u64,
    pub error: Option<String>,
    pub messages: Vec<String>,
    pub started_at: String,
    pub elapsed_ms: u64,
}

impl Summary {
    /// Start a summary from the `started` event.
    pub fn from_started(ev: &RunEvent) -> Option<Summary> {
        match ev {
            RunEvent::Started { experiment, run, algorithm, backend, params, seed, started_at, .. } => Some(Summary {
                experiment: experiment.clone(),
                run: run.clone(),
                algorithm: algorithm.clone(),
                backend: backend.clone(),
                status: Status::Running,
                params: params.clone(),
                seed: *seed,
                metrics: Metrics::new(),
                train_metrics: Metrics::new(),
                cv_std: Metrics::new(),
                steps: 0,
                error: None,
                messages: vec![],
                started_at: started_at.clone(),
                elapsed_ms: 0,
            }),
            _ => None,
        }
    }

    /// Fold one event into the summary.
    pub fn apply(&mut self, ev: &RunEvent) {
        match ev {
            RunEvent::Started { .. } => {}
            RunEvent::Step { t_ms, .. } => {
                self.steps += 1;
                self.elapsed_ms = *t_ms;
            }
            RunEvent::Message { text, t_ms, .. } => {
                self.messages.push(text.clone());
                self.elapsed_ms = *t_ms;
            }
            RunEvent::Sample { t_ms, .. } | RunEvent::Phase { t_ms, .. } => self.elapsed_ms = *t_ms,
            RunEvent::Finished { metrics, train_metrics, cv_std, t_ms, .. } => {
                self.status = Status::Finished;
                self.metrics = metrics.clone();
                self.train_metrics = train_metrics.clone();
                self.cv_std = cv_std.clone();
                self.elapsed_ms = *t_ms;
            }
            RunEvent::Failed { error, cancelled, pruned, t_ms } => {
                self.status = Status::of_failure(*cancelled, *pruned);
                self.error = Some(error.clone());
                self.elapsed_ms = *t_ms;
            }
        }
    }

    /// Rebuild a summary from a run's events (replay).
    pub fn from_events(events: &[RunEvent]) -> Option<Summary> {
        let mut s = Summary::from_started(events.first()?)?;
        for e in &events[1..] {
            s.apply(e);
        }
        Some(s)
    }
}
