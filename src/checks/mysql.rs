//! Checks of the database behind Postfix's `mysql:` maps (T10-T12, T17): the server named by
//! `hosts` answers, the maps' credentials log in and read their tables, the Postfix Admin
//! tables exist, and the maps answer for the account the way Postfix asks them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::context::Ctx;
use crate::probe::ProbeError;
use crate::probe::maps::MysqlMap;
use crate::probe::mysql::{
    DbError, Endpoint, MapDb, SessionInfo, Suppressed, escape_sql, expand_query, expand_result,
    socket_in_chroot,
};
use crate::probe::postfix::{PostfixConfig, map_references};
use crate::verdict::{Verdict, worst_of};

// ------------------------------------------------------------------ the maps main.cf names

/// One `mysql:` map file named in main.cf, as recorded in evidence and fixtures (never the
/// password).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapSummary {
    pub path: PathBuf,
    /// main.cf parameters that name it.
    #[serde(default)]
    pub referenced_by: Vec<String>,
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub dbname: String,
    /// Why it could not be read or used.
    #[serde(default)]
    pub problem: Option<String>,
    #[serde(default)]
    pub needs_root: bool,
    /// The file does not exist.
    #[serde(default)]
    pub missing: bool,
}

/// A map file with its parse (at run time only: it holds the password).
struct Map {
    summary: MapSummary,
    file: Option<MapDb>,
}

impl Map {
    fn name(&self) -> String {
        self.summary.path.display().to_string()
    }
}

/// Every `mysql:` map named in main.cf (any parameter), read, sorted by path.
fn load_maps(cfg: &PostfixConfig) -> Vec<Map> {
    let mut maps: Vec<Map> = Vec::new();
    for (param, setting) in &cfg.main.settings {
        let value = cfg.main.expand(&setting.value, 0);
        for (kind, path) in map_references(&value) {
            if kind != "mysql" {
                continue;
            }
            match maps.iter_mut().find(|m| m.summary.path == path) {
                Some(m) => m.summary.referenced_by.push(param.clone()),
                None => maps.push(Map {
                    summary: MapSummary {
                        path,
                        referenced_by: vec![param.clone()],
                        ..MapSummary::default()
                    },
                    file: None,
                }),
            }
        }
    }
    for m in &mut maps {
        match MysqlMap::load(&m.summary.path) {
            Ok(map) => {
                let f = MapDb::from_map(&map);
                m.summary.hosts = f.hosts.iter().map(|(h, _)| h.clone()).collect();
                m.summary.user = f.user.clone();
                m.summary.dbname = f.dbname.clone();
                let bad: Vec<String> = f
                    .hosts
                    .iter()
                    .filter_map(|(_, e)| e.as_ref().err().cloned())
                    .collect();
                if !bad.is_empty() {
                    m.summary.problem = Some(format!("hosts: {}", bad.join("; ")));
                }
                m.file = Some(f);
            }
            Err(e) => {
                m.summary.needs_root = matches!(e, ProbeError::PermissionDenied { .. });
                m.summary.missing = matches!(e, ProbeError::NotFound { .. });
                m.summary.problem = Some(e.to_string());
            }
        }
    }
    maps.sort_by(|a, b| a.summary.path.cmp(&b.summary.path));
    maps
}

/// The maps, or the verdict that says why there are none to look at.
async fn maps_or_verdict(ctx: &Ctx) -> Result<(std::sync::Arc<PostfixConfig>, Vec<Map>), Verdict> {
    let cfg = ctx
        .postfix()
        .await
        .map_err(|e| Verdict::error(e.to_string()))?;
    let maps = load_maps(&cfg);
    Ok((cfg, maps))
}

/// The verdict for maps that could not be read, if any: root is needed (error), or none
/// names a database at all.
fn unreadable(maps: &[MapSummary]) -> Option<Verdict> {
    if maps.is_empty() {
        return Some(Verdict::skip(
            "main.cf names no mysql: map, so there is no database to check (see T15)",
        ));
    }
    let needs_root: Vec<String> = maps
        .iter()
        .filter(|m| m.needs_root)
        .map(|m| m.path.display().to_string())
        .collect();
    if !needs_root.is_empty() {
        return Some(Verdict::error(format!(
            "needs root to read {} (the database settings are in them)",
            needs_root.join(", ")
        )));
    }
    None
}

fn round_ms(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

// ------------------------------------------------------------------ T10 server reachable

/// T10: the server(s) named by `hosts =` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerReachableSpec {
    /// master.cf services (name/type) that look up the maps; when one runs chrooted, a UNIX
    /// socket must also exist inside the chroot.
    #[serde(default)]
    pub chroot_services: Vec<String>,
}

/// One server from `hosts`, and how it answered.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointProbe {
    pub endpoint: String,
    #[serde(default)]
    pub unix: bool,
    /// Map files whose `hosts` name it.
    pub files: Vec<PathBuf>,
    #[serde(default)]
    pub session: Option<SessionInfo>,
    #[serde(default)]
    pub error: Option<DbError>,
    /// For a UNIX socket: chrooted services that look up maps, and whether the socket exists
    /// at its path inside the chroot.
    #[serde(default)]
    pub chrooted_services: Vec<String>,
    #[serde(default)]
    pub socket_in_chroot: Option<PathBuf>,
    #[serde(default)]
    pub socket_in_chroot_exists: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerReachableObservation {
    pub maps: Vec<MapSummary>,
    #[serde(default)]
    pub endpoints: Vec<EndpointProbe>,
}

