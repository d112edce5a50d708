//! `mailtrust dkim verify`: what a receiver would conclude about a message's DKIM signatures.

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use mailtrust_auth::{DkimVerifier, Verdict};

use crate::args::DkimVerifyArgs;
use crate::cmd::dns::{resolver, runtime};

/// Messages larger than this are refused: a verifier reads the whole body to hash it, and
/// nothing in mail legitimately needs more (Postfix's default message_size_limit is 10 MB).
const MAX_MESSAGE: u64 = 64 * 1024 * 1024;

pub fn verify(args: DkimVerifyArgs) -> anyhow::Result<ExitCode> {
    let mut raw = Vec::new();
    match args.file.as_deref() {
        None => std::io::stdin().take(MAX_MESSAGE + 1).read_to_end(&mut raw),
        Some(p) if p.as_os_str() == "-" => {
            std::io::stdin().take(MAX_MESSAGE + 1).read_to_end(&mut raw)
        }
        Some(p) => std::fs::File::open(p)
            .with_context(|| format!("cannot open {}", p.display()))?
            .take(MAX_MESSAGE + 1)
            .read_to_end(&mut raw),
    }
    .context("cannot read the message")?;
    if raw.len() as u64 > MAX_MESSAGE {
        anyhow::bail!("the message is larger than {} MiB", MAX_MESSAGE >> 20);
    }
    let rt = runtime()?;
    let report = rt.block_on(async {
        let r = Arc::new(resolver(&args.resolver).await?);
        let verifier = DkimVerifier::new(r)?;
        Ok::<_, anyhow::Error>(verifier.verify(&raw).await?)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if report.signatures.is_empty() {
        println!("no DKIM-Signature header");
    } else {
        for s in &report.signatures {
            let who = match (&s.domain, &s.selector) {
                (Some(d), Some(sel)) => format!("d={d} s={sel}"),
                _ => "(unparseable signature)".to_string(),
            };
            let alg = s.algorithm.as_deref().unwrap_or("?");
            let key = s
                .key
                .as_ref()
                .map(|k| {
                    let bits = k.bits.map(|b| format!(" {b}-bit")).unwrap_or_default();
                    let testing = if k.testing { ", t=y (testing)" } else { "" };
                    format!(" [key:{bits} {}, DNSSEC {}{testing}]", k.key_type, k.dnssec)
                })
                .unwrap_or_default();
            let why = s
                .reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            println!("{} {who} a={alg}{key}{why}", s.verdict.as_str());
        }
    }
    let temp = report
        .signatures
        .iter()
        .any(|s| s.verdict == Verdict::TempError);
    Ok(if report.any_pass() {
        ExitCode::SUCCESS
    } else if temp {
        ExitCode::from(3)
    } else {
        ExitCode::from(1)
    })
}
