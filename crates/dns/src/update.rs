//! RFC 2136 dynamic updates signed with TSIG (RFC 8945), sent over TCP to a zone's primary:
//! the standard way to publish a DKIM key (or a TLSA record) without a provider's console.
//!
//! hickory builds and signs the messages; this module adds what an administrator needs around
//! them: a key in the `nsupdate -y` form, a bound on the wait, a verified answer (an unsigned or
//! forged "NOERROR" is not success), and errors that say what the server meant.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use data_encoding::BASE64;
use hickory_proto::op::update_message::UpdateMessage;
use hickory_proto::op::{Edns, Message, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, TSigner};

/// A TSIG key: name, algorithm and shared secret.
#[derive(Clone)]
pub struct TsigKey {
    name: Name,
    algorithm: TsigAlgorithm,
    secret: Vec<u8>,
}

impl std::fmt::Debug for TsigKey {
    // Never print the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name.to_ascii())
            .field("algorithm", &self.algorithm.to_string())
            .finish_non_exhaustive()
    }
}

impl TsigKey {
    /// `[ALGORITHM:]NAME:BASE64SECRET`, as `nsupdate -y` and `knsupdate -y` take it; the
    /// algorithm defaults to hmac-sha256 (RFC 8945 §6: the one every implementation has).
    pub fn parse(spec: &str) -> Result<Self, UpdateError> {
        let parts: Vec<&str> = spec.trim().split(':').collect();
        let (alg, name, secret) = match parts.as_slice() {
            [name, secret] => ("hmac-sha256", *name, *secret),
            [alg, name, secret] => (*alg, *name, *secret),
            _ => {
                return Err(UpdateError::BadKey(
                    "expected [ALGORITHM:]NAME:BASE64SECRET".into(),
                ));
            }
        };
        let algorithm = match alg.to_ascii_lowercase().as_str() {
            "hmac-sha256" => TsigAlgorithm::HmacSha256,
            "hmac-sha384" => TsigAlgorithm::HmacSha384,
            "hmac-sha512" => TsigAlgorithm::HmacSha512,
            other => {
                return Err(UpdateError::BadKey(format!(
                    "algorithm {other} is not supported (use hmac-sha256, hmac-sha384 or hmac-sha512)"
                )));
            }
        };
        let name = Name::from_ascii(name)
            .map_err(|e| UpdateError::BadKey(format!("key name {name:?}: {e}")))?;
        let secret = BASE64
            .decode(secret.as_bytes())
            .map_err(|e| UpdateError::BadKey(format!("the secret is not base64: {e}")))?;
        if secret.is_empty() {
            return Err(UpdateError::BadKey("the secret is empty".into()));
        }
        Ok(Self {
            name,
            algorithm,
            secret,
        })
    }

    /// Reads the key from a file only we can read, so that the secret stays out of `ps`, shell
    /// history and the environment of child processes. Two formats:
    /// - one line `[ALGORITHM:]NAME:BASE64SECRET` (as `--tsig` takes it);
    /// - Knot's `keymgr -t NAME` output as it is (a `key:` list with `id`, `algorithm` and
    ///   `secret`).
    ///
    /// Lines starting with `#` are comments. The file must be a regular file (not a symlink),
    /// owned by the user running mailtrust, with no permission for group or others (0600 or
    /// 0400), and at most 4 KiB.
    pub fn from_file(path: &std::path::Path) -> Result<Self, UpdateError> {
        let text = read_secret_file(path)?;
        let bad = |why: &str| UpdateError::BadKey(format!("{}: {why}", path.display()));
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        if lines.first() == Some(&"key:") {
            let mut fields: Vec<(&str, &str)> = Vec::new();
            for l in &lines[1..] {
                let l = l.strip_prefix("- ").unwrap_or(l).trim();
                if let Some((k, v)) = l.split_once(':') {
                    fields.push((k.trim(), v.trim().trim_matches('"')));
                }
            }
            let one = |name: &str| -> Result<&str, UpdateError> {
                let mut it = fields.iter().filter(|(k, _)| *k == name);
                match (it.next(), it.next()) {
                    (Some((_, v)), None) => Ok(v),
                    (None, _) => Err(bad(&format!("no `{name}:` in the key list"))),
                    (Some(_), Some(_)) => Err(bad("more than one key; keep one key per file")),
                }
            };
            let spec = zeroize::Zeroizing::new(format!(
                "{}:{}:{}",
                one("algorithm")?,
                one("id")?,
                one("secret")?
            ));
            return Self::parse(&spec).map_err(|e| bad(&e.to_string()));
        }
        match lines.as_slice() {
            [line] => Self::parse(line).map_err(|e| bad(&e.to_string())),
            _ => Err(bad(
                "expected one line [ALGORITHM:]NAME:BASE64SECRET, or Knot's keymgr output",
            )),
        }
    }

