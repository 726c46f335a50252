//! SMTP AUTH (RFC 4954) with PLAIN (RFC 4616) and LOGIN, driven by the rsasl client.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rsasl::prelude::{Mechname, SASLClient, SASLConfig, Session, State};

use crate::secret::Secret;

/// Most 334 challenges answered in one AUTH exchange.
pub(crate) const MAX_ROUNDS: usize = 10;

/// The mechanisms saslauthd can check (and so the tutorial's server offers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum AuthMechanism {
    Plain,
    Login,
}

impl AuthMechanism {
    /// The SASL name, as sent after `AUTH`.
    pub fn name(self) -> &'static str {
        match self {
            AuthMechanism::Plain => "PLAIN",
            AuthMechanism::Login => "LOGIN",
        }
    }
}

impl fmt::Display for AuthMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One client-side SASL exchange. Responses come out base64-encoded and are sent as is; the
/// caller records them only as `<redacted>`.
pub(crate) struct Sasl {
    session: Session,
    finished: bool,
}

/// What went wrong inside the SASL client library (never the server's answer).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SaslError {
    #[error("SASL setup: {0}")]
    Setup(String),
    #[error("SASL mechanism name: {0}")]
    Name(String),
    #[error("SASL {mechanism}: {message}")]
    Start {
        mechanism: AuthMechanism,
        message: String,
    },
    #[error("SASL step: {0}")]
    Step(String),
    #[error("334 challenge is not base64")]
    Challenge,
}

impl Sasl {
    pub(crate) fn start(
        mechanism: AuthMechanism,
        user: &str,
        password: &Secret,
    ) -> Result<Self, SaslError> {
        let config =
            SASLConfig::with_credentials(None, user.to_string(), password.expose().to_string())
                .map_err(|e| SaslError::Setup(e.to_string()))?;
        let name = Mechname::parse(mechanism.name().as_bytes())
            .map_err(|e| SaslError::Name(e.to_string()))?;
        let session = SASLClient::new(config)
            .start_suggested(&[name])
            .map_err(|e| SaslError::Start {
                mechanism,
                message: e.to_string(),
            })?;
        Ok(Sasl {
            session,
            finished: false,
        })
    }

    /// Whether the client speaks first (PLAIN: the response goes on the AUTH line).
    pub(crate) fn client_first(&self) -> bool {
        self.session.are_we_first()
    }

    /// Whether the mechanism has sent its last message.
    pub(crate) fn finished(&self) -> bool {
        self.finished
    }

    /// The next response, base64-encoded, to the decoded `challenge` (`None` for the first
    /// message of a client-first mechanism).
    pub(crate) fn step(&mut self, challenge: Option<&[u8]>) -> Result<String, SaslError> {
        let mut out = Vec::new();
        let state = self
            .session
            .step(challenge, &mut out)
            .map_err(|e| SaslError::Step(e.to_string()))?;
        if let State::Finished(_) = state {
            self.finished = true;
        }
        let encoded = B64.encode(&out);
        // The plaintext response holds the password: do not leave it in freed memory longer
        // than needed.
        out.iter_mut().for_each(|b| *b = 0);
        Ok(encoded)
    }
}

/// Decodes a 334 challenge (the first line's text); RFC 4954 requires base64.
pub(crate) fn decode_challenge(text: &str) -> Result<Vec<u8>, SaslError> {
    let t = text.trim();
    B64.decode(t).map_err(|_| SaslError::Challenge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_is_client_first_and_encodes_authzid_user_password() {
        let mut s = Sasl::start(
            AuthMechanism::Plain,
            "root@example.com",
            &Secret::new("pw12"),
        )
        .unwrap();
        assert!(s.client_first());
        let r = s.step(None).unwrap();
        assert_eq!(B64.decode(r).unwrap(), b"\0root@example.com\0pw12");
        assert!(s.finished());
    }

    #[test]
    fn login_answers_two_prompts() {
        let mut s = Sasl::start(
            AuthMechanism::Login,
            "root@example.com",
            &Secret::new("pw12"),
        )
        .unwrap();
        assert!(!s.client_first());
        let user = s.step(Some(b"Username:")).unwrap();
        assert_eq!(B64.decode(user).unwrap(), b"root@example.com");
        assert!(!s.finished());
        let pw = s.step(Some(b"Password:")).unwrap();
        assert_eq!(B64.decode(pw).unwrap(), b"pw12");
        assert!(s.finished());
    }

    #[test]
    fn challenge_decoding() {
        assert_eq!(decode_challenge("VXNlcm5hbWU6").unwrap(), b"Username:");
        assert_eq!(decode_challenge("").unwrap(), b"");
        assert!(decode_challenge("not base64!").is_err());
    }
}
