//! Domain-specs and macro strings (RFC 7208 §7).

use super::DomainSpec;

/// One piece of a macro string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    Literal(&'a str),
    /// `%%`, `%_`, `%-`: expand to `%`, a space and `%20` (§7.1).
    Escape(&'static str),
    Expand {
        letter: char,
        /// Number of right-hand parts to keep; 0 keeps all.
        keep: usize,
        reverse: bool,
        /// Upper-case letter: URL-escape the result (§7.3).
        url_escape: bool,
        delimiters: Vec<char>,
    },
}

/// Parses a domain-spec (RFC 7208 §7.1). `None` when it breaks the grammar: bad macro syntax,
/// an `exp`-only letter (`c`, `r`, `t`, §7.2), a zero digit transformer, or an ending that is
/// neither a macro nor `.toplabel`; or, for a literal, a name that cannot be a DNS name.
pub(super) fn parse_domain_spec(spec: &str) -> Option<DomainSpec> {
    let tokens = tokenize(spec)?;
    let is_literal = tokens.iter().all(|t| matches!(t, Token::Literal(_)));
    if is_literal {
        if !ends_with_toplabel(spec) {
            return None;
        }
        return crate::domain::normalize(spec).map(|name| DomainSpec::Domain { name });
    }
    let ends_ok = match tokens.last() {
        Some(Token::Literal(tail)) => ends_with_toplabel(tail),
        Some(_) => true,
        None => false,
    };
    if !ends_ok {
        return None;
    }
    let needs_only_domain = tokens.iter().all(|t| match t {
        Token::Expand { letter, .. } => letter.eq_ignore_ascii_case(&'d'),
        _ => true,
    });
    Some(DomainSpec::Macro {
        spec: spec.to_owned(),
        needs_only_domain,
    })
}

/// `macro-string` without the domain-end rule, as unknown modifiers take (§6).
pub(super) fn is_macro_string(text: &str) -> bool {
    tokenize(text).is_some()
}

/// `domain-end = "." toplabel [ "." ]` with `toplabel` alphanumeric, not all digits, `-` only
/// inside (§7.1).
fn ends_with_toplabel(text: &str) -> bool {
    let text = text.strip_suffix('.').unwrap_or(text);
    let Some((_, label)) = text.rsplit_once('.') else {
        return false;
    };
    !label.is_empty()
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.bytes().any(|b| b.is_ascii_alphabetic())
}

fn tokenize(spec: &str) -> Option<Vec<Token<'_>>> {
    let mut tokens = Vec::new();
    let mut rest = spec;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('%') {
            let mut chars = after.chars();
            match chars.next()? {
                '%' => tokens.push(Token::Escape("%")),
                '_' => tokens.push(Token::Escape(" ")),
                '-' => tokens.push(Token::Escape("%20")),
                '{' => {
                    let (body, tail) = after.get(1..)?.split_once('}')?;
                    tokens.push(parse_expand(body)?);
                    rest = tail;
                    continue;
                }
                _ => return None,
            }
            rest = after.get(1..)?;
        } else {
            let end = rest.find('%').unwrap_or(rest.len());
            let (literal, tail) = rest.split_at(end);
            // macro-literal = %x21-24 / %x26-7E: visible ASCII except `%`.
            if !literal.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
                return None;
            }
            tokens.push(Token::Literal(literal));
            rest = tail;
        }
    }
    Some(tokens)
}

/// `macro-letter transformers *delimiter` inside `%{...}`.
fn parse_expand(body: &str) -> Option<Token<'static>> {
    let mut chars = body.chars().peekable();
    let letter = chars.next()?;
    // `c`, `r` and `t` are for `exp` text only (§7.2), not domain-specs.
    if !matches!(
        letter.to_ascii_lowercase(),
        's' | 'l' | 'o' | 'd' | 'i' | 'p' | 'h' | 'v'
    ) {
        return None;
    }
    let mut digits = String::new();
    while let Some(c) = chars.next_if(char::is_ascii_digit) {
        digits.push(c);
    }
    let keep = if digits.is_empty() {
        0
    } else {
        // §7.3: the digit transformer must be non-zero.
        let n: usize = digits.parse().ok()?;
        if n == 0 {
            return None;
        }
        n
    };
    let reverse = chars.next_if(|c| c.eq_ignore_ascii_case(&'r')).is_some();
    let mut delimiters = Vec::new();
    for c in chars {
        if !matches!(c, '.' | '-' | '+' | ',' | '/' | '_' | '=') {
            return None;
        }
        delimiters.push(c);
    }
    Some(Token::Expand {
        letter,
        keep,
        reverse,
        url_escape: letter.is_ascii_uppercase(),
        delimiters,
    })
}

