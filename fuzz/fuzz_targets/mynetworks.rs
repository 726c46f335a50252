//! mynetworks values (src/probe/mynetworks.rs), matched against a few addresses.
#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use mailcheck::probe::mynetworks::Mynetworks;

fuzz_target!(|data: &[u8]| {
    let text = mailcheck_fuzz::text(data);
    let m = Mynetworks::parse(&text);
    let probes: [IpAddr; 5] = [
        [127, 0, 0, 1].into(),
        [0, 0, 0, 0].into(),
        [203, 0, 113, 9].into(),
        std::net::Ipv6Addr::LOCALHOST.into(),
        std::net::Ipv6Addr::UNSPECIFIED.into(),
    ];
    for ip in probes {
        let _ = m.matching(ip);
    }
    for n in &m.networks {
        let _ = (n.is_everything(), n.contains(n.addr));
    }
});
