use serde::Serialize;

/// How bad a diagnostic is.
///
/// Ordered so that `Error > Warning > Info`, which lets a caller take the worst with `max()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing is wrong with the record.
    Info,
    /// The record works, but not the way the owner probably wants, or against a SHOULD.
    Warning,
    /// The record (or the part named) is invalid: receivers ignore it or return permerror.
    Error,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}
