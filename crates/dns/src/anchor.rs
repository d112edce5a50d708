//! Trust anchors: where validation starts.
//!
//! The default is the IANA root KSKs that hickory ships (key tags 20326 and 38696). A file given
//! with `--trust-anchor` replaces them; it holds DNSKEY and/or DS records in zone-file syntax
//! (what `dig . DNSKEY` or a registry's DS output looks like). A DS anchor is matched against the
//! DNSKEY set fetched for its zone when the resolver starts.

use std::path::{Path, PathBuf};

use hickory_proto::dnssec::rdata::{DNSKEY, DS};
use hickory_proto::dnssec::{
    Algorithm, DigestType, PublicKey, PublicKeyBuf, TrustAnchors, Verifier,
};
use hickory_proto::rr::Name;

/// A key trusted because it is configured, not because something signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorKey {
    pub zone: Name,
    pub algorithm: Algorithm,
    pub public_key: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct TrustAnchorSet {
    pub keys: Vec<AnchorKey>,
    pub ds: Vec<(Name, DS)>,
    /// Where the set came from, for messages ("IANA root KSKs" or the file).
    pub source: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TrustAnchorError {
    #[error("cannot read trust anchor file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("trust anchor file {path} is not valid zone-file syntax: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error(
        "trust anchor file {path}: {owner} {rtype} is not allowed (only DNSKEY and DS records)"
    )]
    WrongType {
        path: PathBuf,
        owner: String,
        rtype: String,
    },
    #[error(
        "trust anchor file {path}: {owner} DNSKEY has no zone-key flag (flags {flags}); it cannot anchor a zone"
    )]
    NotZoneKey {
        path: PathBuf,
        owner: String,
        flags: u16,
    },
    #[error("trust anchor file {path} holds no DNSKEY or DS record")]
    Empty { path: PathBuf },
}

impl TrustAnchorSet {
    /// The IANA root KSKs.
    pub fn iana_root() -> Self {
        let ta = TrustAnchors::default();
        let keys = (0..ta.len())
            .filter_map(|i| ta.get(i))
            .map(|k| AnchorKey {
                zone: Name::root(),
                algorithm: k.algorithm(),
                public_key: k.public_bytes().to_vec(),
            })
            .collect();
        Self {
            keys,
            ds: Vec::new(),
            source: "IANA root KSKs".into(),
        }
    }

