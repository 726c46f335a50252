//! The run's facts for issue 14: versions and what a Debian upgrade left behind: memoised here, gathered by probes.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::Facts;
use crate::probe::versions::{self, Found, NotFound};

/// What this area of the run has learned so far (each fact gathered once).
#[derive(Default)]
pub struct Cells {
    versions: OnceCell<ServerVersions>,
}

/// The Debian packages whose versions a run reports.
pub const PACKAGES: &[&str] = &[
    "postfix",
    "postfix-mysql",
    "mariadb-server",
    "mariadb-server-core",
    "sasl2-bin",
    "libsasl2-2",
    "libsasl2-modules",
    "libpam-mysql",
    "libssl3",
    "libssl3t64",
    "openssl",
];

/// The versions of what the server runs, as found on it (plain data: the `system.versions`
/// evidence and the report's `target.versions`). Nothing in it changes between two runs on an
/// unchanged server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServerVersions {
    /// /etc/debian_version.
    #[serde(default)]
    pub debian: Option<Found>,
    /// Postfix's `mail_version` (postconf).
    #[serde(default)]
    pub postfix: Option<Found>,
    /// The OpenSSL library: dpkg's libssl3t64/libssl3, else `openssl version`.
    #[serde(default)]
    pub openssl: Option<Found>,
    /// The running database server's `VERSION()` over the maps' login, else the installed
    /// binary's.
    #[serde(default)]
    pub mariadb: Option<Found>,
    /// The installed server: dpkg's mariadb-server-core, else `mariadbd --version` (after an
    /// upgrade, before a restart, it is newer than the running server).
    #[serde(default)]
    pub mariadb_installed: Option<Found>,
    /// dpkg's installed versions, by package (only packages that are installed).
    #[serde(default)]
    pub packages: BTreeMap<String, String>,
    /// Whether dpkg-query could be run (a Debian system).
    #[serde(default)]
    pub dpkg: bool,
    /// What could not be read, and why.
    #[serde(default)]
    pub missing: Vec<NotFound>,
}

impl ServerVersions {
    /// Postfix's `mail_version`, when known.
    pub fn postfix_version(&self) -> Option<&str> {
        self.postfix.as_ref().map(|f| f.version.as_str())
    }

    /// The report's `target.versions`: one line per component, by name.
    pub fn report_map(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                m.insert(k.to_string(), v);
            }
        };
        put("debian", self.debian.as_ref().map(|f| f.version.clone()));
        put("postfix", self.postfix.as_ref().map(|f| f.version.clone()));
        put(
            "openssl",
            self.openssl.as_ref().map(|f| openssl_number(&f.version)),
        );
        put("mariadb", self.mariadb.as_ref().map(|f| f.version.clone()));
        put(
            "cyrus-sasl",
            self.packages
                .get("sasl2-bin")
                .or_else(|| self.packages.get("libsasl2-2"))
                .cloned(),
        );
        put("libpam-mysql", self.packages.get("libpam-mysql").cloned());
        m
    }
}

/// The first of `names` dpkg has installed, with its version.
fn dpkg_found<'a>(
    list: &'a [(String, Option<String>)],
    names: &[&str],
) -> Option<(&'a str, &'a str)> {
    names.iter().find_map(|want| {
        list.iter()
            .find(|(n, _)| n == want)
            .and_then(|(n, v)| Some((n.as_str(), v.as_deref()?)))
    })
}

