//! `mailtrust audit`: reads domains (arguments, a file or stdin), audits them with bounded
//! concurrency through one shared resolver, and renders as text, JSON, JSON Lines or CSV.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use futures_util::stream::{self, StreamExt};
use mailtrust_audit::{AuditOptions, Auditor, DomainReport, Probes, normalise_domain};
use mailtrust_probe::cert::Roots;
use mailtrust_probe::{ProbeOptions, Prober};

use crate::args::AuditArgs;
use crate::cmd::dns;
use crate::render;

const EXIT_FAILED: u8 = 1;
const EXIT_INCONCLUSIVE: u8 = 3;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Human,
    Json,
    Jsonl,
    Csv,
}

pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    if args.list_checks {
        print!(
            "{}",
            if args.markdown {
                render::catalogue_markdown()
            } else {
                render::catalogue_text()
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    if args.domains.is_empty() && args.input.is_none() {
        anyhow::bail!("give at least one domain, or --input FILE (or - for stdin)");
    }
    let format = if args.json {
        Format::Json
    } else if args.jsonl {
        Format::Jsonl
    } else if args.csv {
        Format::Csv
    } else {
        Format::Human
    };
    let out: Box<dyn Write + Send> = match &args.output {
        Some(p) => {
            Box::new(File::create(p).with_context(|| format!("cannot create {}", p.display()))?)
        }
        None => Box::new(io::stdout()),
    };
    let mut out = BufWriter::new(out);
    let color = format == Format::Human
        && args.output.is_none()
        && io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none();

    let rt = dns::runtime()?;
    let invalid = Arc::new(AtomicBool::new(false));
    let (reports, interrupted) = rt.block_on(async {
        let resolver = dns::resolver(&args.resolver).await?;
        let options = AuditOptions {
            selectors: args.selectors.clone(),
            domain_selectors: match &args.key_store {
                Some(p) => store_selectors(p)?,
                None => Default::default(),
            },
            addresses: args.addresses.clone(),
            dns_only: args.dns_only,
            mailhosts: args.probe.mailhosts.clone(),
            only: args.only.clone(),
        };
        let probes = if args.dns_only {
            None
        } else {
            Some(probes(&args.probe)?)
        };
        let auditor = Auditor::with_probes(resolver, options, probes);
        let domains = domain_stream(&args, invalid.clone())?;
        let total = if args.input.is_none() {
            Some(args.domains.len() as u64)
        } else {
            None
        };
        let progress =
            render::Progress::new(total, format != Format::Human || args.output.is_some());
        let concurrency = args.concurrency as usize;
        let audits = domains.map(|d| {
            let a = auditor.clone();
            async move { a.audit(&d).await }
        });
        // Text and one-document JSON keep input order; streams emit as results finish.
        let mut results: std::pin::Pin<Box<dyn futures_util::Stream<Item = DomainReport> + Send>> =
            match format {
                Format::Human | Format::Json => Box::pin(audits.buffered(concurrency)),
                Format::Jsonl | Format::Csv => Box::pin(audits.buffer_unordered(concurrency)),
            };
        let mut summary = RunSummary::default();
        let mut kept: Vec<DomainReport> = Vec::new();
        if format == Format::Csv {
            out.write_all(render::csv_header().as_bytes())?;
        }
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let mut interrupted = false;
        loop {
            let next = tokio::select! {
                r = results.next() => r,
                _ = &mut ctrl_c => { interrupted = true; None }
            };
            let Some(report) = next else { break };
            summary.add(&report);
            progress.tick(&report.domain);
            match format {
                Format::Human => out.write_all(render::human(&report, color).as_bytes())?,
                Format::Jsonl => {
                    serde_json::to_writer(&mut out, &report)?;
                    out.write_all(b"\n")?;
                    out.flush()?;
                }
                Format::Csv => {
                    out.write_all(render::csv_row(&report).as_bytes())?;
                    out.flush()?;
                }
                Format::Json => kept.push(report),
            }
        }
        progress.finish();
        tracing::info!(
            "{} domains, {} queries sent upstream",
            summary.domains,
            auditor.queries_sent()
        );
        if format == Format::Json {
            let doc = serde_json::json!({
                "schema": mailtrust_audit::SCHEMA_VERSION,
                "tool": concat!("mailtrust ", env!("CARGO_PKG_VERSION")),
                "domains": kept,
            });
            serde_json::to_writer_pretty(&mut out, &doc)?;
            out.write_all(b"\n")?;
        }
        if format == Format::Human && summary.domains > 1 {
            writeln!(out, "{}", summary.line())?;
        }
        out.flush()?;
        anyhow::Ok((summary, interrupted))
    })?;
    if interrupted {
        eprintln!(
            "mailtrust: interrupted; the report holds the {} domain(s) that finished",
            reports.domains
        );
        return Ok(ExitCode::from(130));
    }
    if invalid.load(Ordering::Relaxed) {
        return Ok(ExitCode::from(super::EXIT_ERROR));
    }
    Ok(if reports.failed > 0 {
        ExitCode::from(EXIT_FAILED)
    } else if reports.inconclusive > 0 {
        ExitCode::from(EXIT_INCONCLUSIVE)
    } else {
        ExitCode::SUCCESS
    })
}

#[derive(Default)]
struct RunSummary {
    domains: usize,
    failed: usize,
    inconclusive: usize,
}

impl RunSummary {
    fn add(&mut self, r: &DomainReport) {
        self.domains += 1;
        if r.summary.fail > 0 {
            self.failed += 1;
        } else if r.summary.inconclusive > 0 {
            self.inconclusive += 1;
        }
    }

    fn line(&self) -> String {
        format!(
            "{} domains: {} with failures, {} inconclusive, {} without failures",
            self.domains,
            self.failed,
            self.inconclusive,
            self.domains - self.failed - self.inconclusive
        )
    }
}

/// Domains from the arguments, then from `--input`, normalised, read lazily so that memory stays
/// flat however long the list. Invalid entries are reported on stderr and skipped.
fn domain_stream(
    args: &AuditArgs,
    invalid: Arc<AtomicBool>,
) -> anyhow::Result<std::pin::Pin<Box<dyn futures_util::Stream<Item = String> + Send>>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(4096);
    let from_args = args.domains.clone();
    let input = match &args.input {
        None => None,
        Some(p) if p.as_os_str() == "-" => {
            Some(Box::new(BufReader::new(io::stdin())) as Box<dyn BufRead + Send>)
        }
        Some(p) => Some(Box::new(BufReader::new(
            File::open(p).with_context(|| format!("cannot open {}", p.display()))?,
        )) as Box<dyn BufRead + Send>),
    };
    let source = args
        .input
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    std::thread::spawn(move || {
        let send = |raw: &str, whence: &str| -> bool {
            match normalise_domain(raw) {
                Ok(d) => tx.blocking_send(d).is_ok(),
                Err(e) => {
                    eprintln!("mailtrust: {whence}: {e}; skipped");
                    invalid.store(true, Ordering::Relaxed);
                    true
                }
            }
        };
        for d in &from_args {
            if !send(d, "argument") {
                return;
            }
        }
        let Some(reader) = input else { return };
        let mut column: Option<usize> = None;
        let mut first = true;
        for (n, line) in reader.lines().enumerate() {
            let Ok(line) = line else {
                eprintln!("mailtrust: {source}: cannot read line {}", n + 1);
                invalid.store(true, Ordering::Relaxed);
                return;
            };
            // Spreadsheets often start CSV files with a byte-order mark.
            let line = line.trim_start_matches('\u{feff}').trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let cells = csv_cells(line);
            if first {
                first = false;
                // A header names the domain column; a plain list has none.
                if let Some(i) = cells.iter().position(|c| c.eq_ignore_ascii_case("domain")) {
                    column = Some(i);
                    continue;
                }
            }
            let raw = match column {
                Some(i) => cells.get(i).map(String::as_str).unwrap_or(""),
                None => line,
            };
            if raw.is_empty() {
                continue;
            }
            if !send(raw, &format!("{source}:{}", n + 1)) {
                return;
            }
        }
    });
    Ok(Box::pin(stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|d| (d, rx))
    })))
}

