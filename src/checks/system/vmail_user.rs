//! T8: the virtual mail user and group exist with the tutorial's ids (vmail, 5000:5000), home
//! /home/vmail and a shell that refuses logins (passwd(5), group(5)).

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::users::{self, GroupFacts, UserFacts};
use crate::verdict::{Verdict, worst_of};

/// T8: the shells that refuse a login.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub nologin_shells: Vec<String>,
}

/// The user the settings expect (the tutorial's vmail, 5000:5000, /home/vmail).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ExpectedVmail {
    pub user: String,
    pub group: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

/// What T8 looks at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub expected: ExpectedVmail,
    #[serde(default)]
    pub user: Option<UserFacts>,
    #[serde(default)]
    pub group: Option<GroupFacts>,
    /// The user that holds the expected uid, when it is not the vmail user.
    #[serde(default)]
    pub uid_holder: Option<String>,
    /// The group that holds the expected gid, when it is not the vmail group.
    #[serde(default)]
    pub gid_holder: Option<String>,
}

/// T8: the kind.
pub struct VmailUser;

impl Kind for VmailUser {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let s = &facts.settings;
        let expected = ExpectedVmail {
            user: s.vmail_user.clone(),
            group: s.vmail_group.clone(),
            uid: s.vmail_uid,
            gid: s.vmail_gid,
            home: s.vmail_home.clone(),
        };
        let uid_holder = users::user_by_uid(s.vmail_uid)
            .map(|u| u.name)
            .filter(|n| *n != s.vmail_user);
        let gid_holder = users::group_by_gid(s.vmail_gid)
            .map(|g| g.name)
            .filter(|n| *n != s.vmail_group);
        Ok(Observation {
            user: users::user(&s.vmail_user),
            group: users::group(&s.vmail_group),
            expected,
            uid_holder,
            gid_holder,
        })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let e = &o.expected;
        let create = format!(
            "groupadd -g {} {} && useradd -s /usr/sbin/nologin -g {} -u {} {} -d {} -m",
            e.gid,
            e.group,
            e.group,
            e.uid,
            e.user,
            e.home.display()
        );
        let mut findings = Vec::new();
        match &o.group {
            None => findings.push(
                Verdict::fail(format!("group {} does not exist", e.group)).with_fix(create.clone()),
            ),
            Some(g) if g.gid != e.gid => {
                let holder = o
                    .gid_holder
                    .as_ref()
                    .map(|h| format!(" (gid {} belongs to group {h})", e.gid))
                    .unwrap_or_default();
                findings.push(
                    Verdict::fail(format!(
                        "group {} has gid {}, not {}{holder}",
                        e.group, g.gid, e.gid
                    ))
                    .with_fix(format!("groupmod -g {} {}", e.gid, e.group)),
                );
            }
            Some(_) => {}
        }
        let Some(u) = &o.user else {
            findings.push(
                Verdict::fail(format!("user {} does not exist", e.user)).with_fix(create.clone()),
            );
            return worst_of(findings, "");
        };
        if u.uid != e.uid {
            let holder = o
                .uid_holder
                .as_ref()
                .map(|h| format!(" (uid {} belongs to {h})", e.uid))
                .unwrap_or_default();
            findings.push(
                Verdict::fail(format!(
                    "user {} has uid {}, not {}{holder}",
                    e.user, u.uid, e.uid
                ))
                .with_fix(format!("usermod -u {} {}", e.uid, e.user)),
            );
        }
        let primary_ok = o.group.as_ref().is_some_and(|g| g.gid == u.gid) && u.gid == e.gid;
        if !primary_ok {
            let name = u.group.clone().unwrap_or_else(|| u.gid.to_string());
            findings.push(
                Verdict::fail(format!(
                    "user {}'s primary group is {name} (gid {}), not {} ({})",
                    e.user, u.gid, e.group, e.gid
                ))
                .with_fix(format!("usermod -g {} {}", e.group, e.user)),
            );
        }
        if u.home != e.home {
            findings.push(
                Verdict::fail(format!(
                    "user {}'s home is {}, not {}",
                    e.user,
                    u.home.display(),
                    e.home.display()
                ))
                .with_fix(format!("usermod -d {} {}", e.home.display(), e.user)),
            );
        }
        let shell = u.shell.display().to_string();
        if !spec.nologin_shells.contains(&shell) {
            let what = if shell.is_empty() {
                "an empty shell (which means /bin/sh)".to_string()
            } else {
                format!("shell {shell}")
            };
            findings.push(
                Verdict::fail(format!(
                    "user {} can log in: it has {what}, not one of {}",
                    e.user,
                    spec.nologin_shells.join(", ")
                ))
                .with_fix(format!("usermod -s /usr/sbin/nologin {}", e.user)),
            );
        }
        let pass = format!(
            "user {} is {}:{} ({}), home {}, shell {shell}",
            e.user,
            u.uid,
            u.gid,
            e.group,
            u.home.display()
        );
        worst_of(findings, &pass)
    }
}