pub async fn server_reachable(spec: &ServerReachableSpec, ctx: &Ctx) -> Verdict {
    let (cfg, maps) = match maps_or_verdict(ctx).await {
        Ok(x) => x,
        Err(v) => return v,
    };
    let limit = ctx.settings.timeouts.database;
    // Each endpoint once, asked with the first map (by path) that names it.
    let mut endpoints: Vec<(Endpoint, Vec<PathBuf>, usize)> = Vec::new();
    for (i, m) in maps.iter().enumerate() {
        let Some(f) = &m.file else { continue };
        for (_, e) in &f.hosts {
            let Ok(e) = e else { continue };
            match endpoints.iter_mut().find(|(x, _, _)| x == e) {
                Some((_, files, _)) => files.push(m.summary.path.clone()),
                None => endpoints.push((e.clone(), vec![m.summary.path.clone()], i)),
            }
        }
    }
    let chrooted: Vec<String> = spec
        .chroot_services
        .iter()
        .filter(|name| {
            cfg.master
                .services
                .iter()
                .any(|s| &&s.name == name && s.chroot == "y")
        })
        .cloned()
        .collect();
    let queue_dir = PathBuf::from(cfg.get("queue_directory"));
    let mut probes = Vec::new();
    for (endpoint, files, i) in endpoints {
        let Some(f) = &maps[i].file else { continue };
        let session = ctx.mysql.session(&f.conn_spec(&endpoint), limit).await;
        let (unix, in_chroot) = match &endpoint {
            Endpoint::Unix { path } => (true, Some(socket_in_chroot(&queue_dir, path))),
            Endpoint::Tcp { .. } => (false, None),
        };
        let exists = in_chroot.as_deref().is_some_and(Path::exists);
        probes.push(EndpointProbe {
            endpoint: endpoint.to_string(),
            unix,
            files,
            session: session.as_ref().ok().cloned(),
            error: session.err(),
            chrooted_services: if unix { chrooted.clone() } else { Vec::new() },
            socket_in_chroot: in_chroot,
            socket_in_chroot_exists: exists,
        });
    }
    judge_server_reachable(
        spec,
        &ServerReachableObservation {
            maps: maps.into_iter().map(|m| m.summary).collect(),
            endpoints: probes,
        },
    )
}

/// Names the first file in full and counts the rest (the evidence lists them all).
fn file_list(files: &[PathBuf]) -> String {
    match files {
        [] => "no map file".to_string(),
        [one] => one.display().to_string(),
        [first, rest @ ..] => format!(
            "{} and {} other map file{}",
            first.display(),
            rest.len(),
            if rest.len() == 1 { "" } else { "s" }
        ),
    }
}

pub fn judge_server_reachable(
    _spec: &ServerReachableSpec,
    o: &ServerReachableObservation,
) -> Verdict {
    let evidence = json!({ "maps": o.maps, "endpoints": o.endpoints });
    if let Some(v) = unreadable(&o.maps) {
        return v.with_evidence(evidence);
    }
    let mut findings = Vec::new();
    for m in &o.maps {
        if let Some(p) = &m.problem
            && !m.missing
        {
            findings.push(Verdict::fail(format!("{}: {p}", m.path.display())));
        }
    }
    if o.endpoints.is_empty() {
        findings.push(Verdict::error(
            "no map file that main.cf names could be read, so no database host is known",
        ));
        return worst_of(findings, "").with_evidence(evidence);
    }
    let answered: Vec<&EndpointProbe> = o
        .endpoints
        .iter()
        .filter(|e| e.session.is_some() || e.error.as_ref().is_some_and(DbError::server_answered))
        .collect();
    let several = o.endpoints.len() > 1;
    for e in &o.endpoints {
        let files = file_list(&e.files);
        match &e.error {
            None => {}
            Some(err) if err.server_answered() => {}
            Some(DbError::Refused { .. }) | Some(DbError::Unreachable { .. }) => {
                let what = match e.error.as_ref() {
                    Some(DbError::Unreachable { reason, .. }) => {
                        format!("is unreachable ({reason})")
                    }
                    _ if e.unix => "has no server listening on it (refused or no socket)".into(),
                    _ => "refused the connection".into(),
                };
                let msg = format!(
                    "{} {what}: the MySQL server named by hosts in {files} is down or listens elsewhere",
                    e.endpoint
                );
                // With another host answering, Postfix fails over: a weakness, not an outage.
                findings.push(if several && !answered.is_empty() {
                    Verdict::warn(msg)
                } else {
                    Verdict::fail(msg)
                });
            }
            Some(err) => findings.push(Verdict::error(format!("{err} (hosts in {files})"))),
        }
        if e.unix
            && !e.chrooted_services.is_empty()
            && !e.socket_in_chroot_exists
            && let Some(p) = &e.socket_in_chroot
        {
            findings.push(Verdict::warn(format!(
                "{} is a UNIX socket, but {} run chrooted (master.cf) and {} does not exist, so they cannot reach it; use hosts = 127.0.0.1 as the tutorial does",
                e.endpoint,
                e.chrooted_services.join(", "),
                p.display()
            )));
        }
    }
    let parts: Vec<String> = answered
        .iter()
        .map(|e| match &e.session {
            Some(s) => format!(
                "{} answers ({}, connected in {} ms)",
                e.endpoint,
                s.server_version,
                round_ms(s.connect_ms)
            ),
            None => format!(
                "{} answers (it refused the login, which mysql.map-credentials reports)",
                e.endpoint
            ),
        })
        .collect();
    let pass = format!(
        "{}; named by hosts in {} map file{}",
        parts.join("; "),
        o.maps.len(),
        if o.maps.len() == 1 { "" } else { "s" }
    );
    worst_of(findings, &pass).with_evidence(evidence)
}

// ------------------------------------------------------------------ T11 credentials

/// T11: each map's user/password/dbname log in and can SELECT from the tables its query reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapCredentialsSpec {}

