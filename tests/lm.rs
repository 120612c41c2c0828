//! Language models as a user runs them: a pretrain → SFT (LoRA) → DPO chain through the torch
//! worker with the documented metric names and checkpoints, `ratlab generate`, and the
//! validation of language-model experiments (data fields, modes, init_from, a missing worker).

use crate::{cmd, root};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Whether the torch worker is built beside ratlab. `make test` sets RATLAB_REQUIRE_TORCH, so
/// there a missing worker fails instead of skipping.
pub fn worker_built() -> bool {
    let exe = assert_cmd::cargo::cargo_bin("ratlab");
    let found = exe.with_file_name("ratlab-torch").is_file();
    if !found {
        assert!(std::env::var_os("RATLAB_REQUIRE_TORCH").is_none(), "ratlab-torch is not built beside {}", exe.display());
        eprintln!("skipped: the ratlab-torch worker is not built (make test builds it)");
    }
    found
}

fn events(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("events.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn steps(evs: &[Value]) -> Vec<&serde_json::Map<String, Value>> {
    evs.iter().filter(|e| e["event"] == "step").map(|e| e["metrics"].as_object().unwrap()).collect()
}

const TINY: &str = "layers: 1, d_model: 32, heads: 2, mlp_hidden: 64, batch_size: 4";

#[test]
fn a_pretrain_sft_dpo_chain_streams_its_metrics_saves_checkpoints_and_generates() {
    if !worker_built() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ds = root().join("datasets");
    let yaml = format!(
        "name: chain\nseed: 1\nruns:\n\
         - name: pre\n  algorithm: transformer\n  backend: torch\n  data: {{path: {d}/tiny-stories.txt, format: text}}\n  params: {{{TINY}, context: 32, steps: 6, eval_every: 3, device: cpu}}\n\
         - name: sft\n  algorithm: transformer\n  backend: torch\n  data: {{path: {d}/instructions.jsonl, format: instructions}}\n  params: {{batch_size: 4, context: 200, steps: 4, eval_every: 2, eval_batches: 1, mode: sft, init_from: pre, lora: {{rank: 2, alpha: 4, targets: [q, v]}}}}\n\
         - name: dpo\n  algorithm: transformer\n  backend: torch\n  data: {{path: {d}/preferences.jsonl, format: preferences}}\n  params: {{batch_size: 4, context: 200, steps: 3, eval_every: 3, eval_batches: 1, mode: dpo, init_from: sft}}\n",
        d = ds.display()
    );
    let exp = tmp.path().join("chain.yaml");
    std::fs::write(&exp, yaml).unwrap();
    let out = tmp.path().join("runs");
    let o = cmd().args(["run", exp.to_str().unwrap(), "--format", "json", "--out", out.to_str().unwrap()]).output().unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&o.stderr)));
    assert_eq!(o.status.code(), Some(0), "{v:#}");
    let runs = v["runs"].as_array().unwrap();
    let dir = |i: usize| PathBuf::from(runs[i]["dir"].as_str().unwrap());
    for r in runs {
        assert_eq!(r["status"], "finished", "{r:#}");
        for k in ["params_total", "params_trainable", "kv_cache_bytes_per_token", "loss"] {
            assert!(r["metrics"][k].is_number(), "{} lacks final {k}", r["name"]);
        }
    }
    // Pretrain: per-step and per-evaluation names, and the checkpoint.
    let pre = events(&dir(0));
    let s = steps(&pre);
    // Step 0 is the evaluation of the starting model, before the first update.
    assert_eq!(s.len(), 7);
    assert!(s[0].contains_key("test.loss") && !s[0].contains_key("train.loss"));
    for k in ["train.loss", "lr", "tokens_per_s"] {
        assert!(s[1..].iter().all(|m| m.contains_key(k)), "{k} in every step");
    }
    assert!(s[3].contains_key("test.loss") && s[3].contains_key("test.bits_per_byte") && !s[1].contains_key("test.loss"));
    assert!(pre.iter().any(|e| e["event"] == "sample"));
    assert!(dir(0).join("model.safetensors").is_file() && dir(0).join("model.json").is_file());
    // SFT with LoRA: few trainable parameters, adapters and the merged model saved.
    let m = &runs[1]["metrics"];
    assert!(m["params_trainable"].as_f64().unwrap() < 0.1 * m["params_total"].as_f64().unwrap());
    assert!(m["exact_match"].is_number());
    assert!(dir(1).join("adapters.safetensors").is_file() && dir(1).join("model.safetensors").is_file());
    // DPO: the preference metrics, train and test; the first loss is ln 2.
    let dpo = events(&dir(2));
    let s = steps(&dpo);
    for k in ["reward_chosen", "reward_rejected", "reward_margin", "preference_accuracy"] {
        assert!(s[1].contains_key(&format!("train.{k}")) && s[3].contains_key(&format!("test.{k}")), "{k}");
    }
    assert!((s[0]["test.loss"].as_f64().unwrap() - std::f64::consts::LN_2).abs() < 1e-5, "the starting policy is its reference");
    assert!((s[1]["train.loss"].as_f64().unwrap() - std::f64::consts::LN_2).abs() < 1e-5);
    // The architecture came from init_from.
    let p: Value = serde_json::from_str(&std::fs::read_to_string(dir(2).join("summary.json")).unwrap()).unwrap();
    assert_eq!(p["params"]["d_model"], 32);
    // A torch run reproduces: rerun --check compares every step (speed figures aside), also
    // for a run that starts from another (found among the records beside it).
    for i in [0, 1] {
        let r = cmd().args(["rerun", dir(i).to_str().unwrap(), "--check"]).output().unwrap();
        assert!(r.status.success(), "{}{}", String::from_utf8_lossy(&r.stdout), String::from_utf8_lossy(&r.stderr));
    }
    // Generation from the saved models.
    let g = cmd().args(["generate", dir(0).to_str().unwrap(), "--prompt", "Once upon", "--max-tokens", "12"]).output().unwrap();
    assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
    assert_eq!(g.stdout.len(), 13, "12 bytes and a newline");
    let g = cmd().args(["generate", dir(2).to_str().unwrap(), "--prompt", "Reverse the word: cat", "--max-tokens", "8"]).output().unwrap();
    assert!(g.status.success());
    // A table run directory is not a language model.
    let bad = cmd().args(["generate", root().join("datasets").to_str().unwrap(), "--prompt", "x"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

fn validate(yaml: &str) -> (i32, String) {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("e.yaml");
    std::fs::write(&p, yaml).unwrap();
    let o = cmd().current_dir(root()).args(["validate", p.to_str().unwrap()]).output().unwrap();
    (o.status.code().unwrap(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn language_model_experiments_are_validated_before_anything_runs() {
    let ds = root().join("datasets");
    let d = ds.display();
    // A mode that does not fit the data.
    let (code, err) = validate(&format!("name: x\ndata: {{path: {d}/tiny-stories.txt, format: text}}\nruns:\n  - name: a\n    algorithm: transformer\n    params: {{mode: sft}}\n"));
    assert_eq!(code, 2);
    assert!(err.contains("runs[0].params.mode") && err.contains("format: instructions"), "{err}");
    // LoRA needs a trained model; init_from must name an earlier run.
    let (code, err) = validate(&format!(
        "name: x\ndata: {{path: {d}/tiny-stories.txt, format: text}}\nruns:\n  - name: a\n    algorithm: transformer\n    params: {{lora: {{rank: 4}}}}\n  - name: b\n    algorithm: transformer\n    params: {{init_from: c}}\n  - name: c\n    algorithm: transformer\n"
    ));
    assert_eq!(code, 2);
    assert!(err.contains("runs[0].params.lora") && err.contains("init_from"), "{err}");
    assert!(err.contains("runs[1].params.init_from") && err.contains("listed before"), "{err}");
    // Table fields do not apply; a table algorithm cannot use text.
    let (code, err) = validate(&format!("name: x\ndata: {{path: {d}/tiny-stories.txt, format: text, target: y}}\nruns:\n  - name: a\n    algorithm: transformer\n"));
    assert_eq!(code, 2);
    assert!(err.contains("data.target") && err.contains("does not apply"), "{err}");
    // A row without a required field: the data file's line and the field.
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"instruction\": \"a\", \"output\": \"b\"}\n{\"instruction\": \"c\"}\n").unwrap();
    let (code, err) = validate(&format!("name: x\ndata: {{path: {}, format: instructions}}\nruns:\n  - name: a\n    algorithm: transformer\n    params: {{mode: sft}}\n", bad.display()));
    assert_eq!(code, 2);
    assert!(err.contains("bad.jsonl:2") && err.contains("'output'"), "{err}");
}

#[test]
fn without_the_torch_worker_a_torch_experiment_says_how_to_get_it() {
    let o = cmd().current_dir(root()).env("RATLAB_TORCH", "/nonexistent/ratlab-torch").args(["validate", "experiments/attention.yaml"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("RATLAB_TORCH") && err.contains("make build"), "{err}");
    // The classical experiments do not need it.
    let o = cmd().current_dir(root()).env("RATLAB_TORCH", "/nonexistent/ratlab-torch").args(["validate", "experiments/knn.yaml"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn ctrl_c_stops_a_torch_run_after_its_current_step() {
    if !worker_built() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("long.yaml");
    let yaml = format!(
        "name: long\nruns:\n  - name: pre\n    algorithm: transformer\n    data: {{path: {}/tiny-stories.txt, format: text}}\n    params: {{{TINY}, context: 32, steps: 100000, eval_every: 1000}}\n",
        root().join("datasets").display()
    );
    std::fs::write(&exp, yaml).unwrap();
    let out = tmp.path().join("runs");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ratlab"))
        .args(["run", exp.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let events_file = loop {
        let found = std::fs::read_dir(&out).ok().and_then(|mut d| d.next()).map(|e| e.unwrap().path().join("events.jsonl"));
        if let Some(f) = found.filter(|f| std::fs::read_to_string(f).map(|t| t.matches("\"step\"").count() >= 3).unwrap_or(false)) {
            break f;
        }
        assert!(std::time::Instant::now() < deadline, "the torch run never stepped");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    assert_eq!(child.wait().unwrap().code(), Some(1));
    let dir = events_file.parent().unwrap();
    let log = ratlab::experiments::store::read_run(dir).unwrap();
    assert!(matches!(log.events.last(), Some(ratlab::experiments::events::RunEvent::Failed { cancelled: true, .. })), "{:?}", log.events.last());
    let s: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["status"], "cancelled");
    assert!(!dir.join("model.safetensors").exists(), "a cancelled run saves no checkpoint");
}
