//! H5: passwords only under TLS: port 25 offers no AUTH before STARTTLS (RFC 4954 §4; Postfix
//! smtpd_tls_auth_only).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ServerConfig, config_note, server_config};
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::session::{PortSession, Service};
use crate::verdict::Verdict;

const PARAMS: &[&str] = &["smtpd_tls_auth_only", "smtpd_sasl_auth_enable"];

/// `[probe]` of H5: the port whose shared session is judged.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub service: Service,
}

/// What H5 saw: the port's shared session (EHLO before and after STARTTLS).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Observation {
    pub session: PortSession,
    /// AUTH mechanisms EHLO offered before STARTTLS.
    pub before_tls: Vec<String>,
    /// And after.
    pub after_tls: Vec<String>,
    pub config: Option<ServerConfig>,
}

/// H5: the kind.
pub struct AuthBeforeTls;

impl Kind for AuthBeforeTls {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let session = facts.port_session(spec.service).await;
        Ok(Observation {
            before_tls: session.capabilities().auth_mechanisms(),
            after_tls: session.tls_capabilities().auth_mechanisms(),
            session: (*session).clone(),
            config: server_config(facts, spec.service, PARAMS).await,
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let s = &o.session;
        if let Some(why) = s.not_greeted() {
            return Verdict::error(format!("could not probe: {why}"));
        }
        let addr = &s.addr;
        let note = config_note(o.config.as_ref(), PARAMS);
        if !o.before_tls.is_empty() {
            return Verdict::warn(format!(
                "{addr} offers AUTH {} before STARTTLS: a client can send its password in clear text{note}",
                o.before_tls.join(" ")
            ))
            .with_fix(
                "add to main.cf: `smtpd_tls_auth_only = yes` (every Postfix with TLS has it; AUTH is then offered only after STARTTLS, which the submission port already requires), then `postfix reload`",
            );
        }
        let after = if o.after_tls.is_empty() {
            String::new()
        } else {
            format!(", after it AUTH {}", o.after_tls.join(" "))
        };
        Verdict::pass(format!(
            "{addr} offers no AUTH before STARTTLS{after}{note}"
        ))
    }
}
