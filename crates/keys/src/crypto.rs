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
    /// The KEK file can be read by others, or is not a regular file (SP 800-177 Rec 4-4).
    #[error(
        "the key-encryption key file {path} {problem}; it must be a regular file of ours or \
         root's, readable only by its owner (`chmod 600 {path}`), not a symlink"
    )]
    KekFileUnsafe {
        /// The file.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A passphrase too short to stand an offline guessing attack on a copy of the store.
    #[error(
        "MAILTRUST_KEK_PASSPHRASE has {len} characters; a new store needs at least {min} (SP \
         800-63B-4 §3.1.1.2 for a password that is the only factor), or use a KEK file"
    )]
    PassphraseTooShort {
        /// Its length in characters.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// An empty passphrase: almost certainly an unset variable in a unit file, not a choice.
    #[error("MAILTRUST_KEK_PASSPHRASE is empty; refusing to derive a key-encryption key from it")]
    PassphraseEmpty,
    /// Passphrase key derivation failed (bad stored parameters).
    #[error("cannot derive the key-encryption key from the passphrase: {0}")]
    Kdf(String),
    /// The system random generator or AES failed.
    #[error("the crypto library failed: {0}")]
    Crypto(&'static str),
}

/// The shortest passphrase a new store accepts, in characters. 15, after SP 800-63B-4
/// §3.1.1.2 (a password used as the only factor): the passphrase is all that stands between a
/// copy of the store — a backup, a stolen disk — and every private key, and such a copy can be
/// attacked offline without any rate limit but Argon2id's cost.
pub const MIN_PASSPHRASE_CHARS: usize = 15;

/// Whether an existing store's passphrase is shorter than a new store would accept.
pub fn passphrase_is_short(passphrase: &str) -> bool {
    passphrase.chars().count() < MIN_PASSPHRASE_CHARS
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

    /// A KEK read from a file of exactly 32 raw bytes. The file is checked as the store is:
    /// opened without following a symlink (which could point at a file someone else controls),
    /// refused when group or others may read or write it, and read no further than 33 bytes
    /// (a KEK path pointing at a large file or a device must not be slurped into memory).
    pub fn from_file(path: &Path) -> Result<Self, CryptoError> {
        use std::io::Read;
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let shown = path.display().to_string();
        let unsafe_file = |problem: String| CryptoError::KekFileUnsafe {
            path: shown.clone(),
            problem,
        };
        let read_err = |source| CryptoError::KekFileRead {
            path: shown.clone(),
            source,
        };
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
        {
            Ok(f) => f,
            // ELOOP is what O_NOFOLLOW gives for a symlink.
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(unsafe_file("is a symlink".to_owned()));
            }
            Err(e) => return Err(read_err(e)),
        };
        let md = file.metadata().map_err(read_err)?;
        if !md.is_file() {
            return Err(unsafe_file("is not a regular file".to_owned()));
        }
        let mode = md.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(unsafe_file(format!("has mode {mode:o}")));
        }
        // As for a TSIG key file (mailtrust_dns::update): a KEK file someone else owns is a key
        // that someone else chose and can change; root's is accepted (a service reading a key
        // root provisioned).
        let owner = std::os::unix::fs::MetadataExt::uid(&md);
        let me = rustix::process::geteuid().as_raw();
        if owner != me && owner != 0 {
            return Err(unsafe_file(format!(
                "is owned by uid {owner}, neither by us (uid {me}) nor by root"
            )));
        }
        let mut data = Zeroizing::new(Vec::with_capacity(KEY_LEN + 1));
        file.take(KEY_LEN as u64 + 1)
            .read_to_end(&mut data)
            .map_err(read_err)?;
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

    /// A KEK for a new store from a passphrase: fresh Argon2id parameters, and a passphrase of
    /// at least [`MIN_PASSPHRASE_CHARS`] characters.
    pub fn new_from_passphrase(passphrase: &str) -> Result<Self, CryptoError> {
        let len = passphrase.chars().count();
        if len < MIN_PASSPHRASE_CHARS {
            return Err(if len == 0 {
                CryptoError::PassphraseEmpty
            } else {
                CryptoError::PassphraseTooShort {
                    len,
                    min: MIN_PASSPHRASE_CHARS,
                }
            });
        }
        Self::from_passphrase(passphrase, &KdfParams::generate()?)
    }

    /// A KEK derived from a passphrase with Argon2id and the given (stored) parameters. An
    /// empty passphrase is refused; a short one is accepted here because the store already
    /// uses it (refusing would lock its keys away) — the caller should tell the operator to
    /// rotate to a stronger KEK ([`passphrase_is_short`]).
    pub fn from_passphrase(passphrase: &str, params: &KdfParams) -> Result<Self, CryptoError> {
        if passphrase.is_empty() {
            return Err(CryptoError::PassphraseEmpty);
        }
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

/// What a sealed private key is bound to: the associated data of its wrapped data key.
///
/// Version 1 bound the data key to the key id only, so someone who could write the store but
/// did not have the KEK could swap a row's public key (or its domain, selector, purpose) and the
/// next `keys run` would publish it. Version 2 binds all of them: a row changed without the KEK
/// no longer opens. The private-key layer stays bound to the id: its data key opens only with
/// the binding intact, and keeping that layer lets a migration re-wrap the 60-byte data keys
/// without touching the ciphertexts (as `rotate-kek` does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyBinding {
    /// Schema 1 and 2: the key id only.
    V1(KeyId),
    /// Schema 3: the id and the canonical description of the key (purpose, domain, selector,
    /// algorithm, SHA-256 of the public key) that the store builds.
    V2 {
        /// The key.
        id: KeyId,
        /// The canonical bytes bound in.
        bound: Vec<u8>,
    },
}

impl KeyBinding {
    /// The number stored with the row (`keys.aad_version`).
    pub fn version(&self) -> i64 {
        match self {
            KeyBinding::V1(_) => 1,
            KeyBinding::V2 { .. } => 2,
        }
    }

    /// The key.
    pub fn id(&self) -> &KeyId {
        match self {
            KeyBinding::V1(id) | KeyBinding::V2 { id, .. } => id,
        }
    }

    // Distinct associated data for the two layers and for each version, so that one layer's
    // or version's output can never be presented as another's.
    fn wrap_aad(&self) -> Vec<u8> {
        match self {
            KeyBinding::V1(id) => format!("mailtrust-keys/v1/data-key/{id}").into_bytes(),
            KeyBinding::V2 { id, bound } => {
                let mut aad = format!("mailtrust-keys/v2/data-key/{id}\n").into_bytes();
                aad.extend_from_slice(bound);
                aad
            }
        }
    }
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

/// Encrypts a private key under a fresh data key, and wraps that data key under the KEK,
/// bound to `binding`.
pub fn seal(
    kek: &Kek,
    binding: &KeyBinding,
    private_pkcs8: &[u8],
) -> Result<SealedPrivateKey, CryptoError> {
    let mut data_key = Zeroizing::new([0u8; KEY_LEN]);
    random(data_key.as_mut())?;
    Ok(SealedPrivateKey {
        ciphertext: seal_with(data_key.as_ref(), &key_aad(binding.id()), private_pkcs8)?,
        wrapped_data_key: seal_with(kek.bytes.as_ref(), &binding.wrap_aad(), data_key.as_ref())?,
    })
}

/// Unwraps a data key; `None` when the KEK or the binding is not the one it was sealed with.
fn unwrap_data_key(
    kek: &Kek,
    binding: &KeyBinding,
    wrapped: &[u8],
) -> Result<Option<Zeroizing<Vec<u8>>>, CryptoError> {
    open_with(kek.bytes.as_ref(), &binding.wrap_aad(), wrapped)
}

/// Decrypts a private key. `None` when its data key does not open: with a KEK already checked
/// against the store, that means the row was changed (its binding no longer matches).
pub fn open(
    kek: &Kek,
    binding: &KeyBinding,
    sealed: &SealedPrivateKey,
) -> Result<Option<Zeroizing<Vec<u8>>>, CryptoError> {
    let Some(data_key) = unwrap_data_key(kek, binding, &sealed.wrapped_data_key)? else {
        return Ok(None);
    };
    open_with(&data_key, &key_aad(binding.id()), &sealed.ciphertext)?
        .map(Some)
        .ok_or_else(|| CryptoError::DamagedCiphertext(binding.id().clone()))
}

/// Re-wraps a data key from the old KEK and binding to the new ones (a KEK rotation, or the
/// migration to a newer binding). The key ciphertext is unchanged. `None` when the old
/// binding does not open it.
pub fn rewrap(
    old: &Kek,
    from: &KeyBinding,
    new: &Kek,
    to: &KeyBinding,
    wrapped_data_key: &[u8],
) -> Result<Option<Vec<u8>>, CryptoError> {
    let Some(data_key) = unwrap_data_key(old, from, wrapped_data_key)? else {
        return Ok(None);
    };
    seal_with(new.bytes.as_ref(), &to.wrap_aad(), &data_key).map(Some)
}

/// The version of the KEK check value: schema 3 seals it with its own associated data, so a
/// store downgraded to an older schema by someone without the KEK (to get rid of the keyed
/// audit log) is recognised: its check value opens only as version 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckVersion {
    /// Schema 1 and 2.
    Legacy,
    /// Schema 3.
    V3,
}

impl CheckVersion {
    fn aad(self) -> &'static [u8] {
        match self {
            CheckVersion::Legacy => b"mailtrust-keys/v1/kek-check",
            CheckVersion::V3 => b"mailtrust-keys/v3/kek-check",
        }
    }
}