    /// Reads DNSKEY and DS records in zone-file syntax. Owner names must be absolute or are taken
    /// relative to the root; a TTL is optional.
    pub fn from_file(path: &Path) -> Result<Self, TrustAnchorError> {
        let text = std::fs::read_to_string(path).map_err(|source| TrustAnchorError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses anchor text; `path` is only used in error messages.
    ///
    /// Written by hand because neither of hickory's parsers fits: its zone-file parser refuses
    /// DNSKEY and DS records ("should be dynamically generated") and its trust-anchor parser
    /// knows no DS. The format is the zone-file subset anchors use: `OWNER [TTL] [IN] DNSKEY
    /// FLAGS PROTO ALG BASE64...` or `OWNER [TTL] [IN] DS TAG ALG DIGEST-TYPE HEX...`, with `;`
    /// comments and parentheses spanning lines.
    pub fn parse(text: &str, path: &Path) -> Result<Self, TrustAnchorError> {
        let syntax = |line: usize, message: String| TrustAnchorError::Syntax {
            path: path.to_owned(),
            message: format!("line {line}: {message}"),
        };
        let mut set = Self {
            source: path.display().to_string(),
            ..Self::default()
        };
        for (line, fields) in entries(text) {
            let mut it = fields.iter().map(String::as_str).peekable();
            let Some(owner_text) = it.next() else {
                continue;
            };
            let mut owner = Name::from_ascii(owner_text)
                .map_err(|e| syntax(line, format!("bad owner name {owner_text:?}: {e}")))?;
            owner.set_fqdn(true);
            if it
                .peek()
                .is_some_and(|f| f.chars().all(|c| c.is_ascii_digit()))
            {
                it.next();
            }
            if it.peek().is_some_and(|f| f.eq_ignore_ascii_case("IN")) {
                it.next();
            }
            let rtype = it
                .next()
                .ok_or_else(|| syntax(line, "record type missing".into()))?
                .to_ascii_uppercase();
            let rest: Vec<&str> = it.collect();
            let num = |i: usize, what: &str| -> Result<u16, TrustAnchorError> {
                rest.get(i)
                    .and_then(|f| f.parse::<u16>().ok())
                    .ok_or_else(|| syntax(line, format!("{rtype}: {what} missing or not a number")))
            };
            match rtype.as_str() {
                "DNSKEY" => {
                    let flags = num(0, "flags")?;
                    let alg = u8::try_from(num(2, "algorithm")?)
                        .map_err(|_| syntax(line, "algorithm out of range".into()))?;
                    let b64: String = rest.get(3..).unwrap_or_default().concat();
                    let key = data_encoding::BASE64.decode(b64.as_bytes()).map_err(|e| {
                        syntax(line, format!("DNSKEY public key is not base64: {e}"))
                    })?;
                    if key.is_empty() {
                        return Err(syntax(line, "DNSKEY public key missing".into()));
                    }
                    let dnskey =
                        DNSKEY::with_flags(flags, PublicKeyBuf::new(key, Algorithm::from_u8(alg)));
                    if !dnskey.zone_key() {
                        return Err(TrustAnchorError::NotZoneKey {
                            path: path.to_owned(),
                            owner: owner.to_ascii(),
                            flags,
                        });
                    }
                    set.keys.push(anchor_key(owner, &dnskey));
                }
                "DS" => {
                    let tag = num(0, "key tag")?;
                    let alg = u8::try_from(num(1, "algorithm")?)
                        .map_err(|_| syntax(line, "algorithm out of range".into()))?;
                    let dt = u8::try_from(num(2, "digest type")?)
                        .map_err(|_| syntax(line, "digest type out of range".into()))?;
                    let hex: String = rest
                        .get(3..)
                        .unwrap_or_default()
                        .concat()
                        .to_ascii_uppercase();
                    let digest = data_encoding::HEXUPPER
                        .decode(hex.as_bytes())
                        .map_err(|e| syntax(line, format!("DS digest is not hex: {e}")))?;
                    if digest.is_empty() {
                        return Err(syntax(line, "DS digest missing".into()));
                    }
                    set.ds.push((
                        owner,
                        DS::new(tag, Algorithm::from_u8(alg), DigestType::from(dt), digest),
                    ));
                }
                other => {
                    return Err(TrustAnchorError::WrongType {
                        path: path.to_owned(),
                        owner: owner.to_ascii(),
                        rtype: other.to_string(),
                    });
                }
            }
        }
        if set.keys.is_empty() && set.ds.is_empty() {
            return Err(TrustAnchorError::Empty {
                path: path.to_owned(),
            });
        }
        Ok(set)
    }

    /// True when `key`, published at `zone`, is configured as an anchor (directly, or through a
    /// DS anchor that covers it).
    pub fn anchors(&self, zone: &Name, key: &DNSKEY) -> bool {
        let bytes = key.public_key().public_bytes();
        self.keys
            .iter()
            .any(|a| a.zone == *zone && a.algorithm == key.algorithm() && a.public_key == bytes)
            || self
                .ds
                .iter()
                .any(|(owner, ds)| owner == zone && ds.covers(zone, key).unwrap_or(false))
    }

    /// Zones that have an anchor of some kind, highest first.
    pub fn zones(&self) -> Vec<Name> {
        let mut z: Vec<Name> = self
            .keys
            .iter()
            .map(|k| k.zone.clone())
            .chain(self.ds.iter().map(|d| d.0.clone()))
            .collect();
        z.sort_by_key(Name::num_labels);
        z.dedup();
        z
    }

    /// The DNSKEY anchors as hickory wants them. DS anchors are added by the resolver once their
    /// zone's DNSKEY set has been fetched ([`Self::anchors`] picks the keys).
    pub fn to_hickory(&self, extra: &[(Name, DNSKEY)]) -> TrustAnchors {
        let mut ta = TrustAnchors::empty();
        for k in &self.keys {
            let key = PublicKeyBuf::new(k.public_key.clone(), k.algorithm);
            ta.insert_with_name(&key, k.zone.clone().into());
        }
        for (zone, key) in extra {
            ta.insert_with_name(key.public_key(), zone.clone().into());
        }
        ta
    }
}

fn anchor_key(zone: Name, key: &DNSKEY) -> AnchorKey {
    AnchorKey {
        zone,
        algorithm: key.algorithm(),
        public_key: key.public_key().public_bytes().to_vec(),
    }
}

/// Splits zone-file text into entries of fields, with the line each starts on: `;` comments
/// dropped, parentheses joining lines (RFC 1035 §5.1).
fn entries(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut start = 0;
    let mut depth = 0usize;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split(';').next().unwrap_or("");
        if depth == 0 {
            start = i + 1;
        }
        for tok in line
            .replace('(', " ( ")
            .replace(')', " ) ")
            .split_whitespace()
        {
            match tok {
                "(" => depth += 1,
                ")" => depth = depth.saturating_sub(1),
                t => current.push(t.to_string()),
            }
        }
        if depth == 0 && !current.is_empty() {
            out.push((start, std::mem::take(&mut current)));
        }
    }
    if !current.is_empty() {
        out.push((start, current));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // The IANA root KSK-2017 (key tag 20326) as published by IANA, and its DS.
    const KSK_2017: &str = ". 172800 IN DNSKEY 257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU=";
    const DS_2017: &str =
        ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D";

    #[test]
    fn default_anchors_are_the_iana_root_ksks() {
        let set = TrustAnchorSet::iana_root();
        assert!(!set.keys.is_empty());
        assert!(set.keys.iter().all(|k| k.zone.is_root()));
        let file = TrustAnchorSet::parse(KSK_2017, Path::new("t")).unwrap();
        assert!(
            set.keys.contains(&file.keys[0]),
            "KSK-2017 must be a default anchor"
        );
    }

    #[test]
    fn parses_dnskey_without_ttl_and_ds() {
        let text = format!("{}\n{DS_2017}\n", KSK_2017.replace("172800 ", ""));
        let set = TrustAnchorSet::parse(&text, Path::new("t")).unwrap();
        assert_eq!(set.keys.len(), 1);
        assert_eq!(set.ds.len(), 1);
        assert_eq!(set.ds[0].1.key_tag(), 20326);
        assert_eq!(set.zones(), vec![Name::root()]);
    }

    #[test]
    fn ds_anchor_matches_its_key_only() {
        let keys = TrustAnchorSet::parse(KSK_2017, Path::new("t")).unwrap();
        let ds = TrustAnchorSet::parse(DS_2017, Path::new("t")).unwrap();
        let AnchorKey {
            algorithm,
            public_key,
            ..
        } = &keys.keys[0];
        let key = DNSKEY::new(
            true,
            true,
            false,
            PublicKeyBuf::new(public_key.clone(), *algorithm),
        );
        assert!(
            ds.anchors(&Name::root(), &key),
            "DS 20326 must cover KSK-2017"
        );
        assert!(
            !ds.anchors(&Name::from_ascii("test.").unwrap(), &key),
            "anchors are per zone"
        );
        let other = DNSKEY::new(
            true,
            true,
            false,
            PublicKeyBuf::new(vec![1; 32], Algorithm::ED25519),
        );
        assert!(!ds.anchors(&Name::root(), &other));
    }

    #[test]
    fn rejects_other_record_types() {
        let err =
            TrustAnchorSet::parse("example. 60 IN A 192.0.2.1", Path::new("a.key")).unwrap_err();
        assert!(err.to_string().contains("only DNSKEY and DS"), "{err}");
        assert!(err.to_string().contains("a.key"), "{err}");
    }

    #[test]
    fn rejects_garbage_with_the_file_name() {
        let err = TrustAnchorSet::parse(". IN DNSKEY 257 3 8 !!!notbase64", Path::new("bad.key"))
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("bad.key"), "{msg}");
        assert!(!msg.contains('\n'), "one line: {msg}");
    }

    #[test]
    fn rejects_an_empty_file() {
        let err = TrustAnchorSet::parse("; nothing here\n", Path::new("e.key")).unwrap_err();
        assert!(matches!(err, TrustAnchorError::Empty { .. }), "{err}");
    }

    #[test]
    fn parentheses_and_comments_span_lines() {
        let half = KSK_2017.len() / 2;
        let (a, b) = KSK_2017.split_at(half);
        // Break inside the base64, as published anchors often are.
        let cut = a.rfind(' ').unwrap_or(0);
        let text = format!(
            "; root anchor\n{} ( {} ; first half\n  {} )\n",
            &a[..cut],
            &a[cut..],
            b
        );
        let set = TrustAnchorSet::parse(&text, Path::new("t")).unwrap();
        let single = TrustAnchorSet::parse(KSK_2017, Path::new("t")).unwrap();
        assert_eq!(set.keys, single.keys);
    }

    #[test]
    fn rejects_a_key_without_the_zone_flag() {
        let text = KSK_2017.replace(" 257 ", " 1 ");
        let err = TrustAnchorSet::parse(&text, Path::new("t")).unwrap_err();
        assert!(matches!(err, TrustAnchorError::NotZoneKey { .. }), "{err}");
    }

    #[test]
    fn rejects_bad_ds_digest_with_line_number() {
        let err = TrustAnchorSet::parse("\n. IN DS 20326 8 2 XYZ\n", Path::new("t")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("line 2") && msg.contains("hex"), "{msg}");
    }

    /// Hostile or broken anchor files get an error, never a panic: random sequences of the
    /// tokens anchor files are made of, plus stray bytes.
    #[test]
    fn random_input_never_panics() {
        const TOKENS: &[&str] = &[
            ".",
            "example.",
            "IN",
            "CH",
            "3600",
            "-1",
            "99999999999",
            "DNSKEY",
            "DS",
            "A",
            "257",
            "256",
            "3",
            "8",
            "13",
            "2",
            "65536",
            "(",
            ")",
            ";",
            "\n",
            "AwEAAaz/",
            "====",
            "E06D44B8",
            "zz",
            "\"",
            "\\",
            "\u{0}",
            "\u{fffd}",
            "\t",
            "..",
            "a..b",
            "*",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..5_000 {
            let n = (next() % 12) as usize;
            let text: Vec<&str> = (0..n)
                .map(|_| TOKENS[(next() as usize) % TOKENS.len()])
                .collect();
            let _ = TrustAnchorSet::parse(&text.join(" "), Path::new("fuzz"));
        }
    }
}
