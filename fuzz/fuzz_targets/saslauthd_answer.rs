//! saslauthd's answers on its socket (src/probe/saslauthd.rs parse_answer) and its OPTIONS
//! string (parse_opts).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcheck::probe::saslauthd;

fuzz_target!(|data: &[u8]| {
    let _ = saslauthd::parse_answer(data);
    let _ = saslauthd::parse_opts(&mailcheck_fuzz::text(data));
});
