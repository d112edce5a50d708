//! `up`, `down`, `load`, `exec`: putting the pieces together in the right order.
//!
//! Order of `up`: keys first, children before parents (each parent's zone file carries its
//! children's DS), then the lab CA and the certificates, then every server's files, then all
//! servers at once, then wait until each answers as it should (DNS and mail side in parallel).
//! Everything runs in one namespace; every PID is recorded as soon as it exists, so `down` can
//! clean up after a crash of `up` at any point.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use crate::command::{Tools, run};
use crate::dnssec::{self, LdnsKey};
use crate::dovecot::{self, DovecotDir};
use crate::error::{IoContext, LabError};
use crate::greeting::{self, ServiceProbe};
use crate::hostile;
use crate::knot::{self, KnotInstance};
use crate::nginx::{self, NginxDir};
use crate::pki::{self, TlsDir};
use crate::postfix::{self, PostfixDir};
use crate::process::{self, Spawned};
use crate::readiness::{self, Probe};
use crate::scenario::{self, DnssecState, Scenario};
use crate::services;
use crate::state::{self, Access};
use crate::topology::{self, endpoint, socket};
use crate::tsig::TsigKey;
use crate::unbound::{self, Role, UnboundInstance};
use crate::zone::{self, Delegation, DsRecord};
use crate::{LabInfo, LabOptions, TrustAnchorFile, ZoneInfo, accounts, netns, prereq};

/// How long `up` waits for all servers to answer (Knot signs at load; a second is typical).
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Generated content of a state directory; `up` removes and rebuilds exactly these, so other
/// files a user keeps there are left alone.
const GENERATED: &[&str] = &[
    "knot",
    "unbound",
    "keys",
    "logs",
    "pids",
    "trust-anchor.key",
    "tsig.key",
    "lab.json",
    "netns",
    "tls",
    "postfix",
    "dovecot",
    "nginx",
];

/// Paths inside a state directory.
#[derive(Debug, Clone)]
struct StateDir {
    root: PathBuf,
}

impl StateDir {
    fn pids(&self) -> PathBuf {
        self.root.join("pids")
    }
    fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    fn keys(&self) -> PathBuf {
        self.root.join("keys")
    }
    /// 0600: it carries the TSIG secret.
    fn lab_json(&self) -> PathBuf {
        self.root.join("lab.json")
    }
    /// The TSIG key as `ALGORITHM:NAME:SECRET`, 0600, for tools that read a key from a file.
    fn tsig_file(&self) -> PathBuf {
        self.root.join("tsig.key")
    }
    fn netns_file(&self) -> PathBuf {
        self.root.join("netns")
    }
    fn trust_anchor(&self) -> PathBuf {
        self.root.join("trust-anchor.key")
    }
    fn root_hints(&self) -> PathBuf {
        self.root.join("unbound").join("root.hints")
    }

    /// The namespace of this state dir: as recorded by `up`, else derived from the path.
    fn netns(&self) -> String {
        std::fs::read_to_string(self.netns_file())
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| netns::name_for(&self.root))
    }
}

/// The scenario directories in reading order: the built-in one (optional at run time: an
/// installed binary may not have the source tree), then the user's (required).
fn scenario_dirs(opts: &LabOptions) -> Vec<(PathBuf, bool)> {
    std::iter::once((builtin_scenario_dir(), false))
        .chain(opts.scenario_dirs.iter().map(|d| (d.clone(), true)))
        .collect()
}

/// The source tree's `lab/scenarios`.
pub(crate) fn builtin_scenario_dir() -> PathBuf {
    let builtin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../lab/scenarios");
    builtin.canonicalize().unwrap_or(builtin)
}

/// Writes a file everyone may read (configurations, zones, public keys), never through a
/// symlink; secrets go through [`state::write_file`] with their [`Access`].
pub(crate) fn write(path: &Path, text: &str) -> Result<(), LabError> {
    state::write_file(path, text.as_bytes(), Access::Public)
}

fn mkdirs(dirs: &[PathBuf]) -> Result<(), LabError> {
    for dir in dirs {
        std::fs::create_dir_all(dir).context(|| format!("cannot create {}", dir.display()))?;
    }
    Ok(())
}

