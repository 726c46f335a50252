//! H7 classic relay tricks, RCPT only (RFC 5321 §3.6, App. C; Postfix allow_untrusted_routing).
//!
//! Postfix documents the address forms in ADDRESS_REWRITING_README (allow_percent_hack,
//! swap_bangpath, resolve_dequoted_address).
//!
//! From a client outside `mynetworks`, unauthenticated, one transaction with one RCPT per
//! form, then RSET. The foreign recipient is in `example.net` and the address literal is
//! `198.51.100.7` (RFC 2606 / RFC 5737 documentation names), so nothing can ever be relayed
//! anywhere real. Postfix resolves every form to its real destination before the relay check
//! (the lab answers `454 4.7.1 <...>: Relay access denied` to all of them), and with
//! `allow_untrusted_routing = no` (the default) refuses the routed local parts (`%`, `!`, a
//! quoted `@`) even where an access map says OK; with `yes` they pass the relay check and are
//! refused only as unknown users (`550 5.1.1 ... User unknown in virtual mailbox table`).

use serde::{Deserialize, Serialize};

use super::{Endpoint, SetupFailure, Step, Target};
use crate::probe::smtp::{Command, SmtpError};

/// The local part of every probe address.
pub const LOCAL_PART: &str = "mailcheck-relay-test";
/// The foreign domain (RFC 2606).
pub const FOREIGN_DOMAIN: &str = "example.net";
/// The address literal's IP (RFC 5737 TEST-NET-2).
pub const LITERAL_IP: &str = "198.51.100.7";
/// The envelope sender (RFC 2606).
pub const SENDER: &str = "probe@example.org";

/// One address form.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Trick {
    /// `user%example.net@<domain>`.
    PercentHack,
    /// `example.net!user@<domain>`.
    BangPath,
    /// `"user@example.net"@<domain>`.
    QuotedLocalPart,
    /// `@<domain>:user@example.net` (RFC 5321 App. C; servers SHOULD ignore the route).
    SourceRoute,
    /// `user@[198.51.100.7]`.
    AddressLiteral,
    /// `user@example.net`: the control; refused by any server that is not an open relay.
    #[default]
    PlainForeign,
}

impl Trick {
    pub const ALL: [Trick; 6] = [
        Trick::PercentHack,
        Trick::BangPath,
        Trick::QuotedLocalPart,
        Trick::SourceRoute,
        Trick::AddressLiteral,
        Trick::PlainForeign,
    ];

    /// The path inside `RCPT TO:<...>` for the server's `domain`.
    pub fn address(self, domain: &str) -> String {
        let (l, f) = (LOCAL_PART, FOREIGN_DOMAIN);
        match self {
            Trick::PercentHack => format!("{l}%{f}@{domain}"),
            Trick::BangPath => format!("{f}!{l}@{domain}"),
            Trick::QuotedLocalPart => format!("\"{l}@{f}\"@{domain}"),
            Trick::SourceRoute => format!("@{domain}:{l}@{f}"),
            Trick::AddressLiteral => format!("{l}@[{LITERAL_IP}]"),
            Trick::PlainForeign => format!("{l}@{f}"),
        }
    }
}

/// One RCPT and its reply.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct TrickAttempt {
    pub trick: Trick,
    /// The path inside the angle brackets.
    pub address: String,
    /// The exact line written, without CRLF: `RCPT TO:<...>`.
    pub wire: String,
    pub rcpt: Step,
}

/// What the relay-trick probe saw.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct RelayTricksObservation {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// The server's domain the tricks were built for.
    pub domain: String,
    pub setup_failure: Option<SetupFailure>,
    pub ehlo: Option<Step>,
    pub sender: String,
    pub mail: Option<Step>,
    pub attempts: Vec<TrickAttempt>,
    pub rset: Option<Step>,
    pub transcript: Vec<String>,
}

/// Tries every [`Trick`] for `domain` (the server's own mail domain). The caller picks the
/// target's source outside `mynetworks`; the probe never authenticates and never sends DATA.
pub async fn probe(target: &Target, domain: &str) -> RelayTricksObservation {
    let mut o = RelayTricksObservation {
        endpoint: Endpoint::of(target),
        domain: domain.to_string(),
        sender: SENDER.to_string(),
        ..RelayTricksObservation::default()
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
            address: SENDER.to_string(),
            params: Vec::new(),
        })
        .await;
    o.mail = Some(Step::from_result(&r));
    if !matches!(&r, Ok(reply) if reply.is_positive()) {
        o.transcript = c.quit().await.lines();
        return o;
    }
    let mut usable = true;
    for trick in Trick::ALL {
        let address = trick.address(domain);
        let cmd = Command::RcptTo(address.clone());
        let wire = cmd.line();
        let r = c.command(&cmd).await;
        o.attempts.push(TrickAttempt {
            trick,
            address,
            wire,
            rcpt: Step::from_result(&r),
        });
        if let Err(e) = &r
            && !matches!(e, SmtpError::Io { .. })
        {
            usable = false;
            break;
        }
    }
    if usable {
        // Never DATA, whatever was accepted.
        let r = c.command(&Command::Rset).await;
        o.rset = Some(Step::from_result(&r));
        o.transcript = c.quit().await.lines();
    } else {
        o.transcript = c.close().await.lines();
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_holds_exactly_the_intended_forms() {
        let lines: Vec<String> = Trick::ALL
            .iter()
            .map(|t| Command::RcptTo(t.address("example.com")).to_string())
            .collect();
        assert_eq!(
            lines,
            vec![
                "RCPT TO:<mailcheck-relay-test%example.net@example.com>\r\n",
                "RCPT TO:<example.net!mailcheck-relay-test@example.com>\r\n",
                "RCPT TO:<\"mailcheck-relay-test@example.net\"@example.com>\r\n",
                "RCPT TO:<@example.com:mailcheck-relay-test@example.net>\r\n",
                "RCPT TO:<mailcheck-relay-test@[198.51.100.7]>\r\n",
                "RCPT TO:<mailcheck-relay-test@example.net>\r\n",
            ]
        );
    }
}
