//! Renderers of an audit: text for people, CSV for spreadsheets, the check catalogue, and a
//! progress bar. JSON is serde's rendering of the same types.

use std::fmt::Write;

use indicatif::{ProgressBar, ProgressStyle};
use mailtrust_audit::{CheckId, DomainReport, Finding, Status, catalogue};

pub(crate) fn paint(s: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

fn status_label(st: Status, color: bool) -> String {
    let (text, code) = match st {
        Status::Pass => ("pass", "32"),
        Status::Fail => ("FAIL", "1;31"),
        Status::Warn => ("warn", "33"),
        Status::Info => ("info", "36"),
        Status::Inconclusive => ("inconclusive", "35"),
        Status::NotApplicable => ("n/a", "2"),
    };
    paint(&format!("{text:<12}"), code, color)
}

const AREAS: &[(&str, &str)] = &[
    ("dns", "Domain"),
    ("dnssec", "DNSSEC"),
    ("mx", "Mail routing (MX)"),
    ("spf", "SPF"),
    ("dkim", "DKIM"),
    ("dmarc", "DMARC"),
    ("transport", "Transport security (SMTP, DANE, MTA-STS)"),
    (
        "access",
        "Mail access and submission (IMAP, POP3, submission)",
    ),
    ("e2e", "End-to-end (S/MIME, OpenPGP)"),
    ("summary", "Summary"),
];

/// The one-line summary of a domain.
pub fn summary_line(r: &DomainReport, color: bool) -> String {
    let s = &r.summary;
    let mut parts = Vec::new();
    if s.fail > 0 {
        parts.push(paint(&format!("{} failed", s.fail), "1;31", color));
    }
    if s.warn > 0 {
        parts.push(paint(&format!("{} warnings", s.warn), "33", color));
    }
    if s.inconclusive > 0 {
        parts.push(paint(
            &format!("{} inconclusive", s.inconclusive),
            "35",
            color,
        ));
    }
    parts.push(format!("{} passed", s.pass));
    format!("{}: {}", paint(&r.domain, "1", color), parts.join(", "))
}

fn finding_block(f: &Finding, color: bool, s: &mut String) {
    let subject = f
        .subject
        .as_deref()
        .map(|x| format!(" [{x}]"))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "    {} {}{}: {}",
        status_label(f.status, color),
        f.id,
        subject,
        f.summary
    );
    if matches!(f.status, Status::Fail | Status::Warn | Status::Inconclusive) {
        for n in &f.evidence.notes {
            let _ = writeln!(s, "{:17}{n}", "");
        }
        if let Some(fix) = &f.remediation {
            let _ = writeln!(s, "{:17}{} {fix}", "", paint("fix:", "1", color));
        }
    }
}

/// The text report of one domain: grouped by area, each failure with its fix.
pub fn human(r: &DomainReport, color: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", summary_line(r, color));
    for (area, title) in AREAS {
        let in_area: Vec<&Finding> = r
            .findings
            .iter()
            .filter(|f| catalogue::info(f.id).area == *area)
            .collect();
        if in_area.is_empty() {
            continue;
        }
        let _ = writeln!(s, "  {}", paint(title, "1", color));
        // Several checks left inconclusive by the same failed lookup are said once.
        let mut i = 0;
        while i < in_area.len() {
            let f = in_area[i];
            let same = in_area[i..]
                .iter()
                .take_while(|g| {
                    g.status == Status::Inconclusive
                        && f.status == Status::Inconclusive
                        && g.summary == f.summary
                        && g.subject == f.subject
                })
                .count();
            if same > 1 {
                let ids: Vec<&str> = in_area[i..i + same].iter().map(|g| g.id.as_str()).collect();
                let _ = writeln!(
                    s,
                    "    {} {}: {}",
                    status_label(Status::Inconclusive, color),
                    ids.join(", "),
                    f.summary
                );
                i += same;
            } else {
                finding_block(f, color, &mut s);
                i += 1;
            }
        }
    }
    s.push('\n');
    s
}

fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

/// CSV columns: domain, worst, the six counts, then the worst status per check id in catalogue
/// order (empty where the check did not run). Documented in docs/audit-output.md.
pub fn csv_header() -> String {
    let mut cols: Vec<String> = [
        "domain",
        "worst",
        "pass",
        "fail",
        "warn",
        "info",
        "inconclusive",
        "not_applicable",
    ]
    .iter()
    .map(|c| c.to_string())
    .collect();
    cols.extend(CheckId::ALL.iter().map(|c| c.as_str().to_string()));
    cols.join(",") + "\n"
}

