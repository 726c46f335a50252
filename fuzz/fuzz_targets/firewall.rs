//! Firewall rule dumps, `nft list ruleset` and `iptables-save` (src/probe/firewall.rs): what they
//! say about a port.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcheck::probe::firewall;

fuzz_target!(|data: &[u8]| {
    let (port, rest) = mailcheck_fuzz::split_first(data);
    let text = mailcheck_fuzz::text(rest);
    for p in [25, 587, u16::from(port)] {
        let _ = firewall::read_nft(&text, p);
        let _ = firewall::read_iptables(&text, p);
    }
});
