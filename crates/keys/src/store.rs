//! The key store: keys, their states, and the append-only, hash-chained audit log.
//!
//! [`KeyStore`] is a trait so that a PostgreSQL store can serve several milter nodes later
//! (issue 5); [`SqliteKeyStore`] is the default, one file beside the configuration.
//!
//! Why rusqlite (with SQLite bundled) rather than sqlx: the store is local, small and used by
//! one command at a time, so a synchronous API keeps every state change and its audit row in a
//! plain `Transaction` with no async runtime inside the key path; `bundled` pins the SQLite
//! version (secure_delete and WAL checkpoint behaviour) instead of taking whatever the system
//! has; and it is MIT licensed with no build-time database needed, unlike sqlx's checked
//! queries.
//!
//! "Destroyed" must mean unrecoverable, and SQLite keeps old page images in the WAL and in free
//! pages. Three things together make erasure hold: each key is encrypted under its own data key
//! ([`crate::crypto`]), so erasing the 60-byte wrapped data key is enough even if a ciphertext
//! survives somewhere; `PRAGMA secure_delete=ON` zeroes freed cells and pages; and a
//! `wal_checkpoint(TRUNCATE)` after the destroy empties the write-ahead log.

use std::fs::OpenOptions;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lc_rs::digest::{SHA256, digest};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::clock::{Clock, Timestamp};
use crate::crypto::{self, CryptoError, Kek, SealedPrivateKey};
use crate::generate::{DkimPublicKey, dkim_record_text, revoked_record_text};
use crate::model::{
    Algorithm, DnsRecordState, Domain, Event, IllegalTransition, KeyId, KeyState, ModelError,
    Purpose, Selector, WeakKeys, transition,
};

/// The schema this code writes, kept in `PRAGMA user_version`. A store with a higher number was
/// written by a newer mailtrust and is refused rather than misread.
pub const SCHEMA_VERSION: i64 = 2;

/// The hash that precedes the first audit row.
const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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
    /// The backup's audit log does not verify.
    #[error("the backup's audit log does not verify (entry {seq}: {problem}); not restoring it")]
    BackupTampered {
        /// The first wrong entry.
        seq: i64,
        /// What is wrong.
        problem: String,
    },
}

/// Who did something and why, written to the audit log with every change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext {
    /// The command, e.g. `mailtrust keys activate` or `mailtrust keys run`.
    pub command: String,
    /// Why, as the administrator or the policy stated it.
    pub reason: Option<String>,
}

impl AuditContext {
    /// A context with a command and a reason.
    pub fn new(command: &str, reason: Option<&str>) -> Self {
        AuditContext {
            command: command.to_owned(),
            reason: reason.map(str::to_owned),
        }
    }
}

/// A key to add to the store.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The signing domain.
    pub domain: Domain,
    /// The selector.
    pub selector: Selector,
    /// Who signs with it.
    pub purpose: Purpose,
    /// Its public half (which also says the algorithm).
    pub public: DkimPublicKey,
}

/// When a key entered each state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KeyTimes {
    /// Generated or imported.
    pub created: Option<Timestamp>,
    /// Published in DNS.
    pub published: Option<Timestamp>,
    /// Activated.
    pub activated: Option<Timestamp>,
    /// Deactivated.
    pub deactivated: Option<Timestamp>,
    /// Revoked in DNS.
    pub revoked: Option<Timestamp>,
    /// Marked compromised.
    pub compromised: Option<Timestamp>,
    /// Destroyed.
    pub destroyed: Option<Timestamp>,
}

/// The private material and the state travel together, so that a destroyed key cannot carry
/// private material and a live one cannot lack it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Custody {
    Held {
        /// Never `Destroyed`.
        state: KeyState,
        sealed: SealedPrivateKey,
    },
    Destroyed,
}

/// A key as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// Its id.
    pub id: KeyId,
    /// The signing domain.
    pub domain: Domain,
    /// Its selector.
    pub selector: Selector,
    /// Who signs with it.
    pub purpose: Purpose,
    /// The public key.
    pub public: DkimPublicKey,
    /// When it changed state.
    pub times: KeyTimes,
    custody: Custody,
}

