//! T29: STARTTLS on the MX and submission ports (RFC 3207) and the certificate served (RFC 5280
//! validity, RFC 6125 names), compared with Postfix's smtpd_tls_cert_file (TLS_README).

pub mod certificate;
pub mod material;
pub mod starttls;
