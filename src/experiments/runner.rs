//! The one runner. It drives every backend's [`Trainer`] step by step, evaluates the model on
//! the training and test parts after each step, and pushes [`RunEvent`]s into a [`Sink`]. It
//! never knows who listens (store, console, TUI, test); a sink can answer "stop", and a shared
//! flag cancels cleanly between steps.

use super::events::{Flow, Level, Metrics, RunEvent, Sink};
use super::plan::{Plan, RunPlan, SearchMethod, SearchPlan, PRUNE_BATCH, TPE_BATCH, TPE_STARTUP};
use super::prune::Pruner;
use super::tpe;
use super::store::Summary;
use crate::backends::{build_trainer, Prediction, Predictor, StepOut, TrainError, Trainer};
use crate::data::{self, split, Encoder, Fold, Prepared, TrainSet};
use crate::metrics::Metric;
use ndarray::ArrayView1;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::time::Instant;

/// Why a run ended early.
enum Stop {
    Cancelled,
    Error(String),
    /// A search's pruning rule stopped the trial; the reason.
    Pruned(String),
}

/// A run's stop signal: the plan's (Ctrl-C, quitting the TUI) or its own (its sink answered
/// [`Flow::Stop`], e.g. the user cancelled this one run), so stopping one run of a `-j N` wave
/// leaves the others going.
struct Cancel<'a> {
    plan: &'a AtomicBool,
    own: AtomicBool,
}

impl Cancel<'_> {
    fn is_set(&self) -> bool {
        self.own.load(Ordering::SeqCst) || self.plan.load(Ordering::SeqCst)
    }
}

/// Emits events for one run with times relative to its start.
struct Emitter<'a> {
    run: &'a RunPlan,
    sink: &'a mut dyn Sink,
    cancel: Cancel<'a>,
    start: Instant,
    summary: Option<Summary>,
    artifacts: serde_json::Value,
    /// The data encoding, saved with the model for `ratlab predict`.
    encoder: Option<&'a Encoder>,
}

impl Emitter<'_> {
    fn t(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
    fn send(&mut self, ev: RunEvent) -> Result<(), Stop> {
        match &mut self.summary {
            None => self.summary = Summary::from_started(&ev),
            Some(s) => s.apply(&ev),
        }
        let flow = self.sink.event(self.run, &ev);
        if matches!(ev, RunEvent::Step { .. }) {
            fault_delay();
        }
        if flow == Flow::Stop && !ev.is_terminal() {
            self.cancel.own.store(true, Ordering::SeqCst);
        }
        Ok(())
    }
    fn check(&self) -> Result<(), Stop> {
        if self.cancel.is_set() {
            Err(Stop::Cancelled)
        } else {
            Ok(())
        }
    }
    fn message(&mut self, level: Level, text: String) -> Result<(), Stop> {
        let t_ms = self.t();
        self.send(RunEvent::Message { level, text, t_ms })
    }
}

/// Evaluate a model on a set for the experiment's metrics; undefined values are left out.
fn evaluate(model: &dyn Predictor, set: &TrainSet, metrics: &[Metric], prefix: &str, out: &mut Metrics) {
    score(&model.predict(set.x.view()), set.y.view(), metrics, prefix, out);
}

/// Score a prediction against targets for the experiment's metrics.
/// The metrics are computed in parallel: each is a pass over every row, AUC a sort.
fn score(pred: &Prediction, y: ArrayView1<'_, f64>, metrics: &[Metric], prefix: &str, out: &mut Metrics) {
    use rayon::prelude::*;
    let values: Vec<f64> = metrics.par_iter().map(|m| m.compute(pred, y)).collect();
    for (m, v) in metrics.iter().zip(values) {
        if v.is_finite() {
            out.insert(format!("{prefix}{}", m.as_str()), v);
        }
    }
}

