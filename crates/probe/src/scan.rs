//! Hand-built ClientHellos that ask a server whether it still accepts old protocol versions
//! or weak cipher suites, reading only the ServerHello.
//!
//! rustls cannot offer SSLv3, TLS 1.0/1.1, RC4, 3DES, EXPORT or NULL suites, and Debian 12's
//! OpenSSL 3 has dropped most of them, yet SP 800-52r2 (versions) and BOD 18-01 (suites) ask
//! whether a server *accepts* them. So, like testssl.sh, we write the ClientHello bytes
//! ourselves and stop at the server's first answer: a ServerHello (accepted), an alert or a
//! closed connection (refused). No key exchange happens; nothing after the ServerHello is read.
//!
//! Wire formats: RFC 6101 (SSLv3), RFC 2246/4346/5246 (TLS 1.0–1.2), RFC 8446 §4.1.3
//! (supported_versions in a TLS 1.3 ServerHello), RFC 6066 (SNI), RFC 8422 (ECC extensions),
//! RFC 5746 (renegotiation SCSV), RFC 7685 (padding).

use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::tls::TlsVersion;

/// The highest version a hand-built ClientHello offers (TLS 1.3 is probed by rustls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelloVersion {
    Ssl3,
    Tls10,
    Tls11,
    Tls12,
}

impl HelloVersion {
    pub fn tls_version(self) -> TlsVersion {
        match self {
            Self::Ssl3 => TlsVersion::Ssl3,
            Self::Tls10 => TlsVersion::Tls10,
            Self::Tls11 => TlsVersion::Tls11,
            Self::Tls12 => TlsVersion::Tls12,
        }
    }
}

/// Which suites a ClientHello offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuiteSet {
    /// Suites any server of that version would accept (ECDHE, DHE and RSA key exchange with
    /// AES-CBC/GCM; for SSLv3–TLS 1.1 also Camellia, then 3DES and RC4 last), so a refusal
    /// really means the version is switched off. An acceptance of a weak suite here is
    /// reported with its weakness.
    Common,
    /// Only RC4, 3DES, DES, NULL and EXPORT suites (anonymous ones excluded): any acceptance
    /// is a finding.
    Weak,
    /// Only anonymous (aNULL) suites. Offered apart from [`SuiteSet::Weak`] because Postfix
    /// accepts them by default for opportunistic TLS and a server prefers them over NULL or
    /// RC4: offered together, they would hide a worse weakness.
    Anonymous,
}

/// The server's answer to one hand-built ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum HelloOutcome {
    /// A ServerHello: the version and suite the server chose (possibly lower than offered).
    Accepted {
        version: TlsVersion,
        suite: u16,
        suite_name: String,
        weakness: Option<Weakness>,
    },
    /// An alert (its description, e.g. "handshake_failure"), or the connection closed or
    /// reset without one (`None`).
    Refused { alert: Option<String> },
}

/// Why a cipher suite is weak (BOD 18-01; SP 800-52r2 §3.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Weakness {
    Rc4,
    TripleDes,
    Des,
    Null,
    Export,
    Anonymous,
}

impl std::fmt::Display for Weakness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Weakness::Rc4 => "RC4 (RFC 7465 prohibits it)",
            Weakness::TripleDes => "3DES (64-bit blocks, Sweet32)",
            Weakness::Des => "single DES (56-bit key)",
            Weakness::Null => "NULL encryption (no confidentiality)",
            Weakness::Export => "EXPORT grade (40/56-bit keys)",
            Weakness::Anonymous => "anonymous key exchange (no server authentication)",
        })
    }
}

/// Why a scan could not tell accepted from refused.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("the server did not answer the ClientHello in time")]
    Timeout,
    #[error("network error while probing with a ClientHello: {0}")]
    Io(#[source] std::io::Error),
    #[error("the server's answer to the ClientHello is not TLS: {0}")]
    Protocol(String),
}

/// IANA name of a cipher suite (the TLS_… form). A few pre-standard suites that old OpenSSL
/// servers still offer (the EXPORT1024 drafts, 0x0060–0x0066) carry their draft names.
pub fn suite_name(id: u16) -> Option<&'static str> {
    SUITES
        .binary_search_by_key(&id, |&(i, _)| i)
        .ok()
        .map(|i| SUITES[i].1)
}

/// The weakness of a suite, derived from its name; `None` for suites that are not weak (or
/// unknown to us).
pub fn weakness(id: u16) -> Option<Weakness> {
    suite_name(id).and_then(weakness_of_name)
}

fn weakness_of_name(name: &str) -> Option<Weakness> {
    // Most severe first: a suite has one weakness in the report.
    if name.contains("_WITH_NULL_") {
        Some(Weakness::Null)
    } else if name.contains("EXPORT") {
        Some(Weakness::Export)
    } else if name.contains("_anon_") {
        Some(Weakness::Anonymous)
    } else if name.contains("_WITH_DES_") {
        Some(Weakness::Des)
    } else if name.contains("_RC4_") {
        Some(Weakness::Rc4)
    } else if name.contains("_3DES_") {
        Some(Weakness::TripleDes)
    } else {
        None
    }
}

/// Alert description names (RFC 8446 §6, RFC 5246 §7.2 and the IANA registry).
pub fn alert_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => return None,
    })
}

/// The suites a ClientHello of `version` offers for `set` (the renegotiation SCSV is added
/// on the wire, not listed here).
pub fn offered_suites(version: HelloVersion, set: SuiteSet) -> Vec<u16> {
    match (set, version) {
        (SuiteSet::Common, HelloVersion::Tls12) => COMMON_TLS12.to_vec(),
        (SuiteSet::Common, _) => COMMON_LEGACY.to_vec(),
        (SuiteSet::Weak, _) => SUITES
            .iter()
            .filter(|&&(id, name)| {
                id != 0x0000 && weakness_of_name(name).is_some() && !name.contains("_anon_")
            })
            .map(|&(id, _)| id)
            .collect(),
        (SuiteSet::Anonymous, _) => SUITES
            .iter()
            .filter(|&&(_, name)| name.contains("_anon_"))
            .map(|&(id, _)| id)
            .collect(),
    }
}

/// Largest reply we read while looking for the ServerHello (a ServerHello is < 200 bytes
/// plus extensions; warning alerts may precede it).
const MAX_READ: usize = 16 * 1024;
/// RFC 5246 §6.2.1: a plaintext record carries at most 2^14 bytes.
const MAX_RECORD: usize = 16 * 1024;

const CONTENT_ALERT: u8 = 21;
const CONTENT_HANDSHAKE: u8 = 22;
const HANDSHAKE_SERVER_HELLO: u8 = 2;
const RENEGOTIATION_SCSV: u16 = 0x00ff;

