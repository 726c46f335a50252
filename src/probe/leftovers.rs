//! Configuration files dpkg and ucf leave beside an admin's file on upgrade (dpkg(1)
//! `--force-confold`/`--force-confnew`: `.dpkg-dist`, `.dpkg-old`, ...; ucf(1): `.ucf-dist`,
//! ...), and how each differs from the file in use: by parameter for Postfix's files, by
//! variable for shell files, by key for the rest (values only where they hold no secret).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::postfix::{MainCf, MasterCf};
use super::shell_vars;

/// The suffixes dpkg and ucf give the version they did not install.
pub const SUFFIXES: &[&str] = &[
    ".dpkg-dist",
    ".dpkg-old",
    ".dpkg-new",
    ".dpkg-bak",
    ".ucf-dist",
    ".ucf-old",
    ".ucf-new",
];

/// Most differences kept per file.
pub const MAX_DIFFERENCES: usize = 20;

/// How a file is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// main.cf: `name = value`, with values.
    PostfixMain,
    /// master.cf: services by name and type.
    PostfixMaster,
    /// A shell file (/etc/default/*): variables, with values.
    Shell,
    /// Anything else: the first word of each line, no values (they may be passwords).
    Keys,
}

/// One difference between the file in use and the one left beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Difference {
    /// The parameter, variable, service or key.
    pub key: String,
    /// Its line in the file in use; `None` when only the left-over file has it.
    #[serde(default)]
    pub line: Option<usize>,
    /// Its line in the left-over file; `None` when only the file in use has it.
    #[serde(default)]
    pub leftover_line: Option<usize>,
    /// Values (main.cf and shell files only).
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub leftover_value: Option<String>,
}

/// A file left beside one mailcheck reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Leftover {
    /// The file in use.
    pub file: PathBuf,
    pub leftover: PathBuf,
    pub suffix: String,
    pub format: Format,
    /// Byte for byte the same as the file in use.
    #[serde(default)]
    pub identical: bool,
    #[serde(default)]
    pub differences: Vec<Difference>,
    /// More differences than kept.
    #[serde(default)]
    pub more: usize,
    #[serde(default)]
    pub problem: Option<String>,
}

/// The format a file is compared in, by its name.
pub fn format_of(path: &Path) -> Format {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name == "main.cf" {
        Format::PostfixMain
    } else if name == "master.cf" {
        Format::PostfixMaster
    } else if path.starts_with("/etc/default") {
        Format::Shell
    } else {
        Format::Keys
    }
}

/// The left-over versions of each of `files` (files that do not exist are skipped).
pub fn find(files: &[PathBuf]) -> Vec<Leftover> {
    let mut out = Vec::new();
    for file in files {
        for suffix in SUFFIXES {
            let mut name = file.as_os_str().to_os_string();
            name.push(suffix);
            let leftover = PathBuf::from(name);
            if std::fs::symlink_metadata(&leftover).is_err() {
                continue;
            }
            out.push(compare(file, &leftover, suffix));
        }
    }
    out
}

/// The `*.cnf` files of the directories my.cnf includes on Debian, and my.cnf itself.
pub fn mysql_config_files(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![
        root.join("etc/mysql/my.cnf"),
        root.join("etc/mysql/mariadb.cnf"),
        root.join("etc/mysql/debian.cnf"),
    ];
    for dir in ["etc/mysql/conf.d", "etc/mysql/mariadb.conf.d"] {
        let mut in_dir: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "cnf"))
            .collect();
        // A .cnf.dpkg-dist of a file the admin deleted shows as the bare .cnf missing.
        in_dir.extend(
            std::fs::read_dir(root.join(dir))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter_map(|p| {
                    let s = p.to_string_lossy().into_owned();
                    SUFFIXES
                        .iter()
                        .find_map(|suf| s.strip_suffix(suf).map(PathBuf::from))
                }),
        );
        in_dir.sort();
        in_dir.dedup();
        files.extend(in_dir);
    }
    files
}

