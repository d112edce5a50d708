//! `mailtrust demo`: the lab and an audit in one command, for a first look on a machine with no
//! internet. The lab's state lives in a temporary directory and is always torn down.

use std::ffi::OsString;
use std::process::ExitCode;

use std::io::IsTerminal;

use anyhow::Context;
use mailtrust_lab::LabOptions;

mod overview;

/// The good example first (every check passes), then one domain per kind of problem. Each has
/// real servers behind its MX, or none by design, so that nothing is inconclusive just because
/// the demo points at an address where nothing listens.
const DEFAULT_DOMAINS: &[&str] = &[
    "tlsgood.test",
    "daneunsigned.test",
    "expired.test",
    "bad-ds.test",
    "nullmx.test",
    "lame.test",
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

/// What the demo shows of the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The table, the three findings to fix first, and where the rest is.
    Overview,
    /// Every finding of every domain, as `mailtrust audit` prints them.
    Details,
    /// `mailtrust audit --json`'s document.
    Json,
}

pub fn run(domains: Vec<String>, view: View) -> anyhow::Result<ExitCode> {
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
        "mailtrust demo: starting the lab (Knot DNS, Unbound, Postfix, Dovecot and nginx in a private network namespace)..."
    );
    let info = mailtrust_lab::up(&opts)
        .context("the demo needs root and the lab's packages (`bin/setup lab` installs them)")?;
    let _guard = LabGuard(state.clone());
    let domains: Vec<String> = if domains.is_empty() {
        DEFAULT_DOMAINS.iter().map(|d| d.to_string()).collect()
    } else {
        domains
    };
    eprintln!(
        "mailtrust demo: auditing {} domains of the lab with its resolver {} and trust anchor",
        domains.len(),
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
    // The overview reads the audit's JSON from a file in a directory only we can enter.
    let scratch = tempfile::Builder::new()
        .prefix("mailtrust-demo-report-")
        .tempdir()
        .context("cannot create a directory for the demo's report")?;
    let report = scratch.path().join("audit.json");
    match view {
        View::Overview => {
            cmd.extend(["--json".into(), "--output".into(), report.clone().into()]);
        }
        View::Json => cmd.push("--json".into()),
        View::Details => {}
    }
    cmd.extend(domains.into_iter().map(OsString::from));
    let status = mailtrust_lab::exec(&state, &cmd)?;
    // The audit's own exit status says what it found (1 failures, 3 inconclusive); the demo's
    // says whether it ran. Findings in the lab's broken scenarios are the point of the demo.
    if !matches!(status.code(), Some(0 | 1 | 3)) {
        anyhow::bail!("the demo's audit did not complete ({status})");
    }
    if view == View::Overview {
        let text = std::fs::read_to_string(&report)
            .with_context(|| format!("cannot read the audit's report {}", report.display()))?;
        let doc: overview::AuditDocument =
            serde_json::from_str(&text).context("the audit's JSON report does not parse")?;
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        print!(
            "\n{}",
            overview::render(
                &doc,
                color,
                "mailtrust demo --details",
                "mailtrust demo --json"
            )
        );
    }
    eprintln!(
        "\nmailtrust demo: done; the lab is stopped. On a real domain: mailtrust audit example.org"
    );
    Ok(ExitCode::SUCCESS)
}
