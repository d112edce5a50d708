//! `mailtrust audit` transport checks against the lab's real Postfix, Dovecot and nginx (and the
//! hostile servers): each check's status per MX address, IPv4 and IPv6.

use std::time::Duration;

use libtest_mimic::Failed;
use serde_json::Value;

use super::Lab;

/// Runs a full `mailtrust audit --json` (probes included) with the lab's CA as the only root.
fn audit(lab: &Lab, domains: &[&str], extra: &[&str]) -> (i32, Vec<Value>, String, Duration) {
    let ca = lab.info["ca"].as_str().unwrap_or_default().to_string();
    let mut args = vec![
        "--ca-file",
        &ca,
        "--connect-timeout",
        "2",
        "--probe-timeout",
        "3",
    ];
    args.extend_from_slice(extra);
    super::audit::run_audit(lab, domains, &args)
}

fn report<'a>(reports: &'a [Value], domain: &str, stderr: &str) -> Result<&'a Value, Failed> {
    reports
        .iter()
        .find(|r| r["domain"] == domain)
        .ok_or_else(|| Failed::from(format!("no report for {domain}: {reports:?}\n{stderr}")))
}

/// Findings of `id` whose subject starts with `subject` (all of them when `None`).
fn findings<'a>(r: &'a Value, id: &str, subject: Option<&str>) -> Vec<&'a Value> {
    r["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| {
            f["id"] == id
                && subject.is_none_or(|s| f["subject"].as_str().is_some_and(|x| x.starts_with(s)))
        })
        .collect()
}

/// Every finding `id` (with a subject starting with `subject`) has status `want`, and there is
/// at least `min` of them; returns their summaries joined.
fn expect(
    r: &Value,
    id: &str,
    subject: Option<&str>,
    want: &str,
    min: usize,
) -> Result<String, Failed> {
    let got = findings(r, id, subject);
    if got.len() < min {
        return Err(Failed::from(format!(
            "{}: expected at least {min} {id} {subject:?}, got {}: {}",
            r["domain"],
            got.len(),
            serde_json::to_string_pretty(&r["findings"]).unwrap_or_default()
        )));
    }
    for f in &got {
        if f["status"] != want {
            return Err(Failed::from(format!(
                "{} {id}: expected {want}, got {}: {}",
                r["domain"],
                f["status"],
                serde_json::to_string_pretty(f).unwrap_or_default()
            )));
        }
    }
    Ok(got
        .iter()
        .filter_map(|f| f["summary"].as_str())
        .collect::<Vec<_>>()
        .join(" | "))
}

fn contains(text: &str, words: &str) -> Result<(), Failed> {
    if text.contains(words) {
        Ok(())
    } else {
        Err(Failed::from(format!("expected {words:?} in: {text}")))
    }
}

pub fn good_domain_passes_on_every_hop(lab: &Lab) -> Result<(), Failed> {
    let (code, reports, stderr, _) = audit(lab, &["tlsgood.test"], &["--only", "transport,access"]);
    let r = report(&reports, "tlsgood.test", &stderr)?;
    for ip in [
        "mail.tlsgood.test 127.0.0.20:25",
        "mail.tlsgood.test [fd00:6d74::20]:25",
    ] {
        expect(r, "smtp.starttls", Some(ip), "pass", 1)?;
        expect(r, "smtp.tls-version", Some(ip), "pass", 1)?;
        expect(r, "smtp.tls-ciphers", Some(ip), "pass", 1)?;
        expect(r, "smtp.certificate-expiry", Some(ip), "pass", 1)?;
        // DANE applies (secure MX, addresses and TLSA): the TLSA records decide.
        expect(r, "smtp.certificate", Some(ip), "info", 1)?;
        let s = expect(r, "dane.match", Some(ip), "pass", 1)?;
        contains(&s, "DANE-EE")?;
    }
    expect(r, "dane.rollover", Some("mail.tlsgood.test"), "pass", 1)?;
    let s = expect(r, "mta-sts.policy", None, "pass", 1)?;
    contains(&s, "enforce")?;
    expect(r, "tls-rpt.reachable", None, "pass", 2)?;
    for id in ["imap.tls", "pop3.tls", "submission.tls"] {
        expect(r, id, None, "pass", 2)?;
    }
    for id in [
        "imap.plaintext-auth",
        "pop3.plaintext-auth",
        "submission.plaintext-auth",
    ] {
        expect(r, id, None, "pass", 1)?;
    }
    if r["summary"]["fail"] != 0 || code != 0 {
        return Err(Failed::from(format!(
            "no failures and exit 0, got exit {code}: {}\n{stderr}",
            r["summary"]
        )));
    }
    Ok(())
}

