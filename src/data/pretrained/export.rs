//! A model tuned in ratlab, written back out for the tools people use: a Hugging Face directory
//! (transformers' `from_pretrained`), a GGUF file (llama.cpp, Ollama, transformers'
//! `gguf_file=`) and a PEFT adapter (`PeftModel.from_pretrained`). The weights come under
//! ratlab's names, as a run saves them; the architecture, tokenizer and chat template come from
//! the checkpoint the run was tuned from, so they are the ones the model was trained with.

use super::gguf::{permute_rows, GgmlType, Value};
use super::gguf_write::GgufWriter;
use super::{ModelConfig, Pretrained};
use safetensors::{Dtype, SafeTensors, View};
use serde_json::json;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One tensor under ratlab's name, f32, in torch's shape.
pub struct Named {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

impl View for &Named {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
    fn data_len(&self) -> usize {
        self.values.len() * 4
    }
}

/// The f32 tensors of a safetensors file a run wrote (`model.safetensors`,
/// `adapters.safetensors`).
pub fn read_safetensors(path: &Path) -> Result<Vec<Named>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(format!("{}: tensor {name} is not f32", path.display()));
        }
        let values = view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        out.push(Named { name, shape: view.shape().to_vec(), values });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// ratlab's name → Hugging Face's (`layers.3.attn.q.weight` → `model.layers.3.self_attn.q_proj.weight`).
pub fn hf_name_of(ours: &str) -> Option<String> {
    match ours {
        "embed.weight" => return Some("model.embed_tokens.weight".into()),
        "norm.weight" => return Some("model.norm.weight".into()),
        "head.weight" => return Some("lm_head.weight".into()),
        _ => {}
    }
    let (i, part) = ours.strip_prefix("layers.")?.split_once('.')?;
    let i: usize = i.parse().ok()?;
    let theirs = match part {
        "attn_norm.weight" => "input_layernorm.weight".to_string(),
        "mlp_norm.weight" => "post_attention_layernorm.weight".to_string(),
        _ => {
            let (group, rest) = part.split_once('.')?;
            let (proj, kind) = rest.split_once('.')?;
            match (group, proj) {
                ("attn", "q" | "k" | "v" | "o") => format!("self_attn.{proj}_proj.{kind}"),
                ("mlp", "gate" | "up" | "down") => format!("mlp.{proj}_proj.{kind}"),
                _ => return None,
            }
        }
    };
    Some(format!("model.layers.{i}.{theirs}"))
}

/// ratlab's name → llama.cpp's (`layers.3.attn.q.weight` → `blk.3.attn_q.weight`).
pub fn gguf_name_of(ours: &str) -> Option<String> {
    match ours {
        "embed.weight" => return Some("token_embd.weight".into()),
        "norm.weight" => return Some("output_norm.weight".into()),
        "head.weight" => return Some("output.weight".into()),
        _ => {}
    }
    let (i, part) = ours.strip_prefix("layers.")?.split_once('.')?;
    let i: usize = i.parse().ok()?;
    let theirs = match part {
        "attn_norm.weight" => "attn_norm.weight",
        "mlp_norm.weight" => "ffn_norm.weight",
        "attn.q.weight" => "attn_q.weight",
        "attn.k.weight" => "attn_k.weight",
        "attn.v.weight" => "attn_v.weight",
        "attn.q.bias" => "attn_q.bias",
        "attn.k.bias" => "attn_k.bias",
        "attn.v.bias" => "attn_v.bias",
        "attn.o.weight" => "attn_output.weight",
        "mlp.gate.weight" => "ffn_gate.weight",
        "mlp.up.weight" => "ffn_up.weight",
        "mlp.down.weight" => "ffn_down.weight",
        _ => return None,
    };
    Some(format!("blk.{i}.{theirs}"))
}

/// Make `to` an empty directory to export into: one that exists and holds anything is refused,
/// so an export never mixes with (or overwrites) other files.
pub fn ready_dir(to: &Path) -> Result<(), String> {
    if to.exists() {
        let empty = to.is_dir() && std::fs::read_dir(to).map_err(|e| format!("cannot read {}: {e}", to.display()))?.next().is_none();
        if !empty {
            return Err("exists and is not an empty directory; export into a new path".into());
        }
    }
    std::fs::create_dir_all(to).map_err(|e| format!("cannot create {}: {e}", to.display()))
}

