//! A cache for the chain material below hickory's validator: DNSKEY, DS and NS answers,
//! positive and negative.
//!
//! hickory's `DnssecDnsHandle` fetches the signer's DNSKEY set from the network for every RRset
//! it validates, and to prove an answer insecure it asks for the NS and DS of the names above it,
//! every time (its own cache remembers proofs, not the fetched data). Measured on the audit
//! benchmark: 34 upstream queries per domain for 8 questions. An audit asks a dozen questions per
//! domain in the same zone, so caching this material by its TTL removes most of that traffic.
//! The data is still validated on every use, since the validator above checks it each time.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::{self, Stream, StreamExt};

use crate::inflight::Inflight;
use hickory_net::xfer::DnsHandle;
use hickory_net::{DnsError, NetError};
use hickory_proto::op::{DnsRequest, DnsResponse, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

/// Key material is re-fetched at least this often, whatever its TTL, so a rollover is seen soon.
const MAX_AGE: Duration = Duration::from_secs(300);

/// Negative answers (NODATA, NXDOMAIN) are kept at least this long when their SOA gives less.
const MIN_NEGATIVE_AGE: Duration = Duration::from_secs(30);

type Entries = HashMap<(Name, RecordType), (Instant, Result<DnsResponse, NetError>)>;

type Key = (Name, RecordType);

#[derive(Clone)]
pub(crate) struct KeyCache<H> {
    inner: H,
    entries: Arc<Mutex<Entries>>,
    inflight: Arc<Inflight<Key, Result<DnsResponse, NetError>>>,
    capacity: usize,
}

impl<H> KeyCache<H> {
    pub(crate) fn new(inner: H, capacity: usize) -> Self {
        Self {
            inner,
            entries: Arc::new(Mutex::new(HashMap::new())),
            inflight: Arc::new(Inflight::new()),
            capacity: capacity.max(16),
        }
    }
}

impl<H> KeyCache<H> {
    /// Drops the key material of `name` and every zone above it, so that a retry after a bogus
    /// verdict fetches fresh keys.
    pub(crate) fn forget_chain_of(&self, name: &Name) {
        if let Ok(mut map) = self.entries.lock() {
            map.retain(|(owner, _), _| !owner.zone_of(name));
        }
    }
}

fn cacheable(t: RecordType) -> bool {
    matches!(t, RecordType::DNSKEY | RecordType::DS | RecordType::NS)
}

/// How long an answer may be kept: positive answers by their records' TTL, negative ones by
/// their SOA's negative TTL; failures (timeouts, SERVFAIL) are never kept.
fn lifetime(key: &(Name, RecordType), result: &Result<DnsResponse, NetError>) -> Option<Duration> {
    let negative =
        |ttl: Option<u32>| Duration::from_secs(u64::from(ttl.unwrap_or(0))).max(MIN_NEGATIVE_AGE);
    let age = match result {
        Ok(resp) if resp.response_code == ResponseCode::NoError => {
            match resp
                .answers
                .iter()
                .filter(|r| r.record_type() == key.1)
                .map(|r| r.ttl)
                .min()
            {
                Some(ttl) => Duration::from_secs(u64::from(ttl)),
                None => negative(resp.negative_ttl()),
            }
        }
        Ok(resp) if resp.response_code == ResponseCode::NXDomain => negative(resp.negative_ttl()),
        Err(NetError::Dns(DnsError::NoRecordsFound(nr)))
            if matches!(
                nr.response_code,
                ResponseCode::NoError | ResponseCode::NXDomain
            ) =>
        {
            negative(nr.negative_ttl)
        }
        _ => return None,
    };
    Some(age.min(MAX_AGE))
}

fn store(
    entries: &Mutex<Entries>,
    capacity: usize,
    key: (Name, RecordType),
    result: &Result<DnsResponse, NetError>,
) {
    let Some(age) = lifetime(&key, result) else {
        return;
    };
    let now = Instant::now();
    let expires = now + age;
    let Ok(mut map) = entries.lock() else { return };
    if map.len() >= capacity {
        map.retain(|_, (exp, _)| *exp > now);
        if map.len() >= capacity {
            // Still full of live entries: start over rather than track recency; key material is
            // cheap to fetch again and this keeps memory bounded in million-domain runs.
            map.clear();
        }
    }
    map.insert(key, (expires, result.clone()));
}

impl<H: DnsHandle> DnsHandle for KeyCache<H> {
    type Response = Pin<Box<dyn Stream<Item = Result<DnsResponse, NetError>> + Send>>;
    type Runtime = H::Runtime;

    fn is_verifying_dnssec(&self) -> bool {
        self.inner.is_verifying_dnssec()
    }

    fn send(&self, request: DnsRequest) -> Self::Response {
        let key = match request.queries.first() {
            Some(q) if request.queries.len() == 1 && cacheable(q.query_type()) => {
                Some((q.name().to_lowercase(), q.query_type()))
            }
            _ => None,
        };
        let Some(key) = key else {
            return self.inner.send(request).boxed();
        };
        if let Ok(map) = self.entries.lock()
            && let Some((expires, resp)) = map.get(&key)
            && *expires > Instant::now()
        {
            return stream::once(std::future::ready(resp.clone())).boxed();
        }
        let entries = self.entries.clone();
        let capacity = self.capacity;
        let inflight = self.inflight.clone();
        let inner = self.inner.clone();
        // One query for all concurrent askers; its answer goes into the cache.
        let fut = async move {
            let r = inflight
                .run(key.clone(), move || async move {
                    match inner.send(request).next().await {
                        Some(r) => r,
                        None => Err(NetError::Message("no response")),
                    }
                })
                .await;
            store(&entries, capacity, key, &r);
            r
        };
        stream::once(fut).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, MessageType, Query};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, Record};

    fn response(name: &str, ttl: u32) -> DnsResponse {
        let mut m = Message::new(1, MessageType::Response, hickory_proto::op::OpCode::Query);
        let n = Name::from_ascii(name).unwrap();
        m.queries.push(Query::query(n.clone(), RecordType::DS));
        m.answers
            .push(Record::from_rdata(n, ttl, RData::A(A::new(192, 0, 2, 1))));
        DnsResponse::from_message(m).unwrap()
    }

    fn key(name: &str) -> (Name, RecordType) {
        (Name::from_ascii(name).unwrap(), RecordType::A)
    }

    #[test]
    fn stores_positive_answers_with_a_bounded_lifetime() {
        let entries = Mutex::new(HashMap::new());
        store(
            &entries,
            16,
            key("a.test."),
            &Ok(response("a.test.", 86_400)),
        );
        let map = entries.lock().unwrap();
        let (expires, _) = map.get(&key("a.test.")).unwrap();
        assert!(*expires <= Instant::now() + MAX_AGE, "capped at MAX_AGE");
    }

    #[test]
    fn never_keeps_failures() {
        let entries = Mutex::new(HashMap::new());
        let k = (Name::from_ascii("a.test.").unwrap(), RecordType::DNSKEY);
        store(&entries, 16, k.clone(), &Err(NetError::Timeout));
        assert!(
            entries.lock().unwrap().get(&k).is_none(),
            "failures are never kept"
        );
    }

    #[test]
    fn stays_within_capacity() {
        let entries = Mutex::new(HashMap::new());
        for i in 0..100 {
            let n = format!("n{i}.test.");
            store(&entries, 16, key(&n), &Ok(response(&n, 60)));
            assert!(entries.lock().unwrap().len() <= 16);
        }
    }
}
