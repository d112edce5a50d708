//! `keys export --opendkim` against the real OpenDKIM: it signs a message with the exported keys
//! (one instance per algorithm, as OpenDKIM 2.11 needs), miltertest plays the MTA, and
//! `mailtrust dkim verify` checks the result against the keys published in the lab's DNS.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use libtest_mimic::Failed;
use serde_json::Value;

use super::keys::{Keys, expect};
use super::{Lab, in_lab};

const SIGN_LUA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/data/opendkim/sign.lua"
);

const MESSAGE: &str = "From: Alice <alice@signed.test>\n\
To: bob@example.org\n\
Subject: signed by OpenDKIM with keys from mailtrust\n\
Date: Wed, 25 Nov 2026 20:00:00 +0000\n\
Message-ID: <opendkim-1@signed.test>\n\
\n\
Hello Bob.\n\
This line is signed too.\n";

/// The uid of the `opendkim` user the Debian package creates.
fn opendkim_uid() -> Result<u32, Failed> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(fail)?;
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&"opendkim")).then(|| f.get(2)?.parse().ok())?
        })
        .ok_or_else(|| fail("no opendkim user: is the opendkim package installed?"))
}

/// OpenDKIM processes, killed (by PID) however the test ends.
struct Running(Vec<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn fail(what: impl std::fmt::Display) -> Failed {
    Failed::from(what.to_string())
}

/// Starts `opendkim -f` for one algorithm inside the lab's namespace; returns its socket.
fn start(
    lab: &Lab,
    dir: &Path,
    export: &Path,
    alg: &str,
    running: &mut Running,
) -> Result<String, Failed> {
    let sock = dir.join(format!("{alg}.sock"));
    let table = if alg == "rsa" {
        "SigningTable"
    } else {
        "SigningTable.ed25519"
    };
    let conf = dir.join(format!("opendkim-{alg}.conf"));
    // As in production: OpenDKIM drops root for its own user and insists on safe key files
    // (RequireSafeKeys: no group- or world-writable directory above them, which is why the
    // export is not under /tmp).
    let text = format!(
        "Background no\nSyslog no\nMode s\nCanonicalization relaxed/relaxed\n\
         KeyTable file:{export}/KeyTable\nSigningTable refile:{export}/{table}\n\
         SignatureAlgorithm {alg}-sha256\nMultipleSignatures yes\nInternalHosts 127.0.0.1\n\
         UserID opendkim\nRequireSafeKeys yes\nSoftwareHeader no\nUMask 007\n\
         TemporaryDirectory {dir}\nSocket local:{sock}\nPidFile {dir}/{alg}.pid\n",
        export = export.display(),
        dir = dir.display(),
        sock = sock.display(),
    );
    std::fs::write(&conf, text).map_err(fail)?;
    let netns = lab.info["netns"].as_str().unwrap_or_default().to_string();
    let child = Command::new("ip")
        .args(["netns", "exec", &netns, "opendkim", "-f", "-x"])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            fail(format!(
                "cannot start opendkim (is the package installed?): {e}"
            ))
        })?;
    running.0.push(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sock.exists() {
        if Instant::now() > deadline {
            return Err(fail(format!(
                "opendkim ({alg}) did not create {}",
                sock.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(format!("local:{}", sock.display()))
}

/// Has OpenDKIM sign `msg` on `socket`; the DKIM-Signature fields as they go into the message.
fn sign(socket: &str, msg: &Path, out: &Path) -> Result<Vec<u8>, Failed> {
    let o = Command::new("miltertest")
        .args(["-s", SIGN_LUA, "-D"])
        .arg(format!("SOCK={socket}"))
        .arg("-D")
        .arg(format!("MSG={}", msg.display()))
        .arg("-D")
        .arg(format!("OUT={}", out.display()))
        .output()
        .map_err(|e| fail(format!("cannot run miltertest: {e}")))?;
    if !o.status.success() {
        return Err(fail(format!(
            "miltertest on {socket}: {}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        )));
    }
    std::fs::read(out).map_err(fail)
}

fn verify(k: &Keys<'_>, lab: &Lab, file: &Path) -> (i32, Value) {
    let file = file.to_string_lossy().to_string();
    let (out, _) = in_lab(
        lab,
        &[
            "dkim",
            "verify",
            &file,
            "--json",
            "--resolver",
            &k.resolver,
            "--trust-anchor",
            &k.anchor,
        ],
    );
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
    )
}

pub fn opendkim_signs_with_exported_keys_and_mailtrust_verifies(lab: &Lab) -> Result<(), Failed> {
    let k = Keys::new(lab)?;
    let (primary, tsig) = lab.updater("signed.test.")?;
    // Two keys of the MTA that runs OpenDKIM (RSA and Ed25519), one of another MTA.
    for (sel, alg, mta) in [
        ("odrsa1", "rsa-2048", "mx9.signed.test"),
        ("oded1", "ed25519", "mx9.signed.test"),
        ("odother1", "rsa-2048", "mx8.signed.test"),
    ] {
        let reference = format!("signed.test/{sel}");
        let (c, o, e) = k.run(&[
            "generate",
            "--domain",
            "signed.test",
            "--selector",
            sel,
            "--algorithm",
            alg,
            "--mta",
            mta,
        ]);
        expect(c, 0, "generate", &o, &e)?;
        let (c, o, e) = k.publish(&reference, &primary, &tsig);
        expect(c, 0, "publish", &o, &e)?;
        let (c, o, e) = k.activate(&reference, &[]);
        expect(c, 0, "activate", &o, &e)?;
    }
    // Under /run (root's, 0755), not /tmp: OpenDKIM refuses keys below a world-writable
    // directory, sticky bit or not. The work directory belongs to the opendkim user.
    let dir = tempfile::Builder::new()
        .prefix("mailtrust-opendkim-")
        .tempdir_in("/run")
        .map_err(fail)?;
    std::os::unix::fs::chown(dir.path(), Some(opendkim_uid()?), None).map_err(fail)?;
    // An export inside the opendkim user's directory is refused: that user could swap the
    // files root writes there (and have root chown anything).
    let theirs = dir.path().join("export").to_string_lossy().to_string();
    let (c, o, e) = k.run(&["export", "--opendkim", &theirs]);
    if c == 0 || !e.contains("owned by uid") {
        return Err(fail(format!(
            "an export below the opendkim user's directory is refused: {c}\n{o}{e}"
        )));
    }
    // The export in a directory of root's that OpenDKIM may only traverse.
    let root_dir = tempfile::Builder::new()
        .prefix("mailtrust-opendkim-export-")
        .tempdir_in("/run")
        .map_err(fail)?;
    std::fs::set_permissions(
        root_dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o711),
    )
    .map_err(fail)?;
    let export = root_dir.path().join("export");
    let export_s = export.to_string_lossy().to_string();
    // mx9's keys, for OpenDKIM running as its own user.
    let export_args = [
        "export",
        "--opendkim",
        &export_s,
        "--for-mta",
        "mx9.signed.test",
        "--opendkim-owner",
        "opendkim",
    ];
    let (c, o, e) = k.run(&export_args);
    expect(c, 0, "export --opendkim", &o, &e)?;
    let key_table = std::fs::read_to_string(export.join("KeyTable")).map_err(fail)?;
    if !key_table.contains("odrsa1._domainkey.signed.test signed.test:odrsa1:")
        || !key_table.contains("oded1._domainkey.signed.test signed.test:oded1:")
        || key_table.contains("odother1")
    {
        return Err(fail(format!(
            "the KeyTable holds mx9's two keys only:\n{key_table}"
        )));
    }

    let msg = dir.path().join("msg.eml");
    std::fs::write(&msg, MESSAGE).map_err(fail)?;
    let mut running = Running(Vec::new());
    let rsa = start(lab, dir.path(), &export, "rsa", &mut running)?;
    let ed = start(lab, dir.path(), &export, "ed25519", &mut running)?;
    let mut signed = sign(&rsa, &msg, &dir.path().join("sig.rsa"))?;
    signed.extend(sign(&ed, &msg, &dir.path().join("sig.ed25519"))?);
    drop(running);
    signed.extend(MESSAGE.replace('\n', "\r\n").into_bytes());
    let signed_path = dir.path().join("signed.eml");
    std::fs::write(&signed_path, &signed).map_err(fail)?;

    let (code, report) = verify(&k, lab, &signed_path);
    let sigs = report["signatures"].as_array().cloned().unwrap_or_default();
    let find = |sel: &str| {
        sigs.iter()
            .find(|s| s["selector"] == sel)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let (r, e) = (find("odrsa1"), find("oded1"));
    if code != 0
        || sigs.len() != 2
        || r["verdict"] != "pass"
        || r["algorithm"] != "rsa-sha256"
        || r["key"]["dnssec"] != "secure"
        || r["key"]["bits"] != 2048
        || e["verdict"] != "pass"
        || e["algorithm"] != "ed25519-sha256"
        || e["key"]["dnssec"] != "secure"
    {
        return Err(fail(format!(
            "OpenDKIM's two signatures pass, keys DNSSEC-secure: exit {code}\n{report:#}\n{}",
            String::from_utf8_lossy(&signed)
        )));
    }
    // The same message with its body changed: nothing passes.
    let tampered = String::from_utf8_lossy(&signed).replace("Hello Bob.", "Hello Eve.");
    let tampered_path = dir.path().join("tampered.eml");
    std::fs::write(&tampered_path, tampered).map_err(fail)?;
    let (code, report) = verify(&k, lab, &tampered_path);
    let passes = report["signatures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["verdict"] == "pass")
        .count();
    if code != 1 || passes != 0 {
        return Err(fail(format!(
            "a changed body fails: exit {code}\n{report:#}"
        )));
    }

    // Deactivating the RSA key takes it out of the next export, key file and all.
    let (c, o, e) = k.run(&["deactivate", "signed.test/odrsa1"]);
    expect(c, 0, "deactivate", &o, &e)?;
    let (c, o, e) = k.run(&export_args);
    expect(c, 0, "export again", &o, &e)?;
    let key_table = std::fs::read_to_string(export.join("KeyTable")).map_err(fail)?;
    if key_table.contains("odrsa1")
        || export
            .join("mailtrust-keys/signed.test/odrsa1.private")
            .exists()
        || !export
            .join("mailtrust-keys/signed.test/oded1.private")
            .exists()
        || !o.contains("1 old key file(s) removed")
    {
        return Err(fail(format!(
            "a deactivated key leaves the export: {o}\n{key_table}"
        )));
    }
    let (c, o, e) = k.run(&["log", "--verify"]);
    expect(c, 0, "log verify", &o, &e)
}
