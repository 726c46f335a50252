//! The versions of what a mail server runs, read on the server without changing it: Postfix's
//! `mail_version` (postconf(5)), dpkg's package versions (dpkg-query(1)), `openssl version` and
//! `mariadbd --version` where dpkg does not have them, and /etc/debian_version.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::firewall::find_program;

/// One version as found: the text and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Found {
    /// e.g. "3.10.13", "OpenSSL 3.5.9 30 Sep 2025".
    pub version: String,
    /// The command or file that said so, e.g. "postconf -h mail_version".
    pub source: String,
}

/// Why a version could not be read (deterministic text, no timings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NotFound {
    pub what: String,
    pub why: String,
}

/// What one command printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Why a command could not be run (deterministic text, no timings).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("{0} is not installed")]
    NotInstalled(String),
    #[error("`{command}` gave no answer within {limit}")]
    Timeout { command: String, limit: String },
    #[error("cannot run `{command}`: {why}")]
    Spawn { command: String, why: String },
}

/// Runs `program args` (found in PATH and the sbin directories) under `limit`; nothing on
/// stdin, killed when the deadline passes. `Err` says why it could not be run.
pub async fn run(program: &str, args: &[&str], limit: Duration) -> Result<Ran, RunError> {
    let shown = format!("{program} {}", args.join(" "));
    let Some(path) = find_program(program) else {
        return Err(RunError::NotInstalled(program.to_string()));
    };
    let cmd = tokio::process::Command::new(&path)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(limit, cmd).await {
        Err(_) => Err(RunError::Timeout {
            command: shown,
            limit: humantime::format_duration(limit).to_string(),
        }),
        Ok(Err(e)) => Err(RunError::Spawn {
            command: shown,
            why: e.to_string(),
        }),
        Ok(Ok(o)) => Ok(Ran {
            ok: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).trim().to_string(),
            stderr: String::from_utf8_lossy(&o.stderr).trim().to_string(),
        }),
    }
}

/// `postconf -c DIR -h mail_version`: the Postfix the configuration belongs to.
pub async fn postfix(config_dir: &Path, limit: Duration) -> Result<Found, NotFound> {
    let dir = config_dir.display().to_string();
    let not = |why: String| NotFound {
        what: "Postfix".into(),
        why,
    };
    let ran = run("postconf", &["-c", &dir, "-h", "mail_version"], limit)
        .await
        .map_err(|e| not(e.to_string()))?;
    let v = ran.stdout.lines().next().unwrap_or("").trim().to_string();
    if !ran.ok || v.is_empty() {
        return Err(not(format!(
            "`postconf -h mail_version` failed: {}",
            ran.stderr
        )));
    }
    Ok(Found {
        version: v,
        source: "postconf -h mail_version".into(),
    })
}

/// The OpenSSL library `openssl version` reports (the library, when it differs from the tool).
pub async fn openssl(limit: Duration) -> Result<Found, NotFound> {
    let not = |why: String| NotFound {
        what: "OpenSSL".into(),
        why,
    };
    let ran = run("openssl", &["version"], limit)
        .await
        .map_err(|e| not(e.to_string()))?;
    if !ran.ok {
        return Err(not(format!("`openssl version` failed: {}", ran.stderr)));
    }
    Ok(Found {
        version: openssl_library(&ran.stdout),
        source: "openssl version".into(),
    })
}

/// "OpenSSL 3.0.17 1 Jul 2025 (Library: OpenSSL 3.0.18 ...)" -> the library's part.
pub fn openssl_library(line: &str) -> String {
    let line = line.lines().next().unwrap_or("").trim();
    match line.split_once("(Library: ") {
        Some((_, lib)) => lib.trim_end_matches(')').trim().to_string(),
        None => line.to_string(),
    }
}

/// `mariadbd --version` (or `mysqld --version`): the installed server binary.
pub async fn mariadb_binary(limit: Duration) -> Result<Found, NotFound> {
    let mut last = String::from("neither mariadbd nor mysqld is installed");
    for program in ["mariadbd", "mysqld"] {
        match run(program, &["--version"], limit).await {
            Ok(r) if r.ok => {
                return Ok(Found {
                    version: server_version_of(&r.stdout),
                    source: format!("{program} --version"),
                });
            }
            Ok(r) => last = format!("`{program} --version` failed: {}", r.stderr),
            Err(RunError::NotInstalled(_)) => {}
            Err(e) => last = e.to_string(),
        }
    }
    Err(NotFound {
        what: "MariaDB".into(),
        why: last,
    })
}

/// A Debian version without its epoch: "1:10.11.14-0+deb12u2" -> "10.11.14-0+deb12u2".
pub fn upstream_of(debian_version: &str) -> &str {
    match debian_version.split_once(':') {
        Some((epoch, rest)) if !epoch.is_empty() && epoch.bytes().all(|b| b.is_ascii_digit()) => {
            rest
        }
        _ => debian_version,
    }
}

