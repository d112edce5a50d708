//! `keys run`: every due lifecycle step, after reconciling the store with DNS (interrupted
//! steps first, then each key's record), with the hooks that follow a key starting or
//! stopping to sign.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use mailtrust_dns::authorities::Propagation;
use mailtrust_keys::delegated::DelegationStatus;
use mailtrust_keys::generate::{dkim_record_text, revoked_record_text};
use mailtrust_keys::publish::{Visibility, check_visible};
use mailtrust_keys::rotation::{Policy, Step, next_step};
use mailtrust_keys::store::delegation::Delegation;
use mailtrust_keys::{
    AuditContext, Event, KeyRecord, KeyStore, NewKey, SqliteKeyStore, generate, transition,
};

use super::opendkim::{Reloaded, export_and_reload, run_reload};
use super::publication::{Put, put_and_record, put_record};
use super::{clock, kek, open};
use crate::args::{KeysArgs, OpenDkimArgs, PublishArgs};

/// `keys run`: one due step at a time, re-planned from the store after each, so that a run
/// killed anywhere leaves a state the next run finishes.
pub(super) fn run_due(
    args: &KeysArgs,
    policy: &Policy,
    to: &PublishArgs,
    resolver_args: &crate::args::ResolverArgs,
    hooks: &Hooks<'_>,
) -> anyhow::Result<ExitCode> {
    if to.zone_file {
        bail!("keys run publishes by itself: give --server with --tsig-file, or --publish-cmd");
    }
    let mut store = open(args)?;
    let clock = clock(args);
    // Testing only: stop dead after N steps, as a kill -9 would (see tests/lab/keys.rs).
    let crash_after: Option<usize> = std::env::var("MAILTRUST_KEYS_RUN_CRASH_AFTER")
        .ok()
        .and_then(|v| v.parse().ok());
    let ctx = |reason: &str| AuditContext::new("mailtrust keys run", Some(reason));
    reconcile(&mut store, to, resolver_args)?;
    // Also repairs an export a killed run left behind the store, and retries a reload that
    // failed last time.
    if let Err(code) = hooks.after_change(args, &mut store, None) {
        return Ok(code);
    }
    let delegations = store.delegations()?;
    for (d, c) in delegations
        .iter()
        .zip(check_delegations(&delegations, resolver_args)?)
    {
        match c {
            DelegationStatus::Ok { .. } => {}
            DelegationStatus::Problem { detail } => eprintln!(
                "keys run: warning: delegated selector {}/{}: {detail}",
                d.domain.as_str(),
                d.selector.as_str()
            ),
            DelegationStatus::Unreachable { detail } => eprintln!(
                "keys run: delegated selector {}/{} not checked: {detail}",
                d.domain.as_str(),
                d.selector.as_str()
            ),
        }
    }
    let mut done = 0usize;
    // A bound on steps: a run never loops, whatever the store holds.
    for _ in 0..1000 {
        let keys = store.keys()?;
        let Some(step) = next_step(&keys, policy, clock.now()) else {
            println!("keys run: nothing (more) is due");
            return Ok(ExitCode::SUCCESS);
        };
        match &step {
            Step::Revoke { id } => {
                let k = store.key(id)?;
                let text = revoked_record_text(k.algorithm());
                let c = ctx("retired: deactivated long enough");
                if let Err(code) = put_and_record(&mut store, &k, Event::Revoke, &text, to, &c)? {
                    return Ok(code);
                }
                store.apply(id, Event::Revoke, &c)?;
            }
            Step::Destroy { id } => {
                store.apply(id, Event::Destroy, &ctx("retention period over"))?;
            }
            Step::CreateSuccessor {
                domain,
                selector,
                purpose,
                algorithm,
            } => {
                let kek = kek(args, store.kdf_params()?)?;
                store.verify_kek(&kek)?;
                let g = generate(*algorithm)?;
                store.create_key(
                    &kek,
                    NewKey {
                        domain: domain.clone(),
                        selector: selector.clone(),
                        purpose: purpose.clone(),
                        public: g.public.clone(),
                    },
                    &g.private_pkcs8,
                    &ctx("rotation: successor"),
                )?;
            }
            Step::Publish { id } => {
                let k = store.key(id)?;
                let text = dkim_record_text(&k.public);
                let c = ctx("rotation: publish ahead");
                if let Err(code) = put_and_record(&mut store, &k, Event::Publish, &text, to, &c)? {
                    return Ok(code);
                }
                store.apply(id, Event::Publish, &c)?;
            }
            Step::Activate { id } => {
                let k = store.key(id)?;
                let owner = k.selector.record_name(&k.domain)?;
                let expected = dkim_record_text(&k.public);
                let rt = crate::cmd::dns::runtime()?;
                let report = rt.block_on(async {
                    let r = crate::cmd::dns::resolver(resolver_args).await?;
                    let wait = Duration::from_secs_f64(resolver_args.timeout.clamp(0.1, 600.0));
                    Ok::<_, anyhow::Error>(check_visible(&r, &owner, &expected, wait).await?)
                })?;
                match &report.verdict {
                    Visibility::Secure => {}
                    Visibility::Insecure => println!(
                        "keys run: {owner} is visible; warning: the zone is not DNSSEC-signed (Rec 4-6)"
                    ),
                    Visibility::Unreachable { detail } => {
                        eprintln!("mailtrust: not activating {owner} yet: {detail}");
                        return Ok(ExitCode::from(3));
                    }
                    Visibility::NotVisible { detail } | Visibility::Bogus { detail } => {
                        eprintln!("mailtrust: not activating {owner} yet: {detail}");
                        return Ok(ExitCode::from(1));
                    }
                }
                store.apply(
                    id,
                    Event::Activate,
                    &ctx("rotation: successor visible everywhere"),
                )?;
                if let Err(code) = hooks.after_change(args, &mut store, Some("an activation")) {
                    return Ok(code);
                }
            }
            Step::Deactivate { id } => {
                store.apply(
                    id,
                    Event::Deactivate,
                    &ctx("rotation: replaced by a newer key"),
                )?;
                if let Err(code) = hooks.after_change(args, &mut store, Some("a deactivation")) {
                    return Ok(code);
                }
            }
        }
        done += 1;
        println!("keys run: {}", serde_json::to_string(&step)?);
        if crash_after == Some(done) {
            // As a kill -9 would: no destructors, no cleanup (the status a shell shows for
            // SIGKILL), and no core file as abort() might leave.
            std::process::exit(137);
        }
    }
    bail!("keys run: more than 1000 steps due at once; the store looks damaged")
}

