//! What a lookup produced, and how sure we are of it.
//!
//! The two questions are kept apart on purpose: [`Outcome`] says what the DNS said (or that it
//! said nothing), [`DnssecStatus`] says whether that can be trusted. "No record" is only ever
//! [`Outcome::NxDomain`] or [`Outcome::NoData`]; a timeout, SERVFAIL or REFUSED is something
//! else, and callers must treat it as "could not find out".

use std::fmt;

use hickory_proto::rr::RData;
use serde::{Serialize, Serializer};

use crate::chain::Chain;
use crate::qtype::QueryType;

/// What the DNS answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// One or more records of the asked type (possibly after CNAMEs).
    Records,
    /// The name does not exist (RCODE 3).
    NxDomain,
    /// The name exists but has no record of this type.
    NoData,
    /// The upstream resolver could not get an answer (RCODE 2, or another error RCODE).
    ServFail,
    /// The upstream resolver refused to answer (RCODE 5).
    Refused,
    /// No usable answer arrived in time.
    Timeout,
}

impl Outcome {
    /// True when the DNS gave an answer that can support a verdict: records, or a statement that
    /// there are none. False for failures, which must make a check inconclusive.
    pub fn is_answer(self) -> bool {
        matches!(self, Self::Records | Self::NxDomain | Self::NoData)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Records => "records",
            Self::NxDomain => "nxdomain",
            Self::NoData => "nodata",
            Self::ServFail => "servfail",
            Self::Refused => "refused",
            Self::Timeout => "timeout",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a validation failed. Produced by mailtrust's own walk of the chain; `Unexplained` is used
/// when the validator said bogus and the walk could not name a broken link, so that the reason
/// is never a guess.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BogusReason {
    /// No DNSKEY at the root (or anchored zone) matches the configured trust anchor.
    NoKeyMatchesTrustAnchor { zone: String },
    /// The parent publishes DS records but none matches a DNSKEY of the zone.
    DsMatchesNoDnskey {
        zone: String,
        ds_tags: Vec<u16>,
        dnskey_tags: Vec<u16>,
    },
    /// The parent publishes DS records but the zone serves no DNSKEY.
    NoDnskey { zone: String },
    /// An RRset that must be signed carries no RRSIG (by the expected key).
    MissingSignature { owner: String, rtype: String },
    /// The signature's validity period has ended.
    SignatureExpired {
        owner: String,
        rtype: String,
        key_tag: u16,
        expired: u32,
    },
    /// The signature's validity period has not started.
    SignatureNotYetValid {
        owner: String,
        rtype: String,
        key_tag: u16,
        inception: u32,
    },
    /// The signature does not verify with the key it names.
    BadSignature {
        owner: String,
        rtype: String,
        key_tag: u16,
    },
    /// The signature names a key tag that is not in the zone's DNSKEY set.
    NoDnskeyForSignature {
        owner: String,
        rtype: String,
        key_tag: u16,
    },
    /// A secure parent's answer about the child's DS (present or absent) did not validate.
    DsNotProven { zone: String },
    /// A zone above is already bogus, so nothing below can be secure.
    ParentBogus { zone: String },
    /// The validator said bogus, and the walk found no broken link to name.
    Unexplained { detail: String },
}

fn when(ts: u32) -> String {
    // RRSIG times are seconds since the epoch (RFC 4034 §3.1.5); shown as UTC.
    format_utc(i64::from(ts))
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC` (signature and certificate dates).
pub fn format_utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm); avoids a date
/// crate for one formatting need.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl fmt::Display for BogusReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoKeyMatchesTrustAnchor { zone } => {
                write!(f, "no DNSKEY of {zone} matches the trust anchor")
            }
            Self::DsMatchesNoDnskey {
                zone,
                ds_tags,
                dnskey_tags,
            } => write!(
                f,
                "DS mismatch: the parent's DS for {zone} (key tags {}) matches no DNSKEY of the zone (key tags {})",
                tags(ds_tags),
                tags(dnskey_tags)
            ),
            Self::NoDnskey { zone } => {
                write!(
                    f,
                    "the parent has DS records for {zone} but the zone serves no DNSKEY"
                )
            }
            Self::MissingSignature { owner, rtype } => {
                write!(f, "missing signature: {owner} {rtype} has no usable RRSIG")
            }
            Self::SignatureExpired {
                owner,
                rtype,
                key_tag,
                expired,
            } => write!(
                f,
                "expired signature: RRSIG {owner} {rtype} (key tag {key_tag}) expired {}",
                when(*expired)
            ),
            Self::SignatureNotYetValid {
                owner,
                rtype,
                key_tag,
                inception,
            } => write!(
                f,
                "signature not yet valid: RRSIG {owner} {rtype} (key tag {key_tag}) starts {}",
                when(*inception)
            ),
            Self::BadSignature {
                owner,
                rtype,
                key_tag,
            } => write!(
                f,
                "bad signature: RRSIG {owner} {rtype} does not verify with DNSKEY {key_tag}"
            ),
            Self::NoDnskeyForSignature {
                owner,
                rtype,
                key_tag,
            } => write!(
                f,
                "no matching DNSKEY: RRSIG {owner} {rtype} names key tag {key_tag}, which the zone does not publish"
            ),
            Self::DsNotProven { zone } => write!(
                f,
                "the parent's answer about DS for {zone} (or its absence) does not validate"
            ),
            Self::ParentBogus { zone } => write!(f, "the chain is already broken at {zone}"),
            Self::Unexplained { detail } => write!(
                f,
                "validation failed ({detail}); mailtrust's own walk found no single broken link"
            ),
        }
    }
}

fn tags(t: &[u16]) -> String {
    if t.is_empty() {
        return "none".into();
    }
    t.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
}

/// Whether an answer can be trusted, per RFC 4035 §4.3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnssecStatus {
    /// Validated from the trust anchor down.
    Secure,
    /// Proven unsigned: a secure parent proves there is no DS.
    Insecure,
    /// Signed, but the signatures or the chain are wrong.
    Bogus(BogusReason),
    /// Could not be decided (no answer, or the validator could not finish).
    Indeterminate,
}

impl DnssecStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Secure => "secure",
            Self::Insecure => "insecure",
            Self::Bogus(_) => "bogus",
            Self::Indeterminate => "indeterminate",
        }
    }

    pub fn bogus_reason(&self) -> Option<&BogusReason> {
        match self {
            Self::Bogus(r) => Some(r),
            _ => None,
        }
    }

    /// The weaker of two statuses: bogus < indeterminate < insecure < secure. An RRset assembled
    /// from several parts (CNAME chain, target) is only as trustworthy as its weakest part.
    pub fn weakest(self, other: Self) -> Self {
        fn rank(s: &DnssecStatus) -> u8 {
            match s {
                DnssecStatus::Bogus(_) => 0,
                DnssecStatus::Indeterminate => 1,
                DnssecStatus::Insecure => 2,
                DnssecStatus::Secure => 3,
            }
        }
        if rank(&other) < rank(&self) {
            other
        } else {
            self
        }
    }
}

impl fmt::Display for DnssecStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bogus(r) => write!(f, "bogus: {r}"),
            other => f.write_str(other.as_str()),
        }
    }
}

impl Serialize for DnssecStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One record as seen, in zone-file presentation format, with the typed data kept for checks.
#[derive(Debug, Clone, Serialize)]
pub struct RecordEntry {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub ttl: u32,
    /// Presentation format. For TXT: the character-strings joined into one value (as SPF, DKIM
    /// and DMARC read them), with non-printable bytes escaped as `\DDD`.
    pub data: String,
    /// For TXT only: the record exactly as a zone file would carry it (each string quoted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strings: Option<String>,
    /// The DNSSEC status of this record's RRset.
    pub dnssec: DnssecStatus,
    #[serde(skip)]
    pub rdata: RData,
}

/// The result of one lookup.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// The name asked for, absolute, in ASCII (A-labels).
    pub name: String,
    #[serde(rename = "type", serialize_with = "ser_display")]
    pub qtype: QueryType,
    pub outcome: Outcome,
    pub dnssec: DnssecStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bogus_reason: Option<String>,
    pub records: Vec<RecordEntry>,
    /// What went wrong, for outcomes other than records/nxdomain/nodata, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The zones walked from the trust anchor down, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<Chain>,
}

fn ser_display<T: fmt::Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

impl Answer {
    pub fn new(name: String, qtype: QueryType, outcome: Outcome, dnssec: DnssecStatus) -> Self {
        let bogus_reason = dnssec.bogus_reason().map(ToString::to_string);
        Self {
            name,
            qtype,
            outcome,
            dnssec,
            bogus_reason,
            records: Vec::new(),
            detail: None,
            chain: None,
        }
    }

    /// Replaces the DNSSEC status, keeping the bogus reason in step with it.
    pub fn set_dnssec(&mut self, status: DnssecStatus) {
        self.bogus_reason = status.bogus_reason().map(ToString::to_string);
        self.dnssec = status;
    }

    /// Records of the asked type only (the CNAMEs that led there are in `records` too).
    pub fn rdatas(&self) -> impl Iterator<Item = &RData> {
        let want = self.qtype.record_type();
        self.records
            .iter()
            .filter(move |r| r.rdata.record_type() == want)
            .map(|r| &r.rdata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_answers_support_a_verdict() {
        assert!(Outcome::Records.is_answer());
        assert!(Outcome::NxDomain.is_answer());
        assert!(Outcome::NoData.is_answer());
        for o in [Outcome::ServFail, Outcome::Refused, Outcome::Timeout] {
            assert!(!o.is_answer(), "{o} must not count as an answer");
        }
    }

    #[test]
    fn weakest_status_wins() {
        let bogus = DnssecStatus::Bogus(BogusReason::Unexplained { detail: "x".into() });
        assert_eq!(
            DnssecStatus::Secure.weakest(DnssecStatus::Insecure),
            DnssecStatus::Insecure
        );
        assert_eq!(
            DnssecStatus::Insecure.weakest(DnssecStatus::Secure),
            DnssecStatus::Insecure
        );
        assert_eq!(DnssecStatus::Secure.weakest(bogus.clone()), bogus);
        assert_eq!(
            DnssecStatus::Indeterminate.weakest(DnssecStatus::Secure),
            DnssecStatus::Indeterminate
        );
    }

    #[test]
    fn json_names_are_the_documented_ones() {
        let a = Answer::new(
            "x.test.".into(),
            QueryType::Mx,
            Outcome::NxDomain,
            DnssecStatus::Insecure,
        );
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["outcome"], "nxdomain");
        assert_eq!(v["dnssec"], "insecure");
        assert_eq!(v["type"], "MX");
        let b = Answer::new(
            "x.test.".into(),
            QueryType::A,
            Outcome::Records,
            DnssecStatus::Bogus(BogusReason::SignatureExpired {
                owner: "x.test.".into(),
                rtype: "A".into(),
                key_tag: 1234,
                expired: 1_580_515_200,
            }),
        );
        let v = serde_json::to_value(&b).unwrap();
        assert_eq!(v["dnssec"], "bogus");
        let reason = v["bogus_reason"].as_str().unwrap();
        assert!(reason.contains("expired signature"), "{reason}");
        assert!(reason.contains("2020-02-01 00:00:00 UTC"), "{reason}");
    }
}
