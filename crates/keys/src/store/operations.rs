//! The [`KeyStore`] operations of the SQLite store: keys and their lifecycle steps, intents,
//! delegations, the private key, KEK rotation and the audit log. Each change and its log row
//! are one transaction; every change needs the store unlocked with its KEK.

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};
use zeroize::Zeroizing;

use super::*;

impl KeyStore for SqliteKeyStore {
    fn verify_kek(&self, kek: &Kek) -> Result<(), StoreError> {
        let check = meta(&self.conn, "kek_check")?
            .ok_or_else(|| StoreError::Corrupt("no KEK check value".to_owned()))?;
        let check = data_encoding::BASE64
            .decode(check.as_bytes())
            .map_err(|_| StoreError::Corrupt("bad KEK check value".to_owned()))?;
        if self.version >= 3 {
            return Ok(crypto::verify_kek(kek, &check, CheckVersion::V3)?);
        }
        match crypto::verify_kek(kek, &check, CheckVersion::Legacy) {
            Ok(()) => Ok(()),
            Err(e) => {
                if crypto::verify_kek(kek, &check, CheckVersion::V3).is_ok() {
                    return Err(StoreError::Downgraded(self.path.clone()));
                }
                Err(e.into())
            }
        }
    }

    fn create_key(
        &mut self,
        kek: &Kek,
        new: NewKey,
        private_pkcs8: &[u8],
        ctx: &AuditContext,
    ) -> Result<KeyRecord, StoreError> {
        self.verify_kek(kek)?;
        let w = writer(&self.unlocked, &self.clock)?;
        new.selector.record_name(&new.domain)?;
        // The row's public key is what will be published: it must be the private key's.
        let derived = crate::pem::public_of(private_pkcs8, WeakKeys::Allow)
            .map_err(|e| StoreError::Corrupt(format!("the private key does not parse: {e}")))?;
        if derived != new.public {
            return Err(StoreError::Corrupt(
                "the public key given is not the one of the private key".to_owned(),
            ));
        }
        let id = KeyId::random().map_err(|_| CryptoError::Crypto("no randomness"))?;
        let binding = binding_v2(&id, &new.purpose, &new.domain, &new.selector, &new.public)?;
        let sealed = crypto::seal(kek, &binding, private_pkcs8)?;
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
                 public_key, wrapped_data_key, ciphertext, aad_version)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pre_activation', ?6, ?7, ?8, ?9, ?10)",
            params![
                id.as_str(),
                new.domain.as_str(),
                new.selector.as_str(),
                new.public.algorithm.name(),
                purpose,
                now.0,
                new.public.bytes,
                sealed.wrapped_data_key,
                sealed.ciphertext,
                binding.version()
            ],
        )?;
        log::append_audit(
            &tx,
            &w,
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
        load_key(&self.conn, self.version, &id)
    }

    fn key(&self, id: &KeyId) -> Result<KeyRecord, StoreError> {
        let k = load_key(&self.conn, self.version, id)?;
        self.checked(k)
    }

    fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {} FROM keys ORDER BY domain, selector, created_at",
            key_columns(self.version)
        ))?;
        let raws = stmt
            .query_map([], RawKey::from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        raws.into_iter()
            .map(|r| self.checked(current_binding(self.version, r.into_record()?)?))
            .collect()
    }

    fn apply(
        &mut self,
        id: &KeyId,
        event: Event,
        ctx: &AuditContext,
    ) -> Result<KeyRecord, StoreError> {
        let version = self.version;
        let (from, to) = self.change(|tx, w, now| {
            let from = load_key(tx, version, id)?.state();
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
            log::append_audit(
                tx,
                w,
                now,
                Some(id),
                event.name(),
                Some(from),
                Some(to),
                ctx,
            )?;
            tx.execute("DELETE FROM dns_intent WHERE key_id = ?1", [id.as_str()])?;
            Ok((from, to))
        })?;
        tracing::info!(key = %id, %from, %to, "key state changed");
        if to == KeyState::Destroyed {
            self.erase_old_pages()?;
        }
        load_key(&self.conn, self.version, id)
    }

    fn note(&mut self, id: &KeyId, event: &str, ctx: &AuditContext) -> Result<(), StoreError> {
        let version = self.version;
        self.change(|tx, w, now| log_unchanged(tx, w, now, version, id, event, ctx))
    }

    fn record_intent(
        &mut self,
        id: &KeyId,
        event: Event,
        record: &str,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let version = self.version;
        self.change(|tx, w, now| {
            let state = load_key(tx, version, id)?.state();
            transition(state, event).map_err(|source| StoreError::Illegal {
                id: id.clone(),
                source,
            })?;
            tx.execute(
                "INSERT OR REPLACE INTO dns_intent (key_id, event, record, since) VALUES (?1, ?2, ?3, ?4)",
                params![id.as_str(), event.name(), record, now.0],
            )?;
            let what = format!("intent_{}", event.name());
            log_unchanged(tx, w, now, version, id, &what, ctx)
        })
    }

    fn delegate(
        &mut self,
        d: &delegation::Delegation,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        self.change(|tx, w, now| delegation::add(tx, w, now, d, ctx))
    }

    fn undelegate(
        &mut self,
        domain: &Domain,
        selector: &Selector,
        ctx: &AuditContext,
    ) -> Result<bool, StoreError> {
        self.change(|tx, w, now| delegation::remove(tx, w, now, domain, selector, ctx))
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
        let version = self.version;
        self.change(|tx, w, now| {
            // An unknown key is an error even when it has no intent to clear.
            load_key(tx, version, id)?;
            if tx.execute("DELETE FROM dns_intent WHERE key_id = ?1", [id.as_str()])? > 0 {
                log_unchanged(tx, w, now, version, id, "intent_cleared", ctx)?;
            }
            Ok(())
        })
    }

    fn fulfil_intent(
        &mut self,
        id: &KeyId,
        event: &str,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let version = self.version;
        self.change(|tx, w, now| {
            tx.execute("DELETE FROM dns_intent WHERE key_id = ?1", [id.as_str()])?;
            log_unchanged(tx, w, now, version, id, event, ctx)
        })
    }

    fn private_key(&self, kek: &Kek, id: &KeyId) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        self.verify_kek(kek)?;
        let record = load_key(&self.conn, self.version, id)?;
        record
            .open_checked(kek)?
            .ok_or_else(|| StoreError::KeyDestroyed(id.clone()))
    }

    fn rotate_kek(
        &mut self,
        old: &Kek,
        new: &Kek,
        ctx: &AuditContext,
    ) -> Result<KekRotation, StoreError> {
        self.verify_kek(old)?;
        let w = writer(&self.unlocked, &self.clock)?;
        let now = self.clock.now();
        let keys: Vec<KeyRecord> = self
            .keys()?
            .into_iter()
            .filter(|k| k.sealed().is_some())
            .collect();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for k in &keys {
            let Some(sealed) = k.sealed() else { continue };
            let binding = k.binding()?;
            let rewrapped = crypto::rewrap(old, &binding, new, &binding, &sealed.wrapped_data_key)?
                .ok_or_else(|| k.tampered("its data key does not open"))?;
            tx.execute(
                "UPDATE keys SET wrapped_data_key = ?1 WHERE id = ?2",
                params![rewrapped, k.id.as_str()],
            )?;
        }
        // The log key is re-wrapped, not replaced: every MAC in the log stays valid.
        set_meta(
            &tx,
            "log_key",
            &data_encoding::BASE64.encode(&w.key.wrap(new)?),
        )?;
        let check = data_encoding::BASE64.encode(&crypto::kek_check_value(new, CheckVersion::V3)?);
        set_meta(&tx, "kek_check", &check)?;
        set_kdf_params(&tx, new)?;
        log::append_audit(&tx, &w, now, None, "rotate_kek", None, None, ctx)?;
        tx.commit()?;
        tracing::info!(keys = keys.len(), "key-encryption key rotated");
        if let Some(u) = self.unlocked.as_mut() {
            u.kek = new.duplicate();
        }
        // Data keys wrapped under the old KEK must not linger in the WAL; but the rotation has
        // committed, so a reader holding the WAL is a warning, not a failure.
        let old_pages_remain = match self.erase_old_pages() {
            Ok(()) => false,
            Err(StoreError::CheckpointBusy) => true,
            Err(e) => {
                tracing::warn!(error = %e, "checkpoint after the KEK rotation failed");
                true
            }
        };
        Ok(KekRotation {
            keys: keys.len(),
            old_pages_remain,
        })
    }

    fn audit_log(&self) -> Result<Vec<AuditEntry>, StoreError> {
        log::entries(&self.conn)
    }

    fn verify_log(&self) -> Result<LogVerification, StoreError> {
        let u = self.unlocked.as_ref().ok_or(StoreError::Locked)?;
        let verdict = log::verify(&self.conn, &u.log_key)?;
        if let LogVerification::Intact { .. } = verdict {
            // Every key row against the KEK and its last logged state (see `checked`): an
            // intact log over a store whose rows were changed is no all-clear.
            self.keys()?;
        }
        Ok(verdict)
    }
}

