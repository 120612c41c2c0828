//! Pretrained checkpoints against Hugging Face transformers: the tiny LLaMA and qwen2 fixtures of
//! `scripts/pretrained_fixtures.py`, as a Hugging Face directory and as GGUF in every type ratlab
//! reads, each against the logits and greedy continuation that transformers computed on the same
//! file (`golden.json`). Both sides run f32 on the same dequantized weights, so the tolerances
//! are float noise: 2e-3 on logits of magnitude ~10, 1e-4 on the mean loss.

use crate::pretrained::{self, Lm, Sampler};
use serde_json::Value;
use std::path::PathBuf;
use tch::{Kind, Tensor};

fn fixtures(arch: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/pretrained").join(arch)
}

fn golden(arch: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures(arch).join("golden.json")).unwrap()).unwrap()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()
}

fn check_model(arch: &str, name: &str, g: &Value) {
    let path = if name == "hf" { fixtures(arch).join("hf") } else { fixtures(arch).join(format!("{name}.gguf")) };
    let lm = Lm::load(&path, "cpu").unwrap_or_else(|e| panic!("{arch} {name}: {e}"));
    let want = &g["models"][name];
    let seq = ints(&g["sequence"]);
    let logits = tch::no_grad(|| lm.model.forward(&Tensor::from_slice(&seq).unsqueeze(0), None, false)).squeeze_dim(0).to_kind(Kind::Float);
    let last = logits.get(-1);
    for pair in want["top20"].as_array().unwrap() {
        let (i, v) = (pair[0].as_i64().unwrap(), pair[1].as_f64().unwrap());
        let got = f64::try_from(last.get(i)).unwrap();
        assert!((got - v).abs() < 2e-3, "{arch} {name}: logit of {i} is {got}, transformers {v}");
    }
    let lse = f64::try_from(last.logsumexp([0i64], false)).unwrap();
    assert!((lse - want["logsumexp"].as_f64().unwrap()).abs() < 2e-3, "{arch} {name}: logsumexp {lse}");
    let argmax: Vec<i64> = Vec::try_from(logits.argmax(-1, false)).unwrap();
    assert_eq!(argmax, ints(&want["argmax"]), "{arch} {name}: argmax at every position");
    let s = pretrained::score(&lm, &seq, 1 << 20);
    let nll = s.nll_sum / s.tokens as f64;
    assert!((nll - want["nll"].as_f64().unwrap()).abs() < 1e-4, "{arch} {name}: mean loss {nll}, transformers {}", want["nll"]);
    // Greedy with the KV cache, stopping at EOS as transformers does.
    let out = pretrained::generate(&lm, &seq, 12, Sampler { temperature: 0.0, top_k: 0, top_p: 1.0 }, true, |_| {});
    assert_eq!(out.ids, ints(&want["greedy"]), "{arch} {name}: greedy continuation");
}

#[test]
fn tiny_llama_matches_transformers_in_every_format() {
    let g = golden("llama");
    for name in ["hf", "F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"] {
        check_model("llama", name, &g);
    }
}

#[test]
fn tiny_qwen2_matches_transformers_in_every_format() {
    let g = golden("qwen2");
    for name in ["hf", "F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"] {
        check_model("qwen2", name, &g);
    }
}

/// The GGUF-rebuilt tokenizer and tokenizer.json give the ids the tokenizers library gave
/// transformers, special tokens in the text included.
#[test]
fn tokenizers_from_gguf_and_tokenizer_json_give_transformers_ids() {
    for arch in ["llama", "qwen2"] {
        let g = golden(arch);
        for path in [fixtures(arch).join("hf"), fixtures(arch).join("Q8_0.gguf")] {
            let tk = ratlab::data::pretrained::Pretrained::open(&path).unwrap().tokenizer().unwrap();
            for (text, ids) in g["texts"].as_array().unwrap().iter().zip(g["ids"].as_array().unwrap()) {
                let got: Vec<i64> = tk.encode(text.as_str().unwrap()).unwrap().into_iter().map(i64::from).collect();
                assert_eq!(got, ints(ids), "{arch} {}: {text}", path.display());
            }
            assert_eq!(tk.stops, vec![2], "{arch}: <|im_end|> ends generation");
        }
    }
}

