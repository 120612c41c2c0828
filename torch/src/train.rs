//! One transformer run from its job to its last event: build (or load) the model, train it in
//! its mode — pretraining on text, SFT on instruction responses, DPO against a frozen reference
//! — with AdamW, warm-up and cosine decay, evaluate on the test part every `eval_every` steps
//! (with a generated sample), and save the checkpoint in the run directory.
//!
//! DPO (Rafailov et al. 2023): with `π` the policy and `π_ref` the frozen starting model,
//! `r(y) = β (log π(y|x) − log π_ref(y|x))` and the loss is `−log σ(r(y_chosen) − r(y_rejected))`,
//! which is exactly ln 2 while the policy equals the reference.

use crate::batches::{self, TextWindows};
use crate::generate;
use crate::model::{self, Transformer};
use ratlab::backends::params::{LmMode, LoraConfig, NetShape, TransformerParams};
use ratlab::data::lm::{self, Codec, Example, LmRows};
use ratlab::data::pretrained::Pretrained;
use ratlab::experiments::events::{Level, Metrics, RunEvent};
use ratlab::experiments::store;
use ratlab::experiments::worker::TorchJob;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};

/// Where events go: stdout lines in the worker, a vector in tests.
pub trait Out {
    fn send(&mut self, ev: RunEvent);
}

impl Out for Vec<RunEvent> {
    fn send(&mut self, ev: RunEvent) {
        self.push(ev);
    }
}

/// The training data of a run, on the device where it can be.
enum Data {
    /// `bytes_per_token` of the test text turns a loss per token into bits per byte.
    Text { train: TextWindows, test: TextWindows, prompt: Vec<u32>, bytes_per_token: f64 },
    /// `answers`: each test example's expected first answer (exact match); `bytes_per_token` of
    /// the learned test tokens.
    Sft { train: Vec<Example>, test: Vec<Example>, answers: Vec<String>, bytes_per_token: f64 },
    Dpo { train: Vec<(Example, Example)>, test: Vec<(Example, Example)> },
}

/// A model with its variables: base weights, and adapters when the run uses LoRA.
pub struct Built {
    pub base: nn::VarStore,
    pub adapters: Option<nn::VarStore>,
    pub model: Transformer,
}

/// Where a run starts: its parameters (a pretrained checkpoint fixes the network's shape), how
/// its data becomes ids, and what `model.json` records about that.
struct Start {
    params: TransformerParams,
    codec: Codec,
    tokenizer: serde_json::Value,
    pretrained: Option<Pretrained>,
    /// The longest sequence the network takes: a pretrained model's context (recorded in the
    /// saved `params`, so that generation from the run is not held to the training window).
    max_context: usize,
}

fn start(job: &TorchJob) -> Result<Start, String> {
    let mut s = start_from(job)?;
    // The plan names LoRA targets; a job written by hand may leave them to the default.
    if let Some(l) = s.params.lora.as_mut().filter(|l| l.targets.is_empty()) {
        let all: &[&str] = if s.tokenizer["kind"] == "checkpoint" { &LoraConfig::TARGETS } else { &["q", "v"] };
        l.targets = all.iter().map(|t| t.to_string()).collect();
    }
    Ok(s)
}

fn start_from(job: &TorchJob) -> Result<Start, String> {
    let bytes = || serde_json::json!({"kind": "bytes", "vocab": lm::VOCAB, "eos": lm::EOS});
    match &job.init_from {
        Some(path) if Pretrained::is_checkpoint(path) => {
            let pre = Pretrained::open(path)?;
            let codec = Codec::from_checkpoint(&pre)?;
            let mut params = crate::pretrained::params_for(&pre.config, pre.rope_factors()?, &job.params);
            params.context = job.params.context.min(pre.config.context);
            let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            let max_context = pre.config.context;
            Ok(Start { params, codec, tokenizer: serde_json::json!({"kind": "checkpoint", "path": abs}), pretrained: Some(pre), max_context })
        }
        Some(dir) => {
            // Weights without a model.json (a test's bare checkpoint) are a byte model's.
            let doc = ratlab::experiments::plan::read_checkpoint(dir).unwrap_or_default();
            let (codec, tokenizer) = run_codec(dir, &doc)?;
            let max_context = doc["params"]["context"].as_u64().map_or(job.params.context, |c| (c as usize).max(job.params.context));
            // The network's shape beyond the YAML's (vocabulary, tied head, rope, biases): the
            // saved run's, which it took from its own checkpoint.
            let mut params = job.params.clone();
            if let Ok(shape) = serde_json::from_value::<NetShape>(doc["params"]["shape"].clone()) {
                params.shape = Box::new(shape);
            }
            Ok(Start { params, codec, tokenizer: tokenizer.unwrap_or_else(bytes), pretrained: None, max_context })
        }
        None => Ok(Start { params: job.params.clone(), codec: Codec::Bytes, tokenizer: bytes(), pretrained: None, max_context: job.params.context }),
    }
}

