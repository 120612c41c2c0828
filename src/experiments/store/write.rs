//! Recording runs: a directory per run with its resolved experiment, the append-only event log
//! (flushed per event), `summary.json` replaced atomically, and `model.json`; and ending a run
//! whose writer is gone.

use super::owner::{writer_alive, Owner};
use super::read::read_events;
use super::{latest_finished, slug, sync_dir, temporary, write_atomic, write_synced, Summary};
use crate::experiments::events::{Flow, RunEvent, Sink};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The sink that records each run of an experiment in its own directory under `out`.
pub struct StoreSink {
    out: PathBuf,
    yaml: String,
    /// Runs being recorded (several at once with `-j`), by run index.
    open: std::collections::BTreeMap<usize, RunRecord>,
    /// Run index → its directory, once created.
    pub dirs: std::collections::BTreeMap<usize, PathBuf>,
    /// The first write failure; the runner was told to stop.
    pub error: Option<String>,
    /// Runs that ended with a `finished` event (by run index): only their checkpoints are
    /// something to start from.
    finished: std::collections::BTreeSet<usize>,
}

impl StoreSink {
    /// `resolved_yaml` is written as each run's `experiment.yaml`.
    pub fn new(out: &Path, resolved_yaml: String) -> StoreSink {
        StoreSink { out: out.to_path_buf(), yaml: resolved_yaml, open: Default::default(), dirs: Default::default(), error: None, finished: Default::default() }
    }
}

impl Sink for StoreSink {
    fn event(&mut self, run: &crate::experiments::plan::RunPlan, ev: &RunEvent) -> Flow {
        if let RunEvent::Started { experiment, .. } = ev {
            match RunRecord::create(&self.out, experiment, &run.name, &self.yaml, ev) {
                Ok(r) => {
                    self.dirs.insert(run.index, r.dir.clone());
                    self.open.insert(run.index, r);
                    // The record opens with this event.
                    return Flow::Continue;
                }
                Err(e) => {
                    self.error = Some(format!("cannot create a run directory under {}: {e}", self.out.display()));
                    return Flow::Stop;
                }
            }
        }
        if let Some(r) = self.open.get_mut(&run.index) {
            if let Err(e) = r.record(ev) {
                self.error = Some(format!("cannot write to {}: {e}", r.dir.display()));
                return Flow::Stop;
            }
        }
        if ev.is_terminal() {
            self.open.remove(&run.index);
        }
        if let RunEvent::Finished { .. } = ev {
            self.finished.insert(run.index);
        }
        Flow::Continue
    }
    fn run_dir(&self, run: &crate::experiments::plan::RunPlan) -> Option<PathBuf> {
        self.open.get(&run.index).map(|r| r.dir.clone())
    }
    fn finished_run(&self, experiment: &str, run: &crate::experiments::plan::RunPlan) -> Option<PathBuf> {
        // A checkpoint counts only once its run finished: a failed or cancelled run may have
        // left a partial one.
        if let Some(d) = self.dirs.get(&run.index).filter(|d| self.finished.contains(&run.index) && d.join("model.safetensors").is_file()) {
            return Some(d.clone());
        }
        // Run earlier (another `ratlab run --run`, the TUI): the latest finished record.
        latest_finished(&self.out, experiment, &run.name)
    }
    fn model(&mut self, run: &crate::experiments::plan::RunPlan, model: &serde_json::Value) {
        let Some(r) = self.open.get(&run.index) else { return };
        let written = serde_json::to_vec(model).map_err(io::Error::other).and_then(|b| write_atomic(&r.dir.join("model.json"), &b));
        if let Err(e) = written {
            self.error = Some(format!("cannot write the model to {}: {e}", r.dir.display()));
        }
    }
}

/// A run directory being written.
pub struct RunRecord {
    pub dir: PathBuf,
    events: File,
    summary: Option<Summary>,
}