/// One table a map reads, and whether its login may SELECT from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableAccess {
    pub table: String,
    #[serde(default)]
    pub error: Option<DbError>,
}

/// One map file's login on one server.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapCredentialsObservation {
    pub maps: Vec<MapSummary>,
    #[serde(default)]
    pub logins: Vec<LoginProbe>,
    /// Distinct logins made (one when the maps share their credentials).
    #[serde(default)]
    pub distinct_logins: usize,
    #[serde(default)]
    pub queries_ms: f64,
}

pub async fn map_credentials(spec: &MapCredentialsSpec, ctx: &Ctx) -> Verdict {
    let (_cfg, maps) = match maps_or_verdict(ctx).await {
        Ok(x) => x,
        Err(v) => return v,
    };
    let limit = ctx.settings.timeouts.database;
    let mut logins = Vec::new();
    // (endpoint, user, dbname, password) already asked, with the table answers.
    let mut seen: Vec<(crate::probe::mysql::ConnSpec, Vec<TableAccess>)> = Vec::new();
    let mut queries_ms = 0.0;
    for m in &maps {
        let Some(f) = &m.file else { continue };
        for (_, e) in &f.hosts {
            let Ok(endpoint) = e else { continue };
            let cs = f.conn_spec(endpoint);
            let session = ctx.mysql.session(&cs, limit).await;
            let mut probe = LoginProbe {
                file: f.path.clone(),
                endpoint: endpoint.to_string(),
                user: f.user.clone(),
                dbname: f.dbname.clone(),
                session: session.as_ref().ok().cloned(),
                error: session.as_ref().err().cloned(),
                tables: Vec::new(),
                tables_note: f.query.as_ref().err().cloned(),
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
                    let r = ctx.mysql.query(&cs, &sql, limit).await;
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
    judge_map_credentials(
        spec,
        &MapCredentialsObservation {
            maps: maps.into_iter().map(|m| m.summary).collect(),
            logins,
            distinct_logins: distinct,
            queries_ms: round_ms(queries_ms),
        },
    )
}

/// ER_TABLEACCESS_DENIED_ERROR, ER_COLUMNACCESS_DENIED_ERROR.
const SELECT_DENIED: &[u16] = &[1142, 1143];
/// ER_NO_SUCH_TABLE.
const NO_SUCH_TABLE: u16 = 1146;

pub fn judge_map_credentials(_spec: &MapCredentialsSpec, o: &MapCredentialsObservation) -> Verdict {
    let evidence = json!({
        "maps": o.maps,
        "logins": o.logins,
        "distinct_logins": o.distinct_logins,
        "queries_ms": o.queries_ms,
    });
    if let Some(v) = unreadable(&o.maps) {
        return v.with_evidence(evidence);
    }
    let mut findings = Vec::new();
    // Group the same failure of the same login across files: one line naming every file.
    let mut denied: BTreeMap<(String, String, String), (Vec<PathBuf>, String)> = BTreeMap::new();
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
    worst_of(findings, &pass).with_evidence(evidence)
}

// ------------------------------------------------------------------ T12 Postfix Admin tables

/// T12: the tables and columns the maps and pam_mysql use exist; password schemes by count.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostfixadminTablesSpec {
    /// Table name → the columns it must have.
    pub tables: BTreeMap<String, Vec<String>>,
    /// The database to look in is the one this main.cf parameter's (first) mysql map uses.
    pub via_param: String,
    /// Where the mailbox passwords are (for the scheme count).
    pub password_table: String,
    pub password_column: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostfixadminTablesObservation {
    pub maps: Vec<MapSummary>,
    /// The map file whose login was used.
    #[serde(default)]
    pub via_file: Option<PathBuf>,
    #[serde(default)]
    pub endpoint: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub database: String,
    /// Table → the columns that exist (only the tables asked about).
    #[serde(default)]
    pub columns: BTreeMap<String, Vec<String>>,
    /// The login has column-level grants, so information_schema may hide columns from it.
    #[serde(default)]
    pub column_grants: bool,
    /// Password scheme → number of mailboxes (never a hash).
    #[serde(default)]
    pub password_schemes: BTreeMap<String, u64>,
    #[serde(default)]
    pub schemes_error: Option<String>,
    #[serde(default)]
    pub error: Option<DbError>,
    #[serde(default)]
    pub queries_ms: f64,
}

/// The password scheme of each mailbox, classified by the server so that no hash ever
/// leaves it. `{col}` and `{table}` are replaced with quoted identifiers.
const SCHEME_SQL: &str = "SELECT CASE \
  WHEN {col} IS NULL OR {col} = '' THEN 'empty' \
  WHEN LEFT({col}, 1) = BINARY '{' THEN 'scheme-prefixed ({SCHEME})' \
  WHEN LEFT({col}, 3) = BINARY '$1$' THEN 'md5-crypt' \
  WHEN LEFT({col}, 3) = BINARY '$5$' THEN 'sha256-crypt' \
  WHEN LEFT({col}, 3) = BINARY '$6$' THEN 'sha512-crypt' \
  WHEN LEFT({col}, 3) = BINARY '$y$' THEN 'yescrypt' \
  WHEN LEFT({col}, 4) = BINARY '$gy$' THEN 'gost-yescrypt' \
  WHEN LEFT({col}, 3) = BINARY '$7$' THEN 'scrypt' \
  WHEN LEFT({col}, 2) = BINARY '$2' THEN 'bcrypt' \
  WHEN LEFT({col}, 7) = BINARY '$argon2' THEN 'argon2' \
  WHEN CHAR_LENGTH({col}) = 13 AND {col} REGEXP BINARY '^[./0-9A-Za-z]{13}$' THEN 'des-crypt' \
  WHEN CHAR_LENGTH({col}) = 41 AND LEFT({col}, 1) = BINARY '*' THEN 'mysql-password' \
  WHEN CHAR_LENGTH({col}) = 32 AND {col} REGEXP BINARY '^[0-9a-f]{32}$' THEN 'hex-md5' \
  WHEN LEFT({col}, 1) = BINARY '$' THEN 'other-crypt' \
  ELSE 'plain-or-unknown' END AS scheme, COUNT(*) FROM {table} GROUP BY scheme ORDER BY scheme";

fn quote_ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

/// The map file (and its first endpoint) for `param`: its first mysql map, else the first map.
fn map_for_param<'a>(cfg: &PostfixConfig, maps: &'a [Map], param: &str) -> Option<&'a Map> {
    let wanted: Vec<PathBuf> = map_references(&cfg.get(param))
        .into_iter()
        .filter(|(k, _)| k == "mysql")
        .map(|(_, p)| p)
        .collect();
    wanted
        .iter()
        .find_map(|p| {
            maps.iter()
                .find(|m| &m.summary.path == p && m.file.is_some())
        })
        .or_else(|| maps.iter().find(|m| m.file.is_some()))
}

pub async fn postfixadmin_tables(spec: &PostfixadminTablesSpec, ctx: &Ctx) -> Verdict {
    let (cfg, maps) = match maps_or_verdict(ctx).await {
        Ok(x) => x,
        Err(v) => return v,
    };
    let limit = ctx.settings.timeouts.database;
    let mut o = PostfixadminTablesObservation {
        maps: maps.iter().map(|m| m.summary.clone()).collect(),
        via_file: None,
        endpoint: String::new(),
        user: String::new(),
        database: String::new(),
        columns: BTreeMap::new(),
        column_grants: false,
        password_schemes: BTreeMap::new(),
        schemes_error: None,
        error: None,
        queries_ms: 0.0,
    };
    let target = map_for_param(&cfg, &maps, &spec.via_param)
        .and_then(|m| m.file.as_ref())
        .and_then(|f| f.first_endpoint().map(|e| (f, e.clone())));
    if let Some((f, endpoint)) = target {
        let cs = f.conn_spec(&endpoint);
        o.via_file = Some(f.path.clone());
        o.endpoint = endpoint.to_string();
        o.user = f.user.clone();
        o.database = f.dbname.clone();
        let session = ctx.mysql.session(&cs, limit).await;
        let nbe = session
            .as_ref()
            .map(|s| s.no_backslash_escapes)
            .unwrap_or(false);
        let names: Vec<String> = spec
            .tables
            .keys()
            .map(|t| format!("'{}'", escape_sql(t, nbe)))
            .collect();
        let sql = format!(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({}) ORDER BY TABLE_NAME, ORDINAL_POSITION",
            names.join(", ")
        );
        match ctx.mysql.query(&cs, &sql, limit).await {
            Ok(a) => {
                o.queries_ms += a.ms;
                for row in a.rows {
                    if let [Some(t), Some(c), ..] = row.as_slice() {
                        o.columns.entry(t.clone()).or_default().push(c.clone());
                    }
                }
            }
            Err(e) => o.error = Some(e),
        }
        let missing_any = spec.tables.iter().any(|(t, cols)| {
            o.columns.get(t).is_none_or(|have| {
                cols.iter()
                    .any(|c| !have.iter().any(|h| h.eq_ignore_ascii_case(c)))
            })
        });
        if o.error.is_none() && missing_any {
            let sql = "SELECT COUNT(*) FROM information_schema.COLUMN_PRIVILEGES WHERE TABLE_SCHEMA = DATABASE()";
            if let Ok(a) = ctx.mysql.query(&cs, sql, limit).await {
                o.queries_ms += a.ms;
                o.column_grants = a
                    .rows
                    .first()
                    .and_then(|r| r.first().cloned().flatten())
                    .and_then(|n| n.parse::<u64>().ok())
                    .is_some_and(|n| n > 0);
            }
        }
        if o.error.is_none() && o.columns.contains_key(&spec.password_table) {
            let sql = SCHEME_SQL
                .replace("{col}", &quote_ident(&spec.password_column))
                .replace("{table}", &quote_ident(&spec.password_table));
            match ctx.mysql.query(&cs, &sql, limit).await {
                Ok(a) => {
                    o.queries_ms += a.ms;
                    for row in a.rows {
                        if let [Some(s), Some(n), ..] = row.as_slice() {
                            o.password_schemes
                                .insert(s.clone(), n.parse().unwrap_or_default());
                        }
                    }
                }
                Err(e) => o.schemes_error = Some(e.to_string()),
            }
        }
    }
    o.queries_ms = round_ms(o.queries_ms);
    judge_postfixadmin_tables(spec, &o)
}

/// Schemes that pam_mysql's `crypt=1` (crypt(3)) cannot check.
fn not_crypt3(scheme: &str) -> bool {
    matches!(
        scheme,
        "plain-or-unknown" | "mysql-password" | "hex-md5" | "empty"
    ) || scheme.starts_with("scheme-prefixed")
}

pub fn judge_postfixadmin_tables(
    spec: &PostfixadminTablesSpec,
    o: &PostfixadminTablesObservation,
) -> Verdict {
    let evidence = json!({
        "via_file": o.via_file,
        "endpoint": o.endpoint,
        "user": o.user,
        "database": o.database,
        "columns": o.columns,
        "column_grants": o.column_grants,
        "password_schemes": o.password_schemes,
        "schemes_error": o.schemes_error,
        "queries_ms": o.queries_ms,
    });
    if let Some(v) = unreadable(&o.maps) {
        return v.with_evidence(evidence);
    }
    let Some(file) = &o.via_file else {
        return Verdict::error("no readable mysql map file names the database")
            .with_evidence(evidence);
    };
    if let Some(e) = &o.error {
        return Verdict::error(format!(
            "cannot list the tables of '{}' as '{}' (from {}): {e}",
            o.database,
            o.user,
            file.display()
        ))
        .with_evidence(evidence);
    }
    let mut findings = Vec::new();
    for (table, cols) in &spec.tables {
        let Some(have) = o.columns.get(table) else {
            findings.push(Verdict::fail(format!(
                "table {table} does not exist in database '{}' on {} (the maps and pam_mysql read it)",
                o.database, o.endpoint
            )));
            continue;
        };
        let missing: Vec<&str> = cols
            .iter()
            .filter(|c| !have.iter().any(|h| h.eq_ignore_ascii_case(c)))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            let msg = format!(
                "table {table} in '{}' lacks column{} {} (it has {})",
                o.database,
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", "),
                have.join(", ")
            );
            findings.push(if o.column_grants {
                Verdict::error(format!(
                    "{msg}; '{}' has column-level grants, so the columns may exist but be hidden from it",
                    o.user
                ))
            } else {
                Verdict::fail(msg)
            });
        }
    }
    let schemes: Vec<String> = o
        .password_schemes
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    let weak: u64 = o
        .password_schemes
        .iter()
        .filter(|(s, _)| not_crypt3(s))
        .map(|(_, n)| *n)
        .sum();
    let mut pass = format!(
        "{} exist in '{}' with the columns the maps and pam_mysql use",
        spec.tables.keys().cloned().collect::<Vec<_>>().join(", "),
        o.database
    );
    if !schemes.is_empty() {
        pass.push_str(&format!(
            "; {} passwords: {}",
            spec.password_table,
            schemes.join(", ")
        ));
    }
    if weak > 0 {
        pass.push_str(&format!(
            " (note: {weak} not a crypt(3) hash, which pam_mysql crypt=1 cannot check)"
        ));
    }
    if let Some(e) = &o.schemes_error {
        pass.push_str(&format!("; password schemes not read: {e}"));
    }
    worst_of(findings, &pass).with_evidence(evidence)
}

