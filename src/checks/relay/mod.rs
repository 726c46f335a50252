//! T31: no open relay (SMTPD_ACCESS_README, postconf(5) mynetworks and smtpd_relay_restrictions):
//! an unauthenticated client outside mynetworks cannot send to a foreign domain; an
//! authenticated one can. Probes stop at RCPT: never DATA.

pub mod authenticated_accepted;
pub mod unauthenticated_refused;
