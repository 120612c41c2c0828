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
