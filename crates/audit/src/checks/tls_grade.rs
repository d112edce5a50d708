//! Grading what a probe saw — TLS version, cipher suites, certificate, expiry — the same way for
//! SMTP, submission, IMAP and POP3. Each grade is a status, a one-sentence summary and notes; the
//! checks attach their own ids, subjects and remediations.

use std::time::SystemTime;

use mailtrust_dns::format_utc;
use mailtrust_probe::cert::{self, CertReport, ChainProblem, Roots};
use mailtrust_probe::scan::HelloOutcome;
use mailtrust_probe::{ScanOutcome, ServiceReport, TlsSeen};

use crate::finding::Status;

/// Certificates must stay valid this long; renewals that run later are cutting it close.
pub(crate) const EXPIRY_WARN_DAYS: i64 = 21;

pub(crate) struct Grade {
    pub status: Status,
    pub summary: String,
    pub notes: Vec<String>,
}

impl Grade {
    fn new(status: Status, summary: impl Into<String>, notes: Vec<String>) -> Self {
        Self {
            status,
            summary: summary.into(),
            notes,
        }
    }
}

/// The scans' answers as notes ("TLSv1.0, common suites: refused (protocol_version)").
fn scan_notes(r: &ServiceReport, weak: bool) -> Vec<String> {
    r.scans
        .iter()
        .filter(|s| s.weak_suites == weak)
        .map(|s| {
            let what = match &s.outcome {
                ScanOutcome::Answered {
                    hello:
                        HelloOutcome::Accepted {
                            version,
                            suite_name,
                            ..
                        },
                } => format!("accepted: {version} {suite_name}"),
                ScanOutcome::Answered {
                    hello: HelloOutcome::Refused { alert: Some(a) },
                } => format!("refused ({a})"),
                ScanOutcome::Answered {
                    hello: HelloOutcome::Refused { alert: None },
                } => "refused (connection closed)".to_string(),
                ScanOutcome::Error { error } => format!("no verdict: {error}"),
            };
            format!("offered {}: {what}", s.offered)
        })
        .collect()
}

/// TLS 1.2 or 1.3 negotiated, and the hand-built hellos for SSLv3/TLS 1.0/TLS 1.1 refused.
pub(crate) fn version(r: &ServiceReport, seen: &TlsSeen) -> Grade {
    let mut bad: Vec<String> = Vec::new();
    if !seen.version.is_acceptable() {
        bad.push(format!("the handshake negotiated {}", seen.version));
    }
    let mut unknown = Vec::new();
    for s in r.scans.iter().filter(|s| !s.weak_suites) {
        match &s.outcome {
            ScanOutcome::Answered {
                hello: HelloOutcome::Accepted { version, .. },
            } if !version.is_acceptable() => bad.push(format!("{version} is accepted")),
            ScanOutcome::Error { .. } => unknown.push(s.offered.clone()),
            _ => {}
        }
    }
    let notes = scan_notes(r, false);
    let negotiated = format!("{} with {}", seen.version, seen.cipher_suite);
    if !bad.is_empty() {
        bad.dedup();
        Grade::new(
            Status::Fail,
            format!("{} (negotiated {negotiated})", bad.join("; ")),
            notes,
        )
    } else if !unknown.is_empty() {
        Grade::new(
            Status::Inconclusive,
            format!(
                "negotiated {negotiated}; no verdict for: {}",
                unknown.join(", ")
            ),
            notes,
        )
    } else if r.scans.is_empty() {
        Grade::new(
            Status::Pass,
            format!("negotiated {negotiated} (older versions not offered: scans are off)"),
            notes,
        )
    } else {
        Grade::new(
            Status::Pass,
            format!("negotiated {negotiated}; SSLv3, TLSv1.0 and TLSv1.1 refused"),
            notes,
        )
    }
}

/// What the scans saw of a server whose modern (rustls) handshake failed: `None` when no
/// hand-built hello was accepted either.
pub(crate) struct ScanOnly {
    /// Old versions accepted ("TLSv1.0 (suite)").
    pub old: Vec<String>,
    /// TLS 1.2 accepted by a hello with the common suites (DHE/RSA key exchange, which our
    /// client does not offer).
    pub modern: Option<String>,
}

pub(crate) fn scan_only(r: &ServiceReport) -> Option<ScanOnly> {
    let accepted = r.accepted_by_scans();
    if accepted.is_empty() {
        return None;
    }
    let mut old: Vec<String> = accepted
        .iter()
        .filter(|(v, _)| !v.is_acceptable())
        .map(|(v, suite)| format!("{v} ({suite})"))
        .collect();
    old.sort();
    old.dedup();
    let modern = accepted
        .iter()
        .find(|(v, _)| v.is_acceptable())
        .map(|(v, suite)| format!("{v} ({suite})"));
    Some(ScanOnly { old, modern })
}

/// The version grade of a server whose modern handshake failed but which accepted a
/// hand-built hello.
pub(crate) fn scan_only_version(r: &ServiceReport, s: &ScanOnly) -> Grade {
    let notes = scan_notes(r, false);
    match (&s.modern, s.old.is_empty()) {
        (None, _) => Grade::new(
            Status::Fail,
            format!(
                "TLS 1.2 and 1.3 are refused; only {} is accepted",
                s.old.join(", ")
            ),
            notes,
        ),
        (Some(m), false) => Grade::new(
            Status::Fail,
            format!("{} is accepted besides {m}", s.old.join(", ")),
            notes,
        ),
        (Some(m), true) => Grade::new(
            Status::Pass,
            format!("{m} is accepted; SSLv3, TLSv1.0 and TLSv1.1 refused"),
            notes,
        ),
    }
}

