//! The TLS certificate and key files Postfix is told to use (smtpd_tls_cert_file,
//! smtpd_tls_key_file; RFC 7468 PEM, RFC 5280 certificates, RFC 8017 PKCS#1, RFC 5208/5958
//! PKCS#8, RFC 5915 EC keys): every certificate in file order, the chain order, the private
//! key, and whether the key belongs to the leaf certificate.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

/// Longest file read.
const MAX_FILE: u64 = 1024 * 1024;
/// Most PEM blocks looked at in one file.
const MAX_BLOCKS: usize = 64;

/// How reading one file went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum FileState {
    Read {
        bytes: usize,
    },
    Missing,
    /// There, but this process may not read it (mailcheck is not root).
    Denied,
    Unreadable {
        message: String,
    },
    /// Larger than the 1 MiB read; only the start was looked at.
    Truncated {
        bytes: usize,
    },
}

/// One `-----BEGIN X-----` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PemBlock {
    pub label: String,
    /// 1-based line of the BEGIN line.
    pub line: usize,
    /// RFC 1421 headers (`Proc-Type: 4,ENCRYPTED`, `DEK-Info: ...`).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The base64 did not decode, or there was no END line.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(skip)]
    pub der: Vec<u8>,
}

/// PEM blocks of `text`, in order. Text outside blocks is ignored, as OpenSSL does.
pub fn pem_blocks(text: &str) -> Vec<PemBlock> {
    use base64::Engine as _;
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, l)) = lines.next() {
        if out.len() >= MAX_BLOCKS {
            break;
        }
        let Some(label) = l
            .trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|r| r.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut headers = Vec::new();
        let mut body = String::new();
        let mut closed = false;
        let mut in_headers = true;
        for (_, l) in lines.by_ref() {
            let t = l.trim();
            if t == end {
                closed = true;
                break;
            }
            if in_headers {
                if let Some((k, v)) = t.split_once(':') {
                    headers.push((k.trim().to_string(), v.trim().to_string()));
                    continue;
                }
                in_headers = false;
                if t.is_empty() {
                    continue;
                }
            }
            body.push_str(t);
        }
        let (der, error) = if !closed {
            (Vec::new(), Some(format!("no {end} line")))
        } else {
            match base64::engine::general_purpose::STANDARD.decode(body.as_bytes()) {
                Ok(d) => (d, None),
                Err(e) => (Vec::new(), Some(format!("bad base64: {e}"))),
            }
        };
        out.push(PemBlock {
            label: label.to_string(),
            line: i + 1,
            headers,
            error,
            der,
        });
    }
    out
}

/// A certificate's signature algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SignatureAlg {
    pub oid: String,
    /// OpenSSL's name, e.g. `sha1WithRSAEncryption`.
    pub name: String,
    /// The digest, e.g. `sha1`, `sha256` (none for Ed25519/Ed448).
    #[serde(default)]
    pub digest: Option<String>,
    /// MD2, MD4, MD5 or SHA-1: refused by current clients (OpenSSL security level >= 1).
    pub weak_digest: bool,
}

/// A public key's type and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KeyKind {
    /// `RSA`, `EC`, `Ed25519`, `Ed448`, `DSA`, `RSA-PSS`, or the algorithm OID.
    pub algorithm: String,
    #[serde(default)]
    pub bits: Option<u32>,
    /// For EC: `prime256v1`, `secp384r1`, `secp521r1`, or the curve OID.
    #[serde(default)]
    pub curve: Option<String>,
}

/// One certificate of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CertFacts {
    /// Position among the file's certificates (0 = the leaf Postfix presents).
    pub index: usize,
    pub line: usize,
    pub subject: String,
    pub issuer: String,
    #[serde(default)]
    pub subject_cn: Option<String>,
    #[serde(default)]
    pub sans: Vec<String>,
    /// Hex, colon-separated, as `openssl x509 -serial` (with colons).
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    pub not_before_unix: i64,
    pub not_after_unix: i64,
    pub key: KeyKind,
    pub signature: SignatureAlg,
    pub self_signed: bool,
    pub is_ca: bool,
    pub sha256_fingerprint: String,
}

/// Whether certificate `index`'s issuer is the next certificate's subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChainLink {
    pub index: usize,
    pub issuer_is_next_subject: bool,
}

