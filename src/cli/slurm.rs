//! `ratlab run --executor slurm` and `ratlab slurm status|cancel`: submit an experiment's
//! trials as a Slurm job array, follow them (the engine's task states and the runs landing in
//! the shared store) with the same console and summary as a local run, resume the trials that
//! did not finish, and ask before cancelling on Ctrl-C.

use super::console::Console;
use super::render::{counts_line, print_results, print_slurm_status, slurm_json};
use super::run::{print_dry_run, select_runs, RunOpts};
use super::Format;
use crate::error::InputError;
use crate::experiments::executor::slurm::{check_sbatch_arg, check_time, Slurm};
use crate::experiments::executor::{self, Counts, Executor, Job, SlurmOptions, Submission, Watch};
use crate::experiments::plan::{self, Plan, SearchMethod};
use crate::experiments::events::Sink;
use crate::experiments::store;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Options of `--executor slurm`.
#[derive(clap::Args, Debug, Default)]
pub struct SlurmArgs {
    /// Slurm partition for the array's tasks (default: the cluster's default partition).
    #[arg(long, value_name = "P", help_heading = "Slurm (--executor slurm)")]
    partition: Option<String>,
    /// Time limit of each task, as Slurm writes it (MINUTES, HH:MM:SS, D-HH:MM:SS).
    #[arg(long, value_name = "TIME", help_heading = "Slurm (--executor slurm)")]
    time: Option<String>,
    /// CPUs each task (one trial) gets [default: 1].
    #[arg(long, value_name = "N", help_heading = "Slurm (--executor slurm)", value_parser = clap::value_parser!(u32).range(1..=4096))]
    cpus_per_trial: Option<u32>,
    /// Run at most M of the array's tasks at once (`--array=…%M`).
    #[arg(long, value_name = "M", help_heading = "Slurm (--executor slurm)", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_parallel: Option<u32>,
    /// One more `#SBATCH` option for the job script (repeatable), e.g. --sbatch-arg=--mem=4G.
    #[arg(long = "sbatch-arg", value_name = "ARG", allow_hyphen_values = true, help_heading = "Slurm (--executor slurm)")]
    sbatch_args: Vec<String>,
    /// Submit, print the job id and return; `ratlab slurm status JOB` follows it.
    #[arg(long, help_heading = "Slurm (--executor slurm)")]
    detach: bool,
    /// Resubmit only the trials of an earlier submission (its directory, or the run store
    /// holding it) that have no finished run.
    #[arg(long, value_name = "RUNS_DIR", help_heading = "Slurm (--executor slurm)")]
    resume: Option<PathBuf>,
}

impl SlurmArgs {
    /// Slurm's options mean nothing to a local run: say so rather than ignore them.
    pub fn refuse_with_local(&self) -> Result<(), InputError> {
        let given = [
            ("--partition", self.partition.is_some()),
            ("--time", self.time.is_some()),
            ("--cpus-per-trial", self.cpus_per_trial.is_some()),
            ("--max-parallel", self.max_parallel.is_some()),
            ("--sbatch-arg", !self.sbatch_args.is_empty()),
            ("--detach", self.detach),
            ("--resume", self.resume.is_some()),
        ];
        match given.iter().find(|(_, g)| *g) {
            Some((flag, _)) => Err(InputError::new(format!("{flag} applies to --executor slurm; add --executor slurm, or leave it out to run here")).field(*flag)),
            None => Ok(()),
        }
    }

    fn options(&self) -> Result<SlurmOptions, InputError> {
        if let Some(t) = &self.time {
            check_time(t)?;
        }
        if let Some(p) = self.partition.as_deref().filter(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || "_-.,".contains(c))) {
            return Err(InputError::new(format!("'{p}' is not a partition name (letters, digits, _ - . and , between several)")).field("--partition"));
        }
        for a in &self.sbatch_args {
            check_sbatch_arg(a)?;
        }
        Ok(SlurmOptions {
            partition: self.partition.clone(),
            time: self.time.clone(),
            cpus_per_trial: self.cpus_per_trial.unwrap_or(1),
            max_parallel: self.max_parallel,
            sbatch_args: self.sbatch_args.clone(),
        })
    }
}

