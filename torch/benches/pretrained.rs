//! Pretrained model benchmark: SmolLM2-135M-Instruct (the GGUF `make build` fetches) loaded,
//! generating and scoring through ratlab's worker code, beside transformers on the same file
//! and the same ids (`benches/pretrained_reference.py`, which this prints the command for).
//!   cargo bench -p ratlab-torch --bench pretrained
//! Figures: load (GGUF → f32 model, median of 3), greedy tokens/s with the KV cache at batch 1
//! (128 new tokens, prefill included), and scoring tokens/s on the bundled text in windows of
//! 256 (the windows the reference scores).

use ratlab_torch::generate::Sampler;
use ratlab_torch::pretrained::{self, Lm};
use std::path::Path;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let model = root.join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if !model.is_file() {
        println!("skipped: {} is missing (make build fetches it)", model.display());
        return;
    }
    println!("== SmolLM2-135M-Instruct (Q4_1 GGUF) on libtorch, {} threads", tch::get_num_threads());
    let mut loads = Vec::new();
    let mut lm = None;
    for _ in 0..3 {
        drop(lm.take()); // one model in memory at a time, as in a real load
        let t = Instant::now();
        lm = Some(Lm::load(&model, "cpu").expect("the model loads"));
        loads.push(t.elapsed().as_secs_f64());
    }
    let lm = lm.unwrap();
    println!("load (read, dequantize, build the f32 model): {:.2} s (median of 3)", median(loads));

    let prompt = lm.encode("Once upon a time, in a small village by the sea,").unwrap();
    let _ = pretrained::generate(&lm, &prompt, 8, Sampler::GREEDY, false, |_| {});
    let mut speeds = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let out = pretrained::generate(&lm, &prompt, 128, Sampler::GREEDY, false, |_| {});
        speeds.push(out.ids.len() as f64 / t.elapsed().as_secs_f64());
    }
    println!("greedy generation, {} prompt tokens + 128 new, batch 1, KV cache: {:.1} tokens/s (median of 3)", prompt.len(), median(speeds));

    let text = std::fs::read_to_string(root.join("datasets/smollm2-eval.txt")).unwrap();
    let ids = lm.encode(&text).unwrap();
    let _ = pretrained::score(&lm, &ids[..256.min(ids.len())], 256);
    let mut speeds = Vec::new();
    let mut nll = 0.0;
    for _ in 0..3 {
        let t = Instant::now();
        let s = pretrained::score(&lm, &ids, 256);
        speeds.push(s.tokens as f64 / t.elapsed().as_secs_f64());
        nll = s.nll_sum / s.tokens as f64;
    }
    println!("score, {} tokens in windows of 256: {:.0} tokens/s (median of 3), nll {nll:.4}", ids.len(), median(speeds));
    println!("reference: PYTHONPATH=<torch venv site-packages> <venv with transformers, gguf, accelerate>/bin/python benches/pretrained_reference.py");
}
