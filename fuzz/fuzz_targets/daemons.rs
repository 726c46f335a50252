//! The daemons' own settings (src/probe/daemons): saslauthd's command line and getopt, the
//! MariaDB option files with `!include`/`!includedir` (a fabricated set of files), the server's
//! command line and the network settings they give. Input: argv (NUL-separated) 0xFF my.cnf
//! 0xFF included file 0xFF included dir's file.
#![no_main]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use mailcheck::probe::daemons::{mariadb, mycnf, saslauthd};
use mailcheck::probe::procfs;

struct Files(BTreeMap<PathBuf, String>);

impl mycnf::Source for Files {
    fn read(&self, p: &Path) -> std::io::Result<String> {
        self.0.get(p).cloned().ok_or_else(|| std::io::ErrorKind::NotFound.into())
    }
    fn list(&self, d: &Path) -> std::io::Result<Vec<PathBuf>> {
        Ok(self.0.keys().filter(|p| p.parent() == Some(d)).cloned().collect())
    }
}

fuzz_target!(|data: &[u8]| {
    let parts: Vec<&[u8]> = data.splitn(4, |&b| b == 0xFF).collect();
    let argv = procfs::parse_cmdline(parts[0]);
    let o = saslauthd::SaslauthdOptions::parse(&argv);
    let e = o.effective();
    let w = saslauthd::SaslauthdOptions::parse_words(&mailcheck_fuzz::text(parts[0]));
    let _ = saslauthd::differences(&e, &w.effective());
    let _ = mariadb::cmdline_options(&argv);

    let t = |i: usize| parts.get(i).map(|p| mailcheck_fuzz::text(p)).unwrap_or_default();
    let _ = mycnf::parse_text(&t(1));
    let files = Files(BTreeMap::from([
        (PathBuf::from("/etc/mysql/my.cnf"), t(1)),
        (PathBuf::from("/etc/mysql/a.cnf"), t(2)),
        (PathBuf::from("/etc/mysql/conf.d/x.cnf"), t(3)),
        (PathBuf::from("/etc/mysql/conf.d/y.cnf"), t(1)),
    ]));
    let o = mycnf::load_from(&files, &[PathBuf::from("/etc/my.cnf"), PathBuf::from("/etc/mysql/my.cnf")]);
    assert!(o.files.len() <= 256);
    let _ = mariadb::server_settings(&o, "10.11", &argv);
    let _ = mariadb::server_settings(&o, &t(2), &[]);
    let _ = mariadb::client_settings(&o);
    let g = mycnf::server_groups(&t(3));
    let _ = (o.flag(&g, "skip-networking"), o.value(&g, "bind-address"));
});