/// A run that starts from a GGUF checkpoint trains with the model's shape and tokenizer: SFT
/// with LoRA on instructions (one in the chat form) lowers the test loss, the run saves a model
/// whose `model.json` names the checkpoint's tokenizer, and that run answers in the template.
#[test]
fn sft_from_a_gguf_checkpoint_trains_saves_and_generates_with_its_tokenizer() {
    use crate::tests::{job, run, series};
    use ratlab::backends::params::{LmMode, LoraConfig};
    use ratlab::data::lm::{LmDataConfig, LmFormat};
    use ratlab::experiments::events::RunEvent;
    let d = tempfile::tempdir().unwrap();
    let mut rows = String::new();
    for i in 0..24 {
        rows.push_str(&format!("{{\"instruction\": \"Say the number {i}\", \"output\": \"The number is {i}.\"}}\n"));
    }
    rows.push_str("{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello there.\"}]}\n");
    let data = d.path().join("i.jsonl");
    std::fs::write(&data, rows).unwrap();
    let mut p = pretrained::inference_template("cpu");
    p.mode = LmMode::Sft;
    p.context = 128;
    p.steps = 30;
    p.batch_size = 8;
    p.learning_rate = 3e-3;
    p.warmup_steps = 3;
    p.eval_every = 15;
    p.eval_batches = 2;
    p.grad_clip = 1.0;
    p.lora = Some(LoraConfig { rank: 8, alpha: 16.0, dropout: 0.0, targets: vec!["q".into(), "k".into(), "v".into(), "o".into(), "down".into()] });
    let out = d.path().join("run");
    std::fs::create_dir(&out).unwrap();
    let data = LmDataConfig { path: data, format: LmFormat::Instructions, test: 0.2, test_path: None };
    let evs = run(&job(p, data, Some(&out), Some(&fixtures("llama").join("Q8_0.gguf"))));
    // Evaluated before the first update (step 0), at 15 and at 30.
    let loss = series(&evs, "test.loss");
    assert!(loss.len() == 3 && loss[2] < loss[0], "test loss {loss:?}");
    let samples = evs.iter().filter(|e| matches!(e, RunEvent::Sample { step: 0, .. })).count();
    assert_eq!(samples, 3, "the starting model answers 3 test prompts");
    let Some(RunEvent::Finished { metrics, .. }) = evs.last() else { panic!() };
    assert!(metrics["params_trainable"] < metrics["params_total"] / 4.0, "LoRA trains the adapters only");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(out.join("model.json")).unwrap()).unwrap();
    assert_eq!(doc["tokenizer"]["kind"], "checkpoint");
    assert_eq!(doc["params"]["shape"]["vocab"], 384);
    let lm = Lm::load(&out, "cpu").unwrap();
    assert!(lm.tuned && !lm.bytes());
    let prompt = lm.prompt("Say the number 7", false, false).unwrap();
    assert!(prompt.ends_with("<|im_start|>assistant\n"), "{prompt}");
    let ids = lm.encode(&prompt).unwrap();
    let got = pretrained::generate(&lm, &ids, 12, Sampler::GREEDY, true, |_| {});
    assert!(!got.ids.is_empty());
}

/// DPO from a checkpoint: pairs in the model's chat template, the frozen reference is the
/// checkpoint itself, so the first loss is ln 2.
#[test]
fn dpo_from_a_gguf_checkpoint_starts_at_ln2() {
    use crate::tests::{job, run, series};
    use ratlab::backends::params::LmMode;
    use ratlab::data::lm::{LmDataConfig, LmFormat};
    let d = tempfile::tempdir().unwrap();
    let rows: String = (0..20).map(|i| format!("{{\"prompt\": \"Is {i} even?\", \"chosen\": \"{}\", \"rejected\": \"{}\"}}\n", if i % 2 == 0 { "Yes." } else { "No." }, if i % 2 == 0 { "No." } else { "Yes." })).collect();
    let data = d.path().join("p.jsonl");
    std::fs::write(&data, rows).unwrap();
    let p = tuning(LmMode::Dpo, 128, 4, 4, 1e-3);
    let data = LmDataConfig { path: data, format: LmFormat::Preferences, test: 0.2, test_path: None };
    let evs = run(&job(p, data, None, Some(&fixtures("qwen2").join("Q6_K.gguf"))));
    let first = series(&evs, "train.loss")[0];
    assert!((first - std::f64::consts::LN_2).abs() < 1e-5, "first DPO loss {first}");
}

