//! `mailtrust demo`: the lab and an audit in one command, for a first look on a machine with no
//! internet. The lab's state lives in a temporary directory and is always torn down.

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::Context;
use mailtrust_lab::LabOptions;

const DEFAULT_DOMAINS: &[&str] = &[
    "signed.test",
    "unsigned.test",
    "expired.test",
    "bad-ds.test",
    "nullmx.test",
    "lame.test",
    "tlsgood.test",
    "tlsexpired.test",
    "nostarttls.test",
    "danebad.test",
];

/// Stops the lab when dropped, so that an error or a panic still tears it down.
struct LabGuard(std::path::PathBuf);

impl Drop for LabGuard {
    fn drop(&mut self) {
        if let Err(e) = mailtrust_lab::down(&self.0) {
            eprintln!(
                "mailtrust: could not stop the demo lab in {}: {e}",
                self.0.display()
            );
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn run(domains: Vec<String>, json: bool) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find the mailtrust executable")?;
    // Not a predictable name in the shared temporary directory: the lab runs as root there.
    let state = mailtrust_lab::create_state_dir()?;
    let opts = LabOptions {
        state: state.clone(),
        scenario_dirs: Vec::new(),
        lame_server_cmd: vec![
            exe.clone().into_os_string(),
            "lab".into(),
            "serve-lame".into(),
        ],
        hostile_server_cmd: vec![
            exe.clone().into_os_string(),
            "lab".into(),
            "serve-hostile".into(),
        ],
    };
    eprintln!(
        "mailtrust demo: starting the lab (Knot DNS and Unbound in a private network namespace)..."
    );
    let info = mailtrust_lab::up(&opts).context("the demo needs root and the lab's packages (knot, unbound, ldnsutils; bin/test installs them)")?;
    let _guard = LabGuard(state.clone());
    let domains: Vec<String> = if domains.is_empty() {
        DEFAULT_DOMAINS.iter().map(|d| d.to_string()).collect()
    } else {
        domains
    };
    eprintln!(
        "mailtrust demo: auditing {} with the lab's resolver {} and trust anchor\n",
        domains.join(", "),
        info.resolver
    );
    let mut cmd: Vec<OsString> = vec![
        exe.into_os_string(),
        "audit".into(),
        "--resolver".into(),
        info.resolver.clone().into(),
        "--trust-anchor".into(),
        info.trust_anchor.path.clone().into_os_string(),
        "--timeout".into(),
        "2".into(),
        "--deadline".into(),
        "6".into(),
        "--probe-timeout".into(),
        "3".into(),
    ];
    // The lab's servers have certificates from the lab's own CA.
    if let Some(ca) = &info.ca {
        cmd.push("--ca-file".into());
        cmd.push(ca.clone().into_os_string());
    }
    if json {
        cmd.push("--json".into());
    }
    cmd.extend(domains.into_iter().map(OsString::from));
    let status = mailtrust_lab::exec(&state, &cmd)?;
    eprintln!(
        "\nmailtrust demo: done; the lab is stopped. On a real domain: mailtrust audit example.org"
    );
    Ok(ExitCode::from(
        status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(1),
    ))
}
