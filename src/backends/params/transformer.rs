//! LLaMA-style transformers on the torch backend: the table, typed parameters (which the torch
//! worker receives with its job), LoRA adapters, and the shapes a transformer cannot take.

use super::{f, i, p, show, w, ParamDef, ParamKind, ParamMap, ParamValue, NONNEG, POS};
use serde_json::Value;

const SIZE: ParamKind = ParamKind::Int { min: 1, max: 1 << 16 };

/// `transformer`'s parameter table.
pub(super) static TRANSFORMER: &[ParamDef] = &[
    p("mode", ParamKind::Choice(&["pretrain", "sft", "dpo"]), "pretrain",
      "pretrain: next-byte prediction on text; sft: instruction tuning, loss on the responses only; dpo: preference tuning against the frozen starting model"),
    p("layers", ParamKind::Int { min: 1, max: 256 }, "4", "transformer blocks"),
    p("d_model", SIZE, "128", "width of the residual stream"),
    p("heads", ParamKind::Int { min: 1, max: 1024 }, "4", "query heads (head dim = d_model / heads)"),
    p("context", ParamKind::Int { min: 8, max: 1 << 16 }, "128", "tokens (bytes) per training window"),
    p("mlp_hidden", ParamKind::Int { min: 0, max: 1 << 20 }, "0", "SwiGLU width; 0 = 8/3·d_model rounded up to a multiple of 32"),
    p("attention", ParamKind::Choice(&["mha", "mqa", "gqa", "mla"]), "mha",
      "mha: a K/V head per query head; mqa: one shared K/V head; gqa: kv_heads K/V heads; mla: K/V from a cached low-rank latent (DeepSeek-V2)"),
    p("kv_heads", ParamKind::Int { min: 1, max: 1024 }, "2", "K/V heads for gqa (must divide heads)"),
    p("kv_lora_rank", ParamKind::Int { min: 1, max: 1 << 16 }, "32", "mla: size of the normalized K/V latent"),
    p("rope_dim", ParamKind::Int { min: 2, max: 1 << 12 }, "16", "mla: size of the decoupled rotary key shared by the heads (even)"),
    p("steps", ParamKind::Int { min: 0, max: 10_000_000 }, "300", "optimizer steps (0: evaluate the init_from model as it is, with its answers to the first test prompts)"),
    p("batch_size", ParamKind::Int { min: 1, max: 1 << 16 }, "16", "windows (or examples, or pairs) per micro-batch"),
    p("grad_accum", ParamKind::Int { min: 1, max: 1 << 16 }, "1", "micro-batches per optimizer step: a step learns from grad_accum × batch_size examples at the memory of one micro-batch"),
    p("max_length", ParamKind::Int { min: 0, max: 1 << 20 }, "0", "sft/dpo: the longest example kept, in tokens; a longer one loses the start of its prompt (0: the context)"),
    p("learning_rate", ParamKind::Float { min: 0.0, max: 10.0, min_open: true }, "3e-4", "peak AdamW learning rate"),
    p("warmup_steps", ParamKind::Int { min: 0, max: 10_000_000 }, "30", "linear warm-up, then cosine decay to 10% of the peak"),
    p("weight_decay", NONNEG, "0.1", "AdamW decoupled weight decay"),
    p("grad_clip", NONNEG, "1.0", "clip the global gradient norm to this (0 = off)"),
    p("lora", ParamKind::Lora, "\"none\"",
      "train low-rank adapters on a frozen base: {rank: 8, alpha: 16, dropout: 0.0, targets: [q, v]} (targets among q, k, v, o, gate, up, down, or all; the default is all for a pretrained model, [q, v] for ratlab's own)"),
    p("init_from", ParamKind::RunRef, "\"none\"", "an earlier run of this experiment (by name; it runs first), a run directory, or a pretrained model (a .gguf file or a Hugging Face model directory): start from its weights, shape and tokenizer"),
    p("beta", POS, "0.1", "dpo: temperature β; the frozen reference is the starting model"),
    p("device", ParamKind::Choice(&["auto", "cpu", "cuda"]), "auto", "auto uses CUDA when there is a GPU"),
    p("eval_every", ParamKind::Int { min: 1, max: 10_000_000 }, "25", "steps between test evaluations (and sample generations)"),
    p("eval_batches", ParamKind::Int { min: 1, max: 100_000 }, "8", "test batches per evaluation (at most the whole test part)"),
];

