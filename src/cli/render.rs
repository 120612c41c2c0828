//! A run's outcome as the user reads it: the results table or the JSON summary that `run`
//! prints (locally or through an executor), metrics on one line, sparklines of curves.

use super::Format;
use crate::experiments::events::{Metrics, Status};
use crate::experiments::plan::{self, Plan, RunPlan};
use crate::experiments::store::Summary;
use crate::metrics::format_value as fmt_num;
use std::io::Write;
use crate::experiments::executor::{Counts, Submission, Watch};
use std::path::PathBuf;

/// Metrics on one line: `accuracy=0.9620 log_loss=0.0789`.
pub fn fmt_metrics(m: &Metrics) -> String {
    m.iter().map(|(k, v)| format!("{k}={}", fmt_num(*v))).collect::<Vec<_>>().join(" ")
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

/// The end of `ratlab run`, however the runs executed: the results table (or the JSON
/// summary, with `extra` fields added at its top level) and the exit code.
pub fn print_results(plan: &Plan, rows: &[(RunPlan, Summary, PathBuf)], format: Format, extra: Option<serde_json::Map<String, serde_json::Value>>) -> anyhow::Result<u8> {
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

/// The results table of `ratlab run`: one line per run, its metrics, its error and directory.
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

/// What the JSON output adds for a Slurm run: the job id, every job of the submission and
/// where it is recorded.
pub fn slurm_json(sub: &Submission, submitted: Option<&[usize]>) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("executor".into(), serde_json::json!(sub.executor));
    m.insert("job_id".into(), serde_json::json!(sub.jobs.last().map(|j| j.id.clone())));
    m.insert("jobs".into(), serde_json::json!(sub.jobs.iter().map(|j| &j.id).collect::<Vec<_>>()));
    m.insert("submission".into(), serde_json::json!(sub.dir.display().to_string()));
    if let Some(t) = submitted {
        m.insert("tasks".into(), serde_json::json!(t));
    }
    m
}

/// A Slurm job's progress on one line.
pub fn counts_line(job: &str, c: Counts) -> String {
    format!("Slurm job {job}: {} pending · {} running · {} finished · {} failed", c.pending, c.running, c.finished, c.failed)
}

/// `ratlab slurm status JOB`: each run's Slurm task and state, status and metrics.
pub fn print_slurm_status(w: &Watch<'_>, plan: &Plan, job: &str, format: Format) -> anyhow::Result<()> {
    let rows = w.outcomes(plan);
    let c = w.counts();
    let slurm_of = |name: &str| -> (String, String) {
        w.sub.task_of(name).map_or_else(Default::default, |t| {
            let st = w.task_state(t.index);
            (format!("{}_{}", st.map_or(job, |s| s.0), t.index), st.map_or_else(|| "—".to_string(), |s| s.1.word()))
        })
    };
    let recorded = |dir: &PathBuf| !dir.as_os_str().is_empty();
    match format {
        Format::Json => {
            let runs: Vec<serde_json::Value> = rows
                .iter()
                .map(|(r, s, dir)| {
                    let (task, state) = slurm_of(&r.name);
                    serde_json::json!({
                        "name": r.name,
                        "task": task,
                        "slurm_state": state,
                        // A run its task has not recorded yet is pending, not failed.
                        "status": if recorded(dir) || matches!(w.sub.task_of(&r.name).and_then(|t| w.task_state(t.index)), Some((_, st)) if st.is_ended()) { s.status.as_str() } else { "pending" },
                        "metrics": s.metrics,
                        "error": s.error,
                        "dir": dir.display().to_string(),
                    })
                })
                .collect();
            let mut doc = slurm_json(&w.sub, None);
            doc.insert("experiment".into(), serde_json::json!(plan.name));
            doc.insert("counts".into(), serde_json::json!({"pending": c.pending, "running": c.running, "finished": c.finished, "failed": c.failed}));
            doc.insert("runs".into(), serde_json::Value::Array(runs));
            outln!("{}", serde_json::to_string_pretty(&serde_json::Value::Object(doc))?);
        }
        Format::Text => {
            outln!("{} · {}", counts_line(job, c), w.sub.dir.display());
            let wn = rows.iter().map(|(r, _, _)| r.name.len()).max().unwrap_or(3).max(3);
            for (r, s, dir) in &rows {
                let (task, state) = slurm_of(&r.name);
                let status = if recorded(dir) { s.status.as_str() } else if state == "PENDING" || state == "RUNNING" { "—" } else { s.status.as_str() };
                let metrics = s.metrics.iter().take(3).map(|(k, v)| format!("{k}={}", fmt_num(*v))).collect::<Vec<_>>().join(" ");
                outln!("  {:<wn$}  {task:<10} {state:<11} {status:<11} {metrics}", r.name);
                if let Some(e) = s.error.as_ref().filter(|_| status != "—") {
                    outln!("  {:<wn$}  ↳ {e}", "");
                }
            }
        }
    }
    Ok(())
}
