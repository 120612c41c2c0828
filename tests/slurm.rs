//! `--executor slurm` end to end on a real one-node Slurm cluster on the loopback interface that
//! the test starts itself (scripts/slurm-loopback.sh: munged, slurmctld and slurmd, no systemd),
//! no mock: a 12-trial search through Slurm gives what a local `-j 2` run gives; `--detach`
//! with `ratlab slurm status`; a `scancel` in the middle of an array marks the stopped trials
//! and leaves the finished ones intact; `--resume` completes them; a trial past its time limit
//! fails with Slurm's reason. Where the cluster cannot be
//! started (not root, Slurm not installed) the tests say why and skip, unless `make test` asked
//! for them (RATLAB_REQUIRE_SLURM=1), where that is a failure.

use crate::{cmd, root};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A running loopback cluster, stopped (by the pids it keeps) when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    conf: PathBuf,
}

impl Cluster {
    fn start() -> Result<Cluster, String> {
        let dir = tempfile::Builder::new().prefix("ratlab-slurm-").tempdir().map_err(|e| e.to_string())?;
        let o = std::process::Command::new("bash")
            .arg(root().join("scripts/slurm-loopback.sh"))
            .args(["start", dir.path().to_str().unwrap()])
            // Ports of their own, so a cluster a developer runs on the default ports is left alone.
            .env("RATLAB_SLURMCTLD_PORT", "16817")
            .env("RATLAB_SLURMD_PORT", "16818")
            .output()
            .map_err(|e| e.to_string())?;
        if !o.status.success() {
            return Err(format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)).trim().to_string());
        }
        let conf = dir.path().join("slurm.conf");
        Ok(Cluster { dir, conf })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash").arg(root().join("scripts/slurm-loopback.sh")).args(["stop", self.dir.path().to_str().unwrap()]).output();
    }
}

/// The cluster, or `None` with the reason printed (a failure where make test requires Slurm).
fn cluster_or_skip() -> Option<Cluster> {
    match Cluster::start() {
        Ok(c) => Some(c),
        Err(why) => {
            assert!(std::env::var("RATLAB_REQUIRE_SLURM").as_deref() != Ok("1"), "make test requires the Slurm tests, but the loopback cluster did not start: {why}");
            eprintln!("SKIPPED: the Slurm tests need a loopback Slurm cluster, which did not start here: {why}");
            None
        }
    }
}

/// `ratlab` pointed at the cluster, polling quickly.
fn ratlab(c: &Cluster) -> assert_cmd::Command {
    let mut k = cmd();
    k.env("SLURM_CONF", &c.conf).env("RATLAB_POLL_MS", "200").env_remove("RATLAB_FAULT");
    k
}

fn json_of(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

/// name → (status, metrics, seed, trial values) of a run's JSON summary.
fn by_name(doc: &Value) -> BTreeMap<String, (Value, Value, Value, Value)> {
    doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap().to_string(), (r["status"].clone(), r["metrics"].clone(), r["seed"].clone(), r["trial"]["values"].clone())))
        .collect()
}

fn status_json(c: &Cluster, job: &str, out: &Path) -> Value {
    let o = ratlab(c).args(["slurm", "status", job, "--out", out.to_str().unwrap(), "--format", "json"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    json_of(&o)
}

/// Poll `ratlab slurm status` until `done` holds (or panic after `secs`).
fn wait_status(c: &Cluster, job: &str, out: &Path, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        let s = status_json(c, job, out);
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < until, "timed out waiting on job {job}: {s:#}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Every file under a directory and its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        if e.path().is_file() {
            out.insert(e.path(), std::fs::read(e.path()).unwrap());
        }
    }
    out
}

#[test]
fn slurm_job_arrays_on_a_loopback_cluster() {
    let Some(c) = cluster_or_skip() else { return };
    // A trial that outlives its one-minute limit runs beside the other scenarios.
    let timed = submit_a_trial_that_outlives_its_time_limit(&c);
    a_search_through_slurm_equals_a_local_run(&c);
    detach_then_follow_with_slurm_status(&c);
    scancel_mid_array_keeps_finished_trials_and_resume_completes_the_rest(&c);
    a_refused_submission_shows_slurms_message(&c);
    if crate::lm::worker_built() {
        a_lora_search_waits_for_the_run_it_starts_from(&c);
    }
    a_time_limit_fails_the_trial_with_slurms_reason(&c, timed);
}

