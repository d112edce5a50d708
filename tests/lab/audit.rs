//! `mailtrust audit` against the lab's scenario domains: each check's status and key evidence.

use std::time::{Duration, Instant};

use libtest_mimic::Failed;
use serde_json::Value;

use std::process::Command;

use super::{BIN, Lab, in_lab};

/// Runs `mailtrust audit --json` on `domains` inside the lab with the lab's resolver and
/// anchor and `extra` arguments; returns (exit code, domain reports, stderr, time taken).
pub(super) fn run_audit(
    lab: &Lab,
    domains: &[&str],
    extra: &[&str],
) -> (i32, Vec<Value>, String, Duration) {
    let anchor = lab.anchor().to_string_lossy().to_string();
    let resolver = lab.resolver();
    let mut args = vec![
        "audit",
        "--json",
        "--resolver",
        &resolver,
        "--trust-anchor",
        &anchor,
        "--timeout",
        "2",
        "--deadline",
        "6",
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(domains);
    let start = Instant::now();
    let (out, _) = in_lab(lab, &args);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let reports = json["domains"].as_array().cloned().unwrap_or_default();
    (
        out.status.code().unwrap_or(-1),
        reports,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        start.elapsed(),
    )
}

/// The DNS checks only; the probes have their own tests (transport.rs).
fn audit(lab: &Lab, domains: &[&str], extra: &[&str]) -> (i32, Vec<Value>, String, Duration) {
    let mut args = vec!["--dns-only"];
    args.extend_from_slice(extra);
    run_audit(lab, domains, &args)
}

fn report<'a>(reports: &'a [Value], domain: &str) -> Result<&'a Value, Failed> {
    reports
        .iter()
        .find(|r| r["domain"] == domain)
        .ok_or_else(|| Failed::from(format!("no report for {domain}: {reports:?}")))
}

/// The status of check `id` (with `subject` if given); several findings must agree.
fn status(r: &Value, id: &str, subject: Option<&str>) -> Result<String, Failed> {
    let matching: Vec<&Value> = r["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["id"] == id && subject.is_none_or(|s| f["subject"] == s))
        .collect();
    match matching.as_slice() {
        [one] => Ok(one["status"].as_str().unwrap_or("").to_string()),
        [] => Err(Failed::from(format!(
            "{}: no finding {id} {subject:?}: {}",
            r["domain"], r["findings"]
        ))),
        many => Err(Failed::from(format!(
            "{}: {} findings {id} {subject:?}",
            r["domain"],
            many.len()
        ))),
    }
}

fn finding<'a>(r: &'a Value, id: &str) -> Option<&'a Value> {
    r["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["id"] == id)
}

macro_rules! expect_status {
    ($r:expr, $id:expr, $subject:expr, $want:expr) => {{
        let subject: Option<&str> = $subject;
        let got = status($r, $id, subject)?;
        if got != $want {
            return Err(Failed::from(format!(
                "{} {} {:?}: expected {}, got {}\n{}",
                $r["domain"], $id, subject, $want, got, $r
            )));
        }
    }};
}

pub fn findings_have_the_documented_shape(lab: &Lab) -> Result<(), Failed> {
    let (_, reports, stderr, _) = audit(lab, &["signed.test"], &[]);
    let r = report(&reports, "signed.test").map_err(|e| Failed::from(format!("{e:?} {stderr}")))?;
    if r["schema"] != 1 {
        return Err(Failed::from(format!("schema 1: {r}")));
    }
    for f in r["findings"].as_array().into_iter().flatten() {
        for key in [
            "id",
            "status",
            "references",
            "evidence",
            "title",
            "severity",
            "summary",
        ] {
            if f.get(key).is_none() {
                return Err(Failed::from(format!("finding lacks {key}: {f}")));
            }
        }
        if f["references"].as_array().is_none_or(Vec::is_empty) {
            return Err(Failed::from(format!("finding without references: {f}")));
        }
    }
    Ok(())
}

