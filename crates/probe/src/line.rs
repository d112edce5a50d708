//! Bounded line reading for the plaintext part of SMTP, IMAP and POP3.
//!
//! tokio's `read_line` grows its buffer without limit, so a server that never sends a newline
//! (or sends an endless EHLO reply) could make us hold gigabytes. These readers stop at a byte
//! and a line limit and at a deadline, and say which one was hit.

use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};

use crate::error::ProbeError;

/// The longest line we accept (RFC 5321 §4.5.3.1.5 allows 512 octets for a reply line; IMAP
/// capability lines are longer in practice).
pub(crate) const MAX_LINE: usize = 8 * 1024;
/// The most lines of one multi-line reply (an EHLO reply has a few dozen at most).
pub(crate) const MAX_REPLY_LINES: usize = 100;
/// The most bytes of one multi-line reply.
pub(crate) const MAX_REPLY_BYTES: usize = 32 * 1024;

/// Reads one line (without CR LF) by `deadline`.
pub(crate) async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    deadline: Instant,
    secs: u64,
    phase: &str,
) -> Result<String, ProbeError> {
    let mut line: Vec<u8> = Vec::new();
    loop {
        let buf = match timeout_at(deadline, r.fill_buf()).await {
            Err(_) => {
                return Err(ProbeError::Timeout {
                    phase: phase.to_string(),
                    secs,
                });
            }
            Ok(Err(e)) => return Err(ProbeError::io(e, phase)),
            Ok(Ok(b)) => b,
        };
        if buf.is_empty() {
            return Err(ProbeError::Closed {
                phase: phase.to_string(),
            });
        }
        if let Some(i) = buf.iter().position(|&b| b == b'\n') {
            line.extend_from_slice(&buf[..i]);
            r.consume(i + 1);
            if line.len() > MAX_LINE {
                return Err(too_long(phase));
            }
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(String::from_utf8_lossy(&line).into_owned());
        }
        let n = buf.len();
        line.extend_from_slice(buf);
        r.consume(n);
        if line.len() > MAX_LINE {
            return Err(too_long(phase));
        }
    }
}

fn too_long(phase: &str) -> ProbeError {
    ProbeError::TooLong {
        what: format!("a line ({phase})"),
        limit: format!("{MAX_LINE} bytes"),
    }
}

/// Sends one command line (CR LF appended).
pub(crate) async fn send<W: AsyncWrite + Unpin>(
    w: &mut W,
    line: &str,
    wait: Duration,
    phase: &str,
) -> Result<(), ProbeError> {
    let mut bytes = Vec::with_capacity(line.len() + 2);
    bytes.extend_from_slice(line.as_bytes());
    bytes.extend_from_slice(b"\r\n");
    match tokio::time::timeout(wait, async {
        w.write_all(&bytes).await?;
        w.flush().await
    })
    .await
    {
        Err(_) => Err(ProbeError::Timeout {
            phase: phase.to_string(),
            secs: wait.as_secs(),
        }),
        Ok(Err(e)) => Err(ProbeError::io(e, phase)),
        Ok(Ok(())) => Ok(()),
    }
}

/// An SMTP reply (RFC 5321 §4.2): the code and the text of each line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SmtpReply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl SmtpReply {
    /// The reply as the server sent it, lines joined by " / " (for evidence).
    pub fn text(&self) -> String {
        let body: Vec<&str> = self.lines.iter().map(String::as_str).collect();
        format!("{} {}", self.code, body.join(" / "))
    }
}

