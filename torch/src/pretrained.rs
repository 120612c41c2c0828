//! Language models the worker can score with and generate from, whichever their source: a
//! ratlab transformer run (bytes as tokens) or a pretrained checkpoint (a GGUF file or a Hugging
//! Face directory) with its own tokenizer and chat template. A checkpoint's f32 tensors come from
//! `ratlab::data::pretrained` and are copied once into the model's variables.

use crate::model::{self, Transformer};
use ratlab::backends::params::{AttentionKind, LmMode, NetShape, TransformerParams};
use ratlab::data::lm::{alpaca_prompt, EOS};
use ratlab::data::pretrained::chat::{ChatTemplate, Message};
use ratlab::data::pretrained::tokenizer::ModelTokenizer;
use ratlab::data::pretrained::{ModelConfig, Pretrained};
use std::io::{IsTerminal, Write};
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

/// How text becomes ids for a model.
pub enum Tokens {
    /// ratlab's byte-level models: a byte is a token; `sft`/`dpo` runs answer Alpaca prompts.
    Bytes { chat: bool },
    Model { tokenizer: Box<ModelTokenizer>, template: Box<ChatTemplate> },
}

/// A loaded model ready to score and generate.
pub struct Lm {
    pub params: TransformerParams,
    pub model: Transformer,
    pub device: Device,
    pub tokens: Tokens,
    /// Ids that end generation (EOS, end of turn).
    pub stops: Vec<i64>,
    pub store: nn::VarStore,
}

/// Parameters for a checkpoint's network: the config's shape on top of `template` (training
/// settings from an experiment, or defaults for scoring and generation).
pub fn params_for(c: &ModelConfig, rope_factors: Option<Vec<f64>>, template: &TransformerParams) -> TransformerParams {
    TransformerParams {
        layers: c.layers,
        d_model: c.d_model,
        heads: c.heads,
        context: c.context,
        mlp_hidden: c.ffn,
        attention: if c.kv_heads == c.heads { AttentionKind::Mha } else { AttentionKind::Gqa },
        kv_heads: c.kv_heads,
        shape: Box::new(NetShape {
            architecture: c.architecture.clone(),
            vocab: c.vocab,
            head_dim: c.head_dim,
            rope_base: c.rope_base,
            rope_factors: rope_factors.unwrap_or_default(),
            norm_eps: c.norm_eps,
            tied: c.tied,
            qkv_bias: c.qkv_bias,
        }),
        ..template.clone()
    }
}

/// Training settings that do not matter for inference.
pub fn inference_template(device: &str) -> TransformerParams {
    TransformerParams {
        mode: LmMode::Pretrain,
        layers: 1,
        d_model: 2,
        heads: 1,
        context: 2,
        mlp_hidden: 2,
        attention: AttentionKind::Mha,
        kv_heads: 1,
        kv_lora_rank: 0,
        rope_dim: 0,
        steps: 0,
        batch_size: 1,
        learning_rate: 0.0,
        warmup_steps: 0,
        weight_decay: 0.0,
        grad_clip: 0.0,
        lora: None,
        init_from: None,
        beta: 0.0,
        device: device.into(),
        eval_every: 0,
        eval_batches: 0,
        shape: Box::default(),
    }
}

/// Progress on stderr when it is a terminal: `loading NAME: 12/272 tensors`.
struct Progress {
    on: bool,
    what: String,
}

impl Progress {
    fn show(&self, done: usize, total: usize) {
        if self.on {
            eprint!("\rloading {}: {done}/{total} tensors", self.what);
            let _ = std::io::stderr().flush();
        }
    }
    fn end(&self) {
        if self.on {
            eprint!("\r\x1b[K");
        }
    }
}

/// Build `params`' network on `device` and copy a checkpoint's tensors into it.
pub fn build_from(pre: &Pretrained, params: &TransformerParams, device: Device, adapters: bool) -> Result<crate::train::Built, String> {
    let base = nn::VarStore::new(device);
    let adapter_store = adapters.then(|| nn::VarStore::new(device));
    let model = Transformer::new(&base.root(), adapter_store.as_ref().map(|a| a.root()).as_ref(), params);
    let vars = base.variables();
    let total = pre.config.expected().len();
    let progress = Progress { on: std::io::stderr().is_terminal(), what: pre.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default() };
    let mut done = 0;
    tch::no_grad(|| {
        pre.tensors(|name, shape, data| {
            let var = vars.get(name).ok_or_else(|| format!("the model has no variable {name} for the checkpoint's tensor"))?;
            let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
            if var.size() != dims {
                return Err(format!("tensor {name} is {dims:?} but the model expects {:?}", var.size()));
            }
            let mut var = var.shallow_clone();
            var.copy_(&Tensor::from_slice(&data).view(dims.as_slice()));
            done += 1;
            progress.show(done, total);
            Ok(())
        })
    })?;
    progress.end();
    Ok(crate::train::Built { base, adapters: adapter_store, model })
}

