//! H3: SMTP synchronisation: a client that talks ahead before PIPELINING is offered is refused
//! (RFC 2920 §3.1, RFC 5321 §4.3.1; Postfix smtpd_forbid_unauth_pipelining and
//! reject_unauth_pipelining).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Feature, ServerConfig, Version, from_where, server_config, setup_verdict};
use crate::checks::kind::{Kind, Unobserved};
use crate::checks::values::Span;
use crate::facts::Facts;
use crate::facts::hardening::Vantage;
use crate::probe::hardening::pipelining::PipeliningObservation;
use crate::probe::postfix::split_list;
use crate::probe::session::{Service, Step};
use crate::verdict::Verdict;

/// `smtpd_forbid_unauth_pipelining` (default `yes` from 3.9).
const FORBID: Feature = Feature {
    mainline: (3, 9),
    backports: &[(3, 5, 20), (3, 6, 10), (3, 7, 6), (3, 8, 1)],
};

/// Where `reject_unauth_pipelining` takes effect.
const RESTRICTIONS: &[&str] = &[
    "smtpd_client_restrictions",
    "smtpd_helo_restrictions",
    "smtpd_sender_restrictions",
    "smtpd_relay_restrictions",
    "smtpd_recipient_restrictions",
    "smtpd_data_restrictions",
];

/// `[probe]` of H3.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// How long to wait for the reply to the pipelined NOOP.
    pub wait: Span,
}

/// What H3 saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Observation {
    pub vantage: Vantage,
    /// `None` when it did not run (see `not_probed`).
    pub live: Option<PipeliningObservation>,
    pub not_probed: Option<String>,
    pub config: Option<ServerConfig>,
}

/// H3: the kind.
pub struct Pipelining;

