//! `mailtrust dns lookup`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use mailtrust_dns::{Answer, DnssecStatus, Resolver, ResolverConfig, TrustAnchorSet, ZoneStatus};

use crate::args::{LookupArgs, ResolverArgs};

/// Exit statuses of `dns lookup` (see its help).
const EXIT_BOGUS: u8 = 1;
const EXIT_NO_ANSWER: u8 = 3;

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Builds the resolver from the shared `--resolver/--trust-anchor/...` flags.
pub async fn resolver(args: &ResolverArgs) -> anyhow::Result<Resolver> {
    let anchors = match &args.trust_anchor {
        Some(p) => TrustAnchorSet::from_file(p)?,
        None => TrustAnchorSet::iana_root(),
    };
    let secs = |name: &str, v: f64| -> anyhow::Result<Duration> {
        if !(v.is_finite() && v > 0.0 && v <= 3600.0) {
            anyhow::bail!("--{name} must be between 0 and 3600 seconds, got {v}");
        }
        Ok(Duration::from_secs_f64(v))
    };
    let config = ResolverConfig {
        upstreams: args.resolvers.clone(),
        timeout: secs("timeout", args.timeout)?,
        attempts: args.attempts,
        deadline: secs("deadline", args.deadline)?,
        anchors,
        ..ResolverConfig::default()
    };
    Ok(Resolver::new(config).await?)
}

pub fn lookup(args: LookupArgs) -> anyhow::Result<ExitCode> {
    let name = Resolver::parse_name(&args.name)?;
    let rt = runtime()?;
    let answer = rt.block_on(async {
        let resolver = resolver(&args.resolver).await?;
        anyhow::Ok(resolver.lookup_with_chain(&name, args.qtype).await)
    })?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&answer).context("cannot render JSON")?
        );
    } else {
        print!("{}", render(&answer));
    }
    if !answer.outcome.is_answer() {
        eprintln!(
            "mailtrust: no usable answer for {} {}: {}{}",
            answer.name,
            answer.qtype,
            answer.outcome,
            answer
                .detail
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        );
        return Ok(ExitCode::from(EXIT_NO_ANSWER));
    }
    if matches!(answer.dnssec, DnssecStatus::Bogus(_)) {
        return Ok(ExitCode::from(EXIT_BOGUS));
    }
    Ok(ExitCode::SUCCESS)
}

