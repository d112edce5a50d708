//! The resolver: hickory's name-server pool and DNSSEC validator, with the CD bit set upstream,
//! a shared cache, and outcome mapping that keeps "no answer" apart from "no record".

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_net::dnssec::DnssecDnsHandle;
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::xfer::{DnsHandle, FirstAnswer, RetryDnsHandle};
use hickory_net::{DnsError, NetError};
use hickory_proto::dnssec::Proof;
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData};
use hickory_proto::op::{DnsRequestOptions, DnsResponse, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_resolver::caching_client::CachingClient;
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverOpts};
use hickory_resolver::{NameServerPool, PoolContext, TlsConfig};

use crate::answer::{Answer, BogusReason, DnssecStatus, Outcome};
use crate::cd_bit::CdBit;
use crate::chain::{self, Chain, Finding};
use crate::config::ResolverConfig;
use crate::inflight::Inflight;
use crate::key_cache::KeyCache;
use crate::present;
use crate::qtype::QueryType;

pub(crate) type Raw = CdBit<RetryDnsHandle<NameServerPool<TokioRuntimeProvider>>>;
type Validating = DnssecDnsHandle<KeyCache<Raw>>;

#[derive(Debug, thiserror::Error)]
pub enum ResolverError {
    #[error("invalid domain name {name:?}: {reason}")]
    BadName { name: String, reason: String },
    #[error("no upstream resolver: {0}")]
    NoUpstream(String),
    #[error("cannot set up the resolver: {0}")]
    Setup(String),
    #[error("trust anchor for {zone}: {detail}")]
    AnchorFetch { zone: String, detail: String },
}

/// A validating resolver. Cheap to clone; clones share the cache and connections, so one
/// resolver serves any number of concurrent lookups.
#[derive(Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
}

struct Inner {
    inflight: Inflight<(Name, QueryType), Answer>,
    /// Queries sent upstream so far (after the caches), counted by [`CdBit`].
    sent: Arc<AtomicU64>,
    cache: CachingClient<Validating>,
    keys: KeyCache<Raw>,
    raw: Raw,
    config: ResolverConfig,
    upstreams: Vec<SocketAddr>,
}

/// What a query sent straight upstream (CD=1, DO=1, no validation) brought back.
pub(crate) enum RawResult {
    Response(Box<DnsResponse>),
    /// NXDOMAIN or NODATA.
    Negative {
        rcode: ResponseCode,
    },
    Failed {
        outcome: Outcome,
        detail: String,
    },
}