/// One private key block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KeyFacts {
    pub index: usize,
    pub line: usize,
    /// `PKCS#8`, `PKCS#1`, `SEC1`, `encrypted PKCS#8`, `legacy encrypted PEM`, ...
    pub format: String,
    /// Needs a pass phrase: Postfix cannot load it.
    pub encrypted: bool,
    #[serde(default)]
    pub kind: Option<KeyKind>,
    /// Why the key could not be read.
    #[serde(default)]
    pub error: Option<String>,
    /// For EC keys: the public point stored with the key agrees with the private scalar
    /// (checked with ring for the curves it supports); `None` when not checked.
    #[serde(default)]
    pub consistent: Option<bool>,
    #[serde(skip)]
    public: Option<PublicHalf>,
}

/// Whether the (first) private key belongs to the leaf certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case", tag = "match")]
pub enum KeyMatch {
    Matches,
    /// The key's public half is not the certificate's public key.
    DoesNotMatch {
        key: KeyKind,
        certificate: KeyKind,
    },
    /// It could not be decided (encrypted key, unsupported type, parse error).
    Unknown {
        reason: String,
    },
    NoKey,
    NoCertificate,
}

/// Everything this probe reports about a cert file and a key file (possibly the same file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TlsMaterial {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub same_file: bool,
    pub cert_state: FileState,
    pub key_state: FileState,
    /// Labels and lines of the PEM blocks of the cert file (and of the key file when separate).
    pub cert_blocks: Vec<PemBlock>,
    #[serde(default)]
    pub key_blocks: Vec<PemBlock>,
    pub certificates: Vec<CertFacts>,
    pub chain: Vec<ChainLink>,
    pub keys: Vec<KeyFacts>,
    pub key_matches_leaf: KeyMatch,
    /// Blocks that could not be parsed: (line, message).
    #[serde(default)]
    pub problems: Vec<(usize, String)>,
}

/// The comparable public half of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PublicHalf {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// EC point (curve OID and encoded point), Ed25519/Ed448 raw key.
    Raw {
        alg: String,
        bytes: Vec<u8>,
    },
}

// ------------------------------------------------------------------ a minimal DER reader

/// (tag, contents, rest) of the first TLV of `b`; single-byte tags, definite lengths only.
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &x| (acc << 8) | usize::from(x));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

fn expect(b: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (t, v, r) = tlv(b)?;
    (t == tag).then_some((v, r))
}

const SEQ: u8 = 0x30;
const INT: u8 = 0x02;
const OCTETS: u8 = 0x04;
const BITS: u8 = 0x03;
const OID: u8 = 0x06;

fn strip_zeros(b: &[u8]) -> Vec<u8> {
    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    b[i..].to_vec()
}

fn bit_len(n: &[u8]) -> u32 {
    let n = strip_zeros(n);
    match n.first() {
        None => 0,
        Some(&top) => {
            let bytes = u32::try_from(n.len()).unwrap_or(u32::MAX / 8);
            (bytes - 1).saturating_mul(8) + (8 - top.leading_zeros())
        }
    }
}

/// Dotted form of DER OID contents.
fn oid_string(b: &[u8]) -> Option<String> {
    let (&first, rest) = b.split_first()?;
    let mut parts = vec![u64::from(first / 40), u64::from(first % 40)];
    let mut acc: u64 = 0;
    for &x in rest {
        acc = acc.checked_mul(128)?.checked_add(u64::from(x & 0x7f))?;
        if x & 0x80 == 0 {
            parts.push(acc);
            acc = 0;
        }
    }
    Some(
        parts
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
    )
}

const RSA_OID: &str = "1.2.840.113549.1.1.1";
const RSA_PSS_OID: &str = "1.2.840.113549.1.1.10";
const EC_OID: &str = "1.2.840.10045.2.1";
const ED25519_OID: &str = "1.3.101.112";
const ED448_OID: &str = "1.3.101.113";
const DSA_OID: &str = "1.2.840.10040.4.1";

fn curve_name(oid: &str) -> String {
    match oid {
        "1.2.840.10045.3.1.7" => "prime256v1",
        "1.3.132.0.34" => "secp384r1",
        "1.3.132.0.35" => "secp521r1",
        "1.3.132.0.33" => "secp224r1",
        "1.2.840.10045.3.1.1" => "prime192v1",
        other => other,
    }
    .to_string()
}

fn curve_bits(oid: &str) -> Option<u32> {
    match oid {
        "1.2.840.10045.3.1.7" => Some(256),
        "1.3.132.0.34" => Some(384),
        "1.3.132.0.35" => Some(521),
        "1.3.132.0.33" => Some(224),
        "1.2.840.10045.3.1.1" => Some(192),
        _ => None,
    }
}

