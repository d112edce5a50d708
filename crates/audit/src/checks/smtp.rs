//! The SMTP transport checks, per MX host and per address (IPv4 and IPv6, port 25):
//! `smtp.starttls`, `smtp.tls-version`, `smtp.tls-ciphers`, `smtp.certificate`,
//! `smtp.certificate-expiry`, `dane.match`; per host `dane.rollover`; and, because the
//! certificate grade depends on it, the domain's `mta-sts.policy`.
//!
//! DANE follows RFC 7672 §2.2: it applies only when the MX RRset and the host's address records
//! are DNSSEC-secure and the TLSA RRset is secure. A bogus or failing TLSA lookup in a signed
//! zone makes DANE senders hold mail, so it fails rather than being inconclusive; a timeout stays
//! inconclusive.

use std::net::SocketAddr;
use std::time::SystemTime;

use futures_util::future::join_all;
use mailtrust_dns::{Answer, DnssecStatus, Outcome, QueryType};
use mailtrust_probe::dane::{self, RecordVerdict, Tlsa};
use mailtrust_probe::{Protocol, ServiceReport, Target, TlsResult};
use mailtrust_records::MtaStsMode;

use crate::catalogue::CheckId;
use crate::checks::mx::{MailRouting, routing};
use crate::checks::tls_grade::{self, Grade};
use crate::checks::{HostAddrs, host_addresses, mta_sts};
use crate::finding::{Finding, Status, trusted};
use crate::{Auditor, Probes};

pub(crate) async fn run(a: &Auditor, domain: &str) -> Vec<Finding> {
    let Some(p) = a.probes() else {
        return Vec::new();
    };
    let mx = a.lookup(domain, QueryType::Mx).await;
    if !trusted(&mx) {
        let f = match &mx.dnssec {
            DnssecStatus::Bogus(r) => Finding::new(
                CheckId::SmtpStarttls,
                Status::Inconclusive,
                format!("the MX records fail DNSSEC validation ({r}); there is no host to probe (see mx.present)"),
            )
            .lookup(&mx),
            _ => Finding::inconclusive(CheckId::SmtpStarttls, &mx),
        };
        return vec![f];
    }
    let hosts = match routing(&mx) {
        MailRouting::Hosts(h) => h,
        MailRouting::NullMx => {
            return vec![
                Finding::new(
                    CheckId::SmtpStarttls,
                    Status::NotApplicable,
                    "null MX: the domain accepts no mail",
                )
                .lookup(&mx),
            ];
        }
        // RFC 5321 §5.1: without MX records, the domain itself is the mail host.
        MailRouting::NoMx => vec![domain.to_string()],
    };
    let mx_secure = mx.dnssec == DnssecStatus::Secure;
    let sts = mta_sts::fetch(a, p, domain, &hosts).await;
    let per_host = join_all(hosts.iter().map(|h| host(a, p, h, mx_secure, sts.mode))).await;
    let mut out = sts.findings;
    out.extend(per_host.into_iter().flatten());
    out
}

/// Whether and how DANE applies to one MX host.
enum Dane {
    NotApplicable(String),
    Inconclusive(Box<Answer>),
    Failed {
        summary: String,
        lookup: Box<Answer>,
    },
    Usable {
        records: Vec<Tlsa>,
        lookup: Box<Answer>,
        base: String,
    },
}

