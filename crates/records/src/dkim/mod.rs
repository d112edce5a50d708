//! DKIM public key records (RFC 6376 §3.6.1), published at `<selector>._domainkey.<domain>`,
//! with RFC 8301 (no SHA-1, RSA at least 1024 bits) and RFC 8463 (Ed25519).
//!
//! [`DkimKeyRecord::parse`] decodes the key itself to report its size: for RSA the modulus
//! length in bits, for Ed25519 256 when the key is the 32 bytes RFC 8463 requires.

mod der;
mod parse;
#[cfg(test)]
mod tests;

use serde::Serialize;

use crate::Severity;

/// The key algorithm (`k=`, RFC 6376 §3.6.1; RFC 8463).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DkimKeyType {
    /// `k=rsa`, the default.
    Rsa,
    /// `k=ed25519` (RFC 8463).
    Ed25519,
    /// Any other value: verifiers cannot use the key.
    Unknown {
        /// The value as written.
        name: String,
    },
}

/// A hash algorithm listed in `h=`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HashAlgorithm {
    /// `sha1`: forbidden for signing and verifying by RFC 8301 §3.1.
    Sha1,
    /// `sha256`.
    Sha256,
    /// Anything else, kept as written.
    Unknown {
        /// The value as written.
        name: String,
    },
}

/// A service type from `s=` (RFC 6376 §3.6.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServiceType {
    /// `*`: all services, the default.
    Any,
    /// `email`.
    Email,
    /// Anything else, kept as written.
    Other {
        /// The value as written.
        name: String,
    },
}

/// A parsed DKIM key record: the key summary and its diagnostics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DkimKeyRecord {
    /// `v=`, if present.
    pub version: Option<String>,
    /// `k=`, default RSA.
    pub key_type: DkimKeyType,
    /// True when `p=` is empty: the key has been revoked (RFC 6376 §3.6.1).
    pub revoked: bool,
    /// Key size in bits: the RSA modulus length, or 256 for a well-formed Ed25519 key. `None`
    /// when the key is revoked, missing or could not be decoded.
    pub key_bits: Option<u32>,
    /// `h=`: the hash algorithms allowed; `None` means all.
    pub hash_algorithms: Option<Vec<HashAlgorithm>>,
    /// `t=y`: the domain is testing DKIM; verifiers must not treat failures differently from
    /// unsigned mail.
    pub testing: bool,
    /// `t=s`: the `i=` domain of signatures must equal `d=`, not be a subdomain.
    pub strict: bool,
    /// `s=`: service types, default `*`.
    pub services: Vec<ServiceType>,
    /// `n=`: notes for people.
    pub notes: Option<String>,
    /// Names of tags this parser does not know, in order.
    pub unknown_tags: Vec<String>,
    /// Everything worth telling an administrator, in record order.
    pub diagnostics: Vec<DkimDiagnostic>,
}

impl DkimKeyRecord {
    /// Parses one DKIM key TXT string (character strings already joined).
    pub fn parse(txt: &[u8]) -> DkimKeyRecord {
        parse::parse(txt)
    }

    /// True when no diagnostic is an error. A revoked key is valid (it says what it means).
    pub fn is_valid(&self) -> bool {
        self.diagnostics
            .iter()
            .all(|d| d.severity() != Severity::Error)
    }

    /// True when verifiers can verify email signatures with this key: valid and not revoked.
    pub fn is_usable(&self) -> bool {
        self.is_valid() && !self.revoked
    }
}

