//! Probing one mail service on one address: the plaintext dialogue up to STARTTLS (SMTP,
//! submission, IMAP, POP3) or implicit TLS (465, 993, 995), the handshake, and the scans for old
//! protocol versions and weak suites.
//!
//! Polite by construction: at most a few connections per IP address at a time (see
//! [`crate::Prober`]), QUIT/LOGOUT after the handshake, never a MAIL FROM, never a password. The
//! one command that touches authentication is POP3 `USER` with a made-up name, because whether a
//! server accepts `USER` before `STLS` is exactly what SP 800-177 §7 asks about and there is no
//! other way to see it.

use std::net::SocketAddr;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use serde::Serialize;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::error::ProbeError;
use crate::line::{self, SmtpReply, clip};
use crate::scan::{self, HelloOutcome, HelloVersion, SuiteSet};
use crate::tls::{self, TlsProbeConfig, TlsVersion};

/// A mail protocol on its port, with or without implicit TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// SMTP between MTAs, port 25, STARTTLS (RFC 3207).
    Smtp,
    /// Message submission with STARTTLS, port 587 (RFC 6409).
    Submission,
    /// Message submission over implicit TLS, port 465 (RFC 8314).
    Submissions,
    /// IMAP with STARTTLS, port 143.
    Imap,
    /// IMAP over implicit TLS, port 993.
    Imaps,
    /// POP3 with STLS, port 110.
    Pop3,
    /// POP3 over implicit TLS, port 995.
    Pop3s,
}

impl Protocol {
    pub fn default_port(self) -> u16 {
        match self {
            Self::Smtp => 25,
            Self::Submission => 587,
            Self::Submissions => 465,
            Self::Imap => 143,
            Self::Imaps => 993,
            Self::Pop3 => 110,
            Self::Pop3s => 995,
        }
    }

    pub fn implicit_tls(self) -> bool {
        matches!(self, Self::Submissions | Self::Imaps | Self::Pop3s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Smtp => "smtp",
            Self::Submission => "submission",
            Self::Submissions => "submissions",
            Self::Imap => "imap",
            Self::Imaps => "imaps",
            Self::Pop3 => "pop3",
            Self::Pop3s => "pop3s",
        }
    }

    /// The command that upgrades the connection, for texts.
    pub fn starttls_command(self) -> &'static str {
        match self {
            Self::Pop3 | Self::Pop3s => "STLS",
            _ => "STARTTLS",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One service to probe: protocol, address, and the host name the client expects (SNI, and the
/// name a certificate must carry).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Target {
    pub protocol: Protocol,
    pub address: SocketAddr,
    pub server_name: String,
}

/// Timeouts and manners.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    pub connect_timeout: Duration,
    /// How long to wait for each reply (greeting, EHLO, STARTTLS, handshake).
    pub io_timeout: Duration,
    /// The name sent in EHLO.
    pub helo_name: String,
    /// Offer SSLv3/TLS 1.0/TLS 1.1 and weak suites on extra connections.
    pub scans: bool,
    /// Connections at a time to one IP address.
    pub per_ip: usize,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            io_timeout: Duration::from_secs(10),
            helo_name: "localhost".into(),
            scans: true,
            per_ip: 2,
        }
    }
}

/// Whether a client could log in before TLS protects the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum LoginBeforeTls {
    Refused { evidence: String },
    Possible { evidence: String },
}

/// What the server said before TLS.
#[derive(Debug, Clone, Serialize)]
pub struct PlainPhase {
    pub greeting: String,
    /// EHLO keywords, IMAP capabilities or POP3 CAPA lines, as sent.
    pub capabilities: Vec<String>,
    /// STARTTLS (or STLS) is advertised.
    pub tls_offered: bool,
    pub login_before_tls: LoginBeforeTls,
}

/// A completed handshake.
#[derive(Debug, Clone, Serialize)]
pub struct TlsSeen {
    pub version: TlsVersion,
    pub cipher_suite: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_exchange: Option<String>,
    /// How many certificates the server presented (the chain below may be cut short).
    pub chain_presented: usize,
    /// The presented chain, leaf first (DER; shown in evidence as summaries).
    #[serde(skip)]
    pub chain: Vec<CertificateDer<'static>>,
}

/// How the TLS part went.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum TlsResult {
    Negotiated(TlsSeen),
    /// The server does not offer STARTTLS/STLS.
    NotOffered,
    Failed {
        error: ProbeError,
    },
}

