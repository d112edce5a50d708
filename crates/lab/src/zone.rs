//! Zone files of the hierarchy: the root, `test.`, and each scenario zone with what the lab adds
//! to it (SOA, apex NS and their addresses when the scenario leaves them out). Pure text
//! building; signing happens in [`crate::dnssec`].

use std::fmt::Write as _;

use crate::error::LabError;
use crate::scenario::{DnssecState, Scenario, in_zone};
use crate::topology::{self, NameServer};

/// Short TTLs: tests change records (RFC 2136) and query again within seconds.
pub(crate) const TTL: u32 = 60;
/// SOA minimum, i.e. the negative-caching TTL (RFC 2308 §4): short for the same reason.
const NEGATIVE_TTL: u32 = 5;

/// A DS record as printed by `keymgr ZONE ds` or in an ldns `.ds` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DsRecord {
    pub owner: String,
    pub key_tag: u16,
    pub algorithm: u8,
    pub digest_type: u8,
    pub digest: String,
}

impl DsRecord {
    fn line(&self) -> String {
        format!(
            "{} {TTL} IN DS {} {} {} {}",
            self.owner, self.key_tag, self.algorithm, self.digest_type, self.digest
        )
    }
}

/// Reads DS records from `keymgr ds` / ldns `.ds` output: any line whose tokens read
/// `OWNER [TTL] [IN] DS TAG ALG TYPE DIGEST`. Only SHA-256 digests (type 2) are kept: every
/// validator supports them, and one digest per key keeps the parent simple.
pub(crate) fn parse_ds(text: &str) -> Vec<DsRecord> {
    text.lines()
        .filter_map(|line| {
            let tokens: Vec<&str> = line.split_whitespace().collect();
            let at = tokens.iter().position(|t| t.eq_ignore_ascii_case("DS"))?;
            let owner = tokens.first()?.to_ascii_lowercase();
            let rdata = tokens.get(at + 1..at + 5)?;
            Some(DsRecord {
                owner,
                key_tag: rdata[0].parse().ok()?,
                algorithm: rdata[1].parse().ok()?,
                digest_type: rdata[2].parse().ok()?,
                digest: rdata[3].to_ascii_lowercase(),
            })
        })
        .filter(|ds| ds.digest_type == 2)
        .collect()
}

/// An address record for a name server host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glue {
    pub owner: String,
    /// `A` or `AAAA`.
    pub rtype: String,
    pub address: String,
}

/// What the parent (`test.`) publishes for a scenario zone.
#[derive(Debug, Clone)]
pub(crate) struct Delegation {
    pub zone: String,
    pub ns: Vec<String>,
    pub glue: Vec<Glue>,
    pub ds: Vec<DsRecord>,
}

fn soa(zone: &str, primary: &str) -> String {
    let mailbox = if zone == "." {
        "hostmaster.test.".to_string()
    } else {
        format!("hostmaster.{zone}")
    };
    format!("{zone} {TTL} IN SOA {primary} {mailbox} 1 3600 600 86400 {NEGATIVE_TTL}\n")
}

fn glue_for(host: &str, server: &NameServer) -> Vec<Glue> {
    vec![
        Glue {
            owner: host.to_string(),
            rtype: "A".into(),
            address: server.v4.into(),
        },
        Glue {
            owner: host.to_string(),
            rtype: "AAAA".into(),
            address: server.v6.into(),
        },
    ]
}

fn write_glue(out: &mut String, glue: &[Glue]) {
    for g in glue {
        let _ = writeln!(out, "{} {TTL} IN {} {}", g.owner, g.rtype, g.address);
    }
}

/// The default name server host of a scenario zone: `ns1.<zone>`.
fn default_host(zone: &str) -> String {
    format!("ns1.{zone}")
}

