//! `mailtrust keys`: the CKMS commands. Each one opens the store, takes one lifecycle step (and
//! its DNS side), and writes the audit row with it; the rules live in mailtrust-keys.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use mailtrust_keys::delegated::DelegationStatus;
use mailtrust_keys::generate::{dkim_record_text, revoked_record_text};
use mailtrust_keys::lock::{LockError, StoreLock};
use mailtrust_keys::publish::{Visibility, check_visible};
use mailtrust_keys::rotation::Policy;
use mailtrust_keys::store::delegation::Delegation;
use mailtrust_keys::{
    Algorithm, AuditContext, Clock, Domain, Event, KdfParams, Kek, KeyId, KeyRecord, KeyState,
    KeyStore, LogVerification, ManualClock, NewKey, Purpose, Selector, SqliteKeyStore, SystemClock,
    Timestamp, WeakKeys, generate, transition,
};
use serde_json::json;

use crate::args::{KeysArgs, KeysCommand, NewKeyArgs};

mod compromise;
mod opendkim;
mod publication;
mod rotation;

use opendkim::{Reloaded, export_and_reload};
use publication::put_and_record;
use rotation::{Hooks, check_delegations, run_due};

impl NewKeyArgs {
    fn weak(&self) -> WeakKeys {
        if self.allow_weak {
            WeakKeys::Allow
        } else {
            WeakKeys::Refuse
        }
    }

    /// Domain, selector and purpose, validated (a key without --mta or --third-party belongs
    /// to the "default" MTA).
    fn identity(&self) -> anyhow::Result<(Domain, Selector, Purpose)> {
        let purpose = match (&self.mta, &self.third_party) {
            (_, Some(p)) => Purpose::ThirdParty {
                provider: p.clone(),
            },
            (Some(h), None) => Purpose::SendingMta { host: h.clone() },
            (None, None) => Purpose::SendingMta {
                host: "default".into(),
            },
        };
        Ok((
            Domain::new(&self.domain)?,
            Selector::new(&self.selector)?,
            purpose,
        ))
    }
}

/// The key-encryption key, from --kek-file, MAILTRUST_KEK or MAILTRUST_KEK_PASSPHRASE.
fn kek(args: &KeysArgs, stored: Option<KdfParams>) -> anyhow::Result<Kek> {
    if let Some(f) = &args.kek_file {
        return Kek::from_file(f).context("cannot read the key-encryption key");
    }
    if let Ok(v) = std::env::var("MAILTRUST_KEK") {
        return Kek::from_env_value(&v).context("MAILTRUST_KEK");
    }
    if let Ok(p) = std::env::var("MAILTRUST_KEK_PASSPHRASE") {
        let p = zeroize::Zeroizing::new(p);
        let Some(params) = stored else {
            // A new store: the passphrase must be long enough (crypto::MIN_PASSPHRASE_CHARS).
            return Kek::new_from_passphrase(&p).context("MAILTRUST_KEK_PASSPHRASE");
        };
        if mailtrust_keys::crypto::passphrase_is_short(&p) {
            eprintln!(
                "mailtrust: warning: MAILTRUST_KEK_PASSPHRASE is shorter than the {} characters a new store needs; move to a KEK file with `mailtrust keys rotate-kek --new-kek-file FILE`",
                mailtrust_keys::crypto::MIN_PASSPHRASE_CHARS
            );
        }
        return Kek::from_passphrase(&p, &params).context("MAILTRUST_KEK_PASSPHRASE");
    }
    bail!(
        "no key-encryption key: give --kek-file FILE (32 random bytes), or set MAILTRUST_KEK or MAILTRUST_KEK_PASSPHRASE"
    )
}

/// The lifecycle clock: the system's, or the time given with the hidden `--now`.
fn clock(args: &KeysArgs) -> Arc<dyn Clock> {
    match args.now {
        Some(t) => Arc::new(ManualClock::new(Timestamp(t))),
        None => Arc::new(SystemClock),
    }
}

/// Opens the store without the KEK, for commands that only read public data (list, show,
/// delegations, the public key, backup, the log without --verify). Nothing can be changed
/// through it: every change writes the audit log, which is keyed under the KEK.
fn open_public(args: &KeysArgs) -> anyhow::Result<SqliteKeyStore> {
    if !args.store.exists() {
        bail!(
            "no key store at {} (mailtrust keys generate creates one)",
            args.store.display()
        );
    }
    SqliteKeyStore::open(&args.store, clock(args))
        .with_context(|| format!("cannot open the key store {}", args.store.display()))
}

