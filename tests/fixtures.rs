//! Fixture experiments: every invalid file gets its clear message (file, line, field, value,
//! what is allowed) and exit code 2 — never a panic; every valid file validates.

use crate::cmd;
use predicates::str::contains;

/// The fragments an invalid fixture's error must contain: its last line, `# expect: A | B`.
fn expectations(path: &std::path::Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let line = text.lines().rev().find(|l| l.starts_with("# expect: ")).unwrap_or_else(|| panic!("{} has no `# expect:` line", path.display()));
    line.trim_start_matches("# expect: ").split(" | ").map(str::to_string).collect()
}

/// Run ratlab with `args`; assert exit 2, no panic and every fragment in its error output.
fn refused(args: &[&str], fragments: &[String], what: &str) {
    let out = cmd().args(args).output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{what} ({}): exit {:?}\n{err}", args[0], out.status.code());
    assert!(!err.contains("panicked"), "{what}: panic\n{err}");
    for n in fragments {
        assert!(err.contains(n.as_str()), "{what} ({}): message lacks {n:?}:\n{err}", args[0]);
    }
}

/// The bad-input corpus: every file in tests/fixtures/invalid/ — YAML errors, bad values,
/// searches, ensembles, transformer settings, names that would leave the run store, and data
/// files (empty, header-only, ragged, binary, not Parquet, cut short, one class, all missing,
/// 10,000 classes, JSONL that is not JSON…) — is refused by `validate` and by `run` with a
/// message naming the file and place, exit 2 and no panic, and `run` writes nothing.
#[test]
fn every_invalid_input_gets_its_message_exit_2_and_writes_nothing() {
    let mut files: Vec<std::path::PathBuf> =
        std::fs::read_dir("tests/fixtures/invalid").unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "yaml")).collect();
    files.sort();
    assert!(files.len() >= 100, "the corpus has {} files", files.len());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs");
    for f in &files {
        let name = f.file_stem().unwrap().to_string_lossy().to_string();
        let want = expectations(f);
        let path = f.to_str().unwrap();
        refused(&["validate", path], &want, &name);
        refused(&["run", path, "--out", out.to_str().unwrap()], &want, &name);
        assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(), "{name}: run wrote under the output directory");
    }
}

/// Inputs too big or too deep to commit, made here: a 50 MB experiment file, an alias bomb,
/// nesting 10,000 deep, and a file past a lowered limit; each refused with what to do.
#[test]
fn huge_deep_and_exploding_yaml_is_refused_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let mut big = String::from("name: big\nruns:\n  - {name: a, algorithm: estimation}\n");
    while big.len() < 50 << 20 {
        big.push_str("# padding padding padding padding padding padding padding padding padding padding\n");
    }
    let big = write("big.yaml", &big);
    refused(&["validate", &big], &["big.yaml".into(), "more than the limit of 10485760 bytes per experiment file".into(), "--limit yaml_bytes=N".into()], "50 MB");
    // Ten to the twelfth x's, inside params (which take any value, so the aliases do expand).
    let mut levels = vec!["p0: &p0 [x, x, x, x, x, x, x, x, x, x]".to_string()];
    for k in 1..12 {
        levels.push(format!("p{k}: &p{k} [{}]", vec![format!("*p{}", k - 1); 10].join(", ")));
    }
    let bomb = write("bomb.yaml", &format!("name: bomb\nruns:\n  - name: a\n    algorithm: estimation\n    params: {{{}}}\n", levels.join(", ")));
    refused(&["run", &bomb, "--out", out.to_str().unwrap()], &["bomb.yaml:5:".into(), "safety budget".into(), "alias bomb".into()], "alias bomb");
    let deep = write("deep.yaml", &format!("name: deep\nruns:\n  - {{name: a, algorithm: estimation, params: {{sizes: {}1{}}}}}\n", "[".repeat(10_000), "]".repeat(10_000)));
    refused(&["validate", &deep], &["deep.yaml:3:".into(), "nests deeper".into(), "--limit yaml_depth=N".into()], "deep nesting");
    let small = write("small.yaml", "name: small\nruns:\n  - {name: a, algorithm: estimation}\n");
    refused(&["validate", &small, "--limit", "yaml_bytes=10"], &["more than the limit of 10 bytes".into(), "--limit yaml_bytes=N".into()], "lowered limit");
    refused(&["validate", &small, "--limit", "bytes=10"], &["unknown limit 'bytes'; limits: rows, columns, classes, yaml_bytes".into()], "unknown limit");
    assert!(!out.exists(), "nothing was written");
}

/// Limits on rows, columns and classes hold for any data file, and `--limit` moves them.
#[test]
fn data_limits_refuse_and_a_changed_limit_lets_through() {
    let f = "tests/fixtures/valid/cv-iris.yaml";
    cmd().args(["validate", f]).assert().success();
    refused(&["validate", f, "--limit", "rows=100"], &["iris.csv".into(), "the file has 150 rows, more than the limit of 100 rows per data file".into(), "--limit rows=N".into()], "rows");
    refused(&["validate", f, "--limit", "columns=3"], &["the file has 5 columns, more than the limit of 3".into()], "columns");
    refused(&["validate", f, "--limit", "classes=2"], &["data.target", "target 'target' has 3 classes, more than the limit of 2 classes"].map(String::from), "classes");
    let many = "tests/fixtures/invalid/data-10000-classes.yaml";
    refused(&["validate", many, "--limit", "classes=20000"], &["stratified split leaves no test rows".into(), "stratify: false".into()], "raised past the class limit, then the split says what is wrong");
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

/// Data too wide for a cubic solver is refused before anything trains (the corpus holds the
/// refusals), and the backends it points to take the same data (tests/pca.rs fits it).
#[test]
fn wide_data_refused_by_the_dense_solvers_is_taken_by_the_backends_they_point_to() {
    let dir = tempfile::tempdir().unwrap();
    for (f, backend) in [("too-wide-native-logistic", "linfa"), ("too-wide-native-logistic", "smartcore"), ("too-wide-native-pca", "linfa")] {
        let text = std::fs::read_to_string(format!("tests/fixtures/invalid/{f}.yaml")).unwrap();
        let text = if text.contains("backend: native") { text.replace("backend: native", &format!("backend: {backend}")) } else { text.replace("algorithm: pca", "algorithm: pca\n    backend: linfa") };
        let path = dir.path().join(format!("{f}-{backend}.yaml"));
        std::fs::write(&path, text).unwrap();
        cmd().args(["validate", path.to_str().unwrap()]).assert().success();
    }
    // Two classes need one weight vector: 701 features stay inside the native solver's limit.
    let binary = "tests/fixtures/valid/wide-binary-native.yaml";
    cmd().args(["validate", binary]).assert().success();
}
