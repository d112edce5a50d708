//! `mta-sts.policy`: fetches `https://mta-sts.<domain>/.well-known/mta-sts.txt` the way a
//! sender does (RFC 8461 §3.3: no redirects, a valid WebPKI certificate, `text/plain`) and grades
//! the policy against the domain's MX hosts.
//!
//! The smtp checks need the policy's mode (an MTA-STS domain makes WebPKI validity matter), so
//! they call [`fetch`] and emit its findings with theirs.

use mailtrust_dns::QueryType;
use mailtrust_probe::http::{FetchError, MAX_POLICY_BYTES};
use mailtrust_records::{MtaStsMode, MtaStsPolicy, MtaStsRecord, is_mta_sts_record};

use crate::catalogue::CheckId;
use crate::checks::tls_grade::{self, CertView};
use crate::checks::{error_texts, host_addresses, txt};
use crate::finding::{Finding, Status, answered};
use crate::{Auditor, Probes};

/// A day: RFC 8461 §3.2 suggests weeks; a shorter max_age leaves senders without a policy
/// between fetches.
const MIN_MAX_AGE: u32 = 86_400;

/// What the sender-side fetch found.
pub(crate) struct Sts {
    pub findings: Vec<Finding>,
    /// The mode of a policy senders would apply (fetched and valid).
    pub mode: Option<MtaStsMode>,
}

