//! A run's steps and curves: a trainer driven to its end with the metrics of every step,
//! preprocessing fitted on each fold's training part, a parameter sweep, a learning curve, and
//! the fitted model handed on for `model.json`.

use super::emit::{Cancel, Emitter, Stop};
use crate::backends::{build_trainer, Prediction, Predictor, StepOut, TrainError, Trainer};
use crate::data::{split, Fold, TrainSet};
use crate::experiments::events::{Level, Metrics, RunEvent};
use crate::experiments::plan::{Plan, RunPlan};
use crate::metrics::Metric;
use ndarray::ArrayView1;

/// Evaluate a model on a set for the experiment's metrics (an undefined one is NaN: the
/// emitter leaves it out of the record and says so). A model that cannot predict the set
/// fails the run with its reason.
fn evaluate(model: &dyn Predictor, set: &TrainSet, metrics: &[Metric], prefix: &str, out: &mut Metrics) -> Result<(), TrainError> {
    score(&model.predict(set.x.view())?, set.y.view(), metrics, prefix, out);
    Ok(())
}

/// Score a prediction against targets for the experiment's metrics.
/// The metrics are computed in parallel: each is a pass over every row, AUC a sort.
fn score(pred: &Prediction, y: ArrayView1<'_, f64>, metrics: &[Metric], prefix: &str, out: &mut Metrics) {
    use rayon::prelude::*;
    let values: Vec<f64> = metrics.par_iter().map(|m| m.compute(pred, y)).collect();
    for (m, v) in metrics.iter().zip(values) {
        out.insert(format!("{prefix}{}", m.as_str()), v);
    }
}

/// The step's train and test metrics: from the trainer's own running predictions when it keeps
/// them (boosting, ensembles), else by predicting with the model. Train metrics are taken on the
/// fold's `eval_rows` (`data.eval_train_rows`).
fn step_metrics(tr: &dyn Trainer, plan: &Plan, train_eval: &TrainSet, eval_rows: &[usize], test: &TrainSet, out: &mut Metrics) -> Result<(), TrainError> {
    match tr.staged(eval_rows) {
        Some(staged) => {
            score_staged(&staged, plan, train_eval, eval_rows, test, out);
            Ok(())
        }
        None => predicted_metrics(tr, plan, train_eval, eval_rows, test, out),
    }
}

/// [`step_metrics`] of a trainer without running predictions: predicted with its model.
fn predicted_metrics(tr: &dyn Trainer, plan: &Plan, train_eval: &TrainSet, eval_rows: &[usize], test: &TrainSet, out: &mut Metrics) -> Result<(), TrainError> {
    if let Some(model) = tr.predictor() {
        if !eval_rows.is_empty() {
            evaluate(model, train_eval, &plan.metrics, "train.", out)?;
        }
        if !test.is_empty() {
            evaluate(model, test, &plan.metrics, "test.", out)?;
        }
    }
    Ok(())
}

/// Score a trainer's running predictions ([`Trainer::staged`]): train and test side by side
/// (AUC sorts every row each step).
fn score_staged(staged: &(Prediction, Option<Prediction>), plan: &Plan, train_eval: &TrainSet, eval_rows: &[usize], test: &TrainSet, out: &mut Metrics) {
    let (ptrain, ptest) = staged;
    let (mut a, mut b) = (Metrics::new(), Metrics::new());
    rayon::join(
        || {
            if !eval_rows.is_empty() {
                score(ptrain, train_eval.y.view(), &plan.metrics, "train.", &mut a)
            }
        },
        || {
            if let Some(p) = ptest {
                score(p, test.y.view(), &plan.metrics, "test.", &mut b)
            }
        },
    );
    out.extend(a);
    out.extend(b);
}

/// Step `k` of a trainer, once the run is not cancelled, with its figures checked finite.
pub(super) fn advance(tr: &mut dyn Trainer, em: &Emitter<'_>, k: u64) -> Result<StepOut, Stop> {
    em.check()?;
    let out = tr.step().map_err(|e| Stop::Error(e.to_string()))?;
    check_finite(&out, k).map_err(|e| Stop::Error(e.to_string()))?;
    Ok(out)
}

