//! The SPF record parser (RFC 7208 §4.5, §4.6, §5, §6).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::macros::{is_macro_string, parse_domain_spec};
use super::{
    DNS_LOOKUP_LIMIT, DomainSpec, Mechanism, Modifier, Qualifier, RECOMMENDED_MAX_RECORD_LEN,
    SpfDiagnostic, SpfRecord, SpfTerm, TermKind, is_spf_record,
};

pub(super) fn parse(txt: &[u8]) -> SpfRecord {
    let text = String::from_utf8_lossy(txt);
    let mut record = SpfRecord {
        length: txt.len(),
        terms: Vec::new(),
        redirect: None,
        exp: None,
        all: None,
        diagnostics: Vec::new(),
    };

    if !is_spf_record(txt) {
        let found = text.split(' ').next().unwrap_or("").to_owned();
        record
            .diagnostics
            .push(SpfDiagnostic::NotSpfRecord { found });
        return record;
    }
    if txt.len() > RECOMMENDED_MAX_RECORD_LEN {
        record
            .diagnostics
            .push(SpfDiagnostic::RecordTooLong { length: txt.len() });
    }
    if txt.iter().any(|b| b.is_ascii_whitespace() && *b != b' ') {
        record.diagnostics.push(SpfDiagnostic::NonSpaceSeparator);
    }

    let body = text.get(6..).unwrap_or("");
    let mut seen_all = false;
    for word in body.split_ascii_whitespace() {
        let (kind, diagnostics) = parse_term(word);
        let mut term = SpfTerm {
            text: word.to_owned(),
            counts_toward_lookup_limit: counts(&kind),
            ignored: false,
            kind,
        };
        let mut diagnostics = diagnostics;
        match &term.kind {
            TermKind::Mechanism {
                qualifier,
                mechanism,
            } => {
                if seen_all {
                    term.ignored = true;
                    diagnostics.push(SpfDiagnostic::TermAfterAll { term: word.into() });
                } else if *mechanism == Mechanism::All {
                    seen_all = true;
                    record.all = Some(*qualifier);
                    match qualifier {
                        Qualifier::Pass => {
                            diagnostics.push(SpfDiagnostic::PassAll { term: word.into() })
                        }
                        Qualifier::Neutral => {
                            diagnostics.push(SpfDiagnostic::NeutralAll { term: word.into() })
                        }
                        Qualifier::Fail | Qualifier::SoftFail => {}
                    }
                }
            }
            TermKind::Modifier(Modifier::Redirect { domain }) => {
                if record.redirect.is_some() {
                    diagnostics.push(duplicate(word, "redirect"));
                } else {
                    record.redirect = Some(domain.clone());
                }
            }
            TermKind::Modifier(Modifier::Exp { domain }) => {
                if record.exp.is_some() {
                    diagnostics.push(duplicate(word, "exp"));
                } else {
                    record.exp = Some(domain.clone());
                }
            }
            TermKind::Modifier(Modifier::Unknown { .. }) | TermKind::Invalid => {}
        }
        record.diagnostics.append(&mut diagnostics);
        record.terms.push(term);
    }

    // §6.1: with `all` present, `redirect` is never used, wherever it stands in the record.
    if record.all.is_some() {
        for term in &mut record.terms {
            if matches!(term.kind, TermKind::Modifier(Modifier::Redirect { .. })) {
                term.ignored = true;
                record
                    .diagnostics
                    .push(SpfDiagnostic::RedirectIgnoredWithAll {
                        term: term.text.clone(),
                    });
            }
        }
    }

    let count = record.dns_lookup_terms();
    if count > DNS_LOOKUP_LIMIT {
        record
            .diagnostics
            .push(SpfDiagnostic::TooManyDnsLookups { count });
    }
    record
}

fn duplicate(term: &str, modifier: &str) -> SpfDiagnostic {
    SpfDiagnostic::DuplicateModifier {
        term: term.into(),
        modifier: modifier.into(),
    }
}

fn counts(kind: &TermKind) -> bool {
    match kind {
        TermKind::Mechanism { mechanism, .. } => mechanism.counts_toward_lookup_limit(),
        TermKind::Modifier(Modifier::Redirect { .. }) => true,
        TermKind::Modifier(_) | TermKind::Invalid => false,
    }
}