/// `ratlab slurm …`
#[derive(clap::Subcommand, Debug)]
pub enum SlurmCmd {
    /// Where a submitted job's trials stand: Slurm's state and each run's status and metrics.
    Status {
        /// The job id `ratlab run --executor slurm` printed.
        job: String,
        /// The run store the job writes to.
        #[arg(long, default_value = "runs")]
        out: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Cancel a submitted job's trials that have not ended (scancel); finished runs stay.
    Cancel {
        job: String,
        #[arg(long, default_value = "runs")]
        out: PathBuf,
    },
}

/// How often the engine and the store are looked at while following a job.
fn poll_every() -> Duration {
    let ms = std::env::var("RATLAB_POLL_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000u64);
    Duration::from_millis(ms.clamp(50, 60_000))
}

fn under_tmp(p: &Path) -> bool {
    p.starts_with("/tmp") || p.starts_with("/var/tmp") || p.starts_with("/dev/shm")
}

/// `ratlab run EXP --executor slurm`.
pub fn run(path: &Path, sets: &[String], out: &Path, o: &RunOpts, sa: &SlurmArgs, limits: &[String]) -> anyhow::Result<u8> {
    let exec = Slurm;
    let options = sa.options()?;
    let plan = plan::load_with(path, sets, o.max_trials)?;
    let indices = select_runs(&plan, path, &o.only, &o.trials)?;
    let picked = |i: usize| indices.as_ref().is_none_or(|v| v.contains(&i));
    for sp in plan.searches.iter().filter(|s| s.trials.iter().any(|&i| picked(i))) {
        if sp.method == SearchMethod::Tpe {
            return Err(InputError::new(format!(
                "search {} is tpe: each trial is proposed from the ones before it, so its trials cannot run as independent array tasks; use method: random or grid with --executor slurm, or run it here with -j N",
                sp.run
            ))
            .file(path)
            .field("--executor")
            .into());
        }
    }
    let tasks = executor::tasks_of(&plan, indices.as_deref());
    if tasks.is_empty() {
        return Err(InputError::new("nothing to submit: the experiment selects no runs").file(path).into());
    }
    // The data load here finds a missing file or column before anything queues.
    plan.prepare()?;
    let yaml = serde_saphyr::to_string(&plan.resolved).map_err(|e| anyhow::anyhow!("cannot render the resolved experiment: {e}"))?;
    let mut pass: Vec<String> = limits.iter().flat_map(|l| ["--limit".to_string(), l.clone()]).collect();
    if o.max_trials != plan::MAX_TRIALS {
        pass.extend(["--max-trials".to_string(), o.max_trials.to_string()]);
    }
    let binary = std::env::current_exe().and_then(|p| p.canonicalize()).map_err(|e| anyhow::anyhow!("cannot tell where the ratlab binary is: {e}"))?;
    let workdir = std::env::current_dir()?;
    let all: Vec<usize> = tasks.iter().map(|t| t.index).collect();
    // What a new submission records; its directory is made only when it is submitted.
    let mut draft = Submission {
        executor: exec.name().into(),
        experiment: plan.name.clone(),
        source: path.to_path_buf(),
        sets: sets.to_vec(),
        out: if out.is_absolute() { out.to_path_buf() } else { workdir.join(out) },
        binary: binary.clone(),
        workdir,
        pass,
        tasks,
        slurm: options.clone(),
        jobs: vec![],
        dir: PathBuf::new(),
    };

    if o.dry_run {
        print_dry_run(&plan, indices.as_deref(), o.format)?;
        if o.format == Format::Text {
            let sub = Submission { dir: draft.out.join(format!("<timestamp>-{}-slurm", store::slug(&plan.name))), ..draft };
            let stages = executor::stages(&sub, &all);
            let what = if stages.len() > 1 { "The job scripts it would submit, the second after the first" } else { "The job script it would submit" };
            outln!("\n{what} (nothing is written or submitted with --dry-run):\n");
            for (k, st) in stages.iter().enumerate() {
                let after: Vec<String> = (k > 0).then(|| "<the first job's id>".to_string()).into_iter().collect();
                outln!("{}", exec.script(&sub, st, &after));
            }
        }
        return Ok(0);
    }
    exec.check()?;
    std::fs::create_dir_all(out).map_err(|e| InputError::new(format!("cannot create the output directory: {e}")).file(out).field("--out"))?;
    let out_abs = out.canonicalize().map_err(|e| InputError::new(format!("cannot resolve: {e}")).file(out).field("--out"))?;
    if under_tmp(&out_abs) {
        eprintln!(
            "warning: the run store {} is under /tmp, which a cluster's compute nodes usually do not share: their runs would land on their own disks. Give --out a directory on a shared file system (it is fine for a one-node cluster).",
            out_abs.display()
        );
    }
    if under_tmp(&binary) {
        eprintln!("warning: the ratlab binary {} is under /tmp; the compute nodes must see that path to run it", binary.display());
    }

    let (sub, to_submit) = match &sa.resume {
        Some(dir) => {
            let mut sub = find_resumable(dir, &plan.name)?;
            let recorded = std::fs::read_to_string(sub.experiment_file()).unwrap_or_default();
            if recorded != yaml {
                return Err(InputError::new(format!(
                    "the experiment differs from the one submitted in {} (its experiment.yaml, with any --set applied); resume with the same file and overrides, or submit anew without --resume",
                    sub.dir.display()
                ))
                .file(path)
                .field("--resume")
                .into());
            }
            let mut w = Watch::new(sub.clone(), &exec);
            w.update();
            if let Some((job, n)) = w.live_jobs().first() {
                return Err(InputError::new(format!("job {job} of that submission still has {n} task(s) pending or running; wait for them, or stop them with `ratlab slurm cancel {job}`, then resume")).field("--resume").into());
            }
            w.settle();
            let todo = w.unfinished();
            if todo.is_empty() {
                eprintln!("nothing to resume: every run of {} has finished", sub.dir.display());
                let rows = w.outcomes(&plan);
                return print_results(&plan, &rows, o.format, Some(slurm_json(&sub, None)));
            }
            sub.slurm = options;
            (sub, todo)
        }
        None => {
            draft.out = out_abs;
            (draft.create(&yaml)?, all)
        }
    };
    let mut sub = sub;
    let mut after: Vec<String> = vec![];
    for stage in executor::stages(&sub, &to_submit) {
        sub = submit(&exec, sub, &stage, &after)?;
        let Some(j) = sub.jobs.last() else { continue };
        let runs: usize = stage.iter().filter_map(|i| sub.task(*i)).map(|t| t.runs.len()).sum();
        let waits = if after.is_empty() { String::new() } else { format!(", after job {}", after.join(", ")) };
        eprintln!("submitted Slurm job {}: {runs} run(s) of {} as array {}{waits} ({})", j.id, plan.name, executor::index_ranges(&stage), sub.dir.join(&j.script).display());
        after.push(j.id.clone());
    }
    let job = sub.jobs.last().map(|j| j.id.clone()).unwrap_or_default();
    for sp in plan.searches.iter().filter(|s| s.prune.is_some() && s.trials.iter().any(|&i| picked(i))) {
        eprintln!("warning: search {} prunes, but its trials run as independent Slurm tasks, so none is pruned", sp.run);
    }
    if sa.detach {
        match o.format {
            Format::Json => outln!("{}", serde_json::to_string_pretty(&serde_json::Value::Object(slurm_json(&sub, Some(&to_submit))))?),
            Format::Text => {
                outln!("{job}");
                eprintln!("follow it with `ratlab slurm status {job}`, or `ratlab runs --experiment {}` and the TUI as its runs land", plan.name);
            }
        }
        return Ok(0);
    }
    follow(&exec, sub, &plan, o.format, &to_submit)
}

/// The submission `--resume` names: a submission directory, or the newest submission of the
/// experiment in a run store.
fn find_resumable(dir: &Path, experiment: &str) -> Result<Submission, InputError> {
    if dir.join("submission.json").is_file() {
        let s = Submission::load(dir)?;
        if s.experiment != experiment {
            return Err(InputError::new(format!("that submission is of experiment '{}', not '{experiment}'", s.experiment)).file(dir).field("--resume"));
        }
        return Ok(s);
    }
    if !dir.is_dir() {
        return Err(InputError::new("no such directory; --resume takes a submission directory (runs/<timestamp>-<experiment>-slurm) or the run store holding it").file(dir).field("--resume"));
    }
    Submission::list(dir).into_iter().rev().find(|s| s.experiment == experiment).ok_or_else(|| {
        InputError::new(format!("holds no Slurm submission of experiment '{experiment}'; --resume takes a submission directory or the run store holding it")).file(dir).field("--resume")
    })
}

/// Write the job script for `tasks`, submit it, and record the job in the submission.
fn submit(exec: &dyn Executor, mut sub: Submission, tasks: &[usize], after: &[String]) -> Result<Submission, InputError> {
    let name = if sub.jobs.is_empty() { "job.sbatch".to_string() } else { format!("job-{}.sbatch", sub.jobs.len() + 1) };
    let script = sub.dir.join(&name);
    std::fs::write(&script, exec.script(&sub, tasks, after)).map_err(|e| InputError::new(format!("cannot write the job script: {e}")).file(&script))?;
    let id = exec.submit(&script)?;
    sub.jobs.push(Job { id, tasks: tasks.to_vec(), script: name, submitted_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true) });
    sub.save()?;
    Ok(sub)
}

/// Follow a submitted job to its end: live progress from the runs as they land, a Ctrl-C that
/// asks whether to cancel, then the same summary as a local run.
fn follow(exec: &dyn Executor, sub: Submission, plan: &Plan, format: Format, submitted: &[usize]) -> anyhow::Result<u8> {
    let job = sub.jobs.last().map(|j| j.id.clone()).unwrap_or_default();
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        let job = job.clone();
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                eprintln!("\nratlab: stopped following; Slurm job {job} keeps running (`ratlab slurm cancel {job}` stops it)");
                std::process::exit(130);
            }
        });
    }
    let selected: Vec<usize> = plan.runs.iter().filter(|r| sub.task_of(&r.name).is_some()).map(|r| r.index).collect();
    let mut console = Console::new(format, plan, Some(&selected));
    let by_name: std::collections::HashMap<&str, &plan::RunPlan> = plan.runs.iter().map(|r| (r.name.as_str(), r)).collect();
    // The runs' new events go to the console as a local run's would.
    let feed = |console: &mut Console, up: &executor::Update| {
        for (name, ev) in &up.events {
            if let Some(r) = by_name.get(name.as_str()) {
                console.event(r, ev);
            }
        }
    };
    let mut w = Watch::new(sub, exec);
    // squeue every 5 looks at the store (5 s by default): Slurm's controller is shared.
    w.engine_every = poll_every() * 5;
    let mut last: Option<Counts> = None;
    let mut warned = false;
    let status_bar = console.status_bar();
    loop {
        let up = w.update();
        feed(&mut console, &up);
        match (&up.unavailable, warned) {
            (Some(e), false) => {
                eprintln!("warning: cannot ask Slurm right now ({e}); retrying");
                warned = true;
            }
            (None, true) => warned = false,
            _ => {}
        }
        w.settle();
        let c = w.counts();
        if last != Some(c) {
            let line = counts_line(&job, c);
            match &status_bar {
                Some(bar) => bar.set_message(line),
                None if format == Format::Text && !std::io::stderr().is_terminal() => eprintln!("{line}"),
                None => {}
            }
            last = Some(c);
        }
        if w.all_ended() && up.unavailable.is_none() {
            break;
        }
        if c.pending == 0 && c.running == 0 {
            w.ask_engine_now();
        }
        if interrupted.load(Ordering::SeqCst) {
            match console.suspend(|| ask_cancel(&job)) {
                Some(true) => {
                    for (j, _) in w.live_jobs() {
                        if let Err(e) = exec.cancel(&j) {
                            eprintln!("error: {e}");
                        }
                    }
                    eprintln!("asked Slurm to cancel job {job}; waiting for its tasks to stop…");
                }
                Some(false) => {
                    eprintln!("Slurm job {job} keeps running; follow it with `ratlab slurm status {job}`");
                    return Ok(0);
                }
                None => {
                    eprintln!("\nratlab: stopped following; Slurm job {job} keeps running (`ratlab slurm cancel {job}` stops it)");
                    return Ok(130);
                }
            }
            interrupted.store(false, Ordering::SeqCst);
        }
        std::thread::sleep(poll_every());
    }
    // A last look, so records written just before the tasks ended are in, then their ends.
    let up = w.update();
    feed(&mut console, &up);
    w.settle();
    if let Some(bar) = &status_bar {
        bar.finish_with_message(counts_line(&job, w.counts()));
    }
    drop(console);
    let rows = w.outcomes(plan);
    print_results(plan, &rows, format, Some(slurm_json(&w.sub, Some(submitted))))
}