/// A log row for a step that leaves the key's state as it is (a note, an intent recorded,
/// cleared or fulfilled): the state before and after are the key's current one.
fn log_unchanged(
    tx: &Transaction<'_>,
    w: &log::LogWriter<'_>,
    now: Timestamp,
    version: i64,
    id: &KeyId,
    event: &str,
    ctx: &AuditContext,
) -> Result<(), StoreError> {
    let state = load_key(tx, version, id)?.state();
    log::append_audit(tx, w, now, Some(id), event, Some(state), Some(state), ctx)
}

impl SqliteKeyStore {
    /// One change to the store: an IMMEDIATE transaction (a second writer waits instead of
    /// working from a stale read), the log writer (so a store without the KEK cannot change),
    /// and the clock's time; committed only when `change` succeeds.
    fn change<T>(
        &mut self,
        change: impl FnOnce(&Transaction<'_>, &log::LogWriter<'_>, Timestamp) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let w = writer(&self.unlocked, &self.clock)?;
        let now = self.clock.now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = change(&tx, &w, now)?;
        tx.commit()?;
        Ok(out)
    }

    /// A key row as read, checked against its sealed private key when the store is unlocked:
    /// the public key of every key a command gets from an unlocked store is its private key's,
    /// so what is published is what was generated (a row changed without the KEK is refused,
    /// naming the key). Without the KEK (`keys list`, `audit --key-store`) rows are returned
    /// as stored; nothing is published from such a store.
    fn checked(&self, k: KeyRecord) -> Result<KeyRecord, StoreError> {
        if let Some(u) = &self.unlocked {
            k.open_checked(&u.kek)?;
            // The state column is not under the KEK: a compromised or revoked key set back to
            // `active` by hand would be exported and published again. Every state change
            // mailtrust makes writes a log row naming the new state, and log rows cannot be
            // forged without the log key, so the key's last logged state must be its state.
            let logged: Option<String> = self
                .conn
                .query_row(
                    "SELECT to_state FROM audit_log WHERE key_id = ?1 AND to_state IS NOT NULL
                     ORDER BY seq DESC LIMIT 1",
                    [k.id.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            if logged.as_deref() != Some(k.state().name()) {
                return Err(k.tampered(&format!(
                    "its state is {} but the audit log last set it to {}",
                    k.state().name(),
                    logged.as_deref().unwrap_or("nothing")
                )));
            }
        }
        Ok(k)
    }
}