const CHECK_PLAINTEXT: &[u8] = b"mailtrust key-encryption key check";

/// A value the store keeps to tell at once whether a KEK is the right one, even when the store
/// holds no key yet, so that a wrong KEK is refused before anything is written.
pub fn kek_check_value(kek: &Kek, version: CheckVersion) -> Result<Vec<u8>, CryptoError> {
    seal_with(kek.bytes.as_ref(), version.aad(), CHECK_PLAINTEXT)
}

/// Whether `kek` produced `check` as a `version` check value.
pub fn verify_kek(kek: &Kek, check: &[u8], version: CheckVersion) -> Result<(), CryptoError> {
    match open_with(kek.bytes.as_ref(), version.aad(), check)? {
        Some(p) if p.as_slice() == CHECK_PLAINTEXT => Ok(()),
        _ => Err(CryptoError::WrongKek),
    }
}

/// The key of the audit log's HMAC chain: 32 random bytes, kept in the store wrapped under the
/// KEK, so that rotating the KEK only re-wraps it and the log's MACs stay valid. Zeroed on
/// drop, never printed.
pub struct LogKey(Zeroizing<[u8; KEY_LEN]>);

impl fmt::Debug for LogKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogKey(<redacted>)")
    }
}

const LOG_KEY_AAD: &[u8] = b"mailtrust-keys/v3/log-key";

