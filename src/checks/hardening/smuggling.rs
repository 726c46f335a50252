//! H1: SMTP smuggling (CVE-2023-51764): the MX port does not take a bare-LF end of DATA;
//! Postfix's smtpd_forbid_bare_newline (postconf(5), postfix.org/smtp-smuggling.html).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Feature, ServerConfig, Version, from_where, server_config, setup_verdict};
use crate::checks::kind::{Kind, Unobserved};
use crate::checks::values::Span;
use crate::facts::Facts;
use crate::facts::hardening::{Smuggled, Vantage};
use crate::probe::hardening::smuggling::{EndOfData, EndResponse};
use crate::probe::session::Service;
use crate::verdict::Verdict;

/// `smtpd_forbid_bare_newline = yes` (values yes/no).
const YES: Feature = Feature {
    mainline: (3, 9),
    backports: &[(3, 5, 23), (3, 6, 13), (3, 7, 9), (3, 8, 4)],
};
/// `normalize` and `reject`.
const NORMALIZE: Feature = Feature {
    mainline: (3, 9),
    backports: &[(3, 5, 24), (3, 6, 14), (3, 7, 10), (3, 8, 5)],
};

const PARAMS: &[&str] = &[
    "smtpd_forbid_bare_newline",
    "smtpd_forbid_bare_newline_exclusions",
    "smtpd_data_restrictions",
    "mynetworks",
];

/// `[probe]` of H1.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The non-standard end of DATA sent (default `<LF>.<CR><LF>`, the published attack's).
    #[serde(default)]
    pub end: EndOfData,
    /// How long to wait for a reply after it: a vulnerable server answers at once, a hardened
    /// one never does.
    pub wait: Span,
}

/// What H1 saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Observation {
    pub vantage: Vantage,
    /// The live probe; `None` when it did not run (see `not_probed`).
    pub live: Option<Smuggled>,
    pub not_probed: Option<String>,
    /// On the server: the parameters that decide it.
    pub config: Option<ServerConfig>,
    /// The test account (the message's only recipient).
    pub account: Option<String>,
    pub wait_ms: u64,
}

/// H1: the kind.
pub struct Smuggling;

impl Kind for Smuggling {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let live = facts.smuggling(spec.end, spec.wait.0).await;
        let not_probed = match (&live, &facts.account) {
            (Some(_), _) => None,
            (None, None) => Some("needs --account: the one test message goes to that account"),
            (None, Some(_)) => Some("--no-send: the probe sends one test message"),
        };
        if let Some(why) = not_probed
            && !facts.target.local
        {
            return Err(Unobserved::NotApplicable {
                reason: why.to_string(),
            });
        }
        Ok(Observation {
            vantage: facts.hardening_vantage().await,
            live: live.map(|l| (*l).clone()),
            not_probed: not_probed.map(str::to_string),
            config: server_config(facts, Service::Smtp, PARAMS).await,
            account: facts.account.as_ref().map(|a| a.address.clone()),
            wait_ms: u64::try_from(spec.wait.0.as_millis()).unwrap_or(u64::MAX),
        })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let config = o.config.as_ref();
        let fix = fix(config);
        let setting = config.and_then(|c| c.shown("smtpd_forbid_bare_newline"));
        let forbids = config
            .and_then(|c| c.get("smtpd_forbid_bare_newline"))
            .and_then(|s| s.lower())
            .map(|v| matches!(v.as_str(), "normalize" | "yes" | "reject"));
        let end = spec.end.describe();
        let Some(live) = &o.live else {
            let why = o.not_probed.clone().unwrap_or_default();
            return match (forbids, setting) {
                (Some(true), Some(s)) => Verdict::pass(format!(
                    "{s}: Postfix does not take a bare LF as the end of DATA (not probed live: {why})"
                )),
                (_, Some(s)) => Verdict::warn(format!(
                    "{s}: Postfix takes a bare-LF end of DATA, so SMTP smuggling (CVE-2023-51764) works against it (not probed live: {why})"
                ))
                .with_fix(fix),
                (_, None) => Verdict::skip(format!(
                    "not probed live ({why}) and the setting could not be read{}",
                    config
                        .and_then(|c| c.problem.clone())
                        .map(|p| format!(": {p}"))
                        .unwrap_or_default()
                )),
            };
        };
        let p = &live.probe;
        let addr = &p.endpoint.addr;
        if let Some(f) = &p.setup_failure {
            return setup_verdict(addr, f);
        }
        let account = o.account.clone().unwrap_or_default();
        for (step, what, want) in [
            (&p.mail, format!("MAIL FROM:<{account}>"), 250),
            (&p.rcpt, format!("RCPT TO:<{account}>"), 250),
            (&p.data, "DATA".to_string(), 354),
        ] {
            if let Some(s) = step
                && (s.code() != Some(want) && !(want == 250 && s.is_positive()))
            {
                return Verdict::error(format!(
                    "{addr} answered {what} with `{}`, so the test message could not be sent: cannot tell",
                    s.describe()
                ));
            }
        }
        let from = from_where(&o.vantage);
        let note = setting.map(|s| format!("; {s}")).unwrap_or_default();
        let waited = format!("{:.1} s", o.wait_ms as f64 / 1000.0);
        match p.response {
            EndResponse::Accepted => {
                let reply = p
                    .end_reply
                    .as_ref()
                    .map(|r| r.describe())
                    .unwrap_or_default();
                // From inside mynetworks a hardened server still takes it: the default
                // exclusion is $mynetworks.
                let exclusions = config
                    .and_then(|c| c.get("smtpd_forbid_bare_newline_exclusions"))
                    .and_then(|s| s.effective.clone())
                    .is_some_and(|v| !v.trim().is_empty());
                if o.vantage.local
                    && o.vantage.source.is_none()
                    && forbids == Some(true)
                    && exclusions
                {
                    return Verdict::pass(format!(
                        "{addr} took `{end}` as the end of DATA {from}, which smtpd_forbid_bare_newline_exclusions exempts{note}: from outside mynetworks Postfix does not{}",
                        delivery_note(live, o)
                    ));
                }
                let exempt = match forbids {
                    Some(true) => config
                        .and_then(|c| c.shown("smtpd_forbid_bare_newline_exclusions"))
                        .map(|s| format!(" ({s} holds this client)"))
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                Verdict::warn(format!(
                    "{addr} took `{end}` as the end of DATA {from} (`{reply}`): SMTP smuggling (CVE-2023-51764) works against this server{note}{exempt}{}",
                    delivery_note(live, o)
                ))
                .with_fix(fix)
            }
            EndResponse::Silent if forbids == Some(false) => Verdict::warn(format!(
                "{addr} did not answer `{end}` within {waited}{note}: Postfix with this setting takes it, so the server was slow to answer (mailcheck hung up: the message was dropped)"
            ))
            .with_fix(fix),
            EndResponse::Silent => Verdict::pass(format!(
                "{addr} stayed in DATA after `{end}` {from} (no reply in {waited}): a bare LF does not end the message; mailcheck hung up, so the server dropped it{note}"
            )),
            EndResponse::Refused => Verdict::pass(format!(
                "{addr} refused `{end}` {from}: `{}`{note}",
                p.end_reply
                    .as_ref()
                    .map(|r| r.describe())
                    .unwrap_or_default()
            )),
            EndResponse::Closed => Verdict::pass(format!(
                "{addr} hung up after `{end}` {from} without taking the message{note}"
            )),
            EndResponse::Failed => Verdict::error(format!(
                "{addr}: after `{end}`: {}: cannot tell",
                p.end_reply
                    .as_ref()
                    .map(|r| r.describe())
                    .unwrap_or_default()
            )),
            EndResponse::NotSent => Verdict::error(format!(
                "{addr}: the test message was not sent: cannot tell"
            )),
        }
    }
}