/// Starts the lab. If a lab already runs in `opts.state`, this is an error (stop it with
/// `down` first); leftovers of a crashed lab are cleaned up first. If anything fails half-way,
/// what was started is stopped again before the error is returned.
pub(crate) fn up(opts: &LabOptions) -> Result<LabInfo, LabError> {
    let tools = prereq::check()?;
    let state = StateDir {
        root: state::prepare(&opts.state)?,
    };
    accounts::check_reachable(&state.root)?;
    let name = state.netns();
    let alive = process::records(&state.pids())
        .iter()
        .any(|(_, r)| process::is_alive(r));
    if alive || netns::exists(&name) {
        return Err(LabError::AlreadyRunning {
            state: state.root.clone(),
            netns: name,
        });
    }
    remove_generated(&state)?;
    let name = netns::name_for(&state.root);
    mkdirs(&[state.pids(), state.logs()])?;
    // Offline DNSSEC keys (ldns writes them with the umask's mode): root's alone.
    accounts::make_dir(&state.keys(), 0o700, 0, 0)?;
    write(&state.netns_file(), &format!("{name}\n"))?;
    let started = netns::create(&tools.ip, &name).and_then(|()| build(&tools, &state, &name, opts));
    match started {
        Ok(info) => Ok(info),
        Err(e) => {
            tracing::warn!(error = %e, "lab up failed; stopping what was started");
            // The files stay: the error names the log of the server that failed.
            if let Err(cleanup) = down(&state.root, Removal::KeepFiles) {
                tracing::warn!(error = %cleanup, "cleanup after failed up also failed");
            }
            Err(e)
        }
    }
}

/// What `build` plans for one scenario zone.
struct Planned<'a> {
    scenario: &'a Scenario,
    delegation: Delegation,
}

