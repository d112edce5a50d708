//! The store's integrity against someone who can write the file but lacks the KEK (issue 10):
//! the keyed audit log, key rows bound to the KEK, the upgrade of older stores, and a KEK
//! rotation that committed.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use rusqlite::{Connection, params};

use super::log::{self, AuditEntry};
use super::*;
use crate::clock::{ManualClock, SystemClock};
use crate::generate::{GeneratedKey, generate};

use super::tests::{Fixture, T0, ctx, fixture, new_key, store_with_log, tamper};

/// An Ed25519 key under `selector` (RSA generation is slow and changes nothing here).
fn add(f: &mut Fixture, selector: &str) -> (KeyRecord, GeneratedKey) {
    super::tests::add(f, selector, Algorithm::Ed25519)
}

/// Rewrites the whole log from `from_seq` on with the unkeyed SHA-256 chain of schema 2 and
/// sets `meta` to match: everything an attacker without the log key can do.
fn rehash_from(path: &Path, entries: &[AuditEntry], from_seq: i64) {
    let c = Connection::open(path).unwrap();
    c.execute_batch("DROP TRIGGER IF EXISTS audit_log_no_update;")
        .unwrap();
    let mut prev = log::GENESIS_HASH.to_owned();
    for e in entries {
        let mut e = e.clone();
        if e.seq >= from_seq {
            e.prev_hash.clone_from(&prev);
            e.hash = log::sha256_hex(&e.chained_input().unwrap());
            c.execute(
                "UPDATE audit_log SET reason = ?1, prev_hash = ?2, hash = ?3 WHERE seq = ?4",
                params![e.reason, e.prev_hash, e.hash, e.seq],
            )
            .unwrap();
        }
        prev = e.hash;
    }
    c.execute(
        "UPDATE meta SET value = ?1 WHERE name = 'log_head'",
        [prev.as_str()],
    )
    .unwrap();
    c.execute(
        "UPDATE meta SET value = ?1 WHERE name = 'log_count'",
        [entries.len().to_string()],
    )
    .unwrap();
}

#[test]
fn tail_truncation_with_a_rewritten_head_is_detected() {
    let f = store_with_log();
    let log = f.store.audit_log().unwrap();
    assert_eq!(log.len(), 4);
    // Cut the last two rows and make `meta` agree with what is left.
    tamper(
        &f.path,
        &format!(
            "DELETE FROM audit_log WHERE seq > 2;
             UPDATE meta SET value = '{}' WHERE name = 'log_head';
             UPDATE meta SET value = '2' WHERE name = 'log_count';",
            log[1].hash
        ),
    );
    let v = f.store.verify_log().unwrap();
    assert!(
        matches!(&v, LogVerification::Tampered { seq: 3, problem } if problem.contains("head")),
        "{v:?}"
    );
}

#[test]
fn a_forged_row_with_the_chain_rehashed_is_detected() {
    let f = store_with_log();
    let mut log = f.store.audit_log().unwrap();
    log[1].reason = Some("routine, nothing to see".to_owned());
    rehash_from(&f.path, &log, 2);
    let v = f.store.verify_log().unwrap();
    assert!(
        matches!(v, LogVerification::Tampered { seq: 2, .. }),
        "{v:?}"
    );
}

#[test]
fn verifying_and_writing_need_the_kek() {
    let f = store_with_log();
    let id = f.store.keys().unwrap()[0].id.clone();
    drop(f.store);
    let mut store = SqliteKeyStore::open(&f.path, f.clock.clone()).unwrap();
    assert!(matches!(store.verify_log(), Err(StoreError::Locked)));
    let before = store.audit_log().unwrap().len();
    assert!(matches!(
        store.apply(&id, Event::Revoke, &ctx("revoke")),
        Err(StoreError::Locked)
    ));
    assert_eq!(store.key(&id).unwrap().state(), KeyState::Deactivated);
    assert_eq!(store.audit_log().unwrap().len(), before);
    assert!(matches!(
        store.unlock(&Kek::generate().unwrap()),
        Err(StoreError::Crypto(CryptoError::WrongKek))
    ));
    store.unlock(&f.kek).unwrap();
    store.apply(&id, Event::Revoke, &ctx("revoke")).unwrap();
    assert!(matches!(
        store.verify_log().unwrap(),
        LogVerification::Intact { entries: 5 }
    ));
}

