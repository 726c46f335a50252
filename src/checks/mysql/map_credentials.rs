//! T11: each map's user/password/dbname log in to the server its `hosts` names and may SELECT
//! from the tables its query reads (mysql_table(5)); the same login is made once.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{file_list, round_ms, unreadable};
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::lookup::MapSummary;
use crate::probe::mysql::{ConnSpec, DbError, SessionInfo};
use crate::verdict::{Verdict, worst_of};

/// T11: each map's user/password/dbname log in and can SELECT from the tables its query reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {}

/// One table a map reads, and whether its login may SELECT from it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableAccess {
    pub table: String,
    #[serde(default)]
    pub error: Option<DbError>,
}

/// One map file's login on one server.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginProbe {
    pub file: PathBuf,
    pub endpoint: String,
    pub user: String,
    pub dbname: String,
    #[serde(default)]
    pub session: Option<SessionInfo>,
    #[serde(default)]
    pub error: Option<DbError>,
    #[serde(default)]
    pub tables: Vec<TableAccess>,
    /// Why the tables were not tried (no query could be built).
    #[serde(default)]
    pub tables_note: Option<String>,
}

/// What T11 looks at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    pub maps: Vec<MapSummary>,
    #[serde(default)]
    pub logins: Vec<LoginProbe>,
    /// Distinct logins made (one when the maps share their credentials).
    #[serde(default)]
    pub distinct_logins: usize,
    #[serde(default)]
    pub queries_ms: f64,
}

/// ER_TABLEACCESS_DENIED_ERROR, ER_COLUMNACCESS_DENIED_ERROR.
const SELECT_DENIED: &[u16] = &[1142, 1143];
/// ER_NO_SUCH_TABLE.
const NO_SUCH_TABLE: u16 = 1146;

/// T11: the kind.
pub struct MapCredentials;

