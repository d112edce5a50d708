//! Running an operator's command: a DNS provider's CLI (`--publish-cmd`) or the signer's
//! reload (`--reload-cmd`). The child gets none of our secrets (the KEK, its passphrase, the
//! TSIG key), no more than a bounded time, and only a short tail of what it writes to stderr
//! is kept for the error message, with any of our secrets blanked out.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

/// Environment variables that carry secrets (or point at them) and that no child inherits.
pub const SECRET_ENV: [&str; 5] = [
    "MAILTRUST_KEK",
    "MAILTRUST_KEK_PASSPHRASE",
    "MAILTRUST_KEK_FILE",
    "MAILTRUST_TSIG_KEY",
    "MAILTRUST_TSIG_FILE",
];

/// How much of a failing child's stderr is kept: its last lines are what says why it failed,
/// and more would flood the terminal or the journal.
const TAIL_BYTES: usize = 600;

/// Why a command did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// It could not be started (not found, not executable).
    #[error("{program} could not run: {message}")]
    Start {
        /// The program.
        program: String,
        /// What the system said.
        message: String,
    },
    /// It exited with a failure.
    #[error("{program} failed ({status}){}", if stderr.is_empty() { String::new() } else { format!(": ...{stderr}") })]
    Failed {
        /// The program.
        program: String,
        /// Its exit status.
        status: String,
        /// The end of its stderr (at most a few hundred bytes).
        stderr: String,
    },
    /// It ran too long and was killed.
    #[error("{program} did not finish within {secs} s and was killed")]
    Timeout {
        /// The program.
        program: String,
        /// The bound.
        secs: u64,
    },
}

impl CommandError {
    /// True when the command never ran, so it cannot have changed anything.
    pub fn never_ran(&self) -> bool {
        matches!(self, CommandError::Start { .. })
    }
}

/// Runs `program args...` with `env` added and our secrets removed, stdin and stdout closed,
/// and waits at most `wait` (then kills it).
pub async fn run(
    program: &str,
    args: &[String],
    env: &[(&str, &str)],
    wait: Duration,
) -> Result<(), CommandError> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for name in SECRET_ENV {
        cmd.env_remove(name);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(|e| CommandError::Start {
        program: program.to_string(),
        message: e.to_string(),
    })?;
    let stderr = child.stderr.take();
    let tail = async move {
        let mut kept = Vec::new();
        if let Some(mut s) = stderr {
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * TAIL_BYTES {
                    kept.drain(..kept.len() - TAIL_BYTES);
                }
            }
        }
        kept
    };
    let finished = tokio::time::timeout(wait, async { tokio::join!(child.wait(), tail) }).await;
    let (status, tail) = match finished {
        Err(_) => {
            let _ = child.kill().await;
            return Err(CommandError::Timeout {
                program: program.to_string(),
                secs: wait.as_secs(),
            });
        }
        Ok((status, tail)) => (status, tail),
    };
    let status = status.map_err(|e| CommandError::Failed {
        program: program.to_string(),
        status: format!("cannot wait for it: {e}"),
        stderr: String::new(),
    })?;
    if status.success() {
        return Ok(());
    }
    Err(CommandError::Failed {
        program: program.to_string(),
        status: status.to_string(),
        stderr: clean_tail(&tail),
    })
}

/// The last [`TAIL_BYTES`] of `bytes` as one line of printable text, with the value of any
/// secret variable we hold blanked out (a child could print a file it was not meant to see).
fn clean_tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(TAIL_BYTES);
    let mut text: String = String::from_utf8_lossy(&bytes[start..])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    for name in SECRET_ENV {
        if let Ok(v) = std::env::var(name)
            && v.len() >= 8
        {
            text = text.replace(&v, "[secret]");
        }
    }
    text.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["-c".into(), script.into()]
    }

    #[tokio::test]
    async fn a_slow_command_is_killed_and_a_loud_one_is_cut_short() {
        let t = std::time::Instant::now();
        let e = run("sh", &sh("sleep 30"), &[], Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(matches!(e, CommandError::Timeout { .. }), "{e}");
        assert!(t.elapsed() < Duration::from_secs(10));
        let e = run(
            "sh",
            &sh("i=0; while [ $i -lt 2000 ]; do echo \"complaint $i\" >&2; i=$((i+1)); done; exit 3"),
            &[],
            Duration::from_secs(20),
        )
        .await
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("complaint 1999") && text.len() < TAIL_BYTES + 200,
            "{text}"
        );
        assert!(!text.contains('\n'), "{text}");
        let e = run("/nonexistent/cmd", &[], &[], Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(e.never_ran(), "{e}");
        run(
            "sh",
            &sh("test \"$X\" = y"),
            &[("X", "y")],
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    }

    #[test]
    fn secrets_we_hold_are_blanked_from_the_tail() {
        // set_var is unsafe in edition 2024 (and this crate forbids unsafe code): a child
        // process of the test binary holds the secret instead.
        let secret = "unit-test-passphrase-1234";
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "command::tests::tail_child", "--nocapture"])
            .env("MAILTRUST_KEK_PASSPHRASE", secret)
            .env("MAILTRUST_TAIL_CHILD", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("tail=[secret] was here"), "{text}");
        assert!(!text.contains(secret), "{text}");
    }

    /// Run by `secrets_we_hold_are_blanked_from_the_tail` in a child process that holds a
    /// secret variable.
    #[test]
    fn tail_child() {
        if std::env::var_os("MAILTRUST_TAIL_CHILD").is_none() {
            return;
        }
        let tail = clean_tail(b"unit-test-passphrase-1234 was here\n");
        println!("tail={tail}");
    }

    /// The child cannot see our secrets: it runs `env`, and the test looks for the names.
    #[test]
    fn children_inherit_no_secret() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "command::tests::env_child", "--nocapture"])
            .env("MAILTRUST_KEK", "00".repeat(32))
            .env("MAILTRUST_TSIG_KEY", "k:c2VjcmV0")
            .env("MAILTRUST_KEK_PASSPHRASE", "a passphrase")
            .env("MAILTRUST_ENV_CHILD", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("child ran: ok"), "{text}");
    }

    #[test]
    fn env_child() {
        if std::env::var_os("MAILTRUST_ENV_CHILD").is_none() {
            return;
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Fails when any secret variable reached the child.
        let r = rt.block_on(run(
            "sh",
            &sh("env | grep -q '^MAILTRUST_\\(KEK\\|TSIG\\)' && exit 1; exit 0"),
            &[],
            Duration::from_secs(10),
        ));
        println!("child ran: {}", if r.is_ok() { "ok" } else { "LEAKED" });
    }
}
