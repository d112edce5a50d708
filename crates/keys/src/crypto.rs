//! Envelope encryption of private keys at rest.
//!
//! Each private key is encrypted with AES-256-GCM under its own random 256-bit *data key*; the
//! data key is encrypted ("wrapped") with AES-256-GCM under the *key-encryption key* (KEK), with
//! the key id as associated data so that a wrapped data key moved to another row does not open.
//!
//! Why envelope encryption rather than encrypting every key under the KEK directly: destroying
//! a key is then erasing its 60-byte wrapped data key (crypto-shredding), which stays true even
//! if an old copy of the ciphertext survives in a SQLite free page or a backup; and rotating the
//! KEK re-wraps small data keys without touching the key ciphertexts.
//!
//! Why AES-256-GCM (aws-lc-rs) rather than age: it is already in the workspace, it is the
//! algorithm SP 800-38D approves, and the store holds raw fields, not files, so age's file
//! format would add nothing. Nonces are 96 random bits; each data key encrypts one message and
//! the KEK a few thousand at most, far below the 2^32 random-nonce limit of SP 800-38D §8.3.

use std::fmt;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::model::KeyId;

/// Length of the KEK and of every data key: 256 bits.
pub const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// What went wrong protecting or opening a private key.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// Authentication failed while unwrapping: a different KEK than the one the store uses.
    #[error(
        "the key-encryption key does not open this store: it is not the key (file, environment \
         variable or passphrase) the store was created or last rotated with; nothing was decrypted"
    )]
    WrongKek,
    /// The KEK unwrapped the data key, but the private key ciphertext did not open.
    #[error(
        "the encrypted private key of {0} is damaged or belongs to another key; nothing was decrypted"
    )]
    DamagedCiphertext(KeyId),
    /// A KEK file of the wrong size.
    #[error(
        "the key-encryption key file {path} holds {len} bytes; it must hold exactly 32 random bytes \
         (e.g. `head -c 32 /dev/urandom > {path}`)"
    )]
    KekFileSize {
        /// The file.
        path: String,
        /// Its size.
        len: usize,
    },
    /// The KEK file could not be read.
    #[error("cannot read the key-encryption key file {path}: {source}")]
    KekFileRead {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// An environment value that is neither 64 hex digits nor base64 of 32 bytes.
    #[error(
        "the key-encryption key from the environment must be 32 bytes written as 64 hexadecimal \
         digits or as base64 (44 characters)"
    )]
    KekEnvFormat,
    /// Passphrase key derivation failed (bad stored parameters).
    #[error("cannot derive the key-encryption key from the passphrase: {0}")]
    Kdf(String),
    /// The system random generator or AES failed.
    #[error("the crypto library failed: {0}")]
    Crypto(&'static str),
}

/// Argon2id parameters and salt for a passphrase KEK, stored with the store so that the same
/// passphrase derives the same KEK later (RFC 9106).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Always "argon2id" for now; stored so that a later change is recognisable.
    pub algorithm: String,
    /// 16 random bytes, base64.
    pub salt: String,
    /// Memory in KiB.
    pub m_cost: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Parallelism.
    pub p_cost: u32,
}

impl KdfParams {
    /// Fresh parameters with a random salt and RFC 9106 §4's second recommended option
    /// (64 MiB, 3 passes, 4 lanes), which costs well under a second.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut salt = [0u8; 16];
        random(&mut salt)?;
        Ok(KdfParams {
            algorithm: "argon2id".to_owned(),
            salt: data_encoding::BASE64.encode(&salt),
            m_cost: 64 * 1024,
            t_cost: 3,
            p_cost: 4,
        })
    }
}

/// The key-encryption key. Zeroed when dropped, never printed.
pub struct Kek {
    bytes: Zeroizing<[u8; KEY_LEN]>,
    kdf: Option<KdfParams>,
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kek")
            .field("bytes", &"<redacted>")
            .field("kdf", &self.kdf)
            .finish()
    }
}

