//! T31: no open relay (SMTPD_ACCESS_README, postconf(5) mynetworks and smtpd_relay_restrictions):
//! an unauthenticated client outside mynetworks cannot send to a foreign domain; an
//! authenticated one can. Probes stop at RCPT: never DATA.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::checks::smtp::with_transcript;
use crate::context::Ctx;
use crate::probe::session::{self, LoginSession, Purpose, RelayProbe, Step};
use crate::verdict::Verdict;

/// T31, unauthenticated: no parameters (sender and recipient are reserved names).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnauthenticatedSpec {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnauthenticatedObservation {
    pub probe: RelayProbe,
}

pub async fn unauthenticated(spec: &UnauthenticatedSpec, ctx: &Ctx) -> Verdict {
    let probe = session::relay(ctx).await;
    judge_unauthenticated(
        spec,
        &UnauthenticatedObservation {
            probe: (*probe).clone(),
        },
    )
}

pub fn judge_unauthenticated(
    _spec: &UnauthenticatedSpec,
    o: &UnauthenticatedObservation,
) -> Verdict {
    let p = &o.probe;
    let evidence = json!({
        "mynetworks": p.mynetworks, "unknown_entries": p.unknown_entries,
        "candidates": p.candidates, "source": p.source, "source_inside": p.source_inside,
        "addr": p.addr, "mail": p.mail, "rcpt": p.rcpt, "setup_failure": p.setup_failure,
    });
    let v = unauthenticated_verdict(p);
    with_transcript(v.with_evidence(evidence), &p.transcript)
}

fn unauthenticated_verdict(p: &RelayProbe) -> Verdict {
    if let Some(e) = &p.mynetworks_problem {
        return Verdict::error(format!(
            "cannot read mynetworks to pick a source address: {e}"
        ));
    }
    if let Some(why) = &p.no_probe {
        return Verdict::skip(why.clone());
    }
    let from = match &p.source {
        Some(s) => format!("from {s}"),
        None => "from this machine's address".to_string(),
    };
    let whom = match (&p.source_inside, p.local) {
        (Some(entry), _) => format!(
            "{from}, which mynetworks holds only because its entry {entry} holds every address"
        ),
        (None, true) => format!("{from}, outside mynetworks"),
        (None, false) => from.clone(),
    };
    let addr = &p.addr;
    if let Some(f) = &p.setup_failure {
        return Verdict::error(format!("could not probe {addr} {from}: {}", f.describe()));
    }
    let (rcpt, sender) = (&p.recipient, &p.sender);
    let refused = |st: &Step, at: &str| {
        if st.is_transient() {
            Verdict::pass(format!(
                "{addr} refuses to relay {whom}: {at} answered `{}` (a temporary refusal: smtpd_relay_restrictions' defer_unauth_destination; reject_unauth_destination refuses for good)",
                st.describe()
            ))
        } else {
            Verdict::pass(format!(
                "{addr} refuses to relay {whom}: {at} answered `{}`",
                st.describe()
            ))
        }
    };
    let Some(mail) = &p.mail else {
        return Verdict::error(format!("{addr}: MAIL FROM was not sent"));
    };
    if mail.refuses() {
        return refused(mail, &format!("MAIL FROM:<{sender}>"));
    }
    if !mail.is_positive() {
        return Verdict::error(format!(
            "{addr}: MAIL FROM: {}: cannot tell",
            mail.describe()
        ));
    }
    let Some(r) = &p.rcpt else {
        return Verdict::error(format!("{addr}: RCPT TO was not sent"));
    };
    if r.refuses() {
        return refused(r, &format!("RCPT TO:<{rcpt}>"));
    }
    if r.is_transient() {
        return Verdict::error(format!(
            "{addr}: RCPT TO:<{rcpt}> {from} got a temporary failure `{}`, not a refusal: cannot tell",
            r.describe()
        ));
    }
    if !r.is_positive() {
        return Verdict::error(format!("{addr}: RCPT TO: {}", r.describe()));
    }
    let accepted = format!(
        "{addr} is an open relay: RCPT TO:<{rcpt}> answered `{}` {whom}, without AUTH (nothing was sent: RSET)",
        r.describe()
    );
    let fix = "set `mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128` and `smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination` in main.cf, then `postfix reload`";
    if p.local && p.source_inside.is_none() && !p.unknown_entries.is_empty() {
        return Verdict::error(format!(
            "{addr} accepted RCPT TO:<{rcpt}> {from}, but mynetworks has entries mailcheck cannot evaluate ({}) that may hold {from}: cannot tell whether it is an open relay",
            p.unknown_entries.join(", ")
        ));
    }
    if !p.local && p.peer_loopback {
        return Verdict::skip(format!(
            "{addr} accepted RCPT TO:<{rcpt}> from a loopback address, which mynetworks normally holds: that proves nothing; run mailcheck on the server with --host naming it, or from another machine"
        ));
    }
    if !p.local {
        return Verdict::fail(format!(
            "{accepted} (if this machine's network is in mynetworks on purpose, run mailcheck from elsewhere)"
        ))
        .with_fix(fix);
    }
    Verdict::fail(accepted).with_fix(fix)
}

