//! TXT records are sequences of character-strings of at most 255 octets. SPF (RFC 7208 §3.3),
//! DKIM (RFC 6376 §3.6.2.2) and DMARC all say the strings of one record are concatenated with
//! nothing in between, so a record split at 255 bytes must not grow a space at the split.

/// Concatenates the character-strings of one TXT record, as SPF/DKIM/DMARC require.
pub fn join<S: AsRef<[u8]>>(strings: &[S]) -> Vec<u8> {
    let mut out = Vec::with_capacity(strings.iter().map(|s| s.as_ref().len()).sum());
    for s in strings {
        out.extend_from_slice(s.as_ref());
    }
    out
}

/// Renders bytes the way zone files do inside a quoted string (RFC 1035 §5.1): printable ASCII
/// as is, `"` and `\` escaped, everything else as `\DDD`. Keeps output unambiguous even when a
/// hostile record carries control characters or invalid UTF-8.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
    out
}

/// The zone-file presentation of a TXT record: each character-string quoted, separated by a
/// space. This is what an administrator pastes into a zone.
pub fn presentation<S: AsRef<[u8]>>(strings: &[S]) -> String {
    strings
        .iter()
        .map(|s| format!("\"{}\"", escape(s.as_ref())))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_without_separator() {
        let parts: [&[u8]; 3] = [
            b"v=spf1 ip4:192.0.2.0/24",
            b" include:_spf.example.",
            b"net -all",
        ];
        assert_eq!(
            join(&parts),
            b"v=spf1 ip4:192.0.2.0/24 include:_spf.example.net -all"
        );
    }

    #[test]
    fn joins_a_key_split_at_255_bytes() {
        let key = "A".repeat(400);
        let (a, b) = key.as_bytes().split_at(255);
        assert_eq!(join(&[a, b]), key.as_bytes());
    }

    #[test]
    fn empty_record_joins_to_empty() {
        let none: [&[u8]; 0] = [];
        assert!(join(&none).is_empty());
        assert_eq!(join(&[b""]), b"");
    }

    #[test]
    fn escapes_quotes_backslashes_and_control_bytes() {
        assert_eq!(escape(b"a\"b\\c"), "a\\\"b\\\\c");
        assert_eq!(escape(b"x\ny\xff"), "x\\010y\\255");
    }

    #[test]
    fn presentation_quotes_each_string() {
        assert_eq!(
            presentation(&[b"v=DKIM1; k=rsa; " as &[u8], b"p=AB"]),
            "\"v=DKIM1; k=rsa; \" \"p=AB\""
        );
    }
}
