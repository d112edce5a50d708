//! SPF records (RFC 7208): one `v=spf1` TXT string in, its terms and diagnostics out.
//!
//! [`SpfRecord::parse`] reads the whole record even after an error, so a linter can show every
//! problem at once; a receiver would stop at the first and return `permerror`. Any diagnostic of
//! `Severity::Error` means receivers return `permerror` for this
//! record (RFC 7208 §4.6, §6).
//!
//! Domain-specs are kept as [`DomainSpec`]: a literal domain, or a macro string. Choice for
//! macros (RFC 7208 §7): without a message only `%{d}` (with its transformers) and the escapes
//! `%%`, `%_`, `%-` can be expanded, because `d` is the domain being evaluated, which an audit
//! knows. Every other letter (`s l o i p v h`) needs the sender, client IP or HELO name of a
//! real message, so [`DomainSpec::expand`] returns `None` for them.

mod macros;
mod parse;
#[cfg(test)]
mod tests;

use serde::Serialize;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::Severity;

/// RFC 7208 §3.4: records should stay under 450 bytes so that the whole DNS answer fits in
/// 512 bytes of UDP.
pub const RECOMMENDED_MAX_RECORD_LEN: usize = 450;

/// RFC 7208 §4.6.4: at most 10 terms that cause DNS queries may be evaluated in one
/// `check_host()`, counting nested `include`s and `redirect`s.
pub const DNS_LOOKUP_LIMIT: usize = 10;

/// RFC 7208 §4.5: is this TXT string an SPF record? True when it starts with `v=spf1`
/// (case-insensitive) followed by a space or the end. Use it to pick the SPF records out of
/// all TXT records at a name: more than one is a `permerror`.
pub fn is_spf_record(txt: &[u8]) -> bool {
    let Some(head) = txt.get(..6) else {
        return false;
    };
    head.eq_ignore_ascii_case(b"v=spf1") && matches!(txt.get(6), None | Some(b' '))
}

/// RFC 7208 §3.4: does a TXT answer of `total_answer_bytes` (the whole DNS message) fit in the
/// traditional 512-byte UDP limit, so no receiver needs TCP or EDNS0 to read it?
pub fn fits_512(total_answer_bytes: usize) -> bool {
    total_answer_bytes <= 512
}

/// A parsed SPF record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpfRecord {
    /// Length of the record in bytes (the joined TXT strings).
    pub length: usize,
    /// Every term after `v=spf1`, in record order, including the ones that could not be parsed.
    pub terms: Vec<SpfTerm>,
    /// The `redirect=` target, if present and valid (the first one if duplicated).
    pub redirect: Option<DomainSpec>,
    /// The `exp=` target, if present and valid (the first one if duplicated).
    pub exp: Option<DomainSpec>,
    /// The qualifier of the first `all` mechanism, if any.
    pub all: Option<Qualifier>,
    /// Everything worth telling an administrator, in record order.
    pub diagnostics: Vec<SpfDiagnostic>,
}

impl SpfRecord {
    /// Parses one SPF record: the TXT character strings of one record, already joined
    /// (RFC 7208 §3.3: joined without spaces).
    pub fn parse(txt: &[u8]) -> SpfRecord {
        parse::parse(txt)
    }

    /// True when no diagnostic is an error: a receiver would evaluate this record rather than
    /// return `permerror`.
    pub fn is_valid(&self) -> bool {
        self.diagnostics
            .iter()
            .all(|d| d.severity() != Severity::Error)
    }

    /// The number of terms in this record alone that cost a DNS query under RFC 7208 §4.6.4
    /// (`include`, `a`, `mx`, `ptr`, `exists`, `redirect`), not counting terms that are never
    /// evaluated (after `all`, or `redirect` next to `all`). Nested records add their own.
    pub fn dns_lookup_terms(&self) -> usize {
        self.terms
            .iter()
            .filter(|t| t.counts_toward_lookup_limit && !t.ignored)
            .count()
    }

    /// The `include:` targets, in order, that a receiver would evaluate.
    pub fn includes(&self) -> impl Iterator<Item = &DomainSpec> {
        self.terms
            .iter()
            .filter(|t| !t.ignored)
            .filter_map(|t| match &t.kind {
                TermKind::Mechanism {
                    mechanism: Mechanism::Include { domain },
                    ..
                } => Some(domain),
                _ => None,
            })
    }

