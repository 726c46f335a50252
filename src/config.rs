//! The configuration file (TOML): target, account, password file, timeouts, and the tutorial
//! values an admin changed. Flags win over the environment, which wins over the file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::settings::Settings;

/// The default location, read when it exists and no `--config` is given.
pub const DEFAULT_PATH: &str = "/etc/mailcheck/config.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub host: Option<String>,
    pub account: Option<String>,
    pub password_file: Option<PathBuf>,
    /// The account's password. Allowed only in a file that group and others cannot read.
    pub password: Option<String>,
    /// Whole-run bound, e.g. "60s".
    pub timeout: Option<String>,
    #[serde(default)]
    pub skip: Vec<String>,
    #[serde(default)]
    pub tutorial: TutorialOverrides,
    #[serde(default)]
    pub timeouts: TimeoutOverrides,
}

/// Per-phase deadlines, e.g. `delivery = "5s"`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutOverrides {
    pub connect: Option<String>,
    pub banner: Option<String>,
    pub command: Option<String>,
    pub tls: Option<String>,
    pub data: Option<String>,
    pub socket: Option<String>,
    pub database: Option<String>,
    pub delivery: Option<String>,
}

/// Tutorial constants the admin chose differently.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TutorialOverrides {
    pub postfix_config_dir: Option<PathBuf>,
    pub vmail_user: Option<String>,
    pub vmail_group: Option<String>,
    pub vmail_uid: Option<u32>,
    pub vmail_gid: Option<u32>,
    pub vmail_home: Option<PathBuf>,
    pub message_size_limit: Option<u64>,
    pub cert_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {}: {message}", .path.display())]
    Read { path: PathBuf, message: String },
    #[error("config {}: {message}", .path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("config {} holds a password but is readable by group or others (mode {mode:04o}); chmod 600 it", .path.display())]
    Insecure { path: PathBuf, mode: u32 },
}

impl ConfigFile {
    /// Reads `path`; `required` = false makes a missing file an empty config.
    pub fn load(path: &Path, required: bool) -> Result<ConfigFile, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ConfigFile::default());
            }
            Err(e) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                });
            }
        };
        let cfg: ConfigFile = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })?;
        if cfg.password.is_some() {
            use std::os::unix::fs::MetadataExt as _;
            let mode = std::fs::metadata(path)
                .map(|m| m.mode() & 0o777)
                .map_err(|e| ConfigError::Read {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?;
            if mode & 0o077 != 0 {
                return Err(ConfigError::Insecure {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        Ok(cfg)
    }

    /// The settings with this file's overrides applied; `path` names the file in errors.
    pub fn settings(&self, path: &Path) -> Result<Settings, ConfigError> {
        let mut s = Settings::default();
        let t = &self.timeouts;
        let slots = [
            ("connect", &t.connect, &mut s.timeouts.connect),
            ("banner", &t.banner, &mut s.timeouts.banner),
            ("command", &t.command, &mut s.timeouts.command),
            ("tls", &t.tls, &mut s.timeouts.tls),
            ("data", &t.data, &mut s.timeouts.data),
            ("socket", &t.socket, &mut s.timeouts.socket),
            ("database", &t.database, &mut s.timeouts.database),
            ("delivery", &t.delivery, &mut s.timeouts.delivery),
        ];
        for (name, value, slot) in slots {
            if let Some(v) = value {
                *slot = humantime::parse_duration(v).map_err(|e| ConfigError::Invalid {
                    path: path.to_path_buf(),
                    message: format!("timeouts.{name} = \"{v}\": {e}"),
                })?;
            }
        }
        let t = &self.tutorial;
        if let Some(v) = &t.postfix_config_dir {
            s.config_dir = Some(v.clone());
        }
        if let Some(v) = &t.vmail_user {
            s.vmail_user.clone_from(v);
        }
        if let Some(v) = &t.vmail_group {
            s.vmail_group.clone_from(v);
        }
        if let Some(v) = t.vmail_uid {
            s.vmail_uid = v;
        }
        if let Some(v) = t.vmail_gid {
            s.vmail_gid = v;
        }
        if let Some(v) = &t.vmail_home {
            s.vmail_home.clone_from(v);
        }
        if let Some(v) = t.message_size_limit {
            s.message_size_limit = v;
        }
        if let Some(v) = &t.cert_file {
            s.cert_file.clone_from(v);
        }
        Ok(s)
    }
}
