//! Just enough of the RFC 1035 §5 master-file syntax to see which records a scenario file
//! defines: owner, type and rdata tokens. The lab only needs this to decide what to add (SOA, apex
//! NS, glue); the text itself goes to Knot and ldns unchanged, and they are the real parsers.

/// One resource record of a master file, names made absolute and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// 1-based line where the record starts.
    pub line: usize,
    pub owner: String,
    /// Upper-cased mnemonic, e.g. `A`, `TXT`, `TYPE65534`.
    pub rtype: String,
    /// The rdata tokens, quotes removed.
    pub rdata: Vec<String>,
}

/// A syntax problem: line and message.
pub(crate) type SyntaxError = (usize, String);

/// Parses `text` with `origin` (absolute, e.g. `signed.test.`) as the initial `$ORIGIN`.
pub(crate) fn parse(text: &str, origin: &str) -> Result<Vec<Entry>, SyntaxError> {
    let lines = logical_lines(text)?;
    let mut origin = origin.to_ascii_lowercase();
    let mut last_owner: Option<String> = None;
    let mut entries = Vec::new();
    for logical in lines {
        let LogicalLine {
            line,
            starts_blank,
            tokens,
        } = logical;
        if tokens.is_empty() {
            continue;
        }
        if !starts_blank && tokens[0].text.starts_with('$') {
            match tokens[0].text.to_ascii_uppercase().as_str() {
                "$ORIGIN" => {
                    let name = tokens
                        .get(1)
                        .ok_or((line, "$ORIGIN without a name".to_string()))?;
                    origin = absolute(&name.text, &origin);
                }
                "$TTL" => {}
                "$INCLUDE" => {
                    return Err((line, "$INCLUDE is not supported in scenario files".into()));
                }
                other => return Err((line, format!("unknown directive {other}"))),
            }
            continue;
        }
        let (owner, rest) = if starts_blank {
            let owner = last_owner.clone().ok_or((
                line,
                "the first record has no owner name (line starts with blank)".to_string(),
            ))?;
            (owner, &tokens[..])
        } else {
            (absolute(&tokens[0].text, &origin), &tokens[1..])
        };
        let mut rest = rest.iter();
        let rtype = loop {
            let token = rest
                .next()
                .ok_or((line, format!("record for {owner} has no type")))?;
            if token.quoted {
                return Err((line, format!("record for {owner} has no type")));
            }
            let upper = token.text.to_ascii_uppercase();
            let is_ttl = upper.starts_with(|c: char| c.is_ascii_digit());
            let is_class = matches!(upper.as_str(), "IN" | "CH" | "HS" | "CS");
            if !is_ttl && !is_class {
                break upper;
            }
        };
        entries.push(Entry {
            line,
            owner: owner.clone(),
            rtype,
            rdata: rest.map(|t| t.text.clone()).collect(),
        });
        last_owner = Some(owner);
    }
    Ok(entries)
}

/// Makes `name` absolute relative to `origin` (`@` is the origin itself).
pub(crate) fn absolute(name: &str, origin: &str) -> String {
    let name = name.to_ascii_lowercase();
    if name == "@" {
        origin.to_string()
    } else if name.ends_with('.') {
        name
    } else if origin == "." {
        format!("{name}.")
    } else {
        format!("{name}.{origin}")
    }
}

#[derive(Debug)]
struct Token {
    text: String,
    quoted: bool,
}

#[derive(Debug)]
struct LogicalLine {
    line: usize,
    starts_blank: bool,
    tokens: Vec<Token>,
}