    fn signer(&self) -> Result<TSigner, UpdateError> {
        TSigner::new(
            self.secret.clone(),
            self.algorithm.clone(),
            self.name.clone(),
            // RFC 8945 §10: 300 s of clock skew is the recommended fudge.
            300,
        )
        .map_err(|e| UpdateError::BadKey(e.to_string()))
    }
}

/// The contents of a file holding a secret: a regular file, not a symlink, owned by our
/// effective user, unreadable by group and others, at most 4 KiB.
fn read_secret_file(path: &std::path::Path) -> Result<zeroize::Zeroizing<String>, UpdateError> {
    use rustix::fs::{Mode, OFlags};
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let bad = |why: String| UpdateError::BadKey(format!("{}: {why}", path.display()));
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(|e| {
        if e == rustix::io::Errno::LOOP {
            bad("is a symlink; give the file itself".into())
        } else {
            bad(std::io::Error::from(e).to_string())
        }
    })?;
    let f = std::fs::File::from(fd);
    let md = f.metadata().map_err(|e| bad(e.to_string()))?;
    if !md.is_file() {
        return Err(bad("is not a regular file".into()));
    }
    let me = rustix::process::geteuid().as_raw();
    if md.uid() != me {
        return Err(bad(format!(
            "is owned by uid {}, not by the user running mailtrust (uid {me})",
            md.uid()
        )));
    }
    if md.mode() & 0o077 != 0 {
        return Err(bad(format!(
            "mode {:04o}: group or others may read it; make it 0600",
            md.mode() & 0o7777
        )));
    }
    if md.len() > 4096 {
        return Err(bad("is larger than 4 KiB: not a TSIG key file".into()));
    }
    let mut text = zeroize::Zeroizing::new(String::new());
    f.take(4097)
        .read_to_string(&mut text)
        .map_err(|e| bad(e.to_string()))?;
    Ok(text)
}

/// One change to a zone.
#[derive(Debug, Clone)]
pub enum Change {
    /// Replace the TXT RRset at `name` by one record of `text` (split into character-strings of
    /// at most 255 bytes, RFC 1035 §3.3.14).
    ReplaceTxt { name: Name, ttl: u32, text: String },
    /// Delete the RRset of `rtype` at `name` (a no-op when there is none).
    DeleteRrset { name: Name, rtype: RecordType },
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("invalid TSIG key: {0}")]
    BadKey(String),
    #[error("cannot build the update: {0}")]
    Build(String),
    #[error("cannot reach {server}: {message}")]
    Unreachable { server: SocketAddr, message: String },
    #[error("no answer from {server} within {secs} s")]
    Timeout { server: SocketAddr, secs: u64 },
    /// The server answered with an error code; `meaning` says what it usually means.
    /// `verified` is true only when the error answer carries a TSIG signature that verifies
    /// with our key: anyone on the path can forge an unsigned one, so only a signed refusal
    /// proves that the zone was not changed.
    #[error(
        "{server} refused the update: {rcode} ({meaning}){}",
        if *verified { "" } else { "; the answer is not signed with our key, so it does not prove that nothing changed" }
    )]
    Refused {
        server: SocketAddr,
        rcode: String,
        meaning: &'static str,
        verified: bool,
    },
    #[error(
        "the answer from {server} is not signed with our key ({message}); the update may or may not have happened"
    )]
    UnverifiedAnswer { server: SocketAddr, message: String },
    #[error("the answer from {server} is not a DNS message: {message}")]
    Garbage { server: SocketAddr, message: String },
}

