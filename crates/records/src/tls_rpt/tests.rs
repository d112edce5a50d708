//! TLS-RPT test vectors: RFC 8460 examples, mail-auth's own test vectors as a cross-check, and
//! random inputs.

use mail_auth::dns::TxtRecordParser;

use super::*;
use crate::testing::{ALPHABET, Inputs, kinds};

/// RFC 8460 §3.1 examples, and the vectors in mail-auth's tests.
const VALID: &[&str] = &[
    "v=TLSRPTv1;rua=mailto:reports@example.com",
    "v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt",
    "v=TLSRPTv1; rua=mailto:tlsrpt@mydomain.com,https://tlsrpt.mydomain.com/v1",
    "v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt?id=1",
    "v=TLSRPTv1; rua=mailto:a@example.com , mailto:b=c@example.com ;",
];

#[test]
fn rfc8460_examples() {
    for txt in VALID {
        let r = TlsRptRecord::parse(txt.as_bytes());
        assert!(r.is_valid(), "{txt}: {:?}", r.diagnostics);
        assert!(kinds(&r.diagnostics).is_empty(), "{txt}");
        assert!(is_tls_rpt_record(txt.as_bytes()));
        let theirs = mail_auth::mta_sts::TlsRptRecord::parse(txt.as_bytes()).unwrap();
        assert_eq!(r.rua.len(), theirs.rua.len(), "{txt}");
    }
    let r = TlsRptRecord::parse(VALID[2].as_bytes());
    let schemes: Vec<&str> = r.rua.iter().map(|u| u.scheme.as_str()).collect();
    assert_eq!(schemes, vec!["mailto", "https"]);
    assert_eq!(
        r.rua.first().and_then(|u| u.address.as_deref()),
        Some("tlsrpt@mydomain.com")
    );
}

#[test]
fn diagnostics() {
    let cases: &[(&str, &[&str])] = &[
        (
            "rua=mailto:a@example.com; v=TLSRPTv1",
            &["version_not_first"],
        ),
        (
            "v=TLSRPTv2; rua=mailto:a@example.com",
            &["version_not_first"],
        ),
        ("", &["version_not_first", "missing_rua"]),
        ("v=TLSRPTv1", &["missing_rua"]),
        (
            "v=TLSRPTv1; rua=reports@example.com",
            &["invalid_uri", "no_valid_rua"],
        ),
        (
            "v=TLSRPTv1; rua=ftp://example.com/x",
            &["unsupported_scheme", "no_valid_rua"],
        ),
        (
            "v=TLSRPTv1; rua=mailto:a@example.com,http//x",
            &["invalid_uri"],
        ),
        (
            "v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com",
            &["duplicate_tag"],
        ),
        (
            "v=TLSRPTv1; rua=mailto:a@example.com; x=y",
            &["unknown_tag"],
        ),
        (
            "v=TLSRPTv1; rua=mailto:a@example.com; junk",
            &["tag_syntax"],
        ),
    ];
    for (txt, want) in cases {
        let r = TlsRptRecord::parse(txt.as_bytes());
        assert_eq!(&kinds(&r.diagnostics), want, "{txt}");
    }
    assert!(!is_tls_rpt_record(b"v=STSv1; id=1"));
}

#[test]
fn random_input_never_panics() {
    let mut inputs = Inputs::new(0x7157);
    for _ in 0..20_000 {
        let r = TlsRptRecord::parse(&inputs.bytes(ALPHABET, VALID));
        for d in &r.diagnostics {
            let _ = d.to_string();
        }
    }
}
