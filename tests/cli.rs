//! The `mailtrust` binary without the lab: help, version, completions and argument errors.

use std::process::Command;

#[path = "cli/keys_ops.rs"]
mod keys_ops;

const BIN: &str = env!("CARGO_BIN_EXE_mailtrust");

/// Writes a test KEK as any secret is written: 0600 from its creation, never through a symlink.
fn write_kek(path: &std::path::Path, bytes: [u8; 32]) {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(&bytes))
        .expect("kek");
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("run mailtrust");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn version_names_the_program() {
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("mailtrust "), "{out}");
}

#[test]
fn help_lists_the_commands() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for cmd in ["dns", "lab", "completions"] {
        assert!(out.contains(cmd), "{cmd} in help: {out}");
    }
    let (code, out, _) = run(&["dns", "lookup", "--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("--trust-anchor") && out.contains("Exit status"),
        "{out}"
    );
}

#[test]
fn completions_for_bash_and_zsh() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = run(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(
            out.contains("mailtrust") && out.contains("lookup"),
            "{shell} completions mention subcommands"
        );
    }
}

#[test]
fn unknown_record_type_is_a_usage_error() {
    let (code, _, err) = run(&["dns", "lookup", "example.test", "HINFO"]);
    assert_eq!(code, 2);
    assert!(err.contains("unsupported record type"), "{err}");
}

