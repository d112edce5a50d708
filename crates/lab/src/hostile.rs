//! Hostile SMTP peers: servers that misbehave on purpose, so that a prober's time, memory and
//! error handling are tested against the worst a port 25 can do. `mailtrust lab serve-hostile
//! --mode MODE --listen ADDR:PORT...` runs one mode on every address given.
//!
//! - `tarpit`: accepts the connection, never sends a byte, never closes.
//! - `ehlo-flood`: a 220 greeting, then answers EHLO with `250-` continuation lines forever
//!   (never the final `250 ` line).
//! - `big-chain`: a normal SMTP dialogue up to STARTTLS, then TLS with a chain of 50
//!   certificates (made at start-up: a root, 48 intermediates and the leaf).
//! - `tls-alert`: a normal SMTP dialogue up to STARTTLS, then reads the ClientHello and answers
//!   with a fatal `internal_error` alert (RFC 8446 §6.2) and closes.
//!
//! One thread per connection, at most [`MAX_CONNECTIONS`] at a time (further clients wait in the
//! listen backlog), fixed-size buffers: memory stays bounded whatever clients do, and no client
//! error ends the server.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::{IoContext, LabError};
use crate::services::{Expect, Kind, Service};
use crate::topology::{self, Host};

/// Connections served at once per process; more wait in the kernel's listen backlog.
const MAX_CONNECTIONS: usize = 256;
/// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets; anything far beyond is hostile.
const LINE_MAX: usize = 1000;
/// A silent client is dropped after this (except by the tarpit, which never closes).
const IDLE: Duration = Duration::from_secs(300);
/// Certificates the big-chain server presents.
pub(crate) const BIG_CHAIN_LENGTH: usize = 50;
/// Per-connection thread stack: the handlers are shallow; TLS needs the most.
const STACK: usize = 256 * 1024;

/// How a hostile server misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostileMode {
    Tarpit,
    EhloFlood,
    BigChain,
    TlsAlert,
}

impl HostileMode {
    pub const ALL: [HostileMode; 4] = [
        HostileMode::Tarpit,
        HostileMode::EhloFlood,
        HostileMode::BigChain,
        HostileMode::TlsAlert,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HostileMode::Tarpit => "tarpit",
            HostileMode::EhloFlood => "ehlo-flood",
            HostileMode::BigChain => "big-chain",
            HostileMode::TlsAlert => "tls-alert",
        }
    }

    /// The name in the greeting and EHLO reply: the MX host of the mode's scenario.
    fn hostname(self) -> &'static str {
        match self {
            HostileMode::Tarpit => "mail.tarpit.test",
            HostileMode::EhloFlood => "mail.ehloflood.test",
            HostileMode::BigChain => "mail.bigchain.test",
            HostileMode::TlsAlert => "mail.tlsalert.test",
        }
    }
}

impl FromStr for HostileMode {
    type Err = LabError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HostileMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                LabError::Other(format!(
                    "unknown hostile mode `{s}` (known: {})",
                    HostileMode::ALL.map(HostileMode::as_str).join(", ")
                ))
            })
    }
}

/// A hostile server the lab runs: its mode and where.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HostileServer {
    pub mode: HostileMode,
    pub service: Service,
}

const fn hostile(
    mode: HostileMode,
    name: &'static str,
    host: Host,
    expect: Expect,
    notes: &'static str,
) -> HostileServer {
    HostileServer {
        mode,
        service: Service {
            name,
            kind: Kind::Hostile,
            host,
            port: 25,
            process: name,
            expect,
            notes,
        },
    }
}

