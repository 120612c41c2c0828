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

/// Write via a temporary file and rename, so readers never see half a file and a crash leaves
/// the old file or the new one, never neither.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temporary(path);
    match write_synced(&tmp, bytes) {
        Ok(()) => commit(&tmp, path),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Create `path` with `bytes`, on disk when this returns.
pub fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(bytes)?;
    f.sync_data()
}

/// A temporary name beside `path`, its own to this process and call (hidden, so listings skip
/// it): two writers of one file never write into each other's half-made copy. The extension
/// stays last (`.model.4242-7.tmp.safetensors`), for writers that choose a format by it.
pub fn temporary(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SERIAL: AtomicU64 = AtomicU64::new(0);
    let n = SERIAL.fetch_add(1, Ordering::Relaxed);
    let stem = path.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let ext = path.extension().map_or_else(String::new, |e| format!(".{}", e.to_string_lossy()));
    path.with_file_name(format!(".{stem}.{}-{n}.tmp{ext}", std::process::id()))
}

/// Put a finished temporary file in place of `path` (rename, then sync the directory, so the
/// rename itself survives a crash).
pub fn commit(tmp: &Path, path: &Path) -> io::Result<()> {
    fs::rename(tmp, path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Make a directory's entries (files created, renamed into it) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    File::open(dir)?.sync_all()
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
    fn closing_a_run_a_killed_writer_left_cuts_its_torn_line_first() {
        let tmp = tempfile::tempdir().unwrap();
        let step = RunEvent::Step { step: 1, x: 1.0, fold: None, metrics: [("objective".to_string(), 0.5)].into(), t_ms: 3 };
        let mut text = String::new();
        for ev in [started(), step] {
            text += &serde_json::to_string(&ev).unwrap();
            text.push('\n');
        }
        text += "{\"event\":\"step\",\"st";
        fs::write(tmp.path().join("events.jsonl"), text).unwrap();
        assert!(close_abandoned(tmp.path(), "Slurm stopped the task: TIMEOUT (TimeLimit)", false).unwrap());
        let log = read_run(tmp.path()).expect("the record stays readable");
        assert!(!log.torn_tail);
        assert_eq!(log.events.len(), 3, "started, step, failed");
        let s = log.summary.unwrap();
        assert_eq!((s.status, s.error.as_deref()), (Status::Failed, Some("Slurm stopped the task: TIMEOUT (TimeLimit)")));
    }

    #[test]
    fn writers_of_one_file_never_meet_in_a_temporary_copy() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("summary.json");
        let (a, b) = (vec![b'a'; 64 << 10], vec![b'b'; 64 << 10]);
        std::thread::scope(|s| {
            for bytes in [&a, &b] {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..100 {
                        write_atomic(path, bytes).expect("each write lands whole");
                    }
                });
            }
        });
        let last = fs::read(&path).unwrap();
        assert!(last == a || last == b, "the file is one writer's whole copy");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1, "no temporary copy is left behind");
    }

    #[test]
    fn following_a_run_keeps_characters_split_between_two_reads() {
        let tmp = tempfile::tempdir().unwrap();
        let line = serde_json::to_string(&RunEvent::Message { level: crate::experiments::events::Level::Info, text: "round 3 · done — ok".into(), t_ms: 1 }).unwrap() + "\n";
        let cut = line.find('·').unwrap() + 1; // inside the two bytes of '·'
        let path = tmp.path().join("events.jsonl");
        fs::write(&path, &line.as_bytes()[..cut]).unwrap();
        let mut tail = EventTail::new(tmp.path());
        assert!(tail.read_new().is_empty(), "no line is complete yet");
        OpenOptions::new().append(true).open(&path).unwrap().write_all(&line.as_bytes()[cut..]).unwrap();
        let evs = tail.read_new();
        assert!(matches!(&evs[..], [RunEvent::Message { text, .. }] if text == "round 3 · done — ok"), "{evs:?}");
    }

    #[test]
    fn a_corrupt_middle_line_is_an_error_naming_the_line() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("events.jsonl"), "garbage\n{}\n").unwrap();
        let e = read_run(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }
}
