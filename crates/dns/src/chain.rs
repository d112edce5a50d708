//! mailtrust's own walk of the chain of trust, from the anchor down to a name.
//!
//! hickory's validator gives a verdict (secure, insecure, bogus) but not the why: a bogus answer
//! arrives as a bare error. Administrators need to know which link broke — the DS at the parent
//! that matches no key, the signature that expired yesterday — so this module re-fetches the DS
//! and DNSKEY sets of every zone on the way (with CD=1, so nothing upstream hides them) and
//! checks each link itself. It is explanatory: the verdict on an answer stays the validator's,
//! and when the walk cannot name a broken link it says so rather than guess.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::join_all;
use hickory_net::{DnsError, NetError};
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, RRSIG};
use hickory_proto::dnssec::{PublicKey, Verifier};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use serde::{Serialize, Serializer};

use crate::answer::BogusReason;
use crate::answer::DnssecStatus;
use crate::resolver::{RawResult, Resolver, dnskeys, proof_status};

/// The verdict on one zone of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneStatus {
    Secure,
    Insecure,
    Bogus(BogusReason),
    /// The walk could not decide (an answer it needed did not come).
    Indeterminate(String),
}

impl ZoneStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Secure => "secure",
            Self::Insecure => "insecure",
            Self::Bogus(_) => "bogus",
            Self::Indeterminate(_) => "indeterminate",
        }
    }
}

impl Serialize for ZoneStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A DNSKEY as seen in the chain.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub tag: u16,
    pub flags: u16,
    pub algorithm: String,
    /// Matched by the parent's DS or the trust anchor.
    pub trusted: bool,
}

/// One zone on the way from the anchor to the name.
#[derive(Debug, Clone, Serialize)]
pub struct ZoneLink {
    pub zone: String,
    pub status: ZoneStatus,
    /// Why bogus or indeterminate, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Key tags of the DS records the parent publishes for this zone (empty at the anchor).
    pub ds: Vec<u16>,
    pub dnskeys: Vec<KeyInfo>,
}

/// The chain of trust for one name.
#[derive(Debug, Clone, Serialize)]
pub struct Chain {
    /// Where validation started ("IANA root KSKs" or the anchor file).
    pub anchor: String,
    pub zones: Vec<ZoneLink>,
    /// What the walk concluded, for the resolver to weigh against the validator's verdict.
    #[serde(skip)]
    pub finding: Finding,
}

/// The walk's own conclusion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A link is broken: the first one found, from the anchor down (the RRset itself last).
    Broken(BogusReason),
    /// An answer the walk needed did not come, so it cannot confirm or refute anything.
    Incomplete,
    /// Every zone on the way was fetched and judged secure or insecure; `rrset_verified` says the
    /// answer's own RRSIG verified too (only checked for positive answers in secure zones).
    Intact { rrset_verified: bool },
}

impl Chain {
    pub(crate) fn gave_up(anchor: &str, after: Duration) -> Self {
        Self {
            anchor: anchor.to_string(),
            zones: vec![ZoneLink {
                zone: ".".into(),
                status: ZoneStatus::Indeterminate(format!(
                    "walk did not finish within {}s",
                    after.as_secs_f32()
                )),
                reason: Some(format!(
                    "walk did not finish within {}s",
                    after.as_secs_f32()
                )),
                ds: Vec::new(),
                dnskeys: Vec::new(),
            }],
            finding: Finding::Incomplete,
        }
    }
}

fn now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

