//! T33: the submission port (RFC 6409; master.cf `submission inet` with
//! smtpd_tls_security_level=encrypt and permit_sasl_authenticated,reject): listening, TLS
//! before anything else, AUTH before mail.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::checks::smtp::{greeting_verdict, with_transcript};
use crate::context::Ctx;
use crate::probe::session::{self, LoginSession, PortSession, Purpose, Service, Step};
use crate::verdict::{Verdict, worst_of};

/// T33: the port listens and greets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListeningSpec {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListeningObservation {
    pub session: PortSession,
    /// master.cf's submission line (local only): `line N: text`.
    #[serde(default)]
    pub master_service: Option<String>,
    /// A commented-out submission line (local only).
    #[serde(default)]
    pub master_commented: Option<String>,
    #[serde(default)]
    pub local: bool,
}

pub async fn listening(spec: &ListeningSpec, ctx: &Ctx) -> Verdict {
    let s = session::port(ctx, Service::Submission).await;
    let (mut master_service, mut master_commented) = (None, None);
    if ctx.target.local
        && let Ok(cfg) = ctx.postfix().await
    {
        let path = cfg.master.path.display();
        master_service = cfg
            .master
            .services
            .iter()
            .find(|svc| {
                svc.kind == "inet"
                    && (svc.name == "submission" || svc.name.ends_with(":submission"))
            })
            .map(|svc| format!("{path} line {}", svc.line));
        master_commented = cfg
            .master
            .commented
            .iter()
            .find(|(_, text)| text.starts_with("submission"))
            .map(|(line, text)| format!("{path} line {line}: #{text}"));
    }
    judge_listening(
        spec,
        &ListeningObservation {
            session: (*s).clone(),
            master_service,
            master_commented,
            local: ctx.target.local,
        },
    )
}

pub fn judge_listening(_spec: &ListeningSpec, o: &ListeningObservation) -> Verdict {
    let s = &o.session;
    let evidence = json!({
        "addr": s.addr, "banner": s.banner, "ehlo": s.ehlo,
        "master_service": o.master_service, "master_commented": o.master_commented,
    });
    if let Some(v) = greeting_verdict(s, "the submission service") {
        let cause = match (&o.master_service, &o.master_commented) {
            (None, Some(c)) if o.local => format!("; master.cf comments it out ({c})"),
            (None, None) if o.local => "; master.cf has no submission service".into(),
            _ => String::new(),
        };
        let v = Verdict {
            message: format!("{}{cause}", v.message),
            ..v
        };
        return with_transcript(
            v.with_fix("uncomment the `submission inet n - - - - smtpd` line and its -o options in /etc/postfix/master.cf, then `postfix reload`")
                .with_evidence(evidence),
            &s.transcript,
        );
    }
    let v = match &s.ehlo {
        Some(st) if st.code() == Some(250) => Verdict::pass(format!(
            "{} greets `{}`; EHLO answers 250",
            s.addr,
            s.banner.describe()
        )),
        Some(st @ Step::Reply { .. }) => {
            Verdict::fail(format!("{}: EHLO answered `{}`", s.addr, st.describe()))
        }
        Some(st) => Verdict::error(format!("{}: EHLO: {}", s.addr, st.describe())),
        None => Verdict::error(format!("{}: no EHLO was sent", s.addr)),
    };
    with_transcript(v.with_evidence(evidence), &s.transcript)
}

/// T33: the reply `MAIL FROM` must get before STARTTLS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsRequiredSpec {
    pub mail_code: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TlsRequiredObservation {
    pub session: PortSession,
}

pub async fn tls_required(spec: &TlsRequiredSpec, ctx: &Ctx) -> Verdict {
    let s = session::port(ctx, Service::Submission).await;
    judge_tls_required(
        spec,
        &TlsRequiredObservation {
            session: (*s).clone(),
        },
    )
}

