//! Running the external programs the lab is made of (ip, knotd, keymgr, ldns-*, unbound, and the
//! mail servers), with
//! errors that carry the command line and the tail of its stderr.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::error::LabError;

/// How many bytes of stderr (or a log) an error message quotes: enough for the reason, short
/// enough for one screen.
const TAIL_BYTES: usize = 600;

/// Paths of the programs the lab runs, resolved once by [`crate::prereq::check`].
#[derive(Debug, Clone)]
pub(crate) struct Tools {
    pub ip: PathBuf,
    pub setsid: PathBuf,
    pub knotd: PathBuf,
    pub keymgr: PathBuf,
    pub kdig: PathBuf,
    pub unbound: PathBuf,
    pub unbound_checkconf: PathBuf,
    pub ldns_keygen: PathBuf,
    pub ldns_signzone: PathBuf,
    /// Postfix's `master` (in `postconf -dh daemon_directory`).
    pub postfix_master: PathBuf,
    pub dovecot: PathBuf,
    pub nginx: PathBuf,
}

/// Renders a command line for messages (lossy; for people, not for shells).
pub(crate) fn describe(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// Runs `cmd` to completion and returns its output, or an error naming the command, its exit
/// status and the tail of its stderr.
pub(crate) fn run(cmd: &mut Command) -> Result<Output, LabError> {
    let output = cmd.output().map_err(|source| LabError::Io {
        context: format!("cannot run `{}`", describe(cmd)),
        source,
    })?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(LabError::Command {
            command: describe(cmd),
            status: output.status.to_string(),
            stderr_tail: tail(&String::from_utf8_lossy(&output.stderr)),
        })
    }
}

/// Runs `cmd` and returns its stdout as text.
pub(crate) fn run_stdout(cmd: &mut Command) -> Result<String, LabError> {
    let output = run(cmd)?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The last [`TAIL_BYTES`] of `text`, cut at a line start when possible.
pub(crate) fn tail(text: &str) -> String {
    let text = text.trim_end();
    if text.len() <= TAIL_BYTES {
        return text.to_string();
    }
    let mut start = text.len() - TAIL_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let cut = &text[start..];
    match cut.find('\n') {
        Some(nl) => format!("...{}", &cut[nl..]),
        None => format!("...{cut}"),
    }
}

/// The tail of a log file, or an empty string if it cannot be read (the error being reported
/// matters more than the log).
pub(crate) fn log_tail(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| tail(&String::from_utf8_lossy(&bytes)))
        .unwrap_or_default()
}

/// Looks `name` up in `PATH` and in the sbin directories, which are often missing from `PATH`
/// of non-login root shells while `ip`, `knotd` and `unbound` live there.
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"]
                .iter()
                .map(PathBuf::from),
        )
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// `ip netns exec NETNS PROGRAM ARGS...`: a command that runs inside the lab's namespace.
pub(crate) fn in_netns(
    tools: &Tools,
    netns: &str,
    program: impl AsRef<OsStr>,
    args: &[&OsStr],
) -> Command {
    let mut cmd = Command::new(&tools.ip);
    cmd.args(["netns", "exec", netns]).arg(program).args(args);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_short_text() {
        assert_eq!(tail("error: boom\n"), "error: boom");
    }

    #[test]
    fn tail_cuts_long_text_at_a_line() {
        let long = format!("{}\nlast line", "x".repeat(2000));
        let t = tail(&long);
        assert!(t.ends_with("last line"));
        assert!(t.len() <= TAIL_BYTES + 4);
    }
}
