//! H1 SMTP smuggling: is a bare-LF end of DATA taken? (CVE-2023-51764, smtpd_forbid_bare_newline)
//!
//! One message to the test account, ended with a non-standard end of DATA and nothing after
//! it. Postfix with `smtpd_forbid_bare_newline = no` (the default before 3.9) answers 250 and
//! queues it; with `normalize` (`yes` from 3.5.24/3.6.14/3.7.10/3.8.5 on, the default from 3.9)
//! or `reject` it stays in DATA and says nothing; 3.5.23/3.6.13/3.7.9/3.8.4 with `yes` answer
//! `521 5.5.2 ... Error: bare <LF> received` and hang up. When nothing comes back, the probe
//! closes the connection without a proper end of DATA, so the server discards the message.
//! No second, smuggled message is ever sent.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Endpoint, SetupFailure, Step, Target};
use crate::probe::smtp::{Command, Phase, SmtpError};
use crate::probe::testmail;

/// Which non-standard end of DATA follows the message (the last content line's end included).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum EndOfData {
    /// `<LF>.<CR><LF>`: the sequence of the published attack; the one that tells a vulnerable
    /// Postfix (`no`) from every hardened setting.
    #[default]
    #[serde(rename = "lf-dot-crlf")]
    LfDotCrLf,
    /// `<CR><LF>.<LF>`.
    #[serde(rename = "crlf-dot-lf")]
    CrLfDotLf,
    /// `<LF>.<LF>`.
    #[serde(rename = "lf-dot-lf")]
    LfDotLf,
}

impl EndOfData {
    /// The bytes after the last content line's text.
    pub fn bytes(self) -> &'static [u8] {
        match self {
            EndOfData::LfDotCrLf => b"\n.\r\n",
            EndOfData::CrLfDotLf => b"\r\n.\n",
            EndOfData::LfDotLf => b"\n.\n",
        }
    }

    /// `<LF>.<CR><LF>`.
    pub fn describe(self) -> &'static str {
        match self {
            EndOfData::LfDotCrLf => "<LF>.<CR><LF>",
            EndOfData::CrLfDotLf => "<CR><LF>.<LF>",
            EndOfData::LfDotLf => "<LF>.<LF>",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            EndOfData::LfDotCrLf => "lf-dot-crlf",
            EndOfData::CrLfDotLf => "crlf-dot-lf",
            EndOfData::LfDotLf => "lf-dot-lf",
        }
    }
}

/// What the smuggling probe needs besides the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmugglingRequest {
    /// The test account: the envelope sender and the only recipient.
    pub account: String,
    /// The run token, carried in the message's headers (Message-ID, Subject, X-Mailcheck-Run).
    pub token: String,
    pub end: EndOfData,
    /// How long to wait for a reply after the non-standard end. A vulnerable server answers as
    /// fast as after a normal end of DATA; a hardened one never does, so every hardened run
    /// spends all of it.
    pub wait: Duration,
}

/// How the server answered the non-standard end of DATA.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum EndResponse {
    /// The session did not get as far as sending the message (setup, MAIL, RCPT or DATA).
    #[default]
    NotSent,
    /// 2xx: the bare-LF form ended the message and it was queued.
    Accepted,
    /// 4xx/5xx (e.g. `521 5.5.2 ... Error: bare <LF> received`).
    Refused,
    /// Not a byte within the wait: the server is still reading DATA. The probe closed the
    /// connection without an end of DATA.
    Silent,
    /// The server closed the connection without a reply.
    Closed,
    /// Some other failure (timeout inside a reply, garbage, I/O error): see `end_reply`.
    Failed,
}

/// What the smuggling probe saw.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct SmugglingObservation {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    pub end_of_data: EndOfData,
    /// `<LF>.<CR><LF>`, for people reading the record.
    pub end_of_data_shown: String,
    pub setup_failure: Option<SetupFailure>,
    pub ehlo: Option<Step>,
    pub mail: Option<Step>,
    pub rcpt: Option<Step>,
    /// The reply to DATA (354 expected).
    pub data: Option<Step>,
    /// The reply after the non-standard end; `None` when none came (`Silent`) or it was not
    /// sent.
    pub end_reply: Option<Step>,
    pub response: EndResponse,
    /// How long the probe waited after the end (milliseconds).
    pub waited_ms: u64,
    /// The Message-ID of the message sent (without `<>`), so the caller can find it.
    pub message_id: Option<String>,
    /// The queue id from `250 2.0.0 Ok: queued as <id>`, when the server took it.
    pub queue_id: Option<String>,
    pub token: String,
    pub transcript: Vec<String>,
}

