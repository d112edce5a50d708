//! Mail access and submission (SP 800-177 §8, RFC 8314): `imap.tls`, `pop3.tls`,
//! `submission.tls` and the `*.plaintext-auth` checks, for hosts found through RFC 6186/8314 SRV
//! records or given with `--mailhost`.
//!
//! A host given by hand is probed on all six standard ports; a refused connection there means
//! "not offered" (not applicable). For a host published in an SRV record, a refused connection is
//! inconclusive: the record says the service is there.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use futures_util::future::join_all;
use hickory_proto::rr::RData;
use mailtrust_dns::QueryType;
use mailtrust_probe::{LoginBeforeTls, ProbeError, Protocol, ServiceReport, Target, TlsResult};

use crate::catalogue::CheckId;
use crate::checks::host_addresses;
use crate::checks::tls_grade;
use crate::finding::{Finding, Status, trusted};
use crate::{Auditor, Probes};

/// The SRV owner labels of RFC 6186 and RFC 8314, with the protocol each announces.
const SRV_LABELS: [(&str, Protocol); 6] = [
    ("_submissions._tcp", Protocol::Submissions),
    ("_submission._tcp", Protocol::Submission),
    ("_imaps._tcp", Protocol::Imaps),
    ("_imap._tcp", Protocol::Imap),
    ("_pop3s._tcp", Protocol::Pop3s),
    ("_pop3._tcp", Protocol::Pop3),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Imap,
    Pop3,
    Submission,
}

impl Family {
    fn of(p: Protocol) -> Option<Family> {
        match p {
            Protocol::Imap | Protocol::Imaps => Some(Family::Imap),
            Protocol::Pop3 | Protocol::Pop3s => Some(Family::Pop3),
            Protocol::Submission | Protocol::Submissions => Some(Family::Submission),
            Protocol::Smtp => None,
        }
    }

    fn tls_id(self) -> CheckId {
        match self {
            Family::Imap => CheckId::ImapTls,
            Family::Pop3 => CheckId::Pop3Tls,
            Family::Submission => CheckId::SubmissionTls,
        }
    }

    fn plaintext_id(self) -> CheckId {
        match self {
            Family::Imap => CheckId::ImapPlaintextAuth,
            Family::Pop3 => CheckId::Pop3PlaintextAuth,
            Family::Submission => CheckId::SubmissionPlaintextAuth,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Family::Imap => "IMAP",
            Family::Pop3 => "POP3",
            Family::Submission => "submission",
        }
    }

    fn tls_fix(self, host: &str) -> String {
        match self {
            Family::Imap | Family::Pop3 => format!(
                "Dovecot 2.3: `ssl = required`, `ssl_min_protocol = TLSv1.2`, `ssl_cert = </etc/letsencrypt/live/{host}/fullchain.pem`, `ssl_key = </etc/letsencrypt/live/{host}/privkey.pem` (2.4: `ssl_server_cert_file`, `ssl_server_key_file`); prefer implicit TLS (993/995, RFC 8314)."
            ),
            Family::Submission => format!(
                "Postfix (master.cf, submission and submissions services): `-o smtpd_tls_security_level=encrypt`, with `smtpd_tls_chain_files = /etc/letsencrypt/live/{host}/privkey.pem, /etc/letsencrypt/live/{host}/fullchain.pem` and `smtpd_tls_protocols = >=TLSv1.2`."
            ),
        }
    }

    fn plaintext_fix(self) -> &'static str {
        match self {
            Family::Imap | Family::Pop3 => {
                "Dovecot: `disable_plaintext_auth = yes` (2.3) or `auth_allow_cleartext = no` (2.4); better, close the plaintext port and offer only implicit TLS (RFC 8314 §3.3)."
            }
            Family::Submission => {
                "Postfix (master.cf, submission service): `-o smtpd_tls_security_level=encrypt -o smtpd_tls_auth_only=yes`."
            }
        }
    }
}

/// Where a target came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Origin {
    Srv,
    Given,
}

