//! The Data view's numbers, computed with polars: schema (name, type, nulls), the first rows,
//! per-column statistics (mean, std, min, max, distinct) and the target's class balance; and the
//! summary of language-model data. The UI loop computes them on background threads.

use crate::data::{generate, DataConfig, Source};
use polars::prelude::*;
use std::collections::BTreeMap;

/// One column's schema and statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnInfo {
    pub name: String,
    pub dtype: String,
    pub nulls: usize,
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub distinct: usize,
}

/// What the Data view shows for one dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct DataPreview {
    pub source: String,
    pub rows: usize,
    pub columns: Vec<ColumnInfo>,
    /// The first rows, as text.
    pub head: Vec<Vec<String>>,
    pub target: String,
    /// Class label → count (empty for a numeric target with many values).
    pub balance: Vec<(String, usize)>,
}

fn cell(v: AnyValue<'_>) -> String {
    match v {
        AnyValue::Null => "·".into(),
        AnyValue::String(s) => s.to_string(),
        AnyValue::Float64(f) => format!("{f:.4}"),
        AnyValue::Float32(f) => format!("{f:.4}"),
        other => other.to_string(),
    }
}

/// Rows per class of a target with few distinct values: counted on the column cast to text
/// once (millions of rows are counted, not formatted one by one), each class labelled as its
/// first row shows it.
fn class_balance(t: &Column) -> Vec<(String, usize)> {
    let Ok(text) = t.cast(&DataType::String) else { return Vec::new() };
    let Ok(text) = text.str() else { return Vec::new() };
    let mut counts: std::collections::HashMap<Option<&str>, (usize, usize)> = std::collections::HashMap::new();
    for (i, v) in text.iter().enumerate() {
        counts.entry(v).or_insert((0, i)).0 += 1;
    }
    let labelled: BTreeMap<String, usize> = counts.into_values().map(|(n, first)| (t.get(first).map(cell).unwrap_or_default(), n)).collect();
    labelled.into_iter().collect()
}

/// Compute the preview of a frame.
pub fn from_frame(df: &DataFrame, source: &str, target: &str) -> DataPreview {
    let mut columns = Vec::new();
    for col in df.columns() {
        let dtype = col.dtype().clone();
        let numeric = dtype.is_primitive_numeric() || dtype.is_bool();
        let stats = numeric.then(|| col.cast(&DataType::Float64).ok()).flatten();
        let (mean, std, min, max) = match stats.as_ref().and_then(|c| c.f64().ok()) {
            Some(ca) => (ca.mean(), ca.std(1), ca.min(), ca.max()),
            None => (None, None, None, None),
        };
        columns.push(ColumnInfo {
            name: col.name().to_string(),
            dtype: dtype.to_string(),
            nulls: col.null_count(),
            mean,
            std,
            min,
            max,
            distinct: col.n_unique().unwrap_or(0),
        });
    }
    let n = df.height().min(10);
    let head = (0..n).map(|i| df.columns().iter().map(|c| c.get(i).map(cell).unwrap_or_default()).collect()).collect();
    let mut balance = Vec::new();
    if let Ok(t) = df.column(target) {
        if t.n_unique().unwrap_or(usize::MAX) <= 50 {
            balance = class_balance(t);
        }
    }
    DataPreview { source: source.to_string(), rows: df.height(), columns, head, target: target.to_string(), balance }
}

/// Rows the Data view reads of a file read in chunks (`data.chunk_rows`).
const HEAD_ROWS: usize = 100_000;

/// Preview the data an experiment describes (a file, or its generator's output).
pub fn preview(cfg: &DataConfig, seed: u64) -> Result<DataPreview, String> {
    match &cfg.source {
        Source::File(p) if cfg.chunk_rows.is_some() => {
            // A file read in chunks may not fit in memory: its first rows only.
            let df = crate::data::chunks::head(p, HEAD_ROWS).map_err(|e| e.to_string())?;
            let cwd = std::env::current_dir().unwrap_or_default();
            let shown = p.strip_prefix(&cwd).unwrap_or(p);
            let note = if df.height() == HEAD_ROWS { format!(" (its first {HEAD_ROWS} rows: data.chunk_rows reads the rest in chunks)") } else { String::new() };
            Ok(from_frame(&df, &format!("{}{note}", shown.display()), &cfg.target))
        }
        Source::File(p) => {
            let df = crate::data::table::read_frame(p).map_err(|e| e.to_string())?;
            // The limits a run would meet (`--limit rows=N`, `columns=N`) hold here too.
            crate::data::table::check_limits(&df, p).map_err(|e| e.to_string())?;
            // Shown relative to the working directory when it lies below it.
            let cwd = std::env::current_dir().unwrap_or_default();
            let shown = p.strip_prefix(&cwd).unwrap_or(p);
            Ok(from_frame(&df, &shown.display().to_string(), &cfg.target))
        }
        Source::Generate(g) => {
            let d = generate::generate(g, seed);
            let mut cols: Vec<Column> =
                d.feature_names.iter().enumerate().map(|(j, n)| Column::new(n.as_str().into(), d.x.column(j).to_vec())).collect();
            let y: Vec<f64> = d.y.to_vec();
            if d.classes.is_empty() {
                cols.push(Column::new("target".into(), y));
            } else {
                cols.push(Column::new("target".into(), y.into_iter().map(|v| v as i64).collect::<Vec<i64>>()));
            }
            let df = DataFrame::new_infer_height(cols).map_err(|e| e.to_string())?;
            Ok(from_frame(&df, "generated", "target"))
        }
    }
}

/// The Data view's summary of language-model data: its train and test sizes and first examples.
pub fn language_summary(cfg: &crate::data::lm::LmDataConfig, seed: u64) -> Result<Vec<String>, String> {
    use crate::data::lm::{self, LmRows};
    let split = lm::load(cfg, seed).map_err(|e| e.to_string().lines().next().unwrap_or_default().to_string())?;
    let show = |s: &str| -> String {
        let one: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        if one.chars().count() > 100 { format!("{}…", one.chars().take(100).collect::<String>()) } else { one }
    };
    let mut out = Vec::new();
    match (&split.train, &split.test) {
        (LmRows::Text(a), LmRows::Text(b)) => {
            out.push(format!("{} bytes for training, {} held out (the tail) · byte vocabulary of 256", a.len(), b.len()));
            out.push(format!("begins: {}", show(&String::from_utf8_lossy(&a[..a.len().min(300)]))));
        }
        (LmRows::Instructions(a), LmRows::Instructions(b)) => {
            out.push(format!("{} instructions for training, {} for testing (Alpaca template; loss on the response)", a.len(), b.len()));
            for r in a.iter().take(4) {
                let input = if r.input.is_empty() { String::new() } else { format!(" [{}]", r.input) };
                out.push(format!("{}{} → {}", show(&r.instruction), show(&input), show(&r.output)));
            }
        }
        (LmRows::Preferences(a), LmRows::Preferences(b)) => {
            out.push(format!("{} preference pairs for training, {} for testing", a.len(), b.len()));
            for r in a.iter().take(4) {
                out.push(format!("{} → chosen {} · rejected {}", show(&r.prompt), show(&r.chosen), show(&r.rejected)));
            }
        }
        _ => {}
    }
    Ok(out)
}