impl Resolver {
    /// Builds the resolver. Fetches the DNSKEY set of zones anchored by DS records, so it needs
    /// the network when the anchor file holds DS records.
    pub async fn new(config: ResolverConfig) -> Result<Self, ResolverError> {
        let upstreams: Vec<SocketAddr> = if config.upstreams.is_empty() {
            system_upstreams()?
        } else {
            config.upstreams.iter().map(|u| u.0).collect()
        };
        let mut opts = ResolverOpts::default();
        opts.timeout = config.timeout;
        // hickory counts retries: attempts = 0 is one try.
        opts.attempts = usize::from(config.attempts.max(1) - 1);
        opts.edns0 = true;
        opts.validate = false; // we wrap the validator ourselves, around the CD bit
        opts.use_hosts_file = ResolveHosts::Never;
        opts.recursion_desired = true;
        opts.cache_size = config.cache_size;
        opts.preserve_intermediates = true;
        opts.try_tcp_on_error = true;
        let servers = upstreams.iter().map(|sa| {
            let mut ns = NameServerConfig::udp_and_tcp(sa.ip());
            for c in &mut ns.connections {
                c.port = sa.port();
            }
            // A negative answer from one upstream is not final: another may know better.
            ns.trust_negative_responses = false;
            ns
        });
        let tls = TlsConfig::new().map_err(|e| ResolverError::Setup(e.to_string()))?;
        let cx = Arc::new(PoolContext::new(opts.clone(), tls));
        let pool = NameServerPool::from_config(servers, cx, TokioRuntimeProvider::default());
        let sent = Arc::new(AtomicU64::new(0));
        let raw = CdBit(RetryDnsHandle::new(pool, opts.attempts), sent.clone());

        let mut extra: Vec<(Name, DNSKEY)> = Vec::new();
        let ds_zones: Vec<Name> = {
            let mut z: Vec<Name> = config.anchors.ds.iter().map(|(n, _)| n.clone()).collect();
            z.dedup();
            z
        };
        for zone in ds_zones {
            let keys = match raw_query(&raw, &zone, RecordType::DNSKEY, config.deadline).await {
                RawResult::Response(r) => dnskeys(&r.answers, &zone),
                RawResult::Negative { .. } => Vec::new(),
                RawResult::Failed { detail, .. } => {
                    return Err(ResolverError::AnchorFetch {
                        zone: zone.to_ascii(),
                        detail,
                    });
                }
            };
            let matched: Vec<DNSKEY> = keys
                .into_iter()
                .filter(|k| config.anchors.anchors(&zone, k))
                .collect();
            if matched.is_empty() {
                return Err(ResolverError::AnchorFetch {
                    zone: zone.to_ascii(),
                    detail: "no DNSKEY served for the zone matches the DS anchor".into(),
                });
            }
            extra.extend(matched.into_iter().map(|k| (zone.clone(), k)));
        }
        let anchors = Arc::new(config.anchors.to_hickory(&extra));
        let keys = KeyCache::new(raw.clone(), config.cache_size as usize);
        // Bogus proofs are not cached, so the retry of a bogus verdict really validates again.
        let validating = DnssecDnsHandle::with_trust_anchor(keys.clone(), anchors)
            .negative_validation_ttl(Duration::ZERO..=Duration::ZERO)
            // Bounded like the other caches, so memory stays flat over a million-domain run.
            .validation_cache_size(config.cache_size as usize);
        let cache = CachingClient::new(config.cache_size, validating, true);
        Ok(Self {
            inner: Arc::new(Inner {
                inflight: Inflight::new(),
                sent,
                cache,
                keys,
                raw,
                config,
                upstreams,
            }),
        })
    }

    /// How many queries this resolver has sent upstream (each try counts; cache hits do not).
    pub fn queries_sent(&self) -> u64 {
        self.inner.sent.load(Ordering::Relaxed)
    }

    /// The upstream resolvers in use.
    pub fn upstreams(&self) -> &[SocketAddr] {
        &self.inner.upstreams
    }

    pub fn config(&self) -> &ResolverConfig {
        &self.inner.config
    }

    /// Parses and normalises a name given by a user: IDNs become A-labels, the name is made
    /// absolute.
    pub fn parse_name(name: &str) -> Result<Name, ResolverError> {
        let trimmed = name.trim();
        if trimmed.is_empty() {
            return Err(ResolverError::BadName {
                name: name.into(),
                reason: "empty".into(),
            });
        }
        let mut n = Name::from_utf8(trimmed).map_err(|e| ResolverError::BadName {
            name: name.into(),
            reason: e.to_string(),
        })?;
        n.set_fqdn(true);
        Ok(n.to_lowercase())
    }

    /// Looks `name` up and validates the answer. Never fails for DNS reasons: every failure is an
    /// [`Outcome`]. A bogus verdict is retried once before it is reported, and always carries a
    /// reason from mailtrust's own walk of the chain.
    pub async fn lookup(&self, name: &Name, qtype: QueryType) -> Answer {
        // Concurrent askers of the same question share one lookup (a bulk audit asks the MX of
        // a domain from several checks at once).
        let this = self.clone();
        let n = name.clone();
        self.inner
            .inflight
            .run((name.clone(), qtype), move || async move {
                this.lookup_fresh(&n, qtype).await
            })
            .await
    }