/// The step's train and test metrics: from the trainer's own running predictions when it keeps
/// them (boosting, ensembles), else by predicting with the model. Train metrics are taken on the
/// fold's `eval_rows` (`data.eval_train_rows`).
fn step_metrics(tr: &dyn Trainer, plan: &Plan, train_eval: &TrainSet, eval_rows: &[usize], test: &TrainSet, out: &mut Metrics) {
    if let Some((ptrain, ptest)) = tr.staged(eval_rows) {
        // Train and test scored side by side (AUC sorts every row each step).
        let (mut a, mut b) = (Metrics::new(), Metrics::new());
        rayon::join(
            || {
                if !eval_rows.is_empty() {
                    score(&ptrain, train_eval.y.view(), &plan.metrics, "train.", &mut a)
                }
            },
            || {
                if let Some(p) = &ptest {
                    score(p, test.y.view(), &plan.metrics, "test.", &mut b)
                }
            },
        );
        out.extend(a);
        out.extend(b);
    } else if let Some(model) = tr.predictor() {
        if !eval_rows.is_empty() {
            evaluate(model, train_eval, &plan.metrics, "train.", out);
        }
        if !test.is_empty() {
            evaluate(model, test, &plan.metrics, "test.", out);
        }
    }
}

fn check_finite(out: &StepOut, step: u64) -> Result<(), TrainError> {
    for (k, v) in &out.metrics {
        if !v.is_finite() {
            return Err(TrainError::Diverged(format!("{k} is {v} at step {step}")));
        }
    }
    Ok(())
}

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
    let folds: Option<Vec<Fold>> = match (prepared, &plan.data) {
        (Some(p), Some(cfg)) => Some(data::folds(p, cfg, plan.seed)),
        _ => None,
    };
    let encoder = prepared.map(|p| &p.encoder);
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
        let summaries = run_wave(plan, &runs, folds.as_deref(), encoder, jobs, sink, cancel);
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

