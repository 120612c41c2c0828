//! The `ratlab-torch` worker. `ratlab-torch train` reads a job (one JSON line) on stdin and
//! prints run events as JSON lines on stdout; a `stop` line (or the end of stdin) cancels after
//! the current step. `ratlab-torch generate MODEL --prompt TEXT…` continues prompts and
//! `ratlab-torch score MODEL --file F` measures next-token loss, with a saved run or a pretrained
//! checkpoint. Users reach them through `ratlab run` / the TUI, `ratlab generate` and `ratlab score`.

use clap::{Parser, Subcommand};
use ratlab::experiments::events::RunEvent;
use ratlab::experiments::worker::TorchJob;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "ratlab-torch", version, about = "ratlab's torch worker (started by ratlab for transformer runs)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train the job given as one JSON line on stdin; run events go to stdout.
    Train,
    /// Continue prompts with a saved transformer run or a pretrained checkpoint.
    Generate {
        model: PathBuf,
        #[arg(long = "prompt", required = true)]
        prompts: Vec<String>,
        #[command(flatten)]
        sampling: ratlab::cli::Sampling,
        #[command(flatten)]
        style: ratlab::cli::PromptStyle,
    },
    /// Keep a model loaded and answer prompts from stdin (JSON lines) as they come (the TUI's
    /// Generate view).
    Serve {
        model: PathBuf,
        #[arg(long, value_enum, default_value_t = ratlab::cli::DeviceArg::Auto)]
        device: ratlab::cli::DeviceArg,
    },
    /// Next-token loss of a text file under a model.
    Score {
        model: PathBuf,
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        json: bool,
        #[arg(long, value_enum, default_value_t = ratlab::cli::DeviceArg::Auto)]
        device: ratlab::cli::DeviceArg,
    },
    /// Print what libtorch sees (threads, CUDA devices).
    Info,
}

/// Events as JSON lines on stdout, flushed one by one.
struct Stdout;

impl ratlab_torch::train::Out for Stdout {
    /// A figure that is not finite (a diverging loss, a DPO statistic) is left out, with a
    /// warning: JSON has no NaN, and the line would not parse, losing the event.
    fn send(&mut self, mut ev: RunEvent) {
        let gone = ev.drop_non_finite();
        let mut o = std::io::stdout().lock();
        if !gone.is_empty() {
            let warning = RunEvent::Message { level: ratlab::experiments::events::Level::Warning, text: format!("{}: not finite, left out of the record", gone.join(", ")), t_ms: 0 };
            if let Ok(line) = serde_json::to_string(&warning) {
                let _ = writeln!(o, "{line}");
            }
        }
        if let Ok(line) = serde_json::to_string(&ev) {
            let _ = writeln!(o, "{line}");
            let _ = o.flush();
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Train => {
            let stdin = std::io::stdin();
            let mut first = String::new();
            if stdin.lock().read_line(&mut first).is_err() || first.trim().is_empty() {
                eprintln!("ratlab-torch train: expected a job (one JSON line) on stdin");
                return ExitCode::from(2);
            }
            let job: TorchJob = match serde_json::from_str(&first) {
                Ok(j) => j,
                Err(e) => {
                    eprintln!("ratlab-torch train: the job is not valid: {e}");
                    return ExitCode::from(2);
                }
            };
            let stop = Arc::new(AtomicBool::new(false));
            // Ctrl-C is ratlab's to handle (it sends `stop`); a terminal sends it to us too.
            let _ = ctrlc::set_handler(|| {});
            let flag = stop.clone();
            std::thread::spawn(move || {
                // `stop`, or stdin closing (the runner went away), cancels.
                for line in std::io::stdin().lock().lines() {
                    match line {
                        Ok(l) if l.trim() == "stop" => break,
                        Ok(_) => continue,
                        Err(_) => break,
                    }
                }
                flag.store(true, Ordering::SeqCst);
            });
            // libtorch reports errors by panicking through tch; a panic elsewhere is a bug here.
            // Either fails the run with what it was.
            ratlab_torch::panic::install_hook();
            if let Err(error) = ratlab_torch::panic::run(|| ratlab_torch::train::run(&job, &mut Stdout, &stop)) {
                ratlab_torch::train::Out::send(&mut Stdout, RunEvent::Failed { error, cancelled: false, pruned: false, t_ms: 0 });
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Command::Generate { model, prompts, sampling, style } => {
            ratlab_torch::panic::install_hook();
            ratlab_torch::panic::run(|| ratlab_torch::commands::generate(&model, &prompts, &sampling, style)).unwrap_or_else(|e| {
                eprintln!("error: {e}");
                ExitCode::from(1)
            })
        }
        Command::Serve { model, device } => {
            ratlab_torch::panic::install_hook();
            ratlab_torch::panic::run(|| ratlab_torch::commands::serve(&model, device.as_str())).unwrap_or_else(|e| {
                eprintln!("error: {e}");
                ExitCode::from(1)
            })
        }
        Command::Score { model, file, json, device } => {
            ratlab_torch::panic::install_hook();
            ratlab_torch::panic::run(|| ratlab_torch::commands::score(&model, &file, json, device.as_str())).unwrap_or_else(|e| {
                eprintln!("error: {e}");
                ExitCode::from(1)
            })
        }
        Command::Info => {
            println!("ratlab-torch {}", env!("CARGO_PKG_VERSION"));
            println!("threads: {}", tch::get_num_threads());
            println!("cuda: {} ({} device(s))", tch::Cuda::is_available(), tch::Cuda::device_count());
            ExitCode::SUCCESS
        }
    }
}
