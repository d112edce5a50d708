//! `bod1801.summary`: the email part of CISA Binding Operational Directive 18-01 as an agency
//! domain would be judged: a valid SPF record, DMARC p=reject with
//! `reports@dmarc.cyber.dhs.gov` among the aggregate report destinations, and (when probes run)
//! STARTTLS everywhere without SSLv2/v3, RC4 or 3DES. The web (HTTPS/HSTS) part is out of scope.
//!
//! It summarises the other findings, so it runs after them. For `.gov` and `.mil` domains it is a
//! verdict (pass or fail); for everyone else it is information.

use crate::catalogue::CheckId;
use crate::finding::{Finding, Status};

/// The DHS/CISA address every federal DMARC record must send aggregate reports to.
pub(crate) const CISA_RUA: &str = "reports@dmarc.cyber.dhs.gov";

pub(crate) fn summarize(domain: &str, findings: &[Finding]) -> Finding {
    let status_of = |id: CheckId| {
        findings
            .iter()
            .filter(|f| f.id == id)
            .map(|f| f.status)
            .reduce(Status::worst)
    };
    let mut missing = Vec::new();
    let mut unknown = Vec::new();
    for (id, what) in [
        (CheckId::SpfPresent, "an SPF record"),
        (CheckId::SpfSingle, "a single SPF record"),
        (CheckId::SpfSyntax, "a valid SPF record"),
        (CheckId::SpfLookups, "SPF within 10 lookups"),
        (CheckId::DmarcPresent, "a DMARC record"),
        (CheckId::DmarcPolicy, "DMARC p=reject"),
    ] {
        match status_of(id) {
            Some(Status::Pass) => {}
            Some(Status::Inconclusive) | None => unknown.push(what),
            Some(_) => missing.push(what),
        }
    }
    let rua_has_cisa = findings
        .iter()
        .filter(|f| f.id == CheckId::DmarcRua)
        .filter_map(|f| f.evidence.data.as_ref())
        .filter_map(|d| d["rua"].as_array())
        .flatten()
        .any(|u| {
            u.as_str()
                .is_some_and(|u| u.eq_ignore_ascii_case(&format!("mailto:{CISA_RUA}")))
        });
    match status_of(CheckId::DmarcRua) {
        Some(Status::Inconclusive) | None => unknown.push("the DMARC report destinations"),
        _ if !rua_has_cisa => missing.push("rua including mailto:reports@dmarc.cyber.dhs.gov"),
        _ => {}
    }
    // The STARTTLS part: only when this run probed the MX hosts.
    let probed = status_of(CheckId::SmtpStarttls).is_some();
    if probed {
        for (id, what) in [
            (CheckId::SmtpStarttls, "STARTTLS on every MX address"),
            (CheckId::SmtpTlsVersion, "no SSLv3/TLS 1.0/TLS 1.1"),
            (CheckId::SmtpTlsCiphers, "no RC4/3DES"),
        ] {
            match status_of(id) {
                Some(Status::Pass | Status::NotApplicable) => {}
                Some(Status::Inconclusive) | None => unknown.push(what),
                Some(_) => missing.push(what),
            }
        }
    }
    let federal = domain.ends_with(".gov") || domain.ends_with(".mil");
    let partial = if probed {
        "the STARTTLS part was checked on every MX address; the web part (HTTPS/HSTS) is out of scope"
    } else {
        "the STARTTLS part of the directive needs the transport probes, which this run did not make"
    };
    let f = if !unknown.is_empty() && missing.is_empty() {
        Finding::new(
            CheckId::Bod1801Summary,
            Status::Inconclusive,
            format!("could not decide: {} unknown", unknown.join(", ")),
        )
    } else if missing.is_empty() {
        Finding::new(
            CheckId::Bod1801Summary,
            if federal { Status::Pass } else { Status::Info },
            if probed {
                "meets the email requirements of BOD 18-01 (valid SPF, DMARC p=reject, reports to CISA, STARTTLS without weak protocols)"
            } else {
                "meets the DNS requirements of BOD 18-01 (valid SPF, DMARC p=reject, reports to CISA)"
            },
        )
    } else {
        let f = Finding::new(
            CheckId::Bod1801Summary,
            if federal { Status::Fail } else { Status::Info },
            format!("would not meet BOD 18-01: missing {}", missing.join(", ")),
        );
        if federal {
            f.fix(format!("Fix the SPF, DMARC and STARTTLS findings above and add `mailto:{CISA_RUA}` to the DMARC rua tag."))
        } else {
            f
        }
    };
    let f = f.note(partial);
    if federal {
        f
    } else {
        f.note("informational: the directive binds U.S. federal agencies (.gov, .mil)")
    }
}
