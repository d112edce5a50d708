//! One domain's audit result, and the summary that goes on its one-line report.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::catalogue::CheckId;
use crate::finding::{Finding, Status};

/// The JSON schema version of [`DomainReport`]; bump on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct DomainReport {
    pub schema: u32,
    /// Normalised: lower case, A-labels, no trailing dot.
    pub domain: String,
    pub findings: Vec<Finding>,
    pub summary: Summary,
    /// Wall time of this domain's audit in milliseconds (lookups and probes shared with other
    /// domains of the run count for whichever domain waited on them).
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub pass: usize,
    pub fail: usize,
    pub warn: usize,
    pub info: usize,
    pub inconclusive: usize,
    pub not_applicable: usize,
    pub worst: Option<Status>,
}

impl DomainReport {
    pub fn new(domain: String, mut findings: Vec<Finding>) -> Self {
        findings.sort_by(|a, b| (a.id, &a.subject).cmp(&(b.id, &b.subject)));
        let mut s = Summary::default();
        for f in &findings {
            match f.status {
                Status::Pass => s.pass += 1,
                Status::Fail => s.fail += 1,
                Status::Warn => s.warn += 1,
                Status::Info => s.info += 1,
                Status::Inconclusive => s.inconclusive += 1,
                Status::NotApplicable => s.not_applicable += 1,
            }
            s.worst = Some(s.worst.map_or(f.status, |w| Status::worst(w, f.status)));
        }
        Self {
            schema: SCHEMA_VERSION,
            domain,
            findings,
            summary: s,
            elapsed_ms: 0,
        }
    }

    /// The worst status per check id (a check that runs per selector or host counts once).
    pub fn worst_by_check(&self) -> BTreeMap<CheckId, Status> {
        let mut m: BTreeMap<CheckId, Status> = BTreeMap::new();
        for f in &self.findings {
            m.entry(f.id)
                .and_modify(|s| *s = Status::worst(*s, f.status))
                .or_insert(f.status);
        }
        m
    }

    pub fn findings_for(&self, id: CheckId) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.id == id)
    }
}
