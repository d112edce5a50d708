//! Certificate evaluation: what a server presented, and whether it would pass WebPKI checks.
//!
//! Pure functions over DER certificates and a given `now`, so a finding can be reproduced from
//! the stored chain and the time of the probe. Chain building is rustls-webpki's (the same code
//! rustls would run), so "chains to a root" here means what it means to a rustls MTA. Names,
//! dates and key sizes come from x509-parser; the few structures webpki needs raw (the
//! SubjectPublicKeyInfo, the issuer name) are cut out of the DER by the small reader in [`der`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use serde::Serialize;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// Chains longer than this are reported as [`ChainProblem::TooLong`] without building a path:
/// no real server needs more, and path building over many certificates is work a hostile
/// server could make us do for nothing.
pub const MAX_CHAIN_TO_BUILD: usize = 10;

/// Why a certificate or a root store could not be used at all.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("the server presented no certificate")]
    EmptyChain,
    #[error("the certificate cannot be parsed as X.509 DER: {0}")]
    Parse(String),
    #[error("cannot read the CA file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the CA file {path} holds no certificate (expected one or more \"-----BEGIN CERTIFICATE-----\" blocks)"
    )]
    NoCertificates { path: PathBuf },
    #[error("the CA file {path} is not valid PEM: {reason}")]
    BadPem { path: PathBuf, reason: String },
    #[error("CA certificate number {index} cannot be used as a trust anchor: {reason}")]
    BadAnchor { index: usize, reason: String },
    #[error("no usable CA certificates in the system store{}", if .0.is_empty() { String::new() } else { format!(": {}", .0) })]
    NoSystemRoots(String),
}

/// A set of trust anchors to build WebPKI chains to.
#[derive(Debug, Clone, Default)]
pub struct Roots {
    anchors: Vec<TrustAnchor<'static>>,
}

impl Roots {
    /// The operating system's CA store (on Debian: /etc/ssl/certs), as an MTA using the
    /// system's TLS library would see it. Certificates in the store that cannot serve as
    /// anchors are skipped; only an empty result is an error.
    pub fn system() -> Result<Roots, CertError> {
        let found = rustls_native_certs::load_native_certs();
        let anchors: Vec<_> = found
            .certs
            .iter()
            .filter_map(|c| {
                webpki::anchor_from_trusted_cert(c)
                    .ok()
                    .map(|a| a.to_owned())
            })
            .collect();
        if anchors.is_empty() {
            let reasons: Vec<String> = found.errors.iter().map(|e| e.to_string()).collect();
            return Err(CertError::NoSystemRoots(reasons.join("; ")));
        }
        Ok(Roots { anchors })
    }

