//! One DNS message exchange over TCP (RFC 1035 §4.2.2: each message is prefixed by its
//! two-byte length). Used where mailtrust talks to one server directly, outside the resolver
//! stack: updates to a primary, and questions to each authoritative server.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `message` to `server` and returns the answer's bytes. The caller bounds the time.
pub(crate) async fn exchange(server: SocketAddr, message: &[u8]) -> std::io::Result<Vec<u8>> {
    let len = u16::try_from(message.len()).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "a DNS message over TCP is at most 64 KiB",
        )
    })?;
    let mut tcp = TcpStream::connect(server).await?;
    // Length and message in one write, without Nagle: written separately, the message can wait
    // for the ACK of the two-byte prefix (a delayed ACK) before it leaves.
    tcp.set_nodelay(true)?;
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(message);
    tcp.write_all(&framed).await?;
    let mut lb = [0u8; 2];
    tcp.read_exact(&mut lb).await?;
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(lb))];
    tcp.read_exact(&mut answer).await?;
    // An orderly close, so the server is not left holding the connection.
    let _ = tcp.shutdown().await;
    Ok(answer)
}
