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
    let mut p = pretrained::inference_template("cpu");
    p.mode = LmMode::Dpo;
    p.context = 128;
    p.steps = 4;
    p.batch_size = 4;
    p.learning_rate = 1e-3;
    p.eval_every = 4;
    p.eval_batches = 1;
    p.beta = 0.1;
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
    let mut p = pretrained::inference_template("cpu");
    p.mode = LmMode::Dpo;
    p.context = 64;
    p.steps = 12;
    p.batch_size = 4;
    p.grad_accum = 2;
    p.learning_rate = 1e-2;
    p.warmup_steps = 0;
    p.eval_every = 12;
    p.eval_batches = 1;
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
