//! Recorded runs read back for tables, figures and reports: a run directory's summary (and,
//! for curves, its events), from run directories or directories of runs; and a run's
//! parameters flattened to the dotted names searches use.

use super::events::RunEvent;
use super::store::{self, Summary};
use crate::error::InputError;
use serde_json::Value;
use std::path::PathBuf;

/// A recorded run, read back: its directory, summary and (for curves) its events.
pub struct Recorded {
    pub dir: PathBuf,
    pub summary: Summary,
    pub events: Vec<RunEvent>,
}

/// The run directories `paths` name: each a run directory, or a directory of runs (all of them,
/// oldest first). A path that is neither is an error naming it.
pub fn collect(paths: &[PathBuf], with_events: bool) -> Result<Vec<Recorded>, InputError> {
    let mut dirs = Vec::new();
    for p in paths {
        if p.join("events.jsonl").is_file() {
            dirs.push(p.clone());
        } else if p.is_dir() {
            let inner = store::list_runs(p);
            if inner.is_empty() {
                return Err(InputError::new("holds no recorded runs (no run directory with events.jsonl)").file(p));
            }
            dirs.extend(inner);
        } else {
            return Err(InputError::new("is not a run directory or a directory of runs").file(p));
        }
    }
    let mut out = Vec::with_capacity(dirs.len());
    for d in dirs {
        // summary.json is enough for a row; the events are read for curves, or when the
        // summary is missing (a run that died).
        let quick = if with_events { None } else { store::read_summary(&d) };
        let (summary, events) = match quick {
            Some(s) => (s, vec![]),
            None => {
                let log = store::read_run(&d)?;
                let s = log.summary.clone().or_else(|| Summary::from_events(&log.events)).ok_or_else(|| InputError::new("records no run (events.jsonl has no started event)").file(&d))?;
                (s, log.events)
            }
        };
        out.push(Recorded { dir: d, summary, events });
    }
    Ok(out)
}

/// A run's parameters with object-valued ones spread into dotted keys (`lora: {rank: 8}` →
/// `lora.rank: 8`), as searches name them, so a table shows the field that differs.
pub fn flat_params(params: &Value) -> serde_json::Map<String, Value> {
    fn walk(prefix: &str, v: &Value, out: &mut serde_json::Map<String, Value>) {
        match v {
            Value::Object(o) if !o.is_empty() => {
                for (k, x) in o {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&key, x, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other.clone());
            }
        }
    }
    let mut out = serde_json::Map::new();
    if let Value::Object(o) = params {
        for (k, v) in o {
            walk(k, v, &mut out);
        }
    }
    out
}
