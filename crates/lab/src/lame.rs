//! A lame name server: it takes queries on UDP and TCP and never answers, never closes.
//!
//! A closed port would not do: the kernel answers with ICMP port unreachable or a TCP reset at
//! once, and resolvers treat that as "server refused", not as the timeout a lame delegation
//! produces on the Internet.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::thread;

use crate::error::{IoContext, LabError};

/// Binds every `ADDR:PORT` of `listen` on UDP and TCP and swallows queries forever. Returns only
/// if a socket cannot be bound.
pub(crate) fn serve(listen: &[String]) -> Result<(), LabError> {
    if listen.is_empty() {
        return Err(LabError::Other(
            "serve-lame needs at least one --listen ADDR:PORT".into(),
        ));
    }
    let mut workers = Vec::new();
    for text in listen {
        let addr: SocketAddr = text
            .parse()
            .map_err(|e| LabError::Other(format!("serve-lame: `{text}` is not ADDR:PORT ({e})")))?;
        let udp =
            UdpSocket::bind(addr).context(|| format!("serve-lame: cannot bind UDP {addr}"))?;
        let tcp =
            TcpListener::bind(addr).context(|| format!("serve-lame: cannot bind TCP {addr}"))?;
        workers.push(thread::spawn(move || swallow_udp(&udp)));
        workers.push(thread::spawn(move || accept_forever(&tcp)));
    }
    for worker in workers {
        let _ = worker.join();
    }
    Ok(())
}

fn swallow_udp(socket: &UdpSocket) {
    let mut buf = [0u8; 65535];
    loop {
        if let Err(e) = socket.recv_from(&mut buf) {
            tracing::debug!(error = %e, "serve-lame: UDP receive failed");
        }
    }
}

fn accept_forever(listener: &TcpListener) {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                thread::spawn(move || hold_open(stream));
            }
            Err(e) => tracing::debug!(error = %e, "serve-lame: accept failed"),
        }
    }
}

/// Reads and discards until the client gives up; the connection is closed only by the client.
fn hold_open(mut stream: TcpStream) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn udp_query_gets_no_answer() {
        let probe = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = probe.local_addr().expect("addr").port();
        drop(probe);
        let listen = vec![format!("127.0.0.1:{port}")];
        thread::spawn(move || serve(&listen));
        thread::sleep(Duration::from_millis(200));
        let client = UdpSocket::bind("127.0.0.1:0").expect("bind client");
        client
            .set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        client
            .send_to(b"\x12\x34query", ("127.0.0.1", port))
            .expect("send");
        let mut buf = [0u8; 512];
        let err = client.recv_from(&mut buf).expect_err("no answer, no ICMP");
        assert!(matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ));
        let tcp = TcpStream::connect(("127.0.0.1", port)).expect("TCP accepted");
        drop(tcp);
    }

    #[test]
    fn bad_address_is_an_error() {
        assert!(serve(&["not-an-address".into()]).is_err());
        assert!(serve(&[]).is_err());
    }
}