pub fn certificate_problems_are_named(lab: &Lab) -> Result<(), Failed> {
    let (_, reports, stderr, _) = audit(
        lab,
        &["tlsexpired.test", "tlsname.test", "tlssoon.test"],
        &["--only", "transport"],
    );
    let r = report(&reports, "tlsexpired.test", &stderr)?;
    let s = expect(
        r,
        "smtp.certificate",
        Some("mail.tlsexpired.test"),
        "warn",
        2,
    )?;
    contains(&s, "expired")?;
    expect(
        r,
        "smtp.certificate-expiry",
        Some("mail.tlsexpired.test"),
        "fail",
        2,
    )?;
    let r = report(&reports, "tlsname.test", &stderr)?;
    let s = expect(r, "smtp.certificate", Some("mail.tlsname.test"), "warn", 2)?;
    contains(&s, "not mail.tlsname.test")?;
    let r = report(&reports, "tlssoon.test", &stderr)?;
    expect(r, "smtp.certificate", Some("mail.tlssoon.test"), "pass", 2)?;
    let s = expect(
        r,
        "smtp.certificate-expiry",
        Some("mail.tlssoon.test"),
        "warn",
        2,
    )?;
    contains(&s, "expires in")?;
    Ok(())
}

pub fn old_protocols_and_weak_suites_fail(lab: &Lab) -> Result<(), Failed> {
    let (code, reports, stderr, _) = audit(
        lab,
        &["tlsold.test", "tlsweak.test"],
        &["--only", "transport"],
    );
    let r = report(&reports, "tlsold.test", &stderr)?;
    let s = expect(r, "smtp.tls-version", Some("mail.tlsold.test"), "fail", 2)?;
    contains(&s, "TLSv1.0")?;
    let r = report(&reports, "tlsweak.test", &stderr)?;
    expect(r, "smtp.tls-version", Some("mail.tlsweak.test"), "pass", 2)?;
    let s = expect(r, "smtp.tls-ciphers", Some("mail.tlsweak.test"), "fail", 2)?;
    contains(&s, "NULL")?;
    if code != 1 {
        return Err(Failed::from(format!("exit 1 on failures, got {code}")));
    }
    Ok(())
}

pub fn missing_starttls_fails_and_dane_without_tls_fails(lab: &Lab) -> Result<(), Failed> {
    let (_, reports, stderr, _) = audit(
        lab,
        &["nostarttls.test", "danenotls.test"],
        &["--only", "transport"],
    );
    let r = report(&reports, "nostarttls.test", &stderr)?;
    let s = expect(r, "smtp.starttls", Some("mail.nostarttls.test"), "fail", 2)?;
    contains(&s, "does not offer STARTTLS")?;
    expect(
        r,
        "smtp.tls-version",
        Some("mail.nostarttls.test"),
        "not-applicable",
        2,
    )?;
    let r = report(&reports, "danenotls.test", &stderr)?;
    let s = expect(r, "dane.match", Some("mail.danenotls.test"), "fail", 2)?;
    contains(&s, "no STARTTLS")?;
    Ok(())
}

pub fn dane_verdicts_follow_rfc7672(lab: &Lab) -> Result<(), Failed> {
    let (_, reports, stderr, _) = audit(
        lab,
        &[
            "danebad.test",
            "daneta.test",
            "tlsabogus.test",
            "daneunsigned.test",
            "danecname.test",
        ],
        &["--only", "transport"],
    );
    let r = report(&reports, "danebad.test", &stderr)?;
    expect(r, "dane.match", Some("mail.danebad.test"), "fail", 2)?;
    let r = report(&reports, "daneta.test", &stderr)?;
    let s = expect(r, "dane.match", Some("mail.daneta.test"), "pass", 2)?;
    contains(&s, "DANE-TA")?;
    expect(r, "dane.rollover", Some("mail.daneta.test"), "pass", 1)?;
    let r = report(&reports, "tlsabogus.test", &stderr)?;
    let s = expect(r, "dane.match", Some("mail.tlsabogus.test"), "fail", 2)?;
    contains(&s, "DNSSEC")?;
    // RFC 7672 §2.2.3: TLSA at the target of a secure CNAME, which is also the SNI sent.
    let r = report(&reports, "danecname.test", &stderr)?;
    let s = expect(r, "dane.match", Some("mail.danecname.test"), "pass", 2)?;
    contains(&s, "DANE-EE")?;
    expect(r, "dane.tlsa", Some("mail.danecname.test"), "pass", 1)?;
    let r = report(&reports, "daneunsigned.test", &stderr)?;
    expect(
        r,
        "dane.match",
        Some("mail.daneunsigned.test"),
        "not-applicable",
        2,
    )?;
    // Without DANE the certificate is graded by WebPKI (valid: pass).
    expect(
        r,
        "smtp.certificate",
        Some("mail.daneunsigned.test"),
        "pass",
        2,
    )?;
    Ok(())
}