/// DPO with LoRA on a checkpoint: the reference is the same model with its adapters switched
/// off (no second copy), so the first loss is ln 2; the adapters sit on all seven projections by
/// default with exactly r·(in + out) parameters each; two micro-batches per step; and the
/// preference accuracy on the training pairs rises.
#[test]
fn lora_dpo_on_a_checkpoint_starts_at_ln2_against_its_own_base_and_learns() {
    use crate::tests::{job, run, series};
    use ratlab::backends::params::{LmMode, LoraConfig};
    use ratlab::data::lm::{LmDataConfig, LmFormat};
    use ratlab::experiments::events::RunEvent;
    let d = tempfile::tempdir().unwrap();
    let rows: String = (0..24).map(|i| format!("{{\"prompt\": \"Colour {i}?\", \"chosen\": \"Blue {i}.\", \"rejected\": \"Red, I think.\"}}\n")).collect();
    let data = d.path().join("p.jsonl");
    std::fs::write(&data, rows).unwrap();
    let ckpt = fixtures("llama").join("Q8_0.gguf");
    let mut p = tuning(LmMode::Dpo, 64, 12, 4, 1e-2);
    p.grad_accum = 2;
    p.warmup_steps = 0;
    p.beta = 0.5;
    // Targets left empty: the worker's default for a pretrained model is all seven.
    p.lora = Some(LoraConfig { rank: 4, alpha: 8.0, dropout: 0.0, targets: Vec::new() });
    let data = LmDataConfig { path: data, format: LmFormat::Preferences, test: 0.25, test_path: None };
    let evs = run(&job(p, data, None, Some(&ckpt)));
    let first = series(&evs, "train.loss")[0];
    assert!((first - std::f64::consts::LN_2).abs() < 1e-5, "first DPO loss {first}");
    let test0 = series(&evs, "test.loss")[0];
    assert!((test0 - std::f64::consts::LN_2).abs() < 1e-5, "step-0 test loss {test0}");
    let acc = series(&evs, "train.preference_accuracy");
    let (early, late) = (acc[..3].iter().sum::<f64>() / 3.0, acc[acc.len() - 3..].iter().sum::<f64>() / 3.0);
    assert!(late > early && late > 0.9, "accuracy {acc:?}");
    let c = ratlab::data::pretrained::Pretrained::open(&ckpt).unwrap().config;
    let (d_model, q, kv, ffn) = (c.d_model, c.heads * c.head_dim, c.kv_heads * c.head_dim, c.ffn);
    let per_layer = [(d_model, q), (d_model, kv), (d_model, kv), (q, d_model), (d_model, ffn), (d_model, ffn), (ffn, d_model)].iter().map(|(i, o)| 4 * (i + o)).sum::<usize>();
    let Some(RunEvent::Finished { metrics, .. }) = evs.last() else { panic!() };
    assert_eq!(metrics["params_trainable"], (c.layers * per_layer) as f64);
}

/// Settings of a short tuning run on a tiny checkpoint (evaluated at its start and end).
fn tuning(mode: ratlab::backends::params::LmMode, context: usize, steps: usize, batch_size: usize, learning_rate: f64) -> ratlab::backends::params::TransformerParams {
    let mut p = pretrained::inference_template("cpu");
    p.mode = mode;
    p.context = context;
    p.steps = steps;
    p.batch_size = batch_size;
    p.learning_rate = learning_rate;
    p.eval_every = steps;
    p.eval_batches = 1;
    p
}

