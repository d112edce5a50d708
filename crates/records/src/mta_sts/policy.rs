//! The MTA-STS policy file (RFC 8461 §3.2) and MX matching (§4.1).

use serde::Serialize;

use crate::Severity;

/// RFC 8461 §3.2: `max_age` is at most 31557600 seconds (about one year).
pub const MAX_AGE_LIMIT: u32 = 31_557_600;

/// RFC 8461 §3.3: senders may refuse policy bodies over 64 KiB.
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

/// The policy mode (RFC 8461 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MtaStsMode {
    /// Senders must not deliver to MX hosts that fail the checks.
    Enforce,
    /// Senders deliver anyway and report failures (TLS-RPT).
    Testing,
    /// The domain is withdrawing its policy.
    None,
}

/// One `mx:` pattern (RFC 8461 §3.2): a host name, or `*.` and a domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct MxPattern {
    /// The pattern, lower case, without a trailing dot, including any leading `*.`.
    pub pattern: String,
}

impl MxPattern {
    /// Parses a pattern: `*` is allowed only as the whole leftmost label.
    pub fn parse(text: &str) -> Option<MxPattern> {
        let (wildcard, rest) = match text.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let name = crate::domain::normalize(rest)?;
        // A wildcard must leave at least two labels: `*.com` would match a whole TLD.
        if wildcard && !name.contains('.') {
            return None;
        }
        Some(MxPattern {
            pattern: if wildcard { format!("*.{name}") } else { name },
        })
    }

    /// Does the MX host `host` match? See [`mx_matches`].
    pub fn matches(&self, host: &str) -> bool {
        mx_matches(&self.pattern, host)
    }
}

/// RFC 8461 §4.1: does MX host name `host` match `pattern`? Case-insensitive, trailing dots
/// ignored; a leading `*.` matches exactly one label, so `*.example.com` matches
/// `mail.example.com` but neither `example.com` nor `a.b.example.com`.
pub fn mx_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.strip_suffix('.').unwrap_or(pattern);
    let host = host.strip_suffix('.').unwrap_or(host);
    match pattern.strip_prefix("*.") {
        Some(suffix) => match host.split_once('.') {
            Some((first, rest)) => !first.is_empty() && rest.eq_ignore_ascii_case(suffix),
            None => false,
        },
        None => !pattern.is_empty() && pattern.eq_ignore_ascii_case(host),
    }
}

/// A parsed policy file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MtaStsPolicy {
    /// True when `version: STSv1` is present.
    pub version_ok: bool,
    /// `mode`, if valid.
    pub mode: Option<MtaStsMode>,
    /// The valid `mx` patterns, in order.
    pub mx: Vec<MxPattern>,
    /// `max_age` in seconds, if valid.
    pub max_age: Option<u32>,
    /// Names of extension fields, in order.
    pub unknown_fields: Vec<String>,
    /// Everything worth telling an administrator, in file order.
    pub diagnostics: Vec<MtaStsPolicyDiagnostic>,
}

impl MtaStsPolicy {
    /// Parses a policy body. Lines end in CRLF or LF (RFC 8461 §3.2 asks for CRLF; senders
    /// accept both).
    pub fn parse(body: &[u8]) -> MtaStsPolicy {
        parse(body)
    }

    /// True when no diagnostic is an error: senders will apply the policy.
    pub fn is_valid(&self) -> bool {
        self.diagnostics
            .iter()
            .all(|d| d.severity() != Severity::Error)
    }

    /// Does any `mx` pattern match the MX host `host` (RFC 8461 §4.1)?
    pub fn matches_mx(&self, host: &str) -> bool {
        self.mx.iter().any(|p| p.matches(host))
    }
}