/// The codec of a saved run (`doc` is its `model.json`): bytes, or the tokenizer of the
/// checkpoint it was tuned from, with the record that names it.
pub fn run_codec(dir: &Path, doc: &serde_json::Value) -> Result<(Codec, Option<serde_json::Value>), String> {
    let t = &doc["tokenizer"];
    if t["kind"] != "checkpoint" {
        return Ok((Codec::Bytes, None));
    }
    let path = t["path"].as_str().ok_or_else(|| format!("{}: model.json names no tokenizer path", dir.display()))?;
    let pre = Pretrained::open(Path::new(path)).map_err(|e| format!("the tokenizer of {} comes from {path}: {e}", dir.display()))?;
    Ok((Codec::from_checkpoint(&pre)?, Some(t.clone())))
}

/// Build a model: from a pretrained checkpoint, or from a run directory's weights when given.
fn build_start(s: &Start, p: &TransformerParams, device: Device, init: Option<&Path>) -> Result<Built, String> {
    match &s.pretrained {
        Some(pre) => {
            let mut b = crate::pretrained::build_from(pre, p, device, p.lora.is_some())?;
            if b.adapters.is_some() {
                b.base.freeze();
            }
            Ok(b)
        }
        None => build(p, device, init),
    }
}

/// Build a model on a device, loading `init` (a run directory) into the base when given.
pub fn build(p: &TransformerParams, device: Device, init: Option<&Path>) -> Result<Built, String> {
    let mut base = nn::VarStore::new(device);
    let adapters = p.lora.as_ref().map(|_| nn::VarStore::new(device));
    let model = Transformer::new(&base.root(), adapters.as_ref().map(|a| a.root()).as_ref(), p);
    if let Some(dir) = init {
        let file = dir.join("model.safetensors");
        base.load(&file).map_err(|e| format!("cannot load {}: {e}", file.display()))?;
    }
    if adapters.is_some() {
        base.freeze();
    }
    Ok(Built { base, adapters, model })
}

/// The learning rate at step `s` (1-based): linear warm-up, then cosine decay to 10% of the peak.
pub fn lr_at(p: &TransformerParams, s: usize) -> f64 {
    let (peak, w, n) = (p.learning_rate, p.warmup_steps, p.steps.max(1));
    if s <= w && w > 0 {
        return peak * s as f64 / w as f64;
    }
    let progress = if n > w { (s - w) as f64 / (n - w) as f64 } else { 1.0 };
    let min = 0.1 * peak;
    min + 0.5 * (peak - min) * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos())
}

fn scalar(t: &Tensor) -> f64 {
    f64::try_from(t).unwrap_or(f64::NAN)
}

/// Run a job to its end, sending every event to `out`. `stop` is the cancellation flag.
pub fn run(job: &TorchJob, out: &mut dyn Out, stop: &AtomicBool) {
    let start = Instant::now();
    let t = || start.elapsed().as_millis() as u64;
    match train(job, out, stop, &t) {
        Ok(Some((metrics, train_metrics))) => out.send(RunEvent::Finished { metrics, train_metrics, cv_std: Metrics::new(), t_ms: t(), artifacts: serde_json::Value::Null }),
        Ok(None) => out.send(RunEvent::Failed { error: "cancelled".into(), cancelled: true, pruned: false, t_ms: t() }),
        Err(error) => out.send(RunEvent::Failed { error, cancelled: false, pruned: false, t_ms: t() }),
    }
}

type Finals = (Metrics, Metrics);

