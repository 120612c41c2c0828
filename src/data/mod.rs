//! Data: loading CSV/Parquet through polars ([`table`]), encoding string columns and missing
//! values into a numeric matrix with class labels ([`encode`]), synthetic generators
//! ([`generate`]), seeded splits ([`split`]), and here the data section's types, the folds an
//! evaluation asks for and standardization. Every conversion between polars and ndarray happens
//! in this folder, once.

pub mod chunks;
pub mod progress;
pub mod generate;
pub mod limits;
pub mod lm;
pub mod pretrained;
pub mod split;
pub mod table;

mod encode;

pub use encode::Encoder;

use crate::error::{quote, InputError};
use ndarray::{Array1, Array2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The learning problem a dataset poses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    Classification,
    Regression,
}

impl Task {
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
        }
    }
}

/// How string columns become numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// One 0/1 column per category (`col=value`).
    OneHot,
    /// One column holding the category's index in sorted order.
    Ordinal,
    /// One column of category codes that the native tree models split by sets of categories
    /// (string columns, and integer columns named in `data.categorical`); a category the
    /// training rows lack is missing.
    Native,
}

/// What to do with missing cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    /// Stop with an error naming the column and row.
    Error,
    /// Drop rows with a missing feature or target.
    Drop,
    /// Fill numeric features with the training file's column mean (string columns with the
    /// most frequent category); rows without a target are dropped.
    Mean,
    /// Keep missing feature cells as missing (NaN) for the algorithms that handle them
    /// (native trees and boosting learn where missing values go); rows without a target are
    /// dropped.
    Keep,
}

/// How many training rows the runner scores after every step for the `train.` curves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalRows {
    /// Every training row.
    All,
    /// A seeded, stratified subsample of at most this many rows (0: no train metrics).
    AtMost(usize),
}

/// How the model is evaluated.
#[derive(Debug, Clone, PartialEq)]
pub enum Evaluation {
    /// A seeded random test split of the given fraction.
    Holdout { test: f64, stratify: bool },
    /// Seeded k-fold cross-validation; final metrics are the fold means.
    CrossValidation { folds: usize, stratify: bool },
    /// A separate test file with the same columns.
    TestFile(PathBuf),
}

/// Parameters of a synthetic generator.
#[derive(Debug, Clone, PartialEq)]
pub enum GenConfig {
    /// Gaussian classes around vertices of a hypercube in `n_informative` dimensions, plus
    /// pure-noise features, with a fraction of labels flipped at random.
    Classification { n_samples: usize, n_features: usize, n_informative: usize, n_classes: usize, class_sep: f64, label_noise: f64 },
    /// y = X·w + ε with `n_informative` non-zero weights.
    Regression { n_samples: usize, n_features: usize, n_informative: usize, noise: f64 },
    /// Isotropic Gaussian clusters; the cluster is the class.
    Blobs { n_samples: usize, n_features: usize, centers: usize, cluster_std: f64 },
}

/// Where rows come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    File(PathBuf),
    Generate(GenConfig),
}

/// A validated `data:` section.
#[derive(Debug, Clone, PartialEq)]
pub struct DataConfig {
    pub source: Source,
    pub target: String,
    pub task: Task,
    pub features: Option<Vec<String>>,
    pub drop: Vec<String>,
    pub encoding: Encoding,
    /// Integer columns that hold categories (`encoding: native`; string columns always do).
    pub categorical: Vec<String>,
    pub missing: Missing,
    pub standardize: bool,
    pub evaluation: Evaluation,
    pub eval_train_rows: EvalRows,
    /// Read the file this many rows at a time, straight into what the model trains on, never
    /// holding its matrix (`data.chunk_rows`, for data larger than memory).
    pub chunk_rows: Option<usize>,
}

/// How many [`quiet_catch`] calls are running. A reader's panic may happen on one of its own
/// worker threads (polars' pool) and reach us when the pool re-raises it, so quietness is
/// process-wide while one runs.
static QUIET: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Run `f`, turning a panic into its message. The panic is not printed (with
/// [`install_quiet_hook`]): the caller reports it as an error of the input.
pub fn quiet_catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    use std::sync::atomic::Ordering;
    QUIET.fetch_add(1, Ordering::SeqCst);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.fetch_sub(1, Ordering::SeqCst);
    r.map_err(|p| crate::error::panic_text(p.as_ref()))
}