/// Send one hand-built ClientHello on `stream` and read the server's first answer.
///
/// `stream` is a fresh TCP connection or one right after STARTTLS; it is useless afterwards
/// (the handshake is abandoned after the ServerHello). The whole exchange is bounded by
/// `timeout` and by 16 KB read.
pub async fn offer<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    server_name: &str,
    version: HelloVersion,
    suites: SuiteSet,
    timeout: Duration,
) -> Result<HelloOutcome, ScanError> {
    let offered = offered_suites(version, suites);
    let hello = client_hello(server_name, version, &offered);
    match tokio::time::timeout(timeout, exchange(stream, &hello, version, &offered)).await {
        Ok(result) => result,
        Err(_) => Err(ScanError::Timeout),
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    hello: &[u8],
    version: HelloVersion,
    offered: &[u16],
) -> Result<HelloOutcome, ScanError> {
    if let Err(e) = async {
        stream.write_all(hello).await?;
        stream.flush().await
    }
    .await
    {
        return if is_disconnect(&e) {
            Ok(HelloOutcome::Refused { alert: None })
        } else {
            Err(ScanError::Io(e))
        };
    }
    let mut reader = ReplyReader::default();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(outcome) = reader.process(version, offered)? {
            return Ok(outcome);
        }
        let room = MAX_READ.saturating_sub(reader.total_read);
        if room == 0 {
            return Err(ScanError::Protocol(format!(
                "no ServerHello in the first {MAX_READ} bytes of the reply"
            )));
        }
        let want = room.min(chunk.len());
        match stream.read(&mut chunk[..want]).await {
            Ok(0) => return reader.at_eof(),
            Ok(n) => {
                reader.total_read += n;
                reader.pending.extend_from_slice(&chunk[..n]);
            }
            Err(e) if is_disconnect(&e) => return reader.at_eof(),
            Err(e) => return Err(ScanError::Io(e)),
        }
    }
}

fn is_disconnect(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof
    )
}

/// Reassembles records and handshake messages until the ServerHello is complete.
#[derive(Default)]
struct ReplyReader {
    /// Bytes received but not yet consumed as whole records.
    pending: Vec<u8>,
    /// Handshake-record payloads, concatenated (a ServerHello may span records).
    handshake: Vec<u8>,
    total_read: usize,
    /// The last warning alert seen (servers may warn, e.g. unrecognized_name, and go on).
    last_warning: Option<String>,
}

impl ReplyReader {
    /// Consume the complete records in `pending`; an outcome once one is known.
    fn process(
        &mut self,
        version: HelloVersion,
        offered: &[u16],
    ) -> Result<Option<HelloOutcome>, ScanError> {
        loop {
            if let Some(&first) = self.pending.first() {
                check_record_start(first, &self.pending)?;
            }
            if self.pending.len() < 5 {
                return Ok(None);
            }
            let content_type = self.pending[0];
            let len = usize::from(u16::from_be_bytes([self.pending[3], self.pending[4]]));
            if len > MAX_RECORD + 2048 {
                return Err(ScanError::Protocol(format!(
                    "record of {len} bytes exceeds the TLS maximum"
                )));
            }
            if self.pending.len() < 5 + len {
                return Ok(None);
            }
            let payload: Vec<u8> = self.pending[5..5 + len].to_vec();
            self.pending.drain(..5 + len);
            match content_type {
                CONTENT_ALERT => {
                    if payload.len() < 2 {
                        return Err(ScanError::Protocol("truncated alert record".into()));
                    }
                    let (level, code) = (payload[0], payload[1]);
                    let name = alert_name(code)
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("alert {code}"));
                    // A warning (level 1) other than close_notify does not end the handshake.
                    if level == 1 && code != 0 {
                        self.last_warning = Some(name);
                        continue;
                    }
                    return Ok(Some(HelloOutcome::Refused { alert: Some(name) }));
                }
                CONTENT_HANDSHAKE => {
                    self.handshake.extend_from_slice(&payload);
                    if let Some(outcome) = self.server_hello(version, offered)? {
                        return Ok(Some(outcome));
                    }
                }
                other => {
                    return Err(ScanError::Protocol(format!(
                        "record of content type {other} before the ServerHello"
                    )));
                }
            }
        }
    }

    /// The outcome once the first handshake message is complete.
    fn server_hello(
        &self,
        version: HelloVersion,
        offered: &[u16],
    ) -> Result<Option<HelloOutcome>, ScanError> {
        let hs = &self.handshake;
        if hs.len() < 4 {
            return Ok(None);
        }
        if hs[0] != HANDSHAKE_SERVER_HELLO {
            return Err(ScanError::Protocol(format!(
                "expected a ServerHello, got handshake message type {}",
                hs[0]
            )));
        }
        let len = (usize::from(hs[1]) << 16) | (usize::from(hs[2]) << 8) | usize::from(hs[3]);
        if len > MAX_READ {
            return Err(ScanError::Protocol(format!(
                "ServerHello of {len} bytes is implausibly large"
            )));
        }
        if hs.len() < 4 + len {
            return Ok(None);
        }
        let (wire_version, suite) = parse_server_hello(&hs[4..4 + len])?;
        let chosen = TlsVersion::from_wire(wire_version).ok_or_else(|| {
            ScanError::Protocol(format!(
                "ServerHello with unknown version 0x{wire_version:04x}"
            ))
        })?;
        if chosen > version.tls_version() {
            return Err(ScanError::Protocol(format!(
                "the server chose {chosen} though at most {} was offered",
                version.tls_version()
            )));
        }
        if !offered.contains(&suite) {
            return Err(ScanError::Protocol(format!(
                "the server chose cipher suite 0x{suite:04X}, which was not offered"
            )));
        }
        Ok(Some(HelloOutcome::Accepted {
            version: chosen,
            suite,
            suite_name: suite_name(suite)
                .map(str::to_string)
                .unwrap_or_else(|| format!("0x{suite:04X}")),
            weakness: weakness(suite),
        }))
    }

    fn at_eof(&self) -> Result<HelloOutcome, ScanError> {
        if !self.pending.is_empty() || !self.handshake.is_empty() {
            return Err(ScanError::Protocol(
                "the connection closed in the middle of the server's reply".into(),
            ));
        }
        Ok(HelloOutcome::Refused {
            alert: self.last_warning.clone(),
        })
    }
}

/// Reject what is not a TLS record as early as possible, so the error names what came back.
fn check_record_start(first: u8, pending: &[u8]) -> Result<(), ScanError> {
    if first & 0x80 != 0 {
        return Err(ScanError::Protocol(
            "the server answered in SSLv2 format (SSLv2 is obsolete, RFC 6176)".into(),
        ));
    }
    if !(20..=24).contains(&first) {
        let shown: String = pending
            .iter()
            .take(40)
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    char::from(b)
                } else {
                    '.'
                }
            })
            .collect();
        return Err(ScanError::Protocol(format!(
            "not a TLS record: \"{shown}\""
        )));
    }
    if let Some(&major) = pending.get(1)
        && major != 3
    {
        return Err(ScanError::Protocol(format!(
            "record with version major {major} (expected 3)"
        )));
    }
    Ok(())
}

