//! T31: an unauthenticated client outside mynetworks cannot relay (RCPT only, never DATA)

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::session::{RelayProbe, Service, Step};
use crate::verdict::Verdict;

/// T31, unauthenticated: which port (the MX port by default; on `submission`, after STARTTLS,
/// from outside the mynetworks that master.cf service uses). Sender and recipient are reserved
/// names.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(default)]
    pub service: Service,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub probe: RelayProbe,
}

/// T31: the kind.
pub struct UnauthenticatedRefused;

impl Kind for UnauthenticatedRefused {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let probe = match spec.service {
            Service::Smtp => facts.relay_probe().await,
            Service::Submission => facts.submission_relay_probe().await,
        };
        Ok(Observation {
            probe: (*probe).clone(),
        })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let v = unauthenticated_verdict(&o.probe);
        if spec.service == Service::Submission && v.status == crate::verdict::Status::Fail {
            return v.with_fix("remove the permissive -o smtpd_client_restrictions / smtpd_relay_restrictions / smtpd_recipient_restrictions overrides under `submission inet` in master.cf (postfix.recipient-restrictions-587 names the lines), then `postfix reload`");
        }
        v
    }
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
    // Whether mailcheck knows mynetworks (on the server, or from it over SSH).
    let knows_mynetworks = p.local || p.mynetworks_from_server;
    let whom = match (&p.source_inside, p.local, p.mynetworks_from_server) {
        (Some(entry), _, _) => format!(
            "{from}, which mynetworks holds only because its entry {entry} holds every address"
        ),
        (None, true, _) => format!("{from}, outside mynetworks"),
        (None, false, true) => format!("{from}, outside the server's mynetworks"),
        (None, false, false) => from.clone(),
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
    if knows_mynetworks && p.source_inside.is_none() && !p.unknown_entries.is_empty() {
        return Verdict::error(format!(
            "{addr} accepted RCPT TO:<{rcpt}> {from}, but mynetworks has entries mailcheck cannot evaluate ({}) that may hold {from}: cannot tell whether it is an open relay",
            p.unknown_entries.join(", ")
        ));
    }
    if !knows_mynetworks && p.peer_loopback {
        return Verdict::skip(format!(
            "{addr} accepted RCPT TO:<{rcpt}> from a loopback address, which mynetworks normally holds: that proves nothing; run mailcheck on the server with --host naming it, or from another machine"
        ));
    }
    if !knows_mynetworks {
        return Verdict::fail(format!(
            "{accepted} (if this machine's network is in mynetworks on purpose, run mailcheck from elsewhere)"
        ))
        .with_fix(fix);
    }
    Verdict::fail(accepted).with_fix(fix)
}
