//! `dkim.key`: the key behind each selector, given with `--selector` or found among common
//! selector names.
//!
//! DKIM keys cannot be listed: a selector must be known to be found. Discovery therefore tries
//! the given selectors plus a curated list of common ones, and finding none is inconclusive,
//! never a failure. When `_domainkey.<domain>` itself does not exist, nothing below it does
//! either (RFC 8020), and the common names are not tried.

use futures_util::future::join_all;
use mailtrust_dns::{Answer, DnssecStatus, Outcome, QueryType};
use mailtrust_records::{DkimKeyRecord, DkimKeyType, Severity as DiagSeverity};

use crate::Auditor;
use crate::catalogue::CheckId;
use crate::checks::{error_texts, txt};
use crate::finding::{Finding, Status, answered};

/// Selector names in common use by mail software and large providers.
const COMMON_SELECTORS: &[&str] = &[
    "default",
    "dkim",
    "mail",
    "smtp",
    "selector1",
    "selector2",
    "google",
    "k1",
    "k2",
    "k3",
    "s1",
    "s2",
    "key1",
    "key2",
    "dkim1",
    "dkim2",
    "sig1",
    "mx",
    "email",
    "fm1",
    "fm2",
    "fm3",
    "protonmail",
    "protonmail2",
    "protonmail3",
    "zoho",
    "mandrill",
    "mailjet",
    "smtpapi",
    "sendgrid",
    "amazonses",
    "rsa",
    "ed25519",
    "2024",
    "2025",
    "2026",
];

/// What a selector lookup found.
enum Found {
    Key(Answer, Vec<u8>),
    Nothing(Answer),
    Unanswered(Answer),
}

async fn probe(a: &Auditor, selector: &str, domain: &str) -> Found {
    let ans = a
        .lookup(&format!("{selector}._domainkey.{domain}"), QueryType::Txt)
        .await;
    if !answered(&ans) {
        return Found::Unanswered(ans);
    }
    // A key record is the TXT that parses as one; ignore other TXT at the name.
    let recs = txt::records(&ans);
    match recs.into_iter().find(|r| looks_like_key(r)) {
        Some(r) => Found::Key(ans, r),
        // A bogus "nothing here" cannot be trusted: validating verifiers get SERVFAIL.
        None if matches!(ans.dnssec, DnssecStatus::Bogus(_)) => Found::Unanswered(ans),
        None => Found::Nothing(ans),
    }
}

/// RFC 6376 §3.6.1: a key record is a tag list with `p=` (and `v=DKIM1` first if present).
fn looks_like_key(r: &[u8]) -> bool {
    let s = String::from_utf8_lossy(r);
    s.split(';').any(|t| t.trim_start().starts_with("p=")) || s.trim_start().starts_with("v=DKIM1")
}

pub(crate) async fn run(a: &Auditor, domain: &str) -> Vec<Finding> {
    let mut given: Vec<String> = a
        .options()
        .selectors
        .iter()
        .chain(
            a.options()
                .domain_selectors
                .get(domain)
                .into_iter()
                .flatten(),
        )
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    let mut seen = std::collections::HashSet::new();
    given.retain(|s| seen.insert(s.clone()));
    let base = a
        .lookup(&format!("_domainkey.{domain}"), QueryType::Txt)
        .await;
    let skip_common = base.outcome == Outcome::NxDomain;
    let mut names: Vec<(String, bool)> = given.iter().map(|s| (s.clone(), true)).collect();
    if !skip_common {
        for s in COMMON_SELECTORS {
            if !names.iter().any(|(n, _)| n == s) {
                names.push((s.to_string(), false));
            }
        }
    }
    let results = join_all(names.iter().map(|(s, _)| probe(a, s, domain))).await;
    let mut keys: Vec<(String, Answer, DkimKeyRecord)> = Vec::new();
    let mut out = Vec::new();
    let mut unanswered: Option<Answer> = None;
    for ((selector, user_given), found) in names.iter().zip(results) {
        match found {
            Found::Key(ans, raw) => keys.push((selector.clone(), ans, DkimKeyRecord::parse(&raw))),
            Found::Nothing(ans) if *user_given => out.push(
                Finding::new(CheckId::DkimKey, Status::Fail, format!("selector {selector} has no DKIM key"))
                    .subject(selector)
                    .lookup(&ans)
                    .fix(format!("Publish the key: `{selector}._domainkey.{domain}. 3600 IN TXT \"v=DKIM1; k=rsa; p=<base64 public key>\"` (mailtrust keys can generate and publish it).")),
            ),
            Found::Nothing(_) => {}
            Found::Unanswered(ans) => {
                if *user_given {
                    out.push(Finding::inconclusive(CheckId::DkimKey, &ans).subject(selector));
                } else {
                    unanswered.get_or_insert(ans);
                }
            }
        }
    }
    let has_rsa = keys
        .iter()
        .any(|(_, _, k)| k.key_type == DkimKeyType::Rsa && !k.revoked);
    for (selector, ans, key) in &keys {
        out.push(
            key_finding(domain, selector, ans, key, has_rsa)
                .subject(selector)
                .lookup(ans),
        );
    }
    if keys.is_empty() && out.is_empty() {
        let f = match unanswered {
            Some(u) => Finding::inconclusive(CheckId::DkimKey, &u),
            None => Finding::new(
                CheckId::DkimKey,
                Status::Inconclusive,
                if skip_common {
                    format!("_domainkey.{domain} does not exist, so no selector can (RFC 8020); give the selectors you sign with (--selector)")
                } else {
                    format!("no DKIM key at {} common selectors; give the selectors you sign with (--selector)", COMMON_SELECTORS.len())
                },
            )
            .lookup(&base),
        };
        out.push(f);
    }
    out
}

