//! Putting a backup back in place of the store.
//!
//! A backup is a store file (`VACUUM INTO` copy). The backup itself is never opened — it may be
//! on read-only media, and opening would upgrade an old one in place — but a private copy is.
//! That copy must be a store this version reads, with an intact audit log and openable by the
//! KEK given. A restore must not silently undo history: a key revoked or compromised since the
//! backup would be "active" again, and `keys run` would then publish its record again. So
//! restoring over a store that knows more is refused unless asked for, and the store being
//! replaced is first copied aside, so that no key is ever lost by a restore.
//!
//! An existing store is overwritten through SQLite's online backup API, not by renaming files:
//! under SQLite's own locks, so a process that still has the store open (a milter) sees the
//! restored contents at its next transaction instead of writing into a deleted file. The restore
//! is written to the restored store's audit log, with any regression it accepted.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::log::{self, append_audit};
use super::{AuditContext, KeyStore, LogVerification, SqliteKeyStore, StoreError, writer};
use crate::clock::Clock;
use crate::crypto::Kek;
use crate::model::{KeyId, KeyState};

/// A key the restore would take back in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regression {
    /// The key.
    pub id: KeyId,
    /// `domain/selector`.
    pub name: String,
    /// Its state in the store now.
    pub now: KeyState,
    /// Its state in the backup, or `None` when the backup does not have it.
    pub backup: Option<KeyState>,
}

impl fmt::Display for Regression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.backup {
            Some(b) => write!(f, "{} {} → {}", self.name, self.now.name(), b.name()),
            None => write!(
                f,
                "{} ({}) is not in the backup",
                self.name,
                self.now.name()
            ),
        }
    }
}

/// What a restore did.
#[derive(Debug)]
pub struct RestoreSummary {
    /// Keys in the restored store.
    pub keys: usize,
    /// Where the replaced store was copied, if there was one.
    pub saved_previous: Option<PathBuf>,
    /// Regressions accepted with `allow_regression`.
    pub regressions: Vec<Regression>,
}

/// How far along its lifecycle a state is; a restore must not go down this order.
fn rank(s: KeyState) -> u8 {
    match s {
        KeyState::PreActivation => 0,
        KeyState::Published => 1,
        KeyState::Active => 2,
        KeyState::Deactivated => 3,
        KeyState::RevokedInDns => 4,
        KeyState::Compromised => 5,
        KeyState::Destroyed => 6,
    }
}

fn regressions(
    current: &SqliteKeyStore,
    backup: &SqliteKeyStore,
) -> Result<Vec<Regression>, StoreError> {
    let mut out = Vec::new();
    let old: Vec<_> = backup.keys()?;
    for k in current.keys()? {
        let b = old.iter().find(|o| o.id == k.id).map(|o| o.state());
        if b.is_none_or(|b| rank(b) < rank(k.state())) {
            out.push(Regression {
                id: k.id.clone(),
                name: format!("{}/{}", k.domain.as_str(), k.selector.as_str()),
                now: k.state(),
                backup: b,
            });
        }
    }
    Ok(out)
}

fn remove_if_present(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::Io {
            path: path.to_owned(),
            source: e,
        }),
    }
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Copies `from` to a new private file `to` (0600), byte for byte, and returns it locked
/// (`flock`) for as long as the restore uses it, so that [`remove_stale_copy`] in another
/// process leaves it alone. The lock is on a descriptor of our own, closed only after every
/// SQLite connection to the copy is gone (closing a descriptor drops the process's POSIX
/// locks on the file, which SQLite relies on).
fn private_copy(from: &Path, to: &Path) -> Result<std::fs::File, StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    if !remove_stale_copy_of(to) {
        return Err(StoreError::Io {
            path: to.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "another restore of this store is running",
            ),
        });
    }
    remove_if_present(to)?;
    remove_if_present(&sidecar(to, "-wal"))?;
    remove_if_present(&sidecar(to, "-shm"))?;
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| StoreError::Io { path, source }
    };
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .map_err(io(to))?;
    dst.try_lock().map_err(|e| StoreError::Io {
        path: to.to_owned(),
        source: e.into(),
    })?;
    let mut src = std::fs::File::open(from).map_err(io(from))?;
    std::io::copy(&mut src, &mut dst).map_err(io(to))?;
    dst.sync_all().map_err(io(to))?;
    Ok(dst)
}

/// Removes the private copy (`STORE.restoring`) a crashed restore of `target` left behind,
/// unless a restore holds it now. Best effort: called when a store is opened for writing.
pub(super) fn remove_stale_copy(target: &Path) {
    remove_stale_copy_of(&sidecar(target, ".restoring"));
}

/// False when a running restore holds `copy`; otherwise removes it (if present).
fn remove_stale_copy_of(copy: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    let Ok(f) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(copy)
    else {
        return true;
    };
    if f.try_lock().is_err() {
        return false;
    }
    tracing::info!(copy = %copy.display(), "removing the copy a crashed restore left behind");
    remove_copy(copy);
    true
}