fn check_finite(out: &StepOut, step: u64) -> Result<(), TrainError> {
    for (k, v) in &out.metrics {
        if !v.is_finite() {
            return Err(TrainError::Diverged(format!("{k} is {v} at step {step}")));
        }
    }
    Ok(())
}

/// Fit the run's preprocessing stages on a fold's training part and apply them to both parts.
/// Returns the new fold and a note on what the stages kept.
pub(super) fn preprocess(run: &RunPlan, fold: &Fold) -> Result<(Fold, String), TrainError> {
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
    Ok((Fold { train, test, encoder: fold.encoder.clone(), scaler: fold.scaler.clone(), eval_rows: fold.eval_rows.clone(), streamed: fold.streamed.clone() }, format!("preprocess: {}", notes.join("; then "))))
}

/// Split step metrics into (test, train) final metrics by prefix.
fn finals(m: &Metrics) -> (Metrics, Metrics) {
    let pick = |p: &str| m.iter().filter_map(|(k, v)| k.strip_prefix(p).map(|s| (s.to_string(), *v))).collect();
    (pick("test."), pick("train."))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn train_full(plan: &Plan, run: &RunPlan, f: &Fold, fold: Option<u32>, cv: bool, step: &mut u64, em: &mut Emitter<'_>) -> Result<(Metrics, Metrics), Stop> {
    let (train, test) = (&f.train, &f.test);
    // The test rows the importance panel's mean |SHAP| is taken over (tree models only).
    let explained = crate::backends::explain::explains(run.algorithm.as_str()) && run.preprocess.is_empty();
    let shap_rows = if explained { test_shap_rows(plan, run, test) } else { vec![] };
    // Rows streamed from their file (`data.chunk_rows`) are binned as they are read; the SHAP
    // panel's test rows are kept on the way, and a holdout's fills learned.
    let (mut tr, shap_x, encoder): (Box<dyn Trainer>, _, _) = match f.streamed.as_deref() {
        Some(s) => {
            let b = super::chunked::build(run, f, s, &shap_rows, em)?;
            (b.trainer, std::borrow::Cow::Owned(b.shap_x), std::borrow::Cow::Owned(b.encoder))
        }
        None => {
            let tr = build_trainer(run.backend, &run.params, Some(train), Some(test), run.seed).map_err(|e| Stop::Error(e.to_string()))?;
            let x = if shap_rows.len() == test.len() { std::borrow::Cow::Borrowed(&test.x) } else { std::borrow::Cow::Owned(test.x.select(ndarray::Axis(0), &shap_rows)) };
            (tr, x, std::borrow::Cow::Borrowed(&f.encoder))
        }
    };
    let train_eval: std::borrow::Cow<'_, TrainSet> =
        if f.eval_rows.len() == train.len() { std::borrow::Cow::Borrowed(train) } else { std::borrow::Cow::Owned(train.subset(&f.eval_rows)) };
    let mut k = 0u64;
    // The next step, when it was taken while this one was scored.
    let mut taken: Option<Result<StepOut, Stop>> = None;
    loop {
        k += 1;
        let out = match taken.take() {
            Some(out) => out?,
            None => advance(tr.as_mut(), em, k)?,
        };
        let mut metrics = out.metrics.clone();
        // A trainer that keeps its running predictions has them scored while it takes the
        // next step (at 1.1M test rows the AUC is about 50 ms a step, mostly its sort); the
        // step is recorded first, as before, and what the next one did comes after it.
        match (out.done, tr.staged(&f.eval_rows)) {
            (false, Some(staged)) => {
                let (eval, scored) = (&*train_eval, &mut metrics);
                taken = Some(std::thread::scope(|s| {
                    s.spawn(|| score_staged(&staged, plan, eval, &f.eval_rows, test, scored));
                    advance(tr.as_mut(), em, k + 1)
                }));
            }
            (_, Some(staged)) => score_staged(&staged, plan, &train_eval, &f.eval_rows, test, &mut metrics),
            (_, None) => predicted_metrics(tr.as_ref(), plan, &train_eval, &f.eval_rows, test, &mut metrics).map_err(|e| Stop::Error(format!("step {k}: cannot predict: {e}")))?,
        }
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
        let watched = run.pruner.as_ref().and_then(|p| metrics.get(&p.key).copied()).filter(|v| v.is_finite());
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
                step_metrics(tr.as_ref(), plan, &train_eval, &f.eval_rows, test, &mut kept).map_err(|e| Stop::Error(format!("the kept model cannot predict: {e}")))?;
                fin = finals(&kept);
            }
            let mut artifacts = tr.artifacts().unwrap_or_default();
            if let serde_json::Value::Object(m) = &mut artifacts {
                if m.contains_key("importances") && run.preprocess.is_empty() {
                    m.insert("feature_names".into(), serde_json::json!(encoder.names()));
                    // Native category features: their category names, so a tree's category
                    // split shows `city in {Leeds, York}`, not codes.
                    let cats = encoder.category_names();
                    if cats.iter().any(Option::is_some) {
                        m.insert("category_names".into(), serde_json::json!(cats));
                    }
                    if crate::backends::explain::explains(run.algorithm.as_str()) {
                        if let Some(shap) = test_shap(tr.as_ref(), &shap_x, em)? {
                            m.insert("shap".into(), shap);
                        }
                    }
                }
            }
            em.artifacts = artifacts;
            if !cv && run.preprocess.is_empty() {
                save_model(em, run, tr.as_ref(), &encoder, f.scaler.as_ref())?;
            }
            return Ok(fin);
        }
    }
}

