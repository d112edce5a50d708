//! Sets the CD (checking disabled) bit on every query sent upstream.
//!
//! hickory's validator clears CD on the queries it sends (`DnssecDnsHandle::send`), which works
//! only behind a resolver that does not validate: an ordinary validating resolver (the one a
//! user already has in /etc/resolv.conf) answers bogus data with SERVFAIL, and mailtrust could
//! no longer tell "bogus" from "server broken". RFC 6840 §5.9 says a validating stub should set
//! CD and validate itself; this wrapper sits between hickory's validator and the name server
//! pool and does exactly that.

use hickory_net::xfer::DnsHandle;
use hickory_proto::op::DnsRequest;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Also counts the queries it sends, so that users (and benchmarks) can see what a run cost.
#[derive(Clone)]
pub(crate) struct CdBit<H>(pub H, pub Arc<AtomicU64>);

impl<H: DnsHandle> DnsHandle for CdBit<H> {
    type Response = H::Response;
    type Runtime = H::Runtime;

    fn is_verifying_dnssec(&self) -> bool {
        self.0.is_verifying_dnssec()
    }

    fn send(&self, mut request: DnsRequest) -> Self::Response {
        request.metadata.checking_disabled = true;
        self.1.fetch_add(1, Ordering::Relaxed);
        if let Some(q) = request.queries.first() {
            tracing::trace!(name = %q.name(), qtype = %q.query_type(), "upstream query");
        }
        self.0.send(request)
    }
}
