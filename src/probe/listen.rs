//! Listening TCP sockets from /proc/net/tcp and /proc/net/tcp6 (proc(5)): which addresses
//! and ports accept connections, without connecting to them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ProbeError;

/// One socket in state LISTEN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Listener {
    pub addr: IpAddr,
    pub port: u16,
}

impl Listener {
    /// Whether it accepts on every address of its family (0.0.0.0 or ::).
    pub fn is_wildcard(&self) -> bool {
        self.addr.is_unspecified()
    }
}

impl std::fmt::Display for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.addr {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
        }
    }
}

/// TCP state LISTEN in /proc/net/tcp (include/net/tcp_states.h).
const TCP_LISTEN: &str = "0A";

/// `0100007F:0019` → 127.0.0.1:25. The kernel prints each 32-bit word of the address in host
/// byte order.
pub(crate) fn parse_endpoint(s: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words: Option<Vec<[u8; 4]>> = addr
        .as_bytes()
        .chunks(8)
        .map(|c| {
            let w = std::str::from_utf8(c).ok()?;
            Some(u32::from_str_radix(w, 16).ok()?.to_ne_bytes())
        })
        .collect();
    let bytes: Vec<u8> = words?.concat();
    let ip = match bytes.len() {
        4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
        16 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(&bytes);
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some((ip, port))
}

/// The LISTEN sockets in the text of /proc/net/tcp or /proc/net/tcp6.
pub fn parse_proc_net_tcp(text: &str) -> Vec<Listener> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 4 || f[3] != TCP_LISTEN {
                return None;
            }
            let (addr, port) = parse_endpoint(f[1])?;
            Some(Listener { addr, port })
        })
        .collect()
}

/// Every listening TCP socket of this machine (IPv4 and IPv6). A missing tcp6 file (IPv6
/// disabled) is not an error.
pub fn listeners() -> Result<Vec<Listener>, ProbeError> {
    let mut out = Vec::new();
    for (path, required) in [("/proc/net/tcp", true), ("/proc/net/tcp6", false)] {
        let path = Path::new(path);
        match std::fs::read_to_string(path) {
            Ok(t) => out.extend(parse_proc_net_tcp(&t)),
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ProbeError::from_io(path, &e)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listen_sockets_of_both_families() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:024B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 43888 1\n   1: 0100007F:0019 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 43882 1\n   2: 0100007F:0019 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 0 1\n";
        let l = parse_proc_net_tcp(v4);
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].to_string(), "0.0.0.0:587");
        assert!(l[0].is_wildcard());
        if cfg!(target_endian = "little") {
            assert_eq!(l[1].to_string(), "127.0.0.1:25");
        }
        let v6 = "  sl  local_address remote_address st\n   0: 00000000000000000000000000000000:0019 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 43883 1\n   1: 00000000000000000000000001000000:024B 00000000000000000000000000000000:0000 0A 0\n";
        let l = parse_proc_net_tcp(v6);
        assert_eq!(l[0].to_string(), "[::]:25");
        if cfg!(target_endian = "little") {
            assert_eq!(l[1].to_string(), "[::1]:587");
        }
    }
}
