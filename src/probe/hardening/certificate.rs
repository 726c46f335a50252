//! H6 certificate algorithms: key and signature hash of each certificate (RFC 5280 §4.1.1.2).
//!
//! Signature OIDs per RFC 8017, RFC 5758 and RFC 8410; SHA-1 and MD5 signatures are what
//! current clients refuse.
//!
//! The key type and size come from [`CertInfo`](crate::probe::tls::CertInfo); this adds the
//! signature algorithm, which `CertInfo` does not record. Plain data: whether RSA-2048 and
//! SHA-256 are good enough is the judge's business.

use serde::{Deserialize, Serialize};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::{Endpoint, SetupFailure, Step, Target};
use crate::probe::tls::CertInfo;

/// Why a certificate's algorithms could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error("not an X.509 certificate: {detail}")]
    NotX509 { detail: String },
    #[error("{bytes} bytes after the certificate")]
    Trailing { bytes: usize },
}

/// The algorithms of one certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct CertAlgorithms {
    pub subject: String,
    /// "RSA", "EC", "Ed25519", ...
    pub key_type: String,
    pub key_bits: Option<u32>,
    /// The signatureAlgorithm OID, dotted.
    pub signature_oid: String,
    /// "sha256WithRSAEncryption", or the OID when it has no name here.
    pub signature_algorithm: String,
    /// "SHA-256", "SHA-1", "MD5"; `None` for RSASSA-PSS (the hash is in its parameters), EdDSA
    /// and unknown algorithms.
    pub signature_hash: Option<String>,
}

/// The name and hash of a signature algorithm OID.
pub fn signature_name(oid: &str) -> (Option<&'static str>, Option<&'static str>) {
    match oid {
        "1.2.840.113549.1.1.2" => (Some("md2WithRSAEncryption"), Some("MD2")),
        "1.2.840.113549.1.1.4" => (Some("md5WithRSAEncryption"), Some("MD5")),
        "1.2.840.113549.1.1.5" => (Some("sha1WithRSAEncryption"), Some("SHA-1")),
        "1.2.840.113549.1.1.14" => (Some("sha224WithRSAEncryption"), Some("SHA-224")),
        "1.2.840.113549.1.1.11" => (Some("sha256WithRSAEncryption"), Some("SHA-256")),
        "1.2.840.113549.1.1.12" => (Some("sha384WithRSAEncryption"), Some("SHA-384")),
        "1.2.840.113549.1.1.13" => (Some("sha512WithRSAEncryption"), Some("SHA-512")),
        "1.2.840.113549.1.1.10" => (Some("RSASSA-PSS"), None),
        "1.2.840.10045.4.1" => (Some("ecdsa-with-SHA1"), Some("SHA-1")),
        "1.2.840.10045.4.3.1" => (Some("ecdsa-with-SHA224"), Some("SHA-224")),
        "1.2.840.10045.4.3.2" => (Some("ecdsa-with-SHA256"), Some("SHA-256")),
        "1.2.840.10045.4.3.3" => (Some("ecdsa-with-SHA384"), Some("SHA-384")),
        "1.2.840.10045.4.3.4" => (Some("ecdsa-with-SHA512"), Some("SHA-512")),
        "1.2.840.10040.4.3" => (Some("dsa-with-SHA1"), Some("SHA-1")),
        "2.16.840.1.101.3.4.3.2" => (Some("dsa-with-SHA256"), Some("SHA-256")),
        "1.3.101.112" => (Some("Ed25519"), None),
        "1.3.101.113" => (Some("Ed448"), None),
        _ => (None, None),
    }
}

