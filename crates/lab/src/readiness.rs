//! Waiting until the servers answer as they should: `up` returns only when the lab can be used,
//! and a server that fails to load its zone is reported with its log instead of as a mysterious
//! SERVFAIL later.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::command::{Tools, in_netns, log_tail};
use crate::error::LabError;
use crate::process::Spawned;

const POLL: Duration = Duration::from_millis(50);

/// One DNS query and what its answer must show.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    /// For messages, e.g. "knot-root serving .".
    pub what: String,
    pub server: &'static str,
    pub qname: String,
    pub qtype: &'static str,
    /// Authoritative probe (no recursion desired) that must carry an RRSIG: the zone is signed.
    pub authoritative: bool,
    pub expect_rrsig: bool,
    /// The answer must have the AD flag (validating resolver, secure chain).
    pub expect_ad: bool,
    pub log: PathBuf,
    /// Text that, once it appears in the log, means the probe can never pass (Knot keeps
    /// running when a zone fails to load; waiting the full timeout would only delay the error).
    pub fatal_log_marker: Option<String>,
}

/// Fails (with the server's log) if a started server has already exited: waiting for it to
/// become ready would only delay the error.
pub(crate) fn none_exited(spawned: &mut [Spawned]) -> Result<(), LabError> {
    for s in spawned.iter_mut() {
        if let Some(status) = s.exited() {
            return Err(LabError::NotReady {
                what: s.record.name.clone(),
                reason: format!("it exited ({status})"),
                log: s.record.log.clone(),
                log_tail: log_tail(&s.record.log),
            });
        }
    }
    Ok(())
}

/// Runs the probes until all pass or `timeout` passes; fails early if a server exits.
pub(crate) fn wait(
    tools: &Tools,
    netns: &str,
    probes: Vec<Probe>,
    spawned: &mut [Spawned],
    timeout: Duration,
) -> Result<(), LabError> {
    let deadline = Instant::now() + timeout;
    let mut pending = probes;
    loop {
        none_exited(spawned)?;
        let mut still = Vec::new();
        let mut reasons = Vec::new();
        for probe in pending {
            let Err(reason) = check(tools, netns, &probe) else {
                continue;
            };
            if let Some(fatal) = fatal_lines(&probe) {
                return Err(LabError::NotReady {
                    what: probe.what.clone(),
                    reason: fatal,
                    log: probe.log.clone(),
                    log_tail: String::new(),
                });
            }
            still.push(probe);
            reasons.push(reason);
        }
        if still.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let probe = &still[0];
            return Err(LabError::NotReady {
                what: probe.what.clone(),
                reason: format!(
                    "`kdig @{} {} {}` after {}s: {}",
                    probe.server,
                    probe.qname,
                    probe.qtype,
                    timeout.as_secs(),
                    reasons[0]
                ),
                log: probe.log.clone(),
                log_tail: log_tail(&probe.log),
            });
        }
        pending = still;
        std::thread::sleep(POLL);
    }
}

/// The log lines carrying the probe's fatal marker, if any.
fn fatal_lines(probe: &Probe) -> Option<String> {
    let marker = probe.fatal_log_marker.as_deref()?;
    let log = std::fs::read_to_string(&probe.log).ok()?;
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(marker)).collect();
    (!lines.is_empty()).then(|| lines.join(" | "))
}

fn check(tools: &Tools, netns: &str, probe: &Probe) -> Result<(), String> {
    let server = format!("@{}", probe.server);
    let mut args: Vec<&OsStr> = vec![
        OsStr::new(&server),
        OsStr::new("+time=1"),
        OsStr::new("+retry=0"),
        OsStr::new("+dnssec"),
    ];
    if probe.authoritative {
        args.push(OsStr::new("+norecurse"));
    }
    args.push(OsStr::new(&probe.qname));
    args.push(OsStr::new(probe.qtype));
    let output = in_netns(tools, netns, &tools.kdig, &args)
        .output()
        .map_err(|e| format!("cannot run kdig: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    judge(&text, probe)
}

/// Reads kdig's text output against the probe's expectations.
pub(crate) fn judge(kdig_output: &str, probe: &Probe) -> Result<(), String> {
    let status = kdig_output
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .ok_or_else(|| {
            format!(
                "no answer ({})",
                kdig_output.trim().lines().last().unwrap_or("")
            )
        })?;
    if status != "NOERROR" {
        return Err(format!("status {status}"));
    }
    let flags = kdig_output
        .lines()
        .find_map(|l| l.strip_prefix(";; Flags: "))
        .and_then(|l| l.split(';').next())
        .unwrap_or("");
    if probe.authoritative && !flags.split_whitespace().any(|f| f == "aa") {
        return Err(format!("not authoritative (flags: {flags})"));
    }
    if probe.expect_ad && !flags.split_whitespace().any(|f| f == "ad") {
        return Err(format!("no AD flag (flags: {flags})"));
    }
    let answer = kdig_output.split(";; ANSWER SECTION:").nth(1).unwrap_or("");
    if probe.expect_rrsig && !answer.split_whitespace().any(|t| t == "RRSIG") {
        return Err("answer is not signed yet".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(authoritative: bool, expect_rrsig: bool, expect_ad: bool) -> Probe {
        Probe {
            what: "t".into(),
            server: "127.0.0.2",
            qname: ".".into(),
            qtype: "SOA",
            authoritative,
            expect_rrsig,
            expect_ad,
            log: PathBuf::new(),
            fatal_log_marker: None,
        }
    }

    const SIGNED: &str = ";; ->>HEADER<<- opcode: QUERY; status: NOERROR; id: 1\n\
        ;; Flags: qr aa; QUERY: 1; ANSWER: 2; AUTHORITY: 0; ADDITIONAL: 1\n\n\
        ;; ANSWER SECTION:\n.                   \t60\tIN\tSOA\ta. b. 1 2 3 4 5\n\
        .                   \t60\tIN\tRRSIG\tSOA 13 0 60 ...\n";

    #[test]
    fn signed_authoritative_answer_passes() {
        assert_eq!(judge(SIGNED, &probe(true, true, false)), Ok(()));
        assert!(judge(SIGNED, &probe(true, true, true)).is_err());
    }

    #[test]
    fn servfail_and_unsigned_fail() {
        let servfail = SIGNED.replace("NOERROR", "SERVFAIL");
        assert!(judge(&servfail, &probe(true, false, false)).is_err());
        let unsigned = SIGNED.replace("RRSIG", "TXT");
        assert!(judge(&unsigned, &probe(true, true, false)).is_err());
        assert_eq!(judge(&unsigned, &probe(true, false, false)), Ok(()));
        assert!(
            judge(
                ";; WARNING: connection timed out\n",
                &probe(false, false, false)
            )
            .is_err()
        );
    }
}