/// The attack of the review: put another public key into a row with raw SQL. Read without the
/// KEK it is what the row says; with the KEK (every command that publishes) it is refused,
/// naming the key, and the private key does not come out either.
#[test]
fn a_swapped_public_key_is_refused_before_use() {
    let mut f = fixture();
    let (a, _) = add(&mut f, "s1");
    let attacker = generate(Algorithm::Ed25519).unwrap();
    drop(f.store);
    let c = Connection::open(&f.path).unwrap();
    c.execute(
        "UPDATE keys SET public_key = ?1 WHERE id = ?2",
        params![attacker.public.bytes, a.id.as_str()],
    )
    .unwrap();
    let plain = SqliteKeyStore::open_read_only(&f.path, f.clock.clone()).unwrap();
    assert_eq!(plain.key(&a.id).unwrap().public, attacker.public);
    let mut store = SqliteKeyStore::open(&f.path, f.clock.clone()).unwrap();
    store.unlock(&f.kek).unwrap();
    for err in [
        store.key(&a.id).unwrap_err(),
        store.keys().unwrap_err(),
        store.private_key(&f.kek, &a.id).unwrap_err(),
    ] {
        assert!(
            matches!(&err, StoreError::KeyRowTampered { id, .. } if *id == a.id),
            "{err}"
        );
        assert!(err.to_string().contains("example.com/s1"), "{err}");
    }
    // The domain, selector and purpose are bound in as well.
    c.execute(
        "UPDATE keys SET public_key = ?1, selector = 'other' WHERE id = ?2",
        params![a.public.bytes, a.id.as_str()],
    )
    .unwrap();
    assert!(matches!(
        store.key(&a.id),
        Err(StoreError::KeyRowTampered { .. })
    ));
    c.execute(
        "UPDATE keys SET selector = 's1', purpose = ?1 WHERE id = ?2",
        params![
            r#"{"kind":"third_party","provider":"attacker"}"#,
            a.id.as_str()
        ],
    )
    .unwrap();
    assert!(matches!(
        store.key(&a.id),
        Err(StoreError::KeyRowTampered { .. })
    ));
}

#[test]
fn a_key_whose_public_half_does_not_match_is_not_stored() {
    let mut f = fixture();
    let (key, other) = (
        generate(Algorithm::Ed25519).unwrap(),
        generate(Algorithm::Ed25519).unwrap(),
    );
    let mut new = new_key("s1", &key);
    new.public = other.public.clone();
    assert!(
        f.store
            .create_key(&f.kek, new, &key.private_pkcs8, &ctx("import"))
            .is_err()
    );
    assert!(f.store.keys().unwrap().is_empty());
}

