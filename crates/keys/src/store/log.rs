//! The audit log: one row per step, chained, and since schema 3 keyed.
//!
//! Each row's `hash` covers the previous row's hash and the row's canonical JSON. Up to schema 2
//! that was a plain SHA-256, which anyone who could write the file could recompute: drop the
//! trigger, delete or edit rows, re-hash, fix `meta`, and the log verified. From schema 3 the
//! chain is an HMAC-SHA256 under a random *log key* kept wrapped under the KEK (so `rotate-kek`
//! only re-wraps it and old MACs stay valid), and the head — row count, last hash and the row
//! where keying began — carries its own MAC, so cutting rows off the end and rewriting `meta`
//! to match is caught too.
//!
//! A migrated store keeps its old rows as they are: rows before `log_keyed_from` are checked
//! with the old unkeyed hash, and the first keyed row (the migration's own) holds the last old
//! hash under its MAC, so an old row cannot be changed without breaking a keyed one.
//!
//! What a key inside the file cannot prove: that the whole file was not replaced by an older
//! copy of itself (a rollback). `keys log --verify` prints the head so that it can be noted
//! elsewhere and compared.

use aws_lc_rs::digest::{SHA256, digest};
use rusqlite::{Connection, params};
use serde::Serialize;

use super::{AuditContext, StoreError, meta, set_meta};
use crate::clock::{Clock, SystemClock, Timestamp};
use crate::crypto::LogKey;
use crate::model::{KeyId, KeyState};

/// The hash that precedes the first audit row.
pub(super) const GENESIS_HASH: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

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
    /// By which command (with a note when the clock was overridden).
    pub command: String,
    /// The previous row's hash (zeros for the first).
    pub prev_hash: String,
    /// HMAC-SHA256 under the log key (SHA-256 for rows written before schema 3) over
    /// `prev_hash` and this row's canonical JSON, hex.
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
    /// What the row's hash or MAC is computed over.
    pub(super) fn chained_input(&self) -> Result<Vec<u8>, StoreError> {
        chained_input(
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

fn chained_input(prev_hash: &str, row: &CanonicalRow<'_>) -> Result<Vec<u8>, StoreError> {
    let json = serde_json::to_string(row)
        .map_err(|e| StoreError::Corrupt(format!("cannot serialise an audit row: {e}")))?;
    let mut input = Vec::with_capacity(prev_hash.len() + 1 + json.len());
    input.extend_from_slice(prev_hash.as_bytes());
    input.push(b'\n');
    input.extend_from_slice(json.as_bytes());
    Ok(input)
}

/// The unkeyed hash of schema 2 rows.
pub(super) fn sha256_hex(input: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(digest(&SHA256, input).as_ref())
}

/// What the head MAC covers: the count, the last hash and where keying began, so none of the
/// three can be rewritten on its own.
fn head_input(count: i64, head: &str, keyed_from: i64) -> Vec<u8> {
    format!("mailtrust-keys/v3/log-head\n{count}\n{head}\n{keyed_from}").into_bytes()
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

/// How a row gets written: the log key, and the clock (to say when it was overridden).
pub(super) struct LogWriter<'a> {
    pub(super) key: &'a LogKey,
    pub(super) clock: &'a dyn Clock,
}

/// Starts the keyed chain of a store: stores `key` wrapped (by the caller) and the head of an
/// empty keyed part after `seq_before` rows. Used by `create` and by the schema 3 migration.
pub(super) fn start_keyed_chain(
    conn: &Connection,
    key: &LogKey,
    seq_before: i64,
    head: &str,
) -> Result<(), StoreError> {
    let keyed_from = seq_before + 1;
    set_meta(conn, "log_keyed_from", &keyed_from.to_string())?;
    set_meta(conn, "log_head", head)?;
    set_meta(conn, "log_count", &seq_before.to_string())?;
    set_meta(
        conn,
        "log_head_mac",
        &key.mac_hex(&head_input(seq_before, head, keyed_from)),
    )
}

/// Appends one audit row, chained to the head that `meta` records. Called inside the
/// transaction that makes the change it describes.
#[allow(clippy::too_many_arguments)]
pub(super) fn append_audit(
    conn: &Connection,
    w: &LogWriter<'_>,
    at: Timestamp,
    key_id: Option<&KeyId>,
    event: &str,
    from_state: Option<KeyState>,
    to_state: Option<KeyState>,
    ctx: &AuditContext,
) -> Result<(), StoreError> {
    let prev_hash = meta(conn, "log_head")?.unwrap_or_else(|| GENESIS_HASH.to_owned());
    let keyed_from = keyed_from(conn)?;
    let seq: i64 = conn.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_log", [], |r| {
        r.get(0)
    })?;
    // A row written under `--now` says so, with the real time: the log must not be able to
    // show a step at a time that never was without anyone noticing.
    let command = if w.clock.is_overridden() {
        format!(
            "{} [clock overridden: real time {}]",
            ctx.command,
            mailtrust_dns::format_utc(SystemClock.now().0)
        )
    } else {
        ctx.command.clone()
    };
    let row = CanonicalRow {
        seq,
        at: at.0,
        key_id: key_id.map(KeyId::as_str),
        event,
        from_state: from_state.map(KeyState::name),
        to_state: to_state.map(KeyState::name),
        reason: ctx.reason.as_deref(),
        command: &command,
    };
    let hash = w.key.mac_hex(&chained_input(&prev_hash, &row)?);
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
    // The head, count and its MAC let verification notice rows deleted from the end.
    set_meta(conn, "log_head", &hash)?;
    set_meta(conn, "log_count", &seq.to_string())?;
    set_meta(
        conn,
        "log_head_mac",
        &w.key.mac_hex(&head_input(seq, &hash, keyed_from)),
    )?;
    Ok(())
}