pub fn secure_domain_passes_dns_checks(lab: &Lab) -> Result<(), Failed> {
    let (code, reports, stderr, _) = audit(
        lab,
        &["signed.test"],
        &["--address", "hugh@signed.test", "--selector", "sel2048"],
    );
    let r = report(&reports, "signed.test")?;
    expect_status!(r, "domain.exists", None, "pass");
    expect_status!(r, "dnssec.zone", None, "pass");
    expect_status!(r, "mx.present", None, "pass");
    expect_status!(r, "mx.cname", Some("mail.signed.test"), "pass");
    expect_status!(r, "mx.resolvable", Some("mail.signed.test"), "pass");
    expect_status!(r, "dane.tlsa", Some("mail.signed.test"), "pass");
    expect_status!(r, "smimea.record", Some("hugh@signed.test"), "pass");
    expect_status!(r, "openpgpkey.record", Some("hugh@signed.test"), "info");
    let ev = &finding(r, "dnssec.zone")
        .map(|f| f["evidence"]["lookups"][0].clone())
        .unwrap_or(Value::Null);
    if ev["dnssec"] != "secure" || ev["query"] != "signed.test. SOA" {
        return Err(Failed::from(format!(
            "evidence carries the lookup and its DNSSEC status: {ev}"
        )));
    }
    // Only this run's failures count: signed.test has none of the DNS kind checked so far.
    if r["summary"]["fail"] != 0 || code != 0 {
        return Err(Failed::from(format!(
            "no failures, exit 0; got exit {code}: {} {stderr}",
            r["summary"]
        )));
    }
    Ok(())
}

pub fn unsigned_zone_warns_with_a_fix(lab: &Lab) -> Result<(), Failed> {
    let (_, reports, _, _) = audit(lab, &["unsigned.test"], &[]);
    let r = report(&reports, "unsigned.test")?;
    expect_status!(r, "dnssec.zone", None, "warn");
    expect_status!(r, "dane.tlsa", Some("mail.unsigned.test"), "warn");
    let fix = finding(r, "dnssec.zone")
        .and_then(|f| f["remediation"].as_str())
        .unwrap_or("");
    if !fix.contains("DS record") {
        return Err(Failed::from(format!(
            "remediation says what to publish: {fix}"
        )));
    }
    Ok(())
}

pub fn bogus_zones_fail_with_the_reason(lab: &Lab) -> Result<(), Failed> {
    let (code, reports, _, _) = audit(lab, &["expired.test", "bad-ds.test"], &[]);
    for (d, words) in [("expired.test", "expired"), ("bad-ds.test", "DS mismatch")] {
        let r = report(&reports, d)?;
        expect_status!(r, "dnssec.zone", None, "fail");
        expect_status!(r, "mx.present", None, "fail");
        let summary = finding(r, "dnssec.zone")
            .and_then(|f| f["summary"].as_str())
            .unwrap_or("");
        if !summary.contains(words) {
            return Err(Failed::from(format!("{d}: the reason is named: {summary}")));
        }
    }
    if code != 1 {
        return Err(Failed::from(format!(
            "exit 1 when something failed, got {code}"
        )));
    }
    Ok(())
}

pub fn lame_domain_is_inconclusive_never_failed(lab: &Lab) -> Result<(), Failed> {
    let (code, reports, _, elapsed) = audit(lab, &["lame.test"], &[]);
    let r = report(&reports, "lame.test")?;
    for f in r["findings"].as_array().into_iter().flatten() {
        if f["status"] != "inconclusive" {
            return Err(Failed::from(format!(
                "lame.test: every finding inconclusive: {f}"
            )));
        }
    }
    if code != 3 {
        return Err(Failed::from(format!(
            "exit 3 (inconclusive, nothing failed), got {code}"
        )));
    }
    // Bounded: every lookup is capped at the 6 s deadline (and one retry of a bogus verdict);
    // this checks the bound, not speed.
    if elapsed > Duration::from_secs(40) {
        return Err(Failed::from(format!(
            "audit of a lame zone took {elapsed:?}"
        )));
    }
    let (_, reports, _, _) = audit(lab, &["mxlame.test"], &[]);
    let r = report(&reports, "mxlame.test")?;
    expect_status!(r, "mx.present", None, "pass");
    expect_status!(r, "mx.resolvable", Some("mail.lame.test"), "inconclusive");
    Ok(())
}

