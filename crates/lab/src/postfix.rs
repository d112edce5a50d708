//! Postfix: one instance (one `master`), one smtpd service per lab address and port in
//! master.cf, each with its own certificate and TLS settings (`-o` overrides).
//!
//! It never takes mail: every relay and recipient is refused, there is no local delivery, and
//! nothing is ever queued. It runs in the foreground (`master -d`), with chroot off and every
//! path (config, queue, data, PID lock) under `<state>/postfix/`; it logs through postlogd to
//! its stdout, which the lab sends to `<state>/logs/postfix.log`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::accounts;
use crate::error::LabError;
use crate::pki::{Cert, TlsDir};
use crate::services::{Expect, Kind, Service};
use crate::topology::{self, Host};

/// The process name (PID record, log file).
pub(crate) const PROCESS: &str = "postfix";

/// The SASL user that Dovecot knows (and Postfix asks Dovecot about).
pub(crate) const SASL_USER: &str = "lab";
pub(crate) const SASL_PASSWORD: &str = "lab-password";

/// One smtpd service of master.cf.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Smtpd {
    pub service: Service,
    /// `myhostname` of the service: the name in its banner and EHLO reply.
    pub hostname: &'static str,
    pub cert: Cert,
    /// Further `-o name=value` overrides (no whitespace in a value: master.cf splits on it).
    pub options: &'static [&'static str],
}

#[expect(clippy::too_many_arguments, reason = "one row of the SMTPD table")]
const fn smtpd(
    name: &'static str,
    kind: Kind,
    host: Host,
    port: u16,
    notes: &'static str,
    hostname: &'static str,
    cert: Cert,
    options: &'static [&'static str],
) -> Smtpd {
    let expect = if port == 465 {
        Expect::Tls {
            server_name: hostname,
            send: "",
            reply: "220 ",
        }
    } else {
        Expect::Greeting("220 ")
    };
    Smtpd {
        service: Service {
            name,
            kind,
            host,
            port,
            process: PROCESS,
            expect,
            notes,
        },
        hostname,
        cert,
        options,
    }
}

/// Submission: AUTH through Dovecot, only once the session is encrypted (RFC 8314 §3.3 asks
/// for TLS before any credentials).
const SUBMISSION: &[&str] = &[
    "smtpd_tls_security_level=encrypt",
    "smtpd_tls_auth_only=yes",
    "smtpd_sasl_auth_enable=yes",
];

