//! The record types mailtrust asks for. A closed set on purpose: each one has a reason to be
//! looked up by some check (mail routing, SPF/DMARC/DKIM TXT, DNSSEC, DANE, S/MIME, SRV
//! discovery of mail access), and each has a tested presentation format.

use std::fmt;
use std::str::FromStr;

use hickory_proto::rr::RecordType;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryType {
    A,
    Aaaa,
    Mx,
    Txt,
    Cname,
    Ns,
    Soa,
    Ds,
    Dnskey,
    Tlsa,
    Smimea,
    Openpgpkey,
    Ptr,
    Srv,
}

impl QueryType {
    pub const ALL: [QueryType; 14] = [
        Self::A,
        Self::Aaaa,
        Self::Mx,
        Self::Txt,
        Self::Cname,
        Self::Ns,
        Self::Soa,
        Self::Ds,
        Self::Dnskey,
        Self::Tlsa,
        Self::Smimea,
        Self::Openpgpkey,
        Self::Ptr,
        Self::Srv,
    ];

    pub fn record_type(self) -> RecordType {
        match self {
            Self::A => RecordType::A,
            Self::Aaaa => RecordType::AAAA,
            Self::Mx => RecordType::MX,
            Self::Txt => RecordType::TXT,
            Self::Cname => RecordType::CNAME,
            Self::Ns => RecordType::NS,
            Self::Soa => RecordType::SOA,
            Self::Ds => RecordType::DS,
            Self::Dnskey => RecordType::DNSKEY,
            Self::Tlsa => RecordType::TLSA,
            Self::Smimea => RecordType::SMIMEA,
            Self::Openpgpkey => RecordType::OPENPGPKEY,
            Self::Ptr => RecordType::PTR,
            Self::Srv => RecordType::SRV,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::Aaaa => "AAAA",
            Self::Mx => "MX",
            Self::Txt => "TXT",
            Self::Cname => "CNAME",
            Self::Ns => "NS",
            Self::Soa => "SOA",
            Self::Ds => "DS",
            Self::Dnskey => "DNSKEY",
            Self::Tlsa => "TLSA",
            Self::Smimea => "SMIMEA",
            Self::Openpgpkey => "OPENPGPKEY",
            Self::Ptr => "PTR",
            Self::Srv => "SRV",
        }
    }
}

impl fmt::Display for QueryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "unsupported record type {0:?} (supported: A AAAA MX TXT CNAME NS SOA DS DNSKEY TLSA SMIMEA OPENPGPKEY PTR SRV)"
)]
pub struct UnsupportedType(pub String);

impl FromStr for QueryType {
    type Err = UnsupportedType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == upper)
            .ok_or_else(|| UnsupportedType(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_supported_type_case_insensitively() {
        for t in QueryType::ALL {
            assert_eq!(t.as_str().to_lowercase().parse::<QueryType>().ok(), Some(t));
            assert_eq!(t.record_type().to_string(), t.as_str());
        }
    }

    #[test]
    fn rejects_unknown_types() {
        let err = "HINFO".parse::<QueryType>().unwrap_err();
        assert!(err.to_string().contains("HINFO"));
    }
}
