//! T24: Postfix's user (main.cf mail_owner) is in group sasl, so the chrooted smtpd may open
//! saslauthd's socket (SASL_README, group(5)).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::users::{self, GroupFacts, UserFacts};
use crate::verdict::Verdict;

/// T24: the group Postfix's user must belong to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub group: String,
}

/// What T24 looks at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    /// main.cf's mail_owner (postfix).
    pub user_name: String,
    #[serde(default)]
    pub user: Option<UserFacts>,
    #[serde(default)]
    pub group: Option<GroupFacts>,
}

/// T24: the kind.
pub struct PostfixInSasl;

impl Kind for PostfixInSasl {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let user_name = cfg.get("mail_owner");
        Ok(Observation {
            user: users::user(&user_name),
            group: users::group(&spec.group),
            user_name,
        })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let (u, g) = (&o.user_name, &spec.group);
        let Some(group) = &o.group else {
            return Verdict::fail(format!(
                "group {g} does not exist (is sasl2-bin installed?)"
            ));
        };
        let Some(user) = &o.user else {
            return Verdict::fail(format!("user {u} (main.cf mail_owner) does not exist"));
        };
        if user.gid == group.gid {
            return Verdict::pass(format!("{g} is the primary group of {u}"));
        }
        if group.members.iter().any(|m| m == u) {
            return Verdict::pass(format!(
                "{u} is a member of group {g} (gid {}, members: {})",
                group.gid,
                group.members.join(", ")
            ));
        }
        let members = if group.members.is_empty() {
            "none".to_string()
        } else {
            group.members.join(", ")
        };
        Verdict::fail(format!(
            "user {u} is not in group {g} (gid {}, members: {members}): smtpd cannot open saslauthd's socket, and AUTH fails",
            group.gid
        ))
        .with_fix(format!("adduser {u} {g}, then restart Postfix so smtpd gets the group"))
    }
}
