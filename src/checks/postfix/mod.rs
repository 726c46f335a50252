//! Checks of Postfix's configuration (postconf(5), master(5) and the lookup tables main.cf
//! names), one kind per file, and what several of them read the same way: a main.cf parameter
//! (`Param`), the first line of a name file (`NameFile`), a file a parameter names (`NamedFile`).

pub mod aliases_db_current;
pub mod chroot_copies;
pub mod compatibility_level;
pub mod config_sane;
pub mod deprecated_params;
pub mod message_size_limit;
pub mod mime_header_checks;
pub mod mydestination_empty;
pub mod myhostname_fqdn;
pub mod mynetworks_loopback;
pub mod myorigin_mailname;
pub mod mysql_map_files;
pub mod ports_listening;
pub mod recipient_restrictions;
pub mod relay_domains_map;
pub mod reload_pending;
pub mod settings;
pub mod submission_service;
pub mod tls_settings;
pub mod virtual_settings;

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::Unobserved;
use crate::probe::ProbeError;
use crate::probe::maps::data_file;
use crate::probe::postfix::{MainCf, MasterService, PostfixConfig, SettingSource, split_list};

/// One main.cf parameter as a check saw it: what is written and where, and the value Postfix
/// uses (default applied, `$names` expanded).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Param {
    pub name: String,
    /// The value as written; `None` when main.cf does not set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written: Option<String>,
    /// Line of main.cf where it is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(default)]
    pub effective: String,
    /// Read for a master.cf service (`submission`): its name, and where its `-o` sets the
    /// parameter, when one does (then `written` is the `-o` value and `line` is not set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceOverride>,
}

/// The master.cf service a parameter was read for, and the `-o` that sets it there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServiceOverride {
    /// `submission inet` (name and type).
    pub name: String,
    pub master_cf: PathBuf,
    /// The master.cf line of the `-o` that sets the parameter (the last one wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_line: Option<usize>,
    /// The `-o name=value` as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_text: Option<String>,
}

impl Param {
    /// Reads `name` as `service` sees it: its last `-o name=value`, else main.cf's.
    pub fn read_for(cfg: &PostfixConfig, service: Option<&MasterService>, name: &str) -> Param {
        let Some(svc) = service else {
            return Param::read(&cfg.main, name);
        };
        let s = cfg.service_setting(svc, name);
        let (line, override_line, override_text) = match s.source {
            SettingSource::Override { line, text } => (None, Some(line), Some(text)),
            SettingSource::Main { line } => (Some(line), None, None),
            SettingSource::Default => (None, None, None),
        };
        Param {
            name: name.to_string(),
            written: s.written,
            line,
            effective: s.effective,
            service: Some(ServiceOverride {
                name: format!("{} {}", svc.name, svc.kind),
                master_cf: cfg.master.path.clone(),
                override_line,
                override_text,
            }),
        }
    }

    /// The master.cf `-o` that sets this parameter, as `master.cf:24: -o name=value`.
    pub fn override_at(&self) -> Option<String> {
        let s = self.service.as_ref()?;
        Some(format!(
            "{}:{}: `{}`",
            s.master_cf.display(),
            s.override_line?,
            s.override_text.as_deref()?
        ))
    }
    /// Reads `name` from main.cf.
    pub fn read(main: &MainCf, name: &str) -> Param {
        Param {
            name: name.to_string(),
            written: main.raw(name).map(str::to_string),
            line: main.line(name),
            effective: main.get(name),
            service: None,
        }
    }

    /// Where the value comes from: "main.cf line 12", or Postfix's default.
    pub fn at(&self) -> String {
        if let Some(o) = self.override_at() {
            let svc = self.service.as_ref().map(|s| s.name.as_str()).unwrap_or("");
            return format!("{o} of `{svc}`, which overrides main.cf");
        }
        let svc = match &self.service {
            Some(s) => format!(", no -o in `{}`", s.name),
            None => String::new(),
        };
        match self.line {
            Some(l) => format!("main.cf line {l}{svc}"),
            None => format!("not set in main.cf, Postfix's default{svc}"),
        }
    }

    /// The fix: `main_fix` when main.cf sets the value; when a master.cf `-o` does, to remove
    /// (or correct) that line.
    pub fn fix(&self, main_fix: &str) -> String {
        match (self.override_at(), &self.service) {
            (Some(at), Some(s)) => format!(
                "remove the override {at} from `{}` (or give it the right value), then `postfix reload`",
                s.name
            ),
            _ => main_fix.to_string(),
        }
    }

    /// `name = value (main.cf line N)`, with the expansion when it differs from the text.
    pub fn shown(&self) -> String {
        let value = match &self.written {
            Some(w) if *w != self.effective => format!("{w} (= {})", self.effective),
            Some(w) => w.clone(),
            None => self.effective.clone(),
        };
        format!("{} = {} ({})", self.name, value, self.at())
    }