impl Kek {
    /// A KEK from 32 raw bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Kek {
            bytes: Zeroizing::new(bytes),
            kdf: None,
        }
    }

    /// A fresh random KEK (for tests and `keys init --generate-kek`).
    pub fn generate() -> Result<Self, CryptoError> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        random(bytes.as_mut())?;
        Ok(Kek { bytes, kdf: None })
    }

    /// A KEK read from a file of exactly 32 raw bytes.
    pub fn from_file(path: &Path) -> Result<Self, CryptoError> {
        let shown = path.display().to_string();
        let data =
            Zeroizing::new(
                std::fs::read(path).map_err(|source| CryptoError::KekFileRead {
                    path: shown.clone(),
                    source,
                })?,
            );
        let bytes: [u8; KEY_LEN] =
            data.as_slice()
                .try_into()
                .map_err(|_| CryptoError::KekFileSize {
                    path: shown,
                    len: data.len(),
                })?;
        Ok(Kek::from_bytes(bytes))
    }

    /// A KEK from an environment variable's value: 64 hex digits or base64 of 32 bytes.
    pub fn from_env_value(value: &str) -> Result<Self, CryptoError> {
        let v = value.trim();
        let decoded = if v.len() == 2 * KEY_LEN {
            data_encoding::HEXLOWER_PERMISSIVE.decode(v.as_bytes())
        } else {
            data_encoding::BASE64.decode(v.as_bytes())
        };
        let data = Zeroizing::new(decoded.map_err(|_| CryptoError::KekEnvFormat)?);
        let bytes: [u8; KEY_LEN] = data
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::KekEnvFormat)?;
        Ok(Kek::from_bytes(bytes))
    }

    /// A KEK derived from a passphrase with Argon2id and the given (stored) parameters.
    pub fn from_passphrase(passphrase: &str, params: &KdfParams) -> Result<Self, CryptoError> {
        if params.algorithm != "argon2id" {
            return Err(CryptoError::Kdf(format!(
                "unknown algorithm {}",
                params.algorithm
            )));
        }
        let salt = data_encoding::BASE64
            .decode(params.salt.as_bytes())
            .map_err(|e| CryptoError::Kdf(format!("bad salt: {e}")))?;
        let argon_params =
            argon2::Params::new(params.m_cost, params.t_cost, params.p_cost, Some(KEY_LEN))
                .map_err(|e| CryptoError::Kdf(e.to_string()))?;
        let argon = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon_params,
        );
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        argon
            .hash_password_into(passphrase.as_bytes(), &salt, bytes.as_mut())
            .map_err(|e| CryptoError::Kdf(e.to_string()))?;
        Ok(Kek {
            bytes,
            kdf: Some(params.clone()),
        })
    }

    /// The KDF parameters if this KEK came from a passphrase; the store keeps them.
    pub fn kdf_params(&self) -> Option<&KdfParams> {
        self.kdf.as_ref()
    }
}

/// A private key as the store keeps it: useless without the KEK, and useless even with it once
/// the wrapped data key is erased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedPrivateKey {
    /// nonce ‖ AES-256-GCM(KEK, data key) ‖ tag; associated data: the key id.
    pub wrapped_data_key: Vec<u8>,
    /// nonce ‖ AES-256-GCM(data key, PKCS#8) ‖ tag; associated data: the key id.
    pub ciphertext: Vec<u8>,
}

fn random(out: &mut [u8]) -> Result<(), CryptoError> {
    aws_lc_rs::rand::fill(out).map_err(|_| CryptoError::Crypto("no randomness from the system"))
}

// Distinct associated data for the two layers, so that one layer's output can never be
// presented as the other's.
fn wrap_aad(id: &KeyId) -> Vec<u8> {
    format!("mailtrust-keys/v1/data-key/{id}").into_bytes()
}

fn key_aad(id: &KeyId) -> Vec<u8> {
    format!("mailtrust-keys/v1/private-key/{id}").into_bytes()
}

