//! T6: alias_maps names the tutorial's alias table and its database is not older than the
//! source (postconf(5) alias_maps, alias_database; newaliases(1)).

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Param;
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::ProbeError;
use crate::probe::maps::data_file;
use crate::verdict::{Verdict, worst_of};

/// T6: the alias table the tutorial uses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// e.g. "hash:/etc/aliases".
    pub map: String,
}

/// mtime of one file, or why it could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Mtime {
    pub path: PathBuf,
    /// Nanoseconds since the epoch.
    #[serde(default)]
    pub mtime_ns: Option<i64>,
    #[serde(default)]
    pub problem: Option<String>,
    #[serde(default)]
    pub missing: bool,
    #[serde(default)]
    pub needs_root: bool,
}

impl Mtime {
    pub fn read(path: &Path) -> Mtime {
        let md = std::fs::metadata(path);
        match md.and_then(|m| m.modified()) {
            Ok(t) => Mtime {
                path: path.to_path_buf(),
                mtime_ns: t
                    .duration_since(UNIX_EPOCH)
                    .ok()
                    .and_then(|d| i64::try_from(d.as_nanos()).ok()),
                ..Mtime::default()
            },
            Err(e) => {
                let e = ProbeError::from_io(path, &e);
                Mtime {
                    path: path.to_path_buf(),
                    mtime_ns: None,
                    missing: matches!(e, ProbeError::NotFound { .. }),
                    needs_root: matches!(e, ProbeError::PermissionDenied { .. }),
                    problem: Some(e.to_string()),
                }
            }
        }
    }

    fn when(&self) -> String {
        self.mtime_ns
            .and_then(|ns| u64::try_from(ns).ok())
            .map(|ns| crate::clock::rfc3339(UNIX_EPOCH + Duration::from_nanos(ns)))
            .unwrap_or_else(|| "?".into())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub alias_maps: Param,
    pub alias_database: Param,
    pub source: Mtime,
    pub database: Mtime,
}

/// T6: the kind.
pub struct AliasesDbCurrent;

impl Kind for AliasesDbCurrent {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let (kind, path) = spec
            .map
            .split_once(':')
            .unwrap_or(("hash", spec.map.as_str()));
        let source = Path::new(path);
        Ok(Observation {
            alias_maps: Param::read(&cfg.main, "alias_maps"),
            alias_database: Param::read(&cfg.main, "alias_database"),
            source: Mtime::read(source),
            database: Mtime::read(&data_file(kind, source)),
        })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let src = o.source.path.display();
        let db = o.database.path.display();
        if !o.alias_maps.list().iter().any(|m| m == &spec.map) {
            return Verdict::fail(format!(
                "{} does not name {}: Postfix does not read the aliases the tutorial relies on",
                o.alias_maps.shown(),
                spec.map
            ))
            .with_fix(format!(
                "postconf -e 'alias_maps = {0}' 'alias_database = {0}' && newaliases && postfix reload",
                spec.map
            ));
        }
        for f in [&o.source, &o.database] {
            if f.needs_root || (f.problem.is_some() && !f.missing) {
                return Verdict::error(f.problem.clone().unwrap_or_default());
            }
        }
        if o.source.missing {
            return Verdict::fail(format!(
                "{src} does not exist, but alias_maps names {}",
                spec.map
            ))
            .with_fix("create /etc/aliases (at least `postmaster: root`), then run newaliases");
        }
        if o.database.missing {
            return Verdict::fail(format!(
                "{db} does not exist: Postfix cannot look up {}; run newaliases",
                spec.map
            ))
            .with_fix("newaliases");
        }
        let mut findings = Vec::new();
        if let (Some(s), Some(d)) = (o.source.mtime_ns, o.database.mtime_ns)
            && d < s
        {
            findings.push(
                Verdict::fail(format!(
                    "{src} (modified {}) is newer than {db} (built {}): edits since the last newaliases are not in effect; run newaliases",
                    o.source.when(),
                    o.database.when()
                ))
                .with_fix("newaliases"),
            );
        }
        if !o.alias_database.list().iter().any(|m| m == &spec.map) {
            findings.push(Verdict::warn(format!(
                "{}: newaliases rebuilds that, not {}",
                o.alias_database.shown(),
                spec.map
            )));
        }
        worst_of(
            findings,
            &format!(
                "{}; {db} (built {}) is not older than {src}",
                o.alias_maps.shown(),
                o.database.when()
            ),
        )
    }
}