impl KeyRecord {
    /// The lifecycle state.
    pub fn state(&self) -> KeyState {
        match &self.custody {
            Custody::Held { state, .. } => *state,
            Custody::Destroyed => KeyState::Destroyed,
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.public.algorithm
    }

    /// The encrypted private key, unless destroyed.
    pub fn sealed(&self) -> Option<&SealedPrivateKey> {
        match &self.custody {
            Custody::Held { sealed, .. } => Some(sealed),
            Custody::Destroyed => None,
        }
    }

    /// The TXT record text DNS should hold for this key now, or `None` for no record.
    pub fn dkim_record_text(&self) -> Option<String> {
        match self.state().dns_record() {
            DnsRecordState::Absent => None,
            DnsRecordState::PublicKey => Some(dkim_record_text(&self.public)),
            DnsRecordState::Revoked => Some(revoked_record_text(self.algorithm())),
        }
    }
}

/// One row of the audit log. States and key id are kept as written, so that verification
/// hashes exactly what is stored even if a row was tampered with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Position in the log, from 1.
    pub seq: i64,
    /// When.
    pub at: Timestamp,
    /// The key concerned; `None` for store-wide events (KEK rotation).
    pub key_id: Option<String>,
    /// `create`, a lifecycle event name, or `rotate_kek`.
    pub event: String,
    /// State before.
    pub from_state: Option<String>,
    /// State after.
    pub to_state: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// By which command.
    pub command: String,
    /// The previous row's hash (zeros for the first).
    pub prev_hash: String,
    /// SHA-256 over `prev_hash` and this row's canonical JSON, hex.
    pub hash: String,
}

/// The fields a row's hash covers, in a fixed order: serde_json writes struct fields in
/// declaration order, which makes this serialisation canonical.
#[derive(Serialize)]
struct CanonicalRow<'a> {
    seq: i64,
    at: i64,
    key_id: Option<&'a str>,
    event: &'a str,
    from_state: Option<&'a str>,
    to_state: Option<&'a str>,
    reason: Option<&'a str>,
    command: &'a str,
}

impl AuditEntry {
    fn computed_hash(&self) -> Result<String, StoreError> {
        row_hash(
            &self.prev_hash,
            &CanonicalRow {
                seq: self.seq,
                at: self.at.0,
                key_id: self.key_id.as_deref(),
                event: &self.event,
                from_state: self.from_state.as_deref(),
                to_state: self.to_state.as_deref(),
                reason: self.reason.as_deref(),
                command: &self.command,
            },
        )
    }
}

fn row_hash(prev_hash: &str, row: &CanonicalRow<'_>) -> Result<String, StoreError> {
    let json = serde_json::to_string(row)
        .map_err(|e| StoreError::Corrupt(format!("cannot serialise an audit row: {e}")))?;
    let mut input = Vec::with_capacity(prev_hash.len() + 1 + json.len());
    input.extend_from_slice(prev_hash.as_bytes());
    input.push(b'\n');
    input.extend_from_slice(json.as_bytes());
    Ok(data_encoding::HEXLOWER.encode(digest(&SHA256, &input).as_ref()))
}

/// The outcome of checking the audit log's hash chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum LogVerification {
    /// Every row is as written and none is missing.
    Intact {
        /// Number of rows.
        entries: usize,
    },
    /// The log was changed outside mailtrust.
    Tampered {
        /// The first row found wrong (or where a row is missing).
        seq: i64,
        /// What is wrong.
        problem: String,
    },
}

/// A DNS change that was about to be sent when the process stopped (see
/// [`KeyStore::record_intent`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsIntent {
    /// The key.
    pub key_id: KeyId,
    /// The step the change was for.
    pub event: Event,
    /// The TXT record text that was to be published.
    pub record: String,
    /// When it was recorded.
    pub since: Timestamp,
}

