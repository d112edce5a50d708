//! `smimea.record` and `openpgpkey.record` for each `--address` of the audited domain.

use futures_util::future::join_all;
use mailtrust_dns::{DnssecStatus, Outcome, QueryType};
use sha2::{Digest, Sha256};

use crate::Auditor;
use crate::catalogue::CheckId;
use crate::finding::{Finding, Status};

/// The owner-name label for an address's local part: hex of the first 28 octets of its SHA-256
/// (RFC 8162 §3, RFC 7929 §3).
pub(crate) fn local_part_label(local: &str) -> String {
    let digest = Sha256::digest(local.as_bytes());
    digest.iter().take(28).map(|b| format!("{b:02x}")).collect()
}

pub(crate) async fn run(a: &Auditor, domain: &str) -> Vec<Finding> {
    let mine: Vec<(String, String)> = a
        .options()
        .addresses
        .iter()
        .filter_map(|addr| {
            addr.rsplit_once('@')
                .map(|(l, d)| (l.to_string(), d.trim_end_matches('.').to_lowercase()))
        })
        .filter(|(_, d)| d == domain)
        .collect();
    let mut futures = Vec::new();
    for (local, _) in &mine {
        futures.push(one(a, domain, local, CheckId::SmimeaRecord));
        futures.push(one(a, domain, local, CheckId::OpenpgpkeyRecord));
    }
    join_all(futures).await
}

async fn one(a: &Auditor, domain: &str, local: &str, id: CheckId) -> Finding {
    let (label, qtype, what, example) = match id {
        CheckId::SmimeaRecord => (
            "_smimecert",
            QueryType::Smimea,
            "SMIMEA",
            "3 0 0 <DER certificate in hex>",
        ),
        _ => (
            "_openpgpkey",
            QueryType::Openpgpkey,
            "OPENPGPKEY",
            "<base64 of the transferable public key>",
        ),
    };
    let owner = format!("{}.{label}.{domain}", local_part_label(local));
    let address = format!("{local}@{domain}");
    let ans = a.lookup(&owner, qtype).await;
    if !ans.outcome.is_answer() {
        return Finding::inconclusive(id, &ans).subject(address);
    }
    let f = match (&ans.outcome, &ans.dnssec) {
        (_, DnssecStatus::Bogus(r)) => Finding::new(id, Status::Fail, format!("the {what} record of {address} fails DNSSEC validation: {r}"))
            .fix(format!("Fix the DNSSEC chain: {r}")),
        (Outcome::Records, DnssecStatus::Secure) => Finding::new(id, Status::Pass, format!("{address} has a DNSSEC-secure {what} record")),
        (Outcome::Records, _) => Finding::new(id, Status::Warn, format!("{address} has a {what} record, but it is not DNSSEC-secure, so clients must not use it"))
            .fix(format!("Sign the zone {domain}; records for end-to-end security are only usable when secure.")),
        _ => Finding::new(id, Status::Info, format!("{address} publishes no {what} record"))
            .fix(format!("Publish `{owner}. 3600 IN {what} {example}` in the signed zone.")),
    };
    f.subject(address).lookup(&ans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_label_matches_rfc_7929_example() {
        // RFC 7929 §3: "hugh" -> c93f1e400f26708f98cb19d936620da35eec8f72e57f9eec01c1afd6
        assert_eq!(
            local_part_label("hugh"),
            "c93f1e400f26708f98cb19d936620da35eec8f72e57f9eec01c1afd6"
        );
    }
}
