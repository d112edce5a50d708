//! The checks, one module per area. Each `run` returns every finding of its area for a domain.

use std::future::Future;
use std::pin::Pin;

use crate::finding::Finding;

pub(crate) mod access;
pub(crate) mod bod1801;
pub(crate) mod dane;
pub(crate) mod dkim;
pub(crate) mod dmarc;
pub(crate) mod dnssec;
pub(crate) mod e2e;
pub(crate) mod mta_sts;
pub(crate) mod mx;
pub(crate) mod policy_records;
pub(crate) mod smtp;
pub(crate) mod spf;
pub(crate) mod tls_grade;
pub(crate) mod tlsrpt;
pub(crate) mod txt;

pub(crate) type CheckFuture<'a> = Pin<Box<dyn Future<Output = Vec<Finding>> + Send + 'a>>;

/// The texts of a record's error-level diagnostics: what makes receivers reject the record.
pub(crate) fn error_texts<D: std::fmt::Display>(
    diagnostics: &[D],
    severity: impl Fn(&D) -> mailtrust_records::Severity,
) -> Vec<String> {
    diagnostics
        .iter()
        .filter(|d| severity(d) == mailtrust_records::Severity::Error)
        .map(ToString::to_string)
        .collect()
}

/// The A and AAAA answers of a host, as the transport checks need them.
pub(crate) struct HostAddrs {
    pub v4: mailtrust_dns::Answer,
    pub v6: mailtrust_dns::Answer,
}

impl HostAddrs {
    /// The addresses of answers whose content may be used (not bogus), IPv4 first.
    pub fn ips(&self) -> Vec<std::net::IpAddr> {
        use hickory_proto::rr::RData;
        [&self.v4, &self.v6]
            .into_iter()
            .filter(|a| crate::finding::trusted(a))
            .flat_map(|a| a.rdatas())
            .filter_map(|r| match r {
                RData::A(a) => Some(std::net::IpAddr::V4(a.0)),
                RData::AAAA(a) => Some(std::net::IpAddr::V6(a.0)),
                _ => None,
            })
            .collect()
    }

    /// A lookup that gave no usable answer, if any: with no addresses, the reason to be
    /// inconclusive rather than to fail.
    pub fn unanswered(&self) -> Option<&mailtrust_dns::Answer> {
        [&self.v4, &self.v6]
            .into_iter()
            .find(|a| !crate::finding::answered(a))
    }

    /// Both address RRsets (or their denials) validated secure: RFC 7672 §2.2.2's condition
    /// for DANE.
    pub fn secure(&self) -> bool {
        [&self.v4, &self.v6]
            .iter()
            .all(|a| crate::finding::answered(a) && a.dnssec == mailtrust_dns::DnssecStatus::Secure)
    }

    /// The name the address records finally belong to, after CNAMEs (RFC 7672 §2.2.3: DANE
    /// looks for TLSA records there first).
    pub fn final_name(&self, host: &str) -> String {
        [&self.v4, &self.v6]
            .into_iter()
            .flat_map(|a| a.records.iter())
            .find(|r| r.rtype == "A" || r.rtype == "AAAA")
            .map(|r| r.name.trim_end_matches('.').to_ascii_lowercase())
            .unwrap_or_else(|| host.to_string())
    }

    pub fn lookups(&self) -> Vec<crate::finding::LookupEvidence> {
        vec![
            crate::finding::LookupEvidence::of(&self.v4),
            crate::finding::LookupEvidence::of(&self.v6),
        ]
    }
}

pub(crate) async fn host_addresses(a: &crate::Auditor, host: &str) -> HostAddrs {
    let (v4, v6) = futures_util::join!(
        a.lookup(host, mailtrust_dns::QueryType::A),
        a.lookup(host, mailtrust_dns::QueryType::Aaaa)
    );
    HostAddrs { v4, v6 }
}