pub(crate) async fn run(a: &Auditor, domain: &str) -> Vec<Finding> {
    let Some(p) = a.probes() else {
        return Vec::new();
    };
    let answers = join_all(SRV_LABELS.iter().map(|(label, proto)| async move {
        (
            *proto,
            a.lookup(&format!("{label}.{domain}"), QueryType::Srv).await,
        )
    }))
    .await;
    let mut out = Vec::new();
    let mut services: BTreeSet<(Protocol, String, u16, Origin)> = BTreeSet::new();
    let mut declined: Vec<Protocol> = Vec::new();
    for (proto, ans) in &answers {
        let Some(fam) = Family::of(*proto) else {
            continue;
        };
        if !trusted(ans) {
            // One finding per family: the second SRV name of a broken zone says nothing new.
            if out.iter().any(|f: &Finding| f.id == fam.tls_id()) {
                continue;
            }
            let f = match &ans.dnssec {
                mailtrust_dns::DnssecStatus::Bogus(r) => Finding::new(
                    fam.tls_id(),
                    Status::Inconclusive,
                    format!(
                        "the {} SRV records fail DNSSEC validation ({r}): clients cannot discover the service",
                        fam.name()
                    ),
                )
                .lookup(ans),
                _ => Finding::inconclusive(fam.tls_id(), ans),
            };
            out.push(f);
            continue;
        }
        for r in ans.rdatas() {
            if let RData::SRV(s) = r {
                let target = s
                    .target
                    .to_ascii()
                    .trim_end_matches('.')
                    .to_ascii_lowercase();
                if target.is_empty() {
                    // RFC 6186 §3.4: a target of "." says the service is not offered.
                    declined.push(*proto);
                } else {
                    services.insert((*proto, target, s.port, Origin::Srv));
                }
            }
        }
    }
    for host in &a.options().mailhosts {
        for (_, proto) in SRV_LABELS {
            services.insert((
                proto,
                host.to_ascii_lowercase(),
                proto.default_port(),
                Origin::Given,
            ));
        }
    }
    // A service published by SRV and given by hand is probed once, as published.
    let mut seen = BTreeSet::new();
    let services: Vec<(Protocol, String, u16, Origin)> = services
        .into_iter()
        .filter(|(p, h, port, _)| seen.insert((*p, h.clone(), *port)))
        .collect();
    for fam in [Family::Imap, Family::Pop3, Family::Submission] {
        if !services.iter().any(|(p, ..)| Family::of(*p) == Some(fam)) {
            let why = if declined.iter().any(|p| Family::of(*p) == Some(fam)) {
                format!(
                    "the domain's SRV records say it offers no {} service",
                    fam.name()
                )
            } else {
                format!(
                    "no {} service is published (RFC 6186 SRV records) and none was given with --mailhost",
                    fam.name()
                )
            };
            out.push(Finding::new(fam.tls_id(), Status::NotApplicable, why));
        }
    }
    let per_service = join_all(
        services
            .iter()
            .map(|(proto, host, port, origin)| service(a, p, *proto, host, *port, *origin)),
    )
    .await;
    out.extend(per_service.into_iter().flatten());
    out
}

async fn service(
    a: &Auditor,
    p: &Probes,
    proto: Protocol,
    host: &str,
    port: u16,
    origin: Origin,
) -> Vec<Finding> {
    let Some(fam) = Family::of(proto) else {
        return Vec::new();
    };
    let ha = host_addresses(a, host).await;
    let ips = ha.ips();
    if ips.is_empty() {
        let f = match ha.unanswered() {
            Some(u) => Finding::inconclusive(fam.tls_id(), u),
            None => Finding::new(
                fam.tls_id(),
                Status::Fail,
                format!("{host} ({proto} on port {port}) has no addresses"),
            )
            .lookup(&ha.v4)
            .lookup(&ha.v6),
        };
        return vec![f.subject(format!("{host}:{port}"))];
    }
    let reports = join_all(ips.iter().map(|ip| {
        p.prober.probe(Target {
            protocol: proto,
            address: SocketAddr::new(*ip, port),
            server_name: host.to_string(),
        })
    }))
    .await;
    reports
        .iter()
        .flat_map(|r| findings(p, fam, host, r, origin))
        .collect()
}