/// The hostile servers of the lab, one process each.
pub(crate) const SERVERS: &[HostileServer] = &[
    hostile(
        HostileMode::Tarpit,
        "hostile-tarpit",
        topology::HOSTILE_TARPIT,
        Expect::Accept,
        "tarpit: accepts TCP, never sends a byte, never closes (MX of tarpit.test)",
    ),
    hostile(
        HostileMode::EhloFlood,
        "hostile-ehlo-flood",
        topology::HOSTILE_EHLO_FLOOD,
        Expect::Greeting("220 "),
        "ehlo-flood: answers EHLO with an endless stream of 250- lines (MX of ehloflood.test)",
    ),
    hostile(
        HostileMode::BigChain,
        "hostile-big-chain",
        topology::HOSTILE_BIG_CHAIN,
        Expect::Greeting("220 "),
        "big-chain: STARTTLS, then a chain of 50 certificates (MX of bigchain.test)",
    ),
    hostile(
        HostileMode::TlsAlert,
        "hostile-tls-alert",
        topology::HOSTILE_TLS_ALERT,
        Expect::Greeting("220 "),
        "tls-alert: STARTTLS, then a fatal internal_error alert in answer to the ClientHello (MX of tlsalert.test)",
    ),
];

/// Binds every `ADDR:PORT` of `listen` and serves `mode` on them until killed. Returns only if
/// an address is invalid or cannot be bound, or the TLS set-up fails.
pub(crate) fn serve(mode: HostileMode, listen: &[String]) -> Result<(), LabError> {
    if listen.is_empty() {
        return Err(LabError::Other(
            "serve-hostile needs at least one --listen ADDR:PORT".into(),
        ));
    }
    let mut listeners = Vec::new();
    for text in listen {
        let addr: SocketAddr = text.parse().map_err(|e| {
            LabError::Other(format!("serve-hostile: `{text}` is not ADDR:PORT ({e})"))
        })?;
        listeners.push(
            TcpListener::bind(addr).context(|| format!("serve-hostile: cannot bind {addr}"))?,
        );
    }
    serve_on(mode, listeners)
}

/// Serves `mode` on already bound listeners (tests bind port 0).
fn serve_on(mode: HostileMode, listeners: Vec<TcpListener>) -> Result<(), LabError> {
    let tls = match mode {
        HostileMode::BigChain => Some(big_chain_config()?),
        _ => None,
    };
    let slots = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for listener in listeners {
        let tls = tls.clone();
        let slots = Arc::clone(&slots);
        workers.push(thread::spawn(move || {
            accept_forever(mode, &listener, tls, &slots)
        }));
    }
    for worker in workers {
        let _ = worker.join();
    }
    Ok(())
}

