//! The TLS records a server answers the hand-built ClientHello with
//! (src/probe/hardening/legacy_tls.rs::parse_response), whole and cut at every length the
//! probe may have read when it parses. `NeedMore` must only ever be a prefix's answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcheck::probe::hardening::legacy_tls::{self, Parse};

fuzz_target!(|data: &[u8]| {
    let data = &data[..data.len().min(legacy_tls::MAX_RESPONSE + 16)];
    let whole = legacy_tls::parse_response(data);
    if let Parse::Done(r) = &whole {
        let _ = legacy_tls::describe(r);
    }
    // The probe parses after each read; a few cut points stand for those reads.
    for cut in [1, 5, 6, 9, 43, 44, data.len() / 2, data.len().saturating_sub(1)] {
        if cut < data.len() {
            let part = legacy_tls::parse_response(&data[..cut]);
            // Once the prefix is decided, more bytes cannot make it undecided.
            if matches!(part, Parse::Done(_)) {
                assert!(matches!(whole, Parse::Done(_)), "prefix {cut} done, whole needs more");
            }
        }
    }
    let _ = legacy_tls::hex_prefix(data, 16);
});
