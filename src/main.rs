use std::process::ExitCode;

use clap::Parser;

/// jemalloc: under the gateway's load glibc's malloc and free (many threads, buffers freed
/// on another thread than allocated them) took a fifth of the server's CPU.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    aicloud::cli::dispatch(aicloud::cli::Cli::parse())
}