/// One hand-built ClientHello and its answer.
#[derive(Debug, Clone, Serialize)]
pub struct ScanResult {
    /// What was offered, e.g. "TLSv1.0, common suites".
    pub offered: String,
    #[serde(skip)]
    pub version: Option<HelloVersion>,
    /// Weak or anonymous suites were offered (not the version test).
    #[serde(skip)]
    pub weak_suites: bool,
    /// Only anonymous suites were offered.
    #[serde(skip)]
    pub anonymous: bool,
    pub outcome: ScanOutcome,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum ScanOutcome {
    Answered { hello: HelloOutcome },
    Error { error: ProbeError },
}

/// Everything one probe of one service saw.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceReport {
    pub target: Target,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plain: Option<PlainPhase>,
    pub tls: TlsResult,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scans: Vec<ScanResult>,
    pub elapsed_ms: u64,
}

impl ServiceReport {
    pub fn negotiated(&self) -> Option<&TlsSeen> {
        match &self.tls {
            TlsResult::Negotiated(t) => Some(t),
            _ => None,
        }
    }

    /// The (version, suite) pairs hand-built hellos got accepted with, e.g. by a server whose
    /// modern handshake failed.
    pub fn accepted_by_scans(&self) -> Vec<(TlsVersion, String)> {
        self.scans
            .iter()
            .filter_map(|s| match &s.outcome {
                ScanOutcome::Answered {
                    hello:
                        HelloOutcome::Accepted {
                            version,
                            suite_name,
                            ..
                        },
                } => Some((*version, suite_name.clone())),
                _ => None,
            })
            .collect()
    }
}

/// The offers made on extra connections after a successful handshake. A server that accepts
/// TLS 1.0 also gets a weak-suite offer at 1.0 (see [`probe`]): servers that still speak it are
/// the ones that kept RC4 and 3DES.
fn scan_plan() -> Vec<(HelloVersion, SuiteSet)> {
    vec![
        (HelloVersion::Ssl3, SuiteSet::Common),
        (HelloVersion::Tls10, SuiteSet::Common),
        (HelloVersion::Tls11, SuiteSet::Common),
        (HelloVersion::Tls12, SuiteSet::Weak),
        (HelloVersion::Tls12, SuiteSet::Anonymous),
    ]
}

async fn scan_result(
    target: &Target,
    opts: &ProbeOptions,
    version: HelloVersion,
    suites: SuiteSet,
) -> ScanResult {
    let outcome = match scan_once(target, opts, version, suites).await {
        Ok(hello) => ScanOutcome::Answered { hello },
        Err(error) => ScanOutcome::Error { error },
    };
    ScanResult {
        offered: offer_text(version, suites),
        version: Some(version),
        weak_suites: suites != SuiteSet::Common,
        anonymous: suites == SuiteSet::Anonymous,
        outcome,
    }
}

fn offer_text(v: HelloVersion, s: SuiteSet) -> String {
    let v = match v {
        HelloVersion::Ssl3 => "SSLv3",
        HelloVersion::Tls10 => "TLSv1.0",
        HelloVersion::Tls11 => "TLSv1.1",
        HelloVersion::Tls12 => "TLSv1.2",
    };
    let s = match s {
        SuiteSet::Common => "common suites",
        SuiteSet::Weak => "only weak suites (RC4, 3DES, DES, NULL, EXPORT)",
        SuiteSet::Anonymous => "only anonymous suites (aNULL)",
    };
    format!("{v}, {s}")
}