impl Lm {
    /// Load a pretrained checkpoint (a `.gguf` file or a model directory) or a ratlab
    /// transformer run, on `device` (`auto`, `cpu`, `cuda`).
    pub fn load(path: &Path, device: &str) -> Result<Lm, String> {
        if !Pretrained::is_checkpoint(path) {
            let loaded = crate::checkpoint::load(path, device)?;
            let dir = if path.is_file() { path.parent().unwrap_or(path) } else { path };
            let mode = ratlab::experiments::plan::read_checkpoint(dir).ok().and_then(|d| d["trained_with"]["mode"].as_str().map(str::to_string));
            let chat = matches!(mode.as_deref(), Some("sft" | "dpo"));
            return Ok(Lm { params: loaded.params, model: loaded.model, device: loaded.device, tokens: Tokens::Bytes { chat }, stops: vec![EOS as i64], store: loaded.store });
        }
        let pre = Pretrained::open(path)?;
        let tokenizer = pre.tokenizer()?;
        let name = |id: Option<u32>| id.map(|i| tokenizer.token(i)).unwrap_or_default();
        let template = ChatTemplate::new(pre.chat_template().as_deref(), &name(tokenizer.bos), &name(tokenizer.eos)).map_err(|e| format!("{}: {e}", path.display()))?;
        let device = model::device(device)?;
        let params = params_for(&pre.config, pre.rope_factors()?, &inference_template("auto"));
        let built = build_from(&pre, &params, device, false)?;
        let stops = tokenizer.stops.iter().map(|&i| i as i64).collect();
        Ok(Lm { params, model: built.model, device, tokens: Tokens::Model { tokenizer: Box::new(tokenizer), template: Box::new(template) }, stops, store: built.base })
    }

    /// Ids of a text as the model reads it.
    pub fn encode(&self, text: &str) -> Result<Vec<i64>, String> {
        match &self.tokens {
            Tokens::Bytes { .. } => Ok(text.bytes().map(i64::from).collect()),
            Tokens::Model { tokenizer, .. } => Ok(tokenizer.encode(text)?.into_iter().map(i64::from).collect()),
        }
    }

    /// A prompt as the model should see it: a pretrained model's chat template with the
    /// generation prompt when `chat`; an instruction-tuned byte model's Alpaca prompt unless
    /// `raw`.
    pub fn prompt(&self, text: &str, chat: bool, raw: bool) -> Result<String, String> {
        match &self.tokens {
            Tokens::Bytes { chat: tuned } => Ok(if (*tuned || chat) && !raw { alpaca_prompt(text, "") } else { text.to_string() }),
            Tokens::Model { template, .. } if chat && !raw => template.render(&[Message::new("user", text)], true),
            Tokens::Model { .. } => Ok(text.to_string()),
        }
    }

    /// Whether generation should stop at EOS / end of turn (always for pretrained models; for
    /// byte models, when they are instruction-tuned and the prompt is templated).
    pub fn stops_for(&self, chat: bool, raw: bool) -> bool {
        match &self.tokens {
            Tokens::Bytes { chat: tuned } => (*tuned || chat) && !raw,
            Tokens::Model { .. } => true,
        }
    }

    /// Text of ids (bytes decoded lossily for byte models).
    pub fn decode(&self, ids: &[i64]) -> String {
        match &self.tokens {
            Tokens::Bytes { .. } => String::from_utf8_lossy(&ids.iter().map(|&i| i as u8).collect::<Vec<_>>()).into_owned(),
            Tokens::Model { tokenizer, .. } => tokenizer.decode(&ids.iter().map(|&i| i as u32).collect::<Vec<_>>()),
        }
    }

    /// The model's vocabulary size.
    pub fn vocab(&self) -> i64 {
        self.params.shape.vocab as i64
    }
}

/// How to pick the next token.
#[derive(Debug, Clone, Copy)]
pub struct Sampler {
    /// 0: greedy.
    pub temperature: f64,
    /// Keep the `top_k` most likely tokens (0: all).
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches `top_p` (1: all).
    pub top_p: f64,
}

/// One generated continuation.
pub struct Generated {
    pub ids: Vec<i64>,
    /// log-softmax of the model's distribution (before temperature) at each generated id.
    pub logprobs: Vec<f64>,
}

