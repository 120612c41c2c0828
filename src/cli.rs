//! Command line: `run`, `validate`, `replay`, `rerun`, `runs` and `tui`. Parses arguments with
//! clap, turns them into calls on the engine, and maps outcomes to exit codes: 0 ok, 1 a run
//! failed (or a rerun differs), 2 bad input or usage.

use crate::error::{InputError, InputErrors};
use crate::experiments::events::{Level, Metrics, RunEvent, Status};
use crate::experiments::plan::{self, Plan, RunPlan};
use crate::experiments::events::{Collect, Flow, Sink, Tee};
use crate::experiments::runner;
use crate::experiments::store::{self, StoreSink, Summary};
use crate::metrics::format_value as fmt_num;
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;


/// `println!` for the command output: a closed stdout (`ratlab runs | head`) ends the output
/// quietly instead of panicking, and the command still returns its own exit code.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

#[derive(Parser, Debug)]
#[command(name = "ratlab", version, about = "A terminal workbench for machine-learning experiments", propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Raise (or lower) a resource limit, NAME=N (repeatable): rows, columns, classes,
    /// yaml_bytes, yaml_depth, tokens. Inputs past a limit are refused before anything runs.
    #[arg(long = "limit", value_name = "NAME=N", global = true)]
    pub limits: Vec<String>,
}

mod slurm;

/// Where `ratlab run` executes its runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecutorArg {
    /// In this process, `-j N` at a time.
    Local,
    /// As a Slurm job array (sbatch), gathered from the shared run store.
    Slurm,
}

/// Output format of `ratlab run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run an experiment headless, recording every run under --out.
    Run {
        /// The experiment file (YAML).
        experiment: PathBuf,
        /// Override a field: KEY=VALUE, e.g. runs.1.params.strength=0.1 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Directory that receives the run directories.
        #[arg(long, default_value = "runs")]
        out: PathBuf,
        /// text: progress and a results table; json: one JSON object on stdout.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Run only the named run(s) of the experiment (repeatable).
        #[arg(long = "run", value_name = "NAME")]
        only: Vec<String>,
        /// Run up to N runs (a search's trials) at once.
        #[arg(short = 'j', long = "jobs", value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
        jobs: u32,
        /// List the runs and trials that would run, with their parameters, and run nothing.
        #[arg(long)]
        dry_run: bool,
        /// Run only trial I of each search (repeatable): the building block for running a
        /// search on a cluster.
        #[arg(long = "trial", value_name = "I")]
        trials: Vec<usize>,
        /// Most trials a search may expand to.
        #[arg(long, value_name = "N", default_value_t = ratlab_max_trials())]
        max_trials: usize,
        /// Where the runs execute: in this process (local), or as a Slurm job array whose task
        /// i runs trial i (slurm; see the Slurm options below).
        #[arg(long, value_enum, default_value_t = ExecutorArg::Local)]
        executor: ExecutorArg,
        #[command(flatten)]
        slurm: slurm::SlurmArgs,
    },
    /// Follow or stop experiments submitted with `ratlab run --executor slurm`.
    Slurm {
        #[command(subcommand)]
        action: slurm::SlurmCmd,
    },
    /// Check experiment files (YAML, parameters, data files and columns) without running them.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Open recorded runs in the TUI (or print their curves and summary when not on a
    /// terminal, or with --print).
    Replay {
        #[arg(required = true)]
        run_dirs: Vec<PathBuf>,
        /// Play the events back at this speed (1 = as recorded) instead of all at once.
        #[arg(long)]
        speed: Option<f64>,
        /// Print curves and summary instead of opening the TUI.
        #[arg(long)]
        print: bool,
    },
    /// Re-execute a recorded run with its recorded experiment and seed.
    Rerun {
        run_dir: PathBuf,
        /// Compare the new metrics with the recorded ones; exit 1 if they differ.
        #[arg(long)]
        check: bool,
    },
    /// Apply a run's saved model (`model.json`) to new rows, with the training encoding,
    /// standardization and column checks.
    Predict {
        /// A run directory holding model.json (or the model.json itself).
        run_dir: PathBuf,
        /// The rows to predict: a .csv or .parquet file with the training feature columns.
        #[arg(long)]
        data: PathBuf,
        /// Where to write the predictions (.csv or .parquet); CSV on stdout by default.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Continue a prompt with a trained transformer run (its `model.safetensors`), using a KV
    /// cache. Models tuned with sft or dpo get the prompt in their instruction template and stop
    /// at the end of their answer (unless --raw).
    Generate {
        /// A transformer run directory (holding model.json and model.safetensors).
        run_dir: PathBuf,
        /// The text to continue (an instruction, for models tuned with sft or dpo).
        #[arg(long)]
        prompt: String,
        #[command(flatten)]
        sampling: Sampling,
        /// Use the prompt as is, without the instruction template.
        #[arg(long)]
        raw: bool,
    },
    /// List recorded runs with status and final metrics.
    Runs {
        #[arg(long, default_value = "runs", global = true)]
        out: PathBuf,
        #[command(flatten)]
        filter: RunsFilter,
        #[command(subcommand)]
        action: Option<RunsCmd>,
    },
    /// Draw a step metric of recorded runs (one line per run) as a PNG or SVG figure.
    Plot {
        /// Run directories, or directories of runs.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// The step metric: test.accuracy, train.log_loss, … (a bare name means test.NAME).
        #[arg(long)]
        metric: String,
        /// The figure: .png or .svg.
        #[arg(long)]
        out: PathBuf,
        /// The x axis: the step, the step's x (sweep value, size, round), or seconds.
        #[arg(long, value_enum, default_value_t = PlotX::Step)]
        x: PlotX,
        /// Width and height in pixels.
        #[arg(long, default_value = "900x540", value_parser = parse_size)]
        size: (u32, u32),
    },
    /// A Markdown report of recorded runs: per experiment, the comparison table, the best trial
    /// of each search, and a figure of the curves.
    Report {
        /// Run directories, or directories of runs.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// The directory that receives report.md and its figures.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write recorded runs as a table, one row per run (experiment, run, status, seed, every
    /// parameter, every final metric), or one row per step with --curves.
    Export {
        /// Run directories, or directories of runs (e.g. `runs`).
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// The file to write: .parquet, .csv or .json.
        #[arg(long)]
        to: PathBuf,
        /// One row per step of every run's curves (run, step, x, fold, metric columns).
        #[arg(long)]
        curves: bool,
    },
    /// Open the terminal UI (also what `ratlab` alone does) on experiments/*.yaml and any
    /// files given.
    Tui {
        experiments: Vec<PathBuf>,
        /// Directory of recorded runs (new runs are recorded there too).
        #[arg(long, default_value = "runs")]
        out: PathBuf,
        /// Runs (or search trials) trained at once; the number of cores by default.
        #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
        jobs: Option<u32>,
    },
}

/// Entry point used by `main`: never panics on user input, prints errors with their chain.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    crate::data::install_quiet_hook();
    let mut limits = crate::data::limits::Limits::default();
    for l in &cli.limits {
        if let Err(e) = limits.assign(l) {
            eprintln!("error: --limit: {e}");
            return ExitCode::from(2);
        }
    }
    crate::data::limits::set(limits);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        // The reader of our output went away (`ratlab replay --print … | head`): not an error.
        Err(e) if e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(ie) = e.downcast_ref::<InputErrors>() {
                eprintln!("{ie}");
                return ExitCode::from(2);
            }
            if let Some(ie) = e.downcast_ref::<InputError>() {
                eprintln!("error: {ie}");
                return ExitCode::from(2);
            }
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Which recorded runs `ratlab runs` lists, in what order.
#[derive(clap::Args, Debug, Default)]
pub struct RunsFilter {
    /// Only runs of this experiment.
    #[arg(long)]
    experiment: Option<String>,
    /// Only runs with this status (finished, failed, cancelled, running).
    #[arg(long)]
    status: Option<String>,
    /// Only runs meeting every condition: 'max_depth>3 and roc_auc>0.9' (parameters, metrics,
    /// status, experiment, run, algorithm, backend, seed; > >= < <= = !=).
    #[arg(long = "where", value_name = "CONDITIONS")]
    conditions: Option<String>,
    /// Sort by a metric (best first) or a parameter (ascending).
    #[arg(long, value_name = "NAME")]
    sort: Option<String>,
    /// Only the first N (after sorting).
    #[arg(long, value_name = "N")]
    top: Option<usize>,
    /// One JSON array on stdout.
    #[arg(long)]
    json: bool,
}

/// The x axis of `ratlab plot`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlotX {
    Step,
    X,
    Time,
}

