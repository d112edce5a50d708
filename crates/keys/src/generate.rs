//! Key generation and the DKIM key record (RFC 6376 §3.6.1, RFC 8463).
//!
//! Keys come from aws-lc-rs, the crypto library already in the workspace (hickory's DNSSEC and
//! rustls use it), so mailtrust carries one implementation of RSA and Ed25519, not two.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use zeroize::Zeroizing;

use crate::model::{Algorithm, Domain, ModelError, Selector};

/// Why a key could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// RSA-1024 is accepted for import only.
    #[error(
        "new RSA-1024 keys are not generated: they are weak (RFC 8301); import an existing one \
         with --allow-weak if you must, or generate rsa-2048"
    )]
    WeakNotGenerated,
    /// The crypto library failed (entropy or internal error).
    #[error("the crypto library could not generate a {0} key")]
    Crypto(Algorithm),
}

/// The public half of a key in the form the DKIM `p=` tag carries: for RSA the DER
/// SubjectPublicKeyInfo (RFC 6376 §3.6.1), for Ed25519 the raw 32 bytes (RFC 8463 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimPublicKey {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The bytes that `p=` holds in base64.
    pub bytes: Vec<u8>,
}

/// A freshly generated key pair. The private half is PKCS#8 DER, zeroed when dropped, and
/// never printed by `Debug`.
pub struct GeneratedKey {
    /// The public half, as DKIM publishes it.
    pub public: DkimPublicKey,
    /// PKCS#8 v1 DER (RFC 5208), the form OpenDKIM and most signers read.
    pub private_pkcs8: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("public", &self.public)
            .field("private_pkcs8", &"<redacted>")
            .finish()
    }
}

/// Generates a new key pair.
pub fn generate(algorithm: Algorithm) -> Result<GeneratedKey, GenerateError> {
    let crypto = |_| GenerateError::Crypto(algorithm);
    let size = match algorithm {
        Algorithm::Rsa1024 => return Err(GenerateError::WeakNotGenerated),
        Algorithm::Rsa2048 => KeySize::Rsa2048,
        Algorithm::Rsa3072 => KeySize::Rsa3072,
        Algorithm::Rsa4096 => KeySize::Rsa4096,
        Algorithm::Ed25519 => {
            let pair = Ed25519KeyPair::generate().map_err(crypto)?;
            let der: Pkcs8V1Der<'_> = pair.as_der().map_err(crypto)?;
            return Ok(GeneratedKey {
                public: DkimPublicKey {
                    algorithm,
                    bytes: pair.public_key().as_ref().to_vec(),
                },
                private_pkcs8: Zeroizing::new(der.as_ref().to_vec()),
            });
        }
    };
    let pair = RsaKeyPair::generate(size).map_err(crypto)?;
    let der: Pkcs8V1Der<'_> = pair.as_der().map_err(crypto)?;
    let spki: PublicKeyX509Der<'_> = pair.public_key().as_der().map_err(crypto)?;
    Ok(GeneratedKey {
        public: DkimPublicKey {
            algorithm,
            bytes: spki.as_ref().to_vec(),
        },
        private_pkcs8: Zeroizing::new(der.as_ref().to_vec()),
    })
}

/// The text of the DKIM key record: `v=DKIM1; k=<rsa|ed25519>; p=<base64>`.
pub fn dkim_record_text(key: &DkimPublicKey) -> String {
    format!(
        "v=DKIM1; k={}; p={}",
        key.algorithm.dkim_key_type(),
        data_encoding::BASE64.encode(&key.bytes)
    )
}

/// The record that revokes a key: `p=` empty (RFC 6376 §3.6.1), keeping `k=` so that a reader
/// of the zone still sees which key it was.
pub fn revoked_record_text(algorithm: Algorithm) -> String {
    format!("v=DKIM1; k={}; p=", algorithm.dkim_key_type())
}

/// The record text as TXT character-strings of at most 255 bytes (RFC 1035 §3.3), which
/// verifiers join without separators (RFC 6376 §3.6.2.2). The split is the one the RFC 2136
/// publisher uses, so the zone-file output and the UPDATE carry the same strings.
pub fn txt_character_strings(text: &str) -> Vec<String> {
    mailtrust_dns::update::txt_strings(text)
}