fn render(a: &Answer) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "{} {}", a.name, a.qtype);
    let _ = writeln!(s, "  outcome: {}", a.outcome);
    let _ = writeln!(s, "  dnssec:  {}", a.dnssec);
    if let Some(d) = &a.detail {
        let _ = writeln!(s, "  detail:  {d}");
    }
    if !a.records.is_empty() {
        let _ = writeln!(s, "  records:");
        let w = a.records.iter().map(|r| r.name.len()).max().unwrap_or(0);
        for r in &a.records {
            let data = match (&r.strings, r.rtype.as_str()) {
                (Some(_), _) => format!("\"{}\"", r.data),
                _ => r.data.clone(),
            };
            let _ = writeln!(
                s,
                "    {:w$}  {:>6}  {:<6} {}  [{}]",
                r.name,
                r.ttl,
                r.rtype,
                data,
                r.dnssec.as_str()
            );
        }
    }
    if let Some(chain) = &a.chain {
        let _ = writeln!(s, "  chain of trust (anchor: {}):", chain.anchor);
        let w = chain.zones.iter().map(|z| z.zone.len()).max().unwrap_or(0);
        for z in &chain.zones {
            let keys = z
                .dnskeys
                .iter()
                .map(|k| {
                    let role = if k.flags & 1 == 1 { "KSK" } else { "ZSK" };
                    format!(
                        "{}{} {}{}",
                        k.tag,
                        "",
                        role,
                        if k.trusted { "*" } else { "" }
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let ds = if z.ds.is_empty() {
                String::new()
            } else {
                format!(
                    "DS {}; ",
                    z.ds.iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            let keys = if keys.is_empty() {
                String::new()
            } else {
                format!("DNSKEY {keys}")
            };
            let _ = writeln!(s, "    {:w$}  {:<13} {ds}{keys}", z.zone, z.status.as_str());
            if let (Some(r), ZoneStatus::Bogus(_) | ZoneStatus::Indeterminate(_)) =
                (&z.reason, &z.status)
            {
                let _ = writeln!(s, "    {:w$}  -> {r}", "");
            }
        }
        let _ = writeln!(
            s,
            "    (* = key matched by the parent's DS or the trust anchor)"
        );
    }
    s
}

/// The TSIG key from a file (checked: ours, 0600, no symlink) or given as a value. A value on
/// the command line (rather than from MAILTRUST_TSIG_KEY) is visible to every local user
/// through `ps` and stays in shell history: it still works, with a warning.
pub fn tsig_key(
    value: Option<&str>,
    file: Option<&std::path::Path>,
    flag: &str,
) -> anyhow::Result<Option<mailtrust_dns::update::TsigKey>> {
    use mailtrust_dns::update::TsigKey;
    if let Some(f) = file {
        return Ok(Some(TsigKey::from_file(f)?));
    }
    let Some(v) = value else {
        return Ok(None);
    };
    static WARNED: std::sync::Once = std::sync::Once::new();
    if std::env::var("MAILTRUST_TSIG_KEY").ok().as_deref() != Some(v) {
        WARNED.call_once(|| eprintln!(
            "mailtrust: warning: a TSIG secret given with {flag} is visible to other users (ps) and kept in shell history; use {flag}-file FILE (mode 0600)"
        ));
    }
    Ok(Some(TsigKey::parse(v)?))
}

/// `mailtrust dns update`: one RFC 2136 message with every change, so the server applies all or
/// nothing.
pub fn update(args: crate::args::UpdateArgs) -> anyhow::Result<ExitCode> {
    use mailtrust_dns::update::{Change, UpdateError, send_update};
    let zone = mailtrust_dns::Resolver::parse_name(&args.zone)
        .with_context(|| format!("invalid zone {:?}", args.zone))?;
    let server = parse_server(&args.server)?;
    let key = tsig_key(args.key.as_deref(), args.key_file.as_deref(), "--key")?;
    let name_in_zone = |n: &str| -> anyhow::Result<hickory_proto::rr::Name> {
        let full = if n.ends_with('.') || n == "@" {
            if n == "@" {
                zone.to_ascii()
            } else {
                n.to_string()
            }
        } else {
            format!("{n}.{}", zone.to_ascii())
        };
        mailtrust_dns::Resolver::parse_name(&full).with_context(|| format!("invalid name {n:?}"))
    };
    let mut changes = Vec::new();
    for pair in args.txt.chunks(2) {
        if let [name, text] = pair {
            changes.push(Change::ReplaceTxt {
                name: name_in_zone(name)?,
                ttl: args.ttl,
                text: text.clone(),
            });
        }
    }
    for pair in args.delete.chunks(2) {
        if let [name, rtype] = pair {
            let rtype: hickory_proto::rr::RecordType = rtype
                .to_ascii_uppercase()
                .parse()
                .map_err(|_| anyhow::anyhow!("unknown record type {rtype:?}"))?;
            changes.push(Change::DeleteRrset {
                name: name_in_zone(name)?,
                rtype,
            });
        }
    }
    if changes.is_empty() {
        anyhow::bail!("nothing to change: give --txt NAME TEXT or --delete NAME TYPE");
    }
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= 600.0) {
        anyhow::bail!("--timeout must be between 0 and 600 seconds");
    }
    let wait = std::time::Duration::from_secs_f64(args.timeout);
    let rt = runtime()?;
    match rt.block_on(send_update(server, &zone, &changes, key.as_ref(), wait)) {
        Ok(()) => {
            println!(
                "{}: {} change(s) applied by {server}{}",
                zone.to_ascii(),
                changes.len(),
                if key.is_some() {
                    " (signed answer verified)"
                } else {
                    ""
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ UpdateError::Refused { .. }) => {
            eprintln!("mailtrust: {e}");
            Ok(ExitCode::from(1))
        }
        Err(e @ (UpdateError::Timeout { .. } | UpdateError::Unreachable { .. })) => {
            eprintln!("mailtrust: {e}");
            Ok(ExitCode::from(3))
        }
        Err(e) => Err(e.into()),
    }
}

/// `ADDR` or `ADDR:PORT` (`[v6]:PORT`), port 53 by default.
pub(crate) fn parse_server(s: &str) -> anyhow::Result<std::net::SocketAddr> {
    if let Ok(a) = s.parse::<std::net::SocketAddr>() {
        return Ok(a);
    }
    let ip: std::net::IpAddr = s
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .with_context(|| format!("--server {s:?}: expected ADDR or ADDR:PORT"))?;
    Ok(std::net::SocketAddr::new(ip, 53))
}

/// `mailtrust dns propagation NAME TYPE`.
pub fn propagation(args: crate::args::PropagationArgs) -> anyhow::Result<ExitCode> {
    let name = Resolver::parse_name(&args.name)
        .with_context(|| format!("invalid name {:?}", args.name))?;
    let rt = runtime()?;
    let p = rt.block_on(async {
        let r = resolver(&args.resolver).await?;
        let wait = Duration::from_secs_f64(args.resolver.timeout.clamp(0.1, 600.0));
        Ok::<_, anyhow::Error>(
            mailtrust_dns::authorities::propagation(&r, &name, args.qtype, wait).await,
        )
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&p)?);
    } else {
        println!("{} {} in zone {}", p.name, args.qtype, p.zone);
        if let Some(problem) = &p.problem {
            println!("  {problem}");
        }
        for a in &p.answers {
            let what = match a.outcome {
                mailtrust_dns::Outcome::Records => a.records.join(" | "),
                o => match &a.detail {
                    Some(d) => format!("{o} ({d})"),
                    None => o.to_string(),
                },
            };
            let aa = if a.authoritative || !a.outcome.is_answer() {
                ""
            } else {
                " [not authoritative: lame?]"
            };
            println!("  {} {}: {what}{aa}", a.server, a.address);
        }
    }
    let unreachable = !p.complete();
    Ok(if unreachable {
        ExitCode::from(3)
    } else if p.consistent() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
