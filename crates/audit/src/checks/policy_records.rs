//! `mta-sts.record` and `tls-rpt.record`: the TXT records that announce an MTA-STS policy
//! (RFC 8461 §3.1) and where TLS failure reports go (RFC 8460 §3).

use mailtrust_dns::{DnssecStatus, QueryType};
use mailtrust_records::{MtaStsRecord, TlsRptRecord, is_mta_sts_record, is_tls_rpt_record};

use crate::Auditor;
use crate::catalogue::CheckId;
use crate::checks::{error_texts, txt};
use crate::finding::{Finding, Status, answered};

pub(crate) async fn run(a: &Auditor, domain: &str) -> Vec<Finding> {
    let (sts_name, rpt_name) = (format!("_mta-sts.{domain}"), format!("_smtp._tls.{domain}"));
    let (sts, rpt) = futures_util::join!(
        a.lookup(&sts_name, QueryType::Txt),
        a.lookup(&rpt_name, QueryType::Txt)
    );
    let mut out = Vec::new();
    // mta-sts.record
    out.push(if !answered(&sts) {
        Finding::inconclusive(CheckId::MtaStsRecord, &sts)
    } else if let DnssecStatus::Bogus(r) = &sts.dnssec {
        Finding::new(CheckId::MtaStsRecord, Status::Fail, format!("the record fails DNSSEC validation: {r}")).lookup(&sts)
    } else {
        let recs: Vec<Vec<u8>> = txt::matching(&sts, is_mta_sts_record);
        let f = match recs.as_slice() {
            [] => Finding::new(CheckId::MtaStsRecord, Status::Warn, "no MTA-STS record: senders cannot learn that TLS is required").fix(format!(
                "Serve a policy at https://mta-sts.{domain}/.well-known/mta-sts.txt and publish `_mta-sts.{domain}. 3600 IN TXT \"v=STSv1; id=20260101T000000\"` (change id whenever the policy changes)."
            )),
            [one] => {
                let rec = MtaStsRecord::parse(one);
                let errors: Vec<String> = error_texts(&rec.diagnostics, |d| d.severity());
                if errors.is_empty() {
                    Finding::new(CheckId::MtaStsRecord, Status::Pass, format!("v=STSv1, id={}", rec.id.as_deref().unwrap_or("?")))
                } else {
                    Finding::new(CheckId::MtaStsRecord, Status::Fail, format!("the record is invalid: {}", errors.join("; ")))
                        .fix(format!("Publish `_mta-sts.{domain}. IN TXT \"v=STSv1; id=<1-32 letters or digits>\"`."))
                }
            }
            many => Finding::new(CheckId::MtaStsRecord, Status::Fail, format!("{} MTA-STS records: senders treat this as no policy (RFC 8461 §3.1)", many.len()))
                .fix("Keep one v=STSv1 record."),
        };
        f.lookup(&sts)
    });
    // tls-rpt.record
    out.push(if !answered(&rpt) {
        Finding::inconclusive(CheckId::TlsRptRecord, &rpt)
    } else {
        let recs: Vec<Vec<u8>> = txt::matching(&rpt, is_tls_rpt_record);
        let f = match recs.as_slice() {
            [] => Finding::new(CheckId::TlsRptRecord, Status::Warn, "no TLS-RPT record: nobody hears about failed TLS deliveries")
                .fix(format!("Publish `_smtp._tls.{domain}. 3600 IN TXT \"v=TLSRPTv1; rua=mailto:tls-reports@{domain}\"`.")),
            [one] => {
                let rec = TlsRptRecord::parse(one);
                let errors: Vec<String> = error_texts(&rec.diagnostics, |d| d.severity());
                if errors.is_empty() {
                    Finding::new(CheckId::TlsRptRecord, Status::Pass, format!("reports go to {}", rec.rua.iter().map(|u| u.uri.as_str()).collect::<Vec<_>>().join(", ")))
                } else {
                    Finding::new(CheckId::TlsRptRecord, Status::Fail, format!("the record is invalid: {}", errors.join("; ")))
                        .fix(format!("Publish `_smtp._tls.{domain}. IN TXT \"v=TLSRPTv1; rua=mailto:tls-reports@{domain}\"`."))
                }
            }
            many => Finding::new(CheckId::TlsRptRecord, Status::Fail, format!("{} TLS-RPT records (RFC 8460 §3 allows one)", many.len())).fix("Keep one v=TLSRPTv1 record."),
        };
        f.lookup(&rpt)
    });
    out
}
