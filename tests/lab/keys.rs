//! `mailtrust keys` against the lab: generate, publish by RFC 2136 to Knot, activate once every
//! authoritative server and the validating resolver see the record; refusals change nothing.

use libtest_mimic::Failed;
use serde_json::Value;

use super::{Lab, dns_propagation, dns_update, in_lab};

const DAY: i64 = 86_400;

pub(super) struct Keys<'a> {
    lab: &'a Lab,
    pub(super) store: String,
    kek: String,
    pub(super) resolver: String,
    pub(super) anchor: String,
    _dir: tempfile::TempDir,
}

impl<'a> Keys<'a> {
    pub(super) fn new(lab: &'a Lab) -> Result<Self, Failed> {
        let dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
        let kek = dir.path().join("kek");
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            // Test data only: any 32 bytes make a KEK.
            *b = (i as u8).wrapping_mul(37).wrapping_add(11);
        }
        // A KEK is a secret: 0600 from its creation, never through a symlink.
        {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&kek)
                .and_then(|mut f| f.write_all(&bytes))
                .map_err(|e| Failed::from(e.to_string()))?;
        }
        Ok(Self {
            lab,
            store: dir.path().join("keys.db").to_string_lossy().to_string(),
            kek: kek.to_string_lossy().to_string(),
            resolver: lab.resolver(),
            anchor: lab.anchor().to_string_lossy().to_string(),
            _dir: dir,
        })
    }

    /// Runs `mailtrust keys ARGS` in the lab: (exit code, stdout, stderr).
    pub(super) fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.run_env(args, &[])
    }

    /// Like [`Keys::run`], with extra environment variables.
    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let mut cmd = std::process::Command::new(super::BIN);
        cmd.args(["lab", "exec", "--state"])
            .arg(&self.lab.state)
            .arg("--")
            .arg(super::BIN)
            .args(["keys", "--store", &self.store, "--kek-file", &self.kek])
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        match cmd.output() {
            Ok(out) => (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ),
            Err(e) => (-1, String::new(), e.to_string()),
        }
    }

    /// `keys publish KEY` by RFC 2136 to `primary` with the TSIG `key`.
    pub(super) fn publish(
        &self,
        reference: &str,
        primary: &str,
        key: &str,
    ) -> (i32, String, String) {
        self.run(&["publish", reference, "--server", primary, "--tsig", key])
    }

    /// `keys activate KEY` through the lab's resolver, with `extra` arguments.
    pub(super) fn activate(&self, reference: &str, extra: &[&str]) -> (i32, String, String) {
        let mut args = vec![
            "activate",
            reference,
            "--resolver",
            &self.resolver,
            "--trust-anchor",
            &self.anchor,
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// Writes `content` to a file of the test's private directory, mode 0600 (a secret).
    pub(super) fn secret_file(&self, name: &str, content: &str) -> Result<String, Failed> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = self._dir.path().join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Failed::from(e.to_string()))?;
        f.write_all(content.as_bytes())
            .map_err(|e| Failed::from(e.to_string()))?;
        Ok(path.to_string_lossy().to_string())
    }

    fn state(&self, key: &str) -> Result<String, Failed> {
        let (_, out, err) = self.run(&["show", key, "--json"]);
        let v: Value =
            serde_json::from_str(&out).map_err(|e| Failed::from(format!("{e}: {err}")))?;
        Ok(v["state"].as_str().unwrap_or("").to_string())
    }
}

pub(super) fn expect(code: i32, want: i32, what: &str, out: &str, err: &str) -> Result<(), Failed> {
    if code == want {
        Ok(())
    } else {
        Err(Failed::from(format!(
            "{what}: exit {code}, wanted {want}\n{out}\n{err}"
        )))
    }
}

