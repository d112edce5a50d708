//! DMARC policy records (RFC 9989, with RFC 7489 compatibility), published at
//! `_dmarc.<domain>`, and the report-authorisation records of RFC 9990 §3 / RFC 7489 §7.1.
//!
//! [`DmarcRecord::parse`] is tolerant, like receivers are (RFC 9989 §4.7: unknown tags are
//! ignored; a tag with an invalid value is ignored), and lists every problem in `diagnostics`.
//! What a receiver would do with the record is in [`DmarcRecord::effective_policy`].

mod parse;
#[cfg(test)]
mod tests;

use serde::Serialize;

use crate::{ReportUri, Severity};

/// Is this TXT string a DMARC record? True when its first tag is `v=DMARC1` (RFC 9989 §4.7;
/// white space around `=` allowed). Use it to pick the DMARC record out of the TXT records at
/// `_dmarc.<domain>`: receivers ignore the others, and more than one DMARC record means none.
pub fn is_dmarc_record(txt: &[u8]) -> bool {
    crate::tag_list::starts_with_tag(txt, "v", "DMARC1")
}

/// The name of the TXT record by which `report_domain` agrees to receive DMARC reports about
/// `policy_domain`: `<policy_domain>._report._dmarc.<report_domain>` (RFC 9990 §3,
/// RFC 7489 §7.1). Needed when a `rua`/`ruf` address is outside the policy domain's
/// organisation. Both names are lower-cased and lose a trailing dot; `None` if either is not a
/// valid domain name.
pub fn report_authorization_name(policy_domain: &str, report_domain: &str) -> Option<String> {
    let policy = crate::domain::normalize(policy_domain)?;
    let report = crate::domain::normalize(report_domain)?;
    Some(format!("{policy}._report._dmarc.{report}"))
}

/// Does this TXT string, found at a [`report_authorization_name`], authorise the reports?
/// It must start with `v=DMARC1` (RFC 9990 §3); other tags are allowed and ignored here.
pub fn is_report_authorization_record(txt: &[u8]) -> bool {
    is_dmarc_record(txt)
}

/// A requested handling policy (`p`, `sp`, `np`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// `none`: monitor only.
    None,
    /// `quarantine`: treat failing mail as suspicious.
    Quarantine,
    /// `reject`: refuse failing mail.
    Reject,
}

impl Policy {
    /// One level less strict, as `t=y` asks (see [`DmarcRecord::effective_policy`]).
    pub fn relaxed_for_testing(self) -> Policy {
        match self {
            Policy::Reject => Policy::Quarantine,
            Policy::Quarantine | Policy::None => Policy::None,
        }
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Policy::None => "none",
            Policy::Quarantine => "quarantine",
            Policy::Reject => "reject",
        })
    }
}

/// Which domain a policy applies to (RFC 9989 §4.7 `p`, `sp`, `np`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyTarget {
    /// The domain that published the record: `p`.
    Domain,
    /// An existing subdomain without its own record: `sp`, defaulting to `p`.
    Subdomain,
    /// A subdomain that does not exist in DNS: `np`, defaulting to `sp`, then `p`.
    NonExistentSubdomain,
}

/// Identifier alignment mode (`adkim`, `aspf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Alignment {
    /// `r`, the default.
    Relaxed,
    /// `s`
    Strict,
}

/// The `psd` tag (RFC 9989 §4.7): is this a Public Suffix Domain's record?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Psd {
    /// `y`: a public suffix operator's record.
    Yes,
    /// `n`: this domain is an organisational domain.
    No,
    /// `u` or absent: let the tree walk decide.
    Unspecified,
}

