//! Errors of the lab. Each one names what an administrator has to look at: the command that
//! failed and the tail of its output, the file that could not be read, the log of a server that
//! did not come up.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A program or privilege the lab needs is missing; the message says which.
    #[error("{0}")]
    Prerequisite(String),

    /// A file or directory operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// An external command ran but failed.
    #[error("`{command}` failed ({status}){}", tail_suffix(.stderr_tail))]
    Command {
        command: String,
        status: String,
        stderr_tail: String,
    },

    /// A scenario file is malformed.
    #[error("{}:{line}: {message}", .path.display())]
    Scenario {
        path: PathBuf,
        line: usize,
        message: String,
    },

    /// A server was started but did not answer as expected in time.
    #[error("{what} did not become ready: {reason}; log {}{}", .log.display(), tail_suffix(.log_tail))]
    NotReady {
        what: String,
        reason: String,
        log: PathBuf,
        log_tail: String,
    },

    /// `up` was asked for a state directory whose lab still runs.
    #[error(
        "a lab is already running in {} (network namespace {netns}); run `mailtrust lab down --state {}` first",
        .state.display(),
        .state.display()
    )]
    AlreadyRunning { state: PathBuf, netns: String },

    /// The state directory, or a directory above it, could be changed by someone other than
    /// root: a lab running as root must not write, chown or delete there.
    #[error(
        "refusing the state directory {}: {reason}; choose a directory only root can change, or \
         leave out --state and the lab makes a fresh one",
        .path.display()
    )]
    UnsafeState { path: PathBuf, reason: String },

    /// `load` or `exec` was asked for a state directory without a running lab.
    #[error("no lab is running in {} ({reason}); start one with `mailtrust lab up --state {}`", .state.display(), .state.display())]
    NotRunning { state: PathBuf, reason: String },

    /// `lab.json` or a PID record could not be (de)serialised.
    #[error("{}: {source}", .path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    /// Anything not covered above.
    #[error("{0}")]
    Other(String),
}

fn tail_suffix(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!(": {}", tail.trim())
    }
}

/// Attaches a description of the operation to an [`std::io::Error`].
pub(crate) trait IoContext<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, LabError>;
}

impl<T> IoContext<T> for Result<T, std::io::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, LabError> {
        self.map_err(|source| LabError::Io {
            context: what(),
            source,
        })
    }
}