pub fn mta_sts_policies_are_fetched_like_a_sender(lab: &Lab) -> Result<(), Failed> {
    let (_, reports, stderr, _) = audit(
        lab,
        &[
            "stsuncovered.test",
            "stsredirect.test",
            "stsbig.test",
            "ststesting.test",
        ],
        &["--only", "transport"],
    );
    let r = report(&reports, "stsuncovered.test", &stderr)?;
    let s = expect(r, "mta-sts.policy", None, "fail", 1)?;
    contains(&s, "mail.stsuncovered.test")?;
    let r = report(&reports, "stsredirect.test", &stderr)?;
    let s = expect(r, "mta-sts.policy", None, "fail", 1)?;
    contains(&s, "redirect")?;
    let r = report(&reports, "stsbig.test", &stderr)?;
    let s = expect(r, "mta-sts.policy", None, "fail", 1)?;
    contains(&s, "64 KiB")?;
    let r = report(&reports, "ststesting.test", &stderr)?;
    let s = expect(r, "mta-sts.policy", None, "warn", 1)?;
    contains(&s, "testing")?;
    Ok(())
}

pub fn plaintext_logins_fail(lab: &Lab) -> Result<(), Failed> {
    let (_, reports, stderr, _) = audit(
        lab,
        &["imapplain.test", "subauth.test"],
        &["--only", "access"],
    );
    let r = report(&reports, "imapplain.test", &stderr)?;
    let s = expect(r, "imap.plaintext-auth", None, "fail", 1)?;
    contains(&s, "LOGINDISABLED")?;
    let s = expect(r, "pop3.plaintext-auth", None, "fail", 1)?;
    contains(&s, "+OK")?;
    let r = report(&reports, "subauth.test", &stderr)?;
    let s = expect(r, "submission.plaintext-auth", None, "fail", 1)?;
    contains(&s, "AUTH")?;
    Ok(())
}

pub fn mailhost_probes_the_standard_ports(lab: &Lab) -> Result<(), Failed> {
    // nostarttls.test publishes no SRV records; the host is given by hand.
    let (_, reports, stderr, _) = audit(
        lab,
        &["nostarttls.test"],
        &["--only", "access", "--mailhost", "imap.tlsgood.test"],
    );
    let r = report(&reports, "nostarttls.test", &stderr)?;
    expect(
        r,
        "imap.tls",
        Some("imap.tlsgood.test 127.0.0.30:993"),
        "pass",
        1,
    )?;
    expect(
        r,
        "pop3.tls",
        Some("imap.tlsgood.test 127.0.0.30:110"),
        "pass",
        1,
    )?;
    // Dovecot has no submission: closed ports are "not offered", not failures.
    let s = expect(
        r,
        "submission.tls",
        Some("imap.tlsgood.test 127.0.0.30:465"),
        "not-applicable",
        1,
    )?;
    contains(&s, "nothing listens")?;
    Ok(())
}

pub fn hostile_servers_end_within_bounds(lab: &Lab) -> Result<(), Failed> {
    let (_, reports, stderr, elapsed) = audit(
        lab,
        &[
            "tarpit.test",
            "ehloflood.test",
            "bigchain.test",
            "tlsalert.test",
        ],
        &["--only", "transport"],
    );
    // Probe timeout 3 s, connect 2 s: a tarpit costs one greeting wait per connection.
    if elapsed > Duration::from_secs(30) {
        return Err(Failed::from(format!("took {elapsed:?}")));
    }
    let r = report(&reports, "tarpit.test", &stderr)?;
    let s = expect(
        r,
        "smtp.starttls",
        Some("mail.tarpit.test"),
        "inconclusive",
        2,
    )?;
    contains(&s, "sent nothing")?;
    let r = report(&reports, "ehloflood.test", &stderr)?;
    let s = expect(r, "smtp.starttls", Some("mail.ehloflood.test"), "fail", 2)?;
    contains(&s, "exceeds")?;
    let r = report(&reports, "bigchain.test", &stderr)?;
    let s = findings(r, "smtp.certificate", Some("mail.bigchain.test"))
        .iter()
        .map(|f| format!("{} {}", f["status"], f["summary"]))
        .collect::<Vec<_>>()
        .join(" | ");
    if !s.contains("fail") && !s.contains("warn") {
        return Err(Failed::from(format!(
            "a 50-certificate chain is flagged: {s}"
        )));
    }
    let r = report(&reports, "tlsalert.test", &stderr)?;
    let s = expect(r, "smtp.starttls", Some("mail.tlsalert.test"), "fail", 2)?;
    contains(&s, "handshake")?;
    Ok(())
}

