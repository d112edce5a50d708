//! SPF: `spf.present`, `spf.single`, `spf.syntax`, `spf.lookups`, `spf.void-lookups`,
//! `spf.all`, `spf.ptr`, `spf.size`, `spf.non-sending`.
//!
//! The include tree is walked the way a receiver's `check_host()` would (RFC 7208 §4.6.4):
//! every DNS-querying term counts, across includes and the redirect, and the walk stops at the
//! limit and shows where it was cut. Lookups go through the shared resolver, so a provider's
//! `include:` is fetched once for all the domains that use it.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;

use mailtrust_dns::{Answer, DnssecStatus, Outcome, QueryType};
use mailtrust_records::Severity as DiagSeverity;
use mailtrust_records::is_spf_record;
use mailtrust_records::spf::{
    DNS_LOOKUP_LIMIT, DomainSpec, Mechanism, Qualifier, RECOMMENDED_MAX_RECORD_LEN, SpfDiagnostic,
    SpfRecord, TermKind,
};
use serde::Serialize;

use crate::Auditor;
use crate::catalogue::CheckId;
use crate::checks::mx::{MailRouting, routing};
use crate::checks::txt;
use crate::finding::{Finding, Status, answered, trusted};

/// RFC 7208 §4.6.4: at most 2 lookups that return no records.
const VOID_LOOKUP_LIMIT: usize = 2;
/// RFC 7208 §4.6.4: an `mx` mechanism may name at most 10 hosts.
const MX_HOST_LIMIT: usize = 10;

/// One record in the include tree, with the running count after its own terms.
#[derive(Debug, Clone, Serialize)]
struct Node {
    domain: String,
    /// How the record was reached: "top", "include" or "redirect".
    via: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<String>,
    /// DNS-querying terms of this record that were evaluated.
    lookups: usize,
    /// The running total after this record and everything below it.
    total: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    children: Vec<Node>,
}

/// State of one walk.
#[derive(Default)]
struct Walk {
    count: usize,
    voids: Vec<String>,
    cut_at: Option<String>,
    /// The first lookup that gave no usable answer: the walk below it is unknown.
    unanswered: Option<Answer>,
    /// Problems that make receivers return permerror, found below the top record.
    permerrors: Vec<String>,
    mx_over: Vec<String>,
    uses_ptr: Vec<String>,
    seen: HashSet<String>,
}

