//! Check definitions, checks/<family>/<name>.toml (src/catalogue): the raw TOML, its
//! validation and the kind's spec, and the `needs`/`explains` graph across files. Input:
//! path 0x0A TOML, files separated by 0xFF.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcheck::catalogue::{self, Catalogue};

fuzz_target!(|data: &[u8]| {
    let files: Vec<(String, String)> = data
        .split(|&b| b == 0xFF)
        .take(8)
        .map(|f| {
            let f = mailcheck_fuzz::text(f);
            match f.split_once('\n') {
                Some((p, t)) => (p.to_string(), t.to_string()),
                None => ("postfix/x.toml".to_string(), f),
            }
        })
        .collect();
    if let Ok(cat) = Catalogue::from_sources(files.iter().map(|(p, t)| (p.as_str(), t.as_str()))) {
        let order = catalogue::topological(cat.checks());
        assert_eq!(order.len(), cat.checks().len());
    }
});
