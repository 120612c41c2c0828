//! The model's defining properties on tiny configurations (CPU, seconds): causality, RoPE's
//! relative positions, GQA/MQA as MHA with shared K/V heads, cached generation equal to the
//! full forward pass, LoRA's identities, DPO's starting loss and learning, and pretraining that
//! learns the bundled corpus.

use crate::batches;
use crate::model::{rope, LayerCache, Transformer};
use crate::train::{self, build};
use ratlab::backends::params::{AttentionKind, LmMode, LoraConfig, TransformerParams};
use ratlab::data::lm::{Example, LmDataConfig, LmFormat};
use ratlab::experiments::events::{Level, RunEvent};
use ratlab::experiments::worker::TorchJob;
use std::sync::atomic::AtomicBool;
use tch::{nn, Device, Kind, Tensor};

fn tiny(attention: AttentionKind) -> TransformerParams {
    TransformerParams {
        mode: LmMode::Pretrain,
        layers: 2,
        d_model: 32,
        heads: 4,
        context: 32,
        mlp_hidden: 64,
        attention,
        kv_heads: 2,
        kv_lora_rank: 8,
        rope_dim: 4,
        steps: 10,
        batch_size: 4,
        grad_accum: 1,
        max_length: 0,
        learning_rate: 3e-3,
        warmup_steps: 2,
        weight_decay: 0.0,
        grad_clip: 1.0,
        lora: None,
        init_from: None,
        beta: 0.1,
        device: "cpu".into(),
        eval_every: 5,
        eval_batches: 2,
        shape: Default::default(),
    }
}

fn model(p: &TransformerParams, seed: i64) -> train::Built {
    tch::manual_seed(seed);
    build(p, Device::Cpu, None).unwrap()
}

fn tokens(seed: i64, t: i64) -> Tensor {
    tch::manual_seed(seed);
    Tensor::randint(256, [2, t], (Kind::Int64, Device::Cpu))
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    f64::try_from((a - b).abs().max()).unwrap()
}

fn logits(m: &Transformer, x: &Tensor) -> Tensor {
    tch::no_grad(|| m.forward(x, None, false))
}

#[test]
fn later_tokens_do_not_change_earlier_outputs() {
    for att in [AttentionKind::Mha, AttentionKind::Gqa, AttentionKind::Mla] {
        let b = model(&tiny(att), 1);
        let x = tokens(2, 12);
        let y = x.copy();
        let _ = y.narrow(1, 8, 4).fill_(7);
        let (lx, ly) = (logits(&b.model, &x), logits(&b.model, &y));
        assert!(max_diff(&lx.narrow(1, 0, 8), &ly.narrow(1, 0, 8)) < 1e-5, "{att:?}: the future leaked");
        assert!(max_diff(&lx.narrow(1, 8, 4), &ly.narrow(1, 8, 4)) > 1e-4, "{att:?}: the changed tokens changed nothing");
    }
}

#[test]
fn rope_scores_depend_only_on_relative_position() {
    tch::manual_seed(3);
    let q = Tensor::randn([1, 1, 1, 16], (Kind::Float, Device::Cpu));
    let k = Tensor::randn([1, 1, 1, 16], (Kind::Float, Device::Cpu));
    let score = |m: i64, n: i64| f64::try_from((rope(&q, m) * rope(&k, n)).sum(Kind::Float)).unwrap();
    let base = score(5, 2);
    for shift in [1, 7, 40, 300] {
        assert!((score(5 + shift, 2 + shift) - base).abs() < 1e-4, "shift {shift}");
    }
    assert!((score(5, 2) - score(2, 5)).abs() > 1e-4, "direction matters");
    // Rotation keeps norms.
    let n0 = f64::try_from(q.norm()).unwrap();
    assert!((f64::try_from(rope(&q, 123).norm()).unwrap() - n0).abs() < 1e-5);
}

