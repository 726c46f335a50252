//! T29: STARTTLS on a port (RFC 3207), and EHLO again after it

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::judge::with_log;
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::facts::maillog::{LogExcerpt, LogQuery, Topic};
use crate::probe::session::{ErrorKind, PortSession, Service, Step};
use crate::verdict::Verdict;

/// T29 STARTTLS: which port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub service: Service,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub session: PortSession,
    /// What the server logged (its TLS errors), when STARTTLS did not work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<LogExcerpt>,
}

/// T29: the kind.
pub struct Starttls;

impl Kind for Starttls {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let session = facts.port_session(spec.service).await;
        let worked = matches!(session.starttls, Some(Step::Reply { code: 220, .. }));
        let log = if worked || session.not_greeted().is_some() {
            None
        } else {
            let q = LogQuery {
                clients: session.local.iter().cloned().collect(),
                expect: vec![Topic::Tls],
                ..LogQuery::default()
            };
            Some(facts.maillog_excerpt(&q).await)
        };
        Ok(Observation {
            session: (*session).clone(),
            log,
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let v = starttls_verdict(&o.session);
        if v.status == crate::verdict::Status::Fail {
            with_log(v, o.log.as_ref(), &[Topic::Tls, Topic::Fatal])
        } else {
            v
        }
    }
}

fn starttls_verdict(s: &PortSession) -> Verdict {
    let addr = &s.addr;
    if let Some(why) = s.not_greeted() {
        return Verdict::error(format!("could not get to STARTTLS: {why}"));
    }
    let Some(starttls) = &s.starttls else {
        // The plaintext probes before STARTTLS may have ended the session.
        let before = [&s.mail_before_tls, &s.size_at_limit, &s.size_over_limit];
        if let Some(Some(st)) = before
            .iter()
            .find(|st| st.as_ref().is_some_and(|x| x.code().is_none()))
        {
            return Verdict::error(format!(
                "{addr}: the session ended before STARTTLS: {}",
                st.describe()
            ));
        }
        return Verdict::fail(format!(
            "{addr}: EHLO does not offer STARTTLS (it offers {})",
            s.capabilities().keywords().join(" ")
        ))
        .with_fix("in main.cf set smtpd_use_tls = yes (or smtpd_tls_security_level = may) with smtpd_tls_cert_file and smtpd_tls_key_file naming a readable certificate and key, then `postfix reload`; /var/log/mail.log says why TLS is off");
    };
    match starttls {
        Step::Reply { code: 220, .. } => {}
        Step::Reply { .. } => {
            return Verdict::fail(format!(
                "{addr}: STARTTLS is offered but answered `{}`",
                starttls.describe()
            ))
            .with_fix("Postfix cannot load its certificate or key: check smtpd_tls_cert_file/smtpd_tls_key_file and the log");
        }
        Step::Error {
            kind: ErrorKind::Tls,
            message,
            ..
        } => {
            // The handshake failed on the server's certificate: say what is wrong with it, the
            // TLS library's words only in brackets.
            if let Some(leaf) = s.handshake_certificates.first()
                && let Some(why) =
                    super::key_clients_refuse(&leaf.key_type, leaf.key_bits, super::MIN_RSA_BITS)
            {
                return Verdict::fail(format!(
                    "{addr}: the server's certificate ({}{}) has {why}: the TLS handshake fails (mailcheck's TLS client: {message})",
                    leaf.subject,
                    if leaf.self_signed { ", self-signed" } else { "" }
                ))
                .with_fix("make a new key and certificate, RSA of 2048 bits or more (or ECDSA P-256) signed with SHA-256, put both in the file smtpd_tls_cert_file names, then `postfix reload`");
            }
            return Verdict::fail(format!("{addr}: {message}"))
                .with_fix("check the certificate and key in smtpd_tls_cert_file, and smtpd_tls_protocols / smtpd_tls_mandatory_protocols (TLS 1.2 or newer must be allowed)");
        }
        Step::Error { message, .. } => return Verdict::error(format!("{addr}: {message}")),
    }
    let tls = s.tls.clone().unwrap_or_default();
    let negotiated = format!("{} {}", tls.protocol, tls.cipher);
    match &s.ehlo_tls {
        Some(st) if st.code() == Some(250) => Verdict::pass(format!(
            "{addr}: STARTTLS → {negotiated}; EHLO again answers 250 (TLS below 1.2: not measured)"
        )),
        Some(st @ Step::Reply { .. }) => Verdict::fail(format!(
            "{addr}: after STARTTLS ({negotiated}) EHLO answered `{}`",
            st.describe()
        )),
        Some(st) => Verdict::error(format!(
            "{addr}: after STARTTLS ({negotiated}): {}",
            st.describe()
        )),
        None => Verdict::error(format!("{addr}: no EHLO after STARTTLS")),
    }
}
