//! T1: the MX port's greeting and EHLO (RFC 5321 §4.3.1, postconf(5) smtpd_banner).

pub mod banner;
