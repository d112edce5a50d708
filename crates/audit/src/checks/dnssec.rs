//! `domain.exists` and `dnssec.zone`.

use mailtrust_dns::{DnssecStatus, Outcome, QueryType};

use crate::Auditor;
use crate::catalogue::CheckId;
use crate::finding::{Finding, Status};

pub(crate) async fn run(a: &Auditor, domain: &str) -> Vec<Finding> {
    let soa = a.lookup(domain, QueryType::Soa).await;
    if !soa.outcome.is_answer() {
        return vec![
            Finding::inconclusive(CheckId::DomainExists, &soa),
            Finding::inconclusive(CheckId::DnssecZone, &soa),
        ];
    }
    let mut out = Vec::new();
    if soa.outcome == Outcome::NxDomain {
        out.push(
            Finding::new(CheckId::DomainExists, Status::Fail, format!("{domain} does not exist (NXDOMAIN)"))
                .lookup(&soa)
                .fix(format!("Register {domain} or check the spelling; a domain that does not exist cannot send or receive mail.")),
        );
        out.push(
            Finding::new(
                CheckId::DnssecZone,
                Status::NotApplicable,
                "the domain does not exist",
            )
            .lookup(&soa),
        );
        return out;
    }
    out.push(
        Finding::new(
            CheckId::DomainExists,
            Status::Pass,
            format!("{domain} exists"),
        )
        .lookup(&soa),
    );
    let f = match &soa.dnssec {
        DnssecStatus::Secure => Finding::new(CheckId::DnssecZone, Status::Pass, "the zone is signed and validates from the root"),
        DnssecStatus::Insecure => Finding::new(CheckId::DnssecZone, Status::Warn, "the zone is not signed (provably insecure)").fix(
            "Sign the zone (Knot: `dnssec-signing: on` in the zone's policy; BIND: `dnssec-policy default;`) and publish its DS record at the registrar.",
        ),
        DnssecStatus::Bogus(r) => Finding::new(CheckId::DnssecZone, Status::Fail, format!("DNSSEC validation fails: {r}"))
            .fix(format!("Fix the broken link ({r}); until then validating receivers cannot see any of the domain's records.")),
        DnssecStatus::Indeterminate => Finding::new(
            CheckId::DnssecZone,
            Status::Inconclusive,
            "the DNSSEC status could not be determined",
        ),
    };
    out.push(f.lookup(&soa));
    out
}