async fn dane_state(a: &Auditor, host: &str, mx_secure: bool, addrs: &HostAddrs) -> Dane {
    if !mx_secure {
        return Dane::NotApplicable(
            "the domain's MX RRset is not DNSSEC-secure, so senders look for no TLSA records (RFC 7672 §2.2.1)".into(),
        );
    }
    if let Some(u) = addrs.unanswered() {
        // A timeout is not "insecure": no verdict on whether DANE applies.
        return Dane::Inconclusive(Box::new(u.clone()));
    }
    if !addrs.secure() {
        return Dane::NotApplicable(format!(
            "the address records of {host} are not DNSSEC-secure (RFC 7672 §2.2.2)"
        ));
    }
    let target = addrs.final_name(host);
    let mut bases = vec![target.clone()];
    if target != host {
        bases.push(host.to_string());
    }
    for base in bases {
        let owner = format!("_25._tcp.{base}");
        let mut t = a.lookup(&owner, QueryType::Tlsa).await;
        if t.outcome == Outcome::ServFail {
            // One retry: a transient failure must not fail the domain.
            t = a.lookup(&owner, QueryType::Tlsa).await;
        }
        match (&t.outcome, &t.dnssec) {
            (_, DnssecStatus::Bogus(r)) => {
                return Dane::Failed {
                    summary: format!(
                        "the TLSA records at {owner} fail DNSSEC validation ({r}): DANE senders hold mail for {host}"
                    ),
                    lookup: Box::new(t),
                };
            }
            (Outcome::ServFail, _) => {
                return Dane::Failed {
                    summary: format!(
                        "the TLSA lookup for {owner} fails (SERVFAIL, also on a retry) in a signed zone: DANE senders hold mail for {host} (RFC 7672 §2.2)"
                    ),
                    lookup: Box::new(t),
                };
            }
            (o, _) if !o.is_answer() => return Dane::Inconclusive(Box::new(t)),
            (Outcome::Records, DnssecStatus::Secure) => {
                let records: Vec<Tlsa> = t
                    .records
                    .iter()
                    .filter(|r| r.rtype == "TLSA")
                    .filter_map(|r| Tlsa::parse(&r.data).ok())
                    .collect();
                return Dane::Usable {
                    records,
                    lookup: Box::new(t),
                    base,
                };
            }
            (Outcome::Records, _) => {
                return Dane::NotApplicable(format!(
                    "the TLSA records of {host} are not DNSSEC-secure: an insecure TLSA is no DANE"
                ));
            }
            _ => {}
        }
    }
    Dane::NotApplicable(format!(
        "{host} publishes no TLSA records, so DANE is not in use (see dane.tlsa)"
    ))
}

async fn host(
    a: &Auditor,
    p: &Probes,
    host: &str,
    mx_secure: bool,
    mode: Option<MtaStsMode>,
) -> Vec<Finding> {
    let addrs = host_addresses(a, host).await;
    let ips = addrs.ips();
    if ips.is_empty() {
        let f = match addrs.unanswered() {
            Some(u) => Finding::inconclusive(CheckId::SmtpStarttls, u),
            None => Finding::new(
                CheckId::SmtpStarttls,
                Status::NotApplicable,
                format!("{host} has no addresses to probe (see mx.resolvable)"),
            ),
        };
        return vec![f.subject(host)];
    }
    let dane = dane_state(a, host, mx_secure, &addrs).await;
    // RFC 7672 §8.1: a DANE client sends the TLSA base domain as SNI (the CNAME target when
    // the records are there); probe as such a sender does.
    let sni = match &dane {
        Dane::Usable { base, .. } => base.clone(),
        _ => host.to_string(),
    };
    let reports = join_all(ips.iter().map(|ip| {
        p.prober.probe(Target {
            protocol: Protocol::Smtp,
            address: SocketAddr::new(*ip, 25),
            server_name: sni.clone(),
        })
    }))
    .await;
    let mut out = Vec::new();
    for r in &reports {
        out.extend(address_findings(p, host, r, &dane, mode));
    }
    out.push(rollover(host, &dane, &reports));
    out
}

fn starttls_fix(host: &str) -> String {
    format!(
        "Offer STARTTLS with a certificate for {host}. Postfix (main.cf): `smtpd_tls_security_level = may` and `smtpd_tls_chain_files = /etc/letsencrypt/live/{host}/privkey.pem, /etc/letsencrypt/live/{host}/fullchain.pem`; Exim: `tls_advertise_hosts = *` with `tls_certificate` and `tls_privatekey`."
    )
}

fn graded(id: CheckId, g: Grade, subject: &str, fix: String) -> Finding {
    let mut f = Finding::new(id, g.status, g.summary).subject(subject);
    for n in g.notes {
        f = f.note(n);
    }
    f.fix_if(matches!(g.status, Status::Fail | Status::Warn), fix)
}

