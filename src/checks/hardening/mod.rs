//! Hardening beyond the tutorial (H1-H7 of shared/requirements.md): each check probes one of
//! today's known attacks live (src/probe/hardening/) and, on the server, compares what it saw
//! with the Postfix parameters that decide it (postconf(5), master(5)). A weakness is `warn`
//! with the lines to add and the Postfix version that has them; only an open relay fails.

pub mod auth_before_tls;
pub mod certificate_algorithms;
pub mod pipelining;
pub mod relay_tricks;
pub mod smuggling;
pub mod starttls_injection;
pub mod tls_floor;
pub mod vrfy;

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::facts::Facts;
use crate::facts::hardening::Vantage;
use crate::probe::hardening::{ErrorKind, SetupFailure};
use crate::probe::postfix::{MasterCf, MasterService, PostfixConfig};
use crate::probe::session::Service;
use crate::verdict::Verdict;

/// One Postfix parameter as the probed service uses it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Setting {
    pub name: String,
    /// As written in main.cf, and its line.
    pub main_cf: Option<String>,
    pub main_cf_line: Option<usize>,
    /// The service's `-o name=value` in master.cf, and the service's line.
    pub master_cf: Option<String>,
    pub master_cf_line: Option<usize>,
    /// The value Postfix uses for the service (postconf's, with this version's default, or the
    /// master.cf override); `None` when it could not be read or the version lacks it.
    pub effective: Option<String>,
    /// This Postfix version does not know the parameter (postconf: "unknown parameter").
    pub unknown: bool,
}

impl Setting {
    /// `` `name = value` (main.cf line 12) ``, `` (not set in main.cf: Postfix 3.7.11's default) ``,
    /// `` (master.cf line 14: -o) ``, or "Postfix 3.4.1 has no name".
    pub fn shown(&self, version: Option<&str>) -> String {
        let postfix = version.map_or_else(|| "Postfix".to_string(), |v| format!("Postfix {v}"));
        if self.unknown {
            return format!("{postfix} has no {}", self.name);
        }
        let Some(value) = &self.effective else {
            return format!("{} could not be read", self.name);
        };
        let at = match (
            self.master_cf.is_some(),
            self.master_cf_line,
            self.main_cf_line,
        ) {
            (true, Some(l), _) => format!("master.cf line {l}: -o"),
            (_, _, Some(l)) => format!("main.cf line {l}"),
            _ => format!("not set in main.cf: {postfix}'s default"),
        };
        if value.is_empty() {
            format!("`{} =` (empty; {at})", self.name)
        } else {
            format!("`{} = {value}` ({at})", self.name)
        }
    }

    /// The value in lower case, when known.
    pub fn lower(&self) -> Option<String> {
        self.effective
            .as_ref()
            .map(|v| v.trim().to_ascii_lowercase())
    }
}

/// The server's side of a hardening check: the parameters that decide it (on the server only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ServerConfig {
    /// `mail_version`, e.g. "3.7.11".
    pub mail_version: Option<String>,
    /// The master.cf service of the probed port, e.g. "smtp inet" (line 12).
    pub service: Option<String>,
    pub service_line: Option<usize>,
    pub settings: Vec<Setting>,
    /// Why main.cf or postconf could not be read.
    pub problem: Option<String>,
}

impl ServerConfig {
    pub fn get(&self, name: &str) -> Option<&Setting> {
        self.settings.iter().find(|s| s.name == name)
    }

    /// The parsed version.
    pub fn version(&self) -> Option<Version> {
        self.mail_version.as_deref().and_then(Version::parse)
    }

    /// [`Setting::shown`] of `name`, if read.
    pub fn shown(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|s| s.shown(self.mail_version.as_deref()))
    }
}

