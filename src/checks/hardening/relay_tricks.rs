//! H7: no classic relay trick (percent hack, bang path, quoted local part, source route, address
//! literal) is accepted at RCPT from outside mynetworks without AUTH (RFC 5321 §3.6, App. C;
//! Postfix allow_untrusted_routing, ADDRESS_REWRITING_README). RCPT only, never DATA.

use std::net::SocketAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ServerConfig, from_where, server_config, setup_verdict};
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::facts::hardening::Vantage;
use crate::probe::hardening::relay_tricks::{RelayTricksObservation, Trick, TrickAttempt};
use crate::probe::session::{Service, Step};
use crate::verdict::Verdict;

const PARAMS: &[&str] = &[
    "allow_untrusted_routing",
    "allow_percent_hack",
    "swap_bangpath",
    "resolve_dequoted_address",
    "mynetworks",
];

/// H7 has no parameters (the addresses use reserved names).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {}

/// What H7 saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Observation {
    pub vantage: Vantage,
    /// The server's own mail domain the forms were built on, and where it came from.
    pub domain: String,
    pub domain_from: String,
    pub probe: RelayTricksObservation,
    pub config: Option<ServerConfig>,
}

/// H7: the kind.
pub struct RelayTricks;

const OPEN_RELAY_FIX: &str = "set `mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128` and `smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination` in main.cf, remove any access map that says OK to every recipient, keep `allow_untrusted_routing = no`, then `postfix reload`";

/// How one form was answered.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Accepted,
    /// Refused as relaying (454/554 "Relay access denied"), or as a bad address.
    Refused,
    /// A routed local part that got past the relay check and was refused only because no such
    /// user exists (`550 5.1.1 ... User unknown`): allow_untrusted_routing = yes.
    PastRelayCheck,
    Unknown,
}

fn outcome(a: &TrickAttempt) -> Outcome {
    let r = &a.rcpt;
    if r.is_positive() {
        return Outcome::Accepted;
    }
    let text = r.describe().to_ascii_lowercase();
    let routed = matches!(
        a.trick,
        Trick::PercentHack | Trick::BangPath | Trick::QuotedLocalPart
    );
    if routed && r.is_permanent() && (text.contains("5.1.1") || text.contains("unknown")) {
        return Outcome::PastRelayCheck;
    }
    if r.refuses() {
        return Outcome::Refused;
    }
    Outcome::Unknown
}

