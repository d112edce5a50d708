//! The checks, one module per area. Each `run` returns every finding of its area for a domain.

use std::future::Future;
use std::pin::Pin;

use crate::finding::Finding;

pub(crate) mod bod1801;
pub(crate) mod dane;
pub(crate) mod dkim;
pub(crate) mod dmarc;
pub(crate) mod dnssec;
pub(crate) mod e2e;
pub(crate) mod mx;
pub(crate) mod policy_records;
pub(crate) mod spf;
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
