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

use crate::probe::ProbeError;
use crate::probe::maps::data_file;
use crate::probe::postfix::{MainCf, split_list};

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
}

impl Param {
    /// Reads `name` from main.cf.
    pub fn read(main: &MainCf, name: &str) -> Param {
        Param {
            name: name.to_string(),
            written: main.raw(name).map(str::to_string),
            line: main.line(name),
            effective: main.get(name),
        }
    }

    /// Where the value comes from: "main.cf line 12", or Postfix's default.
    pub fn at(&self) -> String {
        match self.line {
            Some(l) => format!("main.cf line {l}"),
            None => "not set in main.cf, Postfix's default".to_string(),
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
