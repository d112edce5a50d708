//! nginx: the MTA-STS policy hosts (`https://mta-sts.<zone>/.well-known/mta-sts.txt`, RFC 8461
//! §3.2) and the TLS-RPT https destination (RFC 8460 §3) on 127.0.0.40 / fd00:6d74::40 port 443,
//! one `server` per host name (SNI), all with the `good` certificate.
//!
//! The policies are data in `lab/mta-sts/` (compiled in), except the 10 MiB one, which `up`
//! generates. nginx runs in the foreground (`daemon off`) with its PID file and temp paths under
//! `<state>/nginx/` and logs to stderr/stdout (the lab's log file).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, LabError};
use crate::pki::{Cert, TlsDir};
use crate::services::{Expect, Kind, Service};
use crate::topology;

/// The process name (PID record, log file).
pub(crate) const PROCESS: &str = "nginx";

/// Where `mta-sts.stsredirect.test` sends its policy request.
const REDIRECT_TARGET: &str = "https://mta-sts.tlsgood.test/.well-known/mta-sts.txt";

/// The size of the generated policy of `stsbig.test`.
const BIG_POLICY_BYTES: usize = 10 * 1024 * 1024;

pub(crate) const SERVICES: &[Service] = &[Service {
    name: "https-mta-sts",
    kind: Kind::Https,
    host: topology::HTTPS,
    port: 443,
    process: PROCESS,
    expect: Expect::Tls {
        server_name: "mta-sts.tlsgood.test",
        send: "GET /.well-known/mta-sts.txt HTTP/1.0\r\nHost: mta-sts.tlsgood.test\r\n\r\n",
        reply: "HTTP/1.1 200",
    },
    notes: "MTA-STS policies (https://mta-sts.<zone>/.well-known/mta-sts.txt) for tlsgood, stsuncovered, stsredirect (301), stsbig (10 MiB), ststesting; POST https://mta-sts.tlsgood.test/tlsrpt answers 200 (TLS-RPT)",
}];

