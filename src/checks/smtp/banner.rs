//! T1: Postfix answers on the MX port with a `220` banner naming myhostname (RFC 5321 §4.3.1,
//! postconf(5) smtpd_banner), and EHLO answers.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::judge::{greeting_verdict, is_public_name};
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::session::{PortSession, Service, Step};
use crate::verdict::Verdict;

/// T1 has no parameters: the expected name is main.cf's myhostname (on the server) or --host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {}

/// What T1 looks at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    /// As given with --host.
    pub host: String,
    pub local: bool,
    /// main.cf's myhostname (local only).
    #[serde(default)]
    pub myhostname: Option<String>,
    /// Why main.cf could not be read (local only).
    #[serde(default)]
    pub config_problem: Option<String>,
    pub session: PortSession,
}

/// T1: the kind.
pub struct Banner;

impl Kind for Banner {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let session = facts.port_session(Service::Smtp).await;
        let (mut myhostname, mut config_problem) = (None, None);
        if facts.target.local {
            match facts.postfix().await {
                Ok(cfg) => myhostname = Some(cfg.get("myhostname")),
                Err(e) => config_problem = Some(e.to_string()),
            }
        }
        Ok(Observation {
            host: facts.target.host.clone(),
            local: facts.target.local,
            myhostname,
            config_problem,
            session: (*session).clone(),
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let s = &o.session;
        if let Some(v) = greeting_verdict(s, "Postfix") {
            return v.with_fix(
                "start Postfix (`postfix start`), and check that master.cf has the `smtp inet ... smtpd` line and main.cf inet_interfaces = all",
            );
        }
        let greeting = s.banner.describe();
        let first = match &s.banner {
            Step::Reply { lines, .. } => lines.first().cloned().unwrap_or_default(),
            Step::Error { .. } => String::new(),
        };
        let named = first.split_whitespace().next().unwrap_or("").to_string();
        let ehlo = match &s.ehlo {
            Some(st) if st.code() == Some(250) => None,
            Some(st @ Step::Reply { .. }) => Some(Verdict::fail(format!(
                "{}: EHLO answered `{}`, not 250",
                s.addr,
                st.describe()
            ))),
            Some(st) => Some(Verdict::error(format!(
                "{}: EHLO: {}",
                s.addr,
                st.describe()
            ))),
            None => Some(Verdict::error(format!("{}: no EHLO was sent", s.addr))),
        };
        let name_verdict = match (&o.myhostname, o.local) {
            (Some(my), true) if !my.eq_ignore_ascii_case(&named) => Verdict::fail(format!(
                "{} greets `{greeting}`: the banner names {}, not myhostname {my}",
                s.addr,
                if named.is_empty() { "nothing" } else { &named }
            ))
            .with_fix(format!(
                "set `smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)` in main.cf (myhostname = {my}), then `postfix reload`"
            )),
            (Some(my), true) if is_public_name(&o.host) && !o.host.eq_ignore_ascii_case(my) => {
                Verdict::warn(format!(
                    "{} greets `{greeting}` (myhostname {my}), but --host is {}: clients that connect by that name see another name",
                    s.addr, o.host
                ))
            }
            (Some(my), true) => Verdict::pass(format!(
                "{} greets `{greeting}`, naming myhostname {my}; EHLO answers 250",
                s.addr
            )),
            _ if !is_public_name(&o.host) => Verdict::warn(format!(
                "{} greets `{greeting}`; cannot tell whether {named} is myhostname: --host is not a name{}",
                s.addr,
                o.config_problem
                    .as_ref()
                    .map(|p| format!(" and main.cf is unreadable ({p})"))
                    .unwrap_or_else(|| " and mailcheck does not run on the server".into())
            )),
            _ if named.eq_ignore_ascii_case(&o.host) => Verdict::pass(format!(
                "{} greets `{greeting}`, naming {}; EHLO answers 250",
                s.addr, o.host
            )),
            _ => Verdict::warn(format!(
                "{} greets `{greeting}`: the banner names {named}, not --host {} (myhostname can only be read on the server)",
                s.addr, o.host
            )),
        };
        match ehlo {
            Some(e) if e.status >= name_verdict.status => e,
            _ => name_verdict,
        }
    }
}
