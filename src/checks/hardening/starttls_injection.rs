//! H2: STARTTLS command injection (CVE-2011-0411 class): a command written in the same packet
//! as STARTTLS is discarded, never answered inside TLS (RFC 3207 §4.2).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ServerConfig, from_where, server_config, setup_verdict};
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::facts::hardening::Vantage;
use crate::probe::hardening::starttls_injection::StarttlsInjectionObservation;
use crate::probe::session::{Service, Step};
use crate::verdict::Verdict;

/// `[probe]` of H2.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub service: Service,
}

/// What H2 saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Observation {
    pub vantage: Vantage,
    pub probe: StarttlsInjectionObservation,
    /// On the server: the Postfix version (no parameter decides this).
    pub config: Option<ServerConfig>,
}

/// H2: the kind.
pub struct StarttlsInjection;

const FIX: &str = "upgrade the MTA: Postfix discards what came with STARTTLS since 2.8.0 (2.7.3, 2.6.9, 2.5.12, 2.4.16); no setting turns that off";

impl Kind for StarttlsInjection {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let probe = facts
            .starttls_injection(spec.service)
            .await
            .map_err(Unobserved::Failed)?;
        Ok(Observation {
            vantage: facts.hardening_vantage().await,
            probe: (*probe).clone(),
            config: server_config(facts, spec.service, &[]).await,
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let p = &o.probe;
        let addr = &p.endpoint.addr;
        if let Some(f) = &p.setup_failure {
            return setup_verdict(addr, f);
        }
        let from = from_where(&o.vantage);
        match &p.starttls {
            Some(s) if s.code() == Some(220) => {}
            Some(s @ Step::Reply { .. }) => {
                return Verdict::skip(format!(
                    "{addr} answered STARTTLS with `{}`: no TLS to inject into",
                    s.describe()
                ));
            }
            Some(s) => return Verdict::error(format!("{addr}: STARTTLS: {}", s.describe())),
            None => return Verdict::error(format!("{addr}: STARTTLS was not sent")),
        }
        if let Some(e) = &p.handshake_error {
            return Verdict::error(format!(
                "{addr}: the TLS handshake after STARTTLS with `{}` failed: {}: cannot tell",
                p.sent,
                e.describe()
            ));
        }
        let sent = &p.sent;
        match &p.reply_inside_tls {
            Some(r @ Step::Reply { .. }) => {
                return Verdict::warn(format!(
                    "{addr} answered the NOOP written in the same packet as STARTTLS ({sent}) inside TLS, ahead of the reply to EHLO (`{}`) {from}: it keeps plaintext commands across STARTTLS, so a man in the middle can inject commands into the encrypted session (CVE-2011-0411)",
                    r.describe()
                ))
                .with_fix(FIX);
            }
            Some(e) => {
                return Verdict::error(format!(
                    "{addr}: inside TLS, ahead of the reply to EHLO: {}: cannot tell",
                    e.describe()
                ));
            }
            None => {}
        }
        if let Some(text) = &p.plaintext_after_starttls {
            return Verdict::warn(format!(
                "{addr} answered the NOOP written in the same packet as STARTTLS ({sent}) in plain text after its 220 (`{text}`) {from}: it acts on commands pipelined after STARTTLS instead of discarding them"
            ))
            .with_fix(FIX);
        }
        // A late answer to the NOOP lands where the EHLO reply belongs: one line, `2.0.0 Ok`.
        if let Some(Step::Reply { code: 250, lines }) = &p.ehlo_tls
            && lines.len() == 1
            && lines[0].starts_with("2.0.0")
        {
            return Verdict::warn(format!(
                "{addr} answered the NOOP written with STARTTLS ({sent}) inside TLS, late: the reply to EHLO was `250 {}` {from} (CVE-2011-0411)",
                lines[0]
            ))
            .with_fix(FIX);
        }
        let ehlo = match &p.ehlo_tls {
            Some(s) if s.code() == Some(250) => String::new(),
            Some(s) => format!("; EHLO inside TLS then got `{}`", s.describe()),
            None => String::new(),
        };
        let version = o
            .config
            .as_ref()
            .and_then(|c| c.mail_version.clone())
            .map(|v| format!(" (Postfix {v})"))
            .unwrap_or_default();
        match &p.quit_tls {
            // Recorded before the QUIT proof: a silent wait.
            None => Verdict::pass(format!(
                "{addr} discarded the NOOP written in the same packet as STARTTLS ({sent}) {from}: nothing came inside TLS within {:.1} s{ehlo}{version}",
                p.waited_ms as f64 / 1000.0
            )),
            Some(Step::Reply { code: 221, .. }) => Verdict::pass(format!(
                "{addr} discarded the NOOP written in the same packet as STARTTLS ({sent}) {from}: inside TLS the first reply answered EHLO and the second QUIT (221), so nothing answered the NOOP{ehlo}{version}"
            )),
            Some(q) => Verdict::error(format!(
                "{addr}: after EHLO inside TLS, QUIT got `{}` instead of 221: cannot tell whether the NOOP written with STARTTLS ({sent}) was answered",
                q.describe()
            )),
        }
    }
}