/// (version, cipher suite) from a ServerHello body, honouring supported_versions (RFC 8446
/// §4.2.1) when present.
fn parse_server_hello(body: &[u8]) -> Result<(u16, u16), ScanError> {
    let short = || ScanError::Protocol("truncated ServerHello".into());
    let mut version = u16::from_be_bytes([
        *body.first().ok_or_else(short)?,
        *body.get(1).ok_or_else(short)?,
    ]);
    let sid_len = usize::from(*body.get(34).ok_or_else(short)?);
    let at = 35 + sid_len;
    let suite_bytes = body.get(at..at + 2).ok_or_else(short)?;
    let suite = u16::from_be_bytes([suite_bytes[0], suite_bytes[1]]);
    // compression method at at + 2, then optional extensions
    let rest = body.get(at + 3..).ok_or_else(short)?;
    if rest.len() >= 2 {
        let ext_len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let mut exts = rest.get(2..2 + ext_len).ok_or_else(short)?;
        while exts.len() >= 4 {
            let ext_type = u16::from_be_bytes([exts[0], exts[1]]);
            let len = usize::from(u16::from_be_bytes([exts[2], exts[3]]));
            let data = exts.get(4..4 + len).ok_or_else(short)?;
            if ext_type == 43 && data.len() == 2 {
                version = u16::from_be_bytes([data[0], data[1]]);
            }
            exts = &exts[4 + len..];
        }
    }
    Ok((version, suite))
}

/// The ClientHello record for `version` offering `suites` (plus the renegotiation SCSV).
///
/// SSLv3 hellos carry no extensions (RFC 6101 has none; some SSLv3 stacks choke on them).
/// TLS hellos carry SNI (DNS names only), supported_groups (x25519, P-256, P-384, P-521),
/// ec_point_formats, signature_algorithms (TLS 1.2 only, RFC 5246 §7.4.1.4.1), and padding
/// so the message is never 256–511 bytes long (RFC 7685: some load balancers hang on that).
pub fn client_hello(server_name: &str, version: HelloVersion, suites: &[u16]) -> Vec<u8> {
    let client_version = version.tls_version().to_wire();
    let mut random = [0u8; 32];
    // A probe needs no secret randomness; on the (theoretical) failure zeros are fine.
    let _ = aws_lc_rs::rand::fill(&mut random);

    let mut body = Vec::with_capacity(512);
    body.extend_from_slice(&client_version.to_be_bytes());
    body.extend_from_slice(&random);
    body.push(0); // empty session id
    let suite_bytes = (suites.len() + 1) * 2;
    push_u16(&mut body, suite_bytes);
    for &s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&RENEGOTIATION_SCSV.to_be_bytes());
    body.extend_from_slice(&[1, 0]); // compression: null only

    if version != HelloVersion::Ssl3 {
        let mut exts = Vec::new();
        if let Some(host) = sni_host(server_name) {
            let mut list = vec![0u8]; // host_name
            push_u16(&mut list, host.len());
            list.extend_from_slice(host.as_bytes());
            let mut data = Vec::new();
            push_u16(&mut data, list.len());
            data.extend_from_slice(&list);
            push_extension(&mut exts, 0, &data);
        }
        push_extension(
            &mut exts,
            10,
            &[0, 8, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18, 0x00, 0x19],
        );
        push_extension(&mut exts, 11, &[1, 0]);
        if version == HelloVersion::Tls12 {
            let mut data = Vec::new();
            push_u16(&mut data, SIGNATURE_SCHEMES.len() * 2);
            for s in SIGNATURE_SCHEMES {
                data.extend_from_slice(&s.to_be_bytes());
            }
            push_extension(&mut exts, 13, &data);
        }
        // handshake header (4) + body + extensions length (2) + extensions
        let unpadded = 4 + body.len() + 2 + exts.len();
        if (256..512).contains(&unpadded) {
            let pad = (512 - unpadded).saturating_sub(4);
            push_extension(&mut exts, 21, &vec![0u8; pad]);
        }
        push_u16(&mut body, exts.len());
        body.extend_from_slice(&exts);
    }

    let mut handshake = vec![1u8]; // client_hello
    let len = body.len();
    handshake.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8]);
    handshake.extend_from_slice(&body);

    // Record layer version: 0x0300 for SSLv3, else 0x0301, which every TLS server accepts
    // (RFC 5246 Appendix E.1).
    let record_version: u16 = if version == HelloVersion::Ssl3 {
        0x0300
    } else {
        0x0301
    };
    let mut record = vec![CONTENT_HANDSHAKE];
    record.extend_from_slice(&record_version.to_be_bytes());
    push_u16(&mut record, handshake.len());
    record.extend_from_slice(&handshake);
    record
}

/// A DNS name for SNI, or `None` for IP addresses and names RFC 6066 §3 does not allow.
fn sni_host(name: &str) -> Option<String> {
    let host = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.len() > 253 || bare.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let ok = host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    ok.then_some(host)
}

fn push_u16(out: &mut Vec<u8>, n: usize) {
    // Every length we write is far below 2^16; clamp rather than wrap if that ever changes.
    let n = u16::try_from(n).unwrap_or(u16::MAX);
    out.extend_from_slice(&n.to_be_bytes());
}

fn push_extension(out: &mut Vec<u8>, ext_type: u16, data: &[u8]) {
    out.extend_from_slice(&ext_type.to_be_bytes());
    push_u16(out, data.len());
    out.extend_from_slice(data);
}

/// TLS 1.2 signature_algorithms: current schemes first, SHA-1 ones last for old servers.
const SIGNATURE_SCHEMES: &[u16] = &[
    0x0403, 0x0503, 0x0603, // ecdsa_secp256r1_sha256, secp384r1_sha384, secp521r1_sha512
    0x0804, 0x0805, 0x0806, // rsa_pss_rsae_sha256/384/512
    0x0807, 0x0808, // ed25519, ed448
    0x0401, 0x0501, 0x0601, // rsa_pkcs1_sha256/384/512
    0x0402, // dsa_sha256
    0x0201, 0x0203, 0x0202, // rsa_pkcs1_sha1, ecdsa_sha1, dsa_sha1
];

/// What a TLS 1.2 server normally accepts: AEAD and CBC suites with ECDHE, DHE and RSA key
/// exchange, for ECDSA and RSA certificates.
const COMMON_TLS12: &[u16] = &[
    0xc02c, 0xc030, 0xc02b, 0xc02f, 0xcca9, 0xcca8, 0xc0ad, 0xc0ac, 0x009f, 0x009e, 0xccaa, 0xc024,
    0xc028, 0xc023, 0xc027, 0xc00a, 0xc014, 0xc009, 0xc013, 0x006b, 0x0067, 0x0039, 0x0033, 0x009d,
    0x009c, 0x003d, 0x003c, 0x0035, 0x002f,
];

