//! `model.json`: a run's fitted model with the encoding and standardization that new rows need,
//! written when a run finishes and read back by `ratlab predict`. A file read back is untrusted
//! (edited, damaged, written by someone else): it is checked whole before it predicts anything.

use crate::backends::saved::SavedModel;
use crate::data::{Encoder, Scaler};
use serde::Deserialize;
use serde_json::Value;

/// The version of `model.json`'s layout; `ratlab predict` refuses other versions.
pub const MODEL_VERSION: u64 = 1;

/// The document a run writes (`params` as recorded, for the reader's information).
pub fn document(algorithm: &str, backend: &str, params: &Value, encoder: &Encoder, scaler: Option<&Scaler>, model: &SavedModel) -> Value {
    serde_json::json!({
        "format": "ratlab-model",
        "version": MODEL_VERSION,
        "algorithm": algorithm,
        "backend": backend,
        "params": params,
        "data": {
            "encoder": encoder,
            "feature_names": encoder.names(),
            "scaler": scaler,
        },
        "model": model,
    })
}

/// A model read back and checked: it takes rows encoded by `encoder` (then standardized by
/// `scaler`) and gives one prediction per row.
#[derive(Debug)]
pub struct ModelFile {
    pub encoder: Encoder,
    pub scaler: Option<Scaler>,
    pub model: SavedModel,
}

/// Read `model.json` text: the format and version, then every part checked against the others
/// (the model's indices and widths against the encoded columns, the classes against the model's
/// outputs, the standardization against the columns). The error says what is wrong.
pub fn read(text: &str) -> Result<ModelFile, String> {
    #[derive(Deserialize)]
    struct Head {
        format: String,
        version: u64,
    }
    #[derive(Deserialize)]
    struct DataPart {
        encoder: Encoder,
        scaler: Option<Scaler>,
    }
    #[derive(Deserialize)]
    struct Doc {
        data: DataPart,
        model: SavedModel,
    }
    let head: Head = serde_json::from_str(text).map_err(|e| format!("not a ratlab model: {e}"))?;
    if head.format != "ratlab-model" || head.version != MODEL_VERSION {
        return Err(format!("model format {} version {} is not one this ratlab reads (ratlab-model version {MODEL_VERSION})", head.format, head.version));
    }
    let doc: Doc = serde_json::from_str(text).map_err(|e| format!("not a ratlab model: {e}"))?;
    let inputs = doc.data.encoder.names().len();
    let outputs = doc.model.check(inputs)?;
    doc.data.encoder.check(outputs)?;
    if let Some(s) = &doc.data.scaler {
        s.check(inputs)?;
    }
    Ok(ModelFile { encoder: doc.data.encoder, scaler: doc.data.scaler, model: doc.model })
}
