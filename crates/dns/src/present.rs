//! Records into the presentation format administrators read and paste.

use hickory_proto::rr::{RData, Record};

use crate::answer::{DnssecStatus, RecordEntry};
use crate::txt;

/// Converts a record as received into what `dns lookup` prints and checks read.
pub fn entry(record: &Record, dnssec: DnssecStatus) -> RecordEntry {
    let (data, strings) = match &record.data {
        RData::TXT(t) => {
            let parts = &t.txt_data;
            (
                txt::escape(&txt::join(parts)),
                Some(txt::presentation(parts)),
            )
        }
        other => (other.to_string(), None),
    };
    RecordEntry {
        name: record.name.to_ascii(),
        rtype: record.record_type().to_string(),
        ttl: record.ttl,
        data,
        strings,
        dnssec,
        rdata: record.data.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::Name;
    use hickory_proto::rr::rdata::{MX, TXT};

    #[test]
    fn txt_is_joined_and_kept_quoted() {
        let name = Name::from_ascii("_dmarc.example.test.").unwrap();
        let rec = Record::from_rdata(
            name,
            300,
            RData::TXT(TXT::new(vec![
                "v=DMARC1; p=reject; ".into(),
                "rua=mailto:d@example.test".into(),
            ])),
        );
        let e = entry(&rec, DnssecStatus::Secure);
        assert_eq!(e.data, "v=DMARC1; p=reject; rua=mailto:d@example.test");
        assert_eq!(
            e.strings.as_deref(),
            Some("\"v=DMARC1; p=reject; \" \"rua=mailto:d@example.test\"")
        );
        assert_eq!(e.rtype, "TXT");
        assert_eq!(e.ttl, 300);
        assert_eq!(e.name, "_dmarc.example.test.");
    }

    #[test]
    fn mx_uses_zone_file_syntax() {
        let rec = Record::from_rdata(
            Name::from_ascii("example.test.").unwrap(),
            60,
            RData::MX(MX::new(10, Name::from_ascii("mx1.example.test.").unwrap())),
        );
        let e = entry(&rec, DnssecStatus::Insecure);
        assert_eq!(e.data, "10 mx1.example.test.");
        assert!(e.strings.is_none());
    }
}
