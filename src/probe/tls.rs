//! TLS for STARTTLS (RFC 3207): rustls with a dangerous recording verifier; X.509 facts (RFC 5280, 6125).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry as oids;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

/// Most certificates recorded from one chain.
const MAX_CHAIN: usize = 16;

/// Accepts any certificate chain and records it, because the tutorial's certificate is
/// self-signed on purpose and mailcheck judges the chain itself. The handshake signatures are
/// still verified with the provider's algorithms, so the peer must hold the certificate's key.
#[derive(Debug)]
pub struct DangerousRecordingVerifier {
    algorithms: WebPkiSupportedAlgorithms,
    chain: Mutex<Vec<CertificateDer<'static>>>,
}

impl DangerousRecordingVerifier {
    pub fn new(provider: &CryptoProvider) -> Self {
        DangerousRecordingVerifier {
            algorithms: provider.signature_verification_algorithms,
            chain: Mutex::new(Vec::new()),
        }
    }

    /// The chain the server presented, leaf first (empty before the handshake got that far).
    pub fn recorded_chain(&self) -> Vec<CertificateDer<'static>> {
        self.chain
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl ServerCertVerifier for DangerousRecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = self
            .chain
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        chain.clear();
        chain.extend(
            std::iter::once(end_entity)
                .chain(intermediates)
                .take(MAX_CHAIN)
                .map(|c| c.clone().into_owned()),
        );
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The TLS client could not be set up (before any byte was sent).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsSetupError {
    #[error("TLS configuration: {0}")]
    Config(String),
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
}

/// A certificate (DER or PEM) that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertParseError {
    #[error("not an X.509 certificate: {0}")]
    NotX509(String),
    #[error("{0} bytes after the certificate")]
    Trailing(usize),
    #[error("validity date out of range ({0})")]
    DateOutOfRange(i64),
    #[error("SHA-256 unavailable")]
    NoSha256,
    #[error("PEM block #{index}: {detail}")]
    Pem { index: usize, detail: String },
    #[error("certificate #{index}: {source}")]
    Certificate {
        index: usize,
        source: Box<CertParseError>,
    },
    #[error("no CERTIFICATE block found")]
    NoCertificate,
}

/// A rustls client config (ring provider, TLS 1.2 and 1.3) that trusts whatever `verifier`
/// accepts, plus that verifier so the caller can read the recorded chain.
pub fn dangerous_client_config()
-> Result<(ClientConfig, Arc<DangerousRecordingVerifier>), TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(DangerousRecordingVerifier::new(&provider));
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::Config(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    // No session resumption: every probe wants a full handshake and the certificate, and a
    // client that offers no PSK modes gets no TLS 1.3 session tickets. Postfix's smtpd (no
    // TCP_NODELAY) writes those tickets in separate segments; the second one then waits for our
    // delayed ACK, adding ~40 ms to the first reply after STARTTLS in about half the sessions.
    let mut config = config;
    config.resumption = rustls::client::Resumption::disabled();
    Ok((config, verifier))
}

/// The name to present: a DNS name (sent as SNI) or, for an address, an IP name (no SNI).
pub fn server_name(name: &str) -> Result<ServerName<'static>, TlsSetupError> {
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(name.to_string()).map_err(|_| TlsSetupError::ServerName(name.to_string()))
}

/// What the TLS handshake established.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TlsInfo {
    /// "TLSv1.3", "TLSv1.2".
    pub protocol: String,
    /// rustls suite name, e.g. "TLS13_AES_256_GCM_SHA384".
    pub cipher: String,
    /// Parsed certificates, leaf first (a certificate that cannot be parsed is left out; its
    /// DER is still in `peer_chain_der`).
    pub certificates: Vec<CertInfo>,
    #[serde(skip)]
    pub peer_chain_der: Vec<Vec<u8>>,
}