// ------------------------------------------------------------------ T17 maps answer

/// T17: the maps answer for the account as Postfix asks them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapsAnswerSpec {
    pub domains_param: String,
    pub mailbox_param: String,
    pub alias_param: String,
    pub relay_param: String,
    /// What the mailbox map must return for the account (`%d`, `%u` of the account).
    pub mailbox_result: String,
    /// The account's mailbox row: first column `active` (query template, `%s` = account).
    pub mailbox_row_query: String,
    /// Active domains: columns domain, backupmx.
    pub active_domains_query: String,
    /// Active aliases that may point at the account: columns address, goto (`%s` = account).
    pub aliases_to_query: String,
    /// At most this many domains and aliases are asked about.
    #[serde(default = "default_sweep_limit")]
    pub sweep_limit: usize,
}

fn default_sweep_limit() -> usize {
    200
}

/// Why a map was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    /// The account's domain in the virtual mailbox domains map.
    Domain,
    /// The account in the mailbox map.
    Mailbox,
    /// The account in the alias map.
    Alias,
    /// `@domain` in the alias map (catch-all), asked when the account has no alias.
    AliasCatchall,
    /// The account's domain in the relay domains map.
    Relay,
    /// Another active domain in the virtual mailbox domains map.
    ActiveDomain,
    /// An active backup-MX domain in the relay domains map.
    BackupDomain,
    /// An alias whose goto names the account.
    AliasToAccount,
}

