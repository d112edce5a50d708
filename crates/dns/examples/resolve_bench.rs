//! Benchmark: validated lookups through mailtrust's resolver against plain lookups of the same
//! names through the same Unbound, in one run. Run by `bench/dns.sh` inside the lab; not a test.
//!
//! Usage: resolve_bench --resolver IP:PORT --trust-anchor FILE --zone ZONE --names N
//!        [--concurrency C]
//! Names are `h<i>.<ZONE>` for i in 0..N, each with one A record in a signed zone.

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
}

fn args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut resolver, mut anchor, mut zone, mut names, mut concurrency) =
        (None, None, None, 2000, 200);
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
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        resolver: resolver.ok_or("--resolver missing")?,
        anchor: anchor.ok_or("--trust-anchor missing")?,
        zone: zone.ok_or("--zone missing")?,
        names,
        concurrency: concurrency.max(1),
    })
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// The peer: hickory's own resolver, no validation, one query per name through the same
/// Unbound. It measures what Unbound and the client stack cost without mailtrust's work.
async fn plain_pass(a: &Args, names: &[Name]) -> Result<(Duration, usize), String> {
    let mut ns = NameServerConfig::udp_and_tcp(a.resolver.ip());
    for c in &mut ns.connections {
        c.port = a.resolver.port();
    }
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    opts.timeout = Duration::from_secs(5);
    let resolver = hickory_resolver::Resolver::builder_with_config(
        HickoryConfig::from_name_servers(vec![ns]),
        TokioRuntimeProvider::default(),
    )
    .with_options(opts)
    .build()
    .map_err(|e| e.to_string())?;
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

#[tokio::main]
async fn main() -> Result<(), String> {
    let a = args()?;
    let names: Vec<Name> = (0..a.names)
        .map(|i| {
            Name::from_ascii(format!("h{i}.{}.", a.zone.trim_end_matches('.')))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;

    // Warm Unbound's cache for both passes alike, then measure the peer.
    plain_pass(&a, &names).await?;
    let (plain_t, plain_ok) = plain_pass(&a, &names).await?;

    let config = ResolverConfig {
        upstreams: vec![Upstream(a.resolver)],
        anchors: TrustAnchorSet::from_file(&a.anchor).map_err(|e| e.to_string())?,
        timeout: Duration::from_secs(5),
        ..ResolverConfig::default()
    };
    let resolver = Resolver::new(config).await.map_err(|e| e.to_string())?;
    let (cold_t, cold_ok, cold_bad) = mailtrust_pass(&resolver, &a, &names).await;
    let (warm_t, warm_ok, warm_bad) = mailtrust_pass(&resolver, &a, &names).await;

    let plain = rate(plain_ok, plain_t);
    let cold = rate(cold_ok, cold_t);
    let warm = rate(warm_ok, warm_t);
    println!(
        "names: {}, concurrency: {}, resolver: {}",
        a.names, a.concurrency, a.resolver
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
    println!("ratio validated(cold)/plain: {:.2}", cold / plain);
    if cold_bad > 0 || warm_bad > 0 || plain_ok != a.names {
        return Err(format!(
            "not every lookup succeeded: plain {plain_ok}/{}, cold {cold_bad} bad, warm {warm_bad} bad",
            a.names
        ));
    }
    Ok(())
}
