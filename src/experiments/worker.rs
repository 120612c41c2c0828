//! The torch worker: transformer runs train in a separate executable, `ratlab-torch`, so that
//! libtorch (hundreds of megabytes, with a costly static initialisation) loads only when a torch
//! run starts — never for `ratlab --version`, `validate`, the TUI or the classical algorithms —
//! and so that a crash inside libtorch fails that run, never the TUI.
//!
//! The protocol is the run store's: the runner writes one [`TorchJob`] as a JSON line on the
//! worker's stdin and reads [`RunEvent`]s, one JSON line each, from its stdout, exactly as
//! `events.jsonl` holds them. A `stop` line on stdin asks the worker to end after the current
//! step (cancellation); closing stdin does too.

use super::events::RunEvent;
use crate::backends::params::TransformerParams;
use crate::data::lm::LmDataConfig;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The worker's executable name.
pub const WORKER: &str = "ratlab-torch";

/// Everything a worker needs to train one transformer run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TorchJob {
    pub experiment: String,
    pub run: String,
    pub params: TransformerParams,
    pub seed: u64,
    pub data: LmDataConfig,
    /// The run directory: checkpoints and `model.json` are written there (none: not saved).
    pub out_dir: Option<PathBuf>,
    /// A run directory holding the checkpoint to start from.
    pub init_from: Option<PathBuf>,
}

/// Find the worker: `$RATLAB_TORCH` if set, else `ratlab-torch` beside this executable (or one
/// directory up, for test binaries under `deps/`). The error tells the user how to get it.
pub fn locate() -> Result<PathBuf, String> {
    let env = std::env::var_os("RATLAB_TORCH").map(PathBuf::from);
    locate_from(env, std::env::current_exe().ok())
}

/// [`locate`] with its inputs given (testable without touching the process environment).
pub fn locate_from(env: Option<PathBuf>, exe: Option<PathBuf>) -> Result<PathBuf, String> {
    let how = "build it with `make build` (installs torch into a project virtualenv and builds ratlab and ratlab-torch), \
               or `LIBTORCH_USE_PYTORCH=1 cargo build --release --workspace` with PyTorch 2.13 installed";
    if let Some(p) = env {
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("RATLAB_TORCH is {}, which is not the ratlab-torch worker; {how}", p.display()))
        };
    }
    let mut dirs = Vec::new();
    if let Some(dir) = exe.as_ref().and_then(|e| e.parent()) {
        dirs.push(dir.to_path_buf());
        if dir.file_name().is_some_and(|n| n == "deps") {
            if let Some(up) = dir.parent() {
                dirs.push(up.to_path_buf());
            }
        }
    }
    let name = format!("{WORKER}{}", std::env::consts::EXE_SUFFIX);
    dirs.iter().map(|d| d.join(&name)).find(|p| p.is_file()).ok_or_else(|| {
        format!("transformer runs need the torch backend, and this ratlab was built without it (no {WORKER} beside it); {how}")
    })
}

/// What the worker sent, or why it stopped talking.
pub enum FromWorker {
    Event(Box<RunEvent>),
    /// A line that is not an event (a bug in the worker); kept for the error message.
    Garbage(String),
    /// stdout closed: the worker has exited.
    Closed,
}

/// A running worker process.
pub struct Worker {
    child: Child,
    rx: mpsc::Receiver<FromWorker>,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// The thread keeping `stderr`'s tail; joined before the tail is read.
    stderr_reader: Option<std::thread::JoinHandle<()>>,
    stop_sent: Option<Instant>,
}

impl Worker {
    /// Start the worker on a job.
    pub fn spawn(job: &TorchJob) -> Result<Worker, String> {
        let exe = locate()?;
        let line = serde_json::to_string(job).map_err(|e| e.to_string())?;
        Self::spawn_with(Command::new(exe).arg("train"), &line)
    }

