//! Reading many recorded runs side by side: `ratlab runs compare` (a table of the parameters
//! that differ, then the metrics) and `ratlab runs diff` (only what differs between two runs:
//! parameters, data, seed, final metrics, and where their curves part).

use super::events::RunEvent;
use super::recorded::{flat_params, Recorded};
use crate::metrics::format_value;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A comparison table: column names and rows of cells (null = missing).
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    /// How many leading columns name a run (`run`, `status`, and `backend` where the backends
    /// of an algorithm's group differ); the parameters follow them.
    pub lead: usize,
    /// How many parameter columns follow the leading ones.
    pub n_params: usize,
}

/// The runs' table: `run`, `status`, the parameters that differ between them (every one with
/// `all`), then every final metric. Runs of several experiments are named `experiment/run`.
pub fn compare(runs: &[Recorded], all: bool) -> Table {
    table(&runs.iter().collect::<Vec<_>>(), all, false)
}

/// The runs grouped by algorithm (in order of first appearance), each group's table showing
/// the parameters that differ within it, and its backend when that differs, as the TUI's
/// Compare does: bagging beside boosting needs neither's parameters in the other's rows.
pub fn by_algorithm(runs: &[Recorded]) -> Vec<(String, Table)> {
    let mut groups: Vec<(&str, Vec<&Recorded>)> = Vec::new();
    for r in runs {
        match groups.iter_mut().find(|(a, _)| *a == r.summary.algorithm) {
            Some((_, members)) => members.push(r),
            None => groups.push((&r.summary.algorithm, vec![r])),
        }
    }
    groups
        .into_iter()
        .map(|(algorithm, members)| {
            let backends: BTreeSet<&str> = members.iter().map(|r| r.summary.backend.as_str()).collect();
            (algorithm.to_string(), table(&members, false, backends.len() > 1))
        })
        .collect()
}

/// [`compare`] of some runs, with a `backend` column after `status` when `with_backend`.
fn table(runs: &[&Recorded], all: bool, with_backend: bool) -> Table {
    let experiments: BTreeSet<&str> = runs.iter().map(|r| r.summary.experiment.as_str()).collect();
    let params: Vec<serde_json::Map<String, Value>> = runs.iter().map(|r| flat_params(&r.summary.params)).collect();
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
    if with_backend {
        columns.push("backend".to_string());
    }
    let lead = columns.len();
    columns.extend(shown.iter().map(|k| k.to_string()));
    columns.extend(metrics.iter().map(|k| k.to_string()));
    let rows = runs
        .iter()
        .zip(&params)
        .map(|(r, p)| {
            let name = if experiments.len() > 1 { format!("{}/{}", r.summary.experiment, r.summary.run) } else { r.summary.run.clone() };
            let mut row = vec![Value::from(name), Value::from(r.summary.status.as_str())];
            if with_backend {
                row.push(Value::from(r.summary.backend.as_str()));
            }
            row.extend(shown.iter().map(|k| p.get(*k).cloned().unwrap_or(Value::Null)));
            row.extend(metrics.iter().map(|k| r.summary.metrics.get(*k).map_or(Value::Null, |v| Value::from(*v))));
            row
        })
        .collect();
    Table { columns, rows, lead, n_params: shown.len() }
}

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
    let numeric: Vec<bool> = (0..t.columns.len()).map(|c| c >= t.lead && t.rows.iter().all(|r| r[c].is_number() || r[c].is_null())).collect();
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

/// The table as Markdown (numbers right-aligned), for reports.
pub fn markdown(t: &Table) -> String {
    let numeric: Vec<bool> = (0..t.columns.len()).map(|c| c >= t.lead && t.rows.iter().all(|r| r[c].is_number() || r[c].is_null())).collect();
    let esc = |s: String| s.replace('|', "\\|");
    let mut out = format!("| {} |\n|", t.columns.iter().map(|c| esc(c.clone())).collect::<Vec<_>>().join(" | "));
    for n in &numeric {
        out.push_str(if *n { "---:|" } else { "---|" });
    }
    out.push('\n');
    for r in &t.rows {
        out.push_str(&format!("| {} |\n", r.iter().map(|v| esc(cell(v))).collect::<Vec<_>>().join(" | ")));
    }
    out
}

/// One condition of `ratlab runs --where`: a field (parameter, metric, `status`, `experiment`,
/// `run`, `algorithm`, `backend`, `seed`), a comparison and a value.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    field: String,
    op: Op,
    value: Value,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

/// Parse `max_depth>3 and roc_auc>=0.9 and status=finished`: conditions joined by `and`.
pub fn parse_where(text: &str) -> Result<Vec<Condition>, String> {
    let mut out = Vec::new();
    for part in text.split(" and ").map(str::trim) {
        if part.is_empty() {
            return Err(format!("'{text}' has an empty condition; expected e.g. 'max_depth>3 and roc_auc>0.9'"));
        }
        let ops = [(">=", Op::Ge), ("<=", Op::Le), ("!=", Op::Ne), ("==", Op::Eq), (">", Op::Gt), ("<", Op::Lt), ("=", Op::Eq)];
        let Some((at, sym, op)) = ops.iter().filter_map(|(s, o)| part.find(s).map(|i| (i, *s, *o))).min_by_key(|(i, s, _)| (*i, std::cmp::Reverse(s.len()))) else {
            return Err(format!("'{part}' has no comparison; expected NAME OP VALUE with OP one of > >= < <= = !="));
        };
        let (field, value) = (part[..at].trim(), part[at + sym.len()..].trim());
        if field.is_empty() || value.is_empty() {
            return Err(format!("'{part}' needs a name and a value, as in max_depth>3"));
        }
        let value = value.parse::<f64>().map(Value::from).unwrap_or_else(|_| Value::from(value.trim_matches(|c| c == '\'' || c == '"')));
        out.push(Condition { field: field.to_string(), op, value });
    }
    Ok(out)
}