pub fn judge_tls_required(spec: &TlsRequiredSpec, o: &TlsRequiredObservation) -> Verdict {
    let s = &o.session;
    let addr = &s.addr;
    let auth_before = s.capabilities().auth_mechanisms();
    let evidence = json!({
        "addr": addr, "ehlo_before_starttls": s.capabilities().raw(),
        "mail_before_starttls": s.mail_before_tls,
    });
    if let Some(why) = s.not_greeted() {
        return with_transcript(
            Verdict::error(format!("could not get past EHLO: {why}")).with_evidence(evidence),
            &s.transcript,
        );
    }
    let fix = "in master.cf, under `submission inet`, set `-o smtpd_tls_security_level=encrypt` (and keep smtpd_tls_auth_only or the default that hides AUTH before TLS), then `postfix reload`";
    let mut findings = Vec::new();
    if !auth_before.is_empty() {
        findings.push(
            Verdict::fail(format!(
                "{addr} offers AUTH {} before STARTTLS: passwords can cross the network unencrypted",
                auth_before.join(" ")
            ))
            .with_fix(fix),
        );
    }
    let want = spec.mail_code;
    match &s.mail_before_tls {
        None => findings.push(Verdict::error(format!(
            "{addr}: MAIL FROM was not tried before STARTTLS"
        ))),
        Some(st) => match st.code() {
            Some(c) if c == want => {}
            Some(c) if (200..300).contains(&c) => findings.push(
                Verdict::fail(format!(
                    "{addr} accepts MAIL FROM before STARTTLS (`{}`): mail can be submitted unencrypted",
                    st.describe()
                ))
                .with_fix(fix),
            ),
            Some(c) if (500..600).contains(&c) => findings.push(Verdict::warn(format!(
                "{addr} refuses MAIL FROM before STARTTLS, but with `{}`, not {want} (TLS required)",
                st.describe()
            ))),
            Some(_) => findings.push(Verdict::error(format!(
                "{addr}: MAIL FROM before STARTTLS answered `{}`: cannot tell",
                st.describe()
            ))),
            None => findings.push(Verdict::error(format!(
                "{addr}: MAIL FROM before STARTTLS: {}",
                st.describe()
            ))),
        },
    }
    let mail = s
        .mail_before_tls
        .as_ref()
        .map(Step::describe)
        .unwrap_or_default();
    let pass = format!(
        "{addr} offers no AUTH before STARTTLS, and MAIL FROM before STARTTLS gets `{mail}`"
    );
    with_transcript(
        worst_of(findings, &pass).with_evidence(evidence),
        &s.transcript,
    )
}

/// T33: mail needs AUTH (no parameters).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthRequiredSpec {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthRequiredObservation {
    /// STARTTLS, no AUTH, MAIL and RCPT to the account.
    pub unauthenticated: LoginSession,
    /// STARTTLS, AUTH PLAIN, MAIL and RCPT to the account.
    pub authenticated: LoginSession,
}

pub async fn auth_required(spec: &AuthRequiredSpec, ctx: &Ctx) -> Verdict {
    let (Some(unauthenticated), Some(authenticated)) = (
        session::login(ctx, Purpose::Unauthenticated).await,
        session::login(ctx, Purpose::PlainAndRelay).await,
    ) else {
        return Verdict::skip("needs --account and its password");
    };
    judge_auth_required(
        spec,
        &AuthRequiredObservation {
            unauthenticated: (*unauthenticated).clone(),
            authenticated: (*authenticated).clone(),
        },
    )
}