fn keyed_from(conn: &Connection) -> Result<i64, StoreError> {
    meta(conn, "log_keyed_from")?
        .and_then(|v| v.parse().ok())
        .filter(|&v| v >= 1)
        .ok_or_else(|| StoreError::Corrupt("the audit log's keyed start is missing".to_owned()))
}

/// Every row, oldest first.
pub(super) fn entries(conn: &Connection) -> Result<Vec<AuditEntry>, StoreError> {
    let mut stmt = conn.prepare(
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

/// The chain over `entries`: the first wrong row, or the last hash. `key` checks rows from
/// `keyed_from` on; rows before are checked with the unkeyed hash of schema 2.
fn check_chain(
    entries: &[AuditEntry],
    key: Option<&LogKey>,
    keyed_from: i64,
) -> Result<Result<String, LogVerification>, StoreError> {
    let mut prev = GENESIS_HASH.to_owned();
    for (i, e) in entries.iter().enumerate() {
        let expected_seq = i64::try_from(i).unwrap_or(i64::MAX) + 1;
        let tampered = |problem: &str| LogVerification::Tampered {
            seq: expected_seq,
            problem: problem.to_owned(),
        };
        if e.seq != expected_seq {
            return Ok(Err(tampered("a row is missing before this one")));
        }
        if e.prev_hash != prev {
            return Ok(Err(tampered(
                "its previous-hash does not match the row before (a row was deleted or changed)",
            )));
        }
        let input = e.chained_input()?;
        let good = match key {
            Some(k) if e.seq >= keyed_from => k.verify_hex(&input, &e.hash),
            _ => sha256_hex(&input) == e.hash,
        };
        if !good {
            return Ok(Err(tampered(
                "its contents were changed after it was written (its MAC does not verify)",
            )));
        }
        prev.clone_from(&e.hash);
    }
    Ok(Ok(prev))
}

/// Checks a schema 3 log: every row's MAC, the chain, and the authenticated head.
pub(super) fn verify(conn: &Connection, key: &LogKey) -> Result<LogVerification, StoreError> {
    let entries = entries(conn)?;
    let len = i64::try_from(entries.len()).unwrap_or(i64::MAX);
    let count: Option<i64> = meta(conn, "log_count")?.and_then(|c| c.parse().ok());
    let head = meta(conn, "log_head")?;
    let keyed: Option<i64> = meta(conn, "log_keyed_from")?.and_then(|v| v.parse().ok());
    let mac = meta(conn, "log_head_mac")?;
    let head_tampered = LogVerification::Tampered {
        seq: len + 1,
        problem: "the log's head (row count and last hash) was rewritten without the KEK; rows \
                  were probably cut off the end"
            .to_owned(),
    };
    let (Some(count), Some(head), Some(keyed_from), Some(mac)) = (count, head, keyed, mac) else {
        return Ok(head_tampered);
    };
    // The rows first, so that an edited row is named; then the head.
    let last = match check_chain(&entries, Some(key), keyed_from)? {
        Ok(last) => last,
        Err(tampered) => return Ok(tampered),
    };
    if !key.verify_hex(&head_input(count, &head, keyed_from), &mac) {
        return Ok(head_tampered);
    }
    if count != len || head != last {
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

/// Checks a schema 2 log (unkeyed chain, head in `meta`) before it is keyed; returns the
/// result, the number of rows and the last hash.
pub(super) fn verify_legacy(
    conn: &Connection,
) -> Result<(LogVerification, i64, String), StoreError> {
    let entries = entries(conn)?;
    let len = i64::try_from(entries.len()).unwrap_or(i64::MAX);
    let last_stored = entries
        .last()
        .map_or_else(|| GENESIS_HASH.to_owned(), |e| e.hash.clone());
    let last = match check_chain(&entries, None, i64::MAX)? {
        Ok(last) => last,
        Err(tampered) => return Ok((tampered, len, last_stored)),
    };
    let count: i64 = meta(conn, "log_count")?
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let head = meta(conn, "log_head")?.unwrap_or_else(|| GENESIS_HASH.to_owned());
    let result = if count != len || head != last {
        LogVerification::Tampered {
            seq: len + 1,
            problem: format!(
                "the log ends at row {len} but {count} rows were written (rows deleted from the end)"
            ),
        }
    } else {
        LogVerification::Intact {
            entries: entries.len(),
        }
    };
    Ok((result, len, last))
}

/// The head as `meta` records it: row count and last hash (for a restore's log row).
pub(super) fn head(conn: &Connection) -> Result<(i64, String), StoreError> {
    let count = meta(conn, "log_count")?
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let head = meta(conn, "log_head")?.unwrap_or_else(|| GENESIS_HASH.to_owned());
    Ok((count, head))
}