/// Copy `src`'s weights into `dst`, widening K/V projections from `kv` heads to `heads` by
/// repeating each K/V head for its group of query heads.
fn widen_into(dst: &mut nn::VarStore, src: &nn::VarStore, kv: i64, heads: i64, head_dim: i64) {
    let s = src.variables();
    tch::no_grad(|| {
        for (name, mut t) in dst.variables() {
            let w = &s[&name];
            if w.size() == t.size() {
                t.copy_(w);
            } else {
                // [kv*hd, d] → [heads*hd, d]: head h uses K/V head h / (heads / kv).
                let d = w.size()[1];
                let wide = w.view([kv, 1, head_dim, d]).expand([kv, heads / kv, head_dim, d], false).reshape([heads * head_dim, d]);
                t.copy_(&wide);
            }
        }
    });
}

#[test]
fn gqa_and_mqa_are_mha_with_shared_kv_heads() {
    let x = tokens(4, 10);
    // GQA with as many K/V heads as query heads is MHA, with the same weights.
    let mut p = tiny(AttentionKind::Gqa);
    p.kv_heads = p.heads;
    let gqa_full = model(&p, 5);
    let mut mha = model(&tiny(AttentionKind::Mha), 6);
    mha.base.copy(&gqa_full.base).unwrap();
    assert!(max_diff(&logits(&gqa_full.model, &x), &logits(&mha.model, &x)) < 1e-5);
    // GQA with 2 (and 1) K/V heads equals MHA whose K/V heads repeat within each group; one
    // K/V head is MQA.
    for kv in [2usize, 1] {
        let mut p = tiny(AttentionKind::Gqa);
        p.kv_heads = kv;
        let g = model(&p, 7);
        let mut m = model(&tiny(AttentionKind::Mha), 8);
        widen_into(&mut m.base, &g.base, kv as i64, p.heads as i64, p.head_dim() as i64);
        assert!(max_diff(&logits(&g.model, &x), &logits(&m.model, &x)) < 1e-5, "kv_heads {kv}");
        if kv == 1 {
            let mut q = model(&tiny(AttentionKind::Mqa), 9);
            q.base.copy(&g.base).unwrap();
            assert!(max_diff(&logits(&g.model, &x), &logits(&q.model, &x)) < 1e-5, "gqa 1 = mqa");
        }
    }
}

#[test]
fn cached_generation_equals_the_full_forward_pass() {
    for att in [AttentionKind::Mha, AttentionKind::Gqa, AttentionKind::Mqa, AttentionKind::Mla] {
        let p = tiny(att);
        let b = model(&p, 10);
        let x = tokens(11, 14);
        let full = logits(&b.model, &x);
        tch::no_grad(|| {
            let mut cache: Vec<LayerCache> = (0..p.layers).map(|_| LayerCache::default()).collect();
            // A prefix of 5, then one token at a time, then a chunk of 3.
            let mut parts = vec![b.model.forward(&x.narrow(1, 0, 5), Some(&mut cache), false)];
            for i in 5..11 {
                parts.push(b.model.forward(&x.narrow(1, i, 1), Some(&mut cache), false));
            }
            parts.push(b.model.forward(&x.narrow(1, 11, 3), Some(&mut cache), false));
            let cached = Tensor::cat(&parts, 1);
            assert!(max_diff(&full, &cached) < 1e-4, "{att:?}: cached differs by {}", max_diff(&full, &cached));
            let per_token: i64 = cache.iter().map(LayerCache::bytes).sum::<i64>() / (2 * 14);
            assert_eq!(per_token as usize, p.kv_cache_bytes_per_token(), "{att:?}: cache size");
        });
    }
}

fn lora_params() -> TransformerParams {
    let mut p = tiny(AttentionKind::Mha);
    p.lora = Some(LoraConfig { rank: 4, alpha: 8.0, dropout: 0.0, targets: vec!["q".into(), "v".into(), "down".into()] });
    p
}

