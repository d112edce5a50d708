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
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::clock::{Clock, Timestamp};
use crate::crypto::{self, CheckVersion, CryptoError, Kek, KeyBinding, LogKey, SealedPrivateKey};
use crate::generate::{DkimPublicKey, dkim_record_text, revoked_record_text};
use crate::model::{
    Algorithm, DnsRecordState, Domain, Event, KeyId, KeyState, Purpose, Selector, WeakKeys,
    transition,
};

/// The schema this code writes, kept in `PRAGMA user_version`. A store with a higher number was
/// written by a newer mailtrust and is refused rather than misread. Version 3 keys the audit log
/// and binds key rows to the KEK (store/migrate.rs); a version 2 store is read as it is without
/// the KEK and upgraded by the first command that has the KEK.
pub const SCHEMA_VERSION: i64 = 3;

pub use error::StoreError;

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
    /// Which binding its data key is wrapped with (1 or 2).
    aad_version: i64,
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

    /// What its data key is bound to.
    fn binding(&self) -> Result<KeyBinding, StoreError> {
        match self.aad_version {
            1 => Ok(KeyBinding::V1(self.id.clone())),
            _ => binding_v2(
                &self.id,
                &self.purpose,
                &self.domain,
                &self.selector,
                &self.public,
            ),
        }
    }

    fn tampered(&self, problem: &str) -> StoreError {
        StoreError::KeyRowTampered {
            id: self.id.clone(),
            name: format!("{}/{}", self.domain.as_str(), self.selector.as_str()),
            problem: problem.to_owned(),
        }
    }

    /// Opens the private key with `kek` (already checked against the store) and checks that
    /// the row's public key is the one of that private key. A row changed without the KEK
    /// fails one or the other; so a public key that passes here can be published.
    fn open_checked(&self, kek: &Kek) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let Some(sealed) = self.sealed() else {
            return Ok(None);
        };
        let der = crypto::open(kek, &self.binding()?, sealed)?.ok_or_else(|| {
            self.tampered(
                "its data key does not open with the row as it is (domain, selector, purpose, \
                 algorithm or public key changed, or the data key moved from another row)",
            )
        })?;
        let derived = crate::pem::public_of(&der, WeakKeys::Allow)
            .map_err(|e| self.tampered(&format!("its private key does not parse ({e})")))?;
        if derived != self.public {
            return Err(
                self.tampered("the public key in the row is not the one of its private key")
            );
        }
        Ok(Some(der))
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

pub use log::{AuditEntry, LogVerification};

/// What `rotate_kek` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KekRotation {
    /// Data keys re-wrapped.
    pub keys: usize,
    /// The rotation committed, but another process had the store open, so page images holding
    /// data keys wrapped under the old KEK remain in the write-ahead log until it is
    /// checkpointed (the next destroy, rotation, or [`SqliteKeyStore::erase_old_pages`]).
    pub old_pages_remain: bool,
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
    /// Re-wraps every data key and the audit log's key from `old` to `new` in one
    /// transaction. Once that has committed it reports success: a busy checkpoint afterwards
    /// is a warning ([`KekRotation::old_pages_remain`]), never an error, since an operator
    /// told "failed" might throw the new KEK away and lose every key.
    fn rotate_kek(
        &mut self,
        old: &Kek,
        new: &Kek,
        ctx: &AuditContext,
    ) -> Result<KekRotation, StoreError>;
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
    /// The file's schema as opened (2 for an older store not yet upgraded).
    version: i64,
    /// The KEK and the log key, once [`SqliteKeyStore::unlock`] has checked the KEK.
    unlocked: Option<Unlocked>,
}

/// What a store opened with its KEK holds: the KEK (to check each key row before it is
/// used) and the audit log's key.
struct Unlocked {
    kek: Kek,
    log_key: LogKey,
}

