//! The state directory of a lab that runs as root, and the files root writes into it.
//!
//! Root writes configurations, keys and the TSIG secret there, hands parts of it to the
//! daemons, and deletes what it wrote at `down`. Whoever can rename, replace or write into the
//! state directory or any directory above it could make root write, chown or delete where they
//! choose (a directory or a symlink pre-created under a predictable name in `/tmp` is enough).
//! Hence:
//!
//! - a new state directory is made like mkdtemp(3): a random name, created exclusively with
//!   mode 0700, then 0711 so that the daemons (who run as their own users) can reach their own
//!   subdirectories but cannot list it;
//! - a `--state DIR` that exists must be owned by root (or the running user) and writable by
//!   nobody else; a missing one is created component by component, each exclusively;
//! - every directory above it must be owned by root (or the running user; another owner could
//!   rename the state directory away and put their own in its place) and may be writable by
//!   others only with the sticky bit, which stops them renaming entries they do not own (as in
//!   `/tmp`);
//! - a symlink on the way must belong to root (or the running user), and its target passes the
//!   same checks.
//!
//! Files are written through the descriptor `open(2)` returns: `O_NOFOLLOW` so that a symlink
//! in the file's place is never followed, the final mode given at creation (a secret is never
//! readable by others, not even for a moment), ownership set with `fchown`.

use std::ffi::OsString;
use std::fs::Metadata;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use crate::error::{IoContext, LabError};

/// The mode of a state directory once made: others may pass through to the daemons' own
/// subdirectories, but not list or change it.
const STATE_MODE: u32 = 0o711;

/// The name prefix of state directories the lab makes itself.
const TEMP_PREFIX: &str = "mailtrust-lab-";

/// Present in a state directory that `up` created, so that `down` removes the directory too
/// (and only such a directory: a user's own `--state` directory stays).
pub(crate) const CREATED_MARKER: &str = ".created-by-mailtrust-lab";

/// Where a directory sits relative to the state directory, which decides what it may allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The state directory itself: nobody but root may write.
    State,
    /// A directory above it: others may write only with the sticky bit (like `/tmp`).
    Above,
}

/// Makes a fresh state directory in the system's temporary directory (`$TMPDIR` or `/tmp`),
/// mkdtemp-style, after checking the temporary directory like any directory above a state
/// directory. Returns its canonical path.
pub(crate) fn create_temporary() -> Result<PathBuf, LabError> {
    let parent = std::env::temp_dir();
    let parent = match walk(&parent, Place::Above)? {
        Found::Existing(dir) => dir,
        Found::Missing { .. } => {
            return Err(unsafe_state(
                &parent,
                "the temporary directory does not exist".into(),
            ));
        }
    };
    let dir = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(&parent)
        .context(|| format!("cannot create a state directory in {}", parent.display()))?
        .keep();
    finish_created(&dir)?;
    Ok(dir)
}

/// Checks `requested` as a state directory for root, creating it safely if it does not exist.
/// Returns its canonical path.
pub(crate) fn prepare(requested: &Path) -> Result<PathBuf, LabError> {
    match walk(requested, Place::State)? {
        Found::Existing(dir) => Ok(dir),
        Found::Missing { existing, rest } => {
            let mut dir = existing;
            for name in rest {
                dir.push(name);
                // Not create_dir_all: each component is created here and now, by us, or the
                // whole thing is refused (it appeared in between: someone else made it).
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&dir)
                    .context(|| format!("cannot create state directory {}", dir.display()))?;
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(STATE_MODE))
                    .context(|| format!("cannot set the mode of {}", dir.display()))?;
            }
            finish_created(&dir)?;
            Ok(dir)
        }
    }
}

/// Checks an existing state directory before `down` deletes in it; `None` if it does not exist.
pub(crate) fn existing(state: &Path) -> Result<Option<PathBuf>, LabError> {
    match walk(state, Place::State)? {
        Found::Existing(dir) => Ok(Some(dir)),
        Found::Missing { .. } => Ok(None),
    }
}

fn finish_created(dir: &Path) -> Result<(), LabError> {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(STATE_MODE))
        .context(|| format!("cannot set the mode of {}", dir.display()))?;
    write_file(&dir.join(CREATED_MARKER), b"", Access::Public)
}