/// One trial slowed to 5 s a round (60 rounds) under `--time 1`: Slurm stops it after a minute.
fn submit_a_trial_that_outlives_its_time_limit(c: &Cluster) -> (String, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let o = ratlab(c)
        .args(["run", "experiments/search-grid.yaml", "--trial", "0", "--executor", "slurm", "--time", "1", "--detach", "--out", out.to_str().unwrap()])
        .env("RATLAB_FAULT", "slow:5000")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    (String::from_utf8_lossy(&o.stdout).trim().to_string(), tmp)
}

/// The trial Slurm stopped at its time limit reads `failed`, with Slurm's word for why, in
/// `slurm status`, `runs` and its record (which replays).
fn a_time_limit_fails_the_trial_with_slurms_reason(c: &Cluster, (job, tmp): (String, tempfile::TempDir)) {
    let out = tmp.path().join("runs");
    let s = wait_status(c, &job, &out, 240, |s| s["counts"]["pending"] == 0 && s["counts"]["running"] == 0);
    let run = &s["runs"][0];
    assert_eq!(run["slurm_state"], "TIMEOUT", "{s:#}");
    assert_eq!(run["status"], "failed", "{s:#}");
    assert!(run["error"].as_str().unwrap().contains("Slurm stopped the task: TIMEOUT"), "{s:#}");
    let listed = cmd().args(["runs", "--out", out.to_str().unwrap(), "--json"]).output().unwrap();
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["status"], "failed", "{listed:#}");
    let replay = cmd().args(["replay", "--print", run["dir"].as_str().unwrap()]).output().unwrap();
    assert_eq!(replay.status.code(), Some(0), "{}", String::from_utf8_lossy(&replay.stderr));
}

