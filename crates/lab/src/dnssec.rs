//! Keys and signatures. All keys are ECDSA P-256 (algorithm 13, RFC 6605) and generated before
//! any server starts, children first, so each parent's zone file already carries the DS of its
//! children when its server loads it.
//!
//! - Zones Knot signs online (root, `test.`, `signed`, `bad-ds`): keys go into the instance's
//!   KASP database with `keymgr`; Knot signs at load and re-signs after RFC 2136 updates.
//! - Zones that must stay bogus (`expired`, `bogus-tlsa`): signed offline with `ldns-signzone`,
//!   served with Knot's signing off, so Knot never "repairs" them.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::command::{Tools, run, run_stdout};
use crate::error::{IoContext, LabError};
use crate::zone::{DsRecord, parse_ds};

/// Signature validity of the `expired` scenario: a month in 2020, long past.
const EXPIRED_INCEPTION: &str = "20200101000000";
const EXPIRED_EXPIRATION: &str = "20200201000000";

/// Generates a KSK and a ZSK for `zone` in the KASP database of the Knot instance configured by
/// `config` and returns the DS records (SHA-256) of the KSK.
pub(crate) fn knot_keys(
    tools: &Tools,
    config: &Path,
    zone: &str,
) -> Result<Vec<DsRecord>, LabError> {
    for kind in ["ksk=yes zsk=no", "ksk=no zsk=yes"] {
        run(Command::new(&tools.keymgr)
            .arg("-c")
            .arg(config)
            .args([zone, "generate", "algorithm=ecdsap256sha256"])
            .args(kind.split(' ')))?;
    }
    let out = run_stdout(
        Command::new(&tools.keymgr)
            .arg("-c")
            .arg(config)
            .args([zone, "ds"]),
    )?;
    nonempty_ds(parse_ds(&out), || {
        format!(
            "keymgr -c {} {zone} ds printed no SHA-256 DS",
            config.display()
        )
    })
}

/// The DNSKEY records of `zone`'s KSK in zone-file syntax (`OWNER TTL IN DNSKEY ...`), for the
/// trust anchor file.
pub(crate) fn knot_ksk_dnskeys(
    tools: &Tools,
    config: &Path,
    zone: &str,
) -> Result<Vec<String>, LabError> {
    let out = run_stdout(
        Command::new(&tools.keymgr)
            .arg("-c")
            .arg(config)
            .args([zone, "dnskey"]),
    )?;
    let records = dnskey_lines(&out);
    if records.is_empty() {
        return Err(LabError::Other(format!(
            "keymgr -c {} {zone} dnskey printed no DNSKEY",
            config.display()
        )));
    }
    Ok(records)
}

/// Rewrites keymgr's `OWNER DNSKEY FLAGS PROTO ALG KEY` lines as `OWNER 3600 IN DNSKEY ...`,
/// the form trust-anchor files (Unbound, hickory) read.
pub(crate) fn dnskey_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let tokens: Vec<&str> = line.split_whitespace().collect();
            let at = tokens
                .iter()
                .position(|t| t.eq_ignore_ascii_case("DNSKEY"))?;
            let owner = tokens.first()?;
            let rdata = tokens.get(at + 1..)?;
            (rdata.len() >= 4).then(|| format!("{owner} 3600 IN DNSKEY {}", rdata.join(" ")))
        })
        .collect()
}

/// A key pair made by ldns-keygen: the file name base (`K<zone>+013+<tag>`) in `dir`.
#[derive(Debug, Clone)]
pub(crate) struct LdnsKey {
    pub base: PathBuf,
}

impl LdnsKey {
    /// Generates a key for `zone` in `dir`; `ksk` sets the SEP flag (DNSKEY flags 257).
    pub(crate) fn generate(
        tools: &Tools,
        dir: &Path,
        zone: &str,
        ksk: bool,
    ) -> Result<LdnsKey, LabError> {
        std::fs::create_dir_all(dir).context(|| format!("cannot create {}", dir.display()))?;
        let mut cmd = Command::new(&tools.ldns_keygen);
        cmd.current_dir(dir).args(["-a", "ECDSAP256SHA256"]);
        if ksk {
            cmd.arg("-k");
        }
        let out = run_stdout(cmd.arg(zone))?;
        let name = out.trim();
        if name.is_empty() {
            return Err(LabError::Other(format!(
                "ldns-keygen for {zone} in {} printed no key name",
                dir.display()
            )));
        }
        Ok(LdnsKey {
            base: dir.join(name),
        })
    }

    /// The DS (SHA-256) of this key, from the `.ds` file ldns-keygen writes for a KSK.
    pub(crate) fn ds(&self) -> Result<Vec<DsRecord>, LabError> {
        let mut path = self.base.clone().into_os_string();
        path.push(".ds");
        let path = PathBuf::from(path);
        let text = std::fs::read_to_string(&path)
            .context(|| format!("cannot read DS file {}", path.display()))?;
        nonempty_ds(parse_ds(&text), || {
            format!("{} holds no SHA-256 DS", path.display())
        })
    }
}

