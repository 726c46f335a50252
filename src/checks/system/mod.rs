//! Checks of system users and groups (passwd(5), group(5)): the virtual mail user vmail (T8).

pub mod vmail_user;