/// T31, authenticated: no parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthenticatedSpec {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthenticatedObservation {
    pub session: LoginSession,
}

pub async fn authenticated(spec: &AuthenticatedSpec, ctx: &Ctx) -> Verdict {
    match session::login(ctx, Purpose::PlainAndRelay).await {
        Some(s) => judge_authenticated(
            spec,
            &AuthenticatedObservation {
                session: (*s).clone(),
            },
        ),
        None => Verdict::skip("needs --account and its password"),
    }
}

pub fn judge_authenticated(_spec: &AuthenticatedSpec, o: &AuthenticatedObservation) -> Verdict {
    let a = &o.session;
    let addr = &a.addr;
    let m = a.mechanism.clone().unwrap_or_default();
    let evidence = json!({
        "addr": addr, "user": a.user, "auth": a.auth, "mail": a.mail,
        "rcpt": a.rcpt_foreign, "recipient": a.foreign_recipient,
        "setup_failure": a.setup_failure,
    });
    let rcpt = if a.foreign_recipient.is_empty() {
        session::RELAY_RECIPIENT.to_string()
    } else {
        a.foreign_recipient.clone()
    };
    let v = if let Some(f) = &a.setup_failure {
        Verdict::error(format!("could not get to AUTH on {addr}: {}", f.describe()))
    } else if a.auth.as_ref().and_then(Step::code) != Some(235) {
        Verdict::error(format!(
            "cannot test: {} could not log in on {addr} ({}; see auth.login-works)",
            a.user,
            a.auth
                .as_ref()
                .map(Step::describe)
                .unwrap_or_else(|| "no AUTH".into())
        ))
    } else if !a.mail.as_ref().is_some_and(Step::is_positive) {
        Verdict::error(format!(
            "cannot test: after AUTH, MAIL FROM:<{}> got `{}`",
            a.sender,
            a.mail.as_ref().map(Step::describe).unwrap_or_default()
        ))
    } else {
        match &a.rcpt_foreign {
            Some(st) if st.is_positive() => Verdict::pass(format!(
                "after AUTH {m} on {addr}, RCPT TO:<{rcpt}> is accepted (`{}`); stopped there (RSET, no DATA)",
                st.describe()
            )),
            Some(st) if st.is_permanent() => Verdict::fail(format!(
                "after AUTH {m} on {addr}, RCPT TO:<{rcpt}> is refused: `{}`: logged-in users cannot send to other domains",
                st.describe()
            ))
            .with_fix("put permit_sasl_authenticated before reject_unauth_destination in smtpd_recipient_restrictions (and smtpd_relay_restrictions), then `postfix reload`"),
            Some(st) if st.is_transient() && st.describe().contains("Relay access denied") => {
                Verdict::fail(format!(
                    "after AUTH {m} on {addr}, RCPT TO:<{rcpt}> is deferred as relaying: `{}`: logged-in users cannot send to other domains",
                    st.describe()
                ))
                .with_fix("put permit_sasl_authenticated before defer_unauth_destination/reject_unauth_destination in smtpd_relay_restrictions and smtpd_recipient_restrictions, then `postfix reload`")
            }
            Some(st) if st.is_transient() => Verdict::error(format!(
                "after AUTH {m} on {addr}, RCPT TO:<{rcpt}> got a temporary failure `{}`: cannot tell",
                st.describe()
            )),
            Some(st) => Verdict::error(format!("after AUTH, RCPT TO:<{rcpt}>: {}", st.describe())),
            None => Verdict::error(format!("after AUTH, RCPT TO:<{rcpt}> was not sent")),
        }
    };
    with_transcript(v.with_evidence(evidence), &a.transcript)
}
