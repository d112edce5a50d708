//! DANE: matching a presented chain against TLSA records as an SMTP client does (RFC 7672 §3,
//! with the general rules of RFC 7671 and the record format of RFC 6698).
//!
//! SMTP narrows DANE down (RFC 7672 §3.1): only DANE-EE(3) and DANE-TA(2) records count;
//! PKIX-TA(0) and PKIX-EE(1) are "unusable" because MTAs have no agreed set of public CAs.
//!
//! * DANE-EE(3) matches the leaf alone: names, dates and the chain are ignored (RFC 7672
//!   §3.1.1, RFC 7671 §5.1).
//! * DANE-TA(2) names a trust anchor: a certificate of the presented chain (or, for SPKI(1)
//!   Full(0), a bare key) from which the leaf must chain, with dates checked (RFC 7671 §5.2),
//!   and the leaf must carry one of the reference identifiers — the MX host name or the TLSA
//!   base domain (RFC 7672 §3.2.3).
//!
//! Records are judged one by one; the connection is authenticated when any usable record
//! matches. Nothing here can panic on a hostile chain or record.
//!
//! Cross-check with `ldns-dane` (see `tests::ldns_dane_agrees`): it agrees on every case we
//! compare (3 1 1, 3 0 1, 3 1 2 matches, a 3 1 1 mismatch, 2 0 1 on the issuing CA, 2 0 1
//! with an unrelated CA, 2 0 1 for another host name, 3 1 1 for another host name).
//! Disagreements: without `-n`, ldns-dane checks the host name for DANE-EE(3) too, which
//! RFC 7672 §3.1.1 forbids for SMTP (so the test runs it with `-n`, which still leaves its
//! DANE-TA name check on). By design, not covered by the test: ldns-dane implements RFC 6698
//! for any protocol, so it uses PKIX-TA(0)/PKIX-EE(1) records, which RFC 7672 §3.1.3 makes
//! unusable for SMTP (we report them `Unusable`).

use std::fmt;
use std::time::SystemTime;

use aws_lc_rs::digest;
use rustls_pki_types::{CertificateDer, TrustAnchor};
use serde::{Serialize, Serializer};

use crate::cert::{self, der};

/// Only this many presented certificates take part in matching (bounded work per record).
const MAX_CHAIN: usize = 10;

/// Why a TLSA record could not be parsed or computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DaneError {
    #[error("TLSA record \"{record}\": {reason}")]
    BadRecord { record: String, reason: String },
    #[error("cannot compute a TLSA record: {0}")]
    Unsupported(String),
    #[error("cannot compute a TLSA record: the certificate cannot be parsed")]
    BadCertificate,
}

/// A TLSA record's RDATA (RFC 6698 §2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tlsa {
    pub usage: u8,
    pub selector: u8,
    pub matching: u8,
    #[serde(serialize_with = "serialize_hex")]
    pub data: Vec<u8>,
}

fn serialize_hex<S: Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&cert::hex(data))
}

impl Tlsa {
    /// Parse the presentation form, "3 1 1 ab12…" (hex may be split by spaces, as in zone
    /// files). The RFC 7218 mnemonics ("DANE-EE SPKI SHA2-256 …") and a leading owner/TTL/
    /// class/"TLSA" are accepted too. Unknown numeric values are kept (they make the record
    /// unusable, which [`verify`] reports) — only bad syntax is an error.
    pub fn parse(presentation: &str) -> Result<Tlsa, DaneError> {
        let bad = |reason: &str| DaneError::BadRecord {
            record: presentation.chars().take(120).collect(),
            reason: reason.to_string(),
        };
        // Zone files may wrap the data in parentheses over several lines.
        let mut tokens: Vec<&str> = presentation
            .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
            .filter(|t| !t.is_empty())
            .collect();
        if let Some(pos) = tokens.iter().position(|t| t.eq_ignore_ascii_case("TLSA")) {
            tokens.drain(..=pos);
        }
        if tokens.len() < 4 {
            return Err(bad(
                "expected \"usage selector matching-type data\", e.g. \"3 1 1 <sha-256 hex>\"",
            ));
        }
        let usage = field(tokens[0], USAGE_NAMES).ok_or_else(|| bad("bad certificate usage"))?;
        let selector = field(tokens[1], SELECTOR_NAMES).ok_or_else(|| bad("bad selector"))?;
        let matching = field(tokens[2], MATCHING_NAMES).ok_or_else(|| bad("bad matching type"))?;
        let hex: String = tokens[3..].concat();
        let data = decode_hex(&hex).ok_or_else(|| {
            bad("the certificate association data is not an even number of hex digits")
        })?;
        if data.is_empty() {
            return Err(bad("empty certificate association data"));
        }
        Ok(Tlsa {
            usage,
            selector,
            matching,
            data,
        })
    }