    /// The `redirect=` target if a receiver would follow it (it is ignored when the record has
    /// an `all` mechanism, RFC 7208 §6.1).
    pub fn effective_redirect(&self) -> Option<&DomainSpec> {
        if self.all.is_some() {
            None
        } else {
            self.redirect.as_ref()
        }
    }
}

/// One term of an SPF record (RFC 7208 §4.6.1): a directive or a modifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpfTerm {
    /// The term exactly as written.
    pub text: String,
    /// What the term is.
    pub kind: TermKind,
    /// Whether evaluating this term costs a DNS query that counts toward the limit of 10
    /// (RFC 7208 §4.6.4): `include`, `a`, `mx`, `ptr`, `exists` and `redirect` do; `all`,
    /// `ip4`, `ip6` and `exp` do not.
    pub counts_toward_lookup_limit: bool,
    /// True when a receiver never evaluates this term: a mechanism after `all` (§5.1), or
    /// `redirect` in a record with `all` (§6.1).
    pub ignored: bool,
}

/// What a term is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TermKind {
    /// `[qualifier] mechanism` (RFC 7208 §4.6.2).
    Mechanism {
        /// `+` (default), `-`, `~` or `?`.
        qualifier: Qualifier,
        /// The mechanism and its arguments.
        mechanism: Mechanism,
    },
    /// `name=value` (RFC 7208 §6).
    Modifier(Modifier),
    /// A term that could not be parsed; a diagnostic says why.
    Invalid,
}

/// The qualifier of a directive (RFC 7208 §4.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Qualifier {
    /// `+`, the default.
    Pass,
    /// `-`
    Fail,
    /// `~`
    SoftFail,
    /// `?`
    Neutral,
}

/// A mechanism (RFC 7208 §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "mechanism", rename_all = "snake_case")]
pub enum Mechanism {
    /// `all` (§5.1).
    All,
    /// `include:<domain-spec>` (§5.2).
    Include {
        /// Whose SPF record is evaluated.
        domain: DomainSpec,
    },
    /// `a[:<domain-spec>][/<ip4-cidr>][//<ip6-cidr>]` (§5.3).
    A {
        /// `None` means the current domain.
        domain: Option<DomainSpec>,
        /// IPv4 prefix length; `None` means /32.
        ip4_cidr: Option<u8>,
        /// IPv6 prefix length; `None` means /128.
        ip6_cidr: Option<u8>,
    },
    /// `mx[:<domain-spec>][/<ip4-cidr>][//<ip6-cidr>]` (§5.4).
    Mx {
        /// `None` means the current domain.
        domain: Option<DomainSpec>,
        /// IPv4 prefix length; `None` means /32.
        ip4_cidr: Option<u8>,
        /// IPv6 prefix length; `None` means /128.
        ip6_cidr: Option<u8>,
    },
    /// `ptr[:<domain-spec>]` (§5.5, "SHOULD NOT be used").
    Ptr {
        /// `None` means the current domain.
        domain: Option<DomainSpec>,
    },
    /// `ip4:<network>[/<cidr>]` (§5.6).
    Ip4 {
        /// The network address as written.
        network: Ipv4Addr,
        /// Prefix length, 32 when absent.
        prefix_len: u8,
    },
    /// `ip6:<network>[/<cidr>]` (§5.6).
    Ip6 {
        /// The network address as written.
        network: Ipv6Addr,
        /// Prefix length, 128 when absent.
        prefix_len: u8,
    },
    /// `exists:<domain-spec>` (§5.7).
    Exists {
        /// The name whose A record is looked up.
        domain: DomainSpec,
    },
}

