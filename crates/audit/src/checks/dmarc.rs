//! DMARC: `dmarc.present`, `dmarc.syntax`, `dmarc.policy`, `dmarc.subdomain-policy`,
//! `dmarc.pct`, `dmarc.alignment`, `dmarc.rua`, `dmarc.rua-authorized`.

use futures_util::future::join_all;
use mailtrust_dns::{Answer, DnssecStatus, QueryType};
use mailtrust_records::Severity as DiagSeverity;
use mailtrust_records::dmarc::Alignment;
use mailtrust_records::{
    DmarcRecord, Policy, PolicyTarget, is_dmarc_record, is_report_authorization_record,
    report_authorization_name,
};

use crate::Auditor;
use crate::catalogue::CheckId;
use crate::checks::txt;
use crate::finding::{Finding, Status, answered};

/// The Public Suffix List bundled for the RFC 7489 comparison: the `psl` crate's version, pinned
/// in Cargo.toml, names the list.
pub(crate) const PSL_VERSION: &str = "psl crate 2.1.247";

/// RFC 7489 §3.2: the organizational domain is one label below the longest public suffix.
pub(crate) fn org_domain_7489(domain: &str) -> Option<String> {
    psl::domain(domain.as_bytes())
        .and_then(|d| std::str::from_utf8(d.as_bytes()).ok())
        .map(str::to_string)
}

/// RFC 9989 §4.10: the tree walk makes at most 8 queries: the name itself, then from at most 7
/// labels down to 1.
const MAX_WALK_LABELS: usize = 7;

/// The names the RFC 9989 DNS tree walk queries for `domain`, in order.
pub(crate) fn walk_targets(domain: &str) -> Vec<String> {
    let labels: Vec<&str> = domain.split('.').filter(|l| !l.is_empty()).collect();
    let n = labels.len();
    let mut out = vec![labels.join(".")];
    let start = (n.saturating_sub(1)).min(MAX_WALK_LABELS);
    for keep in (1..=start).rev() {
        out.push(labels[n - keep..].join("."));
    }
    out
}

/// What policy discovery found.
struct Discovery {
    /// The name whose `_dmarc` record applies, and that record.
    found: Option<(String, Vec<u8>, Answer)>,
    /// Every lookup made, in order.
    lookups: Vec<Answer>,
    /// A lookup that gave no usable answer before anything was found.
    unanswered: Option<Answer>,
    /// Names that had several DMARC records (discarded, RFC 9989 §4.10).
    discarded: Vec<String>,
}

async fn discover(a: &Auditor, domain: &str) -> Discovery {
    let mut d = Discovery {
        found: None,
        lookups: Vec::new(),
        unanswered: None,
        discarded: Vec::new(),
    };
    for target in walk_targets(domain) {
        let ans = a.lookup(&format!("_dmarc.{target}"), QueryType::Txt).await;
        d.lookups.push(ans.clone());
        if !answered(&ans) {
            d.unanswered = Some(ans);
            return d;
        }
        let recs: Vec<Vec<u8>> = txt::matching(&ans, is_dmarc_record);
        match recs.len() {
            0 => {}
            1 => {
                d.found = recs.into_iter().next().map(|r| (target, r, ans));
                return d;
            }
            _ => d.discarded.push(target),
        }
    }
    d
}

fn rank(p: Policy) -> u8 {
    match p {
        Policy::None => 0,
        Policy::Quarantine => 1,
        Policy::Reject => 2,
    }
}