/// Opens the store with its KEK (checked; an older store is upgraded here), for every command
/// that changes it or checks its log.
fn open_with_kek(args: &KeysArgs) -> anyhow::Result<(SqliteKeyStore, Kek)> {
    let mut s = open_public(args)?;
    let k = kek(args, s.kdf_params()?)?;
    s.unlock(&k)
        .with_context(|| format!("cannot open the key store {}", args.store.display()))?;
    Ok((s, k))
}

fn open(args: &KeysArgs) -> anyhow::Result<SqliteKeyStore> {
    Ok(open_with_kek(args)?.0)
}

/// A key by id, or the live (not destroyed) key of DOMAIN/SELECTOR.
/// Opens the store, or creates it (and its directory) on first use; either way with the KEK
/// checked.
fn open_or_create(args: &KeysArgs) -> anyhow::Result<(SqliteKeyStore, Kek)> {
    if args.store.exists() {
        return open_with_kek(args);
    }
    if let Some(dir) = args.store.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let k = kek(args, None)?;
    Ok((SqliteKeyStore::create(&args.store, &k, clock(args))?, k))
}

fn find(store: &SqliteKeyStore, reference: &str) -> anyhow::Result<KeyRecord> {
    if let Ok(id) = KeyId::new(reference) {
        return Ok(store.key(&id)?);
    }
    let Some((d, s)) = reference.split_once('/') else {
        bail!("{reference:?} is neither a key id nor DOMAIN/SELECTOR");
    };
    let (domain, selector) = (Domain::new(d)?, Selector::new(s)?);
    store
        .keys()?
        .into_iter()
        .find(|k| k.domain == domain && k.selector == selector && k.state() != KeyState::Destroyed)
        .with_context(|| format!("no live key for {d}/{s}"))
}

fn ctx(command: &str, reason: Option<&str>) -> AuditContext {
    AuditContext::new(&format!("mailtrust keys {command}"), reason)
}

fn key_json(k: &KeyRecord) -> serde_json::Value {
    json!({
        "id": k.id.as_str(),
        "domain": k.domain.as_str(),
        "selector": k.selector.as_str(),
        "record_name": k.selector.record_name(&k.domain).ok(),
        "algorithm": k.algorithm().name(),
        "weak": k.algorithm().is_weak(),
        "purpose": k.purpose,
        "state": k.state(),
        "times": k.times,
        "record": k.dkim_record_text(),
    })
}