#[test]
fn lora_starts_as_the_base_trains_only_adapters_and_merges_exactly() {
    let base = model(&tiny(AttentionKind::Mha), 12);
    let mut l = model(&lora_params(), 13);
    l.base.copy(&base.base).unwrap();
    let x = tokens(14, 16);
    assert!(max_diff(&logits(&base.model, &x), &logits(&l.model, &x)) < 1e-6, "B = 0: LoRA equals its base");
    let before: Vec<(String, Tensor)> = l.base.variables().into_iter().map(|(n, t)| (n, t.copy())).collect();
    let adapters = l.adapters.as_ref().unwrap();
    let mut opt = nn::OptimizerConfig::build(nn::AdamW::default(), adapters, 1e-2).unwrap();
    for _ in 0..5 {
        let y = tokens(15, 16);
        let loss = batches::loss(&l.model.forward(&x, None, true), &y);
        opt.zero_grad();
        loss.backward();
        opt.step();
    }
    for (n, t) in &before {
        assert_eq!(max_diff(t, &l.base.variables()[n]), 0.0, "base weight {n} moved");
    }
    let moved = logits(&l.model, &x);
    assert!(max_diff(&moved, &logits(&base.model, &x)) > 1e-4, "the adapters learned nothing");
    // The merged weights, loaded into a plain model, give the adapted model's outputs.
    let mut plain = model(&tiny(AttentionKind::Mha), 16);
    let merged = l.model.merged_weights(&l.base).unwrap();
    tch::no_grad(|| {
        let vars = plain.base.variables();
        for (n, t) in &merged {
            vars[n].shallow_clone().copy_(t);
        }
    });
    let _ = &mut plain;
    assert!(max_diff(&moved, &logits(&plain.model, &x)) < 1e-4, "merged differs from unmerged");
    assert_eq!(l.adapters.as_ref().unwrap().trainable_variables().iter().map(Tensor::numel).sum::<usize>(), 2 * (4 * 32 + 32 * 4) * 2 + 2 * (4 * 64 + 32 * 4));
}

#[test]
fn merging_fails_when_an_adapter_finds_no_base_weight() {
    // Adapters on two layers merged against a one-layer base store: layer 1's adapters match
    // nothing. Keeping those base weights unmerged would save a model without its tuning.
    let l = model(&lora_params(), 21);
    let mut one = tiny(AttentionKind::Mha);
    one.layers = 1;
    let shallow = model(&one, 22);
    let err = l.model.merged_weights(&shallow.base).expect_err("unmerged adapters are an error");
    assert!(err.contains("3 adapter(s) match no base weight") && err.contains("layers.1.attn.q.weight") && err.contains("layers.1.mlp.down.weight"), "{err}");
    // A base of another width: the names match, the shapes do not.
    let mut wide = tiny(AttentionKind::Mha);
    wide.d_model = 64;
    let err = l.model.merged_weights(&model(&wide, 23).base).expect_err("a shape mismatch is an error");
    assert!(err.contains("the adapter of layers.") && err.contains("weight, but the base weight is"), "{err}");
    assert_eq!(l.model.merged_weights(&l.base).map(|v| v.len()), Ok(l.base.variables().len()));
}

fn pairs(n: usize) -> Vec<(Example, Example)> {
    (0..n)
        .map(|i| {
            let p = format!("Q{i}:");
            (Example::new(&p, "yes", 32), Example::new(&p, &format!("no{}", i % 3), 32))
        })
        .collect()
}

#[test]
fn dpo_starts_at_ln2_against_itself() {
    let p = tiny(AttentionKind::Mha);
    let policy = model(&p, 17);
    let mut reference = model(&p, 18);
    reference.base.copy(&policy.base).unwrap();
    let data = pairs(8);
    let rows: Vec<&(Example, Example)> = data.iter().collect();
    let (loss, stats, _) = train::dpo_loss(&policy.model, train::Reference::Copy(&reference.model), &rows, 0.1, Device::Cpu, false);
    let l = f64::try_from(&loss).unwrap();
    assert!((l - std::f64::consts::LN_2).abs() < 1e-6, "{l}");
    assert!(stats.iter().all(|(k, v)| *k == "preference_accuracy" || v.abs() < 1e-6), "{stats:?}");
}

fn write_jsonl(dir: &std::path::Path, name: &str, rows: &[serde_json::Value]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, rows.iter().map(|r| format!("{r}\n")).collect::<String>()).unwrap();
    p
}

pub(crate) fn job(p: TransformerParams, data: LmDataConfig, out: Option<&std::path::Path>, init: Option<&std::path::Path>) -> TorchJob {
    TorchJob { experiment: "t".into(), run: "r".into(), params: p, seed: 1, data, out_dir: out.map(Into::into), init_from: init.map(Into::into) }
}