/// Run `runs` up to `jobs` at once; each one's summary in order (`None`: not started, cancelled
/// before its turn).
fn run_wave(plan: &Plan, runs: &[RunPlan], folds: Option<&[Fold]>, encoder: Option<&Encoder>, jobs: usize, sink: &mut dyn Sink, cancel: &AtomicBool) -> Vec<Option<Summary>> {
    if jobs <= 1 || runs.len() <= 1 {
        return runs
            .iter()
            .map(|run| (!cancel.load(Ordering::SeqCst)).then(|| run_one(plan, run, folds, encoder, sink, cancel)))
            .collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<Option<Summary>> = runs.iter().map(|_| None).collect();
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel::<Request>();
        for _ in 0..jobs.min(runs.len()) {
            let (tx, next) = (tx.clone(), &next);
            scope.spawn(move || loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                if k >= runs.len() || cancel.load(Ordering::SeqCst) {
                    break;
                }
                let mut forward = Forward { tx: tx.clone() };
                let summary = run_one(plan, &runs[k], folds, encoder, &mut forward, cancel);
                if tx.send(Request::Done(k, Box::new(summary))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let by_index: BTreeMap<usize, &RunPlan> = runs.iter().map(|r| (r.index, r)).collect();
        for req in rx {
            let run = |i: usize| by_index[&i];
            match req {
                Request::Event(i, ev, reply) => {
                    let _ = reply.send(sink.event(run(i), &ev));
                }
                Request::Model(i, model) => sink.model(run(i), &model),
                Request::RunDir(i, reply) => {
                    let _ = reply.send(sink.run_dir(run(i)));
                }
                Request::Finished(i, reply) => {
                    let _ = reply.send(sink.finished_run(&plan.name, run(i)));
                }
                Request::Done(k, summary) => done[k] = Some(*summary),
            }
        }
    });
    done
}

/// What a run on a worker thread asks of the sink on the main thread (runs by their index in
/// [`Plan::runs`]).
enum Request {
    Event(usize, Box<RunEvent>, Sender<Flow>),
    Model(usize, serde_json::Value),
    RunDir(usize, Sender<Option<PathBuf>>),
    Finished(usize, Sender<Option<PathBuf>>),
    Done(usize, Box<Summary>),
}

/// The sink of a run on a worker thread: forwards each call to the main thread and waits for
/// the answer. A closed channel means the main thread is gone: stop.
struct Forward {
    tx: Sender<Request>,
}

impl Forward {
    fn ask<T>(&self, make: impl FnOnce(Sender<T>) -> Request, otherwise: T) -> T {
        let (reply, answer) = std::sync::mpsc::channel();
        match self.tx.send(make(reply)) {
            Ok(()) => answer.recv().unwrap_or(otherwise),
            Err(_) => otherwise,
        }
    }
}

impl Sink for Forward {
    fn event(&mut self, run: &RunPlan, ev: &RunEvent) -> Flow {
        self.ask(|r| Request::Event(run.index, Box::new(ev.clone()), r), Flow::Stop)
    }
    fn model(&mut self, run: &RunPlan, model: &serde_json::Value) {
        let _ = self.tx.send(Request::Model(run.index, model.clone()));
    }
    fn run_dir(&self, run: &RunPlan) -> Option<PathBuf> {
        self.ask(|r| Request::RunDir(run.index, r), None)
    }
    fn finished_run(&self, _experiment: &str, run: &RunPlan) -> Option<PathBuf> {
        self.ask(|r| Request::Finished(run.index, r), None)
    }
}

/// The event that opens a run's record (also the record of a run that never started).
pub fn started(plan: &Plan, run: &RunPlan, total_steps: Option<u64>) -> RunEvent {
    RunEvent::Started {
        experiment: plan.name.clone(),
        run: run.name.clone(),
        algorithm: run.algorithm.as_str().into(),
        backend: run.backend.as_str().into(),
        params: run.params_json.clone(),
        seed: run.seed,
        x_label: match (&run.sweep, &run.train_sizes) {
            (Some((p, _)), _) => p.clone(),
            (None, Some(_)) => "train size".into(),
            _ => run.algorithm.x_label().into(),
        },
        total_steps,
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

/// Record a run that cannot start (a TPE proposal its backend refuses) as failed.
fn failed_run(plan: &Plan, run: &RunPlan, error: String, sink: &mut dyn Sink) -> Summary {
    let events = [started(plan, run, None), RunEvent::Failed { error, cancelled: false, pruned: false, t_ms: 0 }];
    for ev in &events {
        sink.event(run, ev);
    }
    Summary::from_events(&events).unwrap_or_else(|| unreachable!("a run's events start with Started"))
}

/// Execute one run to its end (finished, failed or cancelled), emitting all its events.
pub fn run_one(plan: &Plan, run: &RunPlan, folds: Option<&[Fold]>, encoder: Option<&Encoder>, sink: &mut dyn Sink, cancel: &AtomicBool) -> Summary {
    let mut em = Emitter { run, sink, cancel: Cancel { plan: cancel, own: AtomicBool::new(false) }, start: Instant::now(), summary: None, artifacts: serde_json::Value::Null, encoder };
    let n_folds = folds.map_or(1, <[Fold]>::len);
    let total_steps = match (&run.train_sizes, &run.params) {
        _ if run.sweep.is_some() => run.sweep.as_ref().map(|s| (s.1.len() * n_folds) as u64),
        (Some(s), _) => Some((s.len() * n_folds) as u64),
        (None, crate::backends::AlgoParams::Estimation(e)) => Some(e.sizes.len() as u64),
        (None, crate::backends::AlgoParams::KnnScaling(e)) => Some(e.dims.len() as u64),
        (None, crate::backends::AlgoParams::Transformer(t)) => Some(t.steps as u64),
        (None, crate::backends::AlgoParams::Logistic(l)) if matches!(run.backend, crate::backends::Backend::Native) => Some(l.max_iter * n_folds as u64),
        // Native boosting and ensembles step once per round or member (early stopping ends sooner).
        (None, crate::backends::AlgoParams::Boosting(b)) if matches!(run.backend, crate::backends::Backend::Native) => Some((b.n_estimators * n_folds) as u64),
        (None, crate::backends::AlgoParams::Bagging(b)) if matches!(run.backend, crate::backends::Backend::Native) => Some((b.n_estimators * n_folds) as u64),
        (None, crate::backends::AlgoParams::Forest(f)) if matches!(run.backend, crate::backends::Backend::Native) => Some((f.n_estimators * n_folds) as u64),
        (None, crate::backends::AlgoParams::AdaBoost(a)) if matches!(run.backend, crate::backends::Backend::Native) => Some((a.n_estimators * n_folds) as u64),
        _ => Some(n_folds as u64),
    };
    let _ = em.send(started(plan, run, total_steps));
    // A bug that panics inside one run (or inside a library it calls) fails that run with the
    // reason; the other runs, the search and the TUI go on.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        fault_point(run);
        drive(plan, run, folds, &mut em)
    }))
    .unwrap_or_else(|p| Err(Stop::Error(format!("internal error (a bug in ratlab, please report it): {}", panic_text(p.as_ref())))));
    let t_ms = em.t();
    let ev = match result {
        Ok((metrics, train_metrics, cv_std)) => RunEvent::Finished { metrics, train_metrics, cv_std, t_ms, artifacts: std::mem::take(&mut em.artifacts) },
        Err(Stop::Cancelled) => RunEvent::Failed { error: "cancelled".into(), cancelled: true, pruned: false, t_ms },
        Err(Stop::Error(error)) => RunEvent::Failed { error, cancelled: false, pruned: false, t_ms },
        Err(Stop::Pruned(error)) => RunEvent::Failed { error, cancelled: false, pruned: true, t_ms },
    };
    let _ = em.send(ev);
    em.summary.take().expect("started event creates the summary")
}

type Finals = (Metrics, Metrics, Metrics);

/// A panic's message.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_else(|| "panic".into())
}

