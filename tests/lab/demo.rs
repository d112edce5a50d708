//! `mailtrust demo` as a newcomer runs it (`bin/try`): its own lab, the overview, exit 0.

use std::process::Command;

use libtest_mimic::Failed;

use super::{BIN, Lab};

/// The first run shows the picture at a glance: a table of the default domains by area, the
/// findings to fix first, and where the rest is; it exits 0 because the demo ran, although the
/// lab's broken scenarios fail many checks. The good example is a good example: every area of
/// tlsgood.test passes, with nothing inconclusive.
pub fn demo_shows_an_overview_and_exits_0(_lab: &Lab) -> Result<(), Failed> {
    // The demo brings up a lab of its own, in its own namespace, beside the harness's lab.
    let out = Command::new(BIN)
        .arg("demo")
        .env("NO_COLOR", "1")
        .output()
        .map_err(|e| Failed::from(format!("cannot run mailtrust demo: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("mailtrust demo exited {}:\n{stdout}\n{stderr}", out.status).into());
    }
    let lines: Vec<&str> = stdout.lines().collect();
    if lines.len() > 40 {
        return Err(format!("the overview has {} lines:\n{stdout}", lines.len()).into());
    }
    let header = lines
        .iter()
        .find(|l| l.starts_with("domain"))
        .ok_or_else(|| Failed::from(format!("no table header:\n{stdout}")))?;
    let columns: Vec<&str> = header.split_whitespace().collect();
    if columns
        != [
            "domain",
            "DNSSEC",
            "MX",
            "SPF",
            "DKIM",
            "DMARC",
            "transport",
        ]
    {
        return Err(format!("table header {header:?}").into());
    }
    for domain in [
        "tlsgood.test",
        "daneunsigned.test",
        "expired.test",
        "bad-ds.test",
        "nullmx.test",
        "lame.test",
        "tlsexpired.test",
        "nostarttls.test",
        "danebad.test",
    ] {
        if !lines
            .iter()
            .any(|l| l.split_whitespace().next() == Some(domain))
        {
            return Err(format!("no row for {domain}:\n{stdout}").into());
        }
    }
    let good: Vec<&str> = lines
        .iter()
        .find(|l| l.starts_with("tlsgood.test "))
        .map(|l| l.split_whitespace().skip(1).collect())
        .unwrap_or_default();
    if good != ["pass"; 6] {
        return Err(format!("the good example is not all pass: {good:?}\n{stdout}").into());
    }
    let bogus = lines
        .iter()
        .find(|l| l.starts_with("expired.test "))
        .and_then(|l| l.split_whitespace().nth(1));
    if bogus != Some("FAIL") {
        return Err(format!("expired.test's DNSSEC is not FAIL:\n{stdout}").into());
    }
    let headlines = lines
        .iter()
        .filter(|l| l.starts_with("1. ") || l.starts_with("2. ") || l.starts_with("3. "))
        .count();
    let fixes = lines.iter().filter(|l| l.starts_with("   fix: ")).count();
    if headlines != 3 || fixes != 3 {
        return Err(
            format!("{headlines} headlines and {fixes} fixes, not 3 each:\n{stdout}").into(),
        );
    }
    if !stdout.contains("1. FAIL expired.test dnssec.zone (also bad-ds.test)") {
        return Err(format!("the bogus zones are not the first thing to fix:\n{stdout}").into());
    }
    if !stdout.contains("mailtrust demo --details") || !stdout.contains("mailtrust demo --json") {
        return Err(format!("the overview does not say where the rest is:\n{stdout}").into());
    }
    Ok(())
}