pub(crate) fn run(j: &TorchJob) -> Vec<RunEvent> {
    let mut out: Vec<RunEvent> = Vec::new();
    train::run(j, &mut out, &AtomicBool::new(false));
    if let Some(RunEvent::Failed { error, .. }) = out.last() {
        panic!("run failed: {error}");
    }
    out
}

pub(crate) fn series(evs: &[RunEvent], key: &str) -> Vec<f64> {
    evs.iter().filter_map(|e| if let RunEvent::Step { metrics, .. } = e { metrics.get(key).copied() } else { None }).collect()
}

#[test]
fn dpo_preference_accuracy_rises_within_a_few_steps() {
    let d = tempfile::tempdir().unwrap();
    let start = d.path().join("start");
    std::fs::create_dir(&start).unwrap();
    // A starting checkpoint (random weights) for policy and reference.
    let p0 = tiny(AttentionKind::Mha);
    model(&p0, 19).base.save(start.join("model.safetensors")).unwrap();
    let rows: Vec<serde_json::Value> = (0..40).map(|i| serde_json::json!({"prompt": format!("Say yes {i}"), "chosen": "yes", "rejected": format!("no{}", i % 5)})).collect();
    let data = LmDataConfig { path: write_jsonl(d.path(), "p.jsonl", &rows), format: LmFormat::Preferences, test: 0.2, test_path: None };
    let mut p = p0.clone();
    p.mode = LmMode::Dpo;
    p.context = 160;
    p.steps = 12;
    p.batch_size = 8;
    p.learning_rate = 2e-3;
    p.eval_every = 12;
    let evs = run(&job(p, data, None, Some(&start)));
    let first = series(&evs, "train.loss")[0];
    assert!((first - std::f64::consts::LN_2).abs() < 1e-5, "first DPO loss {first}");
    let acc = series(&evs, "train.preference_accuracy");
    let early = acc[..3].iter().sum::<f64>() / 3.0;
    let late = acc[acc.len() - 3..].iter().sum::<f64>() / 3.0;
    assert!(late > early + 0.3 && late > 0.8, "accuracy {acc:?}");
    let margin = series(&evs, "test.reward_margin");
    assert!(margin.last().copied().unwrap_or(0.0) > 0.0, "test margin {margin:?}");
}

#[test]
fn a_short_pretrain_learns_the_corpus_and_its_checkpoint_generates_the_same() {
    let d = tempfile::tempdir().unwrap();
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/tiny-stories.txt");
    let data = LmDataConfig { path: corpus, format: LmFormat::Text, test: 0.05, test_path: None };
    let mut p = tiny(AttentionKind::Gqa);
    p.d_model = 64;
    p.mlp_hidden = 128;
    p.context = 64;
    p.steps = 80;
    p.batch_size = 16;
    p.eval_every = 40;
    let evs = run(&job(p.clone(), data, Some(d.path()), None));
    let bpb = series(&evs, "test.bits_per_byte");
    // The curve starts at the untrained model (step 0, near 8 bits: knowing nothing).
    assert!(bpb.len() == 3 && bpb[0] > 6.0 && bpb[2] < 3.5, "bits per byte {bpb:?}");
    let Some(RunEvent::Finished { metrics, .. }) = evs.last() else { panic!() };
    assert_eq!(metrics["params_trainable"], metrics["params_total"]);
    assert_eq!(metrics["kv_cache_bytes_per_token"], p.kv_cache_bytes_per_token() as f64);
    assert!(evs.iter().any(|e| matches!(e, RunEvent::Sample { .. })));
    // Loading the checkpoint gives the trained model: same greedy continuation twice.
    let a = crate::checkpoint::load(d.path(), "cpu").unwrap();
    let b = crate::checkpoint::load(d.path(), "cpu").unwrap();
    let prompt: Vec<i64> = b"Once upon a time, ".iter().map(|&b| i64::from(b)).collect();
    let greedy = crate::generate::Sampler::GREEDY;
    let ga = crate::generate::generate(&a.model, Device::Cpu, &prompt, 30, greedy, &[], |_| {}).ids;
    let gb = crate::generate::generate(&b.model, Device::Cpu, &prompt, 30, greedy, &[], |_| {}).ids;
    assert_eq!(ga, gb);
    let text: Vec<u8> = ga.iter().map(|&i| i as u8).collect();
    assert!(String::from_utf8_lossy(&text).contains(' '), "{:?}", String::from_utf8_lossy(&text));
}

