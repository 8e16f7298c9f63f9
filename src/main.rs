use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    aicloud::cli::dispatch(aicloud::cli::Cli::parse())
}
