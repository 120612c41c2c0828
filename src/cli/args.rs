//! The command line as clap reads it: every command, its arguments and their help.

use super::models::{PromptStyle, Sampling};
use super::run::ratlab_max_trials;
use super::slurm;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "ratlab", version, about = "A terminal workbench for machine-learning experiments", propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Raise (or lower) a resource limit, NAME=N (repeatable): rows, columns, classes,
    /// yaml_bytes, yaml_depth, tokens. Inputs past a limit are refused before anything runs.
    #[arg(long = "limit", value_name = "NAME=N", global = true)]
    pub limits: Vec<String>,
}

/// Where `ratlab run` executes its runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecutorArg {
    /// In this process, `-j N` at a time.
    Local,
    /// As a Slurm job array (sbatch), gathered from the shared run store.
    Slurm,
}

/// Output format of `ratlab run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run an experiment headless, recording every run under --out.
    Run {
        /// The experiment file (YAML).
        experiment: PathBuf,
        /// Override a field: KEY=VALUE, e.g. runs.1.params.strength=0.1 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Directory that receives the run directories.
        #[arg(long, default_value = "runs")]
        out: PathBuf,
        /// text: progress and a results table; json: one JSON object on stdout.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Run only the named run(s) of the experiment (repeatable).
        #[arg(long = "run", value_name = "NAME")]
        only: Vec<String>,
        /// Run up to N runs (a search's trials) at once.
        #[arg(short = 'j', long = "jobs", value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
        jobs: u32,
        /// List the runs and trials that would run, with their parameters, and run nothing.
        #[arg(long)]
        dry_run: bool,
        /// Run only trial I of each search (repeatable): the building block for running a
        /// search on a cluster.
        #[arg(long = "trial", value_name = "I")]
        trials: Vec<usize>,
        /// Most trials a search may expand to.
        #[arg(long, value_name = "N", default_value_t = ratlab_max_trials())]
        max_trials: usize,
        /// Where the runs execute: in this process (local), or as a Slurm job array whose task
        /// i runs trial i (slurm; see the Slurm options below).
        #[arg(long, value_enum, default_value_t = ExecutorArg::Local)]
        executor: ExecutorArg,
        #[command(flatten)]
        slurm: slurm::SlurmArgs,
    },
    /// Follow or stop experiments submitted with `ratlab run --executor slurm`.
    Slurm {
        #[command(subcommand)]
        action: slurm::SlurmCmd,
    },
    /// Check experiment files (YAML, parameters, data files and columns) without running them.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Open recorded runs in the TUI (or print their curves and summary when not on a
    /// terminal, or with --print).
    Replay {
        #[arg(required = true)]
        run_dirs: Vec<PathBuf>,
        /// Play the events back at this speed (1 = as recorded) instead of all at once.
        #[arg(long)]
        speed: Option<f64>,
        /// Print curves and summary instead of opening the TUI.
        #[arg(long)]
        print: bool,
    },
    /// Re-execute a recorded run with its recorded experiment and seed.
    Rerun {
        run_dir: PathBuf,
        /// Compare the new metrics with the recorded ones; exit 1 if they differ.
        #[arg(long)]
        check: bool,
    },
    /// Apply a run's saved model (`model.json`) to new rows, with the training encoding,
    /// standardization and column checks.
    Predict {
        /// A run directory holding model.json (or the model.json itself).
        run_dir: PathBuf,
        /// The rows to predict: a .csv or .parquet file with the training feature columns.
        #[arg(long)]
        data: PathBuf,
        /// Where to write the predictions (.csv or .parquet); CSV on stdout by default.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write each row's SHAP values instead (exact TreeSHAP; gradient boosting, decision
        /// trees, random forests): one column per feature, by its name, and `bias`; a row's
        /// values add up to its margin (boosting) or probability (trees, forests).
        #[arg(long)]
        contributions: bool,
    },
    /// Continue prompts with a pretrained model (a GGUF file or a Hugging Face directory) or a
    /// trained transformer run, using a KV cache; the model is loaded once for all prompts.
    /// With --chat a prompt is a user turn in the model's chat template; runs tuned with sft or
    /// dpo get their instruction template by default. Generation stops at the model's EOS or
    /// end-of-turn token.
    Generate {
        /// A .gguf file, a model directory (config.json, model.safetensors, tokenizer.json) or a
        /// transformer run directory.
        model: PathBuf,
        /// A text to continue (repeatable: one answer per prompt).
        #[arg(long = "prompt", required = true)]
        prompts: Vec<String>,
        #[command(flatten)]
        sampling: Sampling,
        #[command(flatten)]
        style: PromptStyle,
    },
    /// Write a finished transformer run tuned from a pretrained model for other tools: a
    /// Hugging Face directory (LoRA merged in), a GGUF file for llama.cpp and Ollama, or a PEFT
    /// adapter (LoRA runs).
    ExportModel {
        /// A finished transformer run directory whose model started from a .gguf file or a
        /// model directory.
        run_dir: PathBuf,
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Where to write: a new (or empty) directory for hf and peft, a new .gguf file for gguf.
        #[arg(long)]
        to: PathBuf,
        /// gguf: the type of the 2-D weights (norms and biases stay f32).
        #[arg(long = "type", value_enum, default_value = "f32")]
        kind: GgufKind,
    },
    /// Describe a pretrained model: architecture, shape, parameters, tensor types, tokenizer,
    /// special tokens and chat template.
    Inspect {
        /// A .gguf file or a Hugging Face model directory.
        model: PathBuf,
        /// One JSON object instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// The ids and token strings a model's own tokenizer gives a text (nothing added that the
    /// tokenizer would not add itself).
    Tokenize {
        /// A .gguf file, a model directory, or a transformer run (bytes).
        model: PathBuf,
        /// The text.
        #[arg(long, required_unless_present = "file", conflicts_with = "file")]
        text: Option<String>,
        /// A file holding the text.
        #[arg(long)]
        file: Option<PathBuf>,
        /// {"ids": [...], "tokens": [...]}.
        #[arg(long)]
        json: bool,
    },
    /// Next-token loss of a text file under a model, with its tokenizer, in windows of its
    /// context: tokens, nll (mean nats per predicted token), perplexity and bits per byte.
    Score {
        /// A .gguf file, a model directory, or a transformer run directory.
        model: PathBuf,
        /// The text to score.
        #[arg(long)]
        file: PathBuf,
        /// {"tokens", "nll", "perplexity", "bits_per_byte"}.
        #[arg(long)]
        json: bool,
        /// auto (CUDA when present), cpu or cuda.
        #[arg(long, value_enum, default_value_t = super::models::DeviceArg::Auto)]
        device: super::models::DeviceArg,
    },
    /// List recorded runs with status and final metrics.
    Runs {
        #[arg(long, default_value = "runs", global = true)]
        out: PathBuf,
        #[command(flatten)]
        filter: RunsFilter,
        #[command(subcommand)]
        action: Option<RunsCmd>,
    },
    /// Draw a step metric of recorded runs (one line per run) as a PNG or SVG figure, or with
    /// --shap a run's SHAP summary (beeswarm) plot.
    Plot {
        /// Run directories, or directories of runs (with --shap: one run directory).
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// The step metric: test.accuracy, train.log_loss, … (a bare name means test.NAME).
        #[arg(long, required_unless_present = "shap")]
        metric: Option<String>,
        /// A SHAP summary plot of a finished tree-model run (gradient boosting, decision tree,
        /// random forest): each feature's SHAP values on the run's test rows, coloured by the
        /// feature's value.
        #[arg(long, conflicts_with_all = ["metric", "x"])]
        shap: bool,
        /// The figure: .png or .svg.
        #[arg(long)]
        out: PathBuf,
        /// The x axis: the step, the step's x (sweep value, size, round), or seconds.
        #[arg(long, value_enum, default_value_t = PlotX::Step)]
        x: PlotX,
        /// Width and height in pixels.
        #[arg(long, default_value = "900x540", value_parser = parse_size)]
        size: (u32, u32),
    },
    /// A Markdown report of recorded runs: per experiment, the comparison table, the best trial
    /// of each search, and a figure of the curves.
    Report {
        /// Run directories, or directories of runs.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// The directory that receives report.md and its figures.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write recorded runs as a table, one row per run (experiment, run, status, seed, every
    /// parameter, every final metric), or one row per step with --curves.
    Export {
        /// Run directories, or directories of runs (e.g. `runs`).
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// The file to write: .parquet, .csv or .json.
        #[arg(long)]
        to: PathBuf,
        /// One row per step of every run's curves (run, step, x, fold, metric columns).
        #[arg(long)]
        curves: bool,
    },
    /// Open the terminal UI (also what `ratlab` alone does) on experiments/*.yaml and any
    /// files given.
    Tui {
        experiments: Vec<PathBuf>,
        /// Directory of recorded runs (new runs are recorded there too).
        #[arg(long, default_value = "runs")]
        out: PathBuf,
        /// Runs (or search trials) trained at once; the number of cores by default.
        #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
        jobs: Option<u32>,
    },
}

/// Which recorded runs `ratlab runs` lists, in what order.
#[derive(clap::Args, Debug, Default)]
pub struct RunsFilter {
    /// Only runs of this experiment.
    #[arg(long)]
    pub experiment: Option<String>,
    /// Only runs with this status (running, finished, failed, cancelled, pruned, interrupted).
    #[arg(long)]
    pub status: Option<String>,
    /// Only runs meeting every condition: 'max_depth>3 and roc_auc>0.9' (parameters, metrics,
    /// status, experiment, run, algorithm, backend, seed; > >= < <= = !=).
    #[arg(long = "where", value_name = "CONDITIONS")]
    pub conditions: Option<String>,
    /// Sort by a metric (best first) or a parameter (ascending).
    #[arg(long, value_name = "NAME")]
    pub sort: Option<String>,
    /// Only the first N (after sorting).
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    /// One JSON array on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The x axis of `ratlab plot`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlotX {
    Step,
    X,
    Time,
}

/// `WIDTHxHEIGHT`, each 64…8192 pixels.
fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once('x').ok_or_else(|| format!("'{s}' is not WIDTHxHEIGHT, e.g. 900x540"))?;
    let px = |v: &str| v.trim().parse::<u32>().ok().filter(|p| (64..=8192).contains(p)).ok_or_else(|| format!("'{v}' is not a size in pixels from 64 to 8192"));
    Ok((px(w)?, px(h)?))
}

