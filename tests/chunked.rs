//! Data larger than memory (`data.chunk_rows`): a file read a chunk at a time straight into
//! bin codes trains the same model, bit for bit, as the file read whole; its bad cells are
//! named by their row in the file; what it cannot do is refused before anything runs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A deterministic stream of numbers in [0, 1).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Rows of five numeric columns (about 6% of their cells empty), a text column of 300 cities,
/// an integer column of 7 codes and a yes/no label that depends on all of them.
fn mixed_csv(path: &Path, rows: usize, seed: u64) {
    let mut r = Lcg(seed);
    let mut text = String::from("a0,a1,a2,a3,a4,city,code,label\n");
    for _ in 0..rows {
        let a: Vec<f64> = (0..5).map(|_| r.next() * 4.0 - 2.0).collect();
        let city = (r.next() * r.next() * 300.0) as usize;
        let code = (r.next() * 7.0) as usize;
        let f = a[0] + 0.5 * a[1] * a[2] + if city.is_multiple_of(3) { 1.0 } else { -0.3 } + if code == 2 { 0.8 } else { 0.0 } + (r.next() - 0.5) * 2.0;
        for v in &a {
            if r.next() < 0.06 {
                text.push(',');
            } else {
                let _ = write!(text, "{v:.6},");
            }
        }
        let _ = writeln!(text, "c{city},{code},{}", if f > 0.2 { "yes" } else { "no" });
    }
    std::fs::write(path, text).unwrap();
}

/// Write an experiment file `name`.yaml in `dir`.
fn experiment(dir: &Path, name: &str, yaml: &str) -> PathBuf {
    let exp = dir.join(format!("{name}.yaml"));
    std::fs::write(&exp, yaml).unwrap();
    exp
}

/// Run an experiment (with `--set`s): its model.json and its JSON summary's final metrics.
/// `RATLAB_SPILL=0` among the sets reads the file again in every pass instead of spilling.
fn run(exp: &Path, out: &Path, sets: &[String]) -> (String, serde_json::Value, PathBuf) {
    let mut c = crate::cmd();
    let (env, sets): (Vec<&String>, Vec<&String>) = sets.iter().partition(|s| s.starts_with("RATLAB_"));
    for e in env {
        let (k, v) = e.split_once('=').unwrap();
        c.env(k, v);
    }
    c.args(["run", exp.to_str().unwrap(), "--format", "json", "--out", out.to_str().unwrap()]);
    for s in &sets {
        c.args(["--set", s]);
    }
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{sets:?}: {}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let dir = PathBuf::from(v["runs"][0]["dir"].as_str().unwrap());
    (std::fs::read_to_string(dir.join("model.json")).unwrap(), v["runs"][0]["metrics"].clone(), dir)
}