fn remove_copy(copy: &Path) {
    for p in [
        copy.to_owned(),
        sidecar(copy, "-wal"),
        sidecar(copy, "-shm"),
    ] {
        let _ = std::fs::remove_file(p);
    }
}

/// The KDF parameters a backup's passphrase KEK needs, read from a private copy next to
/// `target` (the backup itself is not opened).
pub fn backup_kdf_params(
    backup: &Path,
    target: &Path,
    clock: Arc<dyn Clock>,
) -> Result<Option<crate::crypto::KdfParams>, StoreError> {
    with_copy(backup, target, |copy| {
        SqliteKeyStore::open(copy, clock)?.kdf_params()
    })
}

/// Runs `f` on a private copy of `backup` made next to `target`, and removes the copy after.
fn with_copy<T>(
    backup: &Path,
    target: &Path,
    f: impl FnOnce(&Path) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let copy = sidecar(target, ".restoring");
    let lock = private_copy(backup, &copy)?;
    let result = f(&copy);
    remove_copy(&copy);
    drop(lock);
    result
}

/// Appends a store-wide row (no key) to `store`'s audit log.
fn log_restore(store: &mut SqliteKeyStore, ctx: &AuditContext) -> Result<(), StoreError> {
    let w = writer(&store.unlocked, &store.clock)?;
    let tx = store
        .conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    append_audit(&tx, &w, store.clock.now(), None, "restore", None, None, ctx)?;
    tx.commit()?;
    Ok(())
}

/// Replaces the store at `target` (if any) by the backup at `backup`; `ctx` says who did it.
pub fn restore(
    backup: &Path,
    target: &Path,
    kek: &Kek,
    clock: Arc<dyn Clock>,
    allow_regression: bool,
    ctx: &AuditContext,
) -> Result<RestoreSummary, StoreError> {
    with_copy(backup, target, |copy| {
        restore_from_copy(backup, copy, target, kek, clock, allow_regression, ctx)
    })
}

fn restore_from_copy(
    backup: &Path,
    copy: &Path,
    target: &Path,
    kek: &Kek,
    clock: Arc<dyn Clock>,
    allow_regression: bool,
    ctx: &AuditContext,
) -> Result<RestoreSummary, StoreError> {
    let mut from = SqliteKeyStore::open(copy, clock.clone())?;
    // Checks the KEK and upgrades an older backup (in the copy) so that its log can be checked.
    from.unlock(kek)?;
    if let LogVerification::Tampered { seq, problem } = from.verify_log()? {
        return Err(StoreError::BackupTampered { seq, problem });
    }
    let mut summary = RestoreSummary {
        keys: from.keys()?.len(),
        saved_previous: None,
        regressions: Vec::new(),
    };
    let note = |regressions: &[Regression], replaced: Option<(i64, String)>| {
        let mut why = format!("restored from {}", backup.display());
        // What the log said before it was replaced, so that the history given up can be
        // found again in STORE.before-restore-TIME.
        if let Some((count, head)) = replaced {
            why.push_str(&format!(
                "; the replaced store's log had {count} row(s), head {head}"
            ));
        }
        if !regressions.is_empty() {
            let list: Vec<String> = regressions.iter().map(ToString::to_string).collect();
            why.push_str(&format!("; accepted going back: {}", list.join("; ")));
        }
        if let Some(r) = &ctx.reason {
            why.push_str(&format!(" ({r})"));
        }
        AuditContext::new(&ctx.command, Some(&why))
    };
    if !target.exists() {
        // Nothing to overwrite: the copy becomes the store (its WAL emptied into it first).
        log_restore(&mut from, &note(&[], None))?;
        from.erase_old_pages()?;
        drop(from);
        std::fs::rename(copy, target).map_err(|e| StoreError::Io {
            path: target.to_owned(),
            source: e,
        })?;
        SqliteKeyStore::open(target, clock)?;
        return Ok(summary);
    }
    let mut current = SqliteKeyStore::open(target, clock.clone())?;
    let found = regressions(&current, &from)?;
    if !found.is_empty() && !allow_regression {
        return Err(StoreError::RestoreRegression(found));
    }
    let replaced = log::head(&current.conn)?;
    let saved = sidecar(target, &format!(".before-restore-{}", clock.now().0));
    current.backup_to(&saved)?;
    summary.saved_previous = Some(saved);
    {
        let b = rusqlite::backup::Backup::new(&from.conn, &mut current.conn)?;
        // All pages in one step: the destination changes in one transaction.
        b.run_to_completion(i32::MAX, std::time::Duration::from_millis(50), None)?;
    }
    // The store now holds the backup's contents (and its log key).
    current.unlock(kek)?;
    log_restore(&mut current, &note(&found, Some(replaced)))?;
    summary.regressions = found;
    Ok(summary)
}
