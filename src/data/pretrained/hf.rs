//! Hugging Face model directories: `config.json`, `model.safetensors` or shards listed in
//! `model.safetensors.index.json`, `tokenizer.json`, `tokenizer_config.json` (chat template,
//! special tokens) and `generation_config.json`. Safetensors headers are checked by HF's own
//! `safetensors` crate against the file before any tensor is read.

use super::tokenizer::ModelTokenizer;
use super::{arch_error, at, check_shapes, Llama3Scaling, ModelConfig, TypeCount};
use rayon::prelude::*;
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// An opened model directory. The shards are held in memory once read.
pub struct HfDir {
    pub dir: PathBuf,
    pub config: ModelConfig,
    pub scaling: Option<Llama3Scaling>,
    pub chat_template: Option<String>,
    /// config.json as it is.
    pub raw: Value,
    tokenizer_config: Option<Value>,
    eos_ids: Vec<u32>,
    shards: Vec<(PathBuf, Vec<u8>)>,
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| at(path, format!("cannot read it: {e}")))?;
    serde_json::from_str(&text).map_err(|e| at(path, format!("not valid JSON: {e}")))
}

/// HF tensor names → ratlab's.
pub(crate) fn hf_name(name: &str) -> Option<String> {
    match name {
        "model.embed_tokens.weight" => return Some("embed.weight".into()),
        "model.norm.weight" => return Some("norm.weight".into()),
        "lm_head.weight" => return Some("head.weight".into()),
        _ => {}
    }
    let rest = name.strip_prefix("model.layers.")?;
    let (i, part) = rest.split_once('.')?;
    let i: usize = i.parse().ok()?;
    let ours = match part {
        "input_layernorm.weight" => "attn_norm.weight".to_string(),
        "post_attention_layernorm.weight" => "mlp_norm.weight".to_string(),
        _ => {
            if let Some(p) = part.strip_prefix("self_attn.") {
                let (proj, kind) = p.split_once('.')?;
                let short = proj.strip_suffix("_proj")?;
                if !["q", "k", "v", "o"].contains(&short) || !["weight", "bias"].contains(&kind) {
                    return None;
                }
                format!("attn.{short}.{kind}")
            } else {
                let p = part.strip_prefix("mlp.")?;
                let (proj, kind) = p.split_once('.')?;
                let short = proj.strip_suffix("_proj")?;
                if !["gate", "up", "down"].contains(&short) || kind != "weight" {
                    return None;
                }
                format!("mlp.{short}.weight")
            }
        }
    };
    Some(format!("layers.{i}.{ours}"))
}

/// The config from `config.json`.
fn config_from(v: &Value) -> Result<(ModelConfig, Option<Llama3Scaling>), String> {
    let model_type = v.get("model_type").and_then(Value::as_str).unwrap_or("");
    let archs: Vec<&str> = v.get("architectures").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let arch = match model_type {
        "llama" | "mistral" => "llama",
        "qwen2" => "qwen2",
        _ => return Err(arch_error(&if archs.is_empty() { model_type.to_string() } else { archs.join(", ") })),
    };
    let num = |k: &str| -> Result<usize, String> { v.get(k).and_then(Value::as_u64).map(|n| usize::try_from(n).unwrap_or(usize::MAX)).ok_or_else(|| format!("config.json: {k} is missing or not a non-negative integer")) };
    let opt = |k: &str| v.get(k).filter(|x| !x.is_null());
    if let Some(act) = opt("hidden_act").and_then(Value::as_str).filter(|a| *a != "silu") {
        return Err(format!("config.json: hidden_act is {act:?}; ratlab's SwiGLU uses silu"));
    }
    if opt("mlp_bias").and_then(Value::as_bool) == Some(true) || opt("attention_bias").and_then(Value::as_bool) == Some(true) {
        return Err("config.json: attention_bias or mlp_bias is true; ratlab's llama has no such biases".into());
    }
    if opt("sliding_window").is_some() && opt("use_sliding_window").and_then(Value::as_bool) != Some(false) && model_type == "mistral" {
        return Err("config.json: sliding-window attention is not supported".into());
    }
    let d_model = num("hidden_size")?;
    let heads = num("num_attention_heads")?;
    let scaling = match opt("rope_scaling") {
        None => None,
        Some(s) => {
            let kind = s.get("rope_type").or_else(|| s.get("type")).and_then(Value::as_str).unwrap_or("");
            if kind == "default" {
                None
            } else if kind != "llama3" {
                return Err(format!("config.json: rope_scaling type {kind:?} is not supported; ratlab supports llama3"));
            } else {
                let f = |k: &str| s.get(k).and_then(Value::as_f64).filter(|x| x.is_finite() && *x > 0.0).ok_or_else(|| format!("config.json: rope_scaling.{k} is missing or not positive"));
                let sc = Llama3Scaling { factor: f("factor")?, low_freq_factor: f("low_freq_factor")?, high_freq_factor: f("high_freq_factor")?, original_context: f("original_max_position_embeddings")? };
                if sc.high_freq_factor <= sc.low_freq_factor {
                    return Err("config.json: rope_scaling.high_freq_factor must exceed low_freq_factor".into());
                }
                Some(sc)
            }
        }
    };
    let config = ModelConfig {
        architecture: arch.into(),
        layers: num("num_hidden_layers")?,
        d_model,
        heads,
        kv_heads: match opt("num_key_value_heads") {
            Some(_) => num("num_key_value_heads")?,
            None => heads,
        },
        head_dim: match opt("head_dim") {
            Some(_) => num("head_dim")?,
            None => d_model / heads.max(1),
        },
        ffn: num("intermediate_size")?,
        vocab: num("vocab_size")?,
        context: opt("max_position_embeddings").and_then(Value::as_u64).unwrap_or(2048) as usize,
        rope_base: opt("rope_theta").and_then(Value::as_f64).unwrap_or(10_000.0),
        norm_eps: opt("rms_norm_eps").and_then(Value::as_f64).unwrap_or(1e-6),
        tied: opt("tie_word_embeddings").and_then(Value::as_bool).unwrap_or(false),
        qkv_bias: arch == "qwen2",
        rope_scaled: scaling.is_some(),
    };
    config.check()?;
    Ok((config, scaling))
}

