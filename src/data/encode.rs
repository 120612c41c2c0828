//! Encoding a table into numbers: numeric columns (missing cells filled, dropped or kept),
//! string columns as one-hot or ordinal codes, class labels; learned from the training file and
//! applied alike to a test file and, saved with a model, to new rows for `ratlab predict`.

use super::table::{RawColumn, RawTable, RawValues};
use super::{limits, DataConfig, Dataset, Encoding, Missing, Task};
use crate::error::{quote, InputError};
use ndarray::{Array1, Array2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How one source column becomes feature columns.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum ColumnCode {
    Numeric { fill: f64 },
    Categories { cats: Vec<String>, fill: String },
}

impl ColumnCode {
    /// What a column's encoding learns from rows `rows`: a numeric column the mean of its
    /// present cells (the fill of missing ones), a text column its categories and the most
    /// frequent one (the fill).
    fn learn(col: &RawColumn, rows: impl Iterator<Item = usize>) -> ColumnCode {
        match &col.values {
            RawValues::Numeric(v) => ColumnCode::Numeric { fill: mean_of_present(rows.map(|r| v[r])) },
            RawValues::Text(v) => {
                let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                for s in rows.filter_map(|r| v[r].as_deref()) {
                    *counts.entry(s).or_default() += 1;
                }
                let fill = counts.iter().max_by_key(|(_, c)| **c).map(|(k, _)| k.to_string()).unwrap_or_default();
                ColumnCode::Categories { cats: counts.keys().map(|s| s.to_string()).collect(), fill }
            }
        }
    }

    /// Row `r`'s cell when it is a category the encoding did not learn (it takes the missing
    /// rule, as a missing cell would), with the categories it learned.
    fn unseen(&self, col: &RawColumn, r: usize) -> Option<(String, &[String])> {
        let ColumnCode::Categories { cats, .. } = self else { return None };
        find_category(cats, &col.values, r)?.err().map(|cell| (cell, cats.as_slice()))
    }
}

/// The mean of the values that are present (not NaN); 0 when none is: a numeric fill.
fn mean_of_present(values: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = values.filter(|x| !x.is_nan()).fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n > 0 {
        s / n as f64
    } else {
        0.0
    }
}

/// Where row `r`'s cell sits among the sorted `cats`: `Ok(index)`, `Err(cell)` for a category
/// the list lacks, `None` for a missing cell. A text cell is looked up without a copy.
fn find_category(cats: &[String], values: &RawValues, r: usize) -> Option<Result<usize, String>> {
    match values {
        RawValues::Text(v) => {
            let s = v[r].as_deref()?;
            Some(cats.binary_search_by(|c| c.as_str().cmp(s)).map_err(|_| s.to_string()))
        }
        RawValues::Numeric(v) if v[r].is_nan() => None,
        RawValues::Numeric(v) => {
            let s = label_of(v[r]);
            Some(cats.binary_search(&s).map_err(|_| s))
        }
    }
}

/// The encoding learned from the training file and applied to it, to a test file, and (saved
/// with a model) to new rows for `ratlab predict`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Encoder {
    features: Vec<(String, ColumnCode)>,
    pub classes: Vec<String>,
    pub target: String,
    pub task: Task,
    pub encoding: Encoding,
    pub missing: Missing,
}

