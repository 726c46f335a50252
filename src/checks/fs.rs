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
    worst_of(findings, &pass).with_evidence(evidence)
}

// ---------------------------------------------------------------------------------------------
// T9: /home/vmail and the domain and mailbox directories below it

/// T9: how deep to look and how many entries at most.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmailTreeSpec {
    /// 1 = domains, 2 = mailboxes, 3 = their cur/new/tmp.
    pub max_depth: usize,
    pub max_entries: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VmailTreeObservation {
    /// settings.vmail_home.
    pub root: PathBuf,
    /// The settings' ids (the tutorial's 5000:5000) and names.
    pub expected_uid: u32,
    pub expected_gid: u32,
    pub user: String,
    pub group: String,
    /// The ids the vmail user and group really have (`None`: they do not exist).
    #[serde(default)]
    pub user_uid: Option<u32>,
    #[serde(default)]
    pub group_gid: Option<u32>,
    /// stat of the root, or why not.
    #[serde(default)]
    pub root_facts: Option<FileFacts>,
    #[serde(default)]
    pub root_problem: Option<String>,
    #[serde(default)]
    pub root_missing: bool,
    #[serde(default)]
    pub tree: crate::probe::tree::DirTree,
}

pub async fn vmail_tree(spec: &VmailTreeSpec, ctx: &Ctx) -> Verdict {
    let s = &ctx.settings;
    let root = s.vmail_home.clone();
    let (max_depth, max_entries) = (spec.max_depth, spec.max_entries);
    let mut o = VmailTreeObservation {
        root: root.clone(),
        expected_uid: s.vmail_uid,
        expected_gid: s.vmail_gid,
        user: s.vmail_user.clone(),
        group: s.vmail_group.clone(),
        user_uid: crate::probe::users::user(&s.vmail_user).map(|u| u.uid),
        group_gid: crate::probe::users::group(&s.vmail_group).map(|g| g.gid),
        root_facts: None,
        root_problem: None,
        root_missing: false,
        tree: Default::default(),
    };
    match stat(&root) {
        Ok(f) => o.root_facts = Some(f),
        Err(e) => {
            o.root_missing = matches!(e, ProbeError::NotFound { .. });
            o.root_problem = Some(e.to_string());
        }
    }
    if o.root_facts
        .as_ref()
        .is_some_and(|f| f.kind == FileKind::Dir)
    {
        let walk_root = root.clone();
        match tokio::task::spawn_blocking(move || {
            crate::probe::tree::dir_owners(&walk_root, max_depth, max_entries)
        })
        .await
        {
            Ok(t) => o.tree = t,
            Err(e) => {
                return Verdict::error(format!("the walk of {} crashed: {e}", root.display()));
            }
        }
    }
    judge_vmail_tree(spec, &o)
}