/// Splits the text into logical lines (parentheses join physical lines), dropping comments.
fn logical_lines(text: &str) -> Result<Vec<LogicalLine>, SyntaxError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    let mut depth = 0usize;
    let mut current = LogicalLine {
        line: 1,
        starts_blank: matches!(chars.peek(), Some(' ' | '\t')),
        tokens: Vec::new(),
    };
    let mut word = String::new();
    let flush = |word: &mut String, tokens: &mut Vec<Token>| {
        if !word.is_empty() {
            tokens.push(Token {
                text: std::mem::take(word),
                quoted: false,
            });
        }
    };
    while let Some(c) = chars.next() {
        match c {
            ';' => {
                flush(&mut word, &mut current.tokens);
                while chars.peek().is_some_and(|&n| n != '\n') {
                    chars.next();
                }
            }
            '"' => {
                flush(&mut word, &mut current.tokens);
                let start = line;
                let mut quoted = String::new();
                loop {
                    match chars.next() {
                        None => return Err((start, "unterminated quoted string".into())),
                        Some('"') => break,
                        Some('\\') => {
                            quoted.push('\\');
                            if let Some(n) = chars.next() {
                                if n == '\n' {
                                    line += 1;
                                }
                                quoted.push(n);
                            }
                        }
                        Some(n) => {
                            if n == '\n' {
                                line += 1;
                            }
                            quoted.push(n);
                        }
                    }
                }
                current.tokens.push(Token {
                    text: quoted,
                    quoted: true,
                });
            }
            '(' => {
                flush(&mut word, &mut current.tokens);
                depth += 1;
            }
            ')' => {
                flush(&mut word, &mut current.tokens);
                depth = depth
                    .checked_sub(1)
                    .ok_or((line, "unbalanced ')'".to_string()))?;
            }
            '\n' => {
                flush(&mut word, &mut current.tokens);
                line += 1;
                if depth == 0 {
                    let next = LogicalLine {
                        line,
                        starts_blank: matches!(chars.peek(), Some(' ' | '\t')),
                        tokens: Vec::new(),
                    };
                    out.push(std::mem::replace(&mut current, next));
                }
            }
            '\\' => {
                word.push('\\');
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            c if c.is_whitespace() => flush(&mut word, &mut current.tokens),
            c => word.push(c),
        }
    }
    if depth != 0 {
        return Err((current.line, "unbalanced '(' at end of file".into()));
    }
    flush(&mut word, &mut current.tokens);
    out.push(current);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_types_and_rdata() {
        let text = "$TTL 300\n\
                    @ IN MX 10 mail ; comment\n\
                    www 60 IN A 192.0.2.1\n\
                    \t A 192.0.2.2\n\
                    txt TXT \"a;b\" \"c d\"\n";
        let e = parse(text, "signed.test.").expect("parses");
        assert_eq!(e.len(), 4);
        assert_eq!(e[0].owner, "signed.test.");
        assert_eq!(e[0].rtype, "MX");
        assert_eq!(e[0].rdata, vec!["10", "mail"]);
        assert_eq!(e[2].owner, "www.signed.test.");
        assert_eq!(e[2].line, 4);
        assert_eq!(e[3].rdata, vec!["a;b", "c d"]);
    }

    #[test]
    fn parentheses_join_lines() {
        let text = "@ SOA ns1 host (\n 1 ; serial\n 2 3 4 5 )\nnext A 192.0.2.9\n";
        let e = parse(text, "x.test.").expect("parses");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].rdata, vec!["ns1", "host", "1", "2", "3", "4", "5"]);
        assert_eq!(e[1].line, 4);
    }

    #[test]
    fn origin_directive_and_absolute_names() {
        let text = "$ORIGIN sub.x.test.\na A 192.0.2.1\nb.other. A 192.0.2.2\n";
        let e = parse(text, "x.test.").expect("parses");
        assert_eq!(e[0].owner, "a.sub.x.test.");
        assert_eq!(e[1].owner, "b.other.");
    }

    #[test]
    fn blank_owner_first_is_an_error() {
        assert!(parse("  A 192.0.2.1\n", "x.test.").is_err());
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        assert!(parse("a TXT \"oops\n", "x.test.").is_err());
    }

    #[test]
    fn include_is_refused() {
        assert!(parse("$INCLUDE /etc/passwd\n", "x.test.").is_err());
    }
}