fn findings(
    p: &Probes,
    fam: Family,
    host: &str,
    r: &ServiceReport,
    origin: Origin,
) -> Vec<Finding> {
    let proto = r.target.protocol;
    let subject = format!("{host} {} ({proto})", r.target.address);
    let data = serde_json::to_value(r).unwrap_or_default();
    let closed = matches!(
        &r.tls,
        TlsResult::Failed {
            error: ProbeError::Refused
        }
    ) && origin == Origin::Given;
    if closed {
        return vec![
            Finding::new(
                fam.tls_id(),
                Status::NotApplicable,
                format!(
                    "nothing listens on port {} ({proto} not offered)",
                    r.target.address.port()
                ),
            )
            .subject(subject),
        ];
    }
    let mut out = Vec::new();
    let tls = match &r.tls {
        TlsResult::Negotiated(seen) => {
            let v = tls_grade::version(r, seen);
            let c = tls_grade::ciphers(r);
            let mut status = Status::worst(v.status, c.status);
            let mut parts = vec![v.summary];
            if c.status != Status::NotApplicable {
                parts.push(c.summary);
            }
            let mut notes = v.notes;
            notes.extend(c.notes);
            match tls_grade::certificate(seen, host, &p.roots) {
                Ok(view) => {
                    let e = tls_grade::expiry(&view);
                    if view.problems.is_empty() {
                        notes.push(format!("certificate: {}", tls_grade::leaf_text(&view)));
                        if e.status != Status::Pass {
                            status = Status::worst(status, e.status);
                            parts.push(e.summary);
                        }
                    } else {
                        // Mail clients check certificates: an invalid one is a failure here.
                        status = Status::Fail;
                        parts.push(format!("certificate: {}", view.problems.join("; ")));
                    }
                }
                Err(e) => {
                    status = Status::Fail;
                    parts.push(format!("the certificate cannot be read: {e}"));
                }
            }
            let mut f = Finding::new(fam.tls_id(), status, parts.join("; "));
            for n in notes {
                f = f.note(n);
            }
            f.fix_if(
                matches!(status, Status::Fail | Status::Warn),
                fam.tls_fix(host),
            )
        }
        TlsResult::NotOffered => Finding::new(
            fam.tls_id(),
            Status::Fail,
            format!(
                "no {} on port {}: passwords and mail travel in the clear",
                proto.starttls_command(),
                r.target.address.port()
            ),
        )
        .fix(fam.tls_fix(host)),
        TlsResult::Failed { error } if error.is_unreachable() => Finding::new(
            fam.tls_id(),
            Status::Inconclusive,
            format!("no verdict: {error}"),
        ),
        TlsResult::Failed { error } => {
            let why = match tls_grade::scan_only(r) {
                Some(so) => format!(
                    "a current client's handshake fails ({error}); {}",
                    tls_grade::scan_only_version(r, &so).summary
                ),
                None => format!("the server is broken: {error}"),
            };
            Finding::new(fam.tls_id(), Status::Fail, why).fix(fam.tls_fix(host))
        }
    };
    out.push(tls.subject(&subject).data(data));
    if !proto.implicit_tls() {
        let id = fam.plaintext_id();
        let f = match (&r.plain, &r.tls) {
            (Some(plain), _) => match &plain.login_before_tls {
                LoginBeforeTls::Possible { evidence } => Finding::new(
                    id,
                    Status::Fail,
                    format!("login is possible before TLS: {evidence}"),
                )
                .fix(fam.plaintext_fix()),
                LoginBeforeTls::Refused { evidence } => {
                    Finding::new(id, Status::Pass, evidence.clone())
                }
            },
            (None, TlsResult::Failed { error }) => Finding::new(
                id,
                Status::Inconclusive,
                format!("the dialogue did not get that far: {error}"),
            ),
            (None, _) => Finding::new(id, Status::Inconclusive, "no plaintext dialogue was seen"),
        };
        out.push(f.subject(subject));
    }
    out
}
