//! TXT answers as the record parsers want them: each record's character-strings joined.

use hickory_proto::rr::RData;
use mailtrust_dns::Answer;

/// Each TXT record of the answer, its strings joined without separator (RFC 7208 §3.3, RFC 6376
/// §3.6.2.2, RFC 9989 all say so).
pub(crate) fn records(a: &Answer) -> Vec<Vec<u8>> {
    a.rdatas()
        .filter_map(|r| match r {
            RData::TXT(t) => Some(mailtrust_dns::txt::join(&t.txt_data)),
            _ => None,
        })
        .collect()
}

/// The TXT records of the answer that `is_kind` accepts (e.g. the `v=spf1` ones among all TXT
/// at a name).
pub(crate) fn matching(a: &Answer, is_kind: fn(&[u8]) -> bool) -> Vec<Vec<u8>> {
    records(a).into_iter().filter(|r| is_kind(r)).collect()
}

/// The size of the TXT RRset on the wire, roughly: what a 512-byte UDP answer must hold
/// (RFC 7208 §3.4). Each string costs its length plus one; each record about 12 bytes of
/// header with a compressed owner name; the question and header about 30 more.
pub(crate) fn wire_estimate(a: &Answer, qname_len: usize) -> usize {
    let rrs: usize = a
        .rdatas()
        .filter_map(|r| match r {
            RData::TXT(t) => Some(12 + t.txt_data.iter().map(|s| s.len() + 1).sum::<usize>()),
            _ => None,
        })
        .sum();
    12 + qname_len + 6 + rrs
}