/// `WIDTHxHEIGHT`, each 64…8192 pixels.
fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once('x').ok_or_else(|| format!("'{s}' is not WIDTHxHEIGHT, e.g. 900x540"))?;
    let px = |v: &str| v.trim().parse::<u32>().ok().filter(|p| (64..=8192).contains(p)).ok_or_else(|| format!("'{v}' is not a size in pixels from 64 to 8192"));
    Ok((px(w)?, px(h)?))
}

/// `ratlab runs …`: reading recorded runs side by side.
#[derive(Subcommand, Debug)]
pub enum RunsCmd {
    /// A table of runs: the parameters that differ between them, then the final metrics,
    /// fitted to the terminal.
    Compare {
        /// Run directories, or directories of runs.
        runs: Vec<PathBuf>,
        /// Every recorded run of this experiment under --out (the latest record of each run).
        #[arg(long)]
        experiment: Option<String>,
        /// Every parameter, not only those that differ.
        #[arg(long)]
        all: bool,
        /// The table as JSON rows on stdout.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// The table as CSV on stdout.
        #[arg(long)]
        csv: bool,
    },
    /// Only what differs between two runs: parameters, data, seed, final metrics, and the
    /// first step where their curves part.
    Diff { a: PathBuf, b: PathBuf },
    /// One run: its parameters, data, metrics and messages.
    Show { run: PathBuf },
}

/// Dispatch a parsed command; returns the exit code.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        None => tui(vec![], PathBuf::from("runs"), None),
        Some(Command::Tui { experiments, out, jobs }) => tui(experiments, out, jobs),
        Some(Command::Validate { files }) => validate(&files),
        Some(Command::Run { experiment, sets, out, format, only, jobs, dry_run, trials, max_trials, executor, slurm: sa }) => {
            let opts = RunOpts { format, only, jobs: jobs as usize, dry_run, trials, max_trials };
            match executor {
                ExecutorArg::Local => {
                    sa.refuse_with_local()?;
                    run_cmd(&experiment, &sets, &out, &opts)
                }
                ExecutorArg::Slurm => {
                    if jobs != 1 {
                        return Err(InputError::new("-j runs trials side by side in this process; with --executor slurm, --max-parallel M limits how many of the array's tasks run at once").field("-j").into());
                    }
                    slurm::run(&experiment, &sets, &out, &opts, &sa, &cli.limits)
                }
            }
        }
        Some(Command::Slurm { action }) => slurm::command(action),
        Some(Command::Replay { run_dirs, speed, print }) => {
            if print || !std::io::stdout().is_terminal() {
                replay(&run_dirs)
            } else {
                if let Some(s) = speed.filter(|s| !(s.is_finite() && *s > 0.0)) {
                    return Err(InputError::new(format!("{s} is not allowed; expected a speed > 0 (1 = as recorded)")).field("--speed").into());
                }
                let runs_dir = run_dirs.first().and_then(|d| d.parent()).map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("runs"));
                crate::ui::run(crate::ui::Options { experiments: crate::ui::default_experiments(Path::new(".")), runs_dir, replay: run_dirs, speed, jobs: tui_jobs(None) })
            }
        }
        Some(Command::Rerun { run_dir, check }) => rerun(&run_dir, check),
        Some(Command::Runs { out, filter, action: None }) => list(&out, &filter),
        Some(Command::Runs { out, action: Some(RunsCmd::Compare { runs, experiment, all, json, csv }), .. }) => compare_cmd(&out, &runs, experiment.as_deref(), all, json, csv),
        Some(Command::Runs { action: Some(RunsCmd::Diff { a, b }), .. }) => diff_cmd(&a, &b),
        Some(Command::Runs { action: Some(RunsCmd::Show { run }), .. }) => show_cmd(&run),
        Some(Command::Plot { runs, metric, out, x, size }) => {
            use crate::experiments::plot::XAxis;
            let recorded = crate::experiments::recorded::collect(&runs, true)?;
            let axis = match x {
                PlotX::Step => XAxis::Step,
                PlotX::X => XAxis::X,
                PlotX::Time => XAxis::Time,
            };
            crate::experiments::plot::plot(&recorded, &metric, axis, &out, size)?;
            eprintln!("wrote {} ({} run(s))", out.display(), recorded.len());
            Ok(0)
        }
        Some(Command::Report { runs, out }) => {
            let recorded = crate::experiments::recorded::collect(&runs, true)?;
            let path = crate::experiments::report::report(recorded, &out)?;
            outln!("{}", path.display());
            Ok(0)
        }
        Some(Command::Export { runs, to, curves }) => {
            let recorded = crate::experiments::recorded::collect(&runs, curves)?;
            let n = crate::experiments::export::export(&recorded, &to, curves)?;
            eprintln!("wrote {n} row(s) ({} run(s)) to {}", recorded.len(), to.display());
            Ok(0)
        }
        Some(Command::Predict { run_dir, data, out }) => predict(&run_dir, &data, out.as_deref()),
        Some(Command::Generate { run_dir, prompt, sampling, raw }) => generate(&run_dir, &prompt, &sampling, raw),
    }
}

/// Runs at once in the TUI: as asked, else one per core.
fn tui_jobs(jobs: Option<u32>) -> usize {
    jobs.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |j| j as usize)
}