fn step(
    store: &mut SqliteKeyStore,
    k: &KeyRecord,
    event: Event,
    command: &str,
    reason: Option<&str>,
) -> anyhow::Result<ExitCode> {
    match store.apply(&k.id, event, &ctx(command, reason)) {
        Ok(after) => {
            println!(
                "{} {}/{}: {} -> {}",
                after.id.as_str(),
                after.domain.as_str(),
                after.selector.as_str(),
                k.state(),
                after.state()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(mailtrust_keys::StoreError::Illegal { id, source }) => {
            eprintln!("mailtrust: key {}: {source}", id.as_str());
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

/// Refuses early (before any DNS traffic) a step the key's state does not allow.
fn allowed(k: &KeyRecord, event: Event) -> Option<ExitCode> {
    match transition(k.state(), event) {
        Ok(_) => None,
        Err(e) => {
            eprintln!("mailtrust: key {}: {e}", k.id.as_str());
            Some(ExitCode::from(1))
        }
    }
}

/// Takes the store's lock for a command that changes the store, its DNS records or an export
/// (every command but list, show, log, delegations, backup and a public-key export), so that
/// two never interleave. `Err` is the exit status when another command held it too long.
fn lock(args: &KeysArgs) -> anyhow::Result<Result<Option<StoreLock>, ExitCode>> {
    let reads_only = match &args.command {
        KeysCommand::List { .. }
        | KeysCommand::Show { .. }
        | KeysCommand::Log { .. }
        | KeysCommand::Delegations { .. }
        | KeysCommand::Backup { .. } => true,
        KeysCommand::Export {
            private, opendkim, ..
        } => !*private && opendkim.opendkim.is_none(),
        _ => false,
    };
    if reads_only {
        return Ok(Ok(None));
    }
    let creates = matches!(
        args.command,
        KeysCommand::Generate { .. } | KeysCommand::Delegate { .. }
    );
    match args.store.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) if creates => std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?,
        // The command itself says that there is no store.
        Some(dir) if !dir.is_dir() => return Ok(Ok(None)),
        _ => {}
    }
    let wait = Duration::from_secs(args.lock_wait);
    match StoreLock::acquire(&args.store, wait, |path| {
        eprintln!(
            "mailtrust: waiting (up to {} s) for another `mailtrust keys` command to release {}",
            wait.as_secs(),
            path.display()
        )
    }) {
        Ok(l) => Ok(Ok(Some(l))),
        Err(e @ LockError::Busy { .. }) => {
            eprintln!("mailtrust: {e}");
            Ok(Err(ExitCode::from(3)))
        }
        Err(e) => Err(e.into()),
    }
}

pub fn run(args: KeysArgs) -> anyhow::Result<ExitCode> {
    // Held until this function returns: the whole command is one turn.
    let _lock = match lock(&args)? {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    match &args.command {
        KeysCommand::Generate { key, algorithm } => {
            let alg = Algorithm::parse(algorithm, key.weak())?;
            let (domain, selector, purpose) = key.identity()?;
            let reason = &key.reason;
            let (mut store, kek) = open_or_create(&args)?;
            let generated = generate(alg)?;
            let record = dkim_record_text(&generated.public);
            let created = store.create_key(
                &kek,
                NewKey {
                    domain,
                    selector,
                    purpose,
                    public: generated.public.clone(),
                },
                &generated.private_pkcs8,
                &ctx("generate", reason.as_deref()),
            )?;
            println!(
                "{} {}/{} {}{}: pre-activation",
                created.id.as_str(),
                created.domain.as_str(),
                created.selector.as_str(),
                alg,
                if alg.is_weak() {
                    " (WEAK: below SP 800-177 Rec 4-3)"
                } else {
                    ""
                }
            );
            println!(
                "record to publish: {} TXT \"{record}\"",
                created.selector.record_name(&created.domain)?
            );
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::List { json } => {
            let store = open_public(&args)?;
            let keys = store.keys()?;
            if *json {
                let v: Vec<_> = keys.iter().map(key_json).collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for k in &keys {
                    println!(
                        "{}  {:<28} {:<10} {:<14} {}",
                        k.id.as_str(),
                        format!("{}/{}", k.domain.as_str(), k.selector.as_str()),
                        k.algorithm().name(),
                        k.state().to_string(),
                        match &k.purpose {
                            Purpose::SendingMta { host } => format!("mta {host}"),
                            Purpose::ThirdParty { provider } => format!("third party {provider}"),
                        }
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Delegate {
            domain,
            selector,
            target,
            provider,
            reason,
        } => {
            let mut store = if args.store.exists() {
                open(&args)?
            } else {
                open_or_create(&args)?.0
            };
            let d = Delegation {
                domain: Domain::new(domain)?,
                selector: Selector::new(selector)?,
                target: mailtrust_dns::Resolver::parse_name(target)
                    .with_context(|| format!("--target {target:?} is not a DNS name"))?
                    .to_ascii()
                    .to_ascii_lowercase(),
                provider: provider.clone(),
                since: clock(&args).now(),
            };
            match store.delegate(&d, &ctx("delegate", reason.as_deref())) {
                Ok(()) => {}
                Err(e @ mailtrust_keys::StoreError::SelectorTaken(_)) => {
                    eprintln!("mailtrust: {e}");
                    return Ok(ExitCode::from(1));
                }
                Err(e) => return Err(e.into()),
            }
            println!(
                "{}/{} is delegated to {} ({}); publish: {} CNAME {}",
                d.domain.as_str(),
                d.selector.as_str(),
                d.target,
                d.provider,
                d.selector.record_name(&d.domain)?,
                d.target
            );
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Undelegate { selector, reason } => {
            let mut store = open(&args)?;
            let Some((d, s)) = selector.split_once('/') else {
                bail!("give the delegated selector as DOMAIN/SELECTOR");
            };
            let (d, s) = (Domain::new(d)?, Selector::new(s)?);
            if store.undelegate(&d, &s, &ctx("undelegate", reason.as_deref()))? {
                println!(
                    "{selector} is no longer tracked; remove its CNAME when the provider stops sending"
                );
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("mailtrust: {selector} is not a delegated selector");
                Ok(ExitCode::from(1))
            }
        }
        KeysCommand::Delegations {
            json,
            check,
            resolver,
        } => {
            let store = open_public(&args)?;
            let all = store.delegations()?;
            let checked = if *check {
                check_delegations(&all, resolver)?
            } else {
                Vec::new()
            };
            if *json {
                let v: Vec<_> = all
                    .iter()
                    .enumerate()
                    .map(|(i, d)| {
                        json!({
                            "domain": d.domain.as_str(),
                            "selector": d.selector.as_str(),
                            "target": d.target,
                            "provider": d.provider,
                            "since": mailtrust_dns::format_utc(d.since.0),
                            "check": checked.get(i),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for (i, d) in all.iter().enumerate() {
                    let status = match checked.get(i) {
                        None => String::new(),
                        Some(DelegationStatus::Ok { key, dnssec }) => {
                            format!("  ok ({key}, DNSSEC {dnssec})")
                        }
                        Some(DelegationStatus::Problem { detail }) => {
                            format!("  PROBLEM: {detail}")
                        }
                        Some(DelegationStatus::Unreachable { detail }) => {
                            format!("  could not check: {detail}")
                        }
                    };
                    println!(
                        "{:<32} -> {} ({}){status}",
                        format!("{}/{}", d.domain.as_str(), d.selector.as_str()),
                        d.target,
                        d.provider
                    );
                }
            }
            Ok(
                if checked
                    .iter()
                    .any(|c| matches!(c, DelegationStatus::Problem { .. }))
                {
                    ExitCode::from(1)
                } else if checked
                    .iter()
                    .any(|c| matches!(c, DelegationStatus::Unreachable { .. }))
                {
                    ExitCode::from(3)
                } else {
                    ExitCode::SUCCESS
                },
            )
        }
        KeysCommand::Show { key, json } => {
            let store = open_public(&args)?;
            let k = find(&store, key)?;
            let v = key_json(&k);
            if *json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for (name, value) in v.as_object().into_iter().flatten() {
                    println!("{name:>12}: {value}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Publish { key, to, reason } => {
            let mut store = open(&args)?;
            let k = find(&store, key)?;
            if let Some(code) = allowed(&k, Event::Publish) {
                return Ok(code);
            }
            let text = dkim_record_text(&k.public);
            let c = ctx("publish", reason.as_deref());
            if let Err(code) = put_and_record(&mut store, &k, Event::Publish, &text, to, &c)? {
                return Ok(code);
            }
            step(&mut store, &k, Event::Publish, "publish", reason.as_deref())
        }
        KeysCommand::Activate {
            key,
            force,
            resolver,
            reason,
        } => {
            let mut store = open(&args)?;
            let k = find(&store, key)?;
            if let Some(code) = allowed(&k, Event::Activate) {
                return Ok(code);
            }
            let owner = k.selector.record_name(&k.domain)?;
            let expected = dkim_record_text(&k.public);
            let rt = super::dns::runtime()?;
            let report = rt.block_on(async {
                let r = super::dns::resolver(resolver).await?;
                let wait = Duration::from_secs_f64(resolver.timeout.clamp(0.1, 600.0));
                Ok::<_, anyhow::Error>(check_visible(&r, &owner, &expected, wait).await?)
            })?;
            for a in &report.authoritative.answers {
                println!(
                    "  {} {}: {}",
                    a.server,
                    a.address,
                    if a.records.contains(&expected) {
                        "serves the record"
                    } else {
                        "does NOT serve the record"
                    }
                );
            }
            let code = match &report.verdict {
                Visibility::Secure => {
                    println!("{owner}: visible at every authoritative server and DNSSEC-secure");
                    None
                }
                Visibility::Insecure => {
                    println!(
                        "{owner}: visible at every authoritative server; warning: the zone is not DNSSEC-signed (SP 800-177 Rec 4-6 asks for DNSSEC)"
                    );
                    None
                }
                Visibility::NotVisible { detail } => Some((1, detail.clone())),
                Visibility::Bogus { detail } => {
                    Some((1, format!("the record fails DNSSEC validation: {detail}")))
                }
                Visibility::Unreachable { detail } => Some((3, detail.clone())),
            };
            if let Some((exit, why)) = code {
                if !*force {
                    eprintln!("mailtrust: not activated: {why}");
                    return Ok(ExitCode::from(exit));
                }
                eprintln!(
                    "mailtrust: WARNING: activating WITHOUT proof that receivers can see the key ({why}); mail signed with it may fail DKIM"
                );
            }
            let reason = if *force {
                Some(format!(
                    "forced: {}",
                    reason.as_deref().unwrap_or("no reason given")
                ))
            } else {
                reason.clone()
            };
            step(
                &mut store,
                &k,
                Event::Activate,
                "activate",
                reason.as_deref(),
            )
        }
        KeysCommand::Deactivate { key, reason } => {
            let mut store = open(&args)?;
            let k = find(&store, key)?;
            step(
                &mut store,
                &k,
                Event::Deactivate,
                "deactivate",
                reason.as_deref(),
            )
        }
        KeysCommand::Revoke { key, to, reason } => {
            let mut store = open(&args)?;
            let k = find(&store, key)?;
            if k.state() == KeyState::Compromised {
                return compromise::revoke_compromised(
                    &mut store,
                    &k,
                    to,
                    &ctx("revoke", reason.as_deref()),
                );
            }
            if let Some(code) = allowed(&k, Event::Revoke) {
                return Ok(code);
            }
            let text = revoked_record_text(k.algorithm());
            let c = ctx("revoke", reason.as_deref());
            if let Err(code) = put_and_record(&mut store, &k, Event::Revoke, &text, to, &c)? {
                return Ok(code);
            }
            step(&mut store, &k, Event::Revoke, "revoke", reason.as_deref())
        }
        KeysCommand::Destroy {
            key,
            force,
            resolver,
            reason,
        } => compromise::destroy(&args, key, *force, resolver, reason.as_deref()),
        KeysCommand::Compromised {
            key,
            to,
            opendkim,
            reload_cmd,
            reason,
        } => compromise::compromised(
            &args,
            key,
            to,
            opendkim,
            reload_cmd.as_deref(),
            reason.as_deref(),
        ),
        KeysCommand::Run {
            rotate_days,
            lead_days,
            retire_days,
            destroy_days,
            reload_cmd,
            opendkim,
            to,
            resolver,
        } => {
            let policy = Policy::from_days(*rotate_days, *lead_days, *retire_days, *destroy_days);
            let hooks = Hooks {
                reload_cmd: reload_cmd.as_deref(),
                opendkim,
            };
            run_due(&args, &policy, to, resolver, &hooks)
        }
        KeysCommand::Export {
            key,
            private,
            output,
            opendkim,
            reload_cmd,
        } => {
            let Some(key) = key else {
                let mut store = open(&args)?;
                return Ok(
                    match export_and_reload(
                        &args,
                        &mut store,
                        opendkim,
                        reload_cmd.as_deref(),
                        "keys export",
                        false,
                    )? {
                        Reloaded::Done => ExitCode::SUCCESS,
                        Reloaded::Failed => ExitCode::from(1),
                    },
                );
            };
            let text: zeroize::Zeroizing<String> = if *private {
                let (mut store, kek) = open_with_kek(&args)?;
                let k = find(&store, key)?;
                let der = store.private_key(&kek, &k.id)?;
                eprintln!(
                    "mailtrust: exporting the PRIVATE key of {}/{}: keep it as secret as the store",
                    k.domain.as_str(),
                    k.selector.as_str()
                );
                // The export itself is worth a line in the audit log: who took a copy, when.
                store.note(&k.id, "export_private", &ctx("export --private", None))?;
                mailtrust_keys::pem::private_key_pem(&der)
            } else {
                // With the KEK given, the public key is checked against the private key first.
                let store = if has_kek(&args) {
                    open(&args)?
                } else {
                    open_public(&args)?
                };
                let k = find(&store, key)?;
                zeroize::Zeroizing::new(mailtrust_keys::pem::public_key_pem(&k.public))
            };
            match output {
                Some(path) => write_private(path, text.as_bytes())?,
                None => print!("{}", text.as_str()),
            }
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Import { key, pem } => {
            let weak = key.weak();
            let bytes = zeroize::Zeroizing::new(
                std::fs::read(pem).with_context(|| format!("cannot read {}", pem.display()))?,
            );
            let (public, private) = mailtrust_keys::pem::import_private(&bytes, weak)?;
            let (domain, selector, purpose) = key.identity()?;
            let reason = &key.reason;
            let (mut store, kek) = open_with_kek(&args)?;
            let algorithm = public.algorithm;
            let created = store.create_key(
                &kek,
                NewKey {
                    domain,
                    selector,
                    purpose,
                    public,
                },
                &private,
                &ctx("import", reason.as_deref()),
            )?;
            println!(
                "{} {}/{} {}{}: imported, pre-activation",
                created.id.as_str(),
                created.domain.as_str(),
                created.selector.as_str(),
                algorithm,
                if algorithm.is_weak() { " (WEAK)" } else { "" }
            );
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Backup { dest } => {
            let store = open_public(&args)?;
            store.backup_to(dest)?;
            println!("backed up {} to {}", args.store.display(), dest.display());
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Restore {
            backup,
            allow_regression,
        } => {
            use mailtrust_keys::store::restore;
            let params = restore::backup_kdf_params(backup, &args.store, clock(&args))?;
            let kek = kek(&args, params)?;
            let done = match restore::restore(
                backup,
                &args.store,
                &kek,
                clock(&args),
                *allow_regression,
                &ctx("restore", None),
            ) {
                Err(e @ mailtrust_keys::StoreError::RestoreRegression(_)) => {
                    eprintln!("mailtrust: {e}");
                    return Ok(ExitCode::from(1));
                }
                other => other?,
            };
            if let Some(saved) = &done.saved_previous {
                println!("the store it replaces is saved as {}", saved.display());
            }
            for r in &done.regressions {
                eprintln!("mailtrust: warning: {r}");
            }
            println!(
                "restored {} ({} key(s)) to {}; run `mailtrust keys run` to reconcile DNS with it",
                backup.display(),
                done.keys,
                args.store.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::RotateKek { new_kek_file } => {
            let new =
                Kek::from_file(new_kek_file).context("cannot read the new key-encryption key")?;
            let (mut store, old) = open_with_kek(&args)?;
            let done = store.rotate_kek(&old, &new, &ctx("rotate-kek", None))?;
            // From here on the rotation has committed: only warnings, and exit 0, so that
            // nobody throws the new KEK away believing it failed.
            println!(
                "{} key(s) and the audit log's key re-encrypted under the new key-encryption key; the store now opens ONLY with the new one",
                done.keys
            );
            if done.old_pages_remain {
                eprintln!(
                    "mailtrust: warning: another process has the store open, so copies of the data keys wrapped under the old KEK remain in {}-wal until it closes the store and a later destroy or rotation checkpoints it",
                    args.store.display()
                );
            }
            for copy in before_restore_copies(&args.store) {
                eprintln!(
                    "mailtrust: warning: {} (saved by a restore) still opens only with the OLD key-encryption key; rotate it too (mailtrust keys --store {} rotate-kek ...) or delete it",
                    copy.display(),
                    copy.display()
                );
            }
            println!("keep the old KEK until backups made with it expire");
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Log { json, verify } => {
            if *verify {
                let store = open(&args)?;
                let (count, head) = store.log_head()?;
                return Ok(match store.verify_log()? {
                    LogVerification::Intact { entries } => {
                        // The head, to note elsewhere: a whole-file rollback to an older copy
                        // can only be seen by comparing with a head kept outside the store.
                        println!("audit log intact: {entries} entries; head {head} (row {count})");
                        ExitCode::SUCCESS
                    }
                    LogVerification::Tampered { seq, problem } => {
                        eprintln!("mailtrust: the audit log was changed at entry {seq}: {problem}");
                        ExitCode::from(1)
                    }
                });
            }
            let store = open_public(&args)?;
            let log = store.audit_log()?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&log)?);
            } else {
                for e in &log {
                    println!(
                        "{:>4} {} {} {} {} -> {} ({}{})",
                        e.seq,
                        mailtrust_dns::format_utc(e.at.0),
                        e.key_id.as_deref().unwrap_or("-"),
                        e.event,
                        e.from_state.as_deref().unwrap_or("-"),
                        e.to_state.as_deref().unwrap_or("-"),
                        e.command,
                        e.reason
                            .as_deref()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Whether a KEK was given at all (file or environment), to check public keys when possible.
fn has_kek(args: &KeysArgs) -> bool {
    args.kek_file.is_some()
        || std::env::var_os("MAILTRUST_KEK").is_some()
        || std::env::var_os("MAILTRUST_KEK_PASSPHRASE").is_some()
}

/// The `STORE.before-restore-TIME` copies next to the store: `rotate-kek` does not re-wrap
/// them (each is a store of its own, possibly under an even older KEK), so it names them.
fn before_restore_copies(store: &std::path::Path) -> Vec<std::path::PathBuf> {
    let (Some(dir), Some(name)) = (store.parent(), store.file_name()) else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.before-restore-", name.to_string_lossy());
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(&prefix) && !n.ends_with("-wal") && !n.ends_with("-shm")
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// Writes a secret to a new file readable by its owner only.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