/// A store of DKIM keys. Every state change and its audit row are written together or not
/// at all; a wrong KEK is refused before anything is written.
pub trait KeyStore {
    /// Checks that `kek` is the store's key-encryption key.
    fn verify_kek(&self, kek: &Kek) -> Result<(), StoreError>;
    /// Adds a key in pre-activation, its private key sealed under `kek`.
    fn create_key(
        &mut self,
        kek: &Kek,
        new: NewKey,
        private_pkcs8: &[u8],
        ctx: &AuditContext,
    ) -> Result<KeyRecord, StoreError>;
    /// One key.
    fn key(&self, id: &KeyId) -> Result<KeyRecord, StoreError>;
    /// Every key, destroyed ones included, by domain and selector.
    fn keys(&self) -> Result<Vec<KeyRecord>, StoreError>;
    /// Applies a lifecycle event; [`Event::Destroy`] erases the private key.
    fn apply(
        &mut self,
        id: &KeyId,
        event: Event,
        ctx: &AuditContext,
    ) -> Result<KeyRecord, StoreError>;
    /// The decrypted PKCS#8 private key.
    fn private_key(&self, kek: &Kek, id: &KeyId) -> Result<Zeroizing<Vec<u8>>, StoreError>;
    /// Records, before it is sent, the DNS change for the key's next step (`event`): the
    /// record text that will be at its selector. [`apply`](Self::apply) of that step removes
    /// it in the same transaction, so one that survives marks an interrupted step.
    fn record_intent(
        &mut self,
        id: &KeyId,
        event: Event,
        record: &str,
        ctx: &AuditContext,
    ) -> Result<(), StoreError>;
    /// DNS changes recorded but whose step was never committed.
    fn intents(&self) -> Result<Vec<DnsIntent>, StoreError>;
    /// Records a selector delegated by CNAME to a third party (Rec 4-10), which we track but
    /// do not rotate. Refused when one of our keys (not destroyed) has the selector.
    fn delegate(
        &mut self,
        delegation: &delegation::Delegation,
        ctx: &AuditContext,
    ) -> Result<(), StoreError>;
    /// Stops tracking a delegated selector; false when there was none.
    fn undelegate(
        &mut self,
        domain: &Domain,
        selector: &Selector,
        ctx: &AuditContext,
    ) -> Result<bool, StoreError>;
    /// Every delegated selector.
    fn delegations(&self) -> Result<Vec<delegation::Delegation>, StoreError>;
    /// Forgets an intent (the change did not happen, or cannot be completed), with a log line.
    fn clear_intent(&mut self, id: &KeyId, ctx: &AuditContext) -> Result<(), StoreError>;
    /// Marks an intent done whose step changes no state (the revoked record of a key that is
    /// already compromised): drops it and logs `event` in one transaction.
    fn fulfil_intent(
        &mut self,
        id: &KeyId,
        event: &str,
        ctx: &AuditContext,
    ) -> Result<(), StoreError>;
    /// Re-wraps every data key from `old` to `new` in one transaction; returns how many.
    fn rotate_kek(&mut self, old: &Kek, new: &Kek, ctx: &AuditContext)
    -> Result<usize, StoreError>;
    /// Records an event that changes no state (e.g. a private key was exported) in the log.
    fn note(&mut self, id: &KeyId, event: &str, ctx: &AuditContext) -> Result<(), StoreError>;
    /// The audit log, oldest first.
    fn audit_log(&self) -> Result<Vec<AuditEntry>, StoreError>;
    /// Checks the audit log's hash chain.
    fn verify_log(&self) -> Result<LogVerification, StoreError>;
}

/// The SQLite key store.
pub struct SqliteKeyStore {
    conn: Connection,
    path: PathBuf,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SqliteKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteKeyStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

const INTENT_TABLE: &str = "
-- A DNS change about to be sent for a key's next step (version 2). Written before the change
-- goes out and removed in the transaction that records the step, so a row that survives means
-- the process died in between and DNS must be looked at (SqliteKeyStore::intents).
CREATE TABLE dns_intent (
    key_id TEXT PRIMARY KEY REFERENCES keys (id),
    event TEXT NOT NULL,
    record TEXT NOT NULL,
    since INTEGER NOT NULL
);
-- Selectors delegated by CNAME to third-party senders (version 2; store/delegation.rs).
CREATE TABLE delegation (
    domain TEXT NOT NULL,
    selector TEXT NOT NULL,
    target TEXT NOT NULL,
    provider TEXT NOT NULL,
    since INTEGER NOT NULL,
    PRIMARY KEY (domain, selector)
);
";

const SCHEMA: &str = "
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE keys (
    id TEXT PRIMARY KEY,
    domain TEXT NOT NULL,
    selector TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    purpose TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pre_activation', 'published', 'active',
        'deactivated', 'revoked_in_dns', 'compromised', 'destroyed')),
    created_at INTEGER NOT NULL,
    published_at INTEGER,
    activated_at INTEGER,
    deactivated_at INTEGER,
    revoked_at INTEGER,
    compromised_at INTEGER,
    destroyed_at INTEGER,
    public_key BLOB NOT NULL,
    wrapped_data_key BLOB,
    ciphertext BLOB,
    CHECK ((state = 'destroyed') = (wrapped_data_key IS NULL)),
    CHECK ((wrapped_data_key IS NULL) = (ciphertext IS NULL))
);
-- A selector names one key until that key is destroyed.
CREATE UNIQUE INDEX keys_live_selector ON keys (domain, selector) WHERE state <> 'destroyed';
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    key_id TEXT,
    event TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    reason TEXT,
    command TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
