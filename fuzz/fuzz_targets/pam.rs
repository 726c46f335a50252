//! PAM service files, /etc/pam.d/smtp (src/probe/pam.rs), and the redaction of their secrets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcheck::probe::pam;

fuzz_target!(|data: &[u8]| {
    let text = mailcheck_fuzz::text(data);
    for r in pam::parse(&text) {
        let _ = (r.module_name(), r.arg("passwd"), r.arg("crypt"), r.arg(""));
    }
    let red = pam::redact_args(&text, &["passwd", "password"], "***");
    let _ = pam::parse(&red);
});