impl Kind for Pipelining {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let mut names = vec!["smtpd_forbid_unauth_pipelining"];
        names.extend_from_slice(RESTRICTIONS);
        let config = server_config(facts, Service::Smtp, &names).await;
        let (live, not_probed) = match &facts.account {
            Some(a) => {
                let p = facts
                    .pipelining(&a.address, spec.wait.0)
                    .await
                    .map_err(Unobserved::Failed)?;
                (Some((*p).clone()), None)
            }
            None if facts.target.local => (
                None,
                Some("needs --account: the probe's transaction goes to that account".to_string()),
            ),
            None => {
                return Err(Unobserved::NotApplicable {
                    reason:
                        "needs --account (the probe's MAIL and RCPT name it; no message is sent)"
                            .into(),
                });
            }
        };
        Ok(Observation {
            vantage: facts.hardening_vantage().await,
            live,
            not_probed,
            config,
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let config = o.config.as_ref();
        let guard = guard(config);
        let fix = fix(config);
        let Some(p) = &o.live else {
            let why = o.not_probed.clone().unwrap_or_default();
            return match (&guard, config.and_then(|c| c.shown("smtpd_forbid_unauth_pipelining"))) {
                (Some(g), _) => Verdict::pass(format!(
                    "{g}: Postfix refuses a client that talks ahead (not probed live: {why})"
                )),
                (None, Some(s)) => Verdict::warn(format!(
                    "{s} and no reject_unauth_pipelining in smtpd_*_restrictions: Postfix serves a client that sends before it may (not probed live: {why})"
                ))
                .with_fix(fix),
                (None, None) => Verdict::skip(format!(
                    "not probed live ({why}) and the settings could not be read"
                )),
            };
        };
        let addr = &p.endpoint.addr;
        if let Some(f) = &p.setup_failure {
            return setup_verdict(addr, f);
        }
        let from = from_where(&o.vantage);
        let sent = &p.sent;
        let Some(first) = &p.first else {
            return Verdict::error(format!("{addr}: no reply after {sent}: cannot tell"));
        };
        if first.is_permanent() {
            let hung = if p.closed_by_server {
                " and hung up"
            } else {
                ""
            };
            return Verdict::pass(format!(
                "{addr} refused {sent}, written in one go before PIPELINING was offered {from}: `{}`{hung}{}",
                first.describe(),
                note(config)
            ));
        }
        if first.code() != Some(250) {
            return Verdict::error(format!(
                "{addr}: {sent} got `{}`: cannot tell",
                first.describe()
            ));
        }
        let refused_for_pipelining = |s: &Step| {
            s.code().is_some_and(|c| c >= 500)
                && s.describe().to_ascii_lowercase().contains("pipelining")
        };
        for (step, what) in [(&p.mail, "MAIL"), (&p.rcpt, "RCPT"), (&p.data, "DATA")] {
            let Some(s) = step else {
                return Verdict::error(format!(
                    "{addr}: the session after {sent} stopped before {what}: cannot tell"
                ));
            };
            if refused_for_pipelining(s) {
                return Verdict::pass(format!(
                    "{addr} answered {sent} but then refused {what} {from}: `{}`{}",
                    s.describe(),
                    note(config)
                ));
            }
            let ok = match what {
                "DATA" => s.code() == Some(354),
                _ => s.is_positive(),
            };
            if !ok {
                return Verdict::error(format!(
                    "{addr}: after {sent}, {what} got `{}`: cannot tell",
                    s.describe()
                ));
            }
        }
        let second = p
            .second
            .as_ref()
            .map(|s| format!(" and `{}`", s.describe()))
            .unwrap_or_default();
        Verdict::warn(format!(
            "{addr} answered {sent}, written in one go before PIPELINING was offered {from} (`{}`{second}), and went on to DATA (354; mailcheck hung up without sending content): it serves a client that does not wait for its replies{}",
            first.describe(),
            note(config)
        ))
        .with_fix(fix)
    }
}

/// The setting that refuses pipelining clients, if one does.
fn guard(config: Option<&ServerConfig>) -> Option<String> {
    let c = config?;
    let forbid = c.get("smtpd_forbid_unauth_pipelining")?;
    if forbid.lower().as_deref() == Some("yes") {
        return c.shown("smtpd_forbid_unauth_pipelining");
    }
    RESTRICTIONS.iter().find_map(|name| {
        let s = c.get(name)?;
        let has = split_list(s.effective.as_deref().unwrap_or(""))
            .iter()
            .any(|r| r.eq_ignore_ascii_case("reject_unauth_pipelining"));
        has.then(|| s.shown(c.mail_version.as_deref()))
    })
}

/// "; `smtpd_forbid_unauth_pipelining = no` (...)" for the message.
fn note(config: Option<&ServerConfig>) -> String {
    match (
        guard(config),
        config.and_then(|c| c.shown("smtpd_forbid_unauth_pipelining")),
    ) {
        (Some(g), _) => format!("; {g}"),
        (None, Some(s)) => {
            format!("; {s}, and no reject_unauth_pipelining in smtpd_*_restrictions")
        }
        (None, None) => String::new(),
    }
}

/// The line to add, for the running version.
fn fix(config: Option<&ServerConfig>) -> String {
    let version = config.and_then(ServerConfig::version);
    match version {
        Some(v)
            if v >= (Version {
                major: 3,
                minor: 9,
                patch: 0,
            }) =>
        {
            format!(
                "Postfix {v}'s default is smtpd_forbid_unauth_pipelining = yes: remove the line that sets it to no from main.cf (or master.cf), then `postfix reload`"
            )
        }
        Some(v) if v.has(&FORBID) => format!(
            "add to main.cf: `smtpd_forbid_unauth_pipelining = yes` (Postfix {v} has it: {}; the default from 3.9), then `postfix reload`",
            FORBID.releases()
        ),
        Some(v) => format!(
            "add `reject_unauth_pipelining` to smtpd_data_restrictions in main.cf (`smtpd_data_restrictions = reject_unauth_pipelining`), then `postfix reload` (Postfix {v} has no smtpd_forbid_unauth_pipelining; it came with {})",
            FORBID.releases()
        ),
        None => format!(
            "add to main.cf: `smtpd_forbid_unauth_pipelining = yes` (Postfix {}; the default from 3.9; older: `smtpd_data_restrictions = reject_unauth_pipelining`), then `postfix reload`",
            FORBID.releases()
        ),
    }
}