/// `ratlab runs …`: reading recorded runs side by side.
#[derive(Subcommand, Debug)]
pub enum RunsCmd {
    /// A table of runs: the parameters that differ between them, then the final metrics,
    /// fitted to the terminal.
    Compare {
        /// Run directories, or directories of runs.
        runs: Vec<PathBuf>,
        /// Every recorded run of this experiment under --out (the latest record of each run).
        #[arg(long)]
        experiment: Option<String>,
        /// Every parameter, not only those that differ.
        #[arg(long)]
        all: bool,
        /// The table as JSON rows on stdout.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// The table as CSV on stdout.
        #[arg(long)]
        csv: bool,
    },
    /// Only what differs between two runs: parameters, data, seed, final metrics, and the
    /// first step where their curves part.
    Diff { a: PathBuf, b: PathBuf },
    /// One run: its parameters, data, metrics and messages.
    Show { run: PathBuf },
}

/// What `export-model` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// A Hugging Face model directory (transformers' from_pretrained).
    Hf,
    /// One GGUF file (llama.cpp, Ollama, transformers' gguf_file=).
    Gguf,
    /// A PEFT LoRA adapter directory (PeftModel.from_pretrained).
    Peft,
}

/// The tensor type of a GGUF export's matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GgufKind {
    F32,
    F16,
    #[value(name = "q8_0")]
    Q8_0,
}
