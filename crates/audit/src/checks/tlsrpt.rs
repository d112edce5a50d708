//! `tls-rpt.reachable`: each destination of the TLS-RPT record can take reports (RFC 8460 §3):
//! an https: endpoint completes a handshake with a valid certificate (reporters POST to it over
//! authenticated TLS); a mailto: address's domain has somewhere to deliver.

use futures_util::future::join_all;
use mailtrust_dns::{Outcome, QueryType};
use mailtrust_probe::http::FetchError;
use mailtrust_records::{ReportUri, TlsRptRecord, is_tls_rpt_record};

use crate::catalogue::CheckId;
use crate::checks::mx::{MailRouting, routing};
use crate::checks::tls_grade::CertView;
use crate::checks::{host_addresses, txt};
use crate::finding::{Finding, Status, answered, trusted};
use crate::{Auditor, Probes};

pub(crate) async fn run(a: &Auditor, domain: &str) -> Vec<Finding> {
    let id = CheckId::TlsRptReachable;
    let Some(p) = a.probes() else {
        return Vec::new();
    };
    let rpt = a
        .lookup(&format!("_smtp._tls.{domain}"), QueryType::Txt)
        .await;
    if !answered(&rpt) {
        return vec![Finding::inconclusive(id, &rpt)];
    }
    let records = txt::matching(&rpt, is_tls_rpt_record);
    let rec = match records.as_slice() {
        [one] => TlsRptRecord::parse(one),
        _ => {
            return vec![Finding::new(
                id,
                Status::NotApplicable,
                "no single TLS-RPT record (see tls-rpt.record)",
            )];
        }
    };
    if rec.rua.is_empty() {
        return vec![Finding::new(
            id,
            Status::NotApplicable,
            "the TLS-RPT record names no destination (see tls-rpt.record)",
        )];
    }
    join_all(rec.rua.iter().map(|u| destination(a, p, u))).await
}

/// The host and port of an `https://host[:port]/path` URI.
fn https_host(uri: &str) -> Option<(String, u16)> {
    let rest = uri
        .get(..8)
        .filter(|s| s.eq_ignore_ascii_case("https://"))
        .and_then(|_| uri.get(8..))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let hostport = authority.rsplit('@').next()?;
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (h, after.strip_prefix(':'))
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = match port {
        None | Some("") => 443,
        Some(p) => p.parse().ok()?,
    };
    (!host.is_empty()).then(|| (host.trim_end_matches('.').to_ascii_lowercase(), port))
}

async fn destination(a: &Auditor, p: &Probes, u: &ReportUri) -> Finding {
    let id = CheckId::TlsRptReachable;
    let f = match u.scheme.as_str() {
        "https" => match https_host(&u.uri) {
            None => Finding::new(id, Status::Fail, format!("{} has no host", u.uri)),
            Some((host, port)) => {
                // An IP literal needs no lookup.
                let literal: Option<std::net::IpAddr> = host.parse().ok();
                let ha = host_addresses(a, &host).await;
                let ips = match literal {
                    Some(ip) => vec![ip],
                    None => ha.ips(),
                };
                if ips.is_empty() {
                    match ha.unanswered() {
                        Some(un) => Finding::inconclusive(id, un),
                        None => Finding::new(
                            id,
                            Status::Fail,
                            format!("{host} has no addresses: reports cannot be posted"),
                        )
                        .lookup(&ha.v4)
                        .lookup(&ha.v6),
                    }
                } else {
                    match p.prober.https_tls_port(&host, &ips, port, &p.roots).await {
                        Ok(tls) => {
                            let view = CertView::from_report(tls.certificate, &host);
                            if view.problems.is_empty() {
                                Finding::new(
                                    id,
                                    Status::Pass,
                                    format!(
                                        "{host} ({}) completes {} with a valid certificate",
                                        tls.address, tls.version
                                    ),
                                )
                            } else {
                                Finding::new(
                                    id,
                                    Status::Fail,
                                    format!(
                                        "the certificate of {host} is not valid ({}): reporters will not post to it",
                                        view.problems.join("; ")
                                    ),
                                )
                                .fix(format!("Serve {host} with a certificate from a public CA that names it."))
                            }
                        }
                        Err(e @ FetchError::Timeout { .. }) => {
                            Finding::new(id, Status::Inconclusive, format!("no verdict: {e}"))
                        }
                        Err(FetchError::Unreachable { error, host: h })
                            if error.is_unreachable() =>
                        {
                            Finding::new(
                                id,
                                Status::Inconclusive,
                                format!("no verdict: cannot reach {h}: {error}"),
                            )
                        }
                        Err(e) => Finding::new(id, Status::Fail, e.to_string()),
                    }
                }
            }
        },
        "mailto" => {
            let domain = u
                .address
                .as_deref()
                .and_then(|addr| addr.rsplit_once('@'))
                .map(|(_, d)| d.to_string());
            match domain {
                None => Finding::new(id, Status::Fail, format!("{} has no address", u.uri)),
                Some(d) => mailto_domain(a, &d).await,
            }
        }
        other => Finding::new(
            id,
            Status::Fail,
            format!("reporters only use mailto: and https:, not {other}:"),
        ),
    };
    f.subject(u.uri.clone())
}