/// Fault injection for the reliability tests: `RATLAB_FAULT=panic:RUN` makes run RUN panic as
/// it starts, as a bug would.
/// `RATLAB_FAULT=slow:MS` makes every step take MS milliseconds longer, so tests can stop
/// runs (scancel, signals) at a known point in the middle, whatever the machine's speed.
fn fault_delay() {
    static DELAY: std::sync::OnceLock<Option<std::time::Duration>> = std::sync::OnceLock::new();
    let d = DELAY.get_or_init(|| {
        std::env::var("RATLAB_FAULT").ok()?.strip_prefix("slow:")?.parse().ok().map(std::time::Duration::from_millis)
    });
    if let Some(d) = d {
        std::thread::sleep(*d);
    }
}

fn fault_point(run: &RunPlan) {
    if let Ok(f) = std::env::var("RATLAB_FAULT") {
        if f.strip_prefix("panic:") == Some(run.name.as_str()) {
            panic!("injected fault in run {}", run.name);
        }
    }
}

fn drive(plan: &Plan, run: &RunPlan, folds: Option<&[Fold]>, em: &mut Emitter<'_>) -> Result<Finals, Stop> {
    if run.algorithm.is_language_model() {
        return torch_run(plan, run, em);
    }
    let folds = match folds {
        Some(f) if run.algorithm.uses_data() => Some(f),
        _ => None,
    };
    let Some(folds) = folds else {
        // No dataset (estimation demo): the trainer reports its own metrics.
        let mut tr = build_trainer(run.backend, &run.params, None, None, run.seed).map_err(|e| Stop::Error(e.to_string()))?;
        let mut k = 0u64;
        loop {
            em.check()?;
            k += 1;
            let out = tr.step().map_err(|e| Stop::Error(e.to_string()))?;
            check_finite(&out, k).map_err(|e| Stop::Error(e.to_string()))?;
            let t_ms = em.t();
            if let Some(m) = out.message.clone() {
                em.message(Level::Info, m)?;
            }
            let last = out.metrics.clone();
            em.send(RunEvent::Step { step: k, x: out.x.unwrap_or(k as f64), fold: None, metrics: out.metrics, t_ms })?;
            if out.done {
                em.artifacts = tr.artifacts().unwrap_or_default();
                return Ok((tr.final_metrics().unwrap_or(last), Metrics::new(), Metrics::new()));
            }
        }
    };
    let cv = folds.len() > 1;
    let mut per_fold: Vec<(Metrics, Metrics)> = Vec::new();
    let mut step = 0u64;
    for (fi, fold) in folds.iter().enumerate() {
        let fold_id = cv.then_some(fi as u32);
        let staged;
        let fold = if run.preprocess.is_empty() {
            fold
        } else {
            staged = preprocess(run, fold).map_err(|e| Stop::Error(format!("preprocess: {e}")))?;
            if fi == 0 {
                em.message(Level::Info, staged.1.clone())?;
            }
            &staged.0
        };
        let res = match (&run.sweep, &run.train_sizes) {
            (Some((name, points)), _) => sweep_curve(plan, run, fold, name, points, fold_id, &mut step, em)?,
            (None, None) => train_full(plan, run, fold, fold_id, cv, &mut step, em)?,
            (None, Some(sizes)) => learning_curve(plan, run, fold, sizes, fold_id, &mut step, em)?,
        };
        per_fold.push(res);
    }
    // Final metrics: the single fold's, or mean (and std) over folds.
    let mean_std = |pick: &dyn Fn(&(Metrics, Metrics)) -> &Metrics| -> (Metrics, Metrics) {
        let mut acc: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for f in &per_fold {
            for (k, v) in pick(f) {
                acc.entry(k.clone()).or_default().push(*v);
            }
        }
        let (mut mean, mut std) = (Metrics::new(), Metrics::new());
        for (k, v) in acc {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            let s = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
            mean.insert(k.clone(), m);
            std.insert(k, s);
        }
        (mean, std)
    };
    let (test, test_std) = mean_std(&|f| &f.0);
    let (train, _) = mean_std(&|f| &f.1);
    Ok((test, train, if cv { test_std } else { Metrics::new() }))
}