impl Kind for MapCredentials {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let (_cfg, maps) = super::maps(facts).await?;
        let limit = facts.settings.timeouts.database;
        let mut logins = Vec::new();
        // (endpoint, user, dbname, password) already asked, with the table answers.
        let mut seen: Vec<(ConnSpec, Vec<TableAccess>)> = Vec::new();
        let mut queries_ms = 0.0;
        for m in maps.iter() {
            let Some(f) = &m.file else { continue };
            for (_, e) in &f.hosts {
                let Ok(endpoint) = e else { continue };
                let cs = f.conn_spec(endpoint);
                let session = facts.mysql.session(&cs, limit).await;
                let mut probe = LoginProbe {
                    file: f.path.clone(),
                    endpoint: endpoint.to_string(),
                    user: f.user.clone(),
                    dbname: f.dbname.clone(),
                    session: session.as_ref().ok().cloned(),
                    error: session.as_ref().err().cloned(),
                    tables: Vec::new(),
                    tables_note: f.query.as_ref().err().map(ToString::to_string),
                };
                if session.is_ok() {
                    let known = seen.iter().position(|(s, _)| {
                        s.endpoint == cs.endpoint
                            && s.user == cs.user
                            && s.password == cs.password
                            && s.dbname == cs.dbname
                    });
                    let k = match known {
                        Some(k) => k,
                        None => {
                            seen.push((cs.clone(), Vec::new()));
                            seen.len() - 1
                        }
                    };
                    for t in &f.tables {
                        if let Some(done) = seen[k].1.iter().find(|a| &a.table == t) {
                            probe.tables.push(done.clone());
                            continue;
                        }
                        // The identifier came from the map's own query; quote it as MySQL does.
                        let sql = format!("SELECT 1 FROM `{}` LIMIT 0", t.replace('`', "``"));
                        let r = facts.mysql.query(&cs, &sql, limit).await;
                        if let Ok(a) = &r {
                            queries_ms += a.ms;
                        }
                        let access = TableAccess {
                            table: t.clone(),
                            error: r.err(),
                        };
                        seen[k].1.push(access.clone());
                        probe.tables.push(access);
                    }
                }
                logins.push(probe);
            }
        }
        let distinct = {
            let mut keys: Vec<(String, String, String)> = Vec::new();
            for l in &logins {
                let k = (l.endpoint.clone(), l.user.clone(), l.dbname.clone());
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
            keys.len()
        };
        Ok(Observation {
            maps: super::summaries(&maps),
            logins,
            distinct_logins: distinct,
            queries_ms: round_ms(queries_ms),
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        if let Some(v) = unreadable(&o.maps) {
            return v;
        }
        let mut findings = Vec::new();
        // Group the same failure of the same login across files: one line naming every file.
        let mut denied: BTreeMap<(String, String, String), (Vec<PathBuf>, String)> =
            BTreeMap::new();
        for l in &o.logins {
            match &l.error {
                None => {}
                Some(DbError::AccessDenied { message, .. }) => {
                    let e = denied
                        .entry((l.user.clone(), l.endpoint.clone(), "access".into()))
                        .or_insert_with(|| (Vec::new(), message.clone()));
                    e.0.push(l.file.clone());
                }
                Some(DbError::UnknownDatabase { dbname, .. }) => {
                    let e = denied
                        .entry((l.user.clone(), l.endpoint.clone(), format!("db:{dbname}")))
                        .or_insert_with(|| (Vec::new(), String::new()));
                    e.0.push(l.file.clone());
                }
                Some(
                    DbError::Refused { .. } | DbError::Unreachable { .. } | DbError::Timeout { .. },
                ) => findings.push(Verdict::error(format!(
                    "cannot log in as '{}' from {}: {} (see mysql.server-reachable)",
                    l.user,
                    l.file.display(),
                    l.error
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                ))),
                Some(other) => findings.push(Verdict::error(format!(
                    "cannot log in as '{}' from {}: {other}",
                    l.user,
                    l.file.display()
                ))),
            }
            for t in &l.tables {
                match &t.error {
                    None => {}
                    Some(DbError::Query {
                        code: Some(c),
                        message,
                        ..
                    }) if SELECT_DENIED.contains(c) => findings.push(Verdict::fail(format!(
                        "user '{}' (from {}) cannot SELECT from table {} in {}: {message}",
                        l.user,
                        l.file.display(),
                        t.table,
                        l.dbname
                    ))),
                    Some(DbError::Query {
                        code: Some(NO_SUCH_TABLE),
                        ..
                    }) => findings.push(Verdict::warn(format!(
                        "{} reads table {}, which does not exist in {} (mysql.postfixadmin-tables and mysql.maps-answer report it)",
                        l.file.display(),
                        t.table,
                        l.dbname
                    ))),
                    Some(e) => findings.push(Verdict::error(format!(
                        "cannot tell whether '{}' may read {}: {e}",
                        l.user, t.table
                    ))),
                }
            }
            if let Some(n) = &l.tables_note {
                findings.push(Verdict::fail(format!(
                    "{}: {n}; Postfix cannot open this map",
                    l.file.display()
                )));
            }
        }
        for ((user, endpoint, kind), (files, message)) in &denied {
            let files = file_list(files);
            if let Some(db) = kind.strip_prefix("db:") {
                findings.push(Verdict::fail(format!(
                    "database '{db}' (dbname in {files}) does not exist on {endpoint}"
                )));
            } else {
                findings.push(
                    Verdict::fail(format!(
                        "access denied for user '{user}' on {endpoint} with the password in {files}: {message}"
                    ))
                    .with_fix(format!(
                        "Make the MySQL account match the map files: ALTER USER '{user}'@'<host>' IDENTIFIED BY '<the password in the map files>'; GRANT SELECT ON <dbname>.* TO '{user}'@'<host>'; or correct user/password in {files}"
                    )),
                );
            }
        }
        let mut users: Vec<String> = o
            .logins
            .iter()
            .map(|l| format!("{}@{} on {}", l.user, l.dbname, l.endpoint))
            .collect();
        users.sort();
        users.dedup();
        let mut tables: Vec<String> = o
            .logins
            .iter()
            .flat_map(|l| l.tables.iter().map(|t| t.table.clone()))
            .collect();
        tables.sort();
        tables.dedup();
        let files = o.logins.iter().map(|l| l.file.clone()).collect::<Vec<_>>();
        let mut files_dedup = files.clone();
        files_dedup.dedup();
        let pass = format!(
            "{} map file{} log in as {} ({} login{}) and can read {}",
            files_dedup.len(),
            if files_dedup.len() == 1 { "" } else { "s" },
            users.join(", "),
            o.distinct_logins,
            if o.distinct_logins == 1 { "" } else { "s" },
            if tables.is_empty() {
                "their tables".to_string()
            } else {
                tables.join(", ")
            }
        );
        if o.logins.is_empty() {
            findings.push(Verdict::error(
                "no map file that main.cf names could be read, so no login could be tried",
            ));
        }
        worst_of(findings, &pass)
    }
}
