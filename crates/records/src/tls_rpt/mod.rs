//! SMTP TLS Reporting records (RFC 8460 §3), published at `_smtp._tls.<domain>`.

#[cfg(test)]
mod tests;

use serde::Serialize;

use crate::tag_list::{self, Item};
use crate::{ReportUri, Severity};

/// Is this TXT string a TLS-RPT record? True when the first tag is `v=TLSRPTv1` (RFC 8460 §3:
/// other TXT records at the name are ignored; more than one TLS-RPT record means none).
pub fn is_tls_rpt_record(txt: &[u8]) -> bool {
    tag_list::starts_with_tag(txt, "v", "TLSRPTv1")
}

/// A parsed TLS-RPT record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsRptRecord {
    /// True when the first tag is `v=TLSRPTv1`.
    pub version_ok: bool,
    /// The valid `mailto:` and `https:` report destinations, in order.
    pub rua: Vec<ReportUri>,
    /// Names of other tags (extensions are allowed and ignored), in order.
    pub unknown_tags: Vec<String>,
    /// Everything worth telling an administrator, in record order.
    pub diagnostics: Vec<TlsRptDiagnostic>,
}

impl TlsRptRecord {
    /// Parses one TLS-RPT TXT string (character strings already joined).
    pub fn parse(txt: &[u8]) -> TlsRptRecord {
        let text = String::from_utf8_lossy(txt);
        let mut r = TlsRptRecord {
            version_ok: false,
            rua: Vec::new(),
            unknown_tags: Vec::new(),
            diagnostics: Vec::new(),
        };
        let tags = tag_list::read_versioned(&text, "v", "TLSRPTv1", false);
        r.version_ok = tags.version_ok;
        if let Some(found) = tags.found_first {
            r.diagnostics
                .push(TlsRptDiagnostic::VersionNotFirst { found });
        }
        let mut has_rua = false;
        for item in tags.items {
            match item {
                Item::Malformed(text) => r
                    .diagnostics
                    .push(TlsRptDiagnostic::TagSyntax { text: text.into() }),
                Item::Duplicate { name } => r
                    .diagnostics
                    .push(TlsRptDiagnostic::DuplicateTag { tag: name }),
                // A `v` that is not first was reported as VersionNotFirst.
                Item::Tag { name, .. } if name == "v" => {}
                Item::Tag { name, value } if name == "rua" => {
                    has_rua = true;
                    // RFC 8460 §3: commas and semicolons inside a URI must be percent-encoded.
                    for item in value.split(',').map(tag_list::trim_fws) {
                        match crate::uri::parse(item, false) {
                            Ok(uri) if uri.scheme == "mailto" || uri.scheme == "https" => {
                                r.rua.push(uri)
                            }
                            Ok(_) => r
                                .diagnostics
                                .push(TlsRptDiagnostic::UnsupportedScheme { uri: item.into() }),
                            Err(_) => r
                                .diagnostics
                                .push(TlsRptDiagnostic::InvalidUri { uri: item.into() }),
                        }
                    }
                }
                Item::Tag { name, .. } => {
                    r.unknown_tags.push(name.clone());
                    r.diagnostics
                        .push(TlsRptDiagnostic::UnknownTag { tag: name });
                }
            }
        }
        if !has_rua {
            r.diagnostics.push(TlsRptDiagnostic::MissingRua);
        } else if r.rua.is_empty() {
            r.diagnostics.push(TlsRptDiagnostic::NoValidRua);
        }
        r
    }

    /// True when no diagnostic is an error: reporters will send reports.
    pub fn is_valid(&self) -> bool {
        self.diagnostics
            .iter()
            .all(|d| d.severity() != Severity::Error)
    }
}

/// A problem or remark about a TLS-RPT record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TlsRptDiagnostic {
    /// RFC 8460 §3: `v=TLSRPTv1` must come first.
    #[error(
        "the record does not start with \"v=TLSRPTv1\" (found \"{found}\"); reporters ignore it"
    )]
    VersionNotFirst {
        /// The first tag as written.
        found: String,
    },
    /// Not `tag=value`.
    #[error("\"{text}\" is not a tag=value pair; the record is invalid")]
    TagSyntax {
        /// The piece as written.
        text: String,
    },
    /// A tag given twice.
    #[error("the tag \"{tag}\" appears more than once; the record is invalid")]
    DuplicateTag {
        /// Tag name.
        tag: String,
    },
    /// RFC 8460 §3: `rua` is required.
    #[error("no rua= tag: reporters have nowhere to send reports")]
    MissingRua,
    /// `rua` lists no usable URI.
    #[error("rua= lists no valid mailto: or https: URI: reporters have nowhere to send reports")]
    NoValidRua,
    /// A `rua` entry that is not a valid URI.
    #[error(
        "rua: \"{uri}\" is not a valid URI (expected mailto:tlsrpt@example.com or https://...)"
    )]
    InvalidUri {
        /// The entry as written.
        uri: String,
    },
    /// RFC 8460 §3 defines only `mailto:` and `https:`.
    #[error(
        "rua: \"{uri}\" uses a scheme other than mailto: or https:, which reporters do not support"
    )]
    UnsupportedScheme {
        /// The entry as written.
        uri: String,
    },
    /// Extension tags are allowed and ignored.
    #[error("unknown tag \"{tag}\", ignored by reporters (check for a typo)")]
    UnknownTag {
        /// Tag name as written.
        tag: String,
    },
}

impl TlsRptDiagnostic {
    /// How bad it is: errors mean no reports arrive.
    pub fn severity(&self) -> Severity {
        match self {
            TlsRptDiagnostic::VersionNotFirst { .. }
            | TlsRptDiagnostic::TagSyntax { .. }
            | TlsRptDiagnostic::DuplicateTag { .. }
            | TlsRptDiagnostic::MissingRua
            | TlsRptDiagnostic::NoValidRua => Severity::Error,
            TlsRptDiagnostic::InvalidUri { .. } | TlsRptDiagnostic::UnsupportedScheme { .. } => {
                Severity::Warning
            }
            TlsRptDiagnostic::UnknownTag { .. } => Severity::Info,
        }
    }
}