/// Expands a spec that uses only `%{d}` (§7.3), given the current domain.
pub(super) fn expand_with_domain(spec: &str, domain: &str) -> Option<String> {
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    let mut out = String::new();
    for token in tokenize(spec)? {
        match token {
            Token::Literal(s) => out.push_str(s),
            Token::Escape(s) => out.push_str(s),
            Token::Expand {
                letter,
                keep,
                reverse,
                url_escape,
                delimiters,
            } => {
                if !letter.eq_ignore_ascii_case(&'d') {
                    return None;
                }
                let mut parts: Vec<&str> = if delimiters.is_empty() {
                    domain.split('.').collect()
                } else {
                    domain.split(|c| delimiters.contains(&c)).collect()
                };
                if reverse {
                    parts.reverse();
                }
                if keep > 0 && keep < parts.len() {
                    parts = parts.split_off(parts.len() - keep);
                }
                let value = parts.join(".");
                if url_escape {
                    for b in value.bytes() {
                        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                            out.push(char::from(b));
                        } else {
                            out.push_str(&format!("%{b:02X}"));
                        }
                    }
                } else {
                    out.push_str(&value);
                }
            }
        }
    }
    let mut name = out.strip_suffix('.').unwrap_or(&out).to_ascii_lowercase();
    // §7.3: drop labels from the left until the result is at most 253 octets.
    while name.len() > 253 {
        name = name.split_once('.').map(|(_, r)| r.to_owned())?;
    }
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> Option<DomainSpec> {
        parse_domain_spec(s)
    }

    #[test]
    fn literal_domains_are_normalised() {
        assert_eq!(
            spec("_SPF.Example.com."),
            Some(DomainSpec::Domain {
                name: "_spf.example.com".into()
            })
        );
        // domain-end needs ".toplabel": single labels and numeric TLDs are not domain-specs.
        assert_eq!(spec("localhost"), None);
        assert_eq!(spec("192.0.2.1"), None);
        assert_eq!(spec("a..example.com"), None);
    }

    #[test]
    fn macros_rfc7208_section_7_4_examples() {
        // RFC 7208 §7.4 uses these macro strings; all are valid domain-specs or endings.
        for s in [
            "%{ir}.%{v}._spf.%{d2}",
            "%{lr-}.lp._spf.%{d2}",
            "%{l}.%{o}._spf.%{d2}",
            "%{d}",
            "%{d4}",
            "%{d3}",
            "%{d2}",
            "%{d1}",
            "%{dr}",
            "%{d2r}",
            "%{l}",
            "%{l-}",
            "%{lr}",
            "%{lr-}",
            "%{l1r-}",
        ] {
            assert!(matches!(spec(s), Some(DomainSpec::Macro { .. })), "{s}");
        }
        assert_eq!(
            spec("%{d}"),
            Some(DomainSpec::Macro {
                spec: "%{d}".into(),
                needs_only_domain: true
            })
        );
        assert_eq!(
            spec("%{ir}.%{v}._spf.%{d2}"),
            Some(DomainSpec::Macro {
                spec: "%{ir}.%{v}._spf.%{d2}".into(),
                needs_only_domain: false
            })
        );
    }

    #[test]
    fn bad_macros() {
        for s in [
            "%{c}.example.com",
            "%{x}",
            "%{d0}",
            "%{d",
            "%",
            "%a",
            "%{d}.",
            "%{d}.123",
        ] {
            assert_eq!(spec(s), None, "{s}");
        }
    }

    #[test]
    fn expands_d_per_rfc7208_section_7_4() {
        // §7.4 examples with <domain> = email.example.com.
        let d = "email.example.com";
        for (s, want) in [
            ("%{d}", "email.example.com"),
            ("%{d4}", "email.example.com"),
            ("%{d3}", "email.example.com"),
            ("%{d2}", "example.com"),
            ("%{d1}", "com"),
            ("%{dr}", "com.example.email"),
            ("%{d2r}", "example.email"),
            ("_spf.%{d2}", "_spf.example.com"),
        ] {
            assert_eq!(expand_with_domain(s, d).as_deref(), Some(want), "{s}");
        }
        assert_eq!(expand_with_domain("%{l}.example.com", d), None);
    }
}