/// Every smtpd service, in address order.
pub(crate) const SMTPD: &[Smtpd] = &[
    smtpd(
        "smtp-good",
        Kind::Smtp,
        topology::SMTP_GOOD,
        25,
        "STARTTLS, TLS 1.2 and 1.3 only, certificate `good` (lab CA), chain leaf+CA; MX of tlsgood, daneta, danebad, tlsabogus, daneunsigned, sts* and more",
        "mail.tlsgood.test",
        Cert::Good,
        &[],
    ),
    smtpd(
        "submission-good",
        Kind::Submission,
        topology::SMTP_GOOD,
        587,
        "submission with STARTTLS required; AUTH (PLAIN, LOGIN via Dovecot, user lab / lab-password) offered only after STARTTLS",
        "mail.tlsgood.test",
        Cert::Good,
        SUBMISSION,
    ),
    smtpd(
        "submissions-good",
        Kind::Submission,
        topology::SMTP_GOOD,
        465,
        "submission over implicit TLS (RFC 8314), AUTH via Dovecot",
        "mail.tlsgood.test",
        Cert::Good,
        &["smtpd_tls_wrappermode=yes", "smtpd_sasl_auth_enable=yes"],
    ),
    smtpd(
        "smtp-expired",
        Kind::Smtp,
        topology::SMTP_EXPIRED,
        25,
        "STARTTLS with a certificate that expired 30 days ago (MX of tlsexpired.test)",
        "mail.tlsexpired.test",
        Cert::Expired,
        &[],
    ),
    smtpd(
        "smtp-wrongname",
        Kind::Smtp,
        topology::SMTP_WRONG_NAME,
        25,
        "STARTTLS with a valid certificate for mail.elsewhere.test only (MX of tlsname.test)",
        "mail.tlsname.test",
        Cert::WrongName,
        &[],
    ),
    smtpd(
        "smtp-soon",
        Kind::Smtp,
        topology::SMTP_EXPIRES_SOON,
        25,
        "STARTTLS with a certificate that expires in 10 days (MX of tlssoon.test)",
        "mail.tlssoon.test",
        Cert::ExpiresSoon,
        &[],
    ),
    smtpd(
        "smtp-tls10",
        Kind::Smtp,
        topology::SMTP_TLS10,
        25,
        "STARTTLS with TLS 1.0 only (OpenSSL security level 0); TLS 1.2 and 1.3 are refused (MX of tlsold.test)",
        "mail.tlsold.test",
        Cert::Old,
        &[
            "smtpd_tls_protocols=TLSv1",
            "smtpd_tls_mandatory_protocols=TLSv1",
            "smtpd_tls_ciphers=low",
            "smtpd_tls_mandatory_ciphers=low",
            // TLS 1.0 signs with MD5+SHA-1, which OpenSSL 3 allows only at level 0.
            "tls_low_cipherlist=DEFAULT:@SECLEVEL=0",
        ],
    ),
    smtpd(
        "smtp-null-ciphers",
        Kind::Smtp,
        topology::SMTP_NULL_CIPHERS,
        25,
        "STARTTLS with TLS 1.2 only, accepting NULL (unencrypted) suites such as ECDHE-ECDSA-NULL-SHA besides the usual ones (MX of tlsweak.test)",
        "mail.tlsweak.test",
        Cert::Weak,
        &[
            "smtpd_tls_protocols=TLSv1.2",
            "smtpd_tls_mandatory_protocols=TLSv1.2",
            "smtpd_tls_ciphers=low",
            "smtpd_tls_mandatory_ciphers=low",
            // Debian's OpenSSL has no RC4, 3DES or export suites; NULL is the weak suite it can
            // really offer, and only at security level 0. Not DEFAULT: it removes eNULL for good.
            "tls_low_cipherlist=ALL:eNULL:!aNULL:@SECLEVEL=0",
            "smtpd_tls_exclude_ciphers=aNULL",
            "smtpd_tls_mandatory_exclude_ciphers=aNULL",
        ],
    ),
    smtpd(
        "smtp-no-starttls",
        Kind::Smtp,
        topology::SMTP_NO_STARTTLS,
        25,
        "no STARTTLS at all (MX of nostarttls.test and danenotls.test)",
        "mail.nostarttls.test",
        Cert::Good,
        &["smtpd_tls_security_level=none"],
    ),
    smtpd(
        "submission-auth-before-tls",
        Kind::Submission,
        topology::SUBMISSION_AUTH_BEFORE_TLS,
        587,
        "submission that offers AUTH before STARTTLS (STARTTLS offered, not required): plaintext credentials possible (sub.subauth.test)",
        "sub.subauth.test",
        Cert::Good,
        &[
            "smtpd_tls_security_level=may",
            "smtpd_tls_auth_only=no",
            "smtpd_sasl_auth_enable=yes",
        ],
    ),
];

/// Where the instance's files live: `<state>/postfix/{etc,queue,data}`.
#[derive(Debug, Clone)]
pub(crate) struct PostfixDir {
    pub root: PathBuf,
}

impl PostfixDir {
    pub(crate) fn new(state: &Path) -> PostfixDir {
        PostfixDir {
            root: state.join("postfix"),
        }
    }
    pub(crate) fn config(&self) -> PathBuf {
        self.root.join("etc")
    }
    pub(crate) fn queue(&self) -> PathBuf {
        self.root.join("queue")
    }
    fn data(&self) -> PathBuf {
        self.root.join("data")
    }
    /// The socket Dovecot's auth service listens on for Postfix (`smtpd_sasl_path`, relative to
    /// the queue directory).
    pub(crate) fn sasl_socket(&self) -> PathBuf {
        self.queue().join("private").join("auth")
    }
}

