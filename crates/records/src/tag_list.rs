//! The `tag=value; tag=value` syntax shared by DKIM key records (RFC 6376 §3.2), DMARC
//! (RFC 9989 §4.7), MTA-STS (RFC 8461 §3.1) and TLS-RPT (RFC 8460 §3) records.
//!
//! This reader is deliberately tolerant: it splits on `;`, then on the first `=`, trims the
//! folding white space the grammars allow around names and values, and hands anything that does
//! not look like `name=value` back as [`Spec::Malformed`] so the caller can name it in a
//! diagnostic instead of rejecting the whole record.

/// One `tag-spec` of a tag list, in record order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Spec<'a> {
    /// `name=value`, both trimmed of white space; `name` as written (not case-folded).
    Tag { name: &'a str, value: &'a str },
    /// A non-empty piece between semicolons that is not `name=value` with a valid name.
    Malformed(&'a str),
}

/// Splits a tag list. Empty pieces (`;;`, a trailing `;`) are skipped: the grammars allow a
/// trailing separator and no receiver fails on an empty one.
pub(crate) fn split(text: &str) -> Vec<Spec<'_>> {
    text.split(';')
        .map(trim_fws)
        .filter(|piece| !piece.is_empty())
        .map(|piece| match piece.split_once('=') {
            Some((name, value)) if is_tag_name(trim_fws(name)) => Spec::Tag {
                name: trim_fws(name),
                value: trim_fws(value),
            },
            _ => Spec::Malformed(piece),
        })
        .collect()
}

/// Does the tag list in `txt` start with exactly `name=value`? Selects the records of one kind
/// among all the TXT records at a name.
pub(crate) fn starts_with_tag(txt: &[u8], name: &str, value: &str) -> bool {
    matches!(
        split(&String::from_utf8_lossy(txt)).first(),
        Some(Spec::Tag { name: n, value: v }) if *n == name && *v == value
    )
}

/// A tag list that must start with a version tag (DMARC, MTA-STS, TLS-RPT), read into the
/// events a linter reports on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VersionedTags<'a> {
    /// True when the first tag-spec is exactly `version_name=version_value`.
    pub(crate) version_ok: bool,
    /// When `version_ok` is false: the first tag-spec as written (empty for an empty record).
    pub(crate) found_first: Option<String>,
    /// The other tag-specs in order. The version tag itself is not repeated here.
    pub(crate) items: Vec<Item<'a>>,
}

/// One event of a [`VersionedTags`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item<'a> {
    /// The first occurrence of a tag. `name` is lower case if the grammar folds case.
    Tag { name: String, value: &'a str },
    /// A later occurrence of a tag already seen; the first one wins.
    Duplicate { name: String },
    /// A piece that is not `name=value`.
    Malformed(&'a str),
}

/// Reads a tag list whose first tag must be `version_name=version_value` (value compared
/// exactly: RFC 7489 §6.4, RFC 8461 §3.1 and RFC 8460 §3 spell it with fixed case).
/// `fold_case` lower-cases tag names (DMARC); otherwise names are compared as written.
pub(crate) fn read_versioned<'a>(
    text: &'a str,
    version_name: &str,
    version_value: &str,
    fold_case: bool,
) -> VersionedTags<'a> {
    let specs = split(text);
    let mut tags = VersionedTags {
        version_ok: false,
        found_first: None,
        items: Vec::new(),
    };
    let mut seen: Vec<String> = Vec::new();
    for (index, spec) in specs.into_iter().enumerate() {
        let (name, value) = match spec {
            Spec::Tag { name, value } => (name, value),
            Spec::Malformed(piece) => {
                if index == 0 {
                    tags.found_first = Some(piece.to_owned());
                } else {
                    tags.items.push(Item::Malformed(piece));
                }
                continue;
            }
        };
        let name = if fold_case {
            name.to_ascii_lowercase()
        } else {
            name.to_owned()
        };
        if index == 0 {
            if name == version_name && value == version_value {
                tags.version_ok = true;
                seen.push(name);
                continue;
            }
            tags.found_first = Some(format!("{name}={value}"));
        }
        if seen.contains(&name) {
            tags.items.push(Item::Duplicate { name });
        } else {
            seen.push(name.clone());
            tags.items.push(Item::Tag { name, value });
        }
    }
    if !tags.version_ok && tags.found_first.is_none() {
        tags.found_first = Some(String::new());
    }
    tags
}

/// `tag-name = ALPHA *ALNUMPUNC` with `ALNUMPUNC = ALPHA / DIGIT / "_"` (RFC 6376 §3.2). MTA-STS
/// and TLS-RPT allow `-` and `.` too (RFC 8461 §3.1 `sts-ext-name`), so those are accepted.
fn is_tag_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Trims folding white space (SP, HTAB, CR, LF), which RFC 6376 §3.2 allows around names,
/// values and separators.
pub(crate) fn trim_fws(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// Removes all folding white space inside a value (DKIM `p=` may be broken across lines).
pub(crate) fn strip_fws(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '\r' | '\n'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_tags_and_keeps_malformed_pieces() {
        let specs = split(" v = DKIM1 ;k=rsa;; p=AB CD; junk ; =x ;");
        assert_eq!(
            specs,
            vec![
                Spec::Tag {
                    name: "v",
                    value: "DKIM1"
                },
                Spec::Tag {
                    name: "k",
                    value: "rsa"
                },
                Spec::Tag {
                    name: "p",
                    value: "AB CD"
                },
                Spec::Malformed("junk"),
                Spec::Malformed("=x"),
            ]
        );
    }

    #[test]
    fn versioned() {
        let tags = read_versioned("v=STSv1; id=1; junk; id=2; ID=3", "v", "STSv1", false);
        assert!(tags.version_ok);
        assert_eq!(tags.found_first, None);
        assert_eq!(
            tags.items,
            vec![
                Item::Tag {
                    name: "id".into(),
                    value: "1"
                },
                Item::Malformed("junk"),
                Item::Duplicate { name: "id".into() },
                Item::Tag {
                    name: "ID".into(),
                    value: "3"
                },
            ]
        );
        let tags = read_versioned("P=none; v=DMARC1", "v", "DMARC1", true);
        assert!(!tags.version_ok);
        assert_eq!(tags.found_first.as_deref(), Some("p=none"));
        assert_eq!(tags.items.len(), 2);
        assert_eq!(
            read_versioned("", "v", "x", false).found_first.as_deref(),
            Some("")
        );
    }

    #[test]
    fn value_may_contain_equals() {
        assert_eq!(
            split("rua=mailto:a=b@example.com"),
            vec![Spec::Tag {
                name: "rua",
                value: "mailto:a=b@example.com"
            }]
        );
    }
}