/// Signs `zone_file` offline with signatures valid only in January 2020, writing `output`.
pub(crate) fn sign_expired(
    tools: &Tools,
    zone: &str,
    zone_file: &Path,
    output: &Path,
    zsk: &LdnsKey,
    ksk: &LdnsKey,
) -> Result<(), LabError> {
    run(Command::new(&tools.ldns_signzone)
        .args([
            "-i",
            EXPIRED_INCEPTION,
            "-e",
            EXPIRED_EXPIRATION,
            "-o",
            zone,
            "-f",
        ])
        .arg(output)
        .arg(zone_file)
        .arg(&zsk.base)
        .arg(&ksk.base))?;
    Ok(())
}

/// Signs `zone_file` offline with signatures valid from an hour ago for 30 days, then corrupts
/// the signature of every TLSA RRset: the `bogus-tlsa` scenario, where addresses and MX stay
/// secure and only TLSA answers are bogus.
pub(crate) fn sign_bogus_tlsa(
    tools: &Tools,
    zone: &str,
    zone_file: &Path,
    output: &Path,
    zsk: &LdnsKey,
    ksk: &LdnsKey,
) -> Result<(), LabError> {
    let now = time::OffsetDateTime::now_utc();
    let inception = ldns_time(now - time::Duration::hours(1));
    let expiration = ldns_time(now + time::Duration::days(30));
    run(Command::new(&tools.ldns_signzone)
        .args(["-i", &inception, "-e", &expiration, "-o", zone, "-f"])
        .arg(output)
        .arg(zone_file)
        .arg(&zsk.base)
        .arg(&ksk.base))?;
    let signed =
        std::fs::read_to_string(output).context(|| format!("cannot read {}", output.display()))?;
    let (corrupted, count) = corrupt_rrsigs_over(&signed, "TLSA");
    if count == 0 {
        return Err(LabError::Other(format!(
            "{zone} is `dnssec: bogus-tlsa` but has no TLSA record to make bogus"
        )));
    }
    std::fs::write(output, corrupted).context(|| format!("cannot write {}", output.display()))
}

/// `YYYYMMDDhhmmss` (UTC), the date form ldns-signzone takes.
fn ldns_time(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Flips one base64 character in the middle of the signature of every RRSIG covering
/// `covered` in ldns-signzone's output (one record per line). The signature stays well-formed
/// base64 of the same length, so the zone loads; it just no longer verifies. Returns the text
/// and how many signatures were corrupted.
pub(crate) fn corrupt_rrsigs_over(signed_zone: &str, covered: &str) -> (String, usize) {
    let mut count = 0;
    let mut out = String::with_capacity(signed_zone.len());
    for line in signed_zone.lines() {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let covers = tokens
            .iter()
            .position(|t| t.eq_ignore_ascii_case("RRSIG"))
            .and_then(|at| tokens.get(at + 1))
            .is_some_and(|t| t.eq_ignore_ascii_case(covered));
        match (covers, tokens.last()) {
            (true, Some(signature)) if signature.len() > 8 => {
                let keep = line.len() - signature.len();
                let mut sig: Vec<u8> = signature.bytes().collect();
                let middle = sig.len() / 2;
                sig[middle] = if sig[middle] == b'A' { b'B' } else { b'A' };
                out.push_str(&line[..keep]);
                out.push_str(&String::from_utf8_lossy(&sig));
                count += 1;
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    (out, count)
}

fn nonempty_ds(
    ds: Vec<DsRecord>,
    what: impl FnOnce() -> String,
) -> Result<Vec<DsRecord>, LabError> {
    if ds.is_empty() {
        Err(LabError::Other(what()))
    } else {
        Ok(ds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_covered_type_is_corrupted() {
        let zone = "a.test.\t60\tIN\tRRSIG\tA 13 2 60 20300101000000 20200101000000 1 a.test. AAAAAAAAAAAAAAAAAAAA==\n\
                    _25._tcp.mail.a.test.\t60\tIN\tRRSIG\tTLSA 13 5 60 20300101000000 20200101000000 1 a.test. AAAAAAAAAAAAAAAAAAAA==\n\
                    _25._tcp.mail.a.test.\t60\tIN\tTLSA\t3 1 1 ab\n";
        let (out, count) = corrupt_rrsigs_over(zone, "TLSA");
        assert_eq!(count, 1);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].ends_with("AAAAAAAAAAAAAAAAAAAA=="), "A untouched");
        assert!(
            lines[1].ends_with(" AAAAAAAAAAABAAAAAAAA=="),
            "TLSA signature flipped"
        );
        assert_eq!(lines[1].len(), zone.lines().nth(1).map_or(0, str::len));
        assert_eq!(lines[2], "_25._tcp.mail.a.test.\t60\tIN\tTLSA\t3 1 1 ab");
        let t = time::Date::from_calendar_date(2026, time::Month::January, 2)
            .and_then(|d| d.with_hms(3, 4, 5))
            .expect("a date")
            .assume_utc();
        assert_eq!(ldns_time(t), "20260102030405");
    }

    #[test]
    fn dnskey_lines_get_ttl_and_class() {
        let out = ". DNSKEY 257 3 13 crtvL2Kv ZSmh==\n";
        assert_eq!(
            dnskey_lines(out),
            vec![". 3600 IN DNSKEY 257 3 13 crtvL2Kv ZSmh==".to_string()]
        );
        assert!(dnskey_lines("nothing here\n").is_empty());
    }
}
