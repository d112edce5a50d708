use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use tempfile::TempDir;

use super::*;
use crate::clock::ManualClock;
use crate::generate::{GeneratedKey, generate};

pub(super) const T0: Timestamp = Timestamp(1_780_000_000);

/// A new store in a temporary directory, with its clock and KEK (shared with integrity_tests).
pub(super) struct Fixture {
    _dir: TempDir,
    pub(super) path: PathBuf,
    pub(super) clock: Arc<ManualClock>,
    pub(super) kek: Kek,
    pub(super) store: SqliteKeyStore,
}

pub(super) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.db");
    let clock = Arc::new(ManualClock::new(T0));
    let kek = Kek::generate().unwrap();
    let store = SqliteKeyStore::create(&path, &kek, clock.clone()).unwrap();
    Fixture {
        _dir: dir,
        path,
        clock,
        kek,
        store,
    }
}

pub(super) fn ctx(command: &str) -> AuditContext {
    AuditContext::new(command, Some("test"))
}

pub(super) fn new_key(selector: &str, key: &GeneratedKey) -> NewKey {
    NewKey {
        domain: Domain::new("example.com").unwrap(),
        selector: Selector::new(selector).unwrap(),
        purpose: Purpose::SendingMta {
            host: "mx1.example.com".to_owned(),
        },
        public: key.public.clone(),
    }
}

