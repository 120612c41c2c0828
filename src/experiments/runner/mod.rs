//! The one runner. It drives every backend's [`Trainer`](crate::backends::Trainer) step by step, evaluates the model on
//! the training and test parts after each step, and pushes [`RunEvent`]s into a [`Sink`]. It
//! never knows who listens (store, console, TUI, test); a sink can answer "stop", and a shared
//! flag cancels cleanly between steps.
//!
//! This file runs a plan: which runs go together (a TPE search's batches, a pruned search's
//! batches) and what each trial tries; [`threads`] runs a wave up to `-j` at once; [`one`] runs
//! one run from its start to its end, through its [`emit`]ter; [`steps`] trains it step by step
//! and builds its curves.

mod chunked;
mod emit;
mod one;
mod steps;
mod threads;

pub use one::{run_one, started};
pub use crate::experiments::model_file::MODEL_VERSION;

use super::events::{Flow, RunEvent, Sink};
use super::plan::{Plan, RunPlan, SearchMethod, SearchPlan, PRUNE_BATCH, TPE_BATCH, TPE_STARTUP};
use super::prune::Pruner;
use super::store::Summary;
use super::tpe;
use crate::data::{split, Fold, Prepared};
use one::failed_run;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use threads::run_wave;

/// Run every run of a plan (or those in `only`), in order. Returns each run's summary.
pub fn run_plan(plan: &Plan, prepared: Option<&Prepared>, only: Option<&[usize]>, sink: &mut dyn Sink, cancel: &AtomicBool) -> Vec<Summary> {
    run_plan_jobs(plan, prepared, only, 1, sink, cancel).into_iter().map(|(_, s)| s).collect()
}

/// [`run_plan`] with up to `jobs` runs at once (`ratlab run -j N`), each on its own thread; the
/// sink is only ever called from this thread, so it needs no locking, and each run's events
/// reach it in order. Returns each run as it ran (a TPE trial with its values filled in) and
/// its summary, in plan order. Every run is seeded by itself and a TPE search proposes its
/// trials in fixed batches, so neither the trials nor the results depend on `jobs`. Transformer
/// runs (a chain of them needs its sources finished, and each uses every core) run one at a
/// time.
pub fn run_plan_jobs(plan: &Plan, prepared: Option<&Prepared>, only: Option<&[usize]>, jobs: usize, sink: &mut dyn Sink, cancel: &AtomicBool) -> Vec<(RunPlan, Summary)> {
    let folds: Option<&[Fold]> = prepared.filter(|_| plan.data.is_some()).map(|p| p.folds.as_slice());
    let selected: Vec<&RunPlan> = plan.runs.iter().filter(|r| only.is_none_or(|o| o.contains(&r.index))).collect();
    let jobs = if selected.iter().any(|r| r.algorithm.is_language_model()) { 1 } else { jobs.max(1) };
    let mut results: BTreeMap<usize, (RunPlan, Summary)> = BTreeMap::new();
    // The curves pruning compares with: each pruned search's metric, per trial.
    let watch: BTreeMap<usize, String> = plan
        .searches
        .iter()
        .filter(|s| s.prune.is_some())
        .flat_map(|s| s.trials.iter().map(move |&i| (i, format!("test.{}", s.metric.as_str()))))
        .collect();
    let mut sink = Recording { inner: sink, watch, curves: BTreeMap::new() };
    let sink = &mut sink;
    for wave in waves(plan, &selected) {
        if cancel.load(Ordering::SeqCst) {
            break;
        }
        // TPE trials get their values now, from the trials finished before them.
        let mut runs = Vec::with_capacity(wave.len());
        for r in wave {
            let mut r = match tpe_search(plan, r) {
                None => r.clone(),
                Some(sp) => match propose(sp, r, &results) {
                    Ok(filled) => filled,
                    Err(e) => {
                        let s = failed_run(plan, r, format!("the proposed values do not fit: {e}"), sink);
                        results.insert(r.index, (r.clone(), s));
                        continue;
                    }
                },
            };
            // A pruned search's trial is compared with the trials of the batches before it.
            if let Some(sp) = search_of(plan, &r).filter(|s| s.prune.is_some()) {
                let history = sp.trials.iter().filter(|i| results.contains_key(i)).filter_map(|i| sink.curves.get(i).cloned()).collect();
                r.pruner = sp.prune.map(|spec| {
                    std::sync::Arc::new(Pruner { spec, key: format!("test.{}", sp.metric.as_str()), higher_is_better: sp.metric.higher_is_better(), history })
                });
            }
            runs.push(r);
        }
        let summaries = run_wave(plan, &runs, folds, jobs, sink, cancel);
        for (r, s) in runs.into_iter().zip(summaries) {
            if let Some(s) = s {
                results.insert(r.index, (r, s));
            }
        }
    }
    results.into_values().collect()
}

