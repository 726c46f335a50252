//! H6: the certificate's key and signature are ones current clients accept: RSA of at least
//! 2048 bits or EC of at least 256, no SHA-1/MD5 signature (RFC 5280 §4.1.1.2, CA/B Forum).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{from_where, setup_verdict};
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::facts::hardening::Vantage;
use crate::probe::hardening::certificate::{CertAlgorithms, CertificatesObservation};
use crate::probe::session::{ErrorKind, Service, Step};
use crate::verdict::Verdict;

/// `[probe]` of H6 (certificate): the port whose certificate is judged.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub service: Service,
}

/// What H6 (certificate) saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Observation {
    pub vantage: Vantage,
    pub probe: CertificatesObservation,
}

/// H6 (certificate): the kind.
pub struct CertificateAlgorithms;

/// What is weak about a key, if anything (the words tls.material uses too).
fn weak_key(c: &CertAlgorithms) -> Option<String> {
    crate::checks::tls::key_clients_refuse(
        &c.key_type,
        c.key_bits,
        crate::checks::tls::MIN_RSA_BITS,
    )
}

/// What is weak about a signature, if anything.
fn weak_signature(c: &CertAlgorithms) -> Option<String> {
    match c.signature_hash.as_deref() {
        Some(h @ ("SHA-1" | "MD5" | "MD2")) => Some(format!(
            "signed with {} ({h}), which current clients refuse",
            c.signature_algorithm
        )),
        _ => None,
    }
}

fn describe(c: &CertAlgorithms) -> String {
    let key = match c.key_bits {
        Some(b) => format!("{} {b}", c.key_type),
        None => c.key_type.clone(),
    };
    format!("{key}, {}", c.signature_algorithm)
}

impl Kind for CertificateAlgorithms {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let probe = facts
            .certificate_algorithms(spec.service)
            .await
            .map_err(Unobserved::Failed)?;
        Ok(Observation {
            vantage: facts.hardening_vantage().await,
            probe: (*probe).clone(),
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let p = &o.probe;
        let addr = &p.endpoint.addr;
        if let Some(f) = &p.setup_failure {
            return setup_verdict(addr, f);
        }
        // A handshake that failed after the server's Certificate message: the certificate is
        // judged all the same (it is what the handshake failed on).
        let mut handshake_failed = None;
        match &p.starttls {
            Some(s) if s.code() == Some(220) => {}
            Some(Step::Error {
                kind: ErrorKind::Tls,
                message,
                ..
            }) if !p.certificates.is_empty() => handshake_failed = Some(message.clone()),
            Some(s @ Step::Reply { .. }) => {
                return Verdict::skip(format!(
                    "{addr} answered STARTTLS with `{}`: no certificate to judge",
                    s.describe()
                ));
            }
            Some(s) => return Verdict::error(format!("{addr}: STARTTLS: {}", s.describe())),
            None => return Verdict::error(format!("{addr}: STARTTLS was not sent")),
        }
        let Some(leaf) = p.certificates.first() else {
            return Verdict::error(format!(
                "{addr} sent no certificate mailcheck could read{}",
                if p.problems.is_empty() {
                    String::new()
                } else {
                    format!(": {}", p.problems.join("; "))
                }
            ));
        };
        let n = p.certificates.len();
        let mut weak = Vec::new();
        for (i, c) in p.certificates.iter().enumerate() {
            let which = if i == 0 {
                format!("the certificate {}", c.subject)
            } else {
                format!("chain certificate #{i} {}", c.subject)
            };
            if let Some(k) = weak_key(c) {
                weak.push(format!("{which} has {k}"));
            }
            // The last of a chain of several is usually the root, whose own signature no
            // client checks.
            if (i == 0 || i + 1 < n)
                && let Some(s) = weak_signature(c)
            {
                weak.push(format!("{which} is {s}"));
            }
        }
        let from = from_where(&o.vantage);
        if let Some(m) = &handshake_failed
            && weak.is_empty()
        {
            return Verdict::error(format!(
                "{addr}: STARTTLS: {m} (the certificate {}, {}, is not what it failed on)",
                leaf.subject,
                describe(leaf)
            ));
        }
        if !weak.is_empty() {
            return Verdict::fail(format!(
                "{addr} {from}: {}{}",
                weak.join("; "),
                handshake_failed
                    .map(|m| format!("; mailcheck's own TLS client refused the handshake ({m})"))
                    .unwrap_or_default()
            ))
            .with_fix(
                "make a new key and certificate, RSA of 2048 bits or more (or ECDSA P-256) signed with SHA-256, e.g. `openssl req -x509 -newkey rsa:3072 -sha256 -days 825 -nodes -subj /CN=$(postconf -h myhostname) -keyout key.pem -out cert.pem`; put both in the file smtpd_tls_cert_file names (the tutorial's /etc/ssl/self-signed/server.pem), then `postfix reload`",
            );
        }
        Verdict::pass(format!(
            "{addr} serves {} ({}){}",
            leaf.subject,
            describe(leaf),
            if n > 1 {
                format!(
                    " and {} chain certificate(s) with acceptable algorithms",
                    n - 1
                )
            } else {
                String::new()
            }
        ))
    }
}
