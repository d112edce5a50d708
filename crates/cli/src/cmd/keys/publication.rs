//! Putting a key's record into DNS the way the command says (RFC 2136, a publish command, or a
//! zone-file entry printed for a person), with the intent recorded first (see docs/keys.md,
//! "Interrupted steps").

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use mailtrust_keys::generate::zone_file_entry;
use mailtrust_keys::publish::{Publisher, publish};
use mailtrust_keys::{AuditContext, Domain, Event, KeyRecord, KeyStore, SqliteKeyStore};

use crate::args::PublishArgs;

pub(super) fn publisher(to: &PublishArgs, domain: &Domain) -> anyhow::Result<Option<Publisher>> {
    if to.zone_file {
        return Ok(None);
    }
    if let Some(cmd) = &to.publish_cmd {
        let mut parts = cmd.split_whitespace().map(str::to_string);
        let program = parts.next().context("--publish-cmd is empty")?;
        return Ok(Some(Publisher::Command {
            program,
            args: parts.collect(),
        }));
    }
    let Some(server) = &to.server else {
        bail!(
            "say where to publish: --server ADDR (RFC 2136) with --tsig-file, --publish-cmd CMD, or --zone-file"
        );
    };
    let key = crate::cmd::dns::tsig_key(to.tsig.as_deref(), to.tsig_file.as_deref(), "--tsig")?
        .context("--server needs a TSIG key: --tsig-file FILE (or MAILTRUST_TSIG_KEY)")?;
    Ok(Some(Publisher::Rfc2136 {
        server: crate::cmd::dns::parse_server(server)?,
        zone: to
            .zone
            .clone()
            .unwrap_or_else(|| domain.as_str().to_string()),
        key,
    }))
}

/// How a DNS change went.
pub(super) enum Put {
    Done,
    /// It did not happen: the server or command refused it before changing anything.
    Refused(ExitCode),
    /// It may or may not have happened (no answer, an unverifiable answer, a command that
    /// failed part-way).
    Unknown(ExitCode),
}

/// Publishes `text` at the key's record name the way `to` says (a failure is reported here).
pub(super) fn put_record(k: &KeyRecord, to: &PublishArgs, text: &str) -> anyhow::Result<Put> {
    let owner = k.selector.record_name(&k.domain)?;
    match publisher(to, &k.domain)? {
        None => {
            println!("{}", zone_file_entry(&k.selector, &k.domain, to.ttl, text)?);
            Ok(Put::Done)
        }
        Some(p) => {
            let rt = crate::cmd::dns::runtime()?;
            match rt.block_on(publish(
                &p,
                &owner,
                Some(text),
                to.ttl,
                Duration::from_secs(30),
            )) {
                Ok(()) => Ok(Put::Done),
                Err(e) => {
                    eprintln!(
                        "mailtrust: {owner} was not published: {e}; the key's state is unchanged"
                    );
                    let code = ExitCode::from(if e.unreachable() { 3 } else { 1 });
                    // Only a change that certainly did not happen may drop the intent: an
                    // unsigned refusal or a command that failed part-way proves nothing.
                    Ok(if e.certainly_not_applied() {
                        Put::Refused(code)
                    } else {
                        Put::Unknown(code)
                    })
                }
            }
        }
    }
}

/// A step that changes DNS: the intended record is written to the store first, then sent, then
/// the step is committed (which drops the intent). A refusal by the DNS server drops the intent
/// (nothing changed); silence keeps it, and the next `keys run` looks at DNS to finish or drop
/// the step.
pub(super) fn put_and_record(
    store: &mut SqliteKeyStore,
    k: &KeyRecord,
    event: Event,
    text: &str,
    to: &PublishArgs,
    context: &AuditContext,
) -> anyhow::Result<Result<(), ExitCode>> {
    // A bad publication option (an unreadable TSIG file) fails here, before the intent.
    publisher(to, &k.domain)?;
    store.record_intent(&k.id, event, text, context)?;
    match put_record(k, to, text)? {
        Put::Done => {}
        Put::Refused(code) => {
            store.clear_intent(
                &k.id,
                &AuditContext::new(&context.command, Some("the DNS change was refused")),
            )?;
            return Ok(Err(code));
        }
        // Kept: the next `keys run` asks DNS whether it happened.
        Put::Unknown(code) => return Ok(Err(code)),
    }
    // Testing only: die between the DNS change and the commit (see tests/lab/keys.rs).
    if std::env::var_os("MAILTRUST_KEYS_CRASH_AFTER_DNS").is_some() {
        std::process::exit(137);
    }
    Ok(Ok(()))
}