/// The algorithms of one DER certificate.
pub fn algorithms(der: &[u8]) -> Result<CertAlgorithms, CertificateError> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| CertificateError::NotX509 {
        detail: e.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(CertificateError::Trailing { bytes: rest.len() });
    }
    let info = CertInfo::from_der(der).map_err(|e| CertificateError::NotX509 {
        detail: e.to_string(),
    })?;
    let oid = cert.signature_algorithm.algorithm.to_id_string();
    let (name, hash) = signature_name(&oid);
    Ok(CertAlgorithms {
        subject: info.subject,
        key_type: info.key_type,
        key_bits: info.key_bits,
        signature_algorithm: name.map_or_else(|| oid.clone(), str::to_string),
        signature_hash: hash.map(str::to_string),
        signature_oid: oid,
    })
}

/// The certificates a server sends after STARTTLS, with their algorithms.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct CertificatesObservation {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    pub setup_failure: Option<SetupFailure>,
    /// The reply to STARTTLS, or the handshake's failure.
    pub starttls: Option<Step>,
    pub tls_protocol: Option<String>,
    /// Leaf first.
    pub certificates: Vec<CertAlgorithms>,
    /// Certificates that could not be read, with why.
    pub problems: Vec<String>,
    pub transcript: Vec<String>,
}

/// STARTTLS with the recording verifier, then the algorithms of every certificate served.
pub async fn probe(target: &Target) -> CertificatesObservation {
    let mut o = CertificatesObservation {
        endpoint: Endpoint::of(target),
        ..CertificatesObservation::default()
    };
    let (mut c, _) = match super::open(target).await {
        Ok(x) => x,
        Err((f, transcript)) => {
            o.setup_failure = Some(f);
            o.transcript = transcript;
            return o;
        }
    };
    if !c.capabilities().is_some_and(|k| k.has("STARTTLS")) {
        o.setup_failure = Some(super::starttls_not_offered());
        o.transcript = c.quit().await.lines();
        return o;
    }
    match c.starttls(&target.server_name).await {
        Ok(info) => {
            o.starttls = Some(Step::Reply {
                code: 220,
                lines: Vec::new(),
            });
            o.tls_protocol = Some(info.protocol.clone());
            for (i, der) in info.peer_chain_der.iter().enumerate() {
                match algorithms(der) {
                    Ok(a) => o.certificates.push(a),
                    Err(e) => o.problems.push(format!("certificate #{i}: {e}")),
                }
            }
        }
        Err(e) => {
            o.starttls = Some(Step::from_error(&e));
            // A handshake that failed on the certificate still showed it.
            for (i, der) in c.failed_handshake_chain().iter().enumerate() {
                match algorithms(der) {
                    Ok(a) => o.certificates.push(a),
                    Err(e) => o.problems.push(format!("certificate #{i}: {e}")),
                }
            }
        }
    }
    o.transcript = c.quit().await.lines();
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_hashes_are_named() {
        assert_eq!(
            signature_name("1.2.840.113549.1.1.5"),
            (Some("sha1WithRSAEncryption"), Some("SHA-1"))
        );
        assert_eq!(signature_name("1.2.840.113549.1.1.4").1, Some("MD5"));
        assert_eq!(signature_name("1.2.840.10045.4.3.2").1, Some("SHA-256"));
        assert_eq!(signature_name("1.2.3"), (None, None));
    }

    #[test]
    fn an_rcgen_certificate_is_ecdsa_sha256() {
        let key = rcgen::generate_simple_self_signed(vec!["mx.example".to_string()]).unwrap();
        let a = algorithms(key.cert.der()).unwrap();
        assert_eq!(a.key_type, "EC");
        assert_eq!(a.key_bits, Some(256));
        assert_eq!(a.signature_algorithm, "ecdsa-with-SHA256");
        assert_eq!(a.signature_hash.as_deref(), Some("SHA-256"));
        assert!(matches!(
            algorithms(b"not a certificate"),
            Err(CertificateError::NotX509 { .. })
        ));
        let mut der = key.cert.der().to_vec();
        der.push(0);
        assert_eq!(
            algorithms(&der),
            Err(CertificateError::Trailing { bytes: 1 })
        );
    }
}
