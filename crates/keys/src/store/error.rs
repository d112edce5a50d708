//! What can go wrong with the key store, in words that tell an administrator what to do.

use std::path::PathBuf;

use super::restore;
use crate::crypto::CryptoError;
use crate::model::{Domain, IllegalTransition, KeyId, KeyState, ModelError, Selector};

/// What went wrong with the key store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `create` on a path that exists.
    #[error("{0} already exists; open it instead of creating it, or choose another path")]
    AlreadyExists(PathBuf),
    /// `open` on a path that does not exist.
    #[error("no key store at {0}; create one first")]
    NotFound(PathBuf),
    /// A file that is not a mailtrust key store.
    #[error("{0} is not a mailtrust key store")]
    NotAStore(PathBuf),
    /// A store written by a newer mailtrust.
    #[error(
        "{path} has store schema version {found}, newer than the {supported} this mailtrust \
         understands; upgrade mailtrust (the store was not changed)"
    )]
    NewerSchema {
        /// The store.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// Ours.
        supported: i64,
    },
    /// The store file is readable or writable by others (SP 800-177 Rec 4-4).
    #[error(
        "{path} has mode {mode:o}: private keys must be readable only by the signer; run \
         `chmod 600 {}`",
        path.display()
    )]
    InsecurePermissions {
        /// The store.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// SQLite reported an error.
    #[error("the key store database failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// No key with this id.
    #[error("no key with id {0} in the store (see `mailtrust keys list`)")]
    UnknownKey(KeyId),
    /// The selector is taken by a key that still exists.
    #[error(
        "the selector {selector} of {domain} is already used by key {existing} ({state}); a \
         selector belongs to one key until that key is destroyed — choose a new selector"
    )]
    DuplicateSelector {
        /// The domain.
        domain: Domain,
        /// The selector.
        selector: Selector,
        /// The key holding it.
        existing: KeyId,
        /// That key's state.
        state: KeyState,
    },
    /// A lifecycle step the key's state does not allow.
    #[error("key {id}: {source}")]
    Illegal {
        /// The key.
        id: KeyId,
        /// The refused step.
        source: IllegalTransition,
    },
    /// The private key was asked for after destruction.
    #[error("key {0} is destroyed: its private key no longer exists")]
    KeyDestroyed(KeyId),
    /// Encryption, decryption or KEK problems.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// An invalid name or algorithm.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The database holds something this code never writes.
    #[error("the key store is damaged: {0}")]
    Corrupt(String),
    /// The destroy committed but the WAL could not be emptied because another connection reads.
    #[error(
        "the key is destroyed, but another process has the store open, so older copies of its \
         encrypted data key remain in the write-ahead log until that process closes it and the \
         log is checkpointed again (SqliteKeyStore::erase_old_pages)"
    )]
    CheckpointBusy,
    /// The selector is a delegated one, or one of our keys holds it.
    #[error("the selector is taken: {0}")]
    SelectorTaken(String),
    /// A restore would take keys back to an earlier state or lose them.
    #[error(
        "restoring would go back in time for {} key(s): {}; DNS would then be reconciled to the \
         older states (a revoked or compromised key published again). Give --allow-regression \
         only if that is what you want",
        .0.len(),
        .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    RestoreRegression(Vec<restore::Regression>),
    /// A step that writes the audit log (every change does), or checks it, on a store opened
    /// without the KEK: the log is keyed under the KEK.
    #[error(
        "this needs the key-encryption key: every change is written to the audit log, which is \
         keyed under the KEK, and checking the log needs it too (give --kek-file, MAILTRUST_KEK \
         or MAILTRUST_KEK_PASSPHRASE)"
    )]
    Locked,
    /// A key row whose identity or public key no longer matches what was sealed under the KEK.
    #[error(
        "key {id} ({name}) was changed in the store by someone without the key-encryption key: \
         {problem}. Refusing to use it (nothing was published); restore the store from a backup \
         (mailtrust keys restore) or mark the key compromised"
    )]
    KeyRowTampered {
        /// The key.
        id: KeyId,
        /// `domain/selector` as the row says now.
        name: String,
        /// What does not match.
        problem: String,
    },
    /// A store that was upgraded to schema 3 and set back to an older schema since, which
    /// only someone without the KEK would do (to get rid of the keyed audit log).
    #[error(
        "{0} says it has an older schema, but its KEK check value was written by schema 3: it was \
         set back by hand (the keyed audit log removed); restore it from a backup"
    )]
    Downgraded(PathBuf),
    /// The backup's audit log does not verify.
    #[error("the backup's audit log does not verify (entry {seq}: {problem}); not restoring it")]
    BackupTampered {
        /// The first wrong entry.
        seq: i64,
        /// What is wrong.
        problem: String,
    },
}