pub fn mx_edge_cases(lab: &Lab) -> Result<(), Failed> {
    let (_, reports, stderr, _) = audit(
        lab,
        &[
            "nullmx.test",
            "mixednull.test",
            "mxcname.test",
            "mxghost.test",
            "nomx.test",
            "NoMx.Test.",
        ],
        &[],
    );
    let r = report(&reports, "nullmx.test").map_err(|e| Failed::from(format!("{e:?} {stderr}")))?;
    expect_status!(r, "mx.present", None, "pass");
    expect_status!(r, "mx.null", None, "info");
    expect_status!(r, "mx.resolvable", None, "not-applicable");
    let r = report(&reports, "mixednull.test")?;
    expect_status!(r, "mx.null", None, "fail");
    let r = report(&reports, "mxcname.test")?;
    expect_status!(r, "mx.cname", Some("alias.mxcname.test"), "fail");
    let fix = finding(r, "mx.cname")
        .and_then(|f| f["remediation"].as_str())
        .unwrap_or("");
    if !fix.contains("mail.mxcname.test") {
        return Err(Failed::from(format!(
            "the fix names the canonical host: {fix}"
        )));
    }
    let r = report(&reports, "mxghost.test")?;
    expect_status!(r, "mx.resolvable", Some("ghost.mxghost.test"), "fail");
    expect_status!(r, "mx.resolvable", Some("mail.mxghost.test"), "pass");
    let r = report(&reports, "nomx.test")?;
    expect_status!(r, "mx.present", None, "warn");
    // Input is normalised: the second spelling is the same domain.
    let n = reports
        .iter()
        .filter(|r| r["domain"] == "nomx.test")
        .count();
    if n != 2 {
        return Err(Failed::from(format!(
            "NoMx.Test. normalised to nomx.test: {n} reports"
        )));
    }
    Ok(())
}

pub fn nonexistent_domain_fails_once(lab: &Lab) -> Result<(), Failed> {
    let (code, reports, _, _) = audit(lab, &["nonexistent.test"], &[]);
    let r = report(&reports, "nonexistent.test")?;
    expect_status!(r, "domain.exists", None, "fail");
    let others = r["findings"]
        .as_array()
        .map(|f| f.iter().filter(|f| f["status"] == "fail").count())
        .unwrap_or(0);
    if others != 1 || code != 1 {
        return Err(Failed::from(format!(
            "one failure and exit 1: {others} failures, exit {code}"
        )));
    }
    Ok(())
}

pub fn jsonl_and_csv_stream_one_line_per_domain(lab: &Lab) -> Result<(), Failed> {
    let anchor = lab.anchor().to_string_lossy().to_string();
    let resolver = lab.resolver();
    let dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
    let input = dir.path().join("list.csv");
    std::fs::write(
        &input,
        // A byte-order mark and a comment before the header, as spreadsheets and people write.
        "\u{feff}# exported list\nrank,domain\n1,signed.test\n2,unsigned.test\n3,not a domain!\n4,\"nullmx.test\"\n",
    )
    .map_err(|e| Failed::from(e.to_string()))?;
    let input_s = input.to_string_lossy().to_string();
    let base = [
        "audit",
        "--resolver",
        &resolver,
        "--trust-anchor",
        &anchor,
        "--input",
        &input_s,
        "--dns-only",
    ];
    let (out, _) = in_lab(lab, &[&base[..], &["--jsonl"]].concat());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    if lines.len() != 3 || stdout.lines().count() != 3 {
        return Err(Failed::from(format!("three JSON lines: {stdout}")));
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !stderr.contains("list.csv:5") || out.status.code() != Some(2) {
        return Err(Failed::from(format!(
            "the bad line is named and the exit is 2: {:?} {stderr}",
            out.status.code()
        )));
    }
    let (out, _) = in_lab(lab, &[&base[..], &["--csv"]].concat());
    let csv = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = csv.lines().collect();
    if rows.len() != 4 || !rows[0].starts_with("domain,worst,") {
        return Err(Failed::from(format!("header and three rows: {csv}")));
    }
    let width = rows[0].split(',').count();
    if rows.iter().any(|r| r.split(',').count() != width) {
        return Err(Failed::from(format!(
            "every row as wide as the header: {csv}"
        )));
    }
    Ok(())
}

/// Real output, of every kind of domain, validates against docs/audit-report.schema.json.
pub fn output_matches_the_json_schema(lab: &Lab) -> Result<(), Failed> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/audit-report.schema.json"
    );
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(path).map_err(|e| Failed::from(e.to_string()))?,
    )
    .map_err(|e| Failed::from(format!("schema is JSON: {e}")))?;
    let validator = jsonschema::validator_for(&schema)
        .map_err(|e| Failed::from(format!("schema compiles: {e}")))?;
    let (_, reports, _, _) = audit(
        lab,
        &[
            "signed.test",
            "unsigned.test",
            "expired.test",
            "lame.test",
            "nullmx.test",
            "mxcname.test",
            "nonexistent.test",
        ],
        &["--address", "hugh@signed.test"],
    );
    if reports.len() != 7 {
        return Err(Failed::from(format!(
            "seven reports, got {}",
            reports.len()
        )));
    }
    for r in &reports {
        let errors: Vec<String> = validator
            .iter_errors(r)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if !errors.is_empty() {
            return Err(Failed::from(format!(
                "{} does not match the schema: {errors:?}",
                r["domain"]
            )));
        }
    }
    // And the schema is strict enough to catch a wrong status.
    let mut broken = reports[0].clone();
    broken["findings"][0]["status"] = Value::from("maybe");
    if validator.is_valid(&broken) {
        return Err(Failed::from("the schema accepted status \"maybe\""));
    }
    Ok(())
}