fn parse(body: &[u8]) -> MtaStsPolicy {
    let text = String::from_utf8_lossy(body);
    let mut p = MtaStsPolicy {
        version_ok: false,
        mode: None,
        mx: Vec::new(),
        max_age: None,
        unknown_fields: Vec::new(),
        diagnostics: Vec::new(),
    };
    if body.len() > MAX_POLICY_BYTES {
        p.diagnostics
            .push(MtaStsPolicyDiagnostic::TooLarge { bytes: body.len() });
    }
    let mut seen: Vec<String> = Vec::new();
    let mut has_version = false;
    let mut has_mode = false;
    let mut has_max_age = false;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        // sts-policy-field: name ":" *WSP value *WSP
        let Some((name, value)) = line.split_once(':') else {
            p.diagnostics
                .push(MtaStsPolicyDiagnostic::LineSyntax { line: line.into() });
            continue;
        };
        let name_ok = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !name_ok {
            p.diagnostics
                .push(MtaStsPolicyDiagnostic::LineSyntax { line: line.into() });
            continue;
        }
        let value = value.trim_matches([' ', '\t']);
        if name != "mx" {
            if seen.iter().any(|s| s == name) {
                p.diagnostics
                    .push(MtaStsPolicyDiagnostic::DuplicateField { field: name.into() });
                continue;
            }
            seen.push(name.into());
        }
        match name {
            "version" => {
                has_version = true;
                if value == "STSv1" {
                    p.version_ok = true;
                } else {
                    p.diagnostics.push(MtaStsPolicyDiagnostic::InvalidVersion {
                        value: value.into(),
                    });
                }
            }
            "mode" => {
                has_mode = true;
                p.mode = match value {
                    "enforce" => Some(MtaStsMode::Enforce),
                    "testing" => Some(MtaStsMode::Testing),
                    "none" => Some(MtaStsMode::None),
                    _ => {
                        p.diagnostics.push(MtaStsPolicyDiagnostic::InvalidMode {
                            value: value.into(),
                        });
                        None
                    }
                };
            }
            "max_age" => {
                has_max_age = true;
                // max_age = 1*10DIGIT, at most 31557600.
                let parsed = (!value.is_empty()
                    && value.len() <= 10
                    && value.bytes().all(|b| b.is_ascii_digit()))
                .then(|| value.parse::<u64>().ok())
                .flatten();
                match parsed {
                    Some(n) if n <= u64::from(MAX_AGE_LIMIT) => {
                        p.max_age = u32::try_from(n).ok();
                    }
                    _ => p.diagnostics.push(MtaStsPolicyDiagnostic::InvalidMaxAge {
                        value: value.into(),
                    }),
                }
            }
            "mx" => match MxPattern::parse(value) {
                Some(pattern) => p.mx.push(pattern),
                None => p
                    .diagnostics
                    .push(MtaStsPolicyDiagnostic::InvalidMxPattern {
                        value: value.into(),
                    }),
            },
            _ => {
                p.unknown_fields.push(name.into());
                p.diagnostics
                    .push(MtaStsPolicyDiagnostic::UnknownField { field: name.into() });
            }
        }
    }
    if !has_version {
        p.diagnostics.push(MtaStsPolicyDiagnostic::MissingVersion);
    }
    if !has_mode {
        p.diagnostics.push(MtaStsPolicyDiagnostic::MissingMode);
    }
    if !has_max_age {
        p.diagnostics.push(MtaStsPolicyDiagnostic::MissingMaxAge);
    }
    if p.mx.is_empty() && matches!(p.mode, Some(MtaStsMode::Enforce | MtaStsMode::Testing)) {
        p.diagnostics.push(MtaStsPolicyDiagnostic::MissingMx);
    }
    p
}

/// A problem or remark about an MTA-STS policy file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MtaStsPolicyDiagnostic {
    /// RFC 8461 §3.3: the body should not exceed 64 KiB.
    #[error("the policy is {bytes} bytes; senders may refuse policies over 64 KiB")]
    TooLarge {
        /// Body length.
        bytes: usize,
    },
    /// A line that is not `field: value`.
    #[error("\"{line}\" is not a \"field: value\" line")]
    LineSyntax {
        /// The line as written.
        line: String,
    },
    /// A field other than `mx` given twice; this parser keeps the first.
    #[error("the field \"{field}\" appears more than once; senders may reject the policy")]
    DuplicateField {
        /// Field name.
        field: String,
    },
    /// RFC 8461 §3.2: `version: STSv1` is required.
    #[error("no \"version: STSv1\" line; senders reject the policy")]
    MissingVersion,
    /// The version is not `STSv1`.
    #[error("version: {value}: the only version is STSv1; senders reject the policy")]
    InvalidVersion {
        /// The value as written.
        value: String,
    },
    /// RFC 8461 §3.2: `mode` is required.
    #[error("no \"mode:\" line; senders reject the policy")]
    MissingMode,
    /// `mode` is not `enforce`, `testing` or `none`.
    #[error("mode: {value}: must be enforce, testing or none; senders reject the policy")]
    InvalidMode {
        /// The value as written.
        value: String,
    },
    /// RFC 8461 §3.2: `max_age` is required.
    #[error("no \"max_age:\" line; senders reject the policy")]
    MissingMaxAge,
    /// `max_age` is not a number from 0 to 31557600.
    #[error(
        "max_age: {value}: must be a number of seconds from 0 to 31557600; senders reject the policy"
    )]
    InvalidMaxAge {
        /// The value as written.
        value: String,
    },
    /// An `mx` value that is not a host name or `*.` plus a domain.
    #[error(
        "mx: {value}: not a host name or \"*.\" wildcard pattern (the wildcard may only be the whole leftmost label)"
    )]
    InvalidMxPattern {
        /// The value as written.
        value: String,
    },
    /// `enforce` or `testing` with no `mx` pattern: no MX host can match.
    #[error("the policy has no valid \"mx:\" line, so no MX host can match it")]
    MissingMx,
    /// Extension fields are allowed and ignored.
    #[error("unknown field \"{field}\", ignored by senders")]
    UnknownField {
        /// Field name as written.
        field: String,
    },
}

impl MtaStsPolicyDiagnostic {
    /// How bad it is: errors mean senders do not apply the policy as the owner intends.
    pub fn severity(&self) -> Severity {
        match self {
            MtaStsPolicyDiagnostic::UnknownField { .. } => Severity::Info,
            MtaStsPolicyDiagnostic::DuplicateField { .. } => Severity::Warning,
            _ => Severity::Error,
        }
    }
}