-- Append-only for mailtrust; tampering by other means is caught by the hash chain.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
";

const KEY_COLUMNS: &str = "id, domain, selector, algorithm, purpose, state, created_at, \
    published_at, activated_at, deactivated_at, revoked_at, compromised_at, destroyed_at, \
    public_key, wrapped_data_key, ciphertext";

/// The column that records when a key entered `state`.
fn time_column(state: KeyState) -> &'static str {
    match state {
        KeyState::PreActivation => "created_at",
        KeyState::Published => "published_at",
        KeyState::Active => "activated_at",
        KeyState::Deactivated => "deactivated_at",
        KeyState::RevokedInDns => "revoked_at",
        KeyState::Compromised => "compromised_at",
        KeyState::Destroyed => "destroyed_at",
    }
}

/// A key row as stored, before it is checked into a [`KeyRecord`].
struct RawKey {
    id: String,
    domain: String,
    selector: String,
    algorithm: String,
    purpose: String,
    state: String,
    times: [Option<i64>; 7],
    public_key: Vec<u8>,
    wrapped_data_key: Option<Vec<u8>>,
    ciphertext: Option<Vec<u8>>,
}

impl RawKey {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawKey {
            id: row.get(0)?,
            domain: row.get(1)?,
            selector: row.get(2)?,
            algorithm: row.get(3)?,
            purpose: row.get(4)?,
            state: row.get(5)?,
            times: [
                row.get(6)?,
                row.get(7)?,
                row.get(8)?,
                row.get(9)?,
                row.get(10)?,
                row.get(11)?,
                row.get(12)?,
            ],
            public_key: row.get(13)?,
            wrapped_data_key: row.get(14)?,
            ciphertext: row.get(15)?,
        })
    }

    fn into_record(self) -> Result<KeyRecord, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("key {}: {what}", self.id));
        let id = KeyId::new(&self.id).map_err(|_| corrupt("bad id"))?;
        let state = KeyState::from_name(&self.state).ok_or_else(|| corrupt("unknown state"))?;
        // Stored keys were accepted when created, weak ones included.
        let algorithm = Algorithm::parse(&self.algorithm, WeakKeys::Allow)
            .map_err(|_| corrupt("unknown algorithm"))?;
        let purpose: Purpose =
            serde_json::from_str(&self.purpose).map_err(|_| corrupt("unreadable purpose"))?;
        let custody = match (state, self.wrapped_data_key, self.ciphertext) {
            (KeyState::Destroyed, None, None) => Custody::Destroyed,
            (KeyState::Destroyed, _, _) => return Err(corrupt("destroyed but material remains")),
            (state, Some(wrapped_data_key), Some(ciphertext)) => Custody::Held {
                state,
                sealed: SealedPrivateKey {
                    wrapped_data_key,
                    ciphertext,
                },
            },
            _ => return Err(corrupt("private key material missing")),
        };
        let t = self.times.map(|o| o.map(Timestamp));
        Ok(KeyRecord {
            domain: Domain::new(&self.domain).map_err(|_| corrupt("bad domain"))?,
            selector: Selector::new(&self.selector).map_err(|_| corrupt("bad selector"))?,
            purpose,
            public: DkimPublicKey {
                algorithm,
                bytes: self.public_key,
            },
            times: KeyTimes {
                created: t[0],
                published: t[1],
                activated: t[2],
                deactivated: t[3],
                revoked: t[4],
                compromised: t[5],
                destroyed: t[6],
            },
            custody,
            id,
        })
    }
}

fn load_key(conn: &Connection, id: &KeyId) -> Result<KeyRecord, StoreError> {
    conn.query_row(
        &format!("SELECT {KEY_COLUMNS} FROM keys WHERE id = ?1"),
        [id.as_str()],
        RawKey::from_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::UnknownKey(id.clone()))?
    .into_record()
}

fn meta(conn: &Connection, name: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?)
}

fn set_meta(conn: &Connection, name: &str, value: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO meta (name, value) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        [name, value],
    )?;
    Ok(())
}

