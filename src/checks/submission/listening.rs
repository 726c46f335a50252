//! T33: the submission port listens and greets

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::judge::greeting_verdict;
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::session::{PortSession, Service, Step};
use crate::verdict::Verdict;

/// T33: the port listens and greets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub session: PortSession,
    /// master.cf's submission line (local only): `line N: text`.
    #[serde(default)]
    pub master_service: Option<String>,
    /// A commented-out submission line (local only).
    #[serde(default)]
    pub master_commented: Option<String>,
    #[serde(default)]
    pub local: bool,
}

/// T33: the kind.
pub struct Listening;

impl Kind for Listening {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let s = facts.port_session(Service::Submission).await;
        let (mut master_service, mut master_commented) = (None, None);
        if facts.target.local
            && let Ok(cfg) = facts.postfix().await
        {
            let path = cfg.master.path.display();
            master_service = cfg
                .master
                .services
                .iter()
                .find(|svc| {
                    svc.kind == "inet"
                        && (svc.name == "submission" || svc.name.ends_with(":submission"))
                })
                .map(|svc| format!("{path} line {}", svc.line));
            master_commented = cfg
                .master
                .commented
                .iter()
                .find(|(_, text)| text.starts_with("submission"))
                .map(|(line, text)| format!("{path} line {line}: #{text}"));
        }
        Ok(Observation {
            session: (*s).clone(),
            master_service,
            master_commented,
            local: facts.target.local,
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let s = &o.session;
        if let Some(v) = greeting_verdict(s, "the submission service") {
            let cause = match (&o.master_service, &o.master_commented) {
                (None, Some(c)) if o.local => format!("; master.cf comments it out ({c})"),
                (None, None) if o.local => "; master.cf has no submission service".into(),
                _ => String::new(),
            };
            let v = Verdict {
                message: format!("{}{cause}", v.message),
                ..v
            };
            return v.with_fix("uncomment the `submission inet n - - - - smtpd` line and its -o options in /etc/postfix/master.cf, then `postfix reload`");
        }

        match &s.ehlo {
            Some(st) if st.code() == Some(250) => Verdict::pass(format!(
                "{} greets `{}`; EHLO answers 250",
                s.addr,
                s.banner.describe()
            )),
            Some(st @ Step::Reply { .. }) => {
                Verdict::fail(format!("{}: EHLO answered `{}`", s.addr, st.describe()))
            }
            Some(st) => Verdict::error(format!("{}: EHLO: {}", s.addr, st.describe())),
            None => Verdict::error(format!("{}: no EHLO was sent", s.addr)),
        }
    }
}