pub fn spf_checks(lab: &Lab) -> Result<(), Failed> {
    let domains = [
        "signed.test",
        "spfsoft.test",
        "nospf.test",
        "spftwo.test",
        "spfsyntax.test",
        "spfmany.test",
        "spfdeep.test",
        "spfloop.test",
        "spfvoid.test",
        "spfptr.test",
        "spfredirect.test",
        "spfneutral.test",
        "spfbig.test",
        "nullmx.test",
        "nullmxnospf.test",
    ];
    let (_, reports, stderr, _) = audit(lab, &domains, &[]);
    let r = report(&reports, "signed.test").map_err(|e| Failed::from(format!("{e:?} {stderr}")))?;
    for id in [
        "spf.present",
        "spf.single",
        "spf.syntax",
        "spf.lookups",
        "spf.void-lookups",
        "spf.all",
        "spf.ptr",
        "spf.size",
    ] {
        expect_status!(r, id, None, "pass");
    }
    expect_status!(r, "spf.non-sending", None, "not-applicable");
    expect_status!(report(&reports, "spfsoft.test")?, "spf.all", None, "warn");
    let r = report(&reports, "nospf.test")?;
    expect_status!(r, "spf.present", None, "fail");
    let fix = finding(r, "spf.present")
        .and_then(|f| f["remediation"].as_str())
        .unwrap_or("");
    if !fix.contains("v=spf1") {
        return Err(Failed::from(format!("the fix is a record to paste: {fix}")));
    }
    expect_status!(report(&reports, "spftwo.test")?, "spf.single", None, "fail");
    expect_status!(
        report(&reports, "spfsyntax.test")?,
        "spf.syntax",
        None,
        "fail"
    );
    for d in ["spfmany.test", "spfdeep.test", "spfloop.test"] {
        let r = report(&reports, d)?;
        expect_status!(r, "spf.lookups", None, "fail");
        let f = finding(r, "spf.lookups").cloned().unwrap_or(Value::Null);
        if !f["summary"].as_str().unwrap_or("").contains("cut at")
            || f["evidence"]["data"]["children"].as_array().is_none()
        {
            return Err(Failed::from(format!(
                "{d}: the tree is shown and where it was cut: {f}"
            )));
        }
    }
    // The count at each node: the first include of spfmany.test is lookup 1 of 11.
    let tree = finding(report(&reports, "spfmany.test")?, "spf.lookups")
        .map(|f| f["evidence"]["data"].clone())
        .unwrap_or(Value::Null);
    if tree["lookups"] != 11 || tree["children"].as_array().map(Vec::len) != Some(10) {
        return Err(Failed::from(format!(
            "11 terms counted at the top, 10 includes walked: {tree}"
        )));
    }
    expect_status!(
        report(&reports, "spfvoid.test")?,
        "spf.void-lookups",
        None,
        "fail"
    );
    expect_status!(report(&reports, "spfptr.test")?, "spf.ptr", None, "warn");
    let r = report(&reports, "spfredirect.test")?;
    expect_status!(r, "spf.all", None, "pass");
    expect_status!(r, "spf.lookups", None, "pass");
    expect_status!(
        report(&reports, "spfneutral.test")?,
        "spf.all",
        None,
        "fail"
    );
    let r = report(&reports, "spfbig.test")?;
    expect_status!(r, "spf.present", None, "pass");
    expect_status!(r, "spf.size", None, "warn");
    expect_status!(
        report(&reports, "nullmx.test")?,
        "spf.non-sending",
        None,
        "pass"
    );
    expect_status!(
        report(&reports, "nullmxnospf.test")?,
        "spf.non-sending",
        None,
        "fail"
    );
    // An include reached along two branches is no loop (RFC 7208 §4.6.4 only counts it).
    let (_, more, _, _) = audit(lab, &["spfdiamond.test", "spfredirsoft.test"], &[]);
    let r = report(&more, "spfdiamond.test")?;
    expect_status!(r, "spf.syntax", None, "pass");
    expect_status!(r, "spf.lookups", None, "pass");
    // The fix goes to the record that decides, not beside the redirect (§6.1 would switch it off).
    let r = report(&more, "spfredirsoft.test")?;
    expect_status!(r, "spf.all", None, "warn");
    let fix = finding(r, "spf.all")
        .and_then(|f| f["remediation"].as_str())
        .unwrap_or("");
    if !fix.contains("_spf.spfredirsoft.test. 3600 IN TXT \"v=spf1 mx -all\"") {
        return Err(Failed::from(format!("fix for the deciding record: {fix}")));
    }
    Ok(())
}

