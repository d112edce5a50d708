//! mailtrust's validator against the lab's validating Unbound, on every name the lab serves.
//!
//! Two validators that see the same signed zones must reach the same verdict. Every owner name
//! of the built-in scenario zones is asked for A, AAAA, MX, TXT and TLSA, once through
//! mailtrust's resolver (over the lab's non-validating Unbound, as `dns lookup` does) and once
//! of the validating Unbound, and the verdicts must agree:
//! - secure ⇔ Unbound sets AD;
//! - insecure ⇔ Unbound answers without AD;
//! - bogus ⇔ Unbound answers SERVFAIL carrying a validator's reason (an RFC 8914 extended error
//!   in the DNSSEC range: the lab's validator runs with `ede: yes`);
//! - no usable answer ⇔ Unbound answers SERVFAIL without such a reason, or not at all.
//!
//! For answers, the kind (records, NODATA, NXDOMAIN) must agree too. Every disagreement is
//! listed at once in the failure message, so a difference between the two validators can never
//! pass silently. Issue 10 §4 found the CNAME cases this way.
//!
//! The test runs in-process: a thread enters the lab's network namespace and runs all lookups
//! concurrently on one current-thread runtime, so its sockets are the lab's.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::{Name, RecordType};
use libtest_mimic::Failed;
use mailtrust_dns::{
    Answer, DnssecStatus, Outcome, QueryType, Resolver, ResolverConfig, TrustAnchorSet, Upstream,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::Lab;

const TYPES: [QueryType; 5] = [
    QueryType::A,
    QueryType::Aaaa,
    QueryType::Mx,
    QueryType::Txt,
    QueryType::Tlsa,
];

/// Questions in flight at once: enough to finish in seconds, few enough for one Unbound thread.
const CONCURRENCY: usize = 48;

/// The whole cross-check must end within this (it takes a few seconds; the lame zone's
/// timeouts, run concurrently, dominate).
const BOUND: Duration = Duration::from_secs(60);

/// How long and how often the validating Unbound is asked (it gives up on the lame zone's server
/// after a few seconds itself).
const UNBOUND_TRY: Duration = Duration::from_secs(4);
const UNBOUND_TRIES: usize = 3;

/// RFC 8914 info codes that name a DNSSEC validation failure: 1 unsupported DNSKEY algorithm,
/// 2 unsupported DS digest, 5 indeterminate, 6 bogus, 7 signature expired, 8 not yet valid,
/// 9 DNSKEY missing, 10 RRSIGs missing, 11 no zone key bit, 12 NSEC missing.
const DNSSEC_EDE: [u16; 10] = [1, 2, 5, 6, 7, 8, 9, 10, 11, 12];

/// RFC 8914 option code.
const EDE_OPTION: u16 = 15;

/// What an answer was, for the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Records,
    NoData,
    NxDomain,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Secure(Kind),
    Insecure(Kind),
    Bogus,
    /// mailtrust only: an answer whose status could not be decided.
    Indeterminate(Kind),
    /// No usable answer (timeout, SERVFAIL without a validator's reason, REFUSED).
    Unanswered,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Secure(k) => write!(f, "secure {k:?}"),
            Self::Insecure(k) => write!(f, "insecure {k:?}"),
            Self::Bogus => f.write_str("bogus"),
            Self::Indeterminate(k) => write!(f, "indeterminate {k:?}"),
            Self::Unanswered => f.write_str("no usable answer"),
        }
    }
}

fn mailtrust_verdict(a: &Answer) -> Verdict {
    let kind = match a.outcome {
        Outcome::Records => Kind::Records,
        Outcome::NoData => Kind::NoData,
        Outcome::NxDomain => Kind::NxDomain,
        Outcome::ServFail | Outcome::Refused | Outcome::Timeout => {
            return if matches!(a.dnssec, DnssecStatus::Bogus(_)) {
                Verdict::Bogus
            } else {
                Verdict::Unanswered
            };
        }
    };
    match a.dnssec {
        DnssecStatus::Secure => Verdict::Secure(kind),
        DnssecStatus::Insecure => Verdict::Insecure(kind),
        DnssecStatus::Bogus(_) => Verdict::Bogus,
        DnssecStatus::Indeterminate => Verdict::Indeterminate(kind),
    }
}

