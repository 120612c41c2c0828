//! `ratlab run` on this machine (and what the executors share: the selection of runs and
//! trials, `--dry-run`, Ctrl-C), `validate` and `tui`.

use super::console::Console;
use super::render::print_results;
use super::Format;
use crate::error::{InputError, InputErrors};
use crate::experiments::events::Tee;
use crate::experiments::plan::{self, Plan, RunPlan};
use crate::experiments::runner;
use crate::experiments::store::{StoreSink, Summary};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Runs at once in the TUI: as asked, else one per core.
pub fn tui_jobs(jobs: Option<u32>) -> usize {
    jobs.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |j| j as usize)
}

/// `ratlab tui` (and `ratlab` alone).
pub fn tui(mut files: Vec<PathBuf>, out: PathBuf, jobs: Option<u32>) -> anyhow::Result<u8> {
    let mut all = crate::ui::default_experiments(Path::new("."));
    // A file given that is also among the defaults is listed once.
    let key = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    files.retain(|f| !all.iter().any(|a| key(a) == key(f)));
    all.append(&mut files);
    crate::ui::run(crate::ui::Options { experiments: all, runs_dir: out, replay: vec![], speed: None, jobs: tui_jobs(jobs) })
}

/// `ratlab validate`.
pub fn validate(files: &[PathBuf]) -> anyhow::Result<u8> {
    let mut bad = false;
    for f in files {
        let res = plan::load(f, &[]).and_then(|p| p.prepare().map(|d| (p, d)).map_err(InputErrors::from));
        match res {
            Ok((p, d)) => {
                let shape = d.map(|d| format!(", data {} rows × {} features", d.data.x.nrows(), d.data.feature_names.len())).unwrap_or_default();
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

/// Ctrl-C cancels after the current step (twice aborts); a Slurm task stops at once.
pub fn install_ctrlc(cancel: Arc<AtomicBool>) {
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
pub struct RunOpts {
    pub format: Format,
    pub only: Vec<String>,
    pub jobs: usize,
    pub dry_run: bool,
    pub trials: Vec<usize>,
    pub max_trials: usize,
}

pub const fn ratlab_max_trials() -> usize {
    plan::MAX_TRIALS
}

/// The runs `--run NAME` (a run, a search, or one trial) and `--trial I` select; `None` for all.
pub fn select_runs(plan: &Plan, path: &Path, only: &[String], trials: &[usize]) -> Result<Option<Vec<usize>>, InputError> {
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
pub fn print_dry_run(plan: &Plan, indices: Option<&[usize]>, format: Format) -> anyhow::Result<()> {
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

/// `ratlab run` on this machine, `-j` runs at once.
pub fn run(path: &Path, sets: &[String], out: &Path, o: &RunOpts) -> anyhow::Result<u8> {
    let format = o.format;
    let plan = plan::load_with(path, sets, o.max_trials)?;
    let indices = select_runs(&plan, path, &o.only, &o.trials)?;
    if o.dry_run {
        print_dry_run(&plan, indices.as_deref(), format)?;
        return Ok(0);
    }
    super::console::show_rows_read();
    let prepared = plan.prepare();
    super::console::rows_read_done(None);
    let prepared = prepared?;
    std::fs::create_dir_all(out).map_err(|e| InputError::new(format!("cannot create the output directory: {e}")).file(out).field("--out"))?;
    let yaml = serde_saphyr::to_string(&plan.resolved).map_err(|e| anyhow::anyhow!("cannot render the resolved experiment: {e}"))?;
    let cancel = Arc::new(AtomicBool::new(false));
    install_ctrlc(cancel.clone());
    let mut store = StoreSink::new(out, yaml);
    let mut console = Console::new(format, &plan, indices.as_deref());
    super::console::rows_read_done(Some(&console));
    let summaries = {
        let mut tee = Tee(vec![&mut store, &mut console]);
        runner::run_plan_jobs(&plan, prepared.as_ref(), indices.as_deref(), o.jobs, &mut tee, &cancel)
    };
    super::console::rows_read_done(None);
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
