//! `mailtrust audit`: checks a domain against NIST SP 800-177, one finding per check (and per
//! subject where a check runs more than once), each with references, evidence as seen (with the
//! DNSSEC status of every lookup) and a remediation ready to paste.
//!
//! Every lookup goes through `mailtrust-dns`, so a DNS failure is never mistaken for a missing
//! record: it makes the finding inconclusive.
#![forbid(unsafe_code)]

pub mod catalogue;
mod checks;
pub mod finding;
pub mod report;

use std::sync::Arc;

use futures_util::future::join_all;
use mailtrust_dns::{Answer, QueryType, Resolver};
use mailtrust_probe::Prober;
use mailtrust_probe::cert::Roots;

pub use catalogue::{CheckId, CheckInfo, UnknownCheck};
pub use finding::{Evidence, Finding, Severity, Status};
pub use report::{DomainReport, SCHEMA_VERSION, Summary};

/// What the audit is asked to look at beyond the domain itself.
#[derive(Debug, Clone, Default)]
pub struct AuditOptions {
    /// DKIM selectors to check, in addition to discovered ones.
    pub selectors: Vec<String>,
    /// DKIM selectors known for one domain only (lower-case domain without the trailing dot),
    /// e.g. the published and delegated selectors of a key store.
    pub domain_selectors: std::collections::BTreeMap<String, Vec<String>>,
    /// Addresses (user@domain) whose SMIMEA/OPENPGPKEY records are checked.
    pub addresses: Vec<String>,
    /// Skip network probes of mail servers: only DNS lookups are made.
    pub dns_only: bool,
    /// Mail access hosts (IMAP, POP3, submission) to probe on their standard ports, in addition
    /// to those found by RFC 6186/8314 SRV records.
    pub mailhosts: Vec<String>,
    /// Run only the checks of these areas (catalogue `area` names: dnssec, mx, spf, dkim, dmarc,
    /// transport, e2e); empty runs everything. `domain.exists` always runs.
    pub only: Vec<String>,
}

impl AuditOptions {
    fn wants(&self, area: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|a| a == area)
    }
}

/// The areas `--only` accepts.
pub const AREAS: &[&str] = &[
    "dnssec",
    "mx",
    "spf",
    "dkim",
    "dmarc",
    "transport",
    "access",
    "e2e",
    "summary",
];

#[derive(Debug, thiserror::Error)]
#[error("invalid domain {input:?}: {reason}")]
pub struct BadDomain {
    pub input: String,
    pub reason: String,
}

/// Normalises a domain as given by a user: trimmed, lower case, A-labels, no trailing dot.
pub fn normalise_domain(input: &str) -> Result<String, BadDomain> {
    let name = Resolver::parse_name(input).map_err(|e| BadDomain {
        input: input.to_string(),
        reason: e.to_string(),
    })?;
    if name.is_root() {
        return Err(BadDomain {
            input: input.to_string(),
            reason: "the root is not a mail domain".into(),
        });
    }
    Ok(name.to_ascii().trim_end_matches('.').to_string())
}

/// Runs audits. Cheap to clone; clones share the resolver and its cache, so lookups common to
/// many domains (a provider's SPF include, a shared MX host) are made once.
#[derive(Clone)]
pub struct Auditor {
    inner: Arc<Inner>,
}

struct Inner {
    resolver: Resolver,
    options: AuditOptions,
    probes: Option<Probes>,
}

/// What the transport checks need to talk to servers: the shared prober (one probe per service
/// for the whole run) and the roots that WebPKI certificates must chain to.
#[derive(Clone)]
pub struct Probes {
    pub prober: Prober,
    pub roots: Arc<Roots>,
}

impl Auditor {
    /// An auditor that only looks at the DNS.
    pub fn new(resolver: Resolver, options: AuditOptions) -> Self {
        Self::with_probes(resolver, options, None)
    }

    /// An auditor that also probes mail servers (unless `options.dns_only`).
    pub fn with_probes(resolver: Resolver, options: AuditOptions, probes: Option<Probes>) -> Self {
        let probes = if options.dns_only { None } else { probes };
        Self {
            inner: Arc::new(Inner {
                resolver,
                options,
                probes,
            }),
        }
    }

    /// The prober and roots, unless this run is DNS-only.
    pub(crate) fn probes(&self) -> Option<&Probes> {
        self.inner.probes.as_ref()
    }

    /// Queries sent upstream so far by the shared resolver.
    pub fn queries_sent(&self) -> u64 {
        self.inner.resolver.queries_sent()
    }

    pub fn options(&self) -> &AuditOptions {
        &self.inner.options
    }

    /// Looks up `name` (absolute or not) through the shared resolver.
    pub(crate) async fn lookup(&self, name: &str, qtype: QueryType) -> Answer {
        match Resolver::parse_name(name) {
            Ok(n) => self.inner.resolver.lookup(&n, qtype).await,
            Err(e) => {
                let mut a = Answer::new(
                    name.to_string(),
                    qtype,
                    mailtrust_dns::Outcome::NxDomain,
                    mailtrust_dns::DnssecStatus::Indeterminate,
                );
                a.detail = Some(e.to_string());
                a
            }
        }
    }

    /// Audits one domain (already normalised with [`normalise_domain`]).
    pub async fn audit(&self, domain: &str) -> DomainReport {
        let start = std::time::Instant::now();
        let mut report = self.audit_untimed(domain).await;
        report.elapsed_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        report
    }

    async fn audit_untimed(&self, domain: &str) -> DomainReport {
        let d = domain;
        let first = checks::dnssec::run(self, d).await;
        // A domain that does not exist has nothing else to check; saying so once is clearer
        // than a page of findings about records that cannot be there.
        if first
            .iter()
            .any(|f| f.id == CheckId::DomainExists && f.status == Status::Fail)
        {
            return DomainReport::new(domain.to_string(), first);
        }
        let o = &self.inner.options;
        let mut wanted: Vec<checks::CheckFuture<'_>> = Vec::new();
        if o.wants("mx") {
            wanted.push(Box::pin(checks::mx::run(self, d)));
        }
        if o.wants("spf") {
            wanted.push(Box::pin(checks::spf::run(self, d)));
        }
        if o.wants("dmarc") {
            wanted.push(Box::pin(checks::dmarc::run(self, d)));
        }
        if o.wants("dkim") {
            wanted.push(Box::pin(checks::dkim::run(self, d)));
        }
        if o.wants("transport") {
            wanted.push(Box::pin(checks::policy_records::run(self, d)));
            wanted.push(Box::pin(checks::dane::run(self, d)));
            if self.probes().is_some() {
                wanted.push(Box::pin(checks::smtp::run(self, d)));
                wanted.push(Box::pin(checks::tlsrpt::run(self, d)));
            }
        }
        if o.wants("access") && self.probes().is_some() {
            wanted.push(Box::pin(checks::access::run(self, d)));
        }
        if o.wants("e2e") {
            wanted.push(Box::pin(checks::e2e::run(self, d)));
        }
        let groups = join_all(wanted).await;
        let mut findings = first;
        if !o.wants("dnssec") {
            findings.retain(|f| f.id != CheckId::DnssecZone);
        }
        findings.extend(groups.into_iter().flatten());
        if o.wants("summary") {
            let bod = checks::bod1801::summarize(domain, &findings);
            findings.push(bod);
        }
        DomainReport::new(domain.to_string(), findings)
    }
}
