//! Starting servers detached inside the namespace and stopping them by PID.
//!
//! Each server runs as `setsid ip netns exec NETNS PROGRAM ...`: `setsid` gives it a session and
//! process group of its own (a Ctrl-C in the terminal that ran `lab up` does not reach it, and
//! `down` can signal the whole group), and both `setsid` (we are not a group leader, so it does
//! not fork) and `ip netns exec` exec in place, so the PID we get is the server's PID. The PID
//! is recorded the moment the server is spawned, so `down` can stop it even if `up` crashes.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};
use serde::{Deserialize, Serialize};

use crate::command::{Tools, describe};
use crate::error::{IoContext, LabError};

/// How long a server gets to exit after SIGTERM before SIGKILL (Knot can take a few seconds).
const TERM_GRACE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(25);

/// What `down` needs to stop one server: its PID and how to recognise it (so a recycled PID of
/// an unrelated process is never signalled).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PidRecord {
    pub name: String,
    pub pid: i32,
    /// The server's argv after `setsid ip netns exec NETNS` has exec'd it.
    pub argv: Vec<String>,
    /// The full argv as spawned (what /proc shows before the execs complete).
    pub launcher_argv: Vec<String>,
    pub log: PathBuf,
}

/// A server started by this process: its record and the child handle, to notice an early exit.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub record: PidRecord,
    pub child: Child,
}

impl Spawned {
    /// `Some(status text)` if the server has already exited.
    pub(crate) fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown state ({e})")),
        }
    }
}

/// Spawns `argv` detached inside `netns`, output to `<logs>/<name>.log`, PID recorded in
/// `<pids>/<name>.json` before anything else happens.
pub(crate) fn spawn(
    tools: &Tools,
    netns: &str,
    pids: &Path,
    logs: &Path,
    name: &str,
    argv: &[OsString],
) -> Result<Spawned, LabError> {
    let log = logs.join(format!("{name}.log"));
    let out = File::create(&log).context(|| format!("cannot create log {}", log.display()))?;
    let err = out
        .try_clone()
        .context(|| format!("cannot reopen log {}", log.display()))?;
    let mut cmd = Command::new(&tools.setsid);
    cmd.arg(&tools.ip)
        .args(["netns", "exec", netns])
        .args(argv)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let child = cmd.spawn().map_err(|source| LabError::Io {
        context: format!("cannot start {name}: `{}`", describe(&cmd)),
        source,
    })?;
    let lossy = |a: &OsString| a.to_string_lossy().into_owned();
    let mut launcher_argv = vec![lossy(&cmd.get_program().to_os_string())];
    launcher_argv.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    let record = PidRecord {
        name: name.to_string(),
        pid: i32::try_from(child.id()).unwrap_or(i32::MAX),
        argv: argv.iter().map(lossy).collect(),
        launcher_argv,
        log,
    };
    let spawned = Spawned { record, child };
    write_record(pids, &spawned.record)?;
    Ok(spawned)
}

fn write_record(pids: &Path, record: &PidRecord) -> Result<(), LabError> {
    let path = pids.join(format!("{}.json", record.name));
    let json = serde_json::to_vec_pretty(record).map_err(|source| LabError::Json {
        path: path.clone(),
        source,
    })?;
    std::fs::write(&path, json).context(|| format!("cannot write PID record {}", path.display()))
}

/// All PID records in `pids` (unreadable ones are logged and skipped: `down` must go on).
pub(crate) fn records(pids: &Path) -> Vec<(PathBuf, PidRecord)> {
    let Ok(entries) = std::fs::read_dir(pids) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|path| {
            let parsed = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()));
            match parsed {
                Ok(record) => Some((path, record)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "unreadable PID record");
                    None
                }
            }
        })
        .collect()
}

/// Whether the process of `record` still runs (and is the one we started).
pub(crate) fn is_alive(record: &PidRecord) -> bool {
    let Some(argv) = proc_argv(record.pid) else {
        return false;
    };
    !is_zombie(record.pid) && (argv == record.argv || argv == record.launcher_argv)
}

fn proc_argv(pid: i32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
    )
}

fn is_zombie(pid: i32) -> bool {
    // /proc/PID/stat: "PID (comm) STATE ..."; comm may contain spaces, so split after ')'.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
        })
        .unwrap_or(true)
}

fn gone(pid: i32) -> bool {
    reap(pid);
    !Path::new(&format!("/proc/{pid}")).exists() || is_zombie(pid)
}

/// Collects the exit status if the process is our own child (when `up` and `down` run in one
/// process, e.g. a test harness), so it does not linger as a zombie.
fn reap(pid: i32) {
    if let Some(p) = Pid::from_raw(pid) {
        let _ = rustix::process::waitpid(Some(p), rustix::process::WaitOptions::NOHANG);
    }
}

/// Stops every running recorded process: SIGTERM to each process group, wait up to
/// [`TERM_GRACE`] for all, then SIGKILL what is left. Returns the names that survived SIGKILL.
pub(crate) fn stop(records: &[PidRecord]) -> Vec<String> {
    let targets: Vec<i32> = records
        .iter()
        .filter(|r| is_alive(r))
        .map(|r| r.pid)
        .collect();
    terminate(&targets, true);
    records
        .iter()
        .filter(|r| targets.contains(&r.pid) && !gone(r.pid))
        .map(|r| format!("{} (pid {})", r.name, r.pid))
        .collect()
}

/// Stops processes that are not ours by record but live in the lab's namespace (e.g. spawned by
/// a crashed `up` before it could record them); signals the single process, not a group.
pub(crate) fn stop_pids(pids: &[i32]) {
    terminate(pids, false);
}

fn terminate(pids: &[i32], group: bool) {
    let send = |pid: i32, signal: Signal| {
        if let Some(p) = Pid::from_raw(pid) {
            let result = if group {
                rustix::process::kill_process_group(p, signal)
            } else {
                rustix::process::kill_process(p, signal)
            };
            if let Err(e) = result {
                tracing::debug!(pid, error = %e, "signal not delivered");
            }
        }
    };
    for &pid in pids {
        send(pid, Signal::TERM);
    }
    let deadline = Instant::now() + TERM_GRACE;
    while Instant::now() < deadline && !pids.iter().all(|&p| gone(p)) {
        std::thread::sleep(POLL);
    }
    let left: Vec<i32> = pids.iter().copied().filter(|&p| !gone(p)).collect();
    for &pid in &left {
        tracing::warn!(pid, "did not exit after SIGTERM; sending SIGKILL");
        send(pid, Signal::KILL);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && !left.iter().all(|&p| gone(p)) {
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_by_argv_and_others_are_not() {
        let pid = i32::try_from(std::process::id()).expect("pid fits");
        let argv = proc_argv(pid).expect("own cmdline");
        let mut record = PidRecord {
            name: "self".into(),
            pid,
            argv: argv.clone(),
            launcher_argv: Vec::new(),
            log: PathBuf::new(),
        };
        assert!(is_alive(&record));
        record.argv = vec!["knotd".into()];
        assert!(!is_alive(&record), "a recycled PID must not match");
    }
}