/// Signature algorithm OID → (OpenSSL name, digest).
fn signature_name(oid: &str) -> (String, Option<&'static str>) {
    let (name, digest) = match oid {
        "1.2.840.113549.1.1.2" => ("md2WithRSAEncryption", Some("md2")),
        "1.2.840.113549.1.1.3" => ("md4WithRSAEncryption", Some("md4")),
        "1.2.840.113549.1.1.4" => ("md5WithRSAEncryption", Some("md5")),
        "1.2.840.113549.1.1.5" => ("sha1WithRSAEncryption", Some("sha1")),
        "1.3.14.3.2.29" => ("sha1WithRSA", Some("sha1")),
        "1.2.840.113549.1.1.14" => ("sha224WithRSAEncryption", Some("sha224")),
        "1.2.840.113549.1.1.11" => ("sha256WithRSAEncryption", Some("sha256")),
        "1.2.840.113549.1.1.12" => ("sha384WithRSAEncryption", Some("sha384")),
        "1.2.840.113549.1.1.13" => ("sha512WithRSAEncryption", Some("sha512")),
        RSA_PSS_OID => ("rsassaPss", None),
        "1.2.840.10045.4.1" => ("ecdsa-with-SHA1", Some("sha1")),
        "1.2.840.10045.4.3.1" => ("ecdsa-with-SHA224", Some("sha224")),
        "1.2.840.10045.4.3.2" => ("ecdsa-with-SHA256", Some("sha256")),
        "1.2.840.10045.4.3.3" => ("ecdsa-with-SHA384", Some("sha384")),
        "1.2.840.10045.4.3.4" => ("ecdsa-with-SHA512", Some("sha512")),
        "1.2.840.10040.4.3" => ("dsaWithSHA1", Some("sha1")),
        "2.16.840.1.101.3.4.3.2" => ("dsa_with_SHA256", Some("sha256")),
        ED25519_OID => ("ED25519", None),
        ED448_OID => ("ED448", None),
        other => return (other.to_string(), None),
    };
    (name.to_string(), digest)
}

fn digest_name(oid: &str) -> Option<&'static str> {
    match oid {
        "1.3.14.3.2.26" => Some("sha1"),
        "2.16.840.1.101.3.4.2.4" => Some("sha224"),
        "2.16.840.1.101.3.4.2.1" => Some("sha256"),
        "2.16.840.1.101.3.4.2.2" => Some("sha384"),
        "2.16.840.1.101.3.4.2.3" => Some("sha512"),
        "1.2.840.113549.2.5" => Some("md5"),
        _ => None,
    }
}

/// RSASSA-PSS-params: `[0] hashAlgorithm` (default SHA-1, RFC 8017 A.2.3).
fn pss_digest(params: &[u8]) -> Option<&'static str> {
    let Some((tag, v, _)) = tlv(params) else {
        return Some("sha1");
    };
    if tag != 0xa0 {
        return Some("sha1");
    }
    let (alg, _) = expect(v, SEQ)?;
    let (oid, _) = expect(alg, OID)?;
    digest_name(&oid_string(oid)?)
}

fn signature_alg(cert: &X509Certificate<'_>) -> SignatureAlg {
    let oid = cert.signature_algorithm.algorithm.to_id_string();
    let (name, digest) = signature_name(&oid);
    let digest = if oid == RSA_PSS_OID {
        let params = cert
            .signature_algorithm
            .parameters
            .as_ref()
            .map(|a| a.data)
            .unwrap_or_default();
        pss_digest(params)
    } else {
        digest
    };
    SignatureAlg {
        weak_digest: matches!(digest, Some("md2" | "md4" | "md5" | "sha1")),
        digest: digest.map(str::to_string),
        oid,
        name,
    }
}

