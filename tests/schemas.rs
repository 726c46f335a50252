//! The JSON Schema of each kind's observation (the report's `evidence`), generated from the
//! Rust type and committed under `reports/schemas/<family>.<kind>.json`. A type change shows
//! as a diff here; `MAILCHECK_BLESS=1` rewrites the files.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeSet;
use std::path::PathBuf;

#[test]
fn committed_schemas_match_the_observation_types() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("reports/schemas");
    let bless = std::env::var_os("MAILCHECK_BLESS").is_some();
    if bless {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let mut names = BTreeSet::new();
    let mut stale = Vec::new();
    for k in mailcheck::checks::registry::KINDS {
        let m = k.meta();
        let name = format!("{}.{}.json", m.family(), m.name());
        let mut schema = k.observation_schema();
        schema["title"] = serde_json::json!(format!(
            "evidence of mailcheck's `{}` kind ({})",
            m.name(),
            m.family()
        ));
        let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        let path = dir.join(&name);
        names.insert(name.clone());
        if bless {
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(name);
        }
    }
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if !names.contains(&n) {
            if bless {
                std::fs::remove_file(e.path()).unwrap();
            } else {
                stale.push(format!("{n} (no such kind)"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "reports/schemas/ is out of date for {stale:?}; MAILCHECK_BLESS=1 cargo test --test schemas rewrites it"
    );
}
