//! The run store: one directory per run, `<out>/<timestamp>-<experiment>-<run>/`, holding the
//! resolved experiment (`experiment.yaml`), the append-only event log (`events.jsonl`, flushed
//! per event) and `summary.json` (replaced atomically). Readers tolerate a torn last line left
//! by a crash, so nothing already recorded is ever lost.
//!
//! [`summary`] is what a run came to; [`write`] records runs ([`StoreSink`]) and ends runs whose
//! writer is gone; [`read`] reads them back (and follows one another process writes); [`owner`]
//! knows which process writes a run. Here: names, atomic writes and finding runs.

mod owner;
mod read;
mod summary;
mod write;

pub use owner::{slurm_task, writer_alive, written_here, SlurmTask};
pub use read::{read_run, read_summary, settled, EventTail, RunLog};
pub use summary::Summary;
pub use write::{close_abandoned, RunRecord, StoreSink};

use super::events::Status;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Keep names safe for directory names on every platform.
pub fn slug(s: &str) -> String {
    let out: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' }).collect();
    out.trim_matches('.').chars().take(60).collect()
}

/// Write via a temporary file and rename, so readers never see half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()?;
    }
    fs::rename(&tmp, path)
}

/// A run's recorded experiment (`experiment.yaml`) as JSON; null when unreadable.
pub fn read_experiment(dir: &Path) -> serde_json::Value {
    fs::read_to_string(dir.join("experiment.yaml")).ok().and_then(|t| serde_saphyr::from_str(&t).ok()).unwrap_or_default()
}

/// The newest finished record of `experiment`/`run` under `out` that holds a checkpoint
/// (`model.safetensors`): where `init_from: RUN` finds a run that ran earlier.
pub fn latest_finished(out: &Path, experiment: &str, run: &str) -> Option<PathBuf> {
    list_runs(out).into_iter().rev().find(|d| {
        d.join("model.safetensors").is_file()
            && read_run(d).ok().and_then(|l| Summary::from_events(&l.events)).is_some_and(|s| s.experiment == experiment && s.run == run && s.status == Status::Finished)
    })
}

/// Run directories under `out` not in `known`, oldest first: for followers that look again
/// every second (the TUI, a Slurm submission), which need not stat what they already saw — on a
/// shared file system every stat counts. `contains` narrows to names holding that text (run
/// directories are named `<timestamp>-<experiment>-<run>`).
pub fn new_runs(out: &Path, known: &std::collections::HashSet<PathBuf>, contains: Option<&str>) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(out)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    !name.starts_with('.') && contains.is_none_or(|c| name.contains(c))
                })
                .map(|e| e.path())
                .filter(|p| !known.contains(p) && p.join("events.jsonl").is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Run directories under `out`, oldest first.
pub fn list_runs(out: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(out)
        .map(|rd| {
            rd.filter_map(Result::ok)
                // Hidden names are run directories still being made (or abandoned before they were).
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .map(|e| e.path())
                .filter(|p| p.join("events.jsonl").is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiments::events::RunEvent;
    use std::fs::OpenOptions;

    fn started() -> RunEvent {
        RunEvent::Started {
            experiment: "e".into(),
            run: "r".into(),
            algorithm: "a".into(),
            backend: "native".into(),
            params: serde_json::json!({}),
            seed: 1,
            x_label: "iteration".into(),
            total_steps: None,
            started_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_earlier_events_survive() {
        let tmp = tempfile::tempdir().unwrap();
        let mut rec = RunRecord::create(tmp.path(), "exp", "run 1", "name: exp\n", &started()).unwrap();
        rec.record(&RunEvent::Step { step: 1, x: 1.0, fold: None, metrics: [("objective".to_string(), 0.5)].into(), t_ms: 3 }).unwrap();
        drop(rec);
        let dir = list_runs(tmp.path()).pop().unwrap();
        assert!(dir.file_name().unwrap().to_str().unwrap().ends_with("-exp-run_1"));
        // Simulate a crash mid-write.
        let mut f = OpenOptions::new().append(true).open(dir.join("events.jsonl")).unwrap();
        f.write_all(b"{\"event\":\"step\",\"st").unwrap();
        let log = read_run(&dir).unwrap();
        assert!(log.torn_tail);
        assert_eq!(log.events.len(), 2);
        assert_eq!(log.summary.unwrap().status, Status::Running);
    }

    #[test]
    fn a_corrupt_middle_line_is_an_error_naming_the_line() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("events.jsonl"), "garbage\n{}\n").unwrap();
        let e = read_run(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }
}
