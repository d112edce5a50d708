//! MTA-STS test vectors: RFC 8461 examples, a cross-check with mail-auth, MX matching, and
//! random inputs.

use mail_auth::dns::TxtRecordParser;

use super::*;
use crate::testing::{ALPHABET, Inputs, kinds};

/// RFC 8461 §3.1 example and mail-auth's test vectors.
const VALID_RECORDS: &[&str] = &[
    "v=STSv1; id=20160831085700Z;",
    "v=STSv1; id=20190429T010101",
];

/// RFC 8461 §3.2 example policy.
const RFC8461_POLICY: &str = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n";

#[test]
fn records() {
    for txt in VALID_RECORDS {
        let r = MtaStsRecord::parse(txt.as_bytes());
        assert!(r.is_valid(), "{txt}: {:?}", r.diagnostics);
        assert!(is_mta_sts_record(txt.as_bytes()));
        let theirs = mail_auth::mta_sts::MtaStsRecord::parse(txt.as_bytes()).unwrap();
        assert_eq!(r.id.as_deref(), Some(theirs.id.as_str()));
    }
    let cases: &[(&str, &[&str])] = &[
        ("id=1; v=STSv1", &["version_not_first"]),
        ("v=STSv1", &["missing_id"]),
        ("v=STSv1; id=", &["invalid_id"]),
        ("v=STSv1; id=2024-01-01", &["invalid_id"]),
        (
            "v=STSv1; id=123456789012345678901234567890123",
            &["invalid_id"],
        ),
        ("v=STSv1; id=1; id=2", &["duplicate_tag"]),
        ("v=STSv1; id=1; ext=x", &["unknown_tag"]),
        ("", &["version_not_first", "missing_id"]),
    ];
    for (txt, want) in cases {
        assert_eq!(
            &kinds(&MtaStsRecord::parse(txt.as_bytes()).diagnostics),
            want,
            "{txt}"
        );
    }
    // mail-auth does not insist on v= coming first (see the crate report).
    assert!(mail_auth::mta_sts::MtaStsRecord::parse(b"id=1; v=STSv1").is_ok());
}

#[test]
fn rfc8461_policy() {
    let p = MtaStsPolicy::parse(RFC8461_POLICY.as_bytes());
    assert!(p.is_valid(), "{:?}", p.diagnostics);
    assert_eq!(p.mode, Some(MtaStsMode::Enforce));
    assert_eq!(p.max_age, Some(604_800));
    let patterns: Vec<&str> = p.mx.iter().map(|m| m.pattern.as_str()).collect();
    assert_eq!(
        patterns,
        vec!["mail.example.com", "*.example.net", "backupmx.example.com"]
    );
    assert!(p.matches_mx("mail.example.com."));
    assert!(p.matches_mx("MX1.Example.NET"));
    assert!(!p.matches_mx("example.net"));
    assert!(!p.matches_mx("a.b.example.net"));
    assert!(!p.matches_mx("mail.example.org"));
    // LF line endings are accepted too.
    let lf = RFC8461_POLICY.replace("\r\n", "\n");
    assert_eq!(MtaStsPolicy::parse(lf.as_bytes()).mx, p.mx);
}

#[test]
fn mx_matching_rfc8461_section_4_1() {
    assert!(mx_matches("*.example.com", "mx1.example.com"));
    assert!(!mx_matches("*.example.com", "example.com"));
    assert!(!mx_matches("*.example.com", "foo.mx1.example.com"));
    assert!(!mx_matches("*.example.com", ".example.com"));
    assert!(mx_matches("mail.example.com", "MAIL.example.com."));
    assert!(!mx_matches("", ""));
}

#[test]
fn policy_diagnostics() {
    let cases: &[(&str, &[&str])] = &[
        ("version: STSv1\nmode: none\nmax_age: 86400\n", &[]),
        (
            "mode: enforce\nmx: a.example\nmax_age: 1",
            &["missing_version"],
        ),
        (
            "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1",
            &["invalid_version"],
        ),
        (
            "version: STSv1\nmx: a.example\nmax_age: 1",
            &["missing_mode"],
        ),
        (
            "version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1",
            &["invalid_mode"],
        ),
        (
            "version: STSv1\nmode: enforce\nmx: a.example",
            &["missing_max_age"],
        ),
        (
            "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601",
            &["invalid_max_age"],
        ),
        (
            "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1",
            &["invalid_max_age"],
        ),
        ("version: STSv1\nmode: testing\nmax_age: 1", &["missing_mx"]),
        (
            "version: STSv1\nmode: enforce\nmx: mail.*.example\nmx: a.example\nmax_age: 1",
            &["invalid_mx_pattern"],
        ),
        (
            "version: STSv1\nmode: enforce\nmx: *mail.example\nmx: a.example\nmax_age: 1",
            &["invalid_mx_pattern"],
        ),
        (
            "version: STSv1\nmode: enforce\nmx: *.com\nmx: a.example\nmax_age: 1",
            &["invalid_mx_pattern"],
        ),
        (
            "version: STSv1\nmode: enforce\nmode: none\nmx: a.example\nmax_age: 1",
            &["duplicate_field"],
        ),
        (
            "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\nfoo: bar",
            &["unknown_field"],
        ),
        (
            "version: STSv1\nmode enforce\nmx: a.example\nmax_age: 1",
            &["line_syntax", "missing_mode"],
        ),
    ];
    for (body, want) in cases {
        assert_eq!(
            &kinds(&MtaStsPolicy::parse(body.as_bytes()).diagnostics),
            want,
            "{body}"
        );
    }
    let big = format!("{RFC8461_POLICY}{}", "x: y\n".repeat(20_000));
    assert!(
        kinds(&MtaStsPolicy::parse(big.as_bytes()).diagnostics).contains(&"too_large".to_owned())
    );
}

#[test]
fn random_input_never_panics() {
    let mut inputs = Inputs::new(0x575);
    let seeds = [RFC8461_POLICY, VALID_RECORDS[0]];
    for _ in 0..20_000 {
        let _ = MtaStsRecord::parse(&inputs.bytes(ALPHABET, &seeds));
        let p = MtaStsPolicy::parse(&inputs.bytes(ALPHABET, &seeds));
        let host =
            String::from_utf8_lossy(&inputs.bytes(ALPHABET, &["mail.example.com"])).into_owned();
        let _ = p.matches_mx(&host);
        let _ = mx_matches(&host, "a.example.net");
    }
}