/// One lookup, as Postfix would make it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    pub purpose: Purpose,
    pub param: String,
    pub file: PathBuf,
    pub key: String,
    /// The query sent (the expanded template); none when Postfix would send none.
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub suppressed: Option<Suppressed>,
    /// The answer (values joined with commas, as Postfix returns them); none = not found.
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    /// The error is the server's (a broken query or table), not a timeout or lost connection.
    #[serde(default)]
    pub server_error: bool,
    #[serde(default)]
    pub ms: f64,
}

/// The account's mailbox row.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxRow {
    #[serde(default)]
    pub found: bool,
    #[serde(default)]
    pub active: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapsAnswerObservation {
    pub maps: Vec<MapSummary>,
    pub account: String,
    pub domain: String,
    pub local_part: String,
    /// Parameter → the maps it names, in order (non-mysql ones included, not asked).
    #[serde(default)]
    pub params: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub lookups: Vec<Lookup>,
    #[serde(default)]
    pub mailbox_row: Option<MailboxRow>,
    /// Active domains read from the database: (domain, backupmx).
    #[serde(default)]
    pub active_domains: Vec<(String, String)>,
    #[serde(default)]
    pub sweep_error: Option<String>,
    #[serde(default)]
    pub sweep_truncated: bool,
    #[serde(default)]
    pub queries_ms: f64,
}

struct Asker<'a> {
    ctx: &'a Ctx,
    cfg: &'a PostfixConfig,
    maps: &'a [Map],
    limit: Duration,
    lookups: Vec<Lookup>,
}