impl Mechanism {
    /// The mechanism's name as written in records.
    pub fn name(&self) -> &'static str {
        match self {
            Mechanism::All => "all",
            Mechanism::Include { .. } => "include",
            Mechanism::A { .. } => "a",
            Mechanism::Mx { .. } => "mx",
            Mechanism::Ptr { .. } => "ptr",
            Mechanism::Ip4 { .. } => "ip4",
            Mechanism::Ip6 { .. } => "ip6",
            Mechanism::Exists { .. } => "exists",
        }
    }

    /// RFC 7208 §4.6.4: does evaluating this mechanism cost a DNS query?
    pub fn counts_toward_lookup_limit(&self) -> bool {
        !matches!(
            self,
            Mechanism::All | Mechanism::Ip4 { .. } | Mechanism::Ip6 { .. }
        )
    }
}

/// A modifier (RFC 7208 §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "modifier", rename_all = "snake_case")]
pub enum Modifier {
    /// `redirect=<domain-spec>` (§6.1).
    Redirect {
        /// The domain whose record replaces this one when nothing matched.
        domain: DomainSpec,
    },
    /// `exp=<domain-spec>` (§6.2).
    Exp {
        /// The domain whose TXT record holds the explanation.
        domain: DomainSpec,
    },
    /// Any other `name=value`: legal, and ignored by receivers (§6).
    Unknown {
        /// The name as written.
        name: String,
        /// The value as written.
        value: String,
    },
}

/// A domain-spec (RFC 7208 §7.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DomainSpec {
    /// A literal domain name: lower case, without a trailing dot.
    Domain {
        /// The name.
        name: String,
    },
    /// A macro string, kept as written.
    Macro {
        /// The domain-spec exactly as written.
        spec: String,
        /// True when the only macros are `%{d}` (with transformers) and escapes, so the spec
        /// can be expanded from the domain being evaluated alone, with [`DomainSpec::expand`].
        needs_only_domain: bool,
    },
}

impl DomainSpec {
    /// The literal domain name, if this is not a macro.
    pub fn as_domain(&self) -> Option<&str> {
        match self {
            DomainSpec::Domain { name } => Some(name),
            DomainSpec::Macro { .. } => None,
        }
    }

    /// The name this spec stands for when evaluating `current_domain` (the `<domain>` of
    /// `check_host()`), or `None` when it needs a message (any macro letter other than `d`).
    /// The result is lower case, without a trailing dot, and truncated from the left to 253
    /// octets as RFC 7208 §7.3 requires.
    pub fn expand(&self, current_domain: &str) -> Option<String> {
        match self {
            DomainSpec::Domain { name } => Some(name.clone()),
            DomainSpec::Macro {
                spec,
                needs_only_domain: true,
            } => macros::expand_with_domain(spec, current_domain),
            DomainSpec::Macro { .. } => None,
        }
    }
}

