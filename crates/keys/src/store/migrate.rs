//! Schema 2 → 3, done by the first command that has the KEK (`SqliteKeyStore::unlock`).
//!
//! In one transaction: every key row that still holds a private key is checked (its data key
//! opens under the old, id-only binding, and its public key is the one of its private key —
//! so a row already changed without the KEK is refused, not blessed) and re-wrapped with the
//! version 2 binding; the old unkeyed audit log is checked and its result and head written
//! into the first keyed row; the log key is created and wrapped under the KEK; and the KEK
//! check value is re-sealed as version 3, so that setting the schema back by hand is noticed.
//! A store opened read-only without the KEK (`audit --key-store`) is read as version 2.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior, params};

use super::log::{self, LogVerification, LogWriter};
use super::{
    AuditContext, KeyRecord, RawKey, SCHEMA_VERSION, StoreError, V3_COLUMNS, binding_v2,
    key_columns, set_meta,
};
use crate::clock::Clock;
use crate::crypto::{self, CheckVersion, Kek, LogKey};

/// Upgrades the store to schema 3; `kek` has been checked against it. Nothing is written when
/// a key row does not check out.
pub(super) fn to_v3(
    conn: &mut Connection,
    path: &Path,
    kek: &Kek,
    clock: &dyn Clock,
) -> Result<(), StoreError> {
    let log_key = LogKey::generate()?;
    // IMMEDIATE, and the version read again inside: two processes upgrading at once must not
    // both do it.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version >= SCHEMA_VERSION {
        return Ok(());
    }
    if version != 2 {
        return Err(StoreError::Corrupt(format!(
            "{} has schema {version}; only schema 2 is upgraded to 3",
            path.display()
        )));
    }
    tx.execute_batch(V3_COLUMNS)?;
    let keys: Vec<KeyRecord> = {
        let mut stmt = tx.prepare(&format!("SELECT {} FROM keys", key_columns(3)))?;
        let raws = stmt
            .query_map([], RawKey::from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        raws.into_iter()
            .map(RawKey::into_record)
            .collect::<Result<_, _>>()?
    };
    let mut rebound = 0usize;
    for k in &keys {
        let Some(sealed) = k.sealed() else { continue };
        // Proves the row as it stands: a swapped public key is refused here.
        k.open_checked(kek)?;
        let to = binding_v2(&k.id, &k.purpose, &k.domain, &k.selector, &k.public)?;
        let wrapped = crypto::rewrap(kek, &k.binding()?, kek, &to, &sealed.wrapped_data_key)?
            .ok_or_else(|| k.tampered("its data key does not open"))?;
        tx.execute(
            "UPDATE keys SET wrapped_data_key = ?1, aad_version = ?2 WHERE id = ?3",
            params![wrapped, to.version(), k.id.as_str()],
        )?;
        rebound += 1;
    }
    let (old_log, last_seq, last_hash) = log::verify_legacy(&tx)?;
    let old = match &old_log {
        LogVerification::Intact { entries } => {
            format!("the {entries} earlier row(s) verified intact under the unkeyed chain")
        }
        LogVerification::Tampered { seq, problem } => {
            tracing::warn!(
                seq,
                problem,
                "the audit log did not verify before it was keyed"
            );
            format!(
                "the earlier rows did NOT verify under the unkeyed chain (row {seq}: {problem}); \
                 they are kept as found"
            )
        }
    };
    set_meta(
        &tx,
        "log_key",
        &data_encoding::BASE64.encode(&log_key.wrap(kek)?),
    )?;
    log::start_keyed_chain(&tx, &log_key, last_seq, &last_hash)?;
    let check = crypto::kek_check_value(kek, CheckVersion::V3)?;
    set_meta(&tx, "kek_check", &data_encoding::BASE64.encode(&check))?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    let why = format!(
        "store schema 2 -> 3: {rebound} key row(s) bound to the KEK (purpose, domain, selector, \
         algorithm, public key); the audit log is keyed (HMAC-SHA256) from this row on; {old}; \
         unkeyed head {last_hash} at row {last_seq}"
    );
    let w = LogWriter {
        key: &log_key,
        clock,
    };
    log::append_audit(
        &tx,
        &w,
        clock.now(),
        None,
        "upgrade",
        None,
        None,
        &AuditContext::new("mailtrust (store upgrade)", Some(&why)),
    )?;
    tx.commit()?;
    tracing::info!(keys = rebound, "key store upgraded to schema 3");
    Ok(())
}
