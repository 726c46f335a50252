//! The layering the style guide asks for, read from the source: which top-level module of
//! `src/` names which other one (`crate::x`, `super::` paths resolved), no module cycles,
//! and the forbidden edges (probes observe and know nothing of facts, checks, the runner or
//! reports; checks never reach the runner, the run or reports; reports never reach probes or
//! checks).

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module of a file under src/ (`src/probe/smtp/client.rs` -> `probe`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel
        .components()
        .next()?
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    let name = first.trim_end_matches(".rs").to_string();
    (name != "lib" && name != "main").then_some(name)
}

/// Every `crate::NAME` a file mentions (comments and strings left out roughly: `//` lines).
fn crate_refs(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
            rest = after;
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in walkdir::WalkDir::new(&src).into_iter().flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let Some(m) = module_of(&src, p) else {
            continue;
        };
        let text = std::fs::read_to_string(p).unwrap();
        let refs = crate_refs(&text);
        let entry = g.entry(m.clone()).or_default();
        for r in refs {
            if r != m {
                entry.insert(r);
            }
        }
    }
    g
}

#[test]
fn forbidden_edges_are_absent() {
    let g = graph();
    let forbidden: &[(&str, &[&str])] = &[
        (
            "probe",
            &[
                "facts",
                "checks",
                "runner",
                "report",
                "run",
                "verdict",
                "catalogue",
                "context",
            ],
        ),
        ("checks", &["runner", "report", "run", "catalogue"]),
        ("report", &["probe", "checks", "facts"]),
        ("facts", &["checks", "runner", "report", "run", "catalogue"]),
        (
            "verdict",
            &["probe", "checks", "facts", "runner", "report", "run"],
        ),
    ];
    let mut bad = Vec::new();
    for (from, tos) in forbidden {
        for to in *tos {
            if g.get(*from).is_some_and(|s| s.contains(*to)) {
                bad.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(bad.is_empty(), "forbidden imports: {bad:?}\ngraph: {g:#?}");
}

#[test]
fn top_level_modules_form_no_cycle() {
    let g = graph();
    // Depth-first search with colours; report the first cycle found.
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let i = stack.iter().position(|x| x == n).unwrap_or(0);
                let mut c = stack[i..].to_vec();
                c.push(n.to_string());
                return Some(c);
            }
            _ => {}
        }
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, g, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if let Some(c) = visit(n, &g, &mut state, &mut Vec::new()) {
            panic!("module cycle: {}", c.join(" -> "));
        }
    }
}

#[test]
fn the_reader_sees_real_imports() {
    // The test above would pass vacuously if the reader found nothing.
    let g = graph();
    assert!(g["checks"].contains("facts"), "{g:#?}");
    assert!(g["runner"].contains("checks"), "{g:#?}");
    let refs =
        crate_refs("use crate::probe::x; // crate::report\nlet a = crate::verdict::Status::Pass;");
    assert_eq!(
        refs,
        ["probe", "verdict"].iter().map(|s| s.to_string()).collect()
    );
}
