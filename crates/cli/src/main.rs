//! The `mailtrust` binary: argument parsing and rendering only. Every behaviour lives in a library
//! crate with its own tests.

use std::process::ExitCode;

use clap::Parser;

mod args;
mod cmd;
mod render;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    init_tracing(cli.verbose);
    match cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // One line, no backtrace: the reader is an administrator, not a Rust developer.
            eprintln!("mailtrust: error: {e:#}");
            ExitCode::from(cmd::EXIT_ERROR)
        }
    }
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "error",
        1 => "warn,mailtrust=info,mailtrust_dns=info,mailtrust_lab=info",
        2 => "info,mailtrust=debug,mailtrust_dns=debug,mailtrust_lab=debug",
        _ => "debug",
    };
    let filter =
        EnvFilter::try_from_env("MAILTRUST_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