/// What ends the evaluation: the `all` of the record that decides, after redirects.
#[derive(Debug, Clone)]
enum Ending {
    /// The qualifier, the domain whose record decides, and that record.
    All(Qualifier, String, String),
    /// No `all` and no redirect: the result is neutral (RFC 7208 §4.7).
    Neutral(String),
    /// The redirect target could not be read.
    Unknown(String),
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

fn fetch_spf<'a>(a: &'a Auditor, domain: &'a str) -> BoxFut<'a, (Answer, Vec<Vec<u8>>)> {
    Box::pin(async move {
        let ans = a.lookup(domain, QueryType::Txt).await;
        let spf: Vec<Vec<u8>> = txt::matching(&ans, is_spf_record);
        (ans, spf)
    })
}

/// Walks one record; returns its node and its ending.
fn walk<'a>(
    a: &'a Auditor,
    domain: String,
    via: &'static str,
    record: SpfRecord,
    raw: String,
    st: &'a mut Walk,
) -> BoxFut<'a, (Node, Ending)> {
    Box::pin(async move {
        let raw_text = raw.clone();
        let mut node = Node {
            domain: domain.clone(),
            via,
            record: Some(raw),
            lookups: 0,
            total: 0,
            notes: Vec::new(),
            children: Vec::new(),
        };
        // Only the current path counts as a loop: a record included twice along different
        // branches is legal (it only costs lookups, RFC 7208 §4.6.4).
        let on_path = !st.seen.insert(domain.clone());
        if on_path {
            node.notes.push(format!(
                "loop: {domain} includes itself (through the records above)"
            ));
            st.permerrors.push(format!("include loop at {domain}"));
        }
        let mut cut = false;
        for term in record.terms.iter().filter(|t| !t.ignored) {
            let TermKind::Mechanism { mechanism, .. } = &term.kind else {
                continue;
            };
            if !mechanism.counts_toward_lookup_limit() {
                continue;
            }
            st.count += 1;
            node.lookups += 1;
            if st.count > DNS_LOOKUP_LIMIT {
                st.cut_at
                    .get_or_insert_with(|| format!("{} in {domain}", term.text));
                node.notes.push(format!(
                    "cut at `{}`: lookup {} exceeds the limit of {DNS_LOOKUP_LIMIT}",
                    term.text, st.count
                ));
                cut = true;
                break;
            }
            if st.unanswered.is_some() {
                continue;
            }
            let target = |spec: &Option<DomainSpec>| match spec {
                None => Some(domain.clone()),
                Some(s) => s.expand(&domain),
            };
            match mechanism {
                Mechanism::Include { domain: spec } => {
                    let Some(t) = spec.expand(&domain) else {
                        node.notes.push(unresolved_macro(&term.text));
                        continue;
                    };
                    let (ans, spf) = fetch_spf(a, &t).await;
                    if !trusted(&ans) {
                        st.unanswered = Some(ans);
                        continue;
                    }
                    match spf.as_slice() {
                        [one] => {
                            let rec = SpfRecord::parse(one);
                            if !rec.is_valid() {
                                st.permerrors
                                    .push(format!("include:{t} has an invalid record"));
                            }
                            let text = String::from_utf8_lossy(one).into_owned();
                            let (child, _) = walk(a, t, "include", rec, text, st).await;
                            node.children.push(child);
                        }
                        [] => {
                            if ans.records.is_empty() {
                                st.voids.push(format!("include:{t}"));
                            }
                            st.permerrors.push(format!(
                                "include:{t} has no SPF record (RFC 7208 §5.2: permerror)"
                            ));
                            node.children.push(leaf(&t, "include", "no SPF record"));
                        }
                        _ => {
                            st.permerrors
                                .push(format!("include:{t} has {} SPF records", spf.len()));
                            node.children
                                .push(leaf(&t, "include", "several SPF records"));
                        }
                    }
                }
                Mechanism::A { domain: spec, .. } => {
                    let Some(t) = target(spec) else {
                        node.notes.push(unresolved_macro(&term.text));
                        continue;
                    };
                    let (v4, v6) = futures_util::join!(
                        a.lookup(&t, QueryType::A),
                        a.lookup(&t, QueryType::Aaaa)
                    );
                    if !trusted(&v4) || !trusted(&v6) {
                        st.unanswered = Some(if trusted(&v4) { v6 } else { v4 });
                    } else if v4.rdatas().count() + v6.rdatas().count() == 0 {
                        st.voids.push(term.text.clone());
                    }
                }
                Mechanism::Mx { domain: spec, .. } => {
                    let Some(t) = target(spec) else {
                        node.notes.push(unresolved_macro(&term.text));
                        continue;
                    };
                    let mx = a.lookup(&t, QueryType::Mx).await;
                    if !trusted(&mx) {
                        st.unanswered = Some(mx);
                    } else {
                        let n = mx.rdatas().count();
                        if n == 0 {
                            st.voids.push(term.text.clone());
                        } else if n > MX_HOST_LIMIT {
                            st.mx_over.push(format!("`{}` names {n} hosts", term.text));
                        }
                    }
                }
                Mechanism::Ptr { .. } => {
                    st.uses_ptr.push(format!("{} in {domain}", term.text));
                    node.notes.push(format!(
                        "`{}` needs the client address; counted, not resolved",
                        term.text
                    ));
                }
                Mechanism::Exists { domain: spec } => match spec.expand(&domain) {
                    None => node.notes.push(unresolved_macro(&term.text)),
                    Some(t) => {
                        let ans = a.lookup(&t, QueryType::A).await;
                        if !trusted(&ans) {
                            st.unanswered = Some(ans);
                        } else if ans.rdatas().count() == 0 {
                            st.voids.push(term.text.clone());
                        }
                    }
                },
                _ => {}
            }
        }
        let mut ending = match record.all {
            Some(q) => Ending::All(q, domain.clone(), raw_text.clone()),
            None => Ending::Neutral(domain.clone()),
        };
        if cut && record.effective_redirect().is_some() {
            ending = Ending::Unknown(domain.clone());
        }
        if !cut && let Some(spec) = record.effective_redirect() {
            st.count += 1;
            node.lookups += 1;
            if st.count > DNS_LOOKUP_LIMIT {
                st.cut_at
                    .get_or_insert_with(|| format!("redirect in {domain}"));
                node.notes.push(format!(
                    "cut at the redirect: lookup {} exceeds the limit of {DNS_LOOKUP_LIMIT}",
                    st.count
                ));
                ending = Ending::Unknown(domain.clone());
            } else if let Some(t) = spec.expand(&domain) {
                let (ans, spf) = fetch_spf(a, &t).await;
                if !trusted(&ans) {
                    ending = Ending::Unknown(t.clone());
                    st.unanswered.get_or_insert(ans);
                } else if let [one] = spf.as_slice() {
                    let rec = SpfRecord::parse(one);
                    let text = String::from_utf8_lossy(one).into_owned();
                    let (child, e) = walk(a, t, "redirect", rec, text, st).await;
                    node.children.push(child);
                    ending = e;
                } else {
                    if ans.records.is_empty() {
                        st.voids.push(format!("redirect={t}"));
                    }
                    st.permerrors.push(format!("redirect={t} does not lead to exactly one SPF record (RFC 7208 §6.1: permerror)"));
                    node.children
                        .push(leaf(&t, "redirect", "no single SPF record"));
                    ending = Ending::Unknown(t);
                }
            } else {
                node.notes
                    .push("the redirect target is a macro that needs a message".into());
                ending = Ending::Unknown(domain.clone());
            }
        }
        node.total = st.count.min(DNS_LOOKUP_LIMIT + 1);
        if !on_path {
            st.seen.remove(&domain);
        }
        (node, ending)
    })
}

