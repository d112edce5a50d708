//! `mailtrust keys` operations that need no lab: what a DNS refusal proves, what children
//! inherit, the store lock. (The lab tests in tests/lab/keys.rs drive the same commands
//! against real servers.)

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;

use super::BIN;

/// A store and KEK in a private temporary directory.
pub(crate) struct Store {
    pub(crate) dir: tempfile::TempDir,
    store: String,
    kek: String,
}

impl Store {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let kek = dir.path().join("kek");
        super::write_kek(&kek, [5u8; 32]);
        let store = dir.path().join("keys.db").to_string_lossy().to_string();
        let kek = kek.to_string_lossy().to_string();
        Store { dir, store, kek }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(["keys", "--store", &self.store, "--kek-file", &self.kek])
            .args(args);
        c
    }

    /// `mailtrust keys ARGS` with extra environment: (exit code, stdout, stderr).
    pub(crate) fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let mut c = self.command(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().expect("run mailtrust");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub(crate) fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.run_env(args, &[])
    }

    /// A new Ed25519 key of example.org, for an MTA of its own (so that `keys run` sees no
    /// rotation to finish between two of them).
    pub(crate) fn generate(&self, selector: &str) {
        let (c, o, e) = self.run(&[
            "generate",
            "--domain",
            "example.org",
            "--selector",
            selector,
            "--algorithm",
            "ed25519",
            "--mta",
            &format!("mta-{selector}"),
        ]);
        assert_eq!(c, 0, "generate {selector}: {o}{e}");
    }

    /// The audit log's event names, oldest first.
    pub(crate) fn events(&self) -> Vec<String> {
        let (_, out, err) = self.run(&["log", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).expect(&err);
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["event"].as_str().map(String::from))
            .collect()
    }
}

/// A "server" on loopback that answers one DNS message over TCP with an unsigned header
/// carrying `rcode`, as anyone on the path could.
fn forged_error_answer(rcode: u8) -> (String, std::thread::JoinHandle<()>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    let t = std::thread::spawn(move || {
        let Ok((mut s, _)) = l.accept() else { return };
        let mut len = [0u8; 2];
        if s.read_exact(&mut len).is_err() {
            return;
        }
        let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if s.read_exact(&mut q).is_err() || q.len() < 2 {
            return;
        }
        let a = [q[0], q[1], 0x80 | (5 << 3), rcode, 0, 0, 0, 0, 0, 0, 0, 0];
        let _ = s.write_all(&[0, 12]);
        let _ = s.write_all(&a);
    });
    (addr, t)
}

/// An unsigned REFUSED proves nothing about the zone: the publish intent is kept (the next
/// `keys run` asks DNS whether the change happened) instead of being dropped.
#[test]
fn an_unsigned_refusal_keeps_the_intent() {
    let s = Store::new();
    s.generate("forged");
    let (server, t) = forged_error_answer(5);
    let (c, o, e) = s.run_env(
        &["publish", "example.org/forged", "--server", &server],
        &[("MAILTRUST_TSIG_KEY", "hmac-sha256:k:c2VjcmV0c2VjcmV0")],
    );
    t.join().expect("server thread");
    assert_eq!(c, 1, "{o}{e}");
    assert!(e.contains("REFUSED") && e.contains("not signed"), "{e}");
    let events = s.events();
    assert!(events.contains(&"intent_publish".to_string()), "{events:?}");
    assert!(
        !events.contains(&"intent_cleared".to_string()),
        "an unsigned refusal must not drop the intent: {events:?}"
    );
}

