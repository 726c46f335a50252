//! The tutorial's fixed choices (uid 5000, size limit, paths) and mailcheck's timeouts: defaults
//! that a config file may override. Names the admin chose (host, domain, account) are not here.

use std::path::PathBuf;
use std::time::Duration;

/// Values the tutorial fixes; an admin who chose otherwise overrides them in the config file.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Postfix's configuration directory; `None` asks `postconf -h config_directory`.
    pub config_dir: Option<PathBuf>,
    pub vmail_user: String,
    pub vmail_group: String,
    pub vmail_uid: u32,
    pub vmail_gid: u32,
    pub vmail_home: PathBuf,
    pub message_size_limit: u64,
    pub cert_file: PathBuf,
    /// saslauthd's socket directory relative to Postfix's queue directory (the chroot).
    pub saslauthd_chroot_dir: PathBuf,
    /// The symlink the tutorial makes so tools outside the chroot find the socket.
    pub saslauthd_link: PathBuf,
    pub timeouts: Timeouts,
    /// The MX port (`--smtp-port`); 25 unless the server listens elsewhere.
    pub smtp_port: u16,
    /// The submission port (`--submission-port`); 587 unless the server listens elsewhere.
    pub submission_port: u16,
}

/// How long mailcheck waits for each kind of thing.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub banner: Duration,
    pub command: Duration,
    pub tls: Duration,
    pub data: Duration,
    pub socket: Duration,
    pub database: Duration,
    pub delivery: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            banner: Duration::from_secs(10),
            command: Duration::from_secs(10),
            tls: Duration::from_secs(10),
            data: Duration::from_secs(30),
            socket: Duration::from_secs(5),
            database: Duration::from_secs(5),
            delivery: Duration::from_secs(15),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            config_dir: None,
            vmail_user: "vmail".into(),
            vmail_group: "vmail".into(),
            vmail_uid: 5000,
            vmail_gid: 5000,
            vmail_home: "/home/vmail".into(),
            message_size_limit: 20_480_000,
            cert_file: "/etc/ssl/self-signed/server.pem".into(),
            saslauthd_chroot_dir: "var/run/saslauthd".into(),
            saslauthd_link: "/var/run/saslauthd".into(),
            timeouts: Timeouts::default(),
            smtp_port: 25,
            submission_port: 587,
        }
    }
}
