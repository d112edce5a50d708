//! Export for sites that still sign with OpenDKIM: a KeyTable, SigningTables and one private
//! key file per key, in the layout `opendkim.conf(5)` documents.
//!
//! ```text
//! DIR/KeyTable              SEL._domainkey.DOMAIN DOMAIN:SEL:DIR/mailtrust-keys/DOMAIN/SEL.private
//! DIR/SigningTable          *@DOMAIN SEL._domainkey.DOMAIN     RSA keys   (refile:)
//! DIR/SigningTable.ed25519  *@DOMAIN SEL._domainkey.DOMAIN     Ed25519 keys (refile:)
//! DIR/mailtrust-keys/DOMAIN/SEL.private   PKCS#8 PEM, mode 0600
//! ```
//!
//! Two signing tables because OpenDKIM 2.11 has one `SignatureAlgorithm` per instance: an
//! instance set to rsa-sha256 fails every message (451) when it meets an Ed25519 key, and one
//! set to ed25519-sha256 labels RSA signatures wrongly. Dual signing (RFC 8463; Gmail verifies
//! only RSA) therefore takes two OpenDKIM instances sharing the KeyTable; a site that runs one
//! keeps signing with RSA. Every file is written to a temporary name and renamed, so OpenDKIM
//! never reads half a table; the key files of keys that are no longer exported (deactivated,
//! destroyed) are deleted, using a manifest of what the previous export wrote so that files we
//! did not write are never touched.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// The manifest of what the last export wrote, relative to the export directory.
const MANIFEST: &str = ".mailtrust-export";

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenDkimError {
    /// A file could not be written or removed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A domain or selector that cannot be used as a file name (defence in depth: the store
    /// validates both), or an export directory whose path OpenDKIM's tables cannot carry.
    #[error("{0:?} cannot be used in a file name or an OpenDKIM table (no spaces, `:` or `#`)")]
    BadName(String),
    /// A key directory that is a symlink, not a directory, or writable by others.
    #[error(
        "{0} is not a directory only its owner can write to (a symlink?); not writing keys there"
    )]
    UnsafeDirectory(PathBuf),
    /// A directory on the way to the export that someone else controls: root would write
    /// (and chown) files where that user can swap them for links to anything.
    #[error(
        "{path}: {why}; not exporting keys below it (use a directory owned by root or by the user running mailtrust, writable by nobody else, e.g. under /etc/mailtrust)"
    )]
    UnsafeAncestor {
        /// The directory.
        path: PathBuf,
        /// Who else controls it.
        why: String,
    },
    /// The export would remove every key.
    #[error(
        "no key matches, and the previous export holds {0} key file(s): exporting nothing would \
         stop all signing; check --for-mta/--for-domain, or give --opendkim-allow-empty"
    )]
    WouldEmpty(usize),
}

/// One key to export.
pub struct OpenDkimKey {
    /// Ed25519 (goes to `SigningTable.ed25519`) rather than RSA.
    pub ed25519: bool,
    /// The signing domain (`d=`).
    pub domain: String,
    /// The selector (`s=`).
    pub selector: String,
    /// The private key, PKCS#8 PEM.
    pub pem: Zeroizing<String>,
}

/// What an export did.
#[derive(Debug, Default)]
pub struct OpenDkimExport {
    /// Key files written.
    pub written: Vec<PathBuf>,
    /// Key files of an earlier export whose key is no longer exported. They stay until
    /// [`OpenDkimExport::finish`]: OpenDKIM reads a key file each time it signs, so a file
    /// deleted before OpenDKIM has reloaded its new tables makes it fail those messages.
    pub stale: Vec<PathBuf>,
    /// Key files deleted by [`OpenDkimExport::finish`].
    pub removed: Vec<PathBuf>,
    /// False when the KeyTable was already exactly this (a re-run with nothing new).
    pub changed: bool,
    /// The tables changed since OpenDKIM last reloaded them (this export, or an earlier one
    /// whose reload failed): run the reload, then [`OpenDkimExport::finish`].
    pub reload_pending: bool,
    /// The export directory (absolute, symlinks resolved) and the files it now lists.
    dir: PathBuf,
    listed: BTreeSet<String>,
}

