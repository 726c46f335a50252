//! File facts from lstat(2)/stat(2): type, mode, owner and group (ids and names), link target;
//! and a config file's facts with its (redacted) text.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ProbeError;

/// What kind of file a path is (without following a final symlink).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Socket,
    Other,
}

/// One file's metadata, as recorded in evidence and fixtures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FileFacts {
    pub path: PathBuf,
    pub kind: FileKind,
    /// Permission bits, e.g. 0o640.
    #[serde(with = "octal_mode")]
    #[schemars(with = "String")]
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub owner: Option<String>,
    pub group: Option<String>,
    /// For symlinks, the target as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_target: Option<PathBuf>,
}

impl FileFacts {
    /// "0640 root:postfix" style summary.
    pub fn describe(&self) -> String {
        format!(
            "{} {:04o} {}:{}",
            self.path.display(),
            self.mode,
            self.owner.clone().unwrap_or_else(|| self.uid.to_string()),
            self.group.clone().unwrap_or_else(|| self.gid.to_string())
        )
    }
}

/// lstat(2) of `path`.
pub fn lstat(path: &Path) -> Result<FileFacts, ProbeError> {
    let md = std::fs::symlink_metadata(path).map_err(|e| ProbeError::from_io(path, &e))?;
    let ft = md.file_type();
    let kind = if ft.is_symlink() {
        FileKind::Symlink
    } else if ft.is_dir() {
        FileKind::Dir
    } else if ft.is_file() {
        FileKind::File
    } else if ft.is_socket() {
        FileKind::Socket
    } else {
        FileKind::Other
    };
    let link_target = if kind == FileKind::Symlink {
        std::fs::read_link(path).ok()
    } else {
        None
    };
    Ok(FileFacts {
        path: path.to_path_buf(),
        kind,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        owner: user_name(md.uid()),
        group: group_name(md.gid()),
        link_target,
    })
}

/// stat(2) of `path` (follows symlinks), reported under the path asked for.
pub fn stat(path: &Path) -> Result<FileFacts, ProbeError> {
    let target = std::fs::canonicalize(path).map_err(|e| ProbeError::from_io(path, &e))?;
    let mut f = lstat(&target)?;
    f.path = path.to_path_buf();
    Ok(f)
}

pub fn user_name(uid: u32) -> Option<String> {
    uzers::get_user_by_uid(uid).map(|u| u.name().to_string_lossy().into_owned())
}

pub fn group_name(gid: u32) -> Option<String> {
    uzers::get_group_by_gid(gid).map(|g| g.name().to_string_lossy().into_owned())
}

/// A config file's stat(2) facts and text, or why not (secrets already redacted from the text).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConfigFile {
    pub path: PathBuf,
    #[serde(default)]
    pub facts: Option<FileFacts>,
    /// Why stat failed.
    #[serde(default)]
    pub stat_problem: Option<String>,
    /// The text, with secrets replaced by `<redacted>`.
    #[serde(default)]
    pub text: Option<String>,
    /// Why reading failed.
    #[serde(default)]
    pub read_problem: Option<String>,
    #[serde(default)]
    pub missing: bool,
    #[serde(default)]
    pub needs_root: bool,
}

impl ConfigFile {
    /// Stats and reads `path`; `redact` removes secrets from the text before it is kept.
    pub fn read(path: &Path, redact: impl Fn(&str) -> String) -> ConfigFile {
        let mut f = ConfigFile {
            path: path.to_path_buf(),
            ..ConfigFile::default()
        };
        match stat(path) {
            Ok(facts) => f.facts = Some(facts),
            Err(e) => {
                f.missing = matches!(e, ProbeError::NotFound { .. });
                f.needs_root |= matches!(e, ProbeError::PermissionDenied { .. });
                f.stat_problem = Some(e.to_string());
            }
        }
        if !f.missing {
            match std::fs::read_to_string(path) {
                Ok(t) => f.text = Some(redact(&t)),
                Err(e) => {
                    let e = ProbeError::from_io(path, &e);
                    f.missing = matches!(e, ProbeError::NotFound { .. });
                    f.needs_root |= matches!(e, ProbeError::PermissionDenied { .. });
                    f.read_problem = Some(e.to_string());
                }
            }
        }
        f
    }
}

mod octal_mode {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(mode: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{mode:04o}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let s = String::deserialize(d)?;
        u32::from_str_radix(s.trim_start_matches("0o"), 8).map_err(serde::de::Error::custom)
    }
}
