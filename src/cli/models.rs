//! What a run's model does after training: `predict` applies a saved table model to new rows;
//! `generate` continues a prompt with a transformer run (in the torch worker).

use crate::error::InputError;
use crate::experiments::plan;
use std::path::Path;

/// The model argument of `generate` and `score`: a pretrained checkpoint as it is, or a finished
/// transformer run's directory (checked here, so a wrong path fails before the worker starts).
fn model_path(model: &Path) -> Result<std::path::PathBuf, InputError> {
    if !model.exists() {
        return Err(InputError::new("no such file or directory; expected a .gguf file, a model directory or a transformer run directory").file(model));
    }
    if crate::data::pretrained::Pretrained::is_checkpoint(model) {
        return Ok(model.to_path_buf());
    }
    let dir = if model.is_file() { model.parent().unwrap_or(model).to_path_buf() } else { model.to_path_buf() };
    plan::read_checkpoint(&dir).map_err(|e| InputError::new(e).file(&dir).detail("a finished transformer run saves model.json and model.safetensors; a pretrained model is a .gguf file or a directory with config.json"))?;
    Ok(dir)
}

/// Run the torch worker with `args`, passing its exit code on.
fn worker(args: &[std::ffi::OsString], what: &str) -> anyhow::Result<u8> {
    let exe = crate::experiments::worker::locate().map_err(|e| InputError::new(e).field(what))?;
    let status = std::process::Command::new(exe).args(args).status().map_err(|e| anyhow::anyhow!("cannot start the torch worker: {e}"))?;
    Ok(status.code().map_or(1, |c| c.clamp(0, 255) as u8))
}

/// `ratlab score`: the torch worker loads the model and scores the file.
pub fn score(model: &Path, file: &Path, json: bool, device: DeviceArg) -> anyhow::Result<u8> {
    let model = model_path(model)?;
    if !file.is_file() {
        return Err(InputError::new("no such file; expected a text file to score").file(file).field("--file").into());
    }
    let mut args: Vec<std::ffi::OsString> = vec!["score".into(), model.into(), "--file".into(), file.into(), "--device".into(), device.as_str().into()];
    if json {
        args.push("--json".into());
    }
    worker(&args, "score")
}

/// `ratlab generate`: check the model and options, then let the torch worker load the model and
/// generate (libtorch stays out of this process).
pub fn generate(model: &Path, prompts: &[String], sampling: &Sampling, style: PromptStyle) -> anyhow::Result<u8> {
    let dir = model_path(model)?;
    let limit = crate::data::limits::get().tokens;
    if sampling.max_tokens > limit {
        return Err(InputError::new(crate::data::limits::exceeded("tokens", &format!("--max-tokens {}", sampling.max_tokens), limit)).field("--max-tokens").into());
    }
    if !(0.0..=100.0).contains(&sampling.temperature) {
        return Err(InputError::new(format!("{} is not allowed; expected a temperature in [0, 100] (0 = greedy)", sampling.temperature)).field("--temperature").into());
    }
    if sampling.top_p <= 0.0 || sampling.top_p > 1.0 || !sampling.top_p.is_finite() {
        return Err(InputError::new(format!("{} is not allowed; expected a probability in (0, 1] (1 = no nucleus cut)", sampling.top_p)).field("--top-p").into());
    }
    let mut args: Vec<std::ffi::OsString> = vec!["generate".into(), dir.into()];
    for p in prompts {
        args.push("--prompt".into());
        args.push(p.into());
    }
    args.extend(sampling.to_args().into_iter().chain(style.to_args()).map(Into::into));
    worker(&args, "generate")
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
    /// New tokens at most (bytes for ratlab's byte-level models).
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,
    /// Sampling temperature; 0 picks the most likely token (greedy).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    /// Sample among the K most likely tokens only (0: all).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Sample from the smallest set of tokens whose probability reaches P (1: all).
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f64,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// auto (CUDA when present), cpu or cuda.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
}

/// How `generate` frames prompts and prints answers: the options `ratlab generate` takes and
/// hands on, unchanged, to the worker (one definition for both command lines, like [`Sampling`]).
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct PromptStyle {
    /// Render each prompt as a user turn with the model's chat template and generation prompt.
    #[arg(long)]
    pub chat: bool,
    /// Use the prompt as is, without a template.
    #[arg(long, conflicts_with = "chat")]
    pub raw: bool,
    /// One JSON line per prompt: {"prompt", "ids", "logprobs", "text", "tokens_per_s"}.
    #[arg(long)]
    pub json: bool,
}

impl PromptStyle {
    /// The same options as command-line arguments.
    pub fn to_args(self) -> Vec<String> {
        [("--chat", self.chat), ("--raw", self.raw), ("--json", self.json)].into_iter().filter(|(_, on)| *on).map(|(f, _)| f.to_string()).collect()
    }
}

impl Sampling {
    /// The same options as command-line arguments.
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "--max-tokens".into(),
            self.max_tokens.to_string(),
            "--temperature".into(),
            self.temperature.to_string(),
            "--top-k".into(),
            self.top_k.to_string(),
            "--top-p".into(),
            self.top_p.to_string(),
            "--seed".into(),
            self.seed.to_string(),
            "--device".into(),
            self.device.as_str().into(),
        ]
    }
}

/// `ratlab predict`: load a saved model and write its predictions for new rows.
pub fn predict(run: &Path, data: &Path, out: Option<&Path>, contributions: bool) -> anyhow::Result<u8> {
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
    if contributions {
        let c = crate::backends::explain::explain(&doc.model, set.x.view()).map_err(|e| InputError::new(format!("no contributions for this model: {e}")).file(&file))?;
        let names = doc.encoder.names();
        let label = |i: usize| classes.get(i).cloned().unwrap_or_else(|| i.to_string());
        let mut cols = Vec::with_capacity(c.classes.len() * (names.len() + 1));
        for (o, &class) in c.classes.iter().enumerate() {
            // One output: the names alone; one per class: CLASS:NAME.
            let head = |n: &str| if c.classes.len() == 1 { n.to_string() } else { format!("{}:{n}", label(class)) };
            // (A feature named `bias` keeps its name; the bias column then gives way.)
            let bias = if names.iter().any(|n| n == "bias") { "shap_bias" } else { "bias" };
            for (j, name) in names.iter().map(String::as_str).chain([bias]).enumerate() {
                cols.push((head(name), OutValues::Numeric((0..c.n_rows()).map(|r| c.row(r, o)[j]).collect())));
            }
        }
        let stdout = std::io::stdout();
        table::write_columns(out, cols, &mut stdout.lock())?;
        let of = if c.classes.len() == 1 && !classes.is_empty() { format!(" (class {})", label(c.classes[0])) } else { String::new() };
        eprintln!("SHAP values of {} rows: each row's add up to its {}{of}", c.n_rows(), c.scale);
        return Ok(0);
    }
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