/// Keep the panic hook quiet for panics [`quiet_catch`] turns into errors (every other panic
/// prints as before). Called once by the command line.
pub fn install_quiet_hook() {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if QUIET.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            prev(info);
        }
    }));
}

/// A numeric dataset ready for learning.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Rows × features, row-major.
    pub x: Array2<f64>,
    /// Class index (as f64) for classification, the value for regression.
    pub y: Array1<f64>,
    pub feature_names: Vec<String>,
    pub target: String,
    pub task: Task,
    /// Class labels in index order (empty for regression).
    pub classes: Vec<String>,
    /// Where the rows came from, for messages.
    pub source: String,
    /// Per feature, its number of categories when it holds category codes (`encoding:
    /// native`), else 0; empty when every feature is a number.
    pub categories: Vec<usize>,
}

impl Dataset {
    pub fn n_classes(&self) -> usize {
        self.classes.len()
    }
    /// The class index of every row (classification), without copying the features.
    pub fn labels(&self) -> Vec<usize> {
        self.y.iter().map(|v| *v as usize).collect()
    }
    /// Rows `idx` as a training set.
    pub fn subset(&self, idx: &[usize]) -> TrainSet {
        TrainSet { x: self.x.select(Axis(0), idx), y: self.y.select(Axis(0), idx), n_classes: self.n_classes(), weights: None, categories: self.categories.clone() }
    }
    /// Every row as a training set: the matrix copied in parallel (on a million rows the copy is
    /// mostly fresh pages faulted in, which one thread does at half the speed of two).
    pub fn all(&self) -> TrainSet {
        let x = match self.x.as_slice() {
            Some(v) => {
                let mut copy = Vec::with_capacity(v.len());
                copy.par_extend(v.par_iter().copied());
                Array2::from_shape_vec(self.x.raw_dim(), copy).unwrap_or_else(|_| self.x.clone())
            }
            None => self.x.clone(),
        };
        TrainSet { x, y: self.y.clone(), n_classes: self.n_classes(), weights: None, categories: self.categories.clone() }
    }
}

/// Rows handed to a trainer or evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSet {
    pub x: Array2<f64>,
    pub y: Array1<f64>,
    /// Number of classes of the whole dataset (0 for regression), even when a subset lacks some.
    pub n_classes: usize,
    /// Per-row sample weights (AdaBoost's reweighting); `None` means every row weighs 1.
    pub weights: Option<Array1<f64>>,
    /// Per feature, its number of categories when it holds category codes (the native tree
    /// models split it by sets of categories), else 0; empty when every feature is a number.
    pub categories: Vec<usize>,
}

impl TrainSet {
    pub fn labels(&self) -> Vec<usize> {
        self.y.iter().map(|v| *v as usize).collect()
    }
    pub fn len(&self) -> usize {
        self.x.nrows()
    }
    pub fn is_empty(&self) -> bool {
        self.x.nrows() == 0
    }
    pub fn subset(&self, idx: &[usize]) -> TrainSet {
        TrainSet {
            x: self.x.select(Axis(0), idx),
            y: self.y.select(Axis(0), idx),
            n_classes: self.n_classes,
            weights: self.weights.as_ref().map(|w| w.select(Axis(0), idx)),
            categories: self.categories.clone(),
        }
    }
    /// A training set from a matrix and targets, every row weighing 1.
    pub fn new(x: Array2<f64>, y: Array1<f64>, n_classes: usize) -> TrainSet {
        TrainSet { x, y, n_classes, weights: None, categories: vec![] }
    }
    /// Row `i`'s sample weight.
    pub fn weight(&self, i: usize) -> f64 {
        self.weights.as_ref().map_or(1.0, |w| w[i])
    }
}

/// One train/test pair, encoded and standardized with what its training part alone taught:
/// no held-out row shapes the fills, categories or scales a model trains with.
#[derive(Debug, Clone)]
pub struct Fold {
    pub train: TrainSet,
    pub test: TrainSet,
    /// The encoding learned from the training part (saved with a model; its feature names are
    /// the parts' columns).
    pub encoder: Encoder,
    /// The standardization fitted on the training part (saved with a model).
    pub scaler: Option<Scaler>,
    /// Training rows the runner scores for the `train.` curves (`data.eval_train_rows`).
    pub eval_rows: Vec<usize>,
    /// With `data.chunk_rows`: where the rows are read from, a chunk at a time. The parts'
    /// matrices are then empty (no columns); their targets are there.
    pub streamed: Option<std::sync::Arc<Streamed>>,
}

