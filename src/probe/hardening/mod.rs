//! Probes for the hardening requirements H1-H7 (issue 15): plain data, never a verdict.
//!
//! CVE-2023-51764 smuggling, CVE-2011-0411 STARTTLS injection, RFC 2920 synchronisation, RFC
//! 5321 §3.5.3 VRFY, RFC 8996 TLS floor, RFC 5321 §3.6 relay tricks.
//!
//! Every probe takes explicit inputs (a [`Target`] plus its own request) and returns an
//! observation: what was sent, what came back, and the transcript. None decides pass or fail,
//! none prints, none reads the run's context.

pub mod certificate;
pub mod legacy_tls;
pub mod pipelining;
pub mod postconf;
pub mod relay_tricks;
pub mod smuggling;
pub mod starttls_injection;
pub mod vrfy;

use std::net::{IpAddr, SocketAddr};

pub use crate::probe::session::{ErrorKind, SetupFailure, Step};
use crate::probe::smtp::{SmtpClient, SmtpError, Timeouts};

/// The name the hardening probes give in EHLO (RFC 2606 `.invalid`).
pub const EHLO_NAME: &str = "mailcheck.invalid";

/// Where a probe connects to, from where, and how long each phase may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The server's SMTP port.
    pub addr: SocketAddr,
    /// The local address to connect from (e.g. `::1`, outside `mynetworks = 127.0.0.0/8`),
    /// or `None` for the system's choice.
    pub source: Option<IpAddr>,
    /// The server's host name: the TLS server name and the SNI sent.
    pub server_name: String,
    /// What the probe says in EHLO.
    pub ehlo_name: String,
    /// Connect, greeting, each command, TLS handshake; each probe adds its own short waits.
    pub timeouts: Timeouts,
}

impl Target {
    /// A target with mailcheck's EHLO name, no source address and default phase deadlines.
    pub fn new(addr: SocketAddr, server_name: &str) -> Target {
        Target {
            addr,
            source: None,
            server_name: server_name.to_string(),
            ehlo_name: EHLO_NAME.to_string(),
            timeouts: Timeouts::default(),
        }
    }

    /// The same target, connecting from `source`.
    pub fn from_source(mut self, source: IpAddr) -> Target {
        self.source = Some(source);
        self
    }

    /// The same target with other deadlines.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Target {
        self.timeouts = timeouts;
        self
    }
}

/// Where the connection went: the first fields of every observation.
#[derive(
    Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(default)]
pub struct Endpoint {
    /// `host:port` connected to.
    pub addr: String,
    /// The source address asked for, if any.
    pub source: Option<String>,
}

impl Endpoint {
    fn of(target: &Target) -> Endpoint {
        Endpoint {
            addr: target.addr.to_string(),
            source: target.source.map(|s| s.to_string()),
        }
    }
}

/// Connects (from the target's source), reads the greeting and sends EHLO; on success returns
/// the client and the EHLO step. On failure returns where it stopped and the transcript.
pub(crate) async fn open(
    target: &Target,
) -> Result<(SmtpClient, Step), (SetupFailure, Vec<String>)> {
    let fail = |step: &str, outcome: Step| SetupFailure {
        step: step.to_string(),
        outcome,
    };
    let connected = match target.source {
        Some(ip) => SmtpClient::connect_from(ip, target.addr, target.timeouts).await,
        None => SmtpClient::connect(target.addr, target.timeouts).await,
    };
    let mut c = match connected {
        Ok(c) => c,
        Err(e) => {
            let step = if matches!(e, SmtpError::Connect(_)) {
                "connect"
            } else {
                "banner"
            };
            return Err((fail(step, Step::from_error(&e)), Vec::new()));
        }
    };
    if c.banner().code != 220 {
        let f = fail("banner", Step::reply(c.banner()));
        return Err((f, c.quit().await.lines()));
    }
    let r = c.ehlo(&target.ehlo_name).await;
    let step = Step::from_result(&r);
    if !matches!(&r, Ok(reply) if reply.code == 250) {
        return Err((fail("EHLO", step), c.quit().await.lines()));
    }
    Ok((c, step))
}

/// A setup failure for a session that needs STARTTLS on a server whose EHLO does not offer it.
pub(crate) fn starttls_not_offered() -> SetupFailure {
    SetupFailure {
        step: "STARTTLS".to_string(),
        outcome: Step::error(
            ErrorKind::NotOffered,
            "STARTTLS",
            "EHLO does not offer STARTTLS",
        ),
    }
}

/// Bytes as the transcript shows them: printable ASCII kept, CR and LF as `<CR>` and `<LF>`,
/// anything else as `\xNN`.
pub fn show_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    for &b in bytes {
        match b {
            b'\r' => out.push_str("<CR>"),
            b'\n' => out.push_str("<LF>"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_shown_with_their_line_ends() {
        assert_eq!(
            show_bytes(b"EHLO x\r\nNOOP\n\x00"),
            "EHLO x<CR><LF>NOOP<LF>\\x00"
        );
    }

    #[test]
    fn targets_are_built_from_explicit_inputs() {
        let t = Target::new("127.0.0.1:25".parse().unwrap(), "mx.example")
            .from_source("::1".parse().unwrap());
        assert_eq!(t.ehlo_name, EHLO_NAME);
        let e = Endpoint::of(&t);
        assert_eq!(e.addr, "127.0.0.1:25");
        assert_eq!(e.source.as_deref(), Some("::1"));
    }
}
