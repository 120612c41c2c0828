//! Loading a saved transformer run (`model.json` + `model.safetensors`) for generation and for
//! `init_from`.

use crate::model::{self, Transformer};
use crate::train;
use ratlab::backends::params::TransformerParams;
use std::path::Path;
use tch::Device;

/// A loaded model and the store that holds its weights.
pub struct Loaded {
    pub params: TransformerParams,
    pub model: Transformer,
    pub device: Device,
    pub store: tch::nn::VarStore,
    /// The run's `model.json`.
    pub doc: serde_json::Value,
}

/// Load the run directory `dir` (or a `model.json` path) onto `device` (`auto`, `cpu`, `cuda`).
pub fn load(dir: &Path, device: &str) -> Result<Loaded, String> {
    let dir = if dir.is_file() { dir.parent().unwrap_or(dir) } else { dir };
    let doc = ratlab::experiments::plan::read_checkpoint(dir)?;
    let meta = dir.join("model.json");
    if doc.get("version").and_then(|v| v.as_u64()) != Some(1) {
        return Err(format!("{}: model.json version {} is not supported (this ratlab reads version 1)", meta.display(), doc["version"]));
    }
    let mut params: TransformerParams = serde_json::from_value(doc["params"].clone()).map_err(|e| format!("{}: params: {e}", meta.display()))?;
    params.lora = None;
    let device = model::device(device)?;
    let built = train::build(&params, device, Some(dir))?;
    Ok(Loaded { params, model: built.model, device, store: built.base, doc })
}