/// The validating Unbound's verdict, and what it said (for the failure message).
async fn unbound_verdict(server: SocketAddr, name: &Name, rtype: RecordType) -> (Verdict, String) {
    let Some(resp) = ask(server, name, rtype).await else {
        return (Verdict::Unanswered, "no answer".into());
    };
    let rcode = resp.metadata.response_code;
    let ede: Vec<(u16, String)> = resp
        .edns
        .as_ref()
        .map(|e| {
            e.options()
                .get_all(EdnsCode::Unknown(EDE_OPTION))
                .into_iter()
                .filter_map(|o| match o {
                    EdnsOption::Unknown(_, data) if data.len() >= 2 => Some((
                        u16::from_be_bytes([data[0], data[1]]),
                        String::from_utf8_lossy(&data[2..]).into_owned(),
                    )),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let said = format!(
        "{rcode}{}{}",
        if resp.metadata.authentic_data {
            " AD"
        } else {
            ""
        },
        ede.iter()
            .map(|(c, t)| format!(" EDE {c} {t:?}"))
            .collect::<String>()
    );
    let kind = match rcode {
        ResponseCode::NXDomain => Kind::NxDomain,
        ResponseCode::NoError if resp.answers.iter().any(|r| r.record_type() == rtype) => {
            Kind::Records
        }
        ResponseCode::NoError => Kind::NoData,
        ResponseCode::ServFail if ede.iter().any(|(c, _)| DNSSEC_EDE.contains(c)) => {
            return (Verdict::Bogus, said);
        }
        _ => return (Verdict::Unanswered, said),
    };
    let verdict = if resp.metadata.authentic_data {
        Verdict::Secure(kind)
    } else {
        Verdict::Insecure(kind)
    };
    (verdict, said)
}

/// One question (RD, DO, CD clear) over UDP, retried, and over TCP when truncated.
async fn ask(server: SocketAddr, name: &Name, rtype: RecordType) -> Option<Message> {
    let mut m = Message::new(rand_id(name, rtype), MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(name.clone(), rtype));
    let mut edns = Edns::new();
    edns.set_dnssec_ok(true);
    edns.set_max_payload(1232);
    m.set_edns(edns);
    let wire = m.to_vec().ok()?;
    let socket = UdpSocket::bind("127.0.0.1:0").await.ok()?;
    socket.connect(server).await.ok()?;
    let mut buf = vec![0u8; 65_535];
    for _ in 0..UNBOUND_TRIES {
        socket.send(&wire).await.ok()?;
        let Ok(Ok(n)) = tokio::time::timeout(UNBOUND_TRY, socket.recv(&mut buf)).await else {
            continue;
        };
        let Ok(resp) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        if resp.metadata.id != m.metadata.id {
            continue;
        }
        if resp.metadata.truncation {
            return ask_tcp(server, &wire).await;
        }
        return Some(resp);
    }
    None
}

async fn ask_tcp(server: SocketAddr, wire: &[u8]) -> Option<Message> {
    let exchange = async {
        let mut s = TcpStream::connect(server).await.ok()?;
        let len = u16::try_from(wire.len()).ok()?;
        s.write_all(&len.to_be_bytes()).await.ok()?;
        s.write_all(wire).await.ok()?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len).await.ok()?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut buf).await.ok()?;
        Message::from_vec(&buf).ok()
    };
    tokio::time::timeout(UNBOUND_TRY, exchange)
        .await
        .ok()
        .flatten()
}

/// A query id that differs between questions (no randomness needed: one socket per question).
fn rand_id(name: &Name, rtype: RecordType) -> u16 {
    let mut h: u16 = u16::from(rtype);
    for b in name.to_ascii().bytes() {
        h = h.wrapping_mul(31).wrapping_add(u16::from(b));
    }
    h
}

struct Compared {
    name: String,
    qtype: QueryType,
    mailtrust: Verdict,
    mailtrust_said: String,
    unbound: Verdict,
    unbound_said: String,
}

/// Pairs whose verdicts legitimately differ, with the reason; each is named, none is a rule.
fn excluded(_name: &str, _qtype: QueryType) -> Option<&'static str> {
    None
}

pub fn validators_agree_on_every_scenario_name(lab: &Lab) -> Result<(), Failed> {
    let scenarios = mailtrust_lab::builtin_scenarios().map_err(|e| Failed::from(e.to_string()))?;
    let mut questions: Vec<(Name, QueryType)> = Vec::new();
    for s in &scenarios {
        for owner in &s.owners {
            let name = Name::from_ascii(owner)
                .map_err(|e| Failed::from(format!("{owner} in {}: {e}", s.zone)))?;
            questions.extend(TYPES.iter().map(|t| (name.clone(), *t)));
        }
    }
    let info: mailtrust_lab::LabInfo =
        serde_json::from_value(lab.info.clone()).map_err(|e| Failed::from(e.to_string()))?;
    let anchors = TrustAnchorSet::from_file(&lab.anchor()).map_err(|e| e.to_string())?;
    let upstream: Upstream = lab.resolver().parse().map_err(|e| format!("{e}"))?;
    let validator: SocketAddr = lab
        .validating_resolver()
        .parse()
        .map_err(|e| format!("validating resolver: {e}"))?;
    let started = Instant::now();
    let worker = std::thread::spawn(move || -> Result<Vec<Compared>, String> {
        mailtrust_lab::enter_netns(&info).map_err(|e| e.to_string())?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async move {
            let config = ResolverConfig {
                upstreams: vec![upstream],
                anchors,
                ..ResolverConfig::default()
            };
            let resolver = Resolver::new(config).await.map_err(|e| e.to_string())?;
            let all = stream::iter(questions)
                .map(|(name, qtype)| {
                    let resolver = resolver.clone();
                    async move {
                        let (ours, (unbound, unbound_said)) = tokio::join!(
                            resolver.lookup(&name, qtype),
                            unbound_verdict(validator, &name, qtype.record_type())
                        );
                        Compared {
                            name: name.to_ascii(),
                            qtype,
                            mailtrust: mailtrust_verdict(&ours),
                            mailtrust_said: format!(
                                "{}/{}{}",
                                ours.outcome,
                                ours.dnssec,
                                ours.detail.map(|d| format!(" ({d})")).unwrap_or_default()
                            ),
                            unbound,
                            unbound_said,
                        }
                    }
                })
                .buffer_unordered(CONCURRENCY)
                .collect::<Vec<_>>();
            tokio::time::timeout(BOUND, all)
                .await
                .map_err(|_| format!("the cross-check did not finish within {BOUND:?}"))
        })
    });
    let compared = worker
        .join()
        .map_err(|_| Failed::from("the cross-check thread panicked"))??;
    let elapsed = started.elapsed();

    let mut agreed = 0usize;
    let mut skipped = 0usize;
    let mut mismatches: Vec<String> = Vec::new();
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for c in &compared {
        *tally.entry(c.unbound.to_string()).or_default() += 1;
        if c.mailtrust == c.unbound {
            agreed += 1;
        } else if let Some(why) = excluded(&c.name, c.qtype) {
            skipped += 1;
            println!(
                "  excluded {} {}: {why} (mailtrust {}, Unbound {})",
                c.name, c.qtype, c.mailtrust_said, c.unbound_said
            );
        } else {
            mismatches.push(format!(
                "{} {}: mailtrust {} ({}), Unbound {} ({})",
                c.name, c.qtype, c.mailtrust, c.mailtrust_said, c.unbound, c.unbound_said
            ));
        }
    }
    mismatches.sort();
    println!(
        "  cross-check: {} names of {} zones, {} pairs compared in {:.1}s: {agreed} agree, {} differ, {skipped} excluded; Unbound's verdicts: {tally:?}",
        compared.len() / TYPES.len(),
        scenarios.len(),
        compared.len(),
        elapsed.as_secs_f32(),
        mismatches.len(),
    );
    if !mismatches.is_empty() {
        return Err(Failed::from(format!(
            "mailtrust and the validating Unbound disagree on {} of {} pairs:\n{}",
            mismatches.len(),
            compared.len(),
            mismatches.join("\n")
        )));
    }
    // A cross-check that compared nothing, or saw no verdict of a kind, proves nothing.
    for needed in [
        "secure Records",
        "insecure Records",
        "bogus",
        "secure NoData",
    ] {
        if !tally.contains_key(needed) {
            return Err(Failed::from(format!(
                "no pair came out {needed}: the scenarios no longer cover it ({tally:?})"
            )));
        }
    }
    Ok(())
}