fn aes_key(key: &[u8]) -> Result<LessSafeKey, CryptoError> {
    UnboundKey::new(&AES_256_GCM, key)
        .map(LessSafeKey::new)
        .map_err(|_| CryptoError::Crypto("bad AES key length"))
}

fn seal_with(key: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let key = aes_key(key)?;
    let mut nonce = [0u8; NONCE_LEN];
    random(&mut nonce)?;
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&nonce);
    let mut body = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut body,
    )
    .map_err(|_| CryptoError::Crypto("AES-GCM encryption failed"))?;
    out.extend_from_slice(&body);
    body.zeroize();
    Ok(out)
}

/// Opens `nonce ‖ ciphertext ‖ tag`; `None` when authentication fails.
fn open_with(
    key: &[u8],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Option<Zeroizing<Vec<u8>>>, CryptoError> {
    let key = aes_key(key)?;
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Ok(None);
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce)
        .map_err(|_| CryptoError::Crypto("bad nonce length"))?;
    let mut buf = Zeroizing::new(body.to_vec());
    match key.open_in_place(nonce, Aad::from(aad), buf.as_mut_slice()) {
        Ok(plain) => {
            let len = plain.len();
            buf.truncate(len);
            Ok(Some(buf))
        }
        Err(_) => Ok(None),
    }
}

/// Encrypts a private key under a fresh data key, and wraps that data key under the KEK.
pub fn seal(kek: &Kek, id: &KeyId, private_pkcs8: &[u8]) -> Result<SealedPrivateKey, CryptoError> {
    let mut data_key = Zeroizing::new([0u8; KEY_LEN]);
    random(data_key.as_mut())?;
    Ok(SealedPrivateKey {
        ciphertext: seal_with(data_key.as_ref(), &key_aad(id), private_pkcs8)?,
        wrapped_data_key: seal_with(kek.bytes.as_ref(), &wrap_aad(id), data_key.as_ref())?,
    })
}

fn unwrap_data_key(
    kek: &Kek,
    id: &KeyId,
    wrapped: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    open_with(kek.bytes.as_ref(), &wrap_aad(id), wrapped)?.ok_or(CryptoError::WrongKek)
}

/// Decrypts a private key. A wrong KEK fails before anything is decrypted.
pub fn open(
    kek: &Kek,
    id: &KeyId,
    sealed: &SealedPrivateKey,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let data_key = unwrap_data_key(kek, id, &sealed.wrapped_data_key)?;
    open_with(&data_key, &key_aad(id), &sealed.ciphertext)?
        .ok_or_else(|| CryptoError::DamagedCiphertext(id.clone()))
}

/// Re-wraps a data key from the old KEK to the new one. The key ciphertext is unchanged.
pub fn rewrap(
    old: &Kek,
    new: &Kek,
    id: &KeyId,
    wrapped_data_key: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let data_key = unwrap_data_key(old, id, wrapped_data_key)?;
    seal_with(new.bytes.as_ref(), &wrap_aad(id), &data_key)
}

const CHECK_AAD: &[u8] = b"mailtrust-keys/v1/kek-check";
const CHECK_PLAINTEXT: &[u8] = b"mailtrust key-encryption key check";

/// A value the store keeps to tell at once whether a KEK is the right one, even when the store
/// holds no key yet, so that a wrong KEK is refused before anything is written.
pub fn kek_check_value(kek: &Kek) -> Result<Vec<u8>, CryptoError> {
    seal_with(kek.bytes.as_ref(), CHECK_AAD, CHECK_PLAINTEXT)
}