/// No RC4, 3DES, DES, NULL or EXPORT suite accepted (fail); anonymous suites warn.
///
/// Anonymous (aNULL) suites still encrypt: against a passive eavesdropper they are as good as
/// any opportunistic TLS, and Postfix accepts them by default on port 25 (clients that
/// authenticate the server, under DANE or MTA-STS, never offer them). SP 800-52r2 §3.3.1 rules
/// them out, hence a warning rather than a failure.
pub(crate) fn ciphers(r: &ServiceReport) -> Grade {
    let weak: Vec<&mailtrust_probe::ScanResult> =
        r.scans.iter().filter(|s| s.weak_suites).collect();
    let notes = scan_notes(r, true);
    if weak.is_empty() {
        return Grade::new(
            Status::NotApplicable,
            "weak suites were not offered (scans are off)",
            notes,
        );
    }
    let mut accepted = Vec::new();
    let mut anonymous = Vec::new();
    let mut unknown = Vec::new();
    for s in &weak {
        match &s.outcome {
            ScanOutcome::Answered {
                hello:
                    HelloOutcome::Accepted {
                        version,
                        suite_name,
                        ..
                    },
            } => {
                let what = format!("{suite_name} at {version}");
                if s.anonymous {
                    anonymous.push(what);
                } else {
                    accepted.push(what);
                }
            }
            ScanOutcome::Error { .. } => unknown.push(s.offered.clone()),
            ScanOutcome::Answered { .. } => {}
        }
    }
    if !accepted.is_empty() {
        Grade::new(
            Status::Fail,
            format!("accepts weak suites: {}", accepted.join(", ")),
            notes,
        )
    } else if !unknown.is_empty() {
        Grade::new(
            Status::Inconclusive,
            format!("no verdict for: {}", unknown.join(", ")),
            notes,
        )
    } else if !anonymous.is_empty() {
        Grade::new(
            Status::Warn,
            format!(
                "refuses RC4, 3DES, DES, NULL and EXPORT suites, but accepts anonymous ones ({}): harmless against eavesdroppers, ruled out by SP 800-52r2",
                anonymous.join(", ")
            ),
            notes,
        )
    } else {
        Grade::new(
            Status::Pass,
            "refuses RC4, 3DES, DES, NULL, EXPORT and anonymous suites",
            notes,
        )
    }
}

/// The certificate as WebPKI sees it: `Ok(report)` with the problems listed (empty: valid).
pub(crate) struct CertView {
    pub report: CertReport,
    pub problems: Vec<String>,
}

pub(crate) fn certificate(seen: &TlsSeen, host: &str, roots: &Roots) -> Result<CertView, String> {
    let report =
        cert::evaluate(&seen.chain, host, roots, SystemTime::now()).map_err(|e| e.to_string())?;
    let mut view = CertView::from_report(report, host);
    if seen.chain_presented > seen.chain.len() {
        // The chain was cut short when it was read; say how long it really was.
        view.problems.retain(|p| !p.starts_with("the chain has "));
        view.problems.push(format!(
            "the server presents a chain of {} certificates (clients give up on chains this long; the first {} were examined)",
            seen.chain_presented,
            seen.chain.len()
        ));
    }
    Ok(view)
}

impl CertView {
    /// The problems of an evaluated certificate, as texts for admins.
    pub(crate) fn from_report(report: CertReport, host: &str) -> Self {
        let mut problems = Vec::new();
        if let Some(p) = &report.chain_problem {
            problems.push(chain_problem_text(p));
        }
        if !report.name_matches {
            problems.push(format!(
                "it is issued for {}, not {host}",
                if report.leaf.names.is_empty() {
                    "no host name".to_string()
                } else {
                    report.leaf.names.join(", ")
                }
            ));
        }
        if let Some(w) = &report.weak_key {
            problems.push(w.clone());
        }
        Self { report, problems }
    }
}

pub(crate) fn chain_problem_text(p: &ChainProblem) -> String {
    match p {
        ChainProblem::Expired { not_after } => format!("it expired on {}", format_utc(*not_after)),
        ChainProblem::NotYetValid { not_before } => {
            format!("it is not valid before {}", format_utc(*not_before))
        }
        ChainProblem::UnknownIssuer => "it does not chain to a trusted root".into(),
        ChainProblem::SelfSigned => "it is self-signed".into(),
        ChainProblem::BadSignature => "a signature in the chain does not verify".into(),
        ChainProblem::NotForServerAuth => "it is not valid for TLS server authentication".into(),
        ChainProblem::TooLong { len } => format!("the chain has {len} certificates"),
        ChainProblem::Other(t) => t.clone(),
    }
}

/// One line describing the leaf, for summaries.
pub(crate) fn leaf_text(v: &CertView) -> String {
    let l = &v.report.leaf;
    format!(
        "{} ({} {} bits), issued by {}, valid until {}",
        if l.names.is_empty() {
            l.subject.clone()
        } else {
            l.names.join(", ")
        },
        l.key_algorithm,
        l.key_bits,
        l.issuer,
        format_utc(l.not_after)
    )
}

/// Expired fails, under [`EXPIRY_WARN_DAYS`] warns.
pub(crate) fn expiry(v: &CertView) -> Grade {
    let left = v.report.seconds_left;
    let until = format_utc(v.report.leaf.not_after);
    if left < 0 {
        Grade::new(
            Status::Fail,
            format!("the certificate expired on {until}"),
            vec![],
        )
    } else if left < EXPIRY_WARN_DAYS * 86_400 {
        Grade::new(
            Status::Warn,
            format!(
                "the certificate expires in {} days ({until})",
                left / 86_400
            ),
            vec![],
        )
    } else {
        Grade::new(
            Status::Pass,
            format!("valid for {} more days (until {until})", left / 86_400),
            vec![],
        )
    }
}