/// A connection slot, released when the connection's thread ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn take_slot(slots: &Arc<AtomicUsize>) -> Slot {
    loop {
        let used = slots.load(Ordering::Acquire);
        if used < MAX_CONNECTIONS
            && slots
                .compare_exchange(used, used + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            return Slot(Arc::clone(slots));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn accept_forever(
    mode: HostileMode,
    listener: &TcpListener,
    tls: Option<Arc<ServerConfig>>,
    slots: &Arc<AtomicUsize>,
) {
    loop {
        let slot = take_slot(slots);
        match listener.accept() {
            Ok((stream, peer)) => {
                let tls = tls.clone();
                let spawned = thread::Builder::new()
                    .name(format!("{}-{peer}", mode.as_str()))
                    .stack_size(STACK)
                    .spawn(move || {
                        let _slot = slot;
                        if let Err(e) = handle(mode, stream, tls) {
                            tracing::debug!(%peer, error = %e, "serve-hostile: connection ended");
                        }
                    });
                if let Err(e) = spawned {
                    tracing::warn!(error = %e, "serve-hostile: cannot start a connection thread");
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "serve-hostile: accept failed");
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn handle(mode: HostileMode, stream: TcpStream, tls: Option<Arc<ServerConfig>>) -> io::Result<()> {
    match mode {
        HostileMode::Tarpit => tarpit(stream),
        HostileMode::EhloFlood => ehlo_flood(stream),
        HostileMode::BigChain => match tls {
            Some(config) => big_chain(stream, config),
            None => Err(io::Error::other("big-chain without its TLS configuration")),
        },
        HostileMode::TlsAlert => tls_alert(stream),
    }
}

/// Reads and discards until the client gives up; never writes, never closes first.
fn tarpit(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    while stream.read(&mut buf)? > 0 {}
    Ok(())
}

fn ehlo_flood(mut stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE))?;
    let mode = HostileMode::EhloFlood;
    greet(&mut stream, mode)?;
    let mut lines = Lines::default();
    if dialogue(&mut stream, &mut lines, mode.hostname(), &[], &["EHLO"])?.is_none() {
        return Ok(());
    }
    // Continuation lines only, in batches, until the client closes (the write then fails) or
    // stops reading (the write then blocks: the socket buffer is the only memory used).
    let mut batch = String::with_capacity(64 * 48);
    for n in 0u64.. {
        use std::fmt::Write as _;
        let _ = write!(batch, "250-X-FLOOD-{n:012} this reply never ends\r\n");
        if n % 64 == 63 {
            stream.write_all(batch.as_bytes())?;
            batch.clear();
        }
    }
    Ok(())
}

/// The plain part of a STARTTLS session, as an honest server plays it: greeting, EHLO with
/// STARTTLS offered, and "220 Ready" once the client asks. `None` when the client left first;
/// otherwise the lines reader, which may hold the start of the client's TLS handshake.
fn until_starttls(stream: &mut TcpStream, mode: HostileMode) -> io::Result<Option<Lines>> {
    stream.set_read_timeout(Some(IDLE))?;
    greet(stream, mode)?;
    let mut lines = Lines::default();
    let extensions = ["PIPELINING", "STARTTLS"];
    if dialogue(
        stream,
        &mut lines,
        mode.hostname(),
        &extensions,
        &["STARTTLS"],
    )?
    .is_none()
    {
        return Ok(None);
    }
    stream.write_all(b"220 2.0.0 Ready to start TLS\r\n")?;
    Ok(Some(lines))
}

fn big_chain(mut stream: TcpStream, config: Arc<ServerConfig>) -> io::Result<()> {
    let mode = HostileMode::BigChain;
    let Some(mut lines) = until_starttls(&mut stream, mode)? else {
        return Ok(());
    };
    let mut conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
    let early = lines.take_rest();
    if !early.is_empty() {
        // A client that sent its ClientHello in the same segment as STARTTLS.
        conn.read_tls(&mut early.as_slice())?;
    }
    let mut tls = rustls::StreamOwned::new(conn, stream);
    let mut lines = Lines::default();
    dialogue(&mut tls, &mut lines, mode.hostname(), &["PIPELINING"], &[])?;
    tls.conn.send_close_notify();
    tls.flush()
}

fn tls_alert(mut stream: TcpStream) -> io::Result<()> {
    let Some(mut lines) = until_starttls(&mut stream, HostileMode::TlsAlert)? else {
        return Ok(());
    };
    // The ClientHello's record: a 5-byte header (type, version, length), then its body.
    let mut record = lines.take_rest();
    let mut buf = [0u8; 4096];
    while record.len() < 5 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        record.extend_from_slice(&buf[..n]);
    }
    // RFC 8446 §5.1: a record body is at most 2^14 bytes (plus expansion); read no more.
    let body = usize::from(u16::from_be_bytes([record[3], record[4]])).min(18 * 1024);
    let mut have = record.len() - 5;
    while have < body {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        have += n;
    }
    // An alert record (type 21, TLS 1.2 record version): level fatal (2), internal_error (80).
    stream.write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50])?;
    stream.flush()?;
    stream.shutdown(Shutdown::Both)
}

fn greet(stream: &mut impl Write, mode: HostileMode) -> io::Result<()> {
    let line = format!(
        "220 {} ESMTP mailtrust lab ({})\r\n",
        mode.hostname(),
        mode.as_str()
    );
    stream.write_all(line.as_bytes())
}

/// Lines read from a stream, with a bounded buffer.
#[derive(Debug, Default)]
struct Lines {
    buf: Vec<u8>,
}

impl Lines {
    /// The next line without its line ending, or `None` when the client closed. A line longer
    /// than [`LINE_MAX`] ends the connection.
    fn next(&mut self, stream: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(line));
            }
            if self.buf.len() > LINE_MAX {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "command line too long",
                ));
            }
            let mut chunk = [0u8; 1024];
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// What was read beyond the last line (e.g. a ClientHello right behind STARTTLS).
    fn take_rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

