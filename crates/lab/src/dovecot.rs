//! Dovecot: IMAP and POP3 on two hosts from one instance. The strict host (127.0.0.30) refuses
//! plaintext logins before TLS (IMAP LOGINDISABLED, POP3 USER refused) and has the implicit TLS
//! ports 993 and 995; the plaintext host (127.0.0.31) takes them (`disable_plaintext_auth = no`
//! in a `local` block for its addresses), while still offering STARTTLS/STLS.
//!
//! It also serves the auth socket Postfix uses for SASL on the submission ports. It runs in the
//! foreground (`dovecot -F`) with base_dir, state_dir and the one mailbox under
//! `<state>/dovecot/`, login processes not chrooted, and logs to stderr (the lab's log file).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::accounts;
use crate::error::LabError;
use crate::pki::{Cert, TlsDir};
use crate::postfix::{PostfixDir, SASL_PASSWORD, SASL_USER};
use crate::services::{Expect, Kind, Service};
use crate::topology::{self, Host};

/// The process name (PID record, log file).
pub(crate) const PROCESS: &str = "dovecot";

const fn service(
    name: &'static str,
    kind: Kind,
    host: Host,
    port: u16,
    expect: Expect,
    notes: &'static str,
) -> Service {
    Service {
        name,
        kind,
        host,
        port,
        process: PROCESS,
        expect,
        notes,
    }
}

const IMAPS: Expect = Expect::Tls {
    server_name: "imap.tlsgood.test",
    send: "",
    reply: "* OK",
};
const POP3S: Expect = Expect::Tls {
    server_name: "imap.tlsgood.test",
    send: "",
    reply: "+OK",
};

/// Every Dovecot listener; implicit TLS where the probe expects TLS.
pub(crate) const SERVICES: &[Service] = &[
    service(
        "imap-strict",
        Kind::Imap,
        topology::IMAP_STRICT,
        143,
        Expect::Greeting("* OK"),
        "IMAP with STARTTLS; LOGINDISABLED (no login) before TLS; certificate `good` (imap.tlsgood.test)",
    ),
    service(
        "imaps-strict",
        Kind::Imap,
        topology::IMAP_STRICT,
        993,
        IMAPS,
        "IMAP over implicit TLS (RFC 8314)",
    ),
    service(
        "pop3-strict",
        Kind::Pop3,
        topology::IMAP_STRICT,
        110,
        Expect::Greeting("+OK"),
        "POP3 with STLS; USER refused before STLS",
    ),
    service(
        "pop3s-strict",
        Kind::Pop3,
        topology::IMAP_STRICT,
        995,
        POP3S,
        "POP3 over implicit TLS (RFC 8314)",
    ),
    service(
        "imap-plaintext",
        Kind::Imap,
        topology::IMAP_PLAINTEXT,
        143,
        Expect::Greeting("* OK"),
        "IMAP that takes LOGIN before TLS (no LOGINDISABLED, AUTH=PLAIN advertised); STARTTLS still offered (imap.imapplain.test)",
    ),
    service(
        "pop3-plaintext",
        Kind::Pop3,
        topology::IMAP_PLAINTEXT,
        110,
        Expect::Greeting("+OK"),
        "POP3 that answers +OK to USER before STLS; STLS still offered",
    ),
];

/// Where the instance's files live: `<state>/dovecot/`.
#[derive(Debug, Clone)]
pub(crate) struct DovecotDir {
    pub root: PathBuf,
}

impl DovecotDir {
    pub(crate) fn new(state: &Path) -> DovecotDir {
        DovecotDir {
            root: state.join("dovecot"),
        }
    }
    pub(crate) fn config(&self) -> PathBuf {
        self.root.join("dovecot.conf")
    }
    fn users(&self) -> PathBuf {
        self.root.join("users")
    }
    fn home(&self) -> PathBuf {
        self.root.join("home")
    }
}