    async fn lookup_fresh(&self, name: &Name, qtype: QueryType) -> Answer {
        let query = Query::query(name.clone(), qtype.record_type());
        let mut answer = self.lookup_once(&query, qtype).await;
        if matches!(answer.dnssec, DnssecStatus::Bogus(_)) {
            // hickory has been seen to report fetch timeouts as bogus: ask again, fresh.
            self.inner.cache.clear_cache_query(&query);
            self.inner.keys.forget_chain_of(name);
            answer = self.lookup_once(&query, qtype).await;
        }
        if matches!(answer.dnssec, DnssecStatus::Bogus(_)) {
            // hickory judges an answer that followed a CNAME against the alias's name; see
            // [`crate::cname`] for why that rejects correct answers, and how the chain is judged
            // hop by hop instead (bounded like any lookup).
            let chase = self.chase_cname(name, qtype, &answer);
            match tokio::time::timeout(self.inner.config.deadline, chase).await {
                Ok(Some(judged)) => return judged,
                Ok(None) => {}
                Err(_) => {
                    // No usable answer, not the rejected records as if merely unjudged (see
                    // cname::hop_failed).
                    answer.outcome = Outcome::Timeout;
                    answer.records.clear();
                    answer.set_dnssec(DnssecStatus::Indeterminate);
                    answer.detail = Some(format!(
                        "the validator rejected the answer, and its CNAME chain could not be followed hop by hop within {}s",
                        self.inner.config.deadline.as_secs_f32()
                    ));
                    return answer;
                }
            }
        }
        if matches!(answer.dnssec, DnssecStatus::Bogus(_)) {
            let chain = self.chain(name, qtype).await;
            // Bogus is reported only when the walk names a broken link, or when it fetched every
            // link and still could not confirm the answer. A walk cut short by timeouts, or one
            // that validated the answer itself, turns the verdict into "indeterminate": a
            // timeout must never come out as bogus.
            match &chain.finding {
                Finding::Broken(r) => answer.set_dnssec(DnssecStatus::Bogus(r.clone())),
                Finding::Intact {
                    rrset_verified: false,
                } => answer.set_dnssec(DnssecStatus::Bogus(BogusReason::Unexplained {
                    detail: "the validator rejected the answer".into(),
                })),
                Finding::Intact {
                    rrset_verified: true,
                } => {
                    answer.set_dnssec(DnssecStatus::Indeterminate);
                    answer.detail = Some(
                        "hickory's validator rejected the answer, but mailtrust's own walk validated every link and the RRset".into(),
                    );
                }
                Finding::Incomplete => {
                    answer.set_dnssec(DnssecStatus::Indeterminate);
                    answer.detail = Some(
                        "the validator rejected the answer, but the chain could not be fetched completely to confirm it".into(),
                    );
                }
            }
            answer.chain = Some(chain);
        }
        answer
    }

    /// Like [`Self::lookup`], with the chain of trust walked and attached.
    pub async fn lookup_with_chain(&self, name: &Name, qtype: QueryType) -> Answer {
        let mut answer = self.lookup(name, qtype).await;
        // A walk behind an upstream that did not answer would only time out again.
        if answer.chain.is_none() && answer.outcome.is_answer() {
            answer.chain = Some(self.chain(name, qtype).await);
        }
        answer
    }

    /// mailtrust's own walk from the trust anchor down to `name` (see [`chain`]).
    pub async fn chain(&self, name: &Name, qtype: QueryType) -> Chain {
        let walk = chain::walk(self, name, qtype.record_type());
        match tokio::time::timeout(self.inner.config.deadline, walk).await {
            Ok(c) => c,
            Err(_) => Chain::gave_up(
                &self.inner.config.anchors.source,
                self.inner.config.deadline,
            ),
        }
    }

    async fn lookup_once(&self, query: &Query, qtype: QueryType) -> Answer {
        let name = query.name().to_ascii();
        let deadline = self.inner.config.deadline;
        let result =
            tokio::time::timeout(deadline, self.inner.cache.lookup(query.clone(), options())).await;
        let result = match result {
            Ok(r) => r,
            Err(_) => {
                let mut a = Answer::new(name, qtype, Outcome::Timeout, DnssecStatus::Indeterminate);
                a.detail = Some(format!("no answer within {}s", deadline.as_secs_f32()));
                return a;
            }
        };
        match result {
            Ok(lookup) => {
                let mut status: Option<DnssecStatus> = None;
                let mut records = Vec::new();
                for r in lookup
                    .answers()
                    .iter()
                    .filter(|r| r.record_type() != RecordType::RRSIG)
                {
                    let s = proof_status(r.proof);
                    status = Some(match status {
                        None => s.clone(),
                        Some(prev) => prev.weakest(s.clone()),
                    });
                    records.push(present::entry(r, s));
                }
                let has_wanted = records
                    .iter()
                    .any(|r| r.rdata.record_type() == qtype.record_type());
                let outcome = if has_wanted {
                    Outcome::Records
                } else {
                    Outcome::NoData
                };
                let mut a = Answer::new(
                    name,
                    qtype,
                    outcome,
                    status.unwrap_or(DnssecStatus::Indeterminate),
                );
                a.records = records;
                a
            }
            Err(e) => self.map_error(query, qtype, e).await,
        }
    }

