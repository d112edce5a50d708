//! The check catalogue: every check id, what it means, how bad a failure is, and where the rule
//! comes from. `docs/checks.md` documents the same list for people; a test keeps them in step.
//!
//! References name NIST SP 800-177 Rev. 1 (February 2019) by section and, where the guide has
//! one, its security recommendation number; RFC sections; and CISA BOD 18-01 where it applies.

use serde::{Serialize, Serializer};

use crate::finding::Severity;

macro_rules! catalogue {
    ($( $variant:ident => $id:literal, $area:literal, $sev:ident, $title:literal, [$($r:literal),* $(,)?], $meaning:literal; )*) => {
        /// A check's stable id. An enum so that a finding can only name a check that exists.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum CheckId { $( $variant, )* }

        impl CheckId {
            pub const ALL: &'static [CheckId] = &[ $( CheckId::$variant, )* ];

            pub fn as_str(self) -> &'static str {
                match self { $( CheckId::$variant => $id, )* }
            }
        }

        /// The catalogue entry of `id`.
        pub fn info(id: CheckId) -> &'static CheckInfo {
            match id {
                $( CheckId::$variant => {
                    const INFO: CheckInfo = CheckInfo {
                        id: $id,
                        area: $area,
                        severity: Severity::$sev,
                        title: $title,
                        references: &[$($r),*],
                        meaning: $meaning,
                    };
                    &INFO
                } )*
            }
        }
    };
}

/// What the catalogue says about one check.
#[derive(Debug, Serialize)]
pub struct CheckInfo {
    pub id: &'static str,
    pub area: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    pub references: &'static [&'static str],
    pub meaning: &'static str,
}

impl Serialize for CheckId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