/// A transformer run: the `ratlab-torch` worker trains it and streams its events, which are
/// relayed to the sinks on the runner's clock. Cancellation asks the worker to stop after its
/// current step (and kills it if it does not); a worker that dies fails this run only.
fn torch_run(plan: &Plan, run: &RunPlan, em: &mut Emitter<'_>) -> Result<Finals, Stop> {
    use super::plan::InitFrom;
    use super::worker::{FromWorker, TorchJob, Worker};
    let (Some(lm), crate::backends::AlgoParams::Transformer(p)) = (&run.lm, &run.params) else {
        return Err(Stop::Error("a transformer run needs language data".into()));
    };
    let init_from = match &lm.init_from {
        None => None,
        Some(InitFrom::Dir(d)) => Some(d.clone()),
        Some(InitFrom::Run(i)) => {
            let src = plan.runs.iter().find(|r| r.index == *i).ok_or_else(|| Stop::Error("init_from names an unknown run".into()))?;
            Some(em.sink.finished_run(&plan.name, src).ok_or_else(|| {
                Stop::Error(format!("init_from {}: that run has not finished with a checkpoint in the run store; run it first", src.name))
            })?)
        }
    };
    let job = TorchJob {
        experiment: plan.name.clone(),
        run: run.name.clone(),
        params: p.clone(),
        seed: run.seed,
        data: lm.data.clone(),
        out_dir: em.sink.run_dir(run),
        init_from,
    };
    let mut worker = Worker::spawn(&job).map_err(Stop::Error)?;
    let mut garbage: Vec<String> = Vec::new();
    loop {
        if em.cancel.is_set() {
            worker.stop(std::time::Duration::from_secs(10));
        }
        match worker.next(std::time::Duration::from_millis(100)) {
            None => {}
            Some(FromWorker::Event(ev)) => match *ev {
                RunEvent::Started { .. } => {}
                RunEvent::Finished { metrics, train_metrics, artifacts, .. } => {
                    em.artifacts = artifacts;
                    let _ = worker.finish();
                    return Ok((metrics, train_metrics, Metrics::new()));
                }
                RunEvent::Failed { error, cancelled, .. } => {
                    let _ = worker.finish();
                    return Err(if cancelled { Stop::Cancelled } else { Stop::Error(error) });
                }
                mut other => {
                    other.set_t_ms(em.t());
                    em.send(other)?;
                }
            },
            Some(FromWorker::Garbage(line)) => {
                // Kept for the error message: the last few only.
                if garbage.len() == 3 {
                    garbage.remove(0);
                }
                garbage.push(line);
            }
            Some(FromWorker::Closed) => {
                let cancelled = em.cancel.is_set();
                let (status, tail) = worker.finish();
                if cancelled {
                    return Err(Stop::Cancelled);
                }
                let mut why = format!(
                    "the torch worker stopped without finishing the run ({})",
                    status.map_or("no exit status".to_string(), |s| s.to_string())
                );
                for l in garbage.iter().chain(std::iter::once(&tail)).filter(|l| !l.is_empty()) {
                    why.push_str("\n  ");
                    why.push_str(l);
                }
                return Err(Stop::Error(why));
            }
        }
    }
}