/// The log writer of an unlocked store; [`StoreError::Locked`] without the KEK.
fn writer<'a>(
    unlocked: &'a Option<Unlocked>,
    clock: &'a Arc<dyn Clock>,
) -> Result<log::LogWriter<'a>, StoreError> {
    let u = unlocked.as_ref().ok_or(StoreError::Locked)?;
    Ok(log::LogWriter {
        key: &u.log_key,
        clock: clock.as_ref(),
    })
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
-- Append-only for mailtrust; tampering by other means is caught by the keyed chain (store/log.rs).
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
";

/// Version 3: which associated data each row's data key is wrapped with (crypto::KeyBinding).
/// Rows of an upgraded store start at 1 and are re-wrapped to 2 in the same transaction.
const V3_COLUMNS: &str = "ALTER TABLE keys ADD COLUMN aad_version INTEGER NOT NULL DEFAULT 1;";

/// The key columns; a store not yet at version 3 (opened without the KEK) has no
/// `aad_version` column, and all its rows are version 1.
fn key_columns(version: i64) -> String {
    let aad = if version >= 3 {
        "aad_version"
    } else {
        "1 AS aad_version"
    };
    format!(
        "id, domain, selector, algorithm, purpose, state, created_at, published_at, \
         activated_at, deactivated_at, revoked_at, compromised_at, destroyed_at, public_key, \
         wrapped_data_key, ciphertext, {aad}"
    )
}

