//! Keys in and out as PEM: PKCS#8 private keys (what OpenDKIM, rspamd and most signers read) and
//! SubjectPublicKeyInfo public keys.
//!
//! Parsing uses rustls-pki-types' PEM reader. Writing PEM is 64-column base64 between two lines,
//! which no crate in the tree offers on its own; it is a few lines here.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use zeroize::Zeroizing;

use crate::generate::DkimPublicKey;
use crate::model::{Algorithm, ModelError, WeakKeys};

/// Why a key could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// No `-----BEGIN PRIVATE KEY-----` block, or a broken one.
    #[error(
        "no PKCS#8 private key in the PEM input ({0}); convert with `openssl pkcs8 -topk8 -nocrypt`"
    )]
    Pem(String),
    /// The DER inside is not an RSA or Ed25519 key aws-lc-rs accepts.
    #[error("the PKCS#8 key is neither an RSA key of 2048 bits or more nor an Ed25519 key ({0})")]
    Unsupported(String),
    /// The size is not allowed.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// PEM text for `der` under `label`.
fn encode(label: &str, der: &[u8]) -> String {
    let b64 = data_encoding::BASE64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The private key as PEM (`PRIVATE KEY`, PKCS#8), in memory that is wiped on drop.
pub fn private_key_pem(pkcs8: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(encode("PRIVATE KEY", pkcs8))
}

/// The public key as PEM (`PUBLIC KEY`, SubjectPublicKeyInfo).
pub fn public_key_pem(key: &DkimPublicKey) -> String {
    match key.algorithm {
        Algorithm::Ed25519 => {
            // RFC 8410 §4: SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING key }.
            let mut spki = vec![
                0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
            ];
            spki.extend_from_slice(&key.bytes);
            encode("PUBLIC KEY", &spki)
        }
        _ => encode("PUBLIC KEY", &key.bytes),
    }
}

/// Reads a PKCS#8 private key from PEM and derives its algorithm and public key.
pub fn import_private(
    pem: &[u8],
    weak: WeakKeys,
) -> Result<(DkimPublicKey, Zeroizing<Vec<u8>>), ImportError> {
    let der =
        PrivatePkcs8KeyDer::from_pem_slice(pem).map_err(|e| ImportError::Pem(e.to_string()))?;
    let bytes = Zeroizing::new(der.secret_pkcs8_der().to_vec());
    let public = public_of(&bytes, weak)?;
    Ok((public, bytes))
}

/// The public key (and algorithm) of a PKCS#8 private key, derived from the private key itself:
/// what the store checks a row's stored public key against before it is published.
pub fn public_of(pkcs8: &[u8], weak: WeakKeys) -> Result<DkimPublicKey, ImportError> {
    let bytes = pkcs8;
    if let Ok(pair) = RsaKeyPair::from_pkcs8(bytes) {
        let bits = u32::try_from(pair.public_modulus_len() * 8).unwrap_or(u32::MAX);
        let algorithm = Algorithm::rsa_bits(bits, weak)?;
        let spki = pair
            .public_key()
            .as_der()
            .map_err(|e| ImportError::Unsupported(e.to_string()))?;
        return Ok(DkimPublicKey {
            algorithm,
            bytes: spki.as_ref().to_vec(),
        });
    }
    match Ed25519KeyPair::from_pkcs8_maybe_unchecked(bytes) {
        Ok(pair) => Ok(DkimPublicKey {
            algorithm: Algorithm::Ed25519,
            bytes: pair.public_key().as_ref().to_vec(),
        }),
        Err(e) => Err(ImportError::Unsupported(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate;

    #[test]
    fn round_trips_rsa_and_ed25519() {
        for alg in [Algorithm::Rsa2048, Algorithm::Ed25519] {
            let g = generate(alg).unwrap();
            let pem = private_key_pem(&g.private_pkcs8);
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
            assert!(pem.lines().all(|l| l.len() <= 64));
            let (public, private) = import_private(pem.as_bytes(), WeakKeys::Refuse).unwrap();
            assert_eq!(public, g.public);
            assert_eq!(private.as_slice(), g.private_pkcs8.as_slice());
            assert!(public_key_pem(&public).starts_with("-----BEGIN PUBLIC KEY-----"));
        }
    }

    #[test]
    fn malformed_input_is_a_clear_error() {
        for bad in [
            &b""[..],
            b"-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            b"-----BEGIN PRIVATE KEY-----\nAAAAAAAA\n-----END PRIVATE KEY-----\n",
        ] {
            let e = import_private(bad, WeakKeys::Refuse).unwrap_err();
            assert!(!e.to_string().is_empty());
        }
    }
}
