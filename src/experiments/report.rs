//! `ratlab report`: a Markdown report of recorded runs, readable on any Git forge: per
//! experiment, the best trial of each search, a comparison table per algorithm (the parameters
//! that differ within it), and a figure of the curves.

use super::compare;
use super::recorded::{flat_params, Recorded};
use super::plot::{plot, XAxis};
use crate::error::InputError;
use crate::metrics::{format_value, Metric};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Write `DIR/report.md` and its figures for `runs` (read with their events). Returns the
/// report's path.
pub fn report(runs: Vec<Recorded>, dir: &Path) -> Result<std::path::PathBuf, InputError> {
    std::fs::create_dir_all(dir).map_err(|e| InputError::new(format!("cannot create the report directory: {e}")).file(dir).field("--out"))?;
    let mut by_exp: BTreeMap<String, Vec<Recorded>> = BTreeMap::new();
    for r in runs {
        by_exp.entry(r.summary.experiment.clone()).or_default().push(r);
    }
    let mut md = String::from("# ratlab report\n\n");
    for (exp, runs) in &by_exp {
        md.push_str(&format!("## {exp}\n\n{} run(s).\n\n", runs.len()));
        // The experiment as recorded: its metrics and each search's metric.
        let doc = super::store::read_experiment(&runs[0].dir);
        let first_metric = doc["metrics"].get(0).and_then(Value::as_str).map(str::to_string);
        let mut searches: Vec<(String, String)> = Vec::new();
        for r in doc["runs"].as_array().into_iter().flatten() {
            if r.get("search").is_some() {
                let metric = r["search"]["metric"].as_str().map(str::to_string).or(first_metric.clone()).unwrap_or_else(|| "accuracy".into());
                searches.push((r["name"].as_str().unwrap_or("").to_string(), metric));
            }
        }
        // One table per algorithm, each with the parameters that differ within it.
        let tables = compare::by_algorithm(runs);
        for (search, metric) in &searches {
            let better = |a: f64, b: f64| Metric::parse(metric).map_or(a > b, |m| m.better(a, b));
            let best = runs
                .iter()
                .filter(|r| r.summary.run.split_once('#').is_some_and(|(s, _)| s == search) && r.summary.status == super::events::Status::Finished)
                .filter_map(|r| r.summary.metrics.get(metric).map(|v| (r, *v)))
                .fold(None::<(&Recorded, f64)>, |b, (r, v)| match b {
                    Some((_, bv)) if !better(v, bv) => b,
                    _ => Some((r, v)),
                });
            match best {
                Some((r, v)) => {
                    // The parameters that differ between the runs of its algorithm (the searched ones).
                    let flat = flat_params(&r.summary.params);
                    let varied = tables.iter().filter(|(a, _)| *a == r.summary.algorithm).flat_map(|(_, t)| &t.columns[t.lead..t.lead + t.n_params]);
                    let params = varied.map(|k| format!("{k}={}", compare::cell(flat.get(k.as_str()).unwrap_or(&Value::Null)))).collect::<Vec<_>>().join(", ");
                    md.push_str(&format!("**Search `{search}`**: best trial `{}` with {metric} {} ({params}).\n\n", r.summary.run, format_value(v)));
                }
                None => md.push_str(&format!("**Search `{search}`**: no trial finished with {metric}.\n\n")),
            }
        }
        let tables_md = match tables.as_slice() {
            [(_, one)] => compare::markdown(one),
            groups => groups.iter().map(|(algorithm, t)| format!("### {algorithm}\n\n{} run(s).\n\n{}", t.rows.len(), compare::markdown(t))).collect::<Vec<_>>().join("\n"),
        };
        md.push_str(&tables_md);
        md.push('\n');
        let metric = searches.first().map(|s| s.1.clone()).or(first_metric).unwrap_or_else(|| "accuracy".into());
        let file = format!("{}-{metric}.png", super::store::slug(exp));
        match plot(runs, &metric, XAxis::Step, &dir.join(&file), (900, 540)) {
            Ok(()) => md.push_str(&format!("![{metric} of {exp}]({file})\n\n")),
            Err(e) => md.push_str(&format!("(no figure: {})\n\n", e.message)),
        }
    }
    let path = dir.join("report.md");
    super::store::write_atomic(&path, md.as_bytes()).map_err(|e| InputError::new(format!("cannot write: {e}")).file(&path))?;
    Ok(path)
}
