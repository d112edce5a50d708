//! Export for sites that still sign with OpenDKIM: a KeyTable, SigningTables and one private
//! key file per key, in the layout `opendkim.conf(5)` documents.
//!
//! ```text
//! DIR/KeyTable              SEL._domainkey.DOMAIN DOMAIN:SEL:DIR/keys/DOMAIN/SEL.private
//! DIR/SigningTable          *@DOMAIN SEL._domainkey.DOMAIN     RSA keys   (refile:)
//! DIR/SigningTable.ed25519  *@DOMAIN SEL._domainkey.DOMAIN     Ed25519 keys (refile:)
//! DIR/keys/DOMAIN/SEL.private   PKCS#8 PEM, mode 0600
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
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
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
    /// validates both).
    #[error("{0:?} cannot be used in a file name")]
    BadName(String),
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
    /// Key files of an earlier export deleted because their key is no longer exported.
    pub removed: Vec<PathBuf>,
    /// False when the KeyTable was already exactly this (a re-run with nothing new).
    pub changed: bool,
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

/// Writes `content` to `path` through a temporary file and a rename, with `mode` and owner.
fn replace_file(
    path: &Path,
    content: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), OpenDkimError> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(content).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    chown(&tmp, owner)?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Sets the owner of `path` (OpenDKIM reads its keys after dropping root, as user opendkim).
fn chown(path: &Path, owner: Option<(u32, u32)>) -> Result<(), OpenDkimError> {
    match owner {
        Some((uid, gid)) => std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(io(path)),
        None => Ok(()),
    }
}

/// Writes the tables and key files for `keys` into `dir` (created if needed); key files and
/// their directories are given to `owner` (uid, gid) when set.
pub fn write(
    dir: &Path,
    keys: &[OpenDkimKey],
    owner: Option<(u32, u32)>,
) -> Result<OpenDkimExport, OpenDkimError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let key_root = dir.join("keys");
    std::fs::create_dir_all(&key_root).map_err(io(&key_root))?;
    std::fs::set_permissions(&key_root, std::fs::Permissions::from_mode(0o700))
        .map_err(io(&key_root))?;
    chown(&key_root, owner)?;
    let mut out = OpenDkimExport::default();
    let mut key_table =
        String::from("# Written by `mailtrust keys export --opendkim`; do not edit.\n");
    let mut signing_table = key_table.clone();
    let mut signing_table_ed = key_table.clone();
    let mut now: BTreeSet<String> = BTreeSet::new();
    for k in keys {
        let domain = safe(&k.domain)?;
        let selector = safe(&k.selector)?;
        let ddir = key_root.join(domain);
        std::fs::create_dir_all(&ddir).map_err(io(&ddir))?;
        std::fs::set_permissions(&ddir, std::fs::Permissions::from_mode(0o700))
            .map_err(io(&ddir))?;
        chown(&ddir, owner)?;
        let file = ddir.join(format!("{selector}.private"));
        replace_file(&file, k.pem.as_bytes(), 0o600, owner)?;
        let abs = std::path::absolute(&file).map_err(io(&file))?;
        let name = format!("{selector}._domainkey.{domain}");
        key_table.push_str(&format!("{name} {domain}:{selector}:{}\n", abs.display()));
        let table = if k.ed25519 {
            &mut signing_table_ed
        } else {
            &mut signing_table
        };
        table.push_str(&format!("*@{domain} {name}\n"));
        now.insert(format!("keys/{domain}/{selector}.private"));
        out.written.push(abs);
    }
    let old_table = std::fs::read_to_string(dir.join("KeyTable")).unwrap_or_default();
    out.changed = old_table != key_table;
    // Tables first, then the deletions: OpenDKIM must never be pointed at a file that is gone.
    replace_file(&dir.join("KeyTable"), key_table.as_bytes(), 0o644, None)?;
    replace_file(
        &dir.join("SigningTable"),
        signing_table.as_bytes(),
        0o644,
        None,
    )?;
    replace_file(
        &dir.join("SigningTable.ed25519"),
        signing_table_ed.as_bytes(),
        0o644,
        None,
    )?;
    let manifest_path = dir.join(MANIFEST);
    let before = std::fs::read_to_string(&manifest_path).unwrap_or_default();
    let manifest: String = now.iter().map(|p| format!("{p}\n")).collect();
    replace_file(&manifest_path, manifest.as_bytes(), 0o600, None)?;
    for rel in before
        .lines()
        .filter(|l| !l.is_empty() && !now.contains(*l))
    {
        // Only names of the form we write: keys/<domain>/<selector>.private.
        let parts: Vec<&str> = rel.split('/').collect();
        if parts.len() != 3 || parts[0] != "keys" || parts[1..].iter().any(|p| safe(p).is_err()) {
            continue;
        }
        let path = dir.join(rel);
        match std::fs::remove_file(&path) {
            Ok(()) => out.removed.push(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let first = write(
            &d,
            &[
                key("example.test", "rsa2026"),
                key("example.test", "ed2026"),
            ],
            None,
        )
        .unwrap();
        assert_eq!(first.written.len(), 2);
        assert!(first.changed);
        let again = write(
            &d,
            &[
                key("example.test", "rsa2026"),
                key("example.test", "ed2026"),
            ],
            None,
        )
        .unwrap();
        assert!(!again.changed && again.removed.is_empty());
        let kt = std::fs::read_to_string(d.join("KeyTable")).unwrap();
        assert!(
            kt.contains("rsa2026._domainkey.example.test example.test:rsa2026:/"),
            "{kt}"
        );
        assert!(kt.contains("/keys/example.test/ed2026.private\n"), "{kt}");
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
        let f = d.join("keys/example.test/rsa2026.private");
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(d.join("keys"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        // Someone else's file in the tree is left alone.
        std::fs::write(d.join("keys/example.test/theirs.private"), "x").unwrap();
        let second = write(&d, &[key("example.test", "ed2026")], None).unwrap();
        assert_eq!(second.removed, vec![f.clone()]);
        assert!(second.changed);
        assert!(!f.exists());
        assert!(d.join("keys/example.test/theirs.private").exists());
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
            write(dir.path(), &[key("../etc", "x")], None),
            Err(OpenDkimError::BadName(_))
        ));
        let outside = dir.path().join("precious");
        std::fs::write(&outside, "keep").unwrap();
        let d = dir.path().join("od");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(MANIFEST), "../precious\nkeys/../../precious\n").unwrap();
        write(&d, &[], None).unwrap();
        assert!(outside.exists());
    }
}
