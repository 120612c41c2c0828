//! Executors: where an experiment's trials run when they leave this process. The runner runs one
//! run; an executor hands whole `ratlab run --trial I` invocations to a batch engine (Slurm is
//! the one ratlab ships), and a [`Watch`] gathers what they record into the one run store, which
//! takes concurrent writers on a shared file system without a lock.
//!
//! A submission lives in `<out>/<timestamp>-<experiment>-<executor>/`: `submission.json` (what
//! was asked and each job submitted), the resolved `experiment.yaml` the tasks run, the job
//! scripts and the tasks' logs (`logs/`). The runs themselves are ordinary run directories
//! beside it, each naming the array task that wrote it in `owner.json`.

pub mod slurm;

use super::events::{RunEvent, Status};
use super::plan::{Plan, RunPlan};
use super::store::{self, EventTail, Summary};
use crate::error::InputError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// One unit of work: an array task running `ratlab run EXP --out RUNS` plus its own arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The task's index in the job array (a search's trial number where it runs trials).
    pub index: usize,
    /// What the task adds to the command: `--trial I`, or `--run NAME` for a run outside a search.
    pub args: Vec<String>,
    /// The runs it records, by name.
    pub runs: Vec<String>,
    /// Tasks whose runs it starts from (`init_from`): it may start only after they finished.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<usize>,
}

/// The selected run a run starts from (`init_from: RUN` of the same experiment), if any.
fn parent_of<'p>(plan: &'p Plan, run: &RunPlan, picked: &dyn Fn(&RunPlan) -> bool) -> Option<&'p RunPlan> {
    match run.lm.as_ref()?.init_from.as_ref()? {
        super::plan::InitFrom::Run(i) => plan.runs.iter().find(|r| r.index == *i).filter(|r| picked(r)),
        super::plan::InitFrom::Dir(_) => None,
    }
}

/// Split the selected runs of a plan into array tasks: task `i` runs trial `i` of every search
/// (`--trial i`, plus `--run SEARCH` for each search when only some are selected); the runs
/// outside a search come after them, one task per chain of runs that start from each other
/// (`--run NAME ...`, run in order by one task). A trial that starts from such a run waits for
/// its task (`after`).
pub fn tasks_of(plan: &Plan, selected: Option<&[usize]>) -> Vec<Task> {
    let picked_fn = |r: &RunPlan| selected.is_none_or(|s| s.contains(&r.index));
    let picked = |r: &&RunPlan| picked_fn(r);
    // Trial number → (search, run name) of the selected trials with that number.
    let mut by_trial: BTreeMap<usize, Vec<(String, String)>> = BTreeMap::new();
    let mut plain = Vec::new();
    for r in plan.runs.iter().filter(picked) {
        match &r.trial {
            Some(t) => by_trial.entry(t.number).or_default().push((t.search.clone(), r.name.clone())),
            None => plain.push(r.name.clone()),
        }
    }
    let mut tasks: Vec<Task> = by_trial
        .into_iter()
        .map(|(i, picked)| {
            let mut args = vec!["--trial".to_string(), i.to_string()];
            let all = plan.runs.iter().filter(|r| r.trial.as_ref().is_some_and(|t| t.number == i)).count();
            if picked.len() != all {
                let mut searches: Vec<&String> = picked.iter().map(|(s, _)| s).collect();
                searches.dedup();
                for s in searches {
                    args.extend(["--run".to_string(), s.clone()]);
                }
            }
            Task { index: i, args, runs: picked.into_iter().map(|(_, n)| n).collect(), after: vec![] }
        })
        .collect();
    // Plain runs, grouped by the first run of their init_from chain.
    let root = |name: &str| -> String {
        let mut r = plan.runs.iter().find(|r| r.name == name);
        let mut steps = 0;
        while let Some(p) = r.and_then(|r| parent_of(plan, r, &picked_fn)).filter(|p| p.trial.is_none()) {
            r = Some(p);
            steps += 1;
            if steps > plan.runs.len() {
                break;
            }
        }
        r.map_or_else(|| name.to_string(), |r| r.name.clone())
    };
    let mut chains: Vec<(String, Vec<String>)> = Vec::new();
    for name in plain {
        let key = root(&name);
        match chains.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(name),
            None => chains.push((key, vec![name])),
        }
    }
    let next = tasks.iter().map(|t| t.index + 1).max().unwrap_or(0);
    for (k, (_, names)) in chains.into_iter().enumerate() {
        let args = names.iter().flat_map(|n| ["--run".to_string(), n.clone()]).collect();
        tasks.push(Task { index: next + k, args, runs: names, after: vec![] });
    }
    // Trials that start from a run of another task wait for it.
    let task_of = |name: &str, tasks: &[Task]| tasks.iter().find(|t| t.runs.iter().any(|r| r == name)).map(|t| t.index);
    for i in 0..tasks.len() {
        let mut after = Vec::new();
        for name in &tasks[i].runs {
            let Some(run) = plan.runs.iter().find(|r| &r.name == name) else { continue };
            if let Some(p) = parent_of(plan, run, &picked_fn) {
                if let Some(t) = task_of(&p.name, &tasks).filter(|t| *t != tasks[i].index && !after.contains(t)) {
                    after.push(t);
                }
            }
        }
        tasks[i].after = after;
    }
    tasks
}

/// Order the tasks to submit into jobs: those that wait for none of the others first, then the
/// ones that wait (submitted with a dependency on the first job). A task whose parent already
/// finished (not among `todo`) waits for nothing.
pub fn stages(sub: &Submission, todo: &[usize]) -> Vec<Vec<usize>> {
    let (waiting, free): (Vec<usize>, Vec<usize>) =
        todo.iter().copied().partition(|i| sub.task(*i).is_some_and(|t| t.after.iter().any(|a| todo.contains(a))));
    [free, waiting].into_iter().filter(|v| !v.is_empty()).collect()
}

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
            let events = [super::runner::started(plan, run, None), RunEvent::Failed { error: why, cancelled, pruned: false, t_ms: 0 }];
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