/// Continue `prompt` (ids) by up to `max_new` tokens with a KV cache, calling `each` with every
/// new id as it comes. Generation ends after a stop id (which is kept) when `stop` is set.
pub fn generate(lm: &Lm, prompt: &[i64], max_new: usize, s: Sampler, stop: bool, mut each: impl FnMut(i64)) -> Generated {
    tch::no_grad(|| {
        let m = &lm.model;
        let mut cache: Vec<model::LayerCache> = (0..m.p.layers).map(|_| model::LayerCache::default()).collect();
        let mut out = Generated { ids: Vec::with_capacity(max_new), logprobs: Vec::with_capacity(max_new) };
        let start: Vec<i64> = if prompt.is_empty() { vec![lm.stops.first().copied().unwrap_or(b'\n' as i64)] } else { prompt.to_vec() };
        let context = lm.params.context.max(1);
        let mut input = Tensor::from_slice(&start).unsqueeze(0).to_device(lm.device);
        for step in 0..max_new {
            if start.len() + step >= context {
                break;
            }
            let h = m.hidden(&input, Some(&mut cache), false);
            let last = m.logits(&h.select(1, -1)).squeeze_dim(0).to_kind(Kind::Float);
            let logp = last.log_softmax(-1, Kind::Float);
            let next = pick(&last, s);
            let id = i64::try_from(&next).unwrap_or(0);
            out.logprobs.push(f64::try_from(logp.get(id)).unwrap_or(f64::NAN));
            out.ids.push(id);
            each(id);
            if stop && lm.stops.contains(&id) {
                break;
            }
            input = next.view([1, 1]);
        }
        out
    })
}

/// Greedy, or a sample from softmax(logits / T) restricted to the top-k and the top-p nucleus,
/// with torch's seeded generator.
fn pick(logits: &Tensor, s: Sampler) -> Tensor {
    if s.temperature <= 0.0 {
        return logits.argmax(-1, false);
    }
    let mut l = logits / s.temperature;
    let n = l.size()[0];
    if s.top_k > 0 && (s.top_k as i64) < n {
        let (vals, _) = l.topk(s.top_k as i64, -1, true, true);
        let kth = vals.get(s.top_k as i64 - 1);
        l = l.masked_fill(&l.lt_tensor(&kth), f64::NEG_INFINITY);
    }
    if s.top_p < 1.0 {
        let (sorted, idx) = l.sort(-1, true);
        let probs = sorted.softmax(-1, Kind::Float);
        // Drop a token when the tokens ranked above it already reach top_p.
        let before = probs.cumsum(-1, Kind::Float) - &probs;
        let drop_sorted = before.ge(s.top_p);
        let drop = Tensor::zeros_like(&drop_sorted).scatter(-1, &idx, &drop_sorted.to_kind(Kind::Int64)).to_kind(Kind::Bool);
        l = l.masked_fill(&drop, f64::NEG_INFINITY);
    }
    l.softmax(-1, Kind::Float).multinomial(1, true).squeeze_dim(0)
}

/// Next-token loss of a text's ids, in windows of the model's context.
pub struct Score {
    /// Predicted tokens (every token but the first of each window).
    pub tokens: usize,
    /// Summed negative log-likelihood in nats.
    pub nll_sum: f64,
}

/// Score `ids` in consecutive windows of `window` tokens; the head runs on chunks of positions
/// so that the `vocab`-wide logits of a long window never sit in memory at once.
pub fn score(lm: &Lm, ids: &[i64], window: usize) -> Score {
    tch::no_grad(|| {
        let mut s = Score { tokens: 0, nll_sum: 0.0 };
        for w in ids.chunks(window.max(2)) {
            if w.len() < 2 {
                continue;
            }
            let x = Tensor::from_slice(w).unsqueeze(0).to_device(lm.device);
            let h = lm.model.hidden(&x, None, false).squeeze_dim(0); // [T, d]
            let targets = Tensor::from_slice(&w[1..]).to_device(lm.device);
            let n = w.len() as i64 - 1;
            const CHUNK: i64 = 512;
            let mut start = 0;
            while start < n {
                let len = CHUNK.min(n - start);
                let logits = lm.model.logits(&h.narrow(0, start, len)).to_kind(Kind::Float);
                let nll = logits.cross_entropy_for_logits(&targets.narrow(0, start, len)) * len as f64;
                s.nll_sum += f64::try_from(nll).unwrap_or(f64::NAN);
                start += len;
            }
            s.tokens += n as usize;
        }
        s
    })
}