/// What became of the accepted test message.
fn delivery_note(live: &Smuggled, o: &Observation) -> String {
    let account = o.account.clone().unwrap_or_default();
    match (&live.delivered, live.deleted, &live.probe.message_id) {
        (Some(path), true, _) => format!(
            " (the test message was delivered to {} and deleted)",
            path.display()
        ),
        (Some(path), false, _) => format!(
            " (the test message was delivered to {}; the run's cleanup deletes it)",
            path.display()
        ),
        (None, _, Some(id)) if !o.vantage.local => format!(
            " (the test message went to {account} only; mailcheck cannot reach the Maildir from here: delete the message with Message-ID <{id}>)"
        ),
        (None, _, _) => live
            .wait_problem
            .as_ref()
            .map(|w| format!(" (the test message to {account} was not seen yet: {w}; the run's cleanup deletes it by the run token)"))
            .unwrap_or_default(),
    }
}

/// The lines to add, for the running version.
fn fix(config: Option<&ServerConfig>) -> String {
    const LINES: &str = "`smtpd_forbid_bare_newline = normalize` and `smtpd_forbid_bare_newline_exclusions = $mynetworks`";
    let version = config.and_then(ServerConfig::version);
    let forbid = config.and_then(|c| c.get("smtpd_forbid_bare_newline"));
    let master = forbid
        .and_then(|s| s.master_cf_line.filter(|_| s.master_cf.is_some()))
        .map(|l| format!(" and remove `-o smtpd_forbid_bare_newline=...` from master.cf line {l}"))
        .unwrap_or_default();
    match version {
        Some(v)
            if v >= (Version {
                major: 3,
                minor: 9,
                patch: 0,
            }) =>
        {
            let line = forbid
                .and_then(|s| s.main_cf_line)
                .map(|l| format!(" (main.cf line {l})"))
                .unwrap_or_default();
            format!(
                "Postfix {v}'s default is normalize: remove smtpd_forbid_bare_newline{line}, or set {LINES} in main.cf{master}, then `postfix reload`"
            )
        }
        Some(v) if v.has(&NORMALIZE) => format!(
            "add to main.cf: {LINES} (Postfix {v} has them: {}; the default from 3.9){master}, then `postfix reload`",
            NORMALIZE.releases()
        ),
        Some(v) if v.has(&YES) => format!(
            "add to main.cf: `smtpd_forbid_bare_newline = yes` and `smtpd_forbid_bare_newline_exclusions = $mynetworks` (Postfix {v} knows only yes and no; normalize came with {}){master}, then `postfix reload`",
            NORMALIZE.releases()
        ),
        Some(v) => format!(
            "Postfix {v} has no smtpd_forbid_bare_newline: upgrade to {} and add {LINES} to main.cf; until then `smtpd_data_restrictions = reject_unauth_pipelining` stops the published attack (postfix.org/smtp-smuggling.html)",
            NORMALIZE.releases()
        ),
        None => format!(
            "add to main.cf: {LINES} (Postfix {}; the default from 3.9), then `postfix reload`",
            NORMALIZE.releases()
        ),
    }
}