impl LogKey {
    /// A fresh random log key.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        random(bytes.as_mut())?;
        Ok(LogKey(bytes))
    }

    /// The log key wrapped under `kek`, as the store keeps it.
    pub fn wrap(&self, kek: &Kek) -> Result<Vec<u8>, CryptoError> {
        seal_with(kek.bytes.as_ref(), LOG_KEY_AAD, self.0.as_ref())
    }

    /// Unwraps the stored log key; `WrongKek` when `kek` does not open it.
    pub fn unwrap(kek: &Kek, wrapped: &[u8]) -> Result<Self, CryptoError> {
        let plain =
            open_with(kek.bytes.as_ref(), LOG_KEY_AAD, wrapped)?.ok_or(CryptoError::WrongKek)?;
        let bytes: [u8; KEY_LEN] = plain
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::WrongKek)?;
        Ok(LogKey(Zeroizing::new(bytes)))
    }

    /// HMAC-SHA256 of `data` under the log key, lower-case hex.
    pub fn mac_hex(&self, data: &[u8]) -> String {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, self.0.as_ref());
        data_encoding::HEXLOWER.encode(aws_lc_rs::hmac::sign(&key, data).as_ref())
    }

    /// Whether `mac_hex` is the HMAC of `data`, compared in constant time.
    pub fn verify_hex(&self, data: &[u8], mac_hex: &str) -> bool {
        let Ok(tag) = data_encoding::HEXLOWER_PERMISSIVE.decode(mac_hex.as_bytes()) else {
            return false;
        };
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, self.0.as_ref());
        aws_lc_rs::hmac::verify(&key, data, &tag).is_ok()
    }
}