/// A parsed DMARC record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DmarcRecord {
    /// True when the first tag is `v=DMARC1`.
    pub version_ok: bool,
    /// `p`, if present and valid.
    pub p: Option<Policy>,
    /// `sp`, if present and valid.
    pub sp: Option<Policy>,
    /// `np`, if present and valid.
    pub np: Option<Policy>,
    /// `psd`.
    pub psd: Psd,
    /// `t=y`: the owner is testing the policy.
    pub testing: bool,
    /// `adkim`, default relaxed.
    pub adkim: Alignment,
    /// `aspf`, default relaxed.
    pub aspf: Alignment,
    /// `rua`: the valid aggregate report URIs.
    pub rua: Vec<ReportUri>,
    /// `ruf`: the valid failure report URIs.
    pub ruf: Vec<ReportUri>,
    /// `pct` as written, if a valid 0-100 number (removed in RFC 9989).
    pub pct: Option<u8>,
    /// `fo` options (`0`, `1`, `d`, `s`), if present and valid.
    pub fo: Option<Vec<String>>,
    /// `rf` as written (removed in RFC 9989).
    pub rf: Option<String>,
    /// `ri` in seconds, if valid (removed in RFC 9989).
    pub ri: Option<u32>,
    /// Names of tags this parser does not know, lower case, in order.
    pub unknown_tags: Vec<String>,
    /// Everything worth telling an administrator, in record order.
    pub diagnostics: Vec<DmarcDiagnostic>,
}

impl DmarcRecord {
    /// Parses one DMARC TXT string (character strings already joined).
    pub fn parse(txt: &[u8]) -> DmarcRecord {
        parse::parse(txt)
    }

    /// True when receivers would use this record: `v=DMARC1` first, and a valid `p` or at least
    /// one valid `rua` URI (RFC 9989 §4.7: then `p=none` applies).
    pub fn is_valid(&self) -> bool {
        self.diagnostics
            .iter()
            .all(|d| d.severity() != Severity::Error)
    }

    /// The policy the owner asks for at `target`, before `t=y` is taken into account:
    /// `p`; `sp` defaulting to `p`; `np` defaulting to `sp` then `p`. A missing or invalid `p`
    /// counts as `none` when the record has a valid `rua` (RFC 9989 §4.7). `None` when the
    /// record is not valid at all.
    pub fn requested_policy(&self, target: PolicyTarget) -> Option<Policy> {
        if !self.is_valid() {
            return None;
        }
        let p = self.p.unwrap_or(Policy::None);
        let sp = self.sp.unwrap_or(p);
        Some(match target {
            PolicyTarget::Domain => p,
            PolicyTarget::Subdomain => sp,
            PolicyTarget::NonExistentSubdomain => self.np.unwrap_or(sp),
        })
    }

    /// The policy receivers apply to the publishing domain itself; see
    /// [`effective_policy_for`](Self::effective_policy_for).
    pub fn effective_policy(&self) -> Option<Policy> {
        self.effective_policy_for(PolicyTarget::Domain)
    }

    /// The policy receivers apply at `target`: [`requested_policy`](Self::requested_policy),
    /// made one level less strict when `t=y` (reject → quarantine, quarantine → none).
    ///
    /// Why one level: RFC 9989 §4.7 says `t=y` asks receivers not to apply the policy as
    /// written while the owner tests it, and replaces RFC 7489's `pct`, where `pct=0` already
    /// meant "apply the next less strict policy" (RFC 7489 §6.6.4). mail-auth 0.15 does the same
    /// downgrade in its DMARC verifier, so this matches what a mail-auth based receiver does.
    pub fn effective_policy_for(&self, target: PolicyTarget) -> Option<Policy> {
        let policy = self.requested_policy(target)?;
        Some(if self.testing {
            policy.relaxed_for_testing()
        } else {
            policy
        })
    }
}

