//! Certificate and key files as smtpd_tls_cert_file / smtpd_tls_key_file name them
//! (src/probe/tls_material.rs): PEM blocks, the chain, the key and whether they match.
//! Input: cert file 0xFF key file (no 0xFF: one file holds both).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mailcheck::probe::tls_material;

fuzz_target!(|data: &[u8]| {
    let one_file = !data.contains(&0xFF);
    let t = mailcheck_fuzz::texts(data, 2);
    let _ = tls_material::pem_blocks(&t[0]);
    let (c, k) = (Path::new("/etc/ssl/certs/mail.pem"), Path::new("/etc/ssl/private/mail.key"));
    let m = if one_file {
        tls_material::examine(c, &t[0], c, None)
    } else {
        tls_material::examine(c, &t[0], k, Some(&t[1]))
    };
    let _ = format!("{m:?}");
});
