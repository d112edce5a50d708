//! The demo's first screen: the picture at a glance. One row per domain and one column per area
//! of SP 800-177 (the worst verdict of the area's checks), then the three findings that matter
//! most, each with its fix, and where the rest is. A first run of `mailtrust demo` printed every
//! finding of ten domains (hundreds of lines); a newcomer needs the table first.
//!
//! It reads the audit's own JSON (`mailtrust audit --json`, run inside the lab's namespace), so
//! the overview can never disagree with what `--json` and `--details` show.

use std::fmt::Write;

use mailtrust_audit::{CheckId, Severity, Status, catalogue};
use serde::Deserialize;

use crate::render::paint;

/// The part of `mailtrust audit --json`'s document that the overview reads.
#[derive(Debug, Deserialize)]
pub struct AuditDocument {
    pub domains: Vec<DomainView>,
}

#[derive(Debug, Deserialize)]
pub struct DomainView {
    pub domain: String,
    pub findings: Vec<FindingView>,
}

#[derive(Debug, Deserialize)]
pub struct FindingView {
    pub id: CheckId,
    #[serde(default)]
    pub subject: Option<String>,
    pub status: Status,
    pub severity: Severity,
    pub summary: String,
    #[serde(default)]
    pub remediation: Option<String>,
}

/// The table's columns and the catalogue areas each one sums up. IMAP, POP3 and submission
/// (`access`) are transport too: SP 800-177 §5 wants TLS on every hop.
const COLUMNS: &[(&str, &[&str])] = &[
    ("DNSSEC", &["dnssec"]),
    ("MX", &["mx"]),
    ("SPF", &["spf"]),
    ("DKIM", &["dkim"]),
    ("DMARC", &["dmarc"]),
    ("transport", &["transport", "access"]),
];

/// Which area's problem is worth reading first, among findings of the same status and
/// severity: the foundations first (a domain that does not exist, DNSSEC under everything),
/// then sender authentication, then transport.
const AREA_ORDER: &[&str] = &[
    "dns",
    "dnssec",
    "dmarc",
    "spf",
    "dkim",
    "mx",
    "transport",
    "access",
    "e2e",
    "summary",
];

const TOP: usize = 3;

/// The worst verdict among `findings` in `areas`; `None` when no check there gave a verdict
/// (all not applicable or informational), shown as `-`.
fn area_verdict(findings: &[FindingView], areas: &[&str]) -> Option<Status> {
    findings
        .iter()
        .filter(|f| areas.contains(&catalogue::info(f.id).area))
        .filter(|f| {
            matches!(
                f.status,
                Status::Pass | Status::Warn | Status::Fail | Status::Inconclusive
            )
        })
        .map(|f| f.status)
        .reduce(Status::worst)
}

fn cell(verdict: Option<Status>, width: usize, color: bool) -> String {
    let (text, code) = match verdict {
        None => ("-", "2"),
        Some(Status::Pass) => ("pass", "32"),
        Some(Status::Warn) => ("warn", "33"),
        Some(Status::Fail) => ("FAIL", "1;31"),
        Some(Status::Inconclusive) => ("inconcl", "35"),
        Some(Status::Info | Status::NotApplicable) => ("-", "2"),
    };
    paint(&format!("{text:<width$}"), code, color)
}

fn area_rank(id: CheckId) -> usize {
    let area = catalogue::info(id).area;
    AREA_ORDER
        .iter()
        .position(|a| *a == area)
        .unwrap_or(AREA_ORDER.len())
}

/// One problem to show: a check that failed or warned, the first domain it did so on (in the
/// audit's order), and the other domains with the same problem.
struct Headline<'a> {
    domain: &'a str,
    finding: &'a FindingView,
    also: Vec<&'a str>,
}

