//! One mutating `mailtrust keys` command at a time per store.
//!
//! SQLite serialises single transactions, but a command is several: `keys run` plans a step
//! from the store, changes DNS, then commits; an export reads the keys and rewrites files and
//! a manifest. Without a lock, a run could republish a key an administrator revoked a moment
//! ago (from its older snapshot), and two exports could interleave their manifests. So every
//! mutating command holds an exclusive `flock(2)` on `STORE.lock` for its whole duration.
//! The kernel drops the lock when the process ends, however it ends: a killed command never
//! leaves a stale lock behind.

use std::fs::{File, TryLockError};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another command held it for longer than we were willing to wait.
    #[error(
        "another `mailtrust keys` command has held {} for more than {secs} s; try again when it has finished (or give --lock-wait)",
        path.display()
    )]
    Busy {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        secs: u64,
    },
    /// The lock file cannot be used (a symlink, someone else's file, an I/O error).
    #[error("{}: {message}", path.display())]
    Unusable {
        /// The lock file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

/// `STORE.lock`, next to the store.
pub fn lock_path(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl StoreLock {
    /// Takes the lock of `store`, waiting at most `wait` for another command to finish;
    /// `on_wait` is called once if we have to wait (to tell the user why nothing happens).
    pub fn acquire(
        store: &Path,
        wait: Duration,
        on_wait: impl FnOnce(&Path),
    ) -> Result<Self, LockError> {
        use rustix::fs::{Mode, OFlags};
        let path = lock_path(store);
        let unusable = |message: String| LockError::Unusable {
            path: path.clone(),
            message,
        };
        // Created 0600 (the umask can only take bits away), never through a symlink.
        let fd = rustix::fs::open(
            &path,
            OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| unusable(std::io::Error::from(e).to_string()))?;
        let file = File::from(fd);
        let md = file.metadata().map_err(|e| unusable(e.to_string()))?;
        let me = rustix::process::geteuid().as_raw();
        if !md.is_file() || (md.uid() != me && md.uid() != 0) {
            return Err(unusable(format!(
                "not a regular file of ours (owner uid {}); remove it",
                md.uid()
            )));
        }
        if md.mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|e| unusable(e.to_string()))?;
        }
        let start = Instant::now();
        let mut on_wait = Some(on_wait);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(StoreLock { _file: file }),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return Err(unusable(e.to_string())),
            }
            if start.elapsed() >= wait {
                return Err(LockError::Busy {
                    path,
                    secs: wait.as_secs(),
                });
            }
            if let Some(f) = on_wait.take() {
                f(&path);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_then_gives_up_and_a_released_lock_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("keys.db");
        let first = StoreLock::acquire(&store, Duration::ZERO, |_| {}).unwrap();
        let mut waited = false;
        let e =
            StoreLock::acquire(&store, Duration::from_millis(300), |_| waited = true).unwrap_err();
        assert!(waited && matches!(e, LockError::Busy { .. }), "{e}");
        assert!(e.to_string().contains("keys.db.lock"), "{e}");
        drop(first);
        StoreLock::acquire(&store, Duration::ZERO, |_| {}).unwrap();
        let md = std::fs::metadata(lock_path(&store)).unwrap();
        assert_eq!(md.mode() & 0o777, 0o600);
    }

    #[test]
    fn a_symlinked_lock_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "").unwrap();
        let store = dir.path().join("keys.db");
        std::os::unix::fs::symlink(&target, lock_path(&store)).unwrap();
        assert!(matches!(
            StoreLock::acquire(&store, Duration::ZERO, |_| {}),
            Err(LockError::Unusable { .. })
        ));
    }
}
