//! T30: the AUTH mechanisms the submission port offers after STARTTLS (RFC 4954)

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Mechanism;
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::session::{PortSession, Service, Step};
use crate::verdict::Verdict;

/// T30: the mechanisms the EHLO after STARTTLS must list.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub mechanisms: Vec<Mechanism>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub submission: PortSession,
    /// The MX port's session, for a note on what it offers before STARTTLS.
    #[serde(default)]
    pub smtp: Option<PortSession>,
}

/// T30: the kind.
pub struct MechanismsOffered;

impl Kind for MechanismsOffered {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let submission = facts.port_session(Service::Submission).await;
        let smtp = facts.port_session(Service::Smtp).await;
        Ok(Observation {
            submission: (*submission).clone(),
            smtp: Some((*smtp).clone()),
        })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let s = &o.submission;
        let addr = &s.addr;
        let offered = s.tls_capabilities().auth_mechanisms();

        if let Some(why) = s.not_greeted() {
            Verdict::error(format!("could not reach EHLO after STARTTLS: {why}"))
        } else if s.ehlo_tls.as_ref().and_then(Step::code) != Some(250) {
            let why = s
                .ehlo_tls
                .as_ref()
                .or(s.starttls.as_ref())
                .map(Step::describe)
                .unwrap_or_else(|| "STARTTLS was not reached".into());
            Verdict::error(format!(
                "{addr}: no EHLO after STARTTLS to read AUTH from: {why}"
            ))
        } else {
            let missing: Vec<&str> = spec
                .mechanisms
                .iter()
                .map(|m| m.name())
                .filter(|m| !offered.iter().any(|o| o == m))
                .collect();
            let want: Vec<&str> = spec.mechanisms.iter().map(|m| m.name()).collect();
            if offered.is_empty() {
                Verdict::fail(format!(
                    "after STARTTLS, {addr} offers no AUTH (want AUTH {}): smtpd_sasl_auth_enable is off for this port, or Cyrus SASL has no mechanism",
                    want.join(" ")
                ))
                .with_fix("set smtpd_sasl_auth_enable = yes in main.cf and `-o smtpd_sasl_auth_enable=yes` under submission in master.cf, `mech_list: plain login` in /etc/postfix/sasl/smtpd.conf, then `postfix reload`")
            } else if !missing.is_empty() {
                Verdict::fail(format!(
                    "after STARTTLS, {addr} offers AUTH {}, without {}",
                    offered.join(" "),
                    missing.join(" ")
                ))
                .with_fix("set `mech_list: plain login` in /etc/postfix/sasl/smtpd.conf and install libsasl2-modules")
            } else {
                Verdict::pass(format!(
                    "after STARTTLS, {addr} offers AUTH {}{}",
                    offered.join(" "),
                    o.smtp.as_ref().map(note_on_mx).unwrap_or_default()
                ))
            }
        }
    }
}

/// What the MX port offers, as a note: AUTH before STARTTLS lets a client send its password
/// unencrypted.
fn note_on_mx(s: &PortSession) -> String {
    let plain = s.capabilities().auth_mechanisms();
    let port = s.port;
    if !plain.is_empty() {
        format!(
            "; port {port} offers AUTH {} before STARTTLS too (smtpd_tls_auth_only = yes would keep passwords off unencrypted connections)",
            plain.join(" ")
        )
    } else if !s.tls_capabilities().auth_mechanisms().is_empty() {
        format!("; port {port} offers AUTH only after STARTTLS")
    } else if s.not_greeted().is_none() {
        format!("; port {port} offers no AUTH")
    } else {
        String::new()
    }
}
