//! Host name checks shared by the parsers.

/// Lower-cases `name`, drops one trailing dot, and checks it is a plausible DNS host name:
/// 1 to 253 octets, labels of 1 to 63 octets made of letters, digits, `-` and `_` (underscore
/// labels such as `_spf` are common in mail records), not starting or ending with `-`
/// (RFC 1035 §2.3.1, relaxed as RFC 2181 §11 allows).
pub(crate) fn normalize(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return None;
    }
    let valid = name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    valid.then(|| name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normalizes_and_rejects() {
        assert_eq!(
            normalize("Mail.Example.COM.").as_deref(),
            Some("mail.example.com")
        );
        assert_eq!(
            normalize("_spf.example.com").as_deref(),
            Some("_spf.example.com")
        );
        assert_eq!(normalize("a..b"), None);
        assert_eq!(normalize("-a.example"), None);
        assert_eq!(normalize(""), None);
        assert_eq!(normalize("."), None);
        assert_eq!(normalize(&"a".repeat(64)), None);
        assert_eq!(normalize("exa mple.com"), None);
    }
}
