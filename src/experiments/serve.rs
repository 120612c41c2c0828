//! A model kept loaded to answer prompts as they come: the TUI's Generate view starts one
//! `ratlab-torch serve MODEL` per model it compares (a run or a pretrained checkpoint), writes
//! an [`Ask`] per prompt as a JSON line on its stdin, and reads [`Said`] lines back: the answer
//! in pieces as it is generated, then its end. The model loads once, and the process ends when
//! its stdin closes (the view is left) or it is dropped.

use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;

/// One prompt and how to answer it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ask {
    pub prompt: String,
    pub max_tokens: usize,
    /// 0: greedy.
    pub temperature: f64,
    pub top_k: usize,
    pub top_p: f64,
    pub seed: u64,
}

/// What a serving worker says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Said {
    /// Loaded: what the model is, in a few words.
    Ready { what: String },
    /// The next piece of the answer (whole characters).
    Text { text: String },
    /// The answer is complete.
    Done { tokens: usize, tokens_per_s: f64 },
    /// This prompt (or the load, before `Ready`) failed.
    Error { error: String },
}

/// A running `ratlab-torch serve`.
pub struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: mpsc::Receiver<Said>,
}

impl Server {
    /// Start the worker on `model` (a run directory or a checkpoint) with `threads` CPU
    /// threads; it loads in the background and says [`Said::Ready`] (or an error) when it can
    /// answer.
    pub fn spawn(model: &Path, device: &str, threads: usize) -> Result<Server, String> {
        let exe = super::worker::locate()?;
        let mut child = Command::new(exe)
            .arg("serve")
            .arg(model)
            .args(["--device", device])
            // Models answering side by side share the cores: more OpenMP threads than cores,
            // spinning against each other, made each answer several times slower.
            .env("OMP_NUM_THREADS", threads.max(1).to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the torch worker: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("the torch worker has no stdout")?;
        let stderr = child.stderr.take();
        let (tx, rx) = mpsc::channel();
        let errors = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let said = serde_json::from_str::<Said>(&line).unwrap_or(Said::Error { error: format!("the worker said: {line}") });
                if tx.send(said).is_err() {
                    break;
                }
            }
        });
        // A load error is printed on stderr before the worker exits: pass on its last line.
        if let Some(stderr) = stderr {
            std::thread::spawn(move || {
                let last = BufReader::new(stderr).lines().map_while(Result::ok).filter(|l| !l.trim().is_empty()).last();
                if let Some(l) = last {
                    let _ = errors.send(Said::Error { error: l.trim_start_matches("error: ").to_string() });
                }
            });
        }
        Ok(Server { child, stdin, rx })
    }

    /// Send a prompt; the answer comes back through [`Server::next`].
    pub fn ask(&mut self, ask: &Ask) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("the worker is closed")?;
        let line = serde_json::to_string(ask).map_err(|e| e.to_string())?;
        writeln!(stdin, "{line}").and_then(|_| stdin.flush()).map_err(|e| format!("the worker is gone: {e}"))
    }

    /// What the worker said since the last call, without waiting.
    pub fn next(&self) -> Option<Said> {
        self.rx.try_recv().ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