fn tui(mut files: Vec<PathBuf>, out: PathBuf, jobs: Option<u32>) -> anyhow::Result<u8> {
    let mut all = crate::ui::default_experiments(Path::new("."));
    // A file given that is also among the defaults is listed once.
    let key = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    files.retain(|f| !all.iter().any(|a| key(a) == key(f)));
    all.append(&mut files);
    crate::ui::run(crate::ui::Options { experiments: all, runs_dir: out, replay: vec![], speed: None, jobs: tui_jobs(jobs) })
}

fn validate(files: &[PathBuf]) -> anyhow::Result<u8> {
    let mut bad = false;
    for f in files {
        let res = plan::load(f, &[]).and_then(|p| p.prepare().map(|d| (p, d)).map_err(InputErrors::from));
        match res {
            Ok((p, d)) => {
                let shape = d.map(|d| format!(", data {} rows × {} features", d.data.x.nrows(), d.data.x.ncols())).unwrap_or_default();
                outln!("ok: {} ({} run(s){shape})", f.display(), p.runs.len());
            }
            Err(e) => {
                bad = true;
                eprintln!("{e}");
            }
        }
    }
    Ok(if bad { 2 } else { 0 })
}

/// Headless progress: bars on a terminal, plain lines when piped, nothing for JSON output.
/// With a search, one bar per active trial (cleared when it ends) and one per search with the
/// trials done and the running best.
struct Console {
    bars: Option<(MultiProgress, BTreeMap<usize, ProgressBar>)>,
    lines: bool,
    /// The metric each run's bar shows, by run index.
    keys: BTreeMap<usize, String>,
    searches: BTreeMap<String, SearchProgress>,
}

/// A search's progress on the console.
struct SearchProgress {
    metric: crate::metrics::Objective,
    total: usize,
    done: usize,
    best: Option<(String, f64)>,
    bar: Option<ProgressBar>,
}

impl SearchProgress {
    fn line(&self, name: &str) -> String {
        let best = match &self.best {
            Some((run, v)) => format!("best {run} {} {}", self.metric.as_str(), fmt_num(*v)),
            None => "no trial finished yet".into(),
        };
        format!("search {name}: {}/{} trial(s) done · {best}", self.done, self.total)
    }
}

impl Console {
    /// `selected`: the runs that will run (`--run`, `--trial`), `None` for all; a search's
    /// progress counts its selected trials.
    fn new(format: Format, plan: &Plan, selected: Option<&[usize]>) -> Console {
        let tty = std::io::stderr().is_terminal();
        let bars = tty.then(|| (MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)), BTreeMap::new()));
        let searches = plan
            .searches
            .iter()
            .map(|s| {
                let total = s.trials.iter().filter(|i| selected.is_none_or(|sel| sel.contains(i))).count();
                (s.run.clone(), SearchProgress { metric: s.metric, total, done: 0, best: None, bar: None })
            })
            .collect();
        Console { bars, lines: !tty && format == Format::Text, keys: BTreeMap::new(), searches }
    }

    /// Run `f` (a question on the terminal) with the bars hidden, so they do not draw over it.
    fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bars {
            Some((mp, _)) => mp.suspend(f),
            None => f(),
        }
    }

    /// A line above the bars for an executor's progress, on a terminal.
    fn status_bar(&self) -> Option<ProgressBar> {
        let (mp, _) = self.bars.as_ref()?;
        let bar = mp.insert(0, ProgressBar::new_spinner());
        bar.set_style(ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Some(bar)
    }

    /// Count a trial that ended; returns its search's progress line.
    fn trial_ended(&mut self, run: &RunPlan, metrics: Option<&Metrics>) -> Option<String> {
        let t = run.trial.as_ref()?;
        let sp = self.searches.get_mut(&t.search)?;
        sp.done += 1;
        if let Some(&v) = metrics.and_then(|m| m.get(sp.metric.as_str())).filter(|v| v.is_finite()) {
            let better = sp.best.as_ref().is_none_or(|(_, b)| sp.metric.better(v, *b));
            if better {
                sp.best = Some((run.name.clone(), v));
            }
        }
        let line = sp.line(&t.search);
        if let Some(bar) = &sp.bar {
            bar.set_position(sp.done as u64);
            if sp.done == sp.total {
                bar.finish_with_message(line.clone());
            } else {
                bar.set_message(line.clone());
            }
        }
        Some(line)
    }
}

fn fmt_metrics(m: &Metrics) -> String {
    m.iter().map(|(k, v)| format!("{k}={}", fmt_num(*v))).collect::<Vec<_>>().join(" ")
}