fn unauthenticated_verdict(u: &LoginSession) -> Verdict {
    let addr = &u.addr;
    if let Some(f) = &u.setup_failure {
        return Verdict::error(format!(
            "without AUTH: could not get past STARTTLS on {addr}: {}",
            f.describe()
        ));
    }
    let refused = |st: &Step, at: &str| {
        let temp = if st.is_transient() {
            " (temporarily)"
        } else {
            ""
        };
        Verdict::pass(format!(
            "without AUTH, {at} is refused{temp}: `{}`",
            st.describe()
        ))
    };
    match (&u.mail, &u.rcpt_local) {
        (Some(m), _) if m.refuses() => refused(m, "MAIL FROM"),
        (Some(m), _) if !m.is_positive() => {
            Verdict::error(format!("without AUTH, MAIL FROM on {addr}: {}", m.describe()))
        }
        (Some(_), Some(r)) if r.refuses() => refused(r, &format!("RCPT TO:<{}>", u.user)),
        (Some(_), Some(r)) if r.is_positive() => Verdict::fail(format!(
            "{addr} accepts mail for {} from a client that did not log in (RCPT TO answered `{}`)",
            u.user,
            r.describe()
        ))
        .with_fix("in master.cf, under `submission inet`, set `-o smtpd_client_restrictions=permit_sasl_authenticated,reject`, then `postfix reload`"),
        (Some(_), Some(r)) => {
            Verdict::error(format!("without AUTH, RCPT TO on {addr}: {}", r.describe()))
        }
        _ => Verdict::error(format!("without AUTH, MAIL/RCPT were not sent on {addr}")),
    }
}

fn authenticated_verdict(a: &LoginSession) -> Verdict {
    let addr = &a.addr;
    let m = a.mechanism.clone().unwrap_or_default();
    if let Some(f) = &a.setup_failure {
        return Verdict::error(format!(
            "with AUTH: could not get past STARTTLS on {addr}: {}",
            f.describe()
        ));
    }
    match &a.auth {
        Some(st) if st.code() == Some(235) => {}
        Some(st @ Step::Reply { .. }) => {
            return Verdict::fail(format!(
                "{} cannot log in on {addr} (AUTH {m} answered `{}`), so cannot submit mail",
                a.user,
                st.describe()
            ));
        }
        Some(st) => return Verdict::error(format!("AUTH {m} on {addr}: {}", st.describe())),
        None => return Verdict::error(format!("AUTH was not sent on {addr}")),
    }
    let step = |st: &Option<Step>, what: &str| -> Option<Verdict> {
        match st {
            Some(s) if s.is_positive() => None,
            Some(s) if s.is_permanent() => Some(Verdict::fail(format!(
                "after AUTH, {what} on {addr} is refused: `{}`",
                s.describe()
            ))),
            Some(s) => Some(Verdict::error(format!(
                "after AUTH, {what} on {addr}: `{}`",
                s.describe()
            ))),
            None => Some(Verdict::error(format!(
                "after AUTH, {what} was not sent on {addr}"
            ))),
        }
    };
    if let Some(v) = step(&a.mail, &format!("MAIL FROM:<{}>", a.sender)) {
        return v;
    }
    if let Some(v) = step(&a.rcpt_local, &format!("RCPT TO:<{}>", a.user)) {
        return v;
    }
    Verdict::pass(format!(
        "after AUTH {m}, MAIL FROM and RCPT TO:<{}> are accepted (`{}`)",
        a.user,
        a.rcpt_local
            .as_ref()
            .map(Step::describe)
            .unwrap_or_default()
    ))
}

pub fn judge_auth_required(_spec: &AuthRequiredSpec, o: &AuthRequiredObservation) -> Verdict {
    let (u, a) = (&o.unauthenticated, &o.authenticated);
    let evidence = json!({
        "addr": u.addr,
        "unauthenticated": { "mail": u.mail, "rcpt": u.rcpt_local, "setup_failure": u.setup_failure },
        "authenticated": { "auth": a.auth, "mail": a.mail, "rcpt": a.rcpt_local, "setup_failure": a.setup_failure },
    });
    let uv = unauthenticated_verdict(u);
    let av = authenticated_verdict(a);
    let pass = format!("{}: {}; {}", u.addr, uv.message, av.message);
    let mut transcript = Vec::new();
    for (label, v, s) in [("without AUTH", &uv, u), ("with AUTH", &av, a)] {
        if v.status != crate::verdict::Status::Pass {
            transcript.push(format!("-- {label}"));
            transcript.extend(s.transcript.iter().cloned());
        }
    }
    with_transcript(
        worst_of(vec![uv, av], &pass).with_evidence(evidence),
        &transcript,
    )
}
