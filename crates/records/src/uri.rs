//! Report destination URIs, as listed in DMARC `rua`/`ruf` (RFC 9989 §4.7, RFC 7489 §6.2) and
//! TLS-RPT `rua` (RFC 8460 §3).

use serde::Serialize;

/// One report destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportUri {
    /// The URI as written, without a DMARC `!size` suffix.
    pub uri: String,
    /// The scheme, lower case (`mailto`, `https`, ...).
    pub scheme: String,
    /// For `mailto:` URIs, the address (percent-decoded, without `?query`); its domain part is
    /// lower case.
    pub address: Option<String>,
    /// DMARC only: the maximum report size in bytes from a `!size[k|m|g|t]` suffix
    /// (RFC 7489 §6.2; RFC 9989 says reporters ignore it).
    pub max_size: Option<u64>,
}

impl ReportUri {
    /// The domain of a `mailto:` address, lower case: the domain that has to authorise
    /// receiving reports for another domain (RFC 9990 §3).
    pub fn mailto_domain(&self) -> Option<&str> {
        self.address
            .as_deref()
            .and_then(|a| a.rsplit_once('@'))
            .map(|(_, domain)| domain)
    }
}

/// Why a URI was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UriProblem {
    /// No `scheme:` prefix, bad characters, or an empty remainder.
    Syntax,
    /// `mailto:` without a usable `local@domain`.
    BadMailto,
    /// `https:` without `//host`.
    BadHttps,
    /// `!size` suffix that is not digits with an optional k/m/g/t unit.
    BadSize,
}

/// Parses one URI from a comma-separated list. `allow_size` accepts the DMARC `!size` suffix.
pub(crate) fn parse(text: &str, allow_size: bool) -> Result<ReportUri, UriProblem> {
    let text = crate::tag_list::trim_fws(text);
    let (uri, max_size) = match text.rsplit_once('!') {
        Some((uri, size)) if allow_size => (uri, Some(parse_size(size)?)),
        _ => (text, None),
    };
    let (scheme, rest) = uri.split_once(':').ok_or(UriProblem::Syntax)?;
    let mut scheme_chars = scheme.chars();
    let scheme_ok = matches!(scheme_chars.next(), Some(c) if c.is_ascii_alphabetic())
        && scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    // RFC 3986: no white space or controls anywhere in a URI.
    if !scheme_ok || rest.is_empty() || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UriProblem::Syntax);
    }
    let scheme = scheme.to_ascii_lowercase();
    let address = match scheme.as_str() {
        "mailto" => Some(mailto_address(rest).ok_or(UriProblem::BadMailto)?),
        "https" => {
            let host = rest
                .strip_prefix("//")
                .and_then(|r| r.split(['/', '?', '#']).next())
                .map(|authority| authority.rsplit('@').next().unwrap_or(authority))
                .map(|host_port| host_port.split(':').next().unwrap_or(host_port))
                .unwrap_or("");
            if crate::domain::normalize(host).is_none() {
                return Err(UriProblem::BadHttps);
            }
            None
        }
        _ => None,
    };
    Ok(ReportUri {
        uri: uri.to_owned(),
        scheme,
        address,
        max_size,
    })
}

/// `mailto:local@domain[?query]` (RFC 6068): the decoded address, with its domain lower case.
fn mailto_address(rest: &str) -> Option<String> {
    let addr = rest.split('?').next().unwrap_or(rest);
    let addr = percent_decode(addr)?;
    let (local, domain) = addr.rsplit_once('@')?;
    let domain = crate::domain::normalize(domain)?;
    if local.is_empty() || local.contains(['<', '>', ' ']) {
        return None;
    }
    Some(format!("{local}@{domain}"))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `1*DIGIT [ "k" / "m" / "g" / "t" ]` (RFC 7489 §6.4 `dmarc-uri`), in bytes.
fn parse_size(size: &str) -> Result<u64, UriProblem> {
    let digits_end = size
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(size.len());
    let (digits, unit) = size.split_at(digits_end);
    let number: u64 = digits.parse().map_err(|_| UriProblem::BadSize)?;
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(UriProblem::BadSize),
    };
    number.checked_mul(multiplier).ok_or(UriProblem::BadSize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailto_with_size() {
        let uri = parse("mailto:dmarc-feedback@Example.COM!10m", true).unwrap();
        assert_eq!(uri.uri, "mailto:dmarc-feedback@Example.COM");
        assert_eq!(uri.scheme, "mailto");
        assert_eq!(uri.address.as_deref(), Some("dmarc-feedback@example.com"));
        assert_eq!(uri.mailto_domain(), Some("example.com"));
        assert_eq!(uri.max_size, Some(10 << 20));
    }

    #[test]
    fn https_and_other_schemes() {
        let uri = parse("https://reporting.example.com/v1/tlsrpt?id=1", false).unwrap();
        assert_eq!(uri.scheme, "https");
        assert_eq!(uri.address, None);
        assert_eq!(parse("https:reporting", false), Err(UriProblem::BadHttps));
        assert!(parse("urn:x-example:reports", true).is_ok());
    }

    #[test]
    fn rejects_bad_uris() {
        assert_eq!(parse("dmarc@example.com", true), Err(UriProblem::Syntax));
        assert_eq!(parse("mailto:", true), Err(UriProblem::Syntax));
        assert_eq!(parse("mailto:nobody", true), Err(UriProblem::BadMailto));
        assert_eq!(
            parse("mailto:a@example.com!10x", true),
            Err(UriProblem::BadSize)
        );
        assert_eq!(
            parse("mailto:a@exa mple.com", true),
            Err(UriProblem::Syntax)
        );
        // Without DMARC's size suffix, `!` is just part of the URI.
        assert!(parse("mailto:a!b@example.com", false).is_ok());
    }

    #[test]
    fn percent_encoded_mailto() {
        let uri = parse("mailto:a%2Cb@example.com", true).unwrap();
        assert_eq!(uri.address.as_deref(), Some("a,b@example.com"));
        assert_eq!(
            parse("mailto:a%zz@example.com", true),
            Err(UriProblem::BadMailto)
        );
    }
}
