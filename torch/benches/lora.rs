//! Tuning a real model: LoRA SFT and DPO on SmolLM2-135M-Instruct (the GGUF `make build`
//! fetches), beside PyTorch + PEFT in eager mode on the same examples
//! (`benches/lora_reference.py`, which reads the batches this writes).
//!   cargo bench -p ratlab-torch --bench lora
//! Configuration: rank 8, α 16, all seven projections, AdamW (lr 1e-3, weight decay 0.1),
//! clipping 1.0, f32, 2 threads; SFT batches of 8 instructions from `datasets/dates-sft.jsonl`
//! in SmolLM2's chat template (about 60 tokens each), DPO batches of 4 pairs from
//! `dates-dpo.jsonl` with β 0.1. The same consecutive batches in both; median of
//! `RATLAB_BENCH_STEPS` (20) timed steps after 3 warm-up steps. tokens/s counts example
//! tokens (prompt and response, no padding). Peak RSS is the process's high-water mark.

use ratlab::backends::params::{LmMode, LoraConfig};
use ratlab::data::lm::{self, Codec, Example, LmDataConfig, LmFormat, LmRows};
use ratlab::data::pretrained::Pretrained;
use ratlab_torch::batches;
use ratlab_torch::pretrained::{build_from, inference_template, params_for};
use ratlab_torch::train::{dpo_loss, Reference};
use std::path::Path;
use std::time::Instant;
use tch::nn::OptimizerConfig;
use tch::{nn, Device};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Peak resident memory of this process so far, in MiB (Linux's VmHWM).
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok()).map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Median units per second of `f` over `steps` steps after 3 warm-up steps; `f(i)` runs step
/// `i` and returns its units (tokens or pairs).
fn time_steps(steps: usize, mut f: impl FnMut(usize) -> usize) -> f64 {
    for i in 0..3 {
        f(i);
    }
    let rates: Vec<f64> = (3..3 + steps)
        .map(|i| {
            let t = Instant::now();
            let n = f(i);
            n as f64 / t.elapsed().as_secs_f64()
        })
        .collect();
    median(rates)
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let model = root.join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if !model.is_file() {
        println!("skipped: {} is missing (make build fetches it)", model.display());
        return;
    }
    let steps: usize = std::env::var("RATLAB_BENCH_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    println!("== LoRA on SmolLM2-135M-Instruct (Q4_1 GGUF → f32), {} threads, {steps} timed steps", tch::get_num_threads());
    let pre = Pretrained::open(&model).unwrap();
    let codec = Codec::from_checkpoint(&pre).unwrap();
    let mut p = params_for(&pre.config, pre.rope_factors().unwrap(), &inference_template("cpu"));
    p.lora = Some(LoraConfig { rank: 8, alpha: 16.0, dropout: 0.0, targets: LoraConfig::TARGETS.iter().map(|t| t.to_string()).collect() });
    let data = |file: &str, format| lm::load(&LmDataConfig { path: root.join("datasets").join(file), format, test: 0.1, test_path: None }, 1).unwrap().train;
    let LmRows::Instructions(rows) = data("dates-sft.jsonl", LmFormat::Instructions) else { unreachable!() };
    let sft: Vec<Example> = rows.iter().map(|r| codec.instruction(r, usize::MAX).unwrap()).collect();
    let LmRows::Preferences(rows) = data("dates-dpo.jsonl", LmFormat::Preferences) else { unreachable!() };
    let dpo: Vec<(Example, Example)> = rows.iter().map(|r| codec.preference(r, usize::MAX).unwrap()).collect();
    let n_sft = 8 * (steps + 3);
    let n_dpo = 4 * (steps + 3);
    // The batches, for the reference script: ids and which tokens the loss counts.
    let dump = |e: &Example| serde_json::json!({"ids": e.tokens, "learn": e.learn});
    let doc = serde_json::json!({
        "sft": sft.iter().take(n_sft).map(dump).collect::<Vec<_>>(),
        "dpo": dpo.iter().take(n_dpo).map(|(c, r)| serde_json::json!({"chosen": dump(c), "rejected": dump(r)})).collect::<Vec<_>>(),
        "steps": steps,
    });
    let batches_file = std::env::temp_dir().join("ratlab-lora-bench.json");
    std::fs::write(&batches_file, doc.to_string()).unwrap();
    let mean_len = sft.iter().take(n_sft).map(|e| e.tokens.len()).sum::<usize>() as f64 / n_sft as f64;

    for mode in [LmMode::Sft, LmMode::Dpo] {
        let mut built = build_from(&pre, &p, Device::Cpu, true).unwrap();
        built.base.freeze();
        let adapters = built.adapters.as_ref().unwrap();
        let mut opt = nn::AdamW { beta1: 0.9, beta2: 0.95, wd: 0.1, eps: 1e-8, amsgrad: false }.build(adapters, 1e-3).unwrap();
        let m = &built.model;
        let rate = time_steps(steps, |i| {
            opt.zero_grad();
            let units = match mode {
                LmMode::Dpo => {
                    let rows: Vec<&(Example, Example)> = dpo[4 * i..4 * i + 4].iter().collect();
                    let (loss, _, _) = dpo_loss(m, Reference::Base, &rows, 0.1, Device::Cpu, true);
                    loss.backward();
                    rows.len()
                }
                _ => {
                    let rows: Vec<&Example> = sft[8 * i..8 * i + 8].iter().collect();
                    let (x, y) = batches::pad_examples(&rows, Device::Cpu);
                    batches::response_loss(m, &x, &y, true).backward();
                    rows.iter().map(|e| e.tokens.len()).sum()
                }
            };
            opt.clip_grad_norm(1.0);
            opt.step();
            units
        });
        match mode {
            LmMode::Dpo => println!("LoRA DPO, batch 4 pairs, reference = the base with adapters off: {rate:.2} pairs/s (median); peak RSS so far {:.0} MiB", peak_rss_mib()),
            _ => println!("LoRA SFT, batch 8, {mean_len:.0} tokens per example: {rate:.0} tokens/s (median); peak RSS {:.0} MiB", peak_rss_mib()),
        }
    }
    println!("reference: PYTHONPATH=<torch venv site-packages> <venv with transformers, gguf, accelerate, peft>/bin/python benches/lora_reference.py {}", batches_file.display());
}