/// The record in zone-file presentation form (RFC 1035 §5.1), for people who publish by hand:
/// `<selector>._domainkey.<domain>. <ttl> IN TXT "..." "..."`.
pub fn zone_file_entry(
    selector: &Selector,
    domain: &Domain,
    ttl: u32,
    text: &str,
) -> Result<String, ModelError> {
    let name = selector.record_name(domain)?;
    let strings = txt_character_strings(text);
    Ok(format!(
        "{name}. {ttl} IN TXT {}",
        mailtrust_dns::txt::presentation(&strings)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailtrust_records::{DkimKeyRecord, DkimKeyType};

    fn check_round_trip(algorithm: Algorithm) {
        let key = generate(algorithm).unwrap();
        let text = dkim_record_text(&key.public);
        let strings = txt_character_strings(&text);
        assert!(strings.iter().all(|s| s.len() <= 255));
        assert_eq!(strings.concat(), text);
        let parsed = DkimKeyRecord::parse(strings.concat().as_bytes());
        assert!(parsed.is_usable(), "{:?}", parsed.diagnostics);
        assert_eq!(parsed.key_bits, Some(algorithm.bits()));
        let expected_type = match algorithm {
            Algorithm::Ed25519 => DkimKeyType::Ed25519,
            _ => DkimKeyType::Rsa,
        };
        assert_eq!(parsed.key_type, expected_type);
    }

    #[test]
    fn rsa_2048_record_parses_with_its_size() {
        check_round_trip(Algorithm::Rsa2048);
    }

    #[test]
    fn rsa_3072_record_parses_with_its_size() {
        check_round_trip(Algorithm::Rsa3072);
    }

    #[test]
    fn rsa_4096_record_needs_several_strings_and_parses() {
        check_round_trip(Algorithm::Rsa4096);
        let key = generate(Algorithm::Rsa4096).unwrap();
        assert!(txt_character_strings(&dkim_record_text(&key.public)).len() >= 3);
    }

    #[test]
    fn ed25519_record_is_the_raw_key() {
        check_round_trip(Algorithm::Ed25519);
        let key = generate(Algorithm::Ed25519).unwrap();
        assert_eq!(key.public.bytes.len(), 32);
        assert!(Ed25519KeyPair::from_pkcs8(&key.private_pkcs8).is_ok());
    }

    #[test]
    fn private_key_is_pkcs8_and_redacted_in_debug() {
        let key = generate(Algorithm::Rsa2048).unwrap();
        assert!(RsaKeyPair::from_pkcs8(&key.private_pkcs8).is_ok());
        assert!(format!("{key:?}").contains("<redacted>"));
    }

    #[test]
    fn weak_keys_are_not_generated() {
        assert!(matches!(
            generate(Algorithm::Rsa1024),
            Err(GenerateError::WeakNotGenerated)
        ));
    }

    #[test]
    fn revoked_record_has_empty_p() {
        let parsed = DkimKeyRecord::parse(revoked_record_text(Algorithm::Rsa2048).as_bytes());
        assert!(parsed.revoked);
        assert!(parsed.is_valid());
    }

    #[test]
    fn zone_file_entry_quotes_each_string() {
        let d = Domain::new("example.com").unwrap();
        let s = Selector::new("sel").unwrap();
        let one = zone_file_entry(&s, &d, 3600, "v=DKIM1; k=ed25519; p=AAAA").unwrap();
        assert_eq!(
            one,
            "sel._domainkey.example.com. 3600 IN TXT \"v=DKIM1; k=ed25519; p=AAAA\""
        );
        let many = zone_file_entry(&s, &d, 300, &"y".repeat(300)).unwrap();
        let expected = format!("\"{}\" \"{}\"", "y".repeat(255), "y".repeat(45));
        assert_eq!(
            many,
            format!("sel._domainkey.example.com. 300 IN TXT {expected}")
        );
    }
}