fn build(
    tools: &Tools,
    state: &StateDir,
    name: &str,
    opts: &LabOptions,
) -> Result<LabInfo, LabError> {
    let began = Instant::now();
    let phase = |what: &str| tracing::debug!(ms = began.elapsed().as_millis(), "lab up: {what}");
    let scenarios = scenario::load(&scenario_dirs(opts))?;
    let tsig = TsigKey::generate()?;
    state::write_file(
        &state.tsig_file(),
        tsig.file_text().as_bytes(),
        Access::Secret,
    )?;
    let (knot_uid, knot_gid) = accounts::user(knot::USER, "knot")?;
    let (unbound_uid, unbound_gid) = accounts::user(unbound::USER, "unbound")?;

    let mut root_knot = KnotInstance::new(topology::ROOT, &state.root);
    let mut test_knot = KnotInstance::new(topology::TEST, &state.root);
    let mut scen_knot = KnotInstance::new(topology::SCENARIOS, &state.root);
    root_knot.add_zone(".", true, false);
    test_knot.add_zone("test.", true, false);
    let mut planned = Vec::new();
    for s in &scenarios {
        let state_of = s.header.dnssec;
        if state_of != DnssecState::Lame {
            scen_knot.add_zone(&s.zone, state_of.knot_signs(), state_of.updatable());
        }
        planned.push(Planned {
            scenario: s,
            delegation: zone::delegation(s)?,
        });
    }
    for k in [&root_knot, &test_knot, &scen_knot] {
        accounts::make_dir(&k.dir, 0o750, 0, knot_gid)?;
        // keymgr (below) already runs as Knot's user and writes the KASP database.
        accounts::make_dir(&k.storage(), 0o700, knot_uid, knot_gid)?;
        accounts::make_dir(&k.rundir(), 0o700, knot_uid, knot_gid)?;
        mkdirs(&[k.zones_dir()])?;
        state::write_file(
            &k.config_path(),
            k.config(Some(&tsig)).as_bytes(),
            Access::GroupSecret(knot_gid),
        )?;
    }

    // Children first: scenario zones, their keys and DS. The zones are independent (own files,
    // own keys; keymgr's database takes concurrent writers), so a few are prepared at a time.
    let prepared = in_parallel(&planned, ZONE_WORKERS, |p| {
        prepare_scenario(tools, state, &scen_knot, p.scenario)
    });
    for (p, ds) in planned.iter_mut().zip(prepared) {
        p.delegation.ds = ds?;
    }
    let delegations: Vec<Delegation> = planned.iter().map(|p| p.delegation.clone()).collect();
    let test_ds = dnssec::knot_keys(tools, &test_knot.config_path(), "test.")?;
    write(
        &test_knot.zone_file("test."),
        &zone::test_zone(&delegations),
    )?;
    // The root's own DS goes nowhere: the root is the trust anchor (its DNSKEY, below).
    dnssec::knot_keys(tools, &root_knot.config_path(), ".")?;
    write(&root_knot.zone_file("."), &zone::root_zone(&test_ds))?;
    let anchors = dnssec::knot_ksk_dnskeys(tools, &root_knot.config_path(), ".")?;
    write(&state.trust_anchor(), &(anchors.join("\n") + "\n"))?;

    let resolvers = [
        UnboundInstance::new(Role::Iterator, &state.root),
        UnboundInstance::new(Role::Validator, &state.root),
    ];
    write(&state.root_hints(), &zone::root_hints())?;
    for u in &resolvers {
        accounts::make_dir(&u.workdir(), 0o700, unbound_uid, unbound_gid)?;
        write(
            &u.config_path(),
            &u.config(&state.root_hints(), &state.trust_anchor()),
        )?;
        run(Command::new(&tools.unbound_checkconf).arg(u.config_path()))?;
    }

    phase("zones signed and resolvers configured");
    // The mail side: the CA and certificates first (every server reads them), then each
    // server's files. Dovecot's SASL socket lives in Postfix's queue, so Postfix goes first.
    let tls = TlsDir::new(&state.root);
    pki::issue(&tls, time::OffsetDateTime::now_utc())?;
    let postfix_dir = PostfixDir::new(&state.root);
    let dovecot_dir = DovecotDir::new(&state.root);
    let nginx_dir = NginxDir::new(&state.root);
    postfix::prepare(&postfix_dir, &tls)?;
    dovecot::prepare(&dovecot_dir, &tls, &postfix_dir)?;
    nginx::prepare(&nginx_dir, &tls)?;
    phase("certificates and mail server files written");
    if opts.hostile_server_cmd.is_empty() {
        return Err(LabError::Other(
            "the lab's hostile SMTP servers need LabOptions.hostile_server_cmd (the serve-hostile command)"
                .into(),
        ));
    }

    // Start everything; PIDs are recorded by `spawn` as they appear.
    // Root wrote the zone files; now they are Knot's, which writes changes back to them.
    for k in [&root_knot, &test_knot, &scen_knot] {
        accounts::hand_over(&k.zones_dir(), 0o700, knot_uid, knot_gid)?;
    }
    let mut spawned: Vec<Spawned> = Vec::new();
    let mut start = |id: &str, argv: Vec<OsString>| -> Result<(), LabError> {
        spawned.push(process::spawn(
            tools,
            name,
            &state.pids(),
            &state.logs(),
            id,
            &argv,
        )?);
        Ok(())
    };
    for k in [&root_knot, &test_knot, &scen_knot] {
        if !k.zones.is_empty() {
            start(
                k.server.id,
                vec![
                    tools.knotd.clone().into(),
                    "-c".into(),
                    k.config_path().into(),
                ],
            )?;
        }
    }
    let lame_needed = scenarios
        .iter()
        .any(|s| s.header.dnssec == DnssecState::Lame);
    if lame_needed {
        if opts.lame_server_cmd.is_empty() {
            return Err(LabError::Other(
                "a lame scenario needs LabOptions.lame_server_cmd (the serve-lame command)".into(),
            ));
        }
        let mut argv = opts.lame_server_cmd.clone();
        for addr in [topology::LAME.v4, topology::LAME.v6] {
            argv.push("--listen".into());
            argv.push(socket(addr).into());
        }
        start(topology::LAME.id, argv)?;
    }
    for u in &resolvers {
        start(
            u.role.id(),
            vec![
                tools.unbound.clone().into(),
                "-d".into(),
                "-c".into(),
                u.config_path().into(),
            ],
        )?;
    }
    start(
        dovecot::PROCESS,
        dovecot::argv(&tools.dovecot, &dovecot_dir),
    )?;
    start(
        postfix::PROCESS,
        postfix::argv(&tools.postfix_master, &postfix_dir),
    )?;
    start(nginx::PROCESS, nginx::argv(&tools.nginx, &nginx_dir))?;
    for h in hostile::SERVERS {
        let mut argv = opts.hostile_server_cmd.clone();
        argv.push("--mode".into());
        argv.push(h.mode.as_str().into());
        for addr in [h.service.host.v4, h.service.host.v6] {
            argv.push("--listen".into());
            argv.push(endpoint(addr, h.service.port).into());
        }
        start(h.service.process, argv)?;
    }

    phase("all servers started");
    // The mail side is probed in the background while the DNS servers sign their zones.
    let service_probes: Vec<ServiceProbe> = services::all()
        .iter()
        .flat_map(|s| ServiceProbe::for_service(s, &state.logs()))
        .collect();
    let mail_ready = greeting::start(
        name,
        service_probes,
        &tls.ca(),
        Instant::now() + READY_TIMEOUT,
    )?;

    let log = |id: &str| state.logs().join(format!("{id}.log"));
    let mut probes = vec![
        authoritative_probe(
            topology::ROOT.id,
            topology::ROOT.v4,
            ".",
            true,
            log(topology::ROOT.id),
        ),
        authoritative_probe(
            topology::TEST.id,
            topology::TEST.v4,
            "test.",
            true,
            log(topology::TEST.id),
        ),
    ];
    for s in &scenarios {
        if s.header.dnssec != DnssecState::Lame {
            let signed = s.header.dnssec != DnssecState::Unsigned;
            probes.push(authoritative_probe(
                topology::SCENARIOS.id,
                topology::SCENARIOS.v4,
                &s.zone,
                signed,
                log(topology::SCENARIOS.id),
            ));
        }
    }
    readiness::wait(tools, name, probes, &mut spawned, READY_TIMEOUT)?;
    let resolver_probes = vec![
        Probe {
            what: format!("{} on {}", Role::Iterator.id(), topology::RESOLVER_V4),
            server: topology::RESOLVER_V4,
            qname: "test.".into(),
            qtype: "SOA",
            authoritative: false,
            expect_rrsig: true,
            expect_ad: false,
            log: log(Role::Iterator.id()),
            fatal_log_marker: None,
        },
        Probe {
            what: format!("{} on {}", Role::Validator.id(), topology::VALIDATING_V4),
            server: topology::VALIDATING_V4,
            qname: "test.".into(),
            qtype: "SOA",
            authoritative: false,
            expect_rrsig: true,
            expect_ad: true,
            log: log(Role::Validator.id()),
            fatal_log_marker: None,
        },
    ];
    readiness::wait(tools, name, resolver_probes, &mut spawned, READY_TIMEOUT)?;
    phase("DNS ready");
    mail_ready.wait(&mut spawned)?;
    phase("mail side ready");

    let info = lab_info(state, name, &planned, &tsig, &tls);
    let json = serde_json::to_string_pretty(&info).map_err(|source| LabError::Json {
        path: state.lab_json(),
        source,
    })?;
    state::write_file(&state.lab_json(), (json + "\n").as_bytes(), Access::Secret)?;
    Ok(info)
}

