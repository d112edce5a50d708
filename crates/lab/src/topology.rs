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

/// A loopback address pair of the mail side of the lab: each server (or each behaviour of one
/// server) has its own, so MX records, TLSA owner names and SRV targets can point at it on the
/// real ports (25, 465, 587, 143, 993, 110, 995, 443).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Host {
    pub v4: &'static str,
    pub v6: &'static str,
}

/// Postfix: good STARTTLS on 25, submission on 587 (AUTH only after STARTTLS) and 465.
pub(crate) const SMTP_GOOD: Host = Host {
    v4: "127.0.0.20",
    v6: "fd00:6d74::20",
};
/// Postfix: an expired certificate.
pub(crate) const SMTP_EXPIRED: Host = Host {
    v4: "127.0.0.21",
    v6: "fd00:6d74::21",
};
/// Postfix: a certificate for another name (mail.elsewhere.test).
pub(crate) const SMTP_WRONG_NAME: Host = Host {
    v4: "127.0.0.22",
    v6: "fd00:6d74::22",
};
/// Postfix: a certificate that expires in ten days.
pub(crate) const SMTP_EXPIRES_SOON: Host = Host {
    v4: "127.0.0.23",
    v6: "fd00:6d74::23",
};
/// Postfix: TLS 1.0 only.
pub(crate) const SMTP_TLS10: Host = Host {
    v4: "127.0.0.24",
    v6: "fd00:6d74::24",
};
/// Postfix: TLS 1.2 that also accepts NULL (unencrypted) cipher suites.
pub(crate) const SMTP_NULL_CIPHERS: Host = Host {
    v4: "127.0.0.25",
    v6: "fd00:6d74::25",
};
/// Postfix: no STARTTLS at all.
pub(crate) const SMTP_NO_STARTTLS: Host = Host {
    v4: "127.0.0.26",
    v6: "fd00:6d74::26",
};
/// Postfix: submission on 587 that offers AUTH before STARTTLS.
pub(crate) const SUBMISSION_AUTH_BEFORE_TLS: Host = Host {
    v4: "127.0.0.28",
    v6: "fd00:6d74::28",
};
/// Dovecot: IMAP and POP3 that refuse plaintext logins before TLS; 993 and 995.
pub(crate) const IMAP_STRICT: Host = Host {
    v4: "127.0.0.30",
    v6: "fd00:6d74::30",
};
/// Dovecot: IMAP and POP3 that take plaintext logins before TLS.
pub(crate) const IMAP_PLAINTEXT: Host = Host {
    v4: "127.0.0.31",
    v6: "fd00:6d74::31",
};
/// nginx: the MTA-STS policy hosts and the TLS-RPT https endpoint.
pub(crate) const HTTPS: Host = Host {
    v4: "127.0.0.40",
    v6: "fd00:6d74::40",
};
/// Hostile SMTP peers (`mailtrust lab serve-hostile`), one address per mode.
pub(crate) const HOSTILE_TARPIT: Host = Host {
    v4: "127.0.0.50",
    v6: "fd00:6d74::50",
};
pub(crate) const HOSTILE_EHLO_FLOOD: Host = Host {
    v4: "127.0.0.51",
    v6: "fd00:6d74::51",
};
pub(crate) const HOSTILE_BIG_CHAIN: Host = Host {
    v4: "127.0.0.52",
    v6: "fd00:6d74::52",
};
/// Not .53: that is the validating Unbound.
pub(crate) const HOSTILE_TLS_ALERT: Host = Host {
    v4: "127.0.0.54",
    v6: "fd00:6d74::54",
};

/// Every mail-side host, for the namespace's IPv6 addresses.
pub(crate) const MAIL_HOSTS: [Host; 15] = [
    SMTP_GOOD,
    SMTP_EXPIRED,
    SMTP_WRONG_NAME,
    SMTP_EXPIRES_SOON,
    SMTP_TLS10,
    SMTP_NULL_CIPHERS,
    SMTP_NO_STARTTLS,
    SUBMISSION_AUTH_BEFORE_TLS,
    IMAP_STRICT,
    IMAP_PLAINTEXT,
    HTTPS,
    HOSTILE_TARPIT,
    HOSTILE_EHLO_FLOOD,
    HOSTILE_BIG_CHAIN,
    HOSTILE_TLS_ALERT,
];

/// The source address of IPv6 connections to the mail hosts (see `netns::create`), as
/// 127.0.0.1 is for IPv4.
pub(crate) const CLIENT_V6: &str = "fd00:6d74::1";

/// The lab's IPv6 ULA prefix (`fd00:6d74::/64`; 6d74 is "mt").
pub(crate) const ULA_PREFIX: &str = "fd00:6d74::/64";

/// IPv6 addresses added to `lo` in the namespace (IPv4 needs none: all of 127.0.0.0/8 is local
/// once `lo` is up).
pub(crate) fn ula_addresses() -> Vec<String> {
    (1..=0x10)
        .map(|n| format!("fd00:6d74::{n:x}"))
        .chain(std::iter::once("fd00:6d74::53".to_string()))
        .chain(MAIL_HOSTS.iter().map(|h| h.v6.to_string()))
        .collect()
}

/// `ADDR:PORT` or `[ADDR]:PORT` for port 53.
pub(crate) fn socket(addr: &str) -> String {
    endpoint(addr, 53)
}

/// `ADDR:PORT` or `[ADDR]:PORT`.
pub(crate) fn endpoint(addr: &str, port: u16) -> String {
    if addr.contains(':') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_are_distinct_and_cover_every_mail_host() {
        let all = ula_addresses();
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), all.len(), "{all:?}");
        assert!(all.iter().any(|a| a == CLIENT_V6));
        for h in MAIL_HOSTS {
            assert!(all.iter().any(|a| a == h.v6), "{}", h.v6);
            assert_ne!(h.v6, CLIENT_V6);
            assert_ne!(h.v4, VALIDATING_V4);
        }
        assert_eq!(endpoint("fd00:6d74::20", 25), "[fd00:6d74::20]:25");
        assert_eq!(endpoint("127.0.0.20", 465), "127.0.0.20:465");
    }
}