/// A run's SHAP summary plot, as SVG text: its test rows are read again from the data.
fn shap_svg(run: &Path) -> String {
    let out = run.join("shap.svg");
    let o = crate::cmd().args(["plot", run.to_str().unwrap(), "--shap", "--out", out.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_to_string(out).unwrap()
}

/// The same experiment read whole and in chunks of each size: the same model.json, byte for
/// byte, and the same metrics.
/// The first chunk size is also read without a spill (every pass parsing the file), and its
/// SHAP plot drawn from the test rows read again.
fn same_model_in_chunks(exp: &Path, out: &Path, chunks: &[usize]) {
    let (whole, metrics, whole_dir) = run(exp, &out.join("whole"), &[]);
    let shap = shap_svg(&whole_dir);
    assert!(metrics.as_object().is_some_and(|m| !m.is_empty()), "{metrics}");
    let unspilled = chunks.first().map(|&c| (c, true));
    for (c, reparse) in chunks.iter().map(|&c| (c, false)).chain(unspilled) {
        let mut sets = vec![format!("data.chunk_rows={c}")];
        if reparse {
            sets.push("RATLAB_SPILL=0".into());
        }
        let (model, m, dir) = run(exp, &out.join(format!("c{c}{reparse}")), &sets);
        assert!(model == whole, "chunks of {c} rows (spill: {}) train another model than the whole file", !reparse);
        assert_eq!(m, metrics, "chunks of {c} rows");
        if reparse {
            assert!(shap_svg(&dir) == shap, "the SHAP plot of chunks of {c} rows differs");
        }
    }
}

/// Native categories (300 cities: rare ones grouped by their mean label; integer codes),
/// missing cells kept, a test file and early stopping: chunks of 7 rows, of 500, and one chunk
/// larger than the file give the model of the file read whole.
#[test]
fn chunks_of_a_csv_train_the_model_of_the_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    mixed_csv(&dir.path().join("train.csv"), 3000, 1);
    mixed_csv(&dir.path().join("test.csv"), 700, 2);
    same_model_in_chunks(&experiment(dir.path(), "e", "name: chunks\ndata:\n  path: train.csv\n  target: label\n  standardize: false\n  missing: keep\n  encoding: native\n  categorical: [code]\n  split: {test_path: test.csv}\nmetrics: [roc_auc, log_loss]\nruns:\n  - name: gb\n    algorithm: gradient_boosting\n    params: {n_estimators: 25, max_depth: 4, early_stopping_rounds: 5, max_cat_to_onehot: 2}\n"), &dir.path().join("runs"), &[7, 500, 10_000]);
}

/// A holdout split of a Parquet file read by row groups (of 400 rows: chunks of one group, of
/// 333 rows at most asked, and of two groups, of 900), numbers only,
/// rows with a missing cell dropped: the same model (and the same fills saved for `predict`)
/// as the file read whole.
#[test]
fn chunks_of_a_parquet_file_with_a_holdout_split_train_the_model_of_the_whole_file() {
    use polars::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("all.csv");
    mixed_csv(&csv, 2500, 3);
    let df = CsvReadOptions::default().with_has_header(true).try_into_reader_with_file_path(Some(csv)).unwrap().finish().unwrap();
    let mut df = df.drop_many(["city", "code"]);
    let f = std::fs::File::create(dir.path().join("all.parquet")).unwrap();
    ParquetWriter::new(f).with_row_group_size(Some(400)).finish(&mut df).unwrap();
    same_model_in_chunks(&experiment(dir.path(), "e", "name: chunks\ndata:\n  path: all.parquet\n  target: label\n  standardize: false\n  missing: drop\n  split: {test: 0.3}\nruns:\n  - name: gb\n    algorithm: gradient_boosting\n    params: {n_estimators: 20, max_depth: 3, max_bin: 32}\n"), &dir.path().join("runs"), &[333, 900]);

    // Regression on the same file: numeric targets kept as read.
    same_model_in_chunks(&experiment(dir.path(), "r", "name: chunks-regression\ndata:\n  path: all.parquet\n  target: a0\n  task: regression\n  features: [a1, a2, a3, a4]\n  standardize: false\n  missing: keep\n  split: {test: 0.3}\nmetrics: [rmse]\nruns:\n  - name: gb\n    algorithm: gradient_boosting\n    params: {n_estimators: 10, max_depth: 3}\n"), &dir.path().join("runs-r"), &[256]);
}

/// More fitting rows (285,000) than bin boundaries are learned from (262,144): the sampled rows are the same
/// whether the file is read whole or in chunks, and so are the cuts and the trees.
#[test]
fn chunks_of_a_file_larger_than_the_cut_sample_train_the_model_of_the_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Lcg(9);
    let mut text = String::from("x,y,z,t\n");
    for _ in 0..300_000 {
        let (x, y, z) = (r.next(), r.next() * 10.0, (r.next() * 50.0).floor());
        let _ = writeln!(text, "{x:.5},{y:.4},{z},{}", u8::from(x + 0.1 * y + 0.01 * z + r.next() > 1.6));
    }
    std::fs::write(dir.path().join("big.csv"), text).unwrap();
    same_model_in_chunks(&experiment(dir.path(), "e", "name: big\ndata:\n  path: big.csv\n  target: t\n  standardize: false\n  eval_train_rows: 0\n  split: {test: 0.05}\nruns:\n  - name: gb\n    algorithm: gradient_boosting\n    params: {n_estimators: 4, max_depth: 3}\n"), &dir.path().join("runs"), &[70_000]);
}

fn expect_input_error(exp: &Path, wants: &[&str]) {
    let o = crate::cmd().args(["run", exp.to_str().unwrap(), "--out", exp.with_extension("runs").to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    for w in wants {
        assert!(err.contains(w), "{w:?} in:\n{err}");
    }
}

/// A cell that is not a number, far down a numeric column, in a later chunk: the error names
/// its row and line in the file and its column. A holdout split of a file with category
/// columns (whose categories only the training rows may teach) is refused.
#[test]
fn a_bad_cell_in_a_later_chunk_is_named_by_its_row_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("a,b,label\n");
    for i in 0..3000 {
        let b = if i == 2500 { "abc".to_string() } else { format!("{}", i % 17) };
        let _ = writeln!(text, "{},{b},{}", i as f64 / 7.0, i % 2);
    }
    std::fs::write(dir.path().join("bad.csv"), text).unwrap();
    let exp = dir.path().join("bad.yaml");
    std::fs::write(&exp, "name: bad\ndata:\n  path: bad.csv\n  target: label\n  chunk_rows: 100\nruns:\n  - name: gb\n    algorithm: gradient_boosting\n").unwrap();
    expect_input_error(&exp, &["bad.csv", "row 2501 (line 2502)", "'abc' is not a number", "column 'b'"]);

    // A line with a field too many, in the first rows (where the column types come from) and
    // in a later chunk: named by its line.
    for (row, line) in [(250, "line 251"), (2500, "line 2501")] {
        let text: String = std::iter::once("a,b,label\n".to_string())
            .chain((0..3000).map(|i| if i + 1 == row { "1,2,3,4\n".to_string() } else { format!("{i},{},{}\n", i % 5, i % 2) }))
            .collect();
        std::fs::write(dir.path().join("bad.csv"), text).unwrap();
        expect_input_error(&exp, &["bad.csv", line, "has 4 field(s) but the header has 3"]);
    }

    mixed_csv(&dir.path().join("cities.csv"), 200, 4);
    let exp = dir.path().join("holdout.yaml");
    std::fs::write(&exp, "name: holdout\ndata:\n  path: cities.csv\n  target: label\n  missing: keep\n  chunk_rows: 50\nruns:\n  - name: gb\n    algorithm: gradient_boosting\n").unwrap();
    expect_input_error(&exp, &["data.chunk_rows", "category columns", "test_path"]);
}