/// Writes a store as mailtrust did before schema 3: id-only bindings, the legacy KEK check
/// value, an unkeyed log with one `create` row per key. Returns the key ids.
pub(super) fn legacy_store(path: &Path, kek: &Kek, keys: &[(&str, &GeneratedKey)]) -> Vec<KeyId> {
    create_private_file(path).unwrap();
    let conn = Connection::open(path).unwrap();
    SqliteKeyStore::configure(&conn).unwrap();
    conn.execute_batch(SCHEMA).unwrap();
    conn.execute_batch(INTENT_TABLE).unwrap();
    let check = crypto::kek_check_value(kek, CheckVersion::Legacy).unwrap();
    set_meta(&conn, "kek_check", &data_encoding::BASE64.encode(&check)).unwrap();
    let mut prev = log::GENESIS_HASH.to_owned();
    let mut ids = Vec::new();
    for (seq, (selector, key)) in (1..).zip(keys) {
        let id = KeyId::random().unwrap();
        let sealed = crypto::seal(kek, &KeyBinding::V1(id.clone()), &key.private_pkcs8).unwrap();
        let purpose = serde_json::to_string(&Purpose::SendingMta {
            host: "mx1.example.com".to_owned(),
        })
        .unwrap();
        conn.execute(
            "INSERT INTO keys (id, domain, selector, algorithm, purpose, state, created_at,
                 public_key, wrapped_data_key, ciphertext)
             VALUES (?1, 'example.com', ?2, ?3, ?4, 'pre_activation', ?5, ?6, ?7, ?8)",
            params![
                id.as_str(),
                selector,
                key.public.algorithm.name(),
                purpose,
                T0.0,
                key.public.bytes,
                sealed.wrapped_data_key,
                sealed.ciphertext
            ],
        )
        .unwrap();
        let mut e = AuditEntry {
            seq,
            at: T0,
            key_id: Some(id.as_str().to_owned()),
            event: "create".into(),
            from_state: None,
            to_state: Some("pre_activation".into()),
            reason: None,
            command: "mailtrust keys generate".into(),
            prev_hash: prev.clone(),
            hash: String::new(),
        };
        e.hash = log::sha256_hex(&e.chained_input().unwrap());
        conn.execute(
            "INSERT INTO audit_log (seq, at, key_id, event, from_state, to_state, reason,
                 command, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, NULL, ?5, NULL, ?6, ?7, ?8)",
            params![
                e.seq,
                e.at.0,
                e.key_id,
                e.event,
                e.to_state,
                e.command,
                e.prev_hash,
                e.hash
            ],
        )
        .unwrap();
        prev = e.hash;
        ids.push(id);
    }
    set_meta(&conn, "log_head", &prev).unwrap();
    set_meta(&conn, "log_count", &ids.len().to_string()).unwrap();
    conn.pragma_update(None, "user_version", 2).unwrap();
    ids
}

fn user_version(path: &Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

/// A schema 2 store is read as it is without the KEK, and upgraded — rows re-bound, log keyed
/// — by the first opening with the KEK; it then works as a new one does.
#[test]
fn a_schema_2_store_migrates_and_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let kek = Kek::generate().unwrap();
    let (k1, k2) = (
        generate(Algorithm::Ed25519).unwrap(),
        generate(Algorithm::Rsa2048).unwrap(),
    );
    let ids = legacy_store(&path, &kek, &[("s1", &k1), ("s2", &k2)]);
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(T0));
    {
        let ro = SqliteKeyStore::open_read_only(&path, clock.clone()).unwrap();
        assert_eq!(ro.keys().unwrap().len(), 2);
        let plain = SqliteKeyStore::open(&path, clock.clone()).unwrap();
        assert_eq!(plain.key(&ids[1]).unwrap().public, k2.public);
    }
    assert_eq!(user_version(&path), 2);
    let mut store = SqliteKeyStore::open(&path, clock.clone()).unwrap();
    store.unlock(&kek).unwrap();
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    assert_eq!(
        store.verify_log().unwrap(),
        LogVerification::Intact { entries: 3 }
    );
    let last = store.audit_log().unwrap().pop().unwrap();
    assert_eq!(last.event, "upgrade");
    let why = last.reason.unwrap_or_default();
    assert!(
        why.contains("2 key row(s) bound") && why.contains("verified intact"),
        "{why}"
    );
    assert_eq!(
        store.private_key(&kek, &ids[1]).unwrap().as_slice(),
        k2.private_pkcs8.as_slice()
    );
    store
        .apply(&ids[0], Event::Publish, &ctx("publish"))
        .unwrap();
    drop(store);
    // Read-only readers take the new schema too; a second opening does not upgrade again.
    let ro = SqliteKeyStore::open_read_only(&path, clock.clone()).unwrap();
    assert_eq!(ro.keys().unwrap().len(), 2);
    let mut again = SqliteKeyStore::open(&path, clock).unwrap();
    again.unlock(&kek).unwrap();
    assert_eq!(
        again.verify_log().unwrap(),
        LogVerification::Intact { entries: 4 }
    );
    // An old row changed now breaks the first keyed row's link to it.
    tamper(
        &path,
        "UPDATE audit_log SET command = 'mailtrust keys import' WHERE seq = 1;",
    );
    let old = &again.audit_log().unwrap();
    rehash_from(&path, &old[..2], 1);
    let v = again.verify_log().unwrap();
    assert!(
        matches!(v, LogVerification::Tampered { seq: 3, .. }),
        "{v:?}"
    );
}