catalogue! {
    DomainExists => "domain.exists", "dns", High, "Domain exists",
        ["RFC 1034 §3.1"],
        "The domain answers in the DNS (not NXDOMAIN). Every other check assumes it does.";
    DnssecZone => "dnssec.zone", "dnssec", Medium, "Zone is DNSSEC-signed and validates",
        ["SP 800-177r1 §3.2", "SP 800-177r1 Rec 4-2", "RFC 4033", "RFC 4035 §5"],
        "The domain's zone validates secure from the trust anchor. Insecure (unsigned) warns; bogus fails: validating receivers cannot see the domain's records at all.";
    MxPresent => "mx.present", "mx", Medium, "MX records published",
        ["RFC 5321 §5.1"],
        "The domain publishes MX records (or a null MX). Without them, senders fall back to the A/AAAA records of the domain itself.";
    MxNull => "mx.null", "mx", Info, "Null MX",
        ["RFC 7505 §3"],
        "A null MX (`MX 0 .`) declares that the domain accepts no mail; it must be the only MX record.";
    MxCname => "mx.cname", "mx", Medium, "MX target is not an alias",
        ["RFC 5321 §5.1", "RFC 2181 §10.3"],
        "An MX target must be a host name with address records, not a CNAME.";
    MxResolvable => "mx.resolvable", "mx", High, "MX host has addresses",
        ["RFC 5321 §5.1"],
        "Each MX host has A or AAAA records; a host without addresses cannot receive mail.";
    SpfPresent => "spf.present", "spf", High, "SPF record published",
        ["SP 800-177r1 §4.4", "RFC 7208 §4.5", "BOD 18-01"],
        "The domain publishes a `v=spf1` TXT record.";
    SpfSingle => "spf.single", "spf", High, "Exactly one SPF record",
        ["RFC 7208 §4.5"],
        "More than one `v=spf1` record is a permanent error for every receiver.";
    SpfSyntax => "spf.syntax", "spf", High, "SPF record syntax",
        ["RFC 7208 §4.6", "RFC 7208 §5", "RFC 7208 §6"],
        "The record parses: known mechanisms and modifiers, valid addresses and CIDR lengths, at most one redirect and one exp.";
    SpfLookups => "spf.lookups", "spf", High, "SPF DNS lookup limit",
        ["RFC 7208 §4.6.4"],
        "At most 10 DNS-querying terms (include, a, mx, ptr, exists, redirect) across the whole include tree; each mx at most 10 hosts, each ptr at most 10 names.";
    SpfVoidLookups => "spf.void-lookups", "spf", Medium, "SPF void lookup limit",
        ["RFC 7208 §4.6.4"],
        "At most 2 DNS-querying terms that return no records (NXDOMAIN or NODATA).";
    SpfAll => "spf.all", "spf", High, "SPF ends in -all",
        ["SP 800-177r1 §4.4", "RFC 7208 §4.7", "RFC 7208 §6.1", "BOD 18-01"],
        "The effective ending, following a redirect to the record that decides: -all passes, ~all warns, ?all, +all or no ending (neutral) fails.";
    SpfPtr => "spf.ptr", "spf", Low, "SPF does not use ptr",
        ["RFC 7208 §5.5"],
        "The ptr mechanism is slow, unreliable and SHOULD NOT be used.";
    SpfSize => "spf.size", "spf", Low, "SPF record size",
        ["RFC 7208 §3.4"],
        "A record over 450 bytes, or an answer that would not fit 512 bytes, risks truncation and TCP fallback.";
    SpfNonSending => "spf.non-sending", "spf", Medium, "Non-sending domain publishes v=spf1 -all",
        ["SP 800-177r1 §4.4", "SP 800-177r1 Rec 4-1", "RFC 7208 §10.1.2"],
        "A domain that declares it handles no mail (a null MX, or neither MX nor A/AAAA) should publish `v=spf1 -all`.";
    DmarcPresent => "dmarc.present", "dmarc", High, "DMARC record published",
        ["SP 800-177r1 §4.6", "RFC 9989 §4.10", "BOD 18-01"],
        "A DMARC policy is found by the RFC 9989 DNS tree walk (a record only at a public suffix does not count).";
    DmarcSyntax => "dmarc.syntax", "dmarc", High, "DMARC record syntax",
        ["RFC 9989 §4.7", "RFC 9989 §4.8"],
        "The record starts with v=DMARC1 and its tags have valid values; unknown tags are ignored.";
    DmarcPolicy => "dmarc.policy", "dmarc", High, "DMARC policy is reject",
        ["SP 800-177r1 §4.6", "RFC 9989 §4.7", "BOD 18-01"],
        "The effective policy after testing mode (t=y): reject passes, quarantine warns, none fails (BOD 18-01 requires reject).";
    DmarcSubdomainPolicy => "dmarc.subdomain-policy", "dmarc", Medium, "Subdomain policies as strict as p",
        ["RFC 9989 §4.7"],
        "sp (existing subdomains) or np (non-existent subdomains) weaker than p lets attackers use subdomains.";
    DmarcPct => "dmarc.pct", "dmarc", Low, "DMARC applies to all mail",
        ["RFC 7489 §6.3", "RFC 9989 Appendix C"],
        "pct below 100 applies the policy to part of the mail only; RFC 9989 removed pct.";
    DmarcAlignment => "dmarc.alignment", "dmarc", Info, "DMARC alignment modes",
        ["RFC 9989 §4.10.2"],
        "adkim and aspf as published (relaxed by default).";
    DmarcRua => "dmarc.rua", "dmarc", Medium, "DMARC aggregate reports requested",
        ["SP 800-177r1 §4.6", "RFC 9990", "BOD 18-01"],
        "A rua destination is published, so that the domain owner sees who sends as the domain.";
    DmarcRuaAuthorized => "dmarc.rua-authorized", "dmarc", Medium, "Report destinations accept the reports",
        ["RFC 9990 §3", "RFC 7489 §7.1"],
        "Each report destination in another organizational domain publishes `<policy-domain>._report._dmarc.<report-domain>`.";
    DkimKey => "dkim.key", "dkim", High, "DKIM key",
        ["SP 800-177r1 §4.5", "SP 800-177r1 Rec 4-3", "SP 800-177r1 Rec 4-6", "SP 800-177r1 Rec 4-10", "RFC 6376 §3.6.1", "RFC 8301", "RFC 8463"],
        "For each selector: key present, RSA of at least 2048 bits or Ed25519 (with an RSA selector beside it), not sha1-only, DNSSEC status of the key record.";
    MtaStsRecord => "mta-sts.record", "transport", Medium, "MTA-STS TXT record",
        ["RFC 8461 §3.1"],
        "`_mta-sts.<domain>` publishes `v=STSv1; id=...`.";
    TlsRptRecord => "tls-rpt.record", "transport", Low, "TLS-RPT record",
        ["RFC 8460 §3"],
        "`_smtp._tls.<domain>` publishes `v=TLSRPTv1; rua=...` with valid mailto: or https: URIs.";
    DaneTlsa => "dane.tlsa", "transport", Medium, "DANE TLSA records for MX hosts",
        ["SP 800-177r1 §5.3", "RFC 7672 §2.2"],
        "Each MX host has a DNSSEC-secure TLSA RRset at `_25._tcp.<mx>`. An insecure TLSA is no DANE; a bogus one fails.";
    SmimeaRecord => "smimea.record", "e2e", Low, "SMIMEA record for an address",
        ["SP 800-177r1 §6", "RFC 8162 §3"],
        "The S/MIME certificate association for the address is published and DNSSEC-secure.";
    OpenpgpkeyRecord => "openpgpkey.record", "e2e", Low, "OPENPGPKEY record for an address",
        ["RFC 7929 §3"],
        "The OpenPGP key for the address is published and DNSSEC-secure.";
    Bod1801Summary => "bod1801.summary", "summary", Info, "BOD 18-01 email requirements",
        ["BOD 18-01"],
        "Valid SPF, DMARC p=reject with reports@dmarc.cyber.dhs.gov among rua, and (when probes run) STARTTLS without weak protocols. Informational outside federal agencies.";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for id in CheckId::ALL {
            let s = id.as_str();
            assert!(seen.insert(s), "duplicate id {s}");
            assert!(
                s.contains('.')
                    && s.chars().all(|c| c.is_ascii_lowercase()
                        || c == '.'
                        || c == '-'
                        || c.is_ascii_digit()),
                "{s}"
            );
            let info = info(*id);
            assert_eq!(info.id, s);
            assert!(!info.references.is_empty(), "{s} has references");
            assert!(!info.meaning.is_empty());
        }
    }

    /// The JSON schema's enum of ids is the catalogue.
    #[test]
    fn json_schema_knows_every_id() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/audit-report.schema.json"
        );
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_default())
                .unwrap_or_default();
        let ids: std::collections::BTreeSet<&str> = schema["$defs"]["finding"]["properties"]["id"]
            ["enum"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .collect();
        let code: std::collections::BTreeSet<&str> =
            CheckId::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            ids, code,
            "docs/audit-report.schema.json and the catalogue list different ids"
        );
    }

    /// docs/checks.md lists exactly the ids of the catalogue, in a table whose first column is
    /// the id in backticks.
    #[test]
    fn docs_checks_md_is_in_step() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/checks.md");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let documented: std::collections::BTreeSet<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split('`').next())
            .collect();
        let code: std::collections::BTreeSet<&str> =
            CheckId::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            documented, code,
            "docs/checks.md and the catalogue list different ids"
        );
    }
}