fn address_findings(
    p: &Probes,
    host: &str,
    r: &ServiceReport,
    dane: &Dane,
    mode: Option<MtaStsMode>,
) -> Vec<Finding> {
    let subject = format!("{host} {}", r.target.address);
    let data = serde_json::to_value(r).unwrap_or_default();
    let mut out = Vec::new();
    let starttls = match &r.tls {
        TlsResult::Negotiated(seen) => Finding::new(
            CheckId::SmtpStarttls,
            Status::Pass,
            format!(
                "STARTTLS offered; {} with {} negotiated",
                seen.version, seen.cipher_suite
            ),
        ),
        TlsResult::NotOffered => Finding::new(
            CheckId::SmtpStarttls,
            Status::Fail,
            format!("{host} does not offer STARTTLS: mail to it travels in the clear"),
        )
        .fix(starttls_fix(host)),
        TlsResult::Failed { error } if error.is_unreachable() => Finding::new(
            CheckId::SmtpStarttls,
            Status::Inconclusive,
            format!("no verdict: {error}"),
        ),
        TlsResult::Failed { error } if tls_grade::scan_only(r).is_some() => {
            match tls_grade::scan_only(r).and_then(|s| s.modern) {
                None => Finding::new(
                    CheckId::SmtpStarttls,
                    Status::Warn,
                    format!("STARTTLS offered, but a TLS 1.2/1.3 handshake is refused ({error}); only an outdated protocol completes, so senders that require TLS 1.2 fall back to plaintext or defer (see smtp.tls-version)"),
                )
                .fix("Enable TLS 1.2 and 1.3 in the MTA (Postfix: `smtpd_tls_protocols = >=TLSv1.2`) and check its OpenSSL configuration (MinProtocol)."),
                Some(m) => Finding::new(
                    CheckId::SmtpStarttls,
                    Status::Warn,
                    format!("STARTTLS offered; a current client's handshake failed ({error}), but {m} is accepted from a client offering older key exchanges: the server probably lacks ECDHE"),
                )
                .fix("Enable ECDHE key exchange (Postfix: the default `tls_eecdh_auto_curves`; check `smtpd_tls_exclude_ciphers` and the OpenSSL configuration)."),
            }
        }
        TlsResult::Failed { error } => Finding::new(
            CheckId::SmtpStarttls,
            Status::Fail,
            format!("the server is broken: {error}; senders cannot use TLS"),
        )
        .fix(format!(
            "Look at the MTA's TLS log for this address; check that its key and certificate files belong together and that the EHLO reply is normal. {}",
            starttls_fix(host)
        )),
    };
    let starttls_status = starttls.status;
    out.push(starttls.subject(&subject).data(data));
    let version_fix = "Allow only TLS 1.2 and 1.3. Postfix (main.cf): `smtpd_tls_protocols = >=TLSv1.2` and `smtpd_tls_mandatory_protocols = >=TLSv1.2`; Exim: `openssl_options = +no_sslv3 +no_tlsv1 +no_tlsv1_1`.";
    let ciphers_fix = "Exclude weak suites. Postfix (main.cf): `smtpd_tls_exclude_ciphers = aNULL, eNULL, EXPORT, DES, 3DES, RC4, MD5` (and the same for `smtpd_tls_mandatory_exclude_ciphers`); Exim: `tls_require_ciphers = HIGH:!aNULL:!eNULL:!3DES:!RC4`.";
    // The version grade comes from the handshake or, when only hand-built hellos got an answer
    // (a server that speaks nothing current), from those.
    let version = match &r.tls {
        TlsResult::Negotiated(seen) => Some(tls_grade::version(r, seen)),
        TlsResult::Failed { .. } => {
            tls_grade::scan_only(r).map(|so| tls_grade::scan_only_version(r, &so))
        }
        TlsResult::NotOffered => None,
    };
    let Some(version) = version else {
        let (status, why) = if starttls_status == Status::Inconclusive {
            (
                Status::Inconclusive,
                "no TLS session to grade (the probe got no verdict; see smtp.starttls)",
            )
        } else {
            (
                Status::NotApplicable,
                "no TLS session to grade (see smtp.starttls)",
            )
        };
        for id in [
            CheckId::SmtpTlsVersion,
            CheckId::SmtpTlsCiphers,
            CheckId::SmtpCertificate,
            CheckId::SmtpCertificateExpiry,
        ] {
            out.push(Finding::new(id, status, why).subject(&subject));
        }
        out.push(dane_match(host, &subject, r, dane));
        return out;
    };
    out.push(graded(
        CheckId::SmtpTlsVersion,
        version,
        &subject,
        version_fix.into(),
    ));
    out.push(graded(
        CheckId::SmtpTlsCiphers,
        tls_grade::ciphers(r),
        &subject,
        ciphers_fix.into(),
    ));
    let TlsResult::Negotiated(seen) = &r.tls else {
        for id in [CheckId::SmtpCertificate, CheckId::SmtpCertificateExpiry] {
            out.push(
                Finding::new(
                    id,
                    Status::NotApplicable,
                    "no completed handshake to take the certificate from (see smtp.starttls)",
                )
                .subject(&subject),
            );
        }
        out.push(dane_match(host, &subject, r, dane));
        return out;
    };
    let cert_fix = format!(
        "Install a certificate from a public CA (e.g. via ACME) whose names include {host}, with its intermediate certificates. Postfix: `smtpd_tls_chain_files = /etc/letsencrypt/live/{host}/privkey.pem, /etc/letsencrypt/live/{host}/fullchain.pem`."
    );
    match tls_grade::certificate(seen, host, &p.roots) {
        Err(e) => {
            out.push(
                Finding::new(
                    CheckId::SmtpCertificate,
                    Status::Fail,
                    format!("the certificate cannot be read: {e}"),
                )
                .subject(&subject)
                .fix(cert_fix),
            );
        }
        Ok(view) => {
            let dane_decides = matches!(dane, Dane::Usable { .. });
            let leaf = tls_grade::leaf_text(&view);
            let problems = view.problems.join("; ");
            let (status, summary) = if dane_decides {
                (
                    Status::Info,
                    if view.problems.is_empty() {
                        format!(
                            "DANE applies, so the TLSA records decide (dane.match); the certificate is also WebPKI-valid: {leaf}"
                        )
                    } else {
                        format!(
                            "DANE applies, so the TLSA records decide (dane.match); WebPKI would object: {problems}"
                        )
                    },
                )
            } else if view.problems.is_empty() {
                (Status::Pass, leaf)
            } else {
                match mode {
                    Some(MtaStsMode::Enforce) => (
                        Status::Fail,
                        format!(
                            "{problems}: the domain's MTA-STS policy (mode enforce) makes senders refuse this certificate"
                        ),
                    ),
                    Some(MtaStsMode::Testing) => (
                        Status::Warn,
                        format!(
                            "{problems}: MTA-STS senders (mode testing) report this certificate as a failure"
                        ),
                    ),
                    _ => (
                        Status::Warn,
                        format!(
                            "{problems}: opportunistic senders still deliver, but senders that authenticate the server (as MTA-STS would make them) refuse it"
                        ),
                    ),
                }
            };
            let data = serde_json::to_value(&view.report).unwrap_or_default();
            out.push(
                Finding::new(CheckId::SmtpCertificate, status, summary)
                    .subject(&subject)
                    .data(data)
                    .fix_if(matches!(status, Status::Fail | Status::Warn), cert_fix),
            );
            let exp = tls_grade::expiry(&view);
            out.push(graded(
                CheckId::SmtpCertificateExpiry,
                exp,
                &subject,
                format!("Renew the certificate of {host} (automate it: ACME clients renew 30 days ahead) and reload the MTA."),
            ));
        }
    }
    out.push(dane_match(host, &subject, r, dane));
    out
}