/// What [`walk`] found.
#[derive(Debug)]
enum Found {
    /// The directory exists; its canonical path.
    Existing(PathBuf),
    /// `existing` (canonical, checked) exists; the components in `rest` below it do not.
    Missing {
        existing: PathBuf,
        rest: Vec<OsString>,
    },
}

/// Follows `path` from `/` one component at a time, checking each directory (and each symlink
/// and its target) on the way; `last` is how the final directory is checked.
fn walk(path: &Path, last: Place) -> Result<Found, LabError> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .context(|| "cannot find the current directory".into())?
            .join(path)
    };
    let components: Vec<Component<'_>> = absolute.components().collect();
    let mut here = PathBuf::from("/");
    check(&here, &lstat(&here)?, Place::Above).map_err(|reason| unsafe_state(path, reason))?;
    for (i, component) in components.iter().enumerate() {
        let place = if i + 1 == components.len() {
            last
        } else {
            Place::Above
        };
        let name = match component {
            Component::Normal(name) => name,
            // `here` is canonical, so `..` is its parent, as the kernel resolves it.
            Component::ParentDir => {
                here.pop();
                continue;
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => continue,
        };
        let next = here.join(name);
        let meta = match std::fs::symlink_metadata(&next) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut rest = Vec::new();
                for c in &components[i..] {
                    match c {
                        Component::Normal(n) => rest.push(n.to_os_string()),
                        Component::CurDir => {}
                        _ => {
                            return Err(unsafe_state(
                                path,
                                format!("`..` after {}, which does not exist", next.display()),
                            ));
                        }
                    }
                }
                return Ok(Found::Missing {
                    existing: here,
                    rest,
                });
            }
            Err(source) => {
                return Err(LabError::Io {
                    context: format!("cannot inspect {}", next.display()),
                    source,
                });
            }
        };
        if meta.file_type().is_symlink() {
            owned_by_us(&next, &meta).map_err(|reason| unsafe_state(path, reason))?;
            let target = next
                .canonicalize()
                .context(|| format!("cannot follow the symlink {}", next.display()))?;
            for (j, dir) in target.ancestors().enumerate() {
                let place = if j == 0 { place } else { Place::Above };
                check(dir, &lstat(dir)?, place).map_err(|reason| unsafe_state(path, reason))?;
            }
            here = target;
        } else {
            check(&next, &meta, place).map_err(|reason| unsafe_state(path, reason))?;
            here = next;
        }
    }
    // A path that ends in `..` or is `/` itself: the last directory gets the state's checks too.
    check(&here, &lstat(&here)?, last).map_err(|reason| unsafe_state(path, reason))?;
    Ok(Found::Existing(here))
}

fn lstat(path: &Path) -> Result<Metadata, LabError> {
    std::fs::symlink_metadata(path).context(|| format!("cannot inspect {}", path.display()))
}

fn unsafe_state(path: &Path, reason: String) -> LabError {
    LabError::UnsafeState {
        path: path.to_path_buf(),
        reason,
    }
}

fn owned_by_us(path: &Path, meta: &Metadata) -> Result<(), String> {
    let us = rustix::process::geteuid().as_raw();
    if meta.uid() == 0 || meta.uid() == us {
        Ok(())
    } else {
        Err(format!(
            "{} is owned by uid {}, who could replace what is in it",
            path.display(),
            meta.uid()
        ))
    }
}

/// Whether someone other than root may write in a directory: others, or a group other than
/// root's.
fn writable_by_others(meta: &Metadata) -> bool {
    let mode = meta.mode();
    mode & 0o002 != 0 || (mode & 0o020 != 0 && meta.gid() != 0)
}

/// One directory's checks (`meta` from lstat, so a symlink is not a directory here).
fn check(path: &Path, meta: &Metadata, place: Place) -> Result<(), String> {
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", path.display()));
    }
    owned_by_us(path, meta)?;
    if !writable_by_others(meta) {
        return Ok(());
    }
    let sticky = meta.mode() & 0o1000 != 0;
    match place {
        Place::State => Err(format!(
            "{} is writable by others (mode {:o})",
            path.display(),
            meta.mode() & 0o7777
        )),
        Place::Above if sticky => Ok(()),
        Place::Above => Err(format!(
            "{} is writable by others without the sticky bit (mode {:o}): anyone could rename \
             the state directory away and put their own in its place",
            path.display(),
            meta.mode() & 0o7777
        )),
    }
}

