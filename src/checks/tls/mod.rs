//! T29: STARTTLS on the MX and submission ports (RFC 3207) and the certificate served (RFC 5280
//! validity, RFC 6125 names), compared with Postfix's smtpd_tls_cert_file (TLS_README).

pub mod certificate;
pub mod material;
pub mod starttls;

/// RSA keys below this many bits are refused at Debian's default OpenSSL security level (2),
/// and by rustls/ring (mailcheck's own TLS client).
pub const MIN_RSA_BITS: u32 = 2048;

/// Why current clients refuse a certificate key (`key_type` as the probes spell it: "RSA",
/// "RSA-PSS", "EC", "DSA" ...), in the server's terms; `None` when they accept it.
pub fn key_clients_refuse(key_type: &str, bits: Option<u32>, min_rsa_bits: u32) -> Option<String> {
    let t = key_type.to_ascii_uppercase();
    match (t.as_str(), bits) {
        ("RSA" | "RSA-PSS", Some(b)) if b < min_rsa_bits => Some(format!(
            "a {b}-bit RSA key, which current clients refuse (Debian's OpenSSL security level 2 needs at least {min_rsa_bits} bits)"
        )),
        ("EC" | "ECDSA", Some(b)) if b < 256 => Some(format!(
            "a {b}-bit EC key, which current clients refuse (256 bits is the least)"
        )),
        ("DSA", _) => Some("a DSA key, which TLS 1.3 and current clients do not use".to_string()),
        _ => None,
    }
}
