//! Checks of the system: users and groups (passwd(5), group(5)): the virtual mail user vmail
//! (T8); the versions of what the server runs, and the configuration files a package upgrade
//! left beside the admin's (T37).

pub mod packaging_leftovers;
pub mod versions;
pub mod vmail_user;