    async fn map_error(&self, query: &Query, qtype: QueryType, e: NetError) -> Answer {
        let name = query.name().to_ascii();
        let failed = |outcome: Outcome, detail: String| {
            let mut a = Answer::new(name.clone(), qtype, outcome, DnssecStatus::Indeterminate);
            a.detail = Some(detail);
            a
        };
        match e {
            NetError::Dns(DnsError::NoRecordsFound(nr)) => {
                let status = nr
                    .soa
                    .as_ref()
                    .map(|s| proof_status(s.proof))
                    .unwrap_or(DnssecStatus::Indeterminate);
                match rcode_outcome(nr.response_code) {
                    Some(o) => Answer::new(name, qtype, o, status),
                    None => failed(
                        Outcome::ServFail,
                        format!("upstream answered {}", nr.response_code),
                    ),
                }
            }
            NetError::Dns(DnsError::Nsec {
                response, proof, ..
            }) => match rcode_outcome(response.response_code) {
                Some(o) => Answer::new(name, qtype, o, proof_status(proof)),
                None => failed(
                    Outcome::ServFail,
                    format!("upstream answered {}", response.response_code),
                ),
            },
            NetError::Dns(DnsError::ResponseCode(code)) => match code {
                ResponseCode::Refused => {
                    failed(Outcome::Refused, "upstream refused the query".into())
                }
                ResponseCode::NXDomain => {
                    Answer::new(name, qtype, Outcome::NxDomain, DnssecStatus::Indeterminate)
                }
                other => failed(Outcome::ServFail, format!("upstream answered {other}")),
            },
            NetError::Dns(DnsError::DnssecBogus) => self.bogus_answer(query, qtype).await,
            NetError::Timeout => failed(
                Outcome::Timeout,
                format!("no answer from {} in time", self.upstream_list()),
            ),
            NetError::Io(io) => failed(
                Outcome::Timeout,
                format!(
                    "cannot reach {}: {}",
                    self.upstream_list(),
                    io_words(io.kind(), &io.to_string())
                ),
            ),
            NetError::NoConnections | NetError::Busy => failed(
                Outcome::Timeout,
                format!("cannot reach {}", self.upstream_list()),
            ),
            // Anything else (undecodable answers, protocol errors) is the upstream failing, not
            // the name lacking records.
            other => failed(
                Outcome::ServFail,
                format!(
                    "unusable answer from {}: {}",
                    self.upstream_list(),
                    one_line(&other.to_string())
                ),
            ),
        }
    }

    /// The validator said bogus. Fetch what the zone actually serves (CD=1) so the user sees the
    /// data that failed; if even that cannot be fetched, the "bogus" was really an unanswered
    /// question and is reported as such.
    async fn bogus_answer(&self, query: &Query, qtype: QueryType) -> Answer {
        let name = query.name().to_ascii();
        let bogus = || {
            DnssecStatus::Bogus(BogusReason::Unexplained {
                detail: "validator rejected the answer".into(),
            })
        };
        match self.raw(query.name(), query.query_type()).await {
            RawResult::Response(r) => {
                let records: Vec<_> = r
                    .answers
                    .iter()
                    .filter(|rec| rec.record_type() != RecordType::RRSIG)
                    .map(|rec| present::entry(rec, bogus()))
                    .collect();
                let has_wanted = records
                    .iter()
                    .any(|rec| rec.rdata.record_type() == qtype.record_type());
                let mut a = Answer::new(
                    name,
                    qtype,
                    if has_wanted {
                        Outcome::Records
                    } else {
                        Outcome::NoData
                    },
                    bogus(),
                );
                a.records = records;
                a
            }
            RawResult::Negative { rcode } => Answer::new(
                name,
                qtype,
                rcode_outcome(rcode).unwrap_or(Outcome::ServFail),
                bogus(),
            ),
            RawResult::Failed { outcome, detail } => {
                let mut a = Answer::new(name, qtype, outcome, DnssecStatus::Indeterminate);
                a.detail = Some(detail);
                a
            }
        }
    }