pub(crate) async fn run(a: &Auditor, domain: &str) -> Vec<Finding> {
    let ids = [
        CheckId::DmarcPresent,
        CheckId::DmarcSyntax,
        CheckId::DmarcPolicy,
        CheckId::DmarcSubdomainPolicy,
        CheckId::DmarcPct,
        CheckId::DmarcAlignment,
        CheckId::DmarcRua,
        CheckId::DmarcRuaAuthorized,
    ];
    let d = discover(a, domain).await;
    let legacy = legacy_discovery(a, domain).await;
    let fix_publish = format!(
        "Publish `_dmarc.{domain}. 3600 IN TXT \"v=DMARC1; p=reject; rua=mailto:dmarc-reports@{domain}\"` (start with p=none while you read the reports, then move to reject)."
    );
    let Some((policy_domain, raw, ans)) = d.found else {
        if let Some(u) = &d.unanswered {
            return ids
                .into_iter()
                .map(|id| Finding::inconclusive(id, u))
                .collect();
        }
        let mut f = Finding::new(
            CheckId::DmarcPresent,
            Status::Fail,
            "no DMARC record found by the DNS tree walk",
        )
        .fix(fix_publish);
        for l in &d.lookups {
            f = f.lookup(l);
        }
        for n in &d.discarded {
            f = f.note(format!(
                "_dmarc.{n} has several DMARC records and was ignored"
            ));
        }
        if let Some(note) = legacy_note(None, &legacy) {
            f = f.note(note);
        }
        let mut out = vec![f];
        out.extend(
            ids[1..]
                .iter()
                .map(|id| Finding::new(*id, Status::NotApplicable, "no DMARC record")),
        );
        return out;
    };
    let text = String::from_utf8_lossy(&raw).into_owned();
    let record = DmarcRecord::parse(&raw);
    let mut out = Vec::new();
    let inherited = policy_domain != domain;
    // A policy found only at a public suffix (by the list, or declared with psd=y) is the
    // suffix operator's, not the domain's own (RFC 9989 §4.10).
    let is_public_suffix = psl::suffix(policy_domain.as_bytes())
        .is_some_and(|sfx| sfx.as_bytes() == policy_domain.as_bytes());
    let only_public_suffix = inherited
        && (!policy_domain.contains('.')
            || is_public_suffix
            || record.psd == mailtrust_records::dmarc::Psd::Yes);

    // dmarc.present
    let present = if let DnssecStatus::Bogus(r) = &ans.dnssec {
        Finding::new(
            CheckId::DmarcPresent,
            Status::Fail,
            format!(
                "the DMARC record fails DNSSEC validation ({r}); validating receivers see none"
            ),
        )
        .fix(format!("Fix the DNSSEC chain: {r}"))
    } else if only_public_suffix {
        Finding::new(CheckId::DmarcPresent, Status::Fail, format!("only the public suffix {policy_domain} publishes a policy (psd); the domain has none of its own")).fix(fix_publish.clone())
    } else if inherited {
        Finding::new(
            CheckId::DmarcPresent,
            Status::Pass,
            format!("the policy of {policy_domain} applies (found by the DNS tree walk)"),
        )
    } else {
        Finding::new(
            CheckId::DmarcPresent,
            Status::Pass,
            format!("_dmarc.{domain} publishes a policy"),
        )
    };
    let mut present = present.note(format!("record: {text}"));
    for l in &d.lookups {
        present = present.lookup(l);
    }
    for n in &d.discarded {
        present = present.note(format!(
            "_dmarc.{n} has several DMARC records and was ignored"
        ));
    }
    if let Some(note) = legacy_note(Some(&policy_domain), &legacy) {
        present = present.note(note);
    }
    out.push(present);
    if only_public_suffix || matches!(ans.dnssec, DnssecStatus::Bogus(_)) {
        out.extend(ids[1..].iter().map(|id| {
            Finding::new(
                *id,
                Status::NotApplicable,
                "no usable DMARC record of the domain's own",
            )
        }));
        return out;
    }

    // dmarc.syntax
    let worst = record.diagnostics.iter().map(|x| x.severity()).max();
    let diag: Vec<String> = record.diagnostics.iter().map(ToString::to_string).collect();
    let mut syntax = match worst {
        Some(DiagSeverity::Error) => Finding::new(CheckId::DmarcSyntax, Status::Fail, format!("the record is invalid: {}", diag.join("; ")))
            .fix(format!("Start the record with v=DMARC1 and give p: `_dmarc.{policy_domain}. IN TXT \"v=DMARC1; p=reject; rua=mailto:dmarc-reports@{policy_domain}\"`.")),
        Some(DiagSeverity::Warning) => Finding::new(CheckId::DmarcSyntax, Status::Warn, format!("the record parses with problems: {}", diag.join("; "))),
        _ => Finding::new(CheckId::DmarcSyntax, Status::Pass, "the record parses"),
    };
    for u in &record.unknown_tags {
        syntax = syntax.note(format!("unknown tag `{u}` ignored"));
    }
    out.push(syntax);

    // dmarc.policy: the policy a receiver applies to mail from this domain.
    let target = if inherited {
        PolicyTarget::Subdomain
    } else {
        PolicyTarget::Domain
    };
    let effective = record.effective_policy_for(target);
    let testing = if record.testing {
        " (t=y: testing mode lowers it one step)"
    } else {
        ""
    };
    let fix_reject = format!(
        "Set p=reject once reports show that all legitimate mail passes: `_dmarc.{policy_domain}. IN TXT \"{}\"`.",
        suggest_reject(&text)
    );
    out.push(match effective {
        Some(Policy::Reject) => Finding::new(
            CheckId::DmarcPolicy,
            Status::Pass,
            format!("effective policy: reject{testing}"),
        ),
        Some(Policy::Quarantine) => Finding::new(
            CheckId::DmarcPolicy,
            Status::Warn,
            format!("effective policy: quarantine{testing}"),
        )
        .fix(fix_reject),
        Some(Policy::None) => Finding::new(
            CheckId::DmarcPolicy,
            Status::Fail,
            format!("effective policy: none{testing}: failing mail is delivered"),
        )
        .fix(fix_reject),
        None => Finding::new(
            CheckId::DmarcPolicy,
            Status::Fail,
            "the record gives no usable policy",
        )
        .fix(fix_publish.clone()),
    });

    // dmarc.subdomain-policy
    let p = record.requested_policy(PolicyTarget::Domain);
    let sp = record.requested_policy(PolicyTarget::Subdomain);
    let np = record.requested_policy(PolicyTarget::NonExistentSubdomain);
    out.push(match (p, sp, np) {
        (Some(p), Some(sp), Some(np)) if rank(sp) < rank(p) || rank(np) < rank(p) => Finding::new(
            CheckId::DmarcSubdomainPolicy,
            Status::Warn,
            format!("subdomains get a weaker policy than p={p}: sp={sp}, np={np}"),
        )
        .fix("Remove sp and np (they default to p) or set them to p's value."),
        (Some(p), Some(sp), Some(np)) => Finding::new(
            CheckId::DmarcSubdomainPolicy,
            Status::Pass,
            format!("p={p}, sp={sp}, np={np}"),
        ),
        _ => Finding::new(
            CheckId::DmarcSubdomainPolicy,
            Status::NotApplicable,
            "no usable policy",
        ),
    });

    // dmarc.pct
    out.push(match record.pct {
        Some(n) if n < 100 => Finding::new(CheckId::DmarcPct, Status::Warn, format!("pct={n}: the policy applies to {n}% of failing mail only"))
            .fix("Remove pct (RFC 9989 dropped it; RFC 7489 receivers then apply the policy to all mail)."),
        Some(_) => Finding::new(CheckId::DmarcPct, Status::Pass, "pct=100 (obsolete under RFC 9989, harmless)"),
        None => Finding::new(CheckId::DmarcPct, Status::Pass, "no pct: the policy applies to all mail"),
    });

    // dmarc.alignment
    let mode = |m: Alignment| {
        if m == Alignment::Strict {
            "strict"
        } else {
            "relaxed"
        }
    };
    out.push(Finding::new(
        CheckId::DmarcAlignment,
        Status::Info,
        format!(
            "DKIM alignment {}, SPF alignment {}",
            mode(record.adkim),
            mode(record.aspf)
        ),
    ));

    // dmarc.rua
    out.push(if record.rua.is_empty() {
        Finding::new(CheckId::DmarcRua, Status::Warn, "no rua: nobody receives aggregate reports")
            .fix(format!("Add `rua=mailto:dmarc-reports@{policy_domain}` (and read the reports, e.g. with `mailtrust reports`)."))
    } else {
        Finding::new(CheckId::DmarcRua, Status::Pass, format!("aggregate reports go to {}", record.rua.iter().map(|u| u.uri.as_str()).collect::<Vec<_>>().join(", ")))
    }
    .data(serde_json::json!({ "rua": record.rua.iter().map(|u| u.uri.clone()).collect::<Vec<_>>() })));

    // dmarc.rua-authorized: each external report domain must agree (RFC 9990 §3).
    let mut dests: Vec<(String, &'static str)> = Vec::new();
    for (list, kind) in [(&record.rua, "rua"), (&record.ruf, "ruf")] {
        for u in list.iter() {
            if let Some(dom) = u.mailto_domain()
                && !dests.iter().any(|(d, k)| d == dom && *k == kind)
            {
                dests.push((dom.to_string(), kind));
            }
        }
    }
    let checks = dests
        .iter()
        .map(|(dest, kind)| authorised(a, &policy_domain, dest, kind));
    let auth: Vec<Finding> = join_all(checks).await;
    if auth.is_empty() {
        out.push(Finding::new(
            CheckId::DmarcRuaAuthorized,
            Status::NotApplicable,
            "no mailto: report destinations",
        ));
    } else {
        out.extend(auth);
    }
    out
}

/// Where RFC 7489 would have found the policy: `_dmarc.<domain>`, else `_dmarc.<organizational
/// domain>` by the Public Suffix List. `None` inside means "no record"; the outer `None` that a
/// lookup failed, so nothing can be said.
async fn legacy_discovery(a: &Auditor, domain: &str) -> Option<Option<String>> {
    let mut targets = vec![domain.to_string()];
    if let Some(org) = org_domain_7489(domain)
        && org != domain
    {
        targets.push(org);
    }
    for t in targets {
        let ans = a.lookup(&format!("_dmarc.{t}"), QueryType::Txt).await;
        if !answered(&ans) {
            return None;
        }
        if txt::matching(&ans, is_dmarc_record).len() == 1 {
            return Some(Some(t));
        }
    }
    Some(None)
}

/// A note when RFC 7489's discovery would have ended elsewhere than RFC 9989's tree walk.
fn legacy_note(found: Option<&str>, legacy: &Option<Option<String>>) -> Option<String> {
    let Some(legacy) = legacy else { return None };
    if legacy.as_deref() == found {
        return None;
    }
    Some(match legacy {
        Some(l) => format!(
            "RFC 7489 receivers (organizational domain by the Public Suffix List, {PSL_VERSION}) would use the record at _dmarc.{l} instead"
        ),
        None => format!(
            "RFC 7489 receivers (organizational domain by the Public Suffix List, {PSL_VERSION}) would find no record"
        ),
    })
}

/// Same organisation: equal organizational domains by the Public Suffix List (RFC 7489 §3.2),
/// or, for names the list does not cover, one name inside the other.
fn same_org(a: &str, b: &str) -> bool {
    match (org_domain_7489(a), org_domain_7489(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b || a.ends_with(&format!(".{b}")) || b.ends_with(&format!(".{a}")),
    }
}

async fn authorised(a: &Auditor, policy_domain: &str, dest: &str, kind: &'static str) -> Finding {
    let privacy = if kind == "ruf" {
        " Failure reports (ruf) carry message content: send them only where privacy rules allow."
    } else {
        ""
    };
    if same_org(policy_domain, dest) {
        return Finding::new(
            CheckId::DmarcRuaAuthorized,
            Status::Pass,
            format!("{kind} destination {dest} is in the policy domain's organisation"),
        )
        .subject(dest);
    }
    let Some(name) = report_authorization_name(policy_domain, dest) else {
        return Finding::new(
            CheckId::DmarcRuaAuthorized,
            Status::Fail,
            format!("{kind} destination {dest} is not a valid domain"),
        )
        .subject(dest);
    };
    let ans = a.lookup(&name, QueryType::Txt).await;
    if !answered(&ans) {
        return Finding::inconclusive(CheckId::DmarcRuaAuthorized, &ans).subject(dest);
    }
    if let DnssecStatus::Bogus(r) = &ans.dnssec {
        return Finding::new(CheckId::DmarcRuaAuthorized, Status::Fail, format!("{dest}'s authorisation record fails DNSSEC validation ({r}); validating reporters cannot see it"))
            .subject(dest)
            .lookup(&ans);
    }
    let ok = !txt::matching(&ans, is_report_authorization_record).is_empty();
    let f = if ok {
        Finding::new(
            CheckId::DmarcRuaAuthorized,
            Status::Pass,
            format!("{dest} accepts {kind} reports for {policy_domain}"),
        )
    } else {
        Finding::new(CheckId::DmarcRuaAuthorized, Status::Fail, format!("{dest} has not authorised {kind} reports for {policy_domain}: reporters will not send them"))
            .fix(format!("The operator of {dest} publishes `{name}. IN TXT \"v=DMARC1\"` (or `*._report._dmarc.{dest}` for all domains).{privacy}"))
    };
    f.subject(dest).lookup(&ans)
}

/// The record with p=reject, and without what would weaken it (sp, np, pct, t).
fn suggest_reject(record: &str) -> String {
    let kept: Vec<&str> = record
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let tag = p
                .split('=')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            !matches!(tag.as_str(), "sp" | "np" | "pct" | "t")
        })
        .collect();
    with_tag(&kept.join("; "), "p", "reject")
}