impl Asker<'_> {
    /// Looks `key` up in `param`'s mysql maps in order, as Postfix does: the first answer (or
    /// error) ends the search. Returns the answer.
    async fn resolve(&mut self, purpose: Purpose, param: &str, key: &str) -> Option<String> {
        let key = key.to_lowercase();
        let refs: Vec<PathBuf> = map_references(&self.cfg.get(param))
            .into_iter()
            .filter(|(k, _)| k == "mysql")
            .map(|(_, p)| p)
            .collect();
        for path in refs {
            let l = self.ask(purpose, param, &path, &key).await;
            let stop = l.result.is_some() || l.error.is_some();
            let result = l.result.clone();
            self.lookups.push(l);
            if stop {
                return result;
            }
        }
        None
    }

    async fn ask(&self, purpose: Purpose, param: &str, path: &Path, key: &str) -> Lookup {
        let mut l = Lookup {
            purpose,
            param: param.to_string(),
            file: path.to_path_buf(),
            key: key.to_string(),
            query: None,
            suppressed: None,
            result: None,
            error: None,
            server_error: false,
            ms: 0.0,
        };
        let Some(map) = self.maps.iter().find(|m| m.summary.path == path) else {
            l.error = Some("not read".into());
            return l;
        };
        let Some(f) = &map.file else {
            l.error = map
                .summary
                .problem
                .clone()
                .or(Some("cannot be read".into()));
            l.server_error = map.summary.missing;
            return l;
        };
        let q = match &f.query {
            Ok(q) => q,
            Err(e) => {
                l.error = Some(format!("{e}; Postfix cannot open this map"));
                l.server_error = true;
                return l;
            }
        };
        if !q.domain_allows(key) {
            l.suppressed = Some(Suppressed::DomainList);
            return l;
        }
        let Some(endpoint) = f.first_endpoint() else {
            l.error = Some(format!("{}: hosts names no usable server", map.name()));
            l.server_error = true;
            return l;
        };
        let cs = f.conn_spec(endpoint);
        let nbe = match self.ctx.mysql.session(&cs, self.limit).await {
            Ok(s) => s.no_backslash_escapes,
            Err(e) => {
                l.error = Some(e.to_string());
                return l;
            }
        };
        let sql = match expand_query(&q.template, key, &|s| escape_sql(s, nbe)) {
            Ok(sql) => sql,
            Err(s) => {
                l.suppressed = Some(s);
                return l;
            }
        };
        l.query = Some(sql.clone());
        match self.ctx.mysql.query(&cs, &sql, self.limit).await {
            Ok(a) => {
                l.ms = a.ms;
                let values: Vec<String> = a
                    .rows
                    .iter()
                    .flatten()
                    .flatten()
                    .filter(|v| !v.is_empty())
                    .filter_map(|v| expand_result(&q.result_format, v, key))
                    .collect();
                if q.expansion_limit > 0 && values.len() > q.expansion_limit {
                    l.error = Some(format!(
                        "{} values exceed expansion_limit = {}; Postfix defers the lookup",
                        values.len(),
                        q.expansion_limit
                    ));
                    l.server_error = true;
                } else if !values.is_empty() {
                    l.result = Some(values.join(","));
                }
            }
            Err(e) => {
                l.server_error = matches!(e, DbError::Query { code: Some(_), .. });
                l.error = Some(e.to_string());
            }
        }
        l
    }

    /// Runs a diagnostic query (a TOML template, `%s` = `key`) on `param`'s database.
    async fn diagnose(
        &self,
        param: &str,
        template: &str,
        key: &str,
    ) -> Result<(Vec<Vec<Option<String>>>, f64), String> {
        let Some(map) = map_for_param(self.cfg, self.maps, param) else {
            return Err(format!("{param} names no readable mysql map"));
        };
        let Some(f) = &map.file else {
            return Err("unreadable".into());
        };
        let Some(endpoint) = f.first_endpoint() else {
            return Err(format!("{}: no usable host", map.name()));
        };
        let cs = f.conn_spec(endpoint);
        let nbe = self
            .ctx
            .mysql
            .session(&cs, self.limit)
            .await
            .map_err(|e| e.to_string())?
            .no_backslash_escapes;
        let sql = expand_query(template, &key.to_lowercase(), &|s| escape_sql(s, nbe))
            .map_err(|e| e.to_string())?;
        self.ctx
            .mysql
            .query(&cs, &sql, self.limit)
            .await
            .map(|a| (a.rows, a.ms))
            .map_err(|e| e.to_string())
    }
}