    /// One query straight upstream: CD=1, DO=1, no validation, no cache.
    pub(crate) async fn raw(&self, name: &Name, rtype: RecordType) -> RawResult {
        raw_query(&self.inner.raw, name, rtype, self.inner.config.deadline).await
    }

    /// The cached, validated lookup as hickory returns it (used by the chain walk to learn
    /// whether a DS denial is proven).
    pub(crate) async fn validated(
        &self,
        name: &Name,
        rtype: RecordType,
    ) -> Result<Vec<Record>, NetError> {
        let q = Query::query(name.clone(), rtype);
        match tokio::time::timeout(
            self.inner.config.deadline,
            self.inner.cache.lookup(q, options()),
        )
        .await
        {
            Ok(r) => r.map(|l| l.answers().to_vec()),
            Err(_) => Err(NetError::Timeout),
        }
    }

    pub(crate) fn anchors(&self) -> &crate::anchor::TrustAnchorSet {
        &self.inner.config.anchors
    }

    fn upstream_list(&self) -> String {
        self.inner
            .upstreams
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn options() -> DnsRequestOptions {
    let mut o = DnsRequestOptions::default();
    o.use_edns = true;
    o.edns_set_dnssec_ok = true;
    o.recursion_desired = true;
    o
}

async fn raw_query(raw: &Raw, name: &Name, rtype: RecordType, deadline: Duration) -> RawResult {
    let q = Query::query(name.clone(), rtype);
    let fut = raw.lookup(q, options()).first_answer();
    match tokio::time::timeout(deadline, fut).await {
        Err(_) => RawResult::Failed {
            outcome: Outcome::Timeout,
            detail: format!("no answer within {}s", deadline.as_secs_f32()),
        },
        Ok(Ok(resp)) => {
            if resp.response_code == ResponseCode::NoError
                && resp.answers.iter().any(|r| r.record_type() == rtype)
            {
                RawResult::Response(Box::new(resp))
            } else {
                raw_without_records(resp.response_code)
            }
        }
        Ok(Err(NetError::Dns(DnsError::NoRecordsFound(nr)))) => {
            raw_without_records(nr.response_code)
        }
        Ok(Err(NetError::Dns(DnsError::ResponseCode(code)))) => raw_without_records(code),
        Ok(Err(NetError::Timeout)) => RawResult::Failed {
            outcome: Outcome::Timeout,
            detail: "no answer from upstream".into(),
        },
        Ok(Err(e)) => RawResult::Failed {
            outcome: Outcome::ServFail,
            detail: one_line(&e.to_string()),
        },
    }
}

/// What a response without the asked records means: a negative answer, or a failure.
fn raw_without_records(code: ResponseCode) -> RawResult {
    match code {
        ResponseCode::NoError | ResponseCode::NXDomain => RawResult::Negative { rcode: code },
        ResponseCode::Refused => RawResult::Failed {
            outcome: Outcome::Refused,
            detail: "upstream refused the query".into(),
        },
        other => RawResult::Failed {
            outcome: Outcome::ServFail,
            detail: format!("upstream answered {other}"),
        },
    }
}

/// The DNSKEY records of `zone` in an answer section.
pub(crate) fn dnskeys(answers: &[Record], zone: &Name) -> Vec<DNSKEY> {
    answers
        .iter()
        .filter(|r| r.name == *zone)
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(k.clone()),
            _ => None,
        })
        .collect()
}

fn rcode_outcome(code: ResponseCode) -> Option<Outcome> {
    match code {
        ResponseCode::NXDomain => Some(Outcome::NxDomain),
        ResponseCode::NoError => Some(Outcome::NoData),
        ResponseCode::ServFail => Some(Outcome::ServFail),
        ResponseCode::Refused => Some(Outcome::Refused),
        _ => None,
    }
}

