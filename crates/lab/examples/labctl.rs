//! A small driver for trying the lab without the `mailtrust` CLI:
//!
//! ```text
//! labctl up STATE [SCENARIO_DIR...]   # prints lab.json (STATE `-`: a fresh directory)
//! labctl down STATE
//! labctl exec STATE -- CMD [ARGS...]
//! labctl serve-lame --listen ADDR:PORT [--listen ADDR:PORT ...]
//! labctl serve-hostile --mode MODE --listen ADDR:PORT [--listen ADDR:PORT ...]
//! ```

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use mailtrust_lab::{LabError, LabOptions};

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("labctl: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[OsString]) -> Result<ExitCode, LabError> {
    let usage =
        || LabError::Other("usage: labctl up|down|exec|serve-lame|serve-hostile ...".into());
    let (command, rest) = args.split_first().ok_or_else(usage)?;
    match command.to_str() {
        Some("up") => {
            let (state, dirs) = rest.split_first().ok_or_else(usage)?;
            let exe = std::env::current_exe().map_err(|e| LabError::Other(e.to_string()))?;
            let state = if state == "-" {
                mailtrust_lab::create_state_dir()?
            } else {
                PathBuf::from(state)
            };
            let opts = LabOptions {
                state,
                scenario_dirs: dirs.iter().map(PathBuf::from).collect(),
                lame_server_cmd: vec![exe.clone().into(), "serve-lame".into()],
                hostile_server_cmd: vec![exe.into(), "serve-hostile".into()],
            };
            let info = mailtrust_lab::up(&opts)?;
            let json =
                serde_json::to_string_pretty(&info).map_err(|e| LabError::Other(e.to_string()))?;
            println!("{json}");
            Ok(ExitCode::SUCCESS)
        }
        Some("down") => {
            let state = rest.first().ok_or_else(usage)?;
            mailtrust_lab::down(&PathBuf::from(state))?;
            Ok(ExitCode::SUCCESS)
        }
        Some("exec") => {
            let (state, cmd) = rest.split_first().ok_or_else(usage)?;
            let cmd = match cmd.split_first() {
                Some((dashes, tail)) if dashes == "--" => tail,
                _ => cmd,
            };
            let status = mailtrust_lab::exec(&PathBuf::from(state), cmd)?;
            Ok(ExitCode::from(
                status.code().unwrap_or(1).clamp(0, 255) as u8
            ))
        }
        Some("serve-lame") => {
            let mut listen = Vec::new();
            let mut it = rest.iter();
            while let Some(flag) = it.next() {
                if flag != "--listen" {
                    return Err(usage());
                }
                let addr = it.next().ok_or_else(usage)?;
                listen.push(addr.to_string_lossy().into_owned());
            }
            mailtrust_lab::serve_lame(&listen)?;
            Ok(ExitCode::SUCCESS)
        }
        Some("serve-hostile") => {
            let mut mode = None;
            let mut listen = Vec::new();
            let mut it = rest.iter();
            while let Some(flag) = it.next() {
                let value = it.next().ok_or_else(usage)?.to_string_lossy().into_owned();
                match flag.to_str() {
                    Some("--mode") => mode = Some(value.parse()?),
                    Some("--listen") => listen.push(value),
                    _ => return Err(usage()),
                }
            }
            mailtrust_lab::serve_hostile(mode.ok_or_else(usage)?, &listen)?;
            Ok(ExitCode::SUCCESS)
        }
        _ => Err(usage()),
    }
}
