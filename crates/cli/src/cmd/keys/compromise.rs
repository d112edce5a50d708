//! `keys compromised` and `keys destroy`: the incident response for a key believed stolen —
//! out of signing and the OpenDKIM export at once, revoked in DNS through the intent path, and
//! destroyed only once every authoritative server serves the revoked record.

use std::process::ExitCode;
use std::time::Duration;

use mailtrust_keys::generate::revoked_record_text;
use mailtrust_keys::publish::{Visibility, check_served_everywhere};
use mailtrust_keys::{AuditContext, Event, KeyRecord, KeyState, KeyStore, SqliteKeyStore};

use super::opendkim::{Reloaded, export_and_reload};
use super::publication::put_and_record;
use super::{allowed, ctx, find, open, step};
use crate::args::{KeysArgs, OpenDkimArgs, PublishArgs, ResolverArgs};

/// Publishes the revoked record (`p=` empty) of a compromised key through the intent path:
/// the intent is recorded first, so a run killed in between finds it; the key's state does
/// not change (it is compromised already), the log says `revoked_in_dns`.
pub(super) fn revoke_compromised(
    store: &mut SqliteKeyStore,
    k: &KeyRecord,
    to: &PublishArgs,
    context: &AuditContext,
) -> anyhow::Result<ExitCode> {
    let text = revoked_record_text(k.algorithm());
    if let Err(code) = put_and_record(store, k, Event::Compromise, &text, to, context)? {
        eprintln!(
            "mailtrust: the key is compromised all the same; `keys run` keeps trying to revoke its record"
        );
        return Ok(code);
    }
    store.fulfil_intent(&k.id, "revoked_in_dns", context)?;
    println!(
        "{}: revoked record published ({text})",
        k.selector.record_name(&k.domain)?
    );
    Ok(ExitCode::SUCCESS)
}

/// `keys destroy`: a compromised key only with proof that its record is revoked everywhere.
pub(super) fn destroy(
    args: &KeysArgs,
    key: &str,
    force: bool,
    resolver: &ResolverArgs,
    reason: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let mut store = open(args)?;
    let k = find(&store, key)?;
    if let Some(code) = allowed(&k, Event::Destroy) {
        return Ok(code);
    }
    let mut reason = reason.map(str::to_string);
    if k.state() == KeyState::Compromised {
        // Whoever holds the stolen key can sign as us for as long as a server hands
        // out its public key: destroying our copy first would leave no way to tell.
        let owner = k.selector.record_name(&k.domain)?;
        let expected = revoked_record_text(k.algorithm());
        let rt = crate::cmd::dns::runtime()?;
        let problem = rt.block_on(async {
            let r = crate::cmd::dns::resolver(resolver).await?;
            let wait = Duration::from_secs_f64(resolver.timeout.clamp(0.1, 600.0));
            Ok::<_, anyhow::Error>(check_served_everywhere(&r, &owner, &expected, wait).await?)
        })?;
        if let Some(v) = problem {
            let (exit, why) = match v {
                Visibility::Unreachable { detail } => (3, detail),
                Visibility::NotVisible { detail } | Visibility::Bogus { detail } => (1, detail),
                Visibility::Secure | Visibility::Insecure => (1, String::new()),
            };
            if !force {
                eprintln!(
                    "mailtrust: not destroyed: the revoked record of {owner} is not proven on every authoritative server: {why} (`keys revoke` or `keys run` publishes it again)"
                );
                return Ok(ExitCode::from(exit));
            }
            eprintln!(
                "mailtrust: WARNING: destroying a compromised key WITHOUT proof that its record is revoked ({why})"
            );
            reason = Some(format!(
                "forced: {}",
                reason.as_deref().unwrap_or("no reason given")
            ));
        } else {
            println!("{owner}: every authoritative server serves the revoked record");
        }
    }
    step(&mut store, &k, Event::Destroy, "destroy", reason.as_deref())
}

/// `keys compromised`: the state first, then the export, then DNS.
pub(super) fn compromised(
    args: &KeysArgs,
    key: &str,
    to: &PublishArgs,
    opendkim: &OpenDkimArgs,
    reload_cmd: Option<&str>,
    reason: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let mut store = open(args)?;
    let k = find(&store, key)?;
    // Run again for a key already compromised (say, to finish an export or a revocation that
    // failed), it does the rest without a second state change: the incident's time stays the
    // first one.
    if k.state() == KeyState::Compromised {
        eprintln!(
            "mailtrust: {}/{} is already compromised (since the time `keys show` gives); removing it from the export and revoking its record again",
            k.domain.as_str(),
            k.selector.as_str()
        );
    } else {
        if let Some(code) = allowed(&k, Event::Compromise) {
            return Ok(code);
        }
        // First the state: from here on nothing signs with it or exports it.
        let code = step(&mut store, &k, Event::Compromise, "compromised", reason)?;
        if code != ExitCode::SUCCESS {
            return Ok(code);
        }
    }
    let k = store.key(&k.id)?;
    let mut exit = ExitCode::SUCCESS;
    if opendkim.opendkim.is_some() {
        // Out of the tables, and its key file deleted now, whatever the reload does. A failed
        // export must not stop the revocation in DNS below, which matters more.
        match export_and_reload(
            args,
            &mut store,
            opendkim,
            reload_cmd,
            "keys compromised",
            true,
        ) {
            Ok(Reloaded::Done) => {}
            Ok(Reloaded::Failed) => exit = ExitCode::from(1),
            Err(e) => {
                eprintln!(
                    "mailtrust: the OpenDKIM export failed: {e:#}; remove the key from it by hand (`keys export --opendkim` retries); revoking the record in DNS all the same"
                );
                exit = ExitCode::from(1);
            }
        }
    }
    if to.server.is_none() && to.publish_cmd.is_none() && !to.zone_file {
        eprintln!(
            "mailtrust: its record is NOT revoked in DNS yet: run `mailtrust keys revoke {}` with --server/--tsig-file, --publish-cmd or --zone-file (or `keys run`, which publishes it)",
            k.id.as_str()
        );
        return Ok(ExitCode::from(1));
    }
    let c = ctx("compromised", reason);
    let dns = revoke_compromised(&mut store, &k, to, &c)?;
    Ok(if dns == ExitCode::SUCCESS { exit } else { dns })
}
