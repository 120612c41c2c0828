//! Executors: where an experiment's trials run when they leave this process. The runner runs one
//! run; an executor hands whole `ratlab run --trial I` invocations to a batch engine (Slurm is
//! the one ratlab ships), and a [`Watch`] gathers what they record into the one run store, which
//! takes concurrent writers on a shared file system without a lock.
//!
//! A submission lives in `<out>/<timestamp>-<experiment>-<executor>/`: `submission.json` (what
//! was asked and each job submitted), the resolved `experiment.yaml` the tasks run, the job
//! scripts and the tasks' logs (`logs/`). The runs themselves are ordinary run directories
//! beside it, each naming the array task that wrote it in `owner.json`.
//!
//! Here: the [`Executor`] interface, where a task stands, and Slurm's array-index syntax;
//! [`tasks`] splits a plan into array tasks, [`submission`] is what was submitted, [`watch`]
//! follows it.

pub mod slurm;

mod submission;
mod tasks;
mod watch;

pub use submission::Submission;
pub use tasks::{stages, tasks_of, Task};
pub use watch::{Counts, Record, Update, Watch};

use crate::error::InputError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Where a task stands, as its executor reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    /// Waiting to start (Slurm's reason: `Resources`, `JobArrayTaskLimit`, …).
    Pending { reason: String },
    Running,
    /// Ended: `state` is the engine's word (`COMPLETED`, `FAILED`, `TIMEOUT`, `CANCELLED`,
    /// `PREEMPTED`, `NODE_FAIL`, `OUT_OF_MEMORY`, …) and `reason` its explanation, if any.
    Ended { state: String, reason: String, exit_code: Option<String> },
    /// The engine no longer knows the task (finished long ago and aged out): the store tells.
    Unknown,
}

impl TaskState {
    pub fn is_ended(&self) -> bool {
        matches!(self, TaskState::Ended { .. } | TaskState::Unknown)
    }
    /// How the engine ended a task that did not complete on its own; `None` while it runs, when
    /// it completed, and when nothing is known.
    pub fn abnormal_end(&self) -> Option<String> {
        match self {
            TaskState::Ended { state, reason, .. } if state != "COMPLETED" => {
                let why = if reason.is_empty() || reason == "None" { String::new() } else { format!(" ({reason})") };
                Some(format!("{state}{why}"))
            }
            _ => None,
        }
    }
    /// A short word for listings.
    pub fn word(&self) -> String {
        match self {
            TaskState::Pending { .. } => "PENDING".into(),
            TaskState::Running => "RUNNING".into(),
            TaskState::Ended { state, .. } => state.clone(),
            TaskState::Unknown => "gone".into(),
        }
    }
}

/// A batch engine that runs array tasks: submit, poll, cancel. Slurm is the one ratlab ships;
/// another engine (PBS, LSF, Kubernetes jobs) implements the same four calls.
pub trait Executor {
    /// The engine's name, as `--executor` spells it.
    fn name(&self) -> &'static str;
    /// The engine's name in messages ("Slurm").
    fn title(&self) -> &'static str;
    /// Check the engine's commands are here, before anything is written.
    fn check(&self) -> Result<(), InputError>;
    /// The job script that runs `tasks` of `sub` (readable: users open it to see what runs),
    /// starting only after the jobs `after` completed successfully.
    fn script(&self, sub: &Submission, tasks: &[usize], after: &[String]) -> String;
    /// Submit a job script; returns the engine's job id. A refusal carries the engine's message.
    fn submit(&self, script: &Path) -> Result<String, InputError>;
    /// Where each task of a job stands, by array index. `Err` when the engine cannot be asked
    /// right now (the controller is down); the caller retries.
    fn poll(&self, job: &str) -> Result<BTreeMap<usize, TaskState>, String>;
    /// Cancel a job's tasks that have not ended.
    fn cancel(&self, job: &str) -> Result<(), String>;
}

/// A job handed to the engine: one array over some of the submission's tasks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Job {
    pub id: String,
    /// Array indices it runs.
    pub tasks: Vec<usize>,
    /// Its script, in the submission directory.
    pub script: String,
    pub submitted_at: String,
}

impl Job {
    /// Seconds since the job was submitted (large when unknown).
    pub fn age_secs(&self) -> i64 {
        chrono::DateTime::parse_from_rfc3339(&self.submitted_at).map_or(i64::MAX, |t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())
    }
}