pub fn dmarc_checks(lab: &Lab) -> Result<(), Failed> {
    let domains = [
        "signed.test",
        "spfsoft.test",
        "nospf.test",
        "dmarcext.test",
        "dmarcbad.test",
        "www.signed.test",
        "unsigned.test",
        "nomx.test",
        "cnameloop.test",
        "dmarccname.test",
    ];
    let (_, reports, stderr, _) = audit(lab, &domains, &[]);
    let r = report(&reports, "signed.test").map_err(|e| Failed::from(format!("{e:?} {stderr}")))?;
    for id in [
        "dmarc.present",
        "dmarc.syntax",
        "dmarc.policy",
        "dmarc.subdomain-policy",
        "dmarc.pct",
        "dmarc.rua",
    ] {
        expect_status!(r, id, None, "pass");
    }
    expect_status!(r, "dmarc.alignment", None, "info");
    expect_status!(r, "dmarc.rua-authorized", Some("signed.test"), "pass");
    let r = report(&reports, "spfsoft.test")?;
    expect_status!(r, "dmarc.policy", None, "warn");
    expect_status!(r, "dmarc.subdomain-policy", None, "warn");
    expect_status!(r, "dmarc.pct", None, "warn");
    let r = report(&reports, "nospf.test")?;
    expect_status!(r, "dmarc.policy", None, "fail");
    expect_status!(r, "dmarc.rua", None, "warn");
    let r = report(&reports, "dmarcext.test")?;
    expect_status!(r, "dmarc.rua-authorized", Some("signed.test"), "pass");
    expect_status!(r, "dmarc.rua-authorized", Some("unsigned.test"), "fail");
    let fix = r["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["subject"] == "unsigned.test" && f["id"] == "dmarc.rua-authorized")
        .and_then(|f| f["remediation"].as_str())
        .unwrap_or("");
    if !fix.contains("dmarcext.test._report._dmarc.unsigned.test") {
        return Err(Failed::from(format!(
            "the fix names the authorisation record: {fix}"
        )));
    }
    // p=block with a valid rua: p=none, a warning about syntax, not a syntax failure.
    let r = report(&reports, "dmarcbad.test")?;
    expect_status!(r, "dmarc.syntax", None, "warn");
    expect_status!(r, "dmarc.policy", None, "fail");
    // A subdomain without its own record inherits through the tree walk.
    let r = report(&reports, "www.signed.test")?;
    expect_status!(r, "dmarc.present", None, "pass");
    let s = finding(r, "dmarc.present")
        .and_then(|f| f["summary"].as_str())
        .unwrap_or("");
    if !s.contains("signed.test") {
        return Err(Failed::from(format!("names the policy domain: {s}")));
    }
    expect_status!(
        report(&reports, "unsigned.test")?,
        "dmarc.policy",
        None,
        "fail"
    );
    expect_status!(
        report(&reports, "nomx.test")?,
        "dmarc.present",
        None,
        "fail"
    );
    // RFC 9989's tree walk and RFC 7489's PSL rule disagree here; the evidence says so.
    let (_, dept, _, _) = audit(lab, &["host.dept.signed.test"], &[]);
    let r = report(&dept, "host.dept.signed.test")?;
    let f = finding(r, "dmarc.present").cloned().unwrap_or(Value::Null);
    if !f["summary"]
        .as_str()
        .unwrap_or("")
        .contains("dept.signed.test")
        || !f["evidence"]["notes"]
            .to_string()
            .contains("RFC 7489 receivers")
    {
        return Err(Failed::from(format!(
            "tree walk finds dept.signed.test, and the RFC 7489 difference is noted: {f}"
        )));
    }
    // `_dmarc CNAME policy` in the same signed zone: a secure record like any other (issue 10:
    // hickory's validator called it bogus, and dmarc.present failed).
    let r = report(&reports, "dmarccname.test")?;
    for id in ["dmarc.present", "dmarc.syntax", "dmarc.policy"] {
        expect_status!(r, id, None, "pass");
    }
    // A CNAME loop is an unusable answer, never "no record".
    let r = report(&reports, "cnameloop.test")?;
    let st = status(r, "dmarc.present", None)?;
    if st != "inconclusive" && st != "fail" {
        return Err(Failed::from(format!("cnameloop: {st}")));
    }
    Ok(())
}

pub fn dkim_checks(lab: &Lab) -> Result<(), Failed> {
    let domains = [
        "signed.test",
        "dkimweak.test",
        "dkimed.test",
        "dkimpair.test",
        "dkimsha1.test",
        "dkimtest.test",
        "dkimcname.test",
        "unsigned.test",
    ];
    let (_, reports, stderr, _) = audit(
        lab,
        &domains,
        &[
            "--selector",
            "sel2048",
            "--selector",
            "weak",
            "--selector",
            "old",
        ],
    );
    let r = report(&reports, "signed.test").map_err(|e| Failed::from(format!("{e:?} {stderr}")))?;
    expect_status!(r, "dkim.key", Some("sel2048"), "pass");
    let s = r["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["subject"] == "sel2048")
        .map(|f| f["summary"].clone())
        .unwrap_or_default();
    if s != "RSA 2048 bits" {
        return Err(Failed::from(format!("the key size is shown: {s}")));
    }
    expect_status!(r, "dkim.key", Some("weak"), "fail");
    expect_status!(
        report(&reports, "dkimweak.test")?,
        "dkim.key",
        Some("weak"),
        "fail"
    );
    expect_status!(
        report(&reports, "dkimed.test")?,
        "dkim.key",
        Some("ed25519"),
        "warn"
    );
    let r = report(&reports, "dkimpair.test")?;
    expect_status!(r, "dkim.key", Some("rsa"), "pass");
    expect_status!(r, "dkim.key", Some("ed25519"), "pass");
    expect_status!(
        report(&reports, "dkimsha1.test")?,
        "dkim.key",
        Some("s1"),
        "fail"
    );
    let r = report(&reports, "dkimtest.test")?;
    expect_status!(r, "dkim.key", Some("default"), "warn");
    expect_status!(r, "dkim.key", Some("old"), "info");
    let r = report(&reports, "dkimcname.test")?;
    expect_status!(r, "dkim.key", Some("selector1"), "pass");
    let notes = r["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["subject"] == "selector1")
        .map(|f| f["evidence"]["notes"].to_string())
        .unwrap_or_default();
    if !notes.contains("selector1._domainkey.provider.signed.test") {
        return Err(Failed::from(format!("the CNAME target is named: {notes}")));
    }
    // No key anywhere: inconclusive, never a failure.
    let (_, reports, _, _) = audit(lab, &["unsigned.test"], &[]);
    let r = report(&reports, "unsigned.test")?;
    let statuses: Vec<String> = r["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["id"] == "dkim.key" && f["subject"].is_null())
        .map(|f| f["status"].as_str().unwrap_or("").to_string())
        .collect();
    if statuses != ["inconclusive"] {
        return Err(Failed::from(format!(
            "unsigned.test dkim.key without subject: {statuses:?}"
        )));
    }
    Ok(())
}

pub fn mta_sts_tls_rpt_and_bod(lab: &Lab) -> Result<(), Failed> {
    let (_, reports, stderr, _) = audit(
        lab,
        &["signed.test", "stsbad.test", "unsigned.test", "bod.test"],
        &[],
    );
    let r = report(&reports, "signed.test").map_err(|e| Failed::from(format!("{e:?} {stderr}")))?;
    expect_status!(r, "mta-sts.record", None, "pass");
    expect_status!(r, "tls-rpt.record", None, "pass");
    expect_status!(r, "bod1801.summary", None, "info");
    let r = report(&reports, "stsbad.test")?;
    expect_status!(r, "mta-sts.record", None, "fail");
    expect_status!(r, "tls-rpt.record", None, "fail");
    let r = report(&reports, "unsigned.test")?;
    expect_status!(r, "mta-sts.record", None, "warn");
    expect_status!(r, "tls-rpt.record", None, "warn");
    let s = finding(r, "bod1801.summary")
        .and_then(|f| f["summary"].as_str())
        .unwrap_or("");
    if !s.contains("would not meet") || !s.contains("reports@dmarc.cyber.dhs.gov") {
        return Err(Failed::from(format!("says what BOD 18-01 misses: {s}")));
    }
    let r = report(&reports, "bod.test")?;
    let f = finding(r, "bod1801.summary")
        .cloned()
        .unwrap_or(Value::Null);
    if !f["summary"].as_str().unwrap_or("").contains("meets")
        || !f["evidence"]["notes"].to_string().contains("STARTTLS")
    {
        return Err(Failed::from(format!(
            "bod.test meets the DNS part, and says the STARTTLS part was not checked: {f}"
        )));
    }
    Ok(())
}

/// Ctrl-C stops cleanly: what finished is written as valid JSON Lines, nothing half-written.
/// The domains come on stdin, which stays open, so the run is still going when interrupted.
pub fn interrupt_leaves_valid_jsonl(lab: &Lab) -> Result<(), Failed> {
    use std::io::Write;
    let dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
    let out = dir.path().join("out.jsonl");
    let anchor = lab.anchor().to_string_lossy().to_string();
    // A session of its own, so that the interrupt reaches the whole group, as a terminal's
    // Ctrl-C does, and not the test harness.
    let mut child = Command::new("setsid")
        .arg(BIN)
        .args(["lab", "exec", "--state"])
        .arg(&lab.state)
        .arg("--")
        .arg(BIN)
        .args([
            "audit",
            "--jsonl",
            "--input",
            "-",
            "--resolver",
            &lab.resolver(),
            "--trust-anchor",
            &anchor,
            "--dns-only",
        ])
        .arg("-o")
        .arg(&out)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Failed::from(e.to_string()))?;
    let mut stdin = child.stdin.take().ok_or_else(|| Failed::from("no stdin"))?;
    stdin
        .write_all(b"signed.test\nunsigned.test\nnullmx.test\nspfsoft.test\n")
        .map_err(|e| Failed::from(e.to_string()))?;
    stdin.flush().map_err(|e| Failed::from(e.to_string()))?;
    let count = || {
        std::fs::read_to_string(&out)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while count() < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let pgid = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-INT", "--", &pgid]).status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child
        .try_wait()
        .map_err(|e| Failed::from(e.to_string()))?
        .is_none()
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(stdin);
    let Some(status) = child.try_wait().ok().flatten() else {
        let _ = child.kill();
        return Err(Failed::from(
            "the audit did not stop within 20 s of the interrupt",
        ));
    };
    if status.code() != Some(130) {
        return Err(Failed::from(format!(
            "exit 130 after Ctrl-C, passed on by lab exec; got {status:?}"
        )));
    }
    // The inner audit may still be finishing after the outer process is gone.
    std::thread::sleep(Duration::from_secs(1));
    let text = std::fs::read_to_string(&out).map_err(|e| Failed::from(e.to_string()))?;
    if text.lines().count() != 4 || !text.ends_with('\n') {
        return Err(Failed::from(format!(
            "the four finished domains, whole lines: {text:?}"
        )));
    }
    for l in text.lines() {
        let v: Value = serde_json::from_str(l)
            .map_err(|e| Failed::from(format!("invalid line {l:?}: {e}")))?;
        if v["schema"] != 1 {
            return Err(Failed::from(format!("not a report: {l}")));
        }
    }
    // Nothing of the run is left behind.
    let ps = Command::new("pgrep")
        .args(["-f", "audit --jsonl --input -"])
        .output()
        .map_err(|e| Failed::from(e.to_string()))?;
    if !ps.stdout.is_empty() {
        return Err(Failed::from(format!(
            "still running after the interrupt: {}",
            String::from_utf8_lossy(&ps.stdout)
        )));
    }
    Ok(())
}