/// A field of a run for filters and sorting: run fields, then metrics, then parameters.
pub fn field(r: &Recorded, name: &str) -> Option<Value> {
    let s = &r.summary;
    match name {
        "status" => Some(Value::from(s.status.as_str())),
        "experiment" => Some(Value::from(s.experiment.clone())),
        "run" => Some(Value::from(s.run.clone())),
        "algorithm" => Some(Value::from(s.algorithm.clone())),
        "backend" => Some(Value::from(s.backend.clone())),
        "seed" => Some(Value::from(s.seed)),
        _ => s.metrics.get(name).map(|v| Value::from(*v)).or_else(|| s.params.get(name).cloned()).or_else(|| {
            // A field inside a parameter: lora.rank.
            name.split('.').try_fold(&s.params, |v, k| v.as_object()?.get(k)).cloned()
        }),
    }
}

impl Condition {
    /// Whether run `r` meets the condition (a run without the field does not).
    pub fn holds(&self, r: &Recorded) -> bool {
        let Some(v) = field(r, &self.field) else { return false };
        let ord = match (v.as_f64(), self.value.as_f64()) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => Some(cell(&v).cmp(&cell(&self.value))),
        };
        let Some(ord) = ord else { return false };
        use std::cmp::Ordering::*;
        match self.op {
            Op::Lt => ord == Less,
            Op::Le => ord != Greater,
            Op::Gt => ord == Greater,
            Op::Ge => ord != Less,
            Op::Eq => ord == Equal,
            Op::Ne => ord != Equal,
        }
    }
}

/// Sort runs by a field: best first for a metric (descending when higher is better), else
/// ascending; runs without it last, in their recorded order.
pub fn sort_by(runs: &mut [Recorded], name: &str) {
    let descending = crate::metrics::Objective::parse(name).is_some_and(|m| m.higher_is_better());
    runs.sort_by(|a, b| {
        let (x, y) = (field(a, name), field(b, name));
        match (x.as_ref().and_then(Value::as_f64), y.as_ref().and_then(Value::as_f64)) {
            (Some(x), Some(y)) => {
                let o = x.total_cmp(&y);
                if descending {
                    o.reverse()
                } else {
                    o
                }
            }
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => match (x, y) {
                (Some(x), Some(y)) => cell(&x).cmp(&cell(&y)),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            },
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_clauses_parse_and_bad_ones_say_why() {
        let c = parse_where("max_depth>3 and roc_auc >= 0.9 and status=finished and backend != 'linfa'").unwrap();
        assert_eq!(c.len(), 4);
        assert_eq!((c[0].field.as_str(), c[0].op, c[0].value.as_f64()), ("max_depth", Op::Gt, Some(3.0)));
        assert_eq!((c[1].field.as_str(), c[1].op, c[1].value.as_f64()), ("roc_auc", Op::Ge, Some(0.9)));
        assert_eq!((c[2].op, c[2].value.as_str()), (Op::Eq, Some("finished")));
        assert_eq!((c[3].op, c[3].value.as_str()), (Op::Ne, Some("linfa")));
        assert!(parse_where("max_depth").unwrap_err().contains("no comparison"));
        assert!(parse_where(">3").unwrap_err().contains("needs a name and a value"));
        assert!(parse_where("a>1 and  and b<2").unwrap_err().contains("empty condition"));
    }

    fn recorded(run: &str, metrics: serde_json::Value) -> Recorded {
        let summary = serde_json::json!({"experiment": "e", "run": run, "algorithm": "transformer", "backend": "torch", "status": "finished",
            "params": {}, "seed": 0, "metrics": metrics, "train_metrics": {}, "cv_std": {}, "steps": 1, "error": null, "messages": [],
            "started_at": "", "elapsed_ms": 0});
        Recorded { dir: run.into(), summary: serde_json::from_value(summary).unwrap(), events: vec![] }
    }

    #[test]
    fn sorting_puts_the_best_first_for_every_figure_a_run_reports() {
        let names = |runs: &[Recorded]| runs.iter().map(|r| r.summary.run.clone()).collect::<Vec<_>>();
        let mut runs = vec![
            recorded("a", serde_json::json!({"exact_match": 0.25, "loss": 1.5, "accuracy": 0.7})),
            recorded("b", serde_json::json!({"exact_match": 0.75, "loss": 0.5, "accuracy": 0.9})),
            recorded("c", serde_json::json!({"exact_match": 0.5, "loss": 1.0})),
        ];
        for (key, best_first) in [("exact_match", ["b", "c", "a"]), ("preference_accuracy", ["a", "b", "c"]), ("loss", ["b", "c", "a"]), ("accuracy", ["b", "a", "c"])] {
            sort_by(&mut runs, key);
            assert_eq!(names(&runs), best_first, "{key}");
            runs.sort_by(|x, y| x.summary.run.cmp(&y.summary.run));
        }
        for r in &mut runs {
            r.summary.metrics.insert("reward_margin".into(), if r.summary.run == "c" { 2.0 } else { -1.0 });
        }
        sort_by(&mut runs, "reward_margin");
        assert_eq!(names(&runs)[0], "c", "a higher reward margin is better");
    }
}