pub(crate) async fn fetch(a: &Auditor, p: &Probes, domain: &str, mx_hosts: &[String]) -> Sts {
    let id = CheckId::MtaStsPolicy;
    let rec = a
        .lookup(&format!("_mta-sts.{domain}"), QueryType::Txt)
        .await;
    if !answered(&rec) {
        return Sts {
            findings: vec![Finding::inconclusive(id, &rec)],
            mode: None,
        };
    }
    let records = txt::matching(&rec, is_mta_sts_record);
    let valid = records.len() == 1 && MtaStsRecord::parse(&records[0]).is_valid();
    if !valid {
        return Sts {
            findings: vec![
                Finding::new(
                    id,
                    Status::NotApplicable,
                    "no valid MTA-STS record, so senders do not fetch a policy (see mta-sts.record)",
                )
                .lookup(&rec),
            ],
            mode: None,
        };
    }
    let host = format!("mta-sts.{domain}");
    let ha = host_addresses(a, &host).await;
    let addrs = ha.ips();
    let lookups = ha.lookups();
    let with_lookups = |mut f: Finding| {
        f.evidence.lookups.extend(lookups.iter().cloned());
        f
    };
    if addrs.is_empty() {
        let f = if let Some(u) = ha.unanswered() {
            Finding::inconclusive(id, u)
        } else {
            Finding::new(
                id,
                Status::Fail,
                format!("{host} has no addresses: senders cannot fetch the policy"),
            )
            .fix(format!(
                "Publish A/AAAA records for {host} pointing at a web server that serves /.well-known/mta-sts.txt."
            ))
        };
        return Sts {
            findings: vec![with_lookups(f)],
            mode: None,
        };
    }
    let path = "/.well-known/mta-sts.txt";
    let url = format!("https://{host}{path}");
    let got = p
        .prober
        .https_get(&host, &addrs, path, &p.roots, MAX_POLICY_BYTES)
        .await;
    let fetch = match got {
        Ok(f) => f,
        Err(e) => {
            // Silence or a refused connection is no verdict; a TLS alert or broken HTTP is one:
            // senders cannot fetch the policy either (RFC 8461 §3.3).
            let status = match &e {
                FetchError::Unreachable { error, .. } if error.is_unreachable() => {
                    Status::Inconclusive
                }
                FetchError::Timeout { .. } => Status::Inconclusive,
                _ => Status::Fail,
            };
            let f = Finding::new(id, status, format!("fetching {url} failed: {e}"));
            return Sts {
                findings: vec![with_lookups(f)],
                mode: None,
            };
        }
    };
    let subject = host.clone();
    let mut findings = Vec::new();
    let view = CertView::from_report(fetch.tls.certificate.clone(), &host);
    // The policy host's certificate expiry is graded like an MX host's.
    let exp = tls_grade::expiry(&view);
    findings.push(
        Finding::new(CheckId::SmtpCertificateExpiry, exp.status, exp.summary)
            .subject(format!("{host} {}", fetch.tls.address))
            .fix_if(
                exp.status != Status::Pass,
                format!("Renew the certificate of {host}; senders ignore a policy served with an expired one."),
            ),
    );
    let data = serde_json::to_value(&fetch).unwrap_or_default();
    let fail = |summary: String, fix: String| {
        with_lookups(
            Finding::new(id, Status::Fail, summary)
                .subject(subject.clone())
                .data(data.clone())
                .fix(fix),
        )
    };
    if !view.problems.is_empty() {
        findings.push(fail(
            format!(
                "the certificate of {host} is not valid ({}): senders ignore the policy",
                view.problems.join("; ")
            ),
            format!("Serve {host} with a certificate from a public CA that names {host}."),
        ));
        return Sts {
            findings,
            mode: None,
        };
    }
    if (300..400).contains(&fetch.status) {
        findings.push(fail(
            format!(
                "{url} answers HTTP {} with a redirect to {}; RFC 8461 §3.3 forbids senders to follow it",
                fetch.status,
                fetch.location.as_deref().unwrap_or("(no Location)")
            ),
            format!("Serve the policy itself at {url} with status 200."),
        ));
        return Sts {
            findings,
            mode: None,
        };
    }
    if fetch.status != 200 {
        findings.push(fail(
            format!("{url} answers HTTP {}", fetch.status),
            format!("Serve the policy at {url} with status 200 and Content-Type: text/plain."),
        ));
        return Sts {
            findings,
            mode: None,
        };
    }
    let media = fetch
        .content_type
        .as_deref()
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase());
    if media.as_deref() != Some("text/plain") {
        findings.push(fail(
            format!(
                "{url} is served as {} instead of text/plain (RFC 8461 §3.3)",
                fetch.content_type.as_deref().unwrap_or("no Content-Type")
            ),
            "Serve the policy with `Content-Type: text/plain` (nginx: `default_type text/plain;` in that location).".into(),
        ));
        return Sts {
            findings,
            mode: None,
        };
    }
    if fetch.body_truncated || fetch.body.len() > MAX_POLICY_BYTES - 1 {
        findings.push(fail(
            format!(
                "the policy is larger than 64 KiB (reading stopped at {} bytes); senders may refuse it (RFC 8461 §3.3)",
                fetch.body.len()
            ),
            "Serve a policy of a few lines: version, mode, mx, max_age.".into(),
        ));
        return Sts {
            findings,
            mode: None,
        };
    }
    let policy = MtaStsPolicy::parse(&fetch.body);
    let errors = error_texts(&policy.diagnostics, |d| d.severity());
    let example = format!(
        "version: STSv1\nmode: enforce\n{}max_age: 1209600",
        mx_hosts
            .iter()
            .map(|h| format!("mx: {h}\n"))
            .collect::<String>()
    );
    if !errors.is_empty() || policy.mode.is_none() {
        findings.push(fail(
            format!("the policy is invalid: {}", errors.join("; ")),
            format!("Serve a valid policy, e.g.:\n{example}"),
        ));
        return Sts {
            findings,
            mode: None,
        };
    }
    let uncovered: Vec<&String> = mx_hosts.iter().filter(|h| !policy.matches_mx(h)).collect();
    let patterns: Vec<&str> = policy.mx.iter().map(|m| m.pattern.as_str()).collect();
    let mode = policy.mode;
    let max_age = policy.max_age.unwrap_or(0);
    let (status, summary, fix) = match mode {
        Some(MtaStsMode::Enforce) if !uncovered.is_empty() => (
            Status::Fail,
            format!(
                "mode enforce, but no mx: pattern ({}) matches {}: MTA-STS senders will not deliver to it",
                patterns.join(", "),
                uncovered
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Some(format!(
                "Add the MX hosts to the policy and change the id of _mta-sts.{domain}:\n{example}"
            )),
        ),
        Some(MtaStsMode::Testing) if !uncovered.is_empty() => (
            Status::Warn,
            format!(
                "mode testing, and no mx: pattern matches {}",
                uncovered
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Some(format!("Add the MX hosts to the policy:\n{example}")),
        ),
        Some(MtaStsMode::Enforce) if max_age < MIN_MAX_AGE => (
            Status::Warn,
            format!(
                "mode enforce, but max_age {max_age} s is under a day: senders often run without the policy"
            ),
            Some("Use max_age: 1209600 (two weeks) or more.".to_string()),
        ),
        Some(MtaStsMode::Enforce) => (
            Status::Pass,
            format!(
                "mode enforce, max_age {max_age} s, mx: {}",
                patterns.join(", ")
            ),
            None,
        ),
        Some(MtaStsMode::Testing) => (
            Status::Warn,
            format!(
                "mode testing: senders report TLS failures but deliver anyway (mx: {})",
                patterns.join(", ")
            ),
            Some(format!(
                "Once TLS-RPT reports are clean, switch to mode: enforce and change the id of _mta-sts.{domain}."
            )),
        ),
        Some(MtaStsMode::None) | None => (
            Status::Info,
            "mode none: the domain is withdrawing its MTA-STS policy".to_string(),
            None,
        ),
    };
    let mut f = with_lookups(
        Finding::new(id, status, summary)
            .subject(subject)
            .data(data),
    );
    if let Some(fix) = fix {
        f = f.fix(fix);
    }
    findings.push(f);
    Sts { findings, mode }
}
