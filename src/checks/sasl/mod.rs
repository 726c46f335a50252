//! Checks of saslauthd and SASL (SASL_README): the process, its socket inside Postfix's chroot
//! (T20), its defaults file (T19), the /var/run/saslauthd symlink (T21), the PAM service (T22),
//! smtpd's SASL config (T23), Postfix in group sasl (T24), a live login (T25).

pub mod pam_mysql_login;
pub mod pam_smtp;
pub mod postfix_in_sasl;
pub mod saslauthd_auth;
pub mod saslauthd_defaults;
pub mod saslauthd_running;
pub mod saslauthd_socket;
pub mod saslauthd_symlink;
pub mod smtpd_conf;
pub mod smtpd_conf_path;
pub mod socket_access;

use std::path::{Path, PathBuf};

use crate::facts::Facts;
use crate::probe::postfix::PostfixConfig;

/// `<queue_directory>/var/run/saslauthd`: where saslauthd's socket must be for the chrooted
/// smtpd.
fn chroot_socket_dir(cfg: &PostfixConfig, facts: &Facts) -> PathBuf {
    PathBuf::from(cfg.get("queue_directory")).join(&facts.settings.saslauthd_chroot_dir)
}

/// Normalises a path lexically: no trailing `/`, no `//` or `/./`.
fn normal(p: &Path) -> PathBuf {
    p.components().collect()
}
