//! Scenario files: one zone per file, `lab/scenarios/<label>.test.zone`.
//!
//! A scenario is data, not code: a master file (RFC 1035 §5) relative to the zone's origin, plus
//! header lines in zone-file comments that start with `;!`:
//!
//! ```text
//! ;! dnssec: signed
//! www  A  192.0.2.10
//! ```
//!
//! Known header keys (an unknown key is an error, so a typo never passes silently):
//! - `dnssec`: `signed` (default), `unsigned`, `expired`, `bad-ds`, `lame`, `bogus-tlsa`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, LabError};
use crate::masterfile::{self, Entry};

/// The scenario's file name suffix; other files in a scenario directory (READMEs) are ignored.
pub(crate) const SUFFIX: &str = ".zone";

/// The parent of every scenario zone.
pub(crate) const PARENT: &str = "test.";

/// How a scenario zone looks to a validating resolver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnssecState {
    /// Signed by Knot, DS in `test.`: a secure chain.
    Signed,
    /// Not signed, no DS in `test.`: provably insecure through `test.`'s denial of DS.
    Unsigned,
    /// Signed offline with signatures that expired long ago; the DS matches: bogus.
    Expired,
    /// Signed by Knot, but the DS in `test.` matches none of its keys: bogus.
    BadDs,
    /// Delegated to a server that never answers.
    Lame,
    /// Signed offline with valid signatures, except that the signature over the TLSA RRsets is
    /// corrupted: every other answer is secure, TLSA answers are bogus.
    BogusTlsa,
}

impl DnssecState {
    pub const ALL: [DnssecState; 6] = [
        DnssecState::Signed,
        DnssecState::Unsigned,
        DnssecState::Expired,
        DnssecState::BadDs,
        DnssecState::Lame,
        DnssecState::BogusTlsa,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DnssecState::Signed => "signed",
            DnssecState::Unsigned => "unsigned",
            DnssecState::Expired => "expired",
            DnssecState::BadDs => "bad-ds",
            DnssecState::Lame => "lame",
            DnssecState::BogusTlsa => "bogus-tlsa",
        }
    }

    fn parse(value: &str) -> Option<DnssecState> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Whether Knot serves the zone and signs it itself (so RFC 2136 updates get re-signed).
    pub(crate) fn knot_signs(self) -> bool {
        matches!(self, DnssecState::Signed | DnssecState::BadDs)
    }

    /// Whether the zone takes RFC 2136 updates: Knot serves it and either signs it or it is
    /// unsigned. Offline-signed zones cannot be updated without breaking their signatures.
    pub(crate) fn updatable(self) -> bool {
        matches!(
            self,
            DnssecState::Signed | DnssecState::BadDs | DnssecState::Unsigned
        )
    }
}

/// The `;!` header of a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub dnssec: DnssecState,
}

const KNOWN_KEYS: &[&str] = &["dnssec"];

/// Reads the `;! key: value` lines of a scenario file. Errors carry the 1-based line.
pub(crate) fn parse_header(text: &str) -> Result<Header, (usize, String)> {
    let mut seen: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let Some(rest) = raw.trim_start().strip_prefix(";!") else {
            continue;
        };
        let (key, value) = rest.split_once(':').ok_or((
            line,
            format!("header line needs `key: value`, found `{raw}`"),
        ))?;
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim().to_ascii_lowercase();
        if !KNOWN_KEYS.contains(&key.as_str()) {
            return Err((
                line,
                format!(
                    "unknown header key `{key}` (known: {})",
                    KNOWN_KEYS.join(", ")
                ),
            ));
        }
        if let Some((first, _)) = seen.get(&key) {
            return Err((
                line,
                format!("header key `{key}` repeated (first on line {first})"),
            ));
        }
        seen.insert(key, (line, value));
    }
    let dnssec = match seen.get("dnssec") {
        None => DnssecState::Signed,
        Some((line, value)) => DnssecState::parse(value).ok_or((
            *line,
            format!(
                "unknown dnssec state `{value}` (known: {})",
                DnssecState::ALL.map(DnssecState::as_str).join(", ")
            ),
        ))?,
    };
    Ok(Header { dnssec })
}