/// A Debian version without its epoch and Debian revision: "3.0.20-1~deb12u1" -> "3.0.20".
pub fn upstream_release_of(debian_version: &str) -> &str {
    let v = upstream_of(debian_version);
    v.rsplit_once('-').map_or(v, |(upstream, _)| upstream)
}

/// "mariadbd  Ver 11.8.9-MariaDB-0+deb13u1 from Debian for ..." -> "11.8.9-MariaDB-0+deb13u1".
pub fn server_version_of(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    let mut words = line.split_whitespace();
    while let Some(w) = words.next() {
        if w == "Ver" {
            return words.next().unwrap_or("").to_string();
        }
    }
    line.trim().to_string()
}

/// dpkg's database (dpkg(1)'s default admindir).
pub const DPKG_ADMINDIR: &str = "/var/lib/dpkg";

/// The installed version of each Debian package, `None` for one that is not installed; `Err`
/// when there is no dpkg. Read from dpkg's own record (`status`, then the journal in `updates/`
/// that dpkg has not folded in yet, as dpkg-query reads them): a `dpkg-query -W` process cost
/// 10 ms of CPU, more than the rest of the versions together. Without a status file (another
/// admindir), dpkg-query answers.
pub async fn packages(
    names: &[&str],
    limit: Duration,
) -> Result<Vec<(String, Option<String>)>, RunError> {
    // 0.8 MB read and parsed: off the runtime's workers.
    let db = tokio::task::spawn_blocking(|| read_dpkg_db(Path::new(DPKG_ADMINDIR)))
        .await
        .ok()
        .flatten();
    if let Some(db) = db {
        return Ok(names
            .iter()
            .map(|n| (n.to_string(), db.installed_version(n).map(str::to_string)))
            .collect());
    }
    let mut args = vec!["-W", "-f", "${Package}\t${db:Status-Abbrev}\t${Version}\n"];
    args.extend_from_slice(names);
    let ran = run("dpkg-query", &args, limit).await?;
    Ok(names
        .iter()
        .map(|n| {
            let v = ran
                .stdout
                .lines()
                .filter_map(|l| {
                    let mut f = l.split('\t');
                    Some((f.next()?, f.next()?, f.next()?))
                })
                .find(|(p, status, _)| {
                    p.split(':').next() == Some(n) && status.get(1..2) == Some("i")
                })
                .map(|(_, _, v)| v.trim().to_string())
                .filter(|v| !v.is_empty());
            (n.to_string(), v)
        })
        .collect())
}

/// `status` and the `updates/` journal of dpkg's database in `admindir`; `None` without a
/// readable status file.
fn read_dpkg_db(admindir: &Path) -> Option<DpkgDb> {
    let status = std::fs::read(admindir.join("status")).ok()?;
    let mut db = DpkgDb::default();
    db.read(&String::from_utf8_lossy(&status));
    // The journal: files named by number, applied in order (dpkg's own rule).
    let mut updates: Vec<(u64, PathBuf)> = std::fs::read_dir(admindir.join("updates"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let n = e.file_name().to_str()?.parse::<u64>().ok()?;
            Some((n, e.path()))
        })
        .collect();
    updates.sort();
    for (_, p) in updates {
        if let Ok(text) = std::fs::read(&p) {
            db.read(&String::from_utf8_lossy(&text));
        }
    }
    Some(db)
}

/// What dpkg's status records say, by package and architecture (a later record replaces an
/// earlier one).
#[derive(Debug, Default)]
pub struct DpkgDb {
    /// (package, architecture) -> (third word of Status, version)
    records: std::collections::HashMap<(String, String), (String, String)>,
}

impl DpkgDb {
    /// Adds the records of one status-format text (deb-status(5): stanzas of `Field: value`
    /// lines separated by blank lines; continuation lines start with a space or tab).
    pub fn read(&mut self, text: &str) {
        for stanza in text.split("\n\n") {
            let (mut package, mut arch, mut status, mut version) = ("", "", "", "");
            for line in stanza.lines() {
                if line.starts_with([' ', '\t']) {
                    continue;
                }
                let Some((field, value)) = line.split_once(':') else {
                    continue;
                };
                let value = value.trim();
                match field {
                    "Package" => package = value,
                    "Architecture" => arch = value,
                    "Status" => status = value.split_whitespace().nth(2).unwrap_or(""),
                    "Version" => version = value,
                    _ => {}
                }
            }
            if package.is_empty() {
                continue;
            }
            self.records.insert(
                (package.to_string(), arch.to_string()),
                (status.to_string(), version.to_string()),
            );
        }
    }

    /// The version of `package` dpkg has installed (status `installed`, whatever is wanted of
    /// it: a package on hold is installed too), for any architecture.
    pub fn installed_version(&self, package: &str) -> Option<&str> {
        let mut found: Vec<(&str, &str)> = self
            .records
            .iter()
            .filter(|((p, _), (s, v))| p == package && s == "installed" && !v.is_empty())
            .map(|((_, arch), (_, v))| (arch.as_str(), v.as_str()))
            .collect();
        // The same answer whatever the map's order: the first architecture by name.
        found.sort();
        found.first().map(|(_, v)| *v)
    }
}