/// What `https://mta-sts.<zone>/.well-known/mta-sts.txt` answers.
#[derive(Debug, Clone, Copy)]
enum Policy {
    /// This text (a file in `lab/mta-sts/`).
    Text(&'static str),
    /// A 301 to this URL.
    Redirect(&'static str),
    /// A policy of [`BIG_POLICY_BYTES`], made at `up`.
    Big,
}

/// The zones with an MTA-STS policy host; the first is nginx's default server.
const POLICY_HOSTS: &[(&str, Policy)] = &[
    (
        "tlsgood.test",
        Policy::Text(include_str!("../../../lab/mta-sts/tlsgood.test.txt")),
    ),
    (
        "stsuncovered.test",
        Policy::Text(include_str!("../../../lab/mta-sts/stsuncovered.test.txt")),
    ),
    ("stsredirect.test", Policy::Redirect(REDIRECT_TARGET)),
    ("stsbig.test", Policy::Big),
    (
        "ststesting.test",
        Policy::Text(include_str!("../../../lab/mta-sts/ststesting.test.txt")),
    ),
];

/// The zone whose policy host also takes TLS-RPT reports at `/tlsrpt`.
const TLSRPT_ZONE: &str = "tlsgood.test";

/// Where the instance's files live: `<state>/nginx/`.
#[derive(Debug, Clone)]
pub(crate) struct NginxDir {
    pub root: PathBuf,
}

impl NginxDir {
    pub(crate) fn new(state: &Path) -> NginxDir {
        NginxDir {
            root: state.join("nginx"),
        }
    }
    pub(crate) fn config(&self) -> PathBuf {
        self.root.join("nginx.conf")
    }
    /// The document root of `mta-sts.<zone>`.
    fn www(&self, zone: &str) -> PathBuf {
        self.root.join("www").join(format!("mta-sts.{zone}"))
    }
    fn policy(&self, zone: &str) -> PathBuf {
        self.www(zone).join(".well-known").join("mta-sts.txt")
    }
}

/// nginx.conf.
pub(crate) fn config(dir: &NginxDir, tls: &TlsDir) -> String {
    let tmp = dir.root.join("tmp");
    let mut c = format!(
        "# Built by the mailtrust lab.\n\
         user nobody nogroup;\n\
         worker_processes 1;\n\
         pid {pid};\n\
         error_log stderr notice;\n\
         events {{\n    worker_connections 256;\n}}\n\
         http {{\n\
         \x20   access_log /dev/stdout;\n\
         \x20   server_tokens off;\n\
         \x20   client_body_temp_path {tmp}/body;\n\
         \x20   proxy_temp_path {tmp}/proxy;\n\
         \x20   fastcgi_temp_path {tmp}/fastcgi;\n\
         \x20   uwsgi_temp_path {tmp}/uwsgi;\n\
         \x20   scgi_temp_path {tmp}/scgi;\n\
         \x20   types {{\n        text/plain txt;\n    }}\n\
         \x20   default_type application/octet-stream;\n\
         \x20   ssl_protocols TLSv1.2 TLSv1.3;\n\
         \x20   ssl_certificate {chain};\n\
         \x20   ssl_certificate_key {key};\n",
        pid = dir.root.join("nginx.pid").display(),
        tmp = tmp.display(),
        chain = tls.chain(Cert::Good).display(),
        key = tls.key(Cert::Good).display(),
    );
    for (index, (zone, policy)) in POLICY_HOSTS.iter().enumerate() {
        let default = if index == 0 { " default_server" } else { "" };
        let _ = writeln!(
            c,
            "    server {{\n\
             \x20       listen {}:443 ssl{default};\n\
             \x20       listen [{}]:443 ssl{default};\n\
             \x20       server_name mta-sts.{zone};\n\
             \x20       root {};",
            topology::HTTPS.v4,
            topology::HTTPS.v6,
            dir.www(zone).display(),
        );
        match policy {
            Policy::Redirect(url) => {
                let _ = writeln!(
                    c,
                    "        location = /.well-known/mta-sts.txt {{\n            return 301 {url};\n        }}"
                );
            }
            Policy::Text(_) | Policy::Big => {
                c.push_str("        location = /.well-known/mta-sts.txt {\n        }\n");
            }
        }
        if *zone == TLSRPT_ZONE {
            c.push_str(
                "        location = /tlsrpt {\n\
                 \x20           client_max_body_size 10m;\n\
                 \x20           if ($request_method != POST) {\n                return 405;\n            }\n\
                 \x20           return 200 \"report accepted\\n\";\n\
                 \x20       }\n",
            );
        }
        c.push_str("        location / {\n            return 404;\n        }\n    }\n");
    }
    c.push_str("}\n");
    c
}

/// Writes the configuration and the policy files (the big one generated).
pub(crate) fn prepare(dir: &NginxDir, tls: &TlsDir) -> Result<(), LabError> {
    std::fs::create_dir_all(dir.root.join("tmp"))
        .context(|| format!("cannot create {}", dir.root.display()))?;
    for (zone, policy) in POLICY_HOSTS {
        match policy {
            Policy::Text(text) => crate::lifecycle::write(&dir.policy(zone), text)?,
            Policy::Big => write_big_policy(&dir.policy(zone), zone)?,
            Policy::Redirect(_) => std::fs::create_dir_all(dir.www(zone))
                .context(|| format!("cannot create {}", dir.www(zone).display()))?,
        }
    }
    crate::lifecycle::write(&dir.config(), &config(dir, tls))
}

/// A syntactically valid policy of [`BIG_POLICY_BYTES`] or a little more: the real fields, then
/// `mx:` lines until the size is reached.
fn write_big_policy(path: &Path, zone: &str) -> Result<(), LabError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .context(|| format!("cannot create {}", parent.display()))?;
    }
    let file =
        std::fs::File::create(path).context(|| format!("cannot create {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let head = format!("version: STSv1\nmode: enforce\nmx: mail.{zone}\nmax_age: 86400\n");
    let mut written = head.len();
    let mut write = |text: &str| {
        out.write_all(text.as_bytes())
            .context(|| format!("cannot write {}", path.display()))
    };
    write(&head)?;
    let mut n = 0u64;
    while written < BIG_POLICY_BYTES {
        let line = format!("mx: padding-{n:08}.{zone}\n");
        written += line.len();
        write(&line)?;
        n += 1;
    }
    out.flush()
        .context(|| format!("cannot write {}", path.display()))
}

/// The command line: nginx in the foreground with this instance's configuration.
pub(crate) fn argv(nginx: &Path, dir: &NginxDir) -> Vec<std::ffi::OsString> {
    vec![
        nginx.into(),
        "-e".into(),
        "stderr".into(),
        "-c".into(),
        dir.config().into(),
        "-g".into(),
        "daemon off;".into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_server_per_policy_host_with_redirect_and_tlsrpt() {
        let s = Path::new("/s");
        let c = config(&NginxDir::new(s), &TlsDir::new(s));
        assert_eq!(c.matches("    server {").count(), POLICY_HOSTS.len());
        assert_eq!(
            c.matches("default_server;").count(),
            2,
            "v4 and v6 of the first"
        );
        assert!(c.contains("server_name mta-sts.stsredirect.test;"));
        assert!(c.contains(&format!("return 301 {REDIRECT_TARGET};")));
        assert!(c.contains("root /s/nginx/www/mta-sts.ststesting.test;"));
        assert_eq!(c.matches("location = /tlsrpt").count(), 1);
        assert!(c.contains("ssl_protocols TLSv1.2 TLSv1.3;"));
        assert!(c.contains("ssl_certificate /s/tls/good.pem;"));
    }

    #[test]
    fn policies_say_what_the_scenarios_need() {
        let text = |zone: &str| match POLICY_HOSTS.iter().find(|(z, _)| *z == zone) {
            Some((_, Policy::Text(t))) => *t,
            _ => panic!("{zone} has a policy file"),
        };
        assert!(
            text("tlsgood.test").contains("mode: enforce\nmx: mail.tlsgood.test\nmax_age: 604800")
        );
        assert!(text("stsuncovered.test").contains("mx: mx.elsewhere.test"));
        assert!(text("ststesting.test").contains("mode: testing"));
    }

    #[test]
    fn big_policy_is_big_and_starts_valid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big.txt");
        write_big_policy(&path, "stsbig.test").expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.len() >= BIG_POLICY_BYTES && text.len() < BIG_POLICY_BYTES + 100);
        assert!(text.starts_with("version: STSv1\nmode: enforce\nmx: mail.stsbig.test\n"));
    }
}