/// The certificate's public key kind and its comparable half.
fn cert_public(cert: &X509Certificate<'_>) -> (KeyKind, Option<PublicHalf>) {
    let spki = cert.public_key();
    let alg = spki.algorithm.algorithm.to_id_string();
    let data: &[u8] = &spki.subject_public_key.data;
    match alg.as_str() {
        RSA_OID | RSA_PSS_OID => {
            let half = expect(data, SEQ).and_then(|(seq, _)| {
                let (n, rest) = expect(seq, INT)?;
                let (e, _) = expect(rest, INT)?;
                Some(PublicHalf::Rsa {
                    n: strip_zeros(n),
                    e: strip_zeros(e),
                })
            });
            let bits = match &half {
                Some(PublicHalf::Rsa { n, .. }) => Some(bit_len(n)),
                _ => None,
            };
            let name = if alg == RSA_OID { "RSA" } else { "RSA-PSS" };
            (
                KeyKind {
                    algorithm: name.to_string(),
                    bits,
                    curve: None,
                },
                half,
            )
        }
        EC_OID => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| oid_string(p.data));
            (
                KeyKind {
                    algorithm: "EC".to_string(),
                    bits: curve.as_deref().and_then(curve_bits),
                    curve: curve.as_deref().map(curve_name),
                },
                curve.map(|c| PublicHalf::Raw {
                    alg: format!("EC {c}"),
                    bytes: data.to_vec(),
                }),
            )
        }
        ED25519_OID | ED448_OID => {
            let name = if alg == ED25519_OID {
                "Ed25519"
            } else {
                "Ed448"
            };
            (
                KeyKind {
                    algorithm: name.to_string(),
                    bits: Some(if alg == ED25519_OID { 256 } else { 456 }),
                    curve: None,
                },
                Some(PublicHalf::Raw {
                    alg: name.to_string(),
                    bytes: data.to_vec(),
                }),
            )
        }
        DSA_OID => (
            KeyKind {
                algorithm: "DSA".to_string(),
                bits: spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| expect(p.data, INT).map(|(p, _)| bit_len(p))),
                curve: None,
            },
            None,
        ),
        other => (
            KeyKind {
                algorithm: other.to_string(),
                bits: None,
                curve: None,
            },
            None,
        ),
    }
}

/// Why a CERTIFICATE block was not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("not an X.509 certificate: {0}")]
    NotX509(String),
}

/// A parsed certificate: its facts, public half, raw subject and issuer.
type Parsed = (CertFacts, Option<PublicHalf>, Vec<u8>, Vec<u8>);

fn cert_facts(index: usize, block: &PemBlock) -> Result<Parsed, CertError> {
    let (_, cert) =
        X509Certificate::from_der(&block.der).map_err(|e| CertError::NotX509(e.to_string()))?;
    let info = super::tls::CertInfo::from_der(&block.der)
        .map_err(|e| CertError::NotX509(e.to_string()))?;
    let (key, half) = cert_public(&cert);
    let validity = cert.validity();
    let nb = validity.not_before.timestamp();
    let na = validity.not_after.timestamp();
    let facts = CertFacts {
        index,
        line: block.line,
        subject: info.subject.clone(),
        issuer: info.issuer.clone(),
        subject_cn: info.subject_cn.clone(),
        sans: info.sans.clone(),
        serial: cert.raw_serial_as_string(),
        not_before: crate::clock::rfc3339(info.not_before),
        not_after: crate::clock::rfc3339(info.not_after),
        not_before_unix: nb,
        not_after_unix: na,
        key,
        signature: signature_alg(&cert),
        self_signed: info.self_signed,
        is_ca: cert.is_ca(),
        sha256_fingerprint: info.sha256_fingerprint,
    };
    Ok((
        facts,
        half,
        cert.subject().as_raw().to_vec(),
        cert.issuer().as_raw().to_vec(),
    ))
}

/// PKCS#1 RSAPrivateKey → (n, e).
fn rsa_private(der: &[u8]) -> Option<PublicHalf> {
    let (seq, _) = expect(der, SEQ)?;
    let (_version, rest) = expect(seq, INT)?;
    let (n, rest) = expect(rest, INT)?;
    let (e, _) = expect(rest, INT)?;
    Some(PublicHalf::Rsa {
        n: strip_zeros(n),
        e: strip_zeros(e),
    })
}

/// RFC 5915 ECPrivateKey → (curve OID from [0] if present, public point from [1] if present).
fn ec_private(der: &[u8]) -> Option<(Option<String>, Option<Vec<u8>>)> {
    let (seq, _) = expect(der, SEQ)?;
    let (_version, rest) = expect(seq, INT)?;
    let (_d, mut rest) = expect(rest, OCTETS)?;
    let mut curve = None;
    let mut point = None;
    for _ in 0..4 {
        let Some((tag, v, r)) = tlv(rest) else { break };
        match tag {
            0xa0 => curve = expect(v, OID).and_then(|(o, _)| oid_string(o)),
            0xa1 => {
                point = expect(v, BITS).and_then(|(b, _)| b.split_first().map(|(_, p)| p.to_vec()))
            }
            _ => {}
        }
        rest = r;
    }
    Some((curve, point))
}