/// dovecot.conf. `mail` is the `(uid, gid)` the one user's mail processes run as.
pub(crate) fn config(
    dir: &DovecotDir,
    tls: &TlsDir,
    postfix: &PostfixDir,
    mail: (u32, u32),
) -> String {
    let root = &dir.root;
    let mut c = format!(
        "# Built by the mailtrust lab.\n\
         instance_name = mailtrust-lab\n\
         base_dir = {run}\n\
         state_dir = {state}\n\
         log_path = /dev/stderr\n\
         protocols = imap pop3\n\
         listen = {v4}, {v6}\n\
         ssl = yes\n\
         ssl_cert = <{chain}\n\
         ssl_key = <{key}\n\
         ssl_min_protocol = TLSv1.2\n\
         # No login without TLS, except on the plaintext host (the `local` blocks below).\n\
         disable_plaintext_auth = yes\n\
         auth_mechanisms = plain login\n\
         passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {users}\n}}\n\
         userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={home}/%u\n}}\n\
         mail_location = maildir:~/Maildir\n",
        run = root.join("run").display(),
        state = root.join("state").display(),
        v4 = topology::IMAP_STRICT.v4,
        v6 = topology::IMAP_STRICT.v6,
        chain = tls.chain(Cert::Good).display(),
        key = tls.key(Cert::Good).display(),
        users = dir.users().display(),
        uid = mail.0,
        gid = mail.1,
        home = dir.home().display(),
    );
    let logins = [
        ("imap-login", Kind::Imap, ["imap", "imaps"]),
        ("pop3-login", Kind::Pop3, ["pop3", "pop3s"]),
    ];
    for (login, kind, defaults) in logins {
        let _ = writeln!(c, "service {login} {{\n  chroot =");
        // Dovecot's built-in listeners would bind `listen` on the standard ports a second time.
        for default in defaults {
            let _ = writeln!(c, "  inet_listener {default} {{\n    port = 0\n  }}");
        }
        for s in SERVICES.iter().filter(|s| s.kind == kind) {
            let ssl = if matches!(s.expect, Expect::Tls { .. }) {
                "    ssl = yes\n"
            } else {
                ""
            };
            let _ = write!(
                c,
                "  inet_listener {} {{\n    address = {}, {}\n    port = {}\n{ssl}  }}\n",
                s.name, s.host.v4, s.host.v6, s.port
            );
        }
        c.push_str("}\n");
    }
    let _ = write!(
        c,
        "service auth {{\n  unix_listener {} {{\n    mode = 0660\n    user = postfix\n    group = postfix\n  }}\n}}\n",
        postfix.sasl_socket().display()
    );
    for address in [topology::IMAP_PLAINTEXT.v4, topology::IMAP_PLAINTEXT.v6] {
        let _ = write!(c, "local {address} {{\n  disable_plaintext_auth = no\n}}\n");
    }
    c
}

/// Writes the configuration, the user database and the one user's home.
pub(crate) fn prepare(
    dir: &DovecotDir,
    tls: &TlsDir,
    postfix: &PostfixDir,
) -> Result<(), LabError> {
    let mail = accounts::user("nobody", "base-passwd")?;
    accounts::make_dir(&dir.root, 0o755, 0, 0)?;
    accounts::make_dir(&dir.home().join(SASL_USER), 0o700, mail.0, mail.1)?;
    crate::lifecycle::write(
        &dir.users(),
        &format!("{SASL_USER}:{{PLAIN}}{SASL_PASSWORD}\n"),
    )?;
    crate::lifecycle::write(&dir.config(), &config(dir, tls, postfix, mail))
}

/// The command line: Dovecot in the foreground with this instance's configuration.
pub(crate) fn argv(dovecot: &Path, dir: &DovecotDir) -> Vec<std::ffi::OsString> {
    vec![
        dovecot.into(),
        "-F".into(),
        "-c".into(),
        dir.config().into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_local_blocks_and_sasl_socket() {
        let s = Path::new("/s");
        let c = config(
            &DovecotDir::new(s),
            &TlsDir::new(s),
            &PostfixDir::new(s),
            (65534, 65534),
        );
        assert!(c.contains(
            "  inet_listener imaps-strict {\n    address = 127.0.0.30, fd00:6d74::30\n    port = 993\n    ssl = yes\n  }\n"
        ));
        assert!(c.contains(
            "  inet_listener pop3-plaintext {\n    address = 127.0.0.31, fd00:6d74::31\n    port = 110\n  }\n"
        ));
        assert!(c.contains("local 127.0.0.31 {\n  disable_plaintext_auth = no\n}"));
        assert!(c.contains("local fd00:6d74::31 {\n  disable_plaintext_auth = no\n}"));
        assert!(c.contains("unix_listener /s/postfix/queue/private/auth {"));
        assert!(c.contains("base_dir = /s/dovecot/run\n"));
        assert!(c.contains("disable_plaintext_auth = yes\n"));
        assert_eq!(c.matches("service imap-login {").count(), 1);
        assert!(c.contains("  inet_listener pop3s {\n    port = 0\n  }\n"));
    }
}
