//! Cyrus SASL application config, /etc/postfix/sasl/smtpd.conf (src/probe/sasl_conf.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcheck::probe::sasl_conf;

fuzz_target!(|data: &[u8]| {
    let text = mailcheck_fuzz::text(data);
    let c = sasl_conf::parse(&text);
    for k in ["pwcheck_method", "mech_list", "sql_passwd", ""] {
        let _ = c.get(k);
    }
    let _ = sasl_conf::redact(&text, &["sql_passwd", "password"], "***");
});