/// Ask on the terminal whether to cancel the job: `Some(answer)`, or `None` when there is no
/// terminal to ask on.
fn ask_cancel(job: &str) -> Option<bool> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    eprint!("\ncancel Slurm job {job} (scancel its pending and running tasks)? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).ok()?;
    Some(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// `ratlab slurm status|cancel`.
pub fn command(action: SlurmCmd) -> anyhow::Result<u8> {
    let exec = Slurm;
    match action {
        SlurmCmd::Status { job, out, format } => {
            exec.check()?;
            let sub = Submission::find_job(&out, &job)?;
            let plan = plan_of(&sub)?;
            let mut w = Watch::new(sub, &exec);
            let up = w.update();
            if let Some(e) = &up.unavailable {
                eprintln!("warning: cannot ask Slurm ({e}); showing what the run store holds");
            }
            w.settle();
            print_slurm_status(&w, &plan, &job, format)?;
            Ok(0)
        }
        SlurmCmd::Cancel { job, out } => {
            exec.check()?;
            let sub = Submission::find_job(&out, &job)?;
            let mut w = Watch::new(sub, &exec);
            // The job and the submission's other live jobs (trials waiting on it, a resume).
            w.update();
            let mut jobs: Vec<String> = w.live_jobs().into_iter().map(|(j, _)| j).collect();
            if !jobs.contains(&job) {
                jobs.insert(0, job.clone());
            }
            for j in &jobs {
                exec.cancel(j).map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            // Wait (briefly) for the tasks to stop, so their runs can be ended with the reason.
            let until = std::time::Instant::now() + Duration::from_secs(30);
            loop {
                w.update();
                if w.live_jobs().is_empty() || std::time::Instant::now() > until {
                    break;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
            w.settle();
            eprintln!("cancelled Slurm job {}: {}", jobs.join(", "), counts_line(&job, w.counts()).split_once(": ").map_or("", |x| x.1));
            Ok(0)
        }
    }
}

/// The plan a submission's tasks run (its resolved experiment, with the same trial limit).
fn plan_of(sub: &Submission) -> anyhow::Result<Plan> {
    let max_trials = sub.pass.iter().position(|a| a == "--max-trials").and_then(|i| sub.pass.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(plan::MAX_TRIALS);
    Ok(plan::load_with(&sub.experiment_file(), &[], max_trials)?)
}