impl Sink for Console {
    fn event(&mut self, run: &RunPlan, ev: &RunEvent) -> Flow {
        let name = &run.name;
        if let Some((mp, bars)) = &mut self.bars {
            match ev {
                RunEvent::Started { total_steps, algorithm, backend, .. } => {
                    let pb = mp.add(ProgressBar::new(total_steps.unwrap_or(0)));
                    pb.set_style(
                        ProgressStyle::with_template("{prefix:>18.bold} [{bar:24}] {pos:>5}/{len:<5} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                    );
                    pb.set_prefix(name.clone());
                    pb.set_message(format!("{algorithm} · {backend}"));
                    bars.insert(run.index, pb);
                    self.keys.remove(&run.index);
                    if let Some(sp) = run.trial.as_ref().and_then(|t| self.searches.get_mut(&t.search)).filter(|sp| sp.bar.is_none()) {
                        let bar = mp.insert(0, ProgressBar::new(sp.total as u64));
                        bar.set_style(ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_bar()));
                        bar.set_message(sp.line(run.trial.as_ref().map_or("", |t| t.search.as_str())));
                        sp.bar = Some(bar);
                    }
                }
                RunEvent::Step { metrics, .. } => {
                    if let Some(pb) = bars.get(&run.index) {
                        pb.inc(1);
                        let key = self.keys.entry(run.index).or_insert_with(|| {
                            metrics.keys().find(|k| k.starts_with("test.")).or(metrics.keys().next()).cloned().unwrap_or_default()
                        });
                        if let Some(v) = metrics.get(key.as_str()) {
                            pb.set_message(format!("{key} {}", fmt_num(*v)));
                        }
                    }
                }
                RunEvent::Message { level: Level::Warning, text, .. } => {
                    let _ = mp.println(format!("  {name}: warning: {text}"));
                }
                RunEvent::Message { .. } | RunEvent::Sample { .. } => {}
                RunEvent::Finished { metrics, .. } => {
                    if let Some(pb) = bars.remove(&run.index) {
                        if run.trial.is_some() {
                            // A search's trials come and go; the search's line keeps the score.
                            pb.finish_and_clear();
                        } else {
                            pb.set_length(pb.position());
                            pb.finish_with_message(format!("✓ {}", fmt_metrics(metrics)));
                        }
                    }
                    self.trial_ended(run, Some(metrics));
                }
                RunEvent::Failed { error, cancelled, pruned, .. } => {
                    if let Some(pb) = bars.remove(&run.index) {
                        if *pruned {
                            pb.finish_and_clear();
                        } else {
                            pb.abandon_with_message(if *cancelled { "cancelled".to_string() } else { format!("✗ {error}") });
                        }
                    }
                    self.trial_ended(run, None);
                }
            }
        } else if self.lines {
            let mut o = std::io::stdout().lock();
            let _ = match ev {
                RunEvent::Started { algorithm, backend, .. } => writeln!(o, "run {name}: {algorithm} on {backend}"),
                RunEvent::Message { level, text, .. } => {
                    let l = if *level == Level::Warning { "warning: " } else { "" };
                    writeln!(o, "  {name}: {l}{text}")
                }
                RunEvent::Finished { metrics, .. } => {
                    let progress = self.trial_ended(run, Some(metrics)).map(|l| format!(" · {l}")).unwrap_or_default();
                    writeln!(o, "  {name}: finished {}{progress}", fmt_metrics(metrics))
                }
                RunEvent::Failed { error, cancelled: true, .. } => writeln!(o, "  {name}: cancelled ({error})"),
                RunEvent::Failed { error, pruned: true, .. } => {
                    let progress = self.trial_ended(run, None).map(|l| format!(" · {l}")).unwrap_or_default();
                    writeln!(o, "  {name}: {error}{progress}")
                }
                RunEvent::Failed { error, .. } => {
                    let progress = self.trial_ended(run, None).map(|l| format!(" · {l}")).unwrap_or_default();
                    writeln!(o, "  {name}: failed: {error}{progress}")
                }
                RunEvent::Step { .. } => Ok(()),
                RunEvent::Sample { step, text, .. } => {
                    let one: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(72).collect();
                    writeln!(o, "  {name}: sample at step {step}: {}", one.trim_end())
                }
            };
        }
        Flow::Continue
    }
}

fn install_ctrlc(cancel: Arc<AtomicBool>) {
    // A Slurm array task is only ever signalled by Slurm (scancel, time limit, preemption, a
    // node going down): it stops at once and leaves its open runs for the submitting ratlab
    // (or `ratlab slurm status`) to end with Slurm's reason, which this process cannot know.
    if std::env::var_os("SLURM_ARRAY_TASK_ID").is_some() {
        let _ = ctrlc::set_handler(|| {
            eprintln!("ratlab: Slurm is stopping this task; its open runs are ended with Slurm's reason by the submitting ratlab or `ratlab slurm status`");
            std::process::exit(143);
        });
        return;
    }
    let _ = ctrlc::set_handler(move || {
        if cancel.swap(true, Ordering::SeqCst) {
            eprintln!("\nratlab: aborted");
            std::process::exit(130);
        }
        eprintln!("\nratlab: cancelling after the current step (Ctrl-C again to abort)…");
    });
}

/// How `ratlab run` was asked to run.
struct RunOpts {
    format: Format,
    only: Vec<String>,
    jobs: usize,
    dry_run: bool,
    trials: Vec<usize>,
    max_trials: usize,
}

const fn ratlab_max_trials() -> usize {
    plan::MAX_TRIALS
}

/// The runs `--run NAME` (a run, a search, or one trial) and `--trial I` select; `None` for all.
fn select_runs(plan: &Plan, path: &Path, only: &[String], trials: &[usize]) -> Result<Option<Vec<usize>>, InputError> {
    let mut picked: Vec<usize> = plan.runs.iter().map(|r| r.index).collect();
    if !only.is_empty() {
        let mut v = Vec::new();
        for n in only {
            let hits: Vec<usize> =
                plan.runs.iter().filter(|r| &r.name == n || r.trial.as_ref().is_some_and(|t| &t.search == n)).map(|r| r.index).collect();
            if hits.is_empty() {
                let mut names: Vec<&str> = Vec::new();
                for r in &plan.runs {
                    let name = r.trial.as_ref().map_or(r.name.as_str(), |t| t.search.as_str());
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
                return Err(InputError::new(format!("no run named '{n}'; runs: {}", names.join(", "))).file(path).field("--run"));
            }
            v.extend(hits);
        }
        picked.retain(|i| v.contains(i));
    }
    if !trials.is_empty() {
        if plan.searches.is_empty() {
            return Err(InputError::new("the experiment has no search; --trial picks trials of a run's search: section").file(path).field("--trial"));
        }
        let most = plan.runs.iter().filter_map(|r| r.trial.as_ref().map(|t| t.count)).max().unwrap_or(0);
        if let Some(bad) = trials.iter().find(|&&t| t >= most) {
            let counts: Vec<String> = plan.searches.iter().map(|s| format!("{} has {}", s.run, s.trials.len())).collect();
            return Err(InputError::new(format!("there is no trial {bad}; trials are numbered from 0 ({})", counts.join(", "))).file(path).field("--trial"));
        }
        if let Some(sp) = plan.searches.iter().find(|s| s.method == plan::SearchMethod::Tpe) {
            return Err(InputError::new(format!(
                "search {} is tpe: each trial is proposed from the ones before it, so its trials cannot run alone; run the search whole (with -j N)",
                sp.run
            ))
            .file(path)
            .field("--trial"));
        }
        picked.retain(|&i| plan.runs.iter().find(|r| r.index == i).and_then(|r| r.trial.as_ref()).is_some_and(|t| trials.contains(&t.number)));
    }
    Ok((picked.len() != plan.runs.len()).then_some(picked))
}

/// `--dry-run`: what would run, with each run's seed and parameters.
fn print_dry_run(plan: &Plan, indices: Option<&[usize]>, format: Format) -> anyhow::Result<()> {
    let runs: Vec<&RunPlan> = plan.runs.iter().filter(|r| indices.is_none_or(|o| o.contains(&r.index))).collect();
    match format {
        Format::Json => {
            let list: Vec<serde_json::Value> = runs
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "name": r.name,
                        "algorithm": r.algorithm.as_str(),
                        "backend": r.backend.as_str(),
                        "seed": r.seed,
                        "params": r.params_json,
                        "trial": r.trial.as_ref().map(|t| serde_json::json!({"search": t.search, "number": t.number, "values": t.values})),
                    })
                })
                .collect();
            outln!("{}", serde_json::to_string_pretty(&serde_json::json!({"experiment": plan.name, "dry_run": true, "runs": list}))?);
        }
        Format::Text => {
            outln!("{} — {} run(s) would run (nothing runs with --dry-run)", plan.name, runs.len());
            let w = runs.iter().map(|r| r.name.len()).max().unwrap_or(3);
            for r in runs {
                let shown = match &r.trial {
                    Some(t) if t.values.is_empty() => "values proposed by tpe when it runs".to_string(),
                    Some(t) => t.values.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "),
                    None => String::new(),
                };
                outln!("  {:<w$}  {:<20} {:<9} seed {:<20} {shown}", r.name, r.algorithm.as_str(), r.backend.as_str(), r.seed);
            }
        }
    }
    Ok(())
}

