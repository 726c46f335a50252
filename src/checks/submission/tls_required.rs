//! T33: the submission port refuses mail before STARTTLS

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::session::{PortSession, Service, Step};
use crate::verdict::{Verdict, worst_of};

/// T33: the reply `MAIL FROM` must get before STARTTLS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub mail_code: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub session: PortSession,
}

/// T33: the kind.
pub struct TlsRequired;

impl Kind for TlsRequired {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let s = facts.port_session(Service::Submission).await;
        Ok(Observation {
            session: (*s).clone(),
        })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let s = &o.session;
        let addr = &s.addr;
        let auth_before = s.capabilities().auth_mechanisms();
        if let Some(why) = s.not_greeted() {
            return Verdict::error(format!("could not get past EHLO: {why}"));
        }
        let fix = "in master.cf, under `submission inet`, set `-o smtpd_tls_security_level=encrypt` (and keep smtpd_tls_auth_only or the default that hides AUTH before TLS), then `postfix reload`";
        let mut findings = Vec::new();
        if !auth_before.is_empty() {
            findings.push(
                Verdict::fail(format!(
                    "{addr} offers AUTH {} before STARTTLS: passwords can cross the network unencrypted",
                    auth_before.join(" ")
                ))
                .with_fix(fix),
            );
        }
        let want = spec.mail_code;
        match &s.mail_before_tls {
            None => findings.push(Verdict::error(format!(
                "{addr}: MAIL FROM was not tried before STARTTLS"
            ))),
            Some(st) => match st.code() {
                Some(c) if c == want => {}
                Some(c) if (200..300).contains(&c) => findings.push(
                    Verdict::fail(format!(
                        "{addr} accepts MAIL FROM before STARTTLS (`{}`): mail can be submitted unencrypted",
                        st.describe()
                    ))
                    .with_fix(fix),
                ),
                Some(c) if (500..600).contains(&c) => findings.push(Verdict::warn(format!(
                    "{addr} refuses MAIL FROM before STARTTLS, but with `{}`, not {want} (TLS required)",
                    st.describe()
                ))),
                Some(_) => findings.push(Verdict::error(format!(
                    "{addr}: MAIL FROM before STARTTLS answered `{}`: cannot tell",
                    st.describe()
                ))),
                None => findings.push(Verdict::error(format!(
                    "{addr}: MAIL FROM before STARTTLS: {}",
                    st.describe()
                ))),
            },
        }
        let mail = s
            .mail_before_tls
            .as_ref()
            .map(Step::describe)
            .unwrap_or_default();
        let pass = format!(
            "{addr} offers no AUTH before STARTTLS, and MAIL FROM before STARTTLS gets `{mail}`"
        );
        worst_of(findings, &pass)
    }
}
