//! T14: every lookup table main.cf and master.cf name can be read the way the Postfix process
//! that opens it reads it. virtual(8) opens virtual_mailbox_maps, virtual_uid_maps and
//! virtual_gid_maps after dropping privileges to mail_owner (virtual.c post_init), proxymap(8)
//! runs as mail_owner; smtpd, cleanup, trivial-rewrite and local open theirs as root before they
//! drop privileges. Indexed tables (hash:, lmdb:, ...) are read through their compiled file.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::judge::{AccessFinding, access_finding, refused_access};
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::access::{self, Access, AccessReport, Outcome};
use crate::probe::daemons::postfix::{is_cache, table_read, table_refs};
use crate::probe::postfix::{PostfixConfig, split_list};
use crate::verdict::{Verdict, worst_of};

/// T14: which parameters' tables are opened as mail_owner.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Parameters whose tables a daemon opens after dropping privileges to mail_owner.
    pub unprivileged: Vec<String>,
}

/// Who opens a table, and so whose access counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Opener {
    /// A daemon that has dropped privileges to mail_owner (virtual(8)).
    MailOwner,
    /// proxymap(8), which runs as mail_owner (`proxy:` tables).
    Proxymap,
    /// Daemons that open it as root before dropping privileges (smtpd, cleanup,
    /// trivial-rewrite, local).
    Root,
}

/// One table file and the walk to it as mail_owner.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TableAccess {
    /// `mysql:/etc/postfix/mysql_virtual_mailbox_maps.cf`.
    pub table: String,
    /// The file Postfix reads (`.db` for hash:).
    pub file: PathBuf,
    /// Where it is named: `virtual_mailbox_maps`, `submission/inet -o ...`.
    pub params: Vec<String>,
    pub opener: Opener,
    pub access: AccessReport,
}

/// What T14's access check looks at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub tables: Vec<TableAccess>,
}

/// Table references in `value` with whether they go through proxymap.
fn refs_with_proxy(value: &str) -> Vec<(String, PathBuf, bool)> {
    let mut out = Vec::new();
    for item in split_list(value) {
        let proxied = item.starts_with("proxy:") || item.starts_with("proxywrite:");
        for (kind, path) in table_refs(&item) {
            out.push((kind, path, proxied));
        }
    }
    out
}

/// Every table file: (table, file, param, opener).
fn tables(cfg: &PostfixConfig, spec: &Spec) -> Vec<(String, PathBuf, String, Opener)> {
    let mut named: Vec<(String, String)> = cfg
        .main
        .settings
        .keys()
        .filter(|n| !is_cache(n))
        .map(|n| (n.clone(), cfg.get(n)))
        .collect();
    for s in &cfg.master.services {
        for (name, value) in &s.overrides {
            if !is_cache(name) {
                named.push((
                    format!("{name} ({}/{} -o)", s.name, s.kind),
                    cfg.main.expand(value, 0),
                ));
            }
        }
    }
    let mut out = Vec::new();
    for (param, value) in named {
        let base = param.split(' ').next().unwrap_or(&param).to_string();
        for (kind, path, proxied) in refs_with_proxy(&value) {
            let file = match table_read(&kind).1 {
                Some(suffix) => {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    PathBuf::from(p)
                }
                None => path.clone(),
            };
            let opener = if proxied {
                Opener::Proxymap
            } else if spec.unprivileged.contains(&base) {
                Opener::MailOwner
            } else {
                Opener::Root
            };
            out.push((
                format!("{kind}:{}", path.display()),
                file,
                param.clone(),
                opener,
            ));
        }
    }
    out
}

/// T14: the kind.
pub struct MapsAccess;

impl Kind for MapsAccess {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let identity = facts.mail_owner().await.map_err(Unobserved::Failed)?;
        let mut merged: Vec<(String, PathBuf, Vec<String>, Opener)> = Vec::new();
        for (table, file, param, opener) in tables(&cfg, spec) {
            match merged.iter_mut().find(|m| m.1 == file) {
                Some(m) => {
                    if !m.2.contains(&param) {
                        m.2.push(param);
                    }
                    // The strictest opener decides: mail_owner's access is what counts.
                    if m.3 == Opener::Root {
                        m.3 = opener;
                    }
                }
                None => merged.push((table, file, vec![param], opener)),
            }
        }
        if merged.is_empty() {
            return Err(Unobserved::NotApplicable {
                reason: "main.cf and master.cf name no lookup table file".into(),
            });
        }
        let tables = tokio::task::spawn_blocking(move || {
            merged
                .into_iter()
                .map(|(table, file, params, opener)| TableAccess {
                    access: access::check(&identity, None, &file, Access::Read),
                    table,
                    file,
                    params,
                    opener,
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| Unobserved::Failed(format!("the access walk crashed: {e}")))?;
        Ok(Observation { tables })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let mut findings = Vec::new();
        let mut readable = 0;
        let mut absent = Vec::new();
        for t in &o.tables {
            let r = &t.access;
            let user = r
                .identity
                .user
                .clone()
                .unwrap_or_else(|| r.identity.uid.to_string());
            let params = t.params.join(", ");
            if matches!(r.outcome, Outcome::NotFound { .. }) {
                // A missing table is postfix.config-sane's and postfix.mysql-map-files' failure.
                absent.push(format!("{} ({params})", t.file.display()));
                continue;
            }
            match access_finding(r) {
                AccessFinding::Granted => readable += 1,
                AccessFinding::Refused(why) => match t.opener {
                    Opener::MailOwner | Opener::Proxymap => {
                        let who = if t.opener == Opener::Proxymap {
                            "proxymap(8), which runs as".to_string()
                        } else {
                            "virtual(8), which opens it after dropping privileges to".to_string()
                        };
                        findings.push(refused_access(
                            r,
                            format!(
                                "{} ({params}) cannot be read by {who} {user}: {why}; its lookups fail and deliveries are deferred (\"mail system configuration error\")",
                                t.file.display()
                            ),
                        ));
                    }
                    Opener::Root => findings.push(Verdict::warn(format!(
                        "{} ({params}) cannot be read by {user}: {why}; the daemons that use it open it as root before dropping privileges, so it works, but not through proxy: or `postmap -q` as {user}",
                        t.file.display()
                    ))),
                },
                AccessFinding::Unknown(why) => findings.push(Verdict::error(format!(
                    "{}: {why}",
                    t.file.display()
                ))),
            }
        }
        let user = o
            .tables
            .first()
            .map(|t| t.access.identity.describe())
            .unwrap_or_default();
        let mut pass =
            format!("{user} can read all {readable} lookup table files main.cf and master.cf name");
        if !absent.is_empty() {
            pass.push_str(&format!(
                "; not there, so not walked (postfix.config-sane reports them): {}",
                absent.join(", ")
            ));
        }
        worst_of(findings, &pass)
    }
}
