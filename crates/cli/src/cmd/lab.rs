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
            let state = match state {
                Some(state) => state,
                None => mailtrust_lab::create_state_dir()?,
            };
            let opts = LabOptions {
                state,
                scenario_dirs: scenarios,
                lame_server_cmd: vec![
                    exe.clone().into_os_string(),
                    "lab".into(),
                    "serve-lame".into(),
                ],
                hostile_server_cmd: vec![
                    exe.into_os_string(),
                    "lab".into(),
                    "serve-hostile".into(),
                ],
            };
            let info = mailtrust_lab::up(&opts)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                println!("lab is up in network namespace {}", info.netns);
                println!("  state directory: {}", opts.state.display());
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
                if let Some(ca) = &info.ca {
                    println!(
                        "  lab CA (trust anchor of the servers' certificates): {}",
                        ca.display()
                    );
                }
                for service in &info.services {
                    let text = |key: &str| service[key].as_str().unwrap_or_default().to_string();
                    let addresses: Vec<&str> = service["addresses"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|a| a.as_str())
                        .collect();
                    println!(
                        "  {:<10} {:<27} {}",
                        text("kind"),
                        text("name"),
                        addresses.join(" ")
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
        LabCommand::Down { state, keep } => {
            if keep {
                mailtrust_lab::down_keeping_files(&state)?;
            } else {
                mailtrust_lab::down(&state)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Status { state } => {
            let info = mailtrust_lab::load(&state)?;
            println!("{}", serde_json::to_string_pretty(&info)?);
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Exec { state, command } => {
            // Like a shell: while the command runs, Ctrl-C is the command's to handle (an audit
            // writes what finished and exits 130); we only wait and pass its status on.
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let status = rt.block_on(async move {
                let _sigint =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                        .context("cannot take over Ctrl-C")?;
                tokio::task::spawn_blocking(move || mailtrust_lab::exec(&state, &command))
                    .await
                    .context("the command's waiter failed")?
                    .map_err(anyhow::Error::from)
            })?;
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
        LabCommand::ServeHostile { mode, listen } => {
            mailtrust_lab::serve_hostile(mode.parse()?, &listen)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
