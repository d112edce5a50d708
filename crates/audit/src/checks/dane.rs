//! `dane.tlsa`: DANE for SMTP needs a DNSSEC-secure TLSA RRset at `_25._tcp.<mx>` (RFC 7672
//! §2.2). Matching the records against the server's certificate is the transport checks' job.

use futures_util::future::join_all;
use mailtrust_dns::{DnssecStatus, Outcome, QueryType};

use crate::Auditor;
use crate::catalogue::CheckId;
use crate::checks::mx::{MailRouting, routing};
use crate::finding::{Finding, Status, answered};

pub(crate) async fn run(a: &Auditor, domain: &str) -> Vec<Finding> {
    let mx = a.lookup(domain, QueryType::Mx).await;
    if !answered(&mx) {
        return vec![Finding::inconclusive(CheckId::DaneTlsa, &mx)];
    }
    let hosts = match routing(&mx) {
        MailRouting::Hosts(h) => h,
        _ => {
            return vec![
                Finding::new(CheckId::DaneTlsa, Status::NotApplicable, "no MX hosts").lookup(&mx),
            ];
        }
    };
    // RFC 7672 §2.2.1: DANE applies only when the MX RRset itself is secure.
    let mx_secure = mx.dnssec == DnssecStatus::Secure;
    join_all(hosts.iter().map(|h| host(a, h, mx_secure))).await
}

async fn host(a: &Auditor, host: &str, mx_secure: bool) -> Finding {
    // RFC 7672 §2.2.3: for an MX host that is a CNAME, DANE looks at the target's TLSA records
    // first and falls back to the MX name's.
    let target = crate::checks::host_addresses(a, host)
        .await
        .final_name(host);
    let mut owner = format!("_25._tcp.{host}");
    if target != host {
        let at_target = format!("_25._tcp.{target}");
        let t = a.lookup(&at_target, QueryType::Tlsa).await;
        if t.outcome == Outcome::Records {
            owner = at_target;
        }
    }
    let tlsa = a.lookup(&owner, QueryType::Tlsa).await;
    let example = format!(
        "`{owner}. 3600 IN TLSA 3 1 1 <SHA-256 of the server's public key>` (DANE-EE; publish the next key's record before a rollover)"
    );
    let f = match (&tlsa.outcome, &tlsa.dnssec) {
        (_, DnssecStatus::Bogus(r)) => Finding::new(CheckId::DaneTlsa, Status::Fail, format!("the TLSA records of {host} fail DNSSEC validation: {r}"))
            .fix(format!("Fix the DNSSEC chain ({r}); DANE senders will not deliver to {host} until then.")),
        (Outcome::ServFail, _) => {
            // RFC 7672 §2.2.2: a DANE sender must not deliver when the TLSA lookup fails in a
            // signed zone; mail waits in queues. Only a secure host zone makes this a failure.
            let host_a = a.lookup(host, QueryType::A).await;
            // RFC 7672 §2.2.1: with an insecure MX RRset no DANE sender looks up TLSA at all.
            if mx_secure && host_a.dnssec == DnssecStatus::Secure {
                Finding::new(CheckId::DaneTlsa, Status::Fail, format!("the TLSA lookup for {owner} fails (SERVFAIL) in a signed zone: DANE senders hold mail for {host}"))
                    .lookup(&host_a)
                    .fix(format!("Make {owner} answer (records, or a signed NXDOMAIN/NODATA); check the authoritative servers of {host}'s zone."))
            } else {
                Finding::inconclusive(CheckId::DaneTlsa, &tlsa)
            }
        }
        (o, _) if !o.is_answer() => return Finding::inconclusive(CheckId::DaneTlsa, &tlsa).subject(host),
        (Outcome::Records, DnssecStatus::Secure) if mx_secure => {
            Finding::new(CheckId::DaneTlsa, Status::Pass, format!("{host} publishes {} secure TLSA record(s)", tlsa.rdatas().count()))
        }
        (Outcome::Records, DnssecStatus::Secure) => Finding::new(
            CheckId::DaneTlsa,
            Status::Warn,
            format!("{host} has secure TLSA records but the domain's MX RRset is not secure, so DANE does not apply (RFC 7672 §2.2.1)"),
        )
        .fix("Sign the domain's zone so that its MX records validate; DANE needs both the MX and the TLSA records secure."),
        (Outcome::Records, _) => Finding::new(CheckId::DaneTlsa, Status::Warn, format!("{host}'s TLSA records are not DNSSEC-signed: an insecure TLSA is no DANE"))
            .fix(format!("Sign the zone of {host}; then {example}.")),
        _ => Finding::new(CheckId::DaneTlsa, Status::Warn, format!("{host} publishes no TLSA records"))
            .fix(format!("Publish {example} in a signed zone.")),
    };
    f.subject(host).lookup(&tlsa)
}
