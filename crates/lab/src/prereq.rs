//! Up-front checks, so that a missing package or privilege is one clear line instead of a
//! failure deep inside `up`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::command::{Tools, find_program, run_stdout};
use crate::error::LabError;

/// Which package provides each program, for the error message.
const PROGRAMS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("setsid", "util-linux"),
    ("knotd", "knot"),
    ("keymgr", "knot"),
    ("kdig", "knot-dnsutils"),
    ("unbound", "unbound"),
    ("unbound-checkconf", "unbound"),
    ("ldns-keygen", "ldnsutils"),
    ("ldns-signzone", "ldnsutils"),
    ("postconf", "postfix"),
    ("dovecot", "dovecot-core"),
    ("nginx", "nginx-light"),
];

/// Dovecot's protocol binaries come in their own packages; without them Dovecot only logs a
/// fatal error at start.
const DOVECOT_PROTOCOLS: &[(&str, &str)] = &[
    ("/usr/lib/dovecot/imap", "dovecot-imapd"),
    ("/usr/lib/dovecot/pop3", "dovecot-pop3d"),
];

/// Checks that we run as root (network namespaces and port 53 need it) and that every program
/// the lab starts is installed; returns their paths.
pub(crate) fn check() -> Result<Tools, LabError> {
    if !rustix::process::geteuid().is_root() {
        return Err(LabError::Prerequisite(
            "the lab must run as root (it creates a network namespace and binds port 53)".into(),
        ));
    }
    let mut missing: Vec<String> = PROGRAMS
        .iter()
        .filter(|(name, _)| find_program(name).is_none())
        .map(|(name, package)| format!("{name} (package {package})"))
        .collect();
    if Path::new("/usr/lib/dovecot").is_dir() {
        missing.extend(
            DOVECOT_PROTOCOLS
                .iter()
                .filter(|(binary, _)| !Path::new(binary).exists())
                .map(|(binary, package)| format!("{binary} (package {package})")),
        );
    }
    if !missing.is_empty() {
        return Err(LabError::Prerequisite(format!(
            "the lab needs programs that are not installed: {}; `bin/setup lab` installs them",
            missing.join(", ")
        )));
    }
    let path = |name: &str| {
        find_program(name).ok_or_else(|| {
            LabError::Prerequisite(format!("{name} disappeared while checking prerequisites"))
        })
    };
    Ok(Tools {
        ip: path("ip")?,
        setsid: path("setsid")?,
        knotd: path("knotd")?,
        keymgr: path("keymgr")?,
        kdig: path("kdig")?,
        unbound: path("unbound")?,
        unbound_checkconf: path("unbound-checkconf")?,
        ldns_keygen: path("ldns-keygen")?,
        ldns_signzone: path("ldns-signzone")?,
        postfix_master: postfix_master(&path("postconf")?)?,
        dovecot: path("dovecot")?,
        nginx: path("nginx")?,
    })
}

/// Postfix's `master` daemon: `$daemon_directory/master`.
fn postfix_master(postconf: &Path) -> Result<PathBuf, LabError> {
    let dir = run_stdout(Command::new(postconf).args(["-d", "-h", "daemon_directory"]))?;
    let master = Path::new(dir.trim()).join("master");
    if master.is_file() {
        Ok(master)
    } else {
        Err(LabError::Prerequisite(format!(
            "Postfix's master daemon is not at {} (package postfix)",
            master.display()
        )))
    }
}

/// Only `ip` is needed to stop a lab or run a command in it.
pub(crate) fn find_ip() -> Result<PathBuf, LabError> {
    find_program("ip").ok_or_else(|| {
        LabError::Prerequisite(
            "the lab needs `ip` (package iproute2), which is not installed; `bin/setup lab` installs it"
                .into(),
        )
    })
}
