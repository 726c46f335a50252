//! SMTP client (RFC 5321, 3207, 4954): owned dialog, bounded replies, transcript.

mod auth;
mod client;
mod command;
mod reply;
mod stream;
mod transcript;

use std::fmt;
use std::time::Duration;

pub use crate::probe::tls::{CertInfo, TlsInfo};
pub use auth::AuthMechanism;
pub use client::{PipelinedStarttls, SmtpClient};
pub use command::Command;
pub use reply::{Capabilities, MAX_LINE, MAX_LINES, MAX_REPLY, Reply, parse_reply};
pub use transcript::{Dir, Transcript, TranscriptEntry};

/// One deadline per phase of the dialog; each covers the whole exchange (write and complete
/// reply), not a single read, so a server that trickles bytes still runs out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Timeouts {
    /// TCP connect.
    pub connect: Duration,
    /// From connected to the complete greeting.
    pub banner: Duration,
    /// One command and its complete reply (EHLO, MAIL, RCPT, each AUTH round trip, ...).
    pub command: Duration,
    /// The TLS handshake after `220` to STARTTLS.
    pub tls: Duration,
    /// From the message body written to the reply after the final `.`.
    pub data: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            banner: Duration::from_secs(10),
            command: Duration::from_secs(10),
            tls: Duration::from_secs(10),
            data: Duration::from_secs(30),
        }
    }
}

impl Timeouts {
    /// Every phase gets the same deadline (handy for tests and a `--timeout` flag).
    pub fn all(d: Duration) -> Self {
        Timeouts {
            connect: d,
            banner: d,
            command: d,
            tls: d,
            data: d,
        }
    }
}

/// Where in the dialog something happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Connect,
    Banner,
    Ehlo,
    Starttls,
    TlsHandshake,
    Auth,
    Mail,
    Rcpt,
    Data,
    DataEnd,
    Quit,
    Other,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Connect => "connect",
            Phase::Banner => "banner",
            Phase::Ehlo => "EHLO",
            Phase::Starttls => "STARTTLS",
            Phase::TlsHandshake => "TLS handshake",
            Phase::Auth => "AUTH",
            Phase::Mail => "MAIL FROM",
            Phase::Rcpt => "RCPT TO",
            Phase::Data => "DATA",
            Phase::DataEnd => "end of DATA",
            Phase::Quit => "QUIT",
            Phase::Other => "command",
        })
    }
}

/// Why an SMTP exchange did not produce a reply to judge.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// Refused, unreachable, or no TCP connection within the connect deadline.
    #[error(transparent)]
    Connect(#[from] crate::net::ConnectError),
    #[error("{}", timeout_message(*.phase, *.after))]
    Timeout { phase: Phase, after: Duration },
    /// `421`: the server is closing the channel (overload, postscreen, shutdown).
    #[error("service unavailable at {phase}: {}", .reply.first_line())]
    ServiceUnavailable { phase: Phase, reply: Reply },
    #[error("server closed the connection during {phase}")]
    Closed { phase: Phase },
    /// The server sent something that is not SMTP; `detail` is sanitised and length-capped.
    #[error("protocol violation during {phase}: {detail}")]
    Protocol { phase: Phase, detail: String },
    #[error("{phase} refused: {}", .reply.first_line())]
    Rejected { phase: Phase, reply: Reply },
    #[error("TLS handshake failed: {detail}")]
    Tls { detail: String },
    #[error("refusing to send credentials over a connection without TLS")]
    AuthWithoutTls,
    #[error("I/O error during {phase}: {detail}")]
    Io { phase: Phase, detail: String },
}

impl SmtpError {
    /// The phase the error belongs to.
    pub fn phase(&self) -> Phase {
        match self {
            SmtpError::Connect(_) => Phase::Connect,
            SmtpError::Tls { .. } => Phase::TlsHandshake,
            SmtpError::AuthWithoutTls => Phase::Auth,
            SmtpError::Timeout { phase, .. }
            | SmtpError::ServiceUnavailable { phase, .. }
            | SmtpError::Closed { phase }
            | SmtpError::Protocol { phase, .. }
            | SmtpError::Rejected { phase, .. }
            | SmtpError::Io { phase, .. } => *phase,
        }
    }

    /// Whether a deadline ran out (including the TCP connect deadline).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            SmtpError::Timeout { .. }
                | SmtpError::Connect(crate::net::ConnectError::Timeout { .. })
        )
    }
}

fn timeout_message(phase: Phase, after: Duration) -> String {
    let after = human_duration(after);
    match phase {
        Phase::Connect => format!("no connection after {after}"),
        Phase::Banner => format!("no banner after {after}"),
        Phase::TlsHandshake => format!("TLS handshake not finished after {after}"),
        Phase::DataEnd => format!("no reply to the end of DATA after {after}"),
        Phase::Other => format!("no reply to the command after {after}"),
        p => format!("no reply to {p} after {after}"),
    }
}

/// "10 s", "1.5 s", "300 ms".
pub(crate) fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_messages_name_the_phase() {
        let e = SmtpError::Timeout {
            phase: Phase::Banner,
            after: Duration::from_secs(10),
        };
        assert_eq!(e.to_string(), "no banner after 10 s");
        let e = SmtpError::Timeout {
            phase: Phase::Ehlo,
            after: Duration::from_millis(300),
        };
        assert_eq!(e.to_string(), "no reply to EHLO after 300 ms");
        assert!(e.is_timeout());
        assert_eq!(e.phase(), Phase::Ehlo);
    }

    #[test]
    fn phase_display() {
        assert_eq!(Phase::TlsHandshake.to_string(), "TLS handshake");
        assert_eq!(Phase::DataEnd.to_string(), "end of DATA");
        assert_eq!(Phase::Banner.to_string(), "banner");
    }

    #[test]
    fn default_timeouts() {
        let t = Timeouts::default();
        assert_eq!(t.connect, Duration::from_secs(5));
        assert_eq!(t.data, Duration::from_secs(30));
    }
}