async fn mailto_domain(a: &Auditor, d: &str) -> Finding {
    let id = CheckId::TlsRptReachable;
    let mx = a.lookup(d, QueryType::Mx).await;
    if !trusted(&mx) {
        return Finding::inconclusive(id, &mx);
    }
    let f = match (routing(&mx), mx.outcome) {
        (MailRouting::Hosts(h), _) => Finding::new(
            id,
            Status::Pass,
            format!("{d} receives mail through {}", h.join(", ")),
        ),
        (MailRouting::NullMx, _) => Finding::new(
            id,
            Status::Fail,
            format!("{d} publishes a null MX: it accepts no mail, so reports bounce"),
        )
        .fix("Send reports to an address whose domain receives mail."),
        (MailRouting::NoMx, Outcome::NxDomain) => Finding::new(
            id,
            Status::Fail,
            format!("{d} does not exist: reports bounce"),
        )
        .fix("Send reports to an address whose domain receives mail."),
        (MailRouting::NoMx, _) => {
            let ha = host_addresses(a, d).await;
            if ha.ips().is_empty() {
                match ha.unanswered() {
                    Some(un) => Finding::inconclusive(id, un),
                    None => Finding::new(
                        id,
                        Status::Fail,
                        format!(
                            "{d} has neither MX nor address records: reports cannot be delivered"
                        ),
                    ),
                }
            } else {
                Finding::new(
                    id,
                    Status::Warn,
                    format!("{d} has no MX records; senders fall back to its address records"),
                )
                .fix(format!("Publish an MX record for {d}."))
            }
        }
    };
    f.lookup(&mx)
}

#[cfg(test)]
mod tests {
    use super::https_host;

    #[test]
    fn hosts_of_https_uris() {
        let h = |u: &str| https_host(u);
        assert_eq!(
            h("https://r.example/tlsrpt"),
            Some(("r.example".into(), 443))
        );
        assert_eq!(
            h("HTTPS://R.Example:8443"),
            Some(("r.example".into(), 8443))
        );
        assert_eq!(
            h("https://u@[2001:db8::1]:444/x"),
            Some(("2001:db8::1".into(), 444))
        );
        assert_eq!(
            h("https://[2001:db8::1]/x"),
            Some(("2001:db8::1".into(), 443))
        );
        assert_eq!(h("https://r.example:99999/"), None);
        assert_eq!(h("https:///x"), None);
        assert_eq!(h("mailto:x@y"), None);
        assert_eq!(h("https://é"), Some(("é".into(), 443)));
        assert_eq!(h("httpsé//x"), None);
    }
}
