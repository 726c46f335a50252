//! Postfix's `mynetworks` (postconf(5) mynetworks, cidr_table(5) syntax) as address ranges,
//! and this machine's own addresses, to pick a relay-probe source outside mynetworks.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::probe::postfix::split_list;

/// One `address/prefix` entry of mynetworks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Network {
    /// As written, e.g. `[::1]/128`.
    pub text: String,
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Network {
    /// Whether `ip` falls inside (same address family only, as Postfix matches).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }

    /// Whether the entry holds every address of its family (`0.0.0.0/0`, `[::]/0`).
    pub fn is_everything(&self) -> bool {
        self.prefix == 0
    }
}

/// mynetworks split into ranges mailcheck can evaluate and entries it cannot (host names,
/// `/file` names, `type:table` lookups, `!` exclusions).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Mynetworks {
    pub networks: Vec<Network>,
    pub unknown: Vec<String>,
}

impl Mynetworks {
    /// Parses the value Postfix uses (already `$name`-expanded).
    pub fn parse(value: &str) -> Mynetworks {
        let mut out = Mynetworks::default();
        for entry in split_list(value) {
            match parse_entry(&entry) {
                Some(n) => out.networks.push(n),
                None => out.unknown.push(entry),
            }
        }
        out
    }

    /// The first entry that contains `ip`.
    pub fn matching(&self, ip: IpAddr) -> Option<&Network> {
        self.networks.iter().find(|n| n.contains(ip))
    }
}

fn parse_entry(entry: &str) -> Option<Network> {
    // `[addr]/len`, `[addr/len]`, `[addr]`, `addr/len`, `addr`.
    let flat: String = entry.chars().filter(|c| *c != '[' && *c != ']').collect();
    if entry.starts_with('!') || entry.starts_with('/') {
        return None;
    }
    let (addr, prefix) = match flat.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (flat.as_str(), None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
        None => max,
    };
    Some(Network {
        text: entry.to_string(),
        addr,
        prefix,
    })
}

/// This machine's addresses a client socket can bind to: the loopbacks, every IPv4 address
/// the kernel routes locally (`/proc/net/fib_trie`), and every IPv6 address that is not
/// link-local (`/proc/net/if_inet6`). Loopback first.
pub fn local_addresses() -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = vec![
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ];
    if let Ok(t) = std::fs::read_to_string("/proc/net/fib_trie") {
        out.extend(ipv4_from_fib_trie(&t));
    }
    if let Ok(t) = std::fs::read_to_string("/proc/net/if_inet6") {
        out.extend(ipv6_from_if_inet6(&t));
    }
    let mut seen = Vec::new();
    out.retain(|ip| {
        let new = !seen.contains(ip);
        seen.push(*ip);
        new
    });
    out
}

/// `|-- 10.0.0.5` followed by `/32 host LOCAL`: the machine's own IPv4 addresses.
fn ipv4_from_fib_trie(text: &str) -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in text.lines().take(100_000) {
        let t = line.trim_start_matches([' ', '|', '+', '-']);
        if let Ok(a) = t.trim().parse::<Ipv4Addr>() {
            last = Some(a);
        } else if line.contains("/32 host LOCAL")
            && let Some(a) = last.take()
            && !out.contains(&IpAddr::V4(a))
        {
            out.push(IpAddr::V4(a));
        }
    }
    out
}

/// `00000000000000000000000000000001 01 80 10 80 lo`: 32 hex digits per address.
fn ipv6_from_if_inet6(text: &str) -> Vec<IpAddr> {
    text.lines()
        .take(10_000)
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|hex| u128::from_str_radix(hex, 16).ok())
        .map(Ipv6Addr::from)
        .filter(|a| (a.segments()[0] & 0xffc0) != 0xfe80)
        .map(IpAddr::V6)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn tutorial_value_and_ipv6_forms() {
        let m = Mynetworks::parse("127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128");
        assert!(m.unknown.is_empty());
        assert_eq!(m.matching(ip("127.0.0.2")).unwrap().text, "127.0.0.0/8");
        assert_eq!(m.matching(ip("::1")).unwrap().text, "[::1]/128");
        assert!(m.matching(ip("::2")).is_none());
        assert!(m.matching(ip("10.0.0.1")).is_none());
        let m = Mynetworks::parse("127.0.0.0/8");
        assert!(m.matching(ip("::1")).is_none());
    }

    #[test]
    fn everything_and_host_entries() {
        let m = Mynetworks::parse("0.0.0.0/0, [::]/0");
        assert!(m.matching(ip("203.0.113.9")).unwrap().is_everything());
        assert!(m.matching(ip("::1")).unwrap().is_everything());
        let m = Mynetworks::parse("192.0.2.7 [2001:db8::1] ::1/128");
        assert_eq!(m.networks.len(), 3);
        assert!(m.matching(ip("192.0.2.7")).is_some());
        assert!(m.matching(ip("192.0.2.8")).is_none());
        assert!(m.matching(ip("::1")).is_some());
    }

    #[test]
    fn tables_names_and_exclusions_are_unknown() {
        let m = Mynetworks::parse(
            "hash:/etc/postfix/network_table, /etc/postfix/nets, mail.example.com, !10.0.0.1, 10.0.0.0/33",
        );
        assert!(m.networks.is_empty());
        assert_eq!(m.unknown.len(), 5);
    }

    #[test]
    fn proc_files() {
        let trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 10.1.2.3\n        /32 host LOCAL\n     |-- 10.1.2.255\n        /32 link BROADCAST\n  |-- 127.0.0.1\n     /32 host LOCAL\n";
        assert_eq!(
            ipv4_from_fib_trie(trie),
            vec![ip("10.1.2.3"), ip("127.0.0.1")]
        );
        let v6 = "00000000000000000000000000000001 01 80 10 80       lo\nfe800000000000000000000000000001 02 40 20 80     eth0\n20010db8000000000000000000000005 02 40 00 80     eth0\n";
        assert_eq!(ipv6_from_if_inet6(v6), vec![ip("::1"), ip("2001:db8::5")]);
    }
}