/// Checks an EC key pair with ring (PKCS#8 wrapping as ring requires).
fn ec_consistent(curve: &str, pkcs8: &[u8]) -> Option<bool> {
    use ring::signature::{
        ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair,
    };
    let alg = match curve {
        "1.2.840.10045.3.1.7" => &ECDSA_P256_SHA256_ASN1_SIGNING,
        "1.3.132.0.34" => &ECDSA_P384_SHA384_ASN1_SIGNING,
        _ => return None,
    };
    let rng = ring::rand::SystemRandom::new();
    Some(EcdsaKeyPair::from_pkcs8(alg, pkcs8, &rng).is_ok())
}

fn der_len(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![u8::try_from(len).unwrap_or(0)];
    }
    let bytes: Vec<u8> = len
        .to_be_bytes()
        .iter()
        .copied()
        .skip_while(|&b| b == 0)
        .collect();
    let mut out = vec![0x80 | u8::try_from(bytes.len()).unwrap_or(0)];
    out.extend(bytes);
    out
}

fn der_tlv(tag: u8, v: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_len(v.len()));
    out.extend_from_slice(v);
    out
}

/// The DER encoding of a dotted OID (for wrapping SEC1 keys).
fn oid_der(dotted: &str) -> Option<Vec<u8>> {
    let parts: Vec<u64> = dotted
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let (&a, rest) = parts.split_first()?;
    let (&b, rest) = rest.split_first()?;
    let mut out = vec![u8::try_from(a.checked_mul(40)?.checked_add(b)?).ok()?];
    for &p in rest {
        let mut chunk = vec![u8::try_from(p & 0x7f).ok()?];
        let mut v = p >> 7;
        while v > 0 {
            chunk.push(u8::try_from((v & 0x7f) | 0x80).ok()?);
            v >>= 7;
        }
        chunk.reverse();
        out.extend(chunk);
    }
    Some(der_tlv(OID, &out))
}

/// PrivateKeyInfo for an EC key: version 0, {id-ecPublicKey, curve}, OCTET STRING ECPrivateKey.
fn wrap_ec_pkcs8(curve: &str, sec1: &[u8]) -> Option<Vec<u8>> {
    let alg = der_tlv(SEQ, &[oid_der(EC_OID)?, oid_der(curve)?].concat());
    let body = [der_tlv(INT, &[0]), alg, der_tlv(OCTETS, sec1)].concat();
    Some(der_tlv(SEQ, &body))
}

fn ec_key(
    curve: Option<String>,
    point: Option<Vec<u8>>,
    pkcs8: Option<&[u8]>,
    sec1: &[u8],
) -> (
    Option<KeyKind>,
    Option<PublicHalf>,
    Option<bool>,
    Option<String>,
) {
    let kind = KeyKind {
        algorithm: "EC".to_string(),
        bits: curve.as_deref().and_then(curve_bits),
        curve: curve.as_deref().map(curve_name),
    };
    let Some(curve) = curve else {
        return (
            Some(kind),
            None,
            None,
            Some("EC key without its curve".to_string()),
        );
    };
    let consistent = match pkcs8 {
        Some(p) => ec_consistent(&curve, p),
        None => wrap_ec_pkcs8(&curve, sec1).and_then(|p| ec_consistent(&curve, &p)),
    };
    match point {
        Some(p) => (
            Some(kind),
            Some(PublicHalf::Raw {
                alg: format!("EC {curve}"),
                bytes: p,
            }),
            consistent,
            None,
        ),
        None => (
            Some(kind),
            None,
            None,
            Some("EC key stored without its public key; not derived here".to_string()),
        ),
    }
}

