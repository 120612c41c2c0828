//! The run store and replay: replaying a record gives the live summary, the same seed gives
//! the same run, and `rerun --check` confirms (or refutes) a recorded result.

use crate::cmd;
use ratlab::experiments::events::RunEvent;
use ratlab::experiments::store::{read_run, Summary};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn run_dirs(exp: &str, out: &Path) -> Vec<PathBuf> {
    let o = cmd().args(["run", exp, "--format", "json", "--out", out.to_str().unwrap()]).output().unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["runs"].as_array().unwrap().iter().map(|r| PathBuf::from(r["dir"].as_str().unwrap())).collect()
}

/// Events without their wall-clock parts.
fn timeless(events: &[RunEvent]) -> Vec<RunEvent> {
    events
        .iter()
        .cloned()
        .map(|mut e| {
            match &mut e {
                RunEvent::Started { started_at, .. } => started_at.clear(),
                other => other.set_t_ms(0),
            }
            e
        })
        .collect()
}

#[test]
fn replaying_events_gives_the_live_summary() {
    let tmp = tempfile::tempdir().unwrap();
    for dir in run_dirs("experiments/mle-vs-map.yaml", tmp.path()).into_iter().chain(run_dirs("tests/fixtures/valid/cv-iris.yaml", tmp.path())) {
        let log = read_run(&dir).unwrap();
        let live = log.summary.clone().expect("summary.json written");
        assert_eq!(Summary::from_events(&log.events).unwrap(), live, "{}", dir.display());
        assert!(!live.metrics.is_empty());
        let out = cmd().args(["replay", dir.to_str().unwrap()]).assert().success();
        let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
        assert!(text.contains("status: finished"), "{text}");
        assert!(!text.contains("differs"), "{text}");
    }
}

#[test]
fn cross_validation_reports_fold_means() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = &run_dirs("tests/fixtures/valid/cv-iris.yaml", tmp.path())[0];
    let log = read_run(dir).unwrap();
    // The last step of each fold holds that fold's final test metrics; their mean is the result.
    let mut last: std::collections::BTreeMap<u32, f64> = Default::default();
    for e in &log.events {
        if let RunEvent::Step { fold: Some(f), metrics, .. } = e {
            last.insert(*f, metrics["test.accuracy"]);
        }
    }
    assert_eq!(last.len(), 5);
    let mean = last.values().sum::<f64>() / 5.0;
    let s = log.summary.unwrap();
    assert!((s.metrics["accuracy"] - mean).abs() < 1e-12);
    assert!(s.cv_std.contains_key("accuracy"));
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (da, db) = (run_dirs("experiments/logreg-backends.yaml", a.path()), run_dirs("experiments/logreg-backends.yaml", b.path()));
    for (x, y) in da.iter().zip(&db) {
        assert_eq!(timeless(&read_run(x).unwrap().events), timeless(&read_run(y).unwrap().events), "{}", x.display());
    }
    // A different seed draws a different split.
    let c = tempfile::tempdir().unwrap();
    let o = cmd().args(["run", "experiments/logreg-backends.yaml", "--run", "native", "--set", "seed=43", "--format", "json", "--out", c.path().to_str().unwrap()]).output().unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let other = read_run(Path::new(v["runs"][0]["dir"].as_str().unwrap())).unwrap();
    assert_ne!(timeless(&other.events), timeless(&read_run(&da[0]).unwrap().events));
}

#[test]
fn rerun_check_confirms_a_record_and_flags_a_tampered_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = run_dirs("experiments/mle-vs-map.yaml", tmp.path());
    for d in &dirs {
        cmd()
            .current_dir(std::env::temp_dir())
            .args(["rerun", d.to_str().unwrap(), "--check"])
            .assert()
            .success()
            .stdout(predicates::str::contains("identical"));
    }
    // Tamper with a recorded metric: the check must fail and show the difference.
    let d = &dirs[1];
    let path = d.join("summary.json");
    let mut s: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let ll = s["metrics"]["log_loss"].as_f64().unwrap();
    s["metrics"]["log_loss"] = Value::from(ll + 1e-9);
    std::fs::write(&path, serde_json::to_string(&s).unwrap()).unwrap();
    cmd()
        .args(["rerun", d.to_str().unwrap(), "--check"])
        .assert()
        .code(1)
        .stdout(predicates::str::contains("metrics.log_loss: recorded"));
}

#[test]
fn replay_tolerates_a_torn_last_line_and_rejects_non_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = &run_dirs("experiments/logreg-backends.yaml", tmp.path())[0];
    let mut text = std::fs::read_to_string(d.join("events.jsonl")).unwrap();
    text.push_str("{\"event\":\"step\",\"step\":9");
    std::fs::write(d.join("events.jsonl"), text).unwrap();
    cmd().args(["replay", d.to_str().unwrap()]).assert().success().stdout(predicates::str::contains("cut short"));
    cmd().args(["replay", tmp.path().to_str().unwrap()]).assert().code(2).stderr(predicates::str::contains("not a ratlab run directory"));
}
