//! T30: the account logs in with each mechanism (PLAIN RFC 4616, LOGIN)

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Mechanism;
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::facts::maillog::{LogExcerpt, LogQuery, Topic};
use crate::probe::session::{LoginSession, Purpose, Step};
use crate::verdict::{Verdict, worst_of};

/// T30: the mechanisms to log in with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub mechanisms: Vec<Mechanism>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    /// One session per mechanism.
    pub attempts: Vec<LoginSession>,
    /// What the server logged (SASL, saslauthd, PAM), when a login did not work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<LogExcerpt>,
}

/// T30: the kind.
pub struct LoginWorks;

impl Kind for LoginWorks {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let mut attempts = Vec::new();
        for m in &spec.mechanisms {
            let purpose = match m {
                Mechanism::Plain => Purpose::PlainAndRelay,
                Mechanism::Login => Purpose::Login,
            };
            match facts.login_session(purpose).await {
                Some(s) => attempts.push((*s).clone()),
                None => {
                    return Err(Unobserved::NotApplicable {
                        reason: "needs --account and its password".into(),
                    });
                }
            }
        }
        let failed: Vec<&LoginSession> = attempts
            .iter()
            .filter(|a| !matches!(a.auth, Some(Step::Reply { code: 235, .. })))
            .collect();
        let log = if failed.is_empty() {
            None
        } else {
            let q = LogQuery {
                clients: failed.iter().filter_map(|a| a.local.clone()).collect(),
                expect: vec![Topic::Sasl],
                ..LogQuery::default()
            };
            Some(facts.maillog_excerpt(&q).await)
        };
        Ok(Observation { attempts, log })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let findings: Vec<Verdict> = o.attempts.iter().map(login_verdict).collect();
        let (Some(first), true) = (o.attempts.first(), !findings.is_empty()) else {
            return Verdict::error("no AUTH attempt was made");
        };
        let passed: Vec<String> = findings
            .iter()
            .filter(|v| v.status == crate::verdict::Status::Pass)
            .map(|v| v.message.clone())
            .collect();
        let pass = format!(
            "{} logs in on {} with {}",
            first.user,
            first.addr,
            passed.join(" and ")
        );
        let mut v = worst_of(findings, &pass);
        if v.status != crate::verdict::Status::Pass
            && let Some(line) = o.log.as_ref().and_then(sasl_cause)
        {
            v = v.with_log_cause(line);
        }
        let _transcript: Vec<String> = if v.status == crate::verdict::Status::Pass {
            Vec::new()
        } else {
            o.attempts
                .iter()
                .flat_map(|a| {
                    std::iter::once(format!(
                        "-- AUTH {}",
                        a.mechanism.clone().unwrap_or_default()
                    ))
                    .chain(a.transcript.iter().cloned())
                })
                .collect()
        };
        v
    }
}

/// The line that says why SASL refused: the Cyrus library's `SASL authentication failure:`
/// (it names saslauthd's socket or answer), else saslauthd's or PAM's, else smtpd's.
fn sasl_cause(log: &LogExcerpt) -> Option<&str> {
    let mut lines = log.about(Topic::Sasl);
    let all: Vec<&str> = lines.by_ref().collect();
    all.iter()
        .find(|l| l.contains("SASL authentication failure"))
        .or_else(|| {
            all.iter()
                .find(|l| l.contains("saslauthd") || l.contains("pam_"))
        })
        .or_else(|| all.first())
        .copied()
}

/// The verdict on one AUTH reply with the account's real password.
fn login_verdict(a: &LoginSession) -> Verdict {
    let m = a.mechanism.clone().unwrap_or_default();
    let (addr, user) = (&a.addr, &a.user);
    if let Some(f) = &a.setup_failure {
        return Verdict::error(format!(
            "AUTH {m}: could not get to AUTH on {addr}: {}",
            f.describe()
        ));
    }
    let Some(step) = &a.auth else {
        return Verdict::error(format!("AUTH {m} was not sent on {addr}"));
    };
    match step {
        Step::Reply { code: 235, .. } => {
            Verdict::pass(format!("{m} ({})", step.describe()))
        }
        Step::Reply { code: 535, .. } => Verdict::fail(format!(
            "{user} is refused with AUTH {m} on {addr}: {}",
            step.describe()
        ))
        .with_fix("check what saslauthd says (`testsaslauthd -s smtp -u USER -p PASSWORD`), /etc/pam.d/smtp, and that the mailbox row holds the md5-crypt hash of this password; /var/log/auth.log has pam_mysql's reason"),
        s if s.is_permanent() => Verdict::fail(format!(
            "AUTH {m} on {addr} answered `{}`",
            s.describe()
        ))
        .with_fix("enable SASL on the port (smtpd_sasl_auth_enable = yes, also as -o in master.cf's submission service) and list the mechanism in mech_list"),
        s if s.is_transient() => Verdict::error(format!(
            "AUTH {m} on {addr}: temporary failure `{}`: smtpd could not ask its authentication service (saslauthd; the sasl.* checks say why)",
            s.describe()
        )),
        s => Verdict::error(format!("AUTH {m} on {addr}: {}", s.describe())),
    }
}