fn key_facts(index: usize, block: &PemBlock) -> KeyFacts {
    let mut k = KeyFacts {
        index,
        line: block.line,
        format: String::new(),
        encrypted: false,
        kind: None,
        error: block.error.clone(),
        consistent: None,
        public: None,
    };
    let legacy_encrypted = block
        .headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("Proc-Type") && v.contains("ENCRYPTED"));
    if block.label == "ENCRYPTED PRIVATE KEY" {
        k.format = "encrypted PKCS#8".to_string();
        k.encrypted = true;
        return k;
    }
    if legacy_encrypted {
        k.format = "legacy encrypted PEM".to_string();
        k.encrypted = true;
        return k;
    }
    if k.error.is_some() {
        k.format = block.label.clone();
        return k;
    }
    let der = block.der.as_slice();
    match block.label.as_str() {
        "RSA PRIVATE KEY" => {
            k.format = "PKCS#1".to_string();
            k.public = rsa_private(der);
            k.kind = k.public.as_ref().map(|h| rsa_kind("RSA", h));
        }
        "EC PRIVATE KEY" => {
            k.format = "SEC1".to_string();
            match ec_private(der) {
                Some((curve, point)) => {
                    let (kind, public, consistent, error) = ec_key(curve, point, None, der);
                    (k.kind, k.public, k.consistent, k.error) = (kind, public, consistent, error);
                }
                None => k.error = Some("not an EC private key".to_string()),
            }
        }
        "DSA PRIVATE KEY" => {
            k.format = "DSA".to_string();
            k.kind = Some(KeyKind {
                algorithm: "DSA".to_string(),
                bits: expect(der, SEQ)
                    .and_then(|(s, _)| expect(s, INT))
                    .and_then(|(_, r)| expect(r, INT))
                    .map(|(p, _)| bit_len(p)),
                curve: None,
            });
        }
        "PRIVATE KEY" => {
            k.format = "PKCS#8".to_string();
            pkcs8(der, &mut k);
        }
        other => k.error = Some(format!("unknown key block {other:?}")),
    }
    if k.kind.is_none() && k.error.is_none() {
        k.error = Some(format!("cannot read the {} key", k.format));
    }
    k
}

fn rsa_kind(name: &str, h: &PublicHalf) -> KeyKind {
    KeyKind {
        algorithm: name.to_string(),
        bits: match h {
            PublicHalf::Rsa { n, .. } => Some(bit_len(n)),
            PublicHalf::Raw { .. } => None,
        },
        curve: None,
    }
}

fn pkcs8(der: &[u8], k: &mut KeyFacts) {
    let parsed = (|| {
        let (seq, _) = expect(der, SEQ)?;
        let (_version, rest) = expect(seq, INT)?;
        let (alg, rest) = expect(rest, SEQ)?;
        let (oid, params) = expect(alg, OID)?;
        let (key, _) = expect(rest, OCTETS)?;
        Some((oid_string(oid)?, params, key))
    })();
    let Some((oid, params, key)) = parsed else {
        k.error = Some("not a PKCS#8 private key".to_string());
        return;
    };
    match oid.as_str() {
        RSA_OID | RSA_PSS_OID => {
            k.public = rsa_private(key);
            let name = if oid == RSA_OID { "RSA" } else { "RSA-PSS" };
            k.kind = k.public.as_ref().map(|h| rsa_kind(name, h));
        }
        EC_OID => {
            let param_curve = expect(params, OID).and_then(|(o, _)| oid_string(o));
            match ec_private(key) {
                Some((curve, point)) => {
                    let (kind, public, consistent, error) =
                        ec_key(param_curve.or(curve), point, Some(der), key);
                    (k.kind, k.public, k.consistent, k.error) = (kind, public, consistent, error);
                }
                None => k.error = Some("not an EC private key".to_string()),
            }
        }
        ED25519_OID => {
            k.kind = Some(KeyKind {
                algorithm: "Ed25519".to_string(),
                bits: Some(256),
                curve: None,
            });
            let seed = expect(key, OCTETS).map(|(s, _)| s).unwrap_or(key);
            match ring::signature::Ed25519KeyPair::from_seed_unchecked(seed) {
                Ok(pair) => {
                    use ring::signature::KeyPair as _;
                    k.public = Some(PublicHalf::Raw {
                        alg: "Ed25519".to_string(),
                        bytes: pair.public_key().as_ref().to_vec(),
                    });
                }
                Err(e) => k.error = Some(format!("bad Ed25519 key: {e}")),
            }
        }
        ED448_OID => {
            k.kind = Some(KeyKind {
                algorithm: "Ed448".to_string(),
                bits: Some(456),
                curve: None,
            });
            k.error = Some("Ed448 public keys are not derived here".to_string());
        }
        other => {
            k.kind = Some(KeyKind {
                algorithm: other.to_string(),
                bits: None,
                curve: None,
            });
        }
    }
}

