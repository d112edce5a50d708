//! The DMARC tag-list parser (RFC 9989 §4.7, RFC 7489 §6.3).

use super::{Alignment, DmarcDiagnostic, DmarcRecord, Policy, Psd};
use crate::tag_list::{self, Item};
use crate::uri;

pub(super) fn parse(txt: &[u8]) -> DmarcRecord {
    let text = String::from_utf8_lossy(txt);
    let mut r = DmarcRecord {
        version_ok: false,
        p: None,
        sp: None,
        np: None,
        psd: Psd::Unspecified,
        testing: false,
        adkim: Alignment::Relaxed,
        aspf: Alignment::Relaxed,
        rua: Vec::new(),
        ruf: Vec::new(),
        pct: None,
        fo: None,
        rf: None,
        ri: None,
        unknown_tags: Vec::new(),
        diagnostics: Vec::new(),
    };

    let tags = tag_list::read_versioned(&text, "v", "DMARC1", true);
    r.version_ok = tags.version_ok;
    if let Some(found) = tags.found_first {
        r.diagnostics
            .push(DmarcDiagnostic::VersionNotFirst { found });
    }
    // RFC 7489 §6.3 wanted `p` right after `v`.
    let p_second = matches!(tags.items.first(), Some(Item::Tag { name, .. }) if name == "p");
    for item in tags.items {
        let (name, value) = match item {
            Item::Tag { name, value } => (name, value),
            Item::Malformed(text) => {
                r.diagnostics
                    .push(DmarcDiagnostic::TagSyntax { text: text.into() });
                continue;
            }
            Item::Duplicate { name } => {
                r.diagnostics
                    .push(DmarcDiagnostic::DuplicateTag { tag: name });
                continue;
            }
        };
        let invalid = |r: &mut DmarcRecord| {
            r.diagnostics.push(DmarcDiagnostic::InvalidValue {
                tag: name.clone(),
                value: value.to_owned(),
            })
        };
        match name.as_str() {
            // A `v` that is not first was reported above.
            "v" => {}
            "p" => match policy(value) {
                Some(p) => r.p = Some(p),
                None => invalid(&mut r),
            },
            "sp" => match policy(value) {
                Some(p) => r.sp = Some(p),
                None => invalid(&mut r),
            },
            "np" => match policy(value) {
                Some(p) => r.np = Some(p),
                None => invalid(&mut r),
            },
            "psd" => match value.to_ascii_lowercase().as_str() {
                "y" => r.psd = Psd::Yes,
                "n" => r.psd = Psd::No,
                "u" => r.psd = Psd::Unspecified,
                _ => invalid(&mut r),
            },
            "t" => match value.to_ascii_lowercase().as_str() {
                "y" => r.testing = true,
                "n" => r.testing = false,
                _ => invalid(&mut r),
            },
            "adkim" | "aspf" => {
                let alignment = match value.to_ascii_lowercase().as_str() {
                    "r" => Some(Alignment::Relaxed),
                    "s" => Some(Alignment::Strict),
                    _ => None,
                };
                match (alignment, name.as_str()) {
                    (Some(a), "adkim") => r.adkim = a,
                    (Some(a), _) => r.aspf = a,
                    (None, _) => invalid(&mut r),
                }
            }
            "rua" | "ruf" => {
                let uris = uri_list(&name, value, &mut r.diagnostics);
                if name == "rua" {
                    r.rua = uris;
                } else {
                    r.ruf = uris;
                }
            }
            "pct" => {
                r.diagnostics.push(DmarcDiagnostic::PctRemoved {
                    value: value.to_owned(),
                });
                match value.parse::<u8>().ok().filter(|n| *n <= 100) {
                    Some(n) => {
                        r.pct = Some(n);
                        if n < 100 {
                            r.diagnostics
                                .push(DmarcDiagnostic::PctBelow100 { value: n });
                        }
                    }
                    None => invalid(&mut r),
                }
            }
            "fo" => {
                // fo = 0 / 1 / d / s, colon separated (RFC 7489 §6.3, RFC 9991).
                let options: Vec<String> = value
                    .split(':')
                    .map(|o| tag_list::trim_fws(o).to_ascii_lowercase())
                    .collect();
                if options
                    .iter()
                    .all(|o| matches!(o.as_str(), "0" | "1" | "d" | "s"))
                {
                    r.fo = Some(options);
                } else {
                    invalid(&mut r);
                }
            }
            "rf" => {
                r.diagnostics
                    .push(DmarcDiagnostic::RemovedTag { tag: name.clone() });
                r.rf = Some(value.to_owned());
            }
            "ri" => {
                r.diagnostics
                    .push(DmarcDiagnostic::RemovedTag { tag: name.clone() });
                match value.parse::<u32>() {
                    Ok(n) => r.ri = Some(n),
                    Err(_) => invalid(&mut r),
                }
            }
            _ => {
                r.unknown_tags.push(name.clone());
                r.diagnostics
                    .push(DmarcDiagnostic::UnknownTag { tag: name.clone() });
            }
        }
    }

    if r.p.is_none() {
        if r.rua.is_empty() {
            r.diagnostics.push(DmarcDiagnostic::NoPolicy);
        } else {
            r.diagnostics
                .push(DmarcDiagnostic::PolicyMissingTreatedAsNone);
        }
    } else if r.version_ok && !p_second {
        r.diagnostics.push(DmarcDiagnostic::PolicyNotSecond);
    }
    r
}

fn policy(value: &str) -> Option<Policy> {
    match value.to_ascii_lowercase().as_str() {
        "none" => Some(Policy::None),
        "quarantine" => Some(Policy::Quarantine),
        "reject" => Some(Policy::Reject),
        _ => None,
    }
}

/// `dmarc-urilist = dmarc-uri *(*WSP "," *WSP dmarc-uri)`; commas inside a URI must be
/// percent-encoded (RFC 7489 §6.2), so splitting on `,` is exact.
fn uri_list(
    tag: &str,
    value: &str,
    diagnostics: &mut Vec<DmarcDiagnostic>,
) -> Vec<crate::ReportUri> {
    let mut uris = Vec::new();
    for item in value.split(',') {
        let item = tag_list::trim_fws(item);
        match uri::parse(item, true) {
            Ok(u) => {
                if u.max_size.is_some() {
                    diagnostics.push(DmarcDiagnostic::SizeLimitIgnored {
                        tag: tag.to_owned(),
                        uri: item.to_owned(),
                    });
                }
                uris.push(u);
            }
            Err(_) => diagnostics.push(DmarcDiagnostic::InvalidUri {
                tag: tag.to_owned(),
                uri: item.to_owned(),
            }),
        }
    }
    uris
}
