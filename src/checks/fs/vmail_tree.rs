//! T9: /home/vmail and the domain, mailbox and Maildir directories below it are owned by the
//! vmail ids that virtual(8) delivers as (virtual_uid_maps, virtual_gid_maps).

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{AS_ROOT, Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::ProbeError;
use crate::probe::file::{FileFacts, FileKind, stat};
use crate::probe::tree::{DirOwner, DirTree, dir_owners};
use crate::probe::users;
use crate::verdict::{Verdict, worst_of};

/// T9: how deep to look and how many entries at most.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// 1 = domains, 2 = mailboxes, 3 = their cur/new/tmp.
    pub max_depth: usize,
    pub max_entries: usize,
}

/// What T9 looks at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
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
    pub tree: DirTree,
}

/// T9: the kind.
pub struct VmailTree;

impl Kind for VmailTree {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let s = &facts.settings;
        let root = s.vmail_home.clone();
        let (max_depth, max_entries) = (spec.max_depth, spec.max_entries);
        let mut o = Observation {
            root: root.clone(),
            expected_uid: s.vmail_uid,
            expected_gid: s.vmail_gid,
            user: s.vmail_user.clone(),
            group: s.vmail_group.clone(),
            user_uid: users::user(&s.vmail_user).map(|u| u.uid),
            group_gid: users::group(&s.vmail_group).map(|g| g.gid),
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
            o.tree =
                tokio::task::spawn_blocking(move || dir_owners(&walk_root, max_depth, max_entries))
                    .await
                    .map_err(|e| {
                        Unobserved::Failed(format!("the walk of {} crashed: {e}", root.display()))
                    })?;
        }
        Ok(o)
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let root = o.root.display();
        let (uid, gid) = (o.expected_uid, o.expected_gid);
        let who = format!("{}:{} ({uid}:{gid})", o.user, o.group);
        let wrong: Vec<&DirOwner> = o
            .tree
            .dirs
            .iter()
            .filter(|d| d.uid != uid || d.gid != gid)
            .collect();
        let Some(facts) = &o.root_facts else {
            if o.root_missing {
                return Verdict::fail(format!(
                    "{root} does not exist: Postfix cannot deliver to the virtual mailboxes"
                ))
                .with_fix(format!("mkdir {root} && chown {uid}:{gid} {root}"));
            }
            return Verdict::error(o.root_problem.clone().unwrap_or_default());
        };
        if facts.kind != FileKind::Dir {
            return Verdict::fail(format!("{root} is a {:?}, not a directory", facts.kind));
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
                error.with_fix(AS_ROOT)
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
        worst_of(findings, &pass)
    }
}
