//! One module per subcommand; each turns arguments into library calls and renders the result.

use std::process::ExitCode;

use crate::args::{Cli, Command, DkimCommand, DnsCommand};

mod audit;
mod demo;
mod dkim;
mod dns;
mod keys;
mod lab;

/// Exit status for usage and runtime errors (clap uses 2 for usage errors too).
pub const EXIT_ERROR: u8 = 2;

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Audit(args) => audit::run(*args),
        Command::Demo {
            domains,
            details,
            json,
        } => demo::run(
            domains,
            match (details, json) {
                (_, true) => demo::View::Json,
                (true, false) => demo::View::Details,
                (false, false) => demo::View::Overview,
            },
        ),
        Command::Dns(DnsCommand::Lookup(args)) => dns::lookup(args),
        Command::Dns(DnsCommand::Update(args)) => dns::update(args),
        Command::Dns(DnsCommand::Propagation(args)) => dns::propagation(args),
        Command::Dkim(DkimCommand::Verify(args)) => dkim::verify(args),
        Command::Keys(args) => keys::run(*args),
        Command::Lab(cmd) => lab::run(cmd),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "mailtrust", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}