/// Each search's best finished trial by its metric: (run, value).
fn search_bests(plan: &Plan, rows: &[(RunPlan, Summary, PathBuf)]) -> Vec<(plan::SearchPlan, Option<(String, f64)>)> {
    plan.searches
        .iter()
        .map(|sp| {
            let m = sp.metric;
            let mut best: Option<(String, f64)> = None;
            for (r, s, _) in rows {
                if !sp.trials.contains(&r.index) || s.status != Status::Finished {
                    continue;
                }
                let Some(&v) = s.metrics.get(m.as_str()).filter(|v| v.is_finite()) else { continue };
                let better = best.as_ref().is_none_or(|(_, b)| m.better(v, *b));
                if better {
                    best = Some((r.name.clone(), v));
                }
            }
            (sp.clone(), best)
        })
        .collect()
}

fn run_cmd(path: &Path, sets: &[String], out: &Path, o: &RunOpts) -> anyhow::Result<u8> {
    let format = o.format;
    let plan = plan::load_with(path, sets, o.max_trials)?;
    let indices = select_runs(&plan, path, &o.only, &o.trials)?;
    if o.dry_run {
        print_dry_run(&plan, indices.as_deref(), format)?;
        return Ok(0);
    }
    let prepared = plan.prepare()?;
    std::fs::create_dir_all(out).map_err(|e| InputError::new(format!("cannot create the output directory: {e}")).file(out).field("--out"))?;
    let yaml = serde_saphyr::to_string(&plan.resolved).map_err(|e| anyhow::anyhow!("cannot render the resolved experiment: {e}"))?;
    let cancel = Arc::new(AtomicBool::new(false));
    install_ctrlc(cancel.clone());
    let mut store = StoreSink::new(out, yaml);
    let mut console = Console::new(format, &plan, indices.as_deref());
    let summaries = {
        let mut tee = Tee(vec![&mut store, &mut console]);
        runner::run_plan_jobs(&plan, prepared.as_ref(), indices.as_deref(), o.jobs, &mut tee, &cancel)
    };
    if let Some(e) = &store.error {
        anyhow::bail!("{e}");
    }
    let rows: Vec<(RunPlan, Summary, PathBuf)> = summaries
        .into_iter()
        .map(|(r, s)| {
            let dir = store.dirs.get(&r.index).cloned().unwrap_or_default();
            (r, s, dir)
        })
        .collect();
    print_results(&plan, &rows, format, None)
}

