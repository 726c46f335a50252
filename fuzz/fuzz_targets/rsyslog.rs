//! rsyslog configuration (src/probe/maillog/rsyslog.rs): where the mail and auth facilities go.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcheck::probe::maillog::rsyslog;

fuzz_target!(|data: &[u8]| {
    let p = rsyslog::parse(&mailcheck_fuzz::text(data));
    assert!(p.rules.len() <= data.len());
});
