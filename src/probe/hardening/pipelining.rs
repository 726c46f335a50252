//! H3 SMTP synchronisation: a client that talks ahead (RFC 2920 §3.1; Postfix forbid/reject).
//!
//! Postfix's controls are smtpd_forbid_unauth_pipelining and reject_unauth_pipelining
//! (postconf(5)); RFC 5321 §4.3.1 has the client wait for the greeting.
//!
//! The client writes `EHLO <name><CR><LF>NOOP<CR><LF>` in one write, right after the greeting
//! (EHLO must end a pipelined group, and PIPELINING has not been announced yet), or, in the
//! other variant, `EHLO` before the greeting. Postfix 3.7.11 answers:
//! - default (`smtpd_forbid_unauth_pipelining = no`; yes by default from 3.9, backported with
//!   default no to 3.8.1, 3.7.6, 3.6.10, 3.5.20): both replies, and the transaction goes on;
//! - `smtpd_forbid_unauth_pipelining = yes`: `554 5.5.0 Error: SMTP protocol synchronization`
//!   instead of the EHLO reply, and it hangs up;
//! - `reject_unauth_pipelining` in `smtpd_data_restrictions`: both replies, then `503 5.5.0
//!   <DATA>: Data command rejected: Improper use of SMTP command pipelining` to DATA (in
//!   `smtpd_client_restrictions`: the same 503 to RCPT, "Client host rejected").
//!
//! So after the pipelined write the probe runs `MAIL FROM`, `RCPT TO` (the test account) and
//! `DATA`, and if DATA is answered 354 it hangs up at once: no message content is ever sent.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Endpoint, SetupFailure, Step, Target};
use crate::probe::smtp::{Command, Phase, SmtpClient, SmtpError};

/// How the probe talks ahead of the server.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// `EHLO` and `NOOP` in one write after the greeting.
    #[default]
    EhloThenNoop,
    /// `EHLO` written right after the TCP connect, before the greeting. Racy by nature (a fast
    /// server may greet before the bytes arrive), and postscreen(8) counts it as a pregreet
    /// violation that can turn this client away for a day (`postscreen_greet_ttl`).
    BeforeGreeting,
}

/// What the synchronisation probe needs besides the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeliningRequest {
    pub variant: Variant,
    /// Sender and recipient of the transaction after the pipelined write (the test account).
    pub account: String,
    /// How long to wait for the reply to the second, pipelined command.
    pub wait: Duration,
}

/// What the synchronisation probe saw.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct PipeliningObservation {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    pub variant: Variant,
    /// Where the session stopped before the pipelined write could be judged (connect, or a
    /// greeting other than 220 in the `EhloThenNoop` variant).
    pub setup_failure: Option<SetupFailure>,
    /// The bytes written in one write, as shown: `EHLO x<CR><LF>NOOP<CR><LF>`.
    pub sent: String,
    /// The greeting (for `BeforeGreeting`, read after the early write; a 554 here means the
    /// server refused to greet a client that spoke first).
    pub banner: Option<Step>,
    /// The first reply after the write: the EHLO reply, or `554 5.5.0 Error: SMTP protocol
    /// synchronization`.
    pub first: Option<Step>,
    /// The reply to the pipelined NOOP; `None` when none came within the wait.
    pub second: Option<Step>,
    /// The server hung up after its answer.
    pub closed_by_server: bool,
    /// The transaction after the pipelined write.
    pub mail: Option<Step>,
    pub rcpt: Option<Step>,
    /// 354 means DATA was accepted; the probe then hung up without sending content.
    pub data: Option<Step>,
    pub transcript: Vec<String>,
}

fn is_closed(e: &SmtpError) -> bool {
    matches!(e, SmtpError::Closed { .. })
}

/// Runs the synchronisation probe.
pub async fn probe(target: &Target, req: &PipeliningRequest) -> PipeliningObservation {
    let mut o = PipeliningObservation {
        endpoint: Endpoint::of(target),
        variant: req.variant,
        ..PipeliningObservation::default()
    };
    let ehlo = format!("EHLO {}", target.ehlo_name);
    let c = match req.variant {
        Variant::EhloThenNoop => {
            let wire = format!("{ehlo}\r\nNOOP\r\n");
            o.sent = super::show_bytes(wire.as_bytes());
            let connected = match target.source {
                Some(ip) => SmtpClient::connect_from(ip, target.addr, target.timeouts).await,
                None => SmtpClient::connect(target.addr, target.timeouts).await,
            };
            let mut c = match connected {
                Ok(c) => c,
                Err(e) => return setup_failed(o, &e),
            };
            o.banner = Some(Step::reply(c.banner()));
            if c.banner().code != 220 {
                o.setup_failure = Some(SetupFailure {
                    step: "banner".into(),
                    outcome: Step::reply(c.banner()),
                });
                o.transcript = c.quit().await.lines();
                return o;
            }
            if let Err(e) = c
                .send_raw(Phase::Ehlo, wire.as_bytes(), &[&ehlo, "NOOP"])
                .await
            {
                o.first = Some(Step::from_error(&e));
                o.transcript = c.close().await.lines();
                return o;
            }
            c
        }
        Variant::BeforeGreeting => {
            let wire = format!("{ehlo}\r\n");
            o.sent = super::show_bytes(wire.as_bytes());
            let shown = format!("{ehlo} (before the greeting)");
            match SmtpClient::connect_speaking_first(
                target.source,
                target.addr,
                target.timeouts,
                wire.as_bytes(),
                &[&shown],
            )
            .await
            {
                Ok(c) => {
                    o.banner = Some(Step::reply(c.banner()));
                    c
                }
                Err(e) => return setup_failed(o, &e),
            }
        }
    };
    converse(o, c, target, req).await
}

