//! SMTP replies as a server sends them (src/probe/smtp/reply.rs): the reply grammar and caps,
//! then the EHLO capabilities read from a positive reply.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcheck::probe::smtp::{self, Capabilities};

fuzz_target!(|data: &[u8]| {
    let Ok(r) = smtp::parse_reply(data) else {
        return;
    };
    assert!(r.lines.len() <= smtp::MAX_LINES);
    let _ = (r.is_positive(), r.is_intermediate(), r.is_transient(), r.is_permanent());
    let _ = (r.text(), r.first_line(), r.enhanced_code());
    let c = Capabilities::from_ehlo(&r);
    let _ = (c.size(), c.auth_mechanisms(), c.has("STARTTLS"), c.has(""));
    for k in c.keywords() {
        let _ = (c.has(&k), c.params(&k));
    }
    let _ = Capabilities::from_lines(r.lines.clone()).keywords();
});
