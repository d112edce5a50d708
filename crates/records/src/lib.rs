//! Pure parsers and linters for mail DNS records. No I/O here: bytes in, typed values out.
//!
//! One module per protocol, each with the same shape: `parse.rs` turns the TXT string (or policy
//! file) into a typed record, the record carries its own `diagnostics`, and each diagnostic has a
//! [`Severity`] and a `Display` text meant for an administrator. Parsers are tolerant: they keep
//! reading after a problem so that one run reports every problem, and they never panic on input.
//!
//! | module | record | where | RFC |
//! |---|---|---|---|
//! | [`spf`] | `v=spf1 ...` | TXT at the domain | RFC 7208 |
//! | [`dmarc`] | `v=DMARC1; ...` | TXT at `_dmarc.<domain>` | RFC 9989 (RFC 7489) |
//! | [`dkim`] | `v=DKIM1; k=...; p=...` | TXT at `<selector>._domainkey.<domain>` | RFC 6376, 8301, 8463 |
//! | [`mta_sts`] | `v=STSv1; id=...` and the policy file | TXT at `_mta-sts.<domain>`, HTTPS | RFC 8461 |
//! | [`tls_rpt`] | `v=TLSRPTv1; rua=...` | TXT at `_smtp._tls.<domain>` | RFC 8460 |
#![forbid(unsafe_code)]

pub mod dkim;
pub mod dmarc;
mod domain;
pub mod mta_sts;
mod severity;
pub mod spf;
mod tag_list;
pub mod tls_rpt;
mod uri;

#[cfg(test)]
mod testing;

pub use dkim::{DkimDiagnostic, DkimKeyRecord, DkimKeyType, HashAlgorithm, ServiceType};
pub use dmarc::{
    DmarcDiagnostic, DmarcRecord, Policy, PolicyTarget, is_dmarc_record,
    is_report_authorization_record, report_authorization_name,
};
pub use mta_sts::{
    MtaStsDiagnostic, MtaStsMode, MtaStsPolicy, MtaStsPolicyDiagnostic, MtaStsRecord, MxPattern,
    is_mta_sts_record, mx_matches,
};
pub use severity::Severity;
pub use spf::{SpfDiagnostic, SpfRecord, is_spf_record};
pub use tls_rpt::{TlsRptDiagnostic, TlsRptRecord, is_tls_rpt_record};
pub use uri::ReportUri;
