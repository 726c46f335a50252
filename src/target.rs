//! What a run is pointed at: the server (`--host`) and the account (`--account`). Plain inputs
//! that probes may take; nothing here observes anything.

use std::net::{IpAddr, SocketAddr};

use crate::secret::Secret;

/// The mailbox used for AUTH and test mail.
#[derive(Debug, Clone)]
pub struct Account {
    /// `user@domain`.
    pub address: String,
    pub local_part: String,
    pub domain: String,
    pub password: Option<Secret>,
}

impl Account {
    /// Parses `user@domain`; `None` when it is not of that form.
    pub fn parse(address: &str, password: Option<Secret>) -> Option<Account> {
        let (local, domain) = address.rsplit_once('@')?;
        if local.is_empty() || domain.is_empty() || domain.contains(char::is_whitespace) {
            return None;
        }
        Some(Account {
            address: address.to_string(),
            local_part: local.to_string(),
            domain: domain.to_ascii_lowercase(),
            password,
        })
    }
}

/// The server under test.
#[derive(Debug, Clone)]
pub struct Target {
    /// As given with `--host`.
    pub host: String,
    /// Its addresses, IPv4 first.
    pub addrs: Vec<IpAddr>,
    /// Whether mailcheck runs on the server itself (host-side checks are possible).
    pub local: bool,
}

impl Target {
    /// The address to reach `port` on.
    pub fn socket_addr(&self, port: u16) -> Option<SocketAddr> {
        self.addrs.first().map(|ip| SocketAddr::new(*ip, port))
    }
}