/// The parameters of `algorithm: transformer` that fix the network's shape: a run that starts
/// from another run's checkpoint takes them from it.
pub const ARCHITECTURE: [&str; 8] = ["layers", "d_model", "heads", "mlp_hidden", "attention", "kv_heads", "kv_lora_rank", "rope_dim"];

/// What a transformer run trains for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LmMode {
    Pretrain,
    Sft,
    Dpo,
}

impl LmMode {
    /// The data format each mode learns from.
    pub fn format(self) -> crate::data::lm::LmFormat {
        use crate::data::lm::LmFormat;
        match self {
            LmMode::Pretrain => LmFormat::Text,
            LmMode::Sft => LmFormat::Instructions,
            LmMode::Dpo => LmFormat::Preferences,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            LmMode::Pretrain => "pretrain",
            LmMode::Sft => "sft",
            LmMode::Dpo => "dpo",
        }
    }
}

/// The attention variants, which trade KV-cache size against quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttentionKind {
    Mha,
    Mqa,
    Gqa,
    Mla,
}

/// LoRA adapters: `W x + (α/r)·B A x` with the base `W` frozen and `B` starting at zero.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoraConfig {
    pub rank: usize,
    pub alpha: f64,
    pub dropout: f64,
    pub targets: Vec<String>,
}

impl LoraConfig {
    /// The projections an adapter can sit on.
    pub const TARGETS: [&'static str; 7] = ["q", "k", "v", "o", "gate", "up", "down"];

    pub(super) fn parse(v: &Value) -> Result<LoraConfig, String> {
        let Value::Object(m) = v else { return Err("lora must be none or {rank, alpha, dropout, targets}".into()) };
        for k in m.keys() {
            if !["rank", "alpha", "dropout", "targets"].contains(&k.as_str()) {
                return Err(format!("unknown field '{k}' in lora; allowed: rank, alpha, dropout, targets"));
            }
        }
        let rank = match m.get("rank") {
            None => 8,
            Some(r) => r.as_u64().filter(|r| (1..=4096).contains(r)).ok_or_else(|| format!("lora.rank {} is not allowed; expected an integer in [1, 4096]", show(r)))? as usize,
        };
        let alpha = match m.get("alpha") {
            None => 2.0 * rank as f64,
            Some(a) => a.as_f64().filter(|a| a.is_finite() && *a > 0.0).ok_or_else(|| format!("lora.alpha {} is not allowed; expected a number > 0", show(a)))?,
        };
        let dropout = match m.get("dropout") {
            None => 0.0,
            Some(d) => d.as_f64().filter(|d| (0.0..1.0).contains(d)).ok_or_else(|| format!("lora.dropout {} is not allowed; expected a number in [0, 1)", show(d)))?,
        };
        let targets = match m.get("targets") {
            // Resolved by the plan once it knows whether the base is pretrained.
            None => Vec::new(),
            Some(Value::String(s)) if s == "all" => Self::TARGETS.iter().map(|t| t.to_string()).collect(),
            Some(Value::Array(a)) if !a.is_empty() => {
                let mut out = Vec::new();
                for t in a {
                    match t.as_str() {
                        Some(s) if Self::TARGETS.contains(&s) && !out.iter().any(|o: &String| o == s) => out.push(s.to_string()),
                        _ => return Err(format!("lora.targets: {} is not allowed; expected distinct names among {}", show(t), Self::TARGETS.join(", "))),
                    }
                }
                out
            }
            Some(other) => return Err(format!("lora.targets {} is not allowed; expected all or a list among {}", show(other), Self::TARGETS.join(", "))),
        };
        Ok(LoraConfig { rank, alpha, dropout, targets })
    }
}

/// Parameters of a LLaMA-style transformer on the torch backend. Serializable: the torch
/// worker receives them with its job.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TransformerParams {
    pub mode: LmMode,
    pub layers: usize,
    pub d_model: usize,
    pub heads: usize,
    pub context: usize,
    /// SwiGLU width, resolved (never 0 here).
    pub mlp_hidden: usize,
    pub attention: AttentionKind,
    pub kv_heads: usize,
    pub kv_lora_rank: usize,
    pub rope_dim: usize,
    pub steps: usize,
    pub batch_size: usize,
    /// Micro-batches per optimizer step.
    #[serde(default = "one")]
    pub grad_accum: usize,
    /// The longest SFT/DPO example kept (0: the context).
    #[serde(default)]
    pub max_length: usize,
    pub learning_rate: f64,
    pub warmup_steps: usize,
    pub weight_decay: f64,
    pub grad_clip: f64,
    pub lora: Option<LoraConfig>,
    /// A run name or directory, as written; the runner resolves it to a checkpoint.
    pub init_from: Option<String>,
    pub beta: f64,
    pub device: String,
    pub eval_every: usize,
    pub eval_batches: usize,
    /// What a pretrained checkpoint fixes beyond the YAML's shape (the defaults are ratlab's
    /// byte-level model, so older `model.json` files read as before).
    #[serde(default)]
    pub shape: Box<NetShape>,
}

