//! T14: the map files that hold the database password (mysql_table(5)) are group postfix and
//! mode 0640 or stricter, so smtpd and cleanup can read them and other local users cannot.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::judge::mode_problems_noting;
use crate::checks::kind::{Kind, Unobserved};
use crate::checks::values::Mode;
use crate::facts::Facts;
use crate::probe::ProbeError;
use crate::probe::file::{FileFacts, FileKind, stat};
use crate::probe::postfix::map_references;
use crate::verdict::{Verdict, worst_of};

/// T14: which map files, and the group and mode they must have.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Map type whose files hold secrets, e.g. "mysql".
    pub map_type: String,
    /// File name pattern in the config directory, e.g. "mysql_*.cf".
    pub glob: String,
    pub group: String,
    /// Expected mode, e.g. "0640". Stricter modes that keep group read pass too.
    pub mode: Mode,
}

/// One map file: its facts, or why they could not be read.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
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

/// What T14 looks at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
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

/// T14: the kind.
pub struct MysqlMapsPerms;

impl Kind for MysqlMapsPerms {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
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
        Ok(Observation {
            config_dir: cfg.config_dir.clone(),
            files,
        })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        if o.files.is_empty() {
            return Verdict::fail(format!(
                "no {}: map is referenced in main.cf and no {} exists in {}",
                spec.map_type,
                spec.glob,
                o.config_dir.display()
            ));
        }
        let mut absent: Vec<String> = Vec::new();
        let mut findings = Vec::new();
        for f in &o.files {
            let name = f.path.display();
            let Some(facts) = &f.facts else {
                let problem = f.problem.clone().unwrap_or_default();
                if f.needs_root {
                    findings.push(Verdict::error(problem));
                } else if !f.referenced_by.is_empty() {
                    // A missing referenced map is T13/T16's failure, not a mode problem and not
                    // mailcheck's: it is only mentioned here.
                    absent.push(format!(
                        "{name} (named in {}) does not exist: see postfix.mysql-map-files",
                        f.referenced_by.join(", ")
                    ));
                }
                continue;
            };
            if facts.kind != FileKind::File {
                findings.push(Verdict::fail(format!("{name} is not a regular file")));
                continue;
            }
            let wrong = mode_problems_noting(
                facts,
                &spec.group,
                spec.mode,
                " (every local user can read the database password in it)",
            );
            if !wrong.is_empty() {
                findings.push(
                    Verdict::fail(format!("{name}: {}", wrong.join(", "))).with_fix(format!(
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
        let mut pass = format!(
            "{} {} map files are group {} and mode {} or stricter: {}",
            summary.len(),
            spec.map_type,
            spec.group,
            spec.mode,
            summary.join(", ")
        );
        for a in &absent {
            pass.push_str("; ");
            pass.push_str(a);
        }
        worst_of(findings, &pass)
    }
}