/// Fit the run's preprocessing stages on a fold's training part and apply them to both parts.
/// Returns the new fold and a note on what the stages kept.
fn preprocess(run: &RunPlan, fold: &Fold) -> Result<(Fold, String), TrainError> {
    let (mut train, mut test) = (fold.train.clone(), fold.test.clone());
    let mut notes = Vec::new();
    for p in &run.preprocess {
        let dims = train.x.ncols();
        let k_all = dims.min(train.len().saturating_sub(1)).max(1);
        let fit = crate::backends::pca::PcaFit::fit(&train.x, k_all, crate::backends::Backend::Native)?;
        let k = fit.choose(p.n_components);
        let kept: f64 = fit.variances[..k].iter().sum::<f64>() / fit.total;
        train.x = fit.transform(&train.x, k, p.whiten);
        test.x = fit.transform(&test.x, k, p.whiten);
        notes.push(format!("PCA keeps {k} of {dims} features ({:.1}% of the variance{})", kept * 100.0, if p.whiten { ", whitened" } else { "" }));
    }
    Ok((Fold { train, test, scaler: fold.scaler.clone(), eval_rows: fold.eval_rows.clone() }, format!("preprocess: {}", notes.join("; then "))))
}

/// Split step metrics into (test, train) final metrics by prefix.
fn finals(m: &Metrics) -> (Metrics, Metrics) {
    let pick = |p: &str| m.iter().filter_map(|(k, v)| k.strip_prefix(p).map(|s| (s.to_string(), *v))).collect();
    (pick("test."), pick("train."))
}

