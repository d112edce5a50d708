//! `mailtrust lab`.

use std::process::ExitCode;

use anyhow::Context;
use mailtrust_lab::LabOptions;

use crate::args::LabCommand;

pub fn run(cmd: LabCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        LabCommand::Up {
            state,
            scenarios,
            json,
        } => {
            let exe = std::env::current_exe().context("cannot find the mailtrust executable")?;
            let opts = LabOptions {
                state,
                scenario_dirs: scenarios,
                lame_server_cmd: vec![exe.into_os_string(), "lab".into(), "serve-lame".into()],
            };
            let info = mailtrust_lab::up(&opts)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                println!("lab is up in network namespace {}", info.netns);
                println!("  resolver (non-validating Unbound): {}", info.resolver);
                println!(
                    "  validating Unbound (cross-check):  {}",
                    info.validating_resolver
                );
                println!("  trust anchor: {}", info.trust_anchor.path.display());
                for z in &info.zones {
                    println!(
                        "  zone {:<20} {:<9} primary {}",
                        z.name, z.dnssec, z.primary
                    );
                }
                println!(
                    "try: mailtrust lab exec --state {} -- mailtrust dns lookup www.signed.test A --resolver {} --trust-anchor {}",
                    opts.state.display(),
                    info.resolver,
                    info.trust_anchor.path.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Down { state } => {
            mailtrust_lab::down(&state)?;
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Status { state } => {
            let info = mailtrust_lab::load(&state)?;
            println!("{}", serde_json::to_string_pretty(&info)?);
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Exec { state, command } => {
            let status = mailtrust_lab::exec(&state, &command)?;
            Ok(ExitCode::from(
                status
                    .code()
                    .and_then(|c| u8::try_from(c).ok())
                    .unwrap_or(1),
            ))
        }
        LabCommand::ServeLame { listen } => {
            mailtrust_lab::serve_lame(&listen)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