/// Walks from the highest anchored ancestor of `name` down to the zone holding it, then checks
/// the `rtype` RRset itself when every zone is secure.
pub(crate) async fn walk(resolver: &Resolver, name: &Name, rtype: RecordType) -> Chain {
    let anchors = resolver.anchors();
    let anchor_source = anchors.source.clone();
    let Some(top) = anchors.zones().into_iter().find(|z| z.zone_of(name)) else {
        return Chain {
            anchor: anchor_source,
            zones: vec![ZoneLink {
                zone: name.to_ascii(),
                status: ZoneStatus::Indeterminate("no trust anchor covers this name".into()),
                reason: Some("no trust anchor covers this name".into()),
                ds: Vec::new(),
                dnskeys: Vec::new(),
            }],
            finding: Finding::Incomplete,
        };
    };

    // Zone cuts below the anchor: a name is a zone apex when it answers SOA for itself.
    let candidates: Vec<Name> = (top.num_labels() + 1..=name.num_labels())
        .map(|n| name.trim_to(usize::from(n)))
        .collect();
    let soa = join_all(candidates.iter().map(|c| resolver.raw(c, RecordType::SOA))).await;
    let mut cuts = vec![top.clone()];
    let mut cut_failure: Option<(Name, String)> = None;
    for (cand, res) in candidates.iter().zip(soa) {
        match res {
            RawResult::Response(r) => {
                if r.answers
                    .iter()
                    .any(|rec| rec.record_type() == RecordType::SOA && rec.name == *cand)
                {
                    cuts.push(cand.clone());
                }
            }
            RawResult::Negative { .. } => {}
            RawResult::Failed { detail, .. } => {
                cut_failure = Some((cand.clone(), detail));
                break;
            }
        }
    }

    let t = now();
    let mut zones: Vec<ZoneLink> = Vec::new();
    let mut parent_keys: Vec<DNSKEY> = Vec::new();
    let mut verdict: Option<BogusReason> = None;
    let mut incomplete = false;
    let mut rrset_verified = false;
    let mut parent_status = ZoneStatus::Secure;
    for (i, zone) in cuts.iter().enumerate() {
        let link = if i == 0 {
            anchor_link(resolver, zone, t).await
        } else {
            match &parent_status {
                ZoneStatus::Secure => child_link(resolver, zone, &parent_keys, t).await,
                ZoneStatus::Insecure => (plain(zone, ZoneStatus::Insecure, None), Vec::new()),
                ZoneStatus::Bogus(_) => {
                    let parent = cuts[i - 1].to_ascii();
                    let r = BogusReason::ParentBogus { zone: parent };
                    (
                        plain(zone, ZoneStatus::Bogus(r.clone()), Some(r.to_string())),
                        Vec::new(),
                    )
                }
                ZoneStatus::Indeterminate(_) => {
                    let why = format!("the status of {} is unknown", cuts[i - 1].to_ascii());
                    (
                        plain(zone, ZoneStatus::Indeterminate(why.clone()), Some(why)),
                        Vec::new(),
                    )
                }
            }
        };
        let (link, keys) = link;
        if verdict.is_none() {
            match &link.status {
                ZoneStatus::Bogus(r) => verdict = Some(r.clone()),
                ZoneStatus::Indeterminate(_) => incomplete = true,
                _ => {}
            }
        }
        parent_status = link.status.clone();
        parent_keys = keys;
        zones.push(link);
    }
    if let Some((cand, detail)) = cut_failure {
        incomplete = true;
        let why = format!(
            "could not tell whether {} is a zone: {detail}",
            cand.to_ascii()
        );
        zones.push(plain(
            &cand,
            ZoneStatus::Indeterminate(why.clone()),
            Some(why),
        ));
    } else if verdict.is_none() && parent_status == ZoneStatus::Secure {
        // Every zone is secure: look at the RRset's own signatures.
        if let RawResult::Response(r) = resolver.raw(name, rtype).await {
            let records: Vec<Record> = r
                .answers
                .iter()
                .filter(|x| x.name == *name && x.record_type() == rtype)
                .cloned()
                .collect();
            let sigs = rrsigs(&r.answers, name, rtype);
            if !records.is_empty() {
                match verify_rrset(name, rtype, &records, &sigs, &parent_keys, t) {
                    Ok(()) => rrset_verified = true,
                    Err(r) => verdict = Some(r),
                }
            }
        }
    }
    Chain {
        anchor: anchor_source,
        zones,
        finding: match verdict {
            Some(r) => Finding::Broken(r),
            None if incomplete => Finding::Incomplete,
            None => Finding::Intact { rrset_verified },
        },
    }
}

