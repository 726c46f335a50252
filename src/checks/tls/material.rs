//! T29: the certificate and key files smtpd_tls_cert_file/smtpd_tls_key_file name, as
//! Postfix loads them: the key belongs to the first certificate (same public key), the chain
//! that follows is in order, and key size and signature algorithm are ones current clients
//! accept (Debian's OpenSSL runs at security level 2: RSA >= 2048 bits, no SHA-1/MD5).

use std::path::PathBuf;

use serde::Deserialize;

use crate::checks::kind::{AS_ROOT, Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::tls_material::{self, CertFacts, FileState, KeyKind, KeyMatch, TlsMaterial};
use crate::verdict::{Verdict, worst_of};

/// T29: what clients accept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// RSA keys below this many bits are refused (OpenSSL security level 2: 2048).
    pub min_rsa_bits: u32,
}

/// What the check looks at: the probe's view of the two files (no key material in it).
pub type Observation = TlsMaterial;

fn key_words(k: &KeyKind) -> String {
    match (&k.bits, &k.curve) {
        (_, Some(c)) => format!("{} {c}", k.algorithm),
        (Some(b), None) => format!("{b}-bit {}", k.algorithm),
        (None, None) => k.algorithm.clone(),
    }
}

fn cert_words(c: &CertFacts) -> String {
    format!(
        "certificate {} (line {}, {})",
        c.index + 1,
        c.line,
        c.subject
    )
}

/// T29: the kind.
pub struct Material;

impl Kind for Material {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let cert = cfg.get("smtpd_tls_cert_file");
        let key = cfg.get("smtpd_tls_key_file");
        if cert.trim().is_empty() {
            return Err(Unobserved::NotApplicable {
                reason: "smtpd_tls_cert_file is not set (postfix.tls-settings reports it)".into(),
            });
        }
        let cert = PathBuf::from(cert.trim());
        let key = match key.trim() {
            "" => cert.clone(),
            k => PathBuf::from(k),
        };
        let o = tokio::task::spawn_blocking(move || tls_material::observe(&cert, &key))
            .await
            .map_err(|e| Unobserved::Failed(format!("the TLS material probe crashed: {e}")))?;
        for (state, path) in [(&o.cert_state, &o.cert_file), (&o.key_state, &o.key_file)] {
            if *state == FileState::Denied {
                return Err(Unobserved::NeedsRoot { path: path.clone() });
            }
        }
        Ok(o)
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let cert = o.cert_file.display();
        let key = o.key_file.display();
        for (state, path, param) in [
            (&o.cert_state, &o.cert_file, "smtpd_tls_cert_file"),
            (&o.key_state, &o.key_file, "smtpd_tls_key_file"),
        ] {
            match state {
                FileState::Missing => {
                    return Verdict::fail(format!(
                        "{} ({param}) does not exist: smtpd answers STARTTLS with \"454 4.7.0 TLS not available due to local problem\"",
                        path.display()
                    ));
                }
                FileState::Denied => {
                    return Verdict::error(format!("needs root to read {}", path.display()))
                        .with_fix(AS_ROOT);
                }
                FileState::Unreadable { message } => {
                    return Verdict::error(format!("cannot read {}: {message}", path.display()));
                }
                FileState::Read { .. } | FileState::Truncated { .. } => {}
            }
        }
        let mut findings = Vec::new();
        match &o.key_matches_leaf {
            KeyMatch::Matches => {}
            KeyMatch::DoesNotMatch { key: k, certificate } => findings.push(Verdict::fail(format!(
                "the private key in {key} ({}) does not belong to the certificate in {cert} ({}): smtpd cannot load them and answers STARTTLS with \"454 4.7.0 TLS not available due to local problem\"",
                key_words(k),
                key_words(certificate)
            ))),
            KeyMatch::NoKey => findings.push(Verdict::fail(format!(
                "{key} (smtpd_tls_key_file) holds no private key: smtpd cannot offer TLS"
            ))),
            KeyMatch::NoCertificate => findings.push(Verdict::fail(format!(
                "{cert} (smtpd_tls_cert_file) holds no certificate: smtpd cannot offer TLS"
            ))),
            KeyMatch::Unknown { reason } => {
                if o.keys.first().is_some_and(|k| k.encrypted) {
                    findings.push(Verdict::fail(format!(
                        "the private key in {key} is encrypted with a pass phrase, which Postfix cannot supply: smtpd cannot offer TLS"
                    )));
                } else {
                    findings.push(Verdict::warn(format!(
                        "cannot tell whether the key in {key} belongs to the certificate: {reason}"
                    )));
                }
            }
        }
        for link in o.chain.iter().filter(|l| !l.issuer_is_next_subject) {
            let (Some(c), Some(next)) = (
                o.certificates.get(link.index),
                o.certificates.get(link.index + 1),
            ) else {
                continue;
            };
            findings.push(Verdict::fail(format!(
                "the chain in {cert} is out of order: {} is issued by {}, but the next one is {}; clients that build the chain from the file's order refuse it",
                cert_words(c),
                c.issuer,
                next.subject
            )));
        }
        if let Some(leaf) = o.certificates.first() {
            let k = &leaf.key;
            if let Some(why) = super::key_clients_refuse(&k.algorithm, k.bits, spec.min_rsa_bits) {
                findings.push(
                    Verdict::fail(format!("the certificate in {cert} has {why}")).with_fix(
                        "make a new key and certificate: openssl req -x509 -newkey rsa:2048 -sha256 ...",
                    ),
                );
            }
        }
        let last = o.certificates.len().saturating_sub(1);
        for c in &o.certificates {
            if !c.signature.weak_digest {
                continue;
            }
            // The root of a chain of several is a trust anchor, whose own signature no client
            // checks. A self-signed leaf is the certificate clients are given, and H6 (no
            // SHA-1/MD5) holds for it as for any other.
            let anchor = c.self_signed && c.index == last && c.index > 0;
            let msg = format!(
                "{} in {cert} is signed with {}: current clients refuse SHA-1 and MD5 signatures",
                cert_words(c),
                c.signature.name
            );
            findings.push(if anchor {
                Verdict::warn(msg)
            } else {
                Verdict::fail(msg).with_fix(
                    "make a new certificate signed with SHA-256: openssl req -x509 -newkey rsa:2048 -sha256 ...",
                )
            });
        }
        let Some(leaf) = o.certificates.first() else {
            return worst_of(findings, "");
        };
        worst_of(
            findings,
            &format!(
                "the key in {key} belongs to the certificate in {cert} ({}, {} key, signed with {}){}",
                leaf.subject,
                key_words(&leaf.key),
                leaf.signature.name,
                if o.certificates.len() > 1 {
                    format!("; its {} certificates are in order", o.certificates.len())
                } else {
                    String::new()
                }
            ),
        )
    }
}