/// Looks every delegated selector up (concurrently; one resolver).
pub(super) fn check_delegations(
    all: &[Delegation],
    resolver_args: &crate::args::ResolverArgs,
) -> anyhow::Result<Vec<DelegationStatus>> {
    if all.is_empty() {
        return Ok(Vec::new());
    }
    let rt = crate::cmd::dns::runtime()?;
    rt.block_on(async {
        let r = crate::cmd::dns::resolver(resolver_args).await?;
        Ok(futures_util::future::join_all(
            all.iter().map(|d| mailtrust_keys::delegated::check(&r, d)),
        )
        .await)
    })
}

/// What `keys run` does after a key starts or stops signing.
pub(super) struct Hooks<'a> {
    pub(super) reload_cmd: Option<&'a str>,
    pub(super) opendkim: &'a OpenDkimArgs,
}

impl Hooks<'_> {
    /// Brings the OpenDKIM export up to date and reloads (see `export_and_reload`); without an
    /// export, runs the reload command after a key started or stopped signing (`what`). A
    /// failed reload ends the run with exit 1: the next step (deactivating the old key) must
    /// wait until the signer has the new one, and the next run reloads again.
    fn after_change(
        &self,
        args: &KeysArgs,
        store: &mut SqliteKeyStore,
        what: Option<&str>,
    ) -> Result<(), ExitCode> {
        let failed = |e: anyhow::Error| {
            eprintln!("mailtrust: {e:#}");
            ExitCode::from(1)
        };
        if self.opendkim.opendkim.is_some() {
            return match export_and_reload(
                args,
                store,
                self.opendkim,
                self.reload_cmd,
                "keys run",
                false,
            )
            .map_err(failed)?
            {
                Reloaded::Done => Ok(()),
                Reloaded::Failed => Err(ExitCode::from(1)),
            };
        }
        if let (Some(cmd), Some(what)) = (self.reload_cmd, what) {
            run_reload(cmd).map_err(|e| {
                eprintln!(
                    "mailtrust: the reload command failed after {what}: {e:#}; run it by hand"
                );
                ExitCode::from(1)
            })?;
            println!("keys run: reloaded after {what}");
        }
        Ok(())
    }
}