fn write_json(path: &Path, v: &serde_json::Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(v).map_err(|e| e.to_string())? + "\n";
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Every base tensor the config has, and nothing else: the run's weights must be this model.
fn check_weights(c: &ModelConfig, weights: &[Named]) -> Result<(), String> {
    let expected = c.expected();
    for (name, shape) in &expected {
        match weights.iter().find(|w| &w.name == name) {
            None => return Err(format!("the run's weights lack {name}, which the {} model it was tuned from has", c.architecture)),
            Some(w) if &w.shape != shape => return Err(format!("the run's {name} is {:?}; the model it was tuned from has {shape:?}", w.shape)),
            Some(_) => {}
        }
    }
    if let Some(extra) = weights.iter().find(|w| !expected.iter().any(|(n, _)| n == &w.name)) {
        return Err(format!("the run's weights hold {}, which a {} model does not have", extra.name, c.architecture));
    }
    Ok(())
}

/// transformers' config for a checkpoint read from GGUF.
fn hf_config(source: &Pretrained) -> Result<serde_json::Value, String> {
    let c = &source.config;
    if c.rope_scaled {
        return Err("the model's LLaMA-3 rope scaling comes as per-pair factors in its GGUF file, and config.json needs the scaling's own parameters, which the file does not record; export to gguf instead".into());
    }
    let tk = source.tokenizer()?;
    let (class, kind) = match c.architecture.as_str() {
        "qwen2" => ("Qwen2ForCausalLM", "qwen2"),
        _ => ("LlamaForCausalLM", "llama"),
    };
    let mut v = json!({
        "architectures": [class],
        "model_type": kind,
        "hidden_size": c.d_model,
        "intermediate_size": c.ffn,
        "num_hidden_layers": c.layers,
        "num_attention_heads": c.heads,
        "num_key_value_heads": c.kv_heads,
        "head_dim": c.head_dim,
        "max_position_embeddings": c.context,
        "rms_norm_eps": c.norm_eps,
        "rope_theta": c.rope_base,
        "rope_scaling": null,
        "tie_word_embeddings": c.tied,
        "vocab_size": c.vocab,
        "hidden_act": "silu",
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "use_cache": true,
        "bos_token_id": tk.bos,
        "eos_token_id": tk.eos,
        "torch_dtype": "float32",
    });
    if kind == "llama" {
        v["attention_bias"] = json!(false);
        v["mlp_bias"] = json!(false);
    } else {
        v["use_sliding_window"] = json!(false);
        v["max_window_layers"] = json!(c.layers);
    }
    Ok(v)
}

/// Write a Hugging Face model directory: `config.json`, `model.safetensors` (f32),
/// `tokenizer.json`, `tokenizer_config.json` (with the chat template and special tokens) and
/// `generation_config.json` (its EOS ids are every token that ends generation). A directory
/// source lends its own config and tokenizer files; a GGUF source's are rebuilt from its
/// metadata. `to` must be new or empty. Returns the files written.
pub fn write_hf(source: &Pretrained, weights: &[Named], to: &Path) -> Result<Vec<PathBuf>, String> {
    let c = &source.config;
    check_weights(c, weights)?;
    ready_dir(to)?;
    let mut written = Vec::new();
    let tk = source.tokenizer()?;
    match source.hf_dir() {
        Some(dir) => {
            let mut config = dir.raw.clone();
            config["torch_dtype"] = json!("float32");
            write_json(&to.join("config.json"), &config)?;
            for f in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "chat_template.jinja"] {
                if dir.dir.join(f).is_file() {
                    std::fs::copy(dir.dir.join(f), to.join(f)).map_err(|e| format!("cannot copy {f}: {e}"))?;
                    written.push(to.join(f));
                }
            }
        }
        None => {
            write_json(&to.join("config.json"), &hf_config(source)?)?;
            std::fs::write(to.join("tokenizer.json"), tk.to_json()?).map_err(|e| format!("cannot write tokenizer.json: {e}"))?;
            let name = |id: Option<u32>| id.map(|i| tk.token(i));
            let mut cfg = json!({
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": name(tk.bos),
                "eos_token": name(tk.eos),
                "add_bos_token": tk.adds_bos(),
                "clean_up_tokenization_spaces": false,
                "model_max_length": c.context,
            });
            if let Some(t) = source.chat_template() {
                cfg["chat_template"] = json!(t);
            }
            write_json(&to.join("tokenizer_config.json"), &cfg)?;
            written.extend([to.join("tokenizer.json"), to.join("tokenizer_config.json")]);
        }
    }
    if !to.join("generation_config.json").is_file() {
        write_json(&to.join("generation_config.json"), &json!({"bos_token_id": tk.bos, "eos_token_id": tk.stops}))?;
        written.push(to.join("generation_config.json"));
    }
    let named: Vec<(String, &Named)> = weights.iter().filter_map(|w| hf_name_of(&w.name).map(|n| (n, w))).collect();
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize_to_file(named, Some(meta), &to.join("model.safetensors")).map_err(|e| format!("cannot write model.safetensors: {e}"))?;
    written.extend([to.join("config.json"), to.join("model.safetensors")]);
    written.sort();
    Ok(written)
}

