//! T30: one deliberately wrong password is refused with 535

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::session::{LoginSession, Purpose};
use crate::verdict::Verdict;

/// T30: one deliberately wrong password.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub session: LoginSession,
}

/// T30: the kind.
pub struct WrongPasswordRefused;

impl Kind for WrongPasswordRefused {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        match facts.login_session(Purpose::WrongPassword).await {
            Some(s) => Ok(Observation {
                session: (*s).clone(),
            }),
            None => Err(Unobserved::NotApplicable {
                reason: "needs --account".into(),
            }),
        }
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let a = &o.session;
        let (addr, user) = (&a.addr, &a.user);
        let m = a.mechanism.clone().unwrap_or_default();

        match (&a.setup_failure, &a.auth) {
            (Some(f), _) => Verdict::error(format!(
                "could not get to AUTH on {addr}: {}",
                f.describe()
            )),
            (None, None) => Verdict::error(format!("AUTH was not sent on {addr}")),
            (None, Some(step)) => match step.code() {
                Some(535) => Verdict::pass(format!(
                    "a wrong password for {user} is refused on {addr}: {} (one attempt per run)",
                    step.describe()
                )),
                Some(c) if (200..300).contains(&c) => Verdict::fail(format!(
                    "{addr} ACCEPTS a wrong password for {user}: AUTH {m} answered `{}`",
                    step.describe()
                ))
                .with_fix("pam_mysql must compare the password hash: crypt=1 in /etc/pam.d/smtp, and the mailbox password column must hold md5-crypt hashes; check saslauthd's options (no -a rimap/shadow leftovers)"),
                Some(c) if (500..600).contains(&c) => Verdict::warn(format!(
                    "a wrong password for {user} is refused on {addr}, but with `{}`, not 535",
                    step.describe()
                )),
                Some(_) => Verdict::error(format!(
                    "AUTH {m} with a wrong password on {addr}: `{}`: cannot tell",
                    step.describe()
                )),
                None => Verdict::error(format!("AUTH {m} on {addr}: {}", step.describe())),
            },
        }
    }
}