impl UpdateError {
    /// True when the zone certainly was not changed: nothing was sent (an unusable key, an
    /// update that could not be built), or the server's refusal is signed with our key. An
    /// unsigned error answer, no answer, or an answer that does not verify proves nothing:
    /// the caller must treat the change as possibly made (and look at the zone later).
    pub fn certainly_not_applied(&self) -> bool {
        matches!(
            self,
            UpdateError::BadKey(_)
                | UpdateError::Build(_)
                | UpdateError::Refused { verified: true, .. }
        )
    }
}

/// What an update error code usually means for an administrator (RFC 2136 §2.2, RFC 8945 §5).
fn meaning(rcode: ResponseCode) -> &'static str {
    match rcode {
        ResponseCode::NotAuth => {
            "the server does not accept this TSIG key for the zone: check the key's name, algorithm and secret, and the server's ACL"
        }
        ResponseCode::Refused => "the server does not allow updates of this zone from here",
        ResponseCode::NotZone => "a name in the update is not inside the zone",
        ResponseCode::ServFail => "the server failed to apply it (see its log)",
        ResponseCode::FormErr => "the server could not parse the update",
        ResponseCode::NotImp => "the server does not implement dynamic updates",
        ResponseCode::YXDomain | ResponseCode::YXRRSet | ResponseCode::NXRRSet => {
            "a prerequisite did not hold"
        }
        ResponseCode::NXDomain => "the zone does not exist on this server",
        _ => "unexpected answer",
    }
}

/// The code as RFC 2136 and server logs name it (NOTAUTH, REFUSED, ...).
fn mnemonic(rcode: ResponseCode) -> String {
    match rcode {
        ResponseCode::NotAuth => "NOTAUTH".into(),
        ResponseCode::Refused => "REFUSED".into(),
        ResponseCode::NotZone => "NOTZONE".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::YXDomain => "YXDOMAIN".into(),
        ResponseCode::YXRRSet => "YXRRSET".into(),
        ResponseCode::NXRRSet => "NXRRSET".into(),
        other => other.to_str().to_string(),
    }
}

/// The TXT record data for `text`, cut into strings of at most 255 bytes (never inside a UTF-8
/// character: DKIM records are ASCII, but a stray character must not make invalid strings).
pub fn txt_strings(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for ch in text.chars() {
        if current.len() + ch.len_utf8() > 255 {
            out.push(std::mem::take(&mut current));
        }
        current.push(ch);
    }
    if !current.is_empty() || out.is_empty() {
        out.push(current);
    }
    out
}

fn message(zone: &Name, changes: &[Change]) -> Result<Message, UpdateError> {
    let mut zq = Query::new();
    zq.set_name(zone.clone())
        .set_query_class(DNSClass::IN)
        .set_query_type(RecordType::SOA);
    let mut m = Message::query();
    m.metadata.op_code = OpCode::Update;
    m.metadata.recursion_desired = false;
    m.add_zone(zq);
    for c in changes {
        let name = match c {
            Change::ReplaceTxt { name, .. } | Change::DeleteRrset { name, .. } => name,
        };
        if !zone.zone_of(name) {
            return Err(UpdateError::Build(format!(
                "{} is not inside the zone {}",
                name.to_ascii(),
                zone.to_ascii()
            )));
        }
        match c {
            Change::ReplaceTxt { name, ttl, text } => {
                // RFC 2136 §2.5.2 then §2.5.1: delete the RRset, then add the new record, in
                // one message, so the change is atomic on the server.
                let mut del =
                    Record::update0(name.clone(), 0, RecordType::TXT).into_record_of_rdata();
                del.dns_class = DNSClass::ANY;
                m.add_update(del);
                let add =
                    Record::from_rdata(name.clone(), *ttl, RData::TXT(TXT::new(txt_strings(text))));
                m.add_update(add);
            }
            Change::DeleteRrset { name, rtype } => {
                let mut del = Record::update0(name.clone(), 0, *rtype).into_record_of_rdata();
                del.dns_class = DNSClass::ANY;
                m.add_update(del);
            }
        }
    }
    m.edns
        .get_or_insert_with(Edns::new)
        .set_max_payload(1232)
        .set_version(0);
    Ok(m)
}