fn setup_failed(mut o: PipeliningObservation, e: &SmtpError) -> PipeliningObservation {
    let step = match e {
        SmtpError::Connect(_) => "connect",
        _ => "banner",
    };
    o.closed_by_server = is_closed(e);
    o.setup_failure = Some(SetupFailure {
        step: step.into(),
        outcome: Step::from_error(e),
    });
    o
}

async fn converse(
    mut o: PipeliningObservation,
    mut c: SmtpClient,
    target: &Target,
    req: &PipeliningRequest,
) -> PipeliningObservation {
    let deadline = target.timeouts.command;
    // BeforeGreeting: the greeting was the first reply; a refusal there ends the session.
    if req.variant == Variant::BeforeGreeting && c.banner().code != 220 {
        o.first = o.banner.clone();
        o.closed_by_server = matches!(
            c.reply_within(Phase::Other, req.wait).await,
            Err(SmtpError::Closed { .. })
        );
        o.transcript = c.close().await.lines();
        return o;
    }
    let first = c.reply(Phase::Ehlo, deadline).await;
    o.first = Some(Step::from_result(&first));
    let first = match first {
        Ok(r) => r,
        Err(e) => {
            o.closed_by_server = is_closed(&e);
            o.transcript = c.close().await.lines();
            return o;
        }
    };
    if req.variant == Variant::EhloThenNoop {
        match c.reply_within(Phase::Other, req.wait).await {
            Ok(None) => {}
            Ok(Some(r)) => o.second = Some(Step::reply(&r)),
            Err(e) => {
                o.closed_by_server = is_closed(&e);
                o.second = (!o.closed_by_server).then(|| Step::from_error(&e));
                o.transcript = c.close().await.lines();
                return o;
            }
        }
    }
    if first.code != 250 {
        // 554 synchronization (or another refusal): see whether the server hangs up.
        o.closed_by_server = matches!(
            c.reply_within(Phase::Other, req.wait).await,
            Err(SmtpError::Closed { .. })
        );
        o.transcript = c.close().await.lines();
        return o;
    }
    transaction(&mut o, &mut c, &req.account).await;
    o.transcript = match o.data.as_ref().and_then(Step::code) {
        // In DATA: hang up without content, the server drops the transaction.
        Some(354) => c.close().await.lines(),
        _ if o.closed_by_server => c.close().await.lines(),
        _ => c.quit().await.lines(),
    };
    o
}

/// MAIL, RCPT, DATA, each only when the one before was accepted.
async fn transaction(o: &mut PipeliningObservation, c: &mut SmtpClient, account: &str) {
    let r = c
        .command(&Command::MailFrom {
            address: account.to_string(),
            params: Vec::new(),
        })
        .await;
    o.mail = Some(Step::from_result(&r));
    match &r {
        Ok(reply) if reply.is_positive() => {}
        Ok(_) => return,
        Err(e) => {
            o.closed_by_server = is_closed(e);
            return;
        }
    }
    let r = c.command(&Command::RcptTo(account.to_string())).await;
    o.rcpt = Some(Step::from_result(&r));
    match &r {
        Ok(reply) if reply.is_positive() => {}
        Ok(_) => {
            let _ = c.command(&Command::Rset).await;
            return;
        }
        Err(e) => {
            o.closed_by_server = is_closed(e);
            return;
        }
    }
    let r = c.command(&Command::Data).await;
    o.data = Some(Step::from_result(&r));
    match &r {
        Ok(reply) if reply.code == 354 => {}
        Ok(_) => {
            let _ = c.command(&Command::Rset).await;
        }
        Err(e) => o.closed_by_server = is_closed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_serialise_in_kebab_case() {
        assert_eq!(
            serde_json::to_string(&Variant::BeforeGreeting).unwrap(),
            "\"before-greeting\""
        );
        let o = PipeliningObservation {
            first: Some(Step::Reply {
                code: 554,
                lines: vec!["5.5.0 Error: SMTP protocol synchronization".into()],
            }),
            closed_by_server: true,
            ..PipeliningObservation::default()
        };
        let back: PipeliningObservation =
            serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
        assert_eq!(back, o);
    }
}