fn key_finding(
    domain: &str,
    selector: &str,
    ans: &Answer,
    key: &DkimKeyRecord,
    has_rsa: bool,
) -> Finding {
    let owner = format!("{selector}._domainkey.{domain}");
    let delegated = ans
        .records
        .iter()
        .find(|r| r.rtype == "CNAME" && r.name.trim_end_matches('.').eq_ignore_ascii_case(&owner))
        .map(|r| r.data.trim_end_matches('.').to_string());
    let regen = format!(
        "Generate a new key and publish it under a new selector, e.g. `mailtrust keys rotate {domain}` or `{selector}2._domainkey.{domain}. IN TXT \"v=DKIM1; k=rsa; p=<2048-bit key>\"`; then retire this one."
    );
    let errors: Vec<String> = error_texts(&key.diagnostics, |d| d.severity());
    let mut f = if let DnssecStatus::Bogus(r) = &ans.dnssec {
        Finding::new(
            CheckId::DkimKey,
            Status::Fail,
            format!("the key record fails DNSSEC validation: {r}"),
        )
        .fix(format!("Fix the DNSSEC chain: {r}"))
    } else if key.revoked {
        Finding::new(
            CheckId::DkimKey,
            Status::Info,
            "the key is revoked (empty p=)",
        )
    } else if !errors.is_empty() {
        Finding::new(
            CheckId::DkimKey,
            Status::Fail,
            format!("verifiers cannot use this key: {}", errors.join("; ")),
        )
        .fix(regen)
    } else {
        let kind = match (&key.key_type, key.key_bits) {
            (DkimKeyType::Rsa, Some(b)) => format!("RSA {b} bits"),
            (DkimKeyType::Ed25519, _) => "Ed25519".to_string(),
            (other, _) => format!("{other:?}"),
        };
        match &key.key_type {
            DkimKeyType::Rsa if key.key_bits.is_some_and(|b| b < 2048) => {
                Finding::new(CheckId::DkimKey, Status::Fail, format!("{kind}: below the 2048 bits SP 800-177 Rec 4-3 asks for")).fix(regen)
            }
            DkimKeyType::Ed25519 if !has_rsa => Finding::new(
                CheckId::DkimKey,
                Status::Warn,
                "Ed25519 without an RSA key beside it: receivers that verify only RSA (such as Gmail) see no valid signature",
            )
            .fix(format!("Sign with an RSA-2048 key too, under its own selector (RFC 8463 §4): `rsa._domainkey.{domain}. IN TXT \"v=DKIM1; k=rsa; p=...\"`.")),
            _ if key.testing => Finding::new(CheckId::DkimKey, Status::Warn, format!("{kind}, in testing mode (t=y): verifiers treat failures like unsigned mail"))
                .fix(format!("Remove t=y from {owner} once signing works.")),
            _ => Finding::new(CheckId::DkimKey, Status::Pass, kind),
        }
    };
    for d in key
        .diagnostics
        .iter()
        .filter(|d| d.severity() != DiagSeverity::Error)
    {
        f = f.note(d.to_string());
    }
    if let Some(t) = delegated {
        f = f.note(format!("delegated by CNAME to {t}: a third party's key (Rec 4-10); it rotates it, the audit watches it"));
    }
    if ans.dnssec == DnssecStatus::Insecure {
        f = f.note("the key record is not DNSSEC-signed (Rec 4-6 asks for DNSSEC)");
    }
    f
}
