//! Reading many recorded runs side by side: `ratlab runs compare` (a table of the parameters
//! that differ, then the metrics) and `ratlab runs diff` (only what differs between two runs:
//! parameters, data, seed, final metrics, and where their curves part).

use super::events::RunEvent;
use super::export::Recorded;
use crate::metrics::format_value;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A comparison table: column names and rows of cells (null = missing).
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    /// How many leading columns are parameters (after `run` and `status`).
    pub n_params: usize,
}

/// The runs' table: `run`, `status`, the parameters that differ between them (every one with
/// `all`), then every final metric. Runs of several experiments are named `experiment/run`.
pub fn compare(runs: &[Recorded], all: bool) -> Table {
    let experiments: BTreeSet<&str> = runs.iter().map(|r| r.summary.experiment.as_str()).collect();
    let params: Vec<&serde_json::Map<String, Value>> = runs.iter().map(|r| r.summary.params.as_object()).map(|p| p.unwrap_or(&EMPTY)).collect();
    let keys: BTreeSet<&String> = params.iter().flat_map(|p| p.keys()).collect();
    let shown: Vec<&String> = keys
        .into_iter()
        .filter(|k| all || {
            let first = params.first().and_then(|p| p.get(*k));
            params.iter().any(|p| p.get(*k) != first)
        })
        .collect();
    let metrics: BTreeSet<&String> = runs.iter().flat_map(|r| r.summary.metrics.keys()).collect();
    let mut columns = vec!["run".to_string(), "status".to_string()];
    columns.extend(shown.iter().map(|k| k.to_string()));
    columns.extend(metrics.iter().map(|k| k.to_string()));
    let rows = runs
        .iter()
        .zip(&params)
        .map(|(r, p)| {
            let name = if experiments.len() > 1 { format!("{}/{}", r.summary.experiment, r.summary.run) } else { r.summary.run.clone() };
            let mut row = vec![Value::from(name), Value::from(r.summary.status.as_str())];
            row.extend(shown.iter().map(|k| p.get(*k).cloned().unwrap_or(Value::Null)));
            row.extend(metrics.iter().map(|k| r.summary.metrics.get(*k).map_or(Value::Null, |v| Value::from(*v))));
            row
        })
        .collect();
    Table { columns, rows, n_params: shown.len() }
}

static EMPTY: std::sync::LazyLock<serde_json::Map<String, Value>> = std::sync::LazyLock::new(serde_json::Map::new);

/// A cell as the table prints it.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), format_value),
        other => other.to_string(),
    }
}