fn compare(file: &Path, leftover: &Path, suffix: &str) -> Leftover {
    let format = format_of(file);
    let mut l = Leftover {
        file: file.to_path_buf(),
        leftover: leftover.to_path_buf(),
        suffix: suffix.to_string(),
        format,
        identical: false,
        differences: Vec::new(),
        more: 0,
        problem: None,
    };
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let (a, b) = match (read(file), read(leftover)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), Ok(b)) if !file.exists() => {
            // Only the left-over exists (the admin deleted the file): everything differs.
            l.problem = Some(format!("{e} (only the left-over file exists)"));
            (Vec::new(), b)
        }
        (Err(e), _) | (_, Err(e)) => {
            l.problem = Some(e);
            return l;
        }
    };
    l.identical = a == b;
    if l.identical {
        return l;
    }
    let (a, b) = (
        String::from_utf8_lossy(&a).into_owned(),
        String::from_utf8_lossy(&b).into_owned(),
    );
    let mut diffs = match format {
        Format::PostfixMain => keyed_diff(main_keys(file, &a), main_keys(leftover, &b), true),
        Format::PostfixMaster => {
            keyed_diff(master_keys(file, &a), master_keys(leftover, &b), false)
        }
        Format::Shell => keyed_diff(shell_keys(&a), shell_keys(&b), true),
        Format::Keys => line_diff(&a, &b),
    };
    if diffs.len() > MAX_DIFFERENCES {
        l.more = diffs.len() - MAX_DIFFERENCES;
        diffs.truncate(MAX_DIFFERENCES);
    }
    l.differences = diffs;
    l
}

type Keyed = BTreeMap<String, (usize, String)>;

fn main_keys(path: &Path, text: &str) -> Keyed {
    MainCf::parse(path, text, "")
        .settings
        .into_iter()
        .map(|(k, s)| (k, (s.line, s.value)))
        .collect()
}

fn master_keys(path: &Path, text: &str) -> Keyed {
    MasterCf::parse(path, text)
        .services
        .into_iter()
        .map(|s| {
            let value = format!(
                "{} {} {} {} {} {} {} {}",
                s.private,
                s.unprivileged,
                s.chroot,
                s.wakeup,
                s.maxproc,
                s.command,
                s.args.join(" "),
                s.overrides
                    .iter()
                    .map(|(n, v)| format!("-o {n}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            (format!("{}/{}", s.name, s.kind), (s.line, value))
        })
        .collect()
}

fn shell_keys(text: &str) -> Keyed {
    shell_vars::parse(text)
        .into_iter()
        .map(|a| (a.name, (a.line, a.value)))
        .collect()
}

fn keyed_diff(a: Keyed, b: Keyed, with_values: bool) -> Vec<Difference> {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let (x, y) = (a.get(k), b.get(k));
            if x.map(|v| &v.1) == y.map(|v| &v.1) {
                return None;
            }
            Some(Difference {
                key: k.clone(),
                line: x.map(|v| v.0),
                leftover_line: y.map(|v| v.0),
                value: x.filter(|_| with_values).map(|v| v.1.clone()),
                leftover_value: y.filter(|_| with_values).map(|v| v.1.clone()),
            })
        })
        .collect()
}

/// Meaningful lines (no comments, no blanks) with their numbers.
fn meaningful(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim().to_string()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .collect()
}

/// The key of a line: `[section]`, or what comes before `=`, `:` or a space.
fn line_key(l: &str) -> String {
    if l.starts_with('[') {
        return l.to_string();
    }
    l.split(['=', ':', ' ', '\t'])
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

fn line_diff(a: &str, b: &str) -> Vec<Difference> {
    let (a, b) = (meaningful(a), meaningful(b));
    let mut out = Vec::new();
    for (n, l) in &a {
        if !b.iter().any(|(_, x)| x == l) {
            out.push(Difference {
                key: line_key(l),
                line: Some(*n),
                leftover_line: None,
                value: None,
                leftover_value: None,
            });
        }
    }
    for (n, l) in &b {
        if !a.iter().any(|(_, x)| x == l) {
            out.push(Difference {
                key: line_key(l),
                line: None,
                leftover_line: Some(*n),
                value: None,
                leftover_value: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_files_differ_by_variable() {
        let d = keyed_diff(
            shell_keys("START=yes\nOPTIONS=\"-c -r -m /x\"\n"),
            shell_keys("# no START\nOPTIONS=\"-c -m /var/run/saslauthd\"\nTHREADS=5\n"),
            true,
        );
        let keys: Vec<&str> = d.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["OPTIONS", "START", "THREADS"]);
        assert_eq!(d[1].line, Some(1));
        assert_eq!(d[1].leftover_line, None);
        assert_eq!(
            d[0].leftover_value.as_deref(),
            Some("-c -m /var/run/saslauthd")
        );
    }

    #[test]
    fn other_files_name_keys_not_values() {
        let d = line_diff(
            "[client]\npassword = secret1\n",
            "[client]\npassword = secret2\n",
        );
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|d| d.key == "password" && d.value.is_none()));
    }
}