/// Puts back the record each key should have (its public key, or the revoked form) where the
/// zone's servers serve something else: DNS edited by hand, a provider that lost a record, a
/// run killed between an update and its commit. Servers that do not answer are left for the
/// next run; they never count as "record missing".
fn reconcile(
    store: &mut SqliteKeyStore,
    to: &PublishArgs,
    resolver_args: &crate::args::ResolverArgs,
) -> anyhow::Result<()> {
    let rt = crate::cmd::dns::runtime()?;
    let resolver = rt.block_on(crate::cmd::dns::resolver(resolver_args))?;
    let wait = Duration::from_secs_f64(resolver_args.timeout.clamp(0.1, 600.0));
    // First the steps an earlier run (or command) left between its DNS change and its commit:
    // DNS decides whether the change happened.
    // What every authoritative server serves at a key's selector; `None` (said on stderr) when
    // one of them could not be asked, which leaves the key for the next run.
    let served = |k: &KeyRecord| -> anyhow::Result<Option<(String, Propagation)>> {
        let owner = k.selector.record_name(&k.domain)?;
        let name = mailtrust_dns::Resolver::parse_name(&owner)?;
        let p = rt.block_on(mailtrust_dns::authorities::propagation(
            &resolver,
            &name,
            mailtrust_dns::QueryType::Txt,
            wait,
        ));
        if !p.complete() {
            eprintln!("keys run: cannot check {owner} now (a server did not answer); next run");
            return Ok(None);
        }
        Ok(Some((owner, p)))
    };
    for intent in store.intents()? {
        let k = store.key(&intent.key_id)?;
        let Some((owner, p)) = served(&k)? else {
            continue;
        };
        let since = mailtrust_dns::format_utc(intent.since.0);
        // One server is enough: a change that reached the primary happened, even if a
        // secondary has not caught up (the reconciliation below and activation see to that).
        let reached = p.answers.iter().any(|a| a.records.contains(&intent.record));
        match transition(k.state(), intent.event) {
            // The revoked record of a key already compromised: no state to change.
            Ok(to) if reached && to == k.state() => {
                println!(
                    "keys run: {owner}: the {} step begun at {since} reached DNS; recording it",
                    intent.event.name()
                );
                store.fulfil_intent(
                    &k.id,
                    "revoked_in_dns",
                    &AuditContext::new(
                        "mailtrust keys run",
                        Some("completing an interrupted step: DNS already holds the record"),
                    ),
                )?;
            }
            Ok(_) if reached => {
                println!(
                    "keys run: {owner}: the {} step begun at {since} reached DNS; recording it",
                    intent.event.name()
                );
                store.apply(
                    &k.id,
                    intent.event,
                    &AuditContext::new(
                        "mailtrust keys run",
                        Some("completing an interrupted step: DNS already holds the record"),
                    ),
                )?;
            }
            _ => {
                println!(
                    "keys run: {owner}: the {} step begun at {since} {}; dropping it",
                    intent.event.name(),
                    if reached {
                        "no longer fits the key's state"
                    } else {
                        "did not reach DNS"
                    }
                );
                store.clear_intent(
                    &k.id,
                    &AuditContext::new(
                        "mailtrust keys run",
                        Some("interrupted step never reached DNS"),
                    ),
                )?;
            }
        }
    }
    for k in store.keys()? {
        let Some(desired) = k.dkim_record_text() else {
            continue;
        };
        let Some((owner, p)) = served(&k)? else {
            continue;
        };
        if p.answers.iter().all(|a| a.records.contains(&desired)) {
            continue;
        }
        println!(
            "keys run: {owner} does not hold the record of key {} ({}); publishing it again",
            k.id.as_str(),
            k.state()
        );
        match put_record(&k, to, &desired)? {
            Put::Done => store.note(
                &k.id,
                "republish",
                &AuditContext::new(
                    "mailtrust keys run",
                    Some("record missing or different in DNS"),
                ),
            )?,
            Put::Refused(code) | Put::Unknown(code) => {
                eprintln!("keys run: could not reconcile {owner} ({code:?}); next run")
            }
        }
    }
    Ok(())
}