impl TlsInfo {
    /// Facts from an established connection; `recorded` is the verifier's chain (preferred),
    /// the connection's peer certificates otherwise. Returns parse problems beside the facts.
    pub fn from_connection(
        conn: &rustls::ClientConnection,
        recorded: Vec<CertificateDer<'static>>,
    ) -> (TlsInfo, Vec<String>) {
        let protocol = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
            Some(v) => format!("{v:?}"),
            None => "unknown".to_string(),
        };
        let cipher = conn.negotiated_cipher_suite().map_or_else(
            || "unknown".to_string(),
            |s| {
                let suite = s.suite();
                suite
                    .as_str()
                    .map_or_else(|| format!("{suite:?}"), str::to_string)
            },
        );
        let chain: Vec<Vec<u8>> = if recorded.is_empty() {
            conn.peer_certificates()
                .unwrap_or_default()
                .iter()
                .take(MAX_CHAIN)
                .map(|c| c.to_vec())
                .collect()
        } else {
            recorded.iter().map(|c| c.to_vec()).collect()
        };
        let mut certificates = Vec::new();
        let mut problems = Vec::new();
        for (i, der) in chain.iter().enumerate() {
            match CertInfo::from_der(der) {
                Ok(c) => certificates.push(c),
                Err(e) => problems.push(format!("certificate #{i}: {e}")),
            }
        }
        (
            TlsInfo {
                protocol,
                cipher,
                certificates,
                peer_chain_der: chain,
            },
            problems,
        )
    }

    /// The leaf certificate, if it could be parsed.
    pub fn leaf(&self) -> Option<&CertInfo> {
        self.certificates.first()
    }
}

/// Facts about one X.509 certificate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertInfo {
    pub subject_cn: Option<String>,
    /// RFC 4514-style, e.g. "CN=mail.example.com".
    pub subject: String,
    pub issuer: String,
    /// DNS names and IP addresses from subjectAltName, as strings.
    pub sans: Vec<String>,
    #[serde(serialize_with = "ser_time")]
    pub not_before: SystemTime,
    #[serde(serialize_with = "ser_time")]
    pub not_after: SystemTime,
    /// "RSA", "EC", "Ed25519", "Ed448", "DSA", "RSA-PSS", or the algorithm OID.
    pub key_type: String,
    pub key_bits: Option<u32>,
    /// SHA-256 of the DER, uppercase hex pairs joined by ':' (as `openssl x509 -fingerprint`).
    pub sha256_fingerprint: String,
    /// Subject equals issuer and the key identifiers (when present) agree.
    pub self_signed: bool,
}

fn ser_time<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::clock::rfc3339(*t))
}

impl CertInfo {
    /// Parses one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<CertInfo, CertParseError> {
        let (rest, cert) =
            X509Certificate::from_der(der).map_err(|e| CertParseError::NotX509(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CertParseError::Trailing(rest.len()));
        }
        let subject_cn = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_string);
        let mut sans = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => sans.push((*d).to_string()),
                    GeneralName::IPAddress(b) => {
                        if let Some(ip) = ip_from_bytes(b) {
                            sans.push(ip.to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
        let validity = cert.validity();
        let not_before = system_time(validity.not_before.timestamp())?;
        let not_after = system_time(validity.not_after.timestamp())?;
        let (key_type, key_bits) = key_facts(&cert);
        Ok(CertInfo {
            subject_cn,
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            sans,
            not_before,
            not_after,
            key_type,
            key_bits,
            sha256_fingerprint: fingerprint(der)?,
            self_signed: is_self_issued(&cert),
        })
    }

    /// The names the certificate is for: its SANs, or its CN (plus any IP SANs) when it has
    /// no DNS SAN.
    pub fn names(&self) -> Vec<String> {
        if self.dns_sans().next().is_some() {
            return self.sans.clone();
        }
        self.subject_cn
            .iter()
            .cloned()
            .chain(self.sans.iter().cloned())
            .collect()
    }

    /// RFC 6125 matching: exact, or a `*` standing for the whole left-most label (never for a
    /// public suffix-like "*.com"), case-insensitive; IP addresses only against IP SANs.
    pub fn matches_name(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return self
                .sans
                .iter()
                .any(|s| s.parse::<IpAddr>().is_ok_and(|x| x == ip));
        }
        let dns: Vec<&str> = self.dns_sans().collect();
        if dns.is_empty() {
            return self
                .subject_cn
                .as_deref()
                .is_some_and(|cn| dns_name_matches(cn, host));
        }
        dns.iter().any(|p| dns_name_matches(p, host))
    }

    /// Whole days until `not_after` (negative once expired; -1 within the first day after).
    pub fn days_left(&self, now: SystemTime) -> i64 {
        let secs: i64 = match self.not_after.duration_since(now) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => {
                let d = e.duration();
                // Round up so that "expired a moment ago" is already day -1.
                let s = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                -(s.saturating_add(i64::from(d.subsec_nanos() > 0)))
            }
        };
        secs.div_euclid(86_400)
    }

    fn dns_sans(&self) -> impl Iterator<Item = &str> {
        self.sans
            .iter()
            .filter(|s| s.parse::<IpAddr>().is_err())
            .map(String::as_str)
    }
}