    /// The record that would match `cert` (for a rollover hint: "publish this next"), and
    /// for tests. Usage is copied as given; selector and matching type must be known.
    pub fn for_certificate(
        usage: u8,
        selector: u8,
        matching: u8,
        cert: &CertificateDer,
    ) -> Result<Tlsa, DaneError> {
        if selector > 1 {
            return Err(DaneError::Unsupported(format!(
                "unknown selector {selector}"
            )));
        }
        if matching > 2 {
            return Err(DaneError::Unsupported(format!(
                "unknown matching type {matching}"
            )));
        }
        let selected = selected_data(cert, selector).ok_or(DaneError::BadCertificate)?;
        Ok(Tlsa {
            usage,
            selector,
            matching,
            data: associate(selected, matching).ok_or(DaneError::BadCertificate)?,
        })
    }

    /// "DANE-EE(3) SPKI(1) SHA2-256(1)", the form admins see in guides.
    pub fn describe(&self) -> String {
        format!(
            "{}({}) {}({}) {}({})",
            name_of(self.usage, USAGE_NAMES).unwrap_or("usage"),
            self.usage,
            name_of(self.selector, SELECTOR_NAMES).unwrap_or("selector"),
            self.selector,
            name_of(self.matching, MATCHING_NAMES).unwrap_or("matching"),
            self.matching,
        )
    }
}

impl fmt::Display for Tlsa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.usage,
            self.selector,
            self.matching,
            cert::hex(&self.data)
        )
    }
}

impl std::str::FromStr for Tlsa {
    type Err = DaneError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tlsa::parse(s)
    }
}

const USAGE_NAMES: &[(u8, &str)] = &[
    (0, "PKIX-TA"),
    (1, "PKIX-EE"),
    (2, "DANE-TA"),
    (3, "DANE-EE"),
    (255, "PrivCert"),
];
const SELECTOR_NAMES: &[(u8, &str)] = &[(0, "Cert"), (1, "SPKI"), (255, "PrivSel")];
const MATCHING_NAMES: &[(u8, &str)] = &[
    (0, "Full"),
    (1, "SHA2-256"),
    (2, "SHA2-512"),
    (255, "PrivMatch"),
];

fn field(token: &str, names: &[(u8, &str)]) -> Option<u8> {
    token.parse::<u8>().ok().or_else(|| {
        names
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(token))
            .map(|&(v, _)| v)
    })
}