/// The zone a scenario file defines, from its name: `signed.test.zone` → `signed.test.`.
/// Scenario zones are children of `test.`, one label deep.
pub(crate) fn zone_from_file_name(file_name: &str) -> Result<String, String> {
    let stem = file_name
        .strip_suffix(SUFFIX)
        .ok_or_else(|| format!("scenario file names end in {SUFFIX}"))?
        .to_ascii_lowercase();
    let label = stem.strip_suffix(".test").ok_or_else(|| {
        "scenario zones are children of test. (name them LABEL.test.zone)".to_string()
    })?;
    let valid = !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-');
    if valid {
        Ok(format!("{label}.{PARENT}"))
    } else {
        Err(format!(
            "`{label}` is not a valid single DNS label (letters, digits, inner hyphens)"
        ))
    }
}

/// One scenario zone, read and checked.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Absolute, lower case, e.g. `signed.test.`.
    pub zone: String,
    pub path: PathBuf,
    pub header: Header,
    /// The file's text, handed to Knot/ldns as it is.
    pub text: String,
    pub(crate) records: Vec<Entry>,
}

impl Scenario {
    pub(crate) fn parse(path: &Path, text: String) -> Result<Scenario, LabError> {
        let err = |line: usize, message: String| LabError::Scenario {
            path: path.to_path_buf(),
            line,
            message,
        };
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let zone = zone_from_file_name(&file_name).map_err(|m| err(0, m))?;
        let header = parse_header(&text).map_err(|(l, m)| err(l, m))?;
        let records = masterfile::parse(&text, &zone).map_err(|(l, m)| err(l, m))?;
        if let Some(outside) = records.iter().find(|r| !in_zone(&r.owner, &zone)) {
            return Err(err(
                outside.line,
                format!("owner {} is outside the zone {zone}", outside.owner),
            ));
        }
        Ok(Scenario {
            zone,
            path: path.to_path_buf(),
            header,
            text,
            records,
        })
    }

    pub(crate) fn has_apex(&self, rtype: &str) -> bool {
        self.records
            .iter()
            .any(|r| r.owner == self.zone && r.rtype == rtype)
    }

    /// The apex NS targets the file defines (absolute names), in file order.
    pub(crate) fn apex_ns(&self) -> Vec<String> {
        self.records
            .iter()
            .filter(|r| r.owner == self.zone && r.rtype == "NS")
            .filter_map(|r| r.rdata.first())
            .map(|target| masterfile::absolute(target, &self.zone))
            .collect()
    }

    /// `(type, address)` of the A and AAAA records of `name` in the file.
    pub(crate) fn addresses_of(&self, name: &str) -> Vec<(String, String)> {
        self.records
            .iter()
            .filter(|r| r.owner == name && (r.rtype == "A" || r.rtype == "AAAA"))
            .filter_map(|r| r.rdata.first().map(|a| (r.rtype.clone(), a.clone())))
            .collect()
    }
}

/// Whether `name` is `zone` or below it (both absolute, lower case).
pub(crate) fn in_zone(name: &str, zone: &str) -> bool {
    name == zone || name.ends_with(&format!(".{zone}"))
}

