//! What every check produces: a finding with a stable id, a status, references, the evidence as
//! seen (with each lookup's DNSSEC status) and a remediation that can be pasted.

use std::fmt;

use mailtrust_dns::{Answer, DnssecStatus, Outcome};
use serde::{Deserialize, Serialize};

use crate::catalogue::{self, CheckId};

/// The verdict of one check. Ordered from best to worst for "worst status" summaries, with
/// `NotApplicable` and `Info` ranking as neutral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Pass,
    Info,
    NotApplicable,
    Warn,
    Inconclusive,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Info => "info",
            Self::NotApplicable => "not-applicable",
            Self::Warn => "warn",
            Self::Inconclusive => "inconclusive",
            Self::Fail => "fail",
        }
    }

    /// Rank for "worst of": fail > inconclusive > warn > pass > info > not-applicable.
    pub fn rank(self) -> u8 {
        match self {
            Self::NotApplicable => 0,
            Self::Info => 1,
            Self::Pass => 2,
            Self::Warn => 3,
            Self::Inconclusive => 4,
            Self::Fail => 5,
        }
    }

    pub fn worst(a: Self, b: Self) -> Self {
        if b.rank() > a.rank() { b } else { a }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
}

/// One DNS lookup as the check saw it.
#[derive(Debug, Clone, Serialize)]
pub struct LookupEvidence {
    /// `NAME TYPE`, the question asked.
    pub query: String,
    pub outcome: Outcome,
    pub dnssec: DnssecStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bogus_reason: Option<String>,
    /// The records of the answer in presentation format (TXT joined).
    pub records: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl LookupEvidence {
    pub fn of(answer: &Answer) -> Self {
        Self {
            query: format!("{} {}", answer.name, answer.qtype),
            outcome: answer.outcome,
            dnssec: answer.dnssec.clone(),
            bogus_reason: answer.bogus_reason.clone(),
            records: answer
                .records
                .iter()
                .map(|r| format!("{} {} {}", r.name, r.rtype, r.data))
                .collect(),
            detail: answer.detail.clone(),
        }
    }
}

/// Evidence: lookups as seen, and notes (a tree, a computed count) that explain the verdict.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Evidence {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lookups: Vec<LookupEvidence>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Structured data for checks that have it (e.g. the SPF include tree).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub id: CheckId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub title: &'static str,
    pub status: Status,
    pub severity: Severity,
    pub references: &'static [&'static str],
    /// What was found, in one sentence.
    pub summary: String,
    pub evidence: Evidence,
    /// What to publish or change, ready to paste; `None` when nothing needs doing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
}

impl Finding {
    /// A finding for `id` with the catalogue's title, severity and references.
    pub fn new(id: CheckId, status: Status, summary: impl Into<String>) -> Self {
        let info = catalogue::info(id);
        Self {
            id,
            subject: None,
            title: info.title,
            status,
            severity: if matches!(status, Status::Fail | Status::Warn) {
                info.severity
            } else {
                Severity::Info
            },
            references: info.references,
            summary: summary.into(),
            evidence: Evidence::default(),
            remediation: None,
        }
    }

    pub fn subject(mut self, s: impl Into<String>) -> Self {
        self.subject = Some(s.into());
        self
    }

    pub fn lookup(mut self, a: &Answer) -> Self {
        self.evidence.lookups.push(LookupEvidence::of(a));
        self
    }

    pub fn note(mut self, n: impl Into<String>) -> Self {
        self.evidence.notes.push(n.into());
        self
    }

    pub fn data(mut self, d: serde_json::Value) -> Self {
        self.evidence.data = Some(d);
        self
    }

    pub fn fix(mut self, r: impl Into<String>) -> Self {
        self.remediation = Some(r.into());
        self
    }

    /// A remediation only when `needed` (a passing finding has nothing to fix).
    pub fn fix_if(self, needed: bool, r: impl Into<String>) -> Self {
        if needed { self.fix(r) } else { self }
    }

    /// The finding for a lookup that gave no usable answer: inconclusive, naming the lookup and
    /// its outcome. Never a failure: a DNS outage is not a missing record.
    pub fn inconclusive(id: CheckId, a: &Answer) -> Self {
        let what = match &a.detail {
            Some(d) => format!("{} ({d})", a.outcome),
            None => a.outcome.to_string(),
        };
        Self::new(
            id,
            Status::Inconclusive,
            format!("{} {} gave no usable answer: {what}", a.name, a.qtype),
        )
        .lookup(a)
    }
}

/// True when the answer can support a verdict (records, NXDOMAIN or NODATA). A bogus answer is
/// an answer, but checks must not trust its content; see [`trusted`].
pub fn answered(a: &Answer) -> bool {
    a.outcome.is_answer()
}

/// True when the answer's content may be used: answered and not bogus.
pub fn trusted(a: &Answer) -> bool {
    answered(a) && !matches!(a.dnssec, DnssecStatus::Bogus(_))
}
