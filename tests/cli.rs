//! Headless runs as a user or a script drives them: the JSON summary's shape, exit codes,
//! `--set` overrides, failed runs that do not stop the others, and Ctrl-C.

use crate::cmd;
use serde_json::Value;
use std::path::Path;

fn run_json(args: &[&str], out: &Path) -> (i32, Value) {
    let o = cmd().args(["run"]).args(args).args(["--out", out.to_str().unwrap(), "--format", "json"]).output().unwrap();
    let stdout = String::from_utf8(o.stdout).unwrap();
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stdout is one JSON object ({e}):\n{stdout}"));
    (o.status.code().unwrap(), v)
}

#[test]
fn json_output_has_the_documented_shape_and_backends_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, v) = run_json(&["experiments/logreg-backends.yaml"], tmp.path());
    assert_eq!(code, 0);
    assert_eq!(v["experiment"], "logreg-backends");
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    for r in runs {
        let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["name", "algorithm", "backend", "status", "metrics", "dir"]);
        assert_eq!(r["status"], "finished");
        let dir = Path::new(r["dir"].as_str().unwrap());
        for f in ["experiment.yaml", "events.jsonl", "summary.json"] {
            assert!(dir.join(f).is_file(), "{} lacks {f}", dir.display());
        }
        let m = r["metrics"].as_object().unwrap();
        assert_eq!(m.keys().collect::<Vec<_>>(), ["accuracy", "log_loss"]);
    }
    // The three backends minimize the same objective: test log-loss agrees to 1e-6.
    let ll: Vec<f64> = runs.iter().map(|r| r["metrics"]["log_loss"].as_f64().unwrap()).collect();
    assert!((ll[0] - ll[1]).abs() < 1e-6 && (ll[0] - ll[2]).abs() < 1e-6, "{ll:?}");
}

#[test]
fn set_overrides_change_the_run_and_are_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, base) = run_json(&["experiments/logreg-backends.yaml", "--run", "native"], tmp.path());
    let (code, strong) = run_json(
        &["experiments/logreg-backends.yaml", "--run", "native", "--set", "runs.0.params.strength=50", "--set", "runs.native.params.max_iter=40"],
        tmp.path(),
    );
    assert_eq!(code, 0);
    assert_eq!(strong["runs"].as_array().unwrap().len(), 1, "--run selects one run");
    let (a, b) = (base["runs"][0]["metrics"]["log_loss"].as_f64().unwrap(), strong["runs"][0]["metrics"]["log_loss"].as_f64().unwrap());
    assert!(b > a + 0.05, "a strong prior shrinks the weights and raises test log-loss: {a} vs {b}");
    let dir = Path::new(strong["runs"][0]["dir"].as_str().unwrap());
    let yaml = std::fs::read_to_string(dir.join("experiment.yaml")).unwrap();
    assert!(yaml.contains("strength: 50") && yaml.contains("max_iter: 40"), "{yaml}");
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["params"]["strength"], 50.0);
    // A bad override is bad input, reported against the overridden file.
    cmd()
        .args(["run", "experiments/logreg-backends.yaml", "--set", "runs.0.params.prior=uniform", "--out", tmp.path().to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("(after --set)"))
        .stderr(predicates::str::contains("'uniform'"));
    cmd()
        .args(["run", "experiments/logreg-backends.yaml", "--set", "runs.7.params.prior=none"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("index 7 is out of range"));
}

#[test]
fn a_failed_run_is_recorded_and_the_others_go_on_with_exit_1() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, v) = run_json(&["tests/fixtures/valid/separable.yaml"], tmp.path());
    assert_eq!(code, 1);
    assert_eq!(v["runs"][0]["status"], "failed");
    assert_eq!(v["runs"][1]["status"], "finished");
    let dir = Path::new(v["runs"][0]["dir"].as_str().unwrap());
    let s: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert!(s["error"].as_str().unwrap().contains("perfectly separable"), "{s}");

    let (code, v) = run_json(&["tests/fixtures/valid/diverging.yaml"], tmp.path());
    assert_eq!(code, 1);
    assert_eq!(v["runs"][0]["status"], "failed");
    assert_eq!(v["runs"][1]["status"], "finished");
    let dir = Path::new(v["runs"][0]["dir"].as_str().unwrap());
    let s: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert!(s["error"].as_str().unwrap().starts_with("diverged"), "{s}");

    // A backend that cannot predict fails the run with its reason (it used to finish with
    // its figures silently NaN and dropped).
    let (code, v) = run_json(&["tests/fixtures/valid/predict-refused.yaml"], tmp.path());
    assert_eq!(code, 1);
    assert_eq!((&v["runs"][0]["status"], &v["runs"][1]["status"]), (&Value::from("failed"), &Value::from("finished")));
    let dir = Path::new(v["runs"][0]["dir"].as_str().unwrap());
    let s: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["error"], "train size 3: smartcore backend: Find failed: k is > than the dataset size", "{s}");
    assert!(v["runs"][1]["metrics"]["accuracy"].as_f64().is_some_and(|a| a > 0.9), "{v}");
}