/// How many scenario zones are keyed and signed at once (keymgr and ldns are short processes
/// that wait on the disk about as much as they compute).
const ZONE_WORKERS: usize = 3;

/// `dnssec::sign_expired` or `dnssec::sign_bogus_tlsa`.
type OfflineSigner = fn(&Tools, &str, &Path, &Path, &LdnsKey, &LdnsKey) -> Result<(), LabError>;

/// Writes a scenario's zone file (signed offline where its DNSSEC state asks for it) and makes
/// its keys; returns the DS records its parent publishes.
fn prepare_scenario(
    tools: &Tools,
    state: &StateDir,
    scen_knot: &KnotInstance,
    s: &Scenario,
) -> Result<Vec<DsRecord>, LabError> {
    let text = zone::scenario_zone(s);
    let file = scen_knot.zone_file(&s.zone);
    let sign_offline = |sign: OfflineSigner| {
        let dir = state.keys().join(s.zone.trim_end_matches('.'));
        let ksk = LdnsKey::generate(tools, &dir, &s.zone, true)?;
        let zsk = LdnsKey::generate(tools, &dir, &s.zone, false)?;
        let unsigned = dir.join("zone.unsigned");
        write(&unsigned, &text)?;
        sign(tools, &s.zone, &unsigned, &file, &zsk, &ksk)?;
        ksk.ds()
    };
    match s.header.dnssec {
        DnssecState::Signed => {
            let ds = dnssec::knot_keys(tools, &scen_knot.config_path(), &s.zone)?;
            write(&file, &text)?;
            Ok(ds)
        }
        DnssecState::BadDs => {
            dnssec::knot_keys(tools, &scen_knot.config_path(), &s.zone)?;
            // The DS of a key the zone never publishes: the chain breaks at the DS.
            let stray = LdnsKey::generate(tools, &state.keys().join("stray-ds"), &s.zone, true)?;
            write(&file, &text)?;
            stray.ds()
        }
        DnssecState::Expired => sign_offline(dnssec::sign_expired),
        DnssecState::BogusTlsa => sign_offline(dnssec::sign_bogus_tlsa),
        DnssecState::Unsigned => write(&file, &text).map(|()| Vec::new()),
        DnssecState::Lame => Ok(Vec::new()),
    }
}

