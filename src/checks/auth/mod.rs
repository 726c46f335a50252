//! T30: SMTP AUTH (RFC 4954, PLAIN RFC 4616, LOGIN) on the submission port after STARTTLS:
//! the mechanisms offered, a login with each, one wrong password refused with 535.

pub mod login_works;
pub mod mechanisms_offered;
pub mod wrong_password_refused;

use serde::{Deserialize, Serialize};

/// A mechanism the account must log in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Mechanism {
    Plain,
    Login,
}

impl Mechanism {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
        }
    }
}