/// A fold whose rows stay in their files (`data.chunk_rows`): the runner reads them again, a
/// chunk at a time, encoded with the fold's encoder.
#[derive(Debug)]
pub struct Streamed {
    pub path: PathBuf,
    /// The test file, when the evaluation names one.
    pub test_path: Option<PathBuf>,
    pub chunk_rows: usize,
    /// A holdout split of the file's (kept) rows: the training part's and the test part's,
    /// sorted. `None` with a test file: every row trains.
    pub split: Option<(Vec<usize>, Vec<usize>)>,
    /// The encoded rows of the file and of the test file, as they were first encoded.
    spills: [Option<Spill>; 2],
}

/// Encoded rows written once to an unnamed temporary file (`f64` in the machine's byte order,
/// row-major), so that later passes read numbers instead of parsing text again: the file is
/// gone when the process is, and the rows are never in memory together.
#[derive(Debug)]
struct Spill {
    file: std::fs::File,
    rows: usize,
    cols: usize,
}

/// A [`Spill`] being written: rows are handed to a thread of its own that writes them, so the
/// reading pass parses the next chunk meanwhile (writing through the page cache was about a
/// sixth of the reading pass at 11M rows). [`SpillWriter::finish`] gives the spill to read.
struct SpillWriter {
    to_writer: std::sync::mpsc::SyncSender<Vec<u8>>,
    /// Buffers the writer has written, for the next rows.
    written: std::sync::mpsc::Receiver<Vec<u8>>,
    writer: std::thread::JoinHandle<std::io::Result<std::fs::File>>,
    rows: usize,
    cols: usize,
}

impl SpillWriter {
    /// An empty spill beside `data` (its directory is more likely a disk than a `tmpfs` /tmp
    /// is), else in the temporary directory.
    fn create(data: &std::path::Path, cols: usize) -> Option<SpillWriter> {
        // RATLAB_SPILL=0: no disk to spare; every pass parses the file.
        if std::env::var("RATLAB_SPILL").is_ok_and(|v| v == "0") {
            return None;
        }
        let dir = data.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        let mut file = tempfile::tempfile_in(dir).or_else(|_| tempfile::tempfile()).ok()?;
        let (to_writer, rows) = std::sync::mpsc::sync_channel::<Vec<u8>>(1);
        let (give_back, written) = std::sync::mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("ratlab-spill".into())
            .spawn(move || {
                use std::io::Write;
                for bytes in rows {
                    file.write_all(&bytes)?;
                    // The reading pass may be over: then the buffer is dropped here.
                    let _ = give_back.send(bytes);
                }
                Ok(file)
            })
            .ok()?;
        Some(SpillWriter { to_writer, written, writer, rows: 0, cols })
    }

    /// Hand rows to the writer. An error means the writer stopped (its reason comes from
    /// [`SpillWriter::finish`]).
    fn append(&mut self, x: ndarray::ArrayView2<'_, f64>) -> Result<(), ()> {
        let mut bytes = self.written.try_recv().unwrap_or_default();
        bytes.clear();
        match x.as_slice() {
            Some(values) => bytes.extend_from_slice(bytemuck::cast_slice(values)),
            None => x.iter().for_each(|v| bytes.extend_from_slice(&v.to_ne_bytes())),
        }
        self.to_writer.send(bytes).map_err(|_| ())?;
        self.rows += x.nrows();
        Ok(())
    }

    /// The spill, once every row is written; `None` when a write failed (a full disk): the
    /// passes after then parse the file again.
    fn finish(self) -> Option<Spill> {
        let SpillWriter { to_writer, writer, rows, cols, .. } = self;
        drop(to_writer);
        let file = writer.join().ok()?.ok()?;
        Some(Spill { file, rows, cols })
    }
}