/// `work` over `items` on `workers` threads; results in the order of `items`.
fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    work: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<R>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers.min(items.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let result = work(item);
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(result);
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .filter_map(|slot| slot.into_inner().ok().flatten())
        .collect()
}

fn authoritative_probe(
    id: &str,
    server: &'static str,
    zone: &str,
    signed: bool,
    log: PathBuf,
) -> Probe {
    Probe {
        what: format!("{id} serving {zone}"),
        server,
        qname: zone.to_string(),
        qtype: "SOA",
        authoritative: true,
        expect_rrsig: signed,
        expect_ad: false,
        log,
        fatal_log_marker: Some(format!("error: [{zone}]")),
    }
}

fn lab_info(
    state: &StateDir,
    name: &str,
    planned: &[Planned<'_>],
    tsig: &TsigKey,
    tls: &TlsDir,
) -> LabInfo {
    let mut zones = vec![
        ZoneInfo {
            name: ".".into(),
            dnssec: DnssecState::Signed.as_str().into(),
            primary: socket(topology::ROOT.v4),
            tsig: None,
        },
        ZoneInfo {
            name: "test.".into(),
            dnssec: DnssecState::Signed.as_str().into(),
            primary: socket(topology::TEST.v4),
            tsig: None,
        },
    ];
    for p in planned {
        let dnssec = p.scenario.header.dnssec;
        let primary = if dnssec == DnssecState::Lame {
            topology::LAME.v4
        } else {
            topology::SCENARIOS.v4
        };
        zones.push(ZoneInfo {
            name: p.scenario.zone.clone(),
            dnssec: dnssec.as_str().into(),
            primary: socket(primary),
            tsig: dnssec.updatable().then(|| tsig.to_json(&state.tsig_file())),
        });
    }
    let services = services::all()
        .iter()
        .map(|s| s.json(&state.logs()))
        .collect();
    LabInfo {
        state: Some(state.root.clone()),
        netns: name.to_string(),
        resolver: socket(topology::RESOLVER_V4),
        validating_resolver: socket(topology::VALIDATING_V4),
        trust_anchor: TrustAnchorFile {
            path: state.trust_anchor(),
            format: "dnskey".into(),
        },
        ca: Some(tls.ca()),
        zones,
        services,
    }
}

/// What `down` does with the files `up` wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removal {
    /// Remove them, and the state directory itself if `up` created it.
    All,
    /// Keep logs, configurations and keys for a post-mortem (the next `up` replaces them).
    KeepFiles,
}

