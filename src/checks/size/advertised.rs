//! T35: EHLO announces SIZE equal to message_size_limit (RFC 1870)

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::session::{PortSession, Service};
use crate::verdict::Verdict;

/// T35: nothing to set here; the limit comes from the settings (the tutorial's 20480000 unless
/// the config file's `[tutorial] message_size_limit` says otherwise).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    /// The limit required (settings).
    pub expected: u64,
    pub session: PortSession,
    /// main.cf's message_size_limit as Postfix reads it (local only).
    #[serde(default)]
    pub main_cf: Option<String>,
    #[serde(default)]
    pub main_cf_line: Option<usize>,
}

/// T35: the kind.
pub struct Advertised;

impl Kind for Advertised {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let s = facts.port_session(Service::Smtp).await;
        let (mut main_cf, mut main_cf_line) = (None, None);
        if facts.target.local
            && let Ok(cfg) = facts.postfix().await
        {
            main_cf = Some(cfg.get("message_size_limit"));
            main_cf_line = cfg.main.line("message_size_limit");
        }
        Ok(Observation {
            expected: facts.settings.message_size_limit,
            session: (*s).clone(),
            main_cf,
            main_cf_line,
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let s = &o.session;
        let addr = &s.addr;
        let want = o.expected;
        let caps = s.capabilities();
        let where_set = match (&o.main_cf, o.main_cf_line) {
            (Some(v), Some(l)) => format!(" (main.cf line {l}: message_size_limit = {v})"),
            (Some(v), None) => {
                format!(" (message_size_limit is not set in main.cf: the default {v} applies)")
            }
            _ => String::new(),
        };
        let fix = format!("set `message_size_limit = {want}` in main.cf, then `postfix reload`");

        if let Some(why) = s.not_greeted() {
            Verdict::error(format!("could not read EHLO: {why}"))
        } else {
            match caps.size() {
                None => Verdict::fail(format!(
                    "EHLO on {addr} announces no SIZE (want SIZE {want})"
                ))
                .with_fix(fix),
                Some(None) => Verdict::fail(format!(
                    "EHLO on {addr} announces SIZE without a number (want SIZE {want})"
                ))
                .with_fix(fix),
                Some(Some(0)) => Verdict::fail(format!(
                    "EHLO on {addr} announces SIZE 0: no size limit (want {want}){where_set}"
                ))
                .with_fix(fix),
                Some(Some(n)) if n != want => Verdict::fail(format!(
                    "EHLO on {addr} announces SIZE {n}, not the tutorial's message_size_limit {want}{where_set}"
                ))
                .with_fix(fix),
                Some(Some(n)) => match &o.main_cf {
                    Some(v) if v.trim().parse::<u64>().ok() != Some(n) => Verdict::warn(format!(
                        "EHLO on {addr} announces SIZE {n}, but main.cf now says message_size_limit = {v}: `postfix reload` to apply it"
                    )),
                    Some(_) => Verdict::pass(format!(
                        "EHLO on {addr} announces SIZE {n} = message_size_limit{where_set}"
                    )),
                    None => Verdict::pass(format!("EHLO on {addr} announces SIZE {n}")),
                },
            }
        }
    }
}