fn train(job: &TorchJob, out: &mut dyn Out, stop: &AtomicBool, t: &dyn Fn() -> u64) -> Result<Option<Finals>, String> {
    out.send(RunEvent::Phase { phase: "loading".into(), t_ms: t() });
    let begin = start(job)?;
    let p = &begin.params;
    let codec = &begin.codec;
    let device = model::device(&p.device)?;
    tch::manual_seed(job.seed as i64);
    let split = lm::load(&job.data, job.seed).map_err(|e| e.to_string())?;
    out.send(RunEvent::Phase { phase: "tokenizing".into(), t_ms: t() });
    let data = prepare(p, codec, split, device, out, t)?;
    out.send(RunEvent::Phase { phase: "loading".into(), t_ms: t() });
    let built = build_start(&begin, p, device, job.init_from.as_deref())?;
    // DPO's reference is the starting model: the same model with its adapters switched off when
    // the policy trains adapters, else a frozen copy.
    let reference = match p.mode {
        LmMode::Dpo if !built.model.has_adapters() => {
            let mut rp = p.clone();
            rp.lora = None;
            let mut r = build_start(&begin, &rp, device, job.init_from.as_deref())?;
            r.base.freeze();
            Some(r)
        }
        _ => None,
    };
    let reference = match (p.mode, &reference) {
        (LmMode::Dpo, Some(r)) => Reference::Copy(&r.model),
        (LmMode::Dpo, None) => Reference::Base,
        _ => Reference::None,
    };
    let trainable_store = built.adapters.as_ref().unwrap_or(&built.base);
    let all = |vs: &nn::VarStore| model::count(&vs.variables().into_values().collect::<Vec<_>>());
    let params_total = all(&built.base) + built.adapters.as_ref().map_or(0, all);
    let params_trainable = model::count(&trainable_store.trainable_variables());
    let mut opt = nn::AdamW { beta1: 0.9, beta2: 0.95, wd: p.weight_decay, eps: 1e-8, amsgrad: false }
        .build(trainable_store, p.learning_rate)
        .map_err(|e| format!("cannot create the optimizer: {e}"))?;
    out.send(RunEvent::Message {
        level: Level::Info,
        text: format!(
            "{} · {} parameters, {} trainable ({:.1}%) · {} attention, KV cache {} bytes/token · {device:?}{}",
            p.mode.as_str(),
            params_total,
            params_trainable,
            100.0 * params_trainable as f64 / params_total.max(1) as f64,
            format!("{:?}", p.attention).to_lowercase(),
            p.kv_cache_bytes_per_token(),
            job.init_from.as_ref().map(|d| format!(" · from {}", d.display())).unwrap_or_default()
        ),
        t_ms: t(),
    });
    // Examples are drawn (with replacement) by torch's generator, seeded above like the text
    // windows.
    let pick = |n: usize, k: usize| -> Vec<usize> {
        Vec::<i64>::try_from(Tensor::randint(n.max(1) as i64, [k as i64], (Kind::Int64, Device::Cpu))).unwrap_or_default().into_iter().map(|i| i as usize).collect()
    };
    // Every curve starts at the starting model: an evaluation before the first update, at step 0.
    let eval = |step: usize, out: &mut dyn Out| -> Metrics {
        out.send(RunEvent::Phase { phase: "evaluating".into(), t_ms: t() });
        let ev = evaluate(p, codec, &built.model, reference, &data, device);
        for (prompt, text) in samples(p, codec, &built.model, &data, device, SAMPLES) {
            out.send(RunEvent::Sample { step: step as u64, prompt, text, t_ms: t() });
        }
        ev
    };
    let mut last_eval = eval(0, out);
    let metrics = last_eval.iter().map(|(k, v)| (format!("test.{k}"), *v)).collect();
    out.send(RunEvent::Step { step: 0, x: 0.0, fold: None, metrics, t_ms: t() });
    let mut last_train = Metrics::new();
    let mut speeds = Vec::new();
    if p.steps > 0 {
        out.send(RunEvent::Phase { phase: "training".into(), t_ms: t() });
    }
    for step in 1..=p.steps {
        if stop.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let lr = lr_at(p, step);
        opt.set_lr(lr);
        let t0 = Instant::now();
        let mut m = Metrics::new();
        opt.zero_grad();
        // grad_accum micro-batches, each loss scaled so that the step's gradient is their mean.
        let (mut loss_sum, mut tokens) = (0.0, 0usize);
        let mut stats: Vec<(&str, f64)> = Vec::new();
        for _ in 0..p.grad_accum {
            let (loss, n) = match &data {
                Data::Text { train, .. } => {
                    let (x, y) = train.random(p.batch_size);
                    (batches::loss(&built.model.forward(&x, None, true), &y), x.numel())
                }
                Data::Sft { train, .. } => {
                    let rows: Vec<&Example> = pick(train.len(), p.batch_size).into_iter().map(|i| &train[i]).collect();
                    let (x, y) = batches::pad_examples(&rows, device);
                    (batches::response_loss(&built.model, &x, &y, true), rows.iter().map(|e| e.tokens.len()).sum())
                }
                Data::Dpo { train, .. } => {
                    let rows: Vec<&(Example, Example)> = pick(train.len(), p.batch_size).into_iter().map(|i| &train[i]).collect();
                    let (loss, s, n) = dpo_loss(&built.model, reference, &rows, p.beta, device, true);
                    for (i, (k, v)) in s.into_iter().enumerate() {
                        match stats.get_mut(i) {
                            Some(e) => e.1 += v / p.grad_accum as f64,
                            None => stats.push((k, v / p.grad_accum as f64)),
                        }
                    }
                    (loss, n)
                }
            };
            (&loss / p.grad_accum as f64).backward();
            loss_sum += scalar(&loss) / p.grad_accum as f64;
            tokens += n;
        }
        if p.grad_clip > 0.0 {
            opt.clip_grad_norm(p.grad_clip);
        }
        opt.step();
        let dt = t0.elapsed().as_secs_f64().max(1e-9);
        if !loss_sum.is_finite() {
            return Err(format!("diverged: train.loss is {loss_sum} at step {step}; lower learning_rate or keep grad_clip on"));
        }
        for (k, v) in stats {
            m.insert(format!("train.{k}"), v);
        }
        m.insert("train.loss".into(), loss_sum);
        m.insert("lr".into(), lr);
        m.insert("tokens_per_s".into(), tokens as f64 / dt);
        if matches!(data, Data::Dpo { .. }) {
            m.insert("pairs_per_s".into(), (p.batch_size * p.grad_accum) as f64 / dt);
        }
        if step > 3 || p.steps <= 3 {
            speeds.push(tokens as f64 / dt);
        }
        if step % p.eval_every == 0 || step == p.steps {
            last_eval = eval(step, out);
            for (k, v) in &last_eval {
                m.insert(format!("test.{k}"), *v);
            }
            if step < p.steps {
                out.send(RunEvent::Phase { phase: "training".into(), t_ms: t() });
            }
        }
        last_train = m.iter().filter_map(|(k, v)| k.strip_prefix("train.").map(|k| (k.to_string(), *v))).collect();
        out.send(RunEvent::Step { step: step as u64, x: step as f64, fold: None, metrics: m, t_ms: t() });
    }
    let mut finals = last_eval;
    if let (Data::Sft { answers, .. }, Some(&em)) = (&data, finals.get("exact_match")) {
        let n = answers.len().min(EXACT_MATCH_MAX);
        out.send(RunEvent::Message { level: Level::Info, text: format!("exact match on {n} test instructions: {}/{n}", (em * n as f64).round()), t_ms: t() });
    }
    finals.insert("params_total".into(), params_total as f64);
    finals.insert("params_trainable".into(), params_trainable as f64);
    finals.insert("kv_cache_bytes_per_token".into(), p.kv_cache_bytes_per_token() as f64);
    if !speeds.is_empty() {
        speeds.sort_by(f64::total_cmp);
        finals.insert("tokens_per_s".into(), speeds[speeds.len() / 2]);
    }
    if let Some(dir) = &job.out_dir {
        if p.steps > 0 {
            save(job, p, &begin, &built, dir)?;
        }
    }
    Ok(Some((finals, last_train)))
}