fn read_file(path: &Path) -> (FileState, String) {
    use std::io::Read;
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return (FileState::Missing, String::new());
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return (FileState::Denied, String::new());
        }
        Err(e) => {
            return (
                FileState::Unreadable {
                    message: e.to_string(),
                },
                String::new(),
            );
        }
    };
    let mut buf = Vec::new();
    if let Err(e) = f.take(MAX_FILE + 1).read_to_end(&mut buf) {
        return (
            FileState::Unreadable {
                message: e.to_string(),
            },
            String::new(),
        );
    }
    let truncated = buf.len() as u64 > MAX_FILE;
    buf.truncate(usize::try_from(MAX_FILE).unwrap_or(usize::MAX));
    let text = String::from_utf8_lossy(&buf).into_owned();
    let state = if truncated {
        FileState::Truncated { bytes: buf.len() }
    } else {
        FileState::Read { bytes: buf.len() }
    };
    (state, text)
}

fn is_key_label(label: &str) -> bool {
    label.ends_with("PRIVATE KEY")
}

/// Examines the texts of a cert file and a key file (pass the same text twice when they are
/// one file). Pure.
pub fn examine(
    cert_file: &Path,
    cert_text: &str,
    key_file: &Path,
    key_text: Option<&str>,
) -> TlsMaterial {
    let cert_blocks = pem_blocks(cert_text);
    let key_blocks = key_text.map(pem_blocks).unwrap_or_default();
    let same_file = key_text.is_none();
    let mut problems = Vec::new();
    let mut certificates = Vec::new();
    let mut halves = Vec::new();
    let mut names: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for b in cert_blocks.iter().filter(|b| b.label == "CERTIFICATE") {
        if let Some(e) = &b.error {
            problems.push((b.line, e.clone()));
            continue;
        }
        match cert_facts(certificates.len(), b) {
            Ok((facts, half, subject, issuer)) => {
                certificates.push(facts);
                halves.push(half);
                names.push((subject, issuer));
            }
            Err(e) => problems.push((b.line, e.to_string())),
        }
    }
    let chain = names
        .windows(2)
        .enumerate()
        .map(|(index, w)| ChainLink {
            index,
            issuer_is_next_subject: w[0].1 == w[1].0,
        })
        .collect();
    let key_source = if same_file { &cert_blocks } else { &key_blocks };
    let keys: Vec<KeyFacts> = key_source
        .iter()
        .filter(|b| is_key_label(&b.label))
        .enumerate()
        .map(|(i, b)| key_facts(i, b))
        .collect();
    let key_matches_leaf = match (keys.first(), certificates.first()) {
        (None, _) => KeyMatch::NoKey,
        (_, None) => KeyMatch::NoCertificate,
        (Some(k), Some(c)) => match (&k.public, halves.first().and_then(Option::as_ref)) {
            _ if k.encrypted => KeyMatch::Unknown {
                reason: format!(
                    "the key is encrypted ({}); Postfix cannot use it without a pass phrase",
                    k.format
                ),
            },
            (Some(kp), Some(cp)) if kp == cp => KeyMatch::Matches,
            (Some(_), Some(_)) => KeyMatch::DoesNotMatch {
                key: k.kind.clone().unwrap_or(KeyKind {
                    algorithm: k.format.clone(),
                    bits: None,
                    curve: None,
                }),
                certificate: c.key.clone(),
            },
            (None, _) => KeyMatch::Unknown {
                reason: k
                    .error
                    .clone()
                    .unwrap_or_else(|| "the key's public half is not known".to_string()),
            },
            (_, None) => KeyMatch::Unknown {
                reason: format!(
                    "the certificate's {} key is not compared here",
                    c.key.algorithm
                ),
            },
        },
    };
    TlsMaterial {
        cert_file: cert_file.to_path_buf(),
        key_file: key_file.to_path_buf(),
        same_file,
        cert_state: FileState::Read {
            bytes: cert_text.len(),
        },
        key_state: FileState::Read {
            bytes: key_text.unwrap_or(cert_text).len(),
        },
        cert_blocks,
        key_blocks,
        certificates,
        chain,
        keys,
        key_matches_leaf,
        problems,
    }
}