/// A problem or remark about one SPF record. Every variant carries the term it is about, as
/// written, so the administrator can find it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SpfDiagnostic {
    /// RFC 7208 §4.5: the record must start with `v=spf1` followed by a space or the end.
    #[error(
        "the record does not start with \"v=spf1\" (found \"{found}\"); it is not an SPF record"
    )]
    NotSpfRecord {
        /// The first term as written.
        found: String,
    },
    /// RFC 7208 §5: an unknown mechanism name makes the record a permerror.
    #[error("\"{term}\": unknown mechanism; receivers return permerror for the whole record")]
    UnknownMechanism {
        /// The term.
        term: String,
    },
    /// RFC 7208 §4.6.1: the term does not follow the grammar.
    #[error("\"{term}\": {reason}; receivers return permerror for the whole record")]
    InvalidSyntax {
        /// The term.
        term: String,
        /// What is wrong, for a person.
        reason: String,
    },
    /// RFC 7208 §7.1: the domain-spec is not a valid domain or macro string.
    #[error(
        "\"{term}\": \"{spec}\" is not a valid domain name or macro string; receivers return permerror"
    )]
    InvalidDomainSpec {
        /// The term.
        term: String,
        /// The domain-spec as written.
        spec: String,
    },
    /// RFC 7208 §5.6: the address after `ip4:`/`ip6:` does not parse.
    #[error("\"{term}\": invalid IP address; receivers return permerror for the whole record")]
    InvalidIpAddress {
        /// The term.
        term: String,
    },
    /// RFC 7208 §5.6: prefix lengths are 0-32 for IPv4 and 0-128 for IPv6, without leading zeros.
    #[error(
        "\"{term}\": invalid CIDR prefix length; receivers return permerror for the whole record"
    )]
    InvalidCidr {
        /// The term.
        term: String,
    },
    /// RFC 7208 §6: `redirect` and `exp` may appear at most once.
    #[error(
        "\"{term}\": second \"{modifier}=\" modifier; receivers return permerror for the whole record"
    )]
    DuplicateModifier {
        /// The term.
        term: String,
        /// `redirect` or `exp`.
        modifier: String,
    },
    /// RFC 7208 §4.6.4: more than 10 DNS-querying terms in this record alone.
    #[error(
        "{count} terms that need DNS lookups (include, a, mx, ptr, exists, redirect) in this record alone; the limit is 10, receivers return permerror"
    )]
    TooManyDnsLookups {
        /// How many.
        count: usize,
    },
    /// RFC 7208 §5.5: `ptr` SHOULD NOT be used: slow, unreliable, and a load on the client's
    /// reverse DNS.
    #[error(
        "\"{term}\": the ptr mechanism should not be used (RFC 7208 §5.5); list the addresses with ip4/ip6 or a instead"
    )]
    PtrUsed {
        /// The term.
        term: String,
    },
    /// `+all` (or a bare `all`) authorises every host on the Internet.
    #[error(
        "\"{term}\": passes mail from any host on the Internet, which makes the record useless; use \"-all\" or \"~all\""
    )]
    PassAll {
        /// The term.
        term: String,
    },
    /// `?all` states nothing about unlisted hosts.
    #[error(
        "\"{term}\": unlisted hosts get a neutral result, which gives receivers nothing to act on; prefer \"-all\" or \"~all\""
    )]
    NeutralAll {
        /// The term.
        term: String,
    },
    /// RFC 7208 §6.1: `redirect` is ignored when the record contains `all`.
    #[error("\"{term}\": ignored because the record also has an \"all\" mechanism (RFC 7208 §6.1)")]
    RedirectIgnoredWithAll {
        /// The term.
        term: String,
    },
    /// RFC 7208 §5.1: mechanisms after `all` are never evaluated.
    #[error("\"{term}\": comes after \"all\" and is never evaluated")]
    TermAfterAll {
        /// The term.
        term: String,
    },
    /// RFC 7208 §3.4: keep records under 450 bytes.
    #[error(
        "the record is {length} bytes long; RFC 7208 §3.4 recommends under 450 so the DNS answer fits in 512 bytes"
    )]
    RecordTooLong {
        /// Length in bytes.
        length: usize,
    },
    /// RFC 7208 §6: unknown modifiers are legal and ignored; often a typo.
    #[error("\"{term}\": unknown modifier, ignored by receivers (check for a typo)")]
    UnknownModifier {
        /// The term.
        term: String,
    },
    /// RFC 7208 §4.6.1: terms are separated by spaces only; other white space is not allowed.
    #[error(
        "the record separates terms with white space other than spaces (tab or line break); receivers may return permerror"
    )]
    NonSpaceSeparator,
}

impl SpfDiagnostic {
    /// How bad it is: errors make receivers return `permerror`.
    pub fn severity(&self) -> Severity {
        match self {
            SpfDiagnostic::NotSpfRecord { .. }
            | SpfDiagnostic::UnknownMechanism { .. }
            | SpfDiagnostic::InvalidSyntax { .. }
            | SpfDiagnostic::InvalidDomainSpec { .. }
            | SpfDiagnostic::InvalidIpAddress { .. }
            | SpfDiagnostic::InvalidCidr { .. }
            | SpfDiagnostic::DuplicateModifier { .. }
            | SpfDiagnostic::TooManyDnsLookups { .. } => Severity::Error,
            SpfDiagnostic::PtrUsed { .. }
            | SpfDiagnostic::PassAll { .. }
            | SpfDiagnostic::RedirectIgnoredWithAll { .. }
            | SpfDiagnostic::TermAfterAll { .. }
            | SpfDiagnostic::RecordTooLong { .. }
            | SpfDiagnostic::NonSpaceSeparator => Severity::Warning,
            SpfDiagnostic::NeutralAll { .. } | SpfDiagnostic::UnknownModifier { .. } => {
                Severity::Info
            }
        }
    }
}