/// A row swapped before the upgrade is not blessed by it: the upgrade is refused, naming the
/// key, and nothing is written.
#[test]
fn a_schema_2_store_with_a_swapped_key_is_not_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let kek = Kek::generate().unwrap();
    let (k1, attacker) = (
        generate(Algorithm::Ed25519).unwrap(),
        generate(Algorithm::Ed25519).unwrap(),
    );
    let ids = legacy_store(&path, &kek, &[("s1", &k1)]);
    tamper(
        &path,
        &format!(
            "UPDATE keys SET public_key = x'{}' WHERE id = '{}';",
            data_encoding::HEXLOWER.encode(&attacker.public.bytes),
            ids[0].as_str()
        ),
    );
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(T0));
    let mut store = SqliteKeyStore::open(&path, clock).unwrap();
    let err = store.unlock(&kek).unwrap_err();
    assert!(
        matches!(&err, StoreError::KeyRowTampered { id, .. } if *id == ids[0]),
        "{err}"
    );
    assert_eq!(user_version(&path), 2);
}

/// Setting an upgraded store back to schema 2 (to get rid of the keyed log) is noticed.
#[test]
fn a_store_set_back_to_schema_2_is_refused() {
    let f = store_with_log();
    drop(f.store);
    tamper(
        &f.path,
        "DELETE FROM audit_log WHERE seq > 2; PRAGMA user_version = 2;",
    );
    let mut store = SqliteKeyStore::open(&f.path, f.clock.clone()).unwrap();
    assert!(matches!(
        store.unlock(&f.kek),
        Err(StoreError::Downgraded(_))
    ));
}

/// A row bound by its id alone (schema 2's binding) has no place in a schema 3 store: it came
/// from an older copy, and its domain, selector or purpose could have been changed.
#[test]
fn a_row_with_the_old_binding_in_a_schema_3_store_is_refused() {
    let mut f = fixture();
    let (rec, _) = add(&mut f, "s1");
    drop(f.store);
    tamper(
        &f.path,
        &format!(
            "UPDATE keys SET aad_version = 1 WHERE id = '{}'",
            rec.id.as_str()
        ),
    );
    let store = SqliteKeyStore::open(&f.path, f.clock.clone()).unwrap();
    assert!(matches!(
        store.key(&rec.id),
        Err(StoreError::KeyRowTampered { .. })
    ));
    assert!(matches!(
        store.keys(),
        Err(StoreError::KeyRowTampered { .. })
    ));
}

/// The state column is not under the KEK: a compromised key set back to `active` by hand is
/// refused by the next command that has the KEK, before anything exports or publishes it.
#[test]
fn a_state_set_back_by_hand_is_refused() {
    let mut f = fixture();
    let (rec, _) = add(&mut f, "s1");
    f.store.unlock(&f.kek).unwrap();
    for e in [Event::Publish, Event::Activate, Event::Compromise] {
        f.store.apply(&rec.id, e, &ctx("keys")).unwrap();
    }
    assert_eq!(f.store.key(&rec.id).unwrap().state(), KeyState::Compromised);
    drop(f.store);
    tamper(
        &f.path,
        &format!(
            "UPDATE keys SET state = 'active' WHERE id = '{}'",
            rec.id.as_str()
        ),
    );
    let mut store = SqliteKeyStore::open(&f.path, f.clock.clone()).unwrap();
    // Without the KEK the row is shown as stored (nothing is published from such a store).
    assert_eq!(store.key(&rec.id).unwrap().state(), KeyState::Active);
    store.unlock(&f.kek).unwrap();
    assert!(matches!(
        store.key(&rec.id),
        Err(StoreError::KeyRowTampered { .. })
    ));
    assert!(matches!(
        store.verify_log(),
        Err(StoreError::KeyRowTampered { .. })
    ));
}

