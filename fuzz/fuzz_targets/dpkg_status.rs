//! dpkg's status file and journal records (src/probe/versions.rs DpkgDb), read for the
//! versions of the packages a run reports.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcheck::probe::versions::DpkgDb;

fuzz_target!(|data: &[u8]| {
    let mut db = DpkgDb::default();
    // The status file, then journal records.
    for part in mailcheck_fuzz::texts(data, 3) {
        db.read(&part);
    }
    for name in ["postfix", "libssl3", "mariadb-server-core", "sasl2-bin"] {
        let _ = db.installed_version(name);
    }
});
