//! The mailtrust lab: real servers started in a network namespace of their own, loopback only,
//! so that they can bind the real ports (53, 25, 465, 587, 143, 993, 110, 995, 443) that MX
//! records, delegations, SRV and TLSA owner names cannot redirect, and so that no lab traffic can
//! leave the machine:
//!
//! - DNS: Knot DNS for the lab root, `test.` and the scenario zones (`lab/scenarios`), Unbound
//!   as the recursive resolver (one non-validating, one validating);
//! - mail: one Postfix with an smtpd service per behaviour (good STARTTLS, expired, wrong-name
//!   and soon-expiring certificates, TLS 1.0 only, NULL suites, no STARTTLS, submission with AUTH
//!   before and after TLS), one Dovecot (IMAP/POP3 strict and plaintext-friendly, and Postfix's
//!   SASL), nginx for the MTA-STS policies and the TLS-RPT https endpoint, and four hostile SMTP
//!   peers (`serve-hostile`: tarpit, ehlo-flood, big-chain, tls-alert);
//! - TLS: a lab CA made at every `up` (`LabInfo.ca`) that issues the servers' certificates from
//!   fixed keys in `lab/tls/keys/`, so that the scenarios' TLSA records are static data.
//!
//! `LabInfo.services` lists every mail-side service (name, kind, addresses, notes).
//!
//! API contract used by `crates/cli` (keep these signatures; add freely):
//! - [`up`] starts a lab whose state lives in `opts.state` and returns [`LabInfo`] (also written
//!   to `<state>/lab.json`).
//! - [`load`] reads `<state>/lab.json` of a running lab.
//! - [`down`] stops everything recorded in `<state>` (by PID), removes the namespace and the files
//!   `up` wrote (and the state directory, if `up` created it); it works after a crash of `up`
//!   half-way through, and is idempotent. [`down_keeping_files`] leaves the files for a
//!   post-mortem.
//! - [`create_state_dir`] makes a fresh, unpredictable state directory (what `lab up` without
//!   `--state` uses).
//!
//! The lab runs as root, so its state directory must be one only root can change (see
//! `state.rs`): `up` refuses one that another user owns or could replace. Knot and Unbound
//! drop to their own users (`knot`, `unbound`) like the mail servers; secrets (the TSIG key in
//! `lab.json`, `tsig.key` and Knot's configuration, the TLS private keys) are not readable by
//! others.
//! - [`exec`] runs a command inside the lab's namespace and returns its exit status.
//! - [`serve_lame`] is the body of the hidden `mailtrust lab serve-lame` command: it binds UDP and
//!   TCP sockets and reads queries without ever answering (a lame name server).
//! - [`serve_hostile`] is the body of the hidden `mailtrust lab serve-hostile` command: a hostile
//!   SMTP peer ([`HostileMode`]).
//!
//! See `lab/README.md` for the address plan, the scenario format and how to use the lab by hand.

#![forbid(unsafe_code)]

mod accounts;
mod command;
mod dnssec;
mod dovecot;
mod error;
mod greeting;
mod hostile;
mod knot;
mod lame;
mod lifecycle;
mod masterfile;
mod netns;
mod nginx;
mod pki;
mod postfix;
mod prereq;
mod process;
mod readiness;
mod scenario;
mod services;
mod state;
mod topology;
mod tsig;
mod unbound;
mod zone;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

use serde::{Deserialize, Serialize};

pub use error::LabError;
pub use hostile::HostileMode;
pub use scenario::DnssecState;

/// What `mailtrust lab up` needs to know.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Directory for all lab state (configs, keys, zone files, PIDs, logs).
    pub state: PathBuf,
    /// Extra scenario directories, read after the built-in `lab/scenarios`.
    pub scenario_dirs: Vec<PathBuf>,
    /// The command (program and leading arguments) that runs [`serve_lame`] with `--listen
    /// ADDR:PORT` arguments appended; the CLI passes `[<mailtrust>, "lab", "serve-lame"]`.
    pub lame_server_cmd: Vec<OsString>,
    /// The command (program and leading arguments) that runs [`serve_hostile`] with `--mode
    /// MODE` and `--listen ADDR:PORT` arguments appended; the CLI passes `[<mailtrust>, "lab",
    /// "serve-hostile"]`.
    pub hostile_server_cmd: Vec<OsString>,
}