/// Whether `kek` produced `check`.
pub fn verify_kek(kek: &Kek, check: &[u8]) -> Result<(), CryptoError> {
    match open_with(kek.bytes.as_ref(), CHECK_AAD, check)? {
        Some(p) if p.as_slice() == CHECK_PLAINTEXT => Ok(()),
        _ => Err(CryptoError::WrongKek),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> KeyId {
        KeyId::random().unwrap()
    }

    #[test]
    fn seal_and_open_round_trip() {
        let kek = Kek::generate().unwrap();
        let id = id();
        let sealed = seal(&kek, &id, b"private key bytes").unwrap();
        assert_eq!(
            open(&kek, &id, &sealed).unwrap().as_slice(),
            b"private key bytes"
        );
        assert_eq!(sealed.wrapped_data_key.len(), NONCE_LEN + KEY_LEN + TAG_LEN);
        assert!(!sealed.ciphertext.windows(7).any(|w| w == b"private"));
    }

    #[test]
    fn wrong_kek_is_a_clear_error() {
        let id = id();
        let sealed = seal(&Kek::generate().unwrap(), &id, b"secret").unwrap();
        let err = open(&Kek::generate().unwrap(), &id, &sealed).unwrap_err();
        assert!(matches!(err, CryptoError::WrongKek));
        assert!(err.to_string().contains("nothing was decrypted"));
    }

    #[test]
    fn sealed_key_is_bound_to_its_id() {
        let kek = Kek::generate().unwrap();
        let sealed = seal(&kek, &id(), b"secret").unwrap();
        assert!(matches!(
            open(&kek, &id(), &sealed),
            Err(CryptoError::WrongKek)
        ));
    }

    #[test]
    fn swapped_ciphertext_is_damaged() {
        let kek = Kek::generate().unwrap();
        let id = id();
        let mut a = seal(&kek, &id, b"one").unwrap();
        let b = seal(&kek, &id, b"two").unwrap();
        a.ciphertext = b.ciphertext;
        assert!(matches!(
            open(&kek, &id, &a),
            Err(CryptoError::DamagedCiphertext(_))
        ));
    }

    #[test]
    fn rewrap_moves_to_the_new_kek() {
        let (old, new) = (Kek::generate().unwrap(), Kek::generate().unwrap());
        let id = id();
        let mut sealed = seal(&old, &id, b"secret").unwrap();
        sealed.wrapped_data_key = rewrap(&old, &new, &id, &sealed.wrapped_data_key).unwrap();
        assert_eq!(open(&new, &id, &sealed).unwrap().as_slice(), b"secret");
        assert!(open(&old, &id, &sealed).is_err());
    }

    #[test]
    fn kek_sources() {
        let hex = "00".repeat(31) + "01";
        let a = Kek::from_env_value(&hex).unwrap();
        let mut raw = [0u8; 32];
        raw[31] = 1;
        let b = Kek::from_env_value(&data_encoding::BASE64.encode(&raw)).unwrap();
        let check = kek_check_value(&a).unwrap();
        verify_kek(&b, &check).unwrap();
        assert!(Kek::from_env_value("abcd").is_err());
        assert!(verify_kek(&Kek::generate().unwrap(), &check).is_err());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        std::fs::write(&path, raw).unwrap();
        verify_kek(&Kek::from_file(&path).unwrap(), &check).unwrap();
        std::fs::write(&path, b"too short").unwrap();
        let err = Kek::from_file(&path).unwrap_err();
        assert!(err.to_string().contains("exactly 32"), "{err}");
        assert!(format!("{a:?}").contains("redacted"));
    }

    #[test]
    fn passphrase_kek_is_reproducible_from_stored_params() {
        // Small costs keep the test fast; the parameters are what the store would keep.
        let params = KdfParams {
            m_cost: 256,
            t_cost: 1,
            p_cost: 1,
            ..KdfParams::generate().unwrap()
        };
        let a = Kek::from_passphrase("correct horse", &params).unwrap();
        let b = Kek::from_passphrase("correct horse", &params).unwrap();
        let c = Kek::from_passphrase("wrong horse", &params).unwrap();
        let check = kek_check_value(&a).unwrap();
        verify_kek(&b, &check).unwrap();
        assert!(matches!(verify_kek(&c, &check), Err(CryptoError::WrongKek)));
        assert_eq!(a.kdf_params(), Some(&params));
    }
}
