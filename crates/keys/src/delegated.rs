//! Checking a selector delegated to a third party (Rec 4-10): the CNAME still points where it
//! was recorded to, and the provider's key behind it is one a receiver will accept.

use mailtrust_dns::{DnssecStatus, Outcome, QueryType, Resolver};
use mailtrust_records::dkim::{DkimKeyRecord, DkimKeyType};
use serde::Serialize;

use crate::store::delegation::Delegation;

/// What a check of one delegated selector found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DelegationStatus {
    /// CNAME to the recorded target, and a usable key of adequate size there.
    Ok {
        /// The key, e.g. `rsa 2048`.
        key: String,
        /// DNSSEC status of the key record.
        dnssec: String,
    },
    /// Something a mail administrator must act on.
    Problem {
        /// What, in words.
        detail: String,
    },
    /// DNS gave no answer: nothing can be said now.
    Unreachable {
        /// Why.
        detail: String,
    },
}

fn norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Looks the delegated selector up through the validating resolver and judges it.
pub async fn check(resolver: &Resolver, d: &Delegation) -> DelegationStatus {
    let owner = match d.selector.record_name(&d.domain) {
        Ok(o) => o,
        Err(e) => {
            return DelegationStatus::Problem {
                detail: e.to_string(),
            };
        }
    };
    let name = match Resolver::parse_name(&owner) {
        Ok(n) => n,
        Err(e) => {
            return DelegationStatus::Problem {
                detail: e.to_string(),
            };
        }
    };
    let answer = resolver.lookup(&name, QueryType::Txt).await;
    if let DnssecStatus::Bogus(reason) = &answer.dnssec {
        return DelegationStatus::Problem {
            detail: format!(
                "{owner}: DNSSEC validation fails ({reason}): receivers cannot get the key"
            ),
        };
    }
    if !answer.outcome.is_answer() {
        return DelegationStatus::Unreachable {
            detail: format!(
                "{owner}: {}",
                answer
                    .detail
                    .clone()
                    .unwrap_or_else(|| answer.outcome.to_string())
            ),
        };
    }
    let cname = answer
        .records
        .iter()
        .find(|r| r.rtype == "CNAME" && norm(&r.name) == norm(&owner))
        .map(|r| norm(&r.data));
    match cname {
        None => {
            return DelegationStatus::Problem {
                detail: format!(
                    "{owner} is not a CNAME (any more); it should point to {} ({})",
                    d.target, d.provider
                ),
            };
        }
        Some(t) if t != norm(&d.target) => {
            return DelegationStatus::Problem {
                detail: format!(
                    "{owner} points to {t}, not to {} as recorded for {}",
                    d.target, d.provider
                ),
            };
        }
        Some(_) => {}
    }
    if answer.outcome != Outcome::Records {
        return DelegationStatus::Problem {
            detail: format!(
                "{} ({}) publishes no key ({}): mail {} signs with this selector fails DKIM",
                d.target, d.provider, answer.outcome, d.provider
            ),
        };
    }
    let key = answer
        .rdatas()
        .filter_map(|r| match r {
            hickory_proto::rr::RData::TXT(t) => {
                Some(DkimKeyRecord::parse(&mailtrust_dns::txt::join(&t.txt_data)))
            }
            _ => None,
        })
        .find(|k| k.version.is_some() || k.key_bits.is_some() || k.revoked);
    let Some(key) = key else {
        return DelegationStatus::Problem {
            detail: format!("{} ({}) serves no DKIM key record", d.target, d.provider),
        };
    };
    if key.revoked {
        return DelegationStatus::Problem {
            detail: format!(
                "{} ({}) has revoked the key (p= empty): ask the provider for its new selector",
                d.target, d.provider
            ),
        };
    }
    if !key.is_usable() {
        let why: Vec<String> = key.diagnostics.iter().map(ToString::to_string).collect();
        return DelegationStatus::Problem {
            detail: format!("the key at {} is not usable: {}", d.target, why.join("; ")),
        };
    }
    let (kind, bits) = match &key.key_type {
        DkimKeyType::Rsa => ("rsa", key.key_bits.unwrap_or(0)),
        DkimKeyType::Ed25519 => ("ed25519", 256),
        DkimKeyType::Unknown { name } => {
            return DelegationStatus::Problem {
                detail: format!("the key at {} has an unknown type k={name}", d.target),
            };
        }
    };
    if kind == "rsa" && bits < 2048 {
        return DelegationStatus::Problem {
            detail: format!(
                "{} ({}) signs with a {bits}-bit RSA key; SP 800-177 Rec 4-3 asks for 2048 bits",
                d.target, d.provider
            ),
        };
    }
    DelegationStatus::Ok {
        key: format!("{kind} {bits}"),
        dnssec: answer.dnssec.as_str().to_string(),
    }
}