#[test]
fn piped_text_output_is_plain_lines_and_a_table() {
    let tmp = tempfile::tempdir().unwrap();
    let out = cmd().args(["run", "experiments/mle-vs-map.yaml", "--out", tmp.path().to_str().unwrap()]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(!text.contains('\u{1b}'), "no terminal escapes when piped");
    assert!(text.contains("run mle: logistic_regression on native"));
    assert!(text.contains("mle: warning: train size 20: no point: the training data are perfectly separable"));
    assert!(text.contains("mle-vs-map — 5 run(s)"));
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 5, "one directory per run");
}

#[test]
fn ctrl_c_cancels_between_steps_and_keeps_what_was_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("ratlab");
    let mut child = std::process::Command::new(bin)
        .args(["run", "tests/fixtures/valid/slow.yaml", "--out", tmp.path().to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until a few steps are on disk, then interrupt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let events = loop {
        let found = std::fs::read_dir(tmp.path()).ok().and_then(|mut d| d.next()).map(|e| e.unwrap().path().join("events.jsonl"));
        if let Some(f) = found.filter(|f| std::fs::read_to_string(f).map(|t| t.lines().count() >= 4).unwrap_or(false)) {
            break f;
        }
        assert!(std::time::Instant::now() < deadline, "the run never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(1), "a cancelled run is not a finished run");
    let dir = events.parent().unwrap();
    let s: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["status"], "cancelled");
    let log = ratlab::experiments::store::read_run(dir).unwrap();
    assert!(!log.torn_tail);
    let steps = log.events.iter().filter(|e| matches!(e, ratlab::experiments::events::RunEvent::Step { .. })).count();
    assert!((3..42).contains(&steps), "steps recorded before the cancel stay: {steps}");
    assert!(matches!(log.events.last(), Some(ratlab::experiments::events::RunEvent::Failed { cancelled: true, .. })));
}

#[test]
fn pca_backends_agree_end_to_end_and_the_curse_of_dimensionality_shows() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, v) = run_json(&["experiments/pca.yaml"], tmp.path());
    assert_eq!(code, 0);
    let ev: Vec<f64> = v["runs"].as_array().unwrap().iter().take(3).map(|r| r["metrics"]["explained_variance"].as_f64().unwrap()).collect();
    assert!(ev.iter().all(|e| (e - ev[0]).abs() < 1e-8 * ev[0]), "{ev:?}");
    let acc = |i: usize| v["runs"][i]["metrics"]["accuracy"].as_f64().unwrap();
    assert!(acc(4) > 0.85 && acc(3) >= acc(4) - 0.05, "two components keep most of what classifies wine");

    let (code, v) = run_json(
        &[
            "experiments/curse-of-dimensionality.yaml",
            "--run",
            "uniform",
            "--set",
            "runs.uniform.params.n_points=3000",
            "--set",
            "runs.uniform.params.n_queries=100",
            "--set",
            "runs.uniform.params.dims=[2, 8, 32]",
        ],
        tmp.path(),
    );
    assert_eq!(code, 0);
    let dir = Path::new(v["runs"][0]["dir"].as_str().unwrap());
    let log = ratlab::experiments::store::read_run(dir).unwrap();
    let frac: Vec<f64> = log
        .events
        .iter()
        .filter_map(|e| match e {
            ratlab::experiments::events::RunEvent::Step { metrics, .. } => Some(metrics["fraction_scanned"]),
            _ => None,
        })
        .collect();
    assert_eq!(frac.len(), 3);
    assert!(frac[0] < 0.1 && frac[2] > 0.8 && frac[0] < frac[1] && frac[1] < frac[2], "the share of points a query scans grows with the dimension: {frac:?}");
}

#[test]
fn a_closed_stdout_ends_the_output_without_a_panic() {
    // `ratlab validate experiments/*.yaml | head -1`: the reader goes away before ratlab writes.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ratlab"))
        .args(["validate", "experiments/knn.yaml", "experiments/pca.yaml"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}
