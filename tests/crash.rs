//! Crash safety: `ratlab run` killed with SIGKILL at random moments (plain runs and a search
//! with -j 2) leaves every run directory readable, replayable and listed as `interrupted`, and
//! never touches a run recorded before; SIGTERM and SIGINT stop cleanly with runs `cancelled`.

use crate::cmd;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every file under `dir` and its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// `ratlab runs --json` of a store.
fn listed(out: &Path) -> Vec<Value> {
    let o = cmd().args(["runs", "--out", out.to_str().unwrap(), "--json"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice::<Value>(&o.stdout).unwrap().as_array().unwrap().clone()
}

#[test]
fn sigkill_at_random_moments_leaves_every_record_readable_and_earlier_runs_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    // A run recorded before any of the kills.
    cmd().args(["run", "tests/fixtures/valid/blobs.yaml", "--out", out.to_str().unwrap()]).assert().success();
    let earlier = files(&out);
    // Runs that write events quickly: a thousand-step estimation, and a boosting grid with -j 2.
    let fast = tmp.path().join("fast.yaml");
    std::fs::write(&fast, "name: fast\nruns:\n  - name: coin\n    algorithm: estimation\n    params: {model: gaussian, repetitions: 200, sizes: [".to_string() + &(1..=1000).map(|i| i.to_string()).collect::<Vec<_>>().join(", ") + "]}\n").unwrap();
    let search = tmp.path().join("search.yaml");
    std::fs::write(
        &search,
        format!(
            "name: grid\nseed: 1\ndata: {{path: {}, target: target}}\nruns:\n  - name: gb\n    algorithm: gradient_boosting\n    params: {{n_estimators: 300}}\n    search:\n      space:\n        max_depth: [2, 3, 4, 5]\n        learning_rate: [0.05, 0.1]\n",
            crate::root().join("datasets/breast_cancer.csv").display()
        ),
    )
    .unwrap();
    let bin = assert_cmd::cargo::cargo_bin("ratlab");
    // A fixed sequence of kill delays: reproducible, spread over start-up, loading and training.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let kills = 50;
    for i in 0..kills {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let delay = Duration::from_millis(20 + state % 600);
        let mut c = std::process::Command::new(&bin);
        if i % 2 == 0 {
            c.args(["run", fast.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        } else {
            c.args(["run", search.to_str().unwrap(), "-j", "2", "--out", out.to_str().unwrap()]);
        }
        let mut child = c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    // Every run directory left behind reads back and replays; none is left "running".
    let runs = listed(&out);
    let mut interrupted = 0;
    for r in &runs {
        let dir = PathBuf::from(r["dir"].as_str().unwrap());
        let status = r["status"].as_str().unwrap();
        assert!(["finished", "interrupted", "cancelled"].contains(&status), "{}: {status}", dir.display());
        interrupted += usize::from(status == "interrupted");
        ratlab::experiments::store::read_run(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let o = cmd().args(["replay", "--print", dir.to_str().unwrap()]).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "replay of {}: {}", dir.display(), String::from_utf8_lossy(&o.stderr));
        // The listing (summary.json) and the replay (the events) agree, even when the writer
        // died between the run's last event and its summary.
        let shown = String::from_utf8_lossy(&o.stdout);
        assert!(shown.contains(&format!("status: {status}")), "{}: listed {status}, replay says\n{shown}", dir.display());
    }
    assert!(interrupted >= kills / 2, "most kills land mid-run: {interrupted} interrupted of {} runs", runs.len());
    // No directory without its record, and the earlier run byte for byte as it was.
    for e in std::fs::read_dir(&out).unwrap().filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().to_string();
        assert!(name.starts_with('.') || e.path().join("events.jsonl").is_file(), "{name} has no events.jsonl");
    }
    let now = files(&out);
    for (p, bytes) in &earlier {
        assert_eq!(now.get(p), Some(bytes), "{} changed", p.display());
    }
}

/// SIGTERM (a batch system stopping the job) and SIGINT stop after the current step with the
/// run recorded as cancelled, exit 1.
#[test]
fn sigterm_and_sigint_cancel_cleanly() {
    for signal in ["-TERM", "-INT"] {
        let tmp = tempfile::tempdir().unwrap();
        let bin = assert_cmd::cargo::cargo_bin("ratlab");
        let mut child = std::process::Command::new(bin)
            .args(["run", "tests/fixtures/valid/slow.yaml", "--out", tmp.path().to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !std::fs::read_dir(tmp.path()).unwrap().filter_map(Result::ok).any(|e| e.path().join("events.jsonl").metadata().is_ok_and(|m| m.len() > 2000)) {
            assert!(std::time::Instant::now() < deadline, "the run never started");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(std::process::Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap().success());
        assert_eq!(child.wait().unwrap().code(), Some(1), "{signal}: a cancelled run is not a finished run");
        let runs = listed(tmp.path());
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0]["status"], "cancelled", "{signal}");
    }
}

/// A panic inside one trial of a `-j 2` search (a bug, injected) fails that trial with the
/// reason; every other trial finishes and the search still names its best.
#[test]
fn a_panic_in_one_run_fails_that_run_only() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("grid.yaml");
    std::fs::write(
        &exp,
        format!(
            "name: grid\nseed: 1\ndata: {{path: {}, target: target}}\nruns:\n  - name: gb\n    algorithm: gradient_boosting\n    params: {{n_estimators: 10}}\n    search:\n      space:\n        max_depth: [2, 3, 4, 5]\n",
            crate::root().join("datasets/iris.csv").display()
        ),
    )
    .unwrap();
    let out = tmp.path().join("runs");
    let o = cmd().env("RATLAB_FAULT", "panic:gb#2").args(["run", exp.to_str().unwrap(), "-j", "2", "--format", "json", "--out", out.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "a failed run makes exit 1: {}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let runs = v["runs"].as_array().unwrap();
    let status: Vec<(&str, &str)> = runs.iter().map(|r| (r["name"].as_str().unwrap(), r["status"].as_str().unwrap())).collect();
    assert_eq!(status, [("gb#0", "finished"), ("gb#1", "finished"), ("gb#2", "failed"), ("gb#3", "finished")]);
    let err = runs[2]["error"].as_str().unwrap();
    assert!(err.contains("internal error") && err.contains("injected fault in run gb#2"), "{err}");
    assert!(v["searches"][0]["best"]["run"].as_str().is_some_and(|b| b != "gb#2"));
}