pub fn csv_row(r: &DomainReport) -> String {
    let s = &r.summary;
    let by = r.worst_by_check();
    let mut cols = vec![
        csv_field(&r.domain),
        s.worst.map(|w| w.as_str().to_string()).unwrap_or_default(),
        s.pass.to_string(),
        s.fail.to_string(),
        s.warn.to_string(),
        s.info.to_string(),
        s.inconclusive.to_string(),
        s.not_applicable.to_string(),
    ];
    cols.extend(CheckId::ALL.iter().map(|c| {
        by.get(c)
            .map(|st| st.as_str().to_string())
            .unwrap_or_default()
    }));
    cols.join(",") + "\n"
}

pub fn catalogue_text() -> String {
    let mut s = String::new();
    for id in CheckId::ALL {
        let i = catalogue::info(*id);
        let _ = writeln!(s, "{:<24} {:<10} {}", i.id, i.area, i.title);
        let _ = writeln!(s, "{:<24} {}", "", i.references.join("; "));
    }
    s
}

/// The catalogue as docs/checks.md carries it.
pub fn catalogue_markdown() -> String {
    let mut s = String::from(
        "# Audit checks\n\nGenerated by `mailtrust audit --list-checks --markdown`; a test keeps it in step with the code.\n\
         References: NIST SP 800-177 Rev. 1 (February 2019) by section and security recommendation, RFC sections, CISA BOD 18-01.\n\n\
         | id | area | severity of a failure | meaning | references |\n|---|---|---|---|---|\n",
    );
    for id in CheckId::ALL {
        let i = catalogue::info(*id);
        let sev = serde_json::to_value(i.severity)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} | {} |",
            i.id,
            i.area,
            sev,
            i.meaning.replace('|', "\\|"),
            i.references.join("; ")
        );
    }
    s
}

/// A progress bar on stderr, only when stderr is a terminal and the output is not going there too.
pub struct Progress(Option<ProgressBar>);

impl Progress {
    pub fn new(total: Option<u64>, enabled: bool) -> Self {
        use std::io::IsTerminal;
        if !enabled || !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let bar = match total {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        let style = ProgressStyle::with_template(
            "{spinner} {pos}/{len} domains  {per_sec}  ETA {eta}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Self(Some(bar))
    }

    pub fn tick(&self, domain: &str) {
        if let Some(b) = &self.0 {
            b.inc(1);
            b.set_message(domain.to_string());
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_header_and_rows_have_the_same_width() {
        let r = DomainReport::new(
            "example.test".into(),
            vec![Finding::new(CheckId::MxPresent, Status::Fail, "x")],
        );
        let h = csv_header();
        let row = csv_row(&r);
        assert_eq!(h.split(',').count(), row.split(',').count());
        assert!(row.starts_with("example.test,fail,0,1,"));
        let mx_col = h
            .trim_end()
            .split(',')
            .position(|c| c == "mx.present")
            .unwrap();
        assert_eq!(row.trim_end().split(',').nth(mx_col), Some("fail"));
    }

    #[test]
    fn one_failed_lookup_is_said_once() {
        let r = DomainReport::new(
            "example.test".into(),
            vec![
                Finding::new(
                    CheckId::DmarcPresent,
                    Status::Inconclusive,
                    "_dmarc TXT: timeout",
                ),
                Finding::new(
                    CheckId::DmarcPolicy,
                    Status::Inconclusive,
                    "_dmarc TXT: timeout",
                ),
                Finding::new(
                    CheckId::DmarcRua,
                    Status::Inconclusive,
                    "_dmarc TXT: timeout",
                ),
            ],
        );
        let t = human(&r, false);
        assert_eq!(t.matches("_dmarc TXT: timeout").count(), 1, "{t}");
        assert!(t.contains("dmarc.present, dmarc.policy, dmarc.rua"), "{t}");
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
    }

    #[test]
    fn text_report_shows_fix_for_failures_only() {
        let r = DomainReport::new(
            "example.test".into(),
            vec![
                Finding::new(CheckId::MxPresent, Status::Fail, "no mx").fix("publish MX"),
                Finding::new(CheckId::DnssecZone, Status::Pass, "signed").fix("nothing"),
            ],
        );
        let t = human(&r, false);
        assert!(t.contains("fix: publish MX"), "{t}");
        assert!(!t.contains("fix: nothing"), "{t}");
        assert!(t.starts_with("example.test: 1 failed, 1 passed"), "{t}");
        assert!(!t.contains('\x1b'), "no colour when off");
    }
}
