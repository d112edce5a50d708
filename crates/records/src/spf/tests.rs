//! SPF test vectors: RFC 7208 examples, diagnostics, a cross-check against mail-auth's parser,
//! and random inputs.

use std::net::Ipv4Addr;

use mail_auth::dns::TxtRecordParser;

use super::*;
use crate::testing::{ALPHABET, Inputs};

fn parse(s: &str) -> SpfRecord {
    SpfRecord::parse(s.as_bytes())
}

fn kinds(r: &SpfRecord) -> Vec<&'static str> {
    r.diagnostics
        .iter()
        .map(|d| match d {
            SpfDiagnostic::NotSpfRecord { .. } => "not_spf",
            SpfDiagnostic::UnknownMechanism { .. } => "unknown_mechanism",
            SpfDiagnostic::InvalidSyntax { .. } => "syntax",
            SpfDiagnostic::InvalidDomainSpec { .. } => "domain_spec",
            SpfDiagnostic::InvalidIpAddress { .. } => "ip",
            SpfDiagnostic::InvalidCidr { .. } => "cidr",
            SpfDiagnostic::DuplicateModifier { .. } => "duplicate",
            SpfDiagnostic::TooManyDnsLookups { .. } => "too_many_lookups",
            SpfDiagnostic::PtrUsed { .. } => "ptr",
            SpfDiagnostic::PassAll { .. } => "pass_all",
            SpfDiagnostic::NeutralAll { .. } => "neutral_all",
            SpfDiagnostic::RedirectIgnoredWithAll { .. } => "redirect_ignored",
            SpfDiagnostic::TermAfterAll { .. } => "after_all",
            SpfDiagnostic::RecordTooLong { .. } => "too_long",
            SpfDiagnostic::UnknownModifier { .. } => "unknown_modifier",
            SpfDiagnostic::NonSpaceSeparator => "non_space",
        })
        .collect()
}

/// RFC 7208 Appendix A: every example record is valid SPF.
const RFC7208_APPENDIX_A: &[&str] = &[
    "v=spf1 +all",
    "v=spf1 a -all",
    "v=spf1 a:example.org -all",
    "v=spf1 mx -all",
    "v=spf1 mx:example.org -all",
    "v=spf1 mx mx:example.org -all",
    "v=spf1 mx/30 -all",
    "v=spf1 mx/30 mx:example.org/30 -all",
    "v=spf1 ptr -all",
    "v=spf1 ip4:192.0.2.128/28 -all",
    "v=spf1 include:example.com include:example.net -all",
    "v=spf1 redirect=example.org",
    "v=spf1 mx:example.com -all",
    "v=spf1 -ip4:192.0.2.0/24 +all",
    "v=spf1 mx -all",
    "v=spf1 -include:ip4._spf.%{d} -include:ptr._spf.%{d} +all",
    "v=spf1 -ip4:192.0.2.0/24 a//96 +all",
    "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all",
];

#[test]
fn rfc7208_appendix_a_examples_are_valid() {
    for txt in RFC7208_APPENDIX_A {
        let r = parse(txt);
        assert!(r.is_valid(), "{txt}: {:?}", r.diagnostics);
        assert!(is_spf_record(txt.as_bytes()));
    }
}

#[test]
fn typical_record() {
    let r = parse(
        "v=spf1 ip4:192.0.2.0/24 ip6:2001:DB8::/32 mx a:Mail.Example.COM. include:_spf.google.com ~all",
    );
    assert!(r.is_valid());
    assert_eq!(r.all, Some(Qualifier::SoftFail));
    assert_eq!(r.terms.len(), 6);
    assert_eq!(
        r.terms.first().map(|t| &t.kind),
        Some(&TermKind::Mechanism {
            qualifier: Qualifier::Pass,
            mechanism: Mechanism::Ip4 {
                network: Ipv4Addr::new(192, 0, 2, 0),
                prefix_len: 24
            }
        })
    );
    assert_eq!(
        r.terms.get(1).map(|t| &t.kind),
        Some(&TermKind::Mechanism {
            qualifier: Qualifier::Pass,
            mechanism: Mechanism::Ip6 {
                network: "2001:db8::".parse().unwrap(),
                prefix_len: 32
            }
        })
    );
    assert_eq!(
        r.terms.get(3).map(|t| &t.kind),
        Some(&TermKind::Mechanism {
            qualifier: Qualifier::Pass,
            mechanism: Mechanism::A {
                domain: Some(DomainSpec::Domain {
                    name: "mail.example.com".into()
                }),
                ip4_cidr: None,
                ip6_cidr: None
            }
        })
    );
    assert_eq!(r.dns_lookup_terms(), 3);
    assert_eq!(
        r.includes()
            .filter_map(DomainSpec::as_domain)
            .collect::<Vec<_>>(),
        vec!["_spf.google.com"]
    );
    let flags: Vec<bool> = r
        .terms
        .iter()
        .map(|t| t.counts_toward_lookup_limit)
        .collect();
    assert_eq!(flags, vec![false, false, true, true, true, false]);
    assert!(kinds(&r).is_empty());
}

