//! T10: the database server's system tables were upgraded to the running MariaDB: the version
//! mariadb-upgrade records in the data directory (`mariadb_upgrade_info`) has the server's
//! major.minor. This is the test `mariadb-upgrade --check-if-upgrade-is-needed` makes, done
//! read-only (that command opens the file read-write, creating it when it is missing, and writes
//! its login to a file in /tmp).

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{AS_ROOT, Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::ProbeError;
use crate::probe::versions::major_minor;
use crate::verdict::Verdict;

/// Where the data directory is when the server cannot be asked (Debian's default).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub default_datadir: PathBuf,
    /// The files mariadb-upgrade writes, newest name first.
    pub info_files: Vec<String>,
}

/// What the check saw.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    /// The running server's version (over the maps' login), if it answered.
    #[serde(default)]
    pub server_version: Option<String>,
    /// The installed server binary's version.
    #[serde(default)]
    pub installed_version: Option<String>,
    pub datadir: PathBuf,
    /// "@@datadir" or "default".
    pub datadir_from: String,
    /// The info file read, and what it says.
    #[serde(default)]
    pub info_file: Option<PathBuf>,
    #[serde(default)]
    pub info_version: Option<String>,
    /// Why no info file could be read.
    #[serde(default)]
    pub info_problem: Option<String>,
    #[serde(default)]
    pub info_needs_root: bool,
}

/// The kind.
pub struct UpgradePending;

impl Kind for UpgradePending {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let versions = facts.versions().await;
        let running = versions
            .mariadb
            .as_ref()
            .filter(|f| f.source.starts_with("SELECT"))
            .map(|f| f.version.clone());
        let installed = versions
            .mariadb_installed
            .as_ref()
            .map(|f| f.version.clone());
        if running.is_none() && installed.is_none() {
            return Err(Unobserved::NotApplicable {
                reason: "no MariaDB here: the maps' database did not answer and no mariadbd is installed".into(),
            });
        }
        let (datadir, from) = match datadir(facts).await {
            Some(d) => (d, "@@datadir"),
            None => (spec.default_datadir.clone(), "default"),
        };
        let mut o = Observation {
            server_version: running,
            installed_version: installed,
            datadir: datadir.clone(),
            datadir_from: from.into(),
            info_file: None,
            info_version: None,
            info_problem: None,
            info_needs_root: false,
        };
        let mut missing = Vec::new();
        for name in &spec.info_files {
            let p = datadir.join(name);
            match std::fs::read_to_string(&p) {
                Ok(t) => {
                    o.info_version = Some(t.lines().next().unwrap_or("").trim().to_string());
                    o.info_file = Some(p);
                    break;
                }
                Err(e) => match ProbeError::from_io(&p, &e) {
                    ProbeError::NotFound { .. } => missing.push(p.display().to_string()),
                    e => {
                        o.info_needs_root = matches!(e, ProbeError::PermissionDenied { .. });
                        o.info_problem = Some(e.to_string());
                        break;
                    }
                },
            }
        }
        if o.info_file.is_none() && o.info_problem.is_none() {
            o.info_problem = Some(format!("{} do not exist", missing.join(" and ")));
        }
        Ok(o)
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let (server, which) = match (&o.server_version, &o.installed_version) {
            (Some(s), _) => (s.as_str(), "the running server"),
            (None, Some(i)) => (i.as_str(), "the installed server"),
            (None, None) => return Verdict::error("no MariaDB version to compare with"),
        };
        let fix = "mariadb-upgrade (Debian's /etc/mysql/debian-start runs it each time mariadb.service starts)";
        let Some(file) = &o.info_file else {
            if o.info_needs_root {
                return Verdict::error(o.info_problem.clone().unwrap_or_default())
                    .with_fix(AS_ROOT);
            }
            return Verdict::warn(format!(
                "no {} in {} ({} datadir): mariadb-upgrade has never recorded an upgrade of the system tables for {which} ({server})",
                spec.info_files.join(" or "),
                o.datadir.display(),
                o.datadir_from
            ))
            .with_fix(fix);
        };
        let recorded = o.info_version.as_deref().unwrap_or("");
        if major_minor(recorded) != major_minor(server) {
            let says = if recorded.trim().is_empty() {
                "records no version".to_string()
            } else {
                format!("says {recorded}")
            };
            return Verdict::warn(format!(
                "{} {says}, {which} is {server}: the system tables were not upgraded to MariaDB {} (mariadb-upgrade --check-if-upgrade-is-needed would say so)",
                file.display(),
                major_minor(server)
            ))
            .with_fix(fix);
        }
        Verdict::pass(format!(
            "{} says {recorded}: the system tables were upgraded for {which} ({server})",
            file.display()
        ))
    }
}

/// `SELECT @@datadir` over the maps' login.
async fn datadir(facts: &Facts) -> Option<PathBuf> {
    let maps = facts.mysql_maps().await.ok()?;
    let db = maps.iter().find_map(|m| m.file.as_ref())?;
    let endpoint = db.first_endpoint()?.clone();
    let a = facts
        .mysql
        .query(
            &db.conn_spec(&endpoint),
            "SELECT @@datadir",
            facts.settings.timeouts.database,
        )
        .await
        .ok()?;
    let d = a.rows.first()?.first()?.clone()?;
    (!d.is_empty()).then(|| PathBuf::from(d))
}
