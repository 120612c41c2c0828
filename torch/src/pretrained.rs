//! Language models the worker can score with and generate from, whichever their source: a
//! ratlab transformer run (bytes as tokens) or a pretrained checkpoint (a GGUF file or a Hugging
//! Face directory) with its own tokenizer and chat template. A checkpoint's f32 tensors come from
//! `ratlab::data::pretrained` and are copied once into the model's variables.

use crate::model::{self, Transformer};
pub use crate::generate::{Generated, Sampler};
use ratlab::backends::params::{AttentionKind, LmMode, NetShape, TransformerParams};
use ratlab::data::lm::{alpaca_prompt, Codec};
use ratlab::data::pretrained::chat::Message;
use ratlab::data::pretrained::{ModelConfig, Pretrained};
use std::io::{IsTerminal, Write};
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

/// Continue `prompt` with `lm`, stopping after a stop id when `stop` (see [`crate::generate::generate`]).
pub fn generate(lm: &Lm, prompt: &[i64], max_new: usize, s: Sampler, stop: bool, each: impl FnMut(i64)) -> Generated {
    let stops = if stop { lm.stops.as_slice() } else { &[] };
    crate::generate::generate(&lm.model, lm.device, prompt, max_new, s, stops, each)
}

/// A loaded model ready to score and generate.
pub struct Lm {
    pub params: TransformerParams,
    pub model: Transformer,
    pub device: Device,
    /// How text becomes ids: bytes, or the model's tokenizer and chat template.
    pub codec: Codec,
    /// Tuned with sft or dpo: prompts are instructions, answered in the model's template.
    pub tuned: bool,
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
        grad_accum: 1,
        max_length: 0,
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
    let model = Transformer::for_checkpoint(&base.root(), adapter_store.as_ref().map(|a| a.root()).as_ref(), params);
    let vars = base.variables();
    let total = vars.len();
    let progress = Progress { on: std::io::stderr().is_terminal(), what: pre.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default() };
    let mut filled = std::collections::HashSet::new();
    tch::no_grad(|| {
        pre.tensors(&mut |name, shape, fill| {
            let var = vars.get(name).ok_or_else(|| format!("the model has no variable {name} for the checkpoint's tensor"))?;
            let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
            if var.size() != dims {
                return Err(format!("tensor {name} is {dims:?} but the model expects {:?}", var.size()));
            }
            let n = shape.iter().product::<usize>();
            if var.device() == Device::Cpu && var.kind() == Kind::Float && var.is_contiguous() {
                // SAFETY: `var` is a contiguous CPU f32 tensor of exactly `n` elements (checked
                // above), created for this model; nothing else reads or writes it while the
                // checkpoint's values are written into it.
                let out = unsafe { std::slice::from_raw_parts_mut(var.data_ptr().cast::<f32>(), n) };
                fill(out)?;
            } else {
                let mut buf = vec![0f32; n];
                fill(&mut buf)?;
                var.shallow_clone().copy_(&Tensor::from_slice(&buf).view(dims.as_slice()).to_device(var.device()));
            }
            filled.insert(name.to_string());
            progress.show(filled.len(), total);
            Ok(())
        })
    })?;
    progress.end();
    // The base variables start uninitialized: every one must come from the checkpoint (the
    // adapters' live in their own store).
    if let Some(missing) = vars.keys().find(|k| !filled.contains(*k)) {
        return Err(format!("{}: the checkpoint has no tensor for the model's {missing}", pre.path.display()));
    }
    Ok(crate::train::Built { base, adapters: adapter_store, model })
}

impl Lm {
    /// Load a pretrained checkpoint (a `.gguf` file or a model directory) or a ratlab
    /// transformer run, on `device` (`auto`, `cpu`, `cuda`).
    pub fn load(path: &Path, device: &str) -> Result<Lm, String> {
        if !Pretrained::is_checkpoint(path) {
            let loaded = crate::checkpoint::load(path, device)?;
            let dir = if path.is_file() { path.parent().unwrap_or(path) } else { path };
            let tuned = matches!(loaded.doc["trained_with"]["mode"].as_str(), Some("sft" | "dpo"));
            let (codec, _) = crate::train::run_codec(dir, &loaded.doc)?;
            let stops = codec.stops().into_iter().map(i64::from).collect();
            let mut model = loaded.model;
            model.fuse_for_inference();
            return Ok(Lm { params: loaded.params, model, device: loaded.device, codec, tuned, stops, store: loaded.store });
        }
        let pre = Pretrained::open(path)?;
        let codec = Codec::from_checkpoint(&pre).map_err(|e| format!("{}: {e}", path.display()))?;
        let device = model::device(device)?;
        let params = params_for(&pre.config, pre.rope_factors()?, &inference_template("auto"));
        let mut built = build_from(&pre, &params, device, false)?;
        built.model.fuse_for_inference();
        let stops = codec.stops().into_iter().map(i64::from).collect();
        Ok(Lm { params, model: built.model, device, codec, tuned: false, stops, store: built.base })
    }

    /// Ids of a text as the model reads it.
    pub fn encode(&self, text: &str) -> Result<Vec<i64>, String> {
        Ok(self.codec.text(text.as_bytes())?.into_iter().map(i64::from).collect())
    }

    /// A prompt as the model should see it: a pretrained model's chat template with the
    /// generation prompt when `chat`; an instruction-tuned byte model's Alpaca prompt unless
    /// `raw`.
    pub fn prompt(&self, text: &str, chat: bool, raw: bool) -> Result<String, String> {
        let templated = (chat || self.tuned) && !raw;
        match &self.codec {
            Codec::Bytes if templated => Ok(alpaca_prompt(text, "")),
            Codec::Model { template, .. } if templated => template.render(&[Message::new("user", text)], true),
            _ => Ok(text.to_string()),
        }
    }

    /// Whether generation should stop at EOS / end of turn (always for pretrained tokenizers;
    /// for byte models, when they are instruction-tuned and the prompt is templated).
    pub fn stops_for(&self, chat: bool, raw: bool) -> bool {
        match &self.codec {
            Codec::Bytes => (self.tuned || chat) && !raw,
            Codec::Model { .. } => true,
        }
    }

    /// Whether ids are bytes (ratlab's own models).
    pub fn bytes(&self) -> bool {
        matches!(self.codec, Codec::Bytes)
    }

    /// Text of ids (bytes decoded lossily for byte models).
    pub fn decode(&self, ids: &[i64]) -> String {
        self.codec.decode(&ids.iter().map(|&i| i as u32).collect::<Vec<_>>())
    }

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
