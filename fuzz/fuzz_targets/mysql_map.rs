//! `mysql:` map files, mysql_table(5) (src/probe/maps.rs MysqlMap::parse).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mailcheck::probe::maps::{self, MysqlMap};

fuzz_target!(|data: &[u8]| {
    let text = mailcheck_fuzz::text(data);
    let m = MysqlMap::parse(Path::new("/etc/postfix/mysql-virtual.cf"), &text);
    let _ = m.query_template();
    let _ = m.summary();
    let _ = maps::data_file("hash", Path::new(&text));
});
