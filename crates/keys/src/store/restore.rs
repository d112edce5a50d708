//! Putting a backup back in place of the store.
//!
//! A backup is a store file (`VACUUM INTO` copy), so restoring is a file replacement; what needs
//! care is around it. The backup must be a store this version reads, with an intact audit log and
//! openable by the KEK given. A restore must not silently undo history: a key revoked or
//! compromised since the backup would be "active" again, and `keys run` would then publish its
//! record again. So restoring over a store that knows more is refused unless asked for, and the
//! store being replaced is first copied aside, so that no key is ever lost by a restore. Stop
//! every process that uses the store (milter, timers) before restoring.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{KeyStore, LogVerification, SqliteKeyStore, StoreError};
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

/// Replaces the store at `target` (if any) by the backup at `backup`.
pub fn restore(
    backup: &Path,
    target: &Path,
    kek: &Kek,
    clock: Arc<dyn Clock>,
    allow_regression: bool,
) -> Result<RestoreSummary, StoreError> {
    let from = SqliteKeyStore::open(backup, clock.clone())?;
    from.verify_kek(kek)?;
    if let LogVerification::Tampered { seq, problem } = from.verify_log()? {
        return Err(StoreError::BackupTampered { seq, problem });
    }
    let keys = from.keys()?.len();
    let mut summary = RestoreSummary {
        keys,
        saved_previous: None,
        regressions: Vec::new(),
    };
    if target.exists() {
        let current = SqliteKeyStore::open(target, clock.clone())?;
        let found = regressions(&current, &from)?;
        if !found.is_empty() && !allow_regression {
            return Err(StoreError::RestoreRegression(found));
        }
        summary.regressions = found;
        let saved = sidecar(target, &format!(".before-restore-{}", clock.now().0));
        current.backup_to(&saved)?;
        summary.saved_previous = Some(saved);
        // Empty the WAL, so that no page of the old database can be replayed onto the new file.
        current.erase_old_pages()?;
        drop(current);
    }
    let tmp = sidecar(target, ".restoring");
    remove_if_present(&tmp)?;
    from.backup_to(&tmp)?;
    drop(from);
    remove_if_present(&sidecar(target, "-wal"))?;
    remove_if_present(&sidecar(target, "-shm"))?;
    std::fs::rename(&tmp, target).map_err(|e| StoreError::Io {
        path: target.to_owned(),
        source: e,
    })?;
    // Open it once: proves the file in place is a readable store.
    SqliteKeyStore::open(target, clock)?;
    Ok(summary)
}