/// Reads every `*.zone` file of `dirs` in order; a later file for the same zone replaces the
/// earlier one. `dirs` pairs each directory with whether it must exist. Returns the scenarios
/// sorted by zone name.
pub(crate) fn load(dirs: &[(PathBuf, bool)]) -> Result<Vec<Scenario>, LabError> {
    let mut by_zone: BTreeMap<String, Scenario> = BTreeMap::new();
    for (dir, required) in dirs {
        if !dir.is_dir() {
            if *required {
                return Err(LabError::Prerequisite(format!(
                    "scenario directory {} does not exist",
                    dir.display()
                )));
            }
            tracing::warn!(dir = %dir.display(), "built-in scenario directory not found; skipping");
            continue;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .context(|| format!("cannot list scenario directory {}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().ends_with(SUFFIX))
            })
            .collect();
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path)
                .context(|| format!("cannot read scenario {}", path.display()))?;
            let scenario = Scenario::parse(&path, text)?;
            if let Some(old) = by_zone.get(&scenario.zone) {
                tracing::info!(zone = %scenario.zone, replaced = %old.path.display(), by = %path.display(), "scenario replaced");
            }
            by_zone.insert(scenario.zone.clone(), scenario);
        }
    }
    Ok(by_zone.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_defaults_to_signed() {
        assert_eq!(
            parse_header("www A 192.0.2.1\n").map(|h| h.dnssec),
            Ok(DnssecState::Signed)
        );
    }

    #[test]
    fn header_reads_each_state() {
        for state in DnssecState::ALL {
            let text = format!("; a comment\n;! dnssec: {}\n", state.as_str());
            assert_eq!(parse_header(&text).map(|h| h.dnssec), Ok(state));
        }
    }

    #[test]
    fn header_is_case_and_space_tolerant() {
        assert_eq!(
            parse_header("  ;!DNSSEC :  Bad-DS  \n").map(|h| h.dnssec),
            Ok(DnssecState::BadDs)
        );
    }

    #[test]
    fn header_rejects_unknown_key_with_line() {
        let err = parse_header("\n;! dnsec: signed\n").expect_err("typo");
        assert_eq!(err.0, 2);
        assert!(err.1.contains("dnsec"));
    }

    #[test]
    fn header_rejects_unknown_state_and_repeats() {
        assert!(parse_header(";! dnssec: maybe\n").is_err());
        assert!(parse_header(";! dnssec: signed\n;! dnssec: lame\n").is_err());
        assert!(parse_header(";! dnssec signed\n").is_err());
    }

    #[test]
    fn ordinary_comments_are_not_header() {
        assert!(parse_header("; dnssec: nonsense\n").is_ok());
    }

    #[test]
    fn zone_names_from_files() {
        assert_eq!(
            zone_from_file_name("signed.test.zone"),
            Ok("signed.test.".into())
        );
        assert_eq!(
            zone_from_file_name("Bad-DS.test.zone"),
            Ok("bad-ds.test.".into())
        );
        assert!(zone_from_file_name("a.b.test.zone").is_err());
        assert!(zone_from_file_name("signed.example.zone").is_err());
        assert!(zone_from_file_name("README.md").is_err());
        assert!(zone_from_file_name("-x.test.zone").is_err());
    }

    #[test]
    fn scenario_sees_apex_records_and_glue() {
        let text =
            ";! dnssec: unsigned\n@ NS ns\nns A 127.0.0.4\nns AAAA fd00:6d74::4\n".to_string();
        let s = Scenario::parse(Path::new("/x/u.test.zone"), text).expect("parses");
        assert_eq!(s.zone, "u.test.");
        assert_eq!(s.header.dnssec, DnssecState::Unsigned);
        assert!(!s.has_apex("SOA"));
        assert_eq!(s.apex_ns(), vec!["ns.u.test."]);
        assert_eq!(s.addresses_of("ns.u.test.").len(), 2);
    }

    #[test]
    fn scenario_rejects_out_of_zone_owner() {
        let text = "www.other.test. A 192.0.2.1\n".to_string();
        let err = Scenario::parse(Path::new("u.test.zone"), text).expect_err("outside");
        assert!(err.to_string().contains("outside"));
    }

    #[test]
    fn later_directory_replaces_earlier() {
        let base = tempfile::tempdir().expect("tempdir");
        let (a, b) = (base.path().join("a"), base.path().join("b"));
        for d in [&a, &b] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(a.join("x.test.zone"), ";! dnssec: signed\n").expect("write");
        std::fs::write(a.join("y.test.zone"), "").expect("write");
        std::fs::write(a.join("README.md"), "not a zone").expect("write");
        std::fs::write(b.join("x.test.zone"), ";! dnssec: lame\n").expect("write");
        let loaded = load(&[(a, true), (b, true)]).expect("loads");
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[0].zone, "x.test.");
        assert_eq!(loaded[0].header.dnssec, DnssecState::Lame);
    }
}