/// The end of `ratlab run`, however the runs executed: the results table (or the JSON
/// summary, with `extra` fields added at its top level) and the exit code.
fn print_results(plan: &Plan, rows: &[(RunPlan, Summary, PathBuf)], format: Format, extra: Option<serde_json::Map<String, serde_json::Value>>) -> anyhow::Result<u8> {
    match format {
        Format::Json => {
            let runs: Vec<serde_json::Value> = rows
                .iter()
                .map(|(r, s, dir)| {
                    let mut v = serde_json::json!({
                        "name": r.name,
                        "algorithm": r.algorithm.as_str(),
                        "backend": r.backend.as_str(),
                        "status": s.status.as_str(),
                        "metrics": s.metrics,
                        "dir": dir.display().to_string(),
                    });
                    if let Some(t) = &r.trial {
                        v["trial"] = serde_json::json!({"search": t.search, "number": t.number, "values": t.values});
                        v["seed"] = serde_json::json!(r.seed);
                    }
                    // Why a run did not finish (failed, cancelled, pruned).
                    if let Some(e) = &s.error {
                        v["error"] = serde_json::json!(e);
                    }
                    v
                })
                .collect();
            let mut doc = serde_json::json!({"experiment": plan.name, "runs": runs});
            if let (Some(extra), serde_json::Value::Object(m)) = (extra, &mut doc) {
                m.extend(extra);
            }
            if !plan.searches.is_empty() {
                let searches: Vec<serde_json::Value> = search_bests(plan, rows)
                    .into_iter()
                    .map(|(sp, best)| {
                        serde_json::json!({
                            "name": sp.run,
                            "method": sp.method.as_str(),
                            "metric": sp.metric.as_str(),
                            "trials": sp.trials.len(),
                            "best": best.map(|(run, value)| serde_json::json!({"run": run, "metric": sp.metric.as_str(), "value": value})),
                        })
                    })
                    .collect();
                doc["searches"] = serde_json::Value::Array(searches);
            }
            outln!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Text => {
            print_table(plan, rows);
            for (sp, best) in search_bests(plan, rows) {
                let n = rows.iter().filter(|(r, _, _)| sp.trials.contains(&r.index)).count();
                match best {
                    Some((run, v)) => outln!("  search {} ({}, {n} trial(s) run): best {run} with {} {}", sp.run, sp.method.as_str(), sp.metric.as_str(), fmt_num(v)),
                    None => outln!("  search {} ({}, {n} trial(s) run): no trial finished with {}", sp.run, sp.method.as_str(), sp.metric.as_str()),
                }
            }
        }
    }
    // A pruned trial stopped by design: neither finished nor failed, it fails nothing.
    let all_ok = rows.iter().all(|(_, s, _)| matches!(s.status, Status::Finished | Status::Pruned));
    Ok(if all_ok { 0 } else { 1 })
}

fn print_table(plan: &Plan, rows: &[(RunPlan, Summary, PathBuf)]) {
    let mut names: Vec<String> = Vec::new();
    for (_, s, _) in rows {
        for k in s.metrics.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    let w = rows.iter().map(|(r, _, _)| r.name.len()).max().unwrap_or(3).max(3);
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "\n{} — {} run(s)", plan.name, rows.len());
    let mut head = format!("  {:<w$}  {:<20} {:<9} {:<9}", "run", "algorithm", "backend", "status");
    for n in &names {
        head.push_str(&format!(" {n:>12}"));
    }
    let _ = writeln!(o, "{head}");
    for (r, s, dir) in rows {
        let mut line = format!("  {:<w$}  {:<20} {:<9} {:<9}", r.name, r.algorithm.as_str(), r.backend.as_str(), s.status.as_str());
        for n in &names {
            line.push_str(&match s.metrics.get(n) {
                Some(v) => format!(" {:>12}", fmt_num(*v)),
                None => format!(" {:>12}", "—"),
            });
        }
        let _ = writeln!(o, "{line}");
        if let Some(e) = &s.error {
            let _ = writeln!(o, "  {:<w$}  ↳ {e}", "");
        }
        if !dir.as_os_str().is_empty() {
            let _ = writeln!(o, "  {:<w$}  ↳ {}", "", dir.display());
        }
    }
}

/// A curve of a replayed run: metric name and fold.
type SeriesKey = (String, Option<u32>);

const SPARK: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A one-line sparkline of up to `width` points (evenly decimated).
pub fn sparkline(values: &[f64], width: usize) -> String {
    if values.is_empty() {
        return String::new();
    }
    let picked: Vec<f64> = if values.len() <= width {
        values.to_vec()
    } else {
        (0..width).map(|i| values[i * (values.len() - 1) / (width - 1).max(1)]).collect()
    };
    let (lo, hi) = picked.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    picked
        .iter()
        .map(|&v| if hi > lo { SPARK[(((v - lo) / (hi - lo)) * 7.0).round() as usize] } else { SPARK[3] })
        .collect()
}

fn replay(dirs: &[PathBuf]) -> anyhow::Result<u8> {
    let mut o = std::io::stdout().lock();
    for dir in dirs {
        let log = store::read_run(dir)?;
        let Some(mut summary) = Summary::from_events(&log.events) else {
            return Err(InputError::new("events.jsonl does not start with a 'started' event").file(dir).into());
        };
        summary.status = store::settled(dir, summary.status);
        writeln!(o, "{} / {} — {} on {} (seed {})", summary.experiment, summary.run, summary.algorithm, summary.backend, summary.seed)?;
        writeln!(o, "  params: {}", summary.params)?;
        let x_label = match log.events.first() {
            Some(RunEvent::Started { x_label, .. }) => x_label.clone(),
            _ => "step".into(),
        };
        // Curves: one series per (metric, fold).
        let mut series: BTreeMap<SeriesKey, Vec<(f64, f64)>> = BTreeMap::new();
        for e in &log.events {
            if let RunEvent::Step { x, fold, metrics, .. } = e {
                for (k, v) in metrics {
                    series.entry((k.clone(), *fold)).or_default().push((*x, *v));
                }
            }
        }
        writeln!(o, "  curves over {x_label} ({} steps):", summary.steps)?;
        for ((name, fold), pts) in &series {
            let vals: Vec<f64> = pts.iter().map(|p| p.1).collect();
            let label = match fold {
                Some(f) => format!("{name} [fold {}]", f + 1),
                None => name.clone(),
            };
            let (x0, x1) = (pts.first().map_or(0.0, |p| p.0), pts.last().map_or(0.0, |p| p.0));
            writeln!(
                o,
                "    {label:<28} {}  {} → {}  ({x_label} {} → {})",
                sparkline(&vals, 40),
                fmt_num(vals[0]),
                fmt_num(*vals.last().unwrap_or(&0.0)),
                fmt_num(x0),
                fmt_num(x1)
            )?;
        }
        for m in &summary.messages {
            writeln!(o, "  note: {m}")?;
        }
        writeln!(o, "  status: {}", summary.status.as_str())?;
        if let Some(e) = &summary.error {
            writeln!(o, "  error: {e}")?;
        }
        if !summary.metrics.is_empty() {
            writeln!(o, "  final metrics: {}", fmt_metrics(&summary.metrics))?;
        }
        if !summary.cv_std.is_empty() {
            writeln!(o, "  CV std:        {}", fmt_metrics(&summary.cv_std))?;
        }
        if !summary.train_metrics.is_empty() {
            writeln!(o, "  train metrics: {}", fmt_metrics(&summary.train_metrics))?;
        }
        if log.torn_tail {
            writeln!(o, "  note: the last line of events.jsonl was cut short (the run was interrupted); it was skipped")?;
        }
        match &log.summary {
            Some(s) if *s == summary => {}
            Some(_) => writeln!(o, "  note: summary.json differs from the events (it was written before the last events)")?,
            None => writeln!(o, "  note: no summary.json; the summary above comes from the events")?,
        }
        writeln!(o)?;
    }
    Ok(0)
}

/// A sink that records nothing but finds earlier runs in a run store (for `rerun`).
struct Records(PathBuf);

impl Sink for Records {
    fn event(&mut self, _run: &RunPlan, _ev: &RunEvent) -> Flow {
        Flow::Continue
    }
    fn finished_run(&self, experiment: &str, run: &RunPlan) -> Option<PathBuf> {
        store::latest_finished(&self.0, experiment, &run.name)
    }
}

fn rerun(dir: &Path, check: bool) -> anyhow::Result<u8> {
    let log = store::read_run(dir)?;
    let recorded = log
        .summary
        .clone()
        .or_else(|| Summary::from_events(&log.events))
        .ok_or_else(|| InputError::new("no summary and no events to compare with").file(dir))?;
    let exp_path = dir.join("experiment.yaml");
    let text = std::fs::read_to_string(&exp_path).map_err(|e| InputError::new(format!("cannot read: {e}")).file(&exp_path))?;
    let mut plan = plan::from_text(&text, &exp_path, &exp_path)?;
    plan.resolved = serde_json::Value::Null;
    let run = plan
        .runs
        .iter()
        .find(|r| r.name == recorded.run)
        .ok_or_else(|| InputError::new(format!("the recorded experiment has no run named '{}'", recorded.run)).file(&exp_path))?
        .index;
    let prepared = plan.prepare()?;
    let cancel = Arc::new(AtomicBool::new(false));
    install_ctrlc(cancel.clone());
    let mut collect = Collect::default();
    let mut console = Console::new(Format::Text, &plan, None);
    // `init_from: RUN` finds that run's records beside the one being rerun.
    let mut records = Records(dir.parent().map(Path::to_path_buf).unwrap_or_default());
    let fresh = {
        let mut tee = Tee(vec![&mut collect, &mut console, &mut records]);
        runner::run_plan(&plan, prepared.as_ref(), Some(&[run]), &mut tee, &cancel)
    };
    let Some(fresh) = fresh.into_iter().next() else {
        anyhow::bail!("the run did not start");
    };
    let mut o = std::io::stdout().lock();
    writeln!(o, "rerun of {} / {} (seed {}): {}", recorded.experiment, recorded.run, recorded.seed, fresh.status.as_str())?;
    if !check {
        writeln!(o, "  metrics: {}", fmt_metrics(&fresh.metrics))?;
        return Ok(if fresh.status == Status::Finished { 0 } else { 1 });
    }
    let mut diffs = Vec::new();
    if fresh.status != recorded.status {
        diffs.push(format!("status: recorded {} vs rerun {}", recorded.status.as_str(), fresh.status.as_str()));
    }
    if fresh.steps != recorded.steps {
        diffs.push(format!("steps: recorded {} vs rerun {}", recorded.steps, fresh.steps));
    }
    for (label, a, b) in [("metrics", &recorded.metrics, &fresh.metrics), ("train_metrics", &recorded.train_metrics, &fresh.train_metrics)] {
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).filter(|k| !crate::metrics::is_timing(k)).collect();
        for k in keys {
            match (a.get(k), b.get(k)) {
                (Some(x), Some(y)) if x.to_bits() == y.to_bits() => {}
                (Some(x), Some(y)) => diffs.push(format!("{label}.{k}: recorded {x} vs rerun {y} (difference {:.3e})", y - x)),
                (x, y) => diffs.push(format!("{label}.{k}: recorded {x:?} vs rerun {y:?}")),
            }
        }
    }
    // Curves too: every step's metrics must match bit for bit.
    let steps = |ev: &[RunEvent]| -> Vec<(u64, Metrics)> {
        ev.iter().filter_map(|e| if let RunEvent::Step { step, metrics, .. } = e { Some((*step, metrics.clone())) } else { None }).collect()
    };
    let untimed = |v: Vec<(u64, Metrics)>| -> Vec<(u64, Metrics)> {
        v.into_iter().map(|(s, m)| (s, m.into_iter().filter(|(k, _)| !crate::metrics::is_timing(k)).collect())).collect()
    };
    let (old, new) = (untimed(steps(&log.events)), untimed(steps(&collect.0)));
    if let Some(((s, _), _)) = old.iter().zip(new.iter()).find(|(a, b)| a.1 != b.1) {
        diffs.push(format!("curves first differ at step {s}"));
    }
    if diffs.is_empty() {
        writeln!(o, "  identical: {} step(s), metrics {} (speed figures such as tokens_per_s are not compared)", fresh.steps, fmt_metrics(&fresh.metrics))?;
        Ok(0)
    } else {
        writeln!(o, "  DIFFERENT:")?;
        for d in diffs {
            writeln!(o, "    {d}")?;
        }
        Ok(1)
    }
}

