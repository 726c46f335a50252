//! T9: virtual(8) can create files in every Maildir under virtual_mailbox_base, as the uid and
//! gid virtual_uid_maps/virtual_gid_maps give it (it delivers with set_eugid(uid, gid): no
//! other group), component by component (path_resolution(7)); the account's Maildir first.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::judge::{AccessFinding, access_finding, refused_access};
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::access::{self, Access, AccessReport, Identity};
use crate::probe::postfix::{StaticId, static_id};
use crate::verdict::{Verdict, worst_of};

/// T9: how far the sweep of other mailboxes goes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// At most this many mailbox directories are walked besides the account's.
    pub max_mailboxes: usize,
}

/// One directory virtual(8) must create files in, and the walk.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Target {
    pub path: PathBuf,
    /// Why it matters: "the account's Maildir", "mailbox example.com/bob", "new mailboxes of
    /// example.com".
    pub why: String,
    pub access: AccessReport,
}

/// What T9's access check looks at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub base: PathBuf,
    pub identity: Identity,
    /// Where the uid/gid came from (`virtual_uid_maps = static:5000`, or the default).
    pub ids_from: String,
    #[serde(default)]
    pub account: Option<String>,
    /// Why the account's Maildir is not known.
    #[serde(default)]
    pub account_problem: Option<String>,
    /// The account's targets, then every refused target of the sweep.
    pub targets: Vec<Target>,
    /// Targets of the sweep that were granted (not listed).
    pub granted_elsewhere: usize,
    #[serde(default)]
    pub sweep_truncated: bool,
}

/// The directories delivery to the Maildir `dir` creates files in: `tmp` and `new`, or, when
/// they are missing, the nearest existing directory (virtual(8) makes the rest).
fn delivery_dirs(dir: &Path, base: &Path) -> Vec<PathBuf> {
    let want = [dir.join("tmp"), dir.join("new")];
    if want.iter().all(|d| d.is_dir()) {
        return want.to_vec();
    }
    let mut p = dir.to_path_buf();
    while !p.is_dir() && p.starts_with(base) && p != base {
        if !p.pop() {
            break;
        }
    }
    vec![p]
}

/// Subdirectories of `dir` (not hidden, not followed), sorted.
fn subdirs(dir: &Path, limit: usize) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .flatten()
        .take(100_000)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    out.sort();
    out.truncate(limit);
    out
}

/// T9: the kind.
pub struct MaildirAccess;

impl Kind for MaildirAccess {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let base = cfg.get("virtual_mailbox_base");
        if base.trim().is_empty() {
            return Err(Unobserved::NotApplicable {
                reason: "virtual_mailbox_base is not set: no virtual Maildirs (see T15)".into(),
            });
        }
        let base = PathBuf::from(base.trim());
        let mut from = Vec::new();
        let mut id = |param: &str, default: u32| match static_id(&cfg.get(param)) {
            StaticId::Id(n) => {
                from.push(format!("{param} = static:{n}"));
                n
            }
            _ => {
                from.push(format!("{param} is not static: (default {default})"));
                default
            }
        };
        let uid = id("virtual_uid_maps", facts.settings.vmail_uid);
        let gid = id("virtual_gid_maps", facts.settings.vmail_gid);
        let identity = Identity::from_ids(uid, gid, &[gid]).with_names();
        let (account_dir, account_problem) = match (&facts.account, facts.account_maildir().await) {
            (None, _) => (None, None),
            (Some(_), Ok(m)) => (Some(m.path), None),
            (Some(_), Err(e)) => (None, Some(e)),
        };
        let account = facts.account.as_ref().map(|a| a.address.clone());
        let max = spec.max_mailboxes;
        let ids_from = from.join(", ");
        tokio::task::spawn_blocking(move || {
            let mut targets = Vec::new();
            let walk = |p: &Path| access::check(&identity, None, p, Access::CreateIn);
            if let Some(dir) = &account_dir {
                for d in delivery_dirs(dir, &base) {
                    targets.push(Target {
                        access: walk(&d),
                        why: format!("the Maildir of {}", account.clone().unwrap_or_default()),
                        path: d,
                    });
                }
            }
            let mut granted_elsewhere = 0;
            let mut seen = 0;
            let mut truncated = false;
            let mut add = |path: PathBuf, why: String, targets: &mut Vec<Target>| {
                let access = walk(&path);
                if access.granted() {
                    granted_elsewhere += 1;
                } else {
                    targets.push(Target { path, why, access });
                }
            };
            for domain in subdirs(&base, max) {
                let dname = domain
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                add(
                    domain.clone(),
                    format!("new mailboxes of {dname}"),
                    &mut targets,
                );
                for mailbox in subdirs(&domain, max) {
                    if account_dir.as_deref() == Some(mailbox.as_path()) {
                        continue;
                    }
                    seen += 1;
                    if seen > max {
                        truncated = true;
                        break;
                    }
                    let mname = mailbox
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    for d in delivery_dirs(&mailbox, &base) {
                        add(d, format!("mailbox {dname}/{mname}"), &mut targets);
                    }
                }
            }
            Observation {
                base,
                identity: identity.clone(),
                ids_from,
                account,
                account_problem,
                targets,
                granted_elsewhere,
                sweep_truncated: truncated,
            }
        })
        .await
        .map_err(|e| Unobserved::Failed(format!("the access walk crashed: {e}")))
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let who = o.identity.describe();
        let mut findings = Vec::new();
        let mut ok = Vec::new();
        for t in &o.targets {
            match access_finding(&t.access) {
                AccessFinding::Granted => ok.push(t.path.display().to_string()),
                AccessFinding::Refused(why) => {
                    let effect = if t.why.starts_with("new mailboxes") {
                        "the first delivery to a new mailbox there is deferred"
                    } else {
                        "deliveries to it are deferred (Permission denied)"
                    };
                    findings.push(refused_access(
                        &t.access,
                        format!(
                            "virtual(8) delivers as {who} and cannot create files in {} ({}): {why}; {effect}",
                            t.path.display(),
                            t.why
                        ),
                    ));
                }
                AccessFinding::Unknown(why) => findings.push(Verdict::error(format!(
                    "{} ({}): {why}",
                    t.path.display(),
                    t.why
                ))),
            }
        }
        if let Some(p) = &o.account_problem {
            findings.push(Verdict::error(format!(
                "cannot find the account's Maildir: {p}"
            )));
        }
        let mut pass = format!("{who}, from {}, can deliver", o.ids_from);
        if !ok.is_empty() {
            pass.push_str(&format!(" into {}", ok.join(" and ")));
        }
        pass.push_str(&format!(
            "; {} other directories under {} allow it",
            o.granted_elsewhere,
            o.base.display()
        ));
        if o.sweep_truncated {
            pass.push_str(" (the sweep stopped at its limit)");
        }
        worst_of(findings, &pass)
    }
}
