//! `--ssh [USER@]HOST[:PORT]` (src/remote/ssh/target.rs): what parses prints back as a target
//! that parses to the same thing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcheck::remote::ssh::Target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = s.parse::<Target>() {
        let shown = t.to_string();
        let again: Target = shown.parse().unwrap_or_else(|e| panic!("{s:?} -> {shown:?}: {e}"));
        assert_eq!(again, t, "{s:?} -> {shown:?}");
        let _ = Target::new(t.user(), t.host(), t.port());
    }
});