pub async fn maps_answer(spec: &MapsAnswerSpec, ctx: &Ctx) -> Verdict {
    let Some(account) = &ctx.account else {
        return Verdict::skip("needs --account");
    };
    let (cfg, maps) = match maps_or_verdict(ctx).await {
        Ok(x) => x,
        Err(v) => return v,
    };
    let key = account.address.to_lowercase();
    let domain = account.domain.clone();
    let mut params = BTreeMap::new();
    for p in [
        &spec.domains_param,
        &spec.mailbox_param,
        &spec.alias_param,
        &spec.relay_param,
    ] {
        params.insert(
            p.clone(),
            map_references(&cfg.get(p))
                .into_iter()
                .map(|(k, path)| format!("{k}:{}", path.display()))
                .collect::<Vec<_>>(),
        );
    }
    let mut a = Asker {
        ctx,
        cfg: &cfg,
        maps: &maps,
        limit: ctx.settings.timeouts.database,
        lookups: Vec::new(),
    };
    let mut queries_ms = 0.0;
    a.resolve(Purpose::Domain, &spec.domains_param, &domain)
        .await;
    a.resolve(Purpose::Mailbox, &spec.mailbox_param, &key).await;
    // Postfix tries @domain (catch-all) only when the address itself found nothing.
    if a.resolve(Purpose::Alias, &spec.alias_param, &key)
        .await
        .is_none()
        && !a
            .lookups
            .iter()
            .any(|l| l.purpose == Purpose::Alias && l.error.is_some())
    {
        a.resolve(
            Purpose::AliasCatchall,
            &spec.alias_param,
            &format!("@{domain}"),
        )
        .await;
    }
    a.resolve(Purpose::Relay, &spec.relay_param, &domain).await;

    let mailbox_row = match a
        .diagnose(&spec.mailbox_param, &spec.mailbox_row_query, &key)
        .await
    {
        Ok((rows, ms)) => {
            queries_ms += ms;
            Some(MailboxRow {
                found: !rows.is_empty(),
                active: rows.first().and_then(|r| r.first().cloned().flatten()),
                error: None,
            })
        }
        Err(e) => Some(MailboxRow {
            found: false,
            active: None,
            error: Some(e),
        }),
    };

    let mut active_domains = Vec::new();
    let mut sweep_error = None;
    let mut sweep_truncated = false;
    match a
        .diagnose(&spec.domains_param, &spec.active_domains_query, &key)
        .await
    {
        Ok((rows, ms)) => {
            queries_ms += ms;
            sweep_truncated = rows.len() > spec.sweep_limit;
            for row in rows.into_iter().take(spec.sweep_limit) {
                if let [Some(d), b, ..] = row.as_slice() {
                    active_domains.push((d.to_lowercase(), b.clone().unwrap_or_default()));
                }
            }
        }
        Err(e) => sweep_error = Some(e),
    }
    for (d, backupmx) in &active_domains {
        if d == &domain {
            continue;
        }
        if backupmx.trim() == "0" || backupmx.trim().is_empty() {
            a.resolve(Purpose::ActiveDomain, &spec.domains_param, d)
                .await;
        } else {
            a.resolve(Purpose::BackupDomain, &spec.relay_param, d).await;
        }
    }
    match a
        .diagnose(&spec.alias_param, &spec.aliases_to_query, &key)
        .await
    {
        Ok((rows, ms)) => {
            queries_ms += ms;
            let mut n = 0;
            for row in rows {
                let [Some(address), Some(goto), ..] = row.as_slice() else {
                    continue;
                };
                let points_here = goto
                    .split([',', ' ', '\t', '\n'])
                    .any(|g| g.trim().eq_ignore_ascii_case(&key));
                if !points_here || address.eq_ignore_ascii_case(&key) || n >= spec.sweep_limit {
                    continue;
                }
                n += 1;
                a.resolve(Purpose::AliasToAccount, &spec.alias_param, address)
                    .await;
            }
        }
        Err(e) => {
            if sweep_error.is_none() {
                sweep_error = Some(e);
            }
        }
    }
    queries_ms += a.lookups.iter().map(|l| l.ms).sum::<f64>();
    let lookups = a.lookups;
    judge_maps_answer(
        spec,
        &MapsAnswerObservation {
            maps: maps.iter().map(|m| m.summary.clone()).collect(),
            account: key,
            domain,
            local_part: account.local_part.to_lowercase(),
            params,
            lookups,
            mailbox_row,
            active_domains,
            sweep_error,
            sweep_truncated,
            queries_ms: round_ms(queries_ms),
        },
    )
}

/// "file: key → what came back" for a message.
fn describe(l: &Lookup) -> String {
    let got = match (&l.result, &l.error, &l.suppressed) {
        (Some(r), _, _) => format!("'{r}'"),
        (None, Some(e), _) => format!("error: {e}"),
        (None, None, Some(s)) => format!("no query ({s})"),
        (None, None, None) => "nothing".to_string(),
    };
    format!(
        "{} ({}) for '{}' returned {got}",
        l.file.display(),
        l.param,
        l.key
    )
}

