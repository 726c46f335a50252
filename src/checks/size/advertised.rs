//! T35: EHLO announces SIZE equal to message_size_limit (RFC 1870)

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::checks::postfix::Param;
use crate::facts::Facts;
use crate::probe::session::{PortSession, Service, Step};
use crate::verdict::Verdict;

/// T35: which port (the MX port by default; on `submission`, the EHLO after STARTTLS, which is
/// what users' mail programs read). The limit comes from the settings (the tutorial's 20480000
/// unless the config file's `[tutorial] message_size_limit` says otherwise).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(default)]
    pub service: Service,
}

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
    /// On submission (local only): message_size_limit as that master.cf service's smtpd reads
    /// it (its `-o`, with the master.cf line, else main.cf's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_setting: Option<Param>,
}

/// T35: the kind.
pub struct Advertised;

impl Kind for Advertised {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let s = facts.port_session(spec.service).await;
        let (mut main_cf, mut main_cf_line, mut service_setting) = (None, None, None);
        if facts.target.local
            && let Ok(cfg) = facts.postfix().await
        {
            main_cf = Some(cfg.get("message_size_limit"));
            main_cf_line = cfg.main.line("message_size_limit");
            if spec.service == Service::Submission {
                let svc = cfg.inet_service("submission", s.port);
                service_setting = svc.map(|v| Param::read_for(&cfg, Some(v), "message_size_limit"));
            }
        }
        Ok(Observation {
            expected: facts.settings.message_size_limit,
            session: (*s).clone(),
            main_cf,
            main_cf_line,
            service_setting,
        })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let s = &o.session;
        let addr = &s.addr;
        let want = o.expected;
        let submission = spec.service == Service::Submission;
        let caps = if submission {
            s.tls_capabilities()
        } else {
            s.capabilities()
        };
        let where_set = match (&o.service_setting, &o.main_cf, o.main_cf_line) {
            (Some(p), _, _) => format!(" ({})", p.shown()),
            (None, Some(v), Some(l)) => format!(" (main.cf line {l}: message_size_limit = {v})"),
            (None, Some(v), None) => {
                format!(" (message_size_limit is not set in main.cf: the default {v} applies)")
            }
            _ => String::new(),
        };
        let main_fix =
            format!("set `message_size_limit = {want}` in main.cf, then `postfix reload`");
        let fix = match &o.service_setting {
            Some(p) => p.fix(&main_fix),
            None => main_fix,
        };
        // The value the server should be announcing now.
        let configured = o
            .service_setting
            .as_ref()
            .map(|p| p.effective.clone())
            .or_else(|| o.main_cf.clone());
        let ehlo = if submission {
            "EHLO after STARTTLS"
        } else {
            "EHLO"
        };

        if let Some(why) = s.not_greeted() {
            Verdict::error(format!("could not read EHLO: {why}"))
        } else if submission && s.ehlo_tls.as_ref().is_none_or(|e| e.code() != Some(250)) {
            Verdict::error(format!(
                "{addr}: no EHLO after STARTTLS to read SIZE from ({}; see tls.starttls-587)",
                s.starttls
                    .as_ref()
                    .map(Step::describe)
                    .unwrap_or_else(|| "STARTTLS not offered".into())
            ))
        } else {
            match caps.size() {
                None => Verdict::fail(format!(
                    "{ehlo} on {addr} announces no SIZE (want SIZE {want})"
                ))
                .with_fix(fix),
                Some(None) => Verdict::fail(format!(
                    "{ehlo} on {addr} announces SIZE without a number (want SIZE {want})"
                ))
                .with_fix(fix),
                Some(Some(0)) => Verdict::fail(format!(
                    "{ehlo} on {addr} announces SIZE 0: no size limit (want {want}){where_set}"
                ))
                .with_fix(fix),
                Some(Some(n)) if n != want => Verdict::fail(format!(
                    "{ehlo} on {addr} announces SIZE {n}, not the tutorial's message_size_limit {want}{where_set}"
                ))
                .with_fix(fix),
                Some(Some(n)) => match &configured {
                    Some(v) if v.trim().parse::<u64>().ok() != Some(n) => Verdict::warn(format!(
                                                "{ehlo} on {addr} announces SIZE {n}, but {} now says message_size_limit = {v}: `postfix reload` to apply it",
                        o.service_setting.as_ref().map_or("main.cf".to_string(), Param::at)
                    )),
                    Some(_) => Verdict::pass(format!(
                        "{ehlo} on {addr} announces SIZE {n} = message_size_limit{where_set}"
                    )),
                    None => Verdict::pass(format!("{ehlo} on {addr} announces SIZE {n}")),
                },
            }
        }
    }
}
