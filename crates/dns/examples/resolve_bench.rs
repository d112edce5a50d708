//! Benchmark: validated lookups through mailtrust's resolver against plain lookups of the same
//! names through the same Unbound, in one run. Run by `bench/dns.sh` inside the lab; not a test.
//!
//! Usage: resolve_bench --resolver IP:PORT --trust-anchor FILE --zone ZONE --names N
//!        [--concurrency C] [--rounds R]
//! Names are `h<i>.<ZONE>` for i in 0..N, each with one A record in a signed zone.
//!
//! Second mode, the bound for the audit benchmark (`bench/audit.sh`):
//!        resolve_bench --resolver IP:PORT --queries FILE [--concurrency C]
//! FILE holds one `NAME TYPE` per line; every query is sent once through a plain hickory
//! resolver (no validation, no cache) and the answered queries per second are printed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use hickory_resolver::config::{NameServerConfig, ResolverConfig as HickoryConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RecordType};
use mailtrust_dns::{
    DnssecStatus, Outcome, QueryType, Resolver, ResolverConfig, TrustAnchorSet, Upstream,
};

struct Args {
    resolver: SocketAddr,
    anchor: PathBuf,
    zone: String,
    names: usize,
    concurrency: usize,
    rounds: usize,
}

fn args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut resolver, mut anchor, mut zone, mut names, mut concurrency) =
        (None, None, None, 2000, 200);
    let mut rounds = 5;
    while let Some(a) = it.next() {
        let v = it.next().ok_or(format!("{a} needs a value"))?;
        match a.as_str() {
            "--resolver" => resolver = Some(v.parse::<SocketAddr>().map_err(|e| e.to_string())?),
            "--trust-anchor" => anchor = Some(PathBuf::from(v)),
            "--zone" => zone = Some(v),
            "--names" => names = v.parse().map_err(|e| format!("--names: {e}"))?,
            "--concurrency" => {
                concurrency = v.parse().map_err(|e| format!("--concurrency: {e}"))?
            }
            "--rounds" => rounds = v.parse().map_err(|e| format!("--rounds: {e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        resolver: resolver.ok_or("--resolver missing")?,
        anchor: anchor.ok_or("--trust-anchor missing")?,
        zone: zone.ok_or("--zone missing")?,
        names,
        concurrency: concurrency.max(1),
        rounds: rounds.max(1),
    })
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// hickory's own resolver with no validation and no cache, on the given upstream: the peer.
fn plain_resolver(upstream: SocketAddr) -> Result<hickory_resolver::TokioResolver, String> {
    let mut ns = NameServerConfig::udp_and_tcp(upstream.ip());
    for c in &mut ns.connections {
        c.port = upstream.port();
    }
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    opts.timeout = Duration::from_secs(5);
    hickory_resolver::Resolver::builder_with_config(
        HickoryConfig::from_name_servers(vec![ns]),
        TokioRuntimeProvider::default(),
    )
    .with_options(opts)
    .build()
    .map_err(|e| e.to_string())
}

/// The peer: hickory's own resolver, no validation, one query per name through the same
/// Unbound. It measures what Unbound and the client stack cost without mailtrust's work.
async fn plain_pass(a: &Args, names: &[Name]) -> Result<(Duration, usize), String> {
    let resolver = plain_resolver(a.resolver)?;
    let start = Instant::now();
    let ok = stream::iter(names.iter().cloned())
        .map(|n| {
            let r = resolver.clone();
            async move { r.lookup(n, RecordType::A).await.is_ok() }
        })
        .buffer_unordered(a.concurrency)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    Ok((start.elapsed(), ok))
}

/// mailtrust: validated from the lab's anchor, one shared resolver (and cache) for all tasks.
async fn mailtrust_pass(resolver: &Resolver, a: &Args, names: &[Name]) -> (Duration, usize, usize) {
    let start = Instant::now();
    let results: Vec<(Outcome, DnssecStatus)> = stream::iter(names.iter().cloned())
        .map(|n| {
            let r = resolver.clone();
            async move {
                let ans = r.lookup(&n, QueryType::A).await;
                (ans.outcome, ans.dnssec)
            }
        })
        .buffer_unordered(a.concurrency)
        .collect()
        .await;
    let secure = results
        .iter()
        .filter(|(o, d)| *o == Outcome::Records && *d == DnssecStatus::Secure)
        .count();
    (start.elapsed(), secure, results.len() - secure)
}

/// The crypto bound: ECDSA P-256 signature verifications per second on one thread, the work a
/// validated lookup in the lab cannot avoid (one RRSIG per answer; the keys are cached).
fn p256_verifications_per_second() -> Result<f64, String> {
    use hickory_resolver::proto::dnssec::crypto::EcdsaSigningKey;
    use hickory_resolver::proto::dnssec::{Algorithm, PublicKey, SigningKey, TBS};
    let alg = Algorithm::ECDSAP256SHA256;
    let pkcs8 = EcdsaSigningKey::generate_pkcs8(alg).map_err(|e| e.to_string())?;
    let key = EcdsaSigningKey::from_pkcs8(&pkcs8, alg).map_err(|e| e.to_string())?;
    // About the size of an A RRset's to-be-signed data.
    let message = [0x5au8; 64];
    let sig = key
        .sign(&TBS::from(&message[..]))
        .map_err(|e| e.to_string())?;
    let public = key.to_public_key().map_err(|e| e.to_string())?;
    let n = 20_000;
    let start = Instant::now();
    for _ in 0..n {
        public.verify(&message, &sig).map_err(|e| e.to_string())?;
    }
    Ok(rate(n, start.elapsed()))
}

/// The plain-client bound over a query mix: what the resolver answers per second.
async fn query_mix(resolver: SocketAddr, file: &str, concurrency: usize) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    let queries: Vec<(Name, RecordType)> = text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(n, t)| {
            Some((
                Name::from_ascii(n).ok()?,
                t.trim().parse::<RecordType>().ok()?,
            ))
        })
        .collect();
    let r = plain_resolver(resolver)?;
    let start = Instant::now();
    let answered = stream::iter(queries.iter().cloned())
        .map(|(n, t)| {
            let r = r.clone();
            // NXDOMAIN and NODATA are answers too: only failures to answer are left out.
            async move {
                match r.lookup(n, t).await {
                    Ok(_) => true,
                    Err(e) => e.is_no_records_found() || e.is_nx_domain(),
                }
            }
        })
        .buffer_unordered(concurrency)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    let t = start.elapsed();
    println!(
        "plain client: {} queries, {answered} answered in {:.2}s: {:.0} queries/s",
        queries.len(),
        t.as_secs_f64(),
        rate(answered, t)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let argv: Vec<String> = std::env::args().collect();
    if let Some(i) = argv.iter().position(|a| a == "--queries") {
        let file = argv.get(i + 1).ok_or("--queries needs a file")?;
        let resolver = argv
            .iter()
            .position(|a| a == "--resolver")
            .and_then(|j| argv.get(j + 1))
            .ok_or("--resolver missing")?
            .parse::<SocketAddr>()
            .map_err(|e| e.to_string())?;
        let concurrency = argv
            .iter()
            .position(|a| a == "--concurrency")
            .and_then(|j| argv.get(j + 1))
            .and_then(|c| c.parse().ok())
            .unwrap_or(200);
        return query_mix(resolver, file, concurrency).await;
    }
    let a = args()?;
    let names: Vec<Name> = (0..a.names)
        .map(|i| {
            Name::from_ascii(format!("h{i}.{}.", a.zone.trim_end_matches('.')))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;

    // Warm Unbound's cache for both alike; then rounds of peer, mailtrust cold (a fresh
    // resolver each round) and mailtrust warm, interleaved so that load from the lab's own
    // servers on the same cores hits all three alike. The best round of each is reported.
    plain_pass(&a, &names).await?;
    let anchors = TrustAnchorSet::from_file(&a.anchor).map_err(|e| e.to_string())?;
    let (mut plain_t, mut plain_ok) = (Duration::MAX, 0);
    let (mut cold_t, mut cold_ok, mut cold_bad) = (Duration::MAX, 0, 0);
    let (mut warm_t, mut warm_ok, mut warm_bad) = (Duration::MAX, 0, 0);
    for _ in 0..a.rounds {
        let (t, ok) = plain_pass(&a, &names).await?;
        if t < plain_t {
            (plain_t, plain_ok) = (t, ok);
        }
        let config = ResolverConfig {
            upstreams: vec![Upstream(a.resolver)],
            anchors: anchors.clone(),
            timeout: Duration::from_secs(5),
            ..ResolverConfig::default()
        };
        let resolver = Resolver::new(config).await.map_err(|e| e.to_string())?;
        let (t, ok, bad) = mailtrust_pass(&resolver, &a, &names).await;
        cold_bad += bad;
        if t < cold_t {
            (cold_t, cold_ok) = (t, ok);
        }
        let (t, ok, bad) = mailtrust_pass(&resolver, &a, &names).await;
        warm_bad += bad;
        if t < warm_t {
            (warm_t, warm_ok) = (t, ok);
        }
    }

    let verify_rate = p256_verifications_per_second()?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let plain = rate(plain_ok, plain_t);
    let cold = rate(cold_ok, cold_t);
    let warm = rate(warm_ok, warm_t);
    println!(
        "names: {}, concurrency: {}, resolver: {}, best of {} rounds",
        a.names, a.concurrency, a.resolver, a.rounds
    );
    println!(
        "peer   plain hickory lookups via Unbound, no validation : {plain:>9.0} lookups/s ({plain_ok} ok in {:.2}s)",
        plain_t.as_secs_f64()
    );
    println!(
        "mailtrust validated, cold cache                        : {cold:>9.0} lookups/s ({cold_ok} secure, {cold_bad} not, in {:.2}s)",
        cold_t.as_secs_f64()
    );
    println!(
        "mailtrust validated, warm cache                        : {warm:>9.0} lookups/s ({warm_ok} secure, {warm_bad} not, in {:.2}s)",
        warm_t.as_secs_f64()
    );
    println!(
        "crypto bound: P-256 verifications, one thread           : {verify_rate:>9.0} /s (x{cores} cores = {:.0} /s)",
        verify_rate * cores as f64
    );
    println!("ratio validated(cold)/plain: {:.2}", cold / plain);
    println!(
        "ratio validated(cold)/crypto bound (all cores): {:.2}",
        cold / (verify_rate * cores as f64)
    );
    if cold_bad > 0 || warm_bad > 0 || plain_ok != a.names {
        return Err(format!(
            "not every lookup succeeded: plain {plain_ok}/{}, cold {cold_bad} bad, warm {warm_bad} bad",
            a.names
        ));
    }
    Ok(())
}