fn syntax(term: &str, reason: &str) -> SpfDiagnostic {
    SpfDiagnostic::InvalidSyntax {
        term: term.into(),
        reason: reason.into(),
    }
}

/// Parses one term; returns what it is and the problems found in it.
fn parse_term(term: &str) -> (TermKind, Vec<SpfDiagnostic>) {
    let (qualifier, rest) = match term.chars().next() {
        Some('+') => (Some(Qualifier::Pass), term.get(1..).unwrap_or("")),
        Some('-') => (Some(Qualifier::Fail), term.get(1..).unwrap_or("")),
        Some('~') => (Some(Qualifier::SoftFail), term.get(1..).unwrap_or("")),
        Some('?') => (Some(Qualifier::Neutral), term.get(1..).unwrap_or("")),
        _ => (None, term),
    };
    // name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) (§4.6.1 and §6).
    let name_end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(rest.len());
    let (name, args) = rest.split_at(name_end);
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return (
            TermKind::Invalid,
            vec![syntax(
                term,
                "a term must start with a mechanism or modifier name",
            )],
        );
    }
    let lower = name.to_ascii_lowercase();

    if let Some(value) = args.strip_prefix('=') {
        if qualifier.is_some() {
            return (
                TermKind::Invalid,
                vec![syntax(term, "a modifier cannot have a qualifier")],
            );
        }
        return parse_modifier(term, &lower, name, value);
    }

    let qualifier = qualifier.unwrap_or(Qualifier::Pass);
    let mechanism = match lower.as_str() {
        "all" => {
            if args.is_empty() {
                Ok(Mechanism::All)
            } else {
                Err(syntax(term, "\"all\" takes no argument"))
            }
        }
        "include" | "exists" => match args.strip_prefix(':') {
            Some(spec) => domain_spec(term, spec).map(|domain| {
                if lower == "include" {
                    Mechanism::Include { domain }
                } else {
                    Mechanism::Exists { domain }
                }
            }),
            None => Err(syntax(term, "a domain is required after ':'")),
        },
        "a" | "mx" => parse_a_mx(term, &lower, args),
        "ptr" => {
            if args.is_empty() {
                Ok(Mechanism::Ptr { domain: None })
            } else if let Some(spec) = args.strip_prefix(':') {
                domain_spec(term, spec).map(|d| Mechanism::Ptr { domain: Some(d) })
            } else {
                Err(syntax(term, "expected ':' and a domain after \"ptr\""))
            }
        }
        "ip4" | "ip6" => parse_ip(term, &lower, args),
        _ => Err(SpfDiagnostic::UnknownMechanism { term: term.into() }),
    };
    match mechanism {
        Ok(mechanism) => {
            let mut diagnostics = Vec::new();
            if matches!(mechanism, Mechanism::Ptr { .. }) {
                diagnostics.push(SpfDiagnostic::PtrUsed { term: term.into() });
            }
            (
                TermKind::Mechanism {
                    qualifier,
                    mechanism,
                },
                diagnostics,
            )
        }
        Err(d) => (TermKind::Invalid, vec![d]),
    }
}

fn parse_modifier(
    term: &str,
    lower: &str,
    name: &str,
    value: &str,
) -> (TermKind, Vec<SpfDiagnostic>) {
    match lower {
        "redirect" | "exp" => match domain_spec(term, value) {
            Ok(domain) => (
                TermKind::Modifier(if lower == "redirect" {
                    Modifier::Redirect { domain }
                } else {
                    Modifier::Exp { domain }
                }),
                Vec::new(),
            ),
            Err(d) => (TermKind::Invalid, vec![d]),
        },
        _ => {
            // §6: unknown-modifier = name "=" macro-string; the value must still be a valid
            // macro string (visible characters and well-formed `%` escapes).
            let value_ok = is_macro_string(value);
            if value_ok {
                (
                    TermKind::Modifier(Modifier::Unknown {
                        name: name.into(),
                        value: value.into(),
                    }),
                    vec![SpfDiagnostic::UnknownModifier { term: term.into() }],
                )
            } else {
                (
                    TermKind::Invalid,
                    vec![syntax(
                        term,
                        "the modifier's value is not a valid macro string",
                    )],
                )
            }
        }
    }
}

