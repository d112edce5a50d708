//! The lab runs as root: its state directory is one only root can change, Knot and Unbound run
//! as their own users, and its secrets are not readable by others (issue 10 §3).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use libtest_mimic::Failed;
use serde_json::Value;

use super::{BIN, Lab};

macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(Failed::from(format!($($fmt)+)));
        }
    };
}

fn meta(path: &Path) -> Result<std::fs::Metadata, Failed> {
    std::fs::symlink_metadata(path).map_err(|e| Failed::from(format!("{}: {e}", path.display())))
}

fn mode(path: &Path) -> Result<u32, Failed> {
    Ok(meta(path)?.permissions().mode() & 0o7777)
}

/// `(uid, gid)` of a system user, from /etc/passwd.
fn user(name: &str) -> Result<(u32, u32), Failed> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| Failed::from(e.to_string()))?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == name)
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .ok_or_else(|| Failed::from(format!("no user {name}")))
}

/// The state directory came from mkdtemp (not `mailtrust-lab-test-<pid>`), is root's, and only
/// root may change it; others may pass through (0711) to the daemons' own directories.
pub fn state_dir_is_unpredictable_and_roots_alone(lab: &Lab) -> Result<(), Failed> {
    let state = &lab.state;
    check!(
        lab.info["state"].as_str() == Some(&*state.to_string_lossy()),
        "lab.json names its state directory: {}",
        lab.info["state"]
    );
    let m = meta(state)?;
    check!(
        m.uid() == 0 && m.is_dir(),
        "{} is root's (uid {})",
        state.display(),
        m.uid()
    );
    if std::env::var_os("MAILTRUST_LAB").is_none() {
        let name = state
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let suffix = name.strip_prefix("mailtrust-lab-").unwrap_or_default();
        check!(
            suffix.len() >= 6 && !suffix.bytes().all(|b| b.is_ascii_digit()),
            "the state directory has a random name, not a PID: {name}"
        );
        check!(
            mode(state)? == 0o711,
            "{} is 0711, not {:o}",
            state.display(),
            mode(state)?
        );
    }
    Ok(())
}

/// `ps -o user=` of every knotd and unbound the lab started is knot / unbound, not root.
pub fn knot_and_unbound_run_as_their_own_users(lab: &Lab) -> Result<(), Failed> {
    let pids =
        std::fs::read_dir(lab.state.join("pids")).map_err(|e| Failed::from(e.to_string()))?;
    let mut seen = Vec::new();
    for entry in pids.flatten() {
        let record: Value = std::fs::read(entry.path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null);
        let name = record["name"].as_str().unwrap_or_default().to_string();
        let expected = if name.starts_with("knot-") {
            "knot"
        } else if name.starts_with("unbound-") {
            "unbound"
        } else {
            continue;
        };
        let pid = record["pid"].as_i64().unwrap_or(-1).to_string();
        let out = Command::new("ps")
            .args(["-o", "user=", "-p", &pid])
            .output()
            .map_err(|e| Failed::from(format!("ps: {e}")))?;
        let running_as = String::from_utf8_lossy(&out.stdout).trim().to_string();
        check!(
            running_as == expected,
            "{name} (pid {pid}) runs as `{running_as}`, not {expected}"
        );
        seen.push(name);
    }
    seen.sort();
    check!(
        seen == [
            "knot-root",
            "knot-scenarios",
            "knot-test",
            "unbound-iterator",
            "unbound-validator"
        ],
        "every Knot and Unbound instance checked: {seen:?}"
    );
    Ok(())
}

