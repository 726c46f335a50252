//! H4 address probing: the replies to `VRFY <account>` and `VRFY postmaster` (RFC 5321 §3.5.3).
//!
//! Postfix 3.7.11 with the default `disable_vrfy_command = no` announces VRFY in EHLO and
//! answers `252 2.0.0 <address>`; with `yes` it drops VRFY from EHLO and answers
//! `502 5.5.1 VRFY command is disabled`.

use serde::{Deserialize, Serialize};

use super::{Endpoint, SetupFailure, Step, Target};
use crate::probe::smtp::{Command, SmtpError};

/// The second VRFY argument, which every server must have (RFC 5321 §4.5.1).
pub const POSTMASTER: &str = "postmaster";

/// One VRFY and its reply.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct VrfyAttempt {
    /// The argument as sent (`VRFY <argument>`).
    pub argument: String,
    pub reply: Step,
}

/// What the VRFY probe saw.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct VrfyObservation {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    pub setup_failure: Option<SetupFailure>,
    pub ehlo: Option<Step>,
    /// EHLO announced VRFY.
    pub ehlo_offers_vrfy: bool,
    pub attempts: Vec<VrfyAttempt>,
    pub transcript: Vec<String>,
}

/// `VRFY` each of `arguments` (e.g. the account and [`POSTMASTER`]) in one session. Arguments
/// holding a line break are not sent.
pub async fn probe(target: &Target, arguments: &[&str]) -> VrfyObservation {
    let mut o = VrfyObservation {
        endpoint: Endpoint::of(target),
        ..VrfyObservation::default()
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
    o.ehlo_offers_vrfy = c.capabilities().is_some_and(|k| k.has("VRFY"));
    let mut usable = true;
    for arg in arguments {
        let r = c.command(&Command::Vrfy((*arg).to_string())).await;
        o.attempts.push(VrfyAttempt {
            argument: (*arg).to_string(),
            reply: Step::from_result(&r),
        });
        if let Err(e) = r {
            usable = !matches!(
                e,
                SmtpError::Closed { .. }
                    | SmtpError::Timeout { .. }
                    | SmtpError::ServiceUnavailable { .. }
                    | SmtpError::Protocol { .. }
            );
            if !usable {
                break;
            }
        }
    }
    o.transcript = if usable {
        c.quit().await.lines()
    } else {
        c.close().await.lines()
    };
    o
}