/// Answers SMTP commands like a server that takes no mail, until the client sends one of
/// `stop_at` (returned, not answered) or quits or closes (`None`).
fn dialogue<S: Read + Write>(
    stream: &mut S,
    lines: &mut Lines,
    hostname: &str,
    extensions: &[&str],
    stop_at: &[&str],
) -> io::Result<Option<String>> {
    loop {
        let Some(line) = lines.next(stream)? else {
            return Ok(None);
        };
        let verb = String::from_utf8_lossy(&line)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        if stop_at.contains(&verb.as_str()) {
            return Ok(Some(verb));
        }
        let reply = match verb.as_str() {
            "EHLO" => {
                let mut reply = format!(
                    "250{}{hostname}\r\n",
                    if extensions.is_empty() { " " } else { "-" }
                );
                for (i, ext) in extensions.iter().enumerate() {
                    let sep = if i + 1 == extensions.len() { " " } else { "-" };
                    reply.push_str(&format!("250{sep}{ext}\r\n"));
                }
                reply
            }
            "HELO" => format!("250 {hostname}\r\n"),
            "NOOP" | "RSET" => "250 2.0.0 OK\r\n".into(),
            "QUIT" => {
                stream.write_all(b"221 2.0.0 Bye\r\n")?;
                stream.flush()?;
                return Ok(None);
            }
            "STARTTLS" => "454 4.7.0 TLS not available now\r\n".into(),
            "MAIL" | "RCPT" | "DATA" | "BDAT" | "VRFY" | "EXPN" | "ETRN" | "AUTH" => {
                "554 5.7.1 the mailtrust lab accepts no mail\r\n".into()
            }
            _ => "502 5.5.2 Error: command not recognized\r\n".into(),
        };
        stream.write_all(reply.as_bytes())?;
        stream.flush()?;
    }
}