/// Reads `cert_file` and `key_file` (the same path is read once) and examines them.
pub fn observe(cert_file: &Path, key_file: &Path) -> TlsMaterial {
    let (cert_state, cert_text) = read_file(cert_file);
    let same = cert_file == key_file;
    let (key_state, key_text) = if same {
        (cert_state.clone(), None)
    } else {
        let (s, t) = read_file(key_file);
        (s, Some(t))
    };
    let mut m = examine(cert_file, &cert_text, key_file, key_text.as_deref());
    m.cert_state = cert_state;
    m.key_state = key_state;
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_with_headers_and_junk() {
        let t = "junk\n-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n-----BEGIN X-----\nAAAA\n";
        let b = pem_blocks(t);
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].headers.len(), 2);
        assert_eq!(b[0].der, vec![0, 0, 0]);
        assert!(
            b[1].error
                .as_deref()
                .is_some_and(|e| e.starts_with("bad base64"))
        );
        assert!(
            b[2].error
                .as_deref()
                .is_some_and(|e| e.starts_with("no -----END X"))
        );
        let k = key_facts(0, &b[0]);
        assert!(k.encrypted);
        assert_eq!(k.format, "legacy encrypted PEM");
    }

    #[test]
    fn der_helpers() {
        assert_eq!(
            oid_string(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]).as_deref(),
            Some(EC_OID)
        );
        assert_eq!(
            oid_der(EC_OID).map(|d| d[2..].to_vec()),
            Some(vec![0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01])
        );
        assert_eq!(bit_len(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(bit_len(&[0x01]), 1);
        assert_eq!(tlv(&[0x30, 0x82, 0x00]), None);
        assert_eq!(
            tlv(&[0x30, 0x01, 0x05, 0x06]),
            Some((0x30, &[0x05][..], &[0x06][..]))
        );
        assert_eq!(der_len(300), vec![0x82, 0x01, 0x2c]);
        assert_eq!(pss_digest(&[]), Some("sha1"));
    }

    fn rcgen_pem(alg: &'static rcgen::SignatureAlgorithm) -> (String, String) {
        let key = rcgen::KeyPair::generate_for(alg).expect("key");
        let cert = rcgen::CertificateParams::new(vec!["mx.example.test".into()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn ec_and_ed25519_keys_match_their_certificates() {
        for alg in [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_ED25519,
        ] {
            let (cert, key) = rcgen_pem(alg);
            let m = examine(
                Path::new("c.pem"),
                &format!("{cert}{key}"),
                Path::new("c.pem"),
                None,
            );
            assert_eq!(m.key_matches_leaf, KeyMatch::Matches, "{alg:?}: {m:?}");
            assert_eq!(m.certificates.len(), 1);
            assert!(m.certificates[0].self_signed);
            assert!(!m.certificates[0].signature.weak_digest);
            if m.keys[0].kind.as_ref().is_some_and(|k| k.algorithm == "EC") {
                assert_eq!(m.keys[0].consistent, Some(true));
            }
            // Another key of the same type does not match.
            let (_, other) = rcgen_pem(alg);
            let m = examine(Path::new("c.pem"), &cert, Path::new("k.pem"), Some(&other));
            assert!(
                matches!(m.key_matches_leaf, KeyMatch::DoesNotMatch { .. }),
                "{m:?}"
            );
            assert!(!m.same_file);
        }
    }

    #[test]
    fn nothing_to_compare() {
        let m = examine(Path::new("c"), "", Path::new("c"), None);
        assert_eq!(m.key_matches_leaf, KeyMatch::NoKey);
        let (_, key) = rcgen_pem(&rcgen::PKCS_ECDSA_P256_SHA256);
        let m = examine(Path::new("c"), &key, Path::new("c"), None);
        assert_eq!(m.key_matches_leaf, KeyMatch::NoCertificate);
        let m = observe(
            Path::new("/nonexistent/mailcheck.pem"),
            Path::new("/nonexistent/mailcheck.pem"),
        );
        assert_eq!(m.cert_state, FileState::Missing);
    }

    #[test]
    fn material_round_trips_through_json() {
        let (cert, key) = rcgen_pem(&rcgen::PKCS_ECDSA_P256_SHA256);
        let m = examine(
            Path::new("c.pem"),
            &format!("{key}{cert}"),
            Path::new("c.pem"),
            None,
        );
        let json = serde_json::to_string(&m).expect("serialises");
        let mut back: TlsMaterial = serde_json::from_str(&json).expect("deserialises");
        // DER and the keys' public halves are not serialised.
        back.cert_blocks = m.cert_blocks.clone();
        back.keys = m.keys.clone();
        assert_eq!(back, m);
        assert_eq!(
            m.cert_blocks[0].label, "PRIVATE KEY",
            "the key comes first here"
        );
    }
}