#[test]
fn version_check() {
    assert!(is_spf_record(b"v=spf1"));
    assert!(is_spf_record(b"V=SPF1 -all"));
    assert!(!is_spf_record(b"v=spf10 -all"));
    assert!(!is_spf_record(b" v=spf1 -all"));
    assert!(!is_spf_record(b"v=spf1\t-all"));
    assert!(!is_spf_record(b"spf2.0/pra -all"));
    assert!(!is_spf_record(b""));
    let r = parse("v=DMARC1; p=none");
    assert_eq!(kinds(&r), vec!["not_spf"]);
    assert!(!r.is_valid());
    assert!(r.terms.is_empty());
    // An empty SPF record is valid: it just says nothing (result neutral).
    assert!(parse("v=spf1").is_valid());
}

#[test]
fn a_and_mx_cidr_lengths() {
    let r = parse("v=spf1 a/24 mx:example.org//64 a:example.com/28//48 -all");
    assert!(r.is_valid(), "{:?}", r.diagnostics);
    let cidrs: Vec<_> = r
        .terms
        .iter()
        .filter_map(|t| match &t.kind {
            TermKind::Mechanism {
                mechanism:
                    Mechanism::A {
                        ip4_cidr, ip6_cidr, ..
                    },
                ..
            }
            | TermKind::Mechanism {
                mechanism:
                    Mechanism::Mx {
                        ip4_cidr, ip6_cidr, ..
                    },
                ..
            } => Some((*ip4_cidr, *ip6_cidr)),
            _ => None,
        })
        .collect();
    assert_eq!(
        cidrs,
        vec![(Some(24), None), (None, Some(64)), (Some(28), Some(48))]
    );
    for bad in [
        "v=spf1 a/33",
        "v=spf1 mx//129",
        "v=spf1 a/024",
        "v=spf1 a/",
        "v=spf1 a/24/64",
        "v=spf1 ip4:192.0.2.0/33",
        "v=spf1 ip6:::1/129",
    ] {
        assert_eq!(kinds(&parse(bad)), vec!["cidr"], "{bad}");
    }
}

#[test]
fn errors_are_reported_with_the_term() {
    let cases: &[(&str, &[&str])] = &[
        ("v=spf1 foo:example.com -all", &["unknown_mechanism"]),
        ("v=spf1 ip4:192.0.2.300 -all", &["ip"]),
        ("v=spf1 ip4:192.0.2 -all", &["ip"]),
        ("v=spf1 ip6:2001:db8::g -all", &["ip"]),
        ("v=spf1 ip4 -all", &["syntax"]),
        ("v=spf1 include -all", &["syntax"]),
        ("v=spf1 include:localhost -all", &["domain_spec"]),
        ("v=spf1 include:%{x}.example.com -all", &["domain_spec"]),
        ("v=spf1 all:foo", &["syntax"]),
        ("v=spf1 -redirect=example.com", &["syntax"]),
        (
            "v=spf1 redirect=a.example redirect=b.example",
            &["duplicate"],
        ),
        ("v=spf1 exp=a.example exp=b.example -all", &["duplicate"]),
        ("v=spf1 ptr -all", &["ptr"]),
        ("v=spf1 ptr:example.com -all", &["ptr"]),
        ("v=spf1 +all", &["pass_all"]),
        ("v=spf1 all", &["pass_all"]),
        ("v=spf1 ?all", &["neutral_all"]),
        ("v=spf1 -all ip4:192.0.2.1", &["after_all"]),
        ("v=spf1 redirect=example.com -all", &["redirect_ignored"]),
        ("v=spf1 -all redirect=example.com", &["redirect_ignored"]),
        ("v=spf1 foo=bar -all", &["unknown_modifier"]),
        ("v=spf1 foo=%{x -all", &["syntax"]),
        ("v=spf1 a:example.com:80 -all", &["domain_spec"]),
        ("v=spf1 mx\t-all", &["non_space"]),
        ("v=spf1 +-all", &["syntax"]),
        ("v=spf1 - -all", &["syntax"]),
    ];
    for (txt, want) in cases {
        let r = parse(txt);
        assert_eq!(&kinds(&r), want, "{txt}");
        for d in &r.diagnostics {
            // Every diagnostic that names a term names one that is in the record.
            if let Some(term) = serde_json_term(d) {
                assert!(txt.contains(&term), "{txt}: {term}");
            }
        }
    }
}

