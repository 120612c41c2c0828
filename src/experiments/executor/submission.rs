//! What was submitted, as `submission.json` keeps it: the experiment, the tasks, every job,
//! and where their logs are.

use super::{Job, SlurmOptions, Task};
use crate::error::InputError;
use crate::experiments::store;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What was submitted, as `submission.json` keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Submission {
    pub executor: String,
    /// The experiment's name (its runs' `experiment`).
    pub experiment: String,
    /// The experiment file given, and the overrides (already applied in `experiment.yaml`).
    pub source: PathBuf,
    pub sets: Vec<String>,
    /// The run store the tasks write to (absolute).
    pub out: PathBuf,
    /// The ratlab binary the tasks run, and the directory they start in.
    pub binary: PathBuf,
    pub workdir: PathBuf,
    /// Arguments every task passes on (`--limit`, `--max-trials`).
    pub pass: Vec<String>,
    pub tasks: Vec<Task>,
    pub slurm: SlurmOptions,
    /// Jobs submitted, oldest first (a resume adds one).
    pub jobs: Vec<Job>,
    /// This submission's directory (not stored).
    #[serde(skip)]
    pub dir: PathBuf,
}

impl Submission {
    /// The resolved experiment the tasks run.
    pub fn experiment_file(&self) -> PathBuf {
        self.dir.join("experiment.yaml")
    }

    /// Make the submission's directory under `out` (`<timestamp>-<experiment>-<executor>`)
    /// with the resolved experiment in it, and write `submission.json`.
    pub fn create(mut self, resolved_yaml: &str) -> Result<Submission, InputError> {
        let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
        let base = format!("{stamp}-{}-{}", store::slug(&self.experiment), self.executor);
        let mut n = 1;
        let dir = loop {
            let d = if n == 1 { self.out.join(&base) } else { self.out.join(format!("{base}-{n}")) };
            n += 1;
            match std::fs::create_dir(&d) {
                Ok(()) => break d,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(InputError::new(format!("cannot create the submission directory: {e}")).file(&d)),
            }
        };
        std::fs::create_dir_all(dir.join("logs")).map_err(|e| InputError::new(format!("cannot create logs/: {e}")).file(&dir))?;
        std::fs::write(dir.join("experiment.yaml"), resolved_yaml).map_err(|e| InputError::new(format!("cannot write: {e}")).file(dir.join("experiment.yaml")))?;
        self.dir = dir;
        self.save()?;
        Ok(self)
    }

    /// Write `submission.json` (atomically).
    pub fn save(&self) -> Result<(), InputError> {
        let path = self.dir.join("submission.json");
        let text = serde_json::to_string_pretty(self).map_err(|e| InputError::new(e.to_string()))?;
        store::write_atomic(&path, text.as_bytes()).map_err(|e| InputError::new(format!("cannot write: {e}")).file(&path))
    }

    /// Read a submission directory.
    pub fn load(dir: &Path) -> Result<Submission, InputError> {
        let path = dir.join("submission.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| InputError::new(format!("is not a ratlab submission directory (cannot read submission.json: {e})")).file(dir))?;
        let mut s: Submission = serde_json::from_str(&text).map_err(|e| InputError::new(format!("is not a submission record: {e}")).file(&path))?;
        s.dir = dir.to_path_buf();
        Ok(s)
    }

    /// The submissions under a run store, oldest first.
    pub fn list(out: &Path) -> Vec<Submission> {
        let mut v: Vec<Submission> = std::fs::read_dir(out)
            .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.join("submission.json").is_file()).filter_map(|p| Submission::load(&p).ok()).collect())
            .unwrap_or_default();
        v.sort_by(|a, b| a.dir.cmp(&b.dir));
        v
    }

    /// The submission that holds job `job` under `out`.
    pub fn find_job(out: &Path, job: &str) -> Result<Submission, InputError> {
        Submission::list(out).into_iter().rev().find(|s| s.jobs.iter().any(|j| j.id == job)).ok_or_else(|| {
            InputError::new(format!("no ratlab submission under {} has job {job}; --out names the run store the job writes to", out.display())).field("JOB")
        })
    }

    /// The task with array index `i`.
    pub fn task(&self, i: usize) -> Option<&Task> {
        self.tasks.iter().find(|t| t.index == i)
    }

    /// The task that records run `name`.
    pub fn task_of(&self, name: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.runs.iter().any(|r| r == name))
    }

    /// The log a task of a job writes (`logs/<job>_<task>.out`).
    pub fn log_of(&self, job: &str, task: usize) -> PathBuf {
        self.dir.join("logs").join(format!("{job}_{task}.out"))
    }

    /// Why a task ended without recording: the last error its log shows, if any.
    pub fn log_error(&self, job: &str, task: usize) -> Option<String> {
        let text = std::fs::read_to_string(self.log_of(job, task)).ok()?;
        let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let at = lines.iter().rposition(|l| l.contains("error"))?;
        Some(lines[at..].iter().take(3).copied().collect::<Vec<_>>().join(" "))
    }
}