/// Options of the Slurm executor (`--partition`, `--time`, …), kept with the submission so a
/// resume submits alike.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub time: Option<String>,
    pub cpus_per_trial: u32,
    pub max_parallel: Option<u32>,
    pub sbatch_args: Vec<String>,
}

/// Compact array indices the way Slurm's `--array` takes them: `0-11`, `3,5,7-9`.
pub fn index_ranges(indices: &[usize]) -> String {
    let mut v: Vec<usize> = indices.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        parts.push(if i == j { v[i].to_string() } else { format!("{}-{}", v[i], v[j]) });
        i = j + 1;
    }
    parts.join(",")
}

/// Parse Slurm array indices (`0-11%4`, `3,5,7-9`, `[2-5%2]`) back into a list.
pub fn parse_ranges(s: &str) -> Option<Vec<usize>> {
    let s = s.trim().trim_start_matches('[').trim_end_matches(']');
    let s = s.split('%').next()?;
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
                if b < a || b - a > 1_000_000 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_indices_round_trip_through_slurm_syntax() {
        assert_eq!(index_ranges(&[0, 1, 2, 3]), "0-3");
        assert_eq!(index_ranges(&[7, 3, 5, 8, 9]), "3,5,7-9");
        assert_eq!(index_ranges(&[4]), "4");
        assert_eq!(parse_ranges("0-11%4"), Some((0..=11).collect()));
        assert_eq!(parse_ranges("[2-5%2]"), Some(vec![2, 3, 4, 5]));
        assert_eq!(parse_ranges("3,5,7-9"), Some(vec![3, 5, 7, 8, 9]));
        assert_eq!(parse_ranges("N/A"), None);
        for v in [vec![0usize], vec![1, 2, 3, 10, 12, 13], (0..100).step_by(3).collect()] {
            assert_eq!(parse_ranges(&index_ranges(&v)), Some(v.clone()));
        }
    }

    #[test]
    fn tasks_run_trial_i_of_each_search_then_each_plain_run() {
        let text = "name: t\nseed: 1\ndata: {generate: {kind: blobs, n_samples: 60, n_features: 2, centers: 2}}\nruns:\n  - name: base\n    algorithm: logistic_regression\n  - name: a\n    algorithm: knn\n    search: {space: {k: [1, 3, 5]}}\n  - name: b\n    algorithm: knn\n    search: {space: {k: [7, 9]}}\n";
        let plan = crate::experiments::plan::from_text(text, Path::new("t.yaml"), Path::new("t.yaml")).unwrap();
        let tasks = tasks_of(&plan, None);
        let shown: Vec<(usize, String, usize)> = tasks.iter().map(|t| (t.index, t.args.join(" "), t.runs.len())).collect();
        assert_eq!(shown, vec![(0, "--trial 0".into(), 2), (1, "--trial 1".into(), 2), (2, "--trial 2".into(), 1), (3, "--run base".into(), 1)]);
        assert!(tasks.iter().all(|t| t.after.is_empty()));
        // Only search b selected (`--run b`): its trials say so, so the task runs b's trial alone.
        let only_b: Vec<usize> = plan.runs.iter().filter(|r| r.trial.as_ref().is_some_and(|t| t.search == "b")).map(|r| r.index).collect();
        let tasks = tasks_of(&plan, Some(&only_b));
        let shown: Vec<String> = tasks.iter().map(|t| t.args.join(" ")).collect();
        assert_eq!(shown, vec!["--trial 0 --run b", "--trial 1 --run b"]);
    }

    #[test]
    fn abnormal_ends_carry_the_engines_reason() {
        let ended = |s: &str, r: &str| TaskState::Ended { state: s.into(), reason: r.into(), exit_code: None };
        assert_eq!(ended("COMPLETED", "None").abnormal_end(), None);
        assert_eq!(ended("TIMEOUT", "TimeLimit").abnormal_end().as_deref(), Some("TIMEOUT (TimeLimit)"));
        assert_eq!(ended("CANCELLED", "None").abnormal_end().as_deref(), Some("CANCELLED"));
        assert_eq!(TaskState::Running.abnormal_end(), None);
        assert!(TaskState::Unknown.is_ended() && !TaskState::Pending { reason: "Resources".into() }.is_ended());
    }
}