#[test]
fn bad_resolver_address_is_a_usage_error() {
    let (code, _, err) = run(&[
        "dns",
        "lookup",
        "example.test",
        "A",
        "--resolver",
        "dns.example",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("invalid resolver address"), "{err}");
}

#[test]
fn missing_trust_anchor_file_is_one_clear_line() {
    let (code, _, err) = run(&[
        "dns",
        "lookup",
        "example.test",
        "A",
        "--trust-anchor",
        "/nonexistent/anchor.key",
    ]);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/anchor.key"), "{err}");
}

#[test]
fn invalid_name_is_one_clear_line() {
    let long = "a".repeat(70);
    let (code, _, err) = run(&[
        "dns",
        "lookup",
        &format!("{long}.example"),
        "A",
        "--resolver",
        "127.0.0.1:9",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("invalid domain name"), "{err}");
}

#[test]
fn lab_commands_on_a_missing_state_fail_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("nothing-here");
    let (code, _, err) = run(&["lab", "status", "--state", &state.to_string_lossy()]);
    assert_ne!(code, 0);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// `mailtrust keys` without DNS: export and import round-trip the key, bad input is refused
/// with nothing written, a wrong KEK decrypts nothing, KEK rotation and backup work.
#[test]
fn keys_export_import_kek_and_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let kek = d.join("kek");
    write_kek(&kek, [7u8; 32]);
    let store = d.join("keys.db");
    let (s, k) = (
        store.to_string_lossy().to_string(),
        kek.to_string_lossy().to_string(),
    );
    let keys = |args: &[&str]| {
        let mut all = vec!["keys", "--store", &s, "--kek-file", &k];
        all.extend_from_slice(args);
        run(&all)
    };
    let count = || {
        let (_, out, _) = keys(&["list", "--json"]);
        serde_json::from_str::<serde_json::Value>(&out)
            .ok()
            .and_then(|v| v.as_array().map(Vec::len))
            .unwrap_or(usize::MAX)
    };
    let (code, out, err) = keys(&[
        "generate",
        "--domain",
        "example.org",
        "--selector",
        "s1",
        "--algorithm",
        "ed25519",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    // Export the private key and import it under another selector: the same public key.
    let pem = d.join("s1.pem");
    let (code, _, err) = keys(&[
        "export",
        "example.org/s1",
        "--private",
        "-o",
        &pem.to_string_lossy(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("PRIVATE"), "{err}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&pem).expect("pem").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let (code, out, err) = keys(&[
        "import",
        "--domain",
        "example.org",
        "--selector",
        "s2",
        "--pem",
        &pem.to_string_lossy(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let record = |sel: &str| {
        let (_, out, _) = keys(&["show", &format!("example.org/{sel}"), "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        (v["algorithm"].clone(), v["state"].clone())
    };
    assert_eq!(record("s2"), record("s1"));
    let (_, pub1, _) = keys(&["export", "example.org/s1"]);
    let (_, pub2, _) = keys(&["export", "example.org/s2"]);
    assert!(
        pub1.starts_with("-----BEGIN PUBLIC KEY-----") && pub1 == pub2,
        "{pub1}\n{pub2}"
    );
    assert_eq!(count(), 2);
    // Malformed PEM, a duplicate live selector, a bad domain: clear errors, nothing written.
    let bad = d.join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n",
    )
    .expect("bad");
    let (code, _, err) = keys(&[
        "import",
        "--domain",
        "example.org",
        "--selector",
        "s3",
        "--pem",
        &bad.to_string_lossy(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("PKCS#8"), "{err}");
    let (code, _, err) = keys(&["generate", "--domain", "example.org", "--selector", "s1"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = keys(&["generate", "--domain", "not a domain", "--selector", "x"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(count(), 2);
    // A wrong KEK: refused, nothing decrypted or written.
    let wrong = d.join("wrong");
    write_kek(&wrong, [9u8; 32]);
    let (code, out, err) = run(&[
        "keys",
        "--store",
        &s,
        "--kek-file",
        &wrong.to_string_lossy(),
        "export",
        "example.org/s1",
        "--private",
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(!out.contains("PRIVATE KEY"), "{out}");
    // KEK rotation: the new KEK works, the old one no longer does.
    let new = d.join("new");
    write_kek(&new, [5u8; 32]);
    let (code, out, err) = keys(&["rotate-kek", "--new-kek-file", &new.to_string_lossy()]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = run(&[
        "keys",
        "--store",
        &s,
        "--kek-file",
        &new.to_string_lossy(),
        "export",
        "example.org/s2",
        "--private",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("BEGIN PRIVATE KEY"));
    let (code, _, _) = keys(&["export", "example.org/s2", "--private"]);
    assert_eq!(code, 2);
    // A backup opens as a store with the same keys, and the log verifies.
    let backup = d.join("backup.db");
    let (code, _, err) = keys(&["backup", &backup.to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    // Checking the log needs the KEK (it is keyed under it); the backup opens with the new one.
    let (code, _, err) = run(&[
        "keys",
        "--store",
        &backup.to_string_lossy(),
        "log",
        "--verify",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("key-encryption key"), "{err}");
    let (code, out, err) = run(&[
        "keys",
        "--store",
        &backup.to_string_lossy(),
        "--kek-file",
        &new.to_string_lossy(),
        "log",
        "--verify",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("intact") && out.contains("head"), "{out}");
}

#[test]
fn keys_backup_and_restore_never_undo_history_silently() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let kek = d.join("kek");
    write_kek(&kek, [9u8; 32]);
    let other_kek = d.join("other");
    write_kek(&other_kek, [8u8; 32]);
    let store = d.join("keys.db");
    let backup = d.join("backup.db");
    let (s, k, b) = (
        store.to_string_lossy().to_string(),
        kek.to_string_lossy().to_string(),
        backup.to_string_lossy().to_string(),
    );
    let keys = |kek: &str, args: &[&str]| {
        let mut all = vec!["keys", "--store", &s, "--kek-file", kek];
        all.extend_from_slice(args);
        run(&all)
    };
    let generate = |sel: &str| {
        let (code, out, err) = keys(
            &k,
            &[
                "generate",
                "--domain",
                "example.org",
                "--selector",
                sel,
                "--algorithm",
                "ed25519",
            ],
        );
        assert_eq!(code, 0, "{out}{err}");
    };
    generate("r1");
    let (code, _, err) = keys(&k, &["backup", &b]);
    assert_eq!(code, 0, "{err}");
    generate("r2");
    // The backup lacks r2: refused, and the store still has both keys.
    let (code, _, err) = keys(&k, &["restore", &b]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("example.org/r2") && err.contains("--allow-regression"),
        "{err}"
    );
    let (_, out, _) = keys(&k, &["list"]);
    assert!(out.contains("example.org/r2"), "{out}");
    // A KEK that does not open the backup: refused.
    let (code, _, err) = keys(
        &other_kek.to_string_lossy(),
        &["restore", &b, "--allow-regression"],
    );
    assert_eq!(code, 2, "{err}");
    let (code, out, err) = keys(&k, &["restore", &b, "--allow-regression"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("before-restore"), "{out}");
    let (_, out, _) = keys(&k, &["list"]);
    assert!(
        out.contains("example.org/r1") && !out.contains("example.org/r2"),
        "{out}"
    );
    let (code, out, err) = keys(&k, &["log", "--verify"]);
    assert_eq!(code, 0, "{out}{err}");
}

/// Someone who can write the store but lacks the KEK puts another public key into a key's
/// row: `keys publish` refuses, naming the key, instead of publishing it (issue 10).
#[test]
fn keys_publish_refuses_a_public_key_swapped_in_the_store() {
    let st = keys_ops::Store::new();
    let store = st.path("keys.db");
    let s = store.to_string_lossy().to_string();
    let keys = |args: &[&str]| st.run(args);
    for sel in ["s1", "s2"] {
        let (code, out, err) = keys(&[
            "generate",
            "--domain",
            "example.org",
            "--selector",
            sel,
            "--algorithm",
            "ed25519",
        ]);
        assert_eq!(code, 0, "{out}{err}");
    }
    let (_, before, _) = keys(&["export", "example.org/s1"]);
    {
        let c = rusqlite::Connection::open(&store).expect("sqlite");
        c.execute(
            "UPDATE keys SET public_key = (SELECT public_key FROM keys WHERE selector = 's2')
             WHERE selector = 's1'",
            [],
        )
        .expect("swap");
    }
    let (code, out, err) = keys(&["publish", "example.org/s1", "--zone-file"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(!out.contains("p="), "nothing published: {out}");
    assert!(
        err.contains("example.org/s1") && err.contains("without the key-encryption key"),
        "{err}"
    );
    // Without the KEK the row reads as it is (list and show are for people, not DNS).
    let (code, after, _) = run(&["keys", "--store", &s, "export", "example.org/s1"]);
    assert_eq!(code, 0);
    assert!(after.contains("PUBLIC KEY") && before != after, "{after}");
    // With the KEK, even the public export is checked first.
    let (code, _, err) = keys(&["export", "example.org/s1"]);
    assert_eq!(code, 2, "{err}");
}

/// The KEK file is checked as the store is, and a new store refuses an empty or short
/// passphrase.
#[test]
fn keys_refuse_a_readable_kek_file_and_a_short_passphrase() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let kek = d.join("kek");
    write_kek(&kek, [4u8; 32]);
    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let store = d.join("keys.db").to_string_lossy().to_string();
    let generate = ["generate", "--domain", "example.org", "--selector", "s1"];
    let mut args = vec!["keys", "--store", &store];
    let k = kek.to_string_lossy().to_string();
    args.extend_from_slice(&["--kek-file", &k]);
    args.extend_from_slice(&generate);
    let (code, _, err) = run(&args);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("chmod 600"), "{err}");
    for (pass, says) in [("", "empty"), ("short pass", "at least 15")] {
        let out = Command::new(BIN)
            .args(["keys", "--store", &store])
            .args(generate)
            .env("MAILTRUST_KEK_PASSPHRASE", pass)
            .env_remove("MAILTRUST_KEK")
            .env_remove("MAILTRUST_KEK_FILE")
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(says), "{err}");
    }
    assert!(!d.join("keys.db").exists(), "nothing was created");
}

#[test]
fn dkim_verify_of_a_message_without_signatures_needs_no_network() {
    let dir = tempfile::tempdir().expect("tempdir");
    let msg = dir.path().join("m.eml");
    std::fs::write(&msg, "From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n").expect("msg");
    let (code, out, err) = run(&[
        "dkim",
        "verify",
        &msg.to_string_lossy(),
        "--resolver",
        "127.0.0.1:9",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("no DKIM-Signature"), "{out}");
    let (code, _, err) = run(&["dkim", "verify", "/nonexistent/message"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot open /nonexistent/message"), "{err}");
}