/// The note for a term whose domain-spec needs the message to expand (RFC 7208 §7): it still
/// costs a lookup, but the audit cannot follow it.
fn unresolved_macro(term: &str) -> String {
    format!("`{term}`: macro needs a message; counted, not resolved")
}

fn leaf(domain: &str, via: &'static str, note: &str) -> Node {
    Node {
        domain: domain.to_string(),
        via,
        record: None,
        lookups: 0,
        total: 0,
        notes: vec![note.to_string()],
        children: Vec::new(),
    }
}

fn suggest_ending(raw: &str) -> String {
    let kept: Vec<&str> = raw
        .split_whitespace()
        .filter(|t| {
            !matches!(
                t.to_ascii_lowercase().as_str(),
                "all" | "+all" | "-all" | "~all" | "?all"
            )
        })
        .collect();
    format!("{} -all", kept.join(" "))
}

pub(crate) async fn run(a: &Auditor, domain: &str) -> Vec<Finding> {
    let (txt_ans, mx, v4, v6) = futures_util::join!(
        a.lookup(domain, QueryType::Txt),
        a.lookup(domain, QueryType::Mx),
        a.lookup(domain, QueryType::A),
        a.lookup(domain, QueryType::Aaaa),
    );
    let all_ids = [
        CheckId::SpfPresent,
        CheckId::SpfSingle,
        CheckId::SpfSyntax,
        CheckId::SpfLookups,
        CheckId::SpfVoidLookups,
        CheckId::SpfAll,
        CheckId::SpfPtr,
        CheckId::SpfSize,
        CheckId::SpfNonSending,
    ];
    if !answered(&txt_ans) {
        return all_ids
            .into_iter()
            .map(|id| Finding::inconclusive(id, &txt_ans))
            .collect();
    }
    let spf: Vec<Vec<u8>> = txt::matching(&txt_ans, is_spf_record);
    let mut out = Vec::new();

    // spf.non-sending, decided from MX and addresses, whether or not a record exists.
    let non_sending = match (answered(&mx), routing(&mx)) {
        (false, _) => None,
        (true, MailRouting::NullMx) => Some(true),
        (true, MailRouting::NoMx) if answered(&v4) && answered(&v6) => {
            Some(v4.rdatas().count() + v6.rdatas().count() == 0)
        }
        (true, MailRouting::NoMx) => None,
        (true, MailRouting::Hosts(_)) => Some(false),
    };
    let strict_reject = |raw: &[u8]| {
        let r = SpfRecord::parse(raw);
        r.all == Some(Qualifier::Fail) && r.terms.iter().filter(|t| !t.ignored).count() == 1
    };
    out.push(match non_sending {
        None => Finding::new(
            CheckId::SpfNonSending,
            Status::Inconclusive,
            "whether the domain handles mail could not be determined",
        )
        .lookup(&mx),
        Some(false) => Finding::new(
            CheckId::SpfNonSending,
            Status::NotApplicable,
            "the domain receives mail (it has MX hosts or addresses)",
        ),
        Some(true) if spf.len() == 1 && strict_reject(&spf[0]) => Finding::new(
            CheckId::SpfNonSending,
            Status::Pass,
            "the domain handles no mail and says so with v=spf1 -all",
        ),
        Some(true) => Finding::new(
            CheckId::SpfNonSending,
            Status::Fail,
            "the domain handles no mail but does not publish v=spf1 -all",
        )
        .lookup(&mx)
        .fix(format!(
            "Publish `{domain}. 3600 IN TXT \"v=spf1 -all\"` so that nobody can send as {domain}."
        )),
    });

    let present_fix = format!(
        "Publish one record listing what sends your mail, e.g. `{domain}. 3600 IN TXT \"v=spf1 mx -all\"` (add ip4:/ip6: ranges and include: for providers); for a domain that sends no mail, `\"v=spf1 -all\"`."
    );
    if let DnssecStatus::Bogus(r) = &txt_ans.dnssec {
        out.push(
            Finding::new(
                CheckId::SpfPresent,
                Status::Fail,
                format!(
                    "the TXT records fail DNSSEC validation ({r}); validating receivers see no SPF"
                ),
            )
            .lookup(&txt_ans)
            .fix(format!("Fix the DNSSEC chain: {r}")),
        );
        return out;
    }
    let Some(first) = spf.first() else {
        let why = if txt_ans.outcome == Outcome::NxDomain {
            "the domain does not exist"
        } else {
            "no v=spf1 record"
        };
        out.push(
            Finding::new(CheckId::SpfPresent, Status::Fail, why)
                .lookup(&txt_ans)
                .fix(present_fix),
        );
        for id in &all_ids[1..8] {
            out.push(Finding::new(*id, Status::NotApplicable, "no SPF record"));
        }
        return out;
    };
    out.push(
        Finding::new(
            CheckId::SpfPresent,
            Status::Pass,
            "an SPF record is published",
        )
        .lookup(&txt_ans),
    );
    out.push(if spf.len() == 1 {
        Finding::new(CheckId::SpfSingle, Status::Pass, "exactly one SPF record")
    } else {
        Finding::new(
            CheckId::SpfSingle,
            Status::Fail,
            format!(
                "{} SPF records: receivers return permerror (RFC 7208 §4.5)",
                spf.len()
            ),
        )
        .lookup(&txt_ans)
        .fix("Merge them into one `v=spf1 ... -all` record and delete the others.")
    });

    let raw = String::from_utf8_lossy(first).into_owned();
    let record = SpfRecord::parse(first);
    // The lookup count has its own check (spf.lookups, over the whole tree); it is no syntax error.
    let errors: Vec<String> = record
        .diagnostics
        .iter()
        .filter(|d| {
            d.severity() == DiagSeverity::Error
                && !matches!(d, SpfDiagnostic::TooManyDnsLookups { .. })
        })
        .map(ToString::to_string)
        .collect();
    let warnings: Vec<String> = record
        .diagnostics
        .iter()
        .filter(|d| d.severity() != DiagSeverity::Error)
        .map(ToString::to_string)
        .collect();

    let mut st = Walk::default();
    let (tree, ending) = walk(
        a,
        domain.to_string(),
        "top",
        record.clone(),
        raw.clone(),
        &mut st,
    )
    .await;
    let tree_json = serde_json::to_value(&tree).unwrap_or_default();

    let mut syntax = if errors.is_empty() && st.permerrors.is_empty() {
        Finding::new(CheckId::SpfSyntax, Status::Pass, "the record parses")
    } else {
        let mut all = errors.clone();
        all.extend(st.permerrors.iter().cloned());
        Finding::new(CheckId::SpfSyntax, Status::Fail, format!("receivers return permerror: {}", all.join("; ")))
            .fix("Correct the terms named above (RFC 7208 §5, §6); an SPF record with a permanent error counts as no SPF at DMARC receivers.")
    };
    for w in warnings {
        syntax = syntax.note(w);
    }
    out.push(syntax.note(format!("record: {raw}")));

    let lookups = if st.count > DNS_LOOKUP_LIMIT || !st.mx_over.is_empty() {
        let mut why = Vec::new();
        if let Some(c) = &st.cut_at {
            why.push(format!(
                "more than {DNS_LOOKUP_LIMIT} DNS-querying terms (cut at {c})"
            ));
        }
        why.extend(st.mx_over.iter().cloned());
        Finding::new(CheckId::SpfLookups, Status::Fail, format!("receivers return permerror: {}", why.join("; ")))
            .fix("Bring the tree under 10 lookups: replace a/mx/include of fixed hosts with ip4:/ip6: ranges, drop includes of providers no longer used, or split sending across subdomains.")
    } else if let Some(u) = &st.unanswered {
        Finding::new(
            CheckId::SpfLookups,
            Status::Inconclusive,
            format!(
                "{} after {} lookups: {} {} gave no usable answer",
                domain, st.count, u.name, u.outcome
            ),
        )
        .lookup(u)
    } else {
        Finding::new(
            CheckId::SpfLookups,
            Status::Pass,
            format!("{} of {DNS_LOOKUP_LIMIT} DNS-querying terms", st.count),
        )
    };
    out.push(lookups.data(tree_json.clone()));

    out.push(if st.voids.len() > VOID_LOOKUP_LIMIT {
        Finding::new(
            CheckId::SpfVoidLookups,
            Status::Fail,
            format!(
                "{} lookups return no records ({}); the limit is {VOID_LOOKUP_LIMIT}",
                st.voids.len(),
                st.voids.join(", ")
            ),
        )
        .fix("Remove the terms that point at names without records.")
    } else if st.unanswered.is_some() {
        Finding::new(
            CheckId::SpfVoidLookups,
            Status::Inconclusive,
            "the tree could not be walked completely",
        )
    } else {
        Finding::new(
            CheckId::SpfVoidLookups,
            Status::Pass,
            format!("{} void lookup(s)", st.voids.len()),
        )
    });

    // The fix goes to the record that decides: after a redirect that is the target's record
    // (adding -all beside the redirect would switch the redirect off, RFC 7208 §6.1).
    let fix_all = match &ending {
        Ending::All(_, d, r) if d != domain => format!(
            "End the record that decides with -all: `{d}. 3600 IN TXT \"{}\"` (it is reached through the redirect).",
            suggest_ending(r)
        ),
        _ => format!(
            "End the record with -all: `{domain}. 3600 IN TXT \"{}\"`.",
            suggest_ending(&raw)
        ),
    };
    out.push(match &ending {
        Ending::All(Qualifier::Fail, d, _) => Finding::new(
            CheckId::SpfAll,
            Status::Pass,
            format!("ends in -all (in {d})"),
        ),
        Ending::All(Qualifier::SoftFail, d, _) => Finding::new(
            CheckId::SpfAll,
            Status::Warn,
            format!("ends in ~all (in {d}): unauthorised mail is only marked"),
        )
        .fix(fix_all),
        Ending::All(Qualifier::Neutral, d, _) => Finding::new(
            CheckId::SpfAll,
            Status::Fail,
            format!("ends in ?all (in {d}): neutral protects nothing"),
        )
        .fix(fix_all),
        Ending::All(Qualifier::Pass, d, _) => Finding::new(
            CheckId::SpfAll,
            Status::Fail,
            format!("ends in +all (in {d}): anyone may send as the domain"),
        )
        .fix(fix_all),
        Ending::Neutral(d) => Finding::new(
            CheckId::SpfAll,
            Status::Fail,
            format!(
                "no all and no redirect (in {d}): the default result is neutral (RFC 7208 §4.7)"
            ),
        )
        .fix(fix_all),
        Ending::Unknown(d) => Finding::new(
            CheckId::SpfAll,
            Status::Inconclusive,
            format!("the record that decides ({d}) could not be read"),
        ),
    });

    out.push(if st.uses_ptr.is_empty() {
        Finding::new(CheckId::SpfPtr, Status::Pass, "no ptr mechanism")
    } else {
        Finding::new(
            CheckId::SpfPtr,
            Status::Warn,
            format!("ptr is used: {}", st.uses_ptr.join(", ")),
        )
        .fix("Replace ptr with ip4:/ip6: ranges or a: of the sending hosts (RFC 7208 §5.5).")
    });

    let wire = txt::wire_estimate(&txt_ans, domain.len() + 2);
    out.push(if record.length > RECOMMENDED_MAX_RECORD_LEN || wire > 512 {
        Finding::new(
            CheckId::SpfSize,
            Status::Warn,
            format!("the record is {} bytes and the TXT answer about {wire} bytes (recommended: record ≤ {RECOMMENDED_MAX_RECORD_LEN}, answer ≤ 512)", record.length),
        )
        .fix("Shorten the record (ip4 ranges instead of many hosts, fewer includes) or move unrelated TXT records (site verifications) off the domain's apex.")
    } else {
        Finding::new(CheckId::SpfSize, Status::Pass, format!("{} bytes; the TXT answer fits 512 bytes", record.length))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggested_ending_replaces_the_old_one() {
        assert_eq!(suggest_ending("v=spf1 mx ~all"), "v=spf1 mx -all");
        assert_eq!(
            suggest_ending("v=spf1 include:_spf.example.net"),
            "v=spf1 include:_spf.example.net -all"
        );
        assert_eq!(suggest_ending("v=spf1 +all"), "v=spf1 -all");
    }
}