pub fn key_is_published_verified_and_activated(lab: &Lab) -> Result<(), Failed> {
    let k = Keys::new(lab)?;
    let (primary, key) = lab.updater("signed.test.")?;
    let anchor = lab.anchor().to_string_lossy().to_string();
    let resolver = lab.resolver();
    let (c, o, e) = k.run(&[
        "generate",
        "--domain",
        "signed.test",
        "--selector",
        "k2026",
        "--mta",
        "mx1.signed.test",
    ]);
    expect(c, 0, "generate", &o, &e)?;
    if k.state("signed.test/k2026")? != "pre_activation" {
        return Err(Failed::from("a new key waits in pre-activation"));
    }
    // Activation before publication is refused before any DNS traffic.
    let (c, o, e) = k.activate("signed.test/k2026", &[]);
    expect(c, 1, "activate before publish", &o, &e)?;
    let (c, o, e) = k.publish("signed.test/k2026", &primary, &key);
    expect(c, 0, "publish", &o, &e)?;
    let (c, o, e) = k.activate("signed.test/k2026", &[]);
    expect(c, 0, "activate", &o, &e)?;
    if !o.contains("DNSSEC-secure") || !o.contains("serves the record") {
        return Err(Failed::from(format!("activation names its proof: {o}")));
    }
    if k.state("signed.test/k2026")? != "active" {
        return Err(Failed::from("active after activation"));
    }
    // The record receivers see is the key's: the audit's DKIM check agrees.
    let (out, _) = in_lab(
        lab,
        &[
            "audit",
            "signed.test",
            "--json",
            "--dns-only",
            "--only",
            "dkim",
            "--selector",
            "k2026",
            "--resolver",
            &resolver,
            "--trust-anchor",
            &anchor,
        ],
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let dkim = v["domains"][0]["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["id"] == "dkim.key" && f["subject"] == "k2026")
        .cloned()
        .unwrap_or(Value::Null);
    if dkim["status"] != "pass" {
        return Err(Failed::from(format!(
            "the audit passes the published key: {dkim}"
        )));
    }
    // Someone deletes the record by hand: the next `keys run` puts it back.
    let out = dns_update(
        lab,
        "signed.test",
        &primary,
        &key,
        &["--delete", "k2026._domainkey", "TXT"],
    );
    if !out.status.success() {
        return Err(Failed::from("deleting the record by hand"));
    }
    let (c, o, e) = k.run(&[
        "run",
        "--server",
        &primary,
        "--tsig",
        &key,
        "--resolver",
        &resolver,
        "--trust-anchor",
        &anchor,
    ]);
    expect(c, 0, "keys run reconciles", &o, &e)?;
    if !o.contains("publishing it again") {
        return Err(Failed::from(format!("the missing record is put back: {o}")));
    }
    let (out, _) = dns_propagation(lab, "k2026._domainkey.signed.test", "TXT", &[]);
    if out.status.code() != Some(0) || !String::from_utf8_lossy(&out.stdout).contains("v=DKIM1") {
        return Err(Failed::from(format!(
            "the record is back on every server: {}",
            String::from_utf8_lossy(&out.stdout)
        )));
    }
    let (c, o, e) = k.run(&["deactivate", "signed.test/k2026"]);
    expect(c, 0, "deactivate", &o, &e)?;
    let (c, o, e) = k.run(&[
        "revoke",
        "signed.test/k2026",
        "--server",
        &primary,
        "--tsig",
        &key,
    ]);
    expect(c, 0, "revoke", &o, &e)?;
    let (c, o, e) = k.run(&["destroy", "signed.test/k2026", "--reason", "retention over"]);
    expect(c, 0, "destroy", &o, &e)?;
    let (c, o, e) = k.run(&["log", "--verify"]);
    expect(c, 0, "log verify", &o, &e)?;
    // create, intent+publish, activate, republish (reconciled), deactivate, intent+revoke,
    // destroy: each DNS change is logged as intended before it is sent.
    if !o.contains("intact: 9 entries") {
        return Err(Failed::from(format!("one audit row per step: {o}")));
    }
    Ok(())
}

pub fn refused_update_and_unsigned_zone(lab: &Lab) -> Result<(), Failed> {
    let k = Keys::new(lab)?;
    let (primary, key) = lab.updater("signed.test.")?;
    let (c, o, e) = k.run(&[
        "generate",
        "--domain",
        "signed.test",
        "--selector",
        "k2027",
        "--algorithm",
        "ed25519",
    ]);
    expect(c, 0, "generate", &o, &e)?;
    let name = key.split(':').nth(1).unwrap_or("");
    let wrong = format!("hmac-sha256:{name}:d3Jvbmd3cm9uZ3dyb25nd3Jvbmd3cm9uZ3dyb25nISE=");
    let (c, o, e) = k.publish("signed.test/k2027", &primary, &wrong);
    expect(c, 1, "publish with a wrong key", &o, &e)?;
    if !e.contains("NOTAUTH") || k.state("signed.test/k2027")? != "pre_activation" {
        return Err(Failed::from(format!("NOTAUTH said, state unchanged: {e}")));
    }
    // A weak key needs --allow-weak; below 1024 never.
    let (c, o, e) = k.run(&[
        "generate",
        "--domain",
        "signed.test",
        "--selector",
        "weak",
        "--algorithm",
        "rsa-1024",
    ]);
    expect(c, 2, "rsa-1024 without --allow-weak", &o, &e)?;
    let (c, o, e) = k.run(&[
        "generate",
        "--domain",
        "signed.test",
        "--selector",
        "k2027",
        "--algorithm",
        "rsa-2048",
    ]);
    expect(c, 2, "a duplicate live selector", &o, &e)?;
    // An unsigned zone: activation proceeds with a warning (Rec 4-6).
    let (uprimary, ukey) = lab.updater("unsigned.test.")?;
    let (c, o, e) = k.run(&["generate", "--domain", "unsigned.test", "--selector", "u1"]);
    expect(c, 0, "generate unsigned", &o, &e)?;
    let (c, o, e) = k.publish("unsigned.test/u1", &uprimary, &ukey);
    expect(c, 0, "publish unsigned", &o, &e)?;
    let (c, o, e) = k.activate("unsigned.test/u1", &[]);
    expect(c, 0, "activate unsigned", &o, &e)?;
    if !o.contains("not DNSSEC-signed") {
        return Err(Failed::from(format!("the warning is shown: {o}")));
    }
    // Published by hand (--zone-file) but not really in DNS: activation is refused.
    let (c, o, e) = k.run(&[
        "generate",
        "--domain",
        "signed.test",
        "--selector",
        "byhand",
    ]);
    expect(c, 0, "generate byhand", &o, &e)?;
    let (c, o, e) = k.run(&["publish", "signed.test/byhand", "--zone-file"]);
    expect(c, 0, "zone-file publish", &o, &e)?;
    if !o.contains("byhand._domainkey.signed.test.") || !o.contains("TXT") {
        return Err(Failed::from(format!("the zone-file entry is printed: {o}")));
    }
    let (c, o, e) = k.activate("signed.test/byhand", &[]);
    expect(c, 1, "activate a record that is not there", &o, &e)?;
    if !e.contains("does not serve the record") || k.state("signed.test/byhand")? != "published" {
        return Err(Failed::from(format!("refused with the server named: {e}")));
    }
    // A zone whose servers never answer: no proof either way (exit 3), state unchanged.
    let (c, o, e) = k.run(&["generate", "--domain", "lame.test", "--selector", "l1"]);
    expect(c, 0, "generate lame", &o, &e)?;
    let (c, o, e) = k.run(&["publish", "lame.test/l1", "--zone-file"]);
    expect(c, 0, "zone-file publish lame", &o, &e)?;
    let (c, o, e) = k.activate("lame.test/l1", &["--timeout", "1", "--deadline", "4"]);
    expect(c, 3, "activate in a lame zone", &o, &e)?;
    if k.state("lame.test/l1")? != "published" {
        return Err(Failed::from("a timeout changes nothing"));
    }
    Ok(())
}

/// `keys run` under a policy with no waiting period: killed after each step in turn (as kill -9
/// would), then run again, it always ends with exactly one active key, the new one, whose record
/// every server serves; never a signing key without a published record.
pub fn rotation_survives_a_kill_between_any_two_steps(lab: &Lab) -> Result<(), Failed> {
    let (primary, key) = lab.updater("signed.test.")?;
    let anchor = lab.anchor().to_string_lossy().to_string();
    let resolver = lab.resolver();
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let now0 = t0.to_string();
    let later = (t0 + 30 * DAY).to_string();
    let policy = [
        "--rotate-days",
        "30",
        "--lead-days",
        "0",
        "--retire-days",
        "7",
        "--destroy-days",
        "30",
    ];
    // Steps due at t0 + 30 days: create, publish, activate, deactivate. Kills after each
    // committed step (1..=4); once (5) between the publish's DNS UPDATE and its commit; and
    // once (6) after a publish command that "succeeded" without changing DNS, so the intent
    // must be found unfulfilled and dropped.
    for crash_after in 0..=6 {
        let k = Keys::new(lab)?;
        let first = format!("rot{crash_after}-1");
        let reference = format!("signed.test/{first}");
        for args in [
            vec![
                "--now",
                &now0,
                "generate",
                "--domain",
                "signed.test",
                "--selector",
                &first,
            ],
            vec![
                "--now", &now0, "publish", &reference, "--server", &primary, "--tsig", &key,
            ],
            vec![
                "--now",
                &now0,
                "activate",
                &reference,
                "--resolver",
                &resolver,
                "--trust-anchor",
                &anchor,
            ],
        ] {
            let (c, o, e) = k.run(&args);
            expect(c, 0, &format!("setup {args:?}"), &o, &e)?;
        }
        let mut run = vec![
            "--now",
            &later,
            "run",
            "--server",
            &primary,
            "--tsig",
            &key,
            "--resolver",
            &resolver,
            "--trust-anchor",
            &anchor,
        ];
        run.extend_from_slice(&policy);
        if crash_after > 0 {
            let n = crash_after.to_string();
            let env = if crash_after >= 5 {
                ("MAILTRUST_KEYS_CRASH_AFTER_DNS", "1")
            } else {
                ("MAILTRUST_KEYS_RUN_CRASH_AFTER", n.as_str())
            };
            // Run 6 publishes through a command that does nothing (and says it worked).
            let mut first_run = run.clone();
            if crash_after == 6 {
                first_run.retain(|a| ![primary.as_str(), key.as_str()].contains(a));
                first_run.retain(|a| !["--server", "--tsig"].contains(a));
                first_run.extend_from_slice(&["--publish-cmd", "true"]);
            }
            let (c, o, e) = k.run_env(&first_run, &[env]);
            if c != 137 {
                return Err(Failed::from(format!(
                    "the run was to be killed ({env:?}): exit {c}\n{o}{e}"
                )));
            }
        }
        let (c, o, e) = k.run(&run);
        expect(
            c,
            0,
            &format!("run after a kill after step {crash_after}"),
            &o,
            &e,
        )?;
        if crash_after == 5 && !o.contains("reached DNS; recording it") {
            return Err(Failed::from(format!(
                "the interrupted publish is found in the store and completed from DNS: {o}"
            )));
        }
        if crash_after == 6 && !o.contains("did not reach DNS; dropping it") {
            return Err(Failed::from(format!(
                "the publish that never reached DNS is found and dropped, then done again: {o}"
            )));
        }
        let (_, out, _) = k.run(&["list", "--json"]);
        let keys: Value = serde_json::from_str(&out).map_err(|e| Failed::from(e.to_string()))?;
        let list = keys.as_array().cloned().unwrap_or_default();
        let active: Vec<&Value> = list.iter().filter(|k| k["state"] == "active").collect();
        let old = list.iter().find(|k| k["selector"] == first.as_str());
        if active.len() != 1
            || active[0]["selector"] == first.as_str()
            || old.map(|k| k["state"].clone()) != Some(Value::from("deactivated"))
        {
            return Err(Failed::from(format!(
                "killed after step {crash_after}: one new active key, the old one deactivated: {keys}"
            )));
        }
        // The active key's record is what every server serves.
        let name = active[0]["record_name"].as_str().unwrap_or("").to_string();
        let (out, _) = dns_propagation(lab, &name, "TXT", &["--json"]);
        let p: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let want = active[0]["record"].as_str().unwrap_or("");
        if p["answers"]
            .as_array()
            .is_none_or(|a| a.is_empty() || a.iter().any(|a| a["records"][0] != want))
        {
            return Err(Failed::from(format!(
                "the active key's record is served: {p}"
            )));
        }
        let (c, o, e) = k.run(&["log", "--verify"]);
        expect(c, 0, "log verify after a kill", &o, &e)?;
    }
    Ok(())
}

/// Rec 4-10: a selector delegated by CNAME to a provider is tracked, kept from our own keys and
/// checked (CNAME target, key usable); `audit --key-store` looks at the store's selectors.
pub fn delegated_selectors_are_tracked_and_the_audit_sees_store_selectors(
    lab: &Lab,
) -> Result<(), Failed> {
    let k = Keys::new(lab)?;
    let target = "selector1._domainkey.provider.signed.test";
    let (c, o, e) = k.run(&[
        "delegate",
        "--domain",
        "dkimcname.test",
        "--selector",
        "selector1",
        "--target",
        target,
        "--provider",
        "lab provider",
    ]);
    expect(c, 0, "delegate", &o, &e)?;
    if !o.contains(
        "selector1._domainkey.dkimcname.test CNAME selector1._domainkey.provider.signed.test.",
    ) {
        return Err(Failed::from(format!("delegate says what to publish: {o}")));
    }
    // Our own key cannot take a delegated selector.
    let (c, o, e) = k.run(&[
        "generate",
        "--domain",
        "dkimcname.test",
        "--selector",
        "selector1",
    ]);
    if c == 0 || !e.contains("delegated to") {
        return Err(Failed::from(format!(
            "generate on a delegated selector is refused: {c}\n{o}{e}"
        )));
    }
    // A selector recorded as delegated that is not a CNAME in DNS.
    let (c, o, e) = k.run(&[
        "delegate",
        "--domain",
        "dkimcname.test",
        "--selector",
        "gone",
        "--target",
        target,
        "--provider",
        "old provider",
    ]);
    expect(c, 0, "delegate gone", &o, &e)?;
    let check = |k: &Keys<'_>| {
        k.run(&[
            "delegations",
            "--check",
            "--json",
            "--resolver",
            &k.resolver,
            "--trust-anchor",
            &k.anchor,
        ])
    };
    let (c, o, e) = check(&k);
    expect(c, 1, "delegations --check with a broken one", &o, &e)?;
    let v: Value = serde_json::from_str(&o).map_err(|x| Failed::from(format!("{x}: {o}")))?;
    let by_sel = |s: &str| {
        v.as_array()
            .into_iter()
            .flatten()
            .find(|d| d["selector"] == s)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let good = by_sel("selector1");
    if good["check"]["status"] != "ok"
        || good["check"]["key"] != "rsa 2048"
        || good["check"]["dnssec"] != "secure"
    {
        return Err(Failed::from(format!(
            "the provider's key is sound and secure: {good}"
        )));
    }
    let gone = by_sel("gone");
    if gone["check"]["status"] != "problem"
        || !gone["check"]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("is not a CNAME")
    {
        return Err(Failed::from(format!(
            "a missing CNAME is a problem: {gone}"
        )));
    }
    let (c, o, e) = k.run(&["undelegate", "dkimcname.test/gone"]);
    expect(c, 0, "undelegate", &o, &e)?;
    let (c, o, e) = check(&k);
    expect(c, 0, "delegations --check, all sound", &o, &e)?;

    // audit --key-store: a published key's selector that discovery cannot guess.
    let (primary, key) = lab.updater("signed.test.")?;
    let (c, o, e) = k.run(&[
        "generate",
        "--domain",
        "signed.test",
        "--selector",
        "storesel7",
    ]);
    expect(c, 0, "generate storesel7", &o, &e)?;
    let (c, o, e) = k.publish("signed.test/storesel7", &primary, &key);
    expect(c, 0, "publish storesel7", &o, &e)?;
    let audit = |extra: &[&str]| {
        let mut args = vec![
            "audit",
            "--json",
            "--dns-only",
            "--only",
            "dkim",
            "--resolver",
            &k.resolver,
            "--trust-anchor",
            &k.anchor,
        ];
        args.extend_from_slice(extra);
        args.push("signed.test");
        let (out, _) = in_lab(lab, &args);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        v["domains"][0]["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["id"] == "dkim.key" && f["subject"] == "storesel7")
            .map(|f| f["status"].as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    let without = audit(&[]);
    let with = audit(&["--key-store", &k.store]);
    if !without.is_empty() || with != ["pass"] {
        return Err(Failed::from(format!(
            "the store's selector is audited only with --key-store: without {without:?}, with {with:?}"
        )));
    }
    let (c, o, e) = k.run(&["log", "--verify"]);
    expect(c, 0, "log verify", &o, &e)
}

/// The whole incident response: a key believed stolen is marked compromised, and the same
/// command revokes its record in DNS (`p=` empty, through the intent path) and takes it out of
/// the OpenDKIM export at once; `keys run` keeps the revoked record in place; destroy waits for
/// it on every authoritative server.
pub fn a_compromised_key_is_revoked_in_dns_and_the_export_then_destroyed(
    lab: &Lab,
) -> Result<(), Failed> {
    let k = Keys::new(lab)?;
    let (primary, key) = lab.updater("signed.test.")?;
    let tsig = k.secret_file("tsig.key", &format!("{key}\n"))?;
    let to = ["--server", primary.as_str(), "--tsig-file", tsig.as_str()];
    for (sel, alg) in [("stolen1", "rsa-2048"), ("spare1", "ed25519")] {
        let reference = format!("signed.test/{sel}");
        let (c, o, e) = k.run(&[
            "generate",
            "--domain",
            "signed.test",
            "--selector",
            sel,
            "--algorithm",
            alg,
        ]);
        expect(c, 0, "generate", &o, &e)?;
        let mut publish = vec!["publish", reference.as_str()];
        publish.extend_from_slice(&to);
        let (c, o, e) = k.run(&publish);
        expect(c, 0, "publish", &o, &e)?;
        let (c, o, e) = k.activate(&reference, &[]);
        expect(c, 0, "activate", &o, &e)?;
    }
    let export = k._dir.path().join("opendkim").to_string_lossy().to_string();
    let (c, o, e) = k.run(&["export", "--opendkim", &export]);
    expect(c, 0, "export", &o, &e)?;
    let stolen_file =
        std::path::Path::new(&export).join("mailtrust-keys/signed.test/stolen1.private");
    if !stolen_file.exists() {
        return Err(Failed::from("the active key is exported"));
    }
    let resolver = [
        "--resolver",
        k.resolver.as_str(),
        "--trust-anchor",
        k.anchor.as_str(),
    ];
    let mut compromised = vec![
        "compromised",
        "signed.test/stolen1",
        "--reason",
        "laptop stolen",
        "--opendkim",
        export.as_str(),
    ];
    compromised.extend_from_slice(&to);
    let (c, o, e) = k.run(&compromised);
    expect(c, 0, "compromised", &o, &e)?;
    if k.state("signed.test/stolen1")? != "compromised" {
        return Err(Failed::from("the key is compromised"));
    }
    // Out of the export at once, key file and all; the other key stays.
    let table = std::fs::read_to_string(std::path::Path::new(&export).join("KeyTable"))
        .map_err(|e| Failed::from(e.to_string()))?;
    if table.contains("stolen1") || stolen_file.exists() || !table.contains("spare1") {
        return Err(Failed::from(format!(
            "the compromised key leaves the export at once:\n{table}"
        )));
    }
    // Its record is revoked on every authoritative server.
    let revoked = |what: &str| -> Result<(), Failed> {
        let (out, _) = dns_propagation(lab, "stolen1._domainkey.signed.test", "TXT", &["--json"]);
        let p: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if p["answers"].as_array().is_none_or(|a| {
            a.is_empty() || a.iter().any(|a| a["records"][0] != "v=DKIM1; k=rsa; p=")
        }) {
            return Err(Failed::from(format!(
                "{what}: every server serves p= empty: {p}"
            )));
        }
        Ok(())
    };
    revoked("after keys compromised")?;
    // The record is deleted by hand: `keys run` puts the revoked record back.
    let out = dns_update(
        lab,
        "signed.test",
        &primary,
        &key,
        &["--delete", "stolen1._domainkey", "TXT"],
    );
    if !out.status.success() {
        return Err(Failed::from("deleting the record by hand"));
    }
    let mut run = vec!["run"];
    run.extend_from_slice(&to);
    run.extend_from_slice(&resolver);
    let (c, o, e) = k.run(&run);
    expect(c, 0, "keys run", &o, &e)?;
    revoked("after keys run")?;
    let mut destroy = vec!["destroy", "signed.test/stolen1"];
    destroy.extend_from_slice(&resolver);
    let (c, o, e) = k.run(&destroy);
    expect(c, 0, "destroy once the revocation is proven", &o, &e)?;
    let (_, out, _) = k.run(&["list", "--json"]);
    if !out.contains("\"destroyed\"") {
        return Err(Failed::from(format!("destroyed: {out}")));
    }
    let (c, o, e) = k.run(&["log", "--verify"]);
    expect(c, 0, "log verify", &o, &e)
}