/// The record with `tag` set to `value` (replaced if present, added after v= otherwise).
fn with_tag(record: &str, tag: &str, value: &str) -> String {
    let mut parts: Vec<String> = record
        .split(';')
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    let mut done = false;
    for p in parts.iter_mut() {
        if p.split('=')
            .next()
            .map(str::trim)
            .is_some_and(|t| t.eq_ignore_ascii_case(tag))
        {
            *p = format!("{tag}={value}");
            done = true;
        }
    }
    if !done {
        parts.insert(1.min(parts.len()), format!("{tag}={value}"));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_walk_targets_follow_rfc_9989() {
        assert_eq!(walk_targets("example.com"), ["example.com", "com"]);
        assert_eq!(
            walk_targets("a.mail.example.com"),
            [
                "a.mail.example.com",
                "mail.example.com",
                "example.com",
                "com"
            ]
        );
        let long = "a.b.c.d.e.f.g.h.i.example.com";
        let t = walk_targets(long);
        assert_eq!(t.len(), 8, "at most 8 queries: {t:?}");
        assert_eq!(t[1], "e.f.g.h.i.example.com", "shortened to 7 labels");
        assert_eq!(t.last().map(String::as_str), Some("com"));
    }

    #[test]
    fn policy_tag_is_replaced_or_added() {
        assert_eq!(
            with_tag("v=DMARC1; p=none; rua=mailto:a@b", "p", "reject"),
            "v=DMARC1; p=reject; rua=mailto:a@b"
        );
        assert_eq!(
            with_tag("v=DMARC1; rua=mailto:a@b", "p", "reject"),
            "v=DMARC1; p=reject; rua=mailto:a@b"
        );
    }

    #[test]
    fn reject_suggestion_drops_weakening_tags() {
        assert_eq!(
            suggest_reject("v=DMARC1; p=quarantine; sp=none; pct=50; t=y; rua=mailto:a@b"),
            "v=DMARC1; p=reject; rua=mailto:a@b"
        );
    }

    #[test]
    fn same_organisation_is_ancestor_or_descendant() {
        assert!(same_org("example.com", "reports.example.com"));
        assert!(same_org("mail.example.com", "example.com"));
        assert!(!same_org("example.com", "example.net"));
        assert!(!same_org("example.com", "badexample.com"));
        // The list knows that co.uk is a public suffix: two customers are not one organisation.
        assert!(!same_org("a.co.uk", "b.co.uk"));
        assert!(same_org("mail.a.co.uk", "a.co.uk"));
    }

    #[test]
    fn organizational_domain_by_the_public_suffix_list() {
        assert_eq!(
            org_domain_7489("a.b.example.co.uk").as_deref(),
            Some("example.co.uk")
        );
        assert_eq!(
            org_domain_7489("mail.example.com").as_deref(),
            Some("example.com")
        );
    }
}