/// The message as sent after DATA's 354: CRLF line ends, leading dots doubled (RFC 5321
/// §4.5.2), and `end` instead of the standard `<CR><LF>.<CR><LF>`. Never contains a standard
/// end of DATA, and no bare LF except those of `end`.
pub fn payload(message: &[u8], end: EndOfData) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 32 + 8);
    let mut pieces: Vec<&[u8]> = message.split(|&b| b == b'\n').collect();
    if pieces.last().is_some_and(|p| p.is_empty()) {
        pieces.pop();
    }
    let last = pieces.len().saturating_sub(1);
    for (i, piece) in pieces.iter().enumerate() {
        // Every trailing CR goes: one left on the last line would turn `<LF>.<CR><LF>` into
        // a standard `<CR><LF>.<CR><LF>`.
        let keep = piece.len() - piece.iter().rev().take_while(|&&b| b == b'\r').count();
        let line = &piece[..keep];
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        if i != last {
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(end.bytes());
    out
}

/// The queue id in Postfix's `250 2.0.0 Ok: queued as 4Tq9Xb1x2Cz3`.
pub fn queue_id(reply_text: &str) -> Option<String> {
    let (_, rest) = reply_text.split_once("queued as ")?;
    let id: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .take(64)
        .collect();
    (!id.is_empty()).then_some(id)
}

/// The one test message the probe sends for `req`: to and from the account, carrying the run
/// token. The caller learns its Message-ID before the first byte goes out (to track it).
pub fn test_message(req: &SmugglingRequest) -> Result<testmail::TestMessage, testmail::BuildError> {
    testmail::plain(
        &req.token,
        &format!("smuggling {}", req.end.slug()),
        &req.account,
    )
}

/// Sends one test message to `req.account` ended by `req.end`, and records the answer.
pub async fn probe(target: &Target, req: &SmugglingRequest) -> SmugglingObservation {
    let mut o = SmugglingObservation {
        endpoint: Endpoint::of(target),
        end_of_data: req.end,
        end_of_data_shown: req.end.describe().to_string(),
        token: req.token.clone(),
        ..SmugglingObservation::default()
    };
    let message = match test_message(req) {
        Ok(m) => m,
        Err(e) => {
            o.setup_failure = Some(SetupFailure {
                step: "message".into(),
                outcome: Step::error(super::ErrorKind::Io, "DATA", e.to_string()),
            });
            return o;
        }
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
    let r = c
        .command(&Command::MailFrom {
            address: req.account.clone(),
            params: Vec::new(),
        })
        .await;
    o.mail = Some(Step::from_result(&r));
    if !matches!(&r, Ok(reply) if reply.is_positive()) {
        o.transcript = c.quit().await.lines();
        return o;
    }
    let r = c.command(&Command::RcptTo(req.account.clone())).await;
    o.rcpt = Some(Step::from_result(&r));
    if !matches!(&r, Ok(reply) if reply.is_positive()) {
        o.transcript = c.quit().await.lines();
        return o;
    }
    let r = c.command(&Command::Data).await;
    o.data = Some(Step::from_result(&r));
    if !matches!(&r, Ok(reply) if reply.code == 354) {
        o.transcript = c.quit().await.lines();
        return o;
    }
    o.message_id = Some(message.message_id.clone());
    let body = payload(&message.bytes, req.end);
    let shown = format!(
        "<message {}: {} bytes, ended by {} instead of <CR><LF>.<CR><LF>>",
        message.message_id,
        message.bytes.len(),
        req.end.describe()
    );
    if let Err(e) = c.send_raw(Phase::DataEnd, &body, &[&shown]).await {
        o.end_reply = Some(Step::from_error(&e));
        o.response = EndResponse::Failed;
        o.transcript = c.close().await.lines();
        return o;
    }
    let started = Instant::now();
    let r = c.reply_within(Phase::DataEnd, req.wait).await;
    o.waited_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match r {
        Ok(None) => {
            o.response = EndResponse::Silent;
            // Still in DATA: hang up without an end of DATA; the server drops the message.
            o.transcript = c.close().await.lines();
        }
        Ok(Some(reply)) => {
            o.response = if reply.is_positive() {
                o.queue_id = queue_id(&reply.text());
                EndResponse::Accepted
            } else {
                EndResponse::Refused
            };
            o.end_reply = Some(Step::reply(&reply));
            o.transcript = c.quit().await.lines();
        }
        Err(e) => {
            o.response = match &e {
                SmtpError::ServiceUnavailable { .. } => EndResponse::Refused,
                SmtpError::Closed { .. } => EndResponse::Closed,
                _ => EndResponse::Failed,
            };
            o.end_reply = Some(Step::from_error(&e));
            o.transcript = c.close().await.lines();
        }
    }
    o
}

/// What the server answered to `NOOP<LF>` (a command line with a bare LF), and whether the
/// session went on. `smtpd_forbid_bare_newline = reject` answers `550 5.5.2 ... Error: bare <LF>
/// received` (or its `smtpd_forbid_bare_newline_reject_code`) and hangs up; `normalize` and
/// `no` answer 250. Tells `reject` from `normalize`, which the DATA probe cannot.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct BareLfCommandObservation {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    pub setup_failure: Option<SetupFailure>,
    pub ehlo: Option<Step>,
    /// The reply to `NOOP<LF>`.
    pub bare_lf_noop: Option<Step>,
    /// The reply to a standard `NOOP<CR><LF>` afterwards (a `closed` error: the server hung up).
    pub noop_after: Option<Step>,
    pub transcript: Vec<String>,
}

/// Sends `NOOP<LF>`, then a standard `NOOP`, and records both replies.
pub async fn bare_lf_command(target: &Target) -> BareLfCommandObservation {
    let mut o = BareLfCommandObservation {
        endpoint: Endpoint::of(target),
        ..BareLfCommandObservation::default()
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
    let deadline = target.timeouts.command;
    let r = match c.send_raw(Phase::Other, b"NOOP\n", &["NOOP<LF>"]).await {
        Ok(()) => c.reply(Phase::Other, deadline).await,
        Err(e) => Err(e),
    };
    o.bare_lf_noop = Some(Step::from_result(&r));
    if r.is_ok() {
        let r = c.command(&Command::Noop).await;
        o.noop_after = Some(Step::from_result(&r));
    }
    o.transcript = c.quit().await.lines();
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_ends_with_the_chosen_sequence_only() {
        let msg = b"Subject: x\r\n\r\n.hidden\r\nlast line\r\n";
        assert_eq!(
            payload(msg, EndOfData::LfDotCrLf),
            b"Subject: x\r\n\r\n..hidden\r\nlast line\n.\r\n".to_vec()
        );
        assert_eq!(
            payload(msg, EndOfData::CrLfDotLf),
            b"Subject: x\r\n\r\n..hidden\r\nlast line\r\n.\n".to_vec()
        );
        assert_eq!(
            payload(msg, EndOfData::LfDotLf),
            b"Subject: x\r\n\r\n..hidden\r\nlast line\n.\n".to_vec()
        );
        assert_eq!(payload(b"", EndOfData::LfDotCrLf), b"\n.\r\n".to_vec());
        // A line that is a lone dot is doubled: never a standard end of DATA inside.
        let p = payload(b"a\r\n.\r\nb", EndOfData::LfDotCrLf);
        assert_eq!(p, b"a\r\n..\r\nb\n.\r\n".to_vec());
        // A stray CR at the end of the last line would complete a standard end: dropped.
        assert_eq!(
            payload(b"a\r\r\n", EndOfData::LfDotCrLf),
            b"a\n.\r\n".to_vec()
        );
    }

    #[test]
    fn queue_ids_are_read_from_postfix_replies() {
        assert_eq!(
            queue_id("2.0.0 Ok: queued as 0A672C0173").as_deref(),
            Some("0A672C0173")
        );
        assert_eq!(
            queue_id("2.0.0 Ok: queued as 4Tq9Xb1x2Cz3 extra").as_deref(),
            Some("4Tq9Xb1x2Cz3")
        );
        assert_eq!(queue_id("2.0.0 Ok"), None);
        assert_eq!(queue_id("queued as "), None);
    }

    #[test]
    fn observations_round_trip_through_json() {
        let o = SmugglingObservation {
            end_of_data: EndOfData::CrLfDotLf,
            response: EndResponse::Silent,
            end_reply: None,
            message_id: Some("m@mailcheck.invalid".into()),
            ..SmugglingObservation::default()
        };
        let text = serde_json::to_string(&o).unwrap();
        assert!(text.contains("\"end_of_data\":\"crlf-dot-lf\""), "{text}");
        let back: SmugglingObservation = serde_json::from_str(&text).unwrap();
        assert_eq!(back, o);
    }
}
