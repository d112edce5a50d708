//! The system users the mail servers drop privileges to (postfix, dovecot, nobody), by name.
//! The lab reads `/etc/passwd` and `/etc/group` itself: the servers' packages create the
//! accounts, and the lab only needs their numbers to hand directories over to them.

use std::path::Path;

use crate::error::{IoContext, LabError};

/// `(uid, gid)` of `user` from a passwd-format text.
fn find_user(passwd: &str, user: &str) -> Option<(u32, u32)> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 4 && fields[0] == user)
            .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
            .flatten()
    })
}

/// The gid of `group` from a group-format text.
fn find_group(groups: &str, group: &str) -> Option<u32> {
    groups.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 3 && fields[0] == group)
            .then(|| fields[2].parse().ok())
            .flatten()
    })
}

/// `(uid, gid)` of a system user, or a prerequisite error naming the package that creates it.
pub(crate) fn user(name: &str, package: &str) -> Result<(u32, u32), LabError> {
    let passwd =
        std::fs::read_to_string("/etc/passwd").context(|| "cannot read /etc/passwd".into())?;
    find_user(&passwd, name).ok_or_else(|| {
        LabError::Prerequisite(format!(
            "the lab needs the system user `{name}` (package {package}); `bin/setup lab` installs it"
        ))
    })
}

/// The gid of a system group, or a prerequisite error naming the package that creates it.
pub(crate) fn group(name: &str, package: &str) -> Result<u32, LabError> {
    let groups =
        std::fs::read_to_string("/etc/group").context(|| "cannot read /etc/group".into())?;
    find_group(&groups, name).ok_or_else(|| {
        LabError::Prerequisite(format!(
            "the lab needs the system group `{name}` (package {package}); `bin/setup lab` installs it"
        ))
    })
}

/// Creates `dir` (and its parents) with `mode`, owned by `uid:gid`.
pub(crate) fn make_dir(dir: &Path, mode: u32, uid: u32, gid: u32) -> Result<(), LabError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).context(|| format!("cannot create {}", dir.display()))?;
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))
        .context(|| format!("cannot hand {} to {uid}:{gid}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .context(|| format!("cannot set the mode of {}", dir.display()))
}

/// Hands `dir` and the entries in it (a flat directory root has just filled, before any daemon
/// could reach it) to `uid:gid`, `dir` with `mode`. Symlinks are not followed (`lchown`).
pub(crate) fn hand_over(dir: &Path, mode: u32, uid: u32, gid: u32) -> Result<(), LabError> {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(dir).context(|| format!("cannot list {}", dir.display()))? {
        let path = entry
            .context(|| format!("cannot list {}", dir.display()))?
            .path();
        std::os::unix::fs::lchown(&path, Some(uid), Some(gid))
            .context(|| format!("cannot hand {} to {uid}:{gid}", path.display()))?;
    }
    std::os::unix::fs::lchown(dir, Some(uid), Some(gid))
        .context(|| format!("cannot hand {} to {uid}:{gid}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .context(|| format!("cannot set the mode of {}", dir.display()))
}

/// The server processes run as unprivileged users that must reach files inside the state
/// directory: every directory above it must be searchable by others.
pub(crate) fn check_reachable(state: &Path) -> Result<(), LabError> {
    use std::os::unix::fs::PermissionsExt;
    for dir in state.ancestors() {
        let mode = std::fs::metadata(dir)
            .context(|| format!("cannot read {}", dir.display()))?
            .permissions()
            .mode();
        if mode & 0o001 == 0 {
            return Err(LabError::Prerequisite(format!(
                "the lab's mail servers run as the users postfix, dovecot, dovenull and nobody, \
                 which cannot reach {} because {} is not searchable by others \
                 (`chmod o+x {}`, or choose a --state elsewhere, e.g. under /tmp)",
                state.display(),
                dir.display(),
                dir.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_groups_by_name() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\npostfix:x:104:107::/var/spool/postfix:/usr/sbin/nologin\n";
        assert_eq!(find_user(passwd, "postfix"), Some((104, 107)));
        assert_eq!(find_user(passwd, "post"), None);
        let group = "root:x:0:\npostdrop:x:108:\n";
        assert_eq!(find_group(group, "postdrop"), Some(108));
        assert_eq!(find_group(group, "nogroup"), None);
    }
}
