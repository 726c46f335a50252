//! Certificates a server presents or a file holds (src/probe/tls.rs): DER and PEM, then the
//! names, the name match and the days left.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use mailcheck::probe::tls::{self, CertInfo};

fn exercise(c: &CertInfo) {
    let _ = c.names();
    let _ = (c.matches_name("mx.example.com"), c.matches_name(""), c.matches_name("*.example.com"));
    let _ = c.days_left(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let _ = c.days_left(UNIX_EPOCH);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = CertInfo::from_der(data) {
        exercise(&c);
    }
    if let Ok(cs) = tls::certs_from_pem(data) {
        cs.iter().for_each(exercise);
    }
});
