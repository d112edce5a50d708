//! The lab's network namespace: only `lo`, 127.0.0.0/8 and a ULA prefix, so servers bind the
//! real ports and nothing leaves the machine.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::command::{describe, run, run_stdout};
use crate::error::LabError;
use crate::topology;

/// The namespace name for a state directory: `mtlab-` and a hash of its canonical path, so that
/// several labs coexist and the same directory always maps to the same namespace (which lets
/// `down` find it even if the recorded name was lost).
pub(crate) fn name_for(canonical_state: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    format!(
        "mtlab-{:08x}",
        fnv1a_32(canonical_state.as_os_str().as_bytes())
    )
}

/// FNV-1a (32 bit): stable across Rust releases, unlike `DefaultHasher`.
fn fnv1a_32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash: u32, &b| {
        (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Whether the named namespace exists (`ip netns add` creates `/run/netns/NAME`).
pub(crate) fn exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

/// Creates the namespace, brings `lo` up and adds the lab's IPv6 addresses.
///
/// Connections to the mail hosts' IPv6 addresses get [`topology::CLIENT_V6`] as their source:
/// on `lo` the kernel would otherwise pick the destination address itself (RFC 6724 §5 rule 1),
/// and Dovecot treats a connection whose source is its own address as local and secure, so it
/// would take plaintext logins that it refuses to any real client. Over IPv4 the source is
/// 127.0.0.1 anyway. A policy rule per mail host sends the lookup to a table whose local route
/// carries the preferred source; the `local` table's rule moves behind those rules.
pub(crate) fn create(ip: &Path, name: &str) -> Result<(), LabError> {
    if exists(name) {
        return Err(LabError::Other(format!(
            "network namespace {name} already exists but no lab is recorded for it; \
             remove it with `ip netns del {name}` (or `mailtrust lab down` on its state dir)"
        )));
    }
    run(Command::new(ip).args(["netns", "add", name]))?;
    let mut addresses = String::from("link set lo up\n");
    for addr in topology::ula_addresses() {
        // nodad: loopback addresses need no duplicate detection, and DAD would delay binding.
        addresses.push_str(&format!("addr add {addr}/128 dev lo nodad\n"));
    }
    batch(ip, name, false, &addresses)?;
    batch(ip, name, true, &client_source_rules())
}

/// The IPv6 policy rules and routes that give connections to the mail hosts the lab's client
/// source address (see [`create`]).
fn client_source_rules() -> String {
    let mut rules =
        format!("rule add pref {LOCAL_RULE} lookup local\nrule del pref 0 lookup local\n");
    for host in topology::MAIL_HOSTS {
        rules.push_str(&format!(
            "rule add pref {MAIL_RULE} to {addr}/128 lookup {MAIL_TABLE}\n\
             route add table {MAIL_TABLE} local {addr} dev lo src {src}\n",
            addr = host.v6,
            src = topology::CLIENT_V6,
        ));
    }
    rules
}

/// Policy rule priorities and the routing table of [`client_source_rules`].
const MAIL_RULE: u32 = 10;
const LOCAL_RULE: u32 = 100;
const MAIL_TABLE: u32 = 100;

/// Runs `ip [-6] -n NETNS -batch -` with `commands` on stdin.
fn batch(ip: &Path, name: &str, ipv6: bool, commands: &str) -> Result<(), LabError> {
    let mut cmd = Command::new(ip);
    if ipv6 {
        cmd.arg("-6");
    }
    cmd.args(["-n", name, "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| LabError::Io {
        context: format!("cannot run `{}`", describe(&cmd)),
        source,
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(commands.as_bytes())
            .map_err(|source| LabError::Io {
                context: format!("cannot write to `{}`", describe(&cmd)),
                source,
            })?;
    }
    let output = child.wait_with_output().map_err(|source| LabError::Io {
        context: format!("waiting for `{}`", describe(&cmd)),
        source,
    })?;
    if !output.status.success() {
        return Err(LabError::Command {
            command: format!("{} <<< {}", describe(&cmd), commands.replace('\n', "; ")),
            status: output.status.to_string(),
            stderr_tail: crate::command::tail(&String::from_utf8_lossy(&output.stderr)),
        });
    }
    Ok(())
}

/// PIDs of all processes inside the namespace.
pub(crate) fn pids(ip: &Path, name: &str) -> Result<Vec<i32>, LabError> {
    let out = run_stdout(Command::new(ip).args(["netns", "pids", name]))?;
    Ok(out
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect())
}

/// Deletes the namespace if it exists.
pub(crate) fn delete(ip: &Path, name: &str) -> Result<(), LabError> {
    if exists(name) {
        run(Command::new(ip).args(["netns", "del", name]))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_reference_values() {
        assert_eq!(fnv1a_32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a_32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a_32(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn mail_hosts_get_the_client_source() {
        let rules = client_source_rules();
        assert!(
            rules.starts_with("rule add pref 100 lookup local\nrule del pref 0 lookup local\n")
        );
        assert!(rules.contains(
            "rule add pref 10 to fd00:6d74::30/128 lookup 100\n\
             route add table 100 local fd00:6d74::30 dev lo src fd00:6d74::1\n"
        ));
        assert_eq!(
            rules.matches("route add").count(),
            topology::MAIL_HOSTS.len()
        );
        assert!(
            !rules.contains("fd00:6d74::4/"),
            "DNS servers keep the default"
        );
    }

    #[test]
    fn names_are_stable_short_and_distinct() {
        let a = name_for(Path::new("/tmp/lab-a"));
        assert_eq!(a, name_for(Path::new("/tmp/lab-a")));
        assert_ne!(a, name_for(Path::new("/tmp/lab-b")));
        assert!(a.starts_with("mtlab-"));
        assert_eq!(a.len(), 14);
    }
}