#[allow(clippy::too_many_arguments)]
fn train_full(plan: &Plan, run: &RunPlan, f: &Fold, fold: Option<u32>, cv: bool, step: &mut u64, em: &mut Emitter<'_>) -> Result<(Metrics, Metrics), Stop> {
    let (train, test) = (&f.train, &f.test);
    let mut tr: Box<dyn Trainer> =
        build_trainer(run.backend, &run.params, Some(train), Some(test), run.seed).map_err(|e| Stop::Error(e.to_string()))?;
    let train_eval: std::borrow::Cow<'_, TrainSet> =
        if f.eval_rows.len() == train.len() { std::borrow::Cow::Borrowed(train) } else { std::borrow::Cow::Owned(train.subset(&f.eval_rows)) };
    let mut k = 0u64;
    loop {
        em.check()?;
        k += 1;
        let out = tr.step().map_err(|e| Stop::Error(e.to_string()))?;
        check_finite(&out, k).map_err(|e| Stop::Error(e.to_string()))?;
        let mut metrics = out.metrics.clone();
        step_metrics(tr.as_ref(), plan, &train_eval, &f.eval_rows, test, &mut metrics);
        *step += 1;
        let t_ms = em.t();
        if let Some(m) = out.message.clone() {
            em.message(Level::Info, match fold {
                Some(f) => format!("fold {}: {m}", f + 1),
                None => m,
            })?;
        }
        let mut fin = finals(&metrics);
        if tr.predictor().is_none() {
            // Trainers that measure themselves: their final figures, or the last step's
            // test-set and unprefixed metrics.
            let mut own: Metrics = metrics.iter().filter(|(k, _)| !k.contains('.')).map(|(k, v)| (k.clone(), *v)).collect();
            own.extend(fin.0.clone());
            fin.0 = tr.final_metrics().unwrap_or(own);
        }
        let watched = run.pruner.as_ref().and_then(|p| metrics.get(&p.key).copied());
        em.send(RunEvent::Step { step: *step, x: out.x.unwrap_or(k as f64), fold, metrics, t_ms })?;
        if let (Some(p), Some(v), false) = (&run.pruner, watched, out.done) {
            if let Some(why) = p.check(*step, v) {
                return Err(Stop::Pruned(why));
            }
        }
        if out.done {
            if tr.finish() {
                // The kept model differs from the last step's (early stopping): score it.
                let mut kept = Metrics::new();
                step_metrics(tr.as_ref(), plan, &train_eval, &f.eval_rows, test, &mut kept);
                fin = finals(&kept);
            }
            em.artifacts = tr.artifacts().unwrap_or_default();
            if let (serde_json::Value::Object(m), Some(enc)) = (&mut em.artifacts, em.encoder) {
                if m.contains_key("importances") && run.preprocess.is_empty() {
                    m.insert("feature_names".into(), serde_json::json!(enc.names()));
                }
            }
            if !cv && run.preprocess.is_empty() {
                save_model(em, run, tr.as_ref(), f)?;
            }
            return Ok(fin);
        }
    }
}

/// Hand the fitted model, with the encoding and standardization that `ratlab predict` needs,
/// to the sinks (the run store writes `model.json`), or say why it cannot be saved.
fn save_model(em: &mut Emitter<'_>, run: &RunPlan, tr: &dyn Trainer, f: &Fold) -> Result<(), Stop> {
    let (Some(model), Some(encoder)) = (tr.saved(), em.encoder) else {
        if let Some(why) = tr.unsaved_reason() {
            em.message(Level::Info, format!("model not saved: {why}"))?;
        }
        return Ok(());
    };
    let doc = serde_json::json!({
        "format": "ratlab-model",
        "version": MODEL_VERSION,
        "algorithm": run.algorithm.as_str(),
        "backend": run.backend.as_str(),
        "params": run.params_json,
        "data": {
            "encoder": encoder,
            "feature_names": encoder.names(),
            "scaler": f.scaler,
        },
        "model": model,
    });
    em.sink.model(run, &doc);
    Ok(())
}

/// The version of `model.json`'s layout; `ratlab predict` refuses other versions.
pub const MODEL_VERSION: u64 = 1;

/// Fit a trainer to completion (checking for cancellation between steps) and evaluate it.
/// `Ok(None)` means cancelled.
fn fit_and_evaluate(
    plan: &Plan,
    run: &RunPlan,
    params: &crate::backends::AlgoParams,
    train: &TrainSet,
    test: &TrainSet,
    cancel: &Cancel<'_>,
) -> Result<Option<Metrics>, TrainError> {
    let mut tr = build_trainer(run.backend, params, Some(train), Some(test), run.seed)?;
    let mut inner = 0u64;
    loop {
        if cancel.is_set() {
            return Ok(None);
        }
        inner += 1;
        let out = tr.step()?;
        check_finite(&out, inner)?;
        if out.done {
            break;
        }
    }
    let mut metrics = Metrics::new();
    if let Some(model) = tr.predictor() {
        evaluate(model, train, &plan.metrics, "train.", &mut metrics);
        evaluate(model, test, &plan.metrics, "test.", &mut metrics);
    }
    metrics.insert("iterations".into(), inner as f64);
    Ok(Some(metrics))
}

