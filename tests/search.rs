//! Searches over trials: how grid, zip and random searches expand (names, values, seeds), that
//! trials and their results do not depend on `-j`, `--trial` and `--dry-run`, the best trial in
//! the summary, and the messages of bad searches.

use crate::cmd;
use ratlab::experiments::plan::{self, Plan};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn plan_of(yaml: &str) -> Plan {
    plan::from_text(yaml, Path::new("experiments/x.yaml"), Path::new("x.yaml")).unwrap_or_else(|e| panic!("valid: {e}"))
}

fn errors_of(yaml: &str) -> String {
    match plan::from_text(yaml, Path::new("experiments/x.yaml"), Path::new("x.yaml")) {
        Ok(_) => panic!("expected errors for:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

fn search(seed: u64, body: &str) -> String {
    format!(
        "name: s\nseed: {seed}\ndata: {{path: ../datasets/iris.csv, target: target}}\nmetrics: [accuracy, log_loss]\nruns:\n  - name: gb\n    algorithm: gradient_boosting\n    params: {{n_estimators: 5}}\n    search:\n{body}"
    )
}

#[test]
fn a_grid_crosses_the_lists_and_each_trial_is_a_named_seeded_run() {
    let p = plan_of(&search(1, "      space:\n        max_depth: [2, 3, 4]\n        learning_rate: [0.1, 0.3]\n"));
    assert_eq!(p.runs.len(), 6);
    let names: Vec<&str> = p.runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["gb#0", "gb#1", "gb#2", "gb#3", "gb#4", "gb#5"]);
    let combos: BTreeSet<String> = p.runs.iter().map(|r| format!("{}/{}", r.params_json["max_depth"], r.params_json["learning_rate"])).collect();
    let want: BTreeSet<String> = [2, 3, 4].iter().flat_map(|d| ["0.1", "0.3"].map(|l| format!("{d}/{l}"))).collect();
    assert_eq!(combos, want, "every combination exactly once");
    for r in &p.runs {
        assert_eq!(r.params_json["n_estimators"], 5, "fixed params hold for every trial");
        let t = r.trial.as_ref().unwrap();
        assert_eq!((t.search.as_str(), t.count), ("gb", 6));
        assert_eq!(t.values["max_depth"], r.params_json["max_depth"]);
    }
    let seeds: BTreeSet<u64> = p.runs.iter().map(|r| r.seed).collect();
    assert_eq!(seeds.len(), 6, "each trial has its own seed");
    assert_eq!(p.searches.len(), 1);
    assert_eq!(p.searches[0].trials, (0..6).collect::<Vec<_>>());
    // A trial's seed depends on the experiment seed, the run name and its number alone: a run
    // added before the search changes nothing.
    let before = search(1, "      space:\n        max_depth: [2, 3, 4]\n        learning_rate: [0.1, 0.3]\n")
        .replace("runs:\n", "runs:\n  - {name: lr, algorithm: logistic_regression}\n");
    let q = plan_of(&before);
    let seeds_q: Vec<u64> = q.runs.iter().filter(|r| r.trial.is_some()).map(|r| r.seed).collect();
    assert_eq!(seeds_q, p.runs.iter().map(|r| r.seed).collect::<Vec<_>>());
}

#[test]
fn zip_walks_the_lists_together_and_names_are_padded_to_the_count() {
    let vals: Vec<String> = (1..=10).map(|d| d.to_string()).collect();
    let lrs: Vec<String> = (1..=10).map(|i| format!("0.{i:02}")).collect();
    let p = plan_of(&search(1, &format!("      method: zip\n      space:\n        max_depth: [{}]\n        learning_rate: [{}]\n", vals.join(", "), lrs.join(", "))));
    assert_eq!(p.runs.len(), 10);
    assert_eq!(p.runs[0].name, "gb#00");
    assert_eq!(p.runs[9].name, "gb#09");
    for (i, r) in p.runs.iter().enumerate() {
        assert_eq!(r.params_json["max_depth"], (i + 1) as i64);
        assert!((r.params_json["learning_rate"].as_f64().unwrap() - (i + 1) as f64 / 100.0).abs() < 1e-12);
    }
}

#[test]
fn random_draws_are_seeded_within_their_distributions() {
    let body = "      method: random\n      trials: 40\n      space:\n        max_depth: {int: [2, 5]}\n        learning_rate: {log_uniform: [0.01, 0.5]}\n        subsample: {uniform: [0.5, 1.0]}\n        grow_policy: [depthwise, lossguide]\n";
    let a = plan_of(&search(7, body));
    let b = plan_of(&search(7, body));
    let c = plan_of(&search(8, body));
    let values = |p: &Plan| p.runs.iter().map(|r| Value::Object(r.trial.clone().unwrap().values)).collect::<Vec<_>>();
    assert_eq!(values(&a), values(&b), "the same seed draws the same trials");
    assert_ne!(values(&a), values(&c), "another experiment seed draws others");
    let mut depths = BTreeSet::new();
    let mut logs = Vec::new();
    for r in &a.runs {
        let d = r.params_json["max_depth"].as_i64().expect("an int distribution draws whole numbers");
        assert!((2..=5).contains(&d));
        depths.insert(d);
        let lr = r.params_json["learning_rate"].as_f64().unwrap();
        assert!((0.01..=0.5).contains(&lr));
        logs.push(lr.ln());
        let s = r.params_json["subsample"].as_f64().unwrap();
        assert!((0.5..=1.0).contains(&s));
        assert!(["depthwise", "lossguide"].contains(&r.params_json["grow_policy"].as_str().unwrap()));
    }
    assert_eq!(depths.len(), 4, "40 draws from 4 depths reach every one");
    // log-uniform: about half the draws below the geometric midpoint (binomial, 40 draws).
    let mid = (0.01f64.ln() + 0.5f64.ln()) / 2.0;
    let below = logs.iter().filter(|l| **l < mid).count();
    assert!((10..=30).contains(&below), "{below} of 40 below the log midpoint");
}

#[test]
fn bad_searches_say_what_is_wrong_and_where() {
    let cases: &[(&str, &[&str])] = &[
        ("      space:\n        learning_rate: {uniform: [0.1, 0.3]}\n", &["x.yaml:11:", "grid search takes lists of values only", "method: random"]),
        ("      method: zip\n      space:\n        max_depth: [2, 3]\n        learning_rate: [0.1]\n", &["runs[0].search.space", "equally long", "learning_rate: 1", "max_depth: 2"]),
        ("      space:\n        depth: [2, 3]\n", &["runs[0].search.space.depth", "unknown parameter 'depth'", "max_depth"]),
        ("      space:\n        n_estimators: [5, 10]\n", &["also fixed in params"]),
        ("      space: {}\n", &["runs[0].search.space", "is empty"]),
        ("      trials: 5\n      space:\n        max_depth: [2, 3]\n", &["runs[0].search.trials", "random and tpe searches only"]),
        ("      method: random\n      space:\n        max_depth: [2, 3]\n", &["runs[0].search.trials", "is missing"]),
        ("      method: bayes\n      space:\n        max_depth: [2, 3]\n", &["unknown search method 'bayes'", "grid, zip, random, tpe"]),
        ("      space:\n        max_depth: [2, 0.5]\n", &["runs[0].search.space.max_depth", "value 2 (0.5)"]),
        ("      space:\n        max_depth: [2]\n      metric: roc_auc\n", &["runs[0].search.metric", "not among the experiment's metrics", "accuracy, log_loss"]),
        ("      method: random\n      trials: 3\n      space:\n        lambda: {log_uniform: [0, 1]}\n", &["positive bounds"]),
    ];
    for (body, wants) in cases {
        let e = errors_of(&search(1, body));
        for w in *wants {
            assert!(e.contains(w), "for\n{body}\nexpected {w:?} in:\n{e}");
        }
    }
}

#[test]
fn a_search_past_the_trial_limit_is_refused_at_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("big.yaml");
    let yaml = search(1, "      space:\n        max_depth: [1, 2, 3, 4, 5, 6]\n        learning_rate: [0.1, 0.2, 0.3]\n")
        .replace("../datasets/iris.csv", &crate::root().join("datasets/iris.csv").display().to_string());
    std::fs::write(&f, yaml).unwrap();
    let o = cmd().args(["run", f.to_str().unwrap(), "--dry-run", "--max-trials", "10"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("big.yaml:10:") && err.contains("expands to 18 trials, more than the limit of 10") && err.contains("--max-trials"), "{err}");
    let ok = cmd().args(["run", f.to_str().unwrap(), "--dry-run", "--max-trials", "18"]).output().unwrap();
    assert_eq!(ok.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&ok.stdout).lines().filter(|l| l.trim_start().starts_with("gb#")).count(), 18);
}

fn run_json(args: &[&str], out: &Path) -> (i32, Value) {
    let o = cmd().args(["run"]).args(args).args(["--out", out.to_str().unwrap(), "--format", "json"]).output().unwrap();
    let stdout = String::from_utf8(o.stdout).unwrap();
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stdout is one JSON object ({e}):\n{stdout}\n{}", String::from_utf8_lossy(&o.stderr)));
    (o.status.code().unwrap(), v)
}

#[test]
fn trials_and_results_do_not_depend_on_jobs_and_the_best_is_the_best() {
    let tmp = tempfile::tempdir().unwrap();
    let (c1, one) = run_json(&["experiments/search-grid.yaml", "-j", "1"], &tmp.path().join("j1"));
    let (c2, two) = run_json(&["experiments/search-grid.yaml", "-j", "2"], &tmp.path().join("j2"));
    assert_eq!((c1, c2), (0, 0));
    let runs1 = one["runs"].as_array().unwrap();
    let runs2 = two["runs"].as_array().unwrap();
    assert_eq!(runs1.len(), 12);
    for (a, b) in runs1.iter().zip(runs2) {
        assert_eq!(a["name"], b["name"], "summaries come back in trial order");
        assert_eq!(a["metrics"], b["metrics"], "{} differs between -j 1 and -j 2", a["name"]);
        assert_eq!(a["seed"], b["seed"]);
        assert_eq!(a["trial"], b["trial"]);
    }
    // Every trial recorded in its own directory.
    let dirs: BTreeSet<&str> = runs2.iter().map(|r| r["dir"].as_str().unwrap()).collect();
    assert_eq!(dirs.len(), 12);
    // The best is the trial with the highest test roc_auc (ties: the first).
    let best = &two["searches"][0];
    assert_eq!((best["name"].as_str(), best["metric"].as_str(), best["trials"].as_u64()), (Some("gb"), Some("roc_auc"), Some(12)));
    let mut top = (String::new(), f64::NEG_INFINITY);
    for r in runs2 {
        let v = r["metrics"]["roc_auc"].as_f64().unwrap();
        if v > top.1 {
            top = (r["name"].as_str().unwrap().to_string(), v);
        }
    }
    assert_eq!(best["best"]["run"].as_str().unwrap(), top.0);
    assert_eq!(best["best"]["value"].as_f64().unwrap(), top.1);
    assert_eq!(best["best"]["metric"], "roc_auc");
}

#[test]
fn trial_runs_only_the_named_trials_and_dry_run_runs_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let (code, v) = run_json(&["experiments/search-grid.yaml", "--trial", "5", "--trial", "11"], &out);
    assert_eq!(code, 0);
    let names: Vec<&str> = v["runs"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["gb#05", "gb#11"]);
    // The same trial alone gives the same result as in the whole search (a cluster array job).
    let (_, all) = run_json(&["experiments/search-grid.yaml", "-j", "2"], &tmp.path().join("all"));
    let whole = all["runs"].as_array().unwrap().iter().find(|r| r["name"] == "gb#05").unwrap();
    assert_eq!(whole["metrics"], v["runs"][0]["metrics"]);
    let bad = cmd().args(["run", "experiments/search-grid.yaml", "--trial", "12", "--out", out.to_str().unwrap()]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("there is no trial 12; trials are numbered from 0 (gb has 12)"));
    let none = cmd().args(["run", "experiments/logreg-backends.yaml", "--trial", "0", "--out", out.to_str().unwrap()]).output().unwrap();
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("has no search"));
    // --dry-run lists, with parameters, and writes nothing.
    let dry_out = tmp.path().join("dry");
    let (code, d) = run_json(&["experiments/search-grid.yaml", "--dry-run"], &dry_out);
    assert_eq!(code, 0);
    assert_eq!(d["dry_run"], true);
    assert_eq!(d["runs"].as_array().unwrap().len(), 12);
    assert_eq!(d["runs"][4]["params"]["n_estimators"], 60);
    assert!(!dry_out.exists(), "a dry run records nothing");
}