impl Kek {
    /// A second handle on the same KEK, for a store that keeps it while unlocked.
    pub(crate) fn duplicate(&self) -> Kek {
        Kek {
            bytes: Zeroizing::new(*self.bytes),
            kdf: self.kdf.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> KeyId {
        KeyId::random().unwrap()
    }

    fn v2(id: &KeyId, what: &str) -> KeyBinding {
        KeyBinding::V2 {
            id: id.clone(),
            bound: what.as_bytes().to_vec(),
        }
    }

    #[test]
    fn seal_and_open_round_trip() {
        let kek = Kek::generate().unwrap();
        let b = v2(&id(), "example.com/s1");
        let sealed = seal(&kek, &b, b"private key bytes").unwrap();
        assert_eq!(
            open(&kek, &b, &sealed).unwrap().unwrap().as_slice(),
            b"private key bytes"
        );
        assert_eq!(sealed.wrapped_data_key.len(), NONCE_LEN + KEY_LEN + TAG_LEN);
        assert!(!sealed.ciphertext.windows(7).any(|w| w == b"private"));
    }

    #[test]
    fn wrong_kek_opens_nothing() {
        let b = KeyBinding::V1(id());
        let sealed = seal(&Kek::generate().unwrap(), &b, b"secret").unwrap();
        assert!(
            open(&Kek::generate().unwrap(), &b, &sealed)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn sealed_key_is_bound_to_its_id_and_its_binding() {
        let kek = Kek::generate().unwrap();
        let id = id();
        let sealed = seal(&kek, &v2(&id, "example.com/s1 pk=AAAA"), b"secret").unwrap();
        assert!(
            open(&kek, &v2(&id, "example.com/s1 pk=BBBB"), &sealed)
                .unwrap()
                .is_none()
        );
        assert!(open(&kek, &KeyBinding::V1(id), &sealed).unwrap().is_none());
        let other = KeyId::random().unwrap();
        assert!(
            open(&kek, &v2(&other, "example.com/s1 pk=AAAA"), &sealed)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn swapped_ciphertext_is_damaged() {
        let kek = Kek::generate().unwrap();
        let b = KeyBinding::V1(id());
        let mut a = seal(&kek, &b, b"one").unwrap();
        let other = seal(&kek, &b, b"two").unwrap();
        a.ciphertext = other.ciphertext;
        assert!(matches!(
            open(&kek, &b, &a),
            Err(CryptoError::DamagedCiphertext(_))
        ));
    }

    #[test]
    fn rewrap_moves_to_the_new_kek_and_binding() {
        let (old, new) = (Kek::generate().unwrap(), Kek::generate().unwrap());
        let id = id();
        let (b1, b2) = (KeyBinding::V1(id.clone()), v2(&id, "bound"));
        let mut sealed = seal(&old, &b1, b"secret").unwrap();
        sealed.wrapped_data_key = rewrap(&old, &b1, &new, &b2, &sealed.wrapped_data_key)
            .unwrap()
            .unwrap();
        assert_eq!(
            open(&new, &b2, &sealed).unwrap().unwrap().as_slice(),
            b"secret"
        );
        assert!(open(&old, &b2, &sealed).unwrap().is_none());
        assert!(open(&new, &b1, &sealed).unwrap().is_none());
    }

    #[test]
    fn check_values_are_versioned() {
        let kek = Kek::generate().unwrap();
        let v3 = kek_check_value(&kek, CheckVersion::V3).unwrap();
        verify_kek(&kek, &v3, CheckVersion::V3).unwrap();
        assert!(verify_kek(&kek, &v3, CheckVersion::Legacy).is_err());
    }

    #[test]
    fn log_key_macs_and_travels_wrapped() {
        let (kek, other) = (Kek::generate().unwrap(), Kek::generate().unwrap());
        let key = LogKey::generate().unwrap();
        let mac = key.mac_hex(b"row");
        assert!(key.verify_hex(b"row", &mac));
        assert!(!key.verify_hex(b"row2", &mac));
        assert!(!key.verify_hex(b"row", "zz"));
        let wrapped = key.wrap(&kek).unwrap();
        assert!(
            LogKey::unwrap(&kek, &wrapped)
                .unwrap()
                .verify_hex(b"row", &mac)
        );
        assert!(matches!(
            LogKey::unwrap(&other, &wrapped),
            Err(CryptoError::WrongKek)
        ));
        assert!(!LogKey::generate().unwrap().verify_hex(b"row", &mac));
        assert!(format!("{key:?}").contains("redacted"));
    }

    fn write_kek(path: &Path, bytes: &[u8], mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, bytes).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn kek_sources() {
        let hex = "00".repeat(31) + "01";
        let a = Kek::from_env_value(&hex).unwrap();
        let mut raw = [0u8; 32];
        raw[31] = 1;
        let b = Kek::from_env_value(&data_encoding::BASE64.encode(&raw)).unwrap();
        let check = kek_check_value(&a, CheckVersion::V3).unwrap();
        verify_kek(&b, &check, CheckVersion::V3).unwrap();
        assert!(Kek::from_env_value("abcd").is_err());
        assert!(verify_kek(&Kek::generate().unwrap(), &check, CheckVersion::V3).is_err());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        write_kek(&path, &raw, 0o600);
        verify_kek(&Kek::from_file(&path).unwrap(), &check, CheckVersion::V3).unwrap();
        write_kek(&path, b"too short", 0o600);
        let err = Kek::from_file(&path).unwrap_err();
        assert!(err.to_string().contains("exactly 32"), "{err}");
        assert!(format!("{a:?}").contains("redacted"));
    }

    /// The KEK file is held to the store's standard: private, a regular file, not a symlink,
    /// and not read past 33 bytes.
    #[test]
    fn kek_file_must_be_private_regular_and_small() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        for mode in [0o644, 0o640, 0o604, 0o660] {
            write_kek(&path, &[7u8; 32], mode);
            let err = Kek::from_file(&path).unwrap_err();
            assert!(
                matches!(err, CryptoError::KekFileUnsafe { .. })
                    && err.to_string().contains("chmod 600"),
                "{mode:o}: {err}"
            );
        }
        write_kek(&path, &[7u8; 32], 0o400);
        Kek::from_file(&path).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let err = Kek::from_file(&link).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        // Someone else's file, however private, is not our key (the test needs root to chown).
        if rustix::process::geteuid().is_root() {
            let theirs = dir.path().join("theirs");
            write_kek(&theirs, &[7u8; 32], 0o600);
            std::os::unix::fs::chown(&theirs, Some(65534), None).unwrap();
            let err = Kek::from_file(&theirs).unwrap_err();
            assert!(err.to_string().contains("owned by uid 65534"), "{err}");
        }
        let err = Kek::from_file(dir.path()).unwrap_err();
        assert!(matches!(err, CryptoError::KekFileUnsafe { .. }), "{err}");
        let big = dir.path().join("big");
        write_kek(&big, &vec![1u8; 1 << 20], 0o600);
        let err = Kek::from_file(&big).unwrap_err();
        assert!(
            matches!(err, CryptoError::KekFileSize { len: 33, .. }),
            "{err}"
        );
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
        let a = Kek::from_passphrase("correct horse battery", &params).unwrap();
        let b = Kek::from_passphrase("correct horse battery", &params).unwrap();
        let c = Kek::from_passphrase("wrong horse battery", &params).unwrap();
        let check = kek_check_value(&a, CheckVersion::V3).unwrap();
        verify_kek(&b, &check, CheckVersion::V3).unwrap();
        assert!(matches!(
            verify_kek(&c, &check, CheckVersion::V3),
            Err(CryptoError::WrongKek)
        ));
        assert_eq!(a.kdf_params(), Some(&params));
    }

    /// An empty passphrase is refused always; a short one for a new store.
    #[test]
    fn empty_and_short_passphrases_are_refused() {
        let params = KdfParams {
            m_cost: 256,
            t_cost: 1,
            p_cost: 1,
            ..KdfParams::generate().unwrap()
        };
        assert!(matches!(
            Kek::from_passphrase("", &params),
            Err(CryptoError::PassphraseEmpty)
        ));
        assert!(matches!(
            Kek::new_from_passphrase(""),
            Err(CryptoError::PassphraseEmpty)
        ));
        let err = Kek::new_from_passphrase("fourteen chars").unwrap_err();
        assert!(
            matches!(err, CryptoError::PassphraseTooShort { len: 14, min: 15 }),
            "{err}"
        );
        assert!(passphrase_is_short("fourteen chars"));
        assert!(!passphrase_is_short("fifteen chars!!"));
        // An existing store's short passphrase still opens it (the caller warns).
        Kek::from_passphrase("short", &params).unwrap();
    }
}
