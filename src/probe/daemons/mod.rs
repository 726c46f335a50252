//! Running daemons next to their configuration: what saslauthd, the Postfix master and
//! MariaDB are actually running with, and what their files say they should run with.

pub mod mariadb;
pub mod mycnf;
pub mod postfix;
pub mod saslauthd;