/// What a version 2 binding covers for a key (see [`KeyBinding`]): canonical JSON of its
/// purpose, identity, algorithm and the SHA-256 of its public key.
fn binding_v2(
    id: &KeyId,
    purpose: &Purpose,
    domain: &Domain,
    selector: &Selector,
    public: &DkimPublicKey,
) -> Result<KeyBinding, StoreError> {
    #[derive(Serialize)]
    struct Bound<'a> {
        purpose: &'a Purpose,
        domain: &'a str,
        selector: &'a str,
        algorithm: &'a str,
        public_key_sha256: String,
    }
    let bound = serde_json::to_vec(&Bound {
        purpose,
        domain: domain.as_str(),
        selector: selector.as_str(),
        algorithm: public.algorithm.name(),
        public_key_sha256: data_encoding::HEXLOWER.encode(digest(&SHA256, &public.bytes).as_ref()),
    })
    .map_err(|e| StoreError::Corrupt(format!("cannot serialise a key binding: {e}")))?;
    Ok(KeyBinding::V2 {
        id: id.clone(),
        bound,
    })
}

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
    aad_version: i64,
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
            aad_version: row.get(16)?,
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
        if !(1..=2).contains(&self.aad_version) {
            return Err(corrupt("unknown binding version"));
        }
        Ok(KeyRecord {
            aad_version: self.aad_version,
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

fn load_key(conn: &Connection, version: i64, id: &KeyId) -> Result<KeyRecord, StoreError> {
    conn.query_row(
        &format!("SELECT {} FROM keys WHERE id = ?1", key_columns(version)),
        [id.as_str()],
        RawKey::from_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::UnknownKey(id.clone()))?
    .into_record()
    .and_then(|k| current_binding(version, k))
}

/// In a schema 3 store every row was re-wrapped to the full binding by the upgrade, so a row
/// still bound by its id alone was put there from an older copy (a pre-upgrade backup under
/// the same KEK) — with its domain, selector or purpose free to change. Refused.
fn current_binding(version: i64, k: KeyRecord) -> Result<KeyRecord, StoreError> {
    if version >= 3 && k.aad_version < 2 && k.sealed().is_some() {
        return Err(k.tampered(
            "its private key is wrapped under the binding of schema 2, which this store no longer has (a row copied in from an older store?)",
        ));
    }
    Ok(k)
}

fn meta(conn: &Connection, name: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?)
}

/// Stores the passphrase KEK's KDF parameters, or removes them for a KEK from a file.
fn set_kdf_params(conn: &Connection, kek: &Kek) -> Result<(), StoreError> {
    match kek.kdf_params() {
        Some(p) => {
            let json = serde_json::to_string(p)
                .map_err(|e| StoreError::Corrupt(format!("KDF parameters: {e}")))?;
            set_meta(conn, "kdf_params", &json)
        }
        None => {
            conn.execute("DELETE FROM meta WHERE name = 'kdf_params'", [])?;
            Ok(())
        }
    }
}

fn set_meta(conn: &Connection, name: &str, value: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO meta (name, value) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        [name, value],
    )?;
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
        let check = data_encoding::BASE64.encode(&crypto::kek_check_value(kek, CheckVersion::V3)?);
        let log_key = LogKey::generate()?;
        let tx = conn.transaction()?;
        tx.execute_batch(SCHEMA)?;
        tx.execute_batch(INTENT_TABLE)?;
        tx.execute_batch(V3_COLUMNS)?;
        set_meta(&tx, "kek_check", &check)?;
        set_kdf_params(&tx, kek)?;
        set_meta(
            &tx,
            "log_key",
            &data_encoding::BASE64.encode(&log_key.wrap(kek)?),
        )?;
        log::start_keyed_chain(&tx, &log_key, 0, log::GENESIS_HASH)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        Ok(SqliteKeyStore {
            conn,
            path: path.to_owned(),
            clock,
            version: SCHEMA_VERSION,
            unlocked: Some(Unlocked {
                kek: kek.duplicate(),
                log_key,
            }),
        })
    }

    /// Gives the store its KEK: checks it, upgrades a version 2 store (binding every key row
    /// to the KEK and keying the audit log, in one transaction), and keeps the KEK and the
    /// log key so that changes can be logged and key rows checked before use. Every command
    /// that changes the store, or checks its log, needs this.
    pub fn unlock(&mut self, kek: &Kek) -> Result<(), StoreError> {
        self.unlocked = None;
        self.version = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        self.verify_kek(kek)?;
        if self.version < SCHEMA_VERSION {
            migrate::to_v3(&mut self.conn, &self.path, kek, self.clock.as_ref())?;
            self.version = SCHEMA_VERSION;
        }
        let wrapped = meta(&self.conn, "log_key")?
            .and_then(|v| data_encoding::BASE64.decode(v.as_bytes()).ok())
            .ok_or_else(|| StoreError::Corrupt("the audit log's key is missing".to_owned()))?;
        let log_key = LogKey::unwrap(kek, &wrapped)?;
        self.unlocked = Some(Unlocked {
            kek: kek.duplicate(),
            log_key,
        });
        Ok(())
    }

    /// The audit log's head as the store records it: the row count and the last row's hash.
    /// Noted somewhere else, it lets a later `keys log --verify` see a rollback of the whole
    /// file to an older copy, which nothing inside the file can show.
    pub fn log_head(&self) -> Result<(i64, String), StoreError> {
        log::head(&self.conn)
    }

    /// The KEK the store was unlocked with.
    pub fn kek(&self) -> Result<&Kek, StoreError> {
        Ok(&self.unlocked.as_ref().ok_or(StoreError::Locked)?.kek)
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
            // A restore that crashed left its private copy (wrapped keys) behind; the next
            // command that may write removes it, unless a restore is using it right now.
            restore::remove_stale_copy(path);
            Self::configure(&conn)?;
            if version == 1 {
                // Version 2 only adds the intent and delegation tables. IMMEDIATE, and the
                // version read again inside: two processes opening a v1 store at once must not
                // both try to add them.
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let v: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
                if v == 1 {
                    tx.execute_batch(INTENT_TABLE)?;
                    tx.pragma_update(None, "user_version", 2)?;
                }
                tx.commit()?;
            }
        }
        let version = if read_only { version } else { version.max(2) };
        Ok(SqliteKeyStore {
            conn,
            path: path.to_owned(),
            clock,
            version,
            unlocked: None,
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

pub mod delegation;
mod error;
mod log;
mod migrate;
mod operations;
pub mod restore;

#[cfg(test)]
mod integrity_tests;
#[cfg(test)]
mod tests;