/// Deletes what `up` generates in `state` (a user's other files there stay).
fn remove_generated(state: &StateDir) -> Result<(), LabError> {
    for entry in GENERATED {
        let path = state.root.join(entry);
        // lstat: a symlink is removed, never followed (remove_dir_all does not follow either).
        let removed = match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&path),
            Ok(_) => std::fs::remove_file(&path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        };
        removed.context(|| format!("cannot remove old {}", path.display()))?;
    }
    Ok(())
}

/// Stops everything recorded in `state` and deletes the namespace, then removes the files as
/// `removal` says. Idempotent; works on the leftovers of a crashed `up`.
pub(crate) fn down(state: &Path, removal: Removal) -> Result<(), LabError> {
    // The same checks as `up`: root is about to delete in there.
    let Some(root) = state::existing(state)? else {
        return Ok(()); // No state directory: nothing was ever started there.
    };
    let state = StateDir { root };
    let name = state.netns();
    let records = process::records(&state.pids());
    let survivors = process::stop(&records.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>());
    if netns::exists(&name) {
        let ip = prereq::find_ip()?;
        // Anything else still inside (started by a crashed `up` before its PID was recorded,
        // or by `lab exec`) would keep using a namespace that is about to disappear.
        let strays = netns::pids(&ip, &name)?;
        if !strays.is_empty() {
            tracing::info!(?strays, netns = %name, "stopping processes left in the namespace");
            process::stop_pids(&strays);
        }
        netns::delete(&ip, &name)?;
    }
    if !survivors.is_empty() {
        return Err(LabError::Other(format!(
            "could not stop {} (even with SIGKILL)",
            survivors.join(", ")
        )));
    }
    for (path, _) in records {
        let _ = std::fs::remove_file(path);
    }
    for path in [state.lab_json(), state.netns_file()] {
        if path.exists() {
            std::fs::remove_file(&path).context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    if removal == Removal::KeepFiles {
        return Ok(());
    }
    remove_generated(&state)?;
    let marker = state.root.join(state::CREATED_MARKER);
    if marker.exists() {
        std::fs::remove_file(&marker).context(|| format!("cannot remove {}", marker.display()))?;
        // Not recursive: files a user put there meanwhile stay, and so does the directory.
        if let Err(e) = std::fs::remove_dir(&state.root) {
            tracing::info!(state = %state.root.display(), error = %e, "state directory kept");
        }
    }
    Ok(())
}

/// Reads `lab.json` of a running lab.
pub(crate) fn load(state: &Path) -> Result<LabInfo, LabError> {
    // lab.json names the namespace `exec` enters as root: only from a directory root alone
    // controls (a missing one fails below, as "not running").
    state::existing(state)?;
    let path = state.join("lab.json");
    let bytes = std::fs::read(&path).map_err(|e| LabError::NotRunning {
        state: state.to_path_buf(),
        reason: format!("cannot read {}: {e}", path.display()),
    })?;
    let info: LabInfo =
        serde_json::from_slice(&bytes).map_err(|source| LabError::Json { path, source })?;
    if !netns::exists(&info.netns) {
        return Err(LabError::NotRunning {
            state: state.to_path_buf(),
            reason: format!("its network namespace {} is gone", info.netns),
        });
    }
    Ok(info)
}

/// Runs `cmd` inside the lab's namespace with inherited stdio.
pub(crate) fn exec(state: &Path, cmd: &[OsString]) -> Result<ExitStatus, LabError> {
    let Some((program, args)) = cmd.split_first() else {
        return Err(LabError::Other("lab exec needs a command to run".into()));
    };
    let info = load(state)?;
    let ip = prereq::find_ip()?;
    let mut command = Command::new(&ip);
    command
        .args(["netns", "exec", info.netns.as_str()])
        .arg(program)
        .args(args);
    command.status().map_err(|source| LabError::Io {
        context: format!("cannot run `{}`", crate::command::describe(&command)),
        source,
    })
}