/// Appends one audit row, chained to the head that `meta` records. Called inside the
/// transaction that makes the change it describes.
#[allow(clippy::too_many_arguments)]
fn append_audit(
    conn: &Connection,
    at: Timestamp,
    key_id: Option<&KeyId>,
    event: &str,
    from_state: Option<KeyState>,
    to_state: Option<KeyState>,
    ctx: &AuditContext,
) -> Result<(), StoreError> {
    let prev_hash = meta(conn, "log_head")?.unwrap_or_else(|| GENESIS_HASH.to_owned());
    let seq: i64 = conn.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_log", [], |r| {
        r.get(0)
    })?;
    let row = CanonicalRow {
        seq,
        at: at.0,
        key_id: key_id.map(KeyId::as_str),
        event,
        from_state: from_state.map(KeyState::name),
        to_state: to_state.map(KeyState::name),
        reason: ctx.reason.as_deref(),
        command: &ctx.command,
    };
    let hash = row_hash(&prev_hash, &row)?;
    conn.execute(
        "INSERT INTO audit_log (seq, at, key_id, event, from_state, to_state, reason, command,
             prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            row.seq,
            row.at,
            row.key_id,
            row.event,
            row.from_state,
            row.to_state,
            row.reason,
            row.command,
            prev_hash,
            hash
        ],
    )?;
    // The head and count let verification notice rows deleted from the end of the log.
    set_meta(conn, "log_head", &hash)?;
    set_meta(conn, "log_count", &seq.to_string())?;
    Ok(())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Creates an empty file readable only by its owner (SP 800-177 Rec 4-4), refusing to reuse
/// an existing one.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(StoreError::AlreadyExists(path.to_owned()))
        }
        Err(e) => Err(io(path)(e)),
    }
}

impl SqliteKeyStore {
    /// Creates a new store file (mode 0600) whose keys will be sealed under `kek`. If the KEK
    /// comes from a passphrase, its KDF parameters are stored so that the passphrase works later.
    pub fn create(path: &Path, kek: &Kek, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        // Created here with 0600 before SQLite sees it; SQLite gives its -wal and -shm files the
        // same mode as the database.
        create_private_file(path)?;
        let mut conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        Self::configure(&conn)?;
        let check = data_encoding::BASE64.encode(&crypto::kek_check_value(kek)?);
        let tx = conn.transaction()?;
        tx.execute_batch(SCHEMA)?;
        tx.execute_batch(INTENT_TABLE)?;
        set_meta(&tx, "kek_check", &check)?;
        if let Some(params) = kek.kdf_params() {
            let json = serde_json::to_string(params)
                .map_err(|e| StoreError::Corrupt(format!("KDF parameters: {e}")))?;
            set_meta(&tx, "kdf_params", &json)?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        Ok(SqliteKeyStore {
            conn,
            path: path.to_owned(),
            clock,
        })
    }

    /// Opens an existing store. Refuses, without writing anything, a file readable by others,
    /// a file that is not a store, and a store from a newer mailtrust.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        Self::open_with(path, clock, false)
    }

    /// Opens an existing store for reading only: nothing is written, not even the upgrade of
    /// an older schema (what `audit --key-store` needs). Writing through it fails.
    pub fn open_read_only(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        Self::open_with(path, clock, true)
    }

