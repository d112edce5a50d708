//! CNAME chains validated one hop at a time, when hickory's validator rejects them as a whole.
//!
//! hickory 0.26 (`DnssecDnsHandle::verify_response`, `verify_nsec`/`verify_nsec3`) checks every
//! NSEC/NSEC3 record of a response against the *query* name. After a CNAME, those records speak
//! about the alias's target (RFC 4035 §3.1.3 and §5.4; RFC 6604 §2: the denial in an answer that
//! followed a CNAME is for the last name of the chain). So two kinds of correct answers come out
//! bogus, although Unbound (and RFC 4035 §5) call them secure:
//! - a CNAME whose target has no record of the asked type (NODATA after a CNAME): the NSEC that
//!   proves it is the target's, never the alias's;
//! - a positive answer (`_dmarc CNAME policy`, `policy TXT ...`) to which the upstream resolver
//!   added the target's NSEC in the authority section (Unbound's iterator does): hickory then
//!   demands a wildcard proof for the alias.
//!
//! No option of hickory's changes that check. So when hickory calls an answer bogus and the name
//! is an alias, mailtrust asks again one hop at a time — the CNAME RRset at each name of the
//! chain, then the question at its last name — each a question about a single name, which
//! hickory's validator judges correctly (the signature over each CNAME RRset and the target's
//! own proof of denial are still checked by hickory, not here). The answer is only as strong as
//! its weakest hop: a bogus CNAME or a bogus target keeps the answer bogus (with that hop's
//! reason), an insecure hop makes it insecure, an unanswered hop makes it indeterminate.
//! Answers hickory accepts never come here.

use std::future::Future;
use std::pin::Pin;

use hickory_proto::rr::{Name, RData};

use crate::answer::{Answer, DnssecStatus, Outcome, RecordEntry};
use crate::qtype::QueryType;
use crate::resolver::Resolver;

/// Longest chain followed, as hickory's own CNAME chasing does; longer ones are treated as
/// broken, which they are in practice.
pub(crate) const MAX_HOPS: usize = 8;

/// One validated step of a chain: the CNAME RRset at a name, as its own lookup judged it.
#[derive(Debug, Clone)]
pub(crate) struct Hop {
    pub records: Vec<RecordEntry>,
    pub dnssec: DnssecStatus,
}

/// What the lookup of `NAME CNAME` says about the next step.
#[derive(Debug)]
pub(crate) enum Step {
    /// `NAME` is an alias of `target`.
    Alias { hop: Hop, target: Name },
    /// `NAME` has no CNAME (NODATA or NXDOMAIN): the question is asked at `NAME` itself.
    End,
    /// The CNAME lookup itself failed (bogus CNAME RRset, or no usable answer): the verdict on
    /// the whole answer is this one.
    Failed(Answer),
}

/// Reads the answer to `NAME CNAME` as a step of the chain.
pub(crate) fn step(cname_answer: Answer) -> Step {
    match cname_answer.outcome {
        Outcome::NoData | Outcome::NxDomain
            if !matches!(cname_answer.dnssec, DnssecStatus::Bogus(_)) =>
        {
            Step::End
        }
        Outcome::Records if !matches!(cname_answer.dnssec, DnssecStatus::Bogus(_)) => {
            let target = cname_answer.records.iter().find_map(|r| match &r.rdata {
                RData::CNAME(c) => Some(c.0.clone()),
                _ => None,
            });
            match target {
                Some(target) => Step::Alias {
                    target: target.to_lowercase(),
                    hop: Hop {
                        records: cname_answer.records,
                        dnssec: cname_answer.dnssec,
                    },
                },
                None => Step::Failed(cname_answer),
            }
        }
        _ => Step::Failed(cname_answer),
    }
}

/// The answer to the question asked at the head of the chain: the target's outcome and
/// records, the CNAMEs in front, and the weakest status of all hops (RFC 4035 §4.3: an answer
/// is secure only if every RRset on the way is).
pub(crate) fn combine(name: &Name, qtype: QueryType, hops: Vec<Hop>, target: Answer) -> Answer {
    let mut dnssec = target.dnssec.clone();
    for hop in &hops {
        // A bogus target keeps its own reason; otherwise the weakest hop decides.
        dnssec = dnssec.weakest(hop.dnssec.clone());
    }
    let mut a = Answer::new(name.to_ascii(), qtype, target.outcome, dnssec);
    a.records = hops.into_iter().flat_map(|h| h.records).collect();
    a.records.extend(target.records);
    a.detail = target.detail;
    a.chain = target.chain;
    a
}

/// The verdict when a hop could not be judged: the bogus verdict hickory gave is replaced by
/// the failed hop's. A bogus hop keeps the data the first lookup fetched, so that users see
/// what failed. A hop with no usable answer makes the whole answer "no usable answer": the data
/// the validator rejected is dropped, since someone who can drop the hop's queries must not
/// turn rejected (possibly forged) records into records merely unjudged.
fn hop_failed(mut original: Answer, failed: Answer) -> Answer {
    match failed.dnssec {
        DnssecStatus::Bogus(_) => {
            original.set_dnssec(failed.dnssec);
            original.chain = failed.chain;
            original
        }
        _ => {
            let why = format!(
                "the validator rejected the answer; following its CNAME chain hop by hop, {} {} got {}{}",
                failed.name,
                failed.qtype,
                failed.outcome,
                failed.detail.map(|d| format!(" ({d})")).unwrap_or_default()
            );
            let outcome = if failed.outcome.is_answer() {
                Outcome::ServFail
            } else {
                failed.outcome
            };
            let mut a = unusable_chain(original, why);
            a.outcome = outcome;
            a
        }
    }
}