    /// One or more PEM CA certificates from a file (a lab CA, a corporate root). Other PEM
    /// sections (keys, CRLs) are ignored; a file with no certificate at all is an error, since
    /// evaluating against an empty store would call every chain "unknown issuer".
    pub fn from_pem_file(path: &Path) -> Result<Roots, CertError> {
        let bytes = std::fs::read(path).map_err(|source| CertError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut certs = Vec::new();
        for item in CertificateDer::pem_slice_iter(&bytes) {
            match item {
                Ok(cert) => certs.push(cert),
                Err(e) => {
                    return Err(CertError::BadPem {
                        path: path.to_owned(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        if certs.is_empty() {
            return Err(CertError::NoCertificates {
                path: path.to_owned(),
            });
        }
        Roots::from_der(&certs)
    }

    /// Trust anchors from DER certificates, e.g. a lab CA generated in a test.
    pub fn from_der(certs: &[CertificateDer]) -> Result<Roots, CertError> {
        let mut anchors = Vec::with_capacity(certs.len());
        for (i, cert) in certs.iter().enumerate() {
            let anchor =
                webpki::anchor_from_trusted_cert(cert).map_err(|e| CertError::BadAnchor {
                    index: i + 1,
                    reason: webpki_error_text(&e),
                })?;
            anchors.push(anchor.to_owned());
        }
        Ok(Roots { anchors })
    }

    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    pub fn anchors(&self) -> &[TrustAnchor<'static>] {
        &self.anchors
    }
}

/// What a certificate says about itself, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct CertSummary {
    pub subject: String,
    pub issuer: String,
    /// SAN dNSNames, or the subject CN when there is no SAN (what a name check looks at).
    pub names: Vec<String>,
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds.
    pub not_after: i64,
    /// "RSA", "ECDSA P-256", "Ed25519", ...; the dotted OID when unknown.
    pub key_algorithm: String,
    pub key_bits: u32,
    pub signature_algorithm: String,
    /// Subject equals issuer and the certificate's own key verifies its signature.
    pub self_signed: bool,
    /// SHA-256 of the DER, lowercase hex (the fingerprint admins compare).
    pub sha256: String,
}

/// Why a presented chain does not validate for server authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ChainProblem {
    Expired { not_after: i64 },
    NotYetValid { not_before: i64 },
    UnknownIssuer,
    SelfSigned,
    BadSignature,
    NotForServerAuth,
    TooLong { len: usize },
    Other(String),
}

impl std::fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainProblem::Expired { not_after } => {
                write!(
                    f,
                    "a certificate in the chain expired (notAfter {not_after}, unix time)"
                )
            }
            ChainProblem::NotYetValid { not_before } => write!(
                f,
                "a certificate in the chain is not valid yet (notBefore {not_before}, unix time)"
            ),
            ChainProblem::UnknownIssuer => f.write_str(
                "the chain does not lead to a trusted root (missing intermediate or private CA)",
            ),
            ChainProblem::SelfSigned => f.write_str("the certificate is self-signed"),
            ChainProblem::BadSignature => {
                f.write_str("a signature in the chain does not verify with its issuer's key")
            }
            ChainProblem::NotForServerAuth => f.write_str(
                "the certificate's extended key usage does not allow TLS server authentication",
            ),
            ChainProblem::TooLong { len } => write!(
                f,
                "the server presented {len} certificates; more than {MAX_CHAIN_TO_BUILD} are not evaluated"
            ),
            ChainProblem::Other(text) => f.write_str(text),
        }
    }
}

/// The evaluation of one presented chain against a host name, a root store and a time.
#[derive(Debug, Clone, Serialize)]
pub struct CertReport {
    pub leaf: CertSummary,
    /// The presented certificates that could be parsed, leaf first.
    pub chain: Vec<CertSummary>,
    /// None: the chain builds to a root at `now` for server authentication.
    pub chain_problem: Option<ChainProblem>,
    pub name_matches: bool,
    /// Seconds until the leaf's notAfter; negative once expired.
    pub seconds_left: i64,
    /// Why the leaf key is too weak (RSA/DSA below 2048 bits, EC below 224 bits).
    pub weak_key: Option<String>,
}

/// Summarize one certificate. Fails only when the DER is not a certificate.
pub fn summarize(cert: &CertificateDer) -> Result<CertSummary, CertError> {
    let (rest, x509) =
        X509Certificate::from_der(cert.as_ref()).map_err(|e| CertError::Parse(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CertError::Parse(
            "trailing data after the certificate".into(),
        ));
    }
    let tbs = &x509.tbs_certificate;
    let mut names = Vec::new();
    let mut has_san = false;
    if let Ok(Some(san)) = tbs.subject_alternative_name() {
        has_san = true;
        for name in &san.value.general_names {
            if let GeneralName::DNSName(dns) = name {
                names.push((*dns).to_string());
            }
        }
    }
    if !has_san {
        names.extend(
            tbs.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok())
                .map(str::to_string),
        );
    }
    let key = der::public_key_info(tbs.subject_pki.raw);
    let (key_algorithm, key_bits) = match &key {
        Some(key) => key_description(key),
        None => (tbs.subject_pki.algorithm.algorithm.to_id_string(), 0),
    };
    let self_issued = tbs.subject().as_raw() == tbs.issuer().as_raw();
    let self_signed = self_issued && verifies_own_signature(cert.as_ref()).unwrap_or(true);
    Ok(CertSummary {
        subject: tbs.subject().to_string(),
        issuer: tbs.issuer().to_string(),
        names,
        not_before: tbs.validity().not_before.timestamp(),
        not_after: tbs.validity().not_after.timestamp(),
        key_algorithm,
        key_bits,
        signature_algorithm: signature_algorithm_name(
            &x509.signature_algorithm.algorithm.to_id_string(),
        ),
        self_signed,
        sha256: hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert.as_ref()).as_ref()),
    })
}

/// Evaluate a presented chain (leaf first) for `host` at `now`.
///
/// The chain problem is webpki's first complaint: it checks the leaf's own dates before
/// looking for an issuer, so an expired leaf is reported as `Expired` even when the chain is
/// otherwise fine (and even when its issuer is unknown). `seconds_left` carries the leaf's
/// expiry independently of the chain verdict.
pub fn evaluate(
    chain: &[CertificateDer<'_>],
    host: &str,
    roots: &Roots,
    now: SystemTime,
) -> Result<CertReport, CertError> {
    let first = chain.first().ok_or(CertError::EmptyChain)?;
    let leaf = summarize(first)?;
    let summaries: Vec<CertSummary> = chain.iter().filter_map(|c| summarize(c).ok()).collect();
    let now_secs = unix_seconds(now);
    let chain_problem = if chain.len() > MAX_CHAIN_TO_BUILD {
        Some(ChainProblem::TooLong { len: chain.len() })
    } else {
        webpki_chain_problem(chain, roots.anchors(), now, leaf.self_signed)
    };
    Ok(CertReport {
        name_matches: name_matches(&leaf.names, host),
        seconds_left: leaf.not_after.saturating_sub(now_secs),
        weak_key: weak_key_reason(&leaf.key_algorithm, leaf.key_bits),
        chain: summaries,
        chain_problem,
        leaf,
    })
}

/// RFC 6125 §6.4 name matching of a certificate's names against a reference host name.
///
/// Case-insensitive, a trailing dot ignored on either side. A wildcard is accepted only as the
/// whole left-most label ("*.example.org"), matches exactly one label, and needs at least two
/// labels after it, so "*.org" or "*.test" never match anything.
pub fn name_matches(names: &[String], host: &str) -> bool {
    let host = normalize_name(host);
    if host.is_empty() {
        return false;
    }
    names
        .iter()
        .any(|name| one_name_matches(&normalize_name(name), &host))
}

fn normalize_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn one_name_matches(pattern: &str, host: &str) -> bool {
    if pattern.is_empty() {
        return false;
    }
    if let Some(parent) = pattern.strip_prefix("*.") {
        let labels: Vec<&str> = parent.split('.').collect();
        if parent.contains('*') || labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
            return false;
        }
        return match host.split_once('.') {
            Some((first, rest)) => !first.is_empty() && rest == parent,
            None => false,
        };
    }
    !pattern.contains('*') && pattern == host
}