/// The `term` field of a diagnostic, read back from its JSON form.
fn serde_json_term(d: &SpfDiagnostic) -> Option<String> {
    let text = format!("{d}");
    text.strip_prefix('"')
        .and_then(|t| t.split_once('"'))
        .map(|(term, _)| term.to_owned())
}

#[test]
fn terms_after_all_and_redirect_are_ignored_for_counting() {
    let r = parse("v=spf1 mx -all include:a.example redirect=b.example");
    assert_eq!(r.dns_lookup_terms(), 1);
    assert_eq!(r.effective_redirect(), None);
    assert_eq!(
        r.redirect,
        Some(DomainSpec::Domain {
            name: "b.example".into()
        })
    );
    let r = parse("v=spf1 mx redirect=b.example");
    assert_eq!(r.dns_lookup_terms(), 2);
    assert_eq!(
        r.effective_redirect().and_then(DomainSpec::as_domain),
        Some("b.example")
    );
}

#[test]
fn more_than_ten_lookups() {
    let mut txt = String::from("v=spf1");
    for i in 0..11 {
        txt.push_str(&format!(" include:s{i}.example.com"));
    }
    txt.push_str(" ip4:192.0.2.1 -all");
    let r = parse(&txt);
    assert_eq!(r.dns_lookup_terms(), 11);
    assert_eq!(kinds(&r), vec!["too_many_lookups"]);
    assert!(!r.is_valid());
}

#[test]
fn long_record() {
    let mut txt = String::from("v=spf1");
    while txt.len() <= RECOMMENDED_MAX_RECORD_LEN {
        txt.push_str(" ip4:192.0.2.1");
    }
    txt.push_str(" -all");
    let r = parse(&txt);
    assert_eq!(kinds(&r), vec!["too_long"]);
    assert!(r.is_valid());
    assert!(fits_512(512));
    assert!(!fits_512(513));
}

#[test]
fn macros_in_domain_specs() {
    let r = parse("v=spf1 include:_spf.%{d} exists:%{i}._spf.%{d} redirect=%{d2}");
    assert!(r.is_valid(), "{:?}", r.diagnostics);
    let specs: Vec<_> = r
        .terms
        .iter()
        .filter_map(|t| match &t.kind {
            TermKind::Mechanism {
                mechanism: Mechanism::Include { domain },
                ..
            }
            | TermKind::Mechanism {
                mechanism: Mechanism::Exists { domain },
                ..
            }
            | TermKind::Modifier(Modifier::Redirect { domain }) => Some(domain),
            _ => None,
        })
        .collect();
    let expanded: Vec<_> = specs.iter().map(|s| s.expand("mail.example.com")).collect();
    assert_eq!(
        expanded,
        vec![
            Some("_spf.mail.example.com".to_owned()),
            None,
            Some("example.com".to_owned())
        ]
    );
}

#[test]
fn case_insensitive_names_and_qualifiers() {
    let r = parse("v=spf1 MX Include:Example.COM ~ALL");
    assert!(r.is_valid());
    assert_eq!(r.all, Some(Qualifier::SoftFail));
    assert_eq!(
        r.includes()
            .filter_map(DomainSpec::as_domain)
            .collect::<Vec<_>>(),
        vec!["example.com"]
    );
}

#[test]
fn diagnostics_serialise_and_display() {
    let r = parse("v=spf1 ptr +all");
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("\"kind\":\"ptr_used\""), "{json}");
    assert!(json.contains("\"mechanism\":\"ptr\""), "{json}");
    let text: Vec<String> = r.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(text.len(), 2);
    assert!(text.iter().all(|t| t.starts_with('"')));
    assert_eq!(
        r.diagnostics.iter().map(|d| d.severity()).max(),
        Some(crate::Severity::Warning)
    );
}

