//! main.cf and master.cf (src/probe/postfix.rs): parsing, then every parameter — those set,
//! those with a default and those named in `$references` — expanded as Postfix would, the
//! services' `-o` overrides, lists and table references. Input: main.cf 0xFF master.cf 0xFF
//! system hostname.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mailcheck::probe::daemons::postfix as runtime;
use mailcheck::probe::postfix::{self, MainCf, MasterCf, PostfixConfig};

/// Bounds a fuzz input must stay within: generous next to a real main.cf (a few KB).
const MAX_VALUE: usize = 1 << 21;

fuzz_target!(|data: &[u8]| {
    let t = mailcheck_fuzz::texts(data, 3);
    let host = if t[2].is_empty() { "atlantis" } else { t[2].as_str() };
    let main = MainCf::parse(Path::new("main.cf"), &t[0], host);
    let master = MasterCf::parse(Path::new("master.cf"), &t[1]);
    let cfg = PostfixConfig { config_dir: "/etc/postfix".into(), main, master };
    let mut names: Vec<String> = cfg.main.settings.keys().cloned().collect();
    names.extend(postfix::known_defaults().map(|(n, _)| n.to_string()));
    names.extend(["myhostname", "mydomain", "myorigin", "mydestination", "nonexistent"].map(String::from));
    for n in &names {
        let v = cfg.get(n);
        assert!(v.len() <= MAX_VALUE, "{n} expanded to {} bytes", v.len());
        // What cfg.main.list(n) returns, without expanding n a second time.
        let _ = postfix::split_list(&v);
        let _ = postfix::map_references(&v);
        let _ = runtime::table_refs(&v);
        if let Some(raw) = cfg.main.raw(n) {
            let _ = cfg.main.expand(raw, 0);
            let _ = postfix::split_list(raw);
        }
    }
    for s in &cfg.master.services {
        for (n, _) in &s.overrides {
            let v = cfg.service_get(s, n);
            assert!(v.len() <= MAX_VALUE);
        }
        let _ = cfg.master.service(&s.name, &s.kind);
    }
    let _ = runtime::service_chroots(&cfg.master, &cfg.get("compatibility_level"));
    let _ = runtime::named_files(&cfg);
    let _ = postfix::static_id(&t[0]);
});
