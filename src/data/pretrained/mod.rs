//! Pretrained checkpoints: a GGUF file ([`gguf`]) or a Hugging Face model directory ([`hf`]),
//! read into one description ([`ModelConfig`]) and one stream of f32 tensors under ratlab's
//! names, with the model's own tokenizer ([`tokenizer`]) and chat template ([`chat`]). This is
//! plain Rust with no libtorch: `inspect` and `tokenize` run in `ratlab`, and the torch worker
//! copies the tensors into its model. Everything here reads untrusted files and answers a bad
//! one with an error that names the file and what is wrong.

pub mod chat;
pub mod gguf;
pub mod gguf_write;
pub mod export;
pub mod hf;
pub mod tokenizer;

use gguf::{Gguf, GgmlType};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The architectures ratlab runs: LLaMA and its family, and Qwen2 (LLaMA with q/k/v biases).
pub const ARCHITECTURES: &str = "llama (LLaMA 2 and 3, SmolLM, SmolLM2, TinyLlama, Mistral without sliding window) and qwen2";

/// LLaMA-3's rope scaling: frequencies below `original_context / low_freq_factor` are divided by
/// `factor`, those above `original_context / high_freq_factor` are kept, and the band between is
/// blended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Llama3Scaling {
    pub factor: f64,
    pub low_freq_factor: f64,
    pub high_freq_factor: f64,
    pub original_context: f64,
}

/// What a checkpoint's network is: enough to build it and to say what it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelConfig {
    /// `llama` or `qwen2`.
    pub architecture: String,
    pub layers: usize,
    pub d_model: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// SwiGLU width.
    pub ffn: usize,
    pub vocab: usize,
    pub context: usize,
    pub rope_base: f64,
    pub norm_eps: f64,
    /// The output head is the embedding matrix.
    pub tied: bool,
    /// q, k and v projections carry biases (qwen2).
    pub qkv_bias: bool,
    /// The rotary frequencies are rescaled (LLaMA-3.1); [`Pretrained::rope_factors`] has them.
    pub rope_scaled: bool,
}

impl ModelConfig {
    /// The tensors a model of this config has, with their torch shapes, under ratlab's names.
    pub fn expected(&self) -> Vec<(String, Vec<usize>)> {
        let (d, hd, f) = (self.d_model, self.head_dim, self.ffn);
        let mut v = vec![("embed.weight".to_string(), vec![self.vocab, d]), ("norm.weight".into(), vec![d])];
        if !self.tied {
            v.push(("head.weight".into(), vec![self.vocab, d]));
        }
        for i in 0..self.layers {
            let p = format!("layers.{i}");
            v.push((format!("{p}.attn_norm.weight"), vec![d]));
            v.push((format!("{p}.mlp_norm.weight"), vec![d]));
            v.push((format!("{p}.attn.q.weight"), vec![self.heads * hd, d]));
            v.push((format!("{p}.attn.k.weight"), vec![self.kv_heads * hd, d]));
            v.push((format!("{p}.attn.v.weight"), vec![self.kv_heads * hd, d]));
            v.push((format!("{p}.attn.o.weight"), vec![d, self.heads * hd]));
            if self.qkv_bias {
                v.push((format!("{p}.attn.q.bias"), vec![self.heads * hd]));
                v.push((format!("{p}.attn.k.bias"), vec![self.kv_heads * hd]));
                v.push((format!("{p}.attn.v.bias"), vec![self.kv_heads * hd]));
            }
            for (n, shape) in [("gate", vec![f, d]), ("up", vec![f, d]), ("down", vec![d, f])] {
                v.push((format!("{p}.mlp.{n}.weight"), shape));
            }
        }
        v
    }

    /// Parameters, counting a tied head once.
    pub fn params(&self) -> u64 {
        self.expected().iter().map(|(_, s)| s.iter().product::<usize>() as u64).sum()
    }

