//! Runs every check's judge on its fixtures: `fixtures/<check-id>/<case>.json`, each a
//! recording of one check (`mailcheck run --record DIR` writes them) or a hand-written case,
//! with the expected `verdict` and the exact `message` (or `message_contains`). Trials are
//! named `<check-id>::<case>`, so `cargo test --test fixtures fs.mysql` filters.
//! (`fixtures/runs/` holds whole recorded runs, for the goldens.)
//! `MAILCHECK_BLESS=1` rewrites the `message` of recorded fixtures to what the judge says now.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};
use mailcheck::catalogue::Catalogue;
use mailcheck::checks::kind::Unobserved;
use mailcheck::report::record::{self, RecordEntry};
use mailcheck::verdict::Verdict;

fn judge(cat: &Catalogue, id: &str, e: &RecordEntry) -> Result<Verdict, Failed> {
    let check = cat
        .get(id)
        .ok_or_else(|| format!("fixtures/{id}: no check with this id"))?;
    if e.check != id {
        return Err(format!("names check {}, but lives in fixtures/{id}", e.check).into());
    }
    if let Some(u) = &e.unobserved {
        let u: Unobserved = serde_json::from_value(u.clone())?;
        return Ok(u.verdict());
    }
    let Some(o) = &e.observation else {
        return Err("has neither an observation nor `unobserved`".into());
    };
    check
        .probe
        .judge_recorded(o.clone())
        .map_err(|e| e.to_string().into())
}

fn run_case(cat: &Catalogue, id: &str, path: &Path) -> Result<(), Failed> {
    let mut e = record::read_entry(path).map_err(|e| e.to_string())?;
    let v = judge(cat, id, &e).map_err(|f| format!("{}: {f:?}", path.display()))?;
    if v.status != e.verdict {
        return Err(format!("expected {}, got {}: {}", e.verdict, v.status, v.message).into());
    }
    for want in &e.message_contains {
        if !v.message.contains(want) {
            return Err(format!("message lacks {want:?}: {}", v.message).into());
        }
    }
    if let Some(m) = &e.message
        && *m != v.message
    {
        if std::env::var_os("MAILCHECK_BLESS").is_some() {
            e.message = Some(v.message.clone());
            let text = serde_json::to_string_pretty(&e)? + "\n";
            std::fs::write(path, text)?;
            return Ok(());
        }
        return Err(format!(
            "message changed (MAILCHECK_BLESS=1 accepts it):\n  recorded: {m}\n  now:      {}",
            v.message
        )
        .into());
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
                .filter(|p| p.is_dir() && !p.ends_with("runs"))
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
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        cases.sort();
        for case in cases {
            let name = format!("{id}::{}", case.file_stem().unwrap().to_string_lossy());
            let cat = cat.clone();
            let id = id.clone();
            trials.push(Trial::test(name, move || run_case(&cat, &id, &case)));
        }
    }
    {
        let cat = cat.clone();
        let root = root.clone();
        trials.push(Trial::test(
            "every_check_has_recorded_fixtures",
            move || every_check_has_recorded_fixtures(&cat, &root),
        ));
    }
    libtest_mimic::run(&args, trials).exit();
}

/// Checks that no lab run can make pass: they warn on a server built by the tutorial (its own
/// rule has the gap they report), so a pass exists only as a hand-written fixture.
const NO_LAB_PASS: &[&str] = &[
    "delivery.attachment-ban",
    "delivery.attachment-ban-587",
    "postfix.mime-header-checks",
    "postfix.mime-header-checks-587",
];

/// Checks without a recorded `fail` or `error`: their findings are warnings by nature (an
/// upgrade or a reload pending, a leftover file), or no lab break reaches them (the queue is
/// root's, 3.7 has the SASL path built in, the versions are always read). Hand-written fixtures cover their failures.
const NO_LAB_FAILURE: &[&str] = &[
    "mysql.upgrade-pending",
    "postfix.chroot-copies",
    "postfix.compatibility-level",
    "postfix.deprecated-params",
    "postfix.reload-pending",
    "queue.queue-access",
    "sasl.smtpd-conf-path",
    "system.packaging-leftovers",
    "system.versions",
];

/// Every check has fixtures recorded from real lab runs (tests/lab/record-fixtures.sh): a pass
/// and a fail or error, apart from the named exceptions.
fn every_check_has_recorded_fixtures(cat: &Catalogue, root: &Path) -> Result<(), Failed> {
    let mut missing = Vec::new();
    for c in cat.checks() {
        let mut verdicts = std::collections::BTreeSet::new();
        if let Ok(dir) = std::fs::read_dir(root.join(&c.id)) {
            for e in dir.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !name.starts_with("recorded-") {
                    continue;
                }
                let text = std::fs::read_to_string(e.path()).map_err(|e| e.to_string())?;
                let v: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| e.to_string())?;
                if let Some(s) = v["verdict"].as_str() {
                    verdicts.insert(s.to_string());
                }
            }
        }
        if !verdicts.contains("pass") && !NO_LAB_PASS.contains(&c.id.as_str()) {
            missing.push(format!("{}: no recorded pass", c.id));
        }
        if !verdicts.contains("fail")
            && !verdicts.contains("error")
            && !NO_LAB_FAILURE.contains(&c.id.as_str())
        {
            missing.push(format!("{}: no recorded fail or error", c.id));
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "re-record with tests/lab/record-fixtures.sh, or add a lab break:\n{}",
            missing.join("\n")
        )
        .into())
    }
}
