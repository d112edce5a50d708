//! DMARC test vectors: RFC examples, the RFC 9989 policy rules, a cross-check against
//! mail-auth, and random inputs.

use mail_auth::dns::TxtRecordParser;

use super::*;
use crate::testing::{ALPHABET, Inputs, kinds};

fn parse(s: &str) -> DmarcRecord {
    DmarcRecord::parse(s.as_bytes())
}

/// RFC 7489 Appendix B.2 and RFC 9989 examples.
const RFC_EXAMPLES: &[&str] = &[
    "v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com",
    "v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com; ruf=mailto:auth-reports@thirdparty.example.net",
    "v=DMARC1; p=quarantine; rua=mailto:dmarc-feedback@example.com,mailto:tld-test@thirdparty.example.net",
    "v=DMARC1; p=reject; sp=quarantine; np=reject; adkim=s; aspf=r; fo=1:d:s; t=n",
    "v=DMARC1; p=none; psd=y; rua=mailto:dmarc@psd.example",
];

#[test]
fn rfc_examples_are_valid() {
    for txt in RFC_EXAMPLES {
        let r = parse(txt);
        assert!(r.is_valid(), "{txt}: {:?}", r.diagnostics);
        assert!(
            kinds(&r.diagnostics).is_empty(),
            "{txt}: {:?}",
            r.diagnostics
        );
        assert!(is_dmarc_record(txt.as_bytes()));
    }
}

#[test]
fn fields() {
    let r = parse(
        "v=DMARC1; p=Reject; sp=quarantine; adkim=s; rua=mailto:a@Example.com, mailto:b@report.example; ruf=mailto:f@example.com; fo=1; psd=n",
    );
    assert!(r.version_ok);
    assert_eq!(r.p, Some(Policy::Reject));
    assert_eq!(r.sp, Some(Policy::Quarantine));
    assert_eq!(r.np, None);
    assert_eq!(r.adkim, Alignment::Strict);
    assert_eq!(r.aspf, Alignment::Relaxed);
    assert_eq!(r.psd, Psd::No);
    assert_eq!(r.rua.len(), 2);
    assert_eq!(
        r.rua.get(1).and_then(|u| u.mailto_domain()),
        Some("report.example")
    );
    assert_eq!(r.fo, Some(vec!["1".to_owned()]));
    assert_eq!(
        r.requested_policy(PolicyTarget::Domain),
        Some(Policy::Reject)
    );
    assert_eq!(
        r.requested_policy(PolicyTarget::Subdomain),
        Some(Policy::Quarantine)
    );
    assert_eq!(
        r.requested_policy(PolicyTarget::NonExistentSubdomain),
        Some(Policy::Quarantine)
    );
}

#[test]
fn sp_defaults_to_p_and_np_to_sp() {
    let r = parse("v=DMARC1; p=reject");
    assert_eq!(
        r.effective_policy_for(PolicyTarget::Subdomain),
        Some(Policy::Reject)
    );
    assert_eq!(
        r.effective_policy_for(PolicyTarget::NonExistentSubdomain),
        Some(Policy::Reject)
    );
    let r = parse("v=DMARC1; p=reject; sp=none");
    assert_eq!(
        r.effective_policy_for(PolicyTarget::NonExistentSubdomain),
        Some(Policy::None)
    );
    let r = parse("v=DMARC1; p=none; np=reject");
    assert_eq!(
        r.effective_policy_for(PolicyTarget::Subdomain),
        Some(Policy::None)
    );
    assert_eq!(
        r.effective_policy_for(PolicyTarget::NonExistentSubdomain),
        Some(Policy::Reject)
    );
}

#[test]
fn testing_mode_lowers_one_level() {
    let r = parse("v=DMARC1; p=reject; sp=quarantine; t=y");
    assert!(r.testing);
    assert_eq!(
        r.requested_policy(PolicyTarget::Domain),
        Some(Policy::Reject)
    );
    assert_eq!(r.effective_policy(), Some(Policy::Quarantine));
    assert_eq!(
        r.effective_policy_for(PolicyTarget::Subdomain),
        Some(Policy::None)
    );
    assert_eq!(
        parse("v=DMARC1; p=none; t=y").effective_policy(),
        Some(Policy::None)
    );
}

#[test]
fn missing_or_invalid_p_with_rua_is_none() {
    for txt in [
        "v=DMARC1; rua=mailto:d@example.com",
        "v=DMARC1; p=block; rua=mailto:d@example.com",
    ] {
        let r = parse(txt);
        assert!(r.is_valid(), "{txt}");
        assert_eq!(r.effective_policy(), Some(Policy::None), "{txt}");
        assert!(
            kinds(&r.diagnostics).contains(&"policy_missing_treated_as_none".to_owned()),
            "{txt}"
        );
    }
    for txt in [
        "v=DMARC1",
        "v=DMARC1; p=block",
        "v=DMARC1; p=blah; rua=dmarc@example.com",
    ] {
        let r = parse(txt);
        assert!(!r.is_valid(), "{txt}");
        assert_eq!(r.effective_policy(), None, "{txt}");
        assert!(
            kinds(&r.diagnostics).contains(&"no_policy".to_owned()),
            "{txt}"
        );
    }
}

#[test]
fn version_must_be_first() {
    for txt in [
        "p=none; v=DMARC1",
        "v=DMARC2; p=none",
        "v=dmarc1; p=none",
        "",
        "p=none",
        "garbage",
    ] {
        let r = parse(txt);
        assert!(!r.is_valid(), "{txt}");
        assert!(!is_dmarc_record(txt.as_bytes()), "{txt}");
        assert_eq!(
            kinds(&r.diagnostics).first().map(String::as_str),
            Some("version_not_first"),
            "{txt}"
        );
    }
    assert!(is_dmarc_record(b" v = DMARC1 ;p=none"));
    assert!(is_dmarc_record(b"v=DMARC1"));
}