/// The signature algorithms webpki may use (aws-lc-rs, as rustls is configured).
pub(crate) fn signature_algorithms() -> &'static [&'static dyn SignatureVerificationAlgorithm] {
    rustls::crypto::aws_lc_rs::default_provider()
        .signature_verification_algorithms
        .all
}

pub(crate) fn unix_time(now: SystemTime) -> UnixTime {
    UnixTime::since_unix_epoch(now.duration_since(UNIX_EPOCH).unwrap_or_default())
}

fn unix_seconds(now: SystemTime) -> i64 {
    match now.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

fn webpki_chain_problem(
    chain: &[CertificateDer<'_>],
    anchors: &[TrustAnchor<'_>],
    now: SystemTime,
    leaf_self_signed: bool,
) -> Option<ChainProblem> {
    let (leaf, intermediates) = chain.split_first()?;
    let ee = match webpki::EndEntityCert::try_from(leaf) {
        Ok(ee) => ee,
        Err(e) => return Some(ChainProblem::Other(webpki_error_text(&e))),
    };
    let result = ee.verify_for_usage(
        signature_algorithms(),
        anchors,
        intermediates,
        unix_time(now),
        webpki::KeyUsage::server_auth(),
        None,
        None,
    );
    match result {
        Ok(_) => None,
        Err(e) => Some(chain_problem_from(&e, chain.len(), leaf_self_signed)),
    }
}

/// Map webpki's verdict to the problems an admin can act on.
#[allow(deprecated)] // webpki 0.103 still has the unit variants; match both forms
pub(crate) fn chain_problem_from(
    err: &webpki::Error,
    chain_len: usize,
    leaf_self_signed: bool,
) -> ChainProblem {
    use webpki::Error as E;
    match err {
        E::CertExpired { not_after, .. } => ChainProblem::Expired {
            not_after: i64::try_from(not_after.as_secs()).unwrap_or(i64::MAX),
        },
        E::CertNotValidYet { not_before, .. } => ChainProblem::NotYetValid {
            not_before: i64::try_from(not_before.as_secs()).unwrap_or(i64::MAX),
        },
        E::UnknownIssuer if leaf_self_signed => ChainProblem::SelfSigned,
        E::UnknownIssuer => ChainProblem::UnknownIssuer,
        E::InvalidSignatureForPublicKey => ChainProblem::BadSignature,
        E::RequiredEkuNotFound | E::RequiredEkuNotFoundContext(_) => ChainProblem::NotForServerAuth,
        E::MaximumPathDepthExceeded => ChainProblem::TooLong { len: chain_len },
        other => ChainProblem::Other(webpki_error_text(other)),
    }
}

/// webpki's errors print as Rust identifiers; these say what they mean.
#[allow(deprecated)] // webpki 0.103 still has the unit variants; match both forms
pub(crate) fn webpki_error_text(err: &webpki::Error) -> String {
    use webpki::Error as E;
    match err {
        E::BadDer | E::BadDerTime | E::TrailingData(_) => {
            "a certificate is not valid DER".to_string()
        }
        E::CaUsedAsEndEntity => {
            "the server certificate is a CA certificate (basicConstraints cA=TRUE)".to_string()
        }
        E::EndEntityUsedAsCa => {
            "an end-entity certificate is used as an issuer in the chain".to_string()
        }
        E::UnsupportedSignatureAlgorithm
        | E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKey
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            "a certificate is signed with an algorithm no longer accepted (e.g. SHA-1, MD5, or RSA below 2048 bits)".to_string()
        }
        E::UnsupportedCertVersion => "a certificate is not X.509 version 3".to_string(),
        E::UnsupportedCriticalExtension => {
            "a certificate carries an unknown critical extension".to_string()
        }
        E::PathLenConstraintViolated => {
            "the chain violates an issuer's path length constraint".to_string()
        }
        E::NameConstraintViolation => {
            "the certificate's names violate an issuer's name constraints".to_string()
        }
        E::CertDistrusted => "a certificate's key is explicitly distrusted".to_string(),
        E::MaximumSignatureChecksExceeded | E::MaximumPathBuildCallsExceeded => {
            "chain building gave up: too many candidate paths".to_string()
        }
        other => format!("certificate chain rejected: {other:?}"),
    }
}

fn weak_key_reason(algorithm: &str, bits: u32) -> Option<String> {
    if (algorithm == "RSA" || algorithm == "RSA-PSS" || algorithm == "DSA") && bits < 2048 {
        Some(format!(
            "{algorithm} key of {bits} bits: below the 2048-bit minimum (112-bit security, SP 800-131A / SP 800-52r2)"
        ))
    } else if algorithm.starts_with("ECDSA") && bits < 224 {
        Some(format!(
            "{algorithm} key of {bits} bits: elliptic-curve keys need at least 224 bits (112-bit security, SP 800-131A / SP 800-52r2)"
        ))
    } else {
        None
    }
}

fn key_description(key: &der::PublicKeyInfo<'_>) -> (String, u32) {
    use der::oid;
    match key.algorithm {
        oid::RSA_ENCRYPTION => (
            "RSA".into(),
            der::rsa_modulus_bits(key.public_key).unwrap_or(0),
        ),
        oid::RSASSA_PSS => (
            "RSA-PSS".into(),
            der::rsa_modulus_bits(key.public_key).unwrap_or(0),
        ),
        oid::EC_PUBLIC_KEY => {
            let (curve, bits) = match key.parameters {
                Some(oid::P256) => ("P-256", 256),
                Some(oid::P384) => ("P-384", 384),
                Some(oid::P521) => ("P-521", 521),
                Some(oid::P224) => ("P-224", 224),
                Some(oid::P192) => ("P-192", 192),
                Some(oid::SECP256K1) => ("secp256k1", 256),
                _ => ("(unknown curve)", 0),
            };
            (format!("ECDSA {curve}"), bits)
        }
        oid::ED25519 => ("Ed25519".into(), 256),
        oid::ED448 => ("Ed448".into(), 456),
        oid::DSA => ("DSA".into(), key.dsa_p_bits().unwrap_or(0)),
        other => (der::oid_to_string(other), 0),
    }
}

fn signature_algorithm_name(dotted: &str) -> String {
    let name = match dotted {
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.14" => "sha224WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.1" => "ecdsa-with-SHA224",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.2.840.10040.4.3" => "dsa-with-SHA1",
        "2.16.840.1.101.3.4.3.2" => "dsa-with-SHA256",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        other => return other.to_string(),
    };
    name.to_string()
}

/// Does the certificate's own key verify its signature? `None` when no supported algorithm
/// can tell (e.g. a 1024-bit RSA or SHA-1 self-signed certificate): the caller then goes by
/// subject == issuer alone.
fn verifies_own_signature(cert: &[u8]) -> Option<bool> {
    let parts = der::certificate_parts(cert)?;
    let key = der::public_key_info(parts.spki)?;
    let mut tried = false;
    for alg in signature_algorithms() {
        if alg.public_key_alg_id().as_ref() != key.algorithm_id
            || alg.signature_alg_id().as_ref() != parts.signature_algorithm
        {
            continue;
        }
        tried = true;
        if alg
            .verify_signature(key.public_key, parts.tbs, parts.signature)
            .is_ok()
        {
            return Some(true);
        }
    }
    // webpki refuses RSA keys below 2048 bits; old self-signed certificates still use them,
    // and "self-signed" is a fact about the certificate, not a judgement of its strength.
    if key.algorithm == der::oid::RSA_ENCRYPTION {
        use aws_lc_rs::signature as sig;
        let legacy: Option<&sig::RsaParameters> = match der::read(parts.signature_algorithm)
            .filter(|t| t.tag == der::OID)
            .map(|t| t.contents)
        {
            Some(der::oid::SHA1_WITH_RSA) => {
                Some(&sig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY)
            }
            Some(der::oid::SHA256_WITH_RSA) => {
                Some(&sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY)
            }
            Some(der::oid::SHA512_WITH_RSA) => {
                Some(&sig::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY)
            }
            _ => None,
        };
        if let Some(params) = legacy {
            let ok = sig::UnparsedPublicKey::new(params, key.public_key)
                .verify(parts.tbs, parts.signature)
                .is_ok();
            return Some(ok);
        }
    }
    if tried { Some(false) } else { None }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// A minimal DER reader for the few fields webpki and TLSA matching need as raw bytes.
/// Every function returns `None` on malformed input; nothing here can panic.
pub(crate) mod der {
    pub const SEQUENCE: u8 = 0x30;
    pub const BIT_STRING: u8 = 0x03;
    pub const INTEGER: u8 = 0x02;
    pub const OID: u8 = 0x06;

    /// Object identifier contents (DER, without tag and length).
    pub mod oid {
        pub const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
        pub const RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
        pub const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
        pub const P192: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x01];
        pub const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        pub const P224: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x21];
        pub const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
        pub const P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
        pub const SECP256K1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x0a];
        pub const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
        pub const ED448: &[u8] = &[0x2b, 0x65, 0x71];
        pub const DSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01];
        pub const SHA1_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05];
        pub const SHA256_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
        pub const SHA512_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
    }

    /// One TLV: its tag, its contents, the whole encoding, and what follows it.
    pub struct Tlv<'a> {
        pub tag: u8,
        pub contents: &'a [u8],
        pub whole: &'a [u8],
        pub rest: &'a [u8],
    }

    /// Read one TLV with a single-byte tag and a definite length.
    pub fn read(input: &[u8]) -> Option<Tlv<'_>> {
        let (&tag, after_tag) = input.split_first()?;
        if tag & 0x1f == 0x1f {
            return None; // multi-byte tags never occur in the structures we read
        }
        let (&first, after_len) = after_tag.split_first()?;
        let (len, after_len) = if first < 0x80 {
            (usize::from(first), after_len)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || after_len.len() < n {
                return None;
            }
            let len = after_len[..n]
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            (len, &after_len[n..])
        };
        if after_len.len() < len {
            return None;
        }
        let header = input.len() - after_len.len();
        Some(Tlv {
            tag,
            contents: &after_len[..len],
            whole: &input[..header + len],
            rest: &after_len[len..],
        })
    }

    /// Read a TLV that must carry `tag`.
    pub fn expect(input: &[u8], tag: u8) -> Option<Tlv<'_>> {
        read(input).filter(|t| t.tag == tag)
    }

    /// The parts of a Certificate (RFC 5280 §4.1) a signature check and TLSA matching use.
    pub struct CertificateParts<'a> {
        /// The whole tbsCertificate TLV (what the signature covers).
        pub tbs: &'a [u8],
        /// signatureAlgorithm contents (without the SEQUENCE header, as webpki compares it).
        pub signature_algorithm: &'a [u8],
        /// The signature bits (BIT STRING contents after the unused-bits byte).
        pub signature: &'a [u8],
        /// The whole issuer Name TLV.
        pub issuer: &'a [u8],
        /// The whole subjectPublicKeyInfo TLV (the TLSA selector 1 input).
        pub spki: &'a [u8],
    }

    pub fn certificate_parts(cert: &[u8]) -> Option<CertificateParts<'_>> {
        let outer = expect(cert, SEQUENCE)?;
        let tbs = expect(outer.contents, SEQUENCE)?;
        let sig_alg = expect(tbs.rest, SEQUENCE)?;
        let sig = expect(sig_alg.rest, BIT_STRING)?;
        let (&unused, signature) = sig.contents.split_first()?;
        if unused != 0 {
            return None;
        }
        // tbsCertificate: [0] version (optional), serial, signature, issuer, validity, subject, spki
        let mut fields = tbs.contents;
        let first = read(fields)?;
        if first.tag == 0xa0 {
            fields = first.rest;
        }
        let serial = expect(fields, INTEGER)?;
        let inner_sig = expect(serial.rest, SEQUENCE)?;
        let issuer = expect(inner_sig.rest, SEQUENCE)?;
        let validity = expect(issuer.rest, SEQUENCE)?;
        let subject = expect(validity.rest, SEQUENCE)?;
        let spki = expect(subject.rest, SEQUENCE)?;
        Some(CertificateParts {
            tbs: tbs.whole,
            signature_algorithm: sig_alg.contents,
            signature,
            issuer: issuer.whole,
            spki: spki.whole,
        })
    }

    /// A SubjectPublicKeyInfo taken apart.
    pub struct PublicKeyInfo<'a> {
        /// The algorithm OID contents.
        pub algorithm: &'a [u8],
        /// The parameters when they are an OID (the named curve for EC keys).
        pub parameters: Option<&'a [u8]>,
        /// The raw parameters TLV, whatever it is (DSA domain parameters).
        pub raw_parameters: Option<&'a [u8]>,
        /// AlgorithmIdentifier contents (OID and parameters), as webpki compares them.
        pub algorithm_id: &'a [u8],
        /// subjectPublicKey bits (after the unused-bits byte).
        pub public_key: &'a [u8],
    }

    impl PublicKeyInfo<'_> {
        pub fn dsa_p_bits(&self) -> Option<u32> {
            let params = expect(self.raw_parameters?, SEQUENCE)?;
            let p = expect(params.contents, INTEGER)?;
            integer_bits(p.contents)
        }
    }

    /// Take apart a whole SubjectPublicKeyInfo TLV.
    pub fn public_key_info(spki: &[u8]) -> Option<PublicKeyInfo<'_>> {
        let outer = expect(spki, SEQUENCE)?;
        let alg = expect(outer.contents, SEQUENCE)?;
        let key = expect(alg.rest, BIT_STRING)?;
        let oid = expect(alg.contents, OID)?;
        let params = read(oid.rest);
        let (&unused, public_key) = key.contents.split_first()?;
        if unused != 0 {
            return None;
        }
        Some(PublicKeyInfo {
            algorithm: oid.contents,
            parameters: params.as_ref().filter(|p| p.tag == OID).map(|p| p.contents),
            raw_parameters: params.as_ref().map(|p| p.whole),
            algorithm_id: alg.contents,
            public_key,
        })
    }

    /// The modulus size of an RSAPublicKey (RFC 8017 A.1.1) in bits.
    pub fn rsa_modulus_bits(public_key: &[u8]) -> Option<u32> {
        let seq = expect(public_key, SEQUENCE)?;
        let modulus = expect(seq.contents, INTEGER)?;
        integer_bits(modulus.contents)
    }

    /// Significant bits of a non-negative INTEGER's contents.
    pub fn integer_bits(contents: &[u8]) -> Option<u32> {
        let start = contents.iter().position(|&b| b != 0)?;
        let significant = &contents[start..];
        let bytes = u32::try_from(significant.len()).ok()?;
        Some(bytes * 8 - significant[0].leading_zeros())
    }

    /// Dotted form of OID contents, for algorithms we have no name for.
    pub fn oid_to_string(contents: &[u8]) -> String {
        let mut arcs: Vec<u64> = Vec::new();
        let mut value: u64 = 0;
        for &b in contents {
            value = (value << 7) | u64::from(b & 0x7f);
            if b & 0x80 == 0 {
                if arcs.is_empty() {
                    let first = (value / 40).min(2);
                    arcs.push(first);
                    arcs.push(value - first * 40);
                } else {
                    arcs.push(value);
                }
                value = 0;
            }
        }
        arcs.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(".")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    use std::time::Duration;

    /// A CA and the key that signs with it, for building test chains.
    pub(crate) struct TestCa {
        pub cert: CertificateDer<'static>,
        pub issuer: Issuer<'static, KeyPair>,
    }

    pub(crate) fn make_ca(name: &str) -> TestCa {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("ca cert");
        TestCa {
            cert: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for `names`, valid from `not_before` to `not_after` (unix seconds).
    pub(crate) fn make_leaf_with(
        ca: &TestCa,
        names: &[&str],
        not_before: i64,
        not_after: i64,
        eku: &[ExtendedKeyUsagePurpose],
    ) -> (CertificateDer<'static>, KeyPair) {
        let key = KeyPair::generate().expect("key");
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("params");
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.not_before =
            rcgen::date_time_ymd(1970, 1, 1) + Duration::from_secs(not_before as u64);
        params.not_after = rcgen::date_time_ymd(1970, 1, 1) + Duration::from_secs(not_after as u64);
        params.extended_key_usages = eku.to_vec();
        let cert = params.signed_by(&key, &ca.issuer).expect("leaf cert");
        (cert.der().clone(), key)
    }

    pub(crate) fn make_leaf(ca: &TestCa, names: &[&str]) -> (CertificateDer<'static>, KeyPair) {
        make_leaf_with(
            ca,
            names,
            now_secs() - 86_400,
            now_secs() + 90 * 86_400,
            &[ExtendedKeyUsagePurpose::ServerAuth],
        )
    }

    pub(crate) fn now_secs() -> i64 {
        unix_seconds(SystemTime::now())
    }

    #[test]
    fn good_chain_passes() {
        let ca = make_ca("Lab Root");
        let (leaf, _) = make_leaf(&ca, &["mx.example.org"]);
        let roots = Roots::from_der(std::slice::from_ref(&ca.cert)).unwrap();
        let report = evaluate(
            &[leaf.clone(), ca.cert.clone()],
            "MX.example.org.",
            &roots,
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(report.chain_problem, None);
        assert!(report.name_matches);
        assert!(report.seconds_left > 89 * 86_400);
        assert_eq!(report.chain.len(), 2);
        assert_eq!(report.leaf.names, vec!["mx.example.org".to_string()]);
        assert_eq!(report.leaf.key_algorithm, "ECDSA P-256");
        assert_eq!(report.leaf.key_bits, 256);
        assert_eq!(report.leaf.signature_algorithm, "ecdsa-with-SHA256");
        assert!(!report.leaf.self_signed);
        assert!(report.chain[1].self_signed);
        assert_eq!(report.leaf.sha256.len(), 64);
        assert_eq!(report.weak_key, None);
        // The leaf alone also builds: the root is a trust anchor.
        let report = evaluate(&[leaf], "other.example.org", &roots, SystemTime::now()).unwrap();
        assert_eq!(report.chain_problem, None);
        assert!(!report.name_matches);
    }

    #[test]
    fn expired_leaf_under_trusted_ca_is_expired() {
        let ca = make_ca("Lab Root");
        let (leaf, _) = make_leaf_with(
            &ca,
            &["mx.example.org"],
            now_secs() - 100 * 86_400,
            now_secs() - 86_400,
            &[],
        );
        let roots = Roots::from_der(std::slice::from_ref(&ca.cert)).unwrap();
        let report = evaluate(&[leaf], "mx.example.org", &roots, SystemTime::now()).unwrap();
        assert!(matches!(
            report.chain_problem,
            Some(ChainProblem::Expired { .. })
        ));
        assert!(report.seconds_left < 0);
        assert!(report.name_matches);
    }

    #[test]
    fn not_yet_valid_leaf() {
        let ca = make_ca("Lab Root");
        let start = now_secs() + 10 * 86_400;
        let (leaf, _) = make_leaf_with(&ca, &["mx.example.org"], start, start + 86_400, &[]);
        let roots = Roots::from_der(std::slice::from_ref(&ca.cert)).unwrap();
        let report = evaluate(&[leaf], "mx.example.org", &roots, SystemTime::now()).unwrap();
        assert_eq!(
            report.chain_problem,
            Some(ChainProblem::NotYetValid { not_before: start })
        );
    }

    #[test]
    fn unknown_issuer_and_self_signed() {
        let ca = make_ca("Lab Root");
        let other = make_ca("Other Root");
        let (leaf, _) = make_leaf(&ca, &["mx.example.org"]);
        let roots = Roots::from_der(std::slice::from_ref(&other.cert)).unwrap();
        let report = evaluate(
            &[leaf, ca.cert.clone()],
            "mx.example.org",
            &roots,
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(report.chain_problem, Some(ChainProblem::UnknownIssuer));

        let key = KeyPair::generate().unwrap();
        let selfie = CertificateParams::new(vec!["mx.example.org".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let report = evaluate(
            &[selfie.der().clone()],
            "mx.example.org",
            &roots,
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(report.chain_problem, Some(ChainProblem::SelfSigned));
        assert!(report.leaf.self_signed);
    }

    #[test]
    fn client_only_eku_is_not_for_server_auth() {
        let ca = make_ca("Lab Root");
        let (leaf, _) = make_leaf_with(
            &ca,
            &["mx.example.org"],
            now_secs() - 10,
            now_secs() + 86_400,
            &[ExtendedKeyUsagePurpose::ClientAuth],
        );
        let roots = Roots::from_der(std::slice::from_ref(&ca.cert)).unwrap();
        let report = evaluate(&[leaf], "mx.example.org", &roots, SystemTime::now()).unwrap();
        assert_eq!(report.chain_problem, Some(ChainProblem::NotForServerAuth));
    }

    #[test]
    fn overlong_chain_is_not_built() {
        let ca = make_ca("Lab Root");
        let (leaf, _) = make_leaf(&ca, &["mx.example.org"]);
        let chain: Vec<_> = std::iter::once(leaf)
            .chain(std::iter::repeat_n(ca.cert.clone(), 11))
            .collect();
        let roots = Roots::from_der(std::slice::from_ref(&ca.cert)).unwrap();
        let report = evaluate(&chain, "mx.example.org", &roots, SystemTime::now()).unwrap();
        assert_eq!(
            report.chain_problem,
            Some(ChainProblem::TooLong { len: 12 })
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let roots = Roots::default();
        assert!(matches!(
            evaluate(&[], "a.b", &roots, SystemTime::now()),
            Err(CertError::EmptyChain)
        ));
        for junk in [
            &b""[..],
            b"\x30",
            b"\x30\x84\xff\xff\xff\xff",
            b"\x30\x03\x02\x01\x00",
            b"hello",
        ] {
            let der = CertificateDer::from(junk.to_vec());
            assert!(matches!(summarize(&der), Err(CertError::Parse(_))));
            assert!(evaluate(&[der], "a.b", &roots, SystemTime::now()).is_err());
        }
        // A good leaf followed by garbage: the garbage is skipped in the summaries.
        let ca = make_ca("Lab Root");
        let (leaf, _) = make_leaf(&ca, &["mx.example.org"]);
        let chain = [leaf, CertificateDer::from(vec![0x30, 0x00])];
        let report = evaluate(&chain, "mx.example.org", &roots, SystemTime::now()).unwrap();
        assert_eq!(report.chain.len(), 1);
        assert!(report.chain_problem.is_some());
    }

    #[test]
    fn wildcard_rules() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(name_matches(&names(&["*.example.org"]), "mx.example.org"));
        assert!(name_matches(&names(&["*.Example.ORG."]), "MX.example.org."));
        assert!(!name_matches(
            &names(&["*.example.org"]),
            "a.mx.example.org"
        ));
        assert!(!name_matches(&names(&["*.example.org"]), "example.org"));
        assert!(!name_matches(&names(&["*.test"]), "mx.test"));
        assert!(!name_matches(&names(&["*.org"]), "example.org"));
        assert!(!name_matches(&names(&["m*.example.org"]), "mx.example.org"));
        assert!(!name_matches(&names(&["mx.*.org"]), "mx.example.org"));
        assert!(!name_matches(
            &names(&["*.*.example.org"]),
            "a.b.example.org"
        ));
        assert!(name_matches(
            &names(&["other.org", "mx.example.org"]),
            "mx.example.org"
        ));
        assert!(!name_matches(&names(&[""]), ""));
        assert!(!name_matches(&names(&["*"]), "localhost"));
        assert!(!name_matches(&names(&["*."]), "a."));
    }

    #[test]
    fn pem_file_roots() {
        let dir = tempfile::tempdir().unwrap();
        let ca = make_ca("Lab Root");
        let ca2 = make_ca("Lab Root 2");
        let path = dir.path().join("ca.pem");
        std::fs::write(
            &path,
            format!("{}\n{}", pem_of(&ca.cert), pem_of(&ca2.cert)),
        )
        .unwrap();
        assert_eq!(Roots::from_pem_file(&path).unwrap().len(), 2);

        std::fs::write(&path, KeyPair::generate().unwrap().serialize_pem()).unwrap();
        let err = Roots::from_pem_file(&path).unwrap_err();
        assert!(matches!(err, CertError::NoCertificates { .. }), "{err}");
        assert!(err.to_string().contains("holds no certificate"));

        std::fs::write(
            &path,
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(matches!(
            Roots::from_pem_file(&path),
            Err(CertError::BadPem { .. })
        ));

        let err = Roots::from_pem_file(&dir.path().join("missing.pem")).unwrap_err();
        assert!(err.to_string().contains("missing.pem"), "{err}");
    }

    pub(crate) fn pem_of(der: &CertificateDer) -> String {
        let b64 = data_encoding::BASE64.encode(der.as_ref());
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).unwrap());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    #[test]
    fn weak_keys_and_bit_counting() {
        assert!(weak_key_reason("RSA", 1024).unwrap().contains("1024 bits"));
        assert_eq!(weak_key_reason("RSA", 2048), None);
        assert!(weak_key_reason("ECDSA P-192", 192).is_some());
        assert_eq!(weak_key_reason("ECDSA P-224", 224), None);
        assert_eq!(weak_key_reason("Ed25519", 256), None);
        assert_eq!(der::integer_bits(&[0x00, 0x80, 0x00]), Some(16));
        assert_eq!(der::integer_bits(&[0x7f, 0x00]), Some(15));
        assert_eq!(der::integer_bits(&[0x00]), None);
        assert_eq!(der::oid_to_string(der::oid::P256), "1.2.840.10045.3.1.7");
    }

    /// A 1024-bit RSA self-signed certificate (openssl req -x509 -newkey rsa:1024), which no
    /// current library will generate for us.
    const RSA1024_PEM: &str = "-----BEGIN CERTIFICATE-----
MIICMTCCAZqgAwIBAgIUbxi4dKKbRIakFPVpjPBKVSpm1JowDQYJKoZIhvcNAQEL
BQAwGzEZMBcGA1UEAwwQd2Vhay5leGFtcGxlLm9yZzAgFw0yNjExMjUxODU2NTVa
GA8yMTI2MTEwMTE4NTY1NVowGzEZMBcGA1UEAwwQd2Vhay5leGFtcGxlLm9yZzCB
nzANBgkqhkiG9w0BAQEFAAOBjQAwgYkCgYEAsECXnUirlhA7j0GXNxTMpACDSqvl
P9GhfwFv202pbQLIZJEn1CC57W16vE5g4Fa3geiIWoPgJwQYha2rCai4XlBef5D5
s/EsnWUlZRgpdRMXJOWprgA07xxiD8CzKkG7G8/w8/KrxS/d5uTsREwrcryfa3My
r+uUEFQS+bIO3oUCAwEAAaNwMG4wHQYDVR0OBBYEFAkZfsZFzm8IWOi2gt3Sy4eS
imf9MB8GA1UdIwQYMBaAFAkZfsZFzm8IWOi2gt3Sy4eSimf9MA8GA1UdEwEB/wQF
MAMBAf8wGwYDVR0RBBQwEoIQd2Vhay5leGFtcGxlLm9yZzANBgkqhkiG9w0BAQsF
AAOBgQBwoI3lmMND4oclg/mK1AadLNmR6PhzvVbdb2R36Co1/unoDtEU7YI2qS55
2lt6smhsFyFDx0eRtCajauTZzql7leZI494UszzQHdOLpOAEdUqsy+Ay26Ju91+Z
ysHsHGcn+ehIaIWSztMx6AFqfzv2PmZfBr6afgSJio6kM0ShbA==
-----END CERTIFICATE-----
";

    #[test]
    fn rsa_1024_is_weak() {
        let der = CertificateDer::from_pem_slice(RSA1024_PEM.as_bytes()).unwrap();
        let summary = summarize(&der).unwrap();
        assert_eq!(summary.key_algorithm, "RSA");
        assert_eq!(summary.key_bits, 1024);
        assert!(summary.self_signed);
        let report = evaluate(
            &[der],
            "weak.example.org",
            &Roots::default(),
            SystemTime::now(),
        )
        .unwrap();
        assert!(report.weak_key.unwrap().contains("1024"));
    }

    #[test]
    fn rsa_2048_key_bits() {
        let ca = make_ca("Lab Root");
        let key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256);
        // ring cannot generate RSA keys; skip quietly when unavailable.
        if let Ok(key) = key {
            let cert = CertificateParams::new(vec!["rsa.example.org".to_string()])
                .unwrap()
                .signed_by(&key, &ca.issuer)
                .unwrap();
            let s = summarize(cert.der()).unwrap();
            assert_eq!((s.key_algorithm.as_str(), s.key_bits), ("RSA", 2048));
        }
    }
}
