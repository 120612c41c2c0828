//! A recorded run again: `replay --print` shows its curves and summary, `rerun` executes it
//! with its recorded experiment and seed (and `--check` compares bit for bit).

use super::console::Console;
use super::render::{fmt_metrics, sparkline};
use super::run::{install_ctrlc, tui_jobs};
use super::Format;
use crate::error::InputError;
use crate::experiments::events::{Collect, Flow, Metrics, RunEvent, Sink, Status, Tee};
use crate::experiments::plan::{self, RunPlan};
use crate::experiments::runner;
use crate::experiments::store::{self, Summary};
use crate::metrics::format_value as fmt_num;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// A curve of a replayed run: metric name and fold.
type SeriesKey = (String, Option<u32>);

/// `ratlab replay`: the TUI on a terminal, else (or with `--print`) curves and summary printed.
pub fn replay(run_dirs: &[PathBuf], speed: Option<f64>, print: bool) -> anyhow::Result<u8> {
    if print || !std::io::stdout().is_terminal() {
        return print_runs(run_dirs);
    }
    if let Some(s) = speed.filter(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(InputError::new(format!("{s} is not allowed; expected a speed > 0 (1 = as recorded)")).field("--speed").into());
    }
    let runs_dir = run_dirs.first().and_then(|d| d.parent()).map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("runs"));
    crate::ui::run(crate::ui::Options { experiments: crate::ui::default_experiments(Path::new(".")), runs_dir, replay: run_dirs.to_vec(), speed, jobs: tui_jobs(None) })
}

/// Each run's curves as sparklines, then its summary.
fn print_runs(dirs: &[PathBuf]) -> anyhow::Result<u8> {
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

/// `ratlab rerun`.
pub fn rerun(dir: &Path, check: bool) -> anyhow::Result<u8> {
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
