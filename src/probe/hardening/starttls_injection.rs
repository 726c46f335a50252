//! H2 STARTTLS injection: is a command pipelined with STARTTLS answered in TLS? (CVE-2011-0411)
//!
//! RFC 3207 §4.2: after the handshake both sides start from scratch, so nothing said in
//! plaintext may be acted on inside TLS.
//!
//! Writes `STARTTLS<CR><LF>NOOP<CR><LF>` at once, completes the handshake, then sends EHLO and
//! QUIT inside TLS, one at a time. A server answers in the order it reads, and the injected NOOP
//! comes before both, so the replies prove what it did without a timed wait: `250` (EHLO) then
//! `221` (QUIT) is a server that discarded the NOOP; a reply, then the EHLO reply where QUIT's
//! belongs, then `221`, is a server that answered the NOOP inside TLS. Postfix discards it since
//! 2.8.0 (2.7.3, 2.6.9, 2.5.12, 2.4.16).

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{Endpoint, SetupFailure, Step, Target};
use crate::probe::smtp::Phase;

/// The command written in the same packet as STARTTLS.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Injected {
    /// `NOOP`: harmless if executed.
    #[default]
    Noop,
    /// `RSET`: harmless if executed.
    Rset,
}

impl Injected {
    pub fn line(self) -> &'static str {
        match self {
            Injected::Noop => "NOOP",
            Injected::Rset => "RSET",
        }
    }
}

/// What the injection probe needs besides the target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InjectionRequest {
    pub injected: Injected,
}

/// What the injection probe saw.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct StarttlsInjectionObservation {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    pub setup_failure: Option<SetupFailure>,
    pub ehlo: Option<Step>,
    /// The bytes written, as shown: `STARTTLS<CR><LF>NOOP<CR><LF>`.
    pub sent: String,
    /// The reply to STARTTLS (220 expected), or why there was none.
    pub starttls: Option<Step>,
    /// Plaintext the server sent after its 220 and before the handshake (sanitised excerpt):
    /// an answer to the injected command given before TLS. Discarded, never fed to TLS.
    pub plaintext_after_starttls: Option<String>,
    /// The handshake's failure, when the 220 came but TLS did not (e.g. the server fed the
    /// injected bytes to its TLS layer).
    pub handshake_error: Option<Step>,
    /// "TLSv1.3".
    pub tls_protocol: Option<String>,
    pub tls_cipher: Option<String>,
    /// A reply inside TLS ahead of the reply to EHLO: the answer to the injected command.
    /// `None` when the first reply was EHLO's (the reply to QUIT came second).
    pub reply_inside_tls: Option<Step>,
    /// From the end of the handshake to the reply to QUIT (milliseconds); recordings made
    /// before the QUIT proof hold the silent wait here instead.
    pub waited_ms: u64,
    /// The reply to EHLO inside TLS: shows the session is sound.
    pub ehlo_tls: Option<Step>,
    /// The reply to QUIT inside TLS (221 expected): its place among the replies proves the
    /// server had read and answered everything before it. `None` in recordings made before
    /// the proof (they waited 1.5 s in silence instead).
    pub quit_tls: Option<Step>,
    pub transcript: Vec<String>,
}

/// Runs the injection probe.
pub async fn probe(target: &Target, req: &InjectionRequest) -> StarttlsInjectionObservation {
    let extra = format!("{}\r\n", req.injected.line());
    let mut o = StarttlsInjectionObservation {
        endpoint: Endpoint::of(target),
        sent: super::show_bytes(format!("STARTTLS\r\n{extra}").as_bytes()),
        ..StarttlsInjectionObservation::default()
    };
    let (mut c, ehlo) = match super::open(target).await {
        Ok(x) => x,
        Err((f, transcript)) => {
            o.setup_failure = Some(f);
            o.transcript = transcript;
            return o;
        }
    };
    o.ehlo = Some(ehlo);
    if !c.capabilities().is_some_and(|k| k.has("STARTTLS")) {
        o.setup_failure = Some(super::starttls_not_offered());
        o.transcript = c.quit().await.lines();
        return o;
    }
    let r = c
        .starttls_with_pipelined(
            &target.server_name,
            extra.as_bytes(),
            &[req.injected.line()],
        )
        .await;
    let done = match r {
        Ok(done) => done,
        Err(e) => {
            if e.phase() == Phase::TlsHandshake {
                o.starttls = Some(Step::Reply {
                    code: 220,
                    lines: Vec::new(),
                });
                o.handshake_error = Some(Step::from_error(&e));
            } else {
                o.starttls = Some(Step::from_error(&e));
            }
            o.transcript = c.close().await.lines();
            return o;
        }
    };
    o.starttls = Some(Step::reply(&done.reply));
    o.plaintext_after_starttls = done.plaintext_after_reply;
    o.tls_protocol = Some(done.tls.protocol.clone());
    o.tls_cipher = Some(done.tls.cipher.clone());
    let started = Instant::now();
    // Reply 1: the injected command's answer (if the server kept it) or EHLO's.
    let first = c.ehlo(&target.ehlo_name).await;
    let first = match first {
        Ok(reply) => reply,
        Err(e) => {
            o.ehlo_tls = Some(Step::from_error(&e));
            o.transcript = c.close().await.lines();
            return o;
        }
    };
    // Reply 2: QUIT's 221, or EHLO's when reply 1 answered the injected command.
    let deadline = target.timeouts.command;
    let second = match c.send_raw(Phase::Quit, b"QUIT\r\n", &["QUIT"]).await {
        Ok(()) => c.reply(Phase::Quit, deadline).await,
        Err(e) => Err(e),
    };
    match second {
        Ok(reply) if reply.code == 221 => {
            o.ehlo_tls = Some(Step::reply(&first));
            o.quit_tls = Some(Step::reply(&reply));
        }
        Ok(reply) => {
            o.reply_inside_tls = Some(Step::reply(&first));
            o.ehlo_tls = Some(Step::reply(&reply));
            o.quit_tls = Some(Step::from_result(&c.reply(Phase::Quit, deadline).await));
        }
        Err(e) => {
            o.ehlo_tls = Some(Step::reply(&first));
            o.quit_tls = Some(Step::from_error(&e));
        }
    }
    o.waited_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    o.transcript = c.close_after_quit().await.lines();
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_lines() {
        assert_eq!(Injected::Noop.line(), "NOOP");
        assert_eq!(Injected::Rset.line(), "RSET");
        assert_eq!(InjectionRequest::default().injected, Injected::Noop);
    }
}