/// Who may read a file root writes into the state directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// 0644, owned by root: configurations, zones, public keys and certificates.
    Public,
    /// 0600, owned by root: secrets only root-run programs read (lab.json, the TSIG key file,
    /// the TLS private keys, which the mail servers read before dropping privileges).
    Secret,
    /// 0640, owned by root with this group: a secret a daemon reads after dropping privileges
    /// (Knot's configuration with the TSIG key); the daemon cannot change it.
    GroupSecret(u32),
}

impl Access {
    fn mode(self) -> u32 {
        match self {
            Access::Public => 0o644,
            Access::Secret => 0o600,
            Access::GroupSecret(_) => 0o640,
        }
    }
}

/// Writes `bytes` to `path` (creating its parent directories, which lie in the state directory
/// and are root's): a new file with its final mode from the start, never through a symlink, its
/// owner set on the descriptor. A secret must not exist yet (`O_EXCL`): `up` deletes the
/// previous files first, so an existing one is someone else's.
pub(crate) fn write_file(path: &Path, bytes: &[u8], access: Access) -> Result<(), LabError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut flags = OFlags::WRONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    flags |= if access == Access::Public {
        OFlags::TRUNC
    } else {
        OFlags::EXCL
    };
    let fd = rustix::fs::open(path, flags, Mode::from_raw_mode(access.mode()))
        .map_err(std::io::Error::from)
        .context(|| format!("cannot create {}", path.display()))?;
    let mut file = std::fs::File::from(fd);
    // An existing public file keeps its old mode through O_TRUNC; set it on the descriptor.
    file.set_permissions(std::fs::Permissions::from_mode(access.mode()))
        .context(|| format!("cannot set the mode of {}", path.display()))?;
    if let Access::GroupSecret(gid) = access {
        std::os::unix::fs::fchown(&file, None, Some(gid))
            .context(|| format!("cannot give {} to group {gid}", path.display()))?;
    }
    file.write_all(bytes)
        .context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// The user the ownership tests hand directories to (`nobody`), when we may chown.
    fn someone_else() -> Option<u32> {
        rustix::process::geteuid().is_root().then_some(65_534)
    }

    fn mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    fn refused(path: &Path, words: &str) {
        match prepare(path) {
            Err(LabError::UnsafeState { reason, .. }) => {
                assert!(reason.contains(words), "{}: {reason}", path.display())
            }
            other => panic!("{}: expected a refusal, got {other:?}", path.display()),
        }
    }

    /// A base directory for a test's tree: private (0700) and root's, in a sticky /tmp.
    fn base() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("mtlab-state-test-")
            .tempdir()
            .expect("tempdir")
    }

    #[test]
    fn a_missing_state_dir_is_created_0711_and_marked() {
        let base = base();
        let state = base.path().join("a").join("lab");
        let made = prepare(&state).expect("created");
        assert_eq!(made, state);
        for dir in [base.path().join("a"), state.clone()] {
            let meta = std::fs::metadata(&dir).expect("made");
            assert_eq!(meta.mode() & 0o7777, 0o711, "{}", dir.display());
        }
        assert!(state.join(CREATED_MARKER).exists());
        // Again: it exists now, is ours and fine; not re-created.
        assert_eq!(prepare(&state).expect("existing"), state);
    }

    #[test]
    fn a_state_dir_writable_by_others_is_refused() {
        let base = base();
        let state = base.path().join("lab");
        std::fs::create_dir(&state).expect("mkdir");
        mode(&state, 0o757);
        refused(&state, "writable by others");
        mode(&state, 0o1777);
        refused(&state, "writable by others");
        mode(&state, 0o755);
        assert!(prepare(&state).is_ok());
        assert!(
            !state.join(CREATED_MARKER).exists(),
            "a user's own directory is not marked as the lab's"
        );
    }

    #[test]
    fn an_ancestor_writable_by_others_needs_the_sticky_bit() {
        let base = base();
        let open = base.path().join("open");
        std::fs::create_dir(&open).expect("mkdir");
        mode(&open, 0o777);
        // Existing or not, a state directory under it is refused, and nothing is created.
        refused(&open.join("lab"), "without the sticky bit");
        assert!(!open.join("lab").exists());
        std::fs::create_dir(open.join("lab")).expect("mkdir");
        refused(&open.join("lab"), "without the sticky bit");
        // Like /tmp: sticky, so others cannot rename what is ours.
        mode(&open, 0o1777);
        assert!(prepare(&open.join("lab")).is_ok());
        assert!(prepare(&open.join("new")).is_ok());
    }

    #[test]
    fn a_state_dir_or_ancestor_owned_by_another_user_is_refused() {
        let Some(other) = someone_else() else {
            eprintln!("skipped: chown needs root");
            return;
        };
        let base = base();
        let theirs = base.path().join("theirs");
        std::fs::create_dir(&theirs).expect("mkdir");
        std::os::unix::fs::chown(&theirs, Some(other), None).expect("chown");
        mode(&theirs, 0o755);
        refused(&theirs, "owned by uid 65534");
        refused(&theirs.join("lab"), "owned by uid 65534");
        assert!(!theirs.join("lab").exists());
    }

    #[test]
    fn symlinks_on_the_way_must_be_ours_and_lead_somewhere_safe() {
        let base = base();
        let real = base.path().join("real");
        std::fs::create_dir(&real).expect("mkdir");
        let link = base.path().join("link");
        symlink(&real, &link).expect("symlink");
        assert_eq!(prepare(&link).expect("our symlink"), real);
        assert_eq!(
            prepare(&link.join("lab")).expect("below our symlink"),
            real.join("lab")
        );
        // A symlink to a directory others may write in is judged by its target.
        let open = base.path().join("open");
        std::fs::create_dir(&open).expect("mkdir");
        mode(&open, 0o777);
        let to_open = base.path().join("to-open");
        symlink(&open, &to_open).expect("symlink");
        refused(&to_open.join("lab"), "without the sticky bit");
        // A planted symlink (someone else's) is never followed.
        if let Some(other) = someone_else() {
            let planted = base.path().join("planted");
            symlink(&real, &planted).expect("symlink");
            std::os::unix::fs::lchown(&planted, Some(other), None).expect("lchown");
            refused(&planted, "owned by uid 65534");
        }
        // A symlink to a file is not a directory.
        std::fs::write(base.path().join("file"), b"").expect("write");
        refused(&base.path().join("file"), "not a directory");
    }

    #[test]
    fn a_temporary_state_dir_is_unpredictable_and_0711() {
        let a = create_temporary().expect("first");
        let b = create_temporary().expect("second");
        for dir in [&a, &b] {
            let name = dir
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            assert!(name.starts_with(TEMP_PREFIX), "{name}");
            assert!(!name.contains(&std::process::id().to_string()), "{name}");
            let meta = std::fs::metadata(dir).expect("exists");
            assert_eq!(meta.mode() & 0o7777, 0o711);
            assert_eq!(meta.uid(), rustix::process::geteuid().as_raw());
            assert!(dir.join(CREATED_MARKER).exists());
        }
        assert_ne!(a, b);
        for dir in [a, b] {
            std::fs::remove_dir_all(dir).expect("cleanup");
        }
    }

    #[test]
    fn files_get_their_mode_at_creation_and_never_follow_symlinks() {
        let base = base();
        let secret = base.path().join("secret");
        write_file(&secret, b"s3cret", Access::Secret).expect("write");
        assert_eq!(
            std::fs::metadata(&secret).expect("meta").mode() & 0o7777,
            0o600
        );
        // A secret is created, never reused: an existing file is refused.
        assert!(write_file(&secret, b"again", Access::Secret).is_err());
        // A public file is rewritten, its mode put right on the descriptor.
        let public = base.path().join("public");
        std::fs::write(&public, b"old").expect("write");
        mode(&public, 0o666);
        write_file(&public, b"new", Access::Public).expect("rewrite");
        assert_eq!(std::fs::read(&public).expect("read"), b"new");
        assert_eq!(
            std::fs::metadata(&public).expect("meta").mode() & 0o7777,
            0o644
        );
        // A symlink in the file's place is not followed, for either kind.
        let target = base.path().join("target");
        std::fs::write(&target, b"untouched").expect("write");
        let link = base.path().join("link");
        symlink(&target, &link).expect("symlink");
        assert!(write_file(&link, b"x", Access::Public).is_err());
        assert!(write_file(&link, b"x", Access::Secret).is_err());
        assert_eq!(std::fs::read(&target).expect("read"), b"untouched");
        let group = base.path().join("group");
        write_file(&group, b"k", Access::GroupSecret(0)).expect("write");
        assert_eq!(
            std::fs::metadata(&group).expect("meta").mode() & 0o7777,
            0o640
        );
    }
}
