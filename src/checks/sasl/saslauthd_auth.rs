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
        let cache = find_by_name("saslauthd")
            .iter()
            .any(|p| p.argv.iter().skip(1).any(|a| a == "-c"));
        let outcome = match authenticate(
            &socket,
            &account.address,
            password,
            &spec.service,
            &spec.realm,
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
            socket,
            outcome,
            cache,
        })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let (acct, svc) = (&o.account, &spec.service);
        match &o.outcome {
            AuthOutcome::Accepted { reply } => Verdict::pass(format!(
                "saslauthd accepted {acct} for service {svc} ({})",
                format!("OK {reply}").trim()
            )),
            AuthOutcome::Refused { reply } => Verdict::fail(format!(
                "saslauthd refused {acct} for service {svc}: {}",
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
