//! The shared entry point: per-IP connection limits and one probe per service for a whole run.
//!
//! Big providers host the MX of thousands of domains; probing each host once per run (and never
//! more than a few connections at a time per IP) keeps mailtrust polite and fast.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use tokio::sync::Semaphore;

use crate::service::{self, ProbeOptions, ServiceReport, Target};
use crate::tls::TlsProbeConfig;

/// Completed reports kept for reuse; beyond this, completed entries are dropped (in-flight ones
/// are always kept so that concurrent callers still share them).
/// Reports hold at most 10 certificates each (see `Prober::new`), so the cache stays in the tens
/// of megabytes even against hostile servers.
const CACHE_LIMIT: usize = 5_000;

type SharedProbe = Shared<BoxFuture<'static, Arc<ServiceReport>>>;

/// Probes services, sharing results and limiting connections per IP. Cheap to clone.
#[derive(Clone)]
pub struct Prober {
    inner: Arc<Inner>,
}

struct Inner {
    opts: ProbeOptions,
    tls: TlsProbeConfig,
    per_ip: Mutex<HashMap<IpAddr, Arc<Semaphore>>>,
    cache: Mutex<HashMap<Target, SharedProbe>>,
}

impl Prober {
    pub fn new(opts: ProbeOptions) -> Self {
        let tls = TlsProbeConfig {
            handshake_timeout: opts.io_timeout,
            // Chains are only built up to 10 certificates (cert.rs); keep no more.
            max_chain: 10,
        };
        Self {
            inner: Arc::new(Inner {
                opts,
                tls,
                per_ip: Mutex::new(HashMap::new()),
                cache: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn options(&self) -> &ProbeOptions {
        &self.inner.opts
    }

    pub(crate) fn tls_config(&self) -> &TlsProbeConfig {
        &self.inner.tls
    }

    /// The IP's connection semaphore (one per address for the whole run).
    pub(crate) fn limiter(&self, ip: IpAddr) -> Arc<Semaphore> {
        let mut map = self
            .inner
            .per_ip
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.len() > CACHE_LIMIT {
            // Semaphores nobody holds can go; a new one for the same IP is equivalent.
            map.retain(|_, s| Arc::strong_count(s) > 1);
        }
        map.entry(ip)
            .or_insert_with(|| Arc::new(Semaphore::new(self.inner.opts.per_ip.max(1))))
            .clone()
    }

    /// The most one probe (its dialogue, handshake and up to eight scan connections) may take,
    /// whatever a server does: every step has its own timeout, and this caps their sum.
    fn total_bound(&self) -> std::time::Duration {
        let o = &self.inner.opts;
        (o.connect_timeout + o.io_timeout * 4) * 9
    }

    /// Probes `target`, or returns the report of an earlier or running probe of the same
    /// service (same protocol, address and expected name).
    pub async fn probe(&self, target: Target) -> Arc<ServiceReport> {
        let shared = {
            let mut cache = self
                .inner
                .cache
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(s) = cache.get(&target) {
                s.clone()
            } else {
                if cache.len() >= CACHE_LIMIT {
                    cache.retain(|_, s| s.peek().is_none());
                }
                let this = self.clone();
                let t = target.clone();
                let fut: BoxFuture<'static, Arc<ServiceReport>> = async move {
                    let sem = this.limiter(t.address.ip());
                    // Closed never: the semaphore lives as long as `sem`.
                    let _permit = sem.acquire_owned().await.ok();
                    let bound = this.total_bound();
                    let report = tokio::time::timeout(
                        bound,
                        service::probe(&t, &this.inner.opts, &this.inner.tls),
                    )
                    .await
                    .unwrap_or_else(|_| service::timed_out(&t, bound));
                    Arc::new(report)
                }
                .boxed();
                let s = fut.shared();
                cache.insert(target, s.clone());
                s
            }
        };
        shared.await
    }
}
