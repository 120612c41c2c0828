//! Command line: parses arguments with clap ([`args`]), hands each command to the file of its
//! group, and maps outcomes to exit codes: 0 ok, 1 a run failed (or a rerun differs), 2 bad
//! input or usage.
//!
//! - [`run`]: `run`, `validate` and `tui`; [`slurm`]: the Slurm executor's front end;
//!   [`console`]: the progress a headless run prints;
//! - [`records`]: `runs`, `runs compare`, `runs show`, `runs diff`; [`replay`]: `replay` and
//!   `rerun`;
//! - [`export`]: `export`, `plot` and `report`;
//! - [`models`]: `predict` and `generate`;
//! - [`render`]: a run's outcome as a table or JSON, for every command that prints one.

/// `println!` for the command output: a closed stdout (`ratlab runs | head`) ends the output
/// quietly instead of panicking, and the command still returns its own exit code.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod args;
mod console;
mod export;
mod models;
mod pretrained;
mod records;
mod render;
mod replay;
mod run;
mod slurm;

pub use args::{Cli, Command, ExecutorArg, Format, PlotX, RunsCmd, RunsFilter};
pub use models::{DeviceArg, PromptStyle, Sampling};

use crate::error::{InputError, InputErrors};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// Entry point used by `main`: never panics on user input, prints errors with their chain.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    crate::data::install_quiet_hook();
    let mut limits = crate::data::limits::Limits::default();
    for l in &cli.limits {
        if let Err(e) = limits.assign(l) {
            eprintln!("error: --limit: {e}");
            return ExitCode::from(2);
        }
    }
    crate::data::limits::set(limits);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        // The reader of our output went away (`ratlab replay --print … | head`): not an error.
        Err(e) if e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(ie) = e.downcast_ref::<InputErrors>() {
                eprintln!("{ie}");
                return ExitCode::from(2);
            }
            if let Some(ie) = e.downcast_ref::<InputError>() {
                eprintln!("error: {ie}");
                return ExitCode::from(2);
            }
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Dispatch a parsed command; returns the exit code.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        None => run::tui(vec![], PathBuf::from("runs"), None),
        Some(Command::Tui { experiments, out, jobs }) => run::tui(experiments, out, jobs),
        Some(Command::Validate { files }) => run::validate(&files),
        Some(Command::Run { experiment, sets, out, format, only, jobs, dry_run, trials, max_trials, executor, slurm: sa }) => {
            let opts = run::RunOpts { format, only, jobs: jobs as usize, dry_run, trials, max_trials };
            match executor {
                ExecutorArg::Local => {
                    sa.refuse_with_local()?;
                    run::run(&experiment, &sets, &out, &opts)
                }
                ExecutorArg::Slurm => {
                    if jobs != 1 {
                        return Err(InputError::new("-j runs trials side by side in this process; with --executor slurm, --max-parallel M limits how many of the array's tasks run at once").field("-j").into());
                    }
                    slurm::run(&experiment, &sets, &out, &opts, &sa, &cli.limits)
                }
            }
        }
        Some(Command::Slurm { action }) => slurm::command(action),
        Some(Command::Replay { run_dirs, speed, print }) => replay::replay(&run_dirs, speed, print),
        Some(Command::Rerun { run_dir, check }) => replay::rerun(&run_dir, check),
        Some(Command::Runs { out, filter, action: None }) => records::list(&out, &filter),
        Some(Command::Runs { out, action: Some(RunsCmd::Compare { runs, experiment, all, json, csv }), .. }) => records::compare(&out, &runs, experiment.as_deref(), all, json, csv),
        Some(Command::Runs { action: Some(RunsCmd::Diff { a, b }), .. }) => records::diff(&a, &b),
        Some(Command::Runs { action: Some(RunsCmd::Show { run }), .. }) => records::show(&run),
        Some(Command::Plot { runs, shap: true, out, size, .. }) => export::shap_plot(&runs, &out, size),
        Some(Command::Plot { runs, metric, out, x, size, .. }) => export::plot(&runs, metric.as_deref().unwrap_or_default(), &out, x, size),
        Some(Command::Report { runs, out }) => export::report(&runs, &out),
        Some(Command::Export { runs, to, curves }) => export::export(&runs, &to, curves),
        Some(Command::Predict { run_dir, data, out, contributions }) => models::predict(&run_dir, &data, out.as_deref(), contributions),
        Some(Command::Generate { model, prompts, sampling, style }) => models::generate(&model, &prompts, &sampling, style),
        Some(Command::Score { model, file, json, device }) => models::score(&model, &file, json, device),
        Some(Command::Inspect { model, json }) => pretrained::inspect(&model, json),
        Some(Command::ExportModel { run_dir, format, to, kind }) => pretrained::export_model(&run_dir, format, &to, kind),
        Some(Command::Tokenize { model, text, file, json }) => pretrained::tokenize(&model, text.as_deref(), file.as_deref(), json),
    }
}
