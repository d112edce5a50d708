//! mailtrust's DNS resolver.
//!
//! Every answer carries how it was obtained: an [`Outcome`] (records, NXDOMAIN, NODATA, SERVFAIL,
//! REFUSED, timeout) and a [`DnssecStatus`] (secure, insecure, bogus with a reason,
//! indeterminate). A timeout or SERVFAIL never comes out as "no such record" nor as "bogus": the
//! audit later turns those into "inconclusive", never into "missing".
//!
//! Validation is done here, from a trust anchor down, on top of hickory's DNSSEC validator. The
//! queries go upstream with the CD bit set (RFC 6840 §5.9) so that an ordinary validating
//! resolver hands bogus data over for mailtrust to judge instead of turning it into SERVFAIL.
//! The chain of trust shown to users comes from mailtrust's own walk (see [`chain`]).
#![forbid(unsafe_code)]

pub mod anchor;
pub mod answer;
pub mod authorities;
mod cd_bit;
pub mod chain;
mod cname;
pub mod config;
mod inflight;
mod key_cache;
pub mod present;
pub mod qtype;
pub mod resolver;
mod tcp;
pub mod txt;
pub mod update;

pub use anchor::{TrustAnchorError, TrustAnchorSet};
pub use answer::{Answer, BogusReason, DnssecStatus, Outcome, RecordEntry, format_utc};
pub use chain::{Chain, Finding, ZoneLink, ZoneStatus};
pub use config::{ResolverConfig, Upstream};
pub use qtype::QueryType;
pub use resolver::{Resolver, ResolverError};