    /// Checks that hold for any architecture before shapes are trusted.
    fn check(&self) -> Result<(), String> {
        let nonzero = [("layers", self.layers), ("d_model", self.d_model), ("heads", self.heads), ("kv_heads", self.kv_heads), ("head_dim", self.head_dim), ("ffn", self.ffn), ("vocab", self.vocab)];
        if let Some((n, _)) = nonzero.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{n} is 0"));
        }
        if !self.heads.is_multiple_of(self.kv_heads) {
            return Err(format!("{} heads are not a multiple of {} KV heads", self.heads, self.kv_heads));
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err(format!("head_dim {} is odd; rotary embeddings rotate pairs", self.head_dim));
        }
        let usable = self.rope_base.is_finite() && self.rope_base > 1.0 && self.norm_eps.is_finite() && self.norm_eps > 0.0;
        if !usable {
            return Err(format!("rope base {} or norm epsilon {} is not usable", self.rope_base, self.norm_eps));
        }
        // 2^34 parameters (68 GB in f32) is far past what this tool loads; it also keeps every
        // product below from overflowing.
        let big = [self.layers, self.d_model, self.heads * self.head_dim, self.ffn, self.vocab];
        if big.iter().any(|&v| v > 1 << 20) || self.params() > 1 << 34 {
            return Err(format!("the model is too large to load here ({} layers, d_model {}, vocab {})", self.layers, self.d_model, self.vocab));
        }
        Ok(())
    }

    fn llama3_factors(&self, s: &Llama3Scaling) -> Vec<f64> {
        let (lo_wave, hi_wave) = (s.original_context / s.low_freq_factor, s.original_context / s.high_freq_factor);
        (0..self.head_dim / 2)
            .map(|i| {
                let inv = self.rope_base.powf(-2.0 * i as f64 / self.head_dim as f64);
                let wave = 2.0 * std::f64::consts::PI / inv;
                if wave < hi_wave {
                    1.0
                } else if wave > lo_wave {
                    s.factor
                } else {
                    let smooth = (s.original_context / wave - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
                    // inv' = (1 - smooth)·inv/factor + smooth·inv, as a divisor of inv.
                    1.0 / ((1.0 - smooth) / s.factor + smooth)
                }
            })
            .collect()
    }
}

/// Tensor types of a checkpoint with how many tensors and bytes each.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeCount {
    #[serde(rename = "type")]
    pub kind: String,
    pub tensors: usize,
    pub bytes: u64,
}

/// Writes one tensor's f32 values into the slice it is given (exactly the tensor's size).
pub type TensorFill<'a> = dyn FnMut(&mut [f32]) -> Result<(), String> + 'a;

/// What receives a checkpoint's tensors: ratlab's name, the torch shape, and the fill to run
/// on the memory the values belong in (a model variable's own), so that each tensor is
/// written once: no f32 copy of the model exists besides the model.
pub type TensorSink<'a> = dyn FnMut(&str, &[usize], &mut TensorFill<'_>) -> Result<(), String> + 'a;

enum Source {
    Gguf { bytes: Vec<u8>, file: Gguf },
    Hf(Box<hf::HfDir>),
}

/// An opened checkpoint: its config and where its tensors, tokenizer and template come from.
pub struct Pretrained {
    pub path: PathBuf,
    pub config: ModelConfig,
    pub tensor_types: Vec<TypeCount>,
    source: Source,
}

/// A checkpoint's problem, with the file it is in.
fn at(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", path.display())
}

/// GGUF tensor names → ratlab's, per layer and overall.
pub(crate) fn gguf_name(name: &str) -> Option<String> {
    let top = match name {
        "token_embd.weight" => Some("embed.weight"),
        "output_norm.weight" => Some("norm.weight"),
        "output.weight" => Some("head.weight"),
        _ => None,
    };
    if let Some(t) = top {
        return Some(t.into());
    }
    let rest = name.strip_prefix("blk.")?;
    let (i, part) = rest.split_once('.')?;
    let i: usize = i.parse().ok()?;
    let ours = match part {
        "attn_norm.weight" => "attn_norm.weight",
        "ffn_norm.weight" => "mlp_norm.weight",
        "attn_q.weight" => "attn.q.weight",
        "attn_k.weight" => "attn.k.weight",
        "attn_v.weight" => "attn.v.weight",
        "attn_q.bias" => "attn.q.bias",
        "attn_k.bias" => "attn.k.bias",
        "attn_v.bias" => "attn.v.bias",
        "attn_output.weight" => "attn.o.weight",
        "ffn_gate.weight" => "mlp.gate.weight",
        "ffn_up.weight" => "mlp.up.weight",
        "ffn_down.weight" => "mlp.down.weight",
        _ => return None,
    };
    Some(format!("layers.{i}.{ours}"))
}

