//! regexp:/pcre: tables (src/probe/maps.rs RegexpTable::parse, first_match), with the `if` /
//! `endif` blocks, flags and negation, applied to a subject line. Input: table 0xFF subject.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcheck::probe::maps::RegexpTable;

fuzz_target!(|data: &[u8]| {
    let t = mailcheck_fuzz::texts(data, 2);
    let table = RegexpTable::parse(&t[0]);
    let _ = table.first_match(&t[1]);
    let _ = table.first_match("Content-Type: application/x-msdownload; name=\"a.exe\"");
    // Every rule's pattern compiles or is refused without a panic (through the table's cache,
    // so a rule first_match already compiled is not compiled again).
    for i in 0..table.rules.len().min(64) {
        let _ = table.check_rule(i);
    }
});
