//! regexp:/pcre: tables (src/probe/maps.rs RegexpTable::parse, first_match), with the `if` /
//! `endif` blocks, flags and negation, applied to a subject line. Input: table 0xFF subject.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcheck::probe::maps::{self, RegexpTable};

fuzz_target!(|data: &[u8]| {
    let t = mailcheck_fuzz::texts(data, 2);
    let table = RegexpTable::parse(&t[0]);
    let _ = table.first_match(&t[1]);
    let _ = table.first_match("Content-Type: application/x-msdownload; name=\"a.exe\"");
    for r in table.rules.iter().take(64) {
        let _ = maps::compile(r);
    }
});
