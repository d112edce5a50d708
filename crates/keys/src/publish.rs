//! Putting a key's record into DNS, and proving it is there before the key signs.
//!
//! Publication goes by RFC 2136 (signed with TSIG) to the zone's primary, or through a command
//! for DNS providers that only have a CLI or an API. Activation needs proof: the record as
//! every authoritative server serves it (asked directly) and as the validating resolver sees
//! it. A key that signs before its record is visible everywhere makes receivers fail DKIM.

use std::net::SocketAddr;
use std::time::Duration;

use mailtrust_dns::authorities::{Propagation, ServerAnswer, propagation};
use mailtrust_dns::update::{Change, TsigKey, UpdateError, send_update};
use mailtrust_dns::{Answer, DnssecStatus, Outcome, QueryType, Resolver};
use serde::Serialize;

/// How records reach the DNS.
#[derive(Debug, Clone)]
pub enum Publisher {
    /// RFC 2136 UPDATE to the zone's primary, signed with a TSIG key.
    Rfc2136 {
        /// The zone's primary server.
        server: SocketAddr,
        /// The zone (its apex).
        zone: String,
        /// The TSIG key the primary accepts for updates of the zone.
        key: TsigKey,
    },
    /// A command for a DNS provider's CLI. The contract (also in docs/keys.md):
    /// - it is run as `PROGRAM ARGS... publish OWNER` or `PROGRAM ARGS... withdraw OWNER`;
    /// - the environment carries `MAILTRUST_RECORD_NAME` (the owner, absolute, no trailing
    ///   dot), `MAILTRUST_RECORD_TYPE` (`TXT`), `MAILTRUST_RECORD_TEXT` (for publish: the whole
    ///   value, unsplit) and `MAILTRUST_RECORD_TTL`;
    /// - publish replaces the TXT RRset at the owner with that one value; withdraw deletes it;
    /// - both must be idempotent (mailtrust re-runs them after an interruption);
    /// - exit 0 means done; anything else is a failure, of whose stderr a short tail is shown;
    /// - it inherits none of mailtrust's secrets (see [`crate::command::SECRET_ENV`]).
    Command {
        /// The program.
        program: String,
        /// Its leading arguments.
        args: Vec<String>,
    },
}

/// Why a record could not be published or checked.
#[allow(missing_docs)] // The variants' fields are named for what they hold; the texts say it.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The RFC 2136 update failed (refused, unreachable, unverified).
    #[error(transparent)]
    Update(#[from] UpdateError),
    /// An owner or zone name is not a DNS name.
    #[error("invalid name {0}")]
    Name(String),
    /// The publish command could not run, failed or timed out.
    #[error("the publish command: {0}")]
    Command(#[from] crate::command::CommandError),
}

/// Publishes `text` as the TXT record at `owner` (replacing what is there), or withdraws the
/// record when `text` is `None`.
pub async fn publish(
    p: &Publisher,
    owner: &str,
    text: Option<&str>,
    ttl: u32,
    wait: Duration,
) -> Result<(), PublishError> {
    match p {
        Publisher::Rfc2136 { server, zone, key } => {
            let zone_name =
                Resolver::parse_name(zone).map_err(|e| PublishError::Name(e.to_string()))?;
            let name =
                Resolver::parse_name(owner).map_err(|e| PublishError::Name(e.to_string()))?;
            let change = match text {
                Some(t) => Change::ReplaceTxt {
                    name,
                    ttl,
                    text: t.to_string(),
                },
                None => Change::DeleteRrset {
                    name,
                    rtype: hickory_proto::rr::RecordType::TXT,
                },
            };
            send_update(*server, &zone_name, &[change], Some(key), wait).await?;
            Ok(())
        }
        Publisher::Command { program, args } => {
            let owner = owner.trim_end_matches('.');
            let ttl = ttl.to_string();
            let mut full = args.clone();
            full.push(
                if text.is_some() {
                    "publish"
                } else {
                    "withdraw"
                }
                .to_string(),
            );
            full.push(owner.to_string());
            let mut env = vec![
                ("MAILTRUST_RECORD_NAME", owner),
                ("MAILTRUST_RECORD_TYPE", "TXT"),
                ("MAILTRUST_RECORD_TTL", ttl.as_str()),
            ];
            if let Some(t) = text {
                env.push(("MAILTRUST_RECORD_TEXT", t));
            }
            crate::command::run(program, &full, &env, wait).await?;
            Ok(())
        }
    }
}

impl PublishError {
    /// True when the DNS certainly did not change: nothing was sent, or the refusal is proven
    /// (a signed error answer). Anything else may have changed the zone.
    pub fn certainly_not_applied(&self) -> bool {
        match self {
            PublishError::Update(u) => u.certainly_not_applied(),
            PublishError::Name(_) => true,
            PublishError::Command(c) => c.never_ran(),
        }
    }

    /// True when no answer came (a timeout, an unreachable server): try again later.
    pub fn unreachable(&self) -> bool {
        use crate::command::CommandError;
        matches!(
            self,
            PublishError::Update(UpdateError::Timeout { .. } | UpdateError::Unreachable { .. })
                | PublishError::Command(CommandError::Timeout { .. })
        )
    }
}

/// Whether a record may be relied on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Visibility {
    /// Every authoritative server serves it and it validates secure.
    Secure,
    /// Every authoritative server serves it; the zone is provably unsigned (SP 800-177 Rec 4-6
    /// asks for DNSSEC, but most zones are unsigned).
    Insecure,
    /// A server, or the resolver, does not (yet) serve the expected record.
    NotVisible {
        /// Which server, and what it serves instead.
        detail: String,
    },
    /// The record fails DNSSEC validation: validating receivers cannot use it.
    Bogus {
        /// The validator's reason.
        detail: String,
    },
    /// A server or the resolver did not answer: no proof either way.
    Unreachable {
        /// Which one, and what happened.
        detail: String,
    },
}

