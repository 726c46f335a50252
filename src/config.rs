//! The configuration file (TOML): target, account, password file, timeouts, and the tutorial
//! values an admin changed. Flags win over the environment, which wins over the file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::remote::ssh::Target;
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
    /// Run the host checks on the server over SSH (`--ssh`): `[USER@]HOST[:PORT]`.
    pub ssh: Option<String>,
    /// With `ssh`: through `sudo -n` (`--ssh-sudo`).
    #[serde(default)]
    pub ssh_sudo: bool,
    /// With `ssh`: ssh options, `KEY=VALUE` each (`--ssh-option`), e.g.
    /// `IdentityFile=/etc/mailcheck/deploy_key`.
    #[serde(default)]
    pub ssh_options: Vec<String>,
}

/// Per-phase deadlines, e.g. `delivery = "5s"`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub banner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
}

/// Tutorial constants the admin chose differently.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TutorialOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postfix_config_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vmail_user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vmail_group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vmail_uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vmail_gid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vmail_home: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_size_limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
}

/// What a `--ssh` run hands the server-side mailcheck of the workstation's configuration (the
/// hidden `--server-config TOML`): the tutorial values and deadlines it sets, which win over the
/// server's own config file key by key. Never a password.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerOverrides {
    #[serde(default)]
    pub tutorial: TutorialOverrides,
    #[serde(default)]
    pub timeouts: TimeoutOverrides,
}

impl ServerOverrides {
    /// The TOML for `--server-config`; `None` when the file sets neither table.
    pub fn of(file: &ConfigFile) -> Option<String> {
        let o = ServerOverrides {
            tutorial: file.tutorial.clone(),
            timeouts: file.timeouts.clone(),
        };
        if o == ServerOverrides::default() {
            return None;
        }
        toml::to_string(&o).ok()
    }

    /// Reads `--server-config`.
    pub fn parse(text: &str) -> Result<ServerOverrides, String> {
        toml::from_str(text).map_err(|e| format!("--server-config: {}", e.message()))
    }
}

/// One line of a `--hosts-file`: `HOST [ssh=[USER@]SSH-HOST[:PORT] | ssh] [ssh-sudo]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLine {
    pub host: String,
    /// Where to log in for the host checks; `ssh` alone: the host itself.
    pub ssh: Option<Target>,
    pub ssh_sudo: bool,
}

/// Reads a hosts file: one server a line, `#` starts a comment; after the host, `ssh=TARGET`
/// (or `ssh` for the host itself) runs its host checks over SSH, and `ssh-sudo` through `sudo -n`.
pub fn parse_hosts(text: &str, path: &Path) -> Result<Vec<HostLine>, ConfigError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let Some(host) = words.next() else { continue };
        let bad = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: format!("line {}: {message}", n + 1),
        };
        let mut entry = HostLine {
            host: host.to_string(),
            ssh: None,
            ssh_sudo: false,
        };
        for w in words {
            match w.split_once('=') {
                Some(("ssh", t)) => {
                    entry.ssh = Some(
                        t.parse()
                            .map_err(|e: crate::remote::ssh::TargetError| bad(e.to_string()))?,
                    );
                }
                None if w == "ssh" => {
                    entry.ssh = Some(
                        host.parse()
                            .map_err(|e: crate::remote::ssh::TargetError| bad(e.to_string()))?,
                    );
                }
                None if w == "ssh-sudo" => entry.ssh_sudo = true,
                _ => {
                    return Err(bad(format!(
                        "unknown word `{w}` after the host (give `ssh=[USER@]HOST[:PORT]`, `ssh` or `ssh-sudo`)"
                    )));
                }
            }
        }
        if entry.ssh_sudo && entry.ssh.is_none() {
            return Err(bad("`ssh-sudo` without `ssh=...`".into()));
        }
        out.push(entry);
    }
    Ok(out)
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

    /// Lays the workstation's tutorial values and deadlines (`--server-config`) over this
    /// file's, key by key.
    pub fn overlay(&mut self, o: ServerOverrides) {
        fn over<T>(mine: &mut Option<T>, theirs: Option<T>) {
            if theirs.is_some() {
                *mine = theirs;
            }
        }
        let (t, u) = (&mut self.tutorial, o.tutorial);
        over(&mut t.postfix_config_dir, u.postfix_config_dir);
        over(&mut t.vmail_user, u.vmail_user);
        over(&mut t.vmail_group, u.vmail_group);
        over(&mut t.vmail_uid, u.vmail_uid);
        over(&mut t.vmail_gid, u.vmail_gid);
        over(&mut t.vmail_home, u.vmail_home);
        over(&mut t.message_size_limit, u.message_size_limit);
        over(&mut t.cert_file, u.cert_file);
        let (t, u) = (&mut self.timeouts, o.timeouts);
        over(&mut t.connect, u.connect);
        over(&mut t.banner, u.banner);
        over(&mut t.command, u.command);
        over(&mut t.tls, u.tls);
        over(&mut t.data, u.data);
        over(&mut t.socket, u.socket);
        over(&mut t.database, u.database);
        over(&mut t.delivery, u.delivery);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hosts_files_name_ssh_targets_per_host() {
        let text = "# fleet\nmx1.example.com ssh=root@mx1.example.com\n\
                    mx2.example.com   ssh=admin@10.0.0.2:2222 ssh-sudo # sudo\n\
                    mx3.example.com ssh\nmx4.example.com\n";
        let hosts = parse_hosts(text, Path::new("fleet.txt")).unwrap();
        assert_eq!(hosts.len(), 4);
        assert_eq!(
            hosts[0].ssh.as_ref().unwrap().to_string(),
            "root@mx1.example.com"
        );
        assert!(!hosts[0].ssh_sudo);
        let t = hosts[1].ssh.as_ref().unwrap();
        assert_eq!(
            (t.user(), t.host(), t.port()),
            (Some("admin"), "10.0.0.2", Some(2222))
        );
        assert!(hosts[1].ssh_sudo);
        assert_eq!(hosts[2].ssh.as_ref().unwrap().host(), "mx3.example.com");
        assert_eq!(hosts[3].ssh, None);
        for bad in [
            "mx ssh=",
            "mx sudo",
            "mx ssh-sudo",
            "mx ssh=-oProxyCommand=x",
        ] {
            let e = parse_hosts(bad, Path::new("f")).unwrap_err().to_string();
            assert!(e.contains("f: line 1:"), "{bad}: {e}");
        }
    }

    #[test]
    fn server_overrides_carry_only_what_the_file_sets() {
        let file: ConfigFile = toml::from_str(
            "password = \"never\"\n[tutorial]\nvmail_home = \"/var/vmail\"\n[timeouts]\ndelivery = \"3s\"\n",
        )
        .unwrap();
        let text = ServerOverrides::of(&file).unwrap();
        assert!(
            !text.contains("never") && !text.contains("vmail_uid"),
            "{text}"
        );
        let mut server: ConfigFile =
            toml::from_str("[tutorial]\nvmail_uid = 6000\nvmail_home = \"/srv/mail\"\n").unwrap();
        server.overlay(ServerOverrides::parse(&text).unwrap());
        assert_eq!(
            server.tutorial.vmail_home,
            Some(PathBuf::from("/var/vmail"))
        );
        assert_eq!(server.tutorial.vmail_uid, Some(6000));
        assert_eq!(server.timeouts.delivery.as_deref(), Some("3s"));
        assert_eq!(ServerOverrides::of(&ConfigFile::default()), None);
        assert!(ServerOverrides::parse("password = \"x\"").is_err());
    }
}
