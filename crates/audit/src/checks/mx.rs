//! `mx.present`, `mx.null`, `mx.cname`, `mx.resolvable`.

use futures_util::future::join_all;
use hickory_proto::rr::RData;
use mailtrust_dns::{Answer, DnssecStatus, Outcome, QueryType};

use crate::Auditor;
use crate::catalogue::CheckId;
use crate::finding::{Finding, Status, answered};

/// The MX records of an answer: (preference, exchange without trailing dot; "" for null MX).
pub(crate) fn mx_hosts(mx: &Answer) -> Vec<(u16, String)> {
    mx.rdatas()
        .filter_map(|r| match r {
            RData::MX(m) => Some((
                m.preference,
                m.exchange.to_ascii().trim_end_matches('.').to_lowercase(),
            )),
            _ => None,
        })
        .collect()
}

/// What the MX RRset says about mail to the domain.
pub(crate) enum MailRouting {
    /// MX hosts (a null MX mixed in is reported by `mx.null`).
    Hosts(Vec<String>),
    /// Only a null MX: the domain accepts no mail (RFC 7505).
    NullMx,
    /// No MX at all: senders fall back to the domain's own A/AAAA (RFC 5321 §5.1).
    NoMx,
}

pub(crate) fn routing(mx: &Answer) -> MailRouting {
    let hosts = mx_hosts(mx);
    let real: Vec<String> = hosts
        .iter()
        .filter(|(_, h)| !h.is_empty())
        .map(|(_, h)| h.clone())
        .collect();
    if !real.is_empty() {
        MailRouting::Hosts(real)
    } else if !hosts.is_empty() {
        MailRouting::NullMx
    } else {
        MailRouting::NoMx
    }
}

pub(crate) async fn run(a: &Auditor, domain: &str) -> Vec<Finding> {
    let mx = a.lookup(domain, QueryType::Mx).await;
    if !answered(&mx) {
        return [
            CheckId::MxPresent,
            CheckId::MxNull,
            CheckId::MxCname,
            CheckId::MxResolvable,
        ]
        .into_iter()
        .map(|id| Finding::inconclusive(id, &mx))
        .collect();
    }
    let mut out = Vec::new();
    if let DnssecStatus::Bogus(r) = &mx.dnssec {
        out.push(
            Finding::new(
                CheckId::MxPresent,
                Status::Fail,
                format!(
                    "the MX records fail DNSSEC validation ({r}); validating senders cannot deliver"
                ),
            )
            .lookup(&mx)
            .fix(format!("Fix the DNSSEC chain: {r}")),
        );
        return out;
    }
    let hosts = mx_hosts(&mx);
    let has_null = hosts.iter().any(|(_, h)| h.is_empty());
    match routing(&mx) {
        MailRouting::NoMx => {
            let why = if mx.outcome == Outcome::NxDomain {
                "the domain does not exist"
            } else {
                "no MX records"
            };
            out.push(
                Finding::new(CheckId::MxPresent, Status::Warn, format!("{why}: senders fall back to the domain's own A/AAAA records"))
                    .lookup(&mx)
                    .fix(format!(
                        "Publish the hosts that receive mail, e.g. `{domain}. 3600 IN MX 10 mail.{domain}.`, or a null MX `{domain}. 3600 IN MX 0 .` if the domain takes no mail."
                    )),
            );
            out.push(
                Finding::new(CheckId::MxNull, Status::NotApplicable, "no null MX").lookup(&mx),
            );
        }
        MailRouting::NullMx => {
            out.push(
                Finding::new(
                    CheckId::MxPresent,
                    Status::Pass,
                    "a null MX declares that the domain accepts no mail",
                )
                .lookup(&mx),
            );
            out.push(
                Finding::new(
                    CheckId::MxNull,
                    Status::Info,
                    "null MX: the domain accepts no mail (RFC 7505)",
                )
                .lookup(&mx),
            );
        }
        MailRouting::Hosts(ref h) => {
            out.push(
                Finding::new(
                    CheckId::MxPresent,
                    Status::Pass,
                    format!("{} MX host(s): {}", h.len(), h.join(", ")),
                )
                .lookup(&mx),
            );
            out.push(if has_null {
                Finding::new(CheckId::MxNull, Status::Fail, "a null MX is published beside other MX records")
                    .lookup(&mx)
                    .fix(format!("Remove `{domain}. MX 0 .`: a null MX must be the only MX record (RFC 7505 §3); or remove the others if the domain takes no mail."))
            } else {
                Finding::new(CheckId::MxNull, Status::NotApplicable, "no null MX").lookup(&mx)
            });
        }
    }
    let real: Vec<String> = match routing(&mx) {
        MailRouting::Hosts(h) => h,
        _ => Vec::new(),
    };
    if real.is_empty() {
        out.push(Finding::new(
            CheckId::MxCname,
            Status::NotApplicable,
            "no MX hosts",
        ));
        out.push(Finding::new(
            CheckId::MxResolvable,
            Status::NotApplicable,
            "no MX hosts",
        ));
        return out;
    }
    let per_host = join_all(real.iter().map(|h| host_findings(a, h))).await;
    out.extend(per_host.into_iter().flatten());
    out
}

