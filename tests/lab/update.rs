//! `mailtrust dns update` against the lab's Knot: an RFC 2136 update signed with the lab's TSIG
//! key changes the zone, Knot signs the new record, and the validating lookup sees it secure; a
//! wrong key is refused with NOTAUTH and changes nothing.

use libtest_mimic::Failed;
use serde_json::Value;

use super::{Lab, dns_propagation, dns_update, in_lab};

fn lookup_txt(lab: &Lab, name: &str) -> Result<Value, Failed> {
    let anchor = lab.anchor().to_string_lossy().to_string();
    let resolver = lab.resolver();
    let (out, _) = in_lab(
        lab,
        &[
            "dns",
            "lookup",
            name,
            "TXT",
            "--json",
            "--resolver",
            &resolver,
            "--trust-anchor",
            &anchor,
        ],
    );
    serde_json::from_slice(&out.stdout).map_err(|e| Failed::from(format!("{e}")))
}

pub fn signed_update_is_published_and_validates(lab: &Lab) -> Result<(), Failed> {
    let (primary, key) = lab.updater("signed.test.")?;
    // A DKIM-sized value: longer than one 255-byte string.
    let value = format!("v=DKIM1; k=rsa; p={}", "A".repeat(380));
    let out = dns_update(
        lab,
        "signed.test",
        &primary,
        &key,
        &["--txt", "upd1._domainkey", &value, "--ttl", "60"],
    );
    if !out.status.success() {
        return Err(Failed::from(format!(
            "update failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    // Every authoritative server serves it (the lab's scenario server, on IPv4 and IPv6).
    let (out, _) = dns_propagation(lab, "upd1._domainkey.signed.test", "TXT", &["--json"]);
    let prop: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let answers = prop["answers"].as_array().cloned().unwrap_or_default();
    if out.status.code() != Some(0)
        || prop["zone"] != "signed.test."
        || answers.len() != 2
        || answers
            .iter()
            .any(|a| a["records"][0] != value.as_str() || a["authoritative"] != true)
    {
        return Err(Failed::from(format!(
            "propagation: exit {:?}: {prop}",
            out.status.code()
        )));
    }
    // The lab's resolver caps TTLs at 5 s and negative answers at 1 s: the record shows at once.
    let got = lookup_txt(lab, "upd1._domainkey.signed.test")?;
    let data = got["records"][0]["data"].as_str().unwrap_or("");
    if data != value || got["dnssec"] != "secure" {
        return Err(Failed::from(format!("published and secure: {got}")));
    }
    // Delete it again.
    let out = dns_update(
        lab,
        "signed.test",
        &primary,
        &key,
        &["--delete", "upd1._domainkey", "TXT"],
    );
    if !out.status.success() {
        return Err(Failed::from("delete failed"));
    }
    // The lab's Unbound may still hold the record for its 5 s TTL cap.
    let start = std::time::Instant::now();
    loop {
        let got = lookup_txt(lab, "upd1._domainkey.signed.test")?;
        if got["outcome"] == "nxdomain" && got["dnssec"] == "secure" {
            return Ok(());
        }
        if start.elapsed() > std::time::Duration::from_secs(10) {
            return Err(Failed::from(format!("deleted (a secure NXDOMAIN): {got}")));
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

pub fn wrong_tsig_key_is_refused_and_changes_nothing(lab: &Lab) -> Result<(), Failed> {
    let (primary, key) = lab.updater("signed.test.")?;
    // Same name, another secret.
    let name = key.split(':').nth(1).unwrap_or("");
    let wrong = format!("hmac-sha256:{name}:d3Jvbmd3cm9uZ3dyb25nd3Jvbmd3cm9uZ3dyb25nISE=");
    let out = dns_update(
        lab,
        "signed.test",
        &primary,
        &wrong,
        &["--txt", "upd2", "should not appear"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() != Some(1) || !stderr.contains("NOTAUTH") || !stderr.contains("TSIG key") {
        return Err(Failed::from(format!(
            "exit 1 with NOTAUTH explained, got {:?}: {stderr}",
            out.status.code()
        )));
    }
    let got = lookup_txt(lab, "upd2.signed.test")?;
    if got["outcome"] != "nxdomain" {
        return Err(Failed::from(format!("nothing changed: {got}")));
    }
    Ok(())
}

pub fn propagation_of_a_lame_zone_is_unreachable_not_missing(lab: &Lab) -> Result<(), Failed> {
    let (out, _) = dns_propagation(lab, "www.signed.test", "A", &["--json"]);
    if out.status.code() != Some(0) {
        return Err(Failed::from(format!(
            "a consistent zone: exit {:?} {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout)
        )));
    }
    let (out, elapsed) = dns_propagation(
        lab,
        "www.lame.test",
        "A",
        &["--json", "--timeout", "1", "--deadline", "4"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    if out.status.code() != Some(3) || text.contains("\"nxdomain\"") || elapsed.as_secs() > 20 {
        return Err(Failed::from(format!(
            "lame: exit 3 within the bound, never nxdomain; got {:?} after {elapsed:?}: {text}",
            out.status.code()
        )));
    }
    Ok(())
}
