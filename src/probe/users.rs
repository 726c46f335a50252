//! Users and groups as the system resolves them (getpwnam(3), getgrnam(3); passwd(5), group(5)).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use uzers::os::unix::{GroupExt, UserExt};

/// One user account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UserFacts {
    pub name: String,
    pub uid: u32,
    /// Primary group id, and its name when it resolves.
    pub gid: u32,
    #[serde(default)]
    pub group: Option<String>,
    pub home: PathBuf,
    pub shell: PathBuf,
}

/// One group, with its supplementary members as listed in the group database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GroupFacts {
    pub name: String,
    pub gid: u32,
    #[serde(default)]
    pub members: Vec<String>,
}

fn user_facts(u: &uzers::User) -> UserFacts {
    let gid = u.primary_group_id();
    UserFacts {
        name: u.name().to_string_lossy().into_owned(),
        uid: u.uid(),
        gid,
        group: super::file::group_name(gid),
        home: u.home_dir().to_path_buf(),
        shell: u.shell().to_path_buf(),
    }
}

/// The user called `name`, if there is one.
pub fn user(name: &str) -> Option<UserFacts> {
    uzers::get_user_by_name(name).map(|u| user_facts(&u))
}

/// The user with `uid`, if there is one.
pub fn user_by_uid(uid: u32) -> Option<UserFacts> {
    uzers::get_user_by_uid(uid).map(|u| user_facts(&u))
}

fn group_facts(g: &uzers::Group) -> GroupFacts {
    GroupFacts {
        name: g.name().to_string_lossy().into_owned(),
        gid: g.gid(),
        members: g
            .members()
            .iter()
            .map(|m| m.to_string_lossy().into_owned())
            .collect(),
    }
}

/// The group called `name`, if there is one.
pub fn group(name: &str) -> Option<GroupFacts> {
    uzers::get_group_by_name(name).map(|g| group_facts(&g))
}

/// The group with `gid`, if there is one.
pub fn group_by_gid(gid: u32) -> Option<GroupFacts> {
    uzers::get_group_by_gid(gid).map(|g| group_facts(&g))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_resolves() {
        let r = user("root").expect("root exists");
        assert_eq!(r.uid, 0);
        assert_eq!(user_by_uid(0).map(|u| u.name).as_deref(), Some("root"));
        assert_eq!(group_by_gid(0).map(|g| g.name).as_deref(), Some("root"));
        assert!(user("no-such-user-mailcheck").is_none());
    }
}