/// Cut the data for the mode: windows of text, or tokenized examples within the context.
fn prepare(p: &TransformerParams, codec: &Codec, split: lm::LmSplit, device: Device, out: &mut dyn Out, t: &dyn Fn() -> u64) -> Result<Data, String> {
    let ctx = p.context;
    let limit = p.example_limit();
    let mut note_cut = |what: &str, cut: usize, total: usize| {
        if cut > 0 {
            out.send(RunEvent::Message {
                level: Level::Warning,
                text: format!("{cut} of {total} {what} are longer than max_length ({limit} tokens) and lost the start of their prompt; raise max_length to keep them whole"),
                t_ms: t(),
            });
        }
    };
    // An example whose response alone does not fit would keep none of its prompt.
    let check = |e: &Example, what: &str, k: usize| -> Result<(), String> {
        let needed = e.tokens.len() - e.prompt_len().saturating_sub(1);
        if needed > limit {
            return Err(format!(
                "{what} {} is {} tokens and its response alone takes {needed}, more than max_length {limit}: nothing of its prompt would be left; raise max_length or shorten that response",
                k + 1,
                e.tokens.len()
            ));
        }
        Ok(())
    };
    // Examples at full length, to count what max_length cuts, then fitted.
    let fit_all = |all: Vec<Example>, what: &str| -> Result<(usize, Vec<Example>), String> {
        for (k, e) in all.iter().enumerate() {
            check(e, what, k)?;
        }
        let cut = all.iter().filter(|e| e.tokens.len() > limit).count();
        Ok((cut, all.into_iter().map(|e| Example::fit(e.tokens, e.learn, limit)).collect()))
    };
    Ok(match (split.train, split.test) {
        (LmRows::Text(train), LmRows::Text(test)) => {
            let (train_ids, test_ids) = (codec.text(&train)?, codec.text(&test)?);
            if train_ids.len() < 2 || test_ids.len() < 2 {
                return Err("the text is shorter than two tokens".into());
            }
            // The test text's first 24 bytes, cut back to a character boundary.
            let mut cut = test.len().min(24);
            while cut > 1 && std::str::from_utf8(&test[..cut]).is_err() {
                cut -= 1;
            }
            let prompt = codec.text(&test[..cut])?;
            let bytes_per_token = test.len() as f64 / test_ids.len() as f64;
            Data::Text { train: TextWindows::new(&train_ids, ctx, device), test: TextWindows::new(&test_ids, ctx, device), prompt, bytes_per_token }
        }
        (LmRows::Instructions(train), LmRows::Instructions(test)) => {
            let full = |rows: &[lm::Instruction]| rows.iter().map(|r| codec.instruction(r, usize::MAX)).collect::<Result<Vec<_>, _>>();
            let (cut, train_ex) = fit_all(full(&train)?, "training example")?;
            note_cut("training examples", cut, train.len());
            let (_, test_ex) = fit_all(full(&test)?, "test example")?;
            let answers = test.iter().map(|r| r.expected().to_string()).collect();
            let learned: Vec<u32> = test_ex.iter().flat_map(|e| e.tokens.iter().zip(&e.learn).filter(|(_, &l)| l).map(|(&t, _)| t)).collect();
            let bytes_per_token = match codec {
                Codec::Bytes => 1.0,
                _ => codec.decode(&learned).len().max(1) as f64 / learned.len().max(1) as f64,
            };
            Data::Sft { train: train_ex, test: test_ex, answers, bytes_per_token }
        }
        (LmRows::Preferences(train), LmRows::Preferences(test)) => {
            let pairs = |rows: &[lm::Preference]| rows.iter().map(|r| codec.preference(r, usize::MAX)).collect::<Result<Vec<_>, _>>();
            let fit = |v: Vec<(Example, Example)>, what: &str| -> Result<(usize, Vec<(Example, Example)>), String> {
                for (k, (a, b)) in v.iter().enumerate() {
                    check(a, what, k)?;
                    check(b, what, k)?;
                }
                let cut = v.iter().filter(|(a, b)| a.tokens.len() > limit || b.tokens.len() > limit).count();
                Ok((cut, v.into_iter().map(|(a, b)| (Example::fit(a.tokens, a.learn, limit), Example::fit(b.tokens, b.learn, limit))).collect()))
            };
            let (cut, train_pairs) = fit(pairs(&train)?, "training pair")?;
            note_cut("training pairs", cut, train.len());
            Data::Dpo { train: train_pairs, test: fit(pairs(&test)?, "test pair")?.1 }
        }
        _ => return Err("the data's format does not fit the mode".into()),
    })
}