fn list(out: &Path, f: &RunsFilter) -> anyhow::Result<u8> {
    use crate::experiments::compare;
    let dirs = store::list_runs(out);
    let filtering = f.experiment.is_some() || f.status.is_some() || f.conditions.is_some() || f.sort.is_some() || f.top.is_some() || f.json;
    if !filtering {
        if dirs.is_empty() {
            outln!("no runs under {}", out.display());
            return Ok(0);
        }
        for d in dirs {
            match store::read_run(&d) {
                Ok(log) => {
                    let s = log.summary.or_else(|| Summary::from_events(&log.events));
                    match s {
                        Some(s) => outln!("{:<10} {:<50} {}", s.status.as_str(), d.display(), fmt_metrics(&s.metrics)),
                        None => outln!("{:<10} {}", "empty", d.display()),
                    }
                }
                Err(e) => outln!("{:<10} {} ({e})", "unreadable", d.display()),
            }
        }
        return Ok(0);
    }
    let conditions = match &f.conditions {
        Some(w) => compare::parse_where(w).map_err(|e| InputError::new(e).field("--where"))?,
        None => vec![],
    };
    if let Some(st) = &f.status {
        if !["finished", "failed", "cancelled", "running"].contains(&st.as_str()) {
            return Err(InputError::new(format!("'{st}' is not a status; expected finished, failed, cancelled or running")).field("--status").into());
        }
    }
    // Unreadable records are left out of a filtered listing (the plain listing shows them).
    let mut runs: Vec<crate::experiments::recorded::Recorded> = dirs
        .into_iter()
        .filter_map(|d| {
            let s = store::read_summary(&d).or_else(|| store::read_run(&d).ok().and_then(|l| l.summary))?;
            Some(crate::experiments::recorded::Recorded { dir: d, summary: s, events: vec![] })
        })
        .filter(|r| f.experiment.as_ref().is_none_or(|e| &r.summary.experiment == e))
        .filter(|r| f.status.as_ref().is_none_or(|st| r.summary.status.as_str() == st))
        .filter(|r| conditions.iter().all(|c| c.holds(r)))
        .collect();
    if let Some(key) = &f.sort {
        compare::sort_by(&mut runs, key);
    }
    if let Some(n) = f.top {
        runs.truncate(n);
    }
    if f.json {
        let list: Vec<serde_json::Value> = runs
            .iter()
            .map(|r| {
                let s = &r.summary;
                serde_json::json!({"experiment": s.experiment, "run": s.run, "status": s.status.as_str(), "algorithm": s.algorithm,
                    "backend": s.backend, "seed": s.seed, "params": s.params, "metrics": s.metrics, "dir": r.dir.display().to_string()})
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        for r in &runs {
            let s = &r.summary;
            outln!("{:<10} {:<50} {}", s.status.as_str(), r.dir.display(), fmt_metrics(&s.metrics));
        }
    }
    Ok(0)
}

/// `ratlab runs compare`.
fn compare_cmd(out: &Path, runs: &[PathBuf], experiment: Option<&str>, all: bool, json: bool, csv: bool) -> anyhow::Result<u8> {
    use crate::experiments::{compare, recorded};
    let recorded = match (runs.is_empty(), experiment) {
        (false, None) => recorded::collect(runs, false)?,
        (true, Some(name)) => {
            let every = recorded::collect(&[out.to_path_buf()], false)?;
            // The latest record of each run of the experiment, in run order.
            let mut latest: BTreeMap<String, recorded::Recorded> = BTreeMap::new();
            for r in every.into_iter().filter(|r| r.summary.experiment == name) {
                latest.insert(r.summary.run.clone(), r);
            }
            if latest.is_empty() {
                return Err(InputError::new(format!("no recorded run of experiment '{name}'")).file(out).field("--experiment").into());
            }
            latest.into_values().collect()
        }
        (false, Some(_)) => return Err(InputError::new("give run directories or --experiment, not both").field("--experiment").into()),
        (true, None) => return Err(InputError::new("name the runs to compare (run directories) or --experiment NAME").field("runs compare").into()),
    };
    let table = compare::compare(&recorded, all);
    if json {
        let rows: Vec<serde_json::Value> = table
            .rows
            .iter()
            .map(|r| serde_json::Value::Object(table.columns.iter().cloned().zip(r.iter().cloned()).filter(|(_, v)| !v.is_null()).collect()))
            .collect();
        outln!("{}", serde_json::to_string_pretty(&rows)?);
    } else if csv {
        let cols: Vec<(String, crate::data::table::OutValues)> = table
            .columns
            .iter()
            .enumerate()
            .map(|(c, name)| {
                let vals: Vec<&serde_json::Value> = table.rows.iter().map(|r| &r[c]).collect();
                let values = if vals.iter().all(|v| v.is_number() || v.is_null()) {
                    crate::data::table::OutValues::Numeric(vals.iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect())
                } else {
                    crate::data::table::OutValues::Text(vals.iter().map(|v| if v.is_null() { String::new() } else { compare::cell(v) }).collect())
                };
                (name.clone(), values)
            })
            .collect();
        crate::data::table::write_columns(None, cols, &mut std::io::stdout().lock())?;
    } else {
        let width = crossterm::terminal::size().ok().filter(|_| std::io::stdout().is_terminal()).map_or_else(
            || std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).unwrap_or(120),
            |(w, _)| w as usize,
        );
        outln!("{}", compare::render(&table, width).trim_end());
    }
    Ok(0)
}

/// `ratlab runs show`.
fn show_cmd(dir: &Path) -> anyhow::Result<u8> {
    if !dir.join("events.jsonl").is_file() {
        return Err(InputError::new("is not a run directory (no events.jsonl)").file(dir).into());
    }
    let log = store::read_run(dir)?;
    let s = log.summary.clone().or_else(|| Summary::from_events(&log.events)).ok_or_else(|| InputError::new("records no run").file(dir))?;
    let data = store::read_experiment(dir).get("data").cloned();
    let cell = crate::experiments::compare::cell;
    outln!("{} / {}  ({} on {}, seed {})", s.experiment, s.run, s.algorithm, s.backend, s.seed);
    outln!("status: {}  ·  {} step(s) in {:.2} s  ·  started {}", s.status.as_str(), s.steps, s.elapsed_ms as f64 / 1000.0, s.started_at);
    outln!("dir: {}", dir.display());
    if let Some(e) = &s.error {
        outln!("error: {e}");
    }
    if let Some(p) = s.params.as_object().filter(|p| !p.is_empty()) {
        outln!("parameters:");
        for (k, v) in p {
            outln!("  {k}: {}", cell(v));
        }
    }
    if let Some(serde_json::Value::Object(d)) = &data {
        outln!("data:");
        for (k, v) in d {
            outln!("  {k}: {}", cell(v));
        }
    }
    for (title, m) in [("metrics (test)", &s.metrics), ("metrics (train)", &s.train_metrics), ("across folds (std)", &s.cv_std)] {
        if !m.is_empty() {
            outln!("{title}:");
            for (k, v) in m {
                outln!("  {k}: {}", fmt_num(*v));
            }
        }
    }
    if !s.messages.is_empty() {
        outln!("messages:");
        for m in &s.messages {
            outln!("  {m}");
        }
    }
    Ok(0)
}

/// `ratlab runs diff`.
fn diff_cmd(a: &Path, b: &Path) -> anyhow::Result<u8> {
    use crate::experiments::{compare, recorded};
    let mut both = Vec::new();
    for p in [a, b] {
        if !p.join("events.jsonl").is_file() {
            return Err(InputError::new("is not a run directory (no events.jsonl)").file(p).into());
        }
        let mut r = recorded::collect(&[p.to_path_buf()], true)?;
        let data = store::read_experiment(p)["data"].clone();
        both.push((r.remove(0), data));
    }
    for line in compare::diff(&both[0].0, &both[1].0, &both[0].1, &both[1].1) {
        outln!("{line}");
    }
    Ok(0)
}

/// `ratlab generate`: check the run directory, then let the torch worker load the model and
/// generate (libtorch stays out of this process).
fn generate(run: &Path, prompt: &str, sampling: &Sampling, raw: bool) -> anyhow::Result<u8> {
    let dir = if run.is_file() { run.parent().unwrap_or(run).to_path_buf() } else { run.to_path_buf() };
    let doc = plan::read_checkpoint(&dir).map_err(|e| InputError::new(e).file(&dir).detail("a finished transformer run saves model.json and model.safetensors"))?;
    let limit = crate::data::limits::get().tokens;
    if sampling.max_tokens > limit {
        return Err(InputError::new(crate::data::limits::exceeded("tokens", &format!("--max-tokens {}", sampling.max_tokens), limit)).field("--max-tokens").into());
    }
    if !(0.0..=100.0).contains(&sampling.temperature) {
        return Err(InputError::new(format!("{} is not allowed; expected a temperature in [0, 100] (0 = greedy)", sampling.temperature)).field("--temperature").into());
    }
    let chat = matches!(doc["trained_with"]["mode"].as_str(), Some("sft" | "dpo")) && !raw;
    let full_prompt = if chat { crate::data::lm::alpaca_prompt(prompt, "") } else { prompt.to_string() };
    let exe = crate::experiments::worker::locate().map_err(|e| InputError::new(e).field("generate"))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("generate").arg(&dir).arg("--prompt").arg(&full_prompt).args(sampling.to_args());
    if chat {
        cmd.arg("--stop-at-eos");
    }
    let status = cmd.status().map_err(|e| anyhow::anyhow!("cannot start the torch worker: {e}"))?;
    Ok(status.code().map_or(1, |c| c.clamp(0, 255) as u8))
}

/// Where a model runs: `auto` takes CUDA when libtorch sees a GPU.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceArg {
    Auto,
    Cpu,
    Cuda,
}