fn plain(zone: &Name, status: ZoneStatus, reason: Option<String>) -> ZoneLink {
    ZoneLink {
        zone: zone.to_ascii(),
        status,
        reason,
        ds: Vec::new(),
        dnskeys: Vec::new(),
    }
}

/// Keys as shown: key-signing keys (SEP flag) first, then by tag, so output is stable.
fn key_infos(keys: &[DNSKEY], trusted: &[DNSKEY]) -> Vec<KeyInfo> {
    let mut v: Vec<KeyInfo> = keys
        .iter()
        .map(|k| KeyInfo {
            tag: k.calculate_key_tag().unwrap_or(0),
            flags: k.flags(),
            algorithm: k.public_key().algorithm().to_string(),
            trusted: trusted.contains(k),
        })
        .collect();
    v.sort_by_key(|k| (k.flags & 1 == 0, k.tag));
    v
}

fn link(
    zone: &Name,
    status: ZoneStatus,
    ds: &[DS],
    keys: &[DNSKEY],
    trusted: &[DNSKEY],
) -> ZoneLink {
    let reason = match &status {
        ZoneStatus::Bogus(r) => Some(r.to_string()),
        ZoneStatus::Indeterminate(w) => Some(w.clone()),
        _ => None,
    };
    ZoneLink {
        zone: zone.to_ascii(),
        status,
        reason,
        ds: ds.iter().map(DS::key_tag).collect(),
        dnskeys: key_infos(keys, trusted),
    }
}

/// The anchored zone: its DNSKEY set must contain an anchored key and be signed by one.
async fn anchor_link(resolver: &Resolver, zone: &Name, t: u32) -> (ZoneLink, Vec<DNSKEY>) {
    let resp = match resolver.raw(zone, RecordType::DNSKEY).await {
        RawResult::Response(r) => r,
        RawResult::Negative { .. } => {
            let r = BogusReason::NoKeyMatchesTrustAnchor {
                zone: zone.to_ascii(),
            };
            return (link(zone, ZoneStatus::Bogus(r), &[], &[], &[]), Vec::new());
        }
        RawResult::Failed { outcome, detail } => {
            let why = format!("DNSKEY {}: {outcome} ({detail})", zone.to_ascii());
            return (
                link(zone, ZoneStatus::Indeterminate(why), &[], &[], &[]),
                Vec::new(),
            );
        }
    };
    let keys = dnskeys(&resp.answers, zone);
    let anchored: Vec<DNSKEY> = keys
        .iter()
        .filter(|k| resolver.anchors().anchors(zone, k))
        .cloned()
        .collect();
    if anchored.is_empty() {
        let r = BogusReason::NoKeyMatchesTrustAnchor {
            zone: zone.to_ascii(),
        };
        return (
            link(zone, ZoneStatus::Bogus(r), &[], &keys, &[]),
            Vec::new(),
        );
    }
    let status = key_set_status(zone, &resp.answers, &anchored, t);
    let good = matches!(status, ZoneStatus::Secure);
    (
        link(zone, status, &[], &keys, &anchored),
        if good { keys } else { Vec::new() },
    )
}

