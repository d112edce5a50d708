//! Knot DNS instances: one per level of the hierarchy (root, `test.`, the scenario zones), so a
//! parent and its child never share a server and DS answers come from the parent, as on the
//! Internet.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::topology::NameServer;
use crate::tsig::TsigKey;

/// The DNSSEC policy Knot signs with: ECDSA P-256 (algorithm 13, RFC 6605), NSEC. `manual: on`
/// because the lab generates the keys itself (with keymgr, before Knot starts) so that DS
/// records for the parents are known before any server runs.
const POLICY: &str = "lab";

/// The system user (and group) knotd drops to after binding port 53, as the Debian package runs
/// it; keymgr reads the same `user:` and switches to it too. Everything else it reads is
/// root's and readable by the group (the configuration holds the TSIG secret: 0640 root:knot);
/// what it writes ([`KnotInstance::storage`], [`KnotInstance::rundir`], the zone files it syncs)
/// is handed to it.
pub(crate) const USER: &str = "knot";

/// One zone served by an instance.
#[derive(Debug, Clone)]
pub(crate) struct KnotZone {
    pub domain: String,
    pub file: PathBuf,
    /// Knot signs the zone (online signing; updates are re-signed).
    pub signing: bool,
    /// RFC 2136 updates with the lab's TSIG key are allowed.
    pub updatable: bool,
}

/// One knotd instance and where its files live.
#[derive(Debug, Clone)]
pub(crate) struct KnotInstance {
    pub server: NameServer,
    pub dir: PathBuf,
    pub zones: Vec<KnotZone>,
}

impl KnotInstance {
    pub(crate) fn new(server: NameServer, state_dir: &Path) -> KnotInstance {
        KnotInstance {
            server,
            dir: state_dir.join("knot").join(server.id),
            zones: Vec::new(),
        }
    }

    pub(crate) fn config_path(&self) -> PathBuf {
        self.dir.join("knot.conf")
    }

    /// The KASP database, journal and timers: Knot's (and keymgr's, which runs as Knot's user).
    pub(crate) fn storage(&self) -> PathBuf {
        self.dir.join("db")
    }

    /// The control socket: Knot's.
    pub(crate) fn rundir(&self) -> PathBuf {
        self.dir.join("run")
    }

    /// Serves `domain` from this instance, from its zone file under `zones/`.
    pub(crate) fn add_zone(&mut self, domain: &str, signing: bool, updatable: bool) {
        let file = self.zone_file(domain);
        self.zones.push(KnotZone {
            domain: domain.to_string(),
            file,
            signing,
            updatable,
        });
    }

    /// Where the zone file for `domain` goes (`.` becomes `root`).
    pub(crate) fn zone_file(&self, domain: &str) -> PathBuf {
        let stem = domain.trim_end_matches('.');
        let stem = if stem.is_empty() { "root" } else { stem };
        self.zones_dir().join(format!("{stem}.zone"))
    }

    /// The zone files: written by root during `up`, handed to Knot before it starts (with
    /// `zonefile-sync: 0` it writes changes back).
    pub(crate) fn zones_dir(&self) -> PathBuf {
        self.dir.join("zones")
    }

    /// The knot.conf text.
    ///
    /// `zonefile-sync: 0` with `zonefile-load: difference` keeps RFC 2136 updates across a
    /// reload (with the zone file winning, they would vanish). Logging goes to stderr, which the
    /// lab redirects to the instance's log file.
    pub(crate) fn config(&self, tsig: Option<&TsigKey>) -> String {
        let mut c = String::from("# Written by the mailtrust lab; rebuilt on every `lab up`.\n");
        let _ = write!(
            c,
            "server:\n    rundir: \"{}\"\n    user: {USER}:{USER}\n    listen: [ {}@53, {}@53 ]\n    \
             udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n    \
             identity: \"\"\n    version: \"\"\n\n",
            self.rundir().display(),
            self.server.v4,
            self.server.v6,
        );
        let _ = write!(
            c,
            "database:\n    storage: \"{}\"\n\nlog:\n  - target: stderr\n    any: info\n\n",
            self.storage().display()
        );
        let updates = tsig.filter(|_| self.zones.iter().any(|z| z.updatable));
        if let Some(key) = updates {
            let _ = write!(
                c,
                "key:\n  - id: {}\n    algorithm: {}\n    secret: {}\n\n\
                 acl:\n  - id: lab-update\n    key: {}\n    action: update\n\n",
                key.name, key.algorithm, key.secret, key.name
            );
        }
        let _ = write!(
            c,
            "policy:\n  - id: {POLICY}\n    algorithm: ecdsap256sha256\n    manual: on\n\n\
             template:\n  - id: default\n    zonefile-sync: 0\n    zonefile-load: difference\n    \
             journal-content: changes\n\n"
        );
        c.push_str("zone:\n");
        for zone in &self.zones {
            let _ = write!(
                c,
                "  - domain: \"{}\"\n    file: \"{}\"\n",
                zone.domain,
                zone.file.display()
            );
            if zone.signing {
                let _ = writeln!(c, "    dnssec-signing: on\n    dnssec-policy: {POLICY}");
            }
            if zone.updatable && updates.is_some() {
                c.push_str("    acl: lab-update\n");
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology;

    #[test]
    fn config_has_listen_signing_and_acl() {
        let mut k = KnotInstance::new(topology::SCENARIOS, Path::new("/s"));
        k.add_zone("signed.test.", true, true);
        k.add_zone("expired.test.", false, false);
        let key = TsigKey {
            name: "k".into(),
            algorithm: "hmac-sha256".into(),
            secret: "c2VjcmV0".into(),
        };
        let c = k.config(Some(&key));
        assert!(c.contains("listen: [ 127.0.0.4@53, fd00:6d74::4@53 ]"));
        assert!(
            c.contains("\n    user: knot:knot\n"),
            "knotd runs as knot: {c}"
        );
        assert!(c.contains("storage: \"/s/knot/knot-scenarios/db\""));
        assert!(c.contains(
            "  - domain: \"signed.test.\"\n    file: \"/s/knot/knot-scenarios/zones/signed.test.zone\"\n    dnssec-signing: on\n    dnssec-policy: lab\n    acl: lab-update\n"
        ));
        assert!(c.contains("  - domain: \"expired.test.\"\n    file: \"/s/knot/knot-scenarios/zones/expired.test.zone\"\n"));
        assert_eq!(c.matches("acl: lab-update").count(), 1);
        assert_eq!(
            k.zone_file("."),
            PathBuf::from("/s/knot/knot-scenarios/zones/root.zone")
        );
    }

    #[test]
    fn no_key_section_without_updatable_zones() {
        let mut k = KnotInstance::new(topology::ROOT, Path::new("/s"));
        k.add_zone(".", true, false);
        let key = TsigKey {
            name: "k".into(),
            algorithm: "hmac-sha256".into(),
            secret: "c2VjcmV0".into(),
        };
        assert!(!k.config(Some(&key)).contains("key:"));
    }
}
