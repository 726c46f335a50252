//! T30: SMTP AUTH (RFC 4954, PLAIN RFC 4616, LOGIN) on the submission port after STARTTLS:
//! the mechanisms offered, a login with each, one wrong password refused with 535.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::checks::smtp::with_transcript;
use crate::context::Ctx;
use crate::probe::session::{self, LoginSession, PortSession, Purpose, Service, Step};
use crate::verdict::{Verdict, worst_of};

/// A mechanism the account must log in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Mechanism {
    Plain,
    Login,
}

impl Mechanism {
    fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
        }
    }
}

/// T30: the mechanisms the EHLO after STARTTLS must list.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MechanismsSpec {
    pub mechanisms: Vec<Mechanism>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MechanismsObservation {
    pub submission: PortSession,
    /// The MX port's session, for a note on what it offers before STARTTLS.
    #[serde(default)]
    pub smtp: Option<PortSession>,
}

pub async fn mechanisms(spec: &MechanismsSpec, ctx: &Ctx) -> Verdict {
    let submission = session::port(ctx, Service::Submission).await;
    let smtp = session::port(ctx, Service::Smtp).await;
    judge_mechanisms(
        spec,
        &MechanismsObservation {
            submission: (*submission).clone(),
            smtp: Some((*smtp).clone()),
        },
    )
}

pub fn judge_mechanisms(spec: &MechanismsSpec, o: &MechanismsObservation) -> Verdict {
    let s = &o.submission;
    let addr = &s.addr;
    let offered = s.tls_capabilities().auth_mechanisms();
    let evidence = json!({
        "addr": addr, "offered_after_starttls": offered,
        "ehlo_after_starttls": s.tls_capabilities().raw(),
        "smtp_before_starttls": o.smtp.as_ref().map(|x| x.capabilities().auth_mechanisms()),
    });
    let v = if let Some(why) = s.not_greeted() {
        Verdict::error(format!("could not reach EHLO after STARTTLS: {why}"))
    } else if s.ehlo_tls.as_ref().and_then(Step::code) != Some(250) {
        let why = s
            .ehlo_tls
            .as_ref()
            .or(s.starttls.as_ref())
            .map(Step::describe)
            .unwrap_or_else(|| "STARTTLS was not reached".into());
        Verdict::error(format!(
            "{addr}: no EHLO after STARTTLS to read AUTH from: {why}"
        ))
    } else {
        let missing: Vec<&str> = spec
            .mechanisms
            .iter()
            .map(|m| m.name())
            .filter(|m| !offered.iter().any(|o| o == m))
            .collect();
        let want: Vec<&str> = spec.mechanisms.iter().map(|m| m.name()).collect();
        if offered.is_empty() {
            Verdict::fail(format!(
                "after STARTTLS, {addr} offers no AUTH (want AUTH {}): smtpd_sasl_auth_enable is off for this port, or Cyrus SASL has no mechanism",
                want.join(" ")
            ))
            .with_fix("set smtpd_sasl_auth_enable = yes in main.cf and `-o smtpd_sasl_auth_enable=yes` under submission in master.cf, `mech_list: plain login` in /etc/postfix/sasl/smtpd.conf, then `postfix reload`")
        } else if !missing.is_empty() {
            Verdict::fail(format!(
                "after STARTTLS, {addr} offers AUTH {}, without {}",
                offered.join(" "),
                missing.join(" ")
            ))
            .with_fix("set `mech_list: plain login` in /etc/postfix/sasl/smtpd.conf and install libsasl2-modules")
        } else {
            Verdict::pass(format!(
                "after STARTTLS, {addr} offers AUTH {}{}",
                offered.join(" "),
                o.smtp.as_ref().map(note_on_mx).unwrap_or_default()
            ))
        }
    };
    with_transcript(v.with_evidence(evidence), &s.transcript)
}

/// What the MX port offers, as a note: AUTH before STARTTLS lets a client send its password
/// unencrypted.
fn note_on_mx(s: &PortSession) -> String {
    let plain = s.capabilities().auth_mechanisms();
    let port = s.port;
    if !plain.is_empty() {
        format!(
            "; port {port} offers AUTH {} before STARTTLS too (smtpd_tls_auth_only = yes would keep passwords off unencrypted connections)",
            plain.join(" ")
        )
    } else if !s.tls_capabilities().auth_mechanisms().is_empty() {
        format!("; port {port} offers AUTH only after STARTTLS")
    } else if s.not_greeted().is_none() {
        format!("; port {port} offers no AUTH")
    } else {
        String::new()
    }
}