fn unusable_chain(mut original: Answer, why: String) -> Answer {
    original.outcome = Outcome::ServFail;
    original.records.clear();
    original.set_dnssec(DnssecStatus::Indeterminate);
    original.detail = Some(why);
    original
}

impl Resolver {
    /// hickory said `original` (the answer to `name qtype`) is bogus. If `name` is an alias,
    /// judge the chain hop by hop (see the module documentation); `None` when it is not an
    /// alias, so the bogus verdict stands and the chain walk explains it.
    pub(crate) fn chase_cname<'a>(
        &'a self,
        name: &'a Name,
        qtype: QueryType,
        original: &'a Answer,
    ) -> Pin<Box<dyn Future<Output = Option<Answer>> + Send + 'a>> {
        Box::pin(async move {
            if qtype == QueryType::Cname {
                return None;
            }
            let mut hops: Vec<Hop> = Vec::new();
            let mut seen: Vec<Name> = vec![name.clone()];
            let mut at = name.clone();
            loop {
                match step(self.lookup(&at, QueryType::Cname).await) {
                    Step::Alias { hop, target } => {
                        if seen.contains(&target) {
                            return Some(unusable_chain(
                                original.clone(),
                                format!("CNAME loop: {} points back to {}", at, target),
                            ));
                        }
                        if hops.len() + 1 >= MAX_HOPS {
                            return Some(unusable_chain(
                                original.clone(),
                                format!("CNAME chain from {name} longer than {MAX_HOPS} hops"),
                            ));
                        }
                        hops.push(hop);
                        seen.push(target.clone());
                        at = target;
                    }
                    Step::End if hops.is_empty() => return None,
                    Step::End => {
                        // `at` is no alias, so this lookup never comes back here for `at`: the
                        // recursion ends, and (`at` differing from `name`) waits on no one
                        // waiting for it.
                        let target = self.lookup(&at, qtype).await;
                        return Some(combine(name, qtype, hops, target));
                    }
                    Step::Failed(failed) => return Some(hop_failed(original.clone(), failed)),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::BogusReason;
    use crate::present;
    use hickory_proto::rr::rdata::{A, CNAME, TXT};
    use hickory_proto::rr::{RData, Record};

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn entry(owner: &str, data: RData, s: &DnssecStatus) -> RecordEntry {
        present::entry(&Record::from_rdata(n(owner), 60, data), s.clone())
    }

    fn cname_answer(owner: &str, target: &str, s: DnssecStatus) -> Answer {
        let mut a = Answer::new(owner.into(), QueryType::Cname, Outcome::Records, s.clone());
        a.records = vec![entry(owner, RData::CNAME(CNAME(n(target))), &s)];
        a
    }

    fn expired() -> DnssecStatus {
        DnssecStatus::Bogus(BogusReason::SignatureExpired {
            owner: "www.expired.test.".into(),
            rtype: "A".into(),
            key_tag: 1,
            expired: 1_580_515_200,
        })
    }

    fn hop(owner: &str, target: &str, s: DnssecStatus) -> Hop {
        match step(cname_answer(owner, target, s)) {
            Step::Alias { hop, .. } => hop,
            other => panic!("not an alias: {other:?}"),
        }
    }

    #[test]
    fn an_alias_leads_to_its_target_and_no_cname_ends_the_chain() {
        match step(cname_answer(
            "_dmarc.x.test.",
            "Policy.X.test.",
            DnssecStatus::Secure,
        )) {
            Step::Alias { target, hop } => {
                assert_eq!(target, n("policy.x.test."));
                assert_eq!(hop.dnssec, DnssecStatus::Secure);
            }
            other => panic!("{other:?}"),
        }
        for outcome in [Outcome::NoData, Outcome::NxDomain] {
            let a = Answer::new(
                "x.test.".into(),
                QueryType::Cname,
                outcome,
                DnssecStatus::Secure,
            );
            assert!(matches!(step(a), Step::End));
        }
    }

    #[test]
    fn a_bogus_or_unanswered_cname_lookup_fails_the_chain() {
        assert!(matches!(
            step(cname_answer("a.x.test.", "b.x.test.", expired())),
            Step::Failed(_)
        ));
        // A bogus denial of the CNAME is no proof that the name is not an alias.
        let denial = Answer::new(
            "a.x.test.".into(),
            QueryType::Cname,
            Outcome::NoData,
            expired(),
        );
        assert!(matches!(step(denial), Step::Failed(_)));
        for outcome in [Outcome::Timeout, Outcome::ServFail, Outcome::Refused] {
            let a = Answer::new(
                "a.x.test.".into(),
                QueryType::Cname,
                outcome,
                DnssecStatus::Indeterminate,
            );
            assert!(matches!(step(a), Step::Failed(_)), "{outcome}");
        }
    }

    #[test]
    fn secure_cname_and_secure_nodata_at_the_target_is_secure_nodata() {
        let target = Answer::new(
            "www.x.test.".into(),
            QueryType::Mx,
            Outcome::NoData,
            DnssecStatus::Secure,
        );
        let hops = vec![hop("alias.x.test.", "www.x.test.", DnssecStatus::Secure)];
        let a = combine(&n("alias.x.test."), QueryType::Mx, hops, target);
        assert_eq!(a.name, "alias.x.test.");
        assert_eq!(a.outcome, Outcome::NoData);
        assert_eq!(a.dnssec, DnssecStatus::Secure);
        assert_eq!(a.records.len(), 1, "the CNAME is kept");
        assert_eq!(a.rdatas().count(), 0);
    }

    /// `alias` CNAME → `target.name` (the CNAME judged `cname`), answered by `target`.
    fn via(alias: &str, cname: DnssecStatus, target: Answer) -> Answer {
        let hops = vec![hop(alias, &target.name, cname)];
        combine(&n(alias), target.qtype, hops, target)
    }

    #[test]
    fn the_weakest_hop_decides() {
        let secure_txt = || {
            let mut t = Answer::new(
                "policy.x.test.".into(),
                QueryType::Txt,
                Outcome::Records,
                DnssecStatus::Secure,
            );
            t.records = vec![entry(
                "policy.x.test.",
                RData::TXT(TXT::new(vec!["v=DMARC1; p=reject".into()])),
                &DnssecStatus::Secure,
            )];
            t
        };
        // A secure chain: secure, CNAME first, then the target's records.
        let a = via("_dmarc.x.test.", DnssecStatus::Secure, secure_txt());
        assert_eq!(a.dnssec, DnssecStatus::Secure);
        assert_eq!(a.outcome, Outcome::Records);
        assert_eq!(a.records[0].rtype, "CNAME");
        assert_eq!(a.rdatas().count(), 1);
        // An insecure CNAME in front of a secure target: insecure, never secure.
        let a = via("_dmarc.x.test.", DnssecStatus::Insecure, secure_txt());
        assert_eq!(a.dnssec, DnssecStatus::Insecure);
        // A bogus target stays bogus, with the target's reason.
        let mut target = Answer::new(
            "www.expired.test.".into(),
            QueryType::A,
            Outcome::Records,
            expired(),
        );
        target.records = vec![entry(
            "www.expired.test.",
            RData::A(A::new(192, 0, 2, 30)),
            &expired(),
        )];
        let a = via("intobogus.x.test.", DnssecStatus::Secure, target);
        assert_eq!(a.dnssec, expired());
        assert!(
            a.bogus_reason
                .as_deref()
                .is_some_and(|r| r.contains("expired signature")),
            "{:?}",
            a.bogus_reason
        );
        // An unanswered target: indeterminate, never secure.
        let target = Answer::new(
            "www.lame.test.".into(),
            QueryType::A,
            Outcome::Timeout,
            DnssecStatus::Indeterminate,
        );
        let a = via("intolame.x.test.", DnssecStatus::Secure, target);
        assert_eq!(a.dnssec, DnssecStatus::Indeterminate);
        assert_eq!(a.outcome, Outcome::Timeout);
    }

    #[test]
    fn a_failed_hop_replaces_the_verdict_but_never_with_secure() {
        let original = Answer::new(
            "a.x.test.".into(),
            QueryType::Mx,
            Outcome::NoData,
            DnssecStatus::Bogus(BogusReason::Unexplained {
                detail: "validator rejected the answer".into(),
            }),
        );
        // The CNAME's own signature is bad: bogus, with that reason.
        let a = hop_failed(
            original.clone(),
            cname_answer("a.x.test.", "b.x.test.", expired()),
        );
        assert_eq!(a.dnssec, expired());
        assert_eq!(
            a.bogus_reason,
            expired().bogus_reason().map(ToString::to_string)
        );
        // The CNAME lookup got no answer: indeterminate, and the detail says so.
        let mut timeout = Answer::new(
            "a.x.test.".into(),
            QueryType::Cname,
            Outcome::Timeout,
            DnssecStatus::Indeterminate,
        );
        timeout.detail = Some("no answer within 3s".into());
        let mut with_data = original;
        with_data.records = vec![entry(
            "a.x.test.",
            RData::CNAME(CNAME(n("b.x.test."))),
            &DnssecStatus::Indeterminate,
        )];
        let a = hop_failed(with_data, timeout);
        assert_eq!(a.dnssec, DnssecStatus::Indeterminate);
        assert_eq!(a.bogus_reason, None);
        // No usable answer: the rejected records are not handed on as if merely unjudged.
        assert_eq!(a.outcome, Outcome::Timeout);
        assert!(a.records.is_empty(), "{:?}", a.records);
        assert!(
            a.detail.as_deref().is_some_and(|d| d.contains("timeout")),
            "{:?}",
            a.detail
        );
    }
}