#[allow(clippy::too_many_arguments)]
fn sweep_curve(
    plan: &Plan,
    run: &RunPlan,
    fold: &Fold,
    name: &str,
    points: &[(f64, crate::backends::AlgoParams)],
    fold_id: Option<u32>,
    step: &mut u64,
    em: &mut Emitter<'_>,
) -> Result<(Metrics, Metrics), Stop> {
    let mut last = None;
    let mut best: Option<(f64, f64)> = None;
    let key = plan.metrics.first().map(|m| (format!("test.{}", m.as_str()), m.higher_is_better()));
    for (x, params) in points {
        em.check()?;
        *step += 1;
        match fit_and_evaluate(plan, run, params, &fold.train, &fold.test, &em.cancel) {
            Ok(None) => return Err(Stop::Cancelled),
            Ok(Some(metrics)) => {
                if let Some((k, higher)) = &key {
                    if let Some(v) = metrics.get(k) {
                        if best.is_none_or(|(_, b)| if *higher { *v > b } else { *v < b }) {
                            best = Some((*x, *v));
                        }
                    }
                }
                last = Some(finals(&metrics));
                let t_ms = em.t();
                em.send(RunEvent::Step { step: *step, x: *x, fold: fold_id, metrics, t_ms })?;
            }
            Err(e) => return Err(Stop::Error(format!("{name} = {x}: {e}"))),
        }
    }
    if let (Some((x, v)), Some((k, _))) = (best, &key) {
        em.message(Level::Info, format!("best {k} = {v:.4} at {name} = {x}"))?;
    }
    last.ok_or_else(|| Stop::Error("the sweep has no values".into()))
}

fn learning_curve(
    plan: &Plan,
    run: &RunPlan,
    fold: &Fold,
    sizes: &[f64],
    fold_id: Option<u32>,
    step: &mut u64,
    em: &mut Emitter<'_>,
) -> Result<(Metrics, Metrics), Stop> {
    let n = fold.train.len();
    let labels = (fold.train.n_classes > 0).then(|| fold.train.labels());
    let order = split::nested_order(n, labels.as_deref(), run.seed);
    let mut counts: Vec<usize> = sizes
        .iter()
        .map(|&s| if s <= 1.0 && sizes.iter().all(|v| *v <= 1.0) { (s * n as f64).round() as usize } else { s as usize })
        .map(|c| c.clamp(1, n))
        .collect();
    if sizes.iter().any(|&s| s > 1.0 && s as usize > n) {
        em.message(Level::Warning, format!("train_sizes above the {n} training rows are capped at {n}"))?;
    }
    counts.dedup();
    let mut last: Option<(Metrics, Metrics)> = None;
    let mut last_err = None;
    for &c in &counts {
        em.check()?;
        let subset = fold.train.subset(&order[..c]);
        let result = fit_and_evaluate(plan, run, &run.params, &subset, &fold.test, &em.cancel);
        *step += 1;
        match result {
            Ok(None) => return Err(Stop::Cancelled),
            Ok(Some(metrics)) => {
                last = Some(finals(&metrics));
                last_err = None;
                let t_ms = em.t();
                em.send(RunEvent::Step { step: *step, x: c as f64, fold: fold_id, metrics, t_ms })?;
            }
            Err(e @ TrainError::NoOptimum(_)) | Err(e @ TrainError::Data(_)) => {
                em.message(Level::Warning, format!("train size {c}: no point: {e}"))?;
                last_err = Some(e.to_string());
            }
            Err(e) => return Err(Stop::Error(format!("train size {c}: {e}"))),
        }
    }
    match (last_err, last) {
        (Some(e), _) => Err(Stop::Error(format!("at the largest train size ({}): {e}", counts.last().copied().unwrap_or(0)))),
        (None, Some(l)) => Ok(l),
        (None, None) => Err(Stop::Error("no train size produced a model".into())),
    }
}