/// What an SSLv3/TLS 1.0/1.1 server accepts: no AEAD or SHA-256 suites exist there, so the
/// CBC-SHA suites with every key exchange, then Camellia, then 3DES and RC4 (some old
/// stacks, e.g. Windows 2003 SSLv3, have nothing else).
const COMMON_LEGACY: &[u16] = &[
    0xc00a, 0xc014, 0xc009, 0xc013, 0x0039, 0x0038, 0x0033, 0x0032, 0x0035, 0x002f, 0x0088, 0x0087,
    0x0045, 0x0044, 0x0084, 0x0041, 0xc008, 0xc012, 0x0016, 0x0013, 0x000a, 0xc007, 0xc011, 0x0005,
    0x0004,
];

/// Cipher suites by id (IANA TLS Cipher Suites registry), sorted: `suite_name` searches it,
/// and the Weak set is every suite here whose name marks it weak.
const SUITES: &[(u16, &str)] = &[
    (0x0000, "TLS_NULL_WITH_NULL_NULL"),
    (0x0001, "TLS_RSA_WITH_NULL_MD5"),
    (0x0002, "TLS_RSA_WITH_NULL_SHA"),
    (0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5"),
    (0x0004, "TLS_RSA_WITH_RC4_128_MD5"),
    (0x0005, "TLS_RSA_WITH_RC4_128_SHA"),
    (0x0006, "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5"),
    (0x0007, "TLS_RSA_WITH_IDEA_CBC_SHA"),
    (0x0008, "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA"),
    (0x0009, "TLS_RSA_WITH_DES_CBC_SHA"),
    (0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x000b, "TLS_DH_DSS_EXPORT_WITH_DES40_CBC_SHA"),
    (0x000c, "TLS_DH_DSS_WITH_DES_CBC_SHA"),
    (0x000d, "TLS_DH_DSS_WITH_3DES_EDE_CBC_SHA"),
    (0x000e, "TLS_DH_RSA_EXPORT_WITH_DES40_CBC_SHA"),
    (0x000f, "TLS_DH_RSA_WITH_DES_CBC_SHA"),
    (0x0010, "TLS_DH_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x0011, "TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA"),
    (0x0012, "TLS_DHE_DSS_WITH_DES_CBC_SHA"),
    (0x0013, "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA"),
    (0x0014, "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA"),
    (0x0015, "TLS_DHE_RSA_WITH_DES_CBC_SHA"),
    (0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x0017, "TLS_DH_anon_EXPORT_WITH_RC4_40_MD5"),
    (0x0018, "TLS_DH_anon_WITH_RC4_128_MD5"),
    (0x0019, "TLS_DH_anon_EXPORT_WITH_DES40_CBC_SHA"),
    (0x001a, "TLS_DH_anon_WITH_DES_CBC_SHA"),
    (0x001b, "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA"),
    (0x001e, "TLS_KRB5_WITH_DES_CBC_SHA"),
    (0x001f, "TLS_KRB5_WITH_3DES_EDE_CBC_SHA"),
    (0x0020, "TLS_KRB5_WITH_RC4_128_SHA"),
    (0x0021, "TLS_KRB5_WITH_IDEA_CBC_SHA"),
    (0x0022, "TLS_KRB5_WITH_DES_CBC_MD5"),
    (0x0023, "TLS_KRB5_WITH_3DES_EDE_CBC_MD5"),
    (0x0024, "TLS_KRB5_WITH_RC4_128_MD5"),
    (0x0025, "TLS_KRB5_WITH_IDEA_CBC_MD5"),
    (0x0026, "TLS_KRB5_EXPORT_WITH_DES_CBC_40_SHA"),
    (0x0027, "TLS_KRB5_EXPORT_WITH_RC2_CBC_40_SHA"),
    (0x0028, "TLS_KRB5_EXPORT_WITH_RC4_40_SHA"),
    (0x0029, "TLS_KRB5_EXPORT_WITH_DES_CBC_40_MD5"),
    (0x002a, "TLS_KRB5_EXPORT_WITH_RC2_CBC_40_MD5"),
    (0x002b, "TLS_KRB5_EXPORT_WITH_RC4_40_MD5"),
    (0x002c, "TLS_PSK_WITH_NULL_SHA"),
    (0x002d, "TLS_DHE_PSK_WITH_NULL_SHA"),
    (0x002e, "TLS_RSA_PSK_WITH_NULL_SHA"),
    (0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA"),
    (0x0030, "TLS_DH_DSS_WITH_AES_128_CBC_SHA"),
    (0x0031, "TLS_DH_RSA_WITH_AES_128_CBC_SHA"),
    (0x0032, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA"),
    (0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA"),
    (0x0034, "TLS_DH_anon_WITH_AES_128_CBC_SHA"),
    (0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA"),
    (0x0036, "TLS_DH_DSS_WITH_AES_256_CBC_SHA"),
    (0x0037, "TLS_DH_RSA_WITH_AES_256_CBC_SHA"),
    (0x0038, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA"),
    (0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA"),
    (0x003a, "TLS_DH_anon_WITH_AES_256_CBC_SHA"),
    (0x003b, "TLS_RSA_WITH_NULL_SHA256"),
    (0x003c, "TLS_RSA_WITH_AES_128_CBC_SHA256"),
    (0x003d, "TLS_RSA_WITH_AES_256_CBC_SHA256"),
    (0x003e, "TLS_DH_DSS_WITH_AES_128_CBC_SHA256"),
    (0x003f, "TLS_DH_RSA_WITH_AES_128_CBC_SHA256"),
    (0x0040, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256"),
    (0x0041, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0042, "TLS_DH_DSS_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0043, "TLS_DH_RSA_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0044, "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0045, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0046, "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA"),
    // Pre-standard EXPORT1024 suites (draft-ietf-tls-56-bit-ciphersuites), still in old OpenSSL.
    (0x0060, "TLS_RSA_EXPORT1024_WITH_RC4_56_MD5"),
    (0x0061, "TLS_RSA_EXPORT1024_WITH_RC2_CBC_56_MD5"),
    (0x0062, "TLS_RSA_EXPORT1024_WITH_DES_CBC_SHA"),
    (0x0063, "TLS_DHE_DSS_EXPORT1024_WITH_DES_CBC_SHA"),
    (0x0064, "TLS_RSA_EXPORT1024_WITH_RC4_56_SHA"),
    (0x0065, "TLS_DHE_DSS_EXPORT1024_WITH_RC4_56_SHA"),
    (0x0066, "TLS_DHE_DSS_WITH_RC4_128_SHA"),
    (0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0x0068, "TLS_DH_DSS_WITH_AES_256_CBC_SHA256"),
    (0x0069, "TLS_DH_RSA_WITH_AES_256_CBC_SHA256"),
    (0x006a, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256"),
    (0x006b, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256"),
    (0x006c, "TLS_DH_anon_WITH_AES_128_CBC_SHA256"),
    (0x006d, "TLS_DH_anon_WITH_AES_256_CBC_SHA256"),
    (0x0084, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0085, "TLS_DH_DSS_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0086, "TLS_DH_RSA_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0087, "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0088, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0089, "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA"),
    (0x008a, "TLS_PSK_WITH_RC4_128_SHA"),
    (0x008b, "TLS_PSK_WITH_3DES_EDE_CBC_SHA"),
    (0x008c, "TLS_PSK_WITH_AES_128_CBC_SHA"),
    (0x008d, "TLS_PSK_WITH_AES_256_CBC_SHA"),
    (0x008e, "TLS_DHE_PSK_WITH_RC4_128_SHA"),
    (0x008f, "TLS_DHE_PSK_WITH_3DES_EDE_CBC_SHA"),
    (0x0090, "TLS_DHE_PSK_WITH_AES_128_CBC_SHA"),
    (0x0091, "TLS_DHE_PSK_WITH_AES_256_CBC_SHA"),
    (0x0092, "TLS_RSA_PSK_WITH_RC4_128_SHA"),
    (0x0093, "TLS_RSA_PSK_WITH_3DES_EDE_CBC_SHA"),
    (0x0094, "TLS_RSA_PSK_WITH_AES_128_CBC_SHA"),
    (0x0095, "TLS_RSA_PSK_WITH_AES_256_CBC_SHA"),
    (0x0096, "TLS_RSA_WITH_SEED_CBC_SHA"),
    (0x0097, "TLS_DH_DSS_WITH_SEED_CBC_SHA"),
    (0x0098, "TLS_DH_RSA_WITH_SEED_CBC_SHA"),
    (0x0099, "TLS_DHE_DSS_WITH_SEED_CBC_SHA"),
    (0x009a, "TLS_DHE_RSA_WITH_SEED_CBC_SHA"),
    (0x009b, "TLS_DH_anon_WITH_SEED_CBC_SHA"),
    (0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384"),
    (0x009e, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009f, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"),
    (0x00a0, "TLS_DH_RSA_WITH_AES_128_GCM_SHA256"),
    (0x00a1, "TLS_DH_RSA_WITH_AES_256_GCM_SHA384"),
    (0x00a2, "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256"),
    (0x00a3, "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384"),
    (0x00a4, "TLS_DH_DSS_WITH_AES_128_GCM_SHA256"),
    (0x00a5, "TLS_DH_DSS_WITH_AES_256_GCM_SHA384"),
    (0x00a6, "TLS_DH_anon_WITH_AES_128_GCM_SHA256"),
    (0x00a7, "TLS_DH_anon_WITH_AES_256_GCM_SHA384"),
    (0x00a8, "TLS_PSK_WITH_AES_128_GCM_SHA256"),
    (0x00a9, "TLS_PSK_WITH_AES_256_GCM_SHA384"),
    (0x00b0, "TLS_PSK_WITH_NULL_SHA256"),
    (0x00b1, "TLS_PSK_WITH_NULL_SHA384"),
    (0x00b4, "TLS_DHE_PSK_WITH_NULL_SHA256"),
    (0x00b5, "TLS_DHE_PSK_WITH_NULL_SHA384"),
    (0x00b8, "TLS_RSA_PSK_WITH_NULL_SHA256"),
    (0x00b9, "TLS_RSA_PSK_WITH_NULL_SHA384"),
    (0x00ba, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA256"),
    (0x00be, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256"),
    (0x00bf, "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA256"),
    (0x00c0, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA256"),
    (0x00c4, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256"),
    (0x00c5, "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA256"),
    (0x00ff, "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"),
    (0x1301, "TLS_AES_128_GCM_SHA256"),
    (0x1302, "TLS_AES_256_GCM_SHA384"),
    (0x1303, "TLS_CHACHA20_POLY1305_SHA256"),
    (0x1304, "TLS_AES_128_CCM_SHA256"),
    (0x1305, "TLS_AES_128_CCM_8_SHA256"),
    (0x5600, "TLS_FALLBACK_SCSV"),
    (0xc001, "TLS_ECDH_ECDSA_WITH_NULL_SHA"),
    (0xc002, "TLS_ECDH_ECDSA_WITH_RC4_128_SHA"),
    (0xc003, "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA"),
    (0xc004, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA"),
    (0xc005, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA"),
    (0xc006, "TLS_ECDHE_ECDSA_WITH_NULL_SHA"),
    (0xc007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA"),
    (0xc008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA"),
    (0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"),
    (0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"),
    (0xc00b, "TLS_ECDH_RSA_WITH_NULL_SHA"),
    (0xc00c, "TLS_ECDH_RSA_WITH_RC4_128_SHA"),
    (0xc00d, "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xc00e, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA"),
    (0xc00f, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA"),
    (0xc010, "TLS_ECDHE_RSA_WITH_NULL_SHA"),
    (0xc011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA"),
    (0xc012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
    (0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
    (0xc015, "TLS_ECDH_anon_WITH_NULL_SHA"),
    (0xc016, "TLS_ECDH_anon_WITH_RC4_128_SHA"),
    (0xc017, "TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA"),
    (0xc018, "TLS_ECDH_anon_WITH_AES_128_CBC_SHA"),
    (0xc019, "TLS_ECDH_anon_WITH_AES_256_CBC_SHA"),
    (0xc01a, "TLS_SRP_SHA_WITH_3DES_EDE_CBC_SHA"),
    (0xc01b, "TLS_SRP_SHA_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xc01c, "TLS_SRP_SHA_DSS_WITH_3DES_EDE_CBC_SHA"),
    (0xc01d, "TLS_SRP_SHA_WITH_AES_128_CBC_SHA"),
    (0xc01e, "TLS_SRP_SHA_RSA_WITH_AES_128_CBC_SHA"),
    (0xc01f, "TLS_SRP_SHA_DSS_WITH_AES_128_CBC_SHA"),
    (0xc020, "TLS_SRP_SHA_WITH_AES_256_CBC_SHA"),
    (0xc021, "TLS_SRP_SHA_RSA_WITH_AES_256_CBC_SHA"),
    (0xc022, "TLS_SRP_SHA_DSS_WITH_AES_256_CBC_SHA"),
    (0xc023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"),
    (0xc024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"),
    (0xc025, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256"),
    (0xc026, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384"),
    (0xc027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0xc028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"),
    (0xc029, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256"),
    (0xc02a, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384"),
    (0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    (0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
    (0xc02d, "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256"),
    (0xc02e, "TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384"),
    (0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    (0xc031, "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256"),
    (0xc032, "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384"),
    (0xc033, "TLS_ECDHE_PSK_WITH_RC4_128_SHA"),
    (0xc034, "TLS_ECDHE_PSK_WITH_3DES_EDE_CBC_SHA"),
    (0xc035, "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA"),
    (0xc036, "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA"),
    (0xc037, "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256"),
    (0xc038, "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA384"),
    (0xc039, "TLS_ECDHE_PSK_WITH_NULL_SHA"),
    (0xc03a, "TLS_ECDHE_PSK_WITH_NULL_SHA256"),
    (0xc03b, "TLS_ECDHE_PSK_WITH_NULL_SHA384"),
    (0xc072, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_CBC_SHA256"),
    (0xc073, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_CBC_SHA384"),
    (0xc076, "TLS_ECDHE_RSA_WITH_CAMELLIA_128_CBC_SHA256"),
    (0xc077, "TLS_ECDHE_RSA_WITH_CAMELLIA_256_CBC_SHA384"),
    (0xc09c, "TLS_RSA_WITH_AES_128_CCM"),
    (0xc09d, "TLS_RSA_WITH_AES_256_CCM"),
    (0xc09e, "TLS_DHE_RSA_WITH_AES_128_CCM"),
    (0xc09f, "TLS_DHE_RSA_WITH_AES_256_CCM"),
    (0xc0a0, "TLS_RSA_WITH_AES_128_CCM_8"),
    (0xc0a1, "TLS_RSA_WITH_AES_256_CCM_8"),
    (0xc0a2, "TLS_DHE_RSA_WITH_AES_128_CCM_8"),
    (0xc0a3, "TLS_DHE_RSA_WITH_AES_256_CCM_8"),
    (0xc0ac, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM"),
    (0xc0ad, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM"),
    (0xc0ae, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"),
    (0xc0af, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8"),
    (0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xccaa, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xccab, "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256"),
    (0xccac, "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256"),
    (0xccad, "TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256"),
    (0xccae, "TLS_RSA_PSK_WITH_CHACHA20_POLY1305_SHA256"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::tests::{make_ca, make_leaf};
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use std::sync::Arc;
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::oneshot;

    const T: Duration = Duration::from_secs(5);

    /// A fake server: reads one ClientHello record, hands it to the test, writes `reply`,
    /// then closes (or holds the connection open when `hold`).
    async fn fake_server(reply: Vec<u8>, hold: bool) -> (u16, oneshot::Receiver<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let mut header = [0u8; 5];
            if tcp.read_exact(&mut header).await.is_err() {
                return;
            }
            let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
            let mut body = vec![0u8; len];
            if tcp.read_exact(&mut body).await.is_err() {
                return;
            }
            let mut record = header.to_vec();
            record.extend_from_slice(&body);
            let _ = tx.send(record);
            let _ = tcp.write_all(&reply).await;
            if hold {
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
            let _ = tcp.shutdown().await;
        });
        (port, rx)
    }

    async fn probe(
        port: u16,
        version: HelloVersion,
        set: SuiteSet,
        timeout: Duration,
    ) -> Result<HelloOutcome, ScanError> {
        let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        offer(&mut tcp, "mx.example.org", version, set, timeout).await
    }

    /// A ServerHello handshake message (without record header).
    fn server_hello_msg(version: u16, suite: u16, extensions: &[u8]) -> Vec<u8> {
        let mut body = version.to_be_bytes().to_vec();
        body.extend_from_slice(&[7u8; 32]);
        body.push(4);
        body.extend_from_slice(&[1, 2, 3, 4]);
        body.extend_from_slice(&suite.to_be_bytes());
        body.push(0);
        if !extensions.is_empty() {
            body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
            body.extend_from_slice(extensions);
        }
        let mut msg = vec![2u8, 0, (body.len() >> 8) as u8, body.len() as u8];
        msg.extend_from_slice(&body);
        msg
    }

    fn record(content_type: u8, version: u16, payload: &[u8]) -> Vec<u8> {
        let mut r = vec![content_type];
        r.extend_from_slice(&version.to_be_bytes());
        r.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        r.extend_from_slice(payload);
        r
    }

    /// Takes a ClientHello record apart: (record version, client_version, suites, extension types).
    fn parse_client_hello(rec: &[u8]) -> (u16, u16, Vec<u16>, Vec<u16>) {
        assert_eq!(rec[0], 22);
        let record_version = u16::from_be_bytes([rec[1], rec[2]]);
        assert_eq!(
            usize::from(u16::from_be_bytes([rec[3], rec[4]])),
            rec.len() - 5
        );
        let hs = &rec[5..];
        assert_eq!(hs[0], 1);
        let len = (usize::from(hs[1]) << 16) | (usize::from(hs[2]) << 8) | usize::from(hs[3]);
        assert_eq!(len, hs.len() - 4);
        let b = &hs[4..];
        let client_version = u16::from_be_bytes([b[0], b[1]]);
        assert_eq!(b[34], 0, "empty session id");
        let cs_len = usize::from(u16::from_be_bytes([b[35], b[36]]));
        let suites: Vec<u16> = b[37..37 + cs_len]
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        let mut at = 37 + cs_len;
        assert_eq!(&b[at..at + 2], &[1, 0]);
        at += 2;
        let mut exts = Vec::new();
        if at < b.len() {
            let ext_len = usize::from(u16::from_be_bytes([b[at], b[at + 1]]));
            assert_eq!(ext_len, b.len() - at - 2);
            let mut e = &b[at + 2..];
            while !e.is_empty() {
                let t = u16::from_be_bytes([e[0], e[1]]);
                let l = usize::from(u16::from_be_bytes([e[2], e[3]]));
                exts.push(t);
                e = &e[4 + l..];
            }
        }
        (record_version, client_version, suites, exts)
    }

    #[test]
    fn suite_table_is_sorted_and_named() {
        assert!(SUITES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(suite_name(0x1302), Some("TLS_AES_256_GCM_SHA384"));
        assert_eq!(
            suite_name(0xc02b),
            Some("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
        );
        assert_eq!(suite_name(0xfafa), None);
        assert_eq!(weakness(0x0005), Some(Weakness::Rc4));
        assert_eq!(weakness(0x000a), Some(Weakness::TripleDes));
        assert_eq!(weakness(0x0009), Some(Weakness::Des));
        assert_eq!(weakness(0x0002), Some(Weakness::Null));
        assert_eq!(weakness(0x0003), Some(Weakness::Export));
        assert_eq!(weakness(0x0034), Some(Weakness::Anonymous));
        assert_eq!(weakness(0xc015), Some(Weakness::Null));
        assert_eq!(weakness(0x0017), Some(Weakness::Export));
        assert_eq!(weakness(0xc02f), None);
        assert_eq!(weakness(0x0007), None, "IDEA is not on the list");
        for id in COMMON_TLS12 {
            assert!(
                suite_name(*id).is_some() && weakness(*id).is_none(),
                "{id:#x}"
            );
        }
        for id in COMMON_LEGACY {
            assert!(suite_name(*id).is_some(), "{id:#x}");
        }
        let weak = offered_suites(HelloVersion::Tls10, SuiteSet::Weak);
        assert!(weak.len() > 40, "{}", weak.len());
        assert!(weak.iter().all(|&id| weakness(id).is_some()));
        assert!(!weak.contains(&0x0000));
        let anon = offered_suites(HelloVersion::Tls12, SuiteSet::Anonymous);
        assert!(anon.len() > 10, "{}", anon.len());
        assert!(anon.iter().all(|&id| !weak.contains(&id)));
        assert!(anon.contains(&0x0034), "TLS_DH_anon_WITH_AES_128_CBC_SHA");
    }

    #[test]
    fn client_hello_shapes() {
        let ssl3 = client_hello("mx.example.org", HelloVersion::Ssl3, COMMON_LEGACY);
        let (rv, cv, suites, exts) = parse_client_hello(&ssl3);
        assert_eq!((rv, cv), (0x0300, 0x0300));
        assert_eq!(suites.last(), Some(&0x00ff));
        assert!(exts.is_empty());

        let tls10 = client_hello("mx.example.org.", HelloVersion::Tls10, COMMON_LEGACY);
        let (rv, cv, _, exts) = parse_client_hello(&tls10);
        assert_eq!((rv, cv), (0x0301, 0x0301));
        assert_eq!(&exts[..3], &[0, 10, 11]);
        assert!(
            !exts.contains(&13),
            "no signature_algorithms before TLS 1.2"
        );
        assert!(windows_contains(&tls10, b"mx.example.org"));

        let tls12 = client_hello("192.0.2.1", HelloVersion::Tls12, COMMON_TLS12);
        let (rv, cv, _, exts) = parse_client_hello(&tls12);
        assert_eq!((rv, cv), (0x0301, 0x0303));
        assert!(!exts.contains(&0), "no SNI for an IP address");
        assert!(exts.contains(&13));

        for version in [
            HelloVersion::Tls10,
            HelloVersion::Tls11,
            HelloVersion::Tls12,
        ] {
            for set in [SuiteSet::Common, SuiteSet::Weak] {
                let hello = client_hello(
                    "a-rather-long-mail-exchanger-name.example.org",
                    version,
                    &offered_suites(version, set),
                );
                let hs_len = hello.len() - 5;
                assert!(
                    !(256..512).contains(&hs_len),
                    "{version:?} {set:?}: {hs_len}"
                );
            }
        }
    }

    fn windows_contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[tokio::test]
    async fn accepted_tls10_rc4() {
        let reply = record(22, 0x0301, &server_hello_msg(0x0301, 0x0005, &[]));
        let (port, hello) = fake_server(reply, false).await;
        let out = probe(port, HelloVersion::Tls10, SuiteSet::Weak, T)
            .await
            .unwrap();
        assert_eq!(
            out,
            HelloOutcome::Accepted {
                version: TlsVersion::Tls10,
                suite: 0x0005,
                suite_name: "TLS_RSA_WITH_RC4_128_SHA".into(),
                weakness: Some(Weakness::Rc4)
            }
        );
        let (_, cv, suites, _) = parse_client_hello(&hello.await.unwrap());
        assert_eq!(cv, 0x0301);
        assert!(suites.contains(&0x0005));
    }

    #[tokio::test]
    async fn lower_version_and_split_records_and_warning_first() {
        // A warning alert, then the ServerHello split over two records, then more handshake.
        let msg = server_hello_msg(0x0301, 0xc013, &[0xff, 0x01, 0x00, 0x01, 0x00]);
        let mut reply = record(21, 0x0301, &[1, 112]);
        reply.extend(record(22, 0x0301, &msg[..10]));
        reply.extend(record(22, 0x0301, &msg[10..]));
        reply.extend(record(22, 0x0301, &[11, 0, 0, 3, 0, 0, 0]));
        let (port, _) = fake_server(reply, true).await;
        let out = probe(port, HelloVersion::Tls12, SuiteSet::Common, T)
            .await
            .unwrap();
        assert!(
            matches!(
                out,
                HelloOutcome::Accepted {
                    version: TlsVersion::Tls10,
                    suite: 0xc013,
                    weakness: None,
                    ..
                }
            ),
            "{out:?}"
        );
    }

    #[tokio::test]
    async fn supported_versions_is_honoured() {
        let ext = [0x00, 0x2b, 0x00, 0x02, 0x03, 0x03];
        let reply = record(22, 0x0303, &server_hello_msg(0x0303, 0xc02f, &ext));
        let (port, _) = fake_server(reply, false).await;
        let out = probe(port, HelloVersion::Tls12, SuiteSet::Common, T)
            .await
            .unwrap();
        assert!(
            matches!(
                out,
                HelloOutcome::Accepted {
                    version: TlsVersion::Tls12,
                    ..
                }
            ),
            "{out:?}"
        );

        let ext = [0x00, 0x2b, 0x00, 0x02, 0x03, 0x04];
        let reply = record(22, 0x0303, &server_hello_msg(0x0303, 0xc02f, &ext));
        let (port, _) = fake_server(reply, false).await;
        let err = probe(port, HelloVersion::Tls12, SuiteSet::Common, T)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("TLSv1.3"), "{err}");
    }

    #[tokio::test]
    async fn refusals() {
        let (port, _) = fake_server(record(21, 0x0300, &[2, 40]), false).await;
        let out = probe(port, HelloVersion::Ssl3, SuiteSet::Common, T)
            .await
            .unwrap();
        assert_eq!(
            out,
            HelloOutcome::Refused {
                alert: Some("handshake_failure".into())
            }
        );

        let (port, _) = fake_server(Vec::new(), false).await;
        let out = probe(port, HelloVersion::Tls11, SuiteSet::Common, T)
            .await
            .unwrap();
        assert_eq!(out, HelloOutcome::Refused { alert: None });

        // A listener that closes without reading anything (RST or FIN, depending on timing).
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            if let Ok((tcp, _)) = listener.accept().await {
                drop(tcp);
            }
        });
        let out = probe(port, HelloVersion::Tls10, SuiteSet::Weak, T)
            .await
            .unwrap();
        assert_eq!(out, HelloOutcome::Refused { alert: None });
    }

    #[tokio::test]
    async fn protocol_errors_and_timeout() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![0x80, 0x2e, 0x04, 0x00, 0x01, 0x00, 0x02], "SSLv2"),
            (b"554 5.7.0 go away\r\n".to_vec(), "not a TLS record"),
            (
                record(22, 0x0301, &server_hello_msg(0x0301, 0x1234, &[])),
                "not offered",
            ),
            (record(22, 0x0301, &[11, 0, 0, 2, 0, 0]), "type 11"),
            (
                record(22, 0x0301, &server_hello_msg(0x0303, 0x0005, &[])),
                "though at most",
            ),
            (record(22, 0x0301, &[2, 0, 0, 3, 3, 1, 0]), "truncated"),
            (
                record(22, 0x0301, &server_hello_msg(0x0301, 0x0005, &[]))[..20].to_vec(),
                "middle",
            ),
            (record(23, 0x0301, &[0; 8]), "content type 23"),
            (record(22, 0x0301, &[2, 0xff, 0xff, 0xff]), "implausibly"),
        ];
        for (reply, expect) in cases {
            let (port, _) = fake_server(reply, false).await;
            let err = probe(port, HelloVersion::Tls10, SuiteSet::Weak, T)
                .await
                .unwrap_err();
            assert!(
                matches!(err, ScanError::Protocol(_)) && err.to_string().contains(expect),
                "{expect}: {err}"
            );
        }

        // 20 KB of handshake records that never complete a ServerHello: bounded read.
        let mut flood = Vec::new();
        let mut msg = vec![2u8, 0, 0x3f, 0xff];
        msg.extend(vec![0u8; 4000]);
        flood.extend(record(22, 0x0301, &msg));
        for _ in 0..5 {
            flood.extend(record(22, 0x0301, &[0u8; 4000]));
        }
        let (port, _) = fake_server(flood, true).await;
        let err = probe(port, HelloVersion::Tls10, SuiteSet::Weak, T)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("16384 bytes"), "{err}");

        let (port, _) = fake_server(Vec::new(), true).await;
        let err = probe(
            port,
            HelloVersion::Tls10,
            SuiteSet::Weak,
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ScanError::Timeout), "{err:?}");
    }

    /// rustls as the server: it must parse our hand-built TLS 1.2 hello and pick a suite, and
    /// refuse the old versions and the weak suites with an alert.
    #[tokio::test]
    async fn rustls_server_interop() {
        let ca = make_ca("Lab Root");
        let (leaf, key) = make_leaf(&ca, &["mx.example.org"]);
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap(),
        );
        let cases = [
            (HelloVersion::Tls12, SuiteSet::Common, None),
            (
                HelloVersion::Tls12,
                SuiteSet::Weak,
                Some("handshake_failure"),
            ),
            // rustls answers pre-1.2 hellos with handshake_failure rather than protocol_version.
            (
                HelloVersion::Tls11,
                SuiteSet::Common,
                Some("handshake_failure"),
            ),
            (
                HelloVersion::Tls10,
                SuiteSet::Common,
                Some("handshake_failure"),
            ),
        ];
        for (version, set, refusal) in cases {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let acceptor = tokio_rustls::TlsAcceptor::from(config.clone());
            tokio::spawn(async move {
                if let Ok((tcp, _)) = listener.accept().await {
                    let _ = acceptor.accept(tcp).await;
                }
            });
            let out = probe(port, version, set, T).await.unwrap();
            match refusal {
                None => assert!(
                    matches!(&out, HelloOutcome::Accepted { version: TlsVersion::Tls12, suite_name, weakness: None, .. } if suite_name.starts_with("TLS_ECDHE_ECDSA_WITH_")),
                    "{out:?}"
                ),
                Some(alert) => assert_eq!(
                    out,
                    HelloOutcome::Refused {
                        alert: Some(alert.into())
                    },
                    "{version:?} {set:?}"
                ),
            }
        }
    }

    /// OpenSSL's s_server (Debian 12: OpenSSL 3.0, legacy versions re-enabled with
    /// @SECLEVEL=0) must parse our TLS 1.0/1.1 hellos and negotiate down from a 1.2 hello.
    /// Skipped when the openssl binary is missing.
    #[tokio::test]
    async fn openssl_s_server_interop() {
        use std::process::Stdio;
        use tokio::io::AsyncBufReadExt;
        if !std::path::Path::new("/usr/bin/openssl").exists() {
            eprintln!("SKIPPED openssl_s_server_interop: /usr/bin/openssl not installed");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["mx.example.org".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.path().join("c.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("k.pem"), key.serialize_pem()).unwrap();
        const ALL: &str = "ALL:@SECLEVEL=0";
        const STRONG: &str = "HIGH:!aNULL:!3DES:@SECLEVEL=0";
        let cases = [
            (
                "-tls1",
                ALL,
                HelloVersion::Tls10,
                SuiteSet::Common,
                Some(TlsVersion::Tls10),
            ),
            (
                "-tls1",
                ALL,
                HelloVersion::Tls12,
                SuiteSet::Common,
                Some(TlsVersion::Tls10),
            ),
            (
                "-tls1_1",
                ALL,
                HelloVersion::Tls11,
                SuiteSet::Common,
                Some(TlsVersion::Tls11),
            ),
            ("-tls1_1", ALL, HelloVersion::Tls10, SuiteSet::Common, None),
            (
                "-tls1_2",
                ALL,
                HelloVersion::Tls12,
                SuiteSet::Common,
                Some(TlsVersion::Tls12),
            ),
            // OpenSSL 3 at level 0 still has anonymous DH and NULL suites: found as weak.
            (
                "-tls1_2",
                ALL,
                HelloVersion::Tls12,
                SuiteSet::Anonymous,
                Some(TlsVersion::Tls12),
            ),
            (
                "-tls1_2",
                "ALL:eNULL:@SECLEVEL=0",
                HelloVersion::Tls12,
                SuiteSet::Weak,
                Some(TlsVersion::Tls12),
            ),
            ("-tls1_2", STRONG, HelloVersion::Tls12, SuiteSet::Weak, None),
            (
                "-tls1_2",
                STRONG,
                HelloVersion::Tls12,
                SuiteSet::Anonymous,
                None,
            ),
        ];
        for (flag, ciphers, version, set, expect) in cases {
            let mut child = tokio::process::Command::new("/usr/bin/openssl")
                .args([
                    "s_server", "-accept", "0", "-naccept", "1", "-cipher", ciphers, flag,
                ])
                .arg("-cert")
                .arg(dir.path().join("c.pem"))
                .arg("-key")
                .arg(dir.path().join("k.pem"))
                // s_server exits when its stdin closes: keep a pipe open until the child dies.
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
            let port: u16 = tokio::time::timeout(T, async {
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(addr) = line.strip_prefix("ACCEPT ") {
                        return addr.rsplit(':').next().and_then(|p| p.parse().ok());
                    }
                }
                None
            })
            .await
            .unwrap()
            .expect("s_server port");
            let out = probe(port, version, set, T).await.unwrap();
            match expect {
                Some(v) => assert!(
                    matches!(&out, HelloOutcome::Accepted { version, weakness, .. }
                        if *version == v && weakness.is_some() == (set != SuiteSet::Common)),
                    "{flag} {version:?} {set:?}: {out:?}"
                ),
                None => assert!(
                    matches!(out, HelloOutcome::Refused { .. }),
                    "{flag} {version:?} {set:?}: {out:?}"
                ),
            }
            let _ = child.kill().await;
        }
    }
}
