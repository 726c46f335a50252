//! H4: address probing: VRFY is disabled (RFC 5321 §3.5.3; Postfix disable_vrfy_command).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ServerConfig, from_where, server_config, setup_verdict};
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::facts::hardening::Vantage;
use crate::probe::hardening::vrfy::{POSTMASTER, VrfyObservation};
use crate::probe::session::{Service, Step};
use crate::verdict::Verdict;

/// H4 has no parameters: it asks for the account (when given) and postmaster.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {}

/// What H4 saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Observation {
    pub vantage: Vantage,
    pub probe: VrfyObservation,
    pub config: Option<ServerConfig>,
}

/// H4: the kind.
pub struct Vrfy;

const FIX: &str = "add to main.cf: `disable_vrfy_command = yes` (every Postfix version has it), then `postfix reload`";

/// A reply that says VRFY is not available at all (502 not implemented / disabled, 500, 504).
fn disabled(s: &Step) -> bool {
    matches!(s.code(), Some(500 | 502 | 504))
}

impl Kind for Vrfy {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let mut args: Vec<String> = facts.account.iter().map(|a| a.address.clone()).collect();
        args.push(POSTMASTER.to_string());
        let probe = facts.vrfy(&args).await.map_err(Unobserved::Failed)?;
        Ok(Observation {
            vantage: facts.hardening_vantage().await,
            probe: (*probe).clone(),
            config: server_config(facts, Service::Smtp, &["disable_vrfy_command"]).await,
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let p = &o.probe;
        let addr = &p.endpoint.addr;
        if let Some(f) = &p.setup_failure {
            return setup_verdict(addr, f);
        }
        if p.attempts.is_empty() {
            return Verdict::error(format!("{addr}: no VRFY was sent"));
        }
        let setting = o
            .config
            .as_ref()
            .and_then(|c| c.shown("disable_vrfy_command"))
            .map(|s| format!("; {s}"))
            .unwrap_or_default();
        let from = from_where(&o.vantage);
        let shown = |a: &crate::probe::hardening::vrfy::VrfyAttempt| {
            format!("`VRFY {}` -> `{}`", a.argument, a.reply.describe())
        };
        let answered: Vec<String> = p
            .attempts
            .iter()
            .filter(|a| a.reply.code().is_some() && !disabled(&a.reply))
            .map(shown)
            .collect();
        if !answered.is_empty() {
            let ehlo = if p.ehlo_offers_vrfy {
                "; EHLO announces VRFY"
            } else {
                ""
            };
            return Verdict::warn(format!(
                "{addr} answers VRFY {from}: {}: anyone can test which addresses exist{ehlo}{setting}",
                answered.join(", ")
            ))
            .with_fix(FIX);
        }
        if let Some(a) = p.attempts.iter().find(|a| a.reply.code().is_none()) {
            return Verdict::error(format!(
                "{addr}: `VRFY {}`: {}: cannot tell",
                a.argument,
                a.reply.describe()
            ));
        }
        let all: Vec<String> = p.attempts.iter().map(shown).collect();
        Verdict::pass(format!(
            "{addr} refuses VRFY {from}: {}{setting}",
            all.join(", ")
        ))
    }
}