/// The delegation of a scenario zone (without DS; the caller adds those once keys exist).
///
/// A lame zone is always delegated to `ns1.<zone>` at the lame server's addresses, whatever the
/// file says: its records are never served. Otherwise the file's apex NS records are used when
/// present (with glue from the file's A/AAAA records for in-zone hosts), else `ns1.<zone>` at
/// the scenario server.
pub(crate) fn delegation(scenario: &Scenario) -> Result<Delegation, LabError> {
    let zone = &scenario.zone;
    if scenario.header.dnssec == DnssecState::Lame {
        let host = default_host(zone);
        return Ok(Delegation {
            zone: zone.clone(),
            glue: glue_for(&host, &topology::LAME),
            ns: vec![host],
            ds: Vec::new(),
        });
    }
    let ns = scenario.apex_ns();
    if ns.is_empty() {
        let host = default_host(zone);
        return Ok(Delegation {
            zone: zone.clone(),
            glue: glue_for(&host, &topology::SCENARIOS),
            ns: vec![host],
            ds: Vec::new(),
        });
    }
    let mut glue = Vec::new();
    for host in ns.iter().filter(|h| in_zone(h, zone)) {
        let addresses = scenario.addresses_of(host);
        if addresses.is_empty() {
            return Err(LabError::Scenario {
                path: scenario.path.clone(),
                line: 0,
                message: format!(
                    "name server {host} is inside the zone but has no A/AAAA record (needed as glue)"
                ),
            });
        }
        glue.extend(addresses.into_iter().map(|(rtype, address)| Glue {
            owner: host.clone(),
            rtype,
            address,
        }));
    }
    Ok(Delegation {
        zone: zone.clone(),
        ns,
        glue,
        ds: Vec::new(),
    })
}