    fn open_with(path: &Path, clock: Arc<dyn Clock>, read_only: bool) -> Result<Self, StoreError> {
        let md = match std::fs::metadata(path) {
            Ok(md) => md,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(path.to_owned()));
            }
            Err(e) => return Err(io(path)(e)),
        };
        let mode = md.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(StoreError::InsecurePermissions {
                path: path.to_owned(),
                mode,
            });
        }
        let flags = if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE
        };
        let mut conn = Connection::open_with_flags(path, flags)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|_| StoreError::NotAStore(path.to_owned()))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: path.to_owned(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version < 1 || meta(&conn, "kek_check").is_err() {
            return Err(StoreError::NotAStore(path.to_owned()));
        }
        if read_only {
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
        } else {
            Self::configure(&conn)?;
            if version == 1 {
                // Version 2 only adds the intent and delegation tables. IMMEDIATE, and the
                // version read again inside: two processes opening a v1 store at once must not
                // both try to add them.
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let v: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
                if v == 1 {
                    tx.execute_batch(INTENT_TABLE)?;
                    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
                }
                tx.commit()?;
            }
        }
        Ok(SqliteKeyStore {
            conn,
            path: path.to_owned(),
            clock,
        })
    }

    /// Per-connection settings: secure_delete is not persistent, so it is set on every open.
    fn configure(conn: &Connection) -> Result<(), StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!(
                "SQLite refused WAL mode (journal_mode is {mode})"
            )));
        }
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(())
    }

    /// The KDF parameters stored for a passphrase KEK, to derive it with
    /// [`Kek::from_passphrase`]; `None` if the KEK comes from a file or the environment.
    pub fn kdf_params(&self) -> Result<Option<crypto::KdfParams>, StoreError> {
        meta(&self.conn, "kdf_params")?
            .map(|json| {
                serde_json::from_str(&json)
                    .map_err(|e| StoreError::Corrupt(format!("KDF parameters: {e}")))
            })
            .transpose()
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a consistent copy of the whole store to `dest` (a new file, created 0600) with
    /// `VACUUM INTO`, which works while the store is in use and leaves no free pages behind.
    /// The copy is itself a store: restore by opening it, or by putting it in place of the
    /// original. A backup taken before a key was destroyed still holds that key's wrapped data
    /// key, so "destroyed" extends to backups only when they are rotated out too.
    pub fn backup_to(&self, dest: &Path) -> Result<(), StoreError> {
        create_private_file(dest)?;
        let target = dest.to_str().ok_or_else(|| StoreError::Io {
            path: dest.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the backup path is not valid UTF-8",
            ),
        })?;
        if let Err(e) = self.conn.execute("VACUUM INTO ?1", [target]) {
            // Leave no empty or partial file that could later be mistaken for a backup.
            let _ = std::fs::remove_file(dest);
            return Err(e.into());
        }
        Ok(())
    }

    /// Copies every WAL page into the database and empties the WAL, so that old page images
    /// (such as an erased data key) are gone from the disk files.
    pub fn erase_old_pages(&self) -> Result<(), StoreError> {
        let busy: i64 = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy != 0 {
            return Err(StoreError::CheckpointBusy);
        }
        Ok(())
    }
}

impl KeyStore for SqliteKeyStore {
    fn verify_kek(&self, kek: &Kek) -> Result<(), StoreError> {
        let check = meta(&self.conn, "kek_check")?
            .ok_or_else(|| StoreError::Corrupt("no KEK check value".to_owned()))?;
        let check = data_encoding::BASE64
            .decode(check.as_bytes())
            .map_err(|_| StoreError::Corrupt("bad KEK check value".to_owned()))?;
        Ok(crypto::verify_kek(kek, &check)?)
    }

