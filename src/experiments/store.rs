//! The run store: one directory per run, `<out>/<timestamp>-<experiment>-<run>/`, holding the
//! resolved experiment (`experiment.yaml`), the append-only event log (`events.jsonl`, flushed
//! per event) and `summary.json` (replaced atomically). Readers tolerate a torn last line left
//! by a crash, so nothing already recorded is ever lost.

use super::events::{Flow, Metrics, RunEvent, Sink, Status};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

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
            RunEvent::Sample { t_ms, .. } => self.elapsed_ms = *t_ms,
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
}

impl StoreSink {
    /// `resolved_yaml` is written as each run's `experiment.yaml`.
    pub fn new(out: &Path, resolved_yaml: String) -> StoreSink {
        StoreSink { out: out.to_path_buf(), yaml: resolved_yaml, open: Default::default(), dirs: Default::default(), error: None }
    }
}

impl Sink for StoreSink {
    fn event(&mut self, run: &super::plan::RunPlan, ev: &RunEvent) -> Flow {
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
        Flow::Continue
    }
    fn run_dir(&self, run: &super::plan::RunPlan) -> Option<PathBuf> {
        self.open.get(&run.index).map(|r| r.dir.clone())
    }
    fn finished_run(&self, experiment: &str, run: &super::plan::RunPlan) -> Option<PathBuf> {
        let has_model = |d: &Path| d.join("model.safetensors").is_file();
        if let Some(d) = self.dirs.get(&run.index).filter(|d| has_model(d)) {
            return Some(d.clone());
        }
        // Run earlier (another `ratlab run --run`, the TUI): the latest finished record.
        latest_finished(&self.out, experiment, &run.name)
    }
    fn model(&mut self, run: &super::plan::RunPlan, model: &serde_json::Value) {
        let Some(r) = self.open.get(&run.index) else { return };
        let written = serde_json::to_vec(model).map_err(io::Error::other).and_then(|b| write_atomic(&r.dir.join("model.json"), &b));
        if let Err(e) = written {
            self.error = Some(format!("cannot write the model to {}: {e}", r.dir.display()));
        }
    }
}