fn dane_match(host: &str, subject: &str, r: &ServiceReport, dane: &Dane) -> Finding {
    let id = CheckId::DaneMatch;
    let f = match dane {
        Dane::NotApplicable(why) => Finding::new(id, Status::NotApplicable, why.clone()),
        Dane::Inconclusive(ans) => Finding::inconclusive(id, ans),
        Dane::Failed { summary, lookup } => Finding::new(id, Status::Fail, summary.clone())
            .lookup(lookup)
            .fix(format!(
                "Make _25._tcp.{host} answer with validly signed records (or a signed NXDOMAIN): check the signatures and the authoritative servers of its zone. MTA-STS does not override a failing DANE result (RFC 8461 §2)."
            )),
        Dane::Usable {
            records,
            lookup,
            base,
        } => {
            let f = match &r.tls {
                TlsResult::Negotiated(seen) => {
                    let names = if base == host {
                        vec![host.to_string()]
                    } else {
                        vec![host.to_string(), base.clone()]
                    };
                    let report = dane::verify(&seen.chain, records, &names, SystemTime::now());
                    let data = serde_json::to_value(&report).unwrap_or_default();
                    let current = seen
                        .chain
                        .first()
                        .and_then(|leaf| Tlsa::for_certificate(3, 1, 1, leaf).ok())
                        .map(|t| format!("`_25._tcp.{base}. IN TLSA {t}`"))
                        .unwrap_or_else(|| "a TLSA 3 1 1 record of the server's key".into());
                    let f = if report.matched.is_some() {
                        Finding::new(id, Status::Pass, report.detail.clone())
                    } else if report.usable == 0 {
                        Finding::new(
                            id,
                            Status::Warn,
                            format!("no TLSA record is usable for SMTP: {}", report.detail),
                        )
                        .fix(format!("Publish DANE-EE records, e.g. {current} (PKIX usages 0 and 1 are unusable for SMTP, RFC 7672 §3.1.3)."))
                    } else {
                        Finding::new(id, Status::Fail, report.detail.clone())
                            .fix(format!("Publish {current} for the key the server uses now (keep the old record until caches expire), or put back the key the records describe. MTA-STS does not override a failing DANE result (RFC 8461 §2)."))
                    };
                    f.data(data)
                }
                TlsResult::NotOffered => Finding::new(
                    id,
                    Status::Fail,
                    format!("{host} has secure TLSA records but offers no STARTTLS: DANE senders will not deliver (RFC 7672 §2.2)"),
                )
                .fix(starttls_fix(host)),
                TlsResult::Failed { error } if error.is_unreachable() => {
                    Finding::new(id, Status::Inconclusive, format!("no verdict: {error}"))
                }
                TlsResult::Failed { error } if tls_grade::scan_only(r).is_some() => Finding::new(
                    id,
                    Status::Inconclusive,
                    format!("the server's chain could not be seen: mailtrust's handshake failed ({error}) although the server speaks TLS to other clients"),
                ),
                TlsResult::Failed { error } => Finding::new(
                    id,
                    Status::Fail,
                    format!("DANE senders cannot complete TLS with {host}: {error}"),
                ),
            };
            f.lookup(lookup)
        }
    };
    f.subject(subject)
}

