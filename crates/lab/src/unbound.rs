//! The lab's two recursive resolvers, both Unbound with root hints pointing at the lab root:
//!
//! - the iterator (`module-config: "iterator"`) that mailtrust queries: it must not validate,
//!   because mailtrust validates itself and sends CD=0; a validating resolver would turn a bogus
//!   answer into a SERVFAIL that looks like an unreachable server;
//! - the validator (`"validator iterator"`, trust anchor = the lab root's KSK): a cross-check,
//!   and "the ordinary validating resolver a user already has".

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::topology;

/// The system user Unbound drops to after binding port 53 (`username:`), as the Debian package
/// runs it. It reads its configuration (0640 root:unbound), the root hints and the trust anchor
/// (public); the only directory it may write is [`UnboundInstance::workdir`].
pub(crate) const USER: &str = "unbound";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Iterator,
    Validator,
}

/// One Unbound instance and where its files live.
#[derive(Debug, Clone)]
pub(crate) struct UnboundInstance {
    pub role: Role,
    pub dir: PathBuf,
}

impl UnboundInstance {
    pub(crate) fn new(role: Role, state_dir: &Path) -> UnboundInstance {
        UnboundInstance {
            role,
            dir: state_dir.join("unbound").join(role.id()),
        }
    }

    pub(crate) fn config_path(&self) -> PathBuf {
        self.dir.join("unbound.conf")
    }

    /// Unbound's working directory (`directory:`), the one place it may write: Unbound's own.
    pub(crate) fn workdir(&self) -> PathBuf {
        self.dir.join("run")
    }

    /// The addresses it listens on (port 53).
    pub(crate) fn interfaces(&self) -> Vec<&'static str> {
        match self.role {
            Role::Iterator => vec![topology::RESOLVER_V4, topology::RESOLVER_V6],
            Role::Validator => vec![topology::VALIDATING_V4],
        }
    }

    /// The unbound.conf text.
    ///
    /// Caches are capped at a few seconds: tests publish records with RFC 2136 and look them up
    /// again right away. Round-trip estimates are capped so that a lame server makes Unbound
    /// give up within seconds instead of minutes.
    pub(crate) fn config(&self, root_hints: &Path, trust_anchor: &Path) -> String {
        let mut c =
            String::from("# Written by the mailtrust lab; rebuilt on every `lab up`.\nserver:\n");
        let mut set = |key: &str, value: &str| {
            let _ = writeln!(c, "    {key}: {value}");
        };
        set("verbosity", "1");
        set("num-threads", "1");
        for addr in self.interfaces() {
            set("interface", &format!("{addr}@53"));
        }
        set("port", "53");
        set("do-daemonize", "no");
        // No chroot: it would need copies of the root hints and the anchor inside it.
        set("chroot", "\"\"");
        set("username", &format!("\"{USER}\""));
        set("directory", &quoted(&self.workdir()));
        // No PID file: the lab knows the PID it started, and Unbound would write the file as
        // root and then fail to remove it as its own user.
        set("pidfile", "\"\"");
        // Empty logfile: log to stderr, which the lab writes to the instance's log file.
        set("logfile", "\"\"");
        set("use-syslog", "no");
        set("do-ip4", "yes");
        set("do-ip6", "yes");
        set("do-not-query-localhost", "no");
        set("access-control", "127.0.0.0/8 allow");
        set("access-control", "::1/128 allow");
        set("access-control", &format!("{} allow", topology::ULA_PREFIX));
        set("root-hints", &quoted(root_hints));
        // Unbound serves test. itself as a blocked local zone unless told otherwise.
        set("local-zone", "\"test.\" nodefault");
        set("cache-max-ttl", "5");
        set("cache-max-negative-ttl", "1");
        set("infra-host-ttl", "60");
        set("infra-cache-max-rtt", "3000");
        set("infra-keep-probing", "yes");
        match self.role {
            Role::Iterator => set("module-config", "\"iterator\""),
            Role::Validator => {
                set("module-config", "\"validator iterator\"");
                set("trust-anchor-file", &quoted(trust_anchor));
                set("val-log-level", "2");
                // RFC 8914 extended errors: a SERVFAIL for a bogus answer carries the
                // validator's reason (DNSSEC Bogus, Signature Expired, ...), so a cross-check can
                // tell it from a SERVFAIL for a server that did not answer.
                set("ede", "yes");
            }
        }
        c.push_str("\nremote-control:\n    control-enable: no\n");
        c
    }
}

impl Role {
    pub(crate) fn id(self) -> &'static str {
        match self {
            Role::Iterator => "unbound-iterator",
            Role::Validator => "unbound-validator",
        }
    }
}

fn quoted(path: &Path) -> String {
    format!("\"{}\"", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterator_does_not_validate() {
        let u = UnboundInstance::new(Role::Iterator, Path::new("/s"));
        let c = u.config(Path::new("/s/root.hints"), Path::new("/s/ta"));
        assert!(c.contains("module-config: \"iterator\"\n"));
        assert!(c.contains("interface: 127.0.0.1@53\n"));
        assert!(c.contains("interface: ::1@53\n"));
        assert!(!c.contains("trust-anchor-file"));
        assert!(!c.contains("ede:"));
        assert!(c.contains("local-zone: \"test.\" nodefault"));
        assert!(c.contains("root-hints: \"/s/root.hints\""));
    }

    #[test]
    fn validator_uses_the_lab_anchor() {
        let u = UnboundInstance::new(Role::Validator, Path::new("/s"));
        let c = u.config(Path::new("/s/root.hints"), Path::new("/s/trust-anchor.key"));
        assert!(c.contains("module-config: \"validator iterator\"\n"));
        assert!(c.contains("trust-anchor-file: \"/s/trust-anchor.key\""));
        assert!(c.contains("interface: 127.0.0.53@53\n"));
        assert!(c.contains("directory: \"/s/unbound/unbound-validator/run\""));
        assert!(
            c.contains("username: \"unbound\"\n"),
            "runs as unbound: {c}"
        );
        assert!(c.contains("pidfile: \"\"\n"));
        assert!(c.contains("ede: yes\n"), "bogus SERVFAILs carry the reason");
    }
}