/// The parts of a network that a pretrained checkpoint decides: vocabulary, head width, rotary
/// base and scaling, norm epsilon, tied embeddings and q/k/v biases. A model trained from
/// scratch keeps the defaults.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct NetShape {
    /// `bytes` for ratlab's own models, else the checkpoint's architecture (`llama`, `qwen2`).
    pub architecture: String,
    pub vocab: usize,
    /// 0: d_model / heads.
    pub head_dim: usize,
    pub rope_base: f64,
    /// Divisors of the rotary frequencies (LLaMA-3.1 scaling), one per pair; empty for none.
    pub rope_factors: Vec<f64>,
    pub norm_eps: f64,
    pub tied: bool,
    pub qkv_bias: bool,
}

impl Default for NetShape {
    fn default() -> NetShape {
        NetShape { architecture: "bytes".into(), vocab: crate::data::lm::VOCAB as usize, head_dim: 0, rope_base: 10_000.0, rope_factors: Vec::new(), norm_eps: 1e-5, tied: false, qkv_bias: false }
    }
}

fn one() -> usize {
    1
}

impl TransformerParams {
    /// The longest SFT/DPO example kept, in tokens.
    pub fn example_limit(&self) -> usize {
        if self.max_length > 0 {
            self.max_length
        } else {
            self.context
        }
    }
    pub fn head_dim(&self) -> usize {
        if self.shape.head_dim > 0 {
            return self.shape.head_dim;
        }
        self.d_model / self.heads.max(1)
    }
    /// K/V heads actually used by the variant (MLA has none: it caches a latent).
    pub fn kv_heads_used(&self) -> usize {
        match self.attention {
            AttentionKind::Mha => self.heads,
            AttentionKind::Mqa => 1,
            AttentionKind::Gqa => self.kv_heads,
            AttentionKind::Mla => 0,
        }
    }
    /// fp32 bytes the KV cache holds per generated token, whole model: K and V per layer, or
    /// MLA's latent and shared rotary key.
    pub fn kv_cache_bytes_per_token(&self) -> usize {
        let per_layer = match self.attention {
            AttentionKind::Mla => self.kv_lora_rank + self.rope_dim,
            _ => 2 * self.kv_heads_used() * self.head_dim(),
        };
        4 * self.layers * per_layer
    }
}