fn domain_spec(term: &str, spec: &str) -> Result<DomainSpec, SpfDiagnostic> {
    parse_domain_spec(spec).ok_or_else(|| SpfDiagnostic::InvalidDomainSpec {
        term: term.into(),
        spec: spec.into(),
    })
}

/// `a`/`mx` `[ ":" domain-spec ] [ dual-cidr-length ]` (§5.3, §5.4).
fn parse_a_mx(term: &str, name: &str, args: &str) -> Result<Mechanism, SpfDiagnostic> {
    let (spec, cidr) = if let Some(rest) = args.strip_prefix(':') {
        match rest.find('/') {
            Some(i) => (
                Some(rest.get(..i).unwrap_or("")),
                rest.get(i..).unwrap_or(""),
            ),
            None => (Some(rest), ""),
        }
    } else if args.is_empty() || args.starts_with('/') {
        (None, args)
    } else {
        return Err(syntax(term, "expected ':' or '/' after the mechanism name"));
    };
    let domain = match spec {
        Some(spec) => Some(domain_spec(term, spec)?),
        None => None,
    };
    let (ip4_cidr, ip6_cidr) =
        dual_cidr(cidr).ok_or_else(|| SpfDiagnostic::InvalidCidr { term: term.into() })?;
    Ok(if name == "a" {
        Mechanism::A {
            domain,
            ip4_cidr,
            ip6_cidr,
        }
    } else {
        Mechanism::Mx {
            domain,
            ip4_cidr,
            ip6_cidr,
        }
    })
}

/// `dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ]`.
fn dual_cidr(text: &str) -> Option<(Option<u8>, Option<u8>)> {
    if text.is_empty() {
        return Some((None, None));
    }
    let rest = text.strip_prefix('/')?;
    if let Some(ip6) = rest.strip_prefix('/') {
        return Some((None, Some(cidr_length(ip6, 128)?)));
    }
    match rest.split_once("//") {
        Some((ip4, ip6)) => Some((Some(cidr_length(ip4, 32)?), Some(cidr_length(ip6, 128)?))),
        None => Some((Some(cidr_length(rest, 32)?), None)),
    }
}

/// A prefix length: `"0" / %x31-39 *DIGIT` up to `max` (no leading zeros, §5.6).
fn cidr_length(text: &str, max: u8) -> Option<u8> {
    if text.is_empty()
        || !text.bytes().all(|b| b.is_ascii_digit())
        || (text.len() > 1 && text.starts_with('0'))
    {
        return None;
    }
    text.parse::<u8>().ok().filter(|n| *n <= max)
}

/// `ip4:<ip4-network>[/<ip4-cidr>]`, `ip6:<ip6-network>[/<ip6-cidr>]` (§5.6).
fn parse_ip(term: &str, name: &str, args: &str) -> Result<Mechanism, SpfDiagnostic> {
    let Some(rest) = args.strip_prefix(':') else {
        return Err(syntax(term, "an address is required after ':'"));
    };
    let (addr, prefix) = match rest.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (rest, None),
    };
    let invalid_ip = || SpfDiagnostic::InvalidIpAddress { term: term.into() };
    let invalid_cidr = || SpfDiagnostic::InvalidCidr { term: term.into() };
    if name == "ip4" {
        let network: Ipv4Addr = addr.parse().map_err(|_| invalid_ip())?;
        let prefix_len = match prefix {
            Some(p) => cidr_length(p, 32).ok_or_else(invalid_cidr)?,
            None => 32,
        };
        Ok(Mechanism::Ip4 {
            network,
            prefix_len,
        })
    } else {
        let network: Ipv6Addr = addr.parse().map_err(|_| invalid_ip())?;
        let prefix_len = match prefix {
            Some(p) => cidr_length(p, 128).ok_or_else(invalid_cidr)?,
            None => 128,
        };
        Ok(Mechanism::Ip6 {
            network,
            prefix_len,
        })
    }
}