/// main.cf: what every service shares. Services differ only by their master.cf overrides.
pub(crate) fn main_cf(dir: &PostfixDir, tls: &TlsDir) -> String {
    format!(
        "# Built by the mailtrust lab.\n\
         compatibility_level = 3.6\n\
         config_directory = {config}\n\
         queue_directory = {queue}\n\
         data_directory = {data}\n\
         mail_owner = postfix\n\
         setgid_group = postdrop\n\
         maillog_file = /dev/stdout\n\
         myhostname = mail.tlsgood.test\n\
         mydomain = tlsgood.test\n\
         myorigin = $myhostname\n\
         inet_interfaces = all\n\
         inet_protocols = all\n\
         biff = no\n\
         # Nothing is delivered or relayed, ever.\n\
         mydestination =\n\
         local_recipient_maps =\n\
         alias_maps =\n\
         alias_database =\n\
         local_transport = error:the mailtrust lab delivers no mail\n\
         smtpd_relay_restrictions = reject\n\
         smtpd_recipient_restrictions = reject\n\
         # No reverse DNS for clients: the lab's clients are all on loopback.\n\
         smtpd_peername_lookup = no\n\
         smtpd_banner = $myhostname ESMTP mailtrust lab\n\
         smtpd_tls_security_level = may\n\
         smtpd_tls_chain_files = {key}, {chain}\n\
         smtpd_tls_protocols = >=TLSv1.2\n\
         smtpd_tls_mandatory_protocols = >=TLSv1.2\n\
         # Postfix offers anonymous suites by default (opportunistic TLS); the good services\n\
         # should pass a cipher check, so only the weak service re-allows what it needs.\n\
         smtpd_tls_exclude_ciphers = aNULL, eNULL, EXPORT, DES, 3DES, RC4, MD5\n\
         smtpd_tls_mandatory_exclude_ciphers = aNULL, eNULL, EXPORT, DES, 3DES, RC4, MD5\n\
         smtpd_tls_loglevel = 1\n\
         smtpd_tls_received_header = no\n\
         smtpd_sasl_type = dovecot\n\
         smtpd_sasl_path = private/auth\n\
         smtpd_sasl_auth_enable = no\n",
        config = dir.config().display(),
        queue = dir.queue().display(),
        data = dir.data().display(),
        key = tls.key(Cert::Good).display(),
        chain = tls.chain(Cert::Good).display(),
    )
}

/// master.cf: one smtpd line per address (IPv4 and IPv6) of each [`SMTPD`] service, and the
/// few internal services smtpd talks to.
pub(crate) fn master_cf(tls: &TlsDir) -> String {
    let mut out = String::from(
        "# Built by the mailtrust lab.\n\
         # service             type  private unpriv chroot wakeup maxproc command + args\n",
    );
    for s in SMTPD {
        let mut args = format!(
            " -o syslog_name=postfix/{} -o myhostname={} -o smtpd_tls_chain_files={},{}",
            s.service.name,
            s.hostname,
            tls.key(s.cert).display(),
            tls.chain(s.cert).display()
        );
        for option in s.options {
            let _ = write!(args, " -o {option}");
        }
        for address in s.service.addresses() {
            let _ = writeln!(
                out,
                "{address:<22} inet  n       -      n      -      -       smtpd{args}"
            );
        }
    }
    out.push_str(
        "tlsmgr                unix  -       -      n      1000?  1       tlsmgr\n\
         anvil                 unix  -       -      n      -      1       anvil\n\
         cleanup               unix  n       -      n      -      0       cleanup\n\
         rewrite               unix  -       -      n      -      -       trivial-rewrite\n\
         proxymap              unix  -       -      n      -      -       proxymap\n\
         postlog               unix-dgram n  -      n      -      1       postlogd\n",
    );
    out
}

/// Queue subdirectories: `(name, mode, group is postdrop)`; all owned by postfix except `pid`,
/// as `postfix check` would leave them.
const QUEUE_DIRS: &[(&str, u32, bool)] = &[
    ("active", 0o700, false),
    ("bounce", 0o700, false),
    ("corrupt", 0o700, false),
    ("defer", 0o700, false),
    ("deferred", 0o700, false),
    ("flush", 0o700, false),
    ("hold", 0o700, false),
    ("incoming", 0o700, false),
    ("private", 0o700, false),
    ("saved", 0o700, false),
    ("trace", 0o700, false),
    ("maildrop", 0o730, true),
    ("public", 0o710, true),
];

