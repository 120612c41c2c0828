//! The `ratlab` binary: parse arguments, hand over to [`ratlab::cli::run`], map the outcome to
//! an exit code (0 ok, 1 a run failed, 2 bad input or usage).

use std::process::ExitCode;

fn main() -> ExitCode {
    ratlab::cli::main()
}