/// A zone below a secure parent: DS at the parent (signed by the parent's keys), a DNSKEY that
/// matches it, and a DNSKEY set signed by that key. No DS must be proven by the parent.
async fn child_link(
    resolver: &Resolver,
    zone: &Name,
    parent_keys: &[DNSKEY],
    t: u32,
) -> (ZoneLink, Vec<DNSKEY>) {
    let ds_resp = match resolver.raw(zone, RecordType::DS).await {
        RawResult::Response(r) => r,
        RawResult::Negative { .. } => {
            // The parent says "no DS": insecure only if that denial validates.
            let status = match resolver.validated(zone, RecordType::DS).await {
                Err(NetError::Dns(DnsError::Nsec { proof, .. })) => match proof_status(proof) {
                    DnssecStatus::Secure | DnssecStatus::Insecure => ZoneStatus::Insecure,
                    DnssecStatus::Bogus(_) => ZoneStatus::Bogus(BogusReason::DsNotProven {
                        zone: zone.to_ascii(),
                    }),
                    DnssecStatus::Indeterminate => {
                        ZoneStatus::Indeterminate("the DS denial could not be checked".into())
                    }
                },
                Err(NetError::Dns(DnsError::NoRecordsFound(nr))) => {
                    match nr.soa.as_ref().map(|s| proof_status(s.proof)) {
                        Some(DnssecStatus::Secure | DnssecStatus::Insecure) => ZoneStatus::Insecure,
                        Some(DnssecStatus::Bogus(_)) => {
                            ZoneStatus::Bogus(BogusReason::DsNotProven {
                                zone: zone.to_ascii(),
                            })
                        }
                        _ => ZoneStatus::Indeterminate("the DS denial carried no proof".into()),
                    }
                }
                Err(NetError::Dns(DnsError::DnssecBogus)) => {
                    ZoneStatus::Bogus(BogusReason::DsNotProven {
                        zone: zone.to_ascii(),
                    })
                }
                Ok(_) => ZoneStatus::Indeterminate("DS answers differ between queries".into()),
                Err(e) => ZoneStatus::Indeterminate(format!("DS {}: {e}", zone.to_ascii())),
            };
            return (link(zone, status, &[], &[], &[]), Vec::new());
        }
        RawResult::Failed { outcome, detail } => {
            let why = format!("DS {}: {outcome} ({detail})", zone.to_ascii());
            return (
                link(zone, ZoneStatus::Indeterminate(why), &[], &[], &[]),
                Vec::new(),
            );
        }
    };
    let ds: Vec<DS> = ds_resp
        .answers
        .iter()
        .filter(|r| r.name == *zone)
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DS(d)) => Some(d.clone()),
            _ => None,
        })
        .collect();
    let ds_records: Vec<Record> = ds_resp
        .answers
        .iter()
        .filter(|r| r.name == *zone && r.record_type() == RecordType::DS)
        .cloned()
        .collect();
    if let Err(r) = verify_rrset(
        zone,
        RecordType::DS,
        &ds_records,
        &rrsigs(&ds_resp.answers, zone, RecordType::DS),
        parent_keys,
        t,
    ) {
        return (link(zone, ZoneStatus::Bogus(r), &ds, &[], &[]), Vec::new());
    }
    let key_resp = match resolver.raw(zone, RecordType::DNSKEY).await {
        RawResult::Response(r) => r,
        RawResult::Negative { .. } => {
            let r = BogusReason::NoDnskey {
                zone: zone.to_ascii(),
            };
            return (link(zone, ZoneStatus::Bogus(r), &ds, &[], &[]), Vec::new());
        }
        RawResult::Failed { outcome, detail } => {
            let why = format!("DNSKEY {}: {outcome} ({detail})", zone.to_ascii());
            return (
                link(zone, ZoneStatus::Indeterminate(why), &ds, &[], &[]),
                Vec::new(),
            );
        }
    };
    let keys = dnskeys(&key_resp.answers, zone);
    let matched: Vec<DNSKEY> = keys
        .iter()
        .filter(|k| ds.iter().any(|d| d.covers(zone, k).unwrap_or(false)))
        .cloned()
        .collect();
    if matched.is_empty() {
        let mut ds_tags: Vec<u16> = ds.iter().map(DS::key_tag).collect();
        let mut dnskey_tags: Vec<u16> = keys
            .iter()
            .filter_map(|k| k.calculate_key_tag().ok())
            .collect();
        ds_tags.sort_unstable();
        dnskey_tags.sort_unstable();
        let r = BogusReason::DsMatchesNoDnskey {
            zone: zone.to_ascii(),
            ds_tags,
            dnskey_tags,
        };
        return (
            link(zone, ZoneStatus::Bogus(r), &ds, &keys, &[]),
            Vec::new(),
        );
    }
    let status = key_set_status(zone, &key_resp.answers, &matched, t);
    let good = matches!(status, ZoneStatus::Secure);
    (
        link(zone, status, &ds, &keys, &matched),
        if good { keys } else { Vec::new() },
    )
}

