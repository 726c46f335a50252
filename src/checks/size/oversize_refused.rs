//! T35: a declared size above the limit is refused with 552 before any byte is sent

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::checks::postfix::Param;
use crate::facts::Facts;
use crate::probe::session::{LoginSession, PortSession, Service, Step};
use crate::verdict::{Verdict, worst_of};

/// T35: the reply a declared size above the limit must get, and where: the MX port with
/// `MAIL FROM:<>` (default), or the submission port after STARTTLS and AUTH with `MAIL
/// FROM:<account>`, as users submit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub refusal_code: u16,
    #[serde(default)]
    pub service: Service,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    /// The MX port's shared session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<PortSession>,
    /// The submission port: the session after STARTTLS and AUTH PLAIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission: Option<LoginSession>,
    /// On submission (local only): message_size_limit as that master.cf service's smtpd reads
    /// it (its `-o`, with the master.cf line, else main.cf's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_setting: Option<Param>,
}

/// The two probes, from either session.
struct Probes<'a> {
    addr: &'a str,
    /// Why the session did not get to the probes.
    not_ready: Option<String>,
    sender: String,
    limit: u64,
    at: Option<&'a Step>,
    over: Option<&'a Step>,
}

impl Observation {
    fn probes(&self) -> Option<Probes<'_>> {
        if let Some(s) = &self.session {
            return Some(Probes {
                addr: &s.addr,
                not_ready: s
                    .not_greeted()
                    .map(|why| format!("could not get past EHLO: {why}")),
                sender: String::new(),
                limit: s.size_limit,
                at: s.size_at_limit.as_ref(),
                over: s.size_over_limit.as_ref(),
            });
        }
        let a = self.submission.as_ref()?;
        let not_ready = if let Some(f) = &a.setup_failure {
            Some(format!(
                "could not get to AUTH on {}: {}",
                a.addr,
                f.describe()
            ))
        } else if a.auth.as_ref().and_then(Step::code) != Some(235) {
            Some(format!(
                "cannot test: {} could not log in on {} ({}; see auth.login-works)",
                a.user,
                a.addr,
                a.auth
                    .as_ref()
                    .map(Step::describe)
                    .unwrap_or_else(|| "no AUTH".into())
            ))
        } else {
            None
        };
        Some(Probes {
            addr: &a.addr,
            not_ready,
            sender: a.sender.clone(),
            limit: a.size_limit,
            at: a.size_at_limit.as_ref(),
            over: a.size_over_limit.as_ref(),
        })
    }
}

/// T35: the kind.
pub struct OversizeRefused;

impl Kind for OversizeRefused {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        if spec.service == Service::Smtp {
            let s = facts.port_session(Service::Smtp).await;
            return Ok(Observation {
                session: Some((*s).clone()),
                submission: None,
                service_setting: None,
            });
        }
        let Some(a) = facts.submission_size_session().await else {
            return Err(Unobserved::NotApplicable {
                reason: "needs --account and its password".into(),
            });
        };
        let mut service_setting = None;
        if facts.target.local
            && let Ok(cfg) = facts.postfix().await
        {
            service_setting = cfg
                .inet_service("submission", a.port)
                .map(|v| Param::read_for(&cfg, Some(v), "message_size_limit"));
        }
        Ok(Observation {
            session: None,
            submission: Some((*a).clone()),
            service_setting,
        })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let Some(p) = o.probes() else {
            return Verdict::error("no session was recorded");
        };
        let addr = p.addr;
        let limit = p.limit;
        let over = limit.saturating_add(1);
        if let Some(why) = p.not_ready {
            return Verdict::error(why);
        }
        let from = &p.sender;
        let where_set = o
            .service_setting
            .as_ref()
            .map(|s| format!(" ({})", s.shown()))
            .unwrap_or_default();
        let main_fix =
            format!("set `message_size_limit = {limit}` in main.cf, then `postfix reload`");
        let fix = match &o.service_setting {
            Some(s) => s.fix(&main_fix),
            None => main_fix,
        };
        let mut findings = Vec::new();
        let not_tried = |what: &str| Verdict::error(format!("{addr}: {what} was not tried"));
        match p.at {
            None => findings.push(not_tried(&format!("MAIL FROM:<{from}> SIZE={limit}"))),
            Some(st) if st.is_positive() => {}
            Some(st) if st.code() == Some(spec.refusal_code) => findings.push(
                Verdict::fail(format!(
                    "{addr} refuses MAIL FROM:<{from}> SIZE={limit} (`{}`): its limit is below the tutorial's {limit}{where_set}",
                    st.describe()
                ))
                .with_fix(fix.clone()),
            ),
            Some(st) if st.is_permanent() => findings.push(Verdict::warn(format!(
                "{addr} refuses MAIL FROM:<{from}> SIZE={limit}: `{}`",
                st.describe()
            ))),
            Some(st) if st.code().is_none() => findings.push(Verdict::error(format!(
                "{addr}: MAIL FROM:<{from}> SIZE={limit}: {}",
                st.describe()
            ))),
            Some(st) => findings.push(Verdict::error(format!(
                "{addr}: MAIL FROM:<{from}> SIZE={limit}: `{}`: cannot tell",
                st.describe()
            ))),
        }
        match p.over {
            None if p.at.is_some_and(|x| x.code().is_none()) => {}
            None => findings.push(not_tried(&format!("MAIL FROM:<{from}> SIZE={over}"))),
            Some(st) if st.code() == Some(spec.refusal_code) => {}
            Some(st) if st.is_positive() => findings.push(
                Verdict::fail(format!(
                    "{addr} accepts MAIL FROM:<{from}> SIZE={over} (`{}`): its limit is above the tutorial's {limit}{where_set}",
                    st.describe()
                ))
                .with_fix(fix.clone()),
            ),
            Some(st) if st.is_permanent() => findings.push(Verdict::warn(format!(
                "{addr} refuses MAIL FROM:<{from}> SIZE={over}, but with `{}`, not {}",
                st.describe(),
                spec.refusal_code
            ))),
            Some(st) if st.code().is_none() => findings.push(Verdict::error(format!(
                "{addr}: MAIL FROM:<{from}> SIZE={over}: {}",
                st.describe()
            ))),
            Some(st) => findings.push(Verdict::error(format!(
                "{addr}: MAIL FROM:<{from}> SIZE={over}: `{}`: cannot tell",
                st.describe()
            ))),
        }
        let pass = format!(
            "{addr}: MAIL FROM:<{from}> SIZE={limit} gets `{}`, SIZE={over} gets `{}` (no message bytes sent)",
            p.at.map(Step::describe).unwrap_or_default(),
            p.over.map(Step::describe).unwrap_or_default()
        );
        worst_of(findings, &pass)
    }
}