/// A LoRA run's adapter settings, as PEFT records them.
pub struct LoraSettings {
    pub rank: usize,
    pub alpha: f64,
    pub dropout: f64,
    /// ratlab's names: q, k, v, o, gate, up, down.
    pub targets: Vec<String>,
}

/// PEFT's name of an adapter matrix (`layers.3.attn.q.lora_a` →
/// `base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight`).
pub fn peft_name_of(ours: &str) -> Option<String> {
    let (proj, ab) = ours.rsplit_once('.')?;
    let ab = match ab {
        "lora_a" => "lora_A",
        "lora_b" => "lora_B",
        _ => return None,
    };
    let hf = hf_name_of(&format!("{proj}.weight"))?;
    Some(format!("base_model.model.{}.{ab}.weight", hf.strip_suffix(".weight")?))
}

/// Write a PEFT adapter directory: `adapter_config.json` and `adapter_model.safetensors`
/// (`lora_A` is `[r, in]`, `lora_B` `[out, r]`, scaled by `lora_alpha / r` as ratlab's are).
/// `base` is what the adapter applies to (the checkpoint or run the LoRA run started from).
pub fn write_peft(adapters: &[Named], lora: &LoraSettings, base: &str, to: &Path) -> Result<Vec<PathBuf>, String> {
    let named = adapters
        .iter()
        .map(|a| peft_name_of(&a.name).map(|n| (n, a)).ok_or_else(|| format!("adapter {} has no PEFT name (ratlab exports adapters of llama and qwen2 projections)", a.name)))
        .collect::<Result<Vec<_>, _>>()?;
    ready_dir(to)?;
    let modules: Vec<String> = lora.targets.iter().map(|t| format!("{t}_proj")).collect();
    let config = json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base,
        "r": lora.rank,
        "lora_alpha": lora.alpha,
        "lora_dropout": lora.dropout,
        "target_modules": modules,
        "bias": "none",
        "fan_in_fan_out": false,
        "inference_mode": true,
        "init_lora_weights": true,
        "use_rslora": false,
        "use_dora": false,
        "modules_to_save": null,
        "layers_to_transform": null,
        "layers_pattern": null,
        "rank_pattern": {},
        "alpha_pattern": {},
        "revision": null,
    });
    write_json(&to.join("adapter_config.json"), &config)?;
    safetensors::serialize_to_file(named, None, &to.join("adapter_model.safetensors")).map_err(|e| format!("cannot write adapter_model.safetensors: {e}"))?;
    Ok(vec![to.join("adapter_config.json"), to.join("adapter_model.safetensors")])
}

/// The GGUF tensor types an export offers.
pub fn gguf_type(name: &str) -> Option<GgmlType> {
    match name {
        "f32" => Some(GgmlType::F32),
        "f16" => Some(GgmlType::F16),
        "q8_0" => Some(GgmlType::Q8_0),
        _ => None,
    }
}

/// llama.cpp's `general.file_type` for a whole-model type.
fn file_type(kind: GgmlType) -> u32 {
    match kind {
        GgmlType::F16 => 1,
        GgmlType::Q8_0 => 7,
        _ => 0,
    }
}

