//! Checks of file types, modes and owners (stat(2)).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::context::Ctx;
use crate::probe::ProbeError;
use crate::probe::file::{FileFacts, FileKind, stat};
use crate::probe::postfix::map_references;
use crate::verdict::{Verdict, worst_of};

/// T14: which map files, and the group and mode they must have.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapFilesModeSpec {
    /// Map type whose files hold secrets, e.g. "mysql".
    pub map_type: String,
    /// File name pattern in the config directory, e.g. "mysql_*.cf".
    pub glob: String,
    pub group: String,
    /// Expected mode, octal string "0640". Stricter modes that keep group read pass too.
    pub mode: String,
}

/// One map file: its facts, or why they could not be read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MapFile {
    pub path: PathBuf,
    /// main.cf parameters that reference it (empty when found only by the glob).
    #[serde(default)]
    pub referenced_by: Vec<String>,
    #[serde(default)]
    pub facts: Option<FileFacts>,
    /// Set when the file could not be examined.
    #[serde(default)]
    pub problem: Option<String>,
    #[serde(default)]
    pub needs_root: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MapFilesObservation {
    pub config_dir: PathBuf,
    pub files: Vec<MapFile>,
}

/// Matches a file name against a pattern with one `*` (enough for "mysql_*.cf").
fn glob_match(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((pre, post)) => {
            name.len() >= pre.len() + post.len() && name.starts_with(pre) && name.ends_with(post)
        }
    }
}

pub async fn map_files_mode(spec: &MapFilesModeSpec, ctx: &Ctx) -> Verdict {
    let cfg = match ctx.postfix().await {
        Ok(c) => c,
        Err(e) => return Verdict::error(e.to_string()),
    };
    let mut files: Vec<MapFile> = Vec::new();
    for (param, setting) in &cfg.main.settings {
        let value = cfg.main.expand(&setting.value, 0);
        for (kind, path) in map_references(&value) {
            if kind != spec.map_type {
                continue;
            }
            match files.iter_mut().find(|f| f.path == path) {
                Some(f) => f.referenced_by.push(param.clone()),
                None => files.push(MapFile {
                    path,
                    referenced_by: vec![param.clone()],
                    facts: None,
                    problem: None,
                    needs_root: false,
                }),
            }
        }
    }
    if let Ok(dir) = std::fs::read_dir(&cfg.config_dir) {
        for e in dir.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if glob_match(&spec.glob, &name) && !files.iter().any(|f| f.path == path) {
                files.push(MapFile {
                    path,
                    referenced_by: Vec::new(),
                    facts: None,
                    problem: None,
                    needs_root: false,
                });
            }
        }
    }
    for f in &mut files {
        match stat(&f.path) {
            Ok(facts) => f.facts = Some(facts),
            Err(e) => {
                f.needs_root = matches!(e, ProbeError::PermissionDenied { .. });
                f.problem = Some(e.to_string());
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    judge_map_files_mode(
        spec,
        &MapFilesObservation {
            config_dir: cfg.config_dir.clone(),
            files,
        },
    )
}

pub fn judge_map_files_mode(spec: &MapFilesModeSpec, o: &MapFilesObservation) -> Verdict {
    let want = u32::from_str_radix(&spec.mode, 8).unwrap_or(0o640);
    let evidence = json!({ "files": o.files });
    if o.files.is_empty() {
        return Verdict::fail(format!(
            "no {}: map is referenced in main.cf and no {} exists in {}",
            spec.map_type,
            spec.glob,
            o.config_dir.display()
        ))
        .with_evidence(evidence);
    }
    let mut findings = Vec::new();
    for f in &o.files {
        let name = f.path.display();
        let Some(facts) = &f.facts else {
            let problem = f.problem.clone().unwrap_or_default();
            if f.needs_root {
                findings.push(Verdict::error(problem));
            } else if !f.referenced_by.is_empty() {
                // A missing referenced map is T13/T16's finding; here it only can't be judged.
                findings.push(Verdict::error(format!(
                    "{name} (from {}) cannot be examined: {problem}",
                    f.referenced_by.join(", ")
                )));
            }
            continue;
        };
        if facts.kind != FileKind::File {
            findings.push(Verdict::fail(format!("{name} is not a regular file")));
            continue;
        }
        let group = facts.group.clone().unwrap_or_else(|| facts.gid.to_string());
        let mut wrong = Vec::new();
        if group != spec.group {
            wrong.push(format!("group {group}, not {}", spec.group));
        }
        // Stricter than `want` is fine as long as the group can still read.
        let extra = facts.mode & !want;
        if extra != 0 {
            wrong.push(format!("mode {:04o}, not {:04o}", facts.mode, want));
        } else if facts.mode & 0o040 == 0 {
            wrong.push(format!(
                "mode {:04o}: group {} cannot read it",
                facts.mode, spec.group
            ));
        }
        if !wrong.is_empty() {
            let leak = if facts.mode & 0o004 != 0 {
                " (every local user can read the database password in it)"
            } else {
                ""
            };
            findings.push(
                Verdict::fail(format!("{name}: {}{leak}", wrong.join(", "))).with_fix(format!(
                    "chgrp {} {name} && chmod {} {name}",
                    spec.group, spec.mode
                )),
            );
        } else {
            findings.push(Verdict::pass(facts.describe()));
        }
    }
    let summary: Vec<String> = o
        .files
        .iter()
        .filter_map(|f| f.facts.as_ref())
        .map(|f| {
            format!(
                "{} {:04o} {}",
                f.path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                f.mode,
                f.group.clone().unwrap_or_default()
            )
        })
        .collect();
    let pass = format!(
        "{} {} map files are group {} and mode {} or stricter: {}",
        summary.len(),
        spec.map_type,
        spec.group,
        spec.mode,
        summary.join(", ")
    );
    worst_of(findings, &pass).with_evidence(evidence)
}