/// Marks an export whose tables OpenDKIM has not reloaded yet; removed by
/// [`OpenDkimExport::finish`]. A reload that failed is thus tried again by the next run, even
/// when that run's export changes nothing.
const RELOAD_PENDING: &str = ".mailtrust-reload-pending";

impl OpenDkimExport {
    /// Deletes the stale key files and forgets them, and clears the pending reload. Call it
    /// once OpenDKIM has reloaded the tables (or at once when nothing reloads it).
    pub fn finish(&mut self) -> Result<(), OpenDkimError> {
        self.remove_stale()?;
        match std::fs::remove_file(self.dir.join(RELOAD_PENDING)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&self.dir.join(RELOAD_PENDING))(e)),
        }
        self.reload_pending = false;
        Ok(())
    }

    /// Deletes the stale key files and forgets them, but keeps the pending reload: for a
    /// compromised key, whose file must go at once even when the reload failed, so that the
    /// next run still reloads OpenDKIM (its tables still name the deleted file).
    pub fn remove_stale(&mut self) -> Result<(), OpenDkimError> {
        for path in std::mem::take(&mut self.stale) {
            match std::fs::remove_file(&path) {
                Ok(()) => self.removed.push(path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                // The manifest still lists it: the next export tries again.
                Err(e) => return Err(io(&path)(e)),
            }
        }
        replace_file(
            &self.dir.join(MANIFEST),
            manifest_text(&self.listed).as_bytes(),
            0o600,
            None,
        )
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OpenDkimError + '_ {
    move |source| OpenDkimError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn safe(name: &str) -> Result<&str, OpenDkimError> {
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\0', ' ', '\t', '\n']) {
        return Err(OpenDkimError::BadName(name.to_string()));
    }
    Ok(name)
}

/// Writes `content` to `path` through a temporary file and a rename. The mode and the owner
/// are set on the open file (fchmod, fchown) before the rename, never by path: by path, a
/// file swapped for a symlink in between would hand its target to `owner`; and an explicit
/// fchmod, unlike the mode given to open(2), is not cut down by the umask (the shipped unit
/// has UMask=0077, which left the tables unreadable to OpenDKIM).
fn replace_file(
    path: &Path,
    content: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), OpenDkimError> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    // create_new is O_CREAT|O_EXCL: it never follows a symlink planted at the name.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(content).map_err(io(&tmp))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&f, Some(uid), Some(gid)).map_err(io(&tmp))?;
    }
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// The effective uid we run as: directories of ours or root's are the only ones trusted.
fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Refuses `dir` unless no one but us and root can change what it names: every directory
/// from `/` down must be owned by us or root, and writable by no one else — except that a
/// sticky directory (like /tmp) may be writable by others, because there only an entry's
/// owner (and the directory's owner, us or root) can rename or delete the entry, so the
/// directory of ours below it cannot be swapped; a name someone else created there first is
/// theirs and refused by the owner check. The export directory itself gets no such
/// exception (others could fill it). A symlink on the way is followed only where it sits in
/// a directory no one else can write to, and is then checked as if its target had been
/// given. Missing directories are created (0700, or 0711 with `dir_mode`), one by one,
/// below checked ones.
fn safe_export_dir(dir: &Path, dir_mode: u32) -> Result<PathBuf, OpenDkimError> {
    use std::os::unix::fs::MetadataExt;
    let me = euid();
    let trusted_owner = |uid: u32| uid == me || uid == 0;
    let unsafe_dir = |path: &Path, why: String| OpenDkimError::UnsafeAncestor {
        path: path.to_path_buf(),
        why,
    };
    let mut current = PathBuf::from("/");
    let components: Vec<_> = dir
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .collect();
    let check = |path: &Path, md: &std::fs::Metadata, last: bool| -> Result<(), OpenDkimError> {
        if !trusted_owner(md.uid()) {
            return Err(unsafe_dir(path, format!("owned by uid {}", md.uid())));
        }
        let others_write = md.mode() & 0o022 != 0;
        let sticky = md.mode() & 0o1000 != 0;
        if others_write && (last || !sticky) {
            return Err(unsafe_dir(
                path,
                format!(
                    "writable by group or others (mode {:04o})",
                    md.mode() & 0o7777
                ),
            ));
        }
        Ok(())
    };
    let root = std::fs::metadata(&current).map_err(io(&current))?;
    check(&current, &root, components.is_empty())?;
    for (i, c) in components.iter().enumerate() {
        let last = i + 1 == components.len();
        let next = current.join(c);
        match std::fs::symlink_metadata(&next) {
            Ok(md) if md.file_type().is_symlink() => {
                let parent = std::fs::metadata(&current).map_err(io(&current))?;
                if parent.mode() & 0o022 != 0 || !trusted_owner(md.uid()) {
                    return Err(unsafe_dir(
                        &next,
                        "a symlink that others could have put there".into(),
                    ));
                }
                let target = std::fs::canonicalize(&next).map_err(io(&next))?;
                // The target's own path is checked from the root, as if given.
                let rest: PathBuf = components[i + 1..].iter().collect();
                return safe_export_dir(&target.join(rest), dir_mode);
            }
            Ok(md) if md.is_dir() => check(&next, &md, last)?,
            Ok(_) => {
                return Err(unsafe_dir(&next, "not a directory".into()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::DirBuilder::new()
                    .mode(dir_mode)
                    .create(&next)
                    .map_err(io(&next))?;
                let md = std::fs::symlink_metadata(&next).map_err(io(&next))?;
                if !md.is_dir() || md.uid() != me {
                    return Err(unsafe_dir(&next, "replaced while being created".into()));
                }
                std::fs::set_permissions(&next, std::fs::Permissions::from_mode(dir_mode))
                    .map_err(io(&next))?;
            }
            Err(e) => return Err(io(&next)(e)),
        }
        current = next;
    }
    Ok(current)
}

/// The directory, inside the export directory, that holds the key files. Not `keys`, which
/// Debian's OpenDKIM package already uses under /etc/opendkim: we only touch what we create.
const KEY_DIR: &str = "mailtrust-keys";

/// Makes sure `path` is a directory we may write keys into: created with `mode` if missing; if
/// present, a real directory (not a symlink, which could point anywhere) that no group or other
/// user can write to. An existing directory's mode is left alone.
fn key_directory(path: &Path, mode: u32) -> Result<(), OpenDkimError> {
    match std::fs::symlink_metadata(path) {
        Ok(md) => {
            use std::os::unix::fs::MetadataExt;
            if !md.file_type().is_dir()
                || md.permissions().mode() & 0o022 != 0
                || (md.uid() != euid() && md.uid() != 0)
            {
                return Err(OpenDkimError::UnsafeDirectory(path.to_path_buf()));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .mode(mode)
                .create(path)
                .map_err(io(path))?;
            // The umask may have taken bits away; set exactly what was asked.
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io(path))
        }
        Err(e) => Err(io(path)(e)),
    }
}

fn manifest_text(entries: &BTreeSet<String>) -> String {
    entries.iter().map(|p| format!("{p}\n")).collect()
}

/// Writes the tables and key files for `keys` into `dir` (created if needed, and refused
/// when someone other than us or root controls a directory on the way; see
/// `safe_export_dir`). Key files no longer exported are left for [`OpenDkimExport::finish`].
///
/// With `owner` (uid, gid), the key files belong to that user (OpenDKIM reads them after
/// dropping root) and the directories, which stay ours, are 0711 so that it can reach them but
/// neither list nor change them; without, everything is 0700/0600. An export that would go
/// from some keys to none is refused unless `allow_empty`: a mistyped filter in a timer must
/// not stop all signing.
pub fn write(
    dir: &Path,
    keys: &[OpenDkimKey],
    owner: Option<(u32, u32)>,
    allow_empty: bool,
) -> Result<OpenDkimExport, OpenDkimError> {
    // OpenDKIM's tables are whitespace-separated and its KeyTable uses `:`; `#` starts a comment.
    let abs_dir = std::path::absolute(dir).map_err(io(dir))?;
    let shown = abs_dir.to_string_lossy();
    if shown.contains(|c: char| c.is_whitespace() || c == ':' || c == '#') {
        return Err(OpenDkimError::BadName(shown.into_owned()));
    }
    for k in keys {
        safe(&k.domain)?;
        safe(&k.selector)?;
    }
    let dir_mode = if owner.is_some() { 0o711 } else { 0o700 };
    let abs_dir = safe_export_dir(&abs_dir, dir_mode)?;
    let manifest_path = abs_dir.join(MANIFEST);
    let before: BTreeSet<String> = std::fs::read_to_string(&manifest_path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if keys.is_empty() && !before.is_empty() && !allow_empty {
        return Err(OpenDkimError::WouldEmpty(before.len()));
    }
    let key_root = abs_dir.join(KEY_DIR);
    key_directory(&key_root, dir_mode)?;
    remove_stale_temp_files(&abs_dir, &key_root);
    let now: BTreeSet<String> = keys
        .iter()
        .map(|k| format!("{KEY_DIR}/{}/{}.private", k.domain, k.selector))
        .collect();
    // Listed before they exist: an export that stops half-way still knows what it wrote.
    replace_file(
        &manifest_path,
        manifest_text(&before.union(&now).cloned().collect()).as_bytes(),
        0o600,
        None,
    )?;
    let mut out = OpenDkimExport::default();
    let mut key_table =
        String::from("# Written by `mailtrust keys export --opendkim`; do not edit.\n");
    let mut signing_table = key_table.clone();
    let mut signing_table_ed = key_table.clone();
    for k in keys {
        let ddir = key_root.join(&k.domain);
        key_directory(&ddir, dir_mode)?;
        let file = ddir.join(format!("{}.private", k.selector));
        replace_file(&file, k.pem.as_bytes(), 0o600, owner)?;
        let name = format!("{}._domainkey.{}", k.selector, k.domain);
        key_table.push_str(&format!(
            "{name} {}:{}:{}\n",
            k.domain,
            k.selector,
            file.display()
        ));
        let table = if k.ed25519 {
            &mut signing_table_ed
        } else {
            &mut signing_table
        };
        table.push_str(&format!("*@{} {name}\n", k.domain));
        out.written.push(file);
    }
    let old_table = std::fs::read_to_string(abs_dir.join("KeyTable")).unwrap_or_default();
    out.changed = old_table != key_table;
    if out.changed {
        replace_file(&abs_dir.join(RELOAD_PENDING), b"", 0o600, None)?;
    }
    // Tables first; the stale key files go only in `finish`, after OpenDKIM has reloaded.
    // Tables are 0644: OpenDKIM reads them after dropping root.
    replace_file(&abs_dir.join("KeyTable"), key_table.as_bytes(), 0o644, None)?;
    replace_file(
        &abs_dir.join("SigningTable"),
        signing_table.as_bytes(),
        0o644,
        None,
    )?;
    replace_file(
        &abs_dir.join("SigningTable.ed25519"),
        signing_table_ed.as_bytes(),
        0o644,
        None,
    )?;
    for rel in before.difference(&now) {
        // Only names of the form we write: mailtrust-keys/<domain>/<selector>.private.
        let parts: Vec<&str> = rel.split('/').collect();
        if parts.len() != 3 || parts[0] != KEY_DIR || parts[1..].iter().any(|p| safe(p).is_err()) {
            continue;
        }
        out.stale.push(abs_dir.join(rel));
    }
    out.reload_pending = abs_dir.join(RELOAD_PENDING).exists();
    out.dir = abs_dir;
    out.listed = now;
    Ok(out)
}

/// Removes the temporary files (`NAME.tmp-PID`, see [`replace_file`]) that an export killed
/// between writing and renaming left behind: in the key directories they hold private keys in
/// plaintext. Only regular files of that form whose process is gone (no `/proc/PID`) are
/// removed, so a concurrent export's files are left alone. Best effort: a file that cannot be
/// removed now is tried again by the next export.
fn remove_stale_temp_files(dir: &Path, key_root: &Path) {
    let domains = std::fs::read_dir(key_root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path());
    for d in std::iter::once(dir.to_path_buf()).chain(domains) {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((_, pid)) = name.rsplit_once(".tmp-") else {
                continue;
            };
            let ours = pid == std::process::id().to_string();
            if pid.is_empty()
                || !pid.bytes().all(|b| b.is_ascii_digit())
                || ours
                || Path::new("/proc").join(pid).exists()
                || !entry.file_type().is_ok_and(|t| t.is_file())
            {
                continue;
            }
            let path = entry.path();
            match std::fs::remove_file(&path) {
                Ok(()) => tracing::info!(file = %path.display(), "removed a stale temporary file"),
                Err(e) => tracing::warn!(file = %path.display(), error = %e,
                    "cannot remove a stale temporary file"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key file's temporary copy left by an export that was killed before its rename holds
    /// the private key in plaintext: the next export removes it (issue 10), but not a file of
    /// a process that still runs.
    #[test]
    fn an_interrupted_exports_plaintext_temporary_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("opendkim");
        write(&d, &[key("example.test", "rsa2026")], None, false).unwrap();
        let domain_dir = d.join(KEY_DIR).join("example.test");
        // Above the kernel's pid_max: no such process can exist.
        let stale = domain_dir.join("rsa2026.tmp-999999999");
        let stale_table = d.join("KeyTable.tmp-999999999");
        let running = domain_dir.join("rsa2026.tmp-1");
        for f in [&stale, &stale_table, &running] {
            std::fs::write(f, "-----BEGIN PRIVATE KEY-----\n").unwrap();
        }
        write(&d, &[key("example.test", "rsa2026")], None, false).unwrap();
        assert!(!stale.exists() && !stale_table.exists());
        assert!(
            running.exists(),
            "pid 1 is alive: its file is not ours to remove"
        );
    }

    fn key(domain: &str, selector: &str) -> OpenDkimKey {
        OpenDkimKey {
            ed25519: selector.starts_with("ed"),
            domain: domain.into(),
            selector: selector.into(),
            pem: Zeroizing::new(format!("PEM of {selector}\n")),
        }
    }

    #[test]
    fn writes_tables_and_private_files_and_removes_only_what_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("opendkim");
        let both = [
            key("example.test", "rsa2026"),
            key("example.test", "ed2026"),
        ];
        let first = write(&d, &both, None, false).unwrap();
        assert_eq!(first.written.len(), 2);
        assert!(first.changed);
        let again = write(&d, &both, None, false).unwrap();
        assert!(!again.changed && again.removed.is_empty());
        let kt = std::fs::read_to_string(d.join("KeyTable")).unwrap();
        assert!(
            kt.contains("rsa2026._domainkey.example.test example.test:rsa2026:/"),
            "{kt}"
        );
        assert!(
            kt.contains("/mailtrust-keys/example.test/ed2026.private\n"),
            "{kt}"
        );
        let st = std::fs::read_to_string(d.join("SigningTable")).unwrap();
        assert!(
            st.contains("*@example.test rsa2026._domainkey.example.test\n"),
            "{st}"
        );
        assert!(
            !st.contains("ed2026"),
            "one OpenDKIM signs one algorithm: {st}"
        );
        let st = std::fs::read_to_string(d.join("SigningTable.ed25519")).unwrap();
        assert!(
            st.contains("*@example.test ed2026._domainkey.example.test\n"),
            "{st}"
        );
        assert!(!st.contains("rsa2026"), "{st}");
        let f = d.join("mailtrust-keys/example.test/rsa2026.private");
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(d.join("mailtrust-keys"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        // Someone else's file in the tree is left alone.
        std::fs::write(d.join("mailtrust-keys/example.test/theirs.private"), "x").unwrap();
        let mut second = write(&d, &[key("example.test", "ed2026")], None, false).unwrap();
        // Kept until OpenDKIM has reloaded (it reads key files as it signs).
        assert_eq!(second.stale, vec![f.clone()]);
        assert!(second.changed && second.reload_pending && f.exists());
        second.finish().unwrap();
        assert_eq!(second.removed, vec![f.clone()]);
        assert!(!f.exists() && !second.reload_pending);
        assert!(!d.join(RELOAD_PENDING).exists());
        assert!(
            d.join("mailtrust-keys/example.test/theirs.private")
                .exists()
        );
        let kt = std::fs::read_to_string(d.join("KeyTable")).unwrap();
        assert!(!kt.contains("rsa2026"), "{kt}");
        // No temporary file is left behind.
        let leftovers: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn hostile_names_and_manifest_entries_are_refused_or_ignored() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            write(dir.path(), &[key("../etc", "x")], None, false),
            Err(OpenDkimError::BadName(_))
        ));
        let outside = dir.path().join("precious");
        std::fs::write(&outside, "keep").unwrap();
        let d = dir.path().join("od");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join(MANIFEST),
            "../precious\nmailtrust-keys/../../precious\nmailtrust-keys/x/../../../precious\n",
        )
        .unwrap();
        // Not empty-from-something: the hostile entries name nothing we wrote, but they are
        // entries; going to zero keys needs the explicit flag.
        assert!(matches!(
            write(&d, &[], None, false),
            Err(OpenDkimError::WouldEmpty(3))
        ));
        write(&d, &[], None, true).unwrap().finish().unwrap();
        assert!(outside.exists());
        // A path OpenDKIM's tables cannot carry.
        assert!(matches!(
            write(
                &dir.path().join("a b"),
                &[key("example.test", "s")],
                None,
                false
            ),
            Err(OpenDkimError::BadName(_))
        ));
    }

    #[test]
    fn a_symlinked_or_shared_key_directory_is_refused_and_an_owner_gets_the_files() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::create_dir(&target).unwrap();
        let d = dir.path().join("od");
        std::fs::create_dir_all(d.join(KEY_DIR)).unwrap();
        std::os::unix::fs::symlink(&target, d.join(KEY_DIR).join("example.test")).unwrap();
        let err = write(&d, &[key("example.test", "s1")], None, false).unwrap_err();
        assert!(matches!(err, OpenDkimError::UnsafeDirectory(_)), "{err}");
        assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0);
        // A group-writable key directory is refused too, and left as it was.
        let d2 = dir.path().join("od2");
        std::fs::create_dir_all(d2.join(KEY_DIR)).unwrap();
        std::fs::set_permissions(d2.join(KEY_DIR), std::fs::Permissions::from_mode(0o770)).unwrap();
        assert!(matches!(
            write(&d2, &[key("example.test", "s1")], None, false),
            Err(OpenDkimError::UnsafeDirectory(_))
        ));
        // With an owner: files are that owner's (our own ids here, so no root is needed),
        // directories stay ours and only traversable by others.
        let me = std::fs::metadata(dir.path()).unwrap();
        let d3 = dir.path().join("od3");
        write(
            &d3,
            &[key("example.test", "s1")],
            Some((me.uid(), me.gid())),
            false,
        )
        .unwrap();
        let f = std::fs::metadata(d3.join(KEY_DIR).join("example.test/s1.private")).unwrap();
        assert_eq!((f.uid(), f.mode() & 0o777), (me.uid(), 0o600));
        let kd = std::fs::metadata(d3.join(KEY_DIR).join("example.test")).unwrap();
        assert_eq!(kd.mode() & 0o777, 0o711);
    }

    #[test]
    fn the_manifest_lists_new_files_before_they_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("od");
        write(&d, &[key("example.test", "s1")], None, false).unwrap();
        // A second export fails half-way (a symlink planted for the second domain).
        std::fs::create_dir_all(d.join(KEY_DIR)).unwrap();
        std::os::unix::fs::symlink(dir.path(), d.join(KEY_DIR).join("other.test")).unwrap();
        let keys = [key("example.test", "s2"), key("other.test", "s3")];
        assert!(write(&d, &keys, None, false).is_err());
        let manifest = std::fs::read_to_string(d.join(MANIFEST)).unwrap();
        assert!(manifest.contains("example.test/s2.private"), "{manifest}");
        assert!(manifest.contains("example.test/s1.private"), "{manifest}");
        // Once the way is clear, the next export removes both stale files it knows of.
        std::fs::remove_file(d.join(KEY_DIR).join("other.test")).unwrap();
        let mut done = write(&d, &[key("other.test", "s3")], None, false).unwrap();
        let manifest = std::fs::read_to_string(d.join(MANIFEST)).unwrap();
        assert!(manifest.contains("example.test/s1.private"), "{manifest}");
        done.finish().unwrap();
        assert_eq!(done.removed.len(), 2, "{:?}", done.removed);
        let manifest = std::fs::read_to_string(d.join(MANIFEST)).unwrap();
        assert_eq!(manifest, format!("{KEY_DIR}/other.test/s3.private\n"));
    }

    #[test]
    fn a_failed_reload_stays_pending_for_the_next_export() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("od");
        let first = write(&d, &[key("example.test", "s1")], None, false).unwrap();
        assert!(first.changed && first.reload_pending);
        // The reload failed: no finish. The next export changes nothing but still asks.
        let mut again = write(&d, &[key("example.test", "s1")], None, false).unwrap();
        assert!(!again.changed && again.reload_pending);
        again.finish().unwrap();
        let settled = write(&d, &[key("example.test", "s1")], None, false).unwrap();
        assert!(!settled.changed && !settled.reload_pending);
    }

    #[test]
    fn tables_are_readable_by_opendkim_and_directories_others_control_are_refused() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("od");
        write(&d, &[key("example.test", "s1")], None, false).unwrap();
        assert_eq!(
            std::fs::metadata(d.join("KeyTable")).unwrap().mode() & 0o777,
            0o644
        );
        // A sticky, world-writable parent (like /tmp) is fine; a symlink in it is not.
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        write(
            &shared.join("od"),
            &[key("example.test", "s1")],
            None,
            false,
        )
        .unwrap();
        std::os::unix::fs::symlink(&d, shared.join("link")).unwrap();
        assert!(matches!(
            write(
                &shared.join("link"),
                &[key("example.test", "s1")],
                None,
                false
            ),
            Err(OpenDkimError::UnsafeAncestor { .. })
        ));
        // Without the sticky bit, others could rename what we create there.
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(
            write(
                &shared.join("od2"),
                &[key("example.test", "s1")],
                None,
                false
            ),
            Err(OpenDkimError::UnsafeAncestor { .. })
        ));
        assert!(!shared.join("od2").exists());
        // A symlink in a directory only we control is followed (and its target checked).
        let mine = dir.path().join("mine");
        std::os::unix::fs::symlink(&d, &mine).unwrap();
        write(&mine, &[key("example.test", "s1")], None, false).unwrap();
    }
}