    /// Start `cmd` and send it `line`, the job.
    fn spawn_with(cmd: &mut Command, line: &str) -> Result<Worker, String> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the torch worker: {e}"))?;
        if let Some(stdin) = child.stdin.as_mut() {
            writeln!(stdin, "{line}").map_err(|e| format!("cannot send the job to the torch worker: {e}"))?;
        }
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().ok_or("the torch worker has no stdout")?;
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.trim().is_empty() {
                    continue;
                }
                let msg = match serde_json::from_str::<RunEvent>(&line) {
                    Ok(ev) => FromWorker::Event(Box::new(ev)),
                    Err(_) => FromWorker::Garbage(line),
                };
                if tx.send(msg).is_err() {
                    return;
                }
            }
            let _ = tx.send(FromWorker::Closed);
        });
        // libtorch's warnings go to stderr; keep the tail for error messages, never print it
        // (it would scribble over the TUI).
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut stderr_reader = None;
        if let Some(err) = child.stderr.take() {
            let keep = stderr.clone();
            stderr_reader = Some(std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    if let Ok(mut v) = keep.lock() {
                        v.push(line);
                        let n = v.len();
                        if n > 40 {
                            v.drain(..n - 40);
                        }
                    }
                }
            }));
        }
        Ok(Worker { child, rx, stderr, stderr_reader, stop_sent: None })
    }

    /// The next message, waiting at most `timeout` (`None` when nothing came).
    pub fn next(&mut self, timeout: Duration) -> Option<FromWorker> {
        match self.rx.recv_timeout(timeout) {
            Ok(m) => Some(m),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => Some(FromWorker::Closed),
        }
    }

    /// Ask the worker to stop after its current step; kill it if it has not within `grace`.
    pub fn stop(&mut self, grace: Duration) {
        match self.stop_sent {
            None => {
                self.stop_sent = Some(Instant::now());
                if let Some(stdin) = self.child.stdin.as_mut() {
                    let _ = writeln!(stdin, "stop");
                    let _ = stdin.flush();
                }
            }
            Some(t) if t.elapsed() > grace => {
                let _ = self.child.kill();
            }
            Some(_) => {}
        }
    }

    /// Wait for the process to end; its exit status and the last lines it wrote to stderr.
    pub fn finish(mut self) -> (Option<std::process::ExitStatus>, String) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = self.child.kill();
                    break self.child.wait().ok();
                }
            }
        };
        // The reader ends when stderr closes: wait for it (bounded, should something that
        // inherited the pipe keep it open), so the tail holds the last words.
        if let Some(reader) = self.stderr_reader.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !reader.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if reader.is_finished() {
                let _ = reader.join();
            }
        }
        let tail = self.stderr.lock().map(|v| v.iter().rev().take(8).rev().cloned().collect::<Vec<_>>().join("\n")).unwrap_or_default();
        (status, tail)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Never leave a worker behind (a panic in the runner, a closed TUI).
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_tail_holds_what_the_worker_wrote_last() {
        // The process exits at once; its last words reach stderr 300 ms later (from a child
        // that shares the pipe). The tail is read only once stderr has closed.
        let script = "for i in $(seq 1 100); do echo \"noise $i\" >&2; done; (sleep 0.3; echo 'the real reason' >&2) & exit 3";
        let mut w = Worker::spawn_with(Command::new("sh").args(["-c", script]), "{}").unwrap();
        while !matches!(w.next(Duration::from_secs(5)), Some(FromWorker::Closed) | None) {}
        let (status, tail) = w.finish();
        assert_eq!(status.and_then(|s| s.code()), Some(3));
        assert!(tail.ends_with("noise 100\nthe real reason"), "{tail}");
        assert_eq!(tail.lines().count(), 8, "the last 8 lines: {tail}");
    }

    #[test]
    fn without_the_worker_validation_says_how_to_get_it() {
        let d = tempfile::tempdir().unwrap();
        let e = locate_from(None, Some(d.path().join("ratlab"))).unwrap_err();
        assert!(e.contains("built without") && e.contains("make build"), "{e}");
        let e = locate_from(Some(d.path().join("nope")), None).unwrap_err();
        assert!(e.contains("RATLAB_TORCH"), "{e}");
    }

    #[test]
    fn the_worker_is_found_beside_the_binary_or_above_deps() {
        let d = tempfile::tempdir().unwrap();
        let deps = d.path().join("deps");
        std::fs::create_dir(&deps).unwrap();
        let w = d.path().join(format!("{WORKER}{}", std::env::consts::EXE_SUFFIX));
        std::fs::write(&w, b"").unwrap();
        assert_eq!(locate_from(None, Some(d.path().join("ratlab"))).unwrap(), w);
        assert_eq!(locate_from(None, Some(deps.join("main-123"))).unwrap(), w);
    }
}