fn dns_name_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    let host = host.to_ascii_lowercase();
    if host.is_empty() || host.contains('*') {
        return false;
    }
    match pattern.strip_prefix("*.") {
        Some(rest) => {
            if rest.contains('*') || !rest.contains('.') {
                return false;
            }
            host.split_once('.')
                .is_some_and(|(first, tail)| !first.is_empty() && tail == rest)
        }
        None => !pattern.contains('*') && pattern == host,
    }
}

/// Reads every CERTIFICATE block of a PEM file (e.g. Postfix's `smtpd_tls_cert_file`).
pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertInfo>, CertParseError> {
    let mut out = Vec::new();
    for (i, item) in CertificateDer::pem_slice_iter(pem).enumerate() {
        let der = item.map_err(|e| CertParseError::Pem {
            index: i,
            detail: e.to_string(),
        })?;
        out.push(
            CertInfo::from_der(&der).map_err(|e| CertParseError::Certificate {
                index: i,
                source: Box::new(e),
            })?,
        );
    }
    if out.is_empty() {
        return Err(CertParseError::NoCertificate);
    }
    Ok(out)
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b)
            .ok()
            .map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        16 => <[u8; 16]>::try_from(b)
            .ok()
            .map(|a| IpAddr::V6(Ipv6Addr::from(a))),
        _ => None,
    }
}

fn system_time(unix: i64) -> Result<SystemTime, CertParseError> {
    let t = if unix >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(unix.unsigned_abs()))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(unix.unsigned_abs()))
    };
    t.ok_or(CertParseError::DateOutOfRange(unix))
}

fn key_facts(cert: &X509Certificate<'_>) -> (String, Option<u32>) {
    let spki = cert.public_key();
    let oid = &spki.algorithm.algorithm;
    let parsed = spki.parsed().ok();
    let to_u32 = |n: usize| u32::try_from(n).ok().filter(|&n| n > 0);
    if *oid == oids::OID_PKCS1_RSAENCRYPTION || *oid == oids::OID_PKCS1_RSASSAPSS {
        let bits = match parsed {
            Some(PublicKey::RSA(rsa)) => to_u32(bits_of_integer(rsa.modulus)),
            _ => None,
        };
        let name = if *oid == oids::OID_PKCS1_RSASSAPSS {
            "RSA-PSS"
        } else {
            "RSA"
        };
        (name.to_string(), bits)
    } else if *oid == oids::OID_KEY_TYPE_EC_PUBLIC_KEY {
        let bits = parsed.and_then(|k| to_u32(k.key_size()));
        ("EC".to_string(), bits)
    } else if *oid == oids::OID_SIG_ED25519 {
        ("Ed25519".to_string(), Some(256))
    } else if *oid == oids::OID_SIG_ED448 {
        ("Ed448".to_string(), Some(448))
    } else if *oid == oids::OID_KEY_TYPE_DSA {
        let bits = parsed.and_then(|k| to_u32(k.key_size()));
        ("DSA".to_string(), bits)
    } else {
        (oid.to_id_string(), None)
    }
}

/// Bit length of a big-endian unsigned integer (leading zero bytes ignored).
fn bits_of_integer(bytes: &[u8]) -> usize {
    let Some(first) = bytes.iter().position(|&b| b != 0) else {
        return 0;
    };
    let len = bytes.len() - first;
    (len - 1) * 8 + (8 - bytes[first].leading_zeros() as usize)
}

/// Self-issued: same subject and issuer, and the authority key id (if any) names the
/// certificate's own key. The signature itself is not checked here.
fn is_self_issued(cert: &X509Certificate<'_>) -> bool {
    if cert.subject().as_raw() != cert.issuer().as_raw() {
        return false;
    }
    let mut ski = None;
    let mut aki = None;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => ski = Some(k.0),
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                aki = a.key_identifier.as_ref().map(|k| k.0);
            }
            _ => {}
        }
    }
    match (aki, ski) {
        (Some(a), Some(s)) => a == s,
        _ => true,
    }
}

