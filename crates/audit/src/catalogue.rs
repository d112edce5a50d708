//! The check catalogue: every check id, what it means, how bad a failure is, and where the rule
//! comes from. `docs/checks.md` documents the same list for people; a test keeps them in step.
//!
//! References name NIST SP 800-177 Rev. 1 (February 2019) by section and, where the guide has
//! one, its security recommendation number; RFC sections; and CISA BOD 18-01 where it applies.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

impl<'de> Deserialize<'de> for CheckId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The id that no check of the catalogue has, when parsing one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCheck(pub String);

impl std::fmt::Display for UnknownCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no check has the id {:?}", self.0)
    }
}

impl std::error::Error for UnknownCheck {}

/// Parses an id as the catalogue spells it (`dmarc.policy`), so that a reader of the JSON report
/// gets the same enum the checks produce.
impl std::str::FromStr for CheckId {
    type Err = UnknownCheck;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CheckId::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCheck(s.to_string()))
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
    SmtpStarttls => "smtp.starttls", "transport", High, "STARTTLS on every MX address",
        ["SP 800-177r1 §5.2", "RFC 3207", "BOD 18-01"],
        "Each address of each MX host (IPv4 and IPv6, port 25) advertises STARTTLS in its EHLO reply and completes a TLS handshake. A refused connection, a 4xx/5xx greeting or silence is inconclusive; a failed handshake after STARTTLS fails.";
    SmtpTlsVersion => "smtp.tls-version", "transport", High, "TLS 1.2 or 1.3 only",
        ["SP 800-52r2 §3.1", "SP 800-177r1 §5.2", "BOD 18-01"],
        "The handshake negotiates TLS 1.2 or 1.3, and hand-built ClientHellos offering SSLv3, TLS 1.0 and TLS 1.1 are refused.";
    SmtpTlsCiphers => "smtp.tls-ciphers", "transport", High, "No weak cipher suites",
        ["BOD 18-01", "SP 800-52r2 §3.3.1", "RFC 7465"],
        "A ClientHello offering only RC4, 3DES, DES, NULL, EXPORT and anonymous suites is refused (and, where TLS 1.0 works, at TLS 1.0 too).";
    SmtpCertificate => "smtp.certificate", "transport", Medium, "MX certificate",
        ["SP 800-177r1 §5.2", "RFC 8461 §4.2", "RFC 7672 §3.1", "SP 800-52r2 §3.5"],
        "The certificate chains to a trusted root, is within its dates, names the MX host and has a strong key. Plain opportunistic SMTP warns; with an MTA-STS policy it fails (senders then require WebPKI validity); where DANE applies the TLSA records decide (dane.match).";
    SmtpCertificateExpiry => "smtp.certificate-expiry", "transport", Medium, "Certificate not about to expire",
        ["SP 800-177r1 §5.2", "SP 800-52r2 §3.5"],
        "The MX or MTA-STS host certificate is valid for at least 21 more days; within 21 days warns, expired fails.";
    DaneMatch => "dane.match", "transport", High, "Server matches its TLSA records",
        ["SP 800-177r1 §5.3", "RFC 7672 §2.2", "RFC 7672 §3", "RFC 7671 §5"],
        "Where DANE applies (secure MX RRset, secure host addresses, secure TLSA), the presented chain matches at least one usable TLSA record: DANE-EE(3) the leaf, ignoring names and dates; DANE-TA(2) a certificate the leaf chains to, with the MX name. PKIX usages 0/1 are unusable for SMTP. A bogus or failing TLSA lookup makes DANE senders hold mail: fail.";
    DaneRollover => "dane.rollover", "transport", Low, "TLSA ready for a key rollover",
        ["RFC 7671 §8.1", "RFC 7672 §3.1"],
        "More than one usable TLSA record (the current and the next key), or a DANE-TA(2) record, so that a new server key does not break DANE delivery.";
    MtaStsPolicy => "mta-sts.policy", "transport", Medium, "MTA-STS policy",
        ["SP 800-177r1 §5.4", "RFC 8461 §3.2", "RFC 8461 §3.3", "RFC 8461 §4.1"],
        "https://mta-sts.<domain>/.well-known/mta-sts.txt is served without redirects, with a valid certificate, as text/plain within 64 KiB, and parses; mode enforce passes, testing warns, none is informational; every MX host matches an mx: pattern; max_age is at least a day.";
    TlsRptReachable => "tls-rpt.reachable", "transport", Low, "TLS-RPT destinations reachable",
        ["RFC 8460 §3"],
        "Each rua destination can take reports: an https: endpoint completes a handshake with a valid certificate; a mailto: address's domain has a usable MX.";
    ImapTls => "imap.tls", "access", High, "IMAP over TLS",
        ["SP 800-177r1 §8", "RFC 8314 §3", "RFC 3501 §6.2.1"],
        "Each IMAP service (implicit TLS on 993, STARTTLS on 143) completes TLS 1.2 or 1.3, refuses older versions and weak suites, and presents a valid certificate for its host name.";
    ImapPlaintextAuth => "imap.plaintext-auth", "access", High, "No IMAP login before TLS",
        ["SP 800-177r1 §8", "RFC 8314 §3", "RFC 3501 §6.2.3", "RFC 2595 §3.2"],
        "On port 143 the server advertises LOGINDISABLED (and no plaintext AUTH mechanism) until STARTTLS: passwords never cross the network in the clear.";
    Pop3Tls => "pop3.tls", "access", High, "POP3 over TLS",
        ["SP 800-177r1 §8", "RFC 8314 §3", "RFC 2595 §4"],
        "Each POP3 service (implicit TLS on 995, STLS on 110) completes TLS 1.2 or 1.3, refuses older versions and weak suites, and presents a valid certificate for its host name.";
    Pop3PlaintextAuth => "pop3.plaintext-auth", "access", High, "No POP3 login before STLS",
        ["SP 800-177r1 §8", "RFC 8314 §3", "RFC 2595 §4"],
        "On port 110 the server refuses USER (and PASS) before STLS.";
    SubmissionTls => "submission.tls", "access", High, "Submission over TLS",
        ["SP 800-177r1 §8", "RFC 8314 §3", "RFC 6409", "RFC 3207"],
        "Each submission service (implicit TLS on 465, STARTTLS on 587) completes TLS 1.2 or 1.3, refuses older versions and weak suites, and presents a valid certificate for its host name.";
    SubmissionPlaintextAuth => "submission.plaintext-auth", "access", High, "No AUTH before STARTTLS",
        ["SP 800-177r1 §8", "RFC 8314 §3", "RFC 4954 §4"],
        "On port 587 the EHLO reply before STARTTLS advertises no AUTH: credentials are only accepted over TLS.";
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

    #[test]
    fn every_id_parses_back_and_unknown_ids_do_not() {
        for id in CheckId::ALL {
            assert_eq!(id.as_str().parse::<CheckId>(), Ok(*id));
        }
        assert!("dmarc.nonsense".parse::<CheckId>().is_err());
        assert!("".parse::<CheckId>().is_err());
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