/// T30: the mechanisms to log in with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginSpec {
    pub mechanisms: Vec<Mechanism>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginObservation {
    /// One session per mechanism.
    pub attempts: Vec<LoginSession>,
}

pub async fn login(spec: &LoginSpec, ctx: &Ctx) -> Verdict {
    let mut attempts = Vec::new();
    for m in &spec.mechanisms {
        let purpose = match m {
            Mechanism::Plain => Purpose::PlainAndRelay,
            Mechanism::Login => Purpose::Login,
        };
        match session::login(ctx, purpose).await {
            Some(s) => attempts.push((*s).clone()),
            None => return Verdict::skip("needs --account and its password"),
        }
    }
    judge_login(spec, &LoginObservation { attempts })
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
            "AUTH {m} on {addr}: temporary failure `{}` (is saslauthd running?)",
            s.describe()
        )),
        s => Verdict::error(format!("AUTH {m} on {addr}: {}", s.describe())),
    }
}

pub fn judge_login(_spec: &LoginSpec, o: &LoginObservation) -> Verdict {
    let findings: Vec<Verdict> = o.attempts.iter().map(login_verdict).collect();
    let evidence = json!({
        "attempts": o.attempts.iter().map(|a| json!({
            "mechanism": a.mechanism, "user": a.user, "addr": a.addr, "auth": a.auth,
            "setup_failure": a.setup_failure,
        })).collect::<Vec<_>>(),
    });
    let (Some(first), true) = (o.attempts.first(), !findings.is_empty()) else {
        return Verdict::error("no AUTH attempt was made").with_evidence(evidence);
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
    let v = worst_of(findings, &pass);
    let transcript: Vec<String> = if v.status == crate::verdict::Status::Pass {
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
    with_transcript(v.with_evidence(evidence), &transcript)
}

/// T30: one deliberately wrong password.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrongPasswordSpec {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WrongPasswordObservation {
    pub session: LoginSession,
}

pub async fn wrong_password(spec: &WrongPasswordSpec, ctx: &Ctx) -> Verdict {
    match session::login(ctx, Purpose::WrongPassword).await {
        Some(s) => judge_wrong_password(
            spec,
            &WrongPasswordObservation {
                session: (*s).clone(),
            },
        ),
        None => Verdict::skip("needs --account"),
    }
}

pub fn judge_wrong_password(_spec: &WrongPasswordSpec, o: &WrongPasswordObservation) -> Verdict {
    let a = &o.session;
    let (addr, user) = (&a.addr, &a.user);
    let m = a.mechanism.clone().unwrap_or_default();
    let evidence = json!({
        "addr": addr, "user": user, "mechanism": m, "auth": a.auth,
        "setup_failure": a.setup_failure, "attempts_per_run": 1,
    });
    let v = match (&a.setup_failure, &a.auth) {
        (Some(f), _) => Verdict::error(format!(
            "could not get to AUTH on {addr}: {}",
            f.describe()
        )),
        (None, None) => Verdict::error(format!("AUTH was not sent on {addr}")),
        (None, Some(step)) => match step.code() {
            Some(535) => Verdict::pass(format!(
                "a wrong password for {user} is refused on {addr}: {} (one attempt per run)",
                step.describe()
            )),
            Some(c) if (200..300).contains(&c) => Verdict::fail(format!(
                "{addr} ACCEPTS a wrong password for {user}: AUTH {m} answered `{}`",
                step.describe()
            ))
            .with_fix("pam_mysql must compare the password hash: crypt=1 in /etc/pam.d/smtp, and the mailbox password column must hold md5-crypt hashes; check saslauthd's options (no -a rimap/shadow leftovers)"),
            Some(c) if (500..600).contains(&c) => Verdict::warn(format!(
                "a wrong password for {user} is refused on {addr}, but with `{}`, not 535",
                step.describe()
            )),
            Some(_) => Verdict::error(format!(
                "AUTH {m} with a wrong password on {addr}: `{}`: cannot tell",
                step.describe()
            )),
            None => Verdict::error(format!("AUTH {m} on {addr}: {}", step.describe())),
        },
    };
    with_transcript(v.with_evidence(evidence), &a.transcript)
}
