//! The `mailtrust` binary without the lab: help, version, completions and argument errors.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_mailtrust");

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