pub(crate) fn proof_status(p: Proof) -> DnssecStatus {
    match p {
        Proof::Secure => DnssecStatus::Secure,
        Proof::Insecure => DnssecStatus::Insecure,
        Proof::Bogus => DnssecStatus::Bogus(BogusReason::Unexplained {
            detail: "validator rejected the answer".into(),
        }),
        Proof::Indeterminate => DnssecStatus::Indeterminate,
    }
}

fn io_words(kind: ErrorKind, text: &str) -> String {
    match kind {
        ErrorKind::ConnectionRefused => "connection refused (nothing listens there)".into(),
        ErrorKind::NetworkUnreachable | ErrorKind::HostUnreachable => "network unreachable".into(),
        _ => one_line(text),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn system_upstreams() -> Result<Vec<SocketAddr>, ResolverError> {
    let (cfg, _) = hickory_resolver::system_conf::read_system_conf().map_err(|e| {
        ResolverError::NoUpstream(format!(
            "cannot read the system's resolver configuration ({e}); give --resolver"
        ))
    })?;
    let mut v: Vec<SocketAddr> = Vec::new();
    for ns in cfg.name_servers() {
        let port = ns.connections.first().map(|c| c.port).unwrap_or(53);
        let sa = SocketAddr::new(ns.ip, port);
        if !v.contains(&sa) {
            v.push(sa);
        }
    }
    if v.is_empty() {
        return Err(ResolverError::NoUpstream(
            "the system names no resolver; give --resolver".into(),
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_codes_map_to_outcomes_never_to_missing_records() {
        assert_eq!(
            rcode_outcome(ResponseCode::NXDomain),
            Some(Outcome::NxDomain)
        );
        assert_eq!(rcode_outcome(ResponseCode::NoError), Some(Outcome::NoData));
        assert_eq!(
            rcode_outcome(ResponseCode::ServFail),
            Some(Outcome::ServFail)
        );
        assert_eq!(rcode_outcome(ResponseCode::Refused), Some(Outcome::Refused));
        // Anything else is a failure the caller reports as SERVFAIL with the code in words.
        assert_eq!(rcode_outcome(ResponseCode::FormErr), None);
        assert_eq!(rcode_outcome(ResponseCode::NotImp), None);
    }

    #[test]
    fn raw_answers_without_records_are_negative_only_for_noerror_and_nxdomain() {
        assert!(matches!(
            raw_without_records(ResponseCode::NoError),
            RawResult::Negative { .. }
        ));
        assert!(matches!(
            raw_without_records(ResponseCode::NXDomain),
            RawResult::Negative { .. }
        ));
        assert!(matches!(
            raw_without_records(ResponseCode::Refused),
            RawResult::Failed {
                outcome: Outcome::Refused,
                ..
            }
        ));
        for code in [
            ResponseCode::ServFail,
            ResponseCode::FormErr,
            ResponseCode::NotAuth,
        ] {
            assert!(
                matches!(
                    raw_without_records(code),
                    RawResult::Failed {
                        outcome: Outcome::ServFail,
                        ..
                    }
                ),
                "{code}"
            );
        }
    }

    #[test]
    fn proofs_map_to_statuses() {
        assert_eq!(proof_status(Proof::Secure), DnssecStatus::Secure);
        assert_eq!(proof_status(Proof::Insecure), DnssecStatus::Insecure);
        assert_eq!(
            proof_status(Proof::Indeterminate),
            DnssecStatus::Indeterminate
        );
        assert!(matches!(proof_status(Proof::Bogus), DnssecStatus::Bogus(_)));
    }

    #[test]
    fn names_are_normalised() {
        let n = Resolver::parse_name("  Mail.Example.ORG ").unwrap();
        assert_eq!(n.to_ascii(), "mail.example.org.");
        let idn = Resolver::parse_name("bücher.example").unwrap();
        assert_eq!(idn.to_ascii(), "xn--bcher-kva.example.");
        assert!(Resolver::parse_name("").is_err());
        assert!(Resolver::parse_name(&format!("{}.example", "a".repeat(64))).is_err());
    }

    #[test]
    fn io_errors_read_as_words() {
        assert!(io_words(ErrorKind::ConnectionRefused, "x").contains("connection refused"));
        assert_eq!(io_words(ErrorKind::Other, "some\n  error"), "some error");
    }
}