/// The table as text no wider than `width`: columns that do not fit are left out and counted
/// on a last line.
pub fn render(t: &Table, width: usize) -> String {
    let cells: Vec<Vec<String>> = t.rows.iter().map(|r| r.iter().map(cell).collect()).collect();
    let widths: Vec<usize> = (0..t.columns.len()).map(|c| cells.iter().map(|r| r[c].chars().count()).chain([t.columns[c].chars().count()]).max().unwrap_or(1)).collect();
    let mut used = 0;
    let mut keep = 0;
    for (c, w) in widths.iter().enumerate() {
        let need = w + if c == 0 { 0 } else { 2 };
        if c >= 2 && used + need > width {
            break;
        }
        used += need;
        keep = c + 1;
    }
    // Names and words to the left, numbers to the right.
    let numeric: Vec<bool> = (0..t.columns.len()).map(|c| c >= 2 && t.rows.iter().all(|r| r[c].is_number() || r[c].is_null())).collect();
    let line = |vals: Vec<&str>| -> String {
        let mut s = String::new();
        for (c, v) in vals.into_iter().enumerate().take(keep) {
            if c > 0 {
                s.push_str("  ");
            }
            if numeric[c] {
                s.push_str(&format!("{v:>w$}", w = widths[c]));
            } else {
                s.push_str(&format!("{v:<w$}", w = widths[c]));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = vec![line(t.columns.iter().map(String::as_str).collect())];
    for r in &cells {
        out.push(line(r.iter().map(String::as_str).collect()));
    }
    if keep < t.columns.len() {
        out.push(format!("({} more column(s) do not fit: {}; use --json or --csv)", t.columns.len() - keep, t.columns[keep..].join(", ")));
    }
    out.join("\n") + "\n"
}

/// What differs between two runs, as lines of text.
pub fn diff(a: &Recorded, b: &Recorded, data_a: &Value, data_b: &Value) -> Vec<String> {
    let (sa, sb) = (&a.summary, &b.summary);
    let mut out = vec![format!("{}/{} → {}/{}", sa.experiment, sa.run, sb.experiment, sb.run)];
    let mut section = |title: &str, lines: Vec<String>| {
        if !lines.is_empty() {
            out.push(format!("{title}:"));
            out.extend(lines.into_iter().map(|l| format!("  {l}")));
        }
    };
    let changed = |x: &Value, y: &Value| -> Vec<String> {
        let (ox, oy) = (x.as_object(), y.as_object());
        let keys: BTreeSet<&String> = ox.into_iter().flat_map(|m| m.keys()).chain(oy.into_iter().flat_map(|m| m.keys())).collect();
        keys.into_iter()
            .filter_map(|k| {
                let (vx, vy) = (x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null));
                (vx != vy).then(|| format!("{k}: {} → {}", cell(vx), cell(vy)))
            })
            .collect()
    };
    section("parameters", changed(&sa.params, &sb.params));
    section("data", changed(data_a, data_b));
    let mut other = Vec::new();
    if sa.seed != sb.seed {
        other.push(format!("seed: {} → {}", sa.seed, sb.seed));
    }
    if sa.algorithm != sb.algorithm || sa.backend != sb.backend {
        other.push(format!("algorithm: {} on {} → {} on {}", sa.algorithm, sa.backend, sb.algorithm, sb.backend));
    }
    if sa.status != sb.status {
        other.push(format!("status: {} → {}", sa.status.as_str(), sb.status.as_str()));
    }
    section("run", other);
    let keys: BTreeSet<&String> = sa.metrics.keys().chain(sb.metrics.keys()).collect();
    let metrics: Vec<String> = keys
        .into_iter()
        .filter_map(|k| match (sa.metrics.get(k), sb.metrics.get(k)) {
            (Some(x), Some(y)) if x == y => None,
            (Some(x), Some(y)) => Some(format!("{k}: {} → {} ({}{})", format_value(*x), format_value(*y), if y >= x { "+" } else { "" }, format_value(y - x))),
            (x, y) => Some(format!("{k}: {} → {}", x.map_or("—".into(), |v| format_value(*v)), y.map_or("—".into(), |v| format_value(*v)))),
        })
        .collect();
    section("final metrics", metrics);
    section("curves", divergence(&a.events, &b.events).into_iter().collect());
    if out.len() == 1 {
        out.push("no difference in parameters, data, seed, final metrics or curves".into());
    }
    out
}

/// The first step at which two runs' curves differ, and the metrics that differ there.
fn divergence(a: &[RunEvent], b: &[RunEvent]) -> Option<String> {
    let steps = |evs: &[RunEvent]| -> BTreeMap<(Option<u32>, u64), BTreeMap<String, f64>> {
        evs.iter()
            .filter_map(|e| match e {
                RunEvent::Step { step, fold, metrics, .. } => Some(((*fold, *step), metrics.iter().filter(|(k, _)| !crate::metrics::is_timing(k)).map(|(k, v)| (k.clone(), *v)).collect())),
                _ => None,
            })
            .collect()
    };
    let (sa, sb) = (steps(a), steps(b));
    let keys: BTreeSet<&(Option<u32>, u64)> = sa.keys().chain(sb.keys()).collect();
    for k in keys {
        let (ma, mb) = (sa.get(k), sb.get(k));
        let fold = k.0.map(|f| format!(" (fold {f})")).unwrap_or_default();
        match (ma, mb) {
            (Some(x), Some(y)) if x == y => continue,
            (Some(x), Some(y)) => {
                let names: Vec<&str> = x.keys().chain(y.keys()).filter(|m| x.get(*m) != y.get(*m)).map(String::as_str).collect::<BTreeSet<_>>().into_iter().collect();
                return Some(format!("diverge first at step {}{fold}: {}", k.1, names.join(", ")));
            }
            (Some(_), None) => return Some(format!("the second run has no step {}{fold} (it stopped earlier)", k.1)),
            (None, _) => return Some(format!("the first run has no step {}{fold} (it stopped earlier)", k.1)),
        }
    }
    None
}