pub(super) fn add(
    f: &mut Fixture,
    selector: &str,
    algorithm: Algorithm,
) -> (KeyRecord, GeneratedKey) {
    let key = generate(algorithm).unwrap();
    let rec = f
        .store
        .create_key(
            &f.kek,
            new_key(selector, &key),
            &key.private_pkcs8,
            &ctx("generate"),
        )
        .unwrap();
    (rec, key)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

fn wal(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push("-wal");
    PathBuf::from(p)
}

#[test]
fn store_file_is_private_and_reopens() {
    let mut f = fixture();
    add(&mut f, "s1", Algorithm::Ed25519);
    let mode = std::fs::metadata(&f.path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let wal_mode = std::fs::metadata(wal(&f.path))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(wal_mode, 0o600);
    drop(f.store);
    let store = SqliteKeyStore::open(&f.path, f.clock.clone()).unwrap();
    assert_eq!(store.keys().unwrap().len(), 1);
    store.verify_kek(&f.kek).unwrap();
    assert!(matches!(
        SqliteKeyStore::create(&f.path, &f.kek, f.clock.clone()),
        Err(StoreError::AlreadyExists(_))
    ));
}

#[test]
fn lifecycle_is_recorded_with_clock_times_and_audit_rows() {
    let mut f = fixture();
    let (rec, key) = add(&mut f, "s1", Algorithm::Ed25519);
    assert_eq!(rec.state(), KeyState::PreActivation);
    assert_eq!(rec.times.created, Some(T0));
    assert_eq!(rec.dkim_record_text(), None);
    let steps = [
        (Event::Publish, KeyState::Published),
        (Event::Activate, KeyState::Active),
        (Event::Deactivate, KeyState::Deactivated),
        (Event::Revoke, KeyState::RevokedInDns),
    ];
    for (event, state) in steps {
        f.clock.advance(86_400);
        let r = f.store.apply(&rec.id, event, &ctx("keys")).unwrap();
        assert_eq!(r.state(), state);
    }
    let r = f.store.key(&rec.id).unwrap();
    assert_eq!(r.times.published, Some(Timestamp(T0.0 + 86_400)));
    assert_eq!(r.times.revoked, Some(Timestamp(T0.0 + 4 * 86_400)));
    assert_eq!(r.dkim_record_text().unwrap(), "v=DKIM1; k=ed25519; p=");
    assert_eq!(
        f.store.private_key(&f.kek, &rec.id).unwrap().as_slice(),
        key.private_pkcs8.as_slice()
    );
    let log = f.store.audit_log().unwrap();
    let events: Vec<&str> = log.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        events,
        ["create", "publish", "activate", "deactivate", "revoke"]
    );
    assert_eq!(log[2].from_state.as_deref(), Some("published"));
    assert_eq!(log[2].to_state.as_deref(), Some("active"));
    assert_eq!(log[2].reason.as_deref(), Some("test"));
    assert_eq!(
        f.store.verify_log().unwrap(),
        LogVerification::Intact { entries: 5 }
    );
}

#[test]
fn illegal_transition_writes_nothing() {
    let mut f = fixture();
    let (rec, _) = add(&mut f, "s1", Algorithm::Ed25519);
    let err = f
        .store
        .apply(&rec.id, Event::Activate, &ctx("keys activate"))
        .unwrap_err();
    assert!(
        err.to_string().contains("publish its record first"),
        "{err}"
    );
    assert_eq!(
        f.store.key(&rec.id).unwrap().state(),
        KeyState::PreActivation
    );
    assert_eq!(f.store.audit_log().unwrap().len(), 1);
    let unknown = KeyId::random().unwrap();
    assert!(matches!(
        f.store.apply(&unknown, Event::Publish, &ctx("x")),
        Err(StoreError::UnknownKey(_))
    ));
}

#[test]
fn duplicate_live_selector_is_refused_until_destroyed() {
    let mut f = fixture();
    let (rec, _) = add(&mut f, "s1", Algorithm::Ed25519);
    let key = generate(Algorithm::Ed25519).unwrap();
    let err = f
        .store
        .create_key(&f.kek, new_key("S1", &key), &key.private_pkcs8, &ctx("g"))
        .unwrap_err();
    assert!(matches!(err, StoreError::DuplicateSelector { .. }), "{err}");
    assert!(err.to_string().contains("choose a new selector"));
    assert_eq!(f.store.keys().unwrap().len(), 1);
    f.store.apply(&rec.id, Event::Destroy, &ctx("d")).unwrap();
    f.store
        .create_key(&f.kek, new_key("s1", &key), &key.private_pkcs8, &ctx("g"))
        .unwrap();
    assert_eq!(f.store.keys().unwrap().len(), 2);
}

#[test]
fn wrong_kek_is_refused_and_nothing_is_written() {
    let mut f = fixture();
    let (rec, _) = add(&mut f, "s1", Algorithm::Ed25519);
    let wrong = Kek::generate().unwrap();
    let key = generate(Algorithm::Ed25519).unwrap();
    let err = f
        .store
        .create_key(&wrong, new_key("s2", &key), &key.private_pkcs8, &ctx("g"))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Crypto(CryptoError::WrongKek)),
        "{err}"
    );
    assert!(matches!(
        f.store.private_key(&wrong, &rec.id),
        Err(StoreError::Crypto(CryptoError::WrongKek))
    ));
    assert!(
        f.store
            .rotate_kek(&wrong, &Kek::generate().unwrap(), &ctx("r"))
            .is_err()
    );
    assert_eq!(f.store.keys().unwrap().len(), 1);
    assert_eq!(f.store.audit_log().unwrap().len(), 1);
    f.store.private_key(&f.kek, &rec.id).unwrap();
}