/// DPO's reference model.
#[derive(Clone, Copy)]
pub enum Reference<'a> {
    /// Not DPO.
    None,
    /// The policy's own base, its adapters switched off (a LoRA policy).
    Base,
    /// A frozen copy of the starting model (a full fine-tune).
    Copy(&'a Transformer),
}

/// The DPO loss of a batch of pairs, its statistics (rewards, margin, accuracy) and the example
/// tokens the policy processed (padding not counted). The reference runs without autograd.
pub fn dpo_loss(policy: &Transformer, reference: Reference<'_>, rows: &[&(Example, Example)], beta: f64, device: Device, train: bool) -> (Tensor, Vec<(&'static str, f64)>, usize) {
    let all: Vec<&Example> = rows.iter().map(|r| &r.0).chain(rows.iter().map(|r| &r.1)).collect();
    let tokens = all.iter().map(|e| e.tokens.len()).sum();
    let (x, y) = batches::pad_examples(&all, device);
    let n = rows.len() as i64;
    let lp = batches::sequence_logp(policy, &x, &y, train);
    let lr = tch::no_grad(|| match reference {
        Reference::Copy(r) => batches::sequence_logp(r, &x, &y, false),
        Reference::Base => policy.without_adapters(|| batches::sequence_logp(policy, &x, &y, false)),
        Reference::None => lp.detach(),
    });
    let diff = &lp - &lr;
    let (rc, rr) = (diff.narrow(0, 0, n) * beta, diff.narrow(0, n, n) * beta);
    let margin = &rc - &rr;
    let loss = -margin.log_sigmoid().mean(Kind::Float);
    let stats = tch::no_grad(|| {
        vec![
            ("reward_chosen", scalar(&rc.mean(Kind::Float))),
            ("reward_rejected", scalar(&rr.mean(Kind::Float))),
            ("reward_margin", scalar(&margin.mean(Kind::Float))),
            ("preference_accuracy", scalar(&margin.gt(0.0).to_kind(Kind::Float).mean(Kind::Float))),
        ]
    });
    (loss, stats, tokens)
}

