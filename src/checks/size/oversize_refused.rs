//! T35: a declared size above the limit is refused with 552 before any byte is sent

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::session::{PortSession, Service, Step};
use crate::verdict::{Verdict, worst_of};

/// T35: the reply a declared size above the limit must get.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub refusal_code: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub session: PortSession,
}

/// T35: the kind.
pub struct OversizeRefused;

impl Kind for OversizeRefused {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let s = facts.port_session(Service::Smtp).await;
        Ok(Observation {
            session: (*s).clone(),
        })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let s = &o.session;
        let addr = &s.addr;
        let limit = s.size_limit;
        let over = limit.saturating_add(1);
        if let Some(why) = s.not_greeted() {
            return Verdict::error(format!("could not get past EHLO: {why}"));
        }
        let fix = format!("set `message_size_limit = {limit}` in main.cf, then `postfix reload`");
        let mut findings = Vec::new();
        let not_tried = |what: &str| Verdict::error(format!("{addr}: {what} was not tried"));
        match &s.size_at_limit {
            None => findings.push(not_tried(&format!("MAIL FROM:<> SIZE={limit}"))),
            Some(st) if st.is_positive() => {}
            Some(st) if st.code() == Some(spec.refusal_code) => findings.push(
                Verdict::fail(format!(
                    "{addr} refuses MAIL FROM:<> SIZE={limit} (`{}`): its limit is below the tutorial's {limit}",
                    st.describe()
                ))
                .with_fix(fix.clone()),
            ),
            Some(st) if st.is_permanent() => findings.push(Verdict::warn(format!(
                "{addr} refuses MAIL FROM:<> SIZE={limit}: `{}`",
                st.describe()
            ))),
            Some(st) if st.code().is_none() => findings.push(Verdict::error(format!(
                "{addr}: MAIL FROM:<> SIZE={limit}: {}",
                st.describe()
            ))),
            Some(st) => findings.push(Verdict::error(format!(
                "{addr}: MAIL FROM:<> SIZE={limit}: `{}`: cannot tell",
                st.describe()
            ))),
        }
        match &s.size_over_limit {
            None if s.size_at_limit.as_ref().is_some_and(|x| x.code().is_none()) => {}
            None => findings.push(not_tried(&format!("MAIL FROM:<> SIZE={over}"))),
            Some(st) if st.code() == Some(spec.refusal_code) => {}
            Some(st) if st.is_positive() => findings.push(
                Verdict::fail(format!(
                    "{addr} accepts MAIL FROM:<> SIZE={over} (`{}`): its limit is above the tutorial's {limit}",
                    st.describe()
                ))
                .with_fix(fix.clone()),
            ),
            Some(st) if st.is_permanent() => findings.push(Verdict::warn(format!(
                "{addr} refuses MAIL FROM:<> SIZE={over}, but with `{}`, not {}",
                st.describe(),
                spec.refusal_code
            ))),
            Some(st) if st.code().is_none() => findings.push(Verdict::error(format!(
                "{addr}: MAIL FROM:<> SIZE={over}: {}",
                st.describe()
            ))),
            Some(st) => findings.push(Verdict::error(format!(
                "{addr}: MAIL FROM:<> SIZE={over}: `{}`: cannot tell",
                st.describe()
            ))),
        }
        let pass = format!(
            "{addr}: MAIL FROM:<> SIZE={limit} gets `{}`, SIZE={over} gets `{}` (no message bytes sent)",
            s.size_at_limit
                .as_ref()
                .map(Step::describe)
                .unwrap_or_default(),
            s.size_over_limit
                .as_ref()
                .map(Step::describe)
                .unwrap_or_default()
        );
        worst_of(findings, &pass)
    }
}
