//! T33: the submission port (RFC 6409; master.cf `submission inet` with
//! smtpd_tls_security_level=encrypt and permit_sasl_authenticated,reject): listening, TLS
//! before anything else, AUTH before mail.

pub mod auth_required;
pub mod listening;
pub mod tls_required;