#[test]
fn diagnostics() {
    let cases: &[(&str, &[&str])] = &[
        ("v=DMARC1; p=none; pct=100", &["pct_removed"]),
        ("v=DMARC1; p=none; pct=20", &["pct_removed", "pct_below100"]),
        (
            "v=DMARC1; p=none; pct=200",
            &["pct_removed", "invalid_value"],
        ),
        ("v=DMARC1; p=none; p=reject", &["duplicate_tag"]),
        ("v=DMARC1; p=none; adkim=x", &["invalid_value"]),
        (
            "v=DMARC1; p=none; sp=x; np=y; t=maybe; psd=q; aspf=relaxed; fo=2; ri=soon",
            &[
                "invalid_value",
                "invalid_value",
                "invalid_value",
                "invalid_value",
                "invalid_value",
                "invalid_value",
                "removed_tag",
                "invalid_value",
            ],
        ),
        (
            "v=DMARC1; p=none; rf=afrf; ri=86400",
            &["removed_tag", "removed_tag"],
        ),
        ("v=DMARC1; p=none; foo=bar", &["unknown_tag"]),
        ("v=DMARC1; p=none; rua=dmarc@example.com", &["invalid_uri"]),
        (
            "v=DMARC1; p=none; rua=mailto:a@example.com!10m",
            &["size_limit_ignored"],
        ),
        ("v=DMARC1; p=none; junk", &["tag_syntax"]),
        (
            "v=DMARC1; rua=mailto:a@example.com; p=reject",
            &["policy_not_second"],
        ),
    ];
    for (txt, want) in cases {
        let r = parse(txt);
        assert_eq!(&kinds(&r.diagnostics), want, "{txt}");
        for d in &r.diagnostics {
            assert!(!d.to_string().is_empty());
        }
    }
    let r = parse("v=DMARC1; p=none; pct=20; foo=1");
    assert_eq!(r.pct, Some(20));
    assert_eq!(r.unknown_tags, vec!["foo".to_owned()]);
}

#[test]
fn report_authorization() {
    assert_eq!(
        report_authorization_name("Policy.Example.", "report.example").as_deref(),
        Some("policy.example._report._dmarc.report.example")
    );
    assert_eq!(
        report_authorization_name("bad name", "report.example"),
        None
    );
    assert!(is_report_authorization_record(b"v=DMARC1"));
    assert!(is_report_authorization_record(
        b"v=DMARC1; rua=mailto:x@report.example"
    ));
    assert!(!is_report_authorization_record(b"v=spf1 -all"));
    let r = parse("v=DMARC1; p=none; rua=mailto:x@report.example");
    let uri = r.rua.first().unwrap();
    assert_eq!(
        report_authorization_name("policy.example", uri.mailto_domain().unwrap()).as_deref(),
        Some("policy.example._report._dmarc.report.example")
    );
}

#[test]
fn agrees_with_mail_auth() {
    let mut records: Vec<&str> = RFC_EXAMPLES.to_vec();
    records.extend([
        "v=DMARC1; p=reject; sp=none; t=y; rua=mailto:a@example.com",
        "v=DMARC1; rua=mailto:a@example.com",
        "v=DMARC1; p=quarantine; adkim=s; aspf=s",
    ]);
    for txt in records {
        let ours = parse(txt);
        let theirs = mail_auth::dmarc::DmarcRecord::parse(txt.as_bytes()).unwrap();
        let map = |p: mail_auth::dmarc::Policy| match p {
            mail_auth::dmarc::Policy::None | mail_auth::dmarc::Policy::Unspecified => Policy::None,
            mail_auth::dmarc::Policy::Quarantine => Policy::Quarantine,
            mail_auth::dmarc::Policy::Reject => Policy::Reject,
        };
        assert_eq!(
            ours.requested_policy(PolicyTarget::Domain),
            Some(map(theirs.p)),
            "{txt}"
        );
        assert_eq!(
            ours.requested_policy(PolicyTarget::Subdomain),
            Some(map(theirs.sp)),
            "{txt}"
        );
        assert_eq!(
            ours.requested_policy(PolicyTarget::NonExistentSubdomain),
            Some(map(theirs.np)),
            "{txt}"
        );
        assert_eq!(ours.testing, theirs.t, "{txt}");
        assert_eq!(ours.rua.len(), theirs.rua.len(), "{txt}");
        assert_eq!(
            ours.adkim == Alignment::Strict,
            theirs.adkim == mail_auth::dmarc::Alignment::Strict
        );
    }
    // mail-auth rejects the whole record for an invalid p, where RFC 9989 §4.7 says p=none
    // applies when rua is valid (see the crate report).
    assert!(
        mail_auth::dmarc::DmarcRecord::parse(b"v=DMARC1; p=block; rua=mailto:d@example.com")
            .is_err()
    );
}

#[test]
fn random_input_never_panics() {
    let mut inputs = Inputs::new(0xd3a8c);
    for _ in 0..20_000 {
        let mut txt = b"v=DMARC1; ".to_vec();
        txt.extend(inputs.bytes(ALPHABET, RFC_EXAMPLES));
        let r = DmarcRecord::parse(&txt);
        let _ = r.effective_policy_for(PolicyTarget::NonExistentSubdomain);
        for d in &r.diagnostics {
            let _ = d.to_string();
        }
        let _ = DmarcRecord::parse(&inputs.bytes(ALPHABET, RFC_EXAMPLES));
    }
}
