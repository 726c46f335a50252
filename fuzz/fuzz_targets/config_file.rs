//! The config file, /etc/mailcheck/config.toml (src/config.rs): TOML into ConfigFile, then the
//! settings it gives (durations, overrides).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mailcheck::config::ConfigFile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cfg) = toml::from_str::<ConfigFile>(text) {
        let _ = cfg.settings(Path::new("config.toml"));
    }
});
