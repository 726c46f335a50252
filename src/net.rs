//! The one seam for outgoing TCP connections: every connect has a deadline and TCP_NODELAY.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connection to {addr} refused")]
    Refused { addr: SocketAddr },
    #[error("no answer from {addr} after {}", humantime::format_duration(*.after))]
    Timeout { addr: SocketAddr, after: Duration },
    #[error("cannot connect to {addr}: {source}")]
    Io {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Connects to `addr` within `deadline`, with Nagle off (each SMTP line would otherwise wait
/// ~40 ms for the server's delayed ACK).
pub async fn connect(addr: SocketAddr, deadline: Duration) -> Result<TcpStream, ConnectError> {
    #[allow(clippy::disallowed_methods)]
    let fut = TcpStream::connect(addr);
    finish(addr, deadline, fut).await
}

/// Waits for a connect within `deadline`, names what went wrong, and turns Nagle off.
async fn finish(
    addr: SocketAddr,
    deadline: Duration,
    fut: impl std::future::Future<Output = std::io::Result<TcpStream>>,
) -> Result<TcpStream, ConnectError> {
    let stream = match tokio::time::timeout(deadline, fut).await {
        Err(_) => {
            return Err(ConnectError::Timeout {
                addr,
                after: deadline,
            });
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err(ConnectError::Refused { addr });
        }
        Ok(Err(source)) => return Err(ConnectError::Io { addr, source }),
        Ok(Ok(s)) => s,
    };
    stream
        .set_nodelay(true)
        .map_err(|source| ConnectError::Io { addr, source })?;
    Ok(stream)
}

/// Whether `ip` belongs to this machine: loopback, or an address we can bind to.
pub fn is_local_address(ip: std::net::IpAddr) -> bool {
    ip.is_loopback() || std::net::UdpSocket::bind((ip, 0)).is_ok()
}

/// Like [`connect`], with the local end bound to `source` first (any port), e.g. `::1` or
/// 127.0.0.2 to be seen as another client.
pub async fn connect_from(
    source: std::net::IpAddr,
    addr: SocketAddr,
    deadline: Duration,
) -> Result<TcpStream, ConnectError> {
    let io = |source: std::io::Error| ConnectError::Io { addr, source };
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(io)?;
    socket.bind(SocketAddr::new(source, 0)).map_err(io)?;
    finish(addr, deadline, socket.connect(addr)).await
}

/// Asks the kernel to acknowledge what arrives next at once instead of delaying the ACK.
/// Postfix's smtpd (no TCP_NODELAY) sends TLS 1.3 session tickets and the next reply in separate
/// segments; without a prompt ACK the reply waits ~40 ms (Nagle meets delayed ACK). Linux resets
/// quick-ACK mode by itself, so this is called before every read. Errors are ignored: it is
/// only an optimisation.
pub fn quick_ack(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
}

/// The source address the kernel would give a connection to `to` (its route choice), found
/// without sending a packet (a UDP socket's connect only picks the route).
pub fn route_source(to: SocketAddr) -> Option<std::net::IpAddr> {
    let bind = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
    let s = std::net::UdpSocket::bind(bind).ok()?;
    s.connect(to).ok()?;
    s.local_addr().ok().map(|a| a.ip())
}
