//! Answers that follow a CNAME in signed zones, as `dns lookup` shows them (issue 10 §4):
//! judged hop by hop like any validator does, never bogus for being an alias, and never better
//! than their weakest hop.

use libtest_mimic::Failed;

use crate::{Lab, expect, lookup, record_data};

/// Fails with `why` unless `ok`.
fn ensure(ok: bool, why: impl FnOnce() -> String) -> Result<(), Failed> {
    if ok { Ok(()) } else { Err(Failed::from(why())) }
}

/// NODATA after a CNAME, in the same zone and across zones: secure, with the CNAME shown.
pub fn nodata_after_a_cname_is_secure(lab: &Lab) -> Result<(), Failed> {
    for (name, qtype, target) in [
        ("alias.signed.test", "MX", "www.signed.test."),
        ("alias.signed.test", "TXT", "www.signed.test."),
        ("alias.mxcname.test", "MX", "mail.mxcname.test."),
        (
            "selector1._domainkey.dkimcname.test",
            "A",
            "selector1._domainkey.provider.signed.test.",
        ),
        ("mail.danecname.test", "MX", "mail.tlsgood.test."),
    ] {
        let l = lookup(lab, name, qtype);
        expect(&l, "nodata", "secure")?;
        ensure(record_data(&l, "CNAME") == [target], || {
            format!("{name} {qtype}: the CNAME is kept: {}", l.json)
        })?;
    }
    Ok(())
}

/// `_dmarc CNAME policy` with `policy TXT` in the same signed zone: secure records.
pub fn dmarc_record_behind_a_cname_is_secure(lab: &Lab) -> Result<(), Failed> {
    let l = lookup(lab, "_dmarc.dmarccname.test", "TXT");
    expect(&l, "records", "secure")?;
    ensure(
        record_data(&l, "TXT") == ["v=DMARC1; p=reject; rua=mailto:dmarc@dmarccname.test"],
        || format!("the policy: {}", l.json),
    )?;
    Ok(())
}

/// A secure CNAME does not launder its target: into a bogus zone the answer stays bogus (with
/// the target zone's reason), into an unsigned zone it is insecure.
pub fn a_cname_is_no_stronger_than_its_target(lab: &Lab) -> Result<(), Failed> {
    for qtype in ["A", "MX"] {
        let l = lookup(lab, "intobogus.dmarccname.test", qtype);
        ensure(l.json["dnssec"] == "bogus" && l.code == 1, || {
            format!(
                "intobogus {qtype}: bogus, exit 1: {} (exit {})",
                l.json, l.code
            )
        })?;
        let reason = l.json["bogus_reason"].as_str().unwrap_or("");
        ensure(
            reason.contains("expired signature") && reason.contains("expired.test."),
            || format!("intobogus {qtype}: the target zone's reason: {reason}"),
        )?;
    }
    let l = lookup(lab, "intounsigned.dmarccname.test", "A");
    expect(&l, "records", "insecure")?;
    let l = lookup(lab, "intounsigned.dmarccname.test", "MX");
    expect(&l, "nodata", "insecure")?;
    Ok(())
}
