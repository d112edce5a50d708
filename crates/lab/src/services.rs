//! The mail side of the lab as one list: every service (one port of one address), which process
//! serves it, how `up` knows it is ready, and how `LabInfo.services` describes it.
//!
//! Each server module owns its part of the list ([`crate::postfix::SMTPD`],
//! [`crate::dovecot::SERVICES`], [`crate::nginx::SERVICES`], [`crate::hostile::SERVERS`]) and
//! builds its configuration from it, so the address plan is written once.

use std::path::Path;

use crate::topology::{Host, endpoint};

/// What kind of service, as `LabInfo.services[].kind` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// SMTP on port 25 (MX).
    Smtp,
    /// Message submission: 587 with STARTTLS (RFC 6409) or 465 with implicit TLS (RFC 8314).
    Submission,
    Imap,
    Pop3,
    Https,
    /// A peer that misbehaves on purpose (`mailtrust lab serve-hostile`).
    Hostile,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Smtp => "smtp",
            Kind::Submission => "submission",
            Kind::Imap => "imap",
            Kind::Pop3 => "pop3",
            Kind::Https => "https",
            Kind::Hostile => "hostile",
        }
    }
}

/// What the readiness probe expects from a fresh connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// The connection is accepted; the server never says anything (a tarpit).
    Accept,
    /// A plaintext greeting that starts with this (`220`, `* OK`, `+OK`).
    Greeting(&'static str),
    /// Implicit TLS: a handshake that verifies against the lab CA for `server_name`, then `send`
    /// (if any) and a first line that starts with `reply`.
    Tls {
        server_name: &'static str,
        send: &'static str,
        reply: &'static str,
    },
}

/// One service: one port on one lab host (both its IPv4 and IPv6 address).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Service {
    /// Unique, stable: tests and people refer to it (`smtp-good`, `imaps-strict`, ...).
    pub name: &'static str,
    pub kind: Kind,
    pub host: Host,
    pub port: u16,
    /// The process that serves it: its PID record and log are `pids/<process>.json`,
    /// `logs/<process>.log`.
    pub process: &'static str,
    pub expect: Expect,
    /// What the service is for, in a sentence.
    pub notes: &'static str,
}

impl Service {
    /// `IP:PORT` for the IPv4 and the IPv6 address.
    pub(crate) fn addresses(&self) -> [String; 2] {
        [
            endpoint(self.host.v4, self.port),
            endpoint(self.host.v6, self.port),
        ]
    }

    /// The object `LabInfo.services` carries.
    pub(crate) fn json(self, logs: &Path) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "kind": self.kind.as_str(),
            "addresses": self.addresses(),
            "notes": self.notes,
            "process": self.process,
            "log": logs.join(format!("{}.log", self.process)),
        })
    }
}

/// Every mail-side service of the lab, in address order.
pub(crate) fn all() -> Vec<Service> {
    crate::postfix::SMTPD
        .iter()
        .map(|s| s.service)
        .chain(crate::dovecot::SERVICES.iter().copied())
        .chain(crate::nginx::SERVICES.iter().copied())
        .chain(crate::hostile::SERVERS.iter().map(|h| h.service))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_endpoints_are_unique() {
        let all = all();
        let mut names: Vec<&str> = all.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len(), "service names are unique");
        let mut endpoints: Vec<String> = all.iter().flat_map(|s| s.addresses()).collect();
        let count = endpoints.len();
        endpoints.sort();
        endpoints.dedup();
        assert_eq!(endpoints.len(), count, "no two services share an IP:port");
    }

    #[test]
    fn json_has_the_documented_fields() {
        let s = all()[0];
        let j = s.json(Path::new("/s/logs"));
        assert_eq!(j["name"], "smtp-good");
        assert_eq!(j["kind"], "smtp");
        assert_eq!(j["addresses"][0], "127.0.0.20:25");
        assert_eq!(j["addresses"][1], "[fd00:6d74::20]:25");
        assert!(j["notes"].as_str().is_some_and(|n| !n.is_empty()));
        assert_eq!(j["log"], "/s/logs/postfix.log");
    }
}