/// Writes the configuration and creates the queue with the ownership Postfix insists on.
pub(crate) fn prepare(dir: &PostfixDir, tls: &TlsDir) -> Result<(), LabError> {
    let (postfix_uid, postfix_gid) = accounts::user("postfix", "postfix")?;
    let postdrop = accounts::group("postdrop", "postfix")?;
    accounts::make_dir(&dir.config(), 0o755, 0, 0)?;
    accounts::make_dir(&dir.queue(), 0o755, 0, 0)?;
    accounts::make_dir(&dir.queue().join("pid"), 0o755, 0, 0)?;
    for (name, mode, setgid) in QUEUE_DIRS {
        let gid = if *setgid { postdrop } else { 0 };
        accounts::make_dir(&dir.queue().join(name), *mode, postfix_uid, gid)?;
    }
    accounts::make_dir(&dir.data(), 0o700, postfix_uid, postfix_gid)?;
    for (file, text) in [
        ("main.cf", main_cf(dir, tls)),
        ("master.cf", master_cf(tls)),
    ] {
        let path = dir.config().join(file);
        crate::lifecycle::write(&path, &text)?;
        backdate(&path)?;
    }
    Ok(())
}

/// Postfix waits (300 ms at a time) until its configuration files are at least a couple of
/// seconds old, in case an editor is still writing them; ours are complete, so they are dated
/// a minute back and `up` does not wait two seconds for nothing.
fn backdate(path: &Path) -> Result<(), LabError> {
    let a_minute_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(a_minute_ago))
        .map_err(|source| LabError::Io {
            context: format!("cannot set the modification time of {}", path.display()),
            source,
        })
}

/// The command line: Postfix's `master` in the foreground with this instance's configuration.
pub(crate) fn argv(master: &Path, dir: &PostfixDir) -> Vec<std::ffi::OsString> {
    vec![master.into(), "-c".into(), dir.config().into(), "-d".into()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_cf_binds_each_service_on_both_addresses() {
        let tls = TlsDir {
            dir: PathBuf::from("/s/tls"),
        };
        let m = master_cf(&tls);
        for s in SMTPD {
            for address in s.service.addresses() {
                let line = m
                    .lines()
                    .find(|l| l.starts_with(&format!("{address} ")))
                    .unwrap_or_else(|| panic!("{address} in master.cf"));
                assert!(line.contains(&format!("-o myhostname={}", s.hostname)));
                assert!(line.contains(&format!(
                    "smtpd_tls_chain_files=/s/tls/{0}.key,/s/tls/{0}.pem",
                    s.cert.id()
                )));
                for option in s.options {
                    assert!(line.contains(option), "{option} in {line}");
                    assert!(!option.contains(char::is_whitespace));
                }
            }
        }
        assert!(m.contains("[fd00:6d74::20]:465"));
        assert!(m.contains("postlog               unix-dgram"));
    }

    #[test]
    fn the_special_services_are_what_they_claim() {
        let by_name = |n: &str| {
            SMTPD
                .iter()
                .find(|s| s.service.name == n)
                .unwrap_or_else(|| panic!("{n}"))
        };
        assert!(
            by_name("smtp-tls10")
                .options
                .contains(&"smtpd_tls_protocols=TLSv1")
        );
        assert!(
            by_name("smtp-null-ciphers")
                .options
                .iter()
                .any(|o| o.contains("eNULL"))
        );
        assert!(
            by_name("smtp-no-starttls")
                .options
                .contains(&"smtpd_tls_security_level=none")
        );
        assert!(
            by_name("submission-good")
                .options
                .contains(&"smtpd_tls_auth_only=yes")
        );
        assert!(
            by_name("submission-auth-before-tls")
                .options
                .contains(&"smtpd_tls_auth_only=no")
        );
        assert!(matches!(
            by_name("submissions-good").service.expect,
            Expect::Tls { .. }
        ));
    }

    #[test]
    fn main_cf_refuses_all_mail_and_keeps_paths_in_state() {
        let tls = TlsDir {
            dir: PathBuf::from("/s/tls"),
        };
        let c = main_cf(&PostfixDir::new(Path::new("/s")), &tls);
        assert!(c.contains("smtpd_relay_restrictions = reject\n"));
        assert!(c.contains("smtpd_recipient_restrictions = reject\n"));
        assert!(c.contains("queue_directory = /s/postfix/queue\n"));
        assert!(c.contains("data_directory = /s/postfix/data\n"));
        assert!(c.contains("smtpd_sasl_path = private/auth\n"));
        assert!(c.contains("smtpd_tls_exclude_ciphers = aNULL, eNULL,"));
    }
}