#[test]
fn newer_store_is_refused_untouched() {
    let f = fixture();
    drop(f.store);
    {
        let c = Connection::open(&f.path).unwrap();
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    let before = file_bytes(&f.path);
    let err = SqliteKeyStore::open(&f.path, f.clock.clone()).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade mailtrust"));
    assert_eq!(file_bytes(&f.path), before);
}

#[test]
fn other_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(T0));
    let missing = dir.path().join("missing.db");
    assert!(matches!(
        SqliteKeyStore::open(&missing, clock.clone()),
        Err(StoreError::NotFound(_))
    ));
    let junk = dir.path().join("junk.db");
    std::fs::write(
        &junk,
        b"this is not sqlite at all, just some text padding it out",
    )
    .unwrap();
    std::fs::set_permissions(&junk, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(matches!(
        SqliteKeyStore::open(&junk, clock.clone()),
        Err(StoreError::NotAStore(_))
    ));
    let f = fixture();
    drop(f.store);
    std::fs::set_permissions(&f.path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = SqliteKeyStore::open(&f.path, clock).unwrap_err();
    assert!(err.to_string().contains("chmod 600"), "{err}");
}

/// Raw SQL as someone with write access to the file but not the KEK would run it.
pub(super) fn tamper(path: &Path, sql: &str) {
    let c = Connection::open(path).unwrap();
    c.execute_batch(
        "DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;",
    )
    .unwrap();
    c.execute_batch(sql).unwrap();
}

pub(super) fn store_with_log() -> Fixture {
    let mut f = fixture();
    let (rec, _) = add(&mut f, "s1", Algorithm::Ed25519);
    for e in [Event::Publish, Event::Activate, Event::Deactivate] {
        f.store.apply(&rec.id, e, &ctx("keys")).unwrap();
    }
    f
}

#[test]
fn audit_log_is_append_only_for_sql() {
    let f = store_with_log();
    let err = f
        .store
        .conn
        .execute("UPDATE audit_log SET reason = 'x'", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"));
    assert!(f.store.conn.execute("DELETE FROM audit_log", []).is_err());
}

#[test]
fn verify_log_detects_an_edited_row() {
    let f = store_with_log();
    tamper(
        &f.path,
        "UPDATE audit_log SET reason = 'routine' WHERE seq = 2;",
    );
    assert!(matches!(
        f.store.verify_log().unwrap(),
        LogVerification::Tampered { seq: 2, .. }
    ));
}

#[test]
fn verify_log_detects_a_deleted_middle_row() {
    let f = store_with_log();
    tamper(&f.path, "DELETE FROM audit_log WHERE seq = 2;");
    assert!(matches!(
        f.store.verify_log().unwrap(),
        LogVerification::Tampered { seq: 2, .. }
    ));
}

#[test]
fn verify_log_detects_a_deleted_last_row() {
    let f = store_with_log();
    tamper(&f.path, "DELETE FROM audit_log WHERE seq = 4;");
    let v = f.store.verify_log().unwrap();
    assert!(
        matches!(v, LogVerification::Tampered { seq: 4, .. }),
        "{v:?}"
    );
}

#[test]
fn verify_log_detects_a_rehashed_edit() {
    // Recomputing the edited row's own (unkeyed) hash does not give its MAC.
    let f = store_with_log();
    let mut e = f.store.audit_log().unwrap()[1].clone();
    e.reason = Some("forged".to_owned());
    let forged = log::sha256_hex(&e.chained_input().unwrap());
    tamper(
        &f.path,
        &format!("UPDATE audit_log SET reason = 'forged', hash = '{forged}' WHERE seq = 2;"),
    );
    assert!(matches!(
        f.store.verify_log().unwrap(),
        LogVerification::Tampered { seq: 2, .. }
    ));
}

#[test]
fn destroyed_key_is_not_in_the_files() {
    let mut f = fixture();
    let (rec, key) = add(&mut f, "s1", Algorithm::Rsa2048);
    let sealed = rec.sealed().unwrap().clone();
    let on_disk = |p: &Path, needle: &[u8]| {
        contains(&file_bytes(p), needle) || contains(&file_bytes(&wal(p)), needle)
    };
    // The scan works: the ciphertext is there before destruction; the plaintext never is.
    assert!(on_disk(&f.path, &sealed.ciphertext));
    assert!(on_disk(&f.path, &sealed.wrapped_data_key));
    assert!(!on_disk(&f.path, &key.private_pkcs8));
    for e in Event::ROUTINE {
        f.store.apply(&rec.id, e, &ctx("keys")).unwrap();
    }
    assert!(!on_disk(&f.path, &key.private_pkcs8));
    assert!(!on_disk(&f.path, &sealed.ciphertext));
    assert!(!on_disk(&f.path, &sealed.wrapped_data_key));
    assert_eq!(file_bytes(&wal(&f.path)).len(), 0);
    let r = f.store.key(&rec.id).unwrap();
    assert_eq!(r.state(), KeyState::Destroyed);
    assert!(r.sealed().is_none());
    assert!(matches!(
        f.store.private_key(&f.kek, &rec.id),
        Err(StoreError::KeyDestroyed(_))
    ));
    // The public key and history remain.
    assert_eq!(r.public, key.public);
    assert_eq!(f.store.audit_log().unwrap().len(), 6);
}

#[test]
fn kek_rotation_rewraps_every_live_key() {
    let mut f = fixture();
    let (a, ka) = add(&mut f, "a", Algorithm::Ed25519);
    let (b, _) = add(&mut f, "b", Algorithm::Ed25519);
    f.store.apply(&b.id, Event::Destroy, &ctx("d")).unwrap();
    let (c, kc) = add(&mut f, "c", Algorithm::Ed25519);
    let new = Kek::generate().unwrap();
    let old_wrapped = a.sealed().unwrap().wrapped_data_key.clone();
    let done = f.store.rotate_kek(&f.kek, &new, &ctx("rotate")).unwrap();
    assert_eq!(done.keys, 2);
    assert!(!done.old_pages_remain);
    assert!(matches!(
        f.store.verify_kek(&f.kek),
        Err(StoreError::Crypto(CryptoError::WrongKek))
    ));
    assert_eq!(
        f.store.private_key(&new, &a.id).unwrap().as_slice(),
        ka.private_pkcs8.as_slice()
    );
    assert_eq!(
        f.store.private_key(&new, &c.id).unwrap().as_slice(),
        kc.private_pkcs8.as_slice()
    );
    assert!(!contains(&file_bytes(&f.path), &old_wrapped));
    assert_eq!(
        f.store.audit_log().unwrap().last().unwrap().event,
        "rotate_kek"
    );
    assert!(matches!(
        f.store.verify_log().unwrap(),
        LogVerification::Intact { .. }
    ));
}

#[test]
fn passphrase_kek_parameters_travel_with_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.db");
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(T0));
    let params = crypto::KdfParams {
        m_cost: 256,
        t_cost: 1,
        p_cost: 1,
        ..crypto::KdfParams::generate().unwrap()
    };
    let kek = Kek::from_passphrase("s3cret passphrase", &params).unwrap();
    let mut store = SqliteKeyStore::create(&path, &kek, clock.clone()).unwrap();
    let key = generate(Algorithm::Ed25519).unwrap();
    let rec = store
        .create_key(&kek, new_key("s1", &key), &key.private_pkcs8, &ctx("g"))
        .unwrap();
    drop(store);
    let store = SqliteKeyStore::open(&path, clock).unwrap();
    let stored = store.kdf_params().unwrap().unwrap();
    let again = Kek::from_passphrase("s3cret passphrase", &stored).unwrap();
    assert_eq!(
        store.private_key(&again, &rec.id).unwrap().as_slice(),
        key.private_pkcs8.as_slice()
    );
    let wrong = Kek::from_passphrase("guess", &stored).unwrap();
    assert!(store.private_key(&wrong, &rec.id).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The store follows the pure lifecycle exactly: legal events change state and add one
    /// audit row, illegal ones change nothing; the log always verifies and private material
    /// exists exactly while the key is not destroyed.
    #[test]
    fn store_follows_the_lifecycle(events in proptest::collection::vec(
        proptest::sample::select(Event::ALL.to_vec()), 0..12)) {
        let mut f = fixture();
        let (rec, _) = add(&mut f, "s1", Algorithm::Ed25519);
        let mut expected = KeyState::PreActivation;
        let mut rows = 1;
        for e in events {
            let result = f.store.apply(&rec.id, e, &ctx("prop"));
            match transition(expected, e) {
                Ok(next) => {
                    prop_assert!(result.is_ok());
                    expected = next;
                    rows += 1;
                }
                Err(_) => {
                    let is_illegal = matches!(result, Err(StoreError::Illegal { .. }));
                    prop_assert!(is_illegal);
                }
            }
            let r = f.store.key(&rec.id).unwrap();
            prop_assert_eq!(r.state(), expected);
            prop_assert_eq!(r.sealed().is_some(), expected.holds_private_key());
        }
        prop_assert_eq!(f.store.verify_log().unwrap(), LogVerification::Intact { entries: rows });
    }
}

#[test]
fn backup_is_a_private_working_store() {
    let mut f = fixture();
    let (rec, key) = add(&mut f, "s1", Algorithm::Ed25519);
    f.store.apply(&rec.id, Event::Publish, &ctx("p")).unwrap();
    let dest = f.path.with_file_name("backup.db");
    f.store.backup_to(&dest).unwrap();
    let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(matches!(
        f.store.backup_to(&dest),
        Err(StoreError::AlreadyExists(_))
    ));
    let mut copy = SqliteKeyStore::open(&dest, f.clock.clone()).unwrap();
    copy.unlock(&f.kek).unwrap();
    assert_eq!(copy.key(&rec.id).unwrap().state(), KeyState::Published);
    assert_eq!(
        copy.private_key(&f.kek, &rec.id).unwrap().as_slice(),
        key.private_pkcs8.as_slice()
    );
    assert_eq!(
        copy.verify_log().unwrap(),
        LogVerification::Intact { entries: 2 }
    );
}

mod restore_tests {
    use super::*;
    use crate::store::restore::restore;

    #[test]
    fn a_backup_comes_back_but_never_silently_undoes_history() {
        let mut f = fixture();
        let (a, key_a) = add(&mut f, "s1", Algorithm::Ed25519);
        let backup = f.path.with_file_name("backup.db");
        f.store.backup_to(&backup).unwrap();
        // After the backup: the key is published, and a second key is created.
        f.store
            .apply(&a.id, Event::Publish, &ctx("publish"))
            .unwrap();
        let (b, _) = add(&mut f, "s2", Algorithm::Ed25519);
        let clock: Arc<dyn Clock> = f.clock.clone();

        let refused = restore(
            &backup,
            &f.path,
            &f.kek,
            clock.clone(),
            false,
            &ctx("restore"),
        )
        .unwrap_err();
        let msg = refused.to_string();
        assert!(
            matches!(&refused, StoreError::RestoreRegression(r) if r.len() == 2),
            "{msg}"
        );
        assert!(
            msg.contains("example.com/s1 published → pre_activation"),
            "{msg}"
        );
        assert!(
            msg.contains("example.com/s2 (pre_activation) is not in the backup"),
            "{msg}"
        );
        // Refused means untouched.
        assert_eq!(f.store.key(&b.id).unwrap().state(), KeyState::PreActivation);

        let wrong = Kek::generate().unwrap();
        let err = restore(
            &backup,
            &f.path,
            &wrong,
            clock.clone(),
            true,
            &ctx("restore"),
        )
        .unwrap_err();
        assert!(matches!(err, StoreError::Crypto(_)), "{err}");
        assert_eq!(f.store.keys().unwrap().len(), 2);

        // The store stays open here, as a milter would hold it: it must see the restored
        // contents, not keep writing to a file that was replaced under it.
        let backup_bytes = std::fs::read(&backup).unwrap();
        let done = restore(
            &backup,
            &f.path,
            &f.kek,
            clock.clone(),
            true,
            &ctx("restore"),
        )
        .unwrap();
        assert_eq!(done.keys, 1);
        assert_eq!(done.regressions.len(), 2);
        assert_eq!(
            f.store.keys().unwrap().len(),
            1,
            "the open connection sees the restore"
        );
        assert_eq!(
            std::fs::read(&backup).unwrap(),
            backup_bytes,
            "the backup is untouched"
        );
        let last = f.store.audit_log().unwrap().pop().unwrap();
        assert_eq!(last.event, "restore");
        let why = last.reason.unwrap_or_default();
        assert!(
            why.contains("accepted going back") && why.contains("example.com/s2"),
            "{why}"
        );
        let mut restored = SqliteKeyStore::open(&f.path, clock.clone()).unwrap();
        restored.unlock(&f.kek).unwrap();
        assert_eq!(
            restored.key(&a.id).unwrap().state(),
            KeyState::PreActivation
        );
        assert!(restored.key(&b.id).is_err());
        assert_eq!(
            &restored.private_key(&f.kek, &a.id).unwrap()[..],
            &key_a.private_pkcs8[..]
        );
        assert!(matches!(
            restored.verify_log().unwrap(),
            LogVerification::Intact { .. }
        ));
        // Nothing lost: the replaced store was copied aside first and still has both keys.
        let saved = SqliteKeyStore::open(done.saved_previous.as_ref().unwrap(), clock).unwrap();
        assert_eq!(saved.keys().unwrap().len(), 2);
        assert_eq!(saved.key(&a.id).unwrap().state(), KeyState::Published);
    }

    #[test]
    fn into_an_empty_place_and_from_a_non_store() {
        let f = fixture();
        let clock: Arc<dyn Clock> = f.clock.clone();
        let backup = f.path.with_file_name("b.db");
        f.store.backup_to(&backup).unwrap();
        let target = f.path.with_file_name("new.db");
        let done = restore(
            &backup,
            &target,
            &f.kek,
            clock.clone(),
            false,
            &ctx("restore"),
        )
        .unwrap();
        assert!(done.saved_previous.is_none());
        SqliteKeyStore::open(&target, clock.clone()).unwrap();

        let junk = f.path.with_file_name("junk.db");
        std::fs::write(&junk, b"not sqlite at all").unwrap();
        std::fs::set_permissions(&junk, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(restore(&junk, &target, &f.kek, clock, false, &ctx("restore")).is_err());
    }
}

mod intent_tests {
    use super::*;

    #[test]
    fn an_intent_lives_until_its_step_commits_or_is_cleared() {
        let mut f = fixture();
        let (a, _) = add(&mut f, "s1", Algorithm::Ed25519);
        let (b, _) = add(&mut f, "s2", Algorithm::Ed25519);
        // Not a legal step for a pre-activation key: refused, nothing recorded.
        assert!(matches!(
            f.store
                .record_intent(&a.id, Event::Revoke, "v=DKIM1; p=", &ctx("revoke")),
            Err(StoreError::Illegal { .. })
        ));
        f.store
            .record_intent(
                &a.id,
                Event::Publish,
                "v=DKIM1; k=ed25519; p=AAAA",
                &ctx("publish"),
            )
            .unwrap();
        f.store
            .record_intent(
                &b.id,
                Event::Publish,
                "v=DKIM1; k=ed25519; p=BBBB",
                &ctx("publish"),
            )
            .unwrap();
        let pending = f.store.intents().unwrap();
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0].event, Event::Publish);
        assert_eq!(pending[0].since, T0);
        f.store
            .apply(&a.id, Event::Publish, &ctx("publish"))
            .unwrap();
        f.store.clear_intent(&b.id, &ctx("keys run")).unwrap();
        assert!(f.store.intents().unwrap().is_empty());
        let log: Vec<String> = f
            .store
            .audit_log()
            .unwrap()
            .into_iter()
            .map(|e| e.event)
            .collect();
        assert!(log.contains(&"intent_publish".to_string()), "{log:?}");
        assert!(log.contains(&"intent_cleared".to_string()), "{log:?}");
        assert!(matches!(
            f.store.verify_log().unwrap(),
            LogVerification::Intact { .. }
        ));
    }

    #[test]
    fn a_version_1_store_is_upgraded_on_open() {
        let f = fixture();
        drop(f.store);
        std::fs::remove_file(&f.path).unwrap();
        let key = generate(Algorithm::Ed25519).unwrap();
        super::super::integrity_tests::legacy_store(&f.path, &f.kek, &[("s1", &key)]);
        Connection::open(&f.path)
            .unwrap()
            .execute_batch("DROP TABLE dns_intent; DROP TABLE delegation; PRAGMA user_version = 1;")
            .unwrap();
        let clock: Arc<dyn Clock> = f.clock.clone();
        // Read-only: readable as it is, and not upgraded (the audit's --key-store).
        {
            let ro = SqliteKeyStore::open_read_only(&f.path, clock.clone()).unwrap();
            assert!(ro.delegations().unwrap().is_empty());
            let v: i64 = ro
                .conn
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .unwrap();
            assert_eq!(v, 1);
        }
        // Opened without the KEK: the tables of version 2 are added, and that is all.
        let mut reopened = SqliteKeyStore::open(&f.path, clock).unwrap();
        assert!(reopened.intents().unwrap().is_empty());
        let version = |s: &SqliteKeyStore| -> i64 {
            s.conn
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .unwrap()
        };
        assert_eq!(version(&reopened), 2);
        // With the KEK: on to the current schema.
        reopened.unlock(&f.kek).unwrap();
        assert_eq!(version(&reopened), SCHEMA_VERSION);
        assert_eq!(reopened.keys().unwrap().len(), 1);
    }
}

