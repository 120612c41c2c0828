//! Transformer throughput beside `../shared/REFERENCE.md` (eager PyTorch 2.13, 2 threads):
//! training tokens/s per attention variant, full fine-tuning against LoRA r=8 on q and v, DPO
//! pairs/s (policy + frozen reference) and greedy generation tokens/s with a KV cache.
//! Configuration of the reference: byte vocabulary, 4 layers, d_model 128, 4 heads, context 128,
//! batch 16, AdamW 3e-4, clipping 1.0; median of `RATLAB_BENCH_STEPS` (20) timed steps after 3
//! warm-up steps. `benches/transformer_reference.py` measures the same in PyTorch.

use ratlab::backends::params::{AttentionKind, LmMode, LoraConfig, TransformerParams};
use ratlab::data::lm::{Example, Preference};
use ratlab_torch::batches::{self, TextWindows};
use ratlab_torch::train::{build, dpo_loss};
use std::time::Instant;
use tch::nn::OptimizerConfig;
use tch::{nn, Device, Tensor};

fn params(attention: AttentionKind) -> TransformerParams {
    TransformerParams {
        mode: LmMode::Pretrain,
        layers: 4,
        d_model: 128,
        heads: 4,
        context: 128,
        mlp_hidden: 352,
        attention,
        kv_heads: 2,
        kv_lora_rank: 32,
        rope_dim: 16,
        steps: 300,
        batch_size: 16,
        grad_accum: 1,
        max_length: 0,
        learning_rate: 3e-4,
        warmup_steps: 0,
        weight_decay: 0.1,
        grad_clip: 1.0,
        lora: None,
        init_from: None,
        beta: 0.1,
        device: "cpu".into(),
        eval_every: 25,
        eval_batches: 8,
        shape: Default::default(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median seconds per step of `f` after 3 warm-up steps.
fn time_steps(steps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    median((0..steps).map(|_| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64()
    }).collect())
}

fn main() {
    let steps: usize = std::env::var("RATLAB_BENCH_STEPS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let corpus = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/tiny-stories.txt")).expect("bundled corpus");
    let dev = Device::Cpu;
    println!("== transformer on libtorch (tch), {} threads, median of {steps} steps", tch::get_num_threads());
    println!("{:<28} {:>10} {:>12} {:>12}", "workload", "params", "KV B/token", "tokens/s");
    let ids: Vec<u32> = corpus.iter().map(|&b| u32::from(b)).collect();
    let text = TextWindows::new(&ids, 128, dev);
    let train_step = |p: &TransformerParams, seed: i64| -> (f64, i64, i64) {
        tch::manual_seed(seed);
        let b = build(p, dev, None).unwrap();
        let store = b.adapters.as_ref().unwrap_or(&b.base);
        let mut opt = nn::AdamW { beta1: 0.9, beta2: 0.95, wd: p.weight_decay, eps: 1e-8, amsgrad: false }.build(store, p.learning_rate).unwrap();
        let dt = time_steps(steps, || {
            let (x, y) = text.random(p.batch_size);
            let loss = batches::loss(&b.model.forward(&x, None, true), &y);
            opt.zero_grad();
            loss.backward();
            opt.clip_grad_norm(p.grad_clip);
            opt.step();
            let _ = f64::try_from(&loss);
        });
        let total = b.base.variables().values().map(Tensor::numel).sum::<usize>() as i64;
        let trainable = store.trainable_variables().iter().map(Tensor::numel).sum::<usize>() as i64;
        ((p.batch_size * p.context) as f64 / dt, total, trainable)
    };
    for (name, att) in [("pretrain, MHA", AttentionKind::Mha), ("pretrain, MQA", AttentionKind::Mqa), ("pretrain, GQA (2 KV heads)", AttentionKind::Gqa), ("pretrain, MLA", AttentionKind::Mla)] {
        let p = params(att);
        let (tps, total, _) = train_step(&p, 1);
        println!("{name:<28} {total:>10} {:>12} {tps:>12.0}", p.kv_cache_bytes_per_token());
    }
    let (tps, total, _) = train_step(&params(AttentionKind::Mha), 2);
    println!("{:<28} {total:>10} {:>12} {tps:>12.0}", "fine-tune, full", "");
    let mut lp = params(AttentionKind::Mha);
    lp.lora = Some(LoraConfig { rank: 8, alpha: 16.0, dropout: 0.0, targets: vec!["q".into(), "v".into()] });
    let (tps, _, trainable) = train_step(&lp, 3);
    println!("{:<28} {:>10} {:>12} {tps:>12.0}", "fine-tune, LoRA r=8 q,v", format!("{trainable} tr."), "");

    // DPO: 16 pairs of 128 tokens (prompt 64, answers 64) per step, policy + frozen reference.
    let p = params(AttentionKind::Mha);
    tch::manual_seed(4);
    let policy = build(&p, dev, None).unwrap();
    let reference = build(&p, dev, None).unwrap();
    let mut opt = nn::AdamW { beta1: 0.9, beta2: 0.95, wd: 0.1, eps: 1e-8, amsgrad: false }.build(&policy.base, 3e-4).unwrap();
    let text_of = |i: usize, n: usize| String::from_utf8_lossy(&corpus[i..i + n]).into_owned();
    let prefs: Vec<Preference> = (0..16).map(|i| Preference { prompt: text_of(i * 500, 64), chosen: text_of(i * 500 + 64, 63), rejected: text_of(i * 500 + 200, 63) }).collect();
    let pairs: Vec<(Example, Example)> = prefs.iter().map(|r| (Example::new(&r.prompt, &r.chosen, 128), Example::new(&r.prompt, &r.rejected, 128))).collect();
    let rows: Vec<&(Example, Example)> = pairs.iter().collect();
    let dt = time_steps(steps, || {
        let (loss, _, _) = dpo_loss(&policy.model, ratlab_torch::train::Reference::Copy(&reference.model), &rows, 0.1, dev, true);
        opt.zero_grad();
        loss.backward();
        opt.clip_grad_norm(1.0);
        opt.step();
    });
    println!("DPO (16 pairs × 128 tokens, policy + reference): {:.1} pairs/s", 16.0 / dt);

    println!("greedy generation, 256 new tokens, batch 1, KV cache:");
    for (name, att) in [("MHA", AttentionKind::Mha), ("MQA", AttentionKind::Mqa), ("GQA", AttentionKind::Gqa), ("MLA (latent cached)", AttentionKind::Mla)] {
        tch::manual_seed(5);
        let b = build(&params(att), dev, None).unwrap();
        let prompt: Vec<i64> = b"Once upon a time".iter().map(|&b| i64::from(b)).collect();
        let greedy = ratlab_torch::generate::Sampler::GREEDY;
        let _ = ratlab_torch::generate::generate(&b.model, dev, &prompt, 16, greedy, &[], |_| {});
        let t = Instant::now();
        let out = ratlab_torch::generate::generate(&b.model, dev, &prompt, 256, greedy, &[], |_| {});
        println!("  {name:<22} {:>8.0} tokens/s", out.ids.len() as f64 / t.elapsed().as_secs_f64());
    }
}
