//! The versions of Postfix, OpenSSL, MariaDB, Cyrus SASL and pam_mysql the server runs, so that
//! a run records what it checked and a `--baseline` diff shows an upgrade (postconf(5)
//! mail_version, openssl-version(1), dpkg-query(1)).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::facts::upgrade::ServerVersions;
use crate::probe::versions::major_minor;
use crate::verdict::{Verdict, worst_of};

/// No parameters: the components are the tutorial's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {}

/// What the versions check saw.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub versions: ServerVersions,
}

/// The kind.
pub struct Versions;

impl Kind for Versions {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        Ok(Observation {
            versions: facts.versions().await,
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let v = &o.versions;
        let pkg = |n: &str| v.packages.get(n).map(String::as_str);
        let mut parts = Vec::new();
        if let Some(p) = &v.postfix {
            parts.push(format!("Postfix {}", p.version));
        }
        if let Some(s) = &v.openssl {
            parts.push(
                s.version
                    .split(" (")
                    .next()
                    .unwrap_or(&s.version)
                    .to_string(),
            );
        }
        if let Some(m) = &v.mariadb {
            parts.push(format!("MariaDB {}", m.version));
        }
        match (pkg("sasl2-bin"), pkg("libsasl2-2")) {
            (Some(b), _) => parts.push(format!("Cyrus SASL {b} (sasl2-bin)")),
            (None, Some(l)) => parts.push(format!("Cyrus SASL {l} (libsasl2-2)")),
            _ => {}
        }
        if let Some(p) = pkg("libpam-mysql") {
            parts.push(format!("libpam-mysql {p}"));
        }
        if parts.is_empty() {
            let why: Vec<String> = v
                .missing
                .iter()
                .map(|n| format!("{}: {}", n.what, n.why))
                .collect();
            return Verdict::error(format!("no version could be read ({})", why.join("; ")));
        }
        let on = v
            .debian
            .as_ref()
            .map(|d| format!(" on Debian {}", d.version))
            .unwrap_or_default();
        let mut findings = Vec::new();
        // After an upgrade, before a restart: the running server is the old one.
        if let (Some(running), Some(installed)) = (&v.mariadb, &v.mariadb_installed)
            && running.source.starts_with("SELECT")
            && major_minor(&running.version) != major_minor(&installed.version)
        {
            findings.push(
                Verdict::warn(format!(
                    "the database server that answers is MariaDB {} but {} says {} is installed: it was upgraded and not restarted",
                    running.version, installed.source, installed.version
                ))
                .with_fix("restart MariaDB (systemctl restart mariadb); its start runs mariadb-upgrade (/etc/mysql/debian-start)"),
            );
        }
        let not_found: Vec<String> = v
            .missing
            .iter()
            .filter(|n| n.what != "MariaDB" || v.mariadb.is_none())
            .map(|n| format!("{}: {}", n.what, n.why))
            .collect();
        let unknown = if not_found.is_empty() {
            String::new()
        } else {
            format!(" (not found: {})", not_found.join("; "))
        };
        worst_of(findings, &format!("{}{on}{unknown}", parts.join(", ")))
    }
}