/// Probes `target` once: dialogue, handshake, then (if asked and TLS works) the scans. The
/// caller holds the per-IP permit.
pub(crate) async fn probe(
    target: &Target,
    opts: &ProbeOptions,
    tls_cfg: &TlsProbeConfig,
) -> ServiceReport {
    let start = Instant::now();
    let (plain, tls) = main_connection(target, opts, tls_cfg).await;
    let mut scans: Vec<ScanResult> = Vec::new();
    // Scans also run when the modern handshake was refused: a server that only speaks TLS 1.0
    // (or only weak suites) fails rustls's handshake, and the scans are what show why.
    let scan = matches!(
        &tls,
        TlsResult::Negotiated(_)
            | TlsResult::Failed {
                error: ProbeError::Tls { .. }
            }
    );
    if opts.scans && scan {
        let mut plan = scan_plan();
        if !matches!(tls, TlsResult::Negotiated(_)) {
            // Our client offers ECDHE suites only; a server with only DHE or RSA key exchange
            // still speaks TLS 1.2 to others. This offer tells the two apart.
            plan.insert(0, (HelloVersion::Tls12, SuiteSet::Common));
        }
        for (version, suites) in plan {
            scans.push(scan_result(target, opts, version, suites).await);
        }
        let tls10 = scans.iter().any(|s| {
            s.version == Some(HelloVersion::Tls10)
                && matches!(
                    &s.outcome,
                    ScanOutcome::Answered {
                        hello: HelloOutcome::Accepted {
                            version: TlsVersion::Tls10,
                            ..
                        }
                    }
                )
        });
        if tls10 {
            scans.push(scan_result(target, opts, HelloVersion::Tls10, SuiteSet::Weak).await);
        }
    }
    ServiceReport {
        target: target.clone(),
        plain,
        tls,
        scans,
        elapsed_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

/// The report of a probe cut off by the overall bound.
pub(crate) fn timed_out(target: &Target, bound: Duration) -> ServiceReport {
    ServiceReport {
        target: target.clone(),
        plain: None,
        tls: TlsResult::Failed {
            error: ProbeError::Timeout {
                phase: "the whole probe".into(),
                secs: bound.as_secs(),
            },
        },
        scans: Vec::new(),
        elapsed_ms: u64::try_from(bound.as_millis()).unwrap_or(u64::MAX),
    }
}

async fn connect(target: &Target, opts: &ProbeOptions) -> Result<TcpStream, ProbeError> {
    match tokio::time::timeout(opts.connect_timeout, TcpStream::connect(target.address)).await {
        Err(_) => Err(ProbeError::ConnectTimeout {
            secs: opts.connect_timeout.as_secs(),
        }),
        Ok(Err(e)) => Err(ProbeError::io(e, "connect")),
        Ok(Ok(s)) => Ok(s),
    }
}

async fn main_connection(
    target: &Target,
    opts: &ProbeOptions,
    tls_cfg: &TlsProbeConfig,
) -> (Option<PlainPhase>, TlsResult) {
    let tcp = match connect(target, opts).await {
        Ok(s) => s,
        Err(error) => return (None, TlsResult::Failed { error }),
    };
    let (plain, tcp) = if target.protocol.implicit_tls() {
        (None, tcp)
    } else {
        let pre = pre_tls(target, opts, tcp, false).await;
        match pre.upgraded {
            Ok(Some(tcp)) => (pre.plain, tcp),
            Ok(None) => return (pre.plain, TlsResult::NotOffered),
            Err(error) => return (pre.plain, TlsResult::Failed { error }),
        }
    };
    let implicit = target.protocol.implicit_tls();
    match tls::handshake(tcp, &target.server_name, tls_cfg).await {
        Ok((mut stream, info)) => {
            goodbye(&mut stream, target.protocol, opts).await;
            (
                plain,
                TlsResult::Negotiated(TlsSeen {
                    version: info.version,
                    cipher_suite: info.cipher_suite,
                    key_exchange: info.key_exchange,
                    chain_presented: info.chain_len_presented,
                    chain: info.chain,
                }),
            )
        }
        Err(e) => (
            plain,
            TlsResult::Failed {
                error: handshake_error(e, implicit, tls_cfg),
            },
        ),
    }
}

/// What a failed handshake means. Silence is always a timeout (inconclusive). A close or reset
/// is "unreachable" on an implicit-TLS port (nothing has been agreed yet: a firewall or a
/// tarpit looks like that), but "broken" after the server said yes to STARTTLS.
fn handshake_error(e: tls::TlsError, implicit: bool, cfg: &TlsProbeConfig) -> ProbeError {
    let phase = "TLS handshake".to_string();
    match e {
        tls::TlsError::Timeout => ProbeError::Timeout {
            phase,
            secs: cfg.handshake_timeout.as_secs(),
        },
        tls::TlsError::Closed if implicit => ProbeError::Closed { phase },
        tls::TlsError::Io(io) if implicit => ProbeError::io(io, &phase),
        other => ProbeError::Tls {
            message: other.to_string(),
        },
    }
}

/// Says goodbye over TLS without waiting long for the answer.
async fn goodbye<S: AsyncWrite + Unpin>(s: &mut S, p: Protocol, opts: &ProbeOptions) {
    let cmd: &[u8] = match p {
        Protocol::Imap | Protocol::Imaps => b"z LOGOUT\r\n",
        _ => b"QUIT\r\n",
    };
    let wait = opts.io_timeout.min(Duration::from_secs(2));
    let _ = tokio::time::timeout(wait, async {
        s.write_all(cmd).await?;
        s.shutdown().await
    })
    .await;
}

async fn scan_once(
    target: &Target,
    opts: &ProbeOptions,
    version: HelloVersion,
    suites: SuiteSet,
) -> Result<HelloOutcome, ProbeError> {
    let tcp = connect(target, opts).await?;
    let mut tcp = if target.protocol.implicit_tls() {
        tcp
    } else {
        match pre_tls(target, opts, tcp, true).await.upgraded {
            Ok(Some(tcp)) => tcp,
            Ok(None) => {
                return Err(ProbeError::Protocol {
                    message: "STARTTLS was not offered on this connection".into(),
                });
            }
            Err(e) => return Err(e),
        }
    };
    scan::offer(
        &mut tcp,
        &target.server_name,
        version,
        suites,
        opts.io_timeout,
    )
    .await
    .map_err(|e| match e {
        scan::ScanError::Timeout => ProbeError::Timeout {
            phase: "ServerHello".into(),
            secs: opts.io_timeout.as_secs(),
        },
        other => ProbeError::Protocol {
            message: other.to_string(),
        },
    })
}

/// The plaintext part of a connection: what was seen, and the connection ready for the TLS
/// handshake (`Ok(None)`: TLS not offered).
pub(crate) struct PreTls {
    pub plain: Option<PlainPhase>,
    pub upgraded: Result<Option<TcpStream>, ProbeError>,
}

impl PreTls {
    fn failed(error: ProbeError) -> Self {
        Self {
            plain: None,
            upgraded: Err(error),
        }
    }
}

/// `for_scan`: only get to the upgrade (the scans' connections skip the capability questions
/// and POP3's `USER`, which repeated on every connection could trip fail2ban).
async fn pre_tls(target: &Target, opts: &ProbeOptions, tcp: TcpStream, for_scan: bool) -> PreTls {
    match target.protocol {
        Protocol::Smtp | Protocol::Submission => smtp(opts, tcp).await,
        Protocol::Imap if for_scan => imap_upgrade_only(opts, tcp).await,
        Protocol::Imap => imap(opts, tcp).await,
        Protocol::Pop3 if for_scan => {
            let mut t = Talk::new(tcp, opts);
            PreTls {
                plain: None,
                upgraded: match pop3_greeting(&mut t).await {
                    Ok(_) => pop3_stls(t).await,
                    Err(e) => Err(e),
                },
            }
        }
        Protocol::Pop3 => pop3(target, opts, tcp).await,
        Protocol::Submissions | Protocol::Imaps | Protocol::Pop3s => PreTls {
            plain: None,
            upgraded: Ok(Some(tcp)),
        },
    }
}

/// A bounded conversation: every reply must arrive within `io_timeout`.
struct Talk {
    r: BufReader<TcpStream>,
    wait: Duration,
}

impl Talk {
    fn new(tcp: TcpStream, opts: &ProbeOptions) -> Self {
        Self {
            r: BufReader::new(tcp),
            wait: opts.io_timeout,
        }
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.wait
    }

    async fn send(&mut self, cmd: &str, phase: &str) -> Result<(), ProbeError> {
        line::send(&mut self.r, cmd, self.wait, phase).await
    }

    async fn line(&mut self, phase: &str) -> Result<String, ProbeError> {
        let d = self.deadline();
        self.line_by(d, phase).await
    }

    /// One line of a longer response that must be complete by `deadline`.
    async fn line_by(&mut self, deadline: Instant, phase: &str) -> Result<String, ProbeError> {
        line::read_line(&mut self.r, deadline, self.wait.as_secs(), phase).await
    }

    async fn reply(&mut self, phase: &str) -> Result<SmtpReply, ProbeError> {
        let d = self.deadline();
        line::smtp_reply(&mut self.r, d, self.wait.as_secs(), phase).await
    }

    /// The TCP stream for the handshake. Bytes the server sent after agreeing to TLS would be
    /// read as plaintext by a careless client (the STARTTLS injection flaw), so they are an error.
    fn into_tls_ready(self, after: &str) -> Result<TcpStream, ProbeError> {
        if !self.r.buffer().is_empty() {
            return Err(ProbeError::Protocol {
                message: format!(
                    "the server sent {} bytes of plaintext after agreeing to {after}",
                    self.r.buffer().len()
                ),
            });
        }
        Ok(self.r.into_inner())
    }

    async fn quit(mut self, cmd: &str) {
        let _ = self.send(cmd, "quit").await;
    }
}

async fn smtp(opts: &ProbeOptions, tcp: TcpStream) -> PreTls {
    let mut t = Talk::new(tcp, opts);
    let greeting = match t.reply("greeting").await {
        Ok(g) if g.code == 220 => g,
        Ok(g) => {
            // RFC 5321 §3.1: after a 554 greeting the client should still say QUIT.
            t.quit("QUIT").await;
            return PreTls::failed(ProbeError::Rejected {
                reply: clip(&g.text()),
            });
        }
        Err(e) => return PreTls::failed(e),
    };
    if let Err(e) = t.send(&format!("EHLO {}", opts.helo_name), "EHLO").await {
        return PreTls::failed(e);
    }
    let ehlo = match t.reply("EHLO reply").await {
        Ok(r) => r,
        Err(e) => return PreTls::failed(e),
    };
    if matches!(ehlo.code, 500..=504) {
        // An SMTP server without ESMTP (HELO only): no extensions, so no STARTTLS
        // (RFC 3207 §4 needs EHLO).
        t.quit("QUIT").await;
        return PreTls {
            plain: Some(PlainPhase {
                greeting: clip(&greeting.text()),
                capabilities: Vec::new(),
                tls_offered: false,
                login_before_tls: LoginBeforeTls::Refused {
                    evidence: format!("EHLO is not supported ({})", clip(&ehlo.text())),
                },
            }),
            upgraded: Ok(None),
        };
    }
    if ehlo.code != 250 {
        t.quit("QUIT").await;
        return PreTls::failed(ProbeError::Rejected {
            reply: format!("EHLO: {}", clip(&ehlo.text())),
        });
    }
    let caps: Vec<String> = ehlo.lines.iter().skip(1).cloned().collect();
    let keyword = |c: &String| {
        c.split([' ', '='])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase()
    };
    let tls_offered = caps.iter().any(|c| keyword(c) == "STARTTLS");
    let auth: Vec<&String> = caps.iter().filter(|c| keyword(c) == "AUTH").collect();
    let login_before_tls = match auth.first() {
        Some(a) => LoginBeforeTls::Possible {
            evidence: format!("EHLO before STARTTLS advertises {a}"),
        },
        None => LoginBeforeTls::Refused {
            evidence: "EHLO before STARTTLS advertises no AUTH".into(),
        },
    };
    let plain = Some(PlainPhase {
        greeting: clip(&greeting.text()),
        capabilities: caps,
        tls_offered,
        login_before_tls,
    });
    if !tls_offered {
        t.quit("QUIT").await;
        return PreTls {
            plain,
            upgraded: Ok(None),
        };
    }
    let upgraded = async {
        t.send("STARTTLS", "STARTTLS").await?;
        let r = t.reply("STARTTLS reply").await?;
        if r.code != 220 {
            t.quit("QUIT").await;
            return Err(ProbeError::StarttlsRefused {
                reply: clip(&r.text()),
            });
        }
        t.into_tls_ready("STARTTLS").map(Some)
    }
    .await;
    PreTls { plain, upgraded }
}

/// Reads IMAP lines up to the tagged completion of `tag`, collecting untagged lines.
async fn imap_until(
    t: &mut Talk,
    tag: &str,
    phase: &str,
) -> Result<(String, Vec<String>), ProbeError> {
    let mut untagged = Vec::new();
    let mut bytes = 0;
    // One deadline for the whole response: a server dripping lines cannot stretch it.
    let deadline = t.deadline();
    loop {
        let l = t.line_by(deadline, phase).await?;
        bytes += l.len();
        if let Some(rest) = l.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
            return Ok((rest.to_string(), untagged));
        }
        untagged.push(l);
        if untagged.len() >= line::MAX_REPLY_LINES || bytes > line::MAX_REPLY_BYTES {
            return Err(ProbeError::TooLong {
                what: format!("the IMAP response ({phase})"),
                limit: format!("{} lines", line::MAX_REPLY_LINES),
            });
        }
    }
}

fn imap_capabilities(lines: &[String]) -> Vec<String> {
    let mut caps = Vec::new();
    for l in lines {
        // "* CAPABILITY ..." or a greeting "* OK [CAPABILITY ...] text".
        let body = if let Some(r) = l.strip_prefix("* CAPABILITY ") {
            r
        } else if let Some(r) = l.split_once("[CAPABILITY ").map(|(_, r)| r) {
            r.split(']').next().unwrap_or("")
        } else {
            continue;
        };
        caps.extend(body.split_whitespace().map(str::to_string));
    }
    caps
}

async fn imap(opts: &ProbeOptions, tcp: TcpStream) -> PreTls {
    let mut t = Talk::new(tcp, opts);
    let greeting = match t.line("greeting").await {
        Ok(g) => g,
        Err(e) => return PreTls::failed(e),
    };
    let upper = greeting.to_ascii_uppercase();
    if !(upper.starts_with("* OK") || upper.starts_with("* PREAUTH")) {
        return PreTls::failed(ProbeError::Rejected {
            reply: clip(&greeting),
        });
    }
    let caps = async {
        t.send("a1 CAPABILITY", "CAPABILITY").await?;
        let (done, lines) = imap_until(&mut t, "a1", "CAPABILITY").await?;
        if !done.to_ascii_uppercase().starts_with("OK") {
            return Err(ProbeError::Rejected {
                reply: format!("CAPABILITY: {}", clip(&done)),
            });
        }
        Ok(imap_capabilities(&lines))
    }
    .await;
    let caps = match caps {
        Ok(c) => c,
        Err(e) => return PreTls::failed(e),
    };
    let has = |name: &str| caps.iter().any(|c| c.eq_ignore_ascii_case(name));
    let tls_offered = has("STARTTLS");
    let plain_mechs: Vec<&String> = caps
        .iter()
        .filter(|c| c.eq_ignore_ascii_case("AUTH=PLAIN") || c.eq_ignore_ascii_case("AUTH=LOGIN"))
        .collect();
    let login_before_tls = if has("LOGINDISABLED") && plain_mechs.is_empty() {
        LoginBeforeTls::Refused {
            evidence: "LOGINDISABLED is advertised before STARTTLS".into(),
        }
    } else if has("LOGINDISABLED") {
        LoginBeforeTls::Possible {
            evidence: format!(
                "LOGINDISABLED, but {} advertised before STARTTLS",
                plain_mechs
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        }
    } else {
        LoginBeforeTls::Possible {
            evidence: "no LOGINDISABLED before STARTTLS: LOGIN sends the password in the clear"
                .into(),
        }
    };
    let plain = Some(PlainPhase {
        greeting: clip(&greeting),
        capabilities: caps.clone(),
        tls_offered,
        login_before_tls,
    });
    if !tls_offered {
        t.quit("a3 LOGOUT").await;
        return PreTls {
            plain,
            upgraded: Ok(None),
        };
    }
    let upgraded = imap_starttls(t).await;
    PreTls { plain, upgraded }
}

/// `STARTTLS` on an IMAP connection, ready for the handshake once the server says OK.
async fn imap_starttls(mut t: Talk) -> Result<Option<TcpStream>, ProbeError> {
    t.send("a2 STARTTLS", "STARTTLS").await?;
    let (done, _) = imap_until(&mut t, "a2", "STARTTLS").await?;
    if !done.to_ascii_uppercase().starts_with("OK") {
        return Err(ProbeError::StarttlsRefused { reply: clip(&done) });
    }
    t.into_tls_ready("STARTTLS").map(Some)
}

/// IMAP for a scan connection: greeting, then straight to STARTTLS.
async fn imap_upgrade_only(opts: &ProbeOptions, tcp: TcpStream) -> PreTls {
    let mut t = Talk::new(tcp, opts);
    let upgraded = match t.line("greeting").await {
        Ok(g) if g.to_ascii_uppercase().starts_with("* OK") => imap_starttls(t).await,
        Ok(g) => Err(ProbeError::Rejected { reply: clip(&g) }),
        Err(e) => Err(e),
    };
    PreTls {
        plain: None,
        upgraded,
    }
}

async fn pop3_greeting(t: &mut Talk) -> Result<String, ProbeError> {
    let g = t.line("greeting").await?;
    if !g.starts_with("+OK") {
        return Err(ProbeError::Rejected { reply: clip(&g) });
    }
    Ok(g)
}

async fn pop3_stls(mut t: Talk) -> Result<Option<TcpStream>, ProbeError> {
    t.send("STLS", "STLS").await?;
    let r = t.line("STLS reply").await?;
    if !r.starts_with("+OK") {
        t.quit("QUIT").await;
        return Err(ProbeError::StarttlsRefused { reply: clip(&r) });
    }
    t.into_tls_ready("STLS").map(Some)
}

async fn pop3(target: &Target, opts: &ProbeOptions, tcp: TcpStream) -> PreTls {
    let mut t = Talk::new(tcp, opts);
    let greeting = match pop3_greeting(&mut t).await {
        Ok(g) => g,
        Err(e) => return PreTls::failed(e),
    };
    let caps = async {
        t.send("CAPA", "CAPA").await?;
        let deadline = t.deadline();
        let first = t.line_by(deadline, "CAPA").await?;
        let mut caps = Vec::new();
        if first.starts_with("+OK") {
            loop {
                let l = t.line_by(deadline, "CAPA").await?;
                if l == "." {
                    break;
                }
                caps.push(l);
                if caps.len() >= line::MAX_REPLY_LINES {
                    return Err(ProbeError::TooLong {
                        what: "the CAPA reply".into(),
                        limit: format!("{} lines", line::MAX_REPLY_LINES),
                    });
                }
            }
        }
        Ok(caps)
    }
    .await;
    let caps = match caps {
        Ok(c) => c,
        Err(e) => return PreTls::failed(e),
    };
    let tls_offered = caps.iter().any(|c| c.eq_ignore_ascii_case("STLS"));
    // The direct test: does the server take a user name in the clear? A made-up name, no
    // password follows.
    let user = async {
        t.send("USER mailtrust-probe", "USER").await?;
        t.line("USER reply").await
    }
    .await;
    let user = match user {
        Ok(u) => u,
        Err(e) => return PreTls::failed(e),
    };
    let accepted = user.starts_with("+OK");
    let login_before_tls = if accepted {
        LoginBeforeTls::Possible {
            evidence: format!("USER before STLS answered {}", clip(&user)),
        }
    } else {
        LoginBeforeTls::Refused {
            evidence: format!("USER before STLS answered {}", clip(&user)),
        }
    };
    let plain = Some(PlainPhase {
        greeting: clip(&greeting),
        capabilities: caps,
        tls_offered,
        login_before_tls,
    });
    if !tls_offered {
        t.quit("QUIT").await;
        return PreTls {
            plain,
            upgraded: Ok(None),
        };
    }
    let upgraded = if accepted {
        // The session now waits for PASS; STLS is only valid before USER, so start over.
        t.quit("QUIT").await;
        async {
            let tcp = connect(target, opts).await?;
            let mut t = Talk::new(tcp, opts);
            pop3_greeting(&mut t).await?;
            pop3_stls(t).await
        }
        .await
    } else {
        pop3_stls(t).await
    };
    PreTls { plain, upgraded }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Prober;
    use crate::cert::tests::{make_ca, make_leaf};
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use std::sync::Arc;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    use tokio::net::TcpListener;

    /// A small SMTP server: greeting, EHLO with STARTTLS (or `ehlo` as given), then TLS 1.2/1.3
    /// with rustls. Serves connections until the test ends.
    async fn smtp_server(ehlo: &'static str) -> SocketAddr {
        let ca = make_ca("Test CA");
        let (leaf, key) = make_leaf(&ca, &["mail.test"]);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let mut r = BufReader::new(tcp);
                    let _ = r.get_mut().write_all(b"220 mail.test ESMTP\r\n").await;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let cmd = line.trim().to_ascii_uppercase();
                        if cmd.starts_with("EHLO") {
                            let _ = r.get_mut().write_all(ehlo.as_bytes()).await;
                        } else if cmd == "STARTTLS" {
                            let _ = r.get_mut().write_all(b"220 go ahead\r\n").await;
                            if let Ok(mut tls) = acceptor.accept(r.into_inner()).await {
                                let mut sink = Vec::new();
                                let _ = tls.read_to_end(&mut sink).await;
                            }
                            return;
                        } else {
                            let _ = r.get_mut().write_all(b"221 bye\r\n").await;
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    fn target(addr: SocketAddr) -> Target {
        Target {
            protocol: Protocol::Smtp,
            address: addr,
            server_name: "mail.test".into(),
        }
    }

    #[tokio::test]
    async fn starttls_handshake_and_scans_against_a_modern_server() {
        let addr = smtp_server("250-mail.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n").await;
        let prober = Prober::new(ProbeOptions::default());
        let r = prober.probe(target(addr)).await;
        let seen = r
            .negotiated()
            .unwrap_or_else(|| panic!("negotiated: {r:?}"));
        assert_eq!(seen.version, TlsVersion::Tls13);
        assert_eq!(seen.chain.len(), 1);
        let plain = r.plain.as_ref().expect("plain phase");
        assert!(plain.tls_offered);
        assert!(plain.capabilities.iter().any(|c| c == "PIPELINING"));
        // rustls refuses SSLv3, TLS 1.0, 1.1 and every weak suite.
        assert_eq!(r.scans.len(), 5, "{:?}", r.scans);
        for s in &r.scans {
            assert!(
                matches!(
                    s.outcome,
                    ScanOutcome::Answered {
                        hello: HelloOutcome::Refused { .. }
                    }
                ),
                "{s:?}"
            );
        }
        // A second probe of the same service is the same report (shared, not repeated).
        let again = prober.probe(target(addr)).await;
        assert!(Arc::ptr_eq(&r, &again));
    }

    #[tokio::test]
    async fn no_starttls_and_auth_before_tls_are_seen() {
        let addr = smtp_server("250-mail.test\r\n250 AUTH PLAIN LOGIN\r\n").await;
        let prober = Prober::new(ProbeOptions::default());
        let r = prober
            .probe(Target {
                protocol: Protocol::Submission,
                ..target(addr)
            })
            .await;
        assert!(matches!(r.tls, TlsResult::NotOffered), "{r:?}");
        let plain = r.plain.as_ref().expect("plain phase");
        assert!(matches!(
            plain.login_before_tls,
            LoginBeforeTls::Possible { .. }
        ));
        assert!(r.scans.is_empty());
    }

    #[tokio::test]
    async fn helo_only_server_offers_no_starttls() {
        let addr = smtp_server("502 5.5.2 Error: command not recognized\r\n").await;
        let prober = Prober::new(ProbeOptions::default());
        let r = prober.probe(target(addr)).await;
        assert!(matches!(r.tls, TlsResult::NotOffered), "{r:?}");
    }

    #[tokio::test]
    async fn implicit_tls_tarpit_is_a_timeout_not_a_broken_server() {
        let tarpit = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = tarpit.local_addr().expect("addr");
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = tarpit.accept().await {
                held.push(s);
            }
        });
        let prober = Prober::new(ProbeOptions {
            io_timeout: Duration::from_millis(300),
            ..ProbeOptions::default()
        });
        let r = prober
            .probe(Target {
                protocol: Protocol::Imaps,
                ..target(addr)
            })
            .await;
        match &r.tls {
            TlsResult::Failed { error } => assert!(error.is_unreachable(), "{error}"),
            other => panic!("{other:?}"),
        }
        // No scans after a timeout: they would only wait again.
        assert!(r.scans.is_empty());
        hold.abort();
    }

    #[tokio::test]
    async fn refused_and_silent_servers_are_unreachable_not_broken() {
        // A port nothing listens on.
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let closed = l.local_addr().expect("addr");
        drop(l);
        let opts = ProbeOptions {
            io_timeout: Duration::from_millis(300),
            ..ProbeOptions::default()
        };
        let prober = Prober::new(opts);
        let r = prober.probe(target(closed)).await;
        match &r.tls {
            TlsResult::Failed { error } => assert!(error.is_unreachable(), "{error}"),
            other => panic!("{other:?}"),
        }
        // A tarpit: accepts and never speaks.
        let tarpit = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = tarpit.local_addr().expect("addr");
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = tarpit.accept().await {
                held.push(s);
            }
        });
        let start = std::time::Instant::now();
        let r = prober.probe(target(addr)).await;
        assert!(start.elapsed() < Duration::from_secs(3));
        match &r.tls {
            TlsResult::Failed {
                error: ProbeError::Timeout { .. },
            } => {}
            other => panic!("{other:?}"),
        }
        hold.abort();
    }

    #[test]
    fn capabilities_from_greeting_and_reply() {
        let lines = vec![
            "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready".to_string(),
            "* CAPABILITY IMAP4rev1 SASL-IR STARTTLS AUTH=PLAIN".to_string(),
        ];
        let caps = imap_capabilities(&lines);
        assert!(caps.contains(&"LOGINDISABLED".to_string()));
        assert!(caps.contains(&"AUTH=PLAIN".to_string()));
        assert_eq!(caps.iter().filter(|c| *c == "STARTTLS").count(), 2);
    }
}