/// A problem or remark about a DMARC record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DmarcDiagnostic {
    /// RFC 9989 §4.7: `v=DMARC1` must be the first tag, or receivers ignore the record.
    #[error("the record does not start with \"v=DMARC1\" (found \"{found}\"); receivers ignore it")]
    VersionNotFirst {
        /// The first tag as written.
        found: String,
    },
    /// Not `tag=value`.
    #[error("\"{text}\" is not a tag=value pair; receivers ignore it")]
    TagSyntax {
        /// The piece as written.
        text: String,
    },
    /// A known tag with a value outside its grammar; receivers ignore the tag.
    #[error("{tag}={value}: invalid value for \"{tag}\"; receivers ignore this tag")]
    InvalidValue {
        /// Tag name.
        tag: String,
        /// Value as written.
        value: String,
    },
    /// The same tag twice; this parser keeps the first.
    #[error("the tag \"{tag}\" appears more than once; receivers may take either value")]
    DuplicateTag {
        /// Tag name.
        tag: String,
    },
    /// RFC 9989 removed `pct`; RFC 7489 receivers still honour it.
    #[error("pct={value}: the pct tag was removed in RFC 9989; use t=y for testing instead")]
    PctRemoved {
        /// Value as written.
        value: String,
    },
    /// `pct` below 100: RFC 7489 receivers apply the policy to a sample only.
    #[error(
        "pct={value}: receivers following RFC 7489 apply the policy to only {value}% of failing mail"
    )]
    PctBelow100 {
        /// The percentage.
        value: u8,
    },
    /// RFC 9989 removed `rf` and `ri`.
    #[error("the tag \"{tag}\" was removed in RFC 9989 and is ignored by current receivers")]
    RemovedTag {
        /// Tag name.
        tag: String,
    },
    /// RFC 9989 §4.7: unknown tags are ignored.
    #[error("unknown tag \"{tag}\", ignored by receivers (check for a typo)")]
    UnknownTag {
        /// Tag name as written.
        tag: String,
    },
    /// A `rua`/`ruf` entry that is not a valid URI; receivers skip it.
    #[error("{tag}: \"{uri}\" is not a valid report URI (expected e.g. mailto:dmarc@example.com)")]
    InvalidUri {
        /// `rua` or `ruf`.
        tag: String,
        /// The entry as written.
        uri: String,
    },
    /// RFC 9989: reporters ignore the `!size` suffix.
    #[error("{tag}: the size limit in \"{uri}\" is obsolete; RFC 9989 reporters ignore it")]
    SizeLimitIgnored {
        /// `rua` or `ruf`.
        tag: String,
        /// The entry as written.
        uri: String,
    },
    /// RFC 9989 §4.7: no valid `p`, but a valid `rua`: the record counts as `p=none`.
    #[error("no valid p tag; because the record has a valid rua, receivers treat it as p=none")]
    PolicyMissingTreatedAsNone,
    /// No valid `p` and no valid `rua`: receivers ignore the record.
    #[error("no valid p tag and no valid rua tag; receivers ignore this record")]
    NoPolicy,
    /// RFC 7489 §6.3 required `p` right after `v`; RFC 9989 does not.
    #[error(
        "p is not the second tag; RFC 7489 receivers require \"v=DMARC1; p=...\" in that order"
    )]
    PolicyNotSecond,
}

impl DmarcDiagnostic {
    /// How bad it is: errors make receivers ignore the whole record.
    pub fn severity(&self) -> Severity {
        match self {
            DmarcDiagnostic::VersionNotFirst { .. } | DmarcDiagnostic::NoPolicy => Severity::Error,
            DmarcDiagnostic::TagSyntax { .. }
            | DmarcDiagnostic::InvalidValue { .. }
            | DmarcDiagnostic::DuplicateTag { .. }
            | DmarcDiagnostic::PctBelow100 { .. }
            | DmarcDiagnostic::InvalidUri { .. }
            | DmarcDiagnostic::PolicyMissingTreatedAsNone
            | DmarcDiagnostic::PolicyNotSecond => Severity::Warning,
            DmarcDiagnostic::PctRemoved { .. }
            | DmarcDiagnostic::RemovedTag { .. }
            | DmarcDiagnostic::UnknownTag { .. }
            | DmarcDiagnostic::SizeLimitIgnored { .. } => Severity::Info,
        }
    }
}
