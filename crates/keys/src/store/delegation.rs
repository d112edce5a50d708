//! Selectors delegated to third-party senders (SP 800-177 Rec 4-10).
//!
//! A provider that sends for the domain (a newsletter service, a CRM) signs with its own key
//! and rotates it itself; the domain points `<selector>._domainkey` at the provider by CNAME.
//! We do not hold that key, but the selector is still part of the domain's DKIM: it is recorded
//! here so that no key of ours takes the same selector, `keys run` can check that the CNAME still
//! points where it should and that the provider's key is sound, and `audit --key-store` checks it.

use rusqlite::{OptionalExtension, params};

use super::log::{LogWriter, append_audit};
use super::{AuditContext, StoreError};
use crate::clock::Timestamp;
use crate::model::{Domain, Selector};

/// A delegated selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    /// The domain.
    pub domain: Domain,
    /// Its selector.
    pub selector: Selector,
    /// The name the selector's record is a CNAME to (the provider's key record).
    pub target: String,
    /// Who the provider is.
    pub provider: String,
    /// When it was recorded.
    pub since: Timestamp,
}

pub(super) fn add(
    conn: &rusqlite::Connection,
    w: &LogWriter<'_>,
    now: Timestamp,
    d: &Delegation,
    ctx: &AuditContext,
) -> Result<(), StoreError> {
    let taken: Option<String> = conn
        .query_row(
            "SELECT id FROM keys WHERE domain = ?1 AND selector = ?2 AND state <> 'destroyed'",
            [d.domain.as_str(), d.selector.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = taken {
        return Err(StoreError::SelectorTaken(format!(
            "{}/{} belongs to our key {id}",
            d.domain.as_str(),
            d.selector.as_str()
        )));
    }
    if find(conn, &d.domain, &d.selector)?.is_some() {
        return Err(StoreError::SelectorTaken(format!(
            "{}/{} is already delegated",
            d.domain.as_str(),
            d.selector.as_str()
        )));
    }
    conn.execute(
        "INSERT INTO delegation (domain, selector, target, provider, since) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![d.domain.as_str(), d.selector.as_str(), d.target, d.provider, now.0],
    )?;
    let why = AuditContext::new(
        &ctx.command,
        Some(&format!(
            "{}/{} -> {} ({}){}",
            d.domain.as_str(),
            d.selector.as_str(),
            d.target,
            d.provider,
            ctx.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        )),
    );
    append_audit(conn, w, now, None, "delegate", None, None, &why)
}

pub(super) fn remove(
    conn: &rusqlite::Connection,
    w: &LogWriter<'_>,
    now: Timestamp,
    domain: &Domain,
    selector: &Selector,
    ctx: &AuditContext,
) -> Result<bool, StoreError> {
    let n = conn.execute(
        "DELETE FROM delegation WHERE domain = ?1 AND selector = ?2",
        [domain.as_str(), selector.as_str()],
    )?;
    if n > 0 {
        let why = AuditContext::new(
            &ctx.command,
            Some(&format!(
                "{}/{}{}",
                domain.as_str(),
                selector.as_str(),
                ctx.reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            )),
        );
        append_audit(conn, w, now, None, "undelegate", None, None, &why)?;
    }
    Ok(n > 0)
}

pub(super) fn find(
    conn: &rusqlite::Connection,
    domain: &Domain,
    selector: &Selector,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT target FROM delegation WHERE domain = ?1 AND selector = ?2",
            [domain.as_str(), selector.as_str()],
            |r| r.get(0),
        )
        .optional()?)
}

pub(super) fn all(conn: &rusqlite::Connection) -> Result<Vec<Delegation>, StoreError> {
    // A version-1 store opened read-only has no such table (and no delegations).
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'delegation')",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(
        "SELECT domain, selector, target, provider, since FROM delegation ORDER BY domain, selector",
    )?;
    let rows: Vec<(String, String, String, String, i64)> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|(domain, selector, target, provider, since)| {
            Ok(Delegation {
                domain: Domain::new(&domain)?,
                selector: Selector::new(&selector)?,
                target,
                provider,
                since: Timestamp(since),
            })
        })
        .collect()
}