pub fn judge_vmail_tree(spec: &VmailTreeSpec, o: &VmailTreeObservation) -> Verdict {
    let root = o.root.display();
    let (uid, gid) = (o.expected_uid, o.expected_gid);
    let who = format!("{}:{} ({uid}:{gid})", o.user, o.group);
    let wrong: Vec<&crate::probe::tree::DirOwner> = o
        .tree
        .dirs
        .iter()
        .filter(|d| d.uid != uid || d.gid != gid)
        .collect();
    let evidence = json!({
        "root": o.root_facts, "root_problem": o.root_problem,
        "expected": format!("{uid}:{gid}"), "vmail_ids": [o.user_uid, o.group_gid],
        "examined": o.tree.examined, "directories": o.tree.dirs.len(), "truncated": o.tree.truncated,
        "wrong_owner": wrong.iter().take(100).collect::<Vec<_>>(),
        "unreadable": o.tree.unreadable.iter().take(20).collect::<Vec<_>>(),
    });
    let Some(facts) = &o.root_facts else {
        if o.root_missing {
            return Verdict::fail(format!(
                "{root} does not exist: Postfix cannot deliver to the virtual mailboxes"
            ))
            .with_fix(format!("mkdir {root} && chown {uid}:{gid} {root}"))
            .with_evidence(evidence);
        }
        return Verdict::error(o.root_problem.clone().unwrap_or_default()).with_evidence(evidence);
    };
    if facts.kind != FileKind::Dir {
        return Verdict::fail(format!("{root} is a {:?}, not a directory", facts.kind))
            .with_evidence(evidence);
    }
    let mut findings = Vec::new();
    // The settings' ids are what Postfix delivers as (virtual_uid_maps); a vmail user with
    // other ids means the tree cannot be both vmail's and theirs.
    match (o.user_uid, o.group_gid) {
        (None, _) => findings.push(Verdict::fail(format!(
            "user {} does not exist, so nothing can be owned by it (see system.vmail-user)",
            o.user
        ))),
        (Some(u), _) if u != uid => findings.push(Verdict::fail(format!(
            "user {} has uid {u}, not {uid}: mail is stored as {uid}, which is not {} (see system.vmail-user)",
            o.user, o.user
        ))),
        (_, None) => findings.push(Verdict::fail(format!(
            "group {} does not exist (see system.vmail-user)",
            o.group
        ))),
        (_, Some(g)) if g != gid => findings.push(Verdict::fail(format!(
            "group {} has gid {g}, not {gid} (see system.vmail-user)",
            o.group
        ))),
        _ => {}
    }
    let owner_of = |u: u32, g: u32, on: &Option<String>, gn: &Option<String>| {
        format!(
            "{}:{}",
            on.clone().unwrap_or_else(|| u.to_string()),
            gn.clone().unwrap_or_else(|| g.to_string())
        )
    };
    if facts.uid != uid || facts.gid != gid {
        findings.push(
            Verdict::fail(format!(
                "{root} is owned by {}, not {who}",
                owner_of(facts.uid, facts.gid, &facts.owner, &facts.group)
            ))
            .with_fix(format!("chown {uid}:{gid} {root}")),
        );
    }
    if !wrong.is_empty() {
        let shown: Vec<String> = wrong
            .iter()
            .take(10)
            .map(|d| {
                format!(
                    "{} ({})",
                    d.path.display(),
                    owner_of(d.uid, d.gid, &d.owner, &d.group)
                )
            })
            .collect();
        let more = if wrong.len() > 10 {
            format!(" and {} more", wrong.len() - 10)
        } else {
            String::new()
        };
        findings.push(
            Verdict::fail(format!(
                "{} {} below {root} {} not owned by {who}: {}{more}",
                wrong.len(),
                if wrong.len() == 1 {
                    "directory"
                } else {
                    "directories"
                },
                if wrong.len() == 1 { "is" } else { "are" },
                shown.join(", ")
            ))
            .with_fix(format!("chown -R {uid}:{gid} {root}")),
        );
    }
    if !o.tree.unreadable.is_empty() {
        let shown: Vec<&str> = o
            .tree
            .unreadable
            .iter()
            .take(3)
            .map(|u| u.message.as_str())
            .collect();
        let more = if o.tree.unreadable.len() > 3 {
            format!(" (and {} more)", o.tree.unreadable.len() - 3)
        } else {
            String::new()
        };
        let error = Verdict::error(format!("{}{more}", shown.join("; ")));
        findings.push(if o.tree.unreadable.iter().any(|u| u.needs_root) {
            error.with_fix(crate::checks::sasl::AS_ROOT)
        } else {
            error
        });
    }
    if o.tree.truncated {
        findings.push(Verdict::warn(format!(
            "stopped after {} entries below {root} (max_entries = {}): the rest were not examined",
            o.tree.examined, spec.max_entries
        )));
    }
    let count = |depth: usize| o.tree.dirs.iter().filter(|d| d.depth == depth).count();
    let pass = format!(
        "{root} and the {} domain, {} mailbox and {} Maildir directories below it are owned by {who}",
        count(1),
        count(2),
        count(3)
    );
    worst_of(findings, &pass).with_evidence(evidence)
}