/// "OpenSSL 3.5.9 30 Sep 2025" -> "3.5.9".
fn openssl_number(v: &str) -> String {
    v.split_whitespace()
        .nth(1)
        .filter(|n| n.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or(v)
        .to_string()
}

impl Facts {
    /// The versions of Postfix, OpenSSL, MariaDB, Cyrus SASL and pam_mysql on this server,
    /// gathered once (read-only commands; the database's over the maps' own login).
    pub async fn versions(&self) -> ServerVersions {
        self.upgrade
            .versions
            .get_or_init(|| async {
                let limit = self.settings.timeouts.command;
                let config_dir = match self.postfix().await {
                    Ok(cfg) => cfg.config_dir.clone(),
                    Err(_) => {
                        crate::probe::postfix::find_config_dir(self.settings.config_dir.as_deref())
                    }
                };
                let (postfix, packages) = tokio::join!(
                    self.postfix_version(&config_dir, limit),
                    versions::packages(PACKAGES, limit),
                );
                // The OpenSSL library and the installed database server: dpkg's record of
                // their packages when dpkg has them installed, else `openssl version` and
                // `mariadbd --version` (the latter a 30 ms process).
                let list = packages.as_ref().map(Vec::as_slice).unwrap_or_default();
                let openssl = match dpkg_found(list, &["libssl3t64", "libssl3"]) {
                    Some((name, version)) => Ok(Found {
                        version: format!("OpenSSL {}", versions::upstream_release_of(version)),
                        source: format!("dpkg: {name} {version}"),
                    }),
                    None => versions::openssl(limit).await,
                };
                let installed = match dpkg_found(list, &["mariadb-server-core"]) {
                    Some((name, version)) => Ok(Found {
                        version: versions::upstream_of(version).to_string(),
                        source: format!("dpkg: {name} {version}"),
                    }),
                    None => versions::mariadb_binary(limit).await,
                };
                let mut v = ServerVersions {
                    debian: versions::debian_version(Path::new("/")),
                    ..ServerVersions::default()
                };
                let keep = |r: Result<Found, NotFound>, missing: &mut Vec<NotFound>| match r {
                    Ok(f) => Some(f),
                    Err(n) => {
                        missing.push(n);
                        None
                    }
                };
                v.postfix = keep(postfix, &mut v.missing);
                v.openssl = keep(openssl, &mut v.missing);
                v.mariadb_installed = keep(installed, &mut v.missing);
                match packages {
                    Ok(list) => {
                        v.dpkg = true;
                        v.packages = list
                            .into_iter()
                            .filter_map(|(n, ver)| ver.map(|ver| (n, ver)))
                            .collect();
                    }
                    Err(why) => v.missing.push(NotFound {
                        what: "Debian packages".into(),
                        why: why.to_string(),
                    }),
                }
                v.mariadb = self.running_database_version().await.or_else(|| {
                    v.mariadb_installed.clone().map(|f| Found {
                        source: format!("{} (the maps' database did not answer)", f.source),
                        ..f
                    })
                });
                v
            })
            .await
            .clone()
    }

    /// Postfix's `mail_version`: from the hardening checks' `postconf` run, which asks for it
    /// too; else its own `postconf -h mail_version`.
    async fn postfix_version(&self, config_dir: &Path, limit: Duration) -> Result<Found, NotFound> {
        if let Ok(values) = self.hardening_postconf().await
            && let Some(v) = values.get("mail_version").filter(|v| !v.is_empty())
        {
            return Ok(Found {
                version: v.to_string(),
                source: "postconf mail_version".into(),
            });
        }
        versions::postfix(config_dir, limit).await
    }

    /// The report's `target.versions`: on the server only (a remote run cannot read them).
    pub async fn report_versions(&self) -> BTreeMap<String, String> {
        if !self.target.local {
            return BTreeMap::new();
        }
        self.versions().await.report_map()
    }

    /// `VERSION()` of the database the maps use, over their own login (the run's connection).
    async fn running_database_version(&self) -> Option<Found> {
        let maps = self.mysql_maps().await.ok()?;
        let db = maps.iter().find_map(|m| m.file.as_ref())?;
        let endpoint = db.first_endpoint()?.clone();
        let session = self
            .mysql
            .session(&db.conn_spec(&endpoint), self.settings.timeouts.database)
            .await
            .ok()?;
        (!session.server_version.is_empty()).then(|| Found {
            version: session.server_version,
            source: format!("SELECT VERSION() as {} on {endpoint}", db.user),
        })
    }
}
