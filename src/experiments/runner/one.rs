//! One run from its start to its end: the events it emits on its own clock, what stops it
//! (Ctrl-C, its sink, a pruning rule, an error, a panic), the steps of a table model or the
//! torch worker's relayed events, and the summary it ends with.

use super::emit::{Emitter, Stop};
use super::steps::{advance, learning_curve, preprocess, sweep_curve, train_full};
use crate::backends::build_trainer;
use crate::data::Fold;
use crate::experiments::events::{Level, Metrics, RunEvent, Sink};
use crate::experiments::plan::{Plan, RunPlan};
use crate::experiments::store::Summary;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

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
pub(super) fn failed_run(plan: &Plan, run: &RunPlan, error: String, sink: &mut dyn Sink) -> Summary {
    let events = [started(plan, run, None), RunEvent::Failed { error, cancelled: false, pruned: false, t_ms: 0 }];
    for ev in &events {
        sink.event(run, ev);
    }
    Summary::from_events(&events).unwrap_or_else(|| unreachable!("a run's events start with Started"))
}

/// Execute one run to its end (finished, failed or cancelled), emitting all its events.
pub fn run_one(plan: &Plan, run: &RunPlan, folds: Option<&[Fold]>, sink: &mut dyn Sink, cancel: &AtomicBool) -> Summary {
    let mut em = Emitter::new(run, sink, cancel);
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
    .unwrap_or_else(|p| Err(Stop::Error(format!("internal error (a bug in ratlab, please report it): {}", crate::error::panic_text(p.as_ref())))));
    let t_ms = em.t();
    let ev = match result {
        Ok((metrics, train_metrics, cv_std)) => RunEvent::Finished { metrics, train_metrics, cv_std, t_ms, artifacts: std::mem::take(&mut em.artifacts) },
        Err(Stop::Cancelled) => RunEvent::Failed { error: "cancelled".into(), cancelled: true, pruned: false, t_ms },
        Err(Stop::Error(error)) => RunEvent::Failed { error, cancelled: false, pruned: false, t_ms },
        Err(Stop::Pruned(error)) => RunEvent::Failed { error, cancelled: false, pruned: true, t_ms },
    };
    let _ = em.send(ev);
    em.into_summary()
}

type Finals = (Metrics, Metrics, Metrics);

/// Fault injection for the reliability tests: `RATLAB_FAULT=panic:RUN` makes run RUN panic as
/// it starts, as a bug would (`slow:MS`, which slows every step, is in [`super::emit`]).
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
            k += 1;
            let out = advance(tr.as_mut(), em, k)?;
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
    use crate::experiments::plan::InitFrom;
    use crate::experiments::worker::{FromWorker, TorchJob, Worker};
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