/// experiments/search-lora.yaml (shortened): its trials start from the `base` run, so `base`
/// goes first as its own job and the trials follow in a second array that waits for it, each
/// starting from that very run's checkpoint.
fn a_lora_search_waits_for_the_run_it_starts_from(c: &Cluster) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let o = ratlab(c)
        .args(["run", "experiments/search-lora.yaml", "--executor", "slurm", "--format", "json", "--out", out.to_str().unwrap()])
        .args(["--set", "runs.base.params.steps=6", "--set", "runs.lora.params.steps=2", "--set", "runs.lora.params.eval_every=2"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let doc = json_of(&o);
    assert_eq!(doc["jobs"].as_array().map(Vec::len), Some(2), "{doc:#}");
    let sub = PathBuf::from(doc["submission"].as_str().unwrap());
    let second = std::fs::read_to_string(sub.join("job-2.sbatch")).unwrap();
    assert!(second.contains(&format!("#SBATCH --dependency=afterok:{}\n", doc["jobs"][0].as_str().unwrap())), "{second}");
    let runs = doc["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 6);
    assert!(runs.iter().all(|r| r["status"] == "finished"), "{doc:#}");
    let base = runs.iter().find(|r| r["name"] == "base").unwrap()["dir"].as_str().unwrap().to_string();
    for r in runs.iter().filter(|r| r["name"] != "base") {
        let evs = std::fs::read_to_string(Path::new(r["dir"].as_str().unwrap()).join("events.jsonl")).unwrap();
        assert!(evs.contains(&format!("from {base}")), "{} does not start from {base}", r["name"]);
    }
}

/// The 12-trial grid of experiments/search-grid.yaml through Slurm gives the trials, seeds and
/// metrics a local `-j 2` run gives, and `runs compare` lists them like local trials.
fn a_search_through_slurm_equals_a_local_run(c: &Cluster) {
    let tmp = tempfile::tempdir().unwrap();
    let (local_out, slurm_out) = (tmp.path().join("local"), tmp.path().join("slurm"));
    let local = ratlab(c).args(["run", "experiments/search-grid.yaml", "-j", "2", "--format", "json", "--out", local_out.to_str().unwrap()]).output().unwrap();
    assert_eq!(local.status.code(), Some(0), "{}", String::from_utf8_lossy(&local.stderr));
    let o = ratlab(c)
        .args(["run", "experiments/search-grid.yaml", "--executor", "slurm", "--format", "json", "--cpus-per-trial", "1", "--time", "00:10:00"])
        .args(["--out", slurm_out.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    // The store is under /tmp: fine for one node, but said.
    assert!(stderr.contains("under /tmp"), "{stderr}");
    let (l, s) = (json_of(&local), json_of(&o));
    let (lr, sr) = (by_name(&l), by_name(&s));
    assert_eq!(sr.len(), 12);
    assert_eq!(lr, sr, "the Slurm trials differ from the local ones");
    assert_eq!(l["searches"], s["searches"], "the best trial differs");
    let job = s["job_id"].as_str().expect("the JSON summary names the job").to_string();
    assert!(job.chars().all(|ch| ch.is_ascii_digit()), "{job}");
    // Each trial's run directory was written by its own array task, in the one store.
    let sub = PathBuf::from(s["submission"].as_str().unwrap());
    let script = std::fs::read_to_string(sub.join("job.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=0-11\n"), "{script}");
    assert!(script.contains("--trial \"$SLURM_ARRAY_TASK_ID\""), "{script}");
    for r in s["runs"].as_array().unwrap() {
        let owner: Value = serde_json::from_slice(&std::fs::read(Path::new(r["dir"].as_str().unwrap()).join("owner.json")).unwrap()).unwrap();
        assert_eq!(owner["slurm"]["job"], job.as_str());
        assert_eq!(owner["slurm"]["task"], r["trial"]["number"]);
    }
    // `runs compare` sees them like local trials.
    let cmp = cmd().args(["runs", "--out", slurm_out.to_str().unwrap(), "compare", "--experiment", "search-grid", "--json"]).output().unwrap();
    assert_eq!(cmp.status.code(), Some(0), "{}", String::from_utf8_lossy(&cmp.stderr));
    let rows = json_of(&cmp);
    assert_eq!(rows.as_array().map(Vec::len), Some(12), "{rows:#}");
    assert!(rows.as_array().unwrap().iter().all(|r| r["status"] == "finished"), "{rows:#}");
}

/// `--detach` prints the job id and returns at once; `ratlab slurm status` follows the job to its
/// end, and `ratlab runs --experiment` lists the trials.
fn detach_then_follow_with_slurm_status(c: &Cluster) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let o = ratlab(c)
        .args(["run", "experiments/search-grid.yaml", "--executor", "slurm", "--detach", "--max-parallel", "1", "--out", out.to_str().unwrap()])
        .env("RATLAB_FAULT", "slow:20")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let job = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(!job.is_empty() && job.chars().all(|ch| ch.is_ascii_digit()), "--detach prints the job id, got '{job}'");
    // At most one task at a time (how far the array got by now depends on the machine's load:
    // on a busy machine the status call itself can come after most tasks ran).
    let first = status_json(c, &job, &out);
    let count = |k: &str| first["counts"][k].as_u64().unwrap();
    assert!(count("running") <= 1 && count("pending") + count("running") + count("finished") == 12, "{first:#}");
    let sub = PathBuf::from(first["submission"].as_str().unwrap());
    assert!(std::fs::read_to_string(sub.join("job.sbatch")).unwrap().contains("#SBATCH --array=0-11%1\n"));
    // A task's record says finished a moment before Slurm's accounting says COMPLETED: wait
    // for both.
    let completed = |s: &Value| s["runs"].as_array().is_some_and(|r| r.iter().all(|r| r["slurm_state"] == "COMPLETED"));
    let done = wait_status(c, &job, &out, 240, |s| s["counts"]["finished"] == 12 && completed(s));
    assert_eq!(done["counts"]["failed"], 0, "{done:#}");
    assert!(done["runs"].as_array().unwrap().iter().all(|r| r["status"] == "finished"), "{done:#}");
    let text = ratlab(c).args(["slurm", "status", &job, "--out", out.to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(&format!("Slurm job {job}: 0 pending · 0 running · 12 finished · 0 failed")), "{text}");
    let listed = cmd().args(["runs", "--out", out.to_str().unwrap(), "--experiment", "search-grid", "--json"]).output().unwrap();
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(12));
    // A job ratlab did not submit to this store is refused, not cancelled.
    let other = ratlab(c).args(["slurm", "cancel", "999999", "--out", out.to_str().unwrap()]).output().unwrap();
    assert_eq!(other.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&other.stderr).contains("no ratlab submission"), "{}", String::from_utf8_lossy(&other.stderr));
}

/// A slow 6-trial search, one task at a time: cancelling it after two trials finished leaves
/// those two byte-for-byte, marks the trial Slurm stopped as cancelled with Slurm's word, and the
/// ones that never started as cancelled; `--resume` submits only the unfinished trials and ends
/// with all six finished.
fn scancel_mid_array_keeps_finished_trials_and_resume_completes_the_rest(c: &Cluster) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let exp = tmp.path().join("slow.yaml");
    std::fs::write(
        &exp,
        format!(
            "name: slow\nseed: 5\ndata: {{path: {}, target: target}}\nruns:\n  - name: gb\n    algorithm: gradient_boosting\n    params: {{n_estimators: 20}}\n    search:\n      method: grid\n      space:\n        max_depth: [1, 2, 3, 4, 5, 6]\n",
            root().join("datasets/breast_cancer.csv").display()
        ),
    )
    .unwrap();
    let o = ratlab(c)
        .args(["run", exp.to_str().unwrap(), "--executor", "slurm", "--detach", "--max-parallel", "1", "--out", out.to_str().unwrap()])
        // 20 rounds × 100 ms: each trial takes about two seconds.
        .env("RATLAB_FAULT", "slow:100")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let job = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let mid = wait_status(c, &job, &out, 120, |s| s["counts"]["finished"].as_u64() >= Some(2) && s["counts"]["running"] == 1);
    let finished_dirs: Vec<PathBuf> =
        mid["runs"].as_array().unwrap().iter().filter(|r| r["status"] == "finished").map(|r| PathBuf::from(r["dir"].as_str().unwrap())).collect();
    let before: Vec<_> = finished_dirs.iter().map(|d| files(d)).collect();
    let cancel = ratlab(c).args(["slurm", "cancel", &job, "--out", out.to_str().unwrap()]).output().unwrap();
    assert_eq!(cancel.status.code(), Some(0), "{}", String::from_utf8_lossy(&cancel.stderr));
    let after = wait_status(c, &job, &out, 60, |s| s["counts"]["pending"] == 0 && s["counts"]["running"] == 0);
    let runs = after["runs"].as_array().unwrap();
    let finished = runs.iter().filter(|r| r["status"] == "finished").count();
    assert!((2..6).contains(&finished), "{after:#}");
    for r in runs.iter().filter(|r| r["status"] != "finished") {
        assert_eq!(r["status"], "cancelled", "{r:#}");
        assert!(r["error"].as_str().unwrap().contains("CANCELLED"), "the reason names Slurm's state: {r:#}");
    }
    // The trial that was running when Slurm stopped it has its record, ended with the reason.
    let stopped: Vec<&Value> = runs.iter().filter(|r| r["status"] == "cancelled" && !r["dir"].as_str().unwrap().is_empty()).collect();
    assert_eq!(stopped.len(), 1, "{after:#}");
    let replay = cmd().args(["replay", "--print", stopped[0]["dir"].as_str().unwrap()]).output().unwrap();
    assert_eq!(replay.status.code(), Some(0), "{}", String::from_utf8_lossy(&replay.stderr));
    for (d, b) in finished_dirs.iter().zip(&before) {
        assert_eq!(&files(d), b, "{} changed", d.display());
    }
    let unfinished: Vec<u64> = runs.iter().filter(|r| r["status"] != "finished").map(|r| r["task"].as_str().unwrap().rsplit('_').next().unwrap().parse().unwrap()).collect();

    // Resume: only the unfinished trials go to Slurm again, and the search completes.
    let sub = after["submission"].as_str().unwrap().to_string();
    let o = ratlab(c)
        .args(["run", exp.to_str().unwrap(), "--executor", "slurm", "--resume", &sub, "--format", "json", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let doc = json_of(&o);
    assert_eq!(doc["tasks"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap()).collect::<Vec<_>>(), unfinished, "{doc:#}");
    assert_eq!(doc["jobs"].as_array().map(Vec::len), Some(2));
    assert!(doc["runs"].as_array().unwrap().iter().all(|r| r["status"] == "finished"), "{doc:#}");
    // The trials finished before the cancel are the same records.
    for d in &finished_dirs {
        assert!(doc["runs"].as_array().unwrap().iter().any(|r| Path::new(r["dir"].as_str().unwrap()) == d), "{} is not among the results", d.display());
    }
    // Resuming a complete search submits nothing.
    let again = ratlab(c).args(["run", exp.to_str().unwrap(), "--executor", "slurm", "--resume", out.to_str().unwrap(), "--out", out.to_str().unwrap()]).output().unwrap();
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to resume"), "{}", String::from_utf8_lossy(&again.stderr));
}

/// sbatch's refusal is shown with Slurm's own words, exit 2, and nothing runs.
fn a_refused_submission_shows_slurms_message(c: &Cluster) {
    let tmp = tempfile::tempdir().unwrap();
    let o = ratlab(c)
        .args(["run", "experiments/search-grid.yaml", "--executor", "slurm", "--partition", "nosuch", "--out", tmp.path().join("runs").to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("Slurm refused the job") && err.to_lowercase().contains("partition"), "{err}");
}

/// Without Slurm's commands on PATH, `--executor slurm` says what is missing (exit 2) and writes
/// nothing; Slurm's options without `--executor slurm`, a malformed `--time`, `-j`, an option
/// ratlab owns and a TPE search are refused before anything is submitted.
#[test]
fn slurm_misuse_is_refused_up_front_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let empty = tmp.path().join("bin");
    std::fs::create_dir(&empty).unwrap();
    let no_slurm = cmd().args(["run", "experiments/search-grid.yaml", "--executor", "slurm", "--out", out.to_str().unwrap()]).env("PATH", &empty).output().unwrap();
    let err = String::from_utf8_lossy(&no_slurm.stderr);
    assert_eq!(no_slurm.status.code(), Some(2), "{err}");
    assert!(err.contains("sbatch") && err.contains("PATH") && err.contains("slurm-loopback.sh"), "{err}");
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(), "nothing is written");
    let cases: [(&[&str], &str); 6] = [
        (&["--partition", "gpu"], "--partition applies to --executor slurm"),
        (&["--executor", "slurm", "--time", "1h"], "not a Slurm time limit"),
        (&["--executor", "slurm", "-j", "2"], "--max-parallel"),
        (&["--executor", "slurm", "--sbatch-arg=--array=0-3"], "sets --array itself"),
        (&["--executor", "slurm", "--sbatch-arg", "mem=4G"], "not an sbatch option"),
        (&["--detach"], "--detach applies to --executor slurm"),
    ];
    for (args, want) in cases {
        let o = cmd().args(["run", "experiments/search-grid.yaml", "--out", out.to_str().unwrap()]).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let tpe = cmd().args(["run", "experiments/search-tpe.yaml", "--executor", "slurm", "--out", out.to_str().unwrap()]).env("PATH", &empty).output().unwrap();
    let err = String::from_utf8_lossy(&tpe.stderr);
    assert_eq!(tpe.status.code(), Some(2), "{err}");
    assert!(err.contains("tpe") && err.contains("method: random or grid"), "{err}");
    // --dry-run shows the job script it would submit, and needs no Slurm.
    let dry = cmd().args(["run", "experiments/search-grid.yaml", "--executor", "slurm", "--dry-run", "--max-parallel", "3", "--out", out.to_str().unwrap()]).env("PATH", &empty).output().unwrap();
    let text = String::from_utf8_lossy(&dry.stdout);
    assert_eq!(dry.status.code(), Some(0), "{}", String::from_utf8_lossy(&dry.stderr));
    assert!(text.contains("#SBATCH --array=0-11%3") && text.contains("--trial \"$SLURM_ARRAY_TASK_ID\""), "{text}");
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(), "a dry run writes nothing");
}
