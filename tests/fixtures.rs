//! Runs every check's judge on its recorded observations: `fixtures/<check-id>/<case>.toml`
//! holds `verdict`, optional `message_contains`, and `[observation]`. Trials are named
//! `<check-id>::<case>`, so `cargo test --test fixtures fs.mysql` filters.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};
use mailcheck::catalogue::Catalogue;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    verdict: String,
    #[serde(default)]
    message_contains: Vec<String>,
    observation: toml::Value,
}

fn run_case(cat: &Catalogue, id: &str, path: &Path) -> Result<(), Failed> {
    let check = cat
        .get(id)
        .ok_or_else(|| format!("fixtures/{id}: no check with this id"))?;
    let text = std::fs::read_to_string(path)?;
    let fx: Fixture = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let v = mailcheck::checks::judge_recorded(check, fx.observation)
        .map_err(|e| format!("{}: observation: {e}", path.display()))?;
    if v.status.as_str() != fx.verdict {
        return Err(format!("expected {}, got {}: {}", fx.verdict, v.status, v.message).into());
    }
    for want in &fx.message_contains {
        if !v.message.contains(want) {
            return Err(format!("message lacks {want:?}: {}", v.message).into());
        }
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let cat = Catalogue::embedded().expect("embedded catalogue loads");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut trials = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    for dir in dirs {
        let id = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut cases: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        cases.sort();
        for case in cases {
            let name = format!("{id}::{}", case.file_stem().unwrap().to_string_lossy());
            let cat = cat.clone();
            let id = id.clone();
            trials.push(Trial::test(name, move || run_case(&cat, &id, &case)));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