pub fn judge_maps_answer(spec: &MapsAnswerSpec, o: &MapsAnswerObservation) -> Verdict {
    let evidence = json!({
        "account": o.account,
        "params": o.params,
        "lookups": o.lookups,
        "mailbox_row": o.mailbox_row,
        "active_domains": o.active_domains,
        "sweep_error": o.sweep_error,
        "queries": o.lookups.iter().filter(|l| l.query.is_some()).count(),
        "queries_ms": o.queries_ms,
    });
    if let Some(v) = unreadable(&o.maps) {
        return v.with_evidence(evidence);
    }
    let mut findings = Vec::new();
    // A lookup that errs: the server's fault (Postfix defers the mail) or ours (can't tell).
    for l in &o.lookups {
        if let Some(e) = &l.error {
            let msg = format!(
                "{}; Postfix cannot answer this lookup and defers the mail",
                describe(l)
            );
            findings.push(if l.server_error {
                Verdict::fail(msg)
            } else {
                Verdict::error(format!("{} ({e})", describe(l)))
            });
        }
    }
    let last = |p: Purpose| o.lookups.iter().rev().find(|l| l.purpose == p);
    let answered = |p: Purpose| last(p).and_then(|l| l.result.clone());
    let errored = |p: Purpose| {
        o.lookups
            .iter()
            .any(|l| l.purpose == p && l.error.is_some())
    };
    let mut summary = Vec::new();

    // The account's domain is a virtual mailbox domain.
    let no_maps = |param: &str| -> String {
        format!(
            "{param} names no mysql: map ({})",
            o.params
                .get(param)
                .map(|v| v.join(", "))
                .unwrap_or_default()
        )
    };
    match (last(Purpose::Domain), answered(Purpose::Domain)) {
        (None, _) => findings.push(Verdict::warn(format!(
            "{}; not asked here (see T15)",
            no_maps(&spec.domains_param)
        ))),
        (Some(_), Some(_)) => summary.push(format!("{} is a virtual mailbox domain", o.domain)),
        (Some(l), None) if !errored(Purpose::Domain) => findings.push(Verdict::fail(format!(
            "{}: Postfix does not take {} as a virtual mailbox domain (is its row active, backupmx = 0?)",
            describe(l),
            o.domain
        ))),
        _ => {}
    }

    // The account's mailbox maps to domain/user/ and its row is active.
    let want =
        expand_query(&spec.mailbox_result, &o.account, &|s| s.to_string()).unwrap_or_default();
    let row = o.mailbox_row.as_ref();
    let row_state = match row {
        Some(r) if r.error.is_some() => String::new(),
        Some(r) if !r.found => format!("; there is no mailbox row for {}", o.account),
        Some(r) if r.active.as_deref().map(str::trim) != Some("1") => format!(
            "; its mailbox row has active = {}",
            r.active.clone().unwrap_or_else(|| "NULL".into())
        ),
        Some(_) => "; its mailbox row exists and is active, so the map's query does not match it"
            .to_string(),
        None => String::new(),
    };
    match (last(Purpose::Mailbox), answered(Purpose::Mailbox)) {
        (None, _) => findings.push(Verdict::warn(format!(
            "{}; not asked here (see T15)",
            no_maps(&spec.mailbox_param)
        ))),
        (Some(l), Some(got)) => {
            if got == want {
                summary.push(format!("{} → {got}", o.account));
            } else if got.eq_ignore_ascii_case(&want) {
                summary.push(format!("{} → {got} (case differs from {want})", o.account));
            } else if got.trim_end_matches('/') == want.trim_end_matches('/') {
                findings.push(Verdict::fail(format!(
                    "{}, not '{want}': without the trailing / virtual(8) delivers to an mbox file, not a Maildir",
                    describe(l)
                )));
            } else {
                findings.push(Verdict::fail(format!("{}, not '{want}'", describe(l))));
            }
        }
        (Some(l), None) if !errored(Purpose::Mailbox) => findings.push(Verdict::fail(format!(
            "{}{row_state}; Postfix rejects mail for {} (User unknown in virtual mailbox table)",
            describe(l),
            o.account
        ))),
        _ => {}
    }
    if let Some(r) = row {
        if let Some(e) = &r.error {
            findings.push(Verdict::error(format!(
                "cannot read the mailbox row of {}: {e}",
                o.account
            )));
        } else if r.found
            && answered(Purpose::Mailbox).is_some()
            && r.active.as_deref().map(str::trim) != Some("1")
        {
            findings.push(Verdict::fail(format!(
                "the mailbox map answers for {}, but{}; pam_mysql refuses its login",
                o.account,
                row_state.trim_start_matches(';')
            )));
        }
    }

    // The alias map resolves for the account (absent: Postfix Admin would have made one).
    match (last(Purpose::Alias), answered(Purpose::Alias)) {
        (None, _) => findings.push(Verdict::warn(format!(
            "{}; aliases not asked",
            no_maps(&spec.alias_param)
        ))),
        (Some(_), Some(got)) => {
            let to_self = got
                .split(',')
                .any(|g| g.trim().eq_ignore_ascii_case(&o.account));
            summary.push(if to_self {
                format!("alias {} → {got}", o.account)
            } else {
                format!(
                    "alias {} → {got} (mail is forwarded, not kept in its mailbox)",
                    o.account
                )
            });
        }
        (Some(l), None) if !errored(Purpose::Alias) => match answered(Purpose::AliasCatchall) {
            Some(c) => summary.push(format!(
                "no alias for {}, the catch-all @{} → {c}",
                o.account, o.domain
            )),
            None => findings.push(Verdict::warn(format!(
                "{}: no alias row for {} (Postfix Admin makes one; Postfix delivers without it)",
                describe(l),
                o.account
            ))),
        },
        _ => {}
    }

    // The relay map answers without error; the account's domain should not be in it.
    match (last(Purpose::Relay), answered(Purpose::Relay)) {
        (None, _) => {}
        (Some(l), Some(_)) => findings.push(Verdict::warn(format!(
            "{}: {} is both a virtual mailbox domain and a relay domain (Postfix warns and relays it)",
            describe(l),
            o.domain
        ))),
        (Some(_), None) => summary.push(format!(
            "{} answers (not a relay domain)",
            spec.relay_param
        )),
    }

    // Every active domain answers from the map for its kind; aliases to the account resolve.
    let mut missing_domains = Vec::new();
    for l in o
        .lookups
        .iter()
        .filter(|l| matches!(l.purpose, Purpose::ActiveDomain | Purpose::BackupDomain))
    {
        if l.result.is_none() && l.error.is_none() {
            missing_domains.push(describe(l));
        }
    }
    if !missing_domains.is_empty() {
        findings.push(Verdict::fail(format!(
            "active domains the maps do not answer for: {}",
            missing_domains.join("; ")
        )));
    } else if o.active_domains.len() > 1 {
        summary.push(format!("{} active domains answer", o.active_domains.len()));
    }
    for l in o
        .lookups
        .iter()
        .filter(|l| l.purpose == Purpose::AliasToAccount && l.error.is_none())
    {
        let ok = l.result.as_deref().is_some_and(|r| {
            r.split(',')
                .any(|g| g.trim().eq_ignore_ascii_case(&o.account))
        });
        if !ok {
            findings.push(Verdict::fail(format!(
                "{}, though its alias row sends it to {}",
                describe(l),
                o.account
            )));
        }
    }
    let n_alias_to = o
        .lookups
        .iter()
        .filter(|l| l.purpose == Purpose::AliasToAccount)
        .count();
    if n_alias_to > 0 {
        summary.push(format!("{n_alias_to} alias(es) to {} resolve", o.account));
    }
    if let Some(e) = &o.sweep_error {
        findings.push(Verdict::error(format!(
            "cannot list the active domains or aliases: {e}"
        )));
    }
    let queries = o.lookups.iter().filter(|l| l.query.is_some()).count();
    let pass = format!(
        "{} ({queries} map queries, {} ms)",
        summary.join("; "),
        o.queries_ms
    );
    worst_of(findings, &pass).with_evidence(evidence)
}
