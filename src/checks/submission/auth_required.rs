//! T33: the submission port refuses mail without AUTH

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::session::{LoginSession, Purpose, Step};
use crate::verdict::{Verdict, worst_of};

/// T33: mail needs AUTH (no parameters).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    /// STARTTLS, no AUTH, MAIL and RCPT to the account.
    pub unauthenticated: LoginSession,
    /// STARTTLS, AUTH PLAIN, MAIL and RCPT to the account.
    pub authenticated: LoginSession,
}

/// T33: the kind.
pub struct AuthRequired;

impl Kind for AuthRequired {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let (Some(unauthenticated), Some(authenticated)) = (
            facts.login_session(Purpose::Unauthenticated).await,
            facts.login_session(Purpose::PlainAndRelay).await,
        ) else {
            return Err(Unobserved::NotApplicable {
                reason: "needs --account and its password".into(),
            });
        };
        Ok(Observation {
            unauthenticated: (*unauthenticated).clone(),
            authenticated: (*authenticated).clone(),
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let (u, a) = (&o.unauthenticated, &o.authenticated);
        let uv = unauthenticated_verdict(u);
        let av = authenticated_verdict(a);
        let pass = format!("{}: {}; {}", u.addr, uv.message, av.message);
        let mut transcript = Vec::new();
        for (label, v, s) in [("without AUTH", &uv, u), ("with AUTH", &av, a)] {
            if v.status != crate::verdict::Status::Pass {
                transcript.push(format!("-- {label}"));
                transcript.extend(s.transcript.iter().cloned());
            }
        }
        worst_of(vec![uv, av], &pass)
    }
}

fn unauthenticated_verdict(u: &LoginSession) -> Verdict {
    let addr = &u.addr;
    if let Some(f) = &u.setup_failure {
        return Verdict::error(format!(
            "without AUTH: could not get past STARTTLS on {addr}: {}",
            f.describe()
        ));
    }
    let refused = |st: &Step, at: &str| {
        let temp = if st.is_transient() {
            " (temporarily)"
        } else {
            ""
        };
        Verdict::pass(format!(
            "without AUTH, {at} is refused{temp}: `{}`",
            st.describe()
        ))
    };
    match (&u.mail, &u.rcpt_local) {
        (Some(m), _) if m.refuses() => refused(m, "MAIL FROM"),
        (Some(m), _) if !m.is_positive() => {
            Verdict::error(format!("without AUTH, MAIL FROM on {addr}: {}", m.describe()))
        }
        (Some(_), Some(r)) if r.refuses() => refused(r, &format!("RCPT TO:<{}>", u.user)),
        (Some(_), Some(r)) if r.is_positive() => Verdict::fail(format!(
            "{addr} accepts mail for {} from a client that did not log in (RCPT TO answered `{}`)",
            u.user,
            r.describe()
        ))
        .with_fix("in master.cf, under `submission inet`, set `-o smtpd_client_restrictions=permit_sasl_authenticated,reject`, then `postfix reload`"),
        (Some(_), Some(r)) => {
            Verdict::error(format!("without AUTH, RCPT TO on {addr}: {}", r.describe()))
        }
        _ => Verdict::error(format!("without AUTH, MAIL/RCPT were not sent on {addr}")),
    }
}

fn authenticated_verdict(a: &LoginSession) -> Verdict {
    let addr = &a.addr;
    let m = a.mechanism.clone().unwrap_or_default();
    if let Some(f) = &a.setup_failure {
        return Verdict::error(format!(
            "with AUTH: could not get past STARTTLS on {addr}: {}",
            f.describe()
        ));
    }
    match &a.auth {
        Some(st) if st.code() == Some(235) => {}
        Some(st @ Step::Reply { .. }) => {
            return Verdict::fail(format!(
                "{} cannot log in on {addr} (AUTH {m} answered `{}`), so cannot submit mail",
                a.user,
                st.describe()
            ));
        }
        Some(st) => return Verdict::error(format!("AUTH {m} on {addr}: {}", st.describe())),
        None => return Verdict::error(format!("AUTH was not sent on {addr}")),
    }
    let step = |st: &Option<Step>, what: &str| -> Option<Verdict> {
        match st {
            Some(s) if s.is_positive() => None,
            Some(s) if s.is_permanent() => Some(Verdict::fail(format!(
                "after AUTH, {what} on {addr} is refused: `{}`",
                s.describe()
            ))),
            Some(s) => Some(Verdict::error(format!(
                "after AUTH, {what} on {addr}: `{}`",
                s.describe()
            ))),
            None => Some(Verdict::error(format!(
                "after AUTH, {what} was not sent on {addr}"
            ))),
        }
    };
    if let Some(v) = step(&a.mail, &format!("MAIL FROM:<{}>", a.sender)) {
        return v;
    }
    if let Some(v) = step(&a.rcpt_local, &format!("RCPT TO:<{}>", a.user)) {
        return v;
    }
    Verdict::pass(format!(
        "after AUTH {m}, MAIL FROM and RCPT TO:<{}> are accepted (`{}`)",
        a.user,
        a.rcpt_local
            .as_ref()
            .map(Step::describe)
            .unwrap_or_default()
    ))
}