/// The findings that matter most: failures before warnings, then the foundations before what
/// rests on them (a bogus zone makes its SPF and DMARC records invisible too: the DNSSEC fix
/// comes first), then high severity before low. One headline per check, so that one problem seen on
/// four domains does not crowd out the rest. Inconclusive findings have no fix to show; they
/// are counted below the table instead.
fn headlines(doc: &AuditDocument) -> Vec<Headline<'_>> {
    // A domain whose zone fails validation has one problem to fix first: until then receivers
    // see none of its records, and its other failures are mostly that one seen again.
    let bogus: Vec<bool> = doc
        .domains
        .iter()
        .map(|d| {
            d.findings
                .iter()
                .any(|f| f.id == CheckId::DnssecZone && f.status == Status::Fail)
        })
        .collect();
    let mut candidates: Vec<(usize, &str, &FindingView)> = doc
        .domains
        .iter()
        .enumerate()
        .flat_map(|(i, d)| d.findings.iter().map(move |f| (i, d.domain.as_str(), f)))
        .filter(|(_, _, f)| matches!(f.status, Status::Fail | Status::Warn))
        .filter(|(i, _, f)| f.id == CheckId::DnssecZone || !bogus[*i])
        .collect();
    candidates.sort_by_key(|(i, _, f)| {
        (
            std::cmp::Reverse(f.status.rank()),
            area_rank(f.id),
            std::cmp::Reverse(f.severity),
            f.id,
            *i,
        )
    });
    let mut out: Vec<Headline<'_>> = Vec::new();
    for (_, domain, finding) in candidates {
        let same = |h: &&mut Headline<'_>| {
            h.finding.id == finding.id && h.finding.status == finding.status
        };
        match out.iter_mut().find(same) {
            Some(h) => {
                if h.domain != domain && !h.also.contains(&domain) {
                    h.also.push(domain);
                }
            }
            None => out.push(Headline {
                domain,
                finding,
                also: Vec::new(),
            }),
        }
    }
    out.truncate(TOP);
    out
}

