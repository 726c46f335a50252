//! T31: an authenticated client may send to a foreign domain (RCPT only, never DATA)

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::session;
use crate::probe::session::{LoginSession, Purpose, Step};
use crate::verdict::Verdict;

/// T31, authenticated: no parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub session: LoginSession,
}

/// T31: the kind.
pub struct AuthenticatedAccepted;

impl Kind for AuthenticatedAccepted {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        match facts.login_session(Purpose::PlainAndRelay).await {
            Some(s) => Ok(Observation {
                session: (*s).clone(),
            }),
            None => Err(Unobserved::NotApplicable {
                reason: "needs --account and its password".into(),
            }),
        }
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let a = &o.session;
        let addr = &a.addr;
        let m = a.mechanism.clone().unwrap_or_default();
        let rcpt = if a.foreign_recipient.is_empty() {
            session::RELAY_RECIPIENT.to_string()
        } else {
            a.foreign_recipient.clone()
        };

        if let Some(f) = &a.setup_failure {
            Verdict::error(format!("could not get to AUTH on {addr}: {}", f.describe()))
        } else if a.auth.as_ref().and_then(Step::code) != Some(235) {
            Verdict::error(format!(
                "cannot test: {} could not log in on {addr} ({}; see auth.login-works)",
                a.user,
                a.auth
                    .as_ref()
                    .map(Step::describe)
                    .unwrap_or_else(|| "no AUTH".into())
            ))
        } else if !a.mail.as_ref().is_some_and(Step::is_positive) {
            Verdict::error(format!(
                "cannot test: after AUTH, MAIL FROM:<{}> got `{}`",
                a.sender,
                a.mail.as_ref().map(Step::describe).unwrap_or_default()
            ))
        } else {
            match &a.rcpt_foreign {
                Some(st) if st.is_positive() => Verdict::pass(format!(
                    "after AUTH {m} on {addr}, RCPT TO:<{rcpt}> is accepted (`{}`); stopped there (RSET, no DATA)",
                    st.describe()
                )),
                Some(st) if st.is_permanent() => Verdict::fail(format!(
                    "after AUTH {m} on {addr}, RCPT TO:<{rcpt}> is refused: `{}`: logged-in users cannot send to other domains",
                    st.describe()
                ))
                .with_fix("put permit_sasl_authenticated before reject_unauth_destination in smtpd_recipient_restrictions (and smtpd_relay_restrictions), then `postfix reload`"),
                Some(st) if st.is_transient() && st.describe().contains("Relay access denied") => {
                    Verdict::fail(format!(
                        "after AUTH {m} on {addr}, RCPT TO:<{rcpt}> is deferred as relaying: `{}`: logged-in users cannot send to other domains",
                        st.describe()
                    ))
                    .with_fix("put permit_sasl_authenticated before defer_unauth_destination/reject_unauth_destination in smtpd_relay_restrictions and smtpd_recipient_restrictions, then `postfix reload`")
                }
                Some(st) if st.is_transient() => Verdict::error(format!(
                    "after AUTH {m} on {addr}, RCPT TO:<{rcpt}> got a temporary failure `{}`: cannot tell",
                    st.describe()
                )),
                Some(st) => Verdict::error(format!("after AUTH, RCPT TO:<{rcpt}>: {}", st.describe())),
                None => Verdict::error(format!("after AUTH, RCPT TO:<{rcpt}> was not sent")),
            }
        }
    }
}