impl Pretrained {
    /// Whether `path` looks like a checkpoint (a `.gguf` file or a directory with `config.json`)
    /// rather than a ratlab run.
    pub fn is_checkpoint(path: &Path) -> bool {
        (path.is_file() && path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf"))) || (path.is_dir() && path.join("config.json").is_file() && !path.join("model.json").is_file())
    }

    /// Open a GGUF file or a Hugging Face model directory and check its config and tensor list
    /// (names, shapes, types) against each other. Tensor data is read by [`Pretrained::tensors`].
    pub fn open(path: &Path) -> Result<Pretrained, String> {
        if path.is_dir() {
            let dir = hf::HfDir::open(path)?;
            let config = dir.config.clone();
            let tensor_types = dir.tensor_types();
            return Ok(Pretrained { path: path.to_path_buf(), config, tensor_types, source: Source::Hf(Box::new(dir)) });
        }
        let bytes = std::fs::read(path).map_err(|e| at(path, format!("cannot read it: {e}")))?;
        let file = Gguf::parse(&bytes).map_err(|e| at(path, e))?;
        let config = gguf_config(&file).map_err(|e| at(path, e))?;
        let mut types: BTreeMap<GgmlType, (usize, u64)> = BTreeMap::new();
        for t in &file.tensors {
            let e = types.entry(t.kind).or_default();
            e.0 += 1;
            e.1 += t.bytes;
        }
        let tensor_types = types.into_iter().map(|(k, (n, b))| TypeCount { kind: k.name(), tensors: n, bytes: b }).collect();
        let p = Pretrained { path: path.to_path_buf(), config, tensor_types, source: Source::Gguf { bytes, file } };
        p.check_gguf_tensors().map_err(|e| at(path, e))?;
        Ok(p)
    }

    /// The model directory this was read from (for its config and tokenizer files).
    pub fn hf_dir(&self) -> Option<&hf::HfDir> {
        match &self.source {
            Source::Hf(dir) => Some(dir),
            Source::Gguf { .. } => None,
        }
    }

    /// The GGUF file's metadata, in file order.
    pub fn gguf_metadata(&self) -> Option<&[(String, gguf::Value)]> {
        match &self.source {
            Source::Gguf { file, .. } => Some(&file.metadata),
            Source::Hf(_) => None,
        }
    }

    /// `gguf` or `hf`.
    pub fn format(&self) -> &'static str {
        match self.source {
            Source::Gguf { .. } => "gguf",
            Source::Hf(_) => "hf",
        }
    }

