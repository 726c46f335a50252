//! Shell-variable files, /etc/default/saslauthd (src/probe/shell_vars.rs), and the saslauthd
//! defaults built from them (src/probe/daemons/saslauthd.rs parse_defaults).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mailcheck::probe::daemons::saslauthd;
use mailcheck::probe::shell_vars;

fuzz_target!(|data: &[u8]| {
    let text = mailcheck_fuzz::text(data);
    let vars = shell_vars::parse(&text);
    for v in vars.iter().take(32) {
        let _ = shell_vars::last(&vars, &v.name);
    }
    let d = saslauthd::parse_defaults(Path::new("/etc/default/saslauthd"), &text);
    let _ = d.options_parsed.effective();
});