/// SHA-256 through the ring provider rustls already carries (no extra hashing crate).
fn fingerprint(der: &[u8]) -> Result<String, CertParseError> {
    let suite = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .ok_or(CertParseError::NoSha256)?;
    let hash = suite.common.hash_provider;
    if hash.algorithm() != rustls::crypto::hash::HashAlgorithm::SHA256 {
        return Err(CertParseError::NoSha256);
    }
    let digest = hash.hash(der);
    Ok(digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(cn: Option<&str>, sans: &[&str]) -> CertInfo {
        CertInfo {
            subject_cn: cn.map(str::to_string),
            subject: String::new(),
            issuer: String::new(),
            sans: sans.iter().map(|s| s.to_string()).collect(),
            not_before: UNIX_EPOCH,
            not_after: UNIX_EPOCH + Duration::from_secs(100 * 86_400),
            key_type: "EC".into(),
            key_bits: Some(256),
            sha256_fingerprint: String::new(),
            self_signed: true,
        }
    }

    #[test]
    fn name_matching_rfc6125() {
        let c = info(
            Some("ignored.example"),
            &["mail.example.com", "*.example.org", "192.0.2.1"],
        );
        assert!(c.matches_name("mail.example.com"));
        assert!(c.matches_name("MAIL.Example.COM."));
        assert!(
            !c.matches_name("ignored.example"),
            "CN ignored when DNS SANs exist"
        );
        assert!(c.matches_name("smtp.example.org"));
        assert!(!c.matches_name("example.org"));
        assert!(!c.matches_name("a.b.example.org"));
        assert!(c.matches_name("192.0.2.1"));
        assert!(!c.matches_name("192.0.2.2"));
        assert!(!info(None, &["*.com"]).matches_name("example.com"));
        assert!(!info(None, &["w*.example.com"]).matches_name("www.example.com"));
        let cn_only = info(Some("mail.example.com"), &["192.0.2.1"]);
        assert!(cn_only.matches_name("mail.example.com"));
        assert_eq!(cn_only.names(), vec!["mail.example.com", "192.0.2.1"]);
        assert_eq!(c.names().len(), 3);
    }

    #[test]
    fn days_left_counts_whole_days() {
        let c = info(None, &[]);
        let day = Duration::from_secs(86_400);
        assert_eq!(c.days_left(UNIX_EPOCH), 100);
        assert_eq!(
            c.days_left(UNIX_EPOCH + day * 99 + Duration::from_secs(1)),
            0
        );
        assert_eq!(c.days_left(c.not_after), 0);
        assert_eq!(c.days_left(c.not_after + Duration::from_secs(1)), -1);
        assert_eq!(c.days_left(c.not_after + day * 3), -3);
    }

    #[test]
    fn parses_an_rcgen_certificate_from_der_and_pem() {
        let key = rcgen::generate_simple_self_signed(vec![
            "mail.example.com".to_string(),
            "127.0.0.1".to_string(),
        ])
        .unwrap();
        let c = CertInfo::from_der(key.cert.der()).unwrap();
        assert_eq!(c.sans, vec!["mail.example.com", "127.0.0.1"]);
        assert_eq!(c.key_type, "EC");
        assert_eq!(c.key_bits, Some(256));
        assert!(c.self_signed);
        assert_eq!(c.sha256_fingerprint.len(), 32 * 3 - 1);
        assert!(
            c.sha256_fingerprint
                .chars()
                .all(|ch| ch == ':' || ch.is_ascii_hexdigit())
        );
        assert!(
            !c.sha256_fingerprint
                .chars()
                .any(|ch| ch.is_ascii_lowercase())
        );
        assert!(c.not_before < c.not_after);
        assert!(c.matches_name("mail.example.com"));
        let pem = format!("{}\n{}", key.cert.pem(), key.cert.pem());
        let both = certs_from_pem(pem.as_bytes()).unwrap();
        assert_eq!(both.len(), 2);
        assert_eq!(both[0], c);
        assert!(certs_from_pem(b"nothing here").is_err());
        assert!(CertInfo::from_der(b"\x30\x03abc").is_err());
    }

    #[test]
    fn issued_cert_is_not_self_signed() {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let mut leaf_params =
            rcgen::CertificateParams::new(vec!["mail.example.com".to_string()]).unwrap();
        leaf_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "mail.example.com");
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
        let leaf = CertInfo::from_der(leaf.der()).unwrap();
        assert!(!leaf.self_signed);
        assert_eq!(leaf.subject_cn.as_deref(), Some("mail.example.com"));
        assert_eq!(leaf.issuer, "CN=Test CA");
        assert!(CertInfo::from_der(ca.der()).unwrap().self_signed);
        assert_eq!(bits_of_integer(&[0x00, 0x80, 0, 0]), 24);
        assert_eq!(bits_of_integer(&[0x01, 0xff]), 9);
        assert_eq!(bits_of_integer(&[]), 0);
    }

    #[test]
    fn server_names() {
        assert!(matches!(
            server_name("127.0.0.1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(server_name("::1"), Ok(ServerName::IpAddress(_))));
        assert!(matches!(
            server_name("mail.example.com"),
            Ok(ServerName::DnsName(_))
        ));
        assert!(server_name("bad name!").is_err());
    }
}