/// The Debian release from /etc/debian_version (e.g. "13.2", "12.12"), if any.
pub fn debian_version(root: &Path) -> Option<Found> {
    let p: PathBuf = root.join("etc/debian_version");
    let text = std::fs::read_to_string(&p).ok()?;
    let v = text.lines().next()?.trim().to_string();
    (!v.is_empty()).then(|| Found {
        version: v,
        source: "/etc/debian_version".into(),
    })
}

/// Compares dotted version numbers numerically ("3.10.13" > "3.9.1"); non-numeric tails
/// ("-MariaDB", "+deb13u1") are ignored.
pub fn numeric(v: &str) -> Vec<u32> {
    v.split(|c: char| !c.is_ascii_digit() && c != '.')
        .next()
        .unwrap_or("")
        .split('.')
        .map_while(|p| p.parse().ok())
        .collect()
}

/// Whether version `v` is at least `min` (both dotted numbers).
pub fn at_least(v: &str, min: &str) -> bool {
    let (a, b) = (numeric(v), numeric(min));
    if a.is_empty() {
        return false;
    }
    let n = a.len().max(b.len());
    let pad = |x: &[u32]| {
        let mut x = x.to_vec();
        x.resize(n, 0);
        x
    };
    pad(&a) >= pad(&b)
}

/// Major.minor of a version ("11.8.9-MariaDB" -> "11.8").
pub fn major_minor(v: &str) -> String {
    let n = numeric(v);
    match n.as_slice() {
        [a, b, ..] => format!("{a}.{b}"),
        [a] => a.to_string(),
        [] => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_status_records_and_the_journal() {
        let mut db = DpkgDb::default();
        db.read(
            "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\n\
             Version: 3.0.17-1~deb12u2\nDescription: x\n two\n Version: 9\n\n\
             Package: postfix\nStatus: hold ok installed\nVersion: 3.7.11-0+deb12u1\n\n\
             Package: mariadb-server\nStatus: deinstall ok config-files\nVersion: 1:10.11.6-0+deb12u1\n\n\
             Package: sasl2-bin\nStatus: install ok half-configured\nVersion: 2.1.28+dfsg-10\n",
        );
        assert_eq!(db.installed_version("libssl3"), Some("3.0.17-1~deb12u2"));
        assert_eq!(db.installed_version("postfix"), Some("3.7.11-0+deb12u1"));
        assert_eq!(db.installed_version("mariadb-server"), None);
        assert_eq!(db.installed_version("sasl2-bin"), None);
        assert_eq!(db.installed_version("libpam-mysql"), None);
        // A journal record replaces the status file's for the same package and architecture.
        db.read("Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3.0.20-1~deb12u1\n");
        assert_eq!(db.installed_version("libssl3"), Some("3.0.20-1~deb12u1"));
        assert_eq!(db.records.len(), 4);
    }

    #[test]
    fn debian_epochs_are_dropped() {
        assert_eq!(upstream_of("1:10.11.14-0+deb12u2"), "10.11.14-0+deb12u2");
        assert_eq!(upstream_of("3.0.20-1~deb12u1"), "3.0.20-1~deb12u1");
        assert_eq!(major_minor(upstream_of("1:11.8.3-0+deb13u1")), "11.8");
        assert_eq!(upstream_release_of("3.0.20-1~deb12u1"), "3.0.20");
        assert_eq!(upstream_release_of("3.5.4-1~deb13u2"), "3.5.4");
        assert_eq!(upstream_release_of("2:1.2-3-4"), "1.2-3");
        assert_eq!(upstream_release_of("3.0.20"), "3.0.20");
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(at_least("3.10.13", "3.9"));
        assert!(at_least("3.9", "3.9"));
        assert!(!at_least("3.7.11", "3.9"));
        assert!(!at_least("", "3.9"));
        assert!(at_least("11.8.9-MariaDB", "11.8"));
        assert_eq!(major_minor("10.11.14-MariaDB-0+deb12u1"), "10.11");
    }

    #[test]
    fn tool_outputs_parse() {
        assert_eq!(
            openssl_library("OpenSSL 3.0.17 1 Jul 2025 (Library: OpenSSL 3.0.18 30 Sep 2025)"),
            "OpenSSL 3.0.18 30 Sep 2025"
        );
        assert_eq!(
            openssl_library("OpenSSL 3.5.4 30 Sep 2025"),
            "OpenSSL 3.5.4 30 Sep 2025"
        );
        assert_eq!(
            server_version_of(
                "mariadbd  Ver 11.8.9-MariaDB-0+deb13u1 from Debian for debian-linux-gnu on x86_64"
            ),
            "11.8.9-MariaDB-0+deb13u1"
        );
    }
}