/// A problem or remark about a DKIM key record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DkimDiagnostic {
    /// RFC 6376 §3.6.1: `v=`, if present, must be the first tag.
    #[error("\"v={value}\" is not the first tag; verifiers reject the key record")]
    VersionNotFirst {
        /// The value of `v`.
        value: String,
    },
    /// RFC 6376 §3.6.1: the only version is `DKIM1`.
    #[error(
        "v={value}: the only DKIM key record version is DKIM1; verifiers reject the key record"
    )]
    BadVersion {
        /// The value as written.
        value: String,
    },
    /// RFC 6376 §3.2: not `tag=value`.
    #[error("\"{text}\" is not a tag=value pair; verifiers reject the key record")]
    TagSyntax {
        /// The piece as written.
        text: String,
    },
    /// RFC 6376 §3.2: a duplicated tag makes the whole record invalid.
    #[error("the tag \"{tag}\" appears more than once; verifiers reject the key record")]
    DuplicateTag {
        /// Tag name.
        tag: String,
    },
    /// RFC 6376 §3.6.1: `p=` is required.
    #[error("no p= tag: the record holds no public key")]
    MissingKey,
    /// RFC 6376 §3.6.1: an empty `p=` revokes the key.
    #[error("p= is empty: this key has been revoked, signatures made with it fail")]
    Revoked,
    /// `p=` is not base64.
    #[error("p= is not valid base64")]
    BadBase64,
    /// `p=` decodes, but not to a key of the declared type.
    #[error("p= does not hold a usable {key_type} public key: {reason}")]
    UndecodableKey {
        /// `rsa` or `ed25519`.
        key_type: String,
        /// What went wrong.
        reason: String,
    },
    /// RFC 8463 §4.2: an Ed25519 `p=` is the bare 32-byte public key.
    #[error("the Ed25519 key is {length} bytes; RFC 8463 requires the bare 32-byte key")]
    Ed25519KeyLength {
        /// Decoded length in bytes.
        length: usize,
    },
    /// `k=` names an algorithm verifiers do not know.
    #[error("k={value}: unknown key type; verifiers cannot use this key (use rsa or ed25519)")]
    UnknownKeyType {
        /// The value as written.
        value: String,
    },
    /// RFC 8301 §3.1: only `sha1` allowed, but SHA-1 must not be used to verify.
    #[error(
        "h={value}: only SHA-1 is allowed, which RFC 8301 forbids; no signature with this key can verify"
    )]
    Sha1Only {
        /// The value as written.
        value: String,
    },
    /// `s=` does not include `email` or `*`.
    #[error(
        "s={value}: the key is not for email (expected \"*\" or \"email\"); verifiers ignore it for mail"
    )]
    ServiceNotEmail {
        /// The value as written.
        value: String,
    },
    /// RFC 8301 §3.2: verifiers must not accept RSA keys under 1024 bits.
    #[error(
        "the RSA key is {bits} bits; RFC 8301 forbids keys under 1024 bits, signatures will not verify"
    )]
    RsaKeyTooSmall {
        /// Modulus length.
        bits: u32,
    },
    /// RFC 8301 §3.2: signers SHOULD use at least 2048 bits.
    #[error("the RSA key is {bits} bits; RFC 8301 recommends at least 2048")]
    RsaKeyBelow2048 {
        /// Modulus length.
        bits: u32,
    },
    /// RFC 8301 §3.2: verifiers need only handle up to 4096 bits.
    #[error("the RSA key is {bits} bits; verifiers are only required to handle up to 4096")]
    RsaKeyAbove4096 {
        /// Modulus length.
        bits: u32,
    },
    /// `t=y`.
    #[error("t=y: the domain says it is testing DKIM")]
    Testing,
    /// RFC 6376 §3.2: unknown tags are ignored.
    #[error("unknown tag \"{tag}\", ignored by verifiers (tag names are case-sensitive)")]
    UnknownTag {
        /// Tag name as written.
        tag: String,
    },
}

impl DkimDiagnostic {
    /// How bad it is: errors mean verifiers cannot use the key.
    pub fn severity(&self) -> Severity {
        match self {
            DkimDiagnostic::VersionNotFirst { .. }
            | DkimDiagnostic::BadVersion { .. }
            | DkimDiagnostic::TagSyntax { .. }
            | DkimDiagnostic::DuplicateTag { .. }
            | DkimDiagnostic::MissingKey
            | DkimDiagnostic::BadBase64
            | DkimDiagnostic::UndecodableKey { .. }
            | DkimDiagnostic::Ed25519KeyLength { .. }
            | DkimDiagnostic::UnknownKeyType { .. }
            | DkimDiagnostic::Sha1Only { .. }
            | DkimDiagnostic::ServiceNotEmail { .. }
            | DkimDiagnostic::RsaKeyTooSmall { .. } => Severity::Error,
            DkimDiagnostic::RsaKeyBelow2048 { .. }
            | DkimDiagnostic::RsaKeyAbove4096 { .. }
            | DkimDiagnostic::Testing => Severity::Warning,
            DkimDiagnostic::Revoked | DkimDiagnostic::UnknownTag { .. } => Severity::Info,
        }
    }
}