/// The search a run is a trial of, if any.
fn search_of<'p>(plan: &'p Plan, r: &RunPlan) -> Option<&'p SearchPlan> {
    let t = r.trial.as_ref()?;
    plan.searches.iter().find(|s| s.run == t.search)
}

/// The TPE search a run is a trial of, if any.
fn tpe_search<'p>(plan: &'p Plan, r: &RunPlan) -> Option<&'p SearchPlan> {
    search_of(plan, r).filter(|s| s.method == SearchMethod::Tpe)
}

/// The sink of a plan's runs, keeping the curves pruning compares with.
struct Recording<'a> {
    inner: &'a mut dyn Sink,
    /// Run index → the step metric its search prunes on.
    watch: BTreeMap<usize, String>,
    curves: BTreeMap<usize, BTreeMap<u64, f64>>,
}

impl Sink for Recording<'_> {
    fn event(&mut self, run: &RunPlan, ev: &RunEvent) -> Flow {
        if let (RunEvent::Step { step, metrics, .. }, Some(key)) = (ev, self.watch.get(&run.index)) {
            if let Some(v) = metrics.get(key) {
                self.curves.entry(run.index).or_default().insert(*step, *v);
            }
        }
        self.inner.event(run, ev)
    }
    fn model(&mut self, run: &RunPlan, model: &serde_json::Value) {
        self.inner.model(run, model);
    }
    fn run_dir(&self, run: &RunPlan) -> Option<PathBuf> {
        self.inner.run_dir(run)
    }
    fn finished_run(&self, experiment: &str, run: &RunPlan) -> Option<PathBuf> {
        self.inner.finished_run(experiment, run)
    }
}

/// Runs that may start together, in order: everything up to a batched search in one wave; a
/// TPE search's prior draws in one, then its trials in batches of [`TPE_BATCH`]; a pruned
/// search's trials in batches of [`PRUNE_BATCH`].
fn waves<'p>(plan: &Plan, selected: &[&'p RunPlan]) -> Vec<Vec<&'p RunPlan>> {
    let mut out: Vec<Vec<&RunPlan>> = Vec::new();
    let mut current: Vec<&RunPlan> = Vec::new();
    let mut batch_of: Option<(String, usize)> = None;
    for &r in selected {
        let batched = search_of(plan, r).filter(|s| s.method == SearchMethod::Tpe || s.prune.is_some());
        match (batched, &r.trial) {
            (Some(sp), Some(t)) => {
                let batch = match sp.method {
                    SearchMethod::Tpe if t.number < TPE_STARTUP => 0,
                    SearchMethod::Tpe => 1 + (t.number - TPE_STARTUP) / TPE_BATCH,
                    _ => t.number / PRUNE_BATCH,
                };
                if batch_of.as_ref() != Some(&(sp.run.clone(), batch)) && !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
                batch_of = Some((sp.run.clone(), batch));
                current.push(r);
            }
            _ => {
                if batch_of.take().is_some() && !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
                current.push(r);
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A TPE trial with its values: drawn from the prior for the first [`TPE_STARTUP`] trials,
/// else proposed from the search's finished trials (in trial order), seeded by the trial.
fn propose(sp: &SearchPlan, r: &RunPlan, results: &BTreeMap<usize, (RunPlan, Summary)>) -> Result<RunPlan, String> {
    let space = sp.tpe_space(r.algorithm);
    let number = r.trial.as_ref().map_or(0, |t| t.number);
    let mut rng = split::rng(crate::backends::native::hist::mix(r.seed, 0x79e));
    let values = if number < TPE_STARTUP {
        space.iter().map(|d| tpe::prior_draw(d, &mut rng)).collect()
    } else {
        let seen: Vec<(Vec<tpe::Value>, f64)> = sp
            .trials
            .iter()
            .filter_map(|i| results.get(i))
            .filter(|(_, s)| s.status == super::events::Status::Finished)
            .filter_map(|(rp, s)| {
                let v = sp.encode(&rp.trial.as_ref()?.values)?;
                let m = *s.metrics.get(sp.metric.as_str())?;
                Some((v, if sp.metric.higher_is_better() { -m } else { m }))
            })
            .collect();
        tpe::propose(&space, &seen, &mut rng)
    };
    sp.fill(r, &values)
}