impl Kind for RelayTricks {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let vantage = facts.hardening_vantage().await;
        if let Some(why) = &vantage.inside_mynetworks
            && !vantage.holds_everything
        {
            return Err(Unobserved::NotApplicable {
                reason: format!(
                    "{why}: relay tricks from inside mynetworks prove nothing; run mailcheck from another machine"
                ),
            });
        }
        let Some((domain, domain_from)) = domain(facts).await else {
            return Err(Unobserved::NotApplicable {
                reason: format!(
                    "--host {} is an address and no --account names the server's mail domain, which the relay tricks must use (a domain the server does not accept is refused as relaying, whatever the tricks do): give --account USER@DOMAIN",
                    facts.target.host
                ),
            });
        };
        let probe = facts
            .relay_tricks(&domain)
            .await
            .map_err(Unobserved::Failed)?;
        Ok(Observation {
            vantage,
            domain,
            domain_from,
            probe: (*probe).clone(),
            config: server_config(facts, Service::Smtp, PARAMS).await,
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let p = &o.probe;
        let addr = &p.endpoint.addr;
        if let Some(f) = &p.setup_failure {
            return setup_verdict(addr, f);
        }
        let from = from_where(&o.vantage);
        let untrusted = o
            .config
            .as_ref()
            .and_then(|c| c.get("allow_untrusted_routing"))
            .filter(|s| s.lower().as_deref() == Some("yes"))
            .map(|s| s.shown(o.config.as_ref().and_then(|c| c.mail_version.as_deref())));
        let untrusted_note = untrusted
            .as_ref()
            .map(|s| format!("; {s}"))
            .unwrap_or_default();
        let mail = match &p.mail {
            Some(m) => m,
            None => return Verdict::error(format!("{addr}: MAIL FROM was not sent")),
        };
        if mail.refuses() {
            return Verdict::pass(format!(
                "{addr} refused MAIL FROM:<{}> {from}: `{}`: nothing to relay",
                p.sender,
                mail.describe()
            ));
        }
        if !mail.is_positive() {
            return Verdict::error(format!(
                "{addr}: MAIL FROM:<{}>: `{}`: cannot tell",
                p.sender,
                mail.describe()
            ));
        }
        let shown =
            |a: &TrickAttempt| format!("`RCPT TO:<{}>` -> `{}`", a.address, a.rcpt.describe());
        let with = |want: Outcome| -> Vec<String> {
            p.attempts
                .iter()
                .filter(|a| outcome(a) == want)
                .map(shown)
                .collect()
        };
        let accepted = with(Outcome::Accepted);
        if !accepted.is_empty() {
            let remote_loopback = !o.vantage.local
                && p.endpoint
                    .addr
                    .parse::<SocketAddr>()
                    .is_ok_and(|a| a.ip().is_loopback());
            if remote_loopback {
                return Verdict::skip(format!(
                    "{addr} accepted a relay form from a loopback address, which mynetworks normally holds: that proves nothing; run mailcheck on the server, or from another machine"
                ));
            }
            let elsewhere = if o.vantage.local {
                ""
            } else {
                " (if this machine's network is in mynetworks on purpose, run mailcheck from elsewhere)"
            };
            return Verdict::fail(format!(
                "{addr} is an open relay {from}, without AUTH: {} (RCPT only, then RSET: nothing was sent){untrusted_note}{elsewhere}",
                accepted.join(", ")
            ))
            .with_fix(OPEN_RELAY_FIX);
        }
        let past = with(Outcome::PastRelayCheck);
        if !past.is_empty() {
            return Verdict::warn(format!(
                "{addr} let routed addresses past the relay check {from}: {}; they were refused only because no such user exists, so a matching local part or a catch-all would relay them{untrusted_note}",
                past.join(", ")
            ))
            .with_fix(
                "set `allow_untrusted_routing = no` in main.cf (the default), then `postfix reload`",
            );
        }
        if let Some(a) = p.attempts.iter().find(|a| outcome(a) == Outcome::Unknown) {
            return Verdict::error(format!(
                "{addr}: {}: neither accepted nor refused: cannot tell",
                shown(a)
            ));
        }
        if p.attempts.len() < Trick::ALL.len() {
            return Verdict::error(format!(
                "{addr}: the session ended after {} of {} forms: cannot tell",
                p.attempts.len(),
                Trick::ALL.len()
            ));
        }
        let first = p
            .attempts
            .first()
            .map(|a| a.rcpt.describe())
            .unwrap_or_default();
        let same = p.attempts.iter().all(|a| {
            let (x, y) = (a.rcpt.code(), p.attempts[0].rcpt.code());
            x == y
        });
        let replies = if same {
            format!(
                "every one answered {}, e.g. `{first}`",
                code_of(&p.attempts[0].rcpt)
            )
        } else {
            p.attempts.iter().map(shown).collect::<Vec<_>>().join(", ")
        };
        if let Some(u) = untrusted {
            return Verdict::warn(format!(
                "{addr} refuses all {} relay forms {from} ({replies}), but {u}: routed local parts (user%domain, domain!user) then pass the relay check",
                p.attempts.len()
            ))
            .with_fix(
                "set `allow_untrusted_routing = no` in main.cf (the default), then `postfix reload`",
            );
        }
        Verdict::pass(format!(
            "{addr} refuses all {} relay forms for {} {from} (percent hack, bang path, quoted local part, source route, address literal, plain foreign address): {replies}",
            p.attempts.len(),
            o.domain
        ))
    }
}

fn code_of(s: &Step) -> String {
    s.code().map(|c| c.to_string()).unwrap_or_default()
}

/// The server's own mail domain: the account's, else mydomain (on the server), else --host
/// without its first label; `None` when --host is an address (198.19.0.1 is no domain, and
/// "19.0.1" would pass every server).
async fn domain(facts: &Facts) -> Option<(String, String)> {
    if let Some(a) = &facts.account {
        return Some((a.domain.clone(), "the account's domain".into()));
    }
    if facts.target.local
        && let Ok(cfg) = facts.postfix().await
    {
        let d = cfg.get("mydomain");
        if !d.is_empty() {
            return Some((d, "mydomain".into()));
        }
    }
    domain_of_host(&facts.target.host)
}

/// --host without its first label (mx.example.com -> example.com), or itself; `None` for an
/// address.
fn domain_of_host(host: &str) -> Option<(String, String)> {
    let host = host.trim_end_matches('.');
    if crate::checks::judge::is_address(host) {
        return None;
    }
    Some(match host.split_once('.') {
        Some((_, rest)) if rest.contains('.') => {
            (rest.to_string(), "--host without its first label".into())
        }
        _ => (host.to_string(), "--host".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_names_no_mail_domain() {
        assert_eq!(domain_of_host("198.19.0.1"), None);
        assert_eq!(domain_of_host("[2001:db8::1]"), None);
        assert_eq!(domain_of_host("::1"), None);
        assert_eq!(
            domain_of_host("mx.corp.test.").map(|d| d.0).as_deref(),
            Some("corp.test")
        );
        assert_eq!(
            domain_of_host("localhost").map(|d| d.0).as_deref(),
            Some("localhost")
        );
    }
}