/// The zone file Knot (or ldns-signzone) reads for a scenario: what the lab adds, with absolute
/// names, then the scenario text as written, under `$ORIGIN <zone>`.
pub(crate) fn scenario_zone(scenario: &Scenario) -> String {
    let zone = &scenario.zone;
    let mut out = format!(
        "; Built by the mailtrust lab from {}\n",
        scenario.path.display()
    );
    let apex_ns = scenario.apex_ns();
    let primary = apex_ns
        .first()
        .cloned()
        .unwrap_or_else(|| default_host(zone));
    if !scenario.has_apex("SOA") {
        out.push_str(&soa(zone, &primary));
    }
    if apex_ns.is_empty() {
        let _ = writeln!(out, "{zone} {TTL} IN NS {primary}");
        write_glue(&mut out, &glue_for(&primary, &topology::SCENARIOS));
    }
    let _ = writeln!(out, "$ORIGIN {zone}\n$TTL {TTL}\n; ---- scenario file");
    out.push_str(&scenario.text);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// The `test.` zone: its own servers' addresses (including the root server's host name, which
/// lives here) and one delegation per scenario.
pub(crate) fn test_zone(delegations: &[Delegation]) -> String {
    let zone = "test.";
    let mut out = String::from("; Built by the mailtrust lab\n");
    out.push_str(&soa(zone, topology::TEST.host));
    let _ = writeln!(out, "{zone} {TTL} IN NS {}", topology::TEST.host);
    write_glue(&mut out, &glue_for(topology::TEST.host, &topology::TEST));
    write_glue(&mut out, &glue_for(topology::ROOT.host, &topology::ROOT));
    for d in delegations {
        let _ = writeln!(out, "; delegation of {}", d.zone);
        for ns in &d.ns {
            let _ = writeln!(out, "{} {TTL} IN NS {ns}", d.zone);
        }
        write_glue(&mut out, &d.glue);
        for ds in &d.ds {
            let _ = writeln!(out, "{}", ds.line());
        }
    }
    out
}

/// The root zone: its own server, and the delegation of `test.` with DS.
pub(crate) fn root_zone(test_ds: &[DsRecord]) -> String {
    let mut out = String::from("; Built by the mailtrust lab\n");
    out.push_str(&soa(".", topology::ROOT.host));
    let _ = writeln!(out, ". {TTL} IN NS {}", topology::ROOT.host);
    let _ = writeln!(out, "test. {TTL} IN NS {}", topology::TEST.host);
    // Both host names are below the test. delegation: Knot serves them as glue.
    write_glue(&mut out, &glue_for(topology::ROOT.host, &topology::ROOT));
    write_glue(&mut out, &glue_for(topology::TEST.host, &topology::TEST));
    for ds in test_ds {
        let _ = writeln!(out, "{}", ds.line());
    }
    out
}

/// Root hints for the iterating resolvers: the lab root instead of the IANA one.
pub(crate) fn root_hints() -> String {
    let mut out = format!(". 3600000 IN NS {}\n", topology::ROOT.host);
    let _ = writeln!(
        out,
        "{} 3600000 IN A {}",
        topology::ROOT.host,
        topology::ROOT.v4
    );
    let _ = writeln!(
        out,
        "{} 3600000 IN AAAA {}",
        topology::ROOT.host,
        topology::ROOT.v6
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn scenario(name: &str, text: &str) -> Scenario {
        Scenario::parse(Path::new(name), text.to_string()).expect("scenario parses")
    }

    #[test]
    fn ds_from_keymgr_and_ldns() {
        let keymgr = ". DS 52375 13 2 29EB\n. DS 52375 13 4 1d72\n";
        let ldns = "expired.test.\tIN\tDS\t17028 13 2 052a";
        let a = parse_ds(keymgr);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].digest, "29eb");
        let b = parse_ds(ldns);
        assert_eq!(b[0].owner, "expired.test.");
        assert_eq!(b[0].key_tag, 17028);
        assert!(parse_ds("garbage DS x y").is_empty());
    }

    #[test]
    fn lab_adds_soa_ns_and_addresses() {
        let s = scenario("a.test.zone", "www A 192.0.2.1\n");
        let z = scenario_zone(&s);
        assert!(z.contains("a.test. 60 IN SOA ns1.a.test. hostmaster.a.test."));
        assert!(z.contains("a.test. 60 IN NS ns1.a.test."));
        assert!(z.contains("ns1.a.test. 60 IN A 127.0.0.4"));
        assert!(z.contains("$ORIGIN a.test.\n"));
        assert!(z.ends_with("www A 192.0.2.1\n"));
    }

    #[test]
    fn lab_keeps_authors_soa_and_ns() {
        let s = scenario(
            "a.test.zone",
            "@ SOA ns x 1 2 3 4 5\n@ NS ns\nns A 127.0.0.4\n",
        );
        let z = scenario_zone(&s);
        assert!(!z.contains("IN SOA"));
        assert!(!z.contains("IN NS"));
        let d = delegation(&s).expect("delegation");
        assert_eq!(d.ns, vec!["ns.a.test."]);
        assert_eq!(d.glue.len(), 1);
    }

    #[test]
    fn in_zone_ns_without_address_is_an_error() {
        let s = scenario("a.test.zone", "@ NS ns\n");
        assert!(delegation(&s).is_err());
    }

    #[test]
    fn lame_delegates_to_the_lame_server() {
        let s = scenario("l.test.zone", ";! dnssec: lame\n@ NS ns\nns A 127.0.0.4\n");
        let d = delegation(&s).expect("delegation");
        assert_eq!(d.ns, vec!["ns1.l.test."]);
        assert_eq!(d.glue[0].address, topology::LAME.v4);
    }

    #[test]
    fn parents_carry_delegations_and_ds() {
        let ds = parse_ds("test. DS 1 13 2 ab");
        let root = root_zone(&ds);
        assert!(root.contains("test. 60 IN NS ns1.test."));
        assert!(root.contains("test. 60 IN DS 1 13 2 ab"));
        assert!(root.contains(". 60 IN SOA a.root-servers.test. hostmaster.test."));
        let s = scenario("a.test.zone", "");
        let mut d = delegation(&s).expect("delegation");
        d.ds = parse_ds("a.test. DS 2 13 2 cd");
        let test = test_zone(&[d]);
        assert!(test.contains("a.test. 60 IN NS ns1.a.test."));
        assert!(test.contains("ns1.a.test. 60 IN AAAA fd00:6d74::4"));
        assert!(test.contains("a.test. 60 IN DS 2 13 2 cd"));
    }
}