    fn create_key(
        &mut self,
        kek: &Kek,
        new: NewKey,
        private_pkcs8: &[u8],
        ctx: &AuditContext,
    ) -> Result<KeyRecord, StoreError> {
        self.verify_kek(kek)?;
        new.selector.record_name(&new.domain)?;
        let id = KeyId::random().map_err(|_| CryptoError::Crypto("no randomness"))?;
        let sealed = crypto::seal(kek, &id, private_pkcs8)?;
        let purpose = serde_json::to_string(&new.purpose)
            .map_err(|e| StoreError::Corrupt(format!("purpose: {e}")))?;
        let now = self.clock.now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Option<(String, String)> = tx
            .query_row(
                "SELECT id, state FROM keys
                 WHERE domain = ?1 AND selector = ?2 AND state <> 'destroyed'",
                [new.domain.as_str(), new.selector.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some(target) = delegation::find(&tx, &new.domain, &new.selector)? {
            return Err(StoreError::SelectorTaken(format!(
                "{}/{} is delegated to {target} (keys undelegate first)",
                new.domain.as_str(),
                new.selector.as_str()
            )));
        }
        if let Some((existing, state)) = existing {
            return Err(StoreError::DuplicateSelector {
                domain: new.domain,
                selector: new.selector,
                existing: KeyId::new(&existing)?,
                state: KeyState::from_name(&state)
                    .ok_or_else(|| StoreError::Corrupt(format!("key {existing}: bad state")))?,
            });
        }
        tx.execute(
            "INSERT INTO keys (id, domain, selector, algorithm, purpose, state, created_at,
                 public_key, wrapped_data_key, ciphertext)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pre_activation', ?6, ?7, ?8, ?9)",
            params![
                id.as_str(),
                new.domain.as_str(),
                new.selector.as_str(),
                new.public.algorithm.name(),
                purpose,
                now.0,
                new.public.bytes,
                sealed.wrapped_data_key,
                sealed.ciphertext
            ],
        )?;
        append_audit(
            &tx,
            now,
            Some(&id),
            "create",
            None,
            Some(KeyState::PreActivation),
            ctx,
        )?;
        tx.commit()?;
        tracing::info!(key = %id, domain = %new.domain, selector = %new.selector,
            algorithm = %new.public.algorithm, "key created");
        load_key(&self.conn, &id)
    }

    fn key(&self, id: &KeyId) -> Result<KeyRecord, StoreError> {
        load_key(&self.conn, id)
    }

    fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {KEY_COLUMNS} FROM keys ORDER BY domain, selector, created_at"
        ))?;
        let raws = stmt
            .query_map([], RawKey::from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        raws.into_iter().map(RawKey::into_record).collect()
    }

    fn apply(
        &mut self,
        id: &KeyId,
        event: Event,
        ctx: &AuditContext,
    ) -> Result<KeyRecord, StoreError> {
        let now = self.clock.now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let from = load_key(&tx, id)?.state();
        let to = transition(from, event).map_err(|source| StoreError::Illegal {
            id: id.clone(),
            source,
        })?;
        let erase = if to == KeyState::Destroyed {
            ", wrapped_data_key = NULL, ciphertext = NULL"
        } else {
            ""
        };
        tx.execute(
            &format!(
                "UPDATE keys SET state = ?1, {} = ?2{erase} WHERE id = ?3",
                time_column(to)
            ),
            params![to.name(), now.0, id.as_str()],
        )?;
        append_audit(&tx, now, Some(id), event.name(), Some(from), Some(to), ctx)?;
        tx.execute("DELETE FROM dns_intent WHERE key_id = ?1", [id.as_str()])?;
        tx.commit()?;
        tracing::info!(key = %id, %from, %to, "key state changed");
        if to == KeyState::Destroyed {
            self.erase_old_pages()?;
        }
        load_key(&self.conn, id)
    }

    fn note(&mut self, id: &KeyId, event: &str, ctx: &AuditContext) -> Result<(), StoreError> {
        let now = self.clock.now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let state = load_key(&tx, id)?.state();
        append_audit(&tx, now, Some(id), event, Some(state), Some(state), ctx)?;
        tx.commit()?;
        Ok(())
    }

    fn record_intent(
        &mut self,
        id: &KeyId,
        event: Event,
        record: &str,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let state = load_key(&tx, id)?.state();
        transition(state, event).map_err(|source| StoreError::Illegal {
            id: id.clone(),
            source,
        })?;
        tx.execute(
            "INSERT OR REPLACE INTO dns_intent (key_id, event, record, since) VALUES (?1, ?2, ?3, ?4)",
            params![id.as_str(), event.name(), record, now.0],
        )?;
        let what = format!("intent_{}", event.name());
        append_audit(&tx, now, Some(id), &what, Some(state), Some(state), ctx)?;
        tx.commit()?;
        Ok(())
    }

    fn delegate(
        &mut self,
        d: &delegation::Delegation,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        delegation::add(&tx, now, d, ctx)?;
        tx.commit()?;
        Ok(())
    }

    fn undelegate(
        &mut self,
        domain: &Domain,
        selector: &Selector,
        ctx: &AuditContext,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let removed = delegation::remove(&tx, now, domain, selector, ctx)?;
        tx.commit()?;
        Ok(removed)
    }

    fn delegations(&self) -> Result<Vec<delegation::Delegation>, StoreError> {
        delegation::all(&self.conn)
    }

    fn intents(&self) -> Result<Vec<DnsIntent>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT key_id, event, record, since FROM dns_intent ORDER BY since, key_id",
        )?;
        let rows: Vec<(String, String, String, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|(id, event, record, since)| {
                let event = Event::ALL
                    .into_iter()
                    .find(|e| e.name() == event)
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("unknown intent event {event:?}"))
                    })?;
                Ok(DnsIntent {
                    key_id: KeyId::new(&id)?,
                    event,
                    record,
                    since: Timestamp(since),
                })
            })
            .collect()
    }

    fn clear_intent(&mut self, id: &KeyId, ctx: &AuditContext) -> Result<(), StoreError> {
        let now = self.clock.now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let state = load_key(&tx, id)?.state();
        if tx.execute("DELETE FROM dns_intent WHERE key_id = ?1", [id.as_str()])? > 0 {
            append_audit(
                &tx,
                now,
                Some(id),
                "intent_cleared",
                Some(state),
                Some(state),
                ctx,
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn fulfil_intent(
        &mut self,
        id: &KeyId,
        event: &str,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let state = load_key(&tx, id)?.state();
        tx.execute("DELETE FROM dns_intent WHERE key_id = ?1", [id.as_str()])?;
        append_audit(&tx, now, Some(id), event, Some(state), Some(state), ctx)?;
        tx.commit()?;
        Ok(())
    }

    fn private_key(&self, kek: &Kek, id: &KeyId) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        self.verify_kek(kek)?;
        let record = load_key(&self.conn, id)?;
        let sealed = record
            .sealed()
            .ok_or_else(|| StoreError::KeyDestroyed(id.clone()))?;
        Ok(crypto::open(kek, id, sealed)?)
    }

    fn rotate_kek(
        &mut self,
        old: &Kek,
        new: &Kek,
        ctx: &AuditContext,
    ) -> Result<usize, StoreError> {
        self.verify_kek(old)?;
        let now = self.clock.now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let wrapped: Vec<(String, Vec<u8>)> = {
            let mut stmt = tx.prepare(
                "SELECT id, wrapped_data_key FROM keys WHERE wrapped_data_key IS NOT NULL",
            )?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?
        };
        for (id, data_key) in &wrapped {
            let id = KeyId::new(id)?;
            let rewrapped = crypto::rewrap(old, new, &id, data_key)?;
            tx.execute(
                "UPDATE keys SET wrapped_data_key = ?1 WHERE id = ?2",
                params![rewrapped, id.as_str()],
            )?;
        }
        let check = data_encoding::BASE64.encode(&crypto::kek_check_value(new)?);
        set_meta(&tx, "kek_check", &check)?;
        match new.kdf_params() {
            Some(p) => {
                let json = serde_json::to_string(p)
                    .map_err(|e| StoreError::Corrupt(format!("KDF parameters: {e}")))?;
                set_meta(&tx, "kdf_params", &json)?;
            }
            None => {
                tx.execute("DELETE FROM meta WHERE name = 'kdf_params'", [])?;
            }
        }
        append_audit(&tx, now, None, "rotate_kek", None, None, ctx)?;
        tx.commit()?;
        tracing::info!(keys = wrapped.len(), "key-encryption key rotated");
        // Data keys wrapped under the old KEK must not linger in the WAL.
        self.erase_old_pages()?;
        Ok(wrapped.len())
    }

    fn audit_log(&self) -> Result<Vec<AuditEntry>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, at, key_id, event, from_state, to_state, reason, command, prev_hash, hash
             FROM audit_log ORDER BY seq",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(AuditEntry {
                    seq: r.get(0)?,
                    at: Timestamp(r.get(1)?),
                    key_id: r.get(2)?,
                    event: r.get(3)?,
                    from_state: r.get(4)?,
                    to_state: r.get(5)?,
                    reason: r.get(6)?,
                    command: r.get(7)?,
                    prev_hash: r.get(8)?,
                    hash: r.get(9)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn verify_log(&self) -> Result<LogVerification, StoreError> {
        let entries = self.audit_log()?;
        let mut prev = GENESIS_HASH.to_owned();
        for (i, e) in entries.iter().enumerate() {
            let expected_seq = i64::try_from(i).unwrap_or(i64::MAX) + 1;
            let tampered = |problem: &str| LogVerification::Tampered {
                seq: expected_seq,
                problem: problem.to_owned(),
            };
            if e.seq != expected_seq {
                return Ok(tampered("a row is missing before this one"));
            }
            if e.prev_hash != prev {
                return Ok(tampered(
                    "its previous-hash does not match the row before (a row was deleted or changed)",
                ));
            }
            if e.computed_hash()? != e.hash {
                return Ok(tampered("its contents were changed after it was written"));
            }
            prev.clone_from(&e.hash);
        }
        let count: i64 = meta(&self.conn, "log_count")?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let head = meta(&self.conn, "log_head")?.unwrap_or_else(|| GENESIS_HASH.to_owned());
        let len = i64::try_from(entries.len()).unwrap_or(i64::MAX);
        if count != len || head != prev {
            return Ok(LogVerification::Tampered {
                seq: len + 1,
                problem: format!(
                    "the log ends at row {len} but {count} rows were written (rows deleted from the end)"
                ),
            });
        }
        Ok(LogVerification::Intact {
            entries: entries.len(),
        })
    }
}

pub mod delegation;
pub mod restore;

#[cfg(test)]
mod tests;