/// Where the lab's pieces are. Serialised as the JSON of `mailtrust lab up --json`; later issues
/// add fields, never change these.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabInfo {
    /// The state directory (canonical): where `lab down --state` must point. Absent in the
    /// `lab.json` of labs started before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<PathBuf>,
    pub netns: String,
    /// The non-validating recursive resolver (Unbound, `module-config: "iterator"`), `IP:PORT`.
    pub resolver: String,
    /// A validating recursive resolver (Unbound, `module-config: "validator iterator"`, the lab
    /// root as trust anchor), `IP:PORT`: a cross-check, and "the resolver a user already has".
    pub validating_resolver: String,
    pub trust_anchor: TrustAnchorFile,
    /// The lab CA's certificate (PEM): the trust anchor of every certificate the lab's servers
    /// present (except the hostile big-chain server's own chain).
    pub ca: Option<PathBuf>,
    pub zones: Vec<ZoneInfo>,
    /// One object per mail-side service: `{name, kind, addresses, notes, process, log}`, where
    /// `kind` is smtp | submission | imap | pop3 | https | hostile and `addresses` are
    /// `IP:PORT` / `[IPv6]:PORT` strings.
    pub services: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustAnchorFile {
    pub path: PathBuf,
    /// Always "dnskey": DNSKEY records in zone-file syntax.
    pub format: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ZoneInfo {
    pub name: String,
    /// signed | unsigned | expired | bad-ds | lame | bogus-tlsa
    pub dnssec: String,
    pub primary: String,
    /// `{algorithm, name, secret, file}` for zones that take RFC 2136 updates; `file` holds the
    /// key as `ALGORITHM:NAME:SECRET` (mode 0600).
    pub tsig: Option<serde_json::Value>,
}

/// Starts a lab whose state lives in `opts.state` (keys children-first, then all servers, then readiness probes).
///
/// Fails with [`LabError::AlreadyRunning`] if a lab already runs there: stopping someone's lab
/// implicitly would be a surprise. On any failure half-way, what was started is stopped again.
pub fn up(opts: &LabOptions) -> Result<LabInfo, LabError> {
    lifecycle::up(opts)
}

/// Reads `<state>/lab.json` of a running lab.
pub fn load(state: &Path) -> Result<LabInfo, LabError> {
    lifecycle::load(state)
}

/// Stops everything recorded in `state`, deletes the namespace and removes the files `up`
/// wrote (the directory too if `up` created it); idempotent.
pub fn down(state: &Path) -> Result<(), LabError> {
    lifecycle::down(state, lifecycle::Removal::All)
}

/// Like [`down`], but logs, configurations and keys stay for a post-mortem (the next `up`
/// replaces them).
pub fn down_keeping_files(state: &Path) -> Result<(), LabError> {
    lifecycle::down(state, lifecycle::Removal::KeepFiles)
}

/// Makes a fresh state directory in the temporary directory, mkdtemp-style (random name,
/// created exclusively, then 0711), marked so that [`down`] removes it. A predictable name in
/// a shared directory could be pre-created by another user.
pub fn create_state_dir() -> Result<PathBuf, LabError> {
    state::create_temporary()
}

/// Runs `cmd` inside the lab's namespace, stdio inherited, and returns its exit status.
pub fn exec(state: &Path, cmd: &[OsString]) -> Result<ExitStatus, LabError> {
    lifecycle::exec(state, cmd)
}

/// Moves the calling thread into the lab's network namespace (`info.netns`), so that a test or
/// a benchmark can talk to the lab's servers in-process: a socket belongs to the namespace of the
/// thread that creates it, so everything that thread (or a current-thread async runtime on it)
/// opens afterwards reaches the lab, and nothing else. Needs root (CAP_SYS_ADMIN).
pub fn enter_netns(info: &LabInfo) -> Result<(), LabError> {
    greeting::enter_netns(&info.netns).map_err(LabError::Prerequisite)
}

/// A built-in scenario zone (`lab/scenarios`) and the names it serves.
#[derive(Debug, Clone)]
pub struct ScenarioNames {
    /// Absolute, lower case, e.g. `signed.test.`.
    pub zone: String,
    pub dnssec: DnssecState,
    /// Every owner name of the zone as the lab serves it (the scenario file's and what the lab
    /// adds: SOA, apex NS, `ns1.<zone>`), absolute, lower case, the apex first, each once.
    pub owners: Vec<String>,
}

/// The built-in scenario zones and their owner names, sorted by zone; for tests that go over
/// every name the lab serves (e.g. the cross-check of mailtrust's validator against Unbound's).
pub fn builtin_scenarios() -> Result<Vec<ScenarioNames>, LabError> {
    let dir = lifecycle::builtin_scenario_dir();
    let mut out = Vec::new();
    for s in scenario::load(&[(dir, true)])? {
        let served = zone::scenario_zone(&s);
        let entries =
            masterfile::parse(&served, &s.zone).map_err(|(line, message)| LabError::Scenario {
                path: s.path.clone(),
                line,
                message: format!("as served by the lab: {message}"),
            })?;
        let mut owners = vec![s.zone.clone()];
        for e in entries {
            if !owners.contains(&e.owner) {
                owners.push(e.owner);
            }
        }
        out.push(ScenarioNames {
            zone: s.zone,
            dnssec: s.header.dnssec,
            owners,
        });
    }
    Ok(out)
}

/// Serves as a hostile SMTP peer (see [`HostileMode`]) on each `ADDR:PORT` of `listen`. Runs
/// until killed; one thread per connection, bounded in number, and no client error ends it.
pub fn serve_hostile(mode: HostileMode, listen: &[String]) -> Result<(), LabError> {
    hostile::serve(mode, listen)
}

/// Serves as a lame name server on each `ADDR:PORT` of `listen` (UDP and TCP): reads queries,
/// never answers, never closes. Runs until killed.
pub fn serve_lame(listen: &[String]) -> Result<(), LabError> {
    lame::serve(listen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_scenarios_name_every_served_owner_once() {
        let all = builtin_scenarios().expect("the built-in scenarios load");
        let signed = all
            .iter()
            .find(|s| s.zone == "signed.test.")
            .expect("signed.test is built in");
        assert_eq!(signed.dnssec, DnssecState::Signed);
        assert_eq!(
            signed.owners.first().map(String::as_str),
            Some("signed.test.")
        );
        for name in [
            "alias.signed.test.",
            "_dmarc.signed.test.",
            "ns1.signed.test.",
        ] {
            assert!(signed.owners.iter().any(|o| o == name), "{name}");
        }
        let mut unique = signed.owners.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), signed.owners.len(), "each name once");
        assert!(
            all.iter()
                .any(|s| s.zone == "lame.test." && s.dnssec == DnssecState::Lame)
        );
    }
}