fn name_of(value: u8, names: &[(u8, &'static str)]) -> Option<&'static str> {
    names.iter().find(|(v, _)| *v == value).map(|&(_, n)| n)
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    hex.as_bytes()
        .chunks(2)
        .map(|pair| {
            let hi = char::from(pair[0]).to_digit(16)?;
            let lo = char::from(pair[1]).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

/// One record's verdict against the presented chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum RecordVerdict {
    Matched,
    NoMatch,
    /// Not usable for SMTP, with the reason (RFC 7672 §3.1.3; unknown parameters; a digest
    /// of the wrong length).
    Unusable(String),
}

/// The DANE verdict for one server.
#[derive(Debug, Clone, Serialize)]
pub struct DaneReport {
    pub records: Vec<(Tlsa, RecordVerdict)>,
    /// How many records are usable for SMTP.
    pub usable: usize,
    /// Index of the first matching record.
    pub matched: Option<usize>,
    /// One sentence for admins.
    pub detail: String,
}

impl DaneReport {
    /// True when a usable record matched: the connection is DANE-authenticated.
    pub fn authenticated(&self) -> bool {
        self.matched.is_some()
    }
}

/// Match `chain` (as presented, leaf first) against the TLSA records of one MX host.
///
/// `reference_names` are the names the leaf must carry for DANE-TA(2): the MX host name and,
/// after CNAME expansion, the TLSA base domain (RFC 7672 §3.2.3). `now` is used for the
/// validity dates DANE-TA checks; DANE-EE ignores dates.
pub fn verify(
    chain: &[CertificateDer<'_>],
    records: &[Tlsa],
    reference_names: &[String],
    now: SystemTime,
) -> DaneReport {
    let chain = &chain[..chain.len().min(MAX_CHAIN)];
    let mut judged = Vec::with_capacity(records.len());
    let mut notes: Vec<String> = Vec::new();
    let mut usable = 0;
    let mut matched = None;
    let mut matched_detail = String::new();
    for (i, record) in records.iter().enumerate() {
        let n = i + 1;
        let verdict = match unusable_reason(record) {
            Some(reason) => RecordVerdict::Unusable(reason),
            None => {
                usable += 1;
                let outcome = match record.usage {
                    3 => match_dane_ee(record, chain),
                    _ => match_dane_ta(record, chain, reference_names, now),
                };
                match outcome {
                    Outcome::Matched(how) => {
                        if matched.is_none() {
                            matched = Some(i);
                            matched_detail = format!("{} record {n} {how}", record.describe());
                        }
                        RecordVerdict::Matched
                    }
                    Outcome::NoMatch(Some(note)) => {
                        notes.push(format!("record {n} ({}) {note}", record.describe()));
                        RecordVerdict::NoMatch
                    }
                    Outcome::NoMatch(None) => RecordVerdict::NoMatch,
                }
            }
        };
        judged.push((record.clone(), verdict));
    }
    let detail = if matched.is_some() {
        matched_detail
    } else if records.is_empty() {
        "no TLSA records to match".to_string()
    } else if usable == 0 {
        let reasons: Vec<String> = judged
            .iter()
            .enumerate()
            .filter_map(|(i, (_, v))| match v {
                RecordVerdict::Unusable(r) => Some(format!("record {}: {r}", i + 1)),
                _ => None,
            })
            .take(3)
            .collect();
        format!(
            "none of the {} TLSA records is usable for SMTP ({}); DANE clients still require TLS but cannot authenticate the server (RFC 7672 §2.2)",
            records.len(),
            reasons.join("; ")
        )
    } else {
        let leaf_key = chain
            .first()
            .and_then(|leaf| selected_data(leaf, 1))
            .map(|spki| cert::hex(digest::digest(&digest::SHA256, spki).as_ref()))
            .unwrap_or_else(|| "unavailable".to_string());
        let mut text = format!(
            "none of {usable} usable TLSA record{} matches the presented chain (leaf key SPKI sha256 {leaf_key}); DANE clients will not deliver to this server",
            if usable == 1 { "" } else { "s" }
        );
        if chain.is_empty() {
            text.push_str(" (no certificate was presented)");
        }
        for note in notes.iter().take(3) {
            text.push_str("; ");
            text.push_str(note);
        }
        text
    };
    DaneReport {
        records: judged,
        usable,
        matched,
        detail,
    }
}

enum Outcome {
    /// How it matched, completing "DANE-EE(3) SPKI(1) SHA2-256(1) record 2 …".
    Matched(String),
    /// Why a near miss did not count, when there is something useful to say.
    NoMatch(Option<String>),
}

/// Why a record cannot be used by an SMTP client, or None when it can.
fn unusable_reason(record: &Tlsa) -> Option<String> {
    match record.usage {
        0 => {
            return Some(
                "PKIX-TA(0) is not usable for SMTP (RFC 7672 §3.1.3); use DANE-TA(2)".into(),
            );
        }
        1 => {
            return Some(
                "PKIX-EE(1) is not usable for SMTP (RFC 7672 §3.1.3); use DANE-EE(3)".into(),
            );
        }
        2 | 3 => {}
        other => return Some(format!("unknown certificate usage {other}")),
    }
    if record.selector > 1 {
        return Some(format!("unknown selector {}", record.selector));
    }
    let expected_len = match record.matching {
        0 => None,
        1 => Some(32),
        2 => Some(64),
        other => return Some(format!("unknown matching type {other}")),
    };
    if let Some(len) = expected_len
        && record.data.len() != len
    {
        return Some(format!(
            "{} digest of {} bytes, expected {len}",
            if len == 32 { "SHA-256" } else { "SHA-512" },
            record.data.len()
        ));
    }
    if record.data.is_empty() {
        return Some("empty certificate association data".into());
    }
    None
}

/// The bytes a selector picks from a certificate: the whole DER (0) or its
/// SubjectPublicKeyInfo (1). None when the certificate cannot be taken apart.
fn selected_data<'a>(cert: &'a CertificateDer<'_>, selector: u8) -> Option<&'a [u8]> {
    match selector {
        0 => Some(cert.as_ref()),
        1 => der::certificate_parts(cert.as_ref()).map(|p| p.spki),
        _ => None,
    }
}

/// The certificate association data for `selected` under a matching type.
fn associate(selected: &[u8], matching: u8) -> Option<Vec<u8>> {
    match matching {
        0 => Some(selected.to_vec()),
        1 => Some(digest::digest(&digest::SHA256, selected).as_ref().to_vec()),
        2 => Some(digest::digest(&digest::SHA512, selected).as_ref().to_vec()),
        _ => None,
    }
}

fn record_matches(record: &Tlsa, cert: &CertificateDer<'_>) -> bool {
    selected_data(cert, record.selector)
        .and_then(|s| associate(s, record.matching))
        .is_some_and(|d| d == record.data)
}

fn match_dane_ee(record: &Tlsa, chain: &[CertificateDer<'_>]) -> Outcome {
    let Some(leaf) = chain.first() else {
        return Outcome::NoMatch(None);
    };
    if record_matches(record, leaf) {
        let what = if record.selector == 1 {
            "key"
        } else {
            "certificate"
        };
        return Outcome::Matched(format!("matches the server's {what}"));
    }
    if chain[1..].iter().any(|c| record_matches(record, c)) {
        return Outcome::NoMatch(Some(
            "matches an issuer, not the server certificate: DANE-EE(3) must match the leaf; publish it as DANE-TA(2)".into(),
        ));
    }
    Outcome::NoMatch(None)
}

fn match_dane_ta(
    record: &Tlsa,
    chain: &[CertificateDer<'_>],
    reference_names: &[String],
    now: SystemTime,
) -> Outcome {
    let Some(leaf) = chain.first() else {
        return Outcome::NoMatch(None);
    };
    let mut note = None;
    for depth in 1..chain.len() {
        if !record_matches(record, &chain[depth]) {
            continue;
        }
        let anchor = match webpki::anchor_from_trusted_cert(&chain[depth]) {
            Ok(a) => a,
            Err(e) => {
                note = Some(format!(
                    "matches certificate {depth} of the chain, which cannot serve as a trust anchor: {}",
                    cert::webpki_error_text(&e)
                ));
                continue;
            }
        };
        match chain_and_names(leaf, &chain[1..depth], &[anchor], reference_names, now) {
            Ok(name) => {
                return Outcome::Matched(format!(
                    "matches certificate {depth} of the chain, which issues the server certificate for {name}"
                ));
            }
            Err(why) => {
                note = Some(format!(
                    "matches certificate {depth} of the chain, but {why}"
                ))
            }
        }
    }
    // RFC 7671 §5.2.2: with SPKI(1) Full(0) the server may leave the trust anchor out of its
    // chain; the record's key then anchors the top of whatever it presented.
    if note.is_none()
        && record.selector == 1
        && record.matching == 0
        && der::public_key_info(&record.data).is_some()
    {
        // TrustAnchor holds the SubjectPublicKeyInfo without its SEQUENCE header.
        if let Some(spki_contents) = der::expect(&record.data, der::SEQUENCE).map(|t| t.contents) {
            let anchors: Vec<TrustAnchor<'_>> = chain
                .iter()
                .filter_map(|c| der::certificate_parts(c.as_ref()))
                .filter_map(|p| der::expect(p.issuer, der::SEQUENCE))
                .map(|issuer| TrustAnchor {
                    subject: issuer.contents.into(),
                    subject_public_key_info: spki_contents.into(),
                    name_constraints: None,
                })
                .collect();
            match chain_and_names(leaf, &chain[1..], &anchors, reference_names, now) {
                Ok(name) => {
                    return Outcome::Matched(format!(
                        "is a trust-anchor key (not in the chain) that issues the server certificate for {name}"
                    ));
                }
                Err(why) if why.starts_with("the server certificate's names") => {
                    note = Some(format!("is a key that issues the chain, but {why}"));
                }
                Err(_) => {}
            }
        }
    }
    if note.is_none() && record_matches(record, leaf) {
        note = Some(
            "matches the server certificate itself, not an issuer: publish it as DANE-EE(3)".into(),
        );
    }
    Outcome::NoMatch(note)
}

/// Build the path leaf → intermediates → one of `anchors` at `now`, then check the leaf's
/// names against the reference identifiers. Ok(the name that matched) or Err(why not).
fn chain_and_names(
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    anchors: &[TrustAnchor<'_>],
    reference_names: &[String],
    now: SystemTime,
) -> Result<String, String> {
    let ee = webpki::EndEntityCert::try_from(leaf).map_err(|e| {
        format!(
            "the server certificate is unusable: {}",
            cert::webpki_error_text(&e)
        )
    })?;
    ee.verify_for_usage(
        cert::signature_algorithms(),
        anchors,
        intermediates,
        cert::unix_time(now),
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )
    .map_err(|e| {
        let problem = cert::chain_problem_from(&e, intermediates.len() + 1, false);
        format!("the server certificate does not chain to it: {problem}")
    })?;
    let names = cert::summarize(leaf).map(|s| s.names).unwrap_or_default();
    reference_names
        .iter()
        .find(|r| cert::name_matches(&names, r))
        .cloned()
        .ok_or_else(|| {
            format!(
                "the server certificate's names ({}) match none of {} (RFC 7672 §3.2.3)",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                },
                if reference_names.is_empty() {
                    "the reference names (none given)".to_string()
                } else {
                    reference_names.join(", ")
                }
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::tests::{make_ca, make_leaf, make_leaf_with, now_secs, pem_of};
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn rec(u: u8, s: u8, m: u8, c: &CertificateDer) -> Tlsa {
        Tlsa::for_certificate(u, s, m, c).unwrap()
    }

    #[test]
    fn parse_and_display() {
        let t = Tlsa::parse("3 1 1 ( AB12\n cd34 )").unwrap();
        assert_eq!((t.usage, t.selector, t.matching), (3, 1, 1));
        assert_eq!(t.data, vec![0xab, 0x12, 0xcd, 0x34]);
        assert_eq!(t.to_string(), "3 1 1 ab12cd34");
        assert_eq!(Tlsa::parse(&t.to_string()).unwrap(), t);
        let t = Tlsa::parse("_25._tcp.mx.example.org. 3600 IN TLSA DANE-TA SPKI SHA2-512 00ff")
            .unwrap();
        assert_eq!((t.usage, t.selector, t.matching), (2, 1, 2));
        assert_eq!(t.describe(), "DANE-TA(2) SPKI(1) SHA2-512(2)");
        assert_eq!(Tlsa::parse("9 9 9 00").unwrap().usage, 9);
        for bad in [
            "",
            "3 1 1",
            "3 1 1 abc",
            "3 1 1 zz",
            "300 1 1 00",
            "x 1 1 00",
            "3 1 1 ééé",
        ] {
            let err = Tlsa::parse(bad).unwrap_err();
            assert!(err.to_string().contains("TLSA record"), "{bad}: {err}");
        }
        let json = serde_json::to_string(&Tlsa::parse("3 1 1 0a0b").unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"usage":3,"selector":1,"matching":1,"data":"0a0b"}"#
        );
    }

    #[test]
    fn dane_ee_all_forms() {
        let ca = make_ca("Lab Root");
        let (leaf, _) = make_leaf(&ca, &["mx.example.org"]);
        let chain = [leaf.clone(), ca.cert.clone()];
        for (s, m) in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)] {
            let r = verify(&chain, &[rec(3, s, m, &leaf)], &[], SystemTime::now());
            assert_eq!(r.matched, Some(0), "3 {s} {m}: {}", r.detail);
            assert_eq!(r.usable, 1);
        }
        let r = verify(&chain, &[rec(3, 1, 1, &leaf)], &[], SystemTime::now());
        assert_eq!(
            r.detail,
            "DANE-EE(3) SPKI(1) SHA2-256(1) record 1 matches the server's key"
        );
    }

    #[test]
    fn dane_ee_ignores_names_dates_and_chain() {
        let ca = make_ca("Lab Root");
        let (leaf, _) = make_leaf_with(
            &ca,
            &["other.example.net"],
            now_secs() - 1000,
            now_secs() - 10,
            &[],
        );
        let r = verify(
            std::slice::from_ref(&leaf),
            &[rec(3, 1, 1, &leaf)],
            &names(&["mx.example.org"]),
            SystemTime::now(),
        );
        assert_eq!(r.matched, Some(0), "{}", r.detail);
    }

    #[test]
    fn dane_ee_mismatch_and_misplaced() {
        let ca = make_ca("Lab Root");
        let (leaf, _) = make_leaf(&ca, &["mx.example.org"]);
        let (other, _) = make_leaf(&ca, &["mx.example.org"]);
        let r = verify(
            &[leaf.clone(), ca.cert.clone()],
            &[rec(3, 1, 1, &other), rec(3, 1, 1, &ca.cert)],
            &[],
            SystemTime::now(),
        );
        assert_eq!(r.matched, None);
        assert_eq!(r.usable, 2);
        assert_eq!(r.records[0].1, RecordVerdict::NoMatch);
        assert!(
            r.detail
                .starts_with("none of 2 usable TLSA records matches"),
            "{}",
            r.detail
        );
        let leaf_key = Tlsa::for_certificate(3, 1, 1, &leaf).unwrap();
        assert!(
            r.detail.contains(&cert::hex(&leaf_key.data)),
            "{}",
            r.detail
        );
        assert!(
            r.detail.contains("publish it as DANE-TA(2)"),
            "{}",
            r.detail
        );
    }

    #[test]
    fn unusable_records() {
        let ca = make_ca("Lab Root");
        let (leaf, _) = make_leaf(&ca, &["mx.example.org"]);
        let records = vec![
            rec(0, 0, 1, &ca.cert),
            rec(1, 1, 1, &leaf),
            Tlsa {
                usage: 3,
                selector: 1,
                matching: 1,
                data: vec![1, 2, 3],
            },
            Tlsa {
                usage: 3,
                selector: 2,
                matching: 1,
                data: vec![0; 32],
            },
            Tlsa {
                usage: 3,
                selector: 1,
                matching: 7,
                data: vec![0; 32],
            },
            Tlsa {
                usage: 4,
                selector: 1,
                matching: 1,
                data: vec![0; 32],
            },
            Tlsa {
                usage: 3,
                selector: 0,
                matching: 0,
                data: vec![],
            },
        ];
        let r = verify(
            &[leaf, ca.cert.clone()],
            &records,
            &names(&["mx.example.org"]),
            SystemTime::now(),
        );
        assert_eq!(r.usable, 0);
        assert_eq!(r.matched, None);
        assert!(
            r.records
                .iter()
                .all(|(_, v)| matches!(v, RecordVerdict::Unusable(_)))
        );
        assert!(
            matches!(&r.records[0].1, RecordVerdict::Unusable(t) if t.contains("RFC 7672 §3.1.3"))
        );
        assert!(
            r.detail.contains("none of the 7 TLSA records is usable"),
            "{}",
            r.detail
        );
    }

    /// Root → intermediate → leaf; DANE-TA on the root or the intermediate.
    #[test]
    fn dane_ta_matches_issuers_with_names_and_dates() {
        let root = make_ca("Lab Root");
        let ikey = KeyPair::generate().unwrap();
        let mut iparams = CertificateParams::new(Vec::<String>::new()).unwrap();
        iparams
            .distinguished_name
            .push(DnType::CommonName, "Lab Intermediate");
        iparams.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let icert = iparams
            .signed_by(&ikey, &root.issuer)
            .unwrap()
            .der()
            .clone();
        let inter = crate::cert::tests::TestCa {
            cert: icert.clone(),
            issuer: Issuer::new(iparams, ikey),
        };
        let (leaf, _) = make_leaf(&inter, &["*.example.org"]);
        let chain = [leaf.clone(), icert.clone(), root.cert.clone()];
        let refs = names(&["mx.example.org"]);

        for ta in [&icert, &root.cert] {
            for (s, m) in [(0, 1), (1, 1), (1, 2), (0, 0), (1, 0)] {
                let r = verify(&chain, &[rec(2, s, m, ta)], &refs, SystemTime::now());
                assert_eq!(r.matched, Some(0), "2 {s} {m}: {}", r.detail);
            }
        }
        // Name mismatch: the anchor matches but the leaf is not for this host.
        let r = verify(
            &chain,
            &[rec(2, 0, 1, &root.cert)],
            &names(&["mx.example.net"]),
            SystemTime::now(),
        );
        assert_eq!(r.matched, None);
        assert!(r.detail.contains("RFC 7672 §3.2.3"), "{}", r.detail);
        // Dates count for DANE-TA.
        let (old, _) = make_leaf_with(
            &inter,
            &["mx.example.org"],
            now_secs() - 1000,
            now_secs() - 10,
            &[],
        );
        let r = verify(
            &[old, icert.clone()],
            &[rec(2, 0, 1, &icert)],
            &refs,
            SystemTime::now(),
        );
        assert_eq!(r.matched, None);
        assert!(r.detail.contains("expired"), "{}", r.detail);
        // A TA record matching only the leaf is a misplaced DANE-EE.
        let r = verify(&chain, &[rec(2, 1, 1, &leaf)], &refs, SystemTime::now());
        assert_eq!(r.matched, None);
        assert!(
            r.detail.contains("publish it as DANE-EE(3)"),
            "{}",
            r.detail
        );
    }

    #[test]
    fn dane_ta_spki_full_not_in_chain() {
        let ca = make_ca("Lab Root");
        let (leaf, _) = make_leaf(&ca, &["mx.example.org"]);
        let record = rec(2, 1, 0, &ca.cert);
        let r = verify(
            std::slice::from_ref(&leaf),
            std::slice::from_ref(&record),
            &names(&["mx.example.org"]),
            SystemTime::now(),
        );
        assert_eq!(r.matched, Some(0), "{}", r.detail);
        assert!(r.detail.contains("not in the chain"), "{}", r.detail);
        // A digest of the key cannot anchor an absent certificate.
        let r = verify(
            std::slice::from_ref(&leaf),
            &[rec(2, 1, 1, &ca.cert)],
            &names(&["mx.example.org"]),
            SystemTime::now(),
        );
        assert_eq!(r.matched, None);
        // Another CA's key does not verify the leaf.
        let other = make_ca("Lab Root");
        let r = verify(
            &[leaf],
            &[rec(2, 1, 0, &other.cert)],
            &names(&["mx.example.org"]),
            SystemTime::now(),
        );
        assert_eq!(r.matched, None);
    }

    #[test]
    fn garbage_never_panics() {
        let junk: Vec<CertificateDer> = [
            &b""[..],
            b"\x30",
            b"\x30\x82\xff\xff",
            b"\x30\x03\x30\x01\x00",
            &[0xff; 64],
        ]
        .iter()
        .map(|b| CertificateDer::from(b.to_vec()))
        .collect();
        let records: Vec<Tlsa> = (0..=3u8)
            .flat_map(|u| (0..=2u8).flat_map(move |s| (0..=3u8).map(move |m| (u, s, m))))
            .map(|(usage, selector, matching)| Tlsa {
                usage,
                selector,
                matching,
                data: vec![0x30; if matching == 2 { 64 } else { 32 }],
            })
            .collect();
        for n in 0..=junk.len() {
            let r = verify(
                &junk[..n],
                &records,
                &names(&["mx.example.org"]),
                SystemTime::now(),
            );
            assert_eq!(r.matched, None);
        }
        assert!(Tlsa::for_certificate(3, 1, 1, &junk[0]).is_err());
        assert!(Tlsa::for_certificate(3, 2, 1, &junk[0]).is_err());
        let r = verify(&[], &[], &[], SystemTime::now());
        assert_eq!(r.detail, "no TLSA records to match");
    }

    /// Cross-check against ldns-dane (ldnsutils 1.8.3), which verifies a certificate chain
    /// file against TLSA records from a zone-format file offline:
    /// `ldns-dane -n -d -c chain.pem -t tlsa.zone verify mx.example.org 25` (-c: no
    /// connection, the chain from a file; -t: records from a file; -d: treat them as
    /// DNSSEC-validated, since a file carries no signatures). Exit status 0 ("dane-validated
    /// successfully") means a match.
    ///
    /// Flags found by trying, with the disagreements they work around:
    /// * without `-n`, ldns-dane also checks the host name for DANE-EE(3), which RFC 7672
    ///   §3.1.1 says an SMTP client must not do ("3 1 1 match, other host" fails there).
    ///   With `-n` it skips names for DANE-EE but still checks them for DANE-TA(2), which is
    ///   exactly RFC 7672;
    /// * the host and port must be given after `verify`: with only `-t`, ldns-dane takes the
    ///   owner name "_25._tcp.mx.example.org" as the host and every DANE-TA(2) record fails
    ///   with "hostname mismatch".
    #[test]
    fn ldns_dane_agrees() {
        let ldns = std::path::Path::new("/usr/bin/ldns-dane");
        if !ldns.exists() {
            eprintln!(
                "SKIPPED ldns_dane_agrees: /usr/bin/ldns-dane not installed (Debian package ldnsutils)"
            );
            return;
        }
        let ca = make_ca("Lab Root");
        let other_ca = make_ca("Other Root");
        let (leaf, _) = make_leaf(&ca, &["mx.example.org"]);
        let (other_leaf, _) = make_leaf(&ca, &["mx.example.org"]);
        let chain = vec![leaf.clone(), ca.cert.clone()];
        let mx = "mx.example.org";
        let cases: Vec<(&str, Tlsa, &str, bool)> = vec![
            ("3 1 1 match", rec(3, 1, 1, &leaf), mx, true),
            ("3 0 1 match", rec(3, 0, 1, &leaf), mx, true),
            ("3 1 2 match", rec(3, 1, 2, &leaf), mx, true),
            ("3 1 1 mismatch", rec(3, 1, 1, &other_leaf), mx, false),
            ("2 0 1 issuing CA", rec(2, 0, 1, &ca.cert), mx, true),
            ("2 0 1 other CA", rec(2, 0, 1, &other_ca.cert), mx, false),
            (
                "2 0 1 issuing CA, other host",
                rec(2, 0, 1, &ca.cert),
                "other.example.org",
                false,
            ),
            (
                "3 1 1 match, other host",
                rec(3, 1, 1, &leaf),
                "other.example.org",
                true,
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        let chain_path = dir.path().join("chain.pem");
        std::fs::write(&chain_path, chain.iter().map(pem_of).collect::<String>()).unwrap();
        for (label, record, host, expected) in cases {
            let ours = verify(
                &chain,
                std::slice::from_ref(&record),
                &names(&[host]),
                SystemTime::now(),
            );
            assert_eq!(
                ours.matched.is_some(),
                expected,
                "{label}: ours: {}",
                ours.detail
            );
            let zone = dir.path().join("tlsa.zone");
            std::fs::write(&zone, format!("_25._tcp.{host}. 3600 IN TLSA {record}\n")).unwrap();
            let out = std::process::Command::new(ldns)
                .args(["-n", "-d"])
                .arg("-c")
                .arg(&chain_path)
                .arg("-t")
                .arg(&zone)
                .args(["verify", host, "25"])
                .output()
                .unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let theirs = out.status.success() && text.contains("dane-validated successfully");
            assert_eq!(theirs, expected, "{label}: ldns-dane says: {text}");
        }
    }
}