pub fn dns_only_sends_no_probes(lab: &Lab) -> Result<(), Failed> {
    let (_, reports, stderr, _) = audit(lab, &["tlsgood.test"], &["--dns-only"]);
    let r = report(&reports, "tlsgood.test", &stderr)?;
    for id in [
        "smtp.starttls",
        "mta-sts.policy",
        "imap.tls",
        "tls-rpt.reachable",
    ] {
        if !findings(r, id, None).is_empty() {
            return Err(Failed::from(format!("--dns-only made a {id} finding")));
        }
    }
    expect(r, "dane.tlsa", None, "pass", 1)?;
    Ok(())
}

/// Runs `cmd` inside the lab and returns its stdout.
fn lab_output(lab: &Lab, cmd: &[&str], stdin_null: bool) -> Result<String, Failed> {
    let mut c = std::process::Command::new(super::BIN);
    c.args(["lab", "exec", "--state"])
        .arg(&lab.state)
        .arg("--")
        .args(cmd);
    if stdin_null {
        c.stdin(std::process::Stdio::null());
    }
    let out = c
        .output()
        .map_err(|e| Failed::from(format!("{cmd:?}: {e}")))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The DANE verdicts of `mailtrust audit` agree with `ldns-dane` fed the chain the real server
/// presents (taken with `openssl s_client -showcerts`) and the TLSA records the lab publishes.
pub fn dane_verdicts_agree_with_ldns_dane(lab: &Lab) -> Result<(), Failed> {
    let domains = ["tlsgood.test", "danebad.test", "daneta.test"];
    let (_, reports, stderr, _) = audit(lab, &domains, &["--only", "transport"]);
    let dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
    let resolver = lab.resolver();
    let anchor = lab.anchor().to_string_lossy().to_string();
    for d in domains {
        let host = format!("mail.{d}");
        let ours = expect_any(report(&reports, d, &stderr)?, "dane.match", &host)?;
        let shown = lab_output(
            lab,
            &[
                "openssl",
                "s_client",
                "-starttls",
                "smtp",
                "-connect",
                "127.0.0.20:25",
                "-servername",
                &host,
                "-showcerts",
            ],
            true,
        )?;
        let pem: String = shown
            .split("-----BEGIN CERTIFICATE-----")
            .skip(1)
            .filter_map(|b| b.split("-----END CERTIFICATE-----").next())
            .map(|b| format!("-----BEGIN CERTIFICATE-----{b}-----END CERTIFICATE-----\n"))
            .collect();
        if pem.is_empty() {
            return Err(Failed::from(format!("no chain from s_client: {shown}")));
        }
        let owner = format!("_25._tcp.{host}");
        let looked = lab_output(
            lab,
            &[
                super::BIN,
                "dns",
                "lookup",
                &owner,
                "TLSA",
                "--json",
                "--resolver",
                &resolver,
                "--trust-anchor",
                &anchor,
            ],
            false,
        )?;
        let json: Value =
            serde_json::from_str(&looked).map_err(|e| Failed::from(format!("{e}: {looked}")))?;
        let zone: String = json["records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["type"] == "TLSA")
            .map(|r| {
                format!(
                    "{owner}. 300 IN TLSA {}\n",
                    r["data"].as_str().unwrap_or("")
                )
            })
            .collect();
        let chain_path = dir.path().join(format!("{d}.pem"));
        let zone_path = dir.path().join(format!("{d}.tlsa"));
        std::fs::write(&chain_path, pem).map_err(|e| Failed::from(e.to_string()))?;
        std::fs::write(&zone_path, zone).map_err(|e| Failed::from(e.to_string()))?;
        // -n: no name check for DANE-EE (RFC 7672 §3.1.1); -d: the records were validated above.
        let out = std::process::Command::new("ldns-dane")
            .args(["-n", "-d", "-c"])
            .arg(&chain_path)
            .arg("-t")
            .arg(&zone_path)
            .args(["verify", &host, "25"])
            .output()
            .map_err(|e| Failed::from(format!("ldns-dane: {e}")))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs = out.status.success() && text.contains("dane-validated successfully");
        if theirs != (ours == "pass") {
            return Err(Failed::from(format!(
                "{d}: mailtrust says {ours}, ldns-dane says: {text}"
            )));
        }
    }
    Ok(())
}

/// The status of the first finding `id` whose subject starts with `subject`.
fn expect_any(r: &Value, id: &str, subject: &str) -> Result<String, Failed> {
    findings(r, id, Some(subject))
        .first()
        .and_then(|f| f["status"].as_str())
        .map(str::to_string)
        .ok_or_else(|| Failed::from(format!("{}: no {id} for {subject}", r["domain"])))
}
