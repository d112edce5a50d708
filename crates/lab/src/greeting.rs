//! Readiness of the mail side: connect to every service inside the namespace and read its
//! greeting (through a TLS handshake verified against the lab CA where the port is implicit
//! TLS), so `up` returns only when each port answers as it should, and a server that cannot
//! start is reported with its log.
//!
//! The probes run in threads that enter the lab's network namespace with setns(2), one thread
//! per address, all at once: no helper process per probe, and the mail servers get ready while
//! the DNS servers sign their zones.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::command::log_tail;
use crate::error::LabError;
use crate::process::Spawned;
use crate::services::{Expect, Service};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const READ_TIMEOUT: Duration = Duration::from_secs(2);
const RETRY: Duration = Duration::from_millis(50);

/// One address of one service.
#[derive(Debug, Clone)]
pub(crate) struct ServiceProbe {
    /// For messages: "smtp-good on 127.0.0.20:25".
    pub what: String,
    pub addr: SocketAddr,
    pub expect: Expect,
    pub log: PathBuf,
}

impl ServiceProbe {
    /// One probe per address of `service`; `logs` is `<state>/logs`.
    pub(crate) fn for_service(service: &Service, logs: &Path) -> Vec<ServiceProbe> {
        service
            .addresses()
            .into_iter()
            .filter_map(|a| a.parse().ok())
            .map(|addr| ServiceProbe {
                what: format!("{} on {addr}", service.name),
                addr,
                expect: service.expect,
                log: logs.join(format!("{}.log", service.process)),
            })
            .collect()
    }
}

/// Probes running in the background; [`Running::wait`] collects them.
pub(crate) struct Running {
    probes: Vec<ServiceProbe>,
    results: Receiver<(usize, Result<(), String>)>,
    deadline: Instant,
}

/// Starts one thread per probe inside the namespace `netns`; each retries until its service
/// answers as expected or `deadline` passes. `ca` is the lab CA (PEM) for implicit TLS.
pub(crate) fn start(
    netns: &str,
    probes: Vec<ServiceProbe>,
    ca: &Path,
    deadline: Instant,
) -> Result<Running, LabError> {
    let tls = Arc::new(client_config(ca)?);
    let (tx, results) = mpsc::channel();
    for (index, original) in probes.iter().enumerate() {
        let tx = tx.clone();
        let probe = original.clone();
        let tls = Arc::clone(&tls);
        let netns = netns.to_string();
        let spawned = std::thread::Builder::new()
            .name(format!("probe {}", original.what))
            .spawn(move || {
                let began = Instant::now();
                let result = enter_netns(&netns).and_then(|()| loop {
                    match check(&probe, &tls) {
                        Ok(()) => return Ok(()),
                        Err(reason) if Instant::now() >= deadline => return Err(reason),
                        Err(reason) => {
                            tracing::trace!(probe = %probe.what, %reason, "not ready yet");
                            std::thread::sleep(RETRY);
                        }
                    }
                });
                tracing::debug!(probe = %probe.what, ms = began.elapsed().as_millis(), ok = result.is_ok(), "service probe done");
                let _ = tx.send((index, result));
            });
        if let Err(e) = spawned {
            return Err(LabError::Other(format!(
                "cannot start the probe of {}: {e}",
                original.what
            )));
        }
    }
    Ok(Running {
        probes,
        results,
        deadline,
    })
}

