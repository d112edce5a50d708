//! `keys export --opendkim`: the active keys as OpenDKIM's KeyTable, SigningTables and key
//! files (the writing itself is mailtrust_keys::opendkim).

use anyhow::{Context, bail};
use mailtrust_keys::opendkim::OpenDkimExport;
use mailtrust_keys::{Algorithm, KeyRecord, KeyState, KeyStore, Purpose, SqliteKeyStore};

use super::{ctx, kek};
use crate::args::{KeysArgs, OpenDkimArgs};

/// Writes the active keys (optionally of one MTA or domain) as an OpenDKIM KeyTable,
/// SigningTable and key files. Each key whose private copy is written anew is noted in the
/// audit log: the log must say where private keys went.
fn export_opendkim(
    args: &KeysArgs,
    store: &mut SqliteKeyStore,
    which: &OpenDkimArgs,
    command: &str,
) -> anyhow::Result<(usize, OpenDkimExport)> {
    let Some(dir) = &which.opendkim else {
        bail!("--opendkim DIR is required");
    };
    let kek = kek(args, store.kdf_params()?)?;
    store.verify_kek(&kek)?;
    let mut chosen: Vec<KeyRecord> = store
        .keys()?
        .into_iter()
        .filter(|k| k.state() == KeyState::Active)
        .filter(|k| {
            which.for_domain.as_deref().is_none_or(|d| {
                k.domain
                    .as_str()
                    .eq_ignore_ascii_case(d.trim_end_matches('.'))
            })
        })
        .filter(|k| match (&which.for_mta, &k.purpose) {
            (None, _) => true,
            (Some(m), Purpose::SendingMta { host }) => host.eq_ignore_ascii_case(m),
            (Some(_), Purpose::ThirdParty { .. }) => false,
        })
        .collect();
    // RSA before Ed25519 within a domain: the order the signatures are added in.
    chosen.sort_by(|a, b| {
        (
            a.domain.as_str(),
            a.algorithm() == Algorithm::Ed25519,
            a.selector.as_str(),
        )
            .cmp(&(
                b.domain.as_str(),
                b.algorithm() == Algorithm::Ed25519,
                b.selector.as_str(),
            ))
    });
    let mut keys = Vec::with_capacity(chosen.len());
    for k in &chosen {
        let der = store.private_key(&kek, &k.id)?;
        keys.push(mailtrust_keys::opendkim::OpenDkimKey {
            ed25519: k.algorithm() == Algorithm::Ed25519,
            domain: k.domain.as_str().to_string(),
            selector: k.selector.as_str().to_string(),
            pem: mailtrust_keys::pem::private_key_pem(&der),
        });
    }
    let owner = which.owner.as_deref().map(owner_ids).transpose()?;
    let done = mailtrust_keys::opendkim::write(dir, &keys, owner, which.allow_empty)?;
    if done.changed {
        for k in &chosen {
            store.note(
                &k.id,
                "export_private",
                &ctx(
                    command,
                    Some(&format!("OpenDKIM key file in {}", dir.display())),
                ),
            )?;
        }
    }
    Ok((keys.len(), done))
}

/// How the OpenDKIM side of a command went.
pub(super) enum Reloaded {
    /// Export written; reloaded when it had to be (or nothing reloads it).
    Done,
    /// The reload command failed: the old key files are kept, and the next run (or export)
    /// reloads again.
    Failed,
}

/// Writes the export; then, when its tables changed since OpenDKIM last loaded them, runs the
/// reload command and only after it worked deletes the key files no longer exported (OpenDKIM
/// reads a key file each time it signs). Without a reload command nothing can tell when
/// OpenDKIM reloads, so they are deleted at once. With `remove_now` (a compromised key), they
/// are deleted whatever the reload does: signing must stop even if that fails messages.
pub(super) fn export_and_reload(
    args: &KeysArgs,
    store: &mut SqliteKeyStore,
    which: &OpenDkimArgs,
    reload_cmd: Option<&str>,
    command: &str,
    remove_now: bool,
) -> anyhow::Result<Reloaded> {
    let (count, mut done) = export_opendkim(args, store, which, command)?;
    let mut result = Reloaded::Done;
    let mut reloaded = false;
    if done.reload_pending || !done.stale.is_empty() {
        match reload_cmd {
            None => done.finish()?,
            Some(cmd) => match run_reload(cmd) {
                Ok(()) => {
                    reloaded = true;
                    done.finish()?;
                }
                Err(e) => {
                    eprintln!(
                        "mailtrust: the reload command failed: {e}; OpenDKIM may still use the old tables, so the old key files stay until a reload works (the next run tries again)"
                    );
                    if remove_now {
                        done.remove_stale()?;
                    }
                    result = Reloaded::Failed;
                }
            },
        }
    }
    let dir = which
        .opendkim
        .as_deref()
        .unwrap_or(std::path::Path::new(""));
    println!(
        "{command}: OpenDKIM export in {}: {count} key(s){}{}{}",
        dir.display(),
        if done.removed.is_empty() {
            String::new()
        } else {
            format!(", {} old key file(s) removed", done.removed.len())
        },
        if done.changed { "" } else { " (unchanged)" },
        if reloaded { ", OpenDKIM reloaded" } else { "" }
    );
    Ok(result)
}

/// Runs `--reload-cmd` (split at whitespace) without our secrets, for at most a minute.
pub(super) fn run_reload(cmd: &str) -> anyhow::Result<()> {
    let mut parts = cmd.split_whitespace().map(str::to_string);
    let program = parts.next().context("--reload-cmd is empty")?;
    let rest: Vec<String> = parts.collect();
    let rt = crate::cmd::dns::runtime()?;
    rt.block_on(mailtrust_keys::command::run(
        &program,
        &rest,
        &[],
        std::time::Duration::from_secs(60),
    ))?;
    Ok(())
}

/// UID and GID for `--opendkim-owner`: `UID[:GID]`, or a name looked up in /etc/passwd. Read by
/// hand because the standard library has no getpwnam and the crates that do are unsafe FFI for
/// one lookup; users only known to NSS (LDAP) can be given by number.
fn owner_ids(spec: &str) -> anyhow::Result<(u32, u32)> {
    if let Some((u, g)) = spec.split_once(':')
        && let (Ok(u), Ok(g)) = (u.parse(), g.parse())
    {
        return Ok((u, g));
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    // name:password:uid:gid:...
    let entries: Vec<(String, u32, u32)> = passwd
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((
                f.first()?.to_string(),
                f.get(2)?.parse().ok()?,
                f.get(3)?.parse().ok()?,
            ))
        })
        .collect();
    if let Ok(uid) = spec.parse::<u32>() {
        // A bare UID: its primary group if /etc/passwd knows it, else the same number.
        let gid = entries
            .iter()
            .find(|(_, u, _)| *u == uid)
            .map_or(uid, |(_, _, g)| *g);
        return Ok((uid, gid));
    }
    entries
        .iter()
        .find(|(name, _, _)| name == spec)
        .map(|(_, u, g)| (*u, *g))
        .with_context(|| format!("no user {spec:?} in /etc/passwd (give UID:GID)"))
}