/// Sends `changes` to the zone's primary `server` (TCP, port usually 53), signed with `key`,
/// and waits at most `wait` for the answer. Success means a NOERROR answer whose TSIG
/// verifies (when a key was used).
pub async fn send_update(
    server: SocketAddr,
    zone: &Name,
    changes: &[Change],
    key: Option<&TsigKey>,
    wait: Duration,
) -> Result<(), UpdateError> {
    let mut m = message(zone, changes)?;
    let mut verifier = match key {
        Some(k) => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            m.finalize(&k.signer()?, now)
                .map_err(|e| UpdateError::Build(e.to_string()))?
        }
        None => None,
    };
    let bytes = m.to_vec().map_err(|e| UpdateError::Build(e.to_string()))?;
    if bytes.len() > usize::from(u16::MAX) {
        return Err(UpdateError::Build(
            "the update is larger than 64 KiB".into(),
        ));
    }
    let answer = match tokio::time::timeout(wait, crate::tcp::exchange(server, &bytes)).await {
        Err(_) => {
            return Err(UpdateError::Timeout {
                server,
                secs: wait.as_secs(),
            });
        }
        Ok(Err(e)) => {
            return Err(UpdateError::Unreachable {
                server,
                message: e.to_string(),
            });
        }
        Ok(Ok(a)) => a,
    };
    let parsed = Message::from_vec(&answer).map_err(|e| UpdateError::Garbage {
        server,
        message: e.to_string(),
    })?;
    if parsed.id != m.id {
        return Err(UpdateError::Garbage {
            server,
            message: format!("answer id {} does not match query id {}", parsed.id, m.id),
        });
    }
    let rcode = parsed.metadata.response_code;
    if rcode != ResponseCode::NoError {
        // An error answer to a bad key is unsigned by design (RFC 8945 §5.3.2), so the code is
        // reported either way; but only a signed one is proof that the zone was not changed
        // (a forged REFUSED could hide an update that was applied).
        let verified = verifier.as_mut().is_some_and(|v| v.verify(&answer).is_ok());
        return Err(UpdateError::Refused {
            server,
            rcode: mnemonic(rcode),
            meaning: meaning(rcode),
            verified,
        });
    }
    if let Some(v) = verifier.as_mut() {
        v.verify(&answer)
            .map_err(|e| UpdateError::UnverifiedAnswer {
                server,
                message: e.to_string(),
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_nsupdate_form() {
        let k = TsigKey::parse("hmac-sha256:update-key:c2VjcmV0c2VjcmV0").unwrap();
        assert_eq!(k.name.to_ascii(), "update-key");
        assert!(TsigKey::parse("update-key:c2VjcmV0").is_ok());
        assert!(TsigKey::parse("hmac-md5:k:c2VjcmV0").is_err());
        assert!(TsigKey::parse("k:not base64!").is_err());
        assert!(TsigKey::parse("k:").is_err());
        assert!(TsigKey::parse("justaname").is_err());
        // The secret never shows in debug output.
        assert!(!format!("{k:?}").contains("c2Vj"));
    }

    #[test]
    fn key_files_are_checked_and_read_in_both_formats() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str, mode: u32| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            p
        };
        let line = write(
            "line",
            "# the lab's key\nhmac-sha256:k1:c2VjcmV0c2VjcmV0\n",
            0o600,
        );
        assert_eq!(TsigKey::from_file(&line).unwrap().name.to_ascii(), "k1");
        let knot = write(
            "knot",
            "# hmac-sha384:k2:c2VjcmV0c2VjcmV0\nkey:\n  - id: k2\n    algorithm: hmac-sha384\n    secret: c2VjcmV0c2VjcmV0\n",
            0o400,
        );
        let k = TsigKey::from_file(&knot).unwrap();
        assert_eq!(k.name.to_ascii(), "k2");
        assert_eq!(k.algorithm, TsigAlgorithm::HmacSha384);
        let open = write("open", "k3:c2VjcmV0c2VjcmV0\n", 0o640);
        let e = TsigKey::from_file(&open).unwrap_err().to_string();
        assert!(e.contains("0600"), "{e}");
        std::os::unix::fs::symlink(&line, dir.path().join("link")).unwrap();
        let e = TsigKey::from_file(&dir.path().join("link"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("symlink"), "{e}");
        let big = write("big", &"a".repeat(5000), 0o600);
        assert!(TsigKey::from_file(&big).is_err());
        let two = write("two", "k4:c2VjcmV0\nk5:c2VjcmV0\n", 0o600);
        assert!(TsigKey::from_file(&two).is_err());
        // The secret never shows in an error.
        let e = TsigKey::from_file(&open).unwrap_err().to_string();
        assert!(!e.contains("c2Vj"), "{e}");
    }

    #[test]
    fn txt_is_split_at_255_bytes() {
        let long = "a".repeat(600);
        let parts = txt_strings(&long);
        assert_eq!(
            parts.iter().map(String::len).collect::<Vec<_>>(),
            [255, 255, 90]
        );
        assert_eq!(parts.concat(), long);
        assert_eq!(txt_strings(""), [""]);
        // Never inside a character.
        let s = format!("{}é", "a".repeat(254));
        assert_eq!(txt_strings(&s), ["a".repeat(254), "é".to_string()]);
    }

    #[test]
    fn names_outside_the_zone_are_refused() {
        let zone = Name::from_ascii("example.org.").unwrap();
        let c = Change::ReplaceTxt {
            name: Name::from_ascii("x.example.net.").unwrap(),
            ttl: 300,
            text: "v=DKIM1".into(),
        };
        assert!(matches!(message(&zone, &[c]), Err(UpdateError::Build(_))));
    }

    /// A server (or anyone on the path) that answers every update with an unsigned REFUSED.
    async fn unsigned_refusal(rcode: u8) -> UpdateError {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let serve = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut len = [0u8; 2];
            s.read_exact(&mut len).await.unwrap();
            let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
            s.read_exact(&mut q).await.unwrap();
            // Header only: the query's id, QR + opcode UPDATE (5), the error code, no records.
            let a = [q[0], q[1], 0x80 | (5 << 3), rcode, 0, 0, 0, 0, 0, 0, 0, 0];
            s.write_all(&[0, a.len() as u8]).await.unwrap();
            s.write_all(&a).await.unwrap();
        });
        let zone = Name::from_ascii("example.org.").unwrap();
        let change = Change::ReplaceTxt {
            name: Name::from_ascii("s._domainkey.example.org.").unwrap(),
            ttl: 300,
            text: "v=DKIM1; p=".into(),
        };
        let key = TsigKey::parse("hmac-sha256:update-key:c2VjcmV0c2VjcmV0").unwrap();
        let e = send_update(addr, &zone, &[change], Some(&key), Duration::from_secs(5))
            .await
            .unwrap_err();
        serve.await.unwrap();
        e
    }

    #[tokio::test]
    async fn an_unsigned_error_answer_proves_nothing() {
        for (rcode, name) in [(5, "REFUSED"), (2, "SERVFAIL"), (9, "NOTAUTH")] {
            let e = unsigned_refusal(rcode).await;
            assert!(
                matches!(&e, UpdateError::Refused { rcode, verified: false, .. } if rcode == name),
                "{e:?}"
            );
            assert!(!e.certainly_not_applied(), "{name}: {e}");
            assert!(e.to_string().contains("not signed"), "{e}");
        }
        assert!(UpdateError::BadKey("x".into()).certainly_not_applied());
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                held.push(s);
            }
        });
        let zone = Name::from_ascii("example.org.").unwrap();
        let e = send_update(addr, &zone, &[], None, Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(matches!(e, UpdateError::Timeout { .. }), "{e}");
        hold.abort();
    }
}