impl DeviceArg {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceArg::Auto => "auto",
            DeviceArg::Cpu => "cpu",
            DeviceArg::Cuda => "cuda",
        }
    }
}

/// How a transformer generates: the options `ratlab generate` takes and hands on, unchanged,
/// to the `ratlab-torch generate` it starts (one definition for both command lines).
#[derive(clap::Args, Debug, Clone)]
pub struct Sampling {
    /// New tokens (bytes) at most.
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,
    /// Sampling temperature; 0 picks the most likely byte (greedy).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// auto (CUDA when present), cpu or cuda.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
}

impl Sampling {
    /// The same options as command-line arguments.
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "--max-tokens".into(),
            self.max_tokens.to_string(),
            "--temperature".into(),
            self.temperature.to_string(),
            "--seed".into(),
            self.seed.to_string(),
            "--device".into(),
            self.device.as_str().into(),
        ]
    }
}

/// `ratlab predict`: load a saved model and write its predictions for new rows.
fn predict(run: &Path, data: &Path, out: Option<&Path>) -> anyhow::Result<u8> {
    use crate::backends::saved::SavedModel;
    use crate::backends::{Prediction, Predictor};
    use crate::data::table::{self, OutValues};
    let file = if run.is_dir() { run.join("model.json") } else { run.to_path_buf() };
    let text = std::fs::read_to_string(&file).map_err(|e| {
        InputError::new(format!("cannot read the model: {e}"))
            .file(&file)
            .detail("a run saves model.json when its model can be saved (native models, holdout or test-file evaluation, no preprocessing)")
    })?;
    #[derive(serde::Deserialize)]
    struct DataPart {
        encoder: crate::data::Encoder,
        scaler: Option<crate::data::Scaler>,
    }
    #[derive(serde::Deserialize)]
    struct Doc {
        format: String,
        version: u64,
        data: DataPart,
        model: SavedModel,
    }
    let doc: Doc = serde_json::from_str(&text).map_err(|e| InputError::new(format!("not a ratlab model: {e}")).file(&file))?;
    if doc.format != "ratlab-model" || doc.version != runner::MODEL_VERSION {
        return Err(InputError::new(format!(
            "model format {} version {} is not one this ratlab reads (ratlab-model version {})",
            doc.format,
            doc.version,
            runner::MODEL_VERSION
        ))
        .file(&file)
        .into());
    }
    let t = table::read_table(data)?;
    let mut set = doc.data.encoder.encode(&t, &data.display().to_string())?;
    if let Some(s) = &doc.data.scaler {
        if s.mean.len() != set.x.ncols() {
            return Err(InputError::new("the model's standardization does not match the encoded columns").file(&file).into());
        }
        s.apply(&mut set.x);
    }
    let classes = &doc.data.encoder.classes;
    let cols = match doc.model.predict(set.x.view()) {
        Prediction::Proba(p) => {
            let label = |i: usize| classes.get(i).cloned().unwrap_or_else(|| i.to_string());
            let mut cols = vec![(
                "prediction".to_string(),
                OutValues::Text(p.rows().into_iter().map(|r| label(crate::metrics::argmax(&r))).collect()),
            )];
            for c in 0..p.ncols() {
                cols.push((format!("proba_{}", label(c)), OutValues::Numeric(p.column(c).to_vec())));
            }
            cols
        }
        Prediction::Values(v) => vec![("prediction".to_string(), OutValues::Numeric(v.to_vec()))],
    };
    let stdout = std::io::stdout();
    table::write_columns(out, cols, &mut stdout.lock())?;
    if let Some(o) = out {
        eprintln!("{} predictions written to {}", set.x.nrows(), o.display());
    }
    Ok(0)
}