#[test]
fn a_tpe_search_gives_the_same_trials_whatever_jobs_is_and_stays_in_its_space() {
    let tmp = tempfile::tempdir().unwrap();
    let (c1, one) = run_json(&["experiments/search-tpe.yaml", "-j", "1"], &tmp.path().join("j1"));
    let (c3, three) = run_json(&["experiments/search-tpe.yaml", "-j", "3"], &tmp.path().join("j3"));
    assert_eq!((c1, c3), (0, 0));
    let (r1, r3) = (one["runs"].as_array().unwrap(), three["runs"].as_array().unwrap());
    assert_eq!(r1.len(), 26);
    for (a, b) in r1.iter().zip(r3) {
        assert_eq!((&a["name"], &a["trial"], &a["metrics"]), (&b["name"], &b["trial"], &b["metrics"]), "-j 1 and -j 3 differ");
        let v = &a["trial"]["values"];
        let depth = v["max_depth"].as_i64().expect("an int dimension gives whole numbers");
        assert!((1..=6).contains(&depth));
        assert!((0.01..=0.5).contains(&v["learning_rate"].as_f64().unwrap()));
        assert!((0.5..=1.0).contains(&v["subsample"].as_f64().unwrap()));
        assert!([1, 2, 5].contains(&v["min_child_weight"].as_i64().unwrap()));
        // The recorded parameters are the proposed ones.
        let dir = Path::new(a["dir"].as_str().unwrap());
        let summary: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
        assert_eq!(summary["params"]["max_depth"].as_i64(), Some(depth));
    }
    // After the prior draws, proposals gather where the good trials are: the later trials' mean
    // log-loss is below the prior draws'.
    let ll = |rs: &[Value]| rs.iter().map(|r| r["metrics"]["log_loss"].as_f64().unwrap()).sum::<f64>() / rs.len() as f64;
    assert!(ll(&r1[10..]) < ll(&r1[..10]), "proposed {} vs drawn {}", ll(&r1[10..]), ll(&r1[..10]));
    assert_eq!(one["searches"][0]["method"], "tpe");
    // Its trials cannot run alone.
    let o = cmd().args(["run", "experiments/search-tpe.yaml", "--trial", "3", "--out", tmp.path().to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot run alone"));
}

#[test]
fn export_writes_one_row_per_run_or_per_step_and_reads_back_through_polars() {
    use ratlab::data::table::{read_table, RawValues};
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let (_, v) = run_json(&["experiments/search-grid.yaml", "-j", "2"], &out);
    let runs = v["runs"].as_array().unwrap();
    for ext in ["parquet", "csv"] {
        let to = tmp.path().join(format!("all.{ext}"));
        cmd().args(["export", out.to_str().unwrap(), "--to", to.to_str().unwrap()]).assert().success();
        let t = read_table(&to).unwrap();
        assert_eq!(t.height, 12);
        let num = |c: &str| match &t.column(c).unwrap_or_else(|| panic!("{ext} lacks {c}")).values {
            RawValues::Numeric(v) => v.clone(),
            RawValues::Text(_) => panic!("{c} is numeric"),
        };
        let text = |c: &str| match &t.column(c).unwrap().values {
            RawValues::Text(v) => v.iter().map(|s| s.clone().unwrap_or_default()).collect::<Vec<_>>(),
            RawValues::Numeric(v) => v.iter().map(|x| x.to_string()).collect(),
        };
        let names = text("run");
        let (depth, auc, n_est) = (num("max_depth"), num("roc_auc"), num("n_estimators"));
        for r in runs {
            let i = names.iter().position(|n| n == r["name"].as_str().unwrap()).unwrap();
            assert_eq!(depth[i], r["trial"]["values"]["max_depth"].as_f64().unwrap());
            assert_eq!(auc[i], r["metrics"]["roc_auc"].as_f64().unwrap(), "metrics round-trip exactly");
            assert_eq!(n_est[i], 60.0);
        }
        assert!(text("status").iter().all(|s| s == "finished"));
        assert!(text("experiment").iter().all(|s| s == "search-grid"));
    }
    // Curves: one row per step (60 rounds × 12 trials), with the step metrics as columns.
    let to = tmp.path().join("curves.parquet");
    cmd().args(["export", out.to_str().unwrap(), "--curves", "--to", to.to_str().unwrap()]).assert().success();
    let t = read_table(&to).unwrap();
    assert_eq!(t.height, 12 * 60);
    for c in ["run", "step", "x", "test.roc_auc", "train.log_loss"] {
        assert!(t.column(c).is_some(), "curves lack {c}");
    }
    // JSON: an array of row objects.
    let to = tmp.path().join("all.json");
    cmd().args(["export", out.to_str().unwrap(), "--to", to.to_str().unwrap()]).assert().success();
    let rows: Value = serde_json::from_str(&std::fs::read_to_string(&to).unwrap()).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 12);
    // Bad input: exit 2, saying what is wrong.
    let o = cmd().args(["export", tmp.path().join("nothing").to_str().unwrap(), "--to", "x.csv"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not a run directory or a directory of runs"));
    let o = cmd().args(["export", out.to_str().unwrap(), "--to", tmp.path().join("x.xlsx").to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected .parquet, .csv or .json"));
}

#[test]
fn runs_compare_and_diff_show_what_differs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let (_, v) = run_json(&["experiments/search-grid.yaml", "-j", "2"], &out);
    let out_s = out.to_str().unwrap();
    // Only the searched parameters differ, so only they are shown, then the metrics.
    let o = cmd().args(["runs", "--out", out_s, "compare", "--experiment", "search-grid"]).env("COLUMNS", "200").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    insta::assert_snapshot!("runs_compare_search_grid", String::from_utf8_lossy(&o.stdout));
    // Narrow terminals lose columns from the right, and say which.
    let o = cmd().args(["runs", "--out", out_s, "compare", "--experiment", "search-grid"]).env("COLUMNS", "50").output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.lines().all(|l| l.chars().count() <= 50 || l.starts_with('(')), "{text}");
    assert!(text.contains("(3 more column(s) do not fit: accuracy, log_loss, roc_auc; use --json or --csv)"), "{text}");
    // --all shows the fixed parameters too; --json gives rows.
    let o = cmd().args(["runs", "--out", out_s, "compare", "--experiment", "search-grid", "--all", "--json"]).output().unwrap();
    let rows: Value = serde_json::from_str(&String::from_utf8_lossy(&o.stdout)).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 12);
    assert_eq!(rows[0]["n_estimators"], 60);
    assert_eq!(rows[3]["roc_auc"], v["runs"][3]["metrics"]["roc_auc"]);
    // diff: the parameter, the seed, the metrics with their change, where the curves part.
    let dir = |n: usize| v["runs"][n]["dir"].as_str().unwrap().to_string();
    let o = cmd().args(["runs", "diff", &dir(3), &dir(7)]).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    insta::assert_snapshot!("runs_diff_two_trials", String::from_utf8_lossy(&o.stdout));
    let o = cmd().args(["runs", "diff", &dir(3), &dir(3)]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("no difference"));
    let o = cmd().args(["runs", "diff", &dir(3), tmp.path().to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn runs_filters_sort_and_cut_the_listing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let (_, v) = run_json(&["experiments/search-grid.yaml", "-j", "2"], &out);
    let all = v["runs"].as_array().unwrap();
    let list = |args: &[&str]| -> Vec<Value> {
        let o = cmd().args(["runs", "--out", out.to_str().unwrap(), "--json"]).args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_str::<Value>(&String::from_utf8_lossy(&o.stdout)).unwrap().as_array().unwrap().clone()
    };
    // --where against a brute-force filter of the summary.
    let got: BTreeSet<String> = list(&["--where", "max_depth>=4 and roc_auc>0.99"]).iter().map(|r| r["run"].as_str().unwrap().to_string()).collect();
    let want: BTreeSet<String> = all
        .iter()
        .filter(|r| r["trial"]["values"]["max_depth"].as_i64().unwrap() >= 4 && r["metrics"]["roc_auc"].as_f64().unwrap() > 0.99)
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, want);
    assert!(!got.is_empty());
    // --sort a metric: best first (roc_auc descending, log_loss ascending); --top cuts.
    let by_auc = list(&["--sort", "roc_auc", "--top", "3"]);
    assert_eq!(by_auc.len(), 3);
    let mut aucs: Vec<f64> = all.iter().map(|r| r["metrics"]["roc_auc"].as_f64().unwrap()).collect();
    aucs.sort_by(|a, b| b.total_cmp(a));
    assert_eq!(by_auc.iter().map(|r| r["metrics"]["roc_auc"].as_f64().unwrap()).collect::<Vec<_>>(), aucs[..3]);
    let by_ll = list(&["--sort", "log_loss"]);
    assert!(by_ll.windows(2).all(|w| w[0]["metrics"]["log_loss"].as_f64() <= w[1]["metrics"]["log_loss"].as_f64()));
    assert_eq!(list(&["--experiment", "search-grid", "--status", "finished"]).len(), 12);
    assert!(list(&["--experiment", "other"]).is_empty());
    let o = cmd().args(["runs", "--out", out.to_str().unwrap(), "--status", "done"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    // Every status a run can have is one to filter by.
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected one of: running, finished, failed, cancelled, pruned, interrupted"), "{}", String::from_utf8_lossy(&o.stderr));
    for st in ["pruned", "interrupted", "cancelled", "running", "failed"] {
        assert!(list(&["--status", st]).is_empty(), "--status {st}");
    }
}

#[test]
fn runs_show_prints_one_run_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, v) = run_json(&["experiments/search-grid.yaml", "--trial", "4"], &tmp.path().join("runs"));
    let dir = v["runs"][0]["dir"].as_str().unwrap();
    let o = cmd().args(["runs", "show", dir]).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    for want in ["search-grid / gb#04  (gradient_boosting on native, seed ", "status: finished", "  max_depth: 1", "  learning_rate: 0.1000", "  n_estimators: 60", "data:", "  target: target", "metrics (test):", "  roc_auc: "] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }
    let o = cmd().args(["runs", "show", tmp.path().to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn pruned_trials_stop_early_keep_their_curves_and_do_not_depend_on_jobs() {
    let tmp = tempfile::tempdir().unwrap();
    let (c1, one) = run_json(&["experiments/search-random.yaml", "-j", "1"], &tmp.path().join("j1"));
    let (c2, two) = run_json(&["experiments/search-random.yaml", "-j", "2"], &tmp.path().join("j2"));
    assert_eq!((c1, c2), (0, 0), "pruned trials fail nothing");
    let (r1, r2) = (one["runs"].as_array().unwrap(), two["runs"].as_array().unwrap());
    for (a, b) in r1.iter().zip(r2) {
        assert_eq!((&a["name"], &a["status"], &a["metrics"]), (&b["name"], &b["status"], &b["metrics"]), "-j 1 and -j 2 differ");
    }
    let pruned: Vec<&Value> = r1.iter().filter(|r| r["status"] == "pruned").collect();
    assert!(!pruned.is_empty() && pruned.len() < 16, "{} pruned", pruned.len());
    // The first batch of 4 has nobody to be compared with.
    assert!(r1[..4].iter().all(|r| r["status"] == "finished"));
    for r in pruned {
        let dir = Path::new(r["dir"].as_str().unwrap());
        let events: Vec<Value> = std::fs::read_to_string(dir.join("events.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let steps: Vec<&Value> = events.iter().filter(|e| e["event"] == "step").collect();
        let last = events.last().unwrap();
        assert_eq!(last["event"], "failed");
        assert_eq!(last["pruned"], true);
        let why = last["error"].as_str().unwrap();
        // Stopped at a step ≥ warmup (10), before the 80 rounds, with its curve so far kept.
        let at: u64 = why.strip_prefix("pruned at step ").and_then(|w| w.split(':').next()).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{why}"));
        assert!((10..80).contains(&at), "{why}");
        assert_eq!(steps.len() as u64, at);
        // The summary says pruned; the best ignores pruned trials.
        let summary: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
        assert_eq!(summary["status"], "pruned");
        assert_ne!(one["searches"][0]["best"]["run"], r["name"]);
    }
}

#[test]
fn a_bad_prune_rule_is_refused() {
    let e = errors_of(&search(1, "      method: random\n      trials: 4\n      space:\n        max_depth: [2, 3]\n      prune: {rule: hyperband}\n"));
    assert!(e.contains("runs[0].search.prune.rule") && e.contains("unknown rule 'hyperband'; allowed: median, halving"), "{e}");
    let e = errors_of(&search(1, "      method: random\n      trials: 4\n      space:\n        max_depth: [2, 3]\n      prune: {rule: median, warmup: 0}\n"));
    assert!(e.contains("runs[0].search.prune.warmup"), "{e}");
}

#[test]
fn plot_writes_png_and_svg_figures_of_the_asked_size() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    run_json(&["experiments/search-grid.yaml", "--trial", "0", "--trial", "11"], &out);
    let png = tmp.path().join("auc.png");
    cmd().args(["plot", out.to_str().unwrap(), "--metric", "roc_auc", "--out", png.to_str().unwrap(), "--size", "640x400"]).assert().success();
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG file");
    let (w, h) = (u32::from_be_bytes(bytes[16..20].try_into().unwrap()), u32::from_be_bytes(bytes[20..24].try_into().unwrap()));
    assert_eq!((w, h), (640, 400));
    assert!(bytes.len() > 10_000, "the figure has content ({} bytes)", bytes.len());
    let svg = tmp.path().join("loss.svg");
    cmd().args(["plot", out.to_str().unwrap(), "--metric", "train.log_loss", "--x", "time", "--out", svg.to_str().unwrap()]).assert().success();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg width=\"900\" height=\"540\""), "{}", &text[..80]);
    for want in ["train.log_loss — search-grid", "gb#00", "gb#11", "seconds"] {
        assert!(text.contains(want), "the SVG lacks {want:?}");
    }
    let o = cmd().args(["plot", out.to_str().unwrap(), "--metric", "f2", "--out", svg.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no run has a curve of 'f2'; their step metrics: leaves, test.accuracy"));
}

#[test]
fn report_writes_markdown_with_the_table_the_best_trial_and_a_figure() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let (_, v) = run_json(&["experiments/search-grid.yaml", "-j", "2"], &out);
    let dir = tmp.path().join("report");
    cmd().args(["report", out.to_str().unwrap(), "--out", dir.to_str().unwrap()]).assert().success();
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let best = v["searches"][0]["best"]["run"].as_str().unwrap();
    assert!(md.contains("## search-grid") && md.contains("12 run(s)."), "{md}");
    assert!(md.contains(&format!("**Search `gb`**: best trial `{best}` with roc_auc")), "{md}");
    assert!(md.contains("| run | status | learning_rate | max_depth | accuracy | log_loss | roc_auc |"), "{md}");
    assert_eq!(md.lines().filter(|l| l.starts_with("| gb#")).count(), 12);
    assert!(md.contains("![roc_auc of search-grid](search-grid-roc_auc.png)"));
    assert!(std::fs::metadata(dir.join("search-grid-roc_auc.png")).unwrap().len() > 10_000);
}

/// Stops one run (the TUI's cancel of one trial) and lets every other go on.
struct StopOne {
    index: usize,
    ends: std::collections::BTreeMap<String, ratlab::experiments::events::Status>,
}

impl ratlab::experiments::events::Sink for StopOne {
    fn event(&mut self, run: &plan::RunPlan, ev: &ratlab::experiments::events::RunEvent) -> ratlab::experiments::events::Flow {
        use ratlab::experiments::events::{RunEvent, Status};
        use ratlab::experiments::events::Flow;
        match ev {
            RunEvent::Finished { .. } => {
                self.ends.insert(run.name.clone(), Status::Finished);
            }
            RunEvent::Failed { cancelled, pruned, .. } => {
                self.ends.insert(run.name.clone(), Status::of_failure(*cancelled, *pruned));
            }
            _ => {}
        }
        if run.index == self.index && matches!(ev, RunEvent::Step { .. }) {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

#[test]
fn a_sink_stopping_one_trial_cancels_that_trial_only_even_with_jobs() {
    use ratlab::experiments::events::Status;
    let p = plan_of(&search(3, "      space:\n        max_depth: [2, 3, 4, 5]\n"));
    let prepared = p.prepare().expect("iris loads");
    for jobs in [1, 2] {
        let mut sink = StopOne { index: p.runs[1].index, ends: Default::default() };
        let cancel = std::sync::atomic::AtomicBool::new(false);
        let out = ratlab::experiments::runner::run_plan_jobs(&p, prepared.as_ref(), None, jobs, &mut sink, &cancel);
        assert_eq!(out.len(), 4, "-j {jobs}: every trial ran");
        let want: Vec<(String, Status)> = p.runs.iter().enumerate().map(|(k, r)| (r.name.clone(), if k == 1 { Status::Cancelled } else { Status::Finished })).collect();
        assert_eq!(sink.ends.into_iter().collect::<Vec<_>>(), want, "-j {jobs}");
    }
}

#[test]
fn a_search_names_a_field_inside_a_parameter_and_a_transformer_search_ranks_by_its_loss() {
    let yaml = "name: l\nseed: 7\ndata: {path: ../datasets/tiny-stories.txt, format: text}\nruns:\n  - {name: base, algorithm: transformer, backend: torch, params: {steps: 5}}\n  - name: lora\n    algorithm: transformer\n    backend: torch\n    params: {init_from: base, steps: 5, lora: {targets: [q, v], dropout: 0.1}}\n    search:\n      method: zip\n      space:\n        lora.rank: [2, 8]\n        lora.alpha: [4, 16]\n";
    let p = plan_of(yaml);
    let trials: Vec<&plan::RunPlan> = p.runs.iter().filter(|r| r.trial.is_some()).collect();
    assert_eq!(trials.len(), 2);
    for (t, (rank, alpha)) in trials.iter().zip([(2, 4.0), (8, 16.0)]) {
        let lora = &t.params_json["lora"];
        assert_eq!(lora["rank"], rank, "{lora}");
        assert_eq!(lora["alpha"].as_f64(), Some(alpha), "{lora}");
        assert_eq!(lora["targets"], serde_json::json!(["q", "v"]), "the fixed fields stay: {lora}");
        assert_eq!(lora["dropout"].as_f64(), Some(0.1), "{lora}");
        assert_eq!(t.trial.as_ref().unwrap().values["lora.rank"], rank);
    }
    let sp = &p.searches[0];
    assert_eq!((sp.metric.as_str(), sp.metric.higher_is_better()), ("loss", false), "a transformer search ranks by test loss by default");
    // exact_match is higher-is-better; a table metric is not something a transformer reports.
    let exact = plan_of(&yaml.replace("      method: zip\n", "      method: zip\n      metric: exact_match\n"));
    assert!(exact.searches[0].metric.higher_is_better());
    let bad = errors_of(&yaml.replace("      method: zip\n", "      method: zip\n      metric: roc_auc\n"));
    assert!(bad.contains("'roc_auc' is not a figure a transformer run reports; allowed: loss, bits_per_byte, exact_match"), "{bad}");
    // A field set in params cannot also be searched; an unknown field is refused as the whole
    // parameter would be; a field of a parameter that is not an object says what is allowed.
    let both = errors_of(&yaml.replace("lora: {targets: [q, v], dropout: 0.1}", "lora: {rank: 4, targets: [q, v]}"));
    assert!(both.contains("space.lora.rank: 'rank' is also set in params.lora"), "{both}");
    let unknown = errors_of(&yaml.replace("lora.alpha: [4, 16]", "lora.alfa: [4, 16]"));
    assert!(unknown.contains("space.lora.alfa") && unknown.contains("unknown field 'alfa' in lora"), "{unknown}");
    let rank0 = errors_of(&yaml.replace("lora.rank: [2, 8]", "lora.rank: [0, 8]"));
    assert!(rank0.contains("lora.rank 0 is not allowed"), "{rank0}");
}

#[test]
fn compare_and_where_reach_fields_inside_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs");
    let yaml = dir.path().join("bag.yaml");
    std::fs::write(
        &yaml,
        format!(
            "name: bag\nseed: 1\ndata: {{path: {}, target: target}}\nmetrics: [accuracy]\nruns:\n  - name: b\n    algorithm: bagging\n    params: {{n_estimators: 3, estimator: {{algorithm: decision_tree, params: {{max_depth: 2}}}}}}\n    search:\n      space:\n        estimator.params.min_samples_leaf: [1, 5]\n",
            crate::root().join("datasets/iris.csv").display()
        ),
    )
    .unwrap();
    cmd().args(["run", yaml.to_str().unwrap(), "--out", out.to_str().unwrap()]).assert().success();
    let table = cmd().args(["runs", "compare", out.to_str().unwrap()]).assert().success();
    let text = String::from_utf8_lossy(&table.get_output().stdout).to_string();
    assert!(text.contains("estimator.params.min_samples_leaf"), "the differing field is its own column:\n{text}");
    assert!(!text.contains("estimator.params.max_depth"), "fields that do not differ are left out:\n{text}");
    let listed = cmd().args(["runs", "--out", out.to_str().unwrap(), "--where", "estimator.params.min_samples_leaf>2"]).assert().success();
    let text = String::from_utf8_lossy(&listed.get_output().stdout).to_string();
    assert_eq!(text.lines().filter(|l| l.contains("bag-b_")).count(), 1, "{text}");
}