/// Keep names safe for directory names on every platform.
pub fn slug(s: &str) -> String {
    let out: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' }).collect();
    out.trim_matches('.').chars().take(60).collect()
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
        use std::sync::atomic::{AtomicU64, Ordering};
        static SERIAL: AtomicU64 = AtomicU64::new(0);
        fs::create_dir_all(out)?;
        let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
        let base = format!("{stamp}-{}-{}", slug(experiment), slug(run));
        let tmp = out.join(format!(".{base}.{}-{}.tmp", std::process::id(), SERIAL.fetch_add(1, Ordering::Relaxed)));
        fs::create_dir(&tmp)?;
        let owner = serde_json::to_vec(&Owner::this_process()).map_err(io::Error::other)?;
        fs::write(tmp.join("owner.json"), owner)?;
        fs::write(tmp.join("experiment.yaml"), resolved_yaml.as_bytes())?;
        let events = OpenOptions::new().create(true).append(true).open(tmp.join("events.jsonl"))?;
        let mut rec = RunRecord { dir: tmp.clone(), events, summary: None };
        rec.record(started)?;
        let mut n = 1;
        loop {
            let dir = if n == 1 { out.join(&base) } else { out.join(format!("{base}-{n}")) };
            n += 1;
            if dir.exists() {
                continue;
            }
            match fs::rename(&tmp, &dir) {
                Ok(()) => {
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

/// Events read back from a run directory.
#[derive(Debug, Clone)]
pub struct RunLog {
    pub dir: PathBuf,
    pub events: Vec<RunEvent>,
    /// The last line was cut short (the process died mid-write); it was skipped.
    pub torn_tail: bool,
    /// `summary.json` as written (else made from the events), with a run whose writer is gone
    /// read as interrupted.
    pub summary: Option<Summary>,
}

/// Read a run directory. A malformed line other than a torn last line is an error naming it.
pub fn read_run(dir: &Path) -> Result<RunLog, crate::error::InputError> {
    use crate::error::InputError;
    let path = dir.join("events.jsonl");
    let f = File::open(&path).map_err(|e| {
        InputError::new(format!("is not a ratlab run directory (cannot open events.jsonl: {e})")).file(dir)
    })?;
    let mut lines: Vec<String> = Vec::new();
    let mut reader = BufReader::new(f);
    let mut last_complete = true;
    loop {
        let mut buf = String::new();
        let n = reader.read_line(&mut buf).map_err(|e| InputError::new(format!("cannot read: {e}")).file(&path))?;
        if n == 0 {
            break;
        }
        last_complete = buf.ends_with('\n');
        lines.push(buf);
    }
    let mut events = Vec::with_capacity(lines.len());
    let mut torn_tail = false;
    let count = lines.len();
    for (i, l) in lines.iter().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<RunEvent>(l) {
            Ok(e) => events.push(e),
            Err(_) if i + 1 == count && !last_complete => torn_tail = true,
            Err(e) => {
                return Err(InputError::new(format!("line {} is not a run event: {e}", i + 1)).file(&path));
            }
        }
    }
    // Without summary.json (cut off before it was written), the events tell.
    let summary = read_summary(dir).or_else(|| {
        Summary::from_events(&events).map(|mut s| {
            s.status = settled(dir, s.status);
            s
        })
    });
    Ok(RunLog { dir: dir.to_path_buf(), events, torn_tail, summary })
}

/// `summary.json` of a run directory, if present and readable (a quick look that skips the
/// events), with a run whose writer is gone read as interrupted.
pub fn read_summary(dir: &Path) -> Option<Summary> {
    let mut s: Summary = fs::read_to_string(dir.join("summary.json")).ok().and_then(|t| serde_json::from_str(&t).ok())?;
    if s.status == Status::Running && settled(dir, s.status) == Status::Interrupted {
        // The writer died after the run's last event but before summary.json caught up: the
        // events are the record.
        let events = read_events(dir).unwrap_or_default();
        s = match Summary::from_events(&events) {
            Some(from_events) if from_events.status != Status::Running => from_events,
            _ => Summary { status: Status::Interrupted, ..s },
        };
    }
    Some(s)
}

/// The complete events of a run directory (a torn last line skipped).
fn read_events(dir: &Path) -> Option<Vec<RunEvent>> {
    let text = fs::read_to_string(dir.join("events.jsonl")).ok()?;
    Some(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
}

/// A recorded status as it stands now: a run still `running` whose writing process has ended
/// (killed, out of memory, the machine restarted) is `interrupted`.
pub fn settled(dir: &Path, status: Status) -> Status {
    if status == Status::Running && writer_alive(dir) == Some(false) {
        Status::Interrupted
    } else {
        status
    }
}

/// The process writing a run: host, pid and the pid's start time (so a reused pid is not taken
/// for the writer).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Owner {
    host: String,
    pid: u32,
    start: Option<u64>,
    /// The Slurm array task that ran the writer, when it ran as one: how a Slurm submission
    /// finds its trials' records in a shared store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    slurm: Option<SlurmTask>,
}

/// A task of a Slurm job array: the array's job id and the task's index in it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SlurmTask {
    pub job: String,
    pub task: usize,
}

impl SlurmTask {
    /// The array task this process runs as, from the environment Slurm gives it.
    fn of_this_process() -> Option<SlurmTask> {
        let job = std::env::var("SLURM_ARRAY_JOB_ID").ok().filter(|j| !j.is_empty())?;
        let task = std::env::var("SLURM_ARRAY_TASK_ID").ok()?.parse().ok()?;
        Some(SlurmTask { job, task })
    }
}

impl Owner {
    fn this_process() -> Owner {
        let pid = std::process::id();
        Owner { host: hostname(), pid, start: process_start(pid), slurm: SlurmTask::of_this_process() }
    }
}

/// The Slurm array task that wrote a run, if a Slurm task wrote it.
pub fn slurm_task(dir: &Path) -> Option<SlurmTask> {
    let owner: Owner = serde_json::from_slice(&fs::read(dir.join("owner.json")).ok()?).ok()?;
    owner.slurm
}

/// Whether this very process writes the run (the TUI tells its own runs from other writers').
pub fn written_here(dir: &Path) -> bool {
    let Ok(bytes) = fs::read(dir.join("owner.json")) else { return false };
    serde_json::from_slice::<Owner>(&bytes).is_ok_and(|o| o.pid == std::process::id() && o.host == hostname())
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
    let mut f = OpenOptions::new().append(true).open(&path)?;
    // A line torn by the killed writer is closed off first, so the new event stands on its own.
    let torn = fs::read(&path)?.last().is_some_and(|&b| b != b'\n');
    let mut line = if torn { "\n".to_string() } else { String::new() };
    line.push_str(&serde_json::to_string(&ev).map_err(io::Error::other)?);
    line.push('\n');
    f.write_all(line.as_bytes())?;
    f.sync_data()?;
    summary.apply(&ev);
    write_atomic(&dir.join("summary.json"), serde_json::to_string_pretty(&summary).map_err(io::Error::other)?.as_bytes())?;
    Ok(true)
}

/// Follows a run's `events.jsonl` as another process writes it: each call returns the events
/// completed since the last (a line still being written waits for its newline).
#[derive(Debug)]
pub struct EventTail {
    path: PathBuf,
    offset: u64,
    partial: String,
}

impl EventTail {
    pub fn new(dir: &Path) -> EventTail {
        EventTail { path: dir.join("events.jsonl"), offset: 0, partial: String::new() }
    }

    /// The events appended since the last call; lines that are not events are skipped.
    pub fn read_new(&mut self) -> Vec<RunEvent> {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut f) = File::open(&self.path) else { return vec![] };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return vec![];
        }
        let mut buf = Vec::new();
        let Ok(n) = f.read_to_end(&mut buf) else { return vec![] };
        self.offset += n as u64;
        self.partial.push_str(&String::from_utf8_lossy(&buf));
        let mut out = Vec::new();
        while let Some(i) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=i).collect();
            if let Ok(ev) = serde_json::from_str(line.trim_end()) {
                out.push(ev);
            }
        }
        out
    }
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// When a process started (clock ticks since boot, from /proc), or `None` if it is gone.
fn process_start(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22, counted after the command name, which is in parentheses and may hold spaces.
    stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process that wrote a run is alive: `Some(false)` when it ran on this machine and
/// is gone, `None` when that cannot be told (another host, no /proc, an older record).
pub fn writer_alive(dir: &Path) -> Option<bool> {
    if !Path::new("/proc/self/stat").exists() {
        return None;
    }
    let owner: Owner = serde_json::from_slice(&fs::read(dir.join("owner.json")).ok()?).ok()?;
    if owner.host != hostname() {
        return None;
    }
    Some(match (process_start(owner.pid), owner.start) {
        (None, _) => false,
        (Some(now), Some(then)) => now == then,
        (Some(_), None) => true,
    })
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