/// The big-chain server's TLS configuration: leaf, 48 intermediates and a root, each signed by
/// the next, made fresh at start-up.
fn big_chain_config() -> Result<Arc<ServerConfig>, LabError> {
    let err = |e: rcgen::Error| LabError::Other(format!("serve-hostile big-chain: {e}"));
    let now = time::OffsetDateTime::now_utc();
    let ca_params = |cn: String| {
        let mut p = CertificateParams::default();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        p.not_before = now - time::Duration::days(1);
        p.not_after = now + time::Duration::days(365);
        p
    };
    let root_key = KeyPair::generate().map_err(err)?;
    let root_params = ca_params("mailtrust lab hostile root".into());
    let root = root_params.self_signed(&root_key).map_err(err)?;
    let mut chain: Vec<CertificateDer<'static>> = vec![root.der().clone()];
    let mut issuer = Issuer::new(root_params, root_key);
    for depth in 1..BIG_CHAIN_LENGTH - 1 {
        let key = KeyPair::generate().map_err(err)?;
        let params = ca_params(format!("mailtrust lab hostile intermediate {depth}"));
        let cert = params.signed_by(&key, &issuer).map_err(err)?;
        chain.push(cert.der().clone());
        issuer = Issuer::new(params, key);
    }
    let leaf_key = KeyPair::generate().map_err(err)?;
    let name = HostileMode::BigChain.hostname();
    let mut leaf_params = CertificateParams::new(vec![name.to_string()]).map_err(err)?;
    leaf_params.distinguished_name = rcgen::DistinguishedName::new();
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, name);
    leaf_params.not_before = now - time::Duration::days(1);
    leaf_params.not_after = now + time::Duration::days(365);
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).map_err(err)?;
    chain.push(leaf.der().clone());
    chain.reverse();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| LabError::Other(format!("serve-hostile big-chain: {e}")))?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    /// Starts `mode` on an ephemeral port of 127.0.0.1 and returns it.
    fn start(mode: HostileMode) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        thread::spawn(move || serve_on(mode, vec![listener]));
        addr
    }

    fn connect(addr: SocketAddr) -> TcpStream {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s
    }

    fn smtp_to_starttls(addr: SocketAddr) -> (TcpStream, io::BufReader<TcpStream>) {
        let mut s = connect(addr);
        let mut r = io::BufReader::new(s.try_clone().expect("clone"));
        let mut line = String::new();
        r.read_line(&mut line).expect("greeting");
        assert!(line.starts_with("220 "), "{line}");
        s.write_all(b"EHLO client.test\r\n").expect("ehlo");
        let mut ehlo = String::new();
        loop {
            line.clear();
            r.read_line(&mut line).expect("ehlo reply");
            ehlo.push_str(&line);
            if line.starts_with("250 ") {
                break;
            }
        }
        assert!(ehlo.contains("STARTTLS"), "{ehlo}");
        s.write_all(b"STARTTLS\r\n").expect("starttls");
        line.clear();
        r.read_line(&mut line).expect("starttls reply");
        assert!(line.starts_with("220 "), "{line}");
        (s, r)
    }

    #[test]
    fn modes_parse_and_print() {
        for mode in HostileMode::ALL {
            assert_eq!(mode.as_str().parse::<HostileMode>().ok(), Some(mode));
        }
        assert!("tarpitt".parse::<HostileMode>().is_err());
        assert!(serve(HostileMode::Tarpit, &[]).is_err());
        assert!(serve(HostileMode::Tarpit, &["nowhere".into()]).is_err());
    }

    #[test]
    fn tarpit_accepts_and_stays_silent() {
        let addr = start(HostileMode::Tarpit);
        let mut s = connect(addr);
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        s.write_all(b"EHLO client.test\r\n").expect("write");
        let mut buf = [0u8; 16];
        let err = s.read(&mut buf).expect_err("no byte, no close");
        assert!(matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ));
    }

    #[test]
    fn ehlo_flood_never_ends_the_reply() {
        let addr = start(HostileMode::EhloFlood);
        let mut s = connect(addr);
        let mut r = io::BufReader::new(s.try_clone().expect("clone"));
        let mut line = String::new();
        r.read_line(&mut line).expect("greeting");
        assert!(line.starts_with("220 "), "{line}");
        s.write_all(b"EHLO client.test\r\n").expect("ehlo");
        for _ in 0..10_000 {
            line.clear();
            r.read_line(&mut line).expect("a line");
            assert!(line.starts_with("250-"), "{line}");
        }
    }

    #[test]
    fn tls_alert_answers_the_client_hello_with_internal_error() {
        let addr = start(HostileMode::TlsAlert);
        let (mut s, _r) = smtp_to_starttls(addr);
        // A handshake record header and a body of 4 bytes: enough for the server.
        s.write_all(&[0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00])
            .expect("hello");
        let mut alert = Vec::new();
        s.read_to_end(&mut alert).expect("alert, then close");
        assert_eq!(alert, [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50]);
    }

    #[test]
    fn big_chain_presents_fifty_certificates() {
        let addr = start(HostileMode::BigChain);
        let (s, _r) = smtp_to_starttls(addr);
        let seen = Arc::new(AtomicUsize::new(0));
        let verifier = Arc::new(CountingVerifier(Arc::clone(&seen)));
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("mail.bigchain.test").expect("name");
        let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
        let mut tls = rustls::StreamOwned::new(conn, s);
        tls.write_all(b"EHLO client.test\r\n")
            .expect("ehlo over TLS");
        let mut reply = [0u8; 64];
        let n = tls.read(&mut reply).expect("reply over TLS");
        assert!(reply[..n].starts_with(b"250"), "{:?}", &reply[..n]);
        assert_eq!(seen.load(Ordering::Acquire), BIG_CHAIN_LENGTH);
    }

    /// Accepts any chain and counts its certificates.
    #[derive(Debug)]
    struct CountingVerifier(Arc<AtomicUsize>);

    impl rustls::client::danger::ServerCertVerifier for CountingVerifier {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            _server_name: &rustls::pki_types::ServerName<'_>,
            _ocsp: &[u8],
            _now: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            self.0.store(intermediates.len() + 1, Ordering::Release);
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            rustls::crypto::aws_lc_rs::default_provider()
                .signature_verification_algorithms
                .supported_schemes()
        }
    }
}