/// Typed parameters from a checked, defaults-filled map (the SwiGLU width resolved).
pub(super) fn from_map(m: &ParamMap) -> TransformerParams {
    let d_model = i(m, "d_model") as usize;
    let hidden = match i(m, "mlp_hidden") as usize {
        0 => (8 * d_model).div_ceil(3).div_ceil(32) * 32,
        h => h,
    };
    TransformerParams {
        mode: match w(m, "mode") {
            "sft" => LmMode::Sft,
            "dpo" => LmMode::Dpo,
            _ => LmMode::Pretrain,
        },
        layers: i(m, "layers") as usize,
        d_model,
        heads: i(m, "heads") as usize,
        context: i(m, "context") as usize,
        mlp_hidden: hidden,
        attention: match w(m, "attention") {
            "mqa" => AttentionKind::Mqa,
            "gqa" => AttentionKind::Gqa,
            "mla" => AttentionKind::Mla,
            _ => AttentionKind::Mha,
        },
        kv_heads: i(m, "kv_heads") as usize,
        kv_lora_rank: i(m, "kv_lora_rank") as usize,
        rope_dim: i(m, "rope_dim") as usize,
        steps: i(m, "steps") as usize,
        batch_size: i(m, "batch_size") as usize,
        grad_accum: i(m, "grad_accum") as usize,
        max_length: i(m, "max_length") as usize,
        learning_rate: f(m, "learning_rate"),
        warmup_steps: i(m, "warmup_steps") as usize,
        weight_decay: f(m, "weight_decay"),
        grad_clip: f(m, "grad_clip"),
        lora: match m.get("lora") {
            Some(ParamValue::Lora(l)) => l.clone(),
            _ => None,
        },
        init_from: Some(w(m, "init_from").to_string()).filter(|s| !s.is_empty() && s != "none"),
        beta: f(m, "beta"),
        device: w(m, "device").to_string(),
        eval_every: i(m, "eval_every") as usize,
        eval_batches: i(m, "eval_batches") as usize,
        shape: Box::default(),
    }
}

/// Shapes a transformer cannot take: heads must split d_model into even head dimensions
/// (rotary embeddings rotate pairs), GQA's K/V heads must divide the query heads, and LoRA
/// adapts a trained base.
pub(super) fn limit(m: &ParamMap) -> Option<(&'static str, String)> {
    let (d, h) = (i(m, "d_model"), i(m, "heads"));
    if h == 0 || d % h != 0 {
        return Some(("heads", format!("{h} heads do not divide d_model {d}; head dim = d_model / heads must be a whole number")));
    }
    if (d / h) % 2 != 0 {
        return Some(("heads", format!("head dim d_model / heads = {} is odd; rotary embeddings need an even head dim", d / h)));
    }
    let attention = w(m, "attention");
    if attention == "gqa" && h % i(m, "kv_heads").max(1) != 0 {
        return Some(("kv_heads", format!("{} K/V heads do not divide {h} query heads; each K/V head serves a whole group", i(m, "kv_heads"))));
    }
    if attention == "mla" && !i(m, "rope_dim").is_multiple_of(2) {
        return Some(("rope_dim", format!("{} is odd; the rotary key rotates pairs, so rope_dim must be even", i(m, "rope_dim"))));
    }
    if i(m, "steps") == 0 && w(m, "init_from") == "none" {
        return Some(("steps", "0 evaluates a model as it is, but this run starts from random weights; add init_from: MODEL (a .gguf file, a model directory or a run)".into()));
    }
    if matches!(m.get("lora"), Some(ParamValue::Lora(Some(_)))) && w(m, "init_from") == "none" {
        return Some(("lora", "adapts a trained model, but this run starts from random weights; add init_from: RUN (an earlier run of this experiment or a run directory)".into()));
    }
    None
}
