//! /proc files (src/probe/procfs.rs): cmdline, stat, status, btime, uptime, net/tcp, net/unix and
//! socket links.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcheck::probe::procfs;

fuzz_target!(|data: &[u8]| {
    let argv = procfs::parse_cmdline(data);
    assert!(argv.len() <= data.len() + 1);
    let text = mailcheck_fuzz::text(data);
    if let Some(s) = procfs::parse_stat(&text) {
        let _ = procfs::ticks_to_unix_ms(i64::MAX, s.starttime_ticks, 100);
        let _ = procfs::ticks_to_unix_ms(-1, s.starttime_ticks, 0);
    }
    if let Some(c) = procfs::parse_status(&text) {
        let _ = c.fs_ids();
    }
    let _ = procfs::parse_btime(&text);
    let _ = procfs::parse_uptime_ms(&text);
    let _ = procfs::parse_net_tcp(&text);
    let _ = procfs::parse_net_unix(&text);
    let _ = procfs::socket_inode(&text);
});