/// Reads `names` for `service` (on the server; `None` elsewhere): main.cf as written, the
/// service's master.cf overrides, and postconf's values with the version's defaults.
pub(crate) async fn server_config(
    facts: &Facts,
    service: Service,
    names: &[&str],
) -> Option<ServerConfig> {
    if !facts.target.local {
        return None;
    }
    let mut c = ServerConfig::default();
    let cfg = match facts.postfix().await {
        Ok(cfg) => cfg,
        Err(e) => {
            c.problem = Some(e.to_string());
            return Some(c);
        }
    };
    let postconf = facts.hardening_postconf().await;
    let svc = master_service(&cfg.master, service, service.port(&facts.settings));
    c.service = svc.map(|s| format!("{} {}", s.name, s.kind));
    c.service_line = svc.map(|s| s.line);
    match &postconf {
        Ok(p) => c.mail_version = p.get("mail_version").map(str::to_string),
        Err(e) => c.problem = Some(format!("postconf: {e}")),
    }
    for name in names {
        c.settings
            .push(setting(&cfg, postconf.as_ref().ok(), svc, name));
    }
    Some(c)
}

fn setting(
    cfg: &PostfixConfig,
    postconf: Option<&crate::probe::hardening::postconf::PostconfValues>,
    svc: Option<&MasterService>,
    name: &str,
) -> Setting {
    let mut s = Setting {
        name: name.to_string(),
        main_cf: cfg.main.raw(name).map(str::to_string),
        main_cf_line: cfg.main.line(name),
        ..Setting::default()
    };
    if let Some((svc, v)) = svc.and_then(|svc| svc.override_value(name).map(|v| (svc, v))) {
        s.master_cf = Some(v.to_string());
        s.master_cf_line = Some(svc.line);
        s.effective = Some(cfg.main.expand(v, 0));
        return s;
    }
    match postconf {
        Some(p) if p.unknown.iter().any(|u| u == name) => s.unknown = true,
        Some(p) => s.effective = p.get(name).map(str::to_string),
        // Without postconf only what main.cf says is sure.
        None => s.effective = s.main_cf.clone(),
    }
    s
}

/// The master.cf `inet` service that listens on `port` for `service` (`smtp`, `25`,
/// `1.2.3.4:smtp`, ...).
pub(crate) fn master_service(
    master: &MasterCf,
    service: Service,
    port: u16,
) -> Option<&MasterService> {
    let name = match service {
        Service::Smtp => "smtp",
        Service::Submission => "submission",
    };
    let port = port.to_string();
    master.services.iter().find(|s| {
        let bare = s.name.rsplit(':').next().unwrap_or(&s.name);
        s.kind == "inet" && (bare == name || bare == port)
    })
}

