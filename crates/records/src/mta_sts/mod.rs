//! MTA-STS (RFC 8461): the `_mta-sts.<domain>` TXT record (§3.1) here, and the policy file
//! served at `https://mta-sts.<domain>/.well-known/mta-sts.txt` (§3.2) in [`policy`].

pub mod policy;
#[cfg(test)]
mod tests;

use serde::Serialize;

use crate::Severity;
use crate::tag_list::{self, Item};

pub use policy::{MtaStsMode, MtaStsPolicy, MtaStsPolicyDiagnostic, MxPattern, mx_matches};

/// Is this TXT string an MTA-STS record? RFC 8461 §3.1: records that do not begin with
/// `v=STSv1;` are discarded; if not exactly one remains, the domain has no policy.
pub fn is_mta_sts_record(txt: &[u8]) -> bool {
    tag_list::starts_with_tag(txt, "v", "STSv1")
}

/// A parsed `_mta-sts` TXT record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MtaStsRecord {
    /// True when the first tag is `v=STSv1`.
    pub version_ok: bool,
    /// `id=`, if valid: changes whenever the policy file changes.
    pub id: Option<String>,
    /// Names of extension tags, in order.
    pub unknown_tags: Vec<String>,
    /// Everything worth telling an administrator, in record order.
    pub diagnostics: Vec<MtaStsDiagnostic>,
}

impl MtaStsRecord {
    /// Parses one `_mta-sts` TXT string (character strings already joined).
    pub fn parse(txt: &[u8]) -> MtaStsRecord {
        let text = String::from_utf8_lossy(txt);
        let mut r = MtaStsRecord {
            version_ok: false,
            id: None,
            unknown_tags: Vec::new(),
            diagnostics: Vec::new(),
        };
        let tags = tag_list::read_versioned(&text, "v", "STSv1", false);
        r.version_ok = tags.version_ok;
        if let Some(found) = tags.found_first {
            r.diagnostics
                .push(MtaStsDiagnostic::VersionNotFirst { found });
        }
        let mut has_id = false;
        for item in tags.items {
            match item {
                Item::Malformed(text) => r
                    .diagnostics
                    .push(MtaStsDiagnostic::TagSyntax { text: text.into() }),
                Item::Duplicate { name } => r
                    .diagnostics
                    .push(MtaStsDiagnostic::DuplicateTag { tag: name }),
                // A `v` that is not first was reported as VersionNotFirst.
                Item::Tag { name, .. } if name == "v" => {}
                Item::Tag { name, value } if name == "id" => {
                    has_id = true;
                    // sts-id-value = 1*32(ALPHA / DIGIT)
                    if !value.is_empty()
                        && value.len() <= 32
                        && value.bytes().all(|b| b.is_ascii_alphanumeric())
                    {
                        r.id = Some(value.into());
                    } else {
                        r.diagnostics.push(MtaStsDiagnostic::InvalidId {
                            value: value.into(),
                        });
                    }
                }
                Item::Tag { name, .. } => {
                    r.unknown_tags.push(name.clone());
                    r.diagnostics
                        .push(MtaStsDiagnostic::UnknownTag { tag: name });
                }
            }
        }
        if !has_id {
            r.diagnostics.push(MtaStsDiagnostic::MissingId);
        }
        r
    }

    /// True when no diagnostic is an error: senders will fetch the policy.
    pub fn is_valid(&self) -> bool {
        self.diagnostics
            .iter()
            .all(|d| d.severity() != Severity::Error)
    }
}

/// A problem or remark about an `_mta-sts` TXT record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MtaStsDiagnostic {
    /// RFC 8461 §3.1: the record must begin with `v=STSv1`.
    #[error("the record does not start with \"v=STSv1\" (found \"{found}\"); senders ignore it")]
    VersionNotFirst {
        /// The first tag as written.
        found: String,
    },
    /// Not `tag=value`.
    #[error("\"{text}\" is not a field=value pair; senders treat the record as invalid")]
    TagSyntax {
        /// The piece as written.
        text: String,
    },
    /// A tag given twice.
    #[error("the tag \"{tag}\" appears more than once; senders treat the record as invalid")]
    DuplicateTag {
        /// Tag name.
        tag: String,
    },
    /// RFC 8461 §3.1: `id` is required.
    #[error("no id= tag; senders treat the record as invalid")]
    MissingId,
    /// RFC 8461 §3.1: `id` is 1 to 32 letters and digits.
    #[error("id={value}: must be 1 to 32 letters and digits; senders treat the record as invalid")]
    InvalidId {
        /// The value as written.
        value: String,
    },
    /// Extension tags are allowed and ignored.
    #[error("unknown tag \"{tag}\", ignored by senders")]
    UnknownTag {
        /// Tag name as written.
        tag: String,
    },
}

impl MtaStsDiagnostic {
    /// How bad it is: errors mean senders ignore MTA-STS for the domain.
    pub fn severity(&self) -> Severity {
        match self {
            MtaStsDiagnostic::UnknownTag { .. } => Severity::Info,
            _ => Severity::Error,
        }
    }
}