/// `rotate-kek` committed but another process holds the WAL: success, with the warning, and
/// the new KEK opens everything (the log key was re-wrapped, not replaced).
#[test]
fn a_committed_kek_rotation_with_a_busy_wal_succeeds() {
    let mut f = fixture();
    let (a, ka) = add(&mut f, "s1");
    let reader = Connection::open(&f.path).unwrap();
    reader
        .execute_batch("BEGIN; SELECT COUNT(*) FROM keys;")
        .unwrap();
    reader
        .query_row("SELECT COUNT(*) FROM keys", [], |r| r.get::<_, i64>(0))
        .unwrap();
    f.store
        .conn
        .busy_timeout(std::time::Duration::from_millis(200))
        .unwrap();
    let new = Kek::generate().unwrap();
    let done = f.store.rotate_kek(&f.kek, &new, &ctx("rotate")).unwrap();
    assert_eq!(done.keys, 1);
    assert!(done.old_pages_remain);
    reader.execute_batch("COMMIT;").unwrap();
    drop(reader);
    drop(f.store);
    let mut store = SqliteKeyStore::open(&f.path, f.clock.clone()).unwrap();
    assert!(store.unlock(&f.kek).is_err());
    store.unlock(&new).unwrap();
    assert_eq!(
        store.private_key(&new, &a.id).unwrap().as_slice(),
        ka.private_pkcs8.as_slice()
    );
    assert_eq!(
        store.verify_log().unwrap(),
        LogVerification::Intact { entries: 2 }
    );
}

#[test]
fn rows_written_under_an_overridden_clock_say_so() {
    let mut f = fixture();
    add(&mut f, "s1");
    let row = f.store.audit_log().unwrap().pop().unwrap();
    assert!(
        row.command
            .starts_with("generate [clock overridden: real time "),
        "{}",
        row.command
    );
    let dir = tempfile::tempdir().unwrap();
    let mut real =
        SqliteKeyStore::create(&dir.path().join("k.db"), &f.kek, Arc::new(SystemClock)).unwrap();
    let key = generate(Algorithm::Ed25519).unwrap();
    real.create_key(
        &f.kek,
        new_key("s1", &key),
        &key.private_pkcs8,
        &ctx("generate"),
    )
    .unwrap();
    assert_eq!(real.audit_log().unwrap()[0].command, "generate");
}

/// The private copy a crashed restore leaves (`STORE.restoring`) goes at the next opening for
/// writing, unless a restore holds it.
#[test]
fn a_crashed_restores_copy_is_removed_unless_in_use() {
    let f = fixture();
    drop(f.store);
    let copy = f.path.with_file_name("keys.db.restoring");
    std::fs::write(&copy, b"a copy of the store").unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o600)).unwrap();
    let held = std::fs::File::open(&copy).unwrap();
    held.try_lock().unwrap();
    SqliteKeyStore::open(&f.path, f.clock.clone()).unwrap();
    assert!(copy.exists(), "a running restore's copy is left alone");
    drop(held);
    SqliteKeyStore::open_read_only(&f.path, f.clock.clone()).unwrap();
    assert!(copy.exists(), "read-only openings write nothing");
    SqliteKeyStore::open(&f.path, f.clock.clone()).unwrap();
    assert!(!copy.exists());
}

/// A restore's log row names the head of the log it replaced.
#[test]
fn a_restore_records_the_replaced_head() {
    let mut f = fixture();
    add(&mut f, "s1");
    let backup = f.path.with_file_name("backup.db");
    f.store.backup_to(&backup).unwrap();
    add(&mut f, "s2");
    let head = f.store.audit_log().unwrap().pop().unwrap().hash;
    let clock: Arc<dyn Clock> = f.clock.clone();
    restore::restore(&backup, &f.path, &f.kek, clock, true, &ctx("restore")).unwrap();
    let row = f.store.audit_log().unwrap().pop().unwrap();
    assert_eq!(row.event, "restore");
    let why = row.reason.unwrap_or_default();
    assert!(why.contains(&format!("2 row(s), head {head}")), "{why}");
    let mut restored = SqliteKeyStore::open(&f.path, f.clock.clone()).unwrap();
    restored.unlock(&f.kek).unwrap();
    assert!(matches!(
        restored.verify_log().unwrap(),
        LogVerification::Intact { entries: 2 }
    ));
}
