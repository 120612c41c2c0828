//! Which process writes a run (`owner.json`: host, pid and its start time, or the Slurm array
//! task), and whether it is still alive.

use serde::{Deserialize, Serialize};
use std::fs;
use std::path::Path;

/// The process writing a run: host, pid and the pid's start time (so a reused pid is not taken
/// for the writer).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub(super) struct Owner {
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
    pub(super) fn this_process() -> Owner {
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
