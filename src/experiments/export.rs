//! Recorded runs as tables: one row per run (experiment, run, status, seed, every parameter,
//! every final metric) or one row per step of their curves, written as Parquet, CSV or JSON
//! (`ratlab export`). Columns are typed: a column whose values are all numbers is numeric.

use super::events::RunEvent;
use super::recorded::{flat_params, Recorded};
use super::store;
use crate::data::table::{write_columns, OutValues};
use crate::error::InputError;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Named columns under construction: each cell a JSON value (null = missing).
#[derive(Default)]
struct Columns {
    order: Vec<String>,
    cells: BTreeMap<String, Vec<Value>>,
    rows: usize,
}

impl Columns {
    fn set(&mut self, name: &str, v: Value) {
        if !self.cells.contains_key(name) {
            self.order.push(name.to_string());
            self.cells.insert(name.to_string(), vec![Value::Null; self.rows]);
        }
        if let Some(c) = self.cells.get_mut(name) {
            c.resize(self.rows + 1, Value::Null);
            c[self.rows] = v;
        }
    }
    fn end_row(&mut self) {
        self.rows += 1;
        for c in self.cells.values_mut() {
            c.resize(self.rows, Value::Null);
        }
    }
    /// Typed columns: numeric (NaN for missing) when every present value is a number.
    fn typed(self) -> Vec<(String, OutValues)> {
        let Columns { order, mut cells, .. } = self;
        order
            .into_iter()
            .map(|name| {
                let col = cells.remove(&name).unwrap_or_default();
                let numeric = col.iter().all(|v| v.is_null() || v.is_number() || v.is_boolean());
                let values = if numeric {
                    OutValues::Numeric(col.iter().map(|v| v.as_f64().or_else(|| v.as_bool().map(f64::from)).unwrap_or(f64::NAN)).collect())
                } else {
                    OutValues::Text(
                        col.iter()
                            .map(|v| match v {
                                Value::Null => String::new(),
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            })
                            .collect(),
                    )
                };
                (name, values)
            })
            .collect()
    }
    /// The rows as JSON objects (missing cells left out).
    fn json(self) -> Value {
        let rows = (0..self.rows)
            .map(|r| {
                let mut m = serde_json::Map::new();
                for name in &self.order {
                    if let Some(v) = self.cells.get(name).and_then(|c| c.get(r)).filter(|v| !v.is_null()) {
                        m.insert(name.clone(), v.clone());
                    }
                }
                Value::Object(m)
            })
            .collect();
        Value::Array(rows)
    }
}

/// The column of a parameter: its bare name, unless that is taken by a run field or a metric.
fn param_column(name: &str, taken: &[&str]) -> String {
    if taken.contains(&name) {
        format!("param.{name}")
    } else {
        name.to_string()
    }
}

/// One row per run.
fn run_table(runs: &[Recorded]) -> Columns {
    let mut c = Columns::default();
    let fixed = ["experiment", "run", "status", "algorithm", "backend", "seed", "steps", "elapsed_s", "started_at", "dir"];
    let metric_names: std::collections::BTreeSet<&str> = runs.iter().flat_map(|r| r.summary.metrics.keys().map(String::as_str)).collect();
    let taken: Vec<&str> = fixed.iter().copied().chain(metric_names.iter().copied()).collect();
    for r in runs {
        let s = &r.summary;
        c.set("experiment", Value::from(s.experiment.clone()));
        c.set("run", Value::from(s.run.clone()));
        c.set("status", Value::from(s.status.as_str()));
        c.set("algorithm", Value::from(s.algorithm.clone()));
        c.set("backend", Value::from(s.backend.clone()));
        // A u64 seed may not fit an f64 exactly: kept as text.
        c.set("seed", Value::from(s.seed.to_string()));
        c.set("steps", Value::from(s.steps));
        c.set("elapsed_s", Value::from(s.elapsed_ms as f64 / 1000.0));
        c.set("started_at", Value::from(s.started_at.clone()));
        c.set("dir", Value::from(r.dir.display().to_string()));
        for (k, v) in flat_params(&s.params) {
            c.set(&param_column(&k, &taken), v);
        }
        for (k, v) in &s.metrics {
            c.set(k, Value::from(*v));
        }
        for (k, v) in &s.train_metrics {
            c.set(&format!("train.{k}"), Value::from(*v));
        }
        c.end_row();
    }
    c
}

/// One row per step of every run's curves.
fn curve_table(runs: &[Recorded]) -> Columns {
    let mut c = Columns::default();
    for r in runs {
        for ev in &r.events {
            if let RunEvent::Step { step, x, fold, metrics, t_ms } = ev {
                c.set("experiment", Value::from(r.summary.experiment.clone()));
                c.set("run", Value::from(r.summary.run.clone()));
                c.set("step", Value::from(*step));
                c.set("x", Value::from(*x));
                c.set("fold", fold.map_or(Value::Null, Value::from));
                c.set("t_s", Value::from(*t_ms as f64 / 1000.0));
                for (k, v) in metrics {
                    c.set(k, Value::from(*v));
                }
                c.end_row();
            }
        }
    }
    c
}

/// Write the runs (or their curves) to `to`: `.parquet`, `.csv` or `.json`. Returns the number
/// of rows written.
pub fn export(runs: &[Recorded], to: &Path, curves: bool) -> Result<usize, InputError> {
    let table = if curves { curve_table(runs) } else { run_table(runs) };
    let rows = table.rows;
    let ext = to.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if ext == "json" {
        let text = serde_json::to_string_pretty(&table.json()).map_err(|e| InputError::new(format!("cannot render JSON: {e}")))?;
        store::write_atomic(to, text.as_bytes()).map_err(|e| InputError::new(format!("cannot write: {e}")).file(to))?;
        return Ok(rows);
    }
    if !matches!(ext.as_str(), "csv" | "parquet" | "pq") {
        return Err(InputError::new(format!("unsupported output type '.{ext}'; expected .parquet, .csv or .json")).file(to).field("--to"));
    }
    write_columns(Some(to), table.typed(), &mut std::io::sink())?;
    Ok(rows)
}