/// The metadata of a GGUF export from a model directory: the architecture from config.json and
/// a byte-level BPE tokenizer from tokenizer.json (llama.cpp's `gpt2` kind, with the
/// pre-tokenizer named by what its split does).
fn metadata_from_hf(source: &Pretrained, w: &mut GgufWriter) -> Result<(), String> {
    let c = &source.config;
    let dir = source.hf_dir().ok_or("not a model directory")?;
    let arch = c.architecture.as_str();
    let text = std::fs::read_to_string(dir.dir.join("tokenizer.json")).map_err(|e| format!("cannot read tokenizer.json: {e}"))?;
    let tj: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("tokenizer.json: {e}"))?;
    let model = &tj["model"];
    if model["type"] != "BPE" || model["byte_fallback"] == true {
        return Err("ratlab writes GGUF tokenizers of the byte-level BPE kind (gpt2); this model's is SentencePiece-like. Export to hf and convert with llama.cpp's convert_hf_to_gguf.py".into());
    }
    let pre = super::tokenizer::gguf_pre_of(&tj).ok_or("this tokenizer's pre-tokenizer is not one ratlab can name for llama.cpp (it knows gpt-2, smollm, llama-bpe and qwen2); export to hf and convert with llama.cpp's convert_hf_to_gguf.py")?;
    let tk = source.tokenizer()?;
    let n = c.vocab.max(tk.vocab_size());
    let mut tokens: Vec<String> = (0..n as u32).map(|i| tk.token(i)).collect();
    let specials: Vec<u32> = tk.specials().into_iter().map(|(i, _)| i).collect();
    let added: Vec<u32> = tj["added_tokens"].as_array().map(|a| a.iter().filter_map(|t| t["id"].as_u64().map(|i| i as u32)).collect()).unwrap_or_default();
    let types: Vec<i32> = (0..n as u32).map(|i| if specials.contains(&i) { 3 } else if added.contains(&i) { 4 } else { 1 }).collect();
    // Ids past the tokenizer's vocabulary (a padded embedding) get placeholder names.
    for (i, t) in tokens.iter_mut().enumerate() {
        if t.starts_with('<') && t.ends_with('>') && t[1..t.len() - 1] == i.to_string() {
            *t = format!("[PAD{i}]");
        }
    }
    let merges: Vec<String> = model["merges"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m.as_str().map(str::to_string).or_else(|| m.as_array().map(|p| p.iter().filter_map(|s| s.as_str()).collect::<Vec<_>>().join(" ")))).collect())
        .unwrap_or_default();
    w.str("general.architecture", arch).str("general.name", &dir.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    w.u32(&format!("{arch}.context_length"), c.context as u32)
        .u32(&format!("{arch}.embedding_length"), c.d_model as u32)
        .u32(&format!("{arch}.block_count"), c.layers as u32)
        .u32(&format!("{arch}.feed_forward_length"), c.ffn as u32)
        .u32(&format!("{arch}.attention.head_count"), c.heads as u32)
        .u32(&format!("{arch}.attention.head_count_kv"), c.kv_heads as u32)
        .u32(&format!("{arch}.attention.key_length"), c.head_dim as u32)
        .u32(&format!("{arch}.attention.value_length"), c.head_dim as u32)
        .u32(&format!("{arch}.rope.dimension_count"), c.head_dim as u32)
        .u32(&format!("{arch}.vocab_size"), c.vocab as u32)
        .f32(&format!("{arch}.attention.layer_norm_rms_epsilon"), c.norm_eps as f32)
        .f32(&format!("{arch}.rope.freq_base"), c.rope_base as f32);
    w.str("tokenizer.ggml.model", "gpt2").str("tokenizer.ggml.pre", pre);
    w.set("tokenizer.ggml.tokens", Value::Array(tokens.into_iter().map(Value::Str).collect()));
    w.i32s("tokenizer.ggml.token_type", &types);
    w.set("tokenizer.ggml.merges", Value::Array(merges.into_iter().map(Value::Str).collect()));
    if let Some(b) = tk.bos {
        w.u32("tokenizer.ggml.bos_token_id", b);
    }
    if let Some(e) = tk.eos {
        w.u32("tokenizer.ggml.eos_token_id", e);
    }
    if let Some(&eot) = tk.stops.iter().find(|&&s| Some(s) != tk.eos) {
        w.u32("tokenizer.ggml.eot_token_id", eot);
    }
    // tokenizer.json adds BOS through its post-processor (a template naming the token).
    let bos_name = tk.bos.map(|b| tk.token(b));
    let adds_bos = bos_name.is_some_and(|b| tj["post_processor"].to_string().contains(&serde_json::to_string(&b).unwrap_or_default()));
    w.set("tokenizer.ggml.add_bos_token", Value::Bool(adds_bos));
    if let Some(t) = source.chat_template() {
        w.str("tokenizer.chat_template", &t);
    }
    Ok(())
}