/// The TSIG secret is only in files no other user can read: lab.json and tsig.key (0600,
/// root's), Knot's configuration (0640 root:knot); the TLS private keys and the offline DNSSEC
/// keys are root's alone.
pub fn secrets_are_not_readable_by_others(lab: &Lab) -> Result<(), Failed> {
    let state = &lab.state;
    let (primary, key) = lab.updater("signed.test.")?;
    check!(!primary.is_empty(), "signed.test. is updatable");
    let tsig_file = state.join("tsig.key");
    let text = std::fs::read_to_string(&tsig_file)
        .map_err(|e| Failed::from(format!("{}: {e}", tsig_file.display())))?;
    check!(
        text.trim() == key,
        "tsig.key holds the key of lab.json as ALGORITHM:NAME:SECRET"
    );
    let z = lab.info["zones"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|z| z["name"] == "signed.test.")
        .cloned()
        .unwrap_or(Value::Null);
    check!(
        z["tsig"]["file"].as_str() == Some(&*tsig_file.to_string_lossy()),
        "lab.json names the key file: {}",
        z["tsig"]
    );
    for secret in [tsig_file.clone(), state.join("lab.json")] {
        let m = meta(&secret)?;
        check!(
            m.uid() == 0 && mode(&secret)? == 0o600,
            "{} is 0600 root's, not {:o} uid {}",
            secret.display(),
            mode(&secret)?,
            m.uid()
        );
    }
    let (_, knot_gid) = user("knot")?;
    for instance in ["knot-root", "knot-test", "knot-scenarios"] {
        let conf = state.join("knot").join(instance).join("knot.conf");
        let m = meta(&conf)?;
        check!(
            m.uid() == 0 && m.gid() == knot_gid && mode(&conf)? == 0o640,
            "{} is 0640 root:knot, not {:o} {}:{}",
            conf.display(),
            mode(&conf)?,
            m.uid(),
            m.gid()
        );
    }
    let keys = std::fs::read_dir(state.join("tls")).map_err(|e| Failed::from(e.to_string()))?;
    let mut private = 0;
    for entry in keys.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "key") {
            private += 1;
            check!(
                mode(&path)? == 0o600,
                "{} is 0600, not {:o}",
                path.display(),
                mode(&path)?
            );
        }
    }
    check!(private > 0, "the lab's TLS keys were checked");
    check!(
        mode(&state.join("keys"))? == 0o700,
        "the offline DNSSEC keys' directory is 0700"
    );
    Ok(())
}

/// `lab up --state DIR` refuses a directory another user owns, and one under a directory others
/// may write without the sticky bit (where it creates nothing); nothing is started.
pub fn up_refuses_state_dirs_others_could_change(_lab: &Lab) -> Result<(), Failed> {
    let base = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
    let set_mode = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| Failed::from(e.to_string()))
    };
    set_mode(base.path(), 0o755)?;
    let theirs = base.path().join("theirs");
    let open = base.path().join("open");
    for dir in [&theirs, &open] {
        std::fs::create_dir(dir).map_err(|e| Failed::from(e.to_string()))?;
    }
    let (nobody, _) = user("nobody")?;
    std::os::unix::fs::chown(&theirs, Some(nobody), None)
        .map_err(|e| Failed::from(e.to_string()))?;
    set_mode(&theirs, 0o755)?;
    set_mode(&open, 0o777)?;
    let cases = [
        (theirs.clone(), format!("owned by uid {nobody}")),
        (open.join("lab"), "without the sticky bit".to_string()),
    ];
    for (state, words) in cases {
        let out = Command::new(BIN)
            .args(["lab", "up", "--state"])
            .arg(&state)
            .output()
            .map_err(|e| Failed::from(e.to_string()))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            // Do not leave a second lab behind when the check is missing.
            let _ = Command::new(BIN)
                .args(["lab", "down", "--state"])
                .arg(&state)
                .status();
        }
        check!(
            !out.status.success()
                && stderr.contains("refusing the state directory")
                && stderr.contains(&words),
            "lab up --state {} is refused ({words}): exit {:?}, {stderr}",
            state.display(),
            out.status.code()
        );
        check!(
            !state.join("pids").exists() && !state.join("lab.json").exists(),
            "nothing was written in {}",
            state.display()
        );
    }
    check!(
        !open.join("lab").exists(),
        "no state directory was created under a non-sticky world-writable directory"
    );
    Ok(())
}