/// A Postfix release, `3.7.11`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    /// `3.7.11`, `3.10-20250101` (a snapshot: patch 0).
    pub fn parse(s: &str) -> Option<Version> {
        // A snapshot's date after `-` is not a patch level.
        let release = s.trim().split('-').next().unwrap_or_default();
        let mut parts = release.split('.');
        let mut num = |required: bool| -> Option<u32> {
            match parts.next() {
                Some(p) => {
                    let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
                    digits.parse().ok()
                }
                None if required => None,
                None => Some(0),
            }
        };
        let major = num(true)?;
        let minor = num(true)?;
        let patch = num(false).unwrap_or(0);
        Some(Version {
            major,
            minor,
            patch,
        })
    }

    /// Whether a feature that came with `mainline` (x.y.0) and was back-ported to the stable
    /// releases `backports` (x.y.z each) is in this version.
    pub fn has(self, feature: &Feature) -> bool {
        if (self.major, self.minor) >= feature.mainline {
            return true;
        }
        feature
            .backports
            .iter()
            .any(|&(ma, mi, p)| self.major == ma && self.minor == mi && self.patch >= p)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// When a Postfix feature came: a mainline release and the stable back-ports.
pub struct Feature {
    pub mainline: (u32, u32),
    pub backports: &'static [(u32, u32, u32)],
}

impl Feature {
    /// "3.5.24, 3.6.14, 3.7.10, 3.8.5 and later" (or "3.6 and later").
    pub fn releases(&self) -> String {
        let mut v: Vec<String> = self
            .backports
            .iter()
            .map(|(a, b, c)| format!("{a}.{b}.{c}"))
            .collect();
        if v.is_empty() {
            v.push(format!("{}.{}", self.mainline.0, self.mainline.1));
        }
        format!("{} and later", v.join(", "))
    }
}

/// Where the probe came from, for messages: "from ::1, outside mynetworks".
pub(crate) fn from_where(v: &Vantage) -> String {
    match (&v.source, &v.inside_mynetworks) {
        (Some(s), None) => format!("from {s}, outside mynetworks"),
        (Some(s), Some(_)) => format!("from {s} (mynetworks holds every address)"),
        (None, Some(_)) => "from this machine, inside mynetworks".to_string(),
        (None, None) => "from this machine".to_string(),
    }
}

/// The verdict for a probe that stopped before its test: a port without STARTTLS is `skip`
/// (T29/T33 judge that), anything else `error`.
pub(crate) fn setup_verdict(addr: &str, f: &SetupFailure) -> Verdict {
    if f.outcome.error_kind() == Some(ErrorKind::NotOffered) {
        return Verdict::skip(format!(
            "{addr} does not offer STARTTLS (tls.starttls and submission.tls-required say why)"
        ));
    }
    Verdict::error(format!("could not probe {addr}: {}", f.describe()))
}

/// " (`x = y` (main.cf line 3); ...)" for the settings that were read, or "".
pub(crate) fn config_note(config: Option<&ServerConfig>, names: &[&str]) -> String {
    let Some(c) = config else {
        return String::new();
    };
    let shown: Vec<String> = names.iter().filter_map(|n| c.shown(n)).collect();
    if shown.is_empty() {
        String::new()
    } else {
        format!("; {}", shown.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NORMALIZE: Feature = Feature {
        mainline: (3, 9),
        backports: &[(3, 5, 24), (3, 6, 14), (3, 7, 10), (3, 8, 5)],
    };

    #[test]
    fn versions_parse_and_compare_with_backports() {
        let v = |s| Version::parse(s).unwrap();
        assert_eq!(v("3.7.11").to_string(), "3.7.11");
        assert_eq!(v("3.10-20250101").to_string(), "3.10.0");
        assert!(v("3.7.11").has(&NORMALIZE));
        assert!(!v("3.7.9").has(&NORMALIZE));
        assert!(v("3.9.0").has(&NORMALIZE));
        assert!(v("3.10.1").has(&NORMALIZE));
        assert!(!v("3.4.99").has(&NORMALIZE));
        assert!(!v("2.11.3").has(&NORMALIZE));
        assert_eq!(Version::parse("x"), None);
        assert_eq!(
            NORMALIZE.releases(),
            "3.5.24, 3.6.14, 3.7.10, 3.8.5 and later"
        );
    }

    #[test]
    fn settings_say_where_their_value_comes_from() {
        let mut s = Setting {
            name: "smtpd_forbid_bare_newline".into(),
            effective: Some("no".into()),
            ..Setting::default()
        };
        assert_eq!(
            s.shown(Some("3.7.11")),
            "`smtpd_forbid_bare_newline = no` (not set in main.cf: Postfix 3.7.11's default)"
        );
        s.main_cf_line = Some(40);
        assert_eq!(
            s.shown(Some("3.7.11")),
            "`smtpd_forbid_bare_newline = no` (main.cf line 40)"
        );
        s.unknown = true;
        assert_eq!(
            s.shown(Some("3.4.1")),
            "Postfix 3.4.1 has no smtpd_forbid_bare_newline"
        );
    }

    #[test]
    fn the_master_service_is_found_by_name_or_port() {
        let m = MasterCf::parse(
            std::path::Path::new("master.cf"),
            "smtp inet n - y - - smtpd\n127.0.0.1:2525 inet n - y - - smtpd\nsmtp unix - - y - - smtp\nsubmission inet n - - - - smtpd -o smtpd_tls_security_level=encrypt\n",
        );
        assert_eq!(
            master_service(&m, Service::Smtp, 25).map(|s| s.line),
            Some(1)
        );
        assert_eq!(
            master_service(&m, Service::Submission, 587).map(|s| s.line),
            Some(4)
        );
        let m = MasterCf::parse(
            std::path::Path::new("master.cf"),
            "127.0.0.1:2525 inet n - y - - smtpd\n",
        );
        assert_eq!(
            master_service(&m, Service::Smtp, 2525).map(|s| s.line),
            Some(1)
        );
    }
}