fn parse_num(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

fn allowed_columns(t: &RawTable) -> String {
    let names = t.names();
    let shown: Vec<String> = names.iter().take(40).map(|n| quote(n)).collect();
    let more = if names.len() > 40 { format!(" … ({} in all)", names.len()) } else { String::new() };
    format!("the file has columns: {}{more}", shown.join(", "))
}

/// A numeric cell that is not finite (`inf`): a bad cell, refused like any other that is not a
/// number, naming its file, row and column.
fn not_finite(t: &RawTable, src: &str, column: &str, r: usize, x: f64) -> InputError {
    InputError::new(format!("{}: {} is not a finite number", t.where_row(r), quote(&x.to_string())))
        .file(src)
        .field(format!("column '{column}'"))
        .detail("fix the cell, or mark it missing (empty or NA) and set data.missing to drop or mean")
}

/// Format a numeric class label the way users wrote it (`1`, not `1.0`).
fn label_of(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

impl Encoder {
    /// The encoder of generated data: every feature a numeric column of that name.
    pub(super) fn numeric(names: &[String], cfg: &DataConfig, classes: Vec<String>) -> Encoder {
        Encoder {
            features: names.iter().map(|n| (n.clone(), ColumnCode::Numeric { fill: 0.0 })).collect(),
            classes,
            target: cfg.target.clone(),
            task: cfg.task,
            encoding: cfg.encoding,
            missing: cfg.missing,
        }
    }

    /// Encode a table of new rows (the target column may be absent; its values are then NaN).
    pub fn encode(&self, t: &RawTable, src: &str) -> Result<Dataset, InputError> {
        let missing: Vec<&str> = self.features.iter().map(|(n, _)| n.as_str()).filter(|n| t.column(n).is_none()).collect();
        if !missing.is_empty() {
            return Err(InputError::new(format!(
                "{src} lacks column(s) {} that the model was trained on",
                missing.iter().map(|m| quote(m)).collect::<Vec<_>>().join(", ")
            ))
            .file(src)
            .detail(allowed_columns(t)));
        }
        self.apply(t, src, false)
    }

    /// Whether an encoding read from a file fits a model giving `outputs` outputs a row: its
    /// columns named once, category lists sorted without repeats (they are searched), fills
    /// finite, and as many classes as the model's outputs (one value for regression).
    pub fn check(&self, outputs: usize) -> Result<(), String> {
        if self.features.is_empty() {
            return Err("the encoding has no feature columns".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for (n, code) in &self.features {
            if !names.insert(n) {
                return Err(format!("column {} is encoded twice", quote(n)));
            }
            match code {
                ColumnCode::Numeric { fill } if !fill.is_finite() => return Err(format!("column {}: its fill is {fill}", quote(n))),
                ColumnCode::Categories { cats, .. } if cats.windows(2).any(|w| w[0] >= w[1]) => {
                    return Err(format!("column {}: its categories are not sorted without repeats", quote(n)))
                }
                _ => {}
            }
        }
        match self.task {
            Task::Classification if self.classes.len() >= 2 && self.classes.len() == outputs => Ok(()),
            Task::Regression if self.classes.is_empty() && outputs == 1 => Ok(()),
            _ => Err(format!("a {} encoding with {} class(es) does not fit a model giving {outputs} output(s) a row", self.task.as_str(), self.classes.len())),
        }
    }

    /// This encoding relearned from table rows `rows` alone (a fold's training rows): the same
    /// columns, their fills and categories from those rows, so that no held-out row shapes what
    /// the model trains on.
    pub(super) fn learn(&self, t: &RawTable, rows: &[usize]) -> Encoder {
        let features = self
            .features
            .iter()
            .map(|(name, code)| match t.column(name) {
                Some(col) => (name.clone(), ColumnCode::learn(col, rows.iter().copied())),
                None => (name.clone(), code.clone()),
            })
            .collect();
        Encoder { features, ..self.clone() }
    }

    /// Whether encoding rows depends on which rows the encoding learned from: a category
    /// column (its categories), or numeric cells filled with a mean. If not, a fold's rows are
    /// the file's encoded rows, and only the fills a saved model keeps for new rows are learned
    /// ([`Encoder::learn_fills`]).
    pub(super) fn depends_on_rows(&self, t: &RawTable) -> bool {
        self.features.iter().any(|(name, code)| match code {
            ColumnCode::Categories { .. } => true,
            ColumnCode::Numeric { .. } => self.missing == Missing::Mean && t.column(name).is_some_and(RawColumn::has_missing),
        })
    }

    /// The fills of an all-numeric encoding (one feature column per source column) learned from
    /// rows `rows` of the encoded matrix: the means of their present values.
    pub(super) fn learn_fills(&self, x: &Array2<f64>, rows: &[usize]) -> Encoder {
        let features = self
            .features
            .iter()
            .enumerate()
            .map(|(j, (name, code))| match code {
                ColumnCode::Numeric { .. } => (name.clone(), ColumnCode::Numeric { fill: mean_of_present(rows.iter().map(|&r| x[[r, j]])) }),
                other => (name.clone(), other.clone()),
            })
            .collect();
        Encoder { features, ..self.clone() }
    }

    /// This all-numeric encoding with fills from the (sum, count) of each feature's present
    /// values over the training rows, summed in row order: [`Encoder::learn_fills`] for rows
    /// read a chunk at a time.
    pub fn with_fills(&self, sums: &[(f64, usize)]) -> Encoder {
        let features = self
            .features
            .iter()
            .zip(sums)
            .map(|((name, code), &(s, n))| match code {
                ColumnCode::Numeric { .. } => (name.clone(), ColumnCode::Numeric { fill: if n > 0 { s / n as f64 } else { 0.0 } }),
                other => (name.clone(), other.clone()),
            })
            .collect();
        Encoder { features, ..self.clone() }
    }

    /// Whether a column holds categories (text, or codes named in `data.categorical`).
    pub fn has_categories(&self) -> bool {
        self.features.iter().any(|(_, c)| matches!(c, ColumnCode::Categories { .. }))
    }

    /// Feature names after encoding.
    pub fn names(&self) -> Vec<String> {
        self.feature_names(self.encoding)
    }

    pub(super) fn uses(&self, name: &str) -> bool {
        self.features.iter().any(|(n, _)| n == name)
    }

    /// The encoding a whole table teaches (see [`Learner`], which learns it a chunk at a time).
    pub(super) fn fit(t: &RawTable, cfg: &DataConfig, src: &str) -> Result<Encoder, InputError> {
        let mut l = Learner::new(t, cfg, src)?;
        l.add(t);
        l.finish()
    }

    /// The class number of a label of row `r`, or the error that it never occurs in training.
    fn class_of(&self, label: &str, t: &RawTable, r: usize, src: &str) -> Result<usize, InputError> {
        self.classes.iter().position(|c| c == label).ok_or_else(|| {
            InputError::new(format!(
                "{}: class {} does not occur in the training data; classes: {}",
                t.where_row(r),
                quote(label),
                self.classes.join(", ")
            ))
            .file(src)
            .field(format!("column '{}'", self.target))
        })
    }

    /// Write one source column's feature values for rows `rows` into a block of the feature
    /// matrix (`width` columns per row, this column's first at `j`).
    #[allow(clippy::too_many_arguments)]
    fn fill(&self, t: &RawTable, src: &str, col: &RawColumn, code: &ColumnCode, j: usize, width: usize, rows: &[usize], out: &mut [f64]) -> Result<(), InputError> {
        let keep_missing = self.missing == Missing::Keep;
        match (code, &col.values) {
            (ColumnCode::Numeric { fill }, RawValues::Numeric(v)) => {
                let fill = if keep_missing { f64::NAN } else { *fill };
                for (o, &r) in out.chunks_exact_mut(width).zip(rows) {
                    if v[r].is_infinite() {
                        return Err(not_finite(t, src, &col.name, r, v[r]));
                    }
                    o[j] = if v[r].is_nan() { fill } else { v[r] };
                }
            }
            (ColumnCode::Numeric { fill }, RawValues::Text(v)) => {
                for (o, &r) in out.chunks_exact_mut(width).zip(rows) {
                    o[j] = match &v[r] {
                        None if keep_missing => f64::NAN,
                        None => *fill,
                        Some(s) => parse_num(s).ok_or_else(|| {
                            InputError::new(format!("{}: {} is not a number", t.where_row(r), quote(s))).file(src).field(format!("column '{}'", col.name))
                        })?,
                    };
                }
            }
            (ColumnCode::Categories { cats, fill }, values) => {
                let n_cols = if self.encoding == Encoding::OneHot { cats.len() } else { 1 };
                for (o, &r) in out.chunks_exact_mut(width).zip(rows) {
                    // A category the encoding did not learn is missing here (its rows under
                    // `error` and `drop` never get this far, but with native codes: the trees
                    // send it the missing way).
                    let idx = match find_category(cats, values, r) {
                        Some(Ok(k)) => Some(k),
                        Some(Err(_)) if self.encoding == Encoding::Native => {
                            o[j] = f64::NAN;
                            continue;
                        }
                        _ if keep_missing => {
                            o[j..j + n_cols].iter_mut().for_each(|v| *v = f64::NAN);
                            continue;
                        }
                        _ => cats.binary_search(fill).ok(),
                    };
                    match (self.encoding, idx) {
                        (Encoding::OneHot, Some(k)) => o[j + k] = 1.0,
                        (Encoding::OneHot, None) => {} // unseen category: all zeros
                        (Encoding::Ordinal | Encoding::Native, Some(k)) => o[j] = k as f64,
                        (Encoding::Ordinal | Encoding::Native, None) => {
                            return Err(InputError::new(format!(
                                "{}: category {} does not occur in the training data; known: {}",
                                t.where_row(r),
                                quote(fill),
                                cats.join(", ")
                            ))
                            .file(src)
                            .field(format!("column '{}'", col.name)))
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Per feature, its number of categories when it is a native category code, else 0 (empty
    /// unless `encoding: native`).
    pub fn categories(&self) -> Vec<usize> {
        self.category_names().iter().map(|c| c.map_or(0, <[String]>::len)).collect()
    }

    /// Per feature, its category names when it is a native category code (empty unless
    /// `encoding: native`), so a tree's category split can name them.
    pub fn category_names(&self) -> Vec<Option<&[String]>> {
        if self.encoding != Encoding::Native {
            return vec![];
        }
        self.features
            .iter()
            .map(|(_, code)| match code {
                ColumnCode::Categories { cats, .. } => Some(cats.as_slice()),
                ColumnCode::Numeric { .. } => None,
            })
            .collect()
    }

    fn feature_names(&self, enc: Encoding) -> Vec<String> {
        let mut out = Vec::new();
        for (name, code) in &self.features {
            match code {
                ColumnCode::Categories { cats, .. } if enc == Encoding::OneHot => {
                    out.extend(cats.iter().map(|c| format!("{name}={c}")))
                }
                _ => out.push(name.clone()),
            }
        }
        out
    }

    /// Encode a table. Without `need_target`, a table lacking the target column is encoded
    /// with NaN targets and keeps every row (prediction).
    pub(super) fn apply(&self, t: &RawTable, src: &str, need_target: bool) -> Result<Dataset, InputError> {
        let all: Vec<usize> = (0..t.height).collect();
        self.apply_rows(t, src, &all, need_target).map(|(d, _)| d)
    }

    /// Encode rows `rows` of a table (a fold's part of it): the dataset and the table rows it
    /// kept, in order (the missing rule may drop some). A category the encoding did not learn
    /// takes the missing rule, as a missing cell does.
    pub(super) fn apply_rows(&self, t: &RawTable, src: &str, rows: &[usize], need_target: bool) -> Result<(Dataset, Vec<usize>), InputError> {
        self.encode_rows(t, src, rows, need_target, false)
    }

    /// Encode one chunk of a file's rows (`data.chunk_rows`): as [`Encoder::apply_rows`] does
    /// every row of a table, except that a chunk may lose all its rows to the missing rule.
    pub(super) fn apply_chunk(&self, t: &RawTable, src: &str) -> Result<(Dataset, Vec<usize>), InputError> {
        let all: Vec<usize> = (0..t.height).collect();
        self.encode_rows(t, src, &all, true, true)
    }

    fn encode_rows(&self, t: &RawTable, src: &str, rows: &[usize], need_target: bool, chunk: bool) -> Result<(Dataset, Vec<usize>), InputError> {
        let cfg = self;
        let target = match t.column(&cfg.target) {
            _ if !need_target => None,
            Some(c) => Some(c),
            None => {
                return Err(InputError::new(format!("target column {} is not in {src}", quote(&cfg.target))).file(src).field("data.target"))
            }
        };
        let mut cols = Vec::with_capacity(self.features.len());
        for (n, c) in &self.features {
            let col = t.column(n).ok_or_else(|| InputError::new(format!("column {} is not in {src}", quote(n))).file(src).detail(allowed_columns(t)))?;
            cols.push((col, c));
        }
        // Missing values (and categories the encoding did not learn): the rows to keep (all of
        // them when no cell is missing and no column holds categories).
        let target_has_missing = need_target && target.is_some_and(|c| c.has_missing());
        let categorical = cols.iter().any(|(_, code)| matches!(code, ColumnCode::Categories { .. }));
        let mut keep = Vec::with_capacity(rows.len());
        let rows_to_check: &[usize] = if target_has_missing || categorical || cols.iter().any(|(c, _)| c.has_missing()) {
            rows
        } else {
            keep.extend_from_slice(rows);
            &[]
        };
        for &r in rows_to_check {
            let target_missing = need_target && target.is_some_and(|c| c.is_missing(r));
            let feat_missing = cols.iter().find(|(c, _)| c.is_missing(r));
            let unseen = if feat_missing.is_none() && cfg.encoding != Encoding::Native { cols.iter().find_map(|(c, code)| code.unseen(c, r).map(|(cell, cats)| (c, cell, cats))) } else { None };
            match (cfg.missing, &unseen) {
                (Missing::Error, Some((col, cell, cats))) if !target_missing => {
                    let shown: Vec<String> = cats.iter().take(20).map(|c| quote(c)).collect();
                    let more = if cats.len() > 20 { format!(", … ({} in all)", cats.len()) } else { String::new() };
                    return Err(InputError::new(format!(
                        "{}: category {} does not occur in the rows the encoding learned from ({}{more})",
                        t.where_row(r),
                        quote(cell),
                        shown.join(", ")
                    ))
                    .file(src)
                    .field(format!("column '{}'", col.name))
                    .detail("a category the training rows lack takes the missing rule: set data.missing to mean (the training rows' most frequent category), keep or drop"));
                }
                (Missing::Drop, Some(_)) => {}
                (Missing::Error, _) if target_missing || feat_missing.is_some() => {
                    let name = if target_missing { cfg.target.as_str() } else { feat_missing.map(|(c, _)| c.name.as_str()).unwrap_or("") };
                    let total = t.columns.iter().find(|c| c.name == name).map(|c| (0..t.height).filter(|&i| c.is_missing(i)).count()).unwrap_or(1);
                    let within = if chunk { "this chunk of the column" } else { "this column" };
                    return Err(InputError::new(format!(
                        "{} is missing ({total} missing cell(s) in {within})",
                        t.where_row(r)
                    ))
                    .file(src)
                    .field(format!("column '{name}'"))
                    .detail("set data.missing to drop (drop those rows) or mean (fill with the column mean)"));
                }
                (Missing::Drop, _) if target_missing || feat_missing.is_some() => {}
                (Missing::Mean | Missing::Keep, _) if target_missing => {}
                _ => keep.push(r),
            }
        }
        if keep.is_empty() && !rows.is_empty() && !chunk {
            return Err(InputError::new("no rows are left after dropping missing values").file(src).field("data.missing"));
        }
        let names = self.feature_names(cfg.encoding);
        let width = names.len().max(1);
        let mut x = Array2::<f64>::zeros((keep.len(), names.len()));
        // Each source column's first feature column.
        let offsets: Vec<usize> = cols
            .iter()
            .scan(0, |j, (_, code)| {
                let at = *j;
                *j += match code {
                    ColumnCode::Categories { cats, .. } if cfg.encoding == Encoding::OneHot => cats.len(),
                    _ => 1,
                };
                Some(at)
            })
            .collect();
        // Blocks of rows in parallel, each written row by row (in cache); the first error in
        // row order wins, whatever the thread count.
        const BLOCK: usize = 4096;
        if let Some(out) = x.as_slice_mut().filter(|o| !o.is_empty()) {
            let results: Vec<Result<(), InputError>> = out
                .par_chunks_mut(BLOCK * width)
                .zip(keep.par_chunks(BLOCK))
                .map(|(out, rows)| {
                    for ((col, code), &j) in cols.iter().zip(&offsets) {
                        self.fill(t, src, col, code, j, width, rows, out)?;
                    }
                    Ok(())
                })
                .collect();
            results.into_iter().collect::<Result<Vec<()>, _>>()?;
        }
        // Target.
        let mut y = Array1::<f64>::zeros(keep.len());
        let mut seen = NumericClasses::default();
        for (i, &r) in keep.iter().enumerate() {
            let Some(target) = target else {
                y[i] = f64::NAN;
                continue;
            };
            y[i] = match (cfg.task, &target.values) {
                (_, RawValues::Numeric(v)) if v[r].is_infinite() => return Err(not_finite(t, src, &cfg.target, r, v[r])),
                (Task::Regression, RawValues::Numeric(v)) => v[r],
                (Task::Classification, RawValues::Numeric(v)) if !v[r].is_nan() => seen.class(v[r], |label| self.class_of(label, t, r, src))? as f64,
                (Task::Regression, RawValues::Text(v)) => v[r].as_deref().and_then(parse_num).unwrap_or(f64::NAN),
                (Task::Classification, vals) => {
                    let label = match vals {
                        RawValues::Numeric(v) => (!v[r].is_nan()).then(|| label_of(v[r])),
                        RawValues::Text(v) => v[r].clone(),
                    }
                    .unwrap_or_default();
                    self.class_of(&label, t, r, src)? as f64
                }
            };
        }
        let data = Dataset {
            x,
            y,
            feature_names: names,
            target: cfg.target.clone(),
            task: cfg.task,
            classes: self.classes.clone(),
            source: src.to_string(),
            categories: self.categories(),
        };
        Ok((data, keep))
    }
}

/// What one feature column has taught so far.
enum Seen {
    /// Numbers: the running sum and count of present cells (the fill is their mean, summed in
    /// row order as a whole column would be).
    Numeric { sum: f64, n: usize },
    /// Text cells: each category's count, how many present cells parse as numbers, and the
    /// first that does not (a text column of mostly numbers is a numeric column with a bad cell).
    Text { counts: BTreeMap<String, usize>, present: usize, numeric: usize, first_bad: Option<(String, String)> },
    /// Integer codes named in `data.categorical`, as labels; or the first that is not whole.
    Codes { counts: BTreeMap<String, usize>, not_whole: Option<(String, f64)> },
}

/// The encoding learned from a table's rows in order, one table or one chunk at a time
/// (`data.chunk_rows`): every statistic is accumulated in row order, so the chunks of a file
/// teach the same encoding, to the bit, as the whole file read at once. Errors found on the way
/// are kept (the first of each kind) and reported by [`Learner::finish`] in the order the
/// checks would find them in one table.
pub(super) struct Learner<'c> {
    cfg: &'c DataConfig,
    src: String,
    features: Vec<(String, Seen)>,
    /// Numeric targets: the distinct values; text targets: the distinct labels.
    numbers: Vec<f64>,
    labels: std::collections::BTreeSet<String>,
    /// The first infinite target cell, or (regression) the first text target: where and what.
    target_bad: Option<InputError>,
}

impl<'c> Learner<'c> {
    /// Check the columns the data section names against a table (the file, or its first
    /// chunk): the target, the features, the dropped and the categorical columns.
    pub(super) fn new(t: &RawTable, cfg: &'c DataConfig, src: &str) -> Result<Learner<'c>, InputError> {
        if t.column(&cfg.target).is_none() {
            return Err(InputError::new(format!("target column {} is not in {src}", quote(&cfg.target)))
                .field("data.target")
                .detail(allowed_columns(t)));
        }
        for name in cfg.features.iter().flatten().chain(cfg.drop.iter()) {
            if t.column(name).is_none() {
                let field = if cfg.drop.contains(name) { "data.drop" } else { "data.features" };
                return Err(InputError::new(format!("column {} is not in {src}", quote(name)))
                    .field(field)
                    .detail(allowed_columns(t)));
            }
        }
        if cfg.features.as_ref().is_some_and(|f| f.contains(&cfg.target)) {
            return Err(InputError::new(format!("the target {} cannot also be a feature", quote(&cfg.target)))
                .field("data.features"));
        }
        let names: Vec<&str> = match &cfg.features {
            Some(f) => f.iter().map(String::as_str).collect(),
            None => t.names().into_iter().filter(|n| *n != cfg.target).collect(),
        };
        let names: Vec<&str> = names.into_iter().filter(|n| !cfg.drop.iter().any(|d| d == n)).collect();
        if names.is_empty() {
            return Err(InputError::new("no feature columns are left").field("data.features"));
        }
        for name in &cfg.categorical {
            if t.column(name).is_none() || !names.contains(&name.as_str()) {
                return Err(InputError::new(format!("{} in data.categorical is not a feature column of {src}", quote(name))).field("data.categorical").detail(allowed_columns(t)));
            }
        }
        let features = names
            .into_iter()
            .map(|name| {
                let col = t.column(name).expect("checked above");
                let seen = match &col.values {
                    RawValues::Numeric(_) if cfg.categorical.iter().any(|c| c == name) => Seen::Codes { counts: BTreeMap::new(), not_whole: None },
                    RawValues::Numeric(_) => Seen::Numeric { sum: 0.0, n: 0 },
                    RawValues::Text(_) => Seen::Text { counts: BTreeMap::new(), present: 0, numeric: 0, first_bad: None },
                };
                (name.to_string(), seen)
            })
            .collect();
        Ok(Learner { cfg, src: src.to_string(), features, numbers: vec![], labels: Default::default(), target_bad: None })
    }

    /// How many feature columns the encoding reads.
    pub(super) fn width(&self) -> usize {
        self.features.len()
    }

    /// Learn from the rows of `t` (the next chunk, or the whole table). A column whose type
    /// differs from the first chunk's is read by what it is now (a chunk's cells are checked
    /// as they are encoded).
    pub(super) fn add(&mut self, t: &RawTable) {
        let src = self.src.clone();
        for (name, seen) in &mut self.features {
            let Some(col) = t.column(name) else { continue };
            match (seen, &col.values) {
                (Seen::Numeric { sum, n }, RawValues::Numeric(v)) => {
                    for x in v.iter().filter(|x| !x.is_nan()) {
                        *sum += x;
                        *n += 1;
                    }
                }
                (Seen::Codes { counts, not_whole }, RawValues::Numeric(v)) => {
                    for (r, &x) in v.iter().enumerate() {
                        if x.is_nan() || not_whole.is_some() {
                            continue;
                        }
                        if x.fract() != 0.0 || x.abs() >= 1e15 {
                            *not_whole = Some((t.where_row(r), x));
                            continue;
                        }
                        *counts.entry(label_of(x)).or_default() += 1;
                    }
                }
                (Seen::Text { counts, present, numeric, first_bad }, RawValues::Text(v)) => {
                    for (r, s) in v.iter().enumerate() {
                        let Some(s) = s else { continue };
                        *present += 1;
                        if parse_num(s).is_some() {
                            *numeric += 1;
                        } else if first_bad.is_none() {
                            *first_bad = Some((t.where_row(r), s.clone()));
                        }
                        match counts.get_mut(s.as_str()) {
                            Some(c) => *c += 1,
                            None => {
                                counts.insert(s.clone(), 1);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        let Some(target) = t.column(&self.cfg.target) else { return };
        if self.target_bad.is_some() {
            return;
        }
        match (&target.values, self.cfg.task) {
            (RawValues::Numeric(v), task) => {
                if let Some(r) = v.iter().position(|x| x.is_infinite()) {
                    self.target_bad = Some(not_finite(t, &src, &self.cfg.target, r, v[r]));
                    return;
                }
                if task == Task::Classification {
                    self.numbers.extend(v.iter().copied().filter(|x| !x.is_nan()));
                    self.numbers.sort_by(f64::total_cmp);
                    self.numbers.dedup();
                }
            }
            (RawValues::Text(v), Task::Regression) => {
                let row = v.iter().position(|s| s.as_ref().is_some_and(|s| parse_num(s).is_none())).unwrap_or(0);
                self.target_bad = Some(
                    InputError::new(format!(
                        "regression needs a numeric target; {} of {} is {}",
                        t.where_row(row),
                        quote(&self.cfg.target),
                        quote(v[row].as_deref().unwrap_or(""))
                    ))
                    .file(&src)
                    .field("data.target"),
                );
            }
            (RawValues::Text(v), Task::Classification) => {
                for s in v.iter().flatten() {
                    if !self.labels.contains(s) {
                        self.labels.insert(s.clone());
                    }
                }
            }
        }
    }

    /// The encoding learned, or the first error the rows showed.
    pub(super) fn finish(self) -> Result<Encoder, InputError> {
        let (cfg, src) = (self.cfg, self.src.as_str());
        let mut features = Vec::with_capacity(self.features.len());
        for (name, seen) in self.features {
            let most = |counts: &BTreeMap<String, usize>| counts.iter().max_by_key(|(_, c)| **c).map(|(k, _)| k.clone()).unwrap_or_default();
            let code = match seen {
                Seen::Numeric { sum, n } => ColumnCode::Numeric { fill: if n > 0 { sum / n as f64 } else { 0.0 } },
                Seen::Codes { not_whole: Some((at, x)), .. } => {
                    return Err(InputError::new(format!("{at}: {} is not a whole number, so it cannot be a category code", quote(&x.to_string())))
                        .file(src)
                        .field(format!("column '{name}'"))
                        .detail("data.categorical names integer columns that hold categories; take this column out of the list"))
                }
                Seen::Text { present, numeric, first_bad: Some((at, bad)), .. } if numeric * 2 > present && numeric < present => {
                    // A text column whose cells are mostly numbers is a numeric column with a
                    // bad cell, not a category: say which cell.
                    return Err(InputError::new(format!("{at}: {} is not a number (the column's other cells are numeric)", quote(&bad)))
                        .file(src)
                        .field(format!("column '{name}'"))
                        .detail("fix the cell, or mark it missing (empty or NA) and set data.missing to drop or mean"));
                }
                Seen::Codes { counts, .. } | Seen::Text { counts, .. } => ColumnCode::Categories { fill: most(&counts), cats: counts.into_keys().collect() },
            };
            features.push((name, code));
        }
        if let Some(e) = self.target_bad {
            return Err(e);
        }
        // Class labels, sorted numerically when numeric.
        let classes = match cfg.task {
            Task::Regression => vec![],
            Task::Classification if self.labels.is_empty() => {
                let u = self.numbers;
                if u.iter().any(|x| x.fract() != 0.0) && u.len() > 20 {
                    return Err(InputError::new(format!(
                        "target {} has {} distinct non-integer values; classification needs class labels (is this a regression target?)",
                        quote(&cfg.target),
                        u.len()
                    ))
                    .file(src)
                    .field("data.target"));
                }
                u.into_iter().map(label_of).collect()
            }
            Task::Classification => self.labels.into_iter().collect(),
        };
        let limit = limits::get().classes;
        if classes.len() > limit {
            return Err(InputError::new(limits::exceeded("classes", &format!("target {} has {} classes", quote(&cfg.target), classes.len()), limit))
                .file(src)
                .field("data.target"));
        }
        if cfg.task == Task::Classification && classes.len() < 2 {
            return Err(InputError::new(format!(
                "target {} has {} class(es); classification needs at least 2",
                quote(&cfg.target),
                classes.len()
            ))
            .file(src)
            .field("data.target"));
        }
        Ok(Encoder { features, classes, target: cfg.target.clone(), task: cfg.task, encoding: cfg.encoding, missing: cfg.missing })
    }
}

/// The rows of a file whose features are all numbers, encoded in the same pass that learns the
/// encoding (`data.chunk_rows`): a number's encoding needs nothing learned (missing cells stay
/// missing, or drop or stop the row, by rules of the row alone), and the targets are kept raw
/// until the classes are known. Saves parsing the file a second time.
pub(super) struct EarlyRows {
    /// Every feature a number, the target read as a raw number.
    provisional: Encoder,
    /// Text class labels of the kept rows, by first appearance, and each kept row's label.
    labels: std::collections::HashMap<String, u32>,
    label_of_row: Vec<u32>,
}

impl EarlyRows {
    /// When every feature column `learner` reads is a plain number column.
    pub(super) fn new(learner: &Learner<'_>) -> Option<EarlyRows> {
        if !learner.features.iter().all(|(_, s)| matches!(s, Seen::Numeric { .. })) {
            return None;
        }
        let cfg = learner.cfg;
        let features = learner.features.iter().map(|(n, _)| (n.clone(), ColumnCode::Numeric { fill: 0.0 })).collect();
        let provisional = Encoder { features, classes: vec![], target: cfg.target.clone(), task: Task::Regression, encoding: cfg.encoding, missing: cfg.missing };
        Some(EarlyRows { provisional, labels: Default::default(), label_of_row: vec![] })
    }

    /// Encode a chunk: its kept rows' features, and their targets as read (numbers; text
    /// labels are kept aside).
    pub(super) fn add(&mut self, t: &RawTable, src: &str) -> Result<Dataset, InputError> {
        let (d, kept) = self.provisional.encode_rows(t, src, &(0..t.height).collect::<Vec<_>>(), true, true)?;
        if let Some(RawValues::Text(v)) = t.column(&self.provisional.target).map(|c| &c.values) {
            for &r in &kept {
                let label = v[r].as_deref().unwrap_or_default();
                let next = self.labels.len() as u32;
                let id = *self.labels.entry(label.to_string()).or_insert(next);
                self.label_of_row.push(id);
            }
        }
        Ok(d)
    }

    /// The targets of every kept row under the learned encoding `enc`, from `raw` (what
    /// [`EarlyRows::add`] gave, in order).
    pub(super) fn targets(self, enc: &Encoder, raw: Vec<f64>, src: &str) -> Result<Vec<f64>, InputError> {
        let unknown = |label: String| InputError::new(format!("class {} does not occur in the training data", quote(&label))).file(src).field(format!("column '{}'", enc.target));
        if enc.task == Task::Regression {
            return Ok(raw);
        }
        if !self.label_of_row.is_empty() {
            let mut class_of = vec![0.0; self.labels.len()];
            for (label, id) in self.labels {
                class_of[id as usize] = enc.classes.iter().position(|c| *c == label).ok_or_else(|| unknown(label))? as f64;
            }
            return Ok(self.label_of_row.iter().map(|&id| class_of[id as usize]).collect());
        }
        let mut seen = NumericClasses::default();
        raw.into_iter().map(|v| Ok(seen.class(v, |label| enc.classes.iter().position(|c| c == label).ok_or_else(|| unknown(label.to_string())))? as f64)).collect()
    }
}

/// The classes of numeric labels seen so far, by their bits (labels are few; formatting each
/// row's label anew is most of the cost on large files). The first 64 are remembered.
#[derive(Default)]
struct NumericClasses(Vec<(u64, usize)>);

impl NumericClasses {
    /// The class of label `v`: remembered, or `find` of its text.
    fn class(&mut self, v: f64, find: impl FnOnce(&str) -> Result<usize, InputError>) -> Result<usize, InputError> {
        if let Some(&(_, k)) = self.0.iter().find(|(b, _)| *b == v.to_bits()) {
            return Ok(k);
        }
        let k = find(&label_of(v))?;
        if self.0.len() < 64 {
            self.0.push((v.to_bits(), k));
        }
        Ok(k)
    }
}
