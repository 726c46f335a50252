//! T25: saslauthd accepts the account's login for service smtp over its socket (the request
//! smtpd makes: login, password, service, realm), through PAM and pam_mysql.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{AS_ROOT, Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::process::find_by_name;
use crate::probe::saslauthd::{SaslauthdAnswer, SaslauthdError, authenticate};
use crate::verdict::Verdict;

/// T25: the service and realm smtpd asks saslauthd for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub service: String,
    #[serde(default)]
    pub realm: String,
}

/// What saslauthd said.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum AuthOutcome {
    Accepted {
        reply: String,
    },
    Refused {
        reply: String,
    },
    Timeout {
        message: String,
    },
    CannotConnect {
        message: String,
        #[serde(default)]
        needs_root: bool,
    },
    Protocol {
        message: String,
    },
}

/// What T25 looks at (never the password).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub account: String,
    /// The login and realm sent, split as smtpd's Cyrus SASL library splits the account
    /// (`root@example.com` -> login `root`, realm `example.com`; saslauthd -r joins them again).
    #[serde(default)]
    pub login: String,
    #[serde(default)]
    pub realm: String,
    pub socket: PathBuf,
    pub outcome: AuthOutcome,
    /// Whether a running saslauthd has `-c`: a success may then come from its cache of earlier
    /// successes, without asking the database.
    #[serde(default)]
    pub cache: bool,
}

/// T25: the kind.
pub struct SaslauthdAuth;

impl Kind for SaslauthdAuth {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let (Some(account), Some(password)) = (
            facts.account.as_ref(),
            facts.account.as_ref().and_then(|a| a.password.as_ref()),
        ) else {
            return Err(Unobserved::NotApplicable {
                reason: "needs --account and its password".into(),
            });
        };
        let cfg = facts.postfix().await?;
        let socket = super::chroot_socket_dir(&cfg, facts).join("mux");
        let cache = find_by_name(&facts.processes().await, "saslauthd")
            .iter()
            .any(|p| p.argv.iter().skip(1).any(|a| a == "-c"));
        let (login, realm) = as_smtpd_asks(&account.address, &spec.realm);
        let outcome = match authenticate(
            &socket,
            &login,
            password,
            &spec.service,
            &realm,
            facts.settings.timeouts.socket,
        )
        .await
        {
            Ok(SaslauthdAnswer::Ok(reply)) => AuthOutcome::Accepted { reply },
            Ok(SaslauthdAnswer::No(reply)) => AuthOutcome::Refused { reply },
            Err(e @ SaslauthdError::Timeout { .. }) => AuthOutcome::Timeout {
                message: e.to_string(),
            },
            Err(e @ SaslauthdError::Connect { .. }) => AuthOutcome::CannotConnect {
                needs_root: e.permission_denied(),
                message: e.to_string(),
            },
            Err(e @ SaslauthdError::Protocol { .. }) => AuthOutcome::Protocol {
                message: e.to_string(),
            },
        };
        Ok(Observation {
            account: account.address.clone(),
            login,
            realm,
            socket,
            outcome,
            cache,
        })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let (acct, svc) = (&o.account, &spec.service);
        match &o.outcome {
            AuthOutcome::Accepted { reply } => Verdict::pass(format!(
                "saslauthd accepted {acct} for service {svc}{} ({})",
                asked(o),
                format!("OK {reply}").trim()
            )),
            AuthOutcome::Refused { reply } => Verdict::fail(format!(
                "saslauthd refused {acct} for service {svc}{}: {}",
                asked(o),
                if reply.is_empty() { "NO" } else { reply }
            ))
            .with_fix(format!(
                "check /etc/pam.d/{svc} (user, passwd, db, crypt=1) and the mailbox row of {acct}: it must exist with a password that is the md5-crypt ($1$...) hash of this password, and active = 1 if a where= argument asks for it (the tutorial's lines do not); /var/log/auth.log shows pam_mysql's reason"
            )),
            AuthOutcome::Timeout { message } => Verdict::error(message.clone()),
            AuthOutcome::CannotConnect {
                message,
                needs_root: true,
            } => Verdict::error(format!("{message} (needs root or group sasl)")).with_fix(AS_ROOT),
            AuthOutcome::CannotConnect { message, .. } => Verdict::error(message.clone()),
            AuthOutcome::Protocol { message } => Verdict::error(message.clone()),
        }
    }
}

/// The login and realm smtpd's Cyrus SASL library sends saslauthd for `address`: an address is
/// split at its last `@` (saslauthd -r joins the two again, without -r PAM sees only the local
/// part); a name without `@` goes with the configured realm.
fn as_smtpd_asks(address: &str, configured_realm: &str) -> (String, String) {
    match address.rsplit_once('@') {
        Some((login, realm)) if configured_realm.is_empty() => (login.into(), realm.into()),
        _ => (address.into(), configured_realm.into()),
    }
}

/// ", asked as smtpd asks (login L, realm R)" for the message; empty for an old recording.
fn asked(o: &Observation) -> String {
    if o.login.is_empty() {
        return String::new();
    }
    format!(
        ", asked as smtpd asks (login `{}`, realm `{}`)",
        o.login, o.realm
    )
}

#[cfg(test)]
mod tests {
    use super::as_smtpd_asks;

    #[test]
    fn split_as_cyrus_sasl_sends_it() {
        assert_eq!(
            as_smtpd_asks("root@example.com", ""),
            ("root".into(), "example.com".into())
        );
        assert_eq!(
            as_smtpd_asks("a@b@example.com", ""),
            ("a@b".into(), "example.com".into())
        );
        assert_eq!(
            as_smtpd_asks("root", "example.com"),
            ("root".into(), "example.com".into())
        );
    }
}