/// An executable shell script in the store's directory.
fn script(s: &Store, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let p = s.path(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("script");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p.to_string_lossy().to_string()
}

const SECRETS: [(&str, &str); 3] = [
    (
        "MAILTRUST_KEK",
        "0505050505050505050505050505050505050505050505050505050505050505",
    ),
    ("MAILTRUST_KEK_PASSPHRASE", "correct horse battery staple"),
    ("MAILTRUST_TSIG_KEY", "hmac-sha256:k:c2VjcmV0c2VjcmV0"),
];

/// A publish command sees its record, never our secrets; a failing one's stderr is shown as
/// a short tail only.
#[test]
fn publish_commands_inherit_no_secrets_and_their_stderr_is_bounded() {
    let s = Store::new();
    s.generate("child");
    let env_out = s.path("child.env");
    let cmd = script(
        &s,
        "env.sh",
        &format!("env > '{}'; exit 0", env_out.display()),
    );
    let (c, o, e) = s.run_env(
        &["publish", "example.org/child", "--publish-cmd", &cmd],
        &SECRETS,
    );
    assert_eq!(c, 0, "{o}{e}");
    let seen = std::fs::read_to_string(&env_out).expect("the command ran");
    assert!(
        seen.contains("MAILTRUST_RECORD_NAME=child._domainkey.example.org"),
        "{seen}"
    );
    for (name, value) in SECRETS {
        assert!(
            !seen.contains(name) && !seen.contains(value),
            "{name} leaked: {seen}"
        );
    }
    // A command that fails loudly: a short tail of what it said, never pages of it.
    s.generate("loud");
    let loud = script(
        &s,
        "loud.sh",
        "i=0; while [ $i -lt 400 ]; do echo \"line $i of a very long complaint\" >&2; i=$((i+1)); done; exit 7",
    );
    let (c, o, e) = s.run_env(
        &["publish", "example.org/loud", "--publish-cmd", &loud],
        &SECRETS,
    );
    assert_eq!(c, 1, "{o}{e}");
    assert!(e.contains("line 399 of"), "the tail is shown: {e}");
    assert!(e.len() < 1500, "bounded ({} bytes): {e}", e.len());
}

/// `--tsig-file`: the documented way to give the TSIG key (not visible to `ps`); checked like
/// a secret (mode 0600, ours, no symlink). `--tsig` on the command line still works, with a
/// warning.
#[test]
fn tsig_keys_come_from_a_private_file() {
    use std::os::unix::fs::PermissionsExt;
    let s = Store::new();
    s.generate("t1");
    let key = s.path("tsig.key");
    std::fs::write(&key, "hmac-sha256:k:c2VjcmV0c2VjcmV0\n").expect("key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let key_s = key.to_string_lossy().to_string();
    let (c, o, e) = s.run(&[
        "publish",
        "example.org/t1",
        "--server",
        "127.0.0.1:9",
        "--tsig-file",
        &key_s,
    ]);
    assert_eq!(c, 2, "a key file others can read is refused: {o}{e}");
    assert!(e.contains("0600") || e.contains("others"), "{e}");
    let link = s.path("tsig.link");
    std::os::unix::fs::symlink(&key, &link).expect("symlink");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let (c, o, e) = s.run(&[
        "publish",
        "example.org/t1",
        "--server",
        "127.0.0.1:9",
        "--tsig-file",
        &link.to_string_lossy(),
    ]);
    assert_eq!(c, 2, "a symlink is refused: {o}{e}");
    // Knot's `keymgr -t` output works as it is.
    std::fs::write(
        &key,
        "# hmac-sha256:k:c2VjcmV0c2VjcmV0\nkey:\n  - id: k\n    algorithm: hmac-sha256\n    secret: c2VjcmV0c2VjcmV0\n",
    )
    .expect("key");
    let (server, t) = forged_error_answer(5);
    let (c, o, e) = s.run(&[
        "publish",
        "example.org/t1",
        "--server",
        &server,
        "--tsig-file",
        &key_s,
    ]);
    t.join().expect("server thread");
    assert_eq!(c, 1, "the update was sent and refused: {o}{e}");
    assert!(e.contains("REFUSED") && !e.contains("ps"), "{e}");
    // --tsig on the command line: still accepted, with a warning.
    let (server, t) = forged_error_answer(5);
    let (c, o, e) = s.run(&[
        "publish",
        "example.org/t1",
        "--server",
        &server,
        "--tsig",
        "hmac-sha256:k:c2VjcmV0c2VjcmV0",
    ]);
    t.join().expect("server thread");
    assert_eq!(c, 1, "{o}{e}");
    assert!(e.contains("visible") && e.contains("--tsig-file"), "{e}");
    // `dns update` takes the same file.
    let (server, t) = forged_error_answer(5);
    let out = Command::new(BIN)
        .args([
            "dns",
            "update",
            "example.org",
            "--server",
            &server,
            "--key-file",
            &key_s,
        ])
        .args(["--txt", "x", "y"])
        .output()
        .expect("run");
    t.join().expect("server thread");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("REFUSED"), "{err}");
}

/// Two mutating `keys` commands never run at once: the second waits for the first, and gives
/// up clearly when it waited too long. The lock file is private.
#[test]
fn mutating_commands_take_turns() {
    use std::os::unix::fs::PermissionsExt;
    let s = Store::new();
    s.generate("l1");
    s.generate("l2");
    let started = s.path("started");
    let slow = script(
        &s,
        "slow.sh",
        &format!("touch '{}'; sleep 4; exit 0", started.display()),
    );
    let mut first = s
        .command(&["publish", "example.org/l1", "--publish-cmd", &slow])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let t0 = std::time::Instant::now();
    while !started.exists() {
        assert!(
            t0.elapsed().as_secs() < 20,
            "the publish command never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (c, o, e) = s.run(&["--lock-wait", "1", "deactivate", "example.org/l2"]);
    assert_eq!(c, 3, "a busy store: {o}{e}");
    assert!(e.contains("keys.db.lock"), "{e}");
    // Reading needs no lock.
    let (c, _, e) = s.run(&["list"]);
    assert_eq!(c, 0, "{e}");
    // A second publisher waits its turn and then succeeds.
    let (c, o, e) = s.run(&["publish", "example.org/l2", "--publish-cmd", &slow]);
    assert_eq!(c, 0, "{o}{e}");
    assert!(t0.elapsed().as_secs() >= 3, "it waited for the first");
    assert!(first.wait().expect("wait").success());
    let mode = std::fs::metadata(s.path("keys.db.lock"))
        .expect("lock file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// A key, published by hand and activated without DNS proof (no lab here).
fn active(s: &Store, selector: &str) {
    s.generate(selector);
    let reference = format!("example.org/{selector}");
    let (c, o, e) = s.run(&["publish", &reference, "--zone-file"]);
    assert_eq!(c, 0, "{o}{e}");
    let (c, o, e) = s.run(&[
        "activate",
        &reference,
        "--force",
        "--resolver",
        "127.0.0.1:9",
        "--timeout",
        "0.2",
        "--deadline",
        "1",
    ]);
    assert_eq!(c, 0, "{o}{e}");
}

/// `keys run --opendkim --reload-cmd`: a reload that fails makes the run fail and is tried
/// again by the next run; old key files go only after a reload that worked; the tables stay
/// readable by OpenDKIM whatever the umask (the shipped unit has UMask=0077).
#[test]
fn opendkim_reload_failures_are_retried_and_stale_keys_wait_for_a_reload() {
    use std::os::unix::fs::PermissionsExt;
    let s = Store::new();
    active(&s, "o1");
    active(&s, "o2");
    let export = s.path("export");
    let fail = script(&s, "fail.sh", "echo reload failed >&2; exit 1");
    let ok = script(&s, "ok.sh", "exit 0");
    let run = |reload: &str| {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg("umask 077; exec \"$@\"")
            .arg("sh")
            .arg(BIN)
            .args(["keys", "--store", &s.store, "--kek-file", &s.kek])
            .args(["run", "--publish-cmd", "true", "--resolver", "127.0.0.1:9"])
            .args(["--timeout", "0.2", "--deadline", "1", "--opendkim"])
            .arg(&export)
            .args(["--reload-cmd", reload]);
        let out = c.output().expect("run");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (c, o, e) = run(&fail);
    assert_ne!(c, 0, "a failed reload fails the run: {o}{e}");
    assert!(e.contains("reload"), "{e}");
    let mode = std::fs::metadata(export.join("KeyTable"))
        .expect("KeyTable")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644, "OpenDKIM must read its tables");
    let (c, o, e) = run(&ok);
    assert_eq!(c, 0, "the next run reloads again: {o}{e}");
    assert!(o.contains("reload"), "{o}");
    // o1 stops signing: it leaves the tables at once, but its file stays until a reload worked.
    let (c, o, e) = s.run(&["deactivate", "example.org/o1"]);
    assert_eq!(c, 0, "{o}{e}");
    let o1 = export.join("mailtrust-keys/example.org/o1.private");
    let (c, o, e) = run(&fail);
    assert_ne!(c, 0, "{o}{e}");
    let table = std::fs::read_to_string(export.join("KeyTable")).expect("KeyTable");
    assert!(!table.contains("o1._domainkey"), "{table}");
    assert!(o1.exists(), "OpenDKIM still uses o1 until it reloads");
    let (c, o, e) = run(&ok);
    assert_eq!(c, 0, "{o}{e}");
    assert!(!o1.exists(), "gone after the reload");
    assert!(
        export
            .join("mailtrust-keys/example.org/o2.private")
            .exists()
    );
}

/// An export path under a directory that someone else owns, or that others may write to, is
/// refused: root would write (and chown) files where that user can swap them.
#[test]
fn opendkim_exports_refuse_directories_others_control() {
    use std::os::unix::fs::{PermissionsExt, chown};
    let s = Store::new();
    active(&s, "p1");
    let shared = s.path("shared");
    std::fs::create_dir(&shared).expect("mkdir");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let export =
        |dir: &std::path::Path| s.run(&["export", "--opendkim", &dir.join("od").to_string_lossy()]);
    let (c, o, e) = export(&shared);
    assert_ne!(c, 0, "a world-writable parent: {o}{e}");
    assert!(e.contains("writable"), "{e}");
    assert!(!shared.join("od").exists(), "nothing written");
    // Someone else's directory (only root can make one here; as another user, skip).
    let theirs = s.path("theirs");
    std::fs::create_dir(&theirs).expect("mkdir");
    if chown(&theirs, Some(65534), Some(65534)).is_ok() {
        let (c, o, e) = export(&theirs);
        assert_ne!(c, 0, "a parent owned by nobody: {o}{e}");
        assert!(e.contains("owned by"), "{e}");
    }
    let mine = s.path("mine");
    std::fs::create_dir(&mine).expect("mkdir");
    let (c, o, e) = export(&mine);
    assert_eq!(c, 0, "{o}{e}");
}

/// A compromised key cannot be destroyed before its revoked record is proven on every
/// authoritative server (here none can be asked).
#[test]
fn a_compromised_key_is_not_destroyed_without_proof_of_revocation() {
    let s = Store::new();
    active(&s, "c1");
    let (c, o, e) = s.run(&["compromised", "example.org/c1", "--zone-file"]);
    assert_eq!(c, 0, "{o}{e}");
    assert!(
        o.contains("v=DKIM1; k=ed25519; p="),
        "the revoked record to publish: {o}"
    );
    // Run again (to finish what failed the first time), it changes nothing of the key: the
    // incident's time stays the first one.
    let (_, before, _) = s.run(&["show", "example.org/c1", "--json"]);
    let (c, o, e) = s.run(&[
        "compromised",
        "example.org/c1",
        "--zone-file",
        "--now",
        "1900000000",
    ]);
    assert_eq!(c, 0, "{o}{e}");
    let (_, after, _) = s.run(&["show", "example.org/c1", "--json"]);
    assert_eq!(before, after, "a second `keys compromised` changed the key");
    let (c, o, e) = s.run(&[
        "destroy",
        "example.org/c1",
        "--resolver",
        "127.0.0.1:9",
        "--timeout",
        "0.2",
        "--deadline",
        "1",
    ]);
    assert_eq!(c, 3, "no proof either way: {o}{e}");
    let (_, o, _) = s.run(&["show", "example.org/c1", "--json"]);
    assert!(o.contains("\"compromised\""), "{o}");
}