impl Running {
    /// Waits for every probe; fails with the first that gives up (its server's log attached), or
    /// as soon as a server process exits.
    pub(crate) fn wait(self, spawned: &mut [Spawned]) -> Result<(), LabError> {
        let mut pending = self.probes.len();
        // The probes give up at the deadline themselves; the grace covers their last attempt.
        let hard_deadline = self.deadline + CONNECT_TIMEOUT + READ_TIMEOUT * 2;
        while pending > 0 {
            crate::readiness::none_exited(spawned)?;
            match self.results.recv_timeout(RETRY) {
                Ok((_, Ok(()))) => pending -= 1,
                Ok((index, Err(reason))) => {
                    let probe = &self.probes[index];
                    return Err(LabError::NotReady {
                        what: probe.what.clone(),
                        reason,
                        log: probe.log.clone(),
                        log_tail: log_tail(&probe.log),
                    });
                }
                Err(RecvTimeoutError::Timeout) if Instant::now() < hard_deadline => {}
                Err(_) => {
                    return Err(LabError::Other(format!(
                        "{pending} service probes did not report back"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Moves the calling thread into the network namespace `netns` (`/run/netns/NAME`).
pub(crate) fn enter_netns(netns: &str) -> Result<(), String> {
    let path = Path::new("/run/netns").join(netns);
    let file =
        std::fs::File::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    rustix::thread::move_into_link_name_space(
        file.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .map_err(|e| format!("cannot enter network namespace {netns}: {e}"))
}

/// A TLS client that trusts only the lab CA.
fn client_config(ca: &Path) -> Result<rustls::ClientConfig, LabError> {
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca)
        .map_err(|e| LabError::Other(format!("cannot read the lab CA {}: {e}", ca.display())))?;
    for cert in certs {
        let cert = cert.map_err(|e| {
            LabError::Other(format!("cannot read the lab CA {}: {e}", ca.display()))
        })?;
        roots.add(cert).map_err(|e| {
            LabError::Other(format!("the lab CA {} is unusable: {e}", ca.display()))
        })?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| LabError::Other(format!("TLS client for the probes: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// One attempt: connect, then what the service should say.
fn check(probe: &ServiceProbe, tls: &Arc<rustls::ClientConfig>) -> Result<(), String> {
    let stream = TcpStream::connect_timeout(&probe.addr, CONNECT_TIMEOUT)
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(READ_TIMEOUT)))
        .map_err(|e| format!("socket: {e}"))?;
    match probe.expect {
        Expect::Accept => Ok(()),
        Expect::Greeting(prefix) => {
            let mut stream = stream;
            expect_line(&mut stream, prefix)
        }
        Expect::Tls {
            server_name,
            send,
            reply,
        } => {
            let name = ServerName::try_from(server_name)
                .map_err(|e| format!("server name {server_name}: {e}"))?;
            let conn = rustls::ClientConnection::new(Arc::clone(tls), name.to_owned())
                .map_err(|e| format!("TLS: {e}"))?;
            let mut tls = rustls::StreamOwned::new(conn, stream);
            if !send.is_empty() {
                tls.write_all(send.as_bytes())
                    .map_err(|e| format!("TLS handshake or write: {e}"))?;
            }
            expect_line(&mut tls, reply)
        }
    }
}

/// Reads the first line (at most 512 bytes) and checks its start.
fn expect_line(stream: &mut impl Read, prefix: &str) -> Result<(), String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 512 && !line.ends_with(b"\n") {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => line.push(byte[0]),
            Err(e) => return Err(format!("reading the greeting: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&line);
    if text.starts_with(prefix) {
        Ok(())
    } else {
        Err(format!(
            "expected a line starting with `{prefix}`, got `{}`",
            text.trim_end()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_lines_are_judged_by_their_start() {
        assert_eq!(expect_line(&mut &b"220 mail ESMTP\r\n"[..], "220 "), Ok(()));
        assert!(expect_line(&mut &b"554 go away\r\n"[..], "220 ").is_err());
        assert!(expect_line(&mut &b""[..], "* OK").is_err());
        assert_eq!(
            expect_line(&mut &b"* OK [CAPABILITY IMAP4rev1] ready\r\n"[..], "* OK"),
            Ok(())
        );
    }

    #[test]
    fn probes_cover_both_addresses() {
        let s = crate::services::all()[0];
        let probes = ServiceProbe::for_service(&s, Path::new("/s/logs"));
        assert_eq!(probes.len(), 2);
        assert_eq!(probes[0].addr.to_string(), "127.0.0.20:25");
        assert_eq!(probes[1].addr.to_string(), "[fd00:6d74::20]:25");
        assert_eq!(probes[0].log, PathBuf::from("/s/logs/postfix.log"));
    }
}