#[test]
fn sft_counts_only_response_tokens() {
    let e = Example::new("PROMPT>", "ok", 32);
    let (x, y) = batches::pad_examples(&[&e, &Example::new("P>", "longer", 32)], Device::Cpu);
    assert_eq!(x.size(), vec![2, 9]);
    let y0: Vec<i64> = Vec::try_from(y.get(0)).unwrap();
    // Positions 6.. predict "ok" and EOS; the prompt and the padding are ignored.
    assert_eq!(y0, vec![-100, -100, -100, -100, -100, -100, b'o' as i64, b'k' as i64, 3]);
}

/// The head applied only at the counted positions gives the losses of the whole-sequence head:
/// SFT's mean response loss and DPO's per-row log-probabilities, to float noise.
#[test]
fn the_head_at_counted_positions_gives_the_full_head_losses() {
    let p = tiny(AttentionKind::Gqa);
    let m = model(&p, 31);
    let ex = [Example::new("PROMPT>", "ok", 32), Example::new("P>", "a longer answer", 32), Example::new("Q:", "", 32)];
    let rows: Vec<&Example> = ex.iter().collect();
    let (x, y) = batches::pad_examples(&rows, Device::Cpu);
    tch::no_grad(|| {
        let logits = m.model.forward(&x, None, false);
        let full = f64::try_from(batches::loss(&logits, &y)).unwrap();
        let counted = f64::try_from(batches::response_loss(&m.model, &x, &y, false)).unwrap();
        assert!((full - counted).abs() < 1e-5, "SFT loss {counted} against {full}");
        // Per row: the log-softmax of every position, summed where the target counts.
        let mask = y.ne(batches::IGNORE);
        let lp = logits.log_softmax(-1, Kind::Float).gather(-1, &y.where_scalarother(&mask, 0).unsqueeze(-1), false).squeeze_dim(-1);
        let want = (lp * mask.to_kind(Kind::Float)).sum_dim_intlist(-1, false, Kind::Float);
        let got = batches::sequence_logp(&m.model, &x, &y, false);
        assert!(max_diff(&want, &got) < 1e-4, "{want:?} {got:?}");
    });
}

/// An SFT example whose response alone is longer than max_length is refused by name (nothing of
/// its prompt would be left); shorter ones that only lose the start of their prompt are counted
/// in a warning.
#[test]
fn max_length_cuts_prompts_and_refuses_responses_that_cannot_fit() {
    let d = tempfile::tempdir().unwrap();
    let mut rows: Vec<serde_json::Value> = (0..10).map(|i| serde_json::json!({"instruction": format!("Say {i}, after a long preamble of words"), "output": "ok"})).collect();
    let data = write_jsonl(d.path(), "i.jsonl", &rows);
    let mut p = tiny(AttentionKind::Mha);
    p.mode = LmMode::Sft;
    p.steps = 1;
    p.max_length = 24;
    let cfg = |path| LmDataConfig { path, format: LmFormat::Instructions, test: 0.2, test_path: None };
    let evs = run(&job(p.clone(), cfg(data), None, None));
    let warned = evs.iter().any(|e| matches!(e, RunEvent::Message { level: Level::Warning, text, .. } if text.starts_with("8 of 8 training examples are longer than max_length (24 tokens)")));
    assert!(warned, "{evs:?}");
    rows[3] = serde_json::json!({"instruction": "Say it", "output": "a response far longer than twenty-four bytes"});
    let data = write_jsonl(d.path(), "j.jsonl", &rows);
    let mut out: Vec<RunEvent> = Vec::new();
    train::run(&job(p, cfg(data), None, None), &mut out, &AtomicBool::new(false));
    let Some(RunEvent::Failed { error, .. }) = out.last() else { panic!("{out:?}") };
    assert!(error.contains("its response alone takes") && error.contains("max_length 24"), "{error}");
}