fn key_set_status(zone: &Name, answers: &[Record], trusted: &[DNSKEY], t: u32) -> ZoneStatus {
    let key_records: Vec<Record> = answers
        .iter()
        .filter(|r| r.name == *zone && r.record_type() == RecordType::DNSKEY)
        .cloned()
        .collect();
    match verify_rrset(
        zone,
        RecordType::DNSKEY,
        &key_records,
        &rrsigs(answers, zone, RecordType::DNSKEY),
        trusted,
        t,
    ) {
        Ok(()) => ZoneStatus::Secure,
        Err(r) => ZoneStatus::Bogus(r),
    }
}

fn rrsigs(answers: &[Record], owner: &Name, covered: RecordType) -> Vec<RRSIG> {
    answers
        .iter()
        .filter(|r| r.name == *owner)
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::RRSIG(s)) if s.input().type_covered == covered => {
                Some(s.clone())
            }
            _ => None,
        })
        .collect()
}

/// Checks that at least one RRSIG over the RRset verifies with one of `keys` and is within its
/// validity period at `t` (RFC 4035 §5.3). On failure, returns the most telling reason among the
/// signatures present.
pub(crate) fn verify_rrset(
    owner: &Name,
    rtype: RecordType,
    records: &[Record],
    sigs: &[RRSIG],
    keys: &[DNSKEY],
    t: u32,
) -> Result<(), BogusReason> {
    let o = owner.to_ascii();
    let ty = rtype.to_string();
    if sigs.is_empty() {
        return Err(BogusReason::MissingSignature {
            owner: o,
            rtype: ty,
        });
    }
    let mut best: Option<(u8, BogusReason)> = None;
    let mut keep = |rank: u8, r: BogusReason| {
        if best.as_ref().is_none_or(|(b, _)| rank > *b) {
            best = Some((rank, r));
        }
    };
    for sig in sigs {
        let input = sig.input();
        let tag = input.key_tag;
        let candidates: Vec<&DNSKEY> = keys
            .iter()
            .filter(|k| {
                k.calculate_key_tag().ok() == Some(tag)
                    && k.public_key().algorithm() == input.algorithm
            })
            .collect();
        if candidates.is_empty() {
            keep(
                1,
                BogusReason::NoDnskeyForSignature {
                    owner: o.clone(),
                    rtype: ty.clone(),
                    key_tag: tag,
                },
            );
            continue;
        }
        let verified = candidates.iter().any(|k| {
            k.verify_rrsig(owner, DNSClass::IN, sig, records.iter())
                .is_ok()
        });
        if !verified {
            keep(
                2,
                BogusReason::BadSignature {
                    owner: o.clone(),
                    rtype: ty.clone(),
                    key_tag: tag,
                },
            );
            continue;
        }
        let (inception, expiration) = (input.sig_inception.get(), input.sig_expiration.get());
        if t > expiration {
            keep(
                3,
                BogusReason::SignatureExpired {
                    owner: o.clone(),
                    rtype: ty.clone(),
                    key_tag: tag,
                    expired: expiration,
                },
            );
            continue;
        }
        if t < inception {
            keep(
                3,
                BogusReason::SignatureNotYetValid {
                    owner: o.clone(),
                    rtype: ty.clone(),
                    key_tag: tag,
                    inception,
                },
            );
            continue;
        }
        return Ok(());
    }
    Err(best
        .map(|(_, r)| r)
        .unwrap_or(BogusReason::MissingSignature {
            owner: o,
            rtype: ty,
        }))
}