    /// The value split as a Postfix list.
    pub fn list(&self) -> Vec<String> {
        split_list(&self.effective)
    }
}

/// Compares two parameter values as Postfix would treat them: list items split on commas and
/// whitespace, case-insensitive (`yes`/`YES`, `All`/`all`).
pub(crate) fn same_value(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        split_list(s)
            .iter()
            .map(|x| x.to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    norm(a) == norm(b)
}

/// The first line of a file such as /etc/mailname, or why it could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NameFile {
    pub path: PathBuf,
    /// First line, trimmed and lower-cased; `None` when unreadable.
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub problem: Option<String>,
    #[serde(default)]
    pub missing: bool,
    #[serde(default)]
    pub needs_root: bool,
}

impl NameFile {
    pub fn read(path: &Path) -> NameFile {
        match std::fs::read_to_string(path) {
            Ok(t) => NameFile {
                path: path.to_path_buf(),
                value: Some(t.lines().next().unwrap_or("").trim().to_ascii_lowercase()),
                ..NameFile::default()
            },
            Err(e) => {
                let e = ProbeError::from_io(path, &e);
                NameFile {
                    path: path.to_path_buf(),
                    value: None,
                    missing: matches!(e, ProbeError::NotFound { .. }),
                    needs_root: matches!(e, ProbeError::PermissionDenied { .. }),
                    problem: Some(e.to_string()),
                }
            }
        }
    }

    /// The value when it is a usable name.
    pub fn name(&self) -> Option<&str> {
        self.value.as_deref().filter(|v| !v.is_empty())
    }
}

/// Whether `s` looks like a DNS name with at least two labels.
pub(crate) fn plausible_domain(s: &str) -> bool {
    let s = s.trim_end_matches('.');
    s.contains('.')
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// One file a parameter names (`type:/path` or a plain `/path`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NamedFile {
    /// Map type, or "file" for a `/file/name` list.
    pub kind: String,
    /// As named.
    pub path: PathBuf,
    /// What Postfix opens (`hash:` maps add `.db`).
    pub opens: PathBuf,
    #[serde(default)]
    pub exists: bool,
    #[serde(default)]
    pub problem: Option<String>,
    #[serde(default)]
    pub needs_root: bool,
    #[serde(default)]
    pub sibling_exists: bool,
}

impl NamedFile {
    pub fn check(kind: &str, path: &Path) -> NamedFile {
        let opens = data_file(kind, path);
        let (exists, problem, needs_root) = match std::fs::metadata(&opens) {
            Ok(_) => (true, None, false),
            Err(e) => {
                let e = ProbeError::from_io(&opens, &e);
                let root = matches!(e, ProbeError::PermissionDenied { .. });
                (false, Some(e.to_string()), root)
            }
        };
        NamedFile {
            kind: kind.to_string(),
            path: path.to_path_buf(),
            sibling_exists: !exists && path.with_extension("cf").exists(),
            opens,
            exists,
            problem,
            needs_root,
        }
    }
}

/// The tutorial's typo: `mysql_relay_domains_maps.cfl`. When a missing map file ends so and the
/// `.cf` beside it exists, the message says so.
pub(crate) fn typo_note(path: &Path, sibling_exists: bool) -> String {
    if path.extension().is_some_and(|e| e == "cfl") {
        let fixed = path.with_extension("cf");
        let exists = if sibling_exists {
            format!("{} exists", fixed.display())
        } else {
            format!("nor does {}", fixed.display())
        };
        format!(" (the tutorial's own typo: it prints .cfl for .cf; {exists})")
    } else {
        String::new()
    }
}

/// The master.cf service a host check reads its parameters for (`[probe] service`): `None` for main.cf alone; NotApplicable (skip) when
/// master.cf has no such service (postfix.submission-service says so).
pub(crate) fn service_of<'a>(
    cfg: &'a PostfixConfig,
    service: Option<&ServiceSpec>,
) -> Result<Option<&'a MasterService>, Unobserved> {
    let Some(want) = service else {
        return Ok(None);
    };
    match cfg.inet_service(&want.name, want.port.0) {
        Some(s) => Ok(Some(s)),
        None => Err(Unobserved::NotApplicable {
            reason: format!(
                "{} has no `{} inet` service (port {})",
                cfg.master.path.display(),
                want.name,
                want.port.0
            ),
        }),
    }
}

/// Which master.cf service a host check reads its parameters for, in its `[probe]` table:
/// `service = { name = "submission", port = 587 }` (a service named so or by the port).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    pub name: String,
    pub port: crate::checks::values::Port,
}