impl Visibility {
    /// Activation may proceed without `--force`.
    pub fn allows_activation(&self) -> bool {
        matches!(self, Visibility::Secure | Visibility::Insecure)
    }
}

/// The evidence behind a [`Visibility`].
#[derive(Debug, Clone, Serialize)]
pub struct VisibilityReport {
    /// The verdict.
    pub verdict: Visibility,
    /// What each authoritative server serves.
    pub authoritative: Propagation,
    /// What the validating resolver sees.
    pub resolver: Answer,
}

/// Checks that `expected` is the TXT record at `owner` on every authoritative server and
/// through the validating resolver.
pub async fn check_visible(
    resolver: &Resolver,
    owner: &str,
    expected: &str,
    wait: Duration,
) -> Result<VisibilityReport, PublishError> {
    let name = Resolver::parse_name(owner).map_err(|e| PublishError::Name(e.to_string()))?;
    let authoritative = propagation(resolver, &name, QueryType::Txt, wait).await;
    let answer = resolver.lookup(&name, QueryType::Txt).await;
    let verdict = judge(&authoritative, &answer, expected);
    Ok(VisibilityReport {
        verdict,
        authoritative,
        resolver: answer,
    })
}

/// A server as the messages name it: `ns1.example.org (192.0.2.53:53)`.
fn server_name(a: &ServerAnswer) -> String {
    format!("{} ({})", a.server, a.address)
}

/// What a server served instead of the expected record: its records, or its outcome.
fn served(a: &ServerAnswer) -> String {
    if a.records.is_empty() {
        a.outcome.to_string()
    } else {
        format!("it serves {}", a.records.join(" | "))
    }
}

/// Checks that every authoritative server of the zone serves exactly `expected` (and nothing
/// else) at `owner`: `None` when they all do, else why not. The validating resolver is not
/// asked: its cache may hold the old record for a TTL, and what matters before a compromised
/// key's private half is destroyed is that no server hands out its public key any more.
pub async fn check_served_everywhere(
    resolver: &Resolver,
    owner: &str,
    expected: &str,
    wait: Duration,
) -> Result<Option<Visibility>, PublishError> {
    let name = Resolver::parse_name(owner).map_err(|e| PublishError::Name(e.to_string()))?;
    let auth = propagation(resolver, &name, QueryType::Txt, wait).await;
    if let Some(v) = unreachable(&auth) {
        return Ok(Some(v));
    }
    Ok(auth
        .answers
        .iter()
        .find(|a| a.records.is_empty() || a.records.iter().any(|r| r != expected))
        .map(|a| Visibility::NotVisible {
            detail: format!(
                "{} does not serve only the record ({})",
                server_name(a),
                served(a)
            ),
        }))
}

/// A server that could not be asked, or gave no answer.
fn unreachable(auth: &Propagation) -> Option<Visibility> {
    if let Some(p) = &auth.problem {
        return Some(Visibility::Unreachable { detail: p.clone() });
    }
    if auth.answers.is_empty() {
        return Some(Visibility::Unreachable {
            detail: "no authoritative server found".into(),
        });
    }
    auth.answers
        .iter()
        .find(|a| !a.outcome.is_answer())
        .map(|a| Visibility::Unreachable {
            detail: format!(
                "{} gave no answer: {}",
                server_name(a),
                a.detail.clone().unwrap_or_else(|| a.outcome.to_string())
            ),
        })
}

fn judge(auth: &Propagation, answer: &Answer, expected: &str) -> Visibility {
    if let Some(v) = unreachable(auth) {
        return v;
    }
    if let Some(a) = auth
        .answers
        .iter()
        .find(|a| !a.records.iter().any(|r| r == expected))
    {
        return Visibility::NotVisible {
            detail: format!(
                "{} does not serve the record yet ({})",
                server_name(a),
                served(a)
            ),
        };
    }
    if let DnssecStatus::Bogus(r) = &answer.dnssec {
        return Visibility::Bogus {
            detail: r.to_string(),
        };
    }
    if !answer.outcome.is_answer() {
        return Visibility::Unreachable {
            detail: format!(
                "the resolver gave no answer: {}",
                answer
                    .detail
                    .clone()
                    .unwrap_or_else(|| answer.outcome.to_string())
            ),
        };
    }
    if answer.outcome != Outcome::Records || !answer.records.iter().any(|r| r.data == expected) {
        return Visibility::NotVisible {
            detail: "every authoritative server serves it, but the resolver still sees the old answer (wait for its cache to expire)".into(),
        };
    }
    match answer.dnssec {
        DnssecStatus::Secure => Visibility::Secure,
        DnssecStatus::Insecure => Visibility::Insecure,
        _ => Visibility::Unreachable {
            detail: "the DNSSEC status could not be determined".into(),
        },
    }
}
