//! Pretrained models as a user runs them: `ratlab inspect`, `tokenize`, `score` and `generate`
//! on the real SmolLM2-135M-Instruct (fetched by make) against transformers' ids and answer, on
//! the tiny fixtures against their golden outputs, and bad checkpoints refused with exit 2 and a
//! message that says what is wrong.

use crate::lm::worker_built;
use crate::{cmd, root};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixture(p: &str) -> PathBuf {
    root().join("tests/fixtures/pretrained").join(p)
}

fn golden(p: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(p)).unwrap()).unwrap()
}

/// The bundled SmolLM2, which `make build` fetches; required under `make test`.
fn smollm2() -> Option<PathBuf> {
    let p = root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if p.is_file() {
        return Some(p);
    }
    assert!(std::env::var_os("RATLAB_REQUIRE_TORCH").is_none(), "{} is missing: make build fetches it", p.display());
    eprintln!("skipped: {} is not fetched (make build fetches it)", p.display());
    None
}

fn json_out(args: &[&str]) -> Value {
    let out = cmd().args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()
}

#[test]
fn inspect_describes_smollm2() {
    let Some(m) = smollm2() else { return };
    let j = json_out(&["inspect", m.to_str().unwrap(), "--json"]);
    for (k, v) in [("layers", 30), ("d_model", 576), ("heads", 9), ("kv_heads", 3), ("head_dim", 64), ("ffn", 1536), ("vocab", 49152), ("context", 8192), ("params", 134_515_008)] {
        assert_eq!(j[k], v, "{k}");
    }
    assert_eq!(j["architecture"], "llama");
    assert_eq!(j["rope_base"], 100000.0);
    assert_eq!(j["tied"], true);
    assert_eq!(j["chat_template"], true);
    assert_eq!(j["tokenizer"], "gpt2 (smollm)");
    let types: Vec<(String, u64)> = j["tensor_types"].as_array().unwrap().iter().map(|t| (t["type"].as_str().unwrap().to_string(), t["tensors"].as_u64().unwrap())).collect();
    assert_eq!(types, vec![("F32".into(), 61), ("Q4_1".into(), 210), ("Q8_0".into(), 1)]);
    assert_eq!(j["special_tokens"].as_array().unwrap().len(), 17);
    assert_eq!(j["eos_token"], "<|im_end|>");
    let text = cmd().args(["inspect", m.to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("9 / 3 (GQA") && text.contains("tied"), "{text}");
}

#[test]
fn smollm2_tokenizes_as_hugging_face() {
    let Some(m) = smollm2() else { return };
    let g = golden("smollm2.json");
    for (text, ids) in g["texts"].as_array().unwrap().iter().zip(g["ids"].as_array().unwrap()) {
        let j = json_out(&["tokenize", m.to_str().unwrap(), "--text", text.as_str().unwrap(), "--json"]);
        assert_eq!(ints(&j["ids"]), ints(ids), "{text}");
        assert_eq!(j["tokens"].as_array().unwrap().len(), ids.as_array().unwrap().len());
    }
}

#[test]
fn smollm2_answers_the_chat_prompt_as_transformers_does() {
    let Some(m) = smollm2() else { return };
    if !worker_built() {
        return;
    }
    let g = golden("smollm2.json");
    let out = cmd().args(["generate", m.to_str().unwrap(), "--chat", "--json", "--max-tokens", "24", "--prompt", "What is the capital of France?", "--prompt", "Say hello."]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "one line per prompt, one model load");
    let first = &lines[0];
    assert_eq!(first["prompt"], "What is the capital of France?");
    assert_eq!(ints(&first["ids"]), ints(&g["greedy"]), "greedy ids, end of turn included");
    assert_eq!(first["text"], "The capital of France is Paris.");
    let lp = first["logprobs"].as_array().unwrap();
    assert_eq!(lp.len(), first["ids"].as_array().unwrap().len());
    assert!(lp.iter().all(|v| v.as_f64().unwrap() <= 0.0));
    assert!(first["tokens_per_s"].as_f64().unwrap() > 0.0);
}

/// The tiny fixtures through the commands: the golden sequence scored and continued.
#[test]
fn score_and_generate_match_the_golden_outputs_on_the_tiny_models() {
    if !worker_built() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for arch in ["llama", "qwen2"] {
        let g = golden(&format!("{arch}/golden.json"));
        // The string scripts/pretrained_fixtures.py encoded as the golden sequence.
        let text = "<|im_start|>user\nOnce upon a time<|im_end|>\n<|im_start|>assistant\nThere was a little girl.";
        let file = tmp.path().join(format!("{arch}.txt"));
        std::fs::write(&file, text).unwrap();
        for model in ["hf", "Q4_K.gguf"] {
            let m = fixture(&format!("{arch}/{model}"));
            let t = json_out(&["tokenize", m.to_str().unwrap(), "--text", text, "--json"]);
            assert_eq!(ints(&t["ids"]), ints(&g["sequence"]), "{arch} {model}");
            let key = model.trim_end_matches(".gguf");
            let s = json_out(&["score", m.to_str().unwrap(), "--file", file.to_str().unwrap(), "--json", "--device", "cpu"]);
            let want = g["models"][key]["nll"].as_f64().unwrap();
            assert_eq!(s["tokens"].as_u64().unwrap() as usize, g["sequence"].as_array().unwrap().len() - 1);
            assert!((s["nll"].as_f64().unwrap() - want).abs() < 1e-4, "{arch} {model}: {s}");
            assert!((s["perplexity"].as_f64().unwrap() / want.exp() - 1.0).abs() < 1e-3);
            let bpb = want * s["tokens"].as_f64().unwrap() / std::f64::consts::LN_2 / text.len() as f64;
            assert!((s["bits_per_byte"].as_f64().unwrap() - bpb).abs() < 1e-4);
            let gen = json_out(&["generate", m.to_str().unwrap(), "--prompt", text, "--max-tokens", "12", "--json", "--device", "cpu"]);
            assert_eq!(ints(&gen["ids"]), ints(&g["models"][key]["greedy"]), "{arch} {model}");
        }
    }
}

fn fails_with(args: &[&str], expect: &[&str]) {
    let out = cmd().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    for e in expect {
        assert!(err.contains(e), "{args:?}: expected {e:?} in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

/// Byte position just after the first occurrence of `needle`.
fn after(b: &[u8], needle: &[u8]) -> usize {
    b.windows(needle.len()).position(|w| w == needle).unwrap() + needle.len()
}

fn copy_dir(from: &Path, to: &Path, skip: &str) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_name() != skip {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn bad_checkpoints_are_refused_with_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let good = std::fs::read(fixture("llama/F32.gguf")).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = tmp.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_string()
    };
    let truncated = write("truncated.gguf", &good[..good.len() / 2]);
    fails_with(&["inspect", &truncated], &["truncated.gguf", "truncated"]);
    let mut lying = good.clone();
    lying[16..24].copy_from_slice(&(1u64 << 50).to_le_bytes()); // the metadata count
    let lying = write("lying.gguf", &lying);
    fails_with(&["inspect", &lying], &["lying.gguf", "metadata count"]);
    let mut unknown = good.clone();
    let at = after(&good, b"token_embd.weight") + 4 + 16; // n_dims, two dims, then the type
    unknown[at..at + 4].copy_from_slice(&77u32.to_le_bytes());
    let unknown = write("unknown.gguf", &unknown);
    fails_with(&["inspect", &unknown], &["token_embd.weight", "77"]);
    let mut arch = good.clone();
    let at = after(&good, b"general.architecture") + 4 + 8; // value type, string length
    arch[at..at + 5].copy_from_slice(b"mamba");
    let arch = write("arch.gguf", &arch);
    fails_with(&["inspect", &arch], &["\"mamba\"", "llama"]);
    fails_with(&["tokenize", &arch, "--text", "x"], &["mamba"]);
    // A Hugging Face directory of another architecture, and one without its tokenizer.
    let neox = tmp.path().join("neox");
    copy_dir(&fixture("llama/hf"), &neox, "");
    let cfg = std::fs::read_to_string(neox.join("config.json")).unwrap().replace("LlamaForCausalLM", "GPTNeoXForCausalLM").replace("\"llama\"", "\"gpt_neox\"");
    std::fs::write(neox.join("config.json"), cfg).unwrap();
    fails_with(&["inspect", neox.to_str().unwrap()], &["GPTNeoXForCausalLM", "not supported"]);
    let notok = tmp.path().join("notok");
    copy_dir(&fixture("llama/hf"), &notok, "tokenizer.json");
    fails_with(&["tokenize", notok.to_str().unwrap(), "--text", "x"], &["tokenizer.json"]);
    if worker_built() {
        fails_with(&["generate", notok.to_str().unwrap(), "--prompt", "x", "--device", "cpu"], &["tokenizer.json"]);
        fails_with(&["generate", &truncated, "--prompt", "x", "--device", "cpu"], &["truncated"]);
        let text = write("text.txt", b"Once upon a time");
        fails_with(&["score", &unknown, "--file", &text, "--device", "cpu"], &["token_embd.weight"]);
    }
    let out = cmd().args(["inspect", notok.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "inspect still describes a model whose tokenizer is missing");
    assert!(String::from_utf8_lossy(&out.stdout).contains("tokenizer          none"));
}

/// `init_from` takes a checkpoint: its shape wins, a conflicting YAML value is an error, and the
/// context may not exceed the model's.
#[test]
fn init_from_a_checkpoint_is_validated_against_its_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let gguf = fixture("llama/Q8_0.gguf");
    let exp = |params: &str| {
        let p = tmp.path().join("e.yaml");
        std::fs::write(&p, format!("name: e\nruns:\n  - name: r\n    algorithm: transformer\n    backend: torch\n    data: {{path: {}, format: text}}\n    params: {{{params}}}\n", root().join("datasets/tiny-stories.txt").display())).unwrap();
        p
    };
    let ok = exp(&format!("init_from: {}, steps: 0, context: 128", gguf.display()));
    let out = cmd().args(["validate", ok.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bad = exp(&format!("init_from: {}, heads: 8, steps: 0", gguf.display()));
    fails_with(&["validate", bad.to_str().unwrap()], &["params.heads", "is 8 here but 4"]);
    let long = exp(&format!("init_from: {}, steps: 0, context: 4096", gguf.display()));
    fails_with(&["validate", long.to_str().unwrap()], &["params.context", "256"]);
    let zero = exp("steps: 0");
    fails_with(&["validate", zero.to_str().unwrap()], &["steps", "init_from"]);
}

/// The bundled experiment: SmolLM2 scored on the bundled text and answering the bundled
/// questions in its chat template, the answers recorded as samples for the Run view.
#[test]
fn the_smollm2_experiment_scores_the_model_and_records_its_answers() {
    let Some(_) = smollm2() else { return };
    if !worker_built() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = cmd().args(["run", "experiments/smollm2.yaml", "--out", tmp.path().to_str().unwrap(), "--format", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    let events = |d: &Path| -> Vec<Value> { std::fs::read_to_string(d.join("events.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect() };
    let score = dirs.iter().find(|d| d.to_string_lossy().ends_with("-score")).unwrap();
    let fin = events(score).into_iter().find(|e| e["event"] == "finished").unwrap();
    let bpb = fin["metrics"]["bits_per_byte"].as_f64().unwrap();
    assert!(bpb > 0.3 && bpb < 1.5, "SmolLM2 on plain English: {bpb} bits per byte");
    let answers = dirs.iter().find(|d| d.to_string_lossy().ends_with("-answers")).unwrap();
    let evs = events(answers);
    let samples: Vec<&Value> = evs.iter().filter(|e| e["event"] == "sample").collect();
    assert_eq!(samples.len(), 3, "the answers to 3 test prompts");
    assert_eq!(samples[0]["text"], "The capital of France is Paris.");
    assert!(samples[0]["prompt"].as_str().unwrap().ends_with("<|im_start|>assistant\n"));
    let fin = evs.iter().find(|e| e["event"] == "finished").unwrap();
    assert!(fin["metrics"]["exact_match"].as_f64().unwrap() >= 1.0 / 6.0);
}

/// LoRA's targets: all seven projections by default on a pretrained model, `targets: all` the
/// same by name, and the query and value by default on ratlab's own byte model; the run records
/// say which.
#[test]
fn lora_targets_default_to_all_seven_on_a_pretrained_model() {
    if !worker_built() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let gguf = fixture("llama/Q8_0.gguf");
    let text = root().join("datasets/tiny-stories.txt");
    let run = |name: &str, params: &str| format!("  - name: {name}\n    algorithm: transformer\n    backend: torch\n    params: {{{params}}}\n");
    let yaml = format!(
        "name: t\ndata: {{path: {}, format: text}}\nruns:\n{}{}{}{}",
        text.display(),
        run("pre", &format!("init_from: {}, steps: 1, context: 32, batch_size: 2, eval_batches: 1, lora: {{rank: 2}}", gguf.display())),
        run("named", &format!("init_from: {}, steps: 1, context: 32, batch_size: 2, eval_batches: 1, lora: {{rank: 2, targets: all}}", gguf.display())),
        run("bytes", "steps: 1, layers: 1, d_model: 16, heads: 2, context: 16, batch_size: 2, eval_batches: 1"),
        run("tuned", "init_from: bytes, steps: 1, context: 16, batch_size: 2, eval_batches: 1, lora: {rank: 2}"),
    );
    let file = tmp.path().join("t.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = cmd().args(["run", file.to_str().unwrap(), "--out", tmp.path().join("runs").to_str().unwrap(), "--format", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let targets = |run: &str| -> Value {
        let dir = std::fs::read_dir(tmp.path().join("runs")).unwrap().map(|e| e.unwrap().path()).find(|d| d.to_string_lossy().ends_with(&format!("-{run}"))).unwrap();
        let first = std::fs::read_to_string(dir.join("events.jsonl")).unwrap().lines().next().map(|l| serde_json::from_str::<Value>(l).unwrap()).unwrap();
        first["params"]["lora"]["targets"].clone()
    };
    let all = serde_json::json!(["q", "k", "v", "o", "gate", "up", "down"]);
    assert_eq!(targets("pre"), all);
    assert_eq!(targets("named"), all);
    assert_eq!(targets("tuned"), serde_json::json!(["q", "v"]));
}

/// `ratlab export-model`: a LoRA run tuned from a GGUF checkpoint exported three ways, the f32
/// GGUF scoring exactly as the run does; and the refusals, each exit 2 with what is wrong: PEFT
/// from a full fine-tune, a byte-level model, a run that did not finish, and a path that
/// already holds files (left as it was).
#[test]
fn export_model_writes_three_formats_and_refuses_what_it_cannot_export() {
    if !worker_built() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let gguf = fixture("llama/Q8_0.gguf");
    let rows: String = (0..20).map(|i| format!("{{\"instruction\": \"Say the number {i}\", \"output\": \"{i}\"}}\n")).collect();
    std::fs::write(tmp.path().join("i.jsonl"), rows).unwrap();
    let run = |name: &str, params: &str| format!("  - name: {name}\n    algorithm: transformer\n    backend: torch\n    params: {{{params}}}\n");
    let common = "mode: sft, steps: 2, context: 64, batch_size: 2, eval_batches: 1, max_length: 64";
    let yaml = format!(
        "name: x\ndata: {{path: i.jsonl, format: instructions}}\nruns:\n{}{}  - name: bytes\n    algorithm: transformer\n    backend: torch\n    data: {{path: {}, format: text}}\n    params: {{steps: 1, layers: 1, d_model: 16, heads: 2, context: 16, batch_size: 2, eval_batches: 1}}\n",
        run("lora", &format!("init_from: {}, {common}, lora: {{rank: 2}}", gguf.display())),
        run("full", &format!("init_from: {}, {common}", gguf.display())),
        root().join("datasets/tiny-stories.txt").display(),
    );
    std::fs::write(tmp.path().join("x.yaml"), yaml).unwrap();
    let runs = tmp.path().join("runs");
    let out = cmd().current_dir(tmp.path()).args(["run", "x.yaml", "--out", runs.to_str().unwrap(), "--format", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dir = |name: &str| std::fs::read_dir(&runs).unwrap().map(|e| e.unwrap().path()).find(|d| d.to_string_lossy().ends_with(&format!("-{name}"))).unwrap();
    let export = |run: &Path, args: &[&str]| cmd().args(["export-model", run.to_str().unwrap()]).args(args).output().unwrap();
    let to = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();
    for (format, path, files) in [("hf", to("hf"), &["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"][..]), ("peft", to("peft"), &["adapter_config.json", "adapter_model.safetensors"][..])] {
        let o = export(&dir("lora"), &["--format", format, "--to", &path]);
        assert!(o.status.success(), "{format}: {}", String::from_utf8_lossy(&o.stderr));
        for f in files {
            assert!(Path::new(&path).join(f).is_file(), "{format} writes {f}");
        }
    }
    let o = export(&dir("lora"), &["--format", "gguf", "--to", &to("m.gguf")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = tmp.path().join("t.txt");
    std::fs::write(&text, "Say the number 12. Then say the number 7, and 3.").unwrap();
    let score = |m: &str| json_out(&["score", m, "--file", text.to_str().unwrap(), "--json", "--device", "cpu"])["nll"].as_f64().unwrap();
    let (a, b, c) = (score(dir("lora").to_str().unwrap()), score(&to("m.gguf")), score(&to("hf")));
    assert!((a - b).abs() < 1e-5 && (a - c).abs() < 1e-5, "run {a}, gguf {b}, hf {c}");
    fails_with(&["export-model", dir("full").to_str().unwrap(), "--format", "peft", "--to", &to("p2")], &["full fine-tune", "--format hf"]);
    fails_with(&["export-model", dir("bytes").to_str().unwrap(), "--format", "hf", "--to", &to("h2")], &["byte-level"]);
    fails_with(&["export-model", dir("lora").to_str().unwrap(), "--format", "hf", "--to", &to("hf")], &["not an empty directory"]);
    fails_with(&["export-model", dir("lora").to_str().unwrap(), "--format", "gguf", "--to", &to("m.gguf")], &["exists"]);
    // A run whose record stops before it finished.
    let cut = tmp.path().join("cut");
    copy_dir(&dir("lora"), &cut, "");
    let events = std::fs::read_to_string(cut.join("events.jsonl")).unwrap();
    let kept: String = events.lines().filter(|l| !l.contains("\"finished\"")).map(|l| format!("{l}\n")).collect();
    std::fs::write(cut.join("events.jsonl"), kept).unwrap();
    let _ = std::fs::remove_file(cut.join("summary.json"));
    fails_with(&["export-model", cut.to_str().unwrap(), "--format", "hf", "--to", &to("h3")], &["did not finish"]);
    assert!(!tmp.path().join("h2").exists() && !tmp.path().join("h3").exists() && !tmp.path().join("p2").exists());
}

/// The bundled LoRA experiment, cut short (`--set`): SmolLM2 scored as it is, LoRA SFT from it
/// answering more test instructions exactly than the base after a few steps, DPO from the SFT
/// run starting at ln 2 against it, and the DPO model's answers recorded.
#[test]
fn the_smollm2_lora_experiment_tunes_the_model_with_sft_and_dpo() {
    let Some(_) = smollm2() else { return };
    if !worker_built() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let sets = ["data.split.test=0.03", "runs.1.params.steps=6", "runs.1.params.eval_every=6", "runs.2.params.steps=2", "runs.2.params.eval_every=2", "runs.2.params.eval_batches=1"];
    let mut args = vec!["run", "experiments/smollm2-lora.yaml", "--out", tmp.path().to_str().unwrap(), "--format", "json"];
    for s in &sets {
        args.extend(["--set", s]);
    }
    let out = cmd().args(&args).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert!(out.status.success(), "{v:#}");
    let runs = v["runs"].as_array().unwrap();
    let metric = |i: usize, k: &str| runs[i]["metrics"][k].as_f64().unwrap_or_else(|| panic!("{} has no {k}: {:#}", runs[i]["name"], runs[i]));
    assert_eq!(metric(0, "exact_match"), 0.0, "the base model does not write dates this way");
    assert!(metric(1, "exact_match") > 0.5, "LoRA SFT learns the rule in a few steps: {}", metric(1, "exact_match"));
    assert_eq!(metric(1, "params_trainable"), 2_442_240.0, "rank 8 on all seven projections of SmolLM2");
    let dpo = std::fs::read_to_string(Path::new(runs[2]["dir"].as_str().unwrap()).join("events.jsonl")).unwrap();
    let step0: Value = dpo.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|e| e["event"] == "step").unwrap();
    assert!((step0["metrics"]["test.loss"].as_f64().unwrap() - std::f64::consts::LN_2).abs() < 1e-4, "{step0}");
    // The DPO model answers the same test instructions: three sample answers, and exact match.
    let answers = std::fs::read_to_string(Path::new(runs[3]["dir"].as_str().unwrap()).join("events.jsonl")).unwrap();
    assert_eq!(answers.lines().filter(|l| l.contains("\"event\":\"sample\"")).count(), 3);
    assert!((0.0..=1.0).contains(&metric(3, "exact_match")));
}

/// Tuning data that cannot be trained on is refused before anything runs (exit 2, naming the
/// file, row and what is wrong): a chat template that fails on a conversation (a system turn it
/// refuses), and a chat-form row with a role that does not exist.
#[test]
fn tuning_data_a_template_cannot_render_is_refused_before_running() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    copy_dir(&fixture("llama/hf"), &model, "");
    let cfg_path = model.join("tokenizer_config.json");
    let mut cfg: Value = serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    cfg["chat_template"] = "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}".into();
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let chat = |role: &str| format!("{{\"messages\": [{{\"role\": \"{role}\", \"content\": \"Be brief.\"}}, {{\"role\": \"user\", \"content\": \"Hi\"}}, {{\"role\": \"assistant\", \"content\": \"Hello.\"}}]}}\n");
    std::fs::write(tmp.path().join("ok.jsonl"), chat("user").repeat(3) + &chat("system")).unwrap();
    std::fs::write(tmp.path().join("bad.jsonl"), chat("user") + &chat("robot")).unwrap();
    let exp = |data: &str| {
        let p = tmp.path().join(format!("{data}.yaml"));
        std::fs::write(&p, format!("name: t\nruns:\n  - name: r\n    algorithm: transformer\n    backend: torch\n    data: {{path: {data}.jsonl, format: instructions}}\n    params: {{mode: sft, init_from: model, steps: 1, context: 64}}\n")).unwrap();
        p.to_str().unwrap().to_string()
    };
    fails_with(&["validate", &exp("ok")], &["params.init_from", "chat template", "fails on row 4", "ok.jsonl", "System role not supported"]);
    fails_with(&["run", &exp("ok"), "--out", tmp.path().join("runs").to_str().unwrap()], &["System role not supported"]);
    assert!(!tmp.path().join("runs").exists(), "nothing ran");
    fails_with(&["validate", &exp("bad")], &["bad.jsonl:2", "role 'robot' is not allowed; expected system, user or assistant"]);
}