impl RunRecord {
    /// Create `<out>/<timestamp>-<experiment>-<run>[-N]/` holding the resolved experiment, the
    /// writer (`owner.json`) and the run's first event. The directory is filled under a hidden
    /// temporary name and renamed into place, so a run directory is never seen half-made, and
    /// the rename fails rather than merge two writers' runs: several processes (`-j`, a Slurm
    /// array on a shared file system) can write one store without a lock.
    pub fn create(out: &Path, experiment: &str, run: &str, resolved_yaml: &str, started: &RunEvent) -> io::Result<RunRecord> {
        fs::create_dir_all(out)?;
        let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
        let base = format!("{stamp}-{}-{}", slug(experiment), slug(run));
        let tmp = temporary(&out.join(&base));
        fs::create_dir(&tmp)?;
        let owner = serde_json::to_vec(&Owner::this_process()).map_err(io::Error::other)?;
        // Everything the directory holds is on disk before it is renamed into place.
        write_synced(&tmp.join("owner.json"), &owner)?;
        write_synced(&tmp.join("experiment.yaml"), resolved_yaml.as_bytes())?;
        let events = OpenOptions::new().create(true).append(true).open(tmp.join("events.jsonl"))?;
        let mut rec = RunRecord { dir: tmp.clone(), events, summary: None };
        rec.record(started)?;
        rec.events.sync_data()?;
        sync_dir(&tmp)?;
        let mut n = 1;
        loop {
            let dir = if n == 1 { out.join(&base) } else { out.join(format!("{base}-{n}")) };
            n += 1;
            if dir.exists() {
                continue;
            }
            match fs::rename(&tmp, &dir) {
                Ok(()) => {
                    sync_dir(out)?;
                    rec.dir = dir;
                    return Ok(rec);
                }
                // Taken between the check and the rename: try the next name.
                Err(e) if matches!(e.kind(), io::ErrorKind::AlreadyExists | io::ErrorKind::DirectoryNotEmpty) => continue,
                Err(e) => {
                    let _ = fs::remove_dir_all(&tmp);
                    return Err(e);
                }
            }
        }
    }

    /// Append one event (flushed), and keep `summary.json` current.
    pub fn record(&mut self, ev: &RunEvent) -> io::Result<()> {
        let mut line = serde_json::to_string(ev).map_err(io::Error::other)?;
        line.push('\n');
        self.events.write_all(line.as_bytes())?;
        self.events.flush()?;
        match (&mut self.summary, ev) {
            (None, RunEvent::Started { .. }) => {
                self.summary = Summary::from_started(ev);
                self.write_summary()?;
            }
            (Some(s), _) => {
                s.apply(ev);
                if ev.is_terminal() {
                    self.events.sync_data()?;
                    self.write_summary()?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn write_summary(&self) -> io::Result<()> {
        if let Some(s) = &self.summary {
            let text = serde_json::to_string_pretty(s).map_err(io::Error::other)?;
            write_atomic(&self.dir.join("summary.json"), text.as_bytes())?;
        }
        Ok(())
    }
}

/// End a run whose writer is gone without its last event (Slurm stopped the task: time limit,
/// preemption, scancel) by appending the `failed` event that says why, and its summary. A run
/// that already ended, or whose writer is still alive on this machine, is left as it is.
/// Returns whether the run was ended here.
pub fn close_abandoned(dir: &Path, error: &str, cancelled: bool) -> io::Result<bool> {
    if writer_alive(dir) == Some(true) {
        return Ok(false);
    }
    let events = read_events(dir).unwrap_or_default();
    let Some(mut summary) = Summary::from_events(&events) else { return Ok(false) };
    if events.last().is_some_and(RunEvent::is_terminal) {
        return Ok(false);
    }
    let ev = RunEvent::Failed { error: error.to_string(), cancelled, pruned: false, t_ms: summary.elapsed_ms };
    let path = dir.join("events.jsonl");
    // A line the killed writer left half-written is cut off first: kept, it would become a
    // middle line that is not an event, and the whole record unreadable.
    let whole = fs::read(&path)?.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let f = OpenOptions::new().write(true).open(&path)?;
    f.set_len(whole as u64)?;
    let mut f = OpenOptions::new().append(true).open(&path)?;
    let mut line = serde_json::to_string(&ev).map_err(io::Error::other)?;
    line.push('\n');
    f.write_all(line.as_bytes())?;
    f.sync_data()?;
    summary.apply(&ev);
    write_atomic(&dir.join("summary.json"), serde_json::to_string_pretty(&summary).map_err(io::Error::other)?.as_bytes())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiments::plan;

    #[test]
    fn a_checkpoint_counts_only_once_its_run_finished() {
        let tmp = tempfile::tempdir().unwrap();
        let text = "name: chain\nruns:\n  - {name: pre, algorithm: estimation}\n  - {name: other, algorithm: estimation}\n";
        let p = plan::from_text(text, Path::new("chain.yaml"), Path::new("chain.yaml")).unwrap();
        let mut sink = StoreSink::new(tmp.path(), text.into());
        for (run, end) in [(&p.runs[0], RunEvent::Failed { error: "out of memory".into(), cancelled: false, pruned: false, t_ms: 5 }), (&p.runs[1], RunEvent::Finished { metrics: Default::default(), train_metrics: Default::default(), cv_std: Default::default(), t_ms: 5, artifacts: serde_json::Value::Null })] {
            sink.event(run, &crate::experiments::runner::started(&p, run, None));
            // The worker wrote its checkpoint before the run ended.
            fs::write(sink.run_dir(run).unwrap().join("model.safetensors"), b"weights").unwrap();
            sink.event(run, &end);
        }
        assert_eq!(sink.finished_run("chain", &p.runs[0]), None, "a failed run's checkpoint is not one to start from");
        assert_eq!(sink.finished_run("chain", &p.runs[1]), sink.dirs.get(&1).cloned());
    }
}
