//! T35: the message size limit (postconf(5) message_size_limit; RFC 1870 SIZE): announced in
//! EHLO, and a declared size above it refused with 552 before any byte of the message is sent.

pub mod advertised;
pub mod oversize_refused;