/// The cells of one CSV line (RFC 4180): commas separate, double quotes enclose, `""` inside
/// quotes is a quote.
fn csv_cells(line: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(std::mem::take(&mut cur).trim().to_string()),
            (c, _) => cur.push(c),
        }
    }
    cells.push(cur.trim().to_string());
    cells
}

/// The prober and the roots certificates are graded against.
fn probes(a: &crate::args::ProbeArgs) -> anyhow::Result<Probes> {
    let secs = |v: f64, what: &str| -> anyhow::Result<std::time::Duration> {
        if v.is_finite() && v > 0.0 && v <= 600.0 {
            Ok(std::time::Duration::from_secs_f64(v))
        } else {
            anyhow::bail!("{what} must be between 0 and 600 seconds, not {v}")
        }
    };
    let roots = match &a.ca_file {
        Some(path) => Roots::from_pem_file(path)
            .with_context(|| format!("cannot use {} as trust store", path.display()))?,
        None => Roots::system().context("cannot load the system's root certificates")?,
    };
    let opts = ProbeOptions {
        connect_timeout: secs(a.connect_timeout, "--connect-timeout")?,
        io_timeout: secs(a.probe_timeout, "--probe-timeout")?,
        helo_name: a.helo.clone(),
        scans: !a.no_scans,
        per_ip: a.per_ip as usize,
    };
    Ok(Probes {
        prober: Prober::new(opts),
        roots: Arc::new(roots),
    })
}

/// The selectors a key store knows per domain: keys whose record is (or should be) in DNS, and
/// delegated selectors.
fn store_selectors(
    path: &std::path::Path,
) -> anyhow::Result<std::collections::BTreeMap<String, Vec<String>>> {
    use mailtrust_keys::{KeyState, KeyStore};
    let store =
        mailtrust_keys::SqliteKeyStore::open_read_only(path, Arc::new(mailtrust_keys::SystemClock))
            .with_context(|| format!("cannot open the key store {}", path.display()))?;
    let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for k in store.keys()? {
        if matches!(
            k.state(),
            KeyState::Published | KeyState::Active | KeyState::Deactivated
        ) {
            out.entry(k.domain.as_str().to_string())
                .or_default()
                .push(k.selector.as_str().to_string());
        }
    }
    for d in store.delegations()? {
        out.entry(d.domain.as_str().to_string())
            .or_default()
            .push(d.selector.as_str().to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::csv_cells;

    #[test]
    fn csv_cells_follow_rfc_4180() {
        assert_eq!(csv_cells("1,example.org"), ["1", "example.org"]);
        assert_eq!(
            csv_cells("\"Acme, Inc.\",acme.example"),
            ["Acme, Inc.", "acme.example"]
        );
        assert_eq!(csv_cells("\"say \"\"hi\"\"\",x"), ["say \"hi\"", "x"]);
        assert_eq!(csv_cells("domain"), ["domain"]);
    }
}