/// Test instructions an SFT evaluation answers greedily for `exact_match`.
const EXACT_MATCH_MAX: usize = 32;
/// Test prompts whose greedy answers follow each evaluation (the Run view shows them).
const SAMPLES: usize = 3;

/// Test metrics without autograd: loss and bits per byte (text, SFT), SFT's exact match on up
/// to 32 test instructions, or DPO's loss, rewards and preference accuracy.
fn evaluate(p: &TransformerParams, codec: &Codec, m: &Transformer, reference: Reference<'_>, data: &Data, device: Device) -> Metrics {
    let max = p.eval_batches * p.batch_size;
    let mut out = Metrics::new();
    tch::no_grad(|| match data {
        Data::Text { test, .. } => {
            let windows = test.fixed(max);
            let mut total = 0.0;
            for chunk in windows.chunks(p.batch_size) {
                let x = Tensor::cat(&chunk.iter().map(|c| &c.0).collect::<Vec<_>>(), 0);
                let y = Tensor::cat(&chunk.iter().map(|c| &c.1).collect::<Vec<_>>(), 0);
                total += scalar(&batches::loss(&m.forward(&x, None, false), &y)) * chunk.len() as f64;
            }
            let loss = total / windows.len().max(1) as f64;
            out.insert("loss".into(), loss);
            let Data::Text { bytes_per_token, .. } = data else { return };
            out.insert("bits_per_byte".into(), loss / std::f64::consts::LN_2 / bytes_per_token);
        }
        Data::Sft { test, answers, bytes_per_token, .. } => {
            let rows: Vec<&Example> = test.iter().take(max).collect();
            let (mut sum, mut count) = (0.0, 0.0);
            for chunk in rows.chunks(p.batch_size) {
                let (x, y) = batches::pad_examples(chunk, device);
                let n = scalar(&y.ne(batches::IGNORE).sum(Kind::Float));
                sum += scalar(&batches::response_loss(m, &x, &y, false)) * n;
                count += n;
            }
            let loss = sum / count.max(1.0);
            out.insert("loss".into(), loss);
            out.insert("bits_per_byte".into(), loss / std::f64::consts::LN_2 / bytes_per_token);
            let n = answers.len().min(EXACT_MATCH_MAX);
            let right = (0..n).filter(|&i| generate::answer(m, codec, &test[i], device) == answers[i].trim()).count();
            out.insert("exact_match".into(), right as f64 / n.max(1) as f64);
        }
        Data::Dpo { test, .. } => {
            let rows: Vec<&(Example, Example)> = test.iter().take(max).collect();
            let mut acc: std::collections::BTreeMap<&str, f64> = Default::default();
            for chunk in rows.chunks(p.batch_size) {
                let (loss, stats, _) = dpo_loss(m, reference, chunk, p.beta, device, false);
                *acc.entry("loss").or_default() += scalar(&loss) * chunk.len() as f64;
                for (k, v) in stats {
                    *acc.entry(k).or_default() += v * chunk.len() as f64;
                }
            }
            for (k, v) in acc {
                out.insert(k.to_string(), v / rows.len().max(1) as f64);
            }
        }
    });
    out
}