/// Write a GGUF file in llama.cpp's layout: its tensor names, Q/K rows permuted back for llama,
/// 2-D weights as `kind` (f32, f16 or q8_0) and norms and biases in f32, the architecture's
/// metadata, the tokenizer and the chat template. A GGUF source's metadata is kept as it was
/// (the tensors changed, not the model's shape or vocabulary); a directory source's is built.
pub fn write_gguf(source: &Pretrained, weights: &[Named], kind: GgmlType, to: &Path) -> Result<Vec<PathBuf>, String> {
    let c = &source.config;
    check_weights(c, weights)?;
    if to.exists() {
        return Err("exists; export into a new path (ratlab does not overwrite files)".into());
    }
    let mut w = GgufWriter::new();
    match source.gguf_metadata() {
        Some(meta) => {
            for (k, v) in meta {
                if k != "general.alignment" {
                    w.set(k, v.clone());
                }
            }
        }
        None => metadata_from_hf(source, &mut w)?,
    }
    w.u32("general.file_type", file_type(kind));
    if kind != GgmlType::F32 && kind != GgmlType::F16 {
        w.u32("general.quantization_version", 2);
    }
    let mut ordered: Vec<&Named> = weights.iter().collect();
    ordered.sort_by_key(|t| (t.name.starts_with("layers."), t.name.split('.').nth(1).and_then(|i| i.parse::<usize>().ok()), t.name.clone()));
    for t in ordered {
        let name = gguf_name_of(&t.name).ok_or_else(|| format!("tensor {} has no GGUF name", t.name))?;
        let heads = match () {
            _ if c.architecture != "llama" => None,
            _ if t.name.contains(".attn.q.") => Some(c.heads),
            _ if t.name.contains(".attn.k.") => Some(c.kv_heads),
            _ => None,
        };
        let width = if t.shape.len() == 2 { t.shape[1] } else { 1 };
        let values = match heads {
            Some(h) => Cow::Owned(permute_rows(&t.values, h, width)),
            None => Cow::Borrowed(&t.values),
        };
        let k = if t.shape.len() == 2 && (kind != GgmlType::Q8_0 || width.is_multiple_of(32)) { kind } else { GgmlType::F32 };
        w.values(&name, &t.shape, k, &values)?;
    }
    if let Some(f) = source.rope_factors()?.filter(|_| source.format() == "gguf") {
        let f: Vec<f32> = f.iter().map(|&x| x as f32).collect();
        w.values("rope_freqs.weight", &[f.len()], GgmlType::F32, &f)?;
    }
    let file = std::fs::File::create(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let mut out = std::io::BufWriter::new(file);
    w.write(&mut out).and_then(|_| std::io::Write::flush(&mut out)).map_err(|e| format!("cannot write {}: {e}", to.display()))?;
    Ok(vec![to.to_path_buf()])
}

#[cfg(test)]
mod tests {
    use super::super::gguf::unpermute_rows;
    use super::*;

    #[test]
    fn names_map_to_each_format_and_back() {
        let c = ModelConfig {
            architecture: "qwen2".into(),
            layers: 2,
            d_model: 8,
            heads: 2,
            kv_heads: 1,
            head_dim: 4,
            ffn: 16,
            vocab: 10,
            context: 32,
            rope_base: 1e4,
            norm_eps: 1e-6,
            tied: false,
            qkv_bias: true,
            rope_scaled: false,
        };
        {
            for (name, _) in c.expected() {
                let hf = hf_name_of(&name).unwrap();
                assert_eq!(super::super::hf::hf_name(&hf).as_deref(), Some(name.as_str()), "{hf}");
                let gg = gguf_name_of(&name).unwrap();
                assert_eq!(super::super::gguf_name(&gg).as_deref(), Some(name.as_str()), "{gg}");
            }
        }
        assert_eq!(peft_name_of("layers.3.mlp.down.lora_b").as_deref(), Some("base_model.model.model.layers.3.mlp.down_proj.lora_B.weight"));
        assert_eq!(peft_name_of("layers.0.attn.q.lora_a").as_deref(), Some("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"));
    }

    #[test]
    fn permute_undoes_unpermute() {
        let w: Vec<f32> = (0..6 * 8 * 3).map(|i| i as f32).collect();
        assert_eq!(permute_rows(&unpermute_rows(&w, 6, 3), 6, 3), w);
        assert_eq!(unpermute_rows(&permute_rows(&w, 2, 3), 2, 3), w);
    }

    #[test]
    fn an_export_path_that_holds_files_is_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("x"), "keep me").unwrap();
        let e = ready_dir(d.path()).unwrap_err();
        assert!(e.contains("is not an empty directory"), "{e}");
        assert_eq!(std::fs::read_to_string(d.path().join("x")).unwrap(), "keep me");
        ready_dir(&d.path().join("new")).unwrap();
        ready_dir(&d.path().join("new")).unwrap();
    }
}
