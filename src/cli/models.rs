//! What a run's model does after training: `predict` applies a saved table model to new rows;
//! `generate` continues a prompt with a transformer run (in the torch worker).

use crate::error::InputError;
use crate::experiments::plan;
use std::path::Path;

/// `ratlab generate`: check the run directory, then let the torch worker load the model and
/// generate (libtorch stays out of this process).
pub fn generate(run: &Path, prompt: &str, sampling: &Sampling, raw: bool) -> anyhow::Result<u8> {
    let dir = if run.is_file() { run.parent().unwrap_or(run).to_path_buf() } else { run.to_path_buf() };
    let doc = plan::read_checkpoint(&dir).map_err(|e| InputError::new(e).file(&dir).detail("a finished transformer run saves model.json and model.safetensors"))?;
    let limit = crate::data::limits::get().tokens;
    if sampling.max_tokens > limit {
        return Err(InputError::new(crate::data::limits::exceeded("tokens", &format!("--max-tokens {}", sampling.max_tokens), limit)).field("--max-tokens").into());
    }
    if !(0.0..=100.0).contains(&sampling.temperature) {
        return Err(InputError::new(format!("{} is not allowed; expected a temperature in [0, 100] (0 = greedy)", sampling.temperature)).field("--temperature").into());
    }
    let chat = matches!(doc["trained_with"]["mode"].as_str(), Some("sft" | "dpo")) && !raw;
    let full_prompt = if chat { crate::data::lm::alpaca_prompt(prompt, "") } else { prompt.to_string() };
    let exe = crate::experiments::worker::locate().map_err(|e| InputError::new(e).field("generate"))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("generate").arg(&dir).arg("--prompt").arg(&full_prompt).args(sampling.to_args());
    if chat {
        cmd.arg("--stop-at-eos");
    }
    let status = cmd.status().map_err(|e| anyhow::anyhow!("cannot start the torch worker: {e}"))?;
    Ok(status.code().map_or(1, |c| c.clamp(0, 255) as u8))
}

/// Where a model runs: `auto` takes CUDA when libtorch sees a GPU.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceArg {
    Auto,
    Cpu,
    Cuda,
}

impl DeviceArg {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceArg::Auto => "auto",
            DeviceArg::Cpu => "cpu",
            DeviceArg::Cuda => "cuda",
        }
    }
}

/// How a transformer generates: the options `ratlab generate` takes and hands on, unchanged,
/// to the `ratlab-torch generate` it starts (one definition for both command lines).
#[derive(clap::Args, Debug, Clone)]
pub struct Sampling {
    /// New tokens (bytes) at most.
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,
    /// Sampling temperature; 0 picks the most likely byte (greedy).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// auto (CUDA when present), cpu or cuda.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
}

impl Sampling {
    /// The same options as command-line arguments.
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "--max-tokens".into(),
            self.max_tokens.to_string(),
            "--temperature".into(),
            self.temperature.to_string(),
            "--seed".into(),
            self.seed.to_string(),
            "--device".into(),
            self.device.as_str().into(),
        ]
    }
}

/// `ratlab predict`: load a saved model and write its predictions for new rows.
pub fn predict(run: &Path, data: &Path, out: Option<&Path>) -> anyhow::Result<u8> {
    use crate::backends::{Prediction, Predictor};
    use crate::experiments::model_file;
    use crate::data::table::{self, OutValues};
    let file = if run.is_dir() { run.join("model.json") } else { run.to_path_buf() };
    let text = std::fs::read_to_string(&file).map_err(|e| {
        InputError::new(format!("cannot read the model: {e}"))
            .file(&file)
            .detail("a run saves model.json when its model can be saved (native models, holdout or test-file evaluation, no preprocessing)")
    })?;
    let doc = model_file::read(&text).map_err(|e| InputError::new(e).file(&file))?;
    let t = table::read_table(data)?;
    let mut set = doc.encoder.encode(&t, &data.display().to_string())?;
    if let Some(s) = &doc.scaler {
        s.apply(&mut set.x);
    }
    let classes = &doc.encoder.classes;
    let prediction = doc.model.predict(set.x.view()).map_err(|e| anyhow::anyhow!("{}: cannot predict: {e}", file.display()))?;
    let cols = match prediction {
        Prediction::Proba(p) => {
            let label = |i: usize| classes.get(i).cloned().unwrap_or_else(|| i.to_string());
            let mut cols = vec![(
                "prediction".to_string(),
                OutValues::Text(p.rows().into_iter().map(|r| label(crate::metrics::argmax(&r))).collect()),
            )];
            for c in 0..p.ncols() {
                cols.push((format!("proba_{}", label(c)), OutValues::Numeric(p.column(c).to_vec())));
            }
            cols
        }
        Prediction::Values(v) => vec![("prediction".to_string(), OutValues::Numeric(v.to_vec()))],
    };
    let stdout = std::io::stdout();
    table::write_columns(out, cols, &mut stdout.lock())?;
    if let Some(o) = out {
        eprintln!("{} predictions written to {}", set.x.nrows(), o.display());
    }
    Ok(0)
}
