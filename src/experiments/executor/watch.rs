//! Following a submission: the engine's word on its tasks, the runs they record in the store as
//! they land, runs Slurm stopped settled with its reason, and the best record of each run.

use super::{Executor, Submission, TaskState};
use crate::experiments::events::{RunEvent, Status};
use crate::experiments::plan::{Plan, RunPlan};
use crate::experiments::store::{self, EventTail, Summary};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

/// A run recorded by one of a submission's tasks.
#[derive(Debug, Clone)]
pub struct Record {
    pub dir: PathBuf,
    pub job: String,
    pub task: usize,
    pub run: String,
    /// Where the run stands, kept from the events as they are read (so a poll reads no
    /// summaries): running until its end event, or until its writer is found gone.
    pub status: Status,
}

/// How many of a submission's runs stand where (the progress line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub pending: usize,
    pub running: usize,
    pub finished: usize,
    pub failed: usize,
}

/// Follows a submission: asks the engine where its tasks stand and reads the runs they record
/// in the store as they land (each run's new events, for live progress).
pub struct Watch<'a> {
    pub sub: Submission,
    exec: &'a dyn Executor,
    /// Store directories already looked at (so each is read once).
    seen: HashSet<PathBuf>,
    pub records: Vec<Record>,
    tails: BTreeMap<PathBuf, EventTail>,
    /// The last states the engine gave, by job then array index.
    pub states: BTreeMap<String, BTreeMap<usize, TaskState>>,
    /// How often the engine is asked (the store is read at every update): a cluster's
    /// controller is shared, so it is asked less often than the cheap store is read.
    pub engine_every: std::time::Duration,
    last_engine: Option<std::time::Instant>,
}

/// What one look at a submission found.
pub struct Update {
    /// New events of the submission's runs, by run name, in the order written.
    pub events: Vec<(String, RunEvent)>,
    /// The engine could not be asked (it is retried): its message.
    pub unavailable: Option<String>,
}

