//! The lab's address plan. Every server has its own loopback address so that each can use the
//! real port 53: delegations and root hints cannot carry a port.

/// One authoritative server of the hierarchy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NameServer {
    /// Short name for logs, PID records and directories.
    pub id: &'static str,
    /// Its host name in the lab's DNS (all under `test.`, glued where needed).
    pub host: &'static str,
    pub v4: &'static str,
    pub v6: &'static str,
}

pub(crate) const ROOT: NameServer = NameServer {
    id: "knot-root",
    host: "a.root-servers.test.",
    v4: "127.0.0.2",
    v6: "fd00:6d74::2",
};

pub(crate) const TEST: NameServer = NameServer {
    id: "knot-test",
    host: "ns1.test.",
    v4: "127.0.0.3",
    v6: "fd00:6d74::3",
};

/// Serves all scenario zones (siblings, so one instance keeps parent and child apart).
/// Its host name is per zone (`ns1.<zone>`), so `host` is only the label.
pub(crate) const SCENARIOS: NameServer = NameServer {
    id: "knot-scenarios",
    host: "ns1",
    v4: "127.0.0.4",
    v6: "fd00:6d74::4",
};

/// Where `serve-lame` listens: delegated to, never answers.
pub(crate) const LAME: NameServer = NameServer {
    id: "lame",
    host: "ns1",
    v4: "127.0.0.5",
    v6: "fd00:6d74::5",
};

/// The non-validating recursive resolver (what mailtrust queries).
pub(crate) const RESOLVER_V4: &str = "127.0.0.1";
pub(crate) const RESOLVER_V6: &str = "::1";
/// The validating recursive resolver (a cross-check, and "the resolver a user already has").
pub(crate) const VALIDATING_V4: &str = "127.0.0.53";

/// The lab's IPv6 ULA prefix (`fd00:6d74::/64`; 6d74 is "mt").
pub(crate) const ULA_PREFIX: &str = "fd00:6d74::/64";

/// IPv6 addresses added to `lo` in the namespace (IPv4 needs none: all of 127.0.0.0/8 is local
/// once `lo` is up).
pub(crate) fn ula_addresses() -> Vec<String> {
    (1..=0x10)
        .map(|n| format!("fd00:6d74::{n:x}"))
        .chain(std::iter::once("fd00:6d74::53".to_string()))
        .collect()
}

/// `ADDR:PORT` or `[ADDR]:PORT` for port 53.
pub(crate) fn socket(addr: &str) -> String {
    if addr.contains(':') {
        format!("[{addr}]:53")
    } else {
        format!("{addr}:53")
    }
}
