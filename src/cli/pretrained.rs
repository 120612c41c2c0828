//! Pretrained models without torch: `inspect` describes a checkpoint, `tokenize` shows what its
//! tokenizer makes of a text, and `export-model` writes a tuned run out as a Hugging Face
//! directory, a GGUF file or a PEFT adapter. All run in this process (no libtorch).

use super::args::{ExportFormat, GgufKind};
use crate::data::pretrained::export::{self, LoraSettings};
use crate::data::pretrained::Pretrained;
use crate::error::InputError;
use crate::experiments::events::RunEvent;
use std::path::Path;

fn open(model: &Path) -> Result<Pretrained, InputError> {
    if !model.exists() {
        return Err(InputError::new("no such file or directory; expected a .gguf file or a Hugging Face model directory").file(model));
    }
    Pretrained::open(model).map_err(InputError::new)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

/// `ratlab inspect MODEL [--json]`.
pub fn inspect(model: &Path, json: bool) -> anyhow::Result<u8> {
    let p = open(model)?;
    let c = &p.config;
    let tok = p.tokenizer();
    let template = p.chat_template();
    let name = |t: &crate::data::pretrained::tokenizer::ModelTokenizer, id: Option<u32>| id.map(|i| t.token(i));
    if json {
        let mut doc = serde_json::json!({
            "file": p.path.display().to_string(),
            "format": p.format(),
            "architecture": c.architecture,
            "layers": c.layers,
            "d_model": c.d_model,
            "heads": c.heads,
            "kv_heads": c.kv_heads,
            "head_dim": c.head_dim,
            "ffn": c.ffn,
            "vocab": c.vocab,
            "context": c.context,
            "rope_base": c.rope_base,
            "rope_scaled": c.rope_scaled,
            "norm_eps": c.norm_eps,
            "tied": c.tied,
            "qkv_bias": c.qkv_bias,
            "params": c.params(),
            "tensor_types": p.tensor_types,
            "tokenizer": tok.as_ref().ok().map(|t| t.kind.clone()),
            "chat_template": template.is_some(),
        });
        match &tok {
            Ok(t) => {
                doc["bos_token"] = name(t, t.bos).into();
                doc["eos_token"] = name(t, t.eos).into();
                doc["stop_tokens"] = t.stops.iter().map(|&i| t.token(i)).collect::<Vec<_>>().into();
                doc["special_tokens"] = t.specials().into_iter().map(|(i, s)| serde_json::json!({"id": i, "token": s})).collect::<Vec<_>>().into();
            }
            Err(e) => doc["tokenizer_error"] = e.clone().into(),
        }
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(0);
    }
    println!("{} ({})", p.path.display(), p.format());
    for (k, v) in p.about() {
        println!("  {k:<24} {v}");
    }
    let rows: Vec<(&str, String)> = vec![
        ("architecture", c.architecture.clone()),
        ("layers", c.layers.to_string()),
        ("d_model", c.d_model.to_string()),
        ("heads / kv_heads", format!("{} / {}{}", c.heads, c.kv_heads, if c.kv_heads < c.heads { format!(" (GQA, {} query heads per KV head)", c.heads / c.kv_heads) } else { String::new() })),
        ("head_dim", c.head_dim.to_string()),
        ("ffn", c.ffn.to_string()),
        ("vocab", c.vocab.to_string()),
        ("context", c.context.to_string()),
        ("rope base", format!("{}{}", c.rope_base, if c.rope_scaled { " (LLaMA-3 scaling)" } else { "" })),
        ("norm eps", c.norm_eps.to_string()),
        ("embeddings", if c.tied { "tied (the head is the embedding)".into() } else { "untied".into() }),
        ("q/k/v biases", if c.qkv_bias { "yes".into() } else { "no".into() }),
        ("parameters", format!("{} ({} in f32)", c.params(), mib(c.params() * 4))),
    ];
    for (k, v) in rows {
        println!("{k:<18} {v}");
    }
    println!("tensor types:");
    for t in &p.tensor_types {
        println!("  {:<6} {:>4} tensors  {:>10}", t.kind, t.tensors, mib(t.bytes));
    }
    match &tok {
        Ok(t) => {
            println!("tokenizer          {} ({} tokens)", t.kind, t.vocab_size());
            println!("bos / eos          {} / {}", name(t, t.bos).unwrap_or_else(|| "none".into()), name(t, t.eos).unwrap_or_else(|| "none".into()));
            println!("stops at           {}", t.stops.iter().map(|&i| t.token(i)).collect::<Vec<_>>().join(" "));
            let specials = t.specials();
            let shown: Vec<String> = specials.iter().take(20).map(|(i, s)| format!("{i}:{s}")).collect();
            println!("special tokens     {}{}", shown.join(" "), if specials.len() > 20 { format!(" … ({} in all)", specials.len()) } else { String::new() });
        }
        Err(e) => println!("tokenizer          none: {e}"),
    }
    println!("chat template      {}", if template.is_some() { "yes (the model's own)" } else { "none (ratlab uses the Alpaca template)" });
    Ok(0)
}

/// `ratlab tokenize MODEL (--text T | --file F) [--json]`.
pub fn tokenize(model: &Path, text: Option<&str>, file: Option<&Path>, json: bool) -> anyhow::Result<u8> {
    let text = match (text, file) {
        (Some(t), _) => t.to_string(),
        (None, Some(f)) => std::fs::read_to_string(f).map_err(|e| InputError::new(format!("cannot read it as text: {e}")).file(f).field("--file"))?,
        (None, None) => return Err(InputError::new("give the text with --text or --file").into()),
    };
    let (ids, tokens): (Vec<u32>, Vec<String>) = if model.exists() && !Pretrained::is_checkpoint(model) && model.is_dir() && model.join("model.json").is_file() {
        // A ratlab transformer run: its tokens are bytes.
        text.bytes().map(|b| (u32::from(b), String::from_utf8_lossy(&[b]).into_owned())).unzip()
    } else {
        let p = open(model)?;
        let t = p.tokenizer().map_err(InputError::new)?;
        let ids = t.encode(&text).map_err(InputError::new)?;
        let tokens = ids.iter().map(|&i| t.token(i)).collect();
        (ids, tokens)
    };
    if json {
        println!("{}", serde_json::json!({"ids": ids, "tokens": tokens}));
    } else {
        println!("{} tokens", ids.len());
        for (i, t) in ids.iter().zip(&tokens) {
            println!("{i:>8}  {t:?}");
        }
    }
    Ok(0)
}

/// `ratlab export-model RUN_DIR --format hf|gguf|peft --to PATH [--type f32|f16|q8_0]`: a
/// finished run tuned from a pretrained checkpoint, written for the tools people use. The
/// architecture, tokenizer and chat template come from that checkpoint (it must still be
/// where the run found it).
pub fn export_model(run_dir: &Path, format: ExportFormat, to: &Path, kind: GgufKind) -> anyhow::Result<u8> {
    let log = crate::experiments::store::read_run(run_dir)?;
    if !log.events.iter().any(|e| matches!(e, RunEvent::Finished { .. })) {
        let status = log.summary.as_ref().map_or("unknown", |s| s.status.as_str());
        return Err(InputError::new(format!("did not finish (status: {status}); only a finished run's model can be exported")).file(run_dir).into());
    }
    let doc = crate::experiments::plan::read_checkpoint(run_dir).map_err(|e| InputError::new(e).file(run_dir))?;
    if doc["tokenizer"]["kind"] != "checkpoint" {
        return Err(InputError::new("is one of ratlab's byte-level models; export-model writes models tuned from a pretrained checkpoint (init_from: a .gguf file or a model directory)").file(run_dir).into());
    }
    let src = Path::new(doc["tokenizer"]["path"].as_str().unwrap_or_default());
    let source = Pretrained::open(src).map_err(|e| InputError::new(format!("the model it was tuned from cannot be read ({e}); the export takes its config and tokenizer from there")).file(run_dir))?;
    let fail = |e: String| InputError::new(e).file(run_dir).field("--format");
    let written = match format {
        ExportFormat::Hf => export::write_hf(&source, &export::read_safetensors(&run_dir.join("model.safetensors")).map_err(fail)?, to).map_err(|e| InputError::new(e).file(to))?,
        ExportFormat::Gguf => {
            let t = match kind {
                GgufKind::F32 => "f32",
                GgufKind::F16 => "f16",
                GgufKind::Q8_0 => "q8_0",
            };
            let weights = export::read_safetensors(&run_dir.join("model.safetensors")).map_err(fail)?;
            export::write_gguf(&source, &weights, export::gguf_type(t).unwrap_or(crate::data::pretrained::gguf::GgmlType::F32), to).map_err(|e| InputError::new(e).file(to))?
        }
        ExportFormat::Peft => {
            let Some(file) = doc["adapters"].as_str() else {
                return Err(fail("is a full fine-tune: it has no LoRA adapters to write as PEFT; use --format hf (or gguf) for the whole model".into()).into());
            };
            let lora = &doc["trained_with"]["lora"];
            let settings = LoraSettings {
                rank: lora["rank"].as_u64().unwrap_or(0) as usize,
                alpha: lora["alpha"].as_f64().unwrap_or(0.0),
                dropout: lora["dropout"].as_f64().unwrap_or(0.0),
                targets: lora["targets"].as_array().map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect()).unwrap_or_default(),
            };
            let base = doc["base"].as_str().unwrap_or(src.to_str().unwrap_or_default()).to_string();
            if !Pretrained::is_checkpoint(Path::new(&base)) {
                eprintln!("note: the adapters apply to the run {base}, not to a checkpoint: export that run with --format hf and load them on it");
            }
            export::write_peft(&export::read_safetensors(&run_dir.join(file)).map_err(fail)?, &settings, &base, to).map_err(|e| InputError::new(e).file(to))?
        }
    };
    for f in &written {
        println!("{}", f.display());
    }
    Ok(0)
}