/// Records both parsers must agree on: mail-auth accepts exactly those we call valid, and the
/// directives match one for one.
#[test]
fn agrees_with_mail_auth() {
    let mut records: Vec<&str> = RFC7208_APPENDIX_A.to_vec();
    records.extend([
        "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 mx a:mail.example.com include:_spf.google.com ~all",
        "v=spf1 include -all",
        "v=spf1 exp=a.example exp=b.example -all",
        "v=spf1 redirect=a.example redirect=b.example",
        "v=spf1 a/24 mx//64 -all",
        "v=spf1 ?mx ~a -ptr +exists:%{i}.example.com",
    ]);
    for txt in records {
        let ours = parse(txt);
        let theirs = mail_auth::spf::SpfRecord::parse(txt.as_bytes());
        assert_eq!(
            ours.is_valid(),
            theirs.is_ok(),
            "{txt}: {:?}",
            ours.diagnostics
        );
        let Ok(theirs) = theirs else { continue };
        let our_directives: Vec<(&str, Qualifier)> = ours
            .terms
            .iter()
            .filter_map(|t| match &t.kind {
                TermKind::Mechanism {
                    qualifier,
                    mechanism,
                } => Some((mechanism.name(), *qualifier)),
                _ => None,
            })
            .collect();
        let their_directives: Vec<(&str, Qualifier)> = theirs
            .directives
            .iter()
            .map(|d| {
                let name = match d.mechanism {
                    mail_auth::spf::Mechanism::All => "all",
                    mail_auth::spf::Mechanism::Include { .. } => "include",
                    mail_auth::spf::Mechanism::A { .. } => "a",
                    mail_auth::spf::Mechanism::Mx { .. } => "mx",
                    mail_auth::spf::Mechanism::Ptr { .. } => "ptr",
                    mail_auth::spf::Mechanism::Ip4 { .. } => "ip4",
                    mail_auth::spf::Mechanism::Ip6 { .. } => "ip6",
                    mail_auth::spf::Mechanism::Exists { .. } => "exists",
                };
                let q = match d.qualifier {
                    mail_auth::spf::Qualifier::Pass => Qualifier::Pass,
                    mail_auth::spf::Qualifier::Fail => Qualifier::Fail,
                    mail_auth::spf::Qualifier::SoftFail => Qualifier::SoftFail,
                    mail_auth::spf::Qualifier::Neutral => Qualifier::Neutral,
                };
                (name, q)
            })
            .collect();
        assert_eq!(our_directives, their_directives, "{txt}");
        assert_eq!(ours.redirect.is_some(), theirs.redirect.is_some(), "{txt}");
        assert_eq!(ours.exp.is_some(), theirs.exp.is_some(), "{txt}");
    }
}

/// Where mail-auth is more lenient than RFC 7208 (see the crate report): it accepts these,
/// a linter must not.
#[test]
fn stricter_than_mail_auth() {
    for txt in [
        "v=spf1 foo:example.com -all", // unknown mechanism, taken as a modifier by mail-auth
        "v=spf1 ip4:192.0.2.0/33 -all", // prefix clamped to 32 by mail-auth
        "v=spf1 ip4:192.0.2.999 -all", // octet saturated to 255 by mail-auth
    ] {
        assert!(!parse(txt).is_valid(), "{txt}");
        assert!(
            mail_auth::spf::SpfRecord::parse(txt.as_bytes()).is_ok(),
            "{txt}"
        );
    }
}

#[test]
fn random_input_never_panics() {
    let mut inputs = Inputs::new(0x5bf1);
    let mut seeds: Vec<&str> = RFC7208_APPENDIX_A.to_vec();
    seeds.push("v=spf1 a:%{d2r}.example//64 ip6:::1/0 exists:%{ir.-}.x");
    for _ in 0..20_000 {
        let mut txt = b"v=spf1 ".to_vec();
        txt.extend(inputs.bytes(ALPHABET, &seeds));
        let r = SpfRecord::parse(&txt);
        for d in &r.diagnostics {
            let _ = d.to_string();
        }
        for t in &r.terms {
            if let TermKind::Mechanism {
                mechanism: Mechanism::Include { domain },
                ..
            } = &t.kind
            {
                let _ = domain.expand("example.com");
            }
        }
        let _ = SpfRecord::parse(&inputs.bytes(ALPHABET, &seeds));
    }
}