fn rollover(host: &str, dane: &Dane, reports: &[std::sync::Arc<ServiceReport>]) -> Finding {
    let id = CheckId::DaneRollover;
    let Dane::Usable { records, base, .. } = dane else {
        return Finding::new(
            id,
            Status::NotApplicable,
            "DANE does not apply (see dane.match)",
        )
        .subject(host);
    };
    let fix = format!(
        "Before replacing the key of {host}, publish the next key's record beside the current one: `_25._tcp.{base}. IN TLSA 3 1 1 <SHA-256 of the next key's SubjectPublicKeyInfo>`; remove the old record once the new key is in use and caches have expired (RFC 7671 §8.1)."
    );
    let chain = reports
        .iter()
        .find_map(|r| r.negotiated())
        .map(|s| &s.chain);
    let (status, summary) = match chain {
        Some(chain) => {
            let report = dane::verify(chain, records, &[host.to_string()], SystemTime::now());
            let usable: Vec<&(Tlsa, RecordVerdict)> = report
                .records
                .iter()
                .filter(|(_, v)| !matches!(v, RecordVerdict::Unusable(_)))
                .collect();
            if usable
                .iter()
                .any(|(t, v)| t.usage == 2 && *v == RecordVerdict::Matched)
            {
                (
                    Status::Pass,
                    "a DANE-TA(2) record survives changes of the server's own key".to_string(),
                )
            } else if usable.iter().any(|(_, v)| *v == RecordVerdict::Matched)
                && usable.iter().any(|(_, v)| *v == RecordVerdict::NoMatch)
            {
                (
                    Status::Pass,
                    format!(
                        "{} usable TLSA records, including one for a key not yet in use: ready for a rollover",
                        usable.len()
                    ),
                )
            } else if usable.is_empty() {
                (
                    Status::NotApplicable,
                    "no usable TLSA record (see dane.match)".to_string(),
                )
            } else {
                (Status::Warn, "every usable TLSA record matches the current key only: a new key breaks DANE delivery until its record is published and cached".to_string())
            }
        }
        None => {
            let usable = records
                .iter()
                .filter(|t| t.usage == 2 || t.usage == 3)
                .count();
            if usable >= 2 {
                (Status::Pass, format!("{usable} usable TLSA records"))
            } else {
                (
                    Status::Warn,
                    "one usable TLSA record only (no TLS session showed which key the server uses)"
                        .to_string(),
                )
            }
        }
    };
    Finding::new(id, status, summary)
        .subject(host)
        .fix_if(status == Status::Warn, fix)
}