async fn host_findings(a: &Auditor, host: &str) -> Vec<Finding> {
    let (v4, v6) = futures_util::join!(
        a.lookup(host, QueryType::A),
        a.lookup(host, QueryType::Aaaa)
    );
    let mut out = Vec::new();
    // mx.cname: the host name itself is an alias (RFC 2181 §10.3).
    let alias = [&v4, &v6].iter().find_map(|ans| {
        ans.records
            .iter()
            .find(|r| r.rtype == "CNAME" && r.name.trim_end_matches('.').eq_ignore_ascii_case(host))
            .map(|r| r.data.clone())
    });
    out.push(match (&alias, answered(&v4) || answered(&v6)) {
        (Some(target), _) => Finding::new(CheckId::MxCname, Status::Fail, format!("{host} is a CNAME to {target}"))
            .subject(host)
            .lookup(&v4)
            .fix(format!("Point the MX at the canonical name: replace `MX ... {host}.` with `MX ... {target}` (RFC 2181 §10.3).")),
        (None, true) => Finding::new(CheckId::MxCname, Status::Pass, format!("{host} is not an alias")).subject(host).lookup(&v4),
        (None, false) => Finding::inconclusive(CheckId::MxCname, &v4).subject(host),
    });
    let count = |ans: &Answer, t: &str| ans.records.iter().filter(|r| r.rtype == t).count();
    let addrs = count(&v4, "A") + count(&v6, "AAAA");
    let f = if addrs > 0 {
        let bogus = [&v4, &v6]
            .iter()
            .find_map(|x| x.dnssec.bogus_reason().map(ToString::to_string));
        match bogus {
            Some(r) => Finding::new(
                CheckId::MxResolvable,
                Status::Fail,
                format!("{host}'s addresses fail DNSSEC validation: {r}"),
            )
            .fix(format!("Fix the DNSSEC chain of {host}: {r}")),
            None => Finding::new(
                CheckId::MxResolvable,
                Status::Pass,
                format!(
                    "{host} has {} IPv4 and {} IPv6 address(es)",
                    count(&v4, "A"),
                    count(&v6, "AAAA")
                ),
            ),
        }
    } else if answered(&v4) && answered(&v6) {
        Finding::new(CheckId::MxResolvable, Status::Fail, format!("{host} has no A or AAAA records"))
            .fix(format!("Publish the address of the mail server, e.g. `{host}. 3600 IN A 192.0.2.25`, or point the MX at a host that has one."))
    } else {
        let failed = if answered(&v4) { &v6 } else { &v4 };
        Finding::new(
            CheckId::MxResolvable,
            Status::Inconclusive,
            format!(
                "{} {} gave no usable answer: {}",
                failed.name, failed.qtype, failed.outcome
            ),
        )
    };
    out.push(f.subject(host).lookup(&v4).lookup(&v6));
    out
}