mod delegation_tests {
    use super::*;
    use crate::store::delegation::Delegation;

    fn delegation(selector: &str) -> Delegation {
        Delegation {
            domain: Domain::new("example.com").unwrap(),
            selector: Selector::new(selector).unwrap(),
            target: format!("{selector}.dkim.provider.example."),
            provider: "newsletter provider".into(),
            since: T0,
        }
    }

    #[test]
    fn a_delegated_selector_and_our_keys_never_share_a_name() {
        let mut f = fixture();
        let (ours, _) = add(&mut f, "s1", Algorithm::Ed25519);
        let err = f
            .store
            .delegate(&delegation("s1"), &ctx("delegate"))
            .unwrap_err();
        assert!(err.to_string().contains(ours.id.as_str()), "{err}");
        f.store
            .delegate(&delegation("news"), &ctx("delegate"))
            .unwrap();
        assert!(
            f.store
                .delegate(&delegation("news"), &ctx("delegate"))
                .is_err()
        );
        let key = generate(Algorithm::Ed25519).unwrap();
        let err = f
            .store
            .create_key(
                &f.kek,
                new_key("news", &key),
                &key.private_pkcs8,
                &ctx("generate"),
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::SelectorTaken(_)), "{err}");
        let all = f.store.delegations().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].target, "news.dkim.provider.example.");
        let (d, s) = (
            Domain::new("example.com").unwrap(),
            Selector::new("news").unwrap(),
        );
        assert!(f.store.undelegate(&d, &s, &ctx("undelegate")).unwrap());
        assert!(!f.store.undelegate(&d, &s, &ctx("undelegate")).unwrap());
        assert!(f.store.delegations().unwrap().is_empty());
        let log: Vec<String> = f
            .store
            .audit_log()
            .unwrap()
            .into_iter()
            .map(|e| e.event)
            .collect();
        assert_eq!(
            log.iter().filter(|e| *e == "delegate").count(),
            1,
            "{log:?}"
        );
        assert_eq!(
            log.iter().filter(|e| *e == "undelegate").count(),
            1,
            "{log:?}"
        );
        assert!(matches!(
            f.store.verify_log().unwrap(),
            LogVerification::Intact { .. }
        ));
    }
}
