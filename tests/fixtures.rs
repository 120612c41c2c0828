//! Fixture experiments: every invalid file gets its clear message (file, line, field, value,
//! what is allowed) and exit code 2 — never a panic; every valid file validates.

use crate::cmd;
use predicates::str::contains;

/// (fixture, substrings the error must contain)
const INVALID: &[(&str, &[&str])] = &[
    ("unknown-field", &["unknown-field.yaml:9:5", "unknown field `parms`", "params"]),
    ("bad-prior", &["bad-prior.yaml:8:21", "runs[0].params.prior", "'gauss'", "none, gaussian, laplace"]),
    ("negative-strength", &["negative-strength.yaml:10:17", "runs[0].params.strength", "-2", "≥ 0"]),
    ("malformed", &["malformed.yaml:4:11", "'[target'"]),
    ("missing-column", &["missing-column.yaml:4:11", "data.target", "'species'", "'petal_width_cm'"]),
    ("unknown-algorithm", &["unknown-algorithm.yaml:7:16", "'logistic_regresion'", "allowed: logistic_regression"]),
    ("laplace-on-linfa", &["laplace-on-linfa.yaml:9:21", "runs[0].params.prior", "'laplace' is not available on backend linfa", "backend: native"]),
    ("wrong-type", &["wrong-type.yaml:2:7", "seed", "'seven'", "whole number"]),
    ("missing-file", &["missing-file.yaml:3:9", "data.path", "'datasets/nope.csv' not found"]),
    ("bad-split", &["bad-split.yaml:5:17", "data.split.test", "1.5", "(0, 1)"]),
    ("duplicate-run", &["duplicate-run.yaml:8:11", "'a' is used by an earlier run", "duplicate-run.yaml:10:14", "'tensorflow'"]),
    ("non-numeric-cell", &["bad-cell.csv", "column 'x2'", "row 2 (line 3)", "'abc' is not a number"]),
    ("missing-values", &["wine_extra.parquet", "column 'magnesium'", "missing", "data.missing"]),
    ("not-a-list", &["not-a-list.yaml:2:7", "runs", "'5'", "expected a list"]),
    ("empty", &["empty.yaml", "the file is empty"]),
    ("ensemble-bad-member", &["ensemble-bad-member.yaml:9:18", "runs[0].params.estimator", "takes no sample weights", "native decision_tree or gradient_boosting"]),
    ("ensemble-task", &["ensemble-task.yaml:8:7", "runs[0].params", "logistic_regression does not do regression"]),
    ("ensemble-too-deep", &["ensemble-too-deep.yaml:10:9", "runs[0].params.estimator", "nest 3 deep at most"]),
    ("missing-keep-logistic", &["missing-keep-logistic.yaml:5:12", "data.missing", "run 'lr' is logistic_regression", "missing: mean or drop"]),
];

#[test]
fn every_invalid_fixture_gets_its_message_and_exit_2() {
    for (name, needles) in INVALID {
        let path = format!("tests/fixtures/invalid/{name}.yaml");
        for args in [vec!["validate", path.as_str()], vec!["run", path.as_str(), "--out", "target/never-written"]] {
            let out = cmd().args(&args).output().expect("runs");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name} ({}): exit {:?}\n{err}", args[0], out.status.code());
            assert!(!err.contains("panicked"), "{name}: panic\n{err}");
            for n in *needles {
                assert!(err.contains(n), "{name} ({}): message lacks {n:?}:\n{err}", args[0]);
            }
        }
    }
    assert!(!std::path::Path::new("target/never-written").exists(), "nothing runs until the whole file is valid");
}

#[test]
fn every_valid_fixture_and_bundled_experiment_validates() {
    let mut files: Vec<String> = std::fs::read_dir("tests/fixtures/valid")
        .unwrap()
        .chain(std::fs::read_dir("experiments").unwrap())
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 9);
    let out = cmd().arg("validate").args(&files).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert_eq!(text.matches("ok: ").count(), files.len(), "{text}");
}

#[test]
fn all_errors_of_a_file_are_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("many.yaml");
    std::fs::write(
        &f,
        "name: many\ndata: {path: datasets/iris.csv, target: target, missing: sometimes}\nmetrics: [accuracy, rmse]\nruns:\n  - {name: a, algorithm: logistic_regression, params: {strength: 1, max_iters: 3}}\n",
    )
    .unwrap();
    cmd()
        .current_dir(crate::root())
        .args(["validate", f.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(contains("data.missing: 'sometimes' is not allowed; expected one of: error, drop, mean"))
        .stderr(contains("metrics[1]: 'rmse' is a regression metric"))
        .stderr(contains("runs[0].params.max_iters: unknown parameter 'max_iters'"));
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    cmd().args(["run"]).assert().code(2);
    cmd().args(["frobnicate"]).assert().code(2);
    cmd().args(["run", "experiments/mle-vs-map.yaml", "--format", "xml"]).assert().code(2).stderr(contains("text"));
    cmd().arg("--help").assert().success().stdout(contains("validate"));
}