impl Spill {
    /// Call `f` with every block of at most `rows` rows, in order. Each block is mapped from
    /// the file and read in place, then unmapped (so the page cache's copy never counts as the
    /// process's memory for longer than a block): reading it into a buffer and converting the
    /// bytes was most of binning 11M rows, 2.4 s of a pass taking it alone.
    fn for_each(&self, rows: usize, mut f: impl FnMut(usize, ndarray::ArrayView2<'_, f64>) -> Result<(), InputError>) -> Result<(), InputError> {
        let io = |e: String| InputError::new(format!("cannot read back the rows spilled to a temporary file: {e}"));
        let rows = rows.max(1);
        let mut at = 0;
        while at < self.rows {
            let n = rows.min(self.rows - at);
            let len = n * self.cols * 8;
            // SAFETY: the spill is an unnamed temporary file of this process, written whole
            // before any pass reads it and never written again, so the mapped bytes stay as
            // they are while the map lives (runs side by side, `-j`, only read it).
            let map = match len {
                0 => None,
                _ => Some(unsafe { memmap2::MmapOptions::new().offset((at * self.cols * 8) as u64).len(len).populate().map(&self.file) }.map_err(|e| io(e.to_string()))?),
            };
            let values: &[f64] = match &map {
                Some(m) => bytemuck::try_cast_slice(m).map_err(|e| io(e.to_string()))?,
                None => &[],
            };
            let x = ndarray::ArrayView2::from_shape((n, self.cols), values).map_err(|e| io(e.to_string()))?;
            f(at, x)?;
            at += n;
        }
        Ok(())
    }
}

impl Streamed {
    /// Rows `rows` (sorted) of the test part, encoded by `enc`: read from the test file, or
    /// picked from the file's rows by the holdout split.
    pub fn test_rows(&self, enc: &Encoder, rows: &[usize]) -> Result<Array2<f64>, InputError> {
        let d = enc.names().len();
        let mut out = Array2::zeros((rows.len(), d));
        let (test_file, split_test) = match &self.split {
            Some((_, te)) => (false, Some(te)),
            None => (true, None),
        };
        let mut next = 0;
        self.for_each_encoded(test_file, enc, |k0, x| {
            for (r, row) in x.rows().into_iter().enumerate() {
                // The row's index in the test part.
                let i = match split_test {
                    None => k0 + r,
                    Some(te) => match te.binary_search(&(k0 + r)) {
                        Ok(i) => i,
                        Err(_) => continue,
                    },
                };
                if rows.get(next) == Some(&i) {
                    out.row_mut(next).assign(&row);
                    next += 1;
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Call `f` with every chunk of the file (or the test file) encoded by `enc`: the index of
    /// its first kept row among the file's kept rows, and its encoded rows (those the missing
    /// rule drops are left out). Read back from the spill when there is one: `enc` must then
    /// encode as the first pass did (it may differ in the fills a saved model keeps, which
    /// rows read in chunks never use).
    pub fn for_each_encoded(&self, test: bool, enc: &Encoder, mut f: impl FnMut(usize, ndarray::ArrayView2<'_, f64>) -> Result<(), InputError>) -> Result<(), InputError> {
        if let Some(spill) = &self.spills[usize::from(test)] {
            return spill.for_each(self.chunk_rows, f);
        }
        let path = if test { self.test_path.as_ref().unwrap_or(&self.path) } else { &self.path };
        let src = path.display().to_string();
        let mut kept = 0usize;
        chunks::for_each_chunk(path, self.chunk_rows, |t| {
            let (d, _) = enc.apply_chunk(t, &src)?;
            f(kept, d.x.view())?;
            kept += d.y.len();
            Ok(())
        })
        .map(|_| ())
    }
}

/// The data of an experiment: the training rows and, with `test_path`, the test rows.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub data: Dataset,
    pub test: Option<Dataset>,
    /// How the file's columns became features (generated data: its numeric columns), learned
    /// from the whole training file.
    pub encoder: Encoder,
    /// The train/test pairs the evaluation asks for (one, or one per fold), each encoded from
    /// its own training rows.
    pub folds: Vec<Fold>,
}

/// Load, encode and check the data an experiment describes, and make the folds its evaluation
/// asks for.
pub fn prepare(cfg: &DataConfig, seed: u64) -> Result<Prepared, InputError> {
    match &cfg.source {
        Source::Generate(g) => {
            let data = generate::generate(g, seed);
            let encoder = Encoder::numeric(&data.feature_names, cfg, data.classes.clone());
            let folds = folds(&data, None, &encoder, cfg, seed, |train, test| Ok((data.subset(train), data.subset(test), encoder.learn_fills(&data.x, train))))?;
            Ok(Prepared { data, test: None, encoder, folds })
        }
        Source::File(path) if cfg.chunk_rows.is_some() => prepare_chunked(cfg, path, seed),
        Source::File(path) => {
            let table = table::read_table(path)?;
            let src = path.display().to_string();
            let enc = Encoder::fit(&table, cfg, &src)?;
            let all: Vec<usize> = (0..table.height).collect();
            let (data, rows) = enc.apply_rows(&table, &src, &all, true)?;
            let test = match &cfg.evaluation {
                Evaluation::TestFile(tp) => {
                    let tt = table::read_table(tp)?;
                    let missing: Vec<&str> =
                        table.names().into_iter().filter(|n| tt.column(n).is_none() && enc.uses(n)).collect();
                    if !missing.is_empty() {
                        return Err(InputError::new(format!(
                            "the test file lacks column(s) {} that the training file {} has",
                            missing.iter().map(|m| quote(m)).collect::<Vec<_>>().join(", "),
                            src
                        ))
                        .file(tp));
                    }
                    Some(enc.apply(&tt, &tp.display().to_string(), true)?)
                }
                _ => None,
            };
            // Each fold's part of the file, encoded with what its training rows teach. When no
            // column's encoding depends on the rows (numbers without filled cells), the parts are
            // the file's encoded rows and only the fills a saved model keeps are learned.
            let refit = enc.depends_on_rows(&table);
            // Not needed any more when no part relearns from it: freed before the parts are
            // copied out (on a million rows × 28 it is 230 MB of the peak).
            let table = if refit { Some(table) } else { None };
            let part = |train: &[usize], test: &[usize]| -> Result<(TrainSet, TrainSet, Encoder), InputError> {
                let Some(table) = &table else {
                    return Ok((data.subset(train), data.subset(test), enc.learn_fills(&data.x, train)));
                };
                let (train, test): (Vec<usize>, Vec<usize>) = (train.iter().map(|&i| rows[i]).collect(), test.iter().map(|&i| rows[i]).collect());
                let learned = enc.learn(table, &train);
                let (a, _) = learned.apply_rows(table, &src, &train, true)?;
                let (b, _) = learned.apply_rows(table, &src, &test, true)?;
                Ok((a.all(), b.all(), learned))
            };
            let folds = folds(&data, test.as_ref(), &enc, cfg, seed, part)?;
            Ok(Prepared { data, test, encoder: enc, folds })
        }
    }
}

/// [`prepare`] for a file read a chunk at a time (`data.chunk_rows`): the encoding learned from
/// every chunk in order (the same, to the bit, as from the whole file), then the targets of the
/// rows kept; no matrix is built. The fold carries where its rows are ([`Streamed`]).
fn prepare_chunked(cfg: &DataConfig, path: &std::path::Path, seed: u64) -> Result<Prepared, InputError> {
    let chunk_rows = cfg.chunk_rows.unwrap_or(1).max(1);
    let src = path.display().to_string();
    let mut learner: Option<encode::Learner<'_>> = None;
    // With numbers only, the rows are encoded (and spilled) in the same pass.
    let mut early: Option<(encode::EarlyRows, Option<SpillWriter>, Vec<f64>)> = None;
    chunks::for_each_chunk(path, chunk_rows, |t| {
        let l = match &mut learner {
            Some(l) => l,
            None => {
                let l = learner.insert(encode::Learner::new(t, cfg, &src)?);
                early = encode::EarlyRows::new(l).map(|e| (e, SpillWriter::create(path, l.width()), Vec::new()));
                l
            }
        };
        l.add(t);
        if let Some((rows, spill, y)) = &mut early {
            let d = rows.add(t, &src)?;
            y.extend(d.y.iter());
            if spill.as_mut().is_some_and(|s| s.append(d.x.view()).is_err()) {
                *spill = None;
            }
        }
        progress::rows_read(&src, t.first_row + t.height);
        Ok(())
    })?;
    let enc = learner.map(encode::Learner::finish).transpose()?.ok_or_else(|| InputError::new("the file has no data rows").file(path))?;
    // The targets of the kept rows; their encoded features go to a spill for the passes after.
    let mut targets = |p: &std::path::Path, test: bool| -> Result<(Dataset, Option<Spill>), InputError> {
        let shown = p.display().to_string();
        let (y, spill) = match early.take().filter(|_| !test) {
            Some((rows, spill, raw)) => (rows.targets(&enc, raw, &shown)?, spill.and_then(SpillWriter::finish)),
            None => {
                let (mut y, mut spill) = (Vec::new(), SpillWriter::create(p, enc.names().len()));
                chunks::for_each_chunk(p, chunk_rows, |t| {
                    let (d, _) = enc.apply_chunk(t, &shown)?;
                    y.extend(d.y.iter());
                    // A spill that cannot be written (a full disk) is dropped: the passes after
                    // parse the file again instead.
                    if spill.as_mut().is_some_and(|s| s.append(d.x.view()).is_err()) {
                        spill = None;
                    }
                    progress::rows_read(&shown, t.first_row + t.height);
                    Ok(())
                })?;
                (y, spill.and_then(SpillWriter::finish))
            }
        };
        if y.is_empty() {
            let what = if test { "test file" } else { "file" };
            return Err(InputError::new(format!("no rows of the {what} are left after dropping missing values")).file(p).field("data.missing"));
        }
        Ok((Dataset {
            x: Array2::zeros((y.len(), 0)),
            y: Array1::from(y),
            feature_names: enc.names(),
            target: cfg.target.clone(),
            task: cfg.task,
            classes: enc.classes.clone(),
            source: p.display().to_string(),
            categories: enc.categories(),
        }, spill))
    };
    if matches!(cfg.evaluation, Evaluation::Holdout { .. }) && enc.has_categories() {
        return Err(InputError::new(format!(
            "{src} has category columns, whose categories a holdout split learns from its training rows alone; with data.chunk_rows that needs a separate test file (split: {{test_path: FILE}}), or leave chunk_rows out"
        ))
        .field("data.chunk_rows"));
    }
    let (data, train_spill) = targets(path, false)?;
    let test_path = match &cfg.evaluation {
        Evaluation::TestFile(tp) => Some(tp.clone()),
        _ => None,
    };
    let (test, test_spill) = match test_path.as_deref().map(|tp| targets(tp, true)).transpose()? {
        Some((t, s)) => (Some(t), s),
        None => (None, None),
    };
    let labels: Option<Vec<usize>> = (data.task == Task::Classification).then(|| data.labels());
    let (train, test_set, split) = match (&cfg.evaluation, &test) {
        (Evaluation::TestFile(_), Some(t)) => (data.all(), t.all(), None),
        (Evaluation::Holdout { test, stratify }, _) => {
            let (tr, te) = split::holdout(data.y.len(), *test, if *stratify { labels.as_deref() } else { None }, seed);
            (data.subset(&tr), data.subset(&te), Some((tr, te)))
        }
        _ => return Err(InputError::new("data.chunk_rows takes a holdout split or a test file, not cross-validation").field("data.chunk_rows")),
    };
    let eval_rows = eval_rows(&train, cfg.eval_train_rows, seed);
    let streamed = Streamed { path: path.to_path_buf(), test_path, chunk_rows, split, spills: [train_spill, test_spill] };
    let fold = Fold { train, test: test_set, encoder: enc.clone(), scaler: None, eval_rows, streamed: Some(std::sync::Arc::new(streamed)) };
    Ok(Prepared { data, test, encoder: enc, folds: vec![fold] })
}

/// Per-feature mean and standard deviation of a training part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub mean: Array1<f64>,
    pub std: Array1<f64>,
}

impl Scaler {
    /// Fit on `x`; constant columns get std 1 so they pass through centred. Missing values
    /// (NaN, with `missing: keep`) are left out of the statistics and stay missing.
    pub fn fit(x: &Array2<f64>) -> Scaler {
        let mut mean = Array1::zeros(x.ncols());
        let mut std = Array1::zeros(x.ncols());
        for (j, col) in x.columns().into_iter().enumerate() {
            let (s, n) = col.iter().filter(|v| !v.is_nan()).fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
            let n = n.max(1) as f64;
            mean[j] = s / n;
            let v = col.iter().filter(|v| !v.is_nan()).map(|a| (a - mean[j]).powi(2)).sum::<f64>() / n;
            std[j] = if v > 1e-24 { v.sqrt() } else { 1.0 };
        }
        Scaler { mean, std }
    }
    /// Whether a standardization read from a file fits rows of `inputs` features: one finite
    /// mean and one positive, finite spread per feature.
    pub fn check(&self, inputs: usize) -> Result<(), String> {
        if self.mean.len() != inputs || self.std.len() != inputs {
            return Err(format!("the standardization has {} mean(s) and {} spread(s) for {inputs} encoded column(s)", self.mean.len(), self.std.len()));
        }
        match (0..inputs).find(|&j| !(self.mean[j].is_finite() && self.std[j].is_finite() && self.std[j] > 0.0)) {
            Some(j) => Err(format!("the standardization of column {j} is mean {} and spread {}", self.mean[j], self.std[j])),
            None => Ok(()),
        }
    }
    pub fn apply(&self, x: &mut Array2<f64>) {
        for mut row in x.rows_mut() {
            for j in 0..row.len() {
                row[j] = (row[j] - self.mean[j]) / self.std[j];
            }
        }
    }
}

/// The train/test pairs an evaluation asks for: the test file, a holdout split or k folds of
/// `d`'s rows, each part made by `part` (train rows, test rows) and standardized (when asked)
/// with its own training part's statistics.
fn folds(
    d: &Dataset,
    test: Option<&Dataset>,
    encoder: &Encoder,
    cfg: &DataConfig,
    seed: u64,
    part: impl Fn(&[usize], &[usize]) -> Result<(TrainSet, TrainSet, Encoder), InputError>,
) -> Result<Vec<Fold>, InputError> {
    let labels: Option<Vec<usize>> = (d.task == Task::Classification).then(|| d.labels());
    let parts: Vec<(TrainSet, TrainSet, Encoder)> = match (&cfg.evaluation, test) {
        // The encoding was learned from the whole training file: the test file is held out.
        (Evaluation::TestFile(_), Some(t)) => vec![(d.all(), t.all(), encoder.clone())],
        (Evaluation::Holdout { .. }, _) | (Evaluation::TestFile(_), None) => {
            let (test, stratify) = match &cfg.evaluation {
                Evaluation::Holdout { test, stratify } => (*test, *stratify),
                _ => (0.25, true),
            };
            let strat = if stratify { labels.as_deref() } else { None };
            let (tr, te) = split::holdout(d.x.nrows(), test, strat, seed);
            vec![part(&tr, &te)?]
        }
        (Evaluation::CrossValidation { folds, stratify }, _) => {
            let strat = if *stratify { labels.as_deref() } else { None };
            split::kfold(d.x.nrows(), *folds, strat, seed).into_iter().map(|(tr, te)| part(&tr, &te)).collect::<Result<_, _>>()?
        }
    };
    Ok(parts
        .into_iter()
        .map(|(mut train, mut test, encoder)| {
            let scaler = cfg.standardize.then(|| {
                let mut s = Scaler::fit(&train.x);
                // Category codes stay codes.
                for (j, &k) in train.categories.iter().enumerate() {
                    if k > 0 {
                        s.mean[j] = 0.0;
                        s.std[j] = 1.0;
                    }
                }
                s.apply(&mut train.x);
                s.apply(&mut test.x);
                s
            });
            let eval_rows = eval_rows(&train, cfg.eval_train_rows, seed);
            Fold { train, test, encoder, scaler, eval_rows, streamed: None }
        })
        .collect())
}

/// The training rows scored after each step: all, none, or a seeded stratified subsample
/// (sorted) fixed for the run.
pub fn eval_rows(train: &TrainSet, rows: EvalRows, seed: u64) -> Vec<usize> {
    let n = train.len();
    match rows {
        EvalRows::All => (0..n).collect(),
        EvalRows::AtMost(0) => vec![],
        EvalRows::AtMost(m) if m >= n => (0..n).collect(),
        EvalRows::AtMost(m) => {
            let labels = (train.n_classes > 0).then(|| train.labels());
            let (_, keep) = split::holdout(n, m as f64 / n as f64, labels.as_deref(), seed ^ 0xe7a1);
            keep
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaler_centres_and_scales_training_columns() {
        let mut x = ndarray::array![[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]];
        let s = Scaler::fit(&x);
        s.apply(&mut x);
        assert!((x.column(0).sum()).abs() < 1e-12);
        let var = x.column(0).mapv(|v| v * v).sum() / 3.0;
        assert!((var - 1.0).abs() < 1e-12);
        assert_eq!(x.column(1).to_vec(), vec![0.0, 0.0, 0.0], "constant column passes through centred");
    }

    /// A file of 40 rows: `id` (the row), `a` with every fifth cell missing and larger values
    /// further down, `color` where "violet" appears in one row only, and a label.
    fn leaky_file(dir: &std::path::Path) -> DataConfig {
        let mut text = String::from("id,a,color,y\n");
        for i in 0..40 {
            let a = if i % 5 == 0 { String::new() } else { format!("{}", (i * i) as f64 / 7.0) };
            let color = if i == 33 { "violet" } else if i % 3 == 0 { "red" } else { "blue" };
            text += &format!("{i},{a},{color},{}\n", i % 2);
        }
        let path = dir.join("leaky.csv");
        std::fs::write(&path, text).unwrap();
        DataConfig {
            source: Source::File(path),
            target: "y".into(),
            task: Task::Classification,
            features: None,
            drop: vec![],
            encoding: Encoding::OneHot,
        categorical: vec![],
            missing: Missing::Mean,
            standardize: false,
            evaluation: Evaluation::Holdout { test: 0.25, stratify: true },
            eval_train_rows: EvalRows::All,
            chunk_rows: None,
        }
    }

    /// Fills and categories are learned from each fold's training rows: a held-out row shapes
    /// nothing the model trains on, and a category only held-out rows have takes the missing
    /// rule (here: the training rows' most frequent category).
    #[test]
    fn every_encoding_statistic_comes_from_the_training_rows() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = leaky_file(dir.path());
        for seed in 0..6 {
            let p = prepare(&cfg, seed).unwrap();
            let fold = &p.folds[0];
            let names = fold.encoder.names();
            let col = |n: &str| names.iter().position(|x| x == n).unwrap_or_else(|| panic!("no column {n} in {names:?}"));
            let (id, a) = (col("id"), col("a"));
            let rows = |set: &TrainSet| set.x.column(id).iter().map(|&r| r as usize).collect::<Vec<usize>>();
            let (train, test) = (rows(&fold.train), rows(&fold.test));
            let present: Vec<f64> = train.iter().filter(|&&r| r % 5 != 0).map(|&r| (r * r) as f64 / 7.0).collect();
            let fill = present.iter().sum::<f64>() / present.len() as f64;
            for (set, rows) in [(&fold.train, &train), (&fold.test, &test)] {
                for (i, &r) in rows.iter().enumerate() {
                    if r % 5 == 0 {
                        assert!((set.x[[i, a]] - fill).abs() < 1e-12, "seed {seed}: row {r}'s missing cell is filled with the training rows' mean");
                    }
                }
            }
            let violet_held_out = test.contains(&33);
            assert_eq!(names.contains(&"color=violet".to_string()), !violet_held_out, "seed {seed}: a category only held-out rows have is not a feature");
            if violet_held_out {
                let i = test.iter().position(|&r| r == 33).unwrap();
                assert_eq!(fold.test.x[[i, col("color=blue")]], 1.0, "seed {seed}: it takes the training rows' most frequent category");
            }
        }
    }

    /// Under `missing: error`, a category the training rows lack is an error naming its row.
    #[test]
    fn a_held_out_category_under_missing_error_is_refused_with_its_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = leaky_file(dir.path());
        cfg.features = Some(vec!["id".into(), "color".into()]);
        cfg.missing = Missing::Error;
        let held_out = (0..20).find(|&seed| {
            let labels: Vec<usize> = (0..40).map(|i| i % 2).collect();
            split::holdout(40, 0.25, Some(&labels), seed).1.contains(&33)
        });
        let e = prepare(&cfg, held_out.unwrap()).unwrap_err().to_string();
        assert!(e.contains("row 34 (line 35)") && e.contains("category 'violet' does not occur in the rows the encoding learned from"), "{e}");
    }
}
