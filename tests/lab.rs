//! End-to-end tests against the lab: real Knot DNS and Unbound in a private network namespace,
//! driven through the `mailtrust` binary exactly as an administrator would use it.
//!
//! The lab is brought up once for the whole run (or reused from `MAILTRUST_LAB=<state dir>`)
//! and always torn down at the end, which is why this file has its own harness.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;

#[path = "lab/audit.rs"]
mod audit;
#[path = "lab/cname.rs"]
mod cname;
#[path = "lab/crosscheck.rs"]
mod crosscheck;
#[path = "lab/demo.rs"]
mod demo;
#[path = "lab/keys.rs"]
mod keys;
#[path = "lab/opendkim.rs"]
mod opendkim;
#[path = "lab/state.rs"]
mod state;
#[path = "lab/transport.rs"]
mod transport;
#[path = "lab/update.rs"]
mod update;

const BIN: &str = env!("CARGO_BIN_EXE_mailtrust");

struct Lab {
    state: PathBuf,
    info: Value,
}

impl Lab {
    fn resolver(&self) -> String {
        self.info["resolver"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    fn validating_resolver(&self) -> String {
        self.info["validating_resolver"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    /// The primary (`IP:PORT`) of an updatable zone and its TSIG key as
    /// `ALGORITHM:NAME:SECRET` (the `nsupdate -y` form), from lab.json.
    fn updater(&self, zone: &str) -> Result<(String, String), Failed> {
        let z = self.info["zones"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|z| z["name"] == zone)
            .ok_or_else(|| Failed::from(format!("{zone} not in lab.json")))?;
        let t = &z["tsig"];
        let key = format!(
            "{}:{}:{}",
            t["algorithm"].as_str().unwrap_or(""),
            t["name"].as_str().unwrap_or(""),
            t["secret"].as_str().unwrap_or("")
        );
        Ok((z["primary"].as_str().unwrap_or("").to_string(), key))
    }

    fn anchor(&self) -> PathBuf {
        PathBuf::from(
            self.info["trust_anchor"]["path"]
                .as_str()
                .unwrap_or_default(),
        )
    }
}

/// Runs `mailtrust ARGS` inside the lab's namespace.
fn in_lab(lab: &Lab, args: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let out = Command::new(BIN)
        .args(["lab", "exec", "--state"])
        .arg(&lab.state)
        .arg("--")
        .arg(BIN)
        .args(args)
        .output()
        .expect("run mailtrust");
    (out, start.elapsed())
}

/// `mailtrust dns update ZONE --server PRIMARY --key KEY CHANGE...` inside the lab.
fn dns_update(lab: &Lab, zone: &str, primary: &str, key: &str, change: &[&str]) -> Output {
    let mut args = vec!["dns", "update", zone, "--server", primary, "--key", key];
    args.extend_from_slice(change);
    in_lab(lab, &args).0
}

/// `mailtrust dns propagation NAME TYPE EXTRA...` inside the lab, through the lab's resolver
/// and trust anchor.
fn dns_propagation(lab: &Lab, name: &str, qtype: &str, extra: &[&str]) -> (Output, Duration) {
    let anchor = lab.anchor().to_string_lossy().to_string();
    let resolver = lab.resolver();
    let mut args = vec![
        "dns",
        "propagation",
        name,
        qtype,
        "--resolver",
        &resolver,
        "--trust-anchor",
        &anchor,
    ];
    args.extend_from_slice(extra);
    in_lab(lab, &args)
}

struct Looked {
    code: i32,
    json: Value,
    stderr: String,
    elapsed: Duration,
}

fn lookup_via(
    lab: &Lab,
    resolver: &str,
    anchor: &Path,
    name: &str,
    qtype: &str,
    extra: &[&str],
) -> Looked {
    let anchor = anchor.to_string_lossy().to_string();
    let mut args = vec![
        "dns",
        "lookup",
        name,
        qtype,
        "--json",
        "--resolver",
        resolver,
        "--trust-anchor",
        &anchor,
    ];
    args.extend_from_slice(extra);
    let (out, elapsed) = in_lab(lab, &args);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    Looked {
        code: out.status.code().unwrap_or(-1),
        json,
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        elapsed,
    }
}

fn lookup(lab: &Lab, name: &str, qtype: &str) -> Looked {
    lookup_via(lab, &lab.resolver(), &lab.anchor(), name, qtype, &[])
}

macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(Failed::from(format!($($fmt)+)));
        }
    };
}

fn expect(l: &Looked, outcome: &str, dnssec: &str) -> Result<(), Failed> {
    check!(
        l.json["outcome"] == outcome && l.json["dnssec"] == dnssec,
        "expected {outcome}/{dnssec}, got {}/{} (exit {}): {}\nstderr: {}",
        l.json["outcome"],
        l.json["dnssec"],
        l.code,
        l.json,
        l.stderr
    );
    Ok(())
}

fn record_data(l: &Looked, rtype: &str) -> Vec<String> {
    l.json["records"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| r["type"] == rtype)
                .filter_map(|r| r["data"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn chain_statuses(l: &Looked) -> Vec<(String, String)> {
    l.json["chain"]["zones"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|z| {
                    (
                        z["zone"].as_str().unwrap_or("").to_string(),
                        z["status"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

// ---- the tests -------------------------------------------------------------------------------

fn lab_json_has_the_documented_shape(lab: &Lab) -> Result<(), Failed> {
    let i = &lab.info;
    check!(i["netns"].is_string(), "netns: {i}");
    check!(
        i["resolver"].as_str().is_some_and(|r| r.contains(':')),
        "resolver IP:PORT: {i}"
    );
    check!(
        i["trust_anchor"]["format"] == "dnskey",
        "trust_anchor.format: {i}"
    );
    check!(
        lab.anchor().is_file(),
        "trust anchor file exists: {}",
        lab.anchor().display()
    );
    check!(i.get("ca").is_some(), "ca present (null for now): {i}");
    check!(i["services"].is_array(), "services array: {i}");
    let zones = i["zones"].as_array().cloned().unwrap_or_default();
    for (name, state) in [
        ("signed.test", "signed"),
        ("unsigned.test", "unsigned"),
        ("expired.test", "expired"),
        ("bad-ds.test", "bad-ds"),
        ("lame.test", "lame"),
    ] {
        let z = zones
            .iter()
            .find(|z| z["name"].as_str().map(|n| n.trim_end_matches('.')) == Some(name));
        check!(z.is_some(), "zone {name} listed: {i}");
        let z = z.unwrap_or(&Value::Null);
        check!(z["dnssec"] == state, "zone {name} dnssec {state}: {z}");
        check!(z["primary"].is_string(), "zone {name} primary: {z}");
        check!(
            z.get("tsig").is_some(),
            "zone {name} tsig key present (object or null): {z}"
        );
    }
    Ok(())
}

fn secure_records_with_full_chain(lab: &Lab) -> Result<(), Failed> {
    let l = lookup(lab, "www.signed.test", "A");
    expect(&l, "records", "secure")?;
    check!(l.code == 0, "exit 0, got {}", l.code);
    check!(record_data(&l, "A") == ["192.0.2.10"], "A data: {}", l.json);
    check!(l.json["records"][0]["ttl"].is_u64(), "ttl: {}", l.json);
    let chain = chain_statuses(&l);
    let zones: Vec<&str> = chain.iter().map(|(z, _)| z.as_str()).collect();
    check!(
        zones == [".", "test.", "signed.test."],
        "chain zones: {chain:?}"
    );
    check!(
        chain.iter().all(|(_, s)| s == "secure"),
        "chain all secure: {chain:?}"
    );
    for z in l.json["chain"]["zones"].as_array().into_iter().flatten() {
        check!(
            z["dnskeys"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k["trusted"] == true)),
            "a trusted key per zone: {z}"
        );
    }
    check!(
        l.json["chain"]["zones"][1]["ds"]
            .as_array()
            .is_some_and(|d| !d.is_empty()),
        "DS tags for test.: {}",
        l.json
    );
    Ok(())
}

fn every_type_resolves_secure(lab: &Lab) -> Result<(), Failed> {
    for (name, t) in [
        ("signed.test", "MX"),
        ("signed.test", "AAAA"),
        ("signed.test", "NS"),
        ("signed.test", "SOA"),
        ("signed.test", "DNSKEY"),
        ("signed.test", "DS"),
        ("_submission._tcp.signed.test", "SRV"),
        ("_25._tcp.mail.signed.test", "TLSA"),
        (
            "c93f1e400f26708f98cb19d936620da35eec8f72e57f9eec01c1afd6._smimecert.signed.test",
            "SMIMEA",
        ),
        (
            "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db._openpgpkey.signed.test",
            "OPENPGPKEY",
        ),
        ("b._dns-sd._udp.signed.test", "PTR"),
        ("alias.signed.test", "CNAME"),
    ] {
        let l = lookup(lab, name, t);
        check!(
            l.json["outcome"] == "records" && l.json["dnssec"] == "secure",
            "{name} {t}: {} / {}",
            l.json,
            l.stderr
        );
        check!(
            !record_data(&l, t).is_empty(),
            "{name} {t} has {t} data: {}",
            l.json
        );
    }
    let l = lookup(lab, "signed.test", "MX");
    check!(
        record_data(&l, "MX") == ["10 mail.signed.test."],
        "MX presentation: {}",
        l.json
    );
    let l = lookup(lab, "_25._tcp.mail.signed.test", "TLSA");
    check!(
        record_data(&l, "TLSA")
            == ["3 1 1 49802f912a26f5aa613124c529b0ad3c2f2eced24fee29541e9461b735dfa9cd"],
        "TLSA presentation: {}",
        l.json
    );
    Ok(())
}

fn cname_is_followed_and_kept(lab: &Lab) -> Result<(), Failed> {
    let l = lookup(lab, "alias.signed.test", "A");
    expect(&l, "records", "secure")?;
    check!(
        record_data(&l, "CNAME") == ["www.signed.test."],
        "CNAME kept: {}",
        l.json
    );
    check!(
        record_data(&l, "A") == ["192.0.2.10"],
        "target A: {}",
        l.json
    );
    Ok(())
}

fn txt_strings_are_joined(lab: &Lab) -> Result<(), Failed> {
    let l = lookup(lab, "sel2048._domainkey.signed.test", "TXT");
    expect(&l, "records", "secure")?;
    let data = record_data(&l, "TXT");
    check!(data.len() == 1, "one TXT: {}", l.json);
    let d = &data[0];
    check!(
        d.starts_with("v=DKIM1; k=rsa; p=MIIBIjAN") && d.ends_with("w11F9DjUEQIDAQAB"),
        "joined: {d}"
    );
    check!(
        d.contains("nAGWtuhjg4jE1Mt"),
        "no space at the 255-byte split: {d}"
    );
    check!(!d.contains("\" \""), "no quotes inside joined data: {d}");
    let strings = l.json["records"][0]["strings"].as_str().unwrap_or_default();
    check!(
        strings.matches('"').count() == 4,
        "two quoted strings kept: {strings}"
    );
    Ok(())
}

fn secure_denials(lab: &Lab) -> Result<(), Failed> {
    let l = lookup(lab, "nope.signed.test", "A");
    expect(&l, "nxdomain", "secure")?;
    check!(l.code == 0, "nxdomain is an answer, exit 0: {}", l.code);
    let l = lookup(lab, "www.signed.test", "MX");
    expect(&l, "nodata", "secure")?;
    check!(
        l.json["records"].as_array().is_some_and(Vec::is_empty),
        "no records: {}",
        l.json
    );
    Ok(())
}

fn insecure_zone_is_proven_insecure(lab: &Lab) -> Result<(), Failed> {
    let l = lookup(lab, "www.unsigned.test", "A");
    expect(&l, "records", "insecure")?;
    let chain = chain_statuses(&l);
    check!(
        chain
            .last()
            .is_some_and(|(z, s)| z == "unsigned.test." && s == "insecure"),
        "chain ends insecure: {chain:?}"
    );
    check!(
        chain.iter().take(2).all(|(_, s)| s == "secure"),
        "parents secure: {chain:?}"
    );
    let l = lookup(lab, "nope.unsigned.test", "A");
    expect(&l, "nxdomain", "insecure")?;
    Ok(())
}

fn expired_signatures_are_bogus_with_reason(lab: &Lab) -> Result<(), Failed> {
    let l = lookup(lab, "www.expired.test", "A");
    check!(
        l.json["dnssec"] == "bogus",
        "bogus: {} / {}",
        l.json,
        l.stderr
    );
    check!(l.code == 1, "exit 1 for bogus, got {}", l.code);
    let reason = l.json["bogus_reason"].as_str().unwrap_or_default();
    check!(
        reason.contains("expired signature") && reason.contains("2020"),
        "reason names the expiry: {reason}"
    );
    let chain = chain_statuses(&l);
    check!(
        chain
            .iter()
            .any(|(z, s)| z == "expired.test." && s == "bogus"),
        "chain marks expired.test. bogus: {chain:?}"
    );
    check!(
        record_data(&l, "A") == ["192.0.2.30"],
        "the served data is shown: {}",
        l.json
    );
    Ok(())
}

fn ds_mismatch_is_bogus_with_reason(lab: &Lab) -> Result<(), Failed> {
    let l = lookup(lab, "www.bad-ds.test", "A");
    check!(
        l.json["dnssec"] == "bogus",
        "bogus: {} / {}",
        l.json,
        l.stderr
    );
    let reason = l.json["bogus_reason"].as_str().unwrap_or_default();
    check!(
        reason.contains("DS mismatch") && reason.contains("bad-ds.test"),
        "reason names the DS: {reason}"
    );
    Ok(())
}

fn lame_zone_times_out_within_bound(lab: &Lab) -> Result<(), Failed> {
    let deadline = 6.0;
    let d = deadline.to_string();
    let l = lookup_via(
        lab,
        &lab.resolver(),
        &lab.anchor(),
        "www.lame.test",
        "A",
        &["--timeout", "2", "--deadline", &d],
    );
    let outcome = l.json["outcome"].as_str().unwrap_or_default();
    check!(
        outcome == "timeout" || outcome == "servfail",
        "lame is timeout or servfail, got {}",
        l.json
    );
    check!(
        l.json["dnssec"] == "indeterminate",
        "never bogus: {}",
        l.json
    );
    check!(l.code == 3, "exit 3 (no usable answer), got {}", l.code);
    check!(
        l.stderr.lines().count() == 1 && l.stderr.contains("no usable answer"),
        "one-line message: {:?}",
        l.stderr
    );
    // Bounded: the lookup and the bogus retry each stop at the deadline; process start-up adds a
    // little. This checks the bound, not speed.
    let bound = Duration::from_secs_f64(deadline * 2.0 + 5.0);
    check!(
        l.elapsed < bound,
        "returned within {bound:?}, took {:?}",
        l.elapsed
    );
    Ok(())
}

fn works_behind_a_validating_resolver(lab: &Lab) -> Result<(), Failed> {
    let v = lab.validating_resolver();
    check!(
        !v.is_empty(),
        "lab reports validating_resolver: {}",
        lab.info
    );
    let l = lookup_via(lab, &v, &lab.anchor(), "www.signed.test", "A", &[]);
    expect(&l, "records", "secure")?;
    // With CD set, bogus data reaches mailtrust instead of becoming SERVFAIL.
    let l = lookup_via(lab, &v, &lab.anchor(), "www.expired.test", "A", &[]);
    check!(
        l.json["outcome"] == "records" && l.json["dnssec"] == "bogus",
        "bogus, not servfail: {} / {}",
        l.json,
        l.stderr
    );
    let l = lookup_via(lab, &v, &lab.anchor(), "www.bad-ds.test", "A", &[]);
    check!(
        l.json["dnssec"] == "bogus",
        "bad-ds bogus behind validator: {}",
        l.json
    );
    Ok(())
}

fn ipv6_upstream_works(lab: &Lab) -> Result<(), Failed> {
    let l = lookup_via(
        lab,
        "[::1]:53",
        &lab.anchor(),
        "www.signed.test",
        "AAAA",
        &[],
    );
    expect(&l, "records", "secure")?;
    check!(
        record_data(&l, "AAAA") == ["2001:db8::10"],
        "AAAA: {}",
        l.json
    );
    Ok(())
}

fn ds_trust_anchor_is_matched_against_fetched_keys(lab: &Lab) -> Result<(), Failed> {
    // Turn the lab's DNSKEY anchor into DS records with ldns-key2ds, as a registry would publish.
    let dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
    let ksk_file = dir.path().join("root.key");
    let text = std::fs::read_to_string(lab.anchor()).map_err(|e| Failed::from(e.to_string()))?;
    let ksk = text
        .lines()
        .find(|l| l.contains("DNSKEY") && l.contains(" 257 "))
        .unwrap_or_default()
        .to_string();
    check!(!ksk.is_empty(), "a KSK in the anchor file: {text}");
    std::fs::write(&ksk_file, format!("{ksk}\n")).map_err(|e| Failed::from(e.to_string()))?;
    let out = Command::new("ldns-key2ds")
        .args(["-n", "-2"])
        .arg(&ksk_file)
        .output()
        .map_err(|e| Failed::from(e.to_string()))?;
    let ds = String::from_utf8_lossy(&out.stdout).to_string();
    check!(
        ds.split_whitespace().any(|f| f == "DS"),
        "ldns-key2ds made a DS: {ds} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ds_file = dir.path().join("root.ds");
    std::fs::write(&ds_file, &ds).map_err(|e| Failed::from(e.to_string()))?;
    let l = lookup_via(lab, &lab.resolver(), &ds_file, "www.signed.test", "A", &[]);
    expect(&l, "records", "secure")?;
    Ok(())
}

fn foreign_anchor_makes_everything_bogus(lab: &Lab) -> Result<(), Failed> {
    // The IANA root KSK-2017: the lab's root is not signed by it.
    let dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
    let f = dir.path().join("iana.key");
    std::fs::write(&f, ". IN DNSKEY 257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU=\n")
        .map_err(|e| Failed::from(e.to_string()))?;
    let l = lookup_via(lab, &lab.resolver(), &f, "www.signed.test", "A", &[]);
    check!(
        l.json["dnssec"] == "bogus",
        "bogus under a foreign anchor: {} / {}",
        l.json,
        l.stderr
    );
    let reason = l.json["bogus_reason"].as_str().unwrap_or_default();
    check!(
        reason.contains("trust anchor"),
        "reason names the anchor: {reason}"
    );
    Ok(())
}

fn malformed_anchor_is_a_clear_error(lab: &Lab) -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
    let f = dir.path().join("broken.key");
    std::fs::write(&f, ". IN DNSKEY 257 3 13 this-is-not-base64!!\n")
        .map_err(|e| Failed::from(e.to_string()))?;
    let l = lookup_via(lab, &lab.resolver(), &f, "www.signed.test", "A", &[]);
    check!(l.code == 2, "exit 2, got {}", l.code);
    check!(
        l.stderr.lines().count() == 1 && l.stderr.contains("broken.key"),
        "one line naming the file: {:?}",
        l.stderr
    );
    check!(
        !l.stderr.contains("panicked") && !l.stderr.contains("backtrace"),
        "no panic: {:?}",
        l.stderr
    );
    Ok(())
}

fn unreachable_resolver_is_a_clear_error(lab: &Lab) -> Result<(), Failed> {
    let l = lookup_via(
        lab,
        "127.0.0.1:9",
        &lab.anchor(),
        "www.signed.test",
        "A",
        &["--timeout", "1", "--attempts", "1", "--deadline", "4"],
    );
    check!(l.code == 3, "exit 3, got {} ({})", l.code, l.stderr);
    check!(
        l.json["outcome"] == "timeout",
        "timeout, never nxdomain: {}",
        l.json
    );
    check!(
        l.stderr.lines().count() == 1 && l.stderr.contains("127.0.0.1:9"),
        "one line naming the resolver: {:?}",
        l.stderr
    );
    Ok(())
}

/// A "resolver" on host loopback that answers every query with garbage: a matching ID followed
/// by bytes that are not a DNS message.
fn garbage_resolver_is_a_clear_error(_lab: &Lab) -> Result<(), Failed> {
    let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| Failed::from(e.to_string()))?;
    let addr = sock.local_addr().map_err(|e| Failed::from(e.to_string()))?;
    sock.set_read_timeout(Some(Duration::from_millis(200))).ok();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let server = std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        let deadline = Instant::now() + Duration::from_secs(30);
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
            if let Ok((n, peer)) = sock.recv_from(&mut buf)
                && n >= 2
            {
                let mut reply = vec![buf[0], buf[1], 0x81, 0x80, 0xff, 0xff, 0xff];
                reply.extend_from_slice(b"\x00garbage\xff\xfe");
                let _ = sock.send_to(&reply, peer);
            }
        }
    });
    let start = Instant::now();
    let out = Command::new(BIN)
        .args([
            "dns",
            "lookup",
            "example.test",
            "A",
            "--json",
            "--resolver",
            &addr.to_string(),
            "--timeout",
            "1",
            "--attempts",
            "1",
            "--deadline",
            "4",
        ])
        .output()
        .map_err(|e| Failed::from(e.to_string()))?;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = server.join();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    check!(
        out.status.code() == Some(3),
        "exit 3, got {:?}: {stderr}",
        out.status.code()
    );
    check!(
        json["outcome"] == "timeout" || json["outcome"] == "servfail",
        "no answer, never nxdomain: {json}"
    );
    check!(
        stderr.lines().count() == 1 && !stderr.contains("panicked"),
        "one clear line: {stderr:?}"
    );
    check!(
        start.elapsed() < Duration::from_secs(15),
        "bounded: {:?}",
        start.elapsed()
    );
    Ok(())
}

fn whole_rrset_is_returned(lab: &Lab) -> Result<(), Failed> {
    let l = lookup(lab, "multi.signed.test", "A");
    expect(&l, "records", "secure")?;
    let mut a = record_data(&l, "A");
    a.sort();
    check!(
        a == ["192.0.2.1", "192.0.2.2", "192.0.2.3"],
        "all three A records: {}",
        l.json
    );
    Ok(())
}

fn large_answer_is_fetched_over_tcp(lab: &Lab) -> Result<(), Failed> {
    // 6 x 250 bytes plus an RRSIG does not fit the 1232-byte EDNS buffer: TC=1, then TCP.
    let l = lookup(lab, "big.signed.test", "TXT");
    expect(&l, "records", "secure")?;
    let data = record_data(&l, "TXT");
    let want: String = "abcdef"
        .chars()
        .map(|c| c.to_string().repeat(250))
        .collect();
    check!(
        data == [want],
        "the whole 1500-byte TXT, joined: {:?}",
        data.first().map(String::len)
    );
    Ok(())
}

fn a_dead_upstream_is_skipped(lab: &Lab) -> Result<(), Failed> {
    let anchor = lab.anchor().to_string_lossy().to_string();
    let resolver = lab.resolver();
    let args = [
        "dns",
        "lookup",
        "www.signed.test",
        "A",
        "--json",
        "--resolver",
        "127.0.0.1:9",
        "--resolver",
        &resolver,
        "--trust-anchor",
        &anchor,
        "--timeout",
        "1",
    ];
    let (out, _) = in_lab(lab, &args);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    check!(
        json["outcome"] == "records" && json["dnssec"] == "secure",
        "second upstream answers: {json} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn text_output_reads_well(lab: &Lab) -> Result<(), Failed> {
    let anchor = lab.anchor().to_string_lossy().to_string();
    let resolver = lab.resolver();
    let (out, _) = in_lab(
        lab,
        &[
            "dns",
            "lookup",
            "www.bad-ds.test",
            "A",
            "--resolver",
            &resolver,
            "--trust-anchor",
            &anchor,
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    check!(text.contains("outcome: records"), "outcome line: {text}");
    check!(
        text.contains("dnssec:  bogus: DS mismatch"),
        "status with reason: {text}"
    );
    check!(text.contains("chain of trust"), "chain shown: {text}");
    check!(
        text.lines()
            .any(|l| l.contains("bad-ds.test.") && l.contains("bogus")),
        "bogus zone marked: {text}"
    );
    Ok(())
}

// ---- harness ---------------------------------------------------------------------------------

struct Teardown(Option<PathBuf>);

impl Drop for Teardown {
    fn drop(&mut self) {
        if let Some(state) = self.0.take() {
            let _ = Command::new(BIN)
                .args(["lab", "down", "--state"])
                .arg(&state)
                .status();
            let _ = std::fs::remove_dir_all(&state);
        }
    }
}

fn bring_up() -> Result<(Lab, Teardown), String> {
    if let Ok(state) = std::env::var("MAILTRUST_LAB") {
        let out = Command::new(BIN)
            .args(["lab", "status", "--state", &state])
            .output()
            .map_err(|e| e.to_string())?;
        let info: Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("MAILTRUST_LAB={state}: {e}"))?;
        return Ok((
            Lab {
                state: PathBuf::from(state),
                info,
            },
            Teardown(None),
        ));
    }
    // No --state: the lab makes a directory with an unpredictable name (a predictable one in
    // the shared temporary directory could be pre-created by another user) and says where.
    let out = Command::new(BIN)
        .args(["lab", "up", "--json"])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "`mailtrust lab up` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let info: Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("lab up JSON: {e}"))?;
    let state = PathBuf::from(
        info["state"]
            .as_str()
            .ok_or("lab up JSON without `state`")?,
    );
    let guard = Teardown(Some(state.clone()));
    Ok((Lab { state, info }, guard))
}

type TestFn = fn(&Lab) -> Result<(), Failed>;

/// `(name, fn)` pairs named after the function path, e.g. `audit::mx_edge_cases`.
macro_rules! tests {
    ($($path:path),* $(,)?) => {
        vec![$((stringify!($path).replace(' ', ""), $path as TestFn)),*]
    };
}

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let tests: Vec<(String, TestFn)> = tests![
        lab_json_has_the_documented_shape,
        secure_records_with_full_chain,
        every_type_resolves_secure,
        cname_is_followed_and_kept,
        txt_strings_are_joined,
        secure_denials,
        insecure_zone_is_proven_insecure,
        expired_signatures_are_bogus_with_reason,
        ds_mismatch_is_bogus_with_reason,
        lame_zone_times_out_within_bound,
        works_behind_a_validating_resolver,
        ipv6_upstream_works,
        ds_trust_anchor_is_matched_against_fetched_keys,
        foreign_anchor_makes_everything_bogus,
        malformed_anchor_is_a_clear_error,
        unreachable_resolver_is_a_clear_error,
        garbage_resolver_is_a_clear_error,
        whole_rrset_is_returned,
        text_output_reads_well,
        large_answer_is_fetched_over_tcp,
        a_dead_upstream_is_skipped,
        cname::nodata_after_a_cname_is_secure,
        cname::dmarc_record_behind_a_cname_is_secure,
        cname::a_cname_is_no_stronger_than_its_target,
        crosscheck::validators_agree_on_every_scenario_name,
        audit::findings_have_the_documented_shape,
        audit::secure_domain_passes_dns_checks,
        audit::unsigned_zone_warns_with_a_fix,
        audit::bogus_zones_fail_with_the_reason,
        audit::lame_domain_is_inconclusive_never_failed,
        audit::mx_edge_cases,
        audit::nonexistent_domain_fails_once,
        audit::jsonl_and_csv_stream_one_line_per_domain,
        audit::output_matches_the_json_schema,
        audit::spf_checks,
        audit::dmarc_checks,
        audit::dkim_checks,
        audit::mta_sts_tls_rpt_and_bod,
        audit::interrupt_leaves_valid_jsonl,
        transport::good_domain_passes_on_every_hop,
        transport::certificate_problems_are_named,
        transport::old_protocols_and_weak_suites_fail,
        transport::missing_starttls_fails_and_dane_without_tls_fails,
        transport::dane_verdicts_follow_rfc7672,
        transport::mta_sts_policies_are_fetched_like_a_sender,
        transport::plaintext_logins_fail,
        transport::mailhost_probes_the_standard_ports,
        transport::hostile_servers_end_within_bounds,
        transport::dns_only_sends_no_probes,
        transport::dane_verdicts_agree_with_ldns_dane,
        update::signed_update_is_published_and_validates,
        update::wrong_tsig_key_is_refused_and_changes_nothing,
        update::propagation_of_a_lame_zone_is_unreachable_not_missing,
        keys::key_is_published_verified_and_activated,
        keys::refused_update_and_unsigned_zone,
        keys::rotation_survives_a_kill_between_any_two_steps,
        keys::delegated_selectors_are_tracked_and_the_audit_sees_store_selectors,
        keys::a_compromised_key_is_revoked_in_dns_and_the_export_then_destroyed,
        opendkim::opendkim_signs_with_exported_keys_and_mailtrust_verifies,
        state::state_dir_is_unpredictable_and_roots_alone,
        state::knot_and_unbound_run_as_their_own_users,
        state::secrets_are_not_readable_by_others,
        state::up_refuses_state_dirs_others_could_change,
        demo::demo_shows_an_overview_and_exits_0,
    ];
    // Listing tests must not start servers.
    if args.list {
        let trials = tests
            .iter()
            .map(|(n, _)| Trial::test(n.clone(), || Ok(())))
            .collect();
        return libtest_mimic::run(&args, trials).exit_code();
    }
    let (lab, guard) = match bring_up() {
        Ok(v) => (Some(Arc::new(v.0)), v.1),
        Err(e) => {
            eprintln!("lab: {e}");
            (None, Teardown(None))
        }
    };
    let trials = tests
        .into_iter()
        .map(|(name, f)| {
            let lab = lab.clone();
            Trial::test(name, move || match &lab {
                Some(lab) => f(lab),
                None => Err(Failed::from("the lab did not come up (see above); the lab tests need root and the lab packages (`bin/setup lab`)")),
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    drop(guard);
    conclusion.exit_code()
}