/// A tensor's values as f32 (f32, f16 or bf16; the caller has checked the type).
/// A tensor's values (f32, f16 or bf16, checked at open) as f32 into `out`, in parallel.
fn to_f32(v: &safetensors::tensor::TensorView<'_>, out: &mut [f32]) -> Result<(), String> {
    let width = v.dtype().bitsize() / 8;
    let data = v.data();
    if data.len() != out.len() * width {
        return Err(format!("{} bytes do not hold {} values", data.len(), out.len()));
    }
    const PER_TASK: usize = 1 << 16;
    let kind = v.dtype();
    out.par_chunks_mut(PER_TASK).zip(data.par_chunks(PER_TASK * width)).for_each(|(y, x)| match kind {
        Dtype::F32 => y.iter_mut().zip(x.chunks_exact(4)).for_each(|(y, c)| *y = f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        Dtype::F16 => y.iter_mut().zip(x.chunks_exact(2)).for_each(|(y, c)| *y = half::f16::from_le_bytes([c[0], c[1]]).to_f32()),
        _ => y.iter_mut().zip(x.chunks_exact(2)).for_each(|(y, c)| *y = half::bf16::from_le_bytes([c[0], c[1]]).to_f32()),
    });
    Ok(())
}

/// A shard's bytes read as a model directory reads them (for fuzzing): the header checked by
/// the safetensors crate, names mapped, f32/f16/bf16 values converted. The values read.
pub fn check_shard(bytes: &[u8]) -> Result<usize, String> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    let mut n = 0;
    for (name, view) in st.tensors() {
        let _ = hf_name(&name);
        if matches!(view.dtype(), Dtype::F32 | Dtype::F16 | Dtype::BF16) {
            let mut out = vec![0f32; view.shape().iter().product()];
            if to_f32(&view, &mut out).is_ok() {
                n += out.len();
            }
        }
    }
    Ok(n)
}

fn dtype_name(d: Dtype) -> String {
    format!("{d:?}").to_lowercase()
}