fn logits_of(lm: &Lm, seq: &[i64]) -> Tensor {
    tch::no_grad(|| lm.model.forward(&Tensor::from_slice(seq).unsqueeze(0), None, false)).squeeze_dim(0)
}

/// LoRA as PEFT computes it: PEFT's own adapter for the tiny llama (all seven projections, rank
/// 4, α 8, random non-zero A and B; `scripts/pretrained_fixtures.py --peft`) loaded into
/// ratlab's adapters gives the logits PeftModel gave, and ratlab's PEFT export of those adapters
/// has PEFT's names, shapes, values and settings.
#[test]
fn lora_computes_what_peft_computes_and_exports_with_its_names() {
    use ratlab::backends::params::LoraConfig;
    use ratlab::data::pretrained::export::{self, LoraSettings, Named};
    use ratlab::data::pretrained::Pretrained;
    let pre = Pretrained::open(&fixtures("llama").join("hf")).unwrap();
    let mut p = pretrained::params_for(&pre.config, pre.rope_factors().unwrap(), &pretrained::inference_template("cpu"));
    let targets: Vec<String> = LoraConfig::TARGETS.iter().map(|t| t.to_string()).collect();
    p.lora = Some(LoraConfig { rank: 4, alpha: 8.0, dropout: 0.0, targets: targets.clone() });
    let built = pretrained::build_from(&pre, &p, tch::Device::Cpu, true).unwrap();
    let peft_dir = fixtures("llama").join("peft");
    let theirs = export::read_safetensors(&peft_dir.join("adapter_model.safetensors")).unwrap();
    let adapters = built.adapters.as_ref().unwrap().variables();
    assert_eq!(adapters.len(), theirs.len(), "one A and one B per projection and layer");
    tch::no_grad(|| {
        for (name, var) in &adapters {
            let peft = export::peft_name_of(name).unwrap();
            let t = theirs.iter().find(|t| t.name == peft).unwrap_or_else(|| panic!("PEFT has no {peft}"));
            let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
            assert_eq!(var.size(), shape, "{name}");
            var.shallow_clone().copy_(&Tensor::from_slice(&t.values).view(shape.as_slice()));
        }
    });
    let g: Value = serde_json::from_str(&std::fs::read_to_string(peft_dir.join("golden.json")).unwrap()).unwrap();
    let seq = ints(&g["sequence"]);
    let logits = tch::no_grad(|| built.model.forward(&Tensor::from_slice(&seq).unsqueeze(0), None, false)).squeeze_dim(0);
    let last = logits.get(-1);
    for pair in g["peft"]["top20"].as_array().unwrap() {
        let (i, v) = (pair[0].as_i64().unwrap(), pair[1].as_f64().unwrap());
        let got = f64::try_from(last.get(i)).unwrap();
        assert!((got - v).abs() < 2e-3, "logit of {i} is {got}, PEFT {v}");
    }
    let argmax: Vec<i64> = Vec::try_from(logits.argmax(-1, false)).unwrap();
    assert_eq!(argmax, ints(&g["peft"]["argmax"]));
    // Exported back, the adapter is PEFT's file.
    let ours: Vec<Named> = adapters.iter().map(|(n, t)| Named { name: n.clone(), shape: t.size().iter().map(|&d| d as usize).collect(), values: Vec::try_from(t.flatten(0, -1)).unwrap() }).collect();
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("peft");
    export::write_peft(&ours, &LoraSettings { rank: 4, alpha: 8.0, dropout: 0.0, targets }, "base", &out).unwrap();
    let back = export::read_safetensors(&out.join("adapter_model.safetensors")).unwrap();
    assert_eq!(back.len(), theirs.len());
    for (a, b) in back.iter().zip(&theirs) {
        assert_eq!((&a.name, &a.shape), (&b.name, &b.shape));
        assert!(a.values.iter().zip(&b.values).all(|(x, y)| (x - y).abs() < 1e-7), "{}", a.name);
    }
    let config = |p: &std::path::Path| -> Value { serde_json::from_str(&std::fs::read_to_string(p.join("adapter_config.json")).unwrap()).unwrap() };
    let (mine, peft) = (config(&out), config(&peft_dir));
    for k in ["peft_type", "task_type", "r", "lora_alpha", "lora_dropout", "bias", "fan_in_fan_out", "use_rslora", "use_dora"] {
        assert_eq!(mine[k].as_f64().map(Value::from).unwrap_or(mine[k].clone()), peft[k].as_f64().map(Value::from).unwrap_or(peft[k].clone()), "{k}");
    }
    let modules = |v: &Value| -> std::collections::BTreeSet<String> { v["target_modules"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect() };
    assert_eq!(modules(&mine), modules(&peft));
}

/// Each export reads back: ratlab loads its own Hugging Face and f32 GGUF exports of a LoRA
/// run (from a GGUF checkpoint) and of a full fine-tune (from a model directory, so the GGUF
/// tokenizer is built from tokenizer.json) with the run's logits exactly, the same token ids,
/// and a q8_0 export within quantization noise.
#[test]
fn exports_read_back_with_the_runs_logits() {
    use crate::tests::{job, run};
    use ratlab::backends::params::{LmMode, LoraConfig};
    use ratlab::data::lm::{LmDataConfig, LmFormat};
    use ratlab::data::pretrained::export;
    use ratlab::data::pretrained::gguf::GgmlType;
    use ratlab::data::pretrained::Pretrained;
    let d = tempfile::tempdir().unwrap();
    let rows: String = (0..20).map(|i| format!("{{\"instruction\": \"Say the number {i}\", \"output\": \"{i}\"}}\n")).collect();
    let data = d.path().join("i.jsonl");
    std::fs::write(&data, rows).unwrap();
    for (arch, start, lora) in [("llama", "Q8_0.gguf", true), ("qwen2", "hf", false)] {
        let ckpt = fixtures(arch).join(start);
        let mut p = tuning(LmMode::Sft, 64, 3, 4, 1e-2);
        p.lora = lora.then(|| LoraConfig { rank: 4, alpha: 8.0, dropout: 0.0, targets: Vec::new() });
        let out = d.path().join(format!("run-{arch}"));
        std::fs::create_dir(&out).unwrap();
        let cfg = LmDataConfig { path: data.clone(), format: LmFormat::Instructions, test: 0.2, test_path: None };
        run(&job(p, cfg, Some(&out), Some(&ckpt)));
        let tuned = Lm::load(&out, "cpu").unwrap();
        let source = Pretrained::open(&ckpt).unwrap();
        let weights = export::read_safetensors(&out.join("model.safetensors")).unwrap();
        let hf = d.path().join(format!("{arch}-hf"));
        export::write_hf(&source, &weights, &hf).unwrap();
        let (f32, q8) = (d.path().join(format!("{arch}.gguf")), d.path().join(format!("{arch}-q8.gguf")));
        export::write_gguf(&source, &weights, GgmlType::F32, &f32).unwrap();
        export::write_gguf(&source, &weights, GgmlType::Q8_0, &q8).unwrap();
        let text = "<|im_start|>user\nSay the number 12<|im_end|>\n<|im_start|>assistant\n12";
        let ids = tuned.encode(text).unwrap();
        let want = logits_of(&tuned, &ids);
        // q8_0: within 5% of the largest logit over every position. The fixture's weights are
        // scaled up to separate its logits, which amplifies rounding: its own Q8_0 file is 2%
        // off its F32 file at the last position (golden.json).
        let range = f64::try_from(want.abs().max()).unwrap();
        for (path, tol) in [(&hf, 0.0), (&f32, 0.0), (&q8, 0.05 * range)] {
            let lm = Lm::load(path, "cpu").unwrap_or_else(|e| panic!("{arch} {}: {e}", path.display()));
            assert_eq!(lm.encode(text).unwrap(), ids, "{arch} {}: token ids", path.display());
            let diff = f64::try_from((logits_of(&lm, &ids) - &want).abs().max()).unwrap();
            assert!(diff <= tol, "{arch} {}: logits differ by {diff}", path.display());
        }
        assert!(f32.metadata().unwrap().len() > q8.metadata().unwrap().len() * 3, "q8_0 is about a quarter of f32");
    }
}
