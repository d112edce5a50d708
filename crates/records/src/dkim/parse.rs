//! The DKIM key record parser (RFC 6376 §3.6.1).

use data_encoding::BASE64;

use super::{DkimDiagnostic, DkimKeyRecord, DkimKeyType, HashAlgorithm, ServiceType, der};
use crate::tag_list::{self, Spec};

pub(super) fn parse(txt: &[u8]) -> DkimKeyRecord {
    let text = String::from_utf8_lossy(txt);
    let mut r = DkimKeyRecord {
        version: None,
        key_type: DkimKeyType::Rsa,
        revoked: false,
        key_bits: None,
        hash_algorithms: None,
        testing: false,
        strict: false,
        services: vec![ServiceType::Any],
        notes: None,
        unknown_tags: Vec::new(),
        diagnostics: Vec::new(),
    };
    let mut key: Option<String> = None;
    let mut seen: Vec<&str> = Vec::new();

    for (index, spec) in tag_list::split(&text).into_iter().enumerate() {
        let (name, value) = match spec {
            Spec::Tag { name, value } => (name, value),
            Spec::Malformed(text) => {
                r.diagnostics
                    .push(DkimDiagnostic::TagSyntax { text: text.into() });
                continue;
            }
        };
        // RFC 6376 §3.2: tag names are case-sensitive and must not repeat.
        if seen.contains(&name) {
            r.diagnostics
                .push(DkimDiagnostic::DuplicateTag { tag: name.into() });
            continue;
        }
        seen.push(name);
        match name {
            "v" => {
                if index != 0 {
                    r.diagnostics.push(DkimDiagnostic::VersionNotFirst {
                        value: value.into(),
                    });
                }
                if value != "DKIM1" {
                    r.diagnostics.push(DkimDiagnostic::BadVersion {
                        value: value.into(),
                    });
                }
                r.version = Some(value.into());
            }
            "k" => {
                r.key_type = match value.to_ascii_lowercase().as_str() {
                    "rsa" => DkimKeyType::Rsa,
                    "ed25519" => DkimKeyType::Ed25519,
                    _ => {
                        r.diagnostics.push(DkimDiagnostic::UnknownKeyType {
                            value: value.into(),
                        });
                        DkimKeyType::Unknown { name: value.into() }
                    }
                }
            }
            "p" => key = Some(tag_list::strip_fws(value)),
            "h" => {
                let algorithms: Vec<HashAlgorithm> = value
                    .split(':')
                    .map(tag_list::trim_fws)
                    .filter(|a| !a.is_empty())
                    .map(|a| match a.to_ascii_lowercase().as_str() {
                        "sha1" => HashAlgorithm::Sha1,
                        "sha256" => HashAlgorithm::Sha256,
                        _ => HashAlgorithm::Unknown { name: a.into() },
                    })
                    .collect();
                // RFC 8301 §3.1: SHA-1 must not be used; if it is all that is allowed, no
                // signature made with this key can verify.
                if algorithms.contains(&HashAlgorithm::Sha1)
                    && !algorithms.contains(&HashAlgorithm::Sha256)
                {
                    r.diagnostics.push(DkimDiagnostic::Sha1Only {
                        value: value.into(),
                    });
                }
                r.hash_algorithms = Some(algorithms);
            }
            "t" => {
                // Unknown flags must be ignored (RFC 6376 §3.6.1).
                for flag in value.split(':').map(tag_list::trim_fws) {
                    match flag {
                        "y" => r.testing = true,
                        "s" => r.strict = true,
                        _ => {}
                    }
                }
                if r.testing {
                    r.diagnostics.push(DkimDiagnostic::Testing);
                }
            }
            "s" => {
                r.services = value
                    .split(':')
                    .map(tag_list::trim_fws)
                    .filter(|s| !s.is_empty())
                    .map(|s| match s {
                        "*" => ServiceType::Any,
                        _ if s.eq_ignore_ascii_case("email") => ServiceType::Email,
                        _ => ServiceType::Other { name: s.into() },
                    })
                    .collect();
                if !r
                    .services
                    .iter()
                    .any(|s| matches!(s, ServiceType::Any | ServiceType::Email))
                {
                    r.diagnostics.push(DkimDiagnostic::ServiceNotEmail {
                        value: value.into(),
                    });
                }
            }
            "n" => r.notes = Some(value.into()),
            _ => {
                r.unknown_tags.push(name.into());
                r.diagnostics
                    .push(DkimDiagnostic::UnknownTag { tag: name.into() });
            }
        }
    }

    match key {
        None => r.diagnostics.push(DkimDiagnostic::MissingKey),
        Some(p) if p.is_empty() => {
            r.revoked = true;
            r.diagnostics.push(DkimDiagnostic::Revoked);
        }
        Some(p) => decode_key(&p, &mut r),
    }
    r
}

fn decode_key(p: &str, r: &mut DkimKeyRecord) {
    let Ok(bytes) = BASE64.decode(p.as_bytes()) else {
        r.diagnostics.push(DkimDiagnostic::BadBase64);
        return;
    };
    match &r.key_type {
        DkimKeyType::Rsa => match der::rsa_modulus_bits(&bytes) {
            Ok(bits) => {
                r.key_bits = Some(bits);
                if bits < 1024 {
                    r.diagnostics.push(DkimDiagnostic::RsaKeyTooSmall { bits });
                } else if bits < 2048 {
                    r.diagnostics.push(DkimDiagnostic::RsaKeyBelow2048 { bits });
                } else if bits > 4096 {
                    r.diagnostics.push(DkimDiagnostic::RsaKeyAbove4096 { bits });
                }
            }
            Err(reason) => r.diagnostics.push(DkimDiagnostic::UndecodableKey {
                key_type: "rsa".into(),
                reason: reason.into(),
            }),
        },
        DkimKeyType::Ed25519 => {
            if bytes.len() == 32 {
                r.key_bits = Some(256);
            } else {
                r.diagnostics.push(DkimDiagnostic::Ed25519KeyLength {
                    length: bytes.len(),
                });
            }
        }
        DkimKeyType::Unknown { .. } => {}
    }
}