impl HfDir {
    pub fn open(dir: &Path) -> Result<HfDir, String> {
        let cfg_path = dir.join("config.json");
        if !cfg_path.is_file() {
            return Err(at(dir, "a model directory needs config.json (and model.safetensors, tokenizer.json); it is missing"));
        }
        let raw = read_json(&cfg_path)?;
        let (config, scaling) = config_from(&raw).map_err(|e| at(&cfg_path, e))?;
        // The weights: one file, or shards named by the index.
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        let files: Vec<PathBuf> = if single.is_file() {
            vec![single]
        } else if index.is_file() {
            let idx = read_json(&index)?;
            let map = idx.get("weight_map").and_then(Value::as_object).ok_or_else(|| at(&index, "weight_map is missing"))?;
            let mut names: Vec<String> = Vec::new();
            for f in map.values() {
                let f = f.as_str().ok_or_else(|| at(&index, "a weight_map entry is not a file name"))?;
                if f.contains('/') || f.contains('\\') || f.starts_with('.') {
                    return Err(at(&index, format!("shard {f:?} is not a file name in the directory")));
                }
                if !names.iter().any(|n| n == f) {
                    names.push(f.to_string());
                }
            }
            names.sort();
            names.into_iter().map(|n| dir.join(n)).collect()
        } else {
            return Err(at(dir, "neither model.safetensors nor model.safetensors.index.json is here"));
        };
        let mut shards = Vec::with_capacity(files.len());
        for f in files {
            let bytes = std::fs::read(&f).map_err(|e| at(&f, format!("cannot read it: {e}")))?;
            SafeTensors::deserialize(&bytes).map_err(|e| at(&f, format!("not a valid safetensors file: {e}")))?;
            shards.push((f, bytes));
        }
        let tokenizer_config = dir.join("tokenizer_config.json").is_file().then(|| read_json(&dir.join("tokenizer_config.json"))).transpose()?;
        let chat_template = match tokenizer_config.as_ref().and_then(|c| c.get("chat_template")) {
            Some(Value::String(s)) => Some(s.clone()),
            // A list of named templates: the default one.
            Some(Value::Array(a)) => a.iter().find(|t| t.get("name").and_then(Value::as_str) == Some("default")).and_then(|t| t.get("template")).and_then(Value::as_str).map(str::to_string),
            _ => None,
        }
        .or_else(|| std::fs::read_to_string(dir.join("chat_template.jinja")).ok());
        let gen = dir.join("generation_config.json");
        let eos_ids = if gen.is_file() {
            match read_json(&gen)?.get("eos_token_id") {
                Some(Value::Number(n)) => n.as_u64().map(|n| vec![n as u32]).unwrap_or_default(),
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_u64).map(|n| n as u32).collect(),
                _ => Vec::new(),
            }
        } else {
            Vec::new()
        };
        let me = HfDir { dir: dir.to_path_buf(), config, scaling, chat_template, raw, tokenizer_config, eos_ids, shards };
        me.check().map_err(|e| at(dir, e))?;
        Ok(me)
    }

    /// Each shard's tensors, named as ratlab names them (unknown names are an error; rotary
    /// tables and a saved copy of a tied head are skipped).
    fn each(&self, mut f: impl FnMut(&str, &str, safetensors::tensor::TensorView<'_>) -> Result<(), String>) -> Result<(), String> {
        for (path, bytes) in &self.shards {
            let st = SafeTensors::deserialize(bytes).map_err(|e| at(path, e))?;
            for (name, view) in st.tensors() {
                if name.ends_with("rotary_emb.inv_freq") || (self.config.tied && name == "lm_head.weight") {
                    continue;
                }
                let ours = hf_name(&name).ok_or_else(|| at(path, format!("tensor {name} is not part of a {} model as ratlab builds it", self.config.architecture)))?;
                f(&ours, &name, view).map_err(|e| at(path, e))?;
            }
        }
        Ok(())
    }

    fn check(&self) -> Result<(), String> {
        let mut found = BTreeMap::new();
        self.each(|ours, name, v| {
            if !matches!(v.dtype(), Dtype::F32 | Dtype::F16 | Dtype::BF16) {
                return Err(format!("tensor {name} is {}; ratlab reads f32, f16 and bf16", dtype_name(v.dtype())));
            }
            found.insert(ours.to_string(), v.shape().to_vec());
            Ok(())
        })?;
        check_shapes(&self.config, found)
    }

    pub fn tensor_types(&self) -> Vec<TypeCount> {
        let mut types: BTreeMap<String, (usize, u64)> = BTreeMap::new();
        let _ = self.each(|_, _, v| {
            let e = types.entry(dtype_name(v.dtype()).to_uppercase()).or_default();
            e.0 += 1;
            e.1 += v.data().len() as u64;
            Ok(())
        });
        types.into_iter().map(|(k, (n, b))| TypeCount { kind: k, tensors: n, bytes: b }).collect()
    }

    /// Every tensor in the shards' order (each one checked present at open).
    pub fn tensors(&self, f: &mut super::TensorSink<'_>) -> Result<(), String> {
        self.each(|ours, _, v| f(ours, v.shape(), &mut |out: &mut [f32]| to_f32(&v, out)))
    }

    pub fn tokenizer(&self) -> Result<ModelTokenizer, String> {
        let path = self.dir.join("tokenizer.json");
        let bytes = std::fs::read(&path).map_err(|e| at(&path, format!("cannot read the model's tokenizer: {e}")))?;
        ModelTokenizer::from_json(&bytes, self.tokenizer_config.as_ref(), &self.eos_ids).map_err(|e| at(&path, e))
    }

    pub fn about(&self) -> Vec<(String, String)> {
        ["architectures", "model_type", "torch_dtype", "transformers_version"]
            .iter()
            .filter_map(|k| self.raw.get(*k).map(|v| (k.to_string(), v.to_string())))
            .collect()
    }
}