/// The overview as text. `details_cmd` and `json_cmd` are the commands that show the rest.
pub fn render(doc: &AuditDocument, color: bool, details_cmd: &str, json_cmd: &str) -> String {
    let mut s = String::new();
    let name_width = doc
        .domains
        .iter()
        .map(|d| d.domain.len())
        .max()
        .unwrap_or(0)
        .max("domain".len())
        + 2;
    const WIDTH: usize = 10;
    let _ = write!(
        s,
        "{}",
        paint(&format!("{:<name_width$}", "domain"), "1", color)
    );
    for (title, _) in COLUMNS {
        let _ = write!(s, "{}", paint(&format!("{title:<WIDTH$}"), "1", color));
    }
    s.truncate(s.trim_end().len());
    s.push('\n');
    let (mut fail, mut warn, mut inconclusive) = (0, 0, 0);
    for d in &doc.domains {
        let mut row = format!("{:<name_width$}", d.domain);
        for (_, areas) in COLUMNS {
            row.push_str(&cell(area_verdict(&d.findings, areas), WIDTH, color));
        }
        s.push_str(row.trim_end());
        s.push('\n');
        for f in &d.findings {
            match f.status {
                Status::Fail => fail += 1,
                Status::Warn => warn += 1,
                Status::Inconclusive => inconclusive += 1,
                _ => {}
            }
        }
    }
    let _ = writeln!(
        s,
        "\n{} domains: {fail} checks failed, {warn} warned, {inconclusive} inconclusive \
         (inconcl: nothing could be decided: a server did not answer, or, for DKIM, the \
         selectors are not known; give them with --selector).",
        doc.domains.len()
    );
    let top = headlines(doc);
    if top.is_empty() {
        let _ = writeln!(s, "\nNothing failed or warned.");
    } else {
        let _ = writeln!(
            s,
            "\n{}",
            paint(
                "What to fix first (of everything the audit found):",
                "1",
                color
            )
        );
    }
    for (n, h) in top.iter().enumerate() {
        let subject = h
            .finding
            .subject
            .as_deref()
            .map(|x| format!(" [{x}]"))
            .unwrap_or_default();
        let also = if h.also.is_empty() {
            String::new()
        } else {
            format!(" (also {})", h.also.join(", "))
        };
        let label = match h.finding.status {
            Status::Fail => paint("FAIL", "1;31", color),
            _ => paint("warn", "33", color),
        };
        let _ = writeln!(
            s,
            "{}. {label} {} {}{subject}{also}: {}",
            n + 1,
            h.domain,
            h.finding.id,
            h.finding.summary
        );
        if let Some(fix) = &h.finding.remediation {
            let mut lines = fix.lines();
            if let Some(first) = lines.next() {
                let _ = writeln!(s, "   {} {first}", paint("fix:", "1", color));
            }
            for line in lines {
                let _ = writeln!(s, "        {line}");
            }
        }
    }
    let _ = writeln!(
        s,
        "\nEvery finding with its evidence and fix: {details_cmd}\nThe same as JSON: {json_cmd}"
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(json: serde_json::Value) -> AuditDocument {
        match serde_json::from_value(json) {
            Ok(d) => d,
            Err(e) => panic!("test document does not parse: {e}"),
        }
    }

    fn finding(id: &str, status: &str, severity: &str) -> serde_json::Value {
        serde_json::json!({
            "id": id, "title": "t", "status": status, "severity": severity,
            "references": [], "summary": format!("{id} is {status}"), "evidence": {},
            "remediation": format!("fix {id}\nsecond line"),
        })
    }

    fn sample() -> AuditDocument {
        doc(serde_json::json!({
            "schema": 1,
            "tool": "mailtrust test",
            "domains": [
                { "domain": "good.test", "findings": [
                    finding("dnssec.zone", "pass", "info"),
                    finding("spf.present", "pass", "info"),
                    finding("smtp.starttls", "pass", "info"),
                    finding("imap.tls", "pass", "info"),
                    finding("mx.null", "not-applicable", "info"),
                ]},
                { "domain": "weak.test", "findings": [
                    finding("dnssec.zone", "warn", "medium"),
                    finding("spf.ptr", "warn", "low"),
                    finding("dmarc.policy", "fail", "high"),
                    finding("smtp.starttls", "inconclusive", "info"),
                    finding("imap.tls", "fail", "high"),
                ]},
                { "domain": "bogus.test", "findings": [
                    finding("dnssec.zone", "fail", "medium"),
                    finding("spf.present", "fail", "high"),
                ]},
                { "domain": "insecure.test", "findings": [
                    finding("dnssec.zone", "warn", "medium"),
                    finding("dmarc.policy", "fail", "high"),
                ]},
            ]
        }))
    }

    #[test]
    fn each_column_is_the_worst_verdict_of_its_areas() {
        let d = sample();
        let cols: Vec<Option<Status>> = COLUMNS
            .iter()
            .map(|(_, areas)| area_verdict(&d.domains[1].findings, areas))
            .collect();
        assert_eq!(
            cols,
            vec![
                Some(Status::Warn),
                None,
                Some(Status::Warn),
                None,
                Some(Status::Fail),
                // access (imap.tls) is transport: its failure beats the inconclusive probe.
                Some(Status::Fail),
            ]
        );
        // Not applicable alone is no verdict.
        assert_eq!(area_verdict(&d.domains[0].findings, &["mx"]), None);
    }

    #[test]
    fn headlines_put_failures_and_foundations_first_once_per_check() {
        let d = sample();
        let top = headlines(&d);
        let got: Vec<(&str, &str, Vec<&str>)> = top
            .iter()
            .map(|h| (h.domain, h.finding.id.as_str(), h.also.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                // Failures first, DNSSEC under everything, then DMARC before access; one line
                // for a check that failed on two domains. The bogus domain's SPF failure is its
                // DNSSEC failure again, and the two DNSSEC warnings come after every failure.
                ("bogus.test", "dnssec.zone", vec![]),
                ("weak.test", "dmarc.policy", vec!["insecure.test"]),
                ("weak.test", "imap.tls", vec![]),
            ]
        );
    }

    #[test]
    fn warnings_are_headlines_only_after_every_failure_and_apart_from_them() {
        let d = doc(serde_json::json!({"domains": [
            {"domain": "a.test", "findings": [finding("dnssec.zone", "warn", "medium")]},
            {"domain": "b.test", "findings": [finding("dnssec.zone", "fail", "medium")]},
        ]}));
        let got: Vec<(&str, Status, Vec<&str>)> = headlines(&d)
            .iter()
            .map(|h| (h.domain, h.finding.status, h.also.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("b.test", Status::Fail, vec![]),
                ("a.test", Status::Warn, vec![])
            ]
        );
    }

    #[test]
    fn the_overview_is_short_and_says_where_the_rest_is() {
        let text = render(&sample(), false, "DETAILS", "JSON");
        assert!(text.lines().count() < 25, "{text}");
        assert!(text.starts_with("domain"), "{text}");
        let weak = text
            .lines()
            .find(|l| l.starts_with("weak.test"))
            .unwrap_or_default();
        assert_eq!(
            weak.split_whitespace().collect::<Vec<_>>(),
            ["weak.test", "warn", "-", "warn", "-", "FAIL", "FAIL"]
        );
        assert!(text.contains("2. FAIL weak.test dmarc.policy (also insecure.test)"));
        assert!(text.contains("   fix: fix dmarc.policy\n        second line\n"));
        assert!(text.contains("4 domains: 5 checks failed, 3 warned, 1 inconclusive"));
        assert!(text.contains("DETAILS") && text.contains("JSON"));
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn a_clean_run_says_nothing_failed() {
        let d = doc(serde_json::json!({"domains": [
            {"domain": "good.test", "findings": [finding("spf.present", "pass", "info")]}
        ]}));
        assert!(render(&d, false, "D", "J").contains("Nothing failed or warned."));
    }

    #[test]
    fn an_unknown_check_id_is_an_error_not_a_guess() {
        let r: Result<AuditDocument, _> = serde_json::from_value(serde_json::json!({"domains": [
            {"domain": "x.test", "findings": [finding("no.such", "pass", "info")]}
        ]}));
        assert!(r.is_err());
    }
}