    fn check_gguf_tensors(&self) -> Result<(), String> {
        let Source::Gguf { file, .. } = &self.source else { return Ok(()) };
        let mut found: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for t in &file.tensors {
            if t.name == "rope_freqs.weight" {
                continue;
            }
            let ours = gguf_name(&t.name).ok_or_else(|| format!("tensor {} is not part of a {} model as ratlab builds it", t.name, self.config.architecture))?;
            if !t.kind.supported() {
                return Err(format!("tensor {} has type {}, which ratlab cannot dequantize; it reads {}", t.name, t.kind, GgmlType::SUPPORTED.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")));
            }
            found.insert(ours, t.shape());
        }
        check_shapes(&self.config, found)
    }

    /// Every tensor as f32 under ratlab's name with its torch shape, in the config's order. GGUF
    /// Q/K rows are put back in Hugging Face's order for llama; a tied head is not repeated.
    pub fn tensors(&self, f: &mut TensorSink<'_>) -> Result<(), String> {
        let c = &self.config;
        match &self.source {
            Source::Gguf { bytes, file } => {
                let by_name: BTreeMap<String, &gguf::TensorInfo> = file.tensors.iter().filter_map(|t| gguf_name(&t.name).map(|n| (n, t))).collect();
                for (name, shape) in c.expected() {
                    let t = by_name.get(&name).ok_or_else(|| at(&self.path, format!("tensor {name} is missing")))?;
                    // llama.cpp permutes llama's Q and K rows for its interleaved rope; qwen2 is
                    // converted as is (NeoX rope).
                    let heads = match () {
                        _ if c.architecture != "llama" => None,
                        _ if name.contains(".attn.q.") => Some(c.heads),
                        _ if name.contains(".attn.k.") => Some(c.kv_heads),
                        _ => None,
                    };
                    let width = if name.ends_with(".bias") { 1 } else { c.d_model };
                    f(&name, &shape, &mut |out: &mut [f32]| {
                        file.dequantize_into(bytes, t, out).map_err(|e| at(&self.path, e))?;
                        if let Some(heads) = heads {
                            let hf = gguf::unpermute_rows(out, heads, width);
                            out.copy_from_slice(&hf);
                        }
                        Ok(())
                    })?;
                }
                Ok(())
            }
            Source::Hf(dir) => dir.tensors(f),
        }
    }

    /// The model's tokenizer: `tokenizer.json` for a directory, rebuilt from the metadata for GGUF.
    pub fn tokenizer(&self) -> Result<tokenizer::ModelTokenizer, String> {
        match &self.source {
            Source::Gguf { file, .. } => tokenizer::ModelTokenizer::from_gguf(file).map_err(|e| at(&self.path, e)),
            Source::Hf(dir) => dir.tokenizer(),
        }
    }

    /// The model's chat template, when it has one.
    pub fn chat_template(&self) -> Option<String> {
        match &self.source {
            Source::Gguf { file, .. } => file.get("tokenizer.chat_template").and_then(|v| v.as_str()).map(str::to_string),
            Source::Hf(dir) => dir.chat_template.clone(),
        }
    }

    /// Metadata worth showing (GGUF's `general.*`), as `key = value`.
    pub fn about(&self) -> Vec<(String, String)> {
        match &self.source {
            Source::Gguf { file, .. } => file.metadata.iter().filter(|(k, _)| k.starts_with("general.")).map(|(k, v)| (k.clone(), v.brief())).collect(),
            Source::Hf(dir) => dir.about(),
        }
    }
}

/// Everything ratlab does with a GGUF file's bytes, for fuzzing: parse, config, tensor check,
/// tokenizer, and dequantization of tensors of at most `max_elements`.
pub fn check_gguf(bytes: &[u8], max_elements: u64) {
    let Ok(file) = Gguf::parse(bytes) else { return };
    for t in file.tensors.iter().filter(|t| t.elements() <= max_elements && t.kind.supported()) {
        let _ = file.dequantize(bytes, t);
    }
    let _ = tokenizer::ModelTokenizer::from_gguf(&file).map(|t| t.encode("Hello <|im_end|> 123 wörld"));
    let Ok(config) = gguf_config(&file) else { return };
    let _ = config.params();
    let p = Pretrained { path: PathBuf::new(), config, tensor_types: Vec::new(), source: Source::Gguf { bytes: Vec::new(), file } };
    let _ = p.check_gguf_tensors();
}

/// Every expected tensor is there with its shape, and nothing else.
fn check_shapes(c: &ModelConfig, mut found: BTreeMap<String, Vec<usize>>) -> Result<(), String> {
    for (name, shape) in c.expected() {
        match found.remove(&name) {
            None => return Err(format!("tensor {name} is missing (a {} model with {} layers has it)", c.architecture, c.layers)),
            Some(s) if s != shape => return Err(format!("tensor {name} has shape {s:?}; the config implies {shape:?}")),
            Some(_) => {}
        }
    }
    if let Some(extra) = found.keys().next() {
        return Err(format!("tensor {extra} is not part of a {} model as its config describes it", c.architecture));
    }
    Ok(())
}

fn arch_error(found: &str) -> String {
    format!("architecture {found:?} is not supported; ratlab runs {ARCHITECTURES}")
}

/// The config from GGUF metadata (`{arch}.block_count`, …).
fn gguf_config(g: &Gguf) -> Result<ModelConfig, String> {
    let arch = g.get("general.architecture").and_then(|v| v.as_str()).ok_or("general.architecture is missing: this GGUF file does not say what model it holds")?;
    if arch != "llama" && arch != "qwen2" {
        return Err(arch_error(arch));
    }
    let num = |k: &str| -> Result<u64, String> { g.get(&format!("{arch}.{k}")).and_then(|v| v.as_u64()).ok_or_else(|| format!("metadata {arch}.{k} is missing or not a non-negative integer")) };
    let opt = |k: &str| g.get(&format!("{arch}.{k}"));
    let usize_of = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    let layers = usize_of(num("block_count")?);
    let d_model = usize_of(num("embedding_length")?);
    let heads = usize_of(num("attention.head_count")?);
    let kv_heads = opt("attention.head_count_kv").and_then(|v| v.as_u64()).map_or(heads, usize_of);
    let head_dim = match opt("attention.key_length").and_then(|v| v.as_u64()) {
        Some(k) => usize_of(k),
        None => d_model / heads.max(1),
    };
    let rope_dim = opt("rope.dimension_count").and_then(|v| v.as_u64()).map_or(head_dim, usize_of);
    if rope_dim != head_dim {
        return Err(format!("{arch}.rope.dimension_count is {rope_dim} but heads are {head_dim} wide; partial rotary embeddings are not supported"));
    }
    let embed = g.tensor("token_embd.weight").ok_or("tensor token_embd.weight is missing")?;
    let vocab = match opt("vocab_size").and_then(|v| v.as_u64()) {
        Some(v) => usize_of(v),
        None => embed.shape()[0],
    };
    let rope_freqs = g.tensor("rope_freqs.weight");
    if let Some(t) = rope_freqs {
        if t.elements() as usize != head_dim / 2 || !t.kind.supported() {
            return Err(format!("tensor rope_freqs.weight has {} values of {}; expected {}", t.elements(), t.kind, head_dim / 2));
        }
    }
    if let Some(kind) = opt("rope.scaling.type").and_then(|v| v.as_str()).filter(|k| *k != "none") {
        if rope_freqs.is_none() {
            return Err(format!("{arch}.rope.scaling.type is {kind:?}; ratlab supports LLaMA-3 scaling (rope_freqs.weight) only"));
        }
    }
    let config = ModelConfig {
        architecture: arch.to_string(),
        layers,
        d_model,
        heads,
        kv_heads,
        head_dim,
        ffn: usize_of(num("feed_forward_length")?),
        vocab,
        context: usize_of(num("context_length")?),
        rope_base: opt("rope.freq_base").and_then(|v| v.as_f64()).unwrap_or(10_000.0),
        norm_eps: opt("attention.layer_norm_rms_epsilon").and_then(|v| v.as_f64()).unwrap_or(1e-5),
        tied: g.tensor("output.weight").is_none(),
        qkv_bias: arch == "qwen2",
        rope_scaled: rope_freqs.is_some(),
    };
    config.check()?;
    Ok(config)
}

impl Pretrained {
    /// The rotary frequency divisors, when the model scales its rope (LLaMA-3.1).
    pub fn rope_factors(&self) -> Result<Option<Vec<f64>>, String> {
        match &self.source {
            Source::Gguf { bytes, file } => match file.tensor("rope_freqs.weight") {
                None => Ok(None),
                Some(t) => Ok(Some(file.dequantize(bytes, t).map_err(|e| at(&self.path, e))?.into_iter().map(f64::from).collect())),
            },
            Source::Hf(dir) => Ok(dir.scaling.as_ref().map(|s| self.config.llama3_factors(s))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama3_factors_keep_high_frequencies_and_divide_low_ones() {
        let c = ModelConfig {
            architecture: "llama".into(),
            layers: 1,
            d_model: 128,
            heads: 1,
            kv_heads: 1,
            head_dim: 128,
            ffn: 8,
            vocab: 8,
            context: 8192,
            rope_base: 500_000.0,
            norm_eps: 1e-5,
            tied: true,
            qkv_bias: false,
            rope_scaled: true,
        };
        let f = c.llama3_factors(&Llama3Scaling { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_context: 8192.0 });
        assert_eq!(f.len(), 64);
        assert_eq!(f[0], 1.0);
        assert_eq!(f[63], 8.0);
        assert!(f.windows(2).all(|w| w[0] <= w[1]), "{f:?}");
    }
}
