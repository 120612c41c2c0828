//! The entry points the fuzzers drive (cargo-fuzz in `fuzz/`, proptest in `tests/fuzz.rs`):
//! each takes arbitrary bytes the way a user's file would arrive and must answer with a value
//! or an error, never a panic.

use std::path::Path;

/// Parse and validate an experiment file's bytes (data files it names are not read).
pub fn experiment(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let _ = super::plan::from_text(&text, Path::new("fuzz/experiment.yaml"), Path::new("experiment.yaml"));
}

/// Read a data file's bytes as CSV (or Parquet when `parquet`), as `data.path` would.
pub fn table(bytes: &[u8], parquet: bool) {
    let Ok(dir) = tempfile_dir() else { return };
    let path = dir.join(if parquet { "data.parquet" } else { "data.csv" });
    if std::fs::write(&path, bytes).is_ok() {
        let _ = crate::data::table::read_table(&path);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Read a run directory whose `events.jsonl` holds these bytes, as `replay` and `runs` do.
pub fn events(bytes: &[u8]) {
    let Ok(dir) = tempfile_dir() else { return };
    if std::fs::write(dir.join("events.jsonl"), bytes).is_ok() {
        if let Ok(log) = super::store::read_run(&dir) {
            let _ = super::store::Summary::from_events(&log.events);
        }
        let _ = super::store::read_summary(&dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Read a `model.json`'s bytes as `ratlab predict` does (and predict one row of zeros with
/// whatever is accepted).
pub fn model(bytes: &[u8]) {
    if let Ok(m) = super::model_file::read(&String::from_utf8_lossy(bytes)) {
        let x = ndarray::Array2::zeros((1, m.encoder.names().len()));
        let _ = crate::backends::Predictor::predict(&m.model, x.view());
    }
}

/// Read a GGUF file's bytes as `ratlab inspect` and the worker do: header, metadata, tensor
/// infos, the model's config and tensor list, the tokenizer rebuilt from the metadata, and the
/// dequantization of every (small) tensor.
pub fn gguf(bytes: &[u8]) {
    crate::data::pretrained::check_gguf(bytes, 1 << 16);
}

/// Read a safetensors file's bytes as a model directory's shard: the header checked, every
/// tensor's name mapped and its values converted to f32.
pub fn safetensors(bytes: &[u8]) {
    let _ = crate::data::pretrained::hf::check_shard(bytes);
}

/// A fresh private directory under the system temp dir.
fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!("ratlab-fuzz-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