impl<'a> Watch<'a> {
    pub fn new(sub: Submission, exec: &'a dyn Executor) -> Watch<'a> {
        Watch { sub, exec, seen: HashSet::new(), records: vec![], tails: BTreeMap::new(), states: BTreeMap::new(), engine_every: std::time::Duration::ZERO, last_engine: None }
    }

    /// Look again: the engine's task states and the store's new records and events.
    pub fn update(&mut self) -> Update {
        let mut unavailable = None;
        let due = self.last_engine.is_none_or(|t| t.elapsed() >= self.engine_every);
        for job in self.sub.jobs.iter().filter(|_| due) {
            match self.exec.poll(&job.id) {
                // A job the engine does not list yet, just after submission (a busy controller),
                // is not taken for one that ended and was forgotten.
                Ok(s) if s.is_empty() && !self.states.contains_key(&job.id) && job.age_secs() < 120 => {}
                Ok(s) => {
                    self.states.insert(job.id.clone(), s);
                }
                Err(e) => unavailable = Some(e),
            }
        }
        if due {
            self.last_engine = Some(std::time::Instant::now());
        }
        let ours: HashSet<&str> = self.sub.jobs.iter().map(|j| j.id.as_str()).collect();
        let name = format!("-{}-", store::slug(&self.sub.experiment));
        for dir in store::new_runs(&self.sub.out, &self.seen, Some(&name)) {
            self.seen.insert(dir.clone());
            if let Some(t) = store::slurm_task(&dir).filter(|t| ours.contains(t.job.as_str())) {
                let run = store::read_summary(&dir).map(|s| s.run).unwrap_or_default();
                self.records.push(Record { dir: dir.clone(), job: t.job, task: t.task, run, status: Status::Running });
                let tail = EventTail::new(&dir);
                self.tails.insert(dir, tail);
            }
        }
        let mut events = Vec::new();
        for r in &mut self.records {
            let Some(tail) = self.tails.get_mut(&r.dir) else { continue };
            for ev in tail.read_new() {
                match &ev {
                    RunEvent::Finished { .. } => r.status = Status::Finished,
                    RunEvent::Failed { cancelled, pruned, .. } => r.status = Status::of_failure(*cancelled, *pruned),
                    _ => {}
                }
                events.push((r.run.clone(), ev));
            }
            if r.status == Status::Running {
                r.status = store::settled(&r.dir, r.status);
            }
            // A run that ended is not read again (one whose writer is gone is, for the end
            // `settle` gives it).
            if !matches!(r.status, Status::Running | Status::Interrupted) {
                self.tails.remove(&r.dir);
            }
        }
        Update { events, unavailable }
    }

    /// Ask the engine at the next update, whenever it was last asked (every run has landed:
    /// the tasks are about to end).
    pub fn ask_engine_now(&mut self) {
        self.last_engine = None;
    }

    /// Whether the engine last said the task that wrote record `r` had not ended.
    fn engine_runs(&self, r: &Record) -> bool {
        self.states.get(&r.job).and_then(|s| s.get(&r.task)).is_some_and(|st| !st.is_ended())
    }

    /// The state of array task `i` in its latest job.
    pub fn task_state(&self, i: usize) -> Option<(&str, &TaskState)> {
        self.sub.jobs.iter().rev().filter(|j| j.tasks.contains(&i)).find_map(|j| self.states.get(&j.id).and_then(|s| s.get(&i)).map(|st| (j.id.as_str(), st)))
    }

    /// Whether every task of every job has ended.
    pub fn all_ended(&self) -> bool {
        self.sub.jobs.iter().all(|j| {
            let states = self.states.get(&j.id);
            j.tasks.iter().all(|i| match states {
                // A task the engine does not list (it aged out, or the job was purged) ended.
                Some(s) => s.get(i).is_none_or(TaskState::is_ended),
                None => false,
            })
        })
    }

    /// End the records that tasks stopped by the engine left open (time limit, preemption,
    /// node failure, scancel), with the engine's reason. Returns how many were ended.
    pub fn settle(&mut self) -> usize {
        let mut n = 0;
        let title = self.exec.title();
        for r in self.records.iter_mut().filter(|r| matches!(r.status, Status::Running | Status::Interrupted)) {
            let Some(state) = self.states.get(&r.job).map(|s| s.get(&r.task).cloned().unwrap_or(TaskState::Unknown)) else { continue };
            let why = match &state {
                TaskState::Ended { .. } => state.abnormal_end(),
                TaskState::Unknown => Some("the task ended with no record of why (Slurm no longer lists it)".into()),
                _ => None,
            };
            let Some(why) = why else { continue };
            let cancelled = matches!(&state, TaskState::Ended { state, .. } if state == "CANCELLED");
            let text = format!("{title} stopped the task: {why}");
            if store::close_abandoned(&r.dir, &text, cancelled).unwrap_or(false) {
                r.status = Status::of_failure(cancelled, false);
                n += 1;
            }
        }
        n
    }

    /// Each run's latest record: a finished one wins, else the newest.
    pub fn best_records(&self) -> BTreeMap<String, &Record> {
        let mut out: BTreeMap<String, &Record> = BTreeMap::new();
        let job_order = |j: &str| self.sub.jobs.iter().position(|x| x.id == j).unwrap_or(0);
        let finished = |r: &Record| r.status == Status::Finished;
        for r in &self.records {
            let replace = match out.get(&r.run) {
                None => true,
                Some(old) => match (finished(old), finished(r)) {
                    (true, false) => false,
                    (false, true) => true,
                    _ => (job_order(&r.job), &r.dir) > (job_order(&old.job), &old.dir),
                },
            };
            if replace {
                out.insert(r.run.clone(), r);
            }
        }
        out
    }

    /// Runs by where they stand: pending (no record yet, task not ended), running, finished
    /// (or pruned) and failed (failed, cancelled, interrupted, or ended with no record).
    pub fn counts(&self) -> Counts {
        let best = self.best_records();
        let mut c = Counts::default();
        for t in &self.sub.tasks {
            for run in &t.runs {
                match best.get(run) {
                    Some(r) => match r.status {
                        Status::Running => c.running += 1,
                        // Its writer is gone but the engine still runs its task: the engine is
                        // stopping it (a time limit, scancel) and will say why; until it does,
                        // the run has not ended.
                        Status::Interrupted if self.engine_runs(r) => c.running += 1,
                        Status::Finished | Status::Pruned => c.finished += 1,
                        _ => c.failed += 1,
                    },
                    None => match self.task_state(t.index) {
                        Some((_, st)) if st.is_ended() => c.failed += 1,
                        // Started but not yet recorded counts as running.
                        Some((_, TaskState::Running)) => c.running += 1,
                        _ => c.pending += 1,
                    },
                }
            }
        }
        c
    }

    /// The outcome of every run of the submission, in plan order: its summary and directory,
    /// or, for a run its task never recorded, a summary saying why (the engine's state and the
    /// task's log) and no directory.
    pub fn outcomes(&self, plan: &Plan) -> Vec<(RunPlan, Summary, PathBuf)> {
        let best = self.best_records();
        let mut rows = Vec::new();
        for run in &plan.runs {
            let Some(task) = self.sub.task_of(&run.name) else { continue };
            if let Some(r) = best.get(&run.name) {
                if let Ok(log) = store::read_run(&r.dir) {
                    if let Some(s) = log.summary {
                        rows.push((run.clone(), s, r.dir.clone()));
                        continue;
                    }
                }
            }
            let (job, state) = self.task_state(task.index).map_or_else(|| (String::new(), TaskState::Unknown), |(j, s)| (j.to_string(), s.clone()));
            let why = match &state {
                TaskState::Pending { reason } => format!("not started: pending ({reason})"),
                TaskState::Running => "not recorded yet".into(),
                TaskState::Ended { state, exit_code, .. } => {
                    let code = exit_code.as_deref().map(|c| format!(", exit code {c}")).unwrap_or_default();
                    let log = self.sub.log_error(&job, task.index).map(|l| format!(": {l}")).unwrap_or_default();
                    format!("task {job}_{} ended {state}{code} without recording the run{log}", task.index)
                }
                TaskState::Unknown => format!("task {job}_{} ended without recording the run", task.index),
            };
            let cancelled = matches!(&state, TaskState::Ended { state, .. } if state == "CANCELLED");
            let events = [crate::experiments::runner::started(plan, run, None), RunEvent::Failed { error: why, cancelled, pruned: false, t_ms: 0 }];
            if let Some(mut s) = Summary::from_events(&events) {
                s.started_at = String::new();
                rows.push((run.clone(), s, PathBuf::new()));
            }
        }
        rows
    }

    /// The array indices whose runs have no finished (or pruned) record: what a resume submits.
    pub fn unfinished(&self) -> Vec<usize> {
        let best = self.best_records();
        self.sub
            .tasks
            .iter()
            .filter(|t| {
                !t.runs.iter().all(|run| best.get(run).is_some_and(|r| matches!(r.status, Status::Finished | Status::Pruned)))
            })
            .map(|t| t.index)
            .collect()
    }

    /// Jobs with tasks that have not ended, and how many.
    pub fn live_jobs(&self) -> Vec<(String, usize)> {
        self.sub
            .jobs
            .iter()
            .filter_map(|j| {
                let states = self.states.get(&j.id)?;
                let n = j.tasks.iter().filter(|i| states.get(i).is_some_and(|s| !s.is_ended())).count();
                (n > 0).then(|| (j.id.clone(), n))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::InputError;
    use std::path::Path;

    /// An engine that only answers with the states it was given.
    struct Fixed(BTreeMap<usize, TaskState>);

    impl Executor for Fixed {
        fn name(&self) -> &'static str {
            "fixed"
        }
        fn title(&self) -> &'static str {
            "Fixed"
        }
        fn check(&self) -> Result<(), InputError> {
            Ok(())
        }
        fn script(&self, _sub: &Submission, _tasks: &[usize], _after: &[String]) -> String {
            String::new()
        }
        fn submit(&self, _script: &Path) -> Result<String, InputError> {
            Ok("1".into())
        }
        fn poll(&self, _job: &str) -> Result<BTreeMap<usize, TaskState>, String> {
            Ok(self.0.clone())
        }
        fn cancel(&self, _job: &str) -> Result<(), String> {
            Ok(())
        }
    }

    fn submission() -> Submission {
        serde_json::from_value(serde_json::json!({
            "executor": "fixed", "experiment": "e", "source": "e.yaml", "sets": [], "out": "/nonexistent", "binary": "ratlab",
            "workdir": ".", "pass": [], "tasks": [{"index": 0, "args": ["--trial", "0"], "runs": ["gb#0"]}],
            "slurm": {"partition": null, "time": null, "cpus_per_trial": 1, "max_parallel": null, "sbatch_args": []}, "jobs": [{"id": "1", "tasks": [0], "script": "job.sbatch", "submitted_at": "2026-01-01T00:00:00Z"}]
        }))
        .unwrap()
    }

    #[test]
    fn a_run_whose_writer_is_gone_counts_as_running_until_the_engine_ends_its_task() {
        let record = Record { dir: PathBuf::from("/nonexistent/run"), job: "1".into(), task: 0, run: "gb#0".into(), status: Status::Interrupted };
        let running = Fixed([(0, TaskState::Running)].into());
        let mut w = Watch::new(submission(), &running);
        w.update();
        w.records.push(record.clone());
        assert_eq!(w.counts(), Counts { running: 1, ..Counts::default() }, "Slurm is still stopping the task");
        let ended = Fixed([(0, TaskState::Ended { state: "TIMEOUT".into(), reason: "TimeLimit".into(), exit_code: None })].into());
        let mut w = Watch::new(submission(), &ended);
        w.update();
        w.records.push(record);
        assert_eq!(w.counts(), Counts { failed: 1, ..Counts::default() }, "the task ended without its run's end");
    }
}