/// Greedy continuations of the first `n` test prompts (the text's start for pretraining), for
/// the Run view: (prompt, answer) as text.
fn samples(p: &TransformerParams, codec: &Codec, m: &Transformer, data: &Data, device: Device, n: usize) -> Vec<(String, String)> {
    let prompts: Vec<&[u32]> = match data {
        Data::Text { prompt, .. } => vec![prompt.as_slice()],
        Data::Sft { test, .. } => test.iter().take(n).map(|e| &e.tokens[..e.prompt_len()]).collect(),
        Data::Dpo { test, .. } => test.iter().take(n).map(|e| &e.0.tokens[..e.0.prompt_len()]).collect(),
    };
    let stops: Vec<i64> = if matches!(data, Data::Text { .. }) { Vec::new() } else { codec.stops().into_iter().map(i64::from).collect() };
    prompts
        .into_iter()
        .map(|prompt| {
            let ids: Vec<i64> = prompt.iter().map(|&i| i64::from(i)).collect();
            let got = generate::generate(m, device, &ids, 64.min(p.context), generate::Sampler::GREEDY, &stops, |_| {});
            let new: Vec<u32> = generate::strip_stop(&got.ids, &stops).iter().map(|&i| i as u32).collect();
            (codec.decode(prompt), codec.decode(&new))
        })
        .collect()
}

/// Write the checkpoint: `model.safetensors` (adapters merged in for LoRA runs),
/// `adapters.safetensors` for LoRA runs, and `model.json` saying what they are.
fn save(job: &TorchJob, p: &TransformerParams, begin: &Start, b: &Built, dir: &Path) -> Result<(), String> {
    let tokenizer = &begin.tokenizer;
    let fail = |e: &dyn std::fmt::Display| format!("cannot save the checkpoint in {}: {e}", dir.display());
    // Each file is written under a temporary name and renamed into place: a run stopped
    // mid-save leaves no partial checkpoint under the name a later run starts from.
    let put = |name: &str, write: &dyn Fn(&Path) -> Result<(), tch::TchError>| -> Result<(), String> {
        let path = dir.join(name);
        let tmp = store::temporary(&path);
        if let Err(e) = write(&tmp) {
            let _ = std::fs::remove_file(&tmp);
            return Err(fail(&e));
        }
        store::commit(&tmp, &path).map_err(|e| fail(&e))
    };
    match &b.adapters {
        None => put("model.safetensors", &|p| b.base.save(p))?,
        Some(a) => {
            let merged = b.model.merged_weights(&b.base).map_err(|e| format!("cannot merge the LoRA adapters: {e}"))?;
            let named: Vec<(&str, Tensor)> = merged.iter().map(|(n, t)| (n.as_str(), t.to_device(Device::Cpu))).collect();
            put("model.safetensors", &|p| Tensor::write_safetensors(&named, p))?;
            put("adapters.safetensors", &|p| a.save(p))?;
        }
    }
    let mut params = p.clone();
    params.lora = None; // the saved weights are merged
    params.context = params.context.max(begin.max_context);
    let doc = serde_json::json!({
        "format": "ratlab-model",
        "version": 1,
        "algorithm": "transformer",
        "backend": "torch",
        "params": params,
        "trained_with": job.params,
        "tokenizer": tokenizer,
        // What the run started from (a checkpoint or a run directory): the base a PEFT export
        // of its adapters applies to.
        "base": job.init_from.as_ref().map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())),
        "weights": "model.safetensors",
        "adapters": b.adapters.as_ref().map(|_| "adapters.safetensors"),
    });
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    store::write_atomic(&dir.join("model.json"), text.as_bytes()).map_err(|e| format!("cannot write model.json: {e}"))
}