/// Test rows the importance panel's mean |SHAP| is taken over, at most: a seeded, stratified
/// sample of this many estimates a global importance to about 3% of its size, and costs about
/// 0.6 s for 200 trees of depth 6 (10,000 rows cost 6 s, more than training 200k rows).
const SHAP_ROWS: usize = 1000;

/// The test rows the mean |SHAP| is taken over (capped as `data.eval_train_rows` caps the
/// training rows scored, and at [`SHAP_ROWS`]).
fn test_shap_rows(plan: &Plan, run: &RunPlan, test: &TrainSet) -> Vec<usize> {
    use crate::data::EvalRows;
    let cap = match plan.data.as_ref().map_or(EvalRows::All, |d| d.eval_train_rows) {
        EvalRows::All => EvalRows::AtMost(SHAP_ROWS),
        EvalRows::AtMost(n) => EvalRows::AtMost(n.min(SHAP_ROWS)),
    };
    crate::data::eval_rows(test, cap, run.seed)
}

/// Mean |SHAP value| per feature on the test rows `x` ([`test_shap_rows`]), for tree models:
/// what the Run view's importance panel shows beside the split gains, announced as a phase.
/// `None` for other models, or with no test rows (or none asked for).
fn test_shap(tr: &dyn Trainer, x: &ndarray::Array2<f64>, em: &mut Emitter<'_>) -> Result<Option<serde_json::Value>, Stop> {
    let Some(model) = tr.saved().filter(|_| x.nrows() > 0) else { return Ok(None) };
    em.send(RunEvent::Phase { phase: "explaining (SHAP on the test rows)".into(), t_ms: em.t() })?;
    let Ok(c) = crate::backends::explain::explain(&model, x.view()) else { return Ok(None) };
    Ok(Some(serde_json::json!({"mean_abs": c.mean_abs(), "rows": x.nrows(), "scale": c.scale})))
}

/// Hand the fitted model, with the encoding and standardization that `ratlab predict` needs,
/// to the sinks (the run store writes `model.json`), or say why it cannot be saved.
fn save_model(em: &mut Emitter<'_>, run: &RunPlan, tr: &dyn Trainer, encoder: &crate::data::Encoder, scaler: Option<&crate::data::Scaler>) -> Result<(), Stop> {
    let Some(model) = tr.saved() else {
        if let Some(why) = tr.unsaved_reason() {
            em.message(Level::Info, format!("model not saved: {why}"))?;
        }
        return Ok(());
    };
    let doc = crate::experiments::model_file::document(run.algorithm.as_str(), run.backend.as_str(), &run.params_json, encoder, scaler, &model);
    em.sink.model(run, &doc);
    Ok(())
}

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
        evaluate(model, train, &plan.metrics, "train.", &mut metrics)?;
        evaluate(model, test, &plan.metrics, "test.", &mut metrics)?;
    }
    metrics.insert("iterations".into(), inner as f64);
    Ok(Some(metrics))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn sweep_curve(
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
                    if let Some(v) = metrics.get(k).filter(|v| v.is_finite()) {
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

pub(super) fn learning_curve(
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