/// Reads a (multi-line) SMTP reply by `deadline`, within [`MAX_REPLY_LINES`] and
/// [`MAX_REPLY_BYTES`].
pub(crate) async fn smtp_reply<R: AsyncBufRead + Unpin>(
    r: &mut R,
    deadline: Instant,
    secs: u64,
    phase: &str,
) -> Result<SmtpReply, ProbeError> {
    let mut lines = Vec::new();
    let mut bytes = 0usize;
    loop {
        let line = read_line(r, deadline, secs, phase).await?;
        bytes += line.len() + 2;
        let (code, sep, text) = parse_reply_line(&line).ok_or_else(|| ProbeError::Protocol {
            message: format!("not an SMTP reply line ({phase}): {:?}", clip(&line)),
        })?;
        lines.push(text.to_string());
        if sep != b'-' {
            return Ok(SmtpReply { code, lines });
        }
        if lines.len() >= MAX_REPLY_LINES || bytes > MAX_REPLY_BYTES {
            return Err(ProbeError::TooLong {
                what: format!("the SMTP reply ({phase})"),
                limit: format!("{MAX_REPLY_LINES} lines or {MAX_REPLY_BYTES} bytes"),
            });
        }
    }
}

/// `250-TEXT` / `250 TEXT` / `250` → (code, separator, text).
fn parse_reply_line(line: &str) -> Option<(u16, u8, &str)> {
    let b = line.as_bytes();
    if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code: u16 = line.get(..3)?.parse().ok()?;
    match b.get(3) {
        None => Some((code, b' ', "")),
        Some(&s) if s == b' ' || s == b'-' => Some((code, s, line.get(4..).unwrap_or(""))),
        Some(_) => None,
    }
}

/// At most 200 characters of what a server sent, for error texts.
pub(crate) fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(200).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    fn deadline() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn multi_line_reply() {
        let data: &[u8] = b"250-mx.example\r\n250-STARTTLS\r\n250 SIZE 1000\r\n";
        let mut r = BufReader::new(data);
        let reply = smtp_reply(&mut r, deadline(), 5, "EHLO").await.unwrap();
        assert_eq!(reply.code, 250);
        assert_eq!(reply.lines, ["mx.example", "STARTTLS", "SIZE 1000"]);
    }

    #[tokio::test]
    async fn endless_continuation_is_cut() {
        let data = "250-X\r\n".repeat(10_000);
        let mut r = BufReader::new(data.as_bytes());
        let e = smtp_reply(&mut r, deadline(), 5, "EHLO").await.unwrap_err();
        assert!(matches!(e, ProbeError::TooLong { .. }), "{e}");
    }

    #[tokio::test]
    async fn line_without_newline_is_cut() {
        let data = vec![b'a'; MAX_LINE * 3];
        let mut r = BufReader::new(data.as_slice());
        let e = read_line(&mut r, deadline(), 5, "greeting")
            .await
            .unwrap_err();
        assert!(matches!(e, ProbeError::TooLong { .. }), "{e}");
    }

    #[tokio::test]
    async fn eof_and_garbage() {
        let mut r = BufReader::new(&b""[..]);
        let e = smtp_reply(&mut r, deadline(), 5, "greeting")
            .await
            .unwrap_err();
        assert!(matches!(e, ProbeError::Closed { .. }));
        let mut r = BufReader::new(&b"HTTP/1.1 400 Bad Request\r\n"[..]);
        let e = smtp_reply(&mut r, deadline(), 5, "greeting")
            .await
            .unwrap_err();
        assert!(matches!(e, ProbeError::Protocol { .. }));
    }

    #[tokio::test]
    async fn silence_times_out() {
        let (client, _server) = tokio::io::duplex(64);
        let mut r = BufReader::new(client);
        let d = Instant::now() + Duration::from_millis(50);
        let e = read_line(&mut r, d, 0, "greeting").await.unwrap_err();
        assert!(matches!(e, ProbeError::Timeout { .. }), "{e}");
    }

    #[test]
    fn reply_lines() {
        assert_eq!(parse_reply_line("220 hi"), Some((220, b' ', "hi")));
        assert_eq!(parse_reply_line("250"), Some((250, b' ', "")));
        assert_eq!(parse_reply_line("25"), None);
        assert_eq!(parse_reply_line("250x"), None);
        assert_eq!(parse_reply_line("2é0 x"), None);
    }
}
