//! The database behind Postfix's `mysql:` maps (mysql_table(5), dict_mysql.c, db_common.c):
//! `hosts` parsing, one read-only connection per server and credentials, every call under a
//! deadline, and lookup queries expanded and escaped the way Postfix builds them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable as _;
use mysql_async::{Conn, OptsBuilder, Row, Value};
use serde::{Deserialize, Serialize};

use super::maps::MysqlMap;
use crate::secret::Secret;

/// MySQL's port when `hosts` names none (libmysqlclient's default).
pub const DEFAULT_PORT: u16 = 3306;

/// The client library's default socket, used for `localhost` and for an empty `hosts`
/// (Debian's `[client] socket` in /etc/mysql/mariadb.conf.d/50-client.cnf).
pub const DEFAULT_SOCKET: &str = "/run/mysqld/mysqld.sock";

/// Where one entry of `hosts =` points.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Endpoint {
    /// `host`, `host:port`, `inet:host:port`.
    Tcp { host: String, port: u16 },
    /// `unix:/path`, or `localhost`, which MySQL's client reaches through its default socket.
    Unix { path: PathBuf },
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp { host, port } => write!(f, "{host}:{port}"),
            Endpoint::Unix { path } => write!(f, "unix:{}", path.display()),
        }
    }
}

/// What is wrong in a `mysql:` map file (mysql_table(5)), as Postfix would find it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("`{entry}`: `{port}` is not a port")]
    BadPort { entry: String, port: String },
    #[error("`{0}` names no host")]
    NoHost(String),
    #[error("invalid %{found} in template `{template}`")]
    BadTemplate { template: String, found: char },
    #[error("template `{0}` ends with a lone %")]
    LonePercent(String),
    #[error("{field}: {source}")]
    In {
        field: &'static str,
        #[source]
        source: Box<MapError>,
    },
    #[error("neither `query` nor all of table, select_field, where_field are set")]
    NoQuery,
}

/// Parses one `hosts` entry as dict_mysql's host_init() does: `unix:` or `inet:` prefix, the
/// port after the last `:` (a number or a service name), and `localhost` meaning the socket.
pub fn parse_host(entry: &str) -> Result<Endpoint, MapError> {
    if let Some(path) = entry.strip_prefix("unix:") {
        if path.is_empty() {
            return Ok(Endpoint::Unix {
                path: PathBuf::from(DEFAULT_SOCKET),
            });
        }
        return Ok(Endpoint::Unix {
            path: PathBuf::from(path),
        });
    }
    let rest = entry.strip_prefix("inet:").unwrap_or(entry);
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    let port = match port {
        None | Some("") => DEFAULT_PORT,
        Some("mysql") => DEFAULT_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| MapError::BadPort {
                entry: entry.to_string(),
                port: p.to_string(),
            })?,
    };
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(Endpoint::Unix {
            path: PathBuf::from(DEFAULT_SOCKET),
        });
    }
    if host.is_empty() {
        return Err(MapError::NoHost(entry.to_string()));
    }
    Ok(Endpoint::Tcp {
        host: host.to_string(),
        port,
    })
}

/// Splits a `hosts` value as Postfix does (spaces, commas, tabs); empty means `localhost`.
pub fn parse_hosts(value: &str) -> Vec<(String, Result<Endpoint, MapError>)> {
    let mut entries: Vec<&str> = value
        .split([' ', ',', '\t', '\r', '\n'])
        .filter(|s| !s.is_empty())
        .collect();
    if entries.is_empty() {
        entries.push("localhost");
    }
    entries
        .into_iter()
        .map(|e| (e.to_string(), parse_host(e)))
        .collect()
}

/// Escapes `s` for a single-quoted SQL string literal as `mysql_real_escape_string()` does:
/// with backslashes, or (server in NO_BACKSLASH_ESCAPES mode) by doubling single quotes.
pub fn escape_sql(s: &str, no_backslash_escapes: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if no_backslash_escapes {
            if c == '\'' {
                out.push_str("''");
            } else {
                out.push(c);
            }
            continue;
        }
        match c {
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\x1a' => out.push_str("\\Z"),
            c => out.push(c),
        }
    }
    out
}

/// What a query or result template uses (db_common_parse()).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct TemplateNeeds {
    key_domain: bool,
    key_user: bool,
    /// The highest `%1`..`%9` used.
    nparts: usize,
}

/// Validates a template: `%%`, `%s`, `%u`, `%d`, `%S`, `%U`, `%D`, `%1`..`%9`; anything else
/// after `%` is fatal in Postfix ("Invalid query template").
fn parse_template(template: &str) -> Result<TemplateNeeds, MapError> {
    let mut needs = TemplateNeeds::default();
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        match chars.next() {
            Some('%' | 's' | 'S') => {}
            Some('u' | 'U') => needs.key_user = true,
            Some('d' | 'D') => needs.key_domain = true,
            Some(d @ '1'..='9') => {
                needs.key_domain = true;
                needs.nparts = needs.nparts.max(d as usize - '0' as usize);
            }
            Some(other) => {
                return Err(MapError::BadTemplate {
                    template: template.to_string(),
                    found: other,
                });
            }
            None => return Err(MapError::LonePercent(template.to_string())),
        }
    }
    Ok(needs)
}

/// Why Postfix sends no query for a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Suppressed {
    /// The template uses `%d` (or `%1`..) and the key has no domain.
    NoDomain,
    /// The template uses `%u` and the key's local part is empty.
    EmptyLocalPart,
    /// The key's domain has fewer labels than the template's `%N` needs.
    TooFewLabels,
    /// The map's `domain =` list does not match the key.
    DomainList,
    /// An empty key (Postfix warns and ignores it).
    EmptyKey,
}

impl fmt::Display for Suppressed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Suppressed::NoDomain => "the query uses %d and the key has no @domain",
            Suppressed::EmptyLocalPart => "the query uses %u and the key's local part is empty",
            Suppressed::TooFewLabels => "the key's domain has fewer labels than the query's %N",
            Suppressed::DomainList => "the key's domain is not in the map's `domain` list",
            Suppressed::EmptyKey => "the key is empty",
        })
    }
}

/// Expands a query template for `key` as db_common_expand() does, each value escaped with
/// `escape`. `Err` means Postfix sends no query at all and the lookup finds nothing.
pub fn expand_query(
    template: &str,
    key: &str,
    escape: &dyn Fn(&str) -> String,
) -> Result<String, Suppressed> {
    // parse_template() ran when the map was read; an invalid one expands literally here.
    let needs = parse_template(template).unwrap_or_default();
    if key.is_empty() {
        return Err(Suppressed::EmptyKey);
    }
    let at = key.rfind('@');
    let (user, domain) = match at {
        Some(i) => (&key[..i], Some(&key[i + 1..])),
        None => (key, None),
    };
    if needs.key_domain && domain.is_none_or(str::is_empty) {
        return Err(Suppressed::NoDomain);
    }
    if needs.key_user && at == Some(0) {
        return Err(Suppressed::EmptyLocalPart);
    }
    let labels: Vec<&str> = domain.map(|d| d.split('.').collect()).unwrap_or_default();
    if needs.nparts > 0
        && (labels.len() < needs.nparts
            || labels.iter().rev().take(needs.nparts).any(|l| l.is_empty()))
    {
        return Err(Suppressed::TooFewLabels);
    }
    let mut out = String::with_capacity(template.len() + key.len() * 2);
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('s' | 'S') => out.push_str(&escape(key)),
            Some('u' | 'U') => out.push_str(&escape(user)),
            Some('d' | 'D') => out.push_str(&escape(domain.unwrap_or_default())),
            Some(d @ '1'..='9') => {
                let n = d as usize - '0' as usize;
                let label = labels
                    .len()
                    .checked_sub(n)
                    .and_then(|i| labels.get(i))
                    .copied()
                    .unwrap_or_default();
                out.push_str(&escape(label));
            }
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    Ok(out)
}

/// Expands `result_format` for one non-empty result value (no quoting): `%s` the value, `%u`
/// and `%d` its parts, `%S`/`%U`/`%D` the lookup key's. `None` skips the value, as Postfix does
/// when a part it needs is missing.
pub fn expand_result(format: &str, value: &str, key: &str) -> Option<String> {
    if format == "%s" {
        return Some(value.to_string());
    }
    let split = |s: &str| -> (String, Option<String>) {
        match s.rfind('@') {
            Some(i) => (s[..i].to_string(), Some(s[i + 1..].to_string())),
            None => (s.to_string(), None),
        }
    };
    let (vuser, vdomain) = split(value);
    let (kuser, kdomain) = split(key);
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('s') => out.push_str(value),
            Some('u') => {
                if vdomain.is_some() && vuser.is_empty() {
                    return None;
                }
                out.push_str(&vuser);
            }
            Some('d') => out.push_str(vdomain.as_deref().filter(|d| !d.is_empty())?),
            Some('S') => out.push_str(key),
            Some('U') => out.push_str(&kuser),
            Some('D') => out.push_str(kdomain.as_deref().filter(|d| !d.is_empty())?),
            Some(d @ '1'..='9') => {
                let labels: Vec<&str> = kdomain.as_deref()?.split('.').collect();
                let n = d as usize - '0' as usize;
                out.push_str(labels.len().checked_sub(n).and_then(|i| labels.get(i))?);
            }
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    Some(out)
}

/// The parts of a mysql map file that say how Postfix asks the database.
#[derive(Debug, Clone)]
pub struct MapQuery {
    /// The query template: `query`, or the one built from `select_field`, `table`,
    /// `where_field` and `additional_conditions`.
    pub template: String,
    /// `result_format` (default `%s`).
    pub result_format: String,
    /// `domain =` list entries; empty means every key is looked up.
    pub domain: Vec<String>,
    /// `expansion_limit` (0 = none).
    pub expansion_limit: usize,
}

impl MapQuery {
    /// Builds the effective query as db_common_sql_build_query() does when `query` is absent.
    pub fn legacy_template(
        table: &str,
        select_field: &str,
        where_field: &str,
        additional_conditions: &str,
    ) -> String {
        format!(
            "SELECT {select_field} FROM {table} WHERE {where_field}='%s' {additional_conditions}"
        )
    }

    /// Checks the templates the way dict_mysql_open() does (an invalid `%` is fatal there).
    pub fn validate(&self) -> Result<(), MapError> {
        let within = |field| {
            move |e| MapError::In {
                field,
                source: Box::new(e),
            }
        };
        parse_template(&self.template).map_err(within("query"))?;
        parse_template(&self.result_format).map_err(within("result_format"))?;
        Ok(())
    }

    /// Whether the `domain =` list lets `key` be looked up (db_common_check_domain()). Entries
    /// that are files or `type:table` cannot be evaluated here and count as a match.
    pub fn domain_allows(&self, key: &str) -> bool {
        if self.domain.is_empty() {
            return true;
        }
        let Some(at) = key.rfind('@') else {
            return false;
        };
        if at == 0 {
            return false;
        }
        let d = &key[at + 1..];
        self.domain
            .iter()
            .any(|e| e.starts_with('/') || e.contains(':') || e.eq_ignore_ascii_case(d))
    }
}

/// The credentials and server one map file logs in with.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnSpec {
    pub endpoint: Endpoint,
    pub user: String,
    pub password: Secret,
    pub dbname: String,
    /// The map file these came from (named in errors).
    pub source: PathBuf,
}

impl fmt::Debug for ConnSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnSpec")
            .field("endpoint", &self.endpoint)
            .field("user", &self.user)
            .field("dbname", &self.dbname)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl ConnSpec {
    /// Whether `other` logs in to the same server as the same user on the same database.
    fn same_login(&self, other: &ConnSpec) -> bool {
        self.endpoint == other.endpoint
            && self.user == other.user
            && self.password == other.password
            && self.dbname == other.dbname
    }
}

/// The database side of one `mysql:` map file: its servers, login and effective query.
#[derive(Debug, Clone)]
pub struct MapDb {
    pub path: PathBuf,
    pub user: String,
    password: Secret,
    pub dbname: String,
    /// `hosts` entries as written, each with its parse (empty `hosts` means `localhost`).
    pub hosts: Vec<(String, Result<Endpoint, MapError>)>,
    /// The effective query, or why Postfix cannot build one.
    pub query: Result<MapQuery, MapError>,
    /// Tables the query reads (after `FROM` and `JOIN`).
    pub tables: Vec<String>,
}

impl MapDb {
    pub fn from_map(map: &MysqlMap) -> MapDb {
        let query = match map.query_template() {
            None => Err(MapError::NoQuery),
            Some(template) => {
                let q = MapQuery {
                    template,
                    result_format: map.result_format.clone().unwrap_or_else(|| "%s".into()),
                    domain: map.domain.clone(),
                    expansion_limit: 0,
                };
                q.validate().map(|()| q)
            }
        };
        let tables = query
            .as_ref()
            .map(|q| tables_in(&q.template))
            .unwrap_or_default();
        MapDb {
            path: map.path.clone(),
            user: map.user.clone(),
            password: map.password.clone(),
            dbname: map.dbname.clone(),
            hosts: parse_hosts(&map.hosts.join(" ")),
            query,
            tables,
        }
    }

    /// The login for `endpoint` with this file's credentials.
    pub fn conn_spec(&self, endpoint: &Endpoint) -> ConnSpec {
        ConnSpec {
            endpoint: endpoint.clone(),
            user: self.user.clone(),
            password: self.password.clone(),
            dbname: self.dbname.clone(),
            source: self.path.clone(),
        }
    }

    /// The server Postfix tries first: a UNIX socket if any (dict_mysql prefers them), else
    /// the first TCP host (Postfix picks among those at random).
    pub fn first_endpoint(&self) -> Option<&Endpoint> {
        let ok = || self.hosts.iter().filter_map(|(_, e)| e.as_ref().ok());
        ok().find(|e| matches!(e, Endpoint::Unix { .. }))
            .or_else(|| ok().next())
    }
}

/// Table names after `FROM` and `JOIN` in a query (backquotes and a `db.` prefix dropped).
pub fn tables_in(template: &str) -> Vec<String> {
    let words: Vec<&str> = template
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let mut out: Vec<String> = Vec::new();
    for pair in words.windows(2) {
        if !(pair[0].eq_ignore_ascii_case("from") || pair[0].eq_ignore_ascii_case("join")) {
            continue;
        }
        let name = pair[1].trim_end_matches(';').replace('`', "");
        let name = name.rsplit('.').next().unwrap_or_default().to_string();
        let ident = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
        if ident && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// Why the database could not answer. Never carries the password (MySQL's messages name the
/// user and host only).
#[derive(
    Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DbError {
    #[error("{endpoint} refused the connection (hosts in {})", .source_file.display())]
    Refused {
        endpoint: String,
        source_file: PathBuf,
    },
    #[error("{endpoint} is unreachable (hosts in {}): {reason}", .source_file.display())]
    Unreachable {
        endpoint: String,
        source_file: PathBuf,
        reason: String,
    },
    #[error("no answer from {endpoint} after {} while {phase}", humantime::format_duration(*.after))]
    Timeout {
        endpoint: String,
        phase: String,
        after: Duration,
    },
    #[error("access denied for user '{user}' (user/password in {}): {message}", .source_file.display())]
    AccessDenied {
        endpoint: String,
        user: String,
        source_file: PathBuf,
        message: String,
    },
    #[error("unknown database '{dbname}' on {endpoint} (dbname in {})", .source_file.display())]
    UnknownDatabase {
        endpoint: String,
        dbname: String,
        source_file: PathBuf,
    },
    #[error("query on {endpoint} failed: {message}")]
    Query {
        endpoint: String,
        code: Option<u16>,
        message: String,
    },
    #[error("{endpoint}: {message}")]
    Other { endpoint: String, message: String },
}

impl DbError {
    /// The same error, naming `source` as the file whose settings were used: a failed login is
    /// shared by every file that logs in the same way, each naming itself.
    pub fn for_source(self, source: &Path) -> DbError {
        let mut e = self;
        match &mut e {
            DbError::Refused { source_file, .. }
            | DbError::Unreachable { source_file, .. }
            | DbError::AccessDenied { source_file, .. }
            | DbError::UnknownDatabase { source_file, .. } => *source_file = source.to_path_buf(),
            _ => {}
        }
        e
    }

    /// Whether the server answered at all (it is reachable even if it refused the login).
    pub fn server_answered(&self) -> bool {
        matches!(
            self,
            DbError::AccessDenied { .. } | DbError::UnknownDatabase { .. } | DbError::Query { .. }
        )
    }
}

/// ER_ACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR, ER_HOST_NOT_PRIVILEGED,
/// ER_HOST_IS_BLOCKED, ER_ACCESS_DENIED_NO_PASSWORD_ERROR.
const ACCESS_DENIED: &[u16] = &[1045, 1044, 1130, 1129, 1698];
/// ER_BAD_DB_ERROR.
const BAD_DB: u16 = 1049;

/// Classifies a connect-time error from mysql_async.
fn connect_error(spec: &ConnSpec, e: mysql_async::Error) -> DbError {
    let endpoint = spec.endpoint.to_string();
    let source_file = spec.source.clone();
    match e {
        mysql_async::Error::Server(s) if ACCESS_DENIED.contains(&s.code) => DbError::AccessDenied {
            endpoint,
            user: spec.user.clone(),
            source_file,
            message: s.message,
        },
        mysql_async::Error::Server(s) if s.code == BAD_DB => DbError::UnknownDatabase {
            endpoint,
            dbname: spec.dbname.clone(),
            source_file,
        },
        mysql_async::Error::Server(s) => DbError::Other {
            endpoint,
            message: format!("ERROR {} ({}): {}", s.code, s.state, s.message),
        },
        mysql_async::Error::Io(mysql_async::IoError::Io(io)) => {
            io_error(&spec.endpoint, source_file, &io)
        }
        other => DbError::Other {
            endpoint,
            message: other.to_string(),
        },
    }
}

fn io_error(endpoint: &Endpoint, source_file: PathBuf, io: &std::io::Error) -> DbError {
    use std::io::ErrorKind as K;
    let ep = endpoint.to_string();
    match io.kind() {
        K::ConnectionRefused => DbError::Refused {
            endpoint: ep,
            source_file,
        },
        K::NotFound if matches!(endpoint, Endpoint::Unix { .. }) => DbError::Refused {
            endpoint: format!("{ep} (no such socket)"),
            source_file,
        },
        K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable => DbError::Unreachable {
            endpoint: ep,
            source_file,
            reason: io.to_string(),
        },
        K::PermissionDenied => DbError::Other {
            endpoint: ep,
            message: format!("permission denied ({io}); needs root to open it"),
        },
        _ => {
            let text = io.to_string();
            // getaddrinfo: "Name or service not known" is definite, "Temporary failure" is not.
            if text.contains("not known") || text.contains("No address associated") {
                DbError::Unreachable {
                    endpoint: ep,
                    source_file,
                    reason: format!("the name does not resolve: {text}"),
                }
            } else {
                DbError::Other {
                    endpoint: ep,
                    message: text,
                }
            }
        }
    }
}

/// What the server said when the connection was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SessionInfo {
    pub endpoint: String,
    pub server_version: String,
    /// Connect + handshake + login + session setup, in ms.
    pub connect_ms: f64,
    /// The server's sql_mode has NO_BACKSLASH_ESCAPES (quotes are doubled instead).
    pub no_backslash_escapes: bool,
}

/// One query's answer: rows of columns, NULL as `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct QueryAnswer {
    pub rows: Vec<Vec<Option<String>>>,
    pub ms: f64,
}

struct Slot {
    spec: ConnSpec,
    state: SlotState,
}

enum SlotState {
    Ready {
        conn: Box<Conn>,
        info: SessionInfo,
    },
    /// A call was cancelled half-way (its check hit its deadline): the protocol state is
    /// unknown, so the connection is dropped and made again on next use.
    Busy,
    Failed(DbError),
}

/// The run's database connections: one per server and login, made on first use and reused
/// by every check (Facts holds one of these). A query asked again on the same login gets the
/// first answer: mailcheck writes nothing to the database, and the maps' lookups repeat (one
/// run asked `SELECT goto FROM alias WHERE address=...` 20 times, 71 queries in all).
#[derive(Default)]
pub struct Connections {
    slots: tokio::sync::Mutex<Vec<Slot>>,
    answers: std::sync::Mutex<Vec<(ConnSpec, String, QueryAnswer)>>,
}

impl fmt::Debug for Connections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Connections")
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Runs `fut` under `limit`; a timeout becomes `DbError::Timeout` naming the phase.
pub async fn with_deadline<T>(
    endpoint: &Endpoint,
    phase: &str,
    limit: Duration,
    fut: impl Future<Output = Result<T, DbError>>,
) -> Result<T, DbError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(DbError::Timeout {
            endpoint: endpoint.to_string(),
            phase: phase.to_string(),
            after: limit,
        }),
    }
}

/// Opens a connection for `spec`: no socket switch, read-only session.
async fn open(spec: &ConnSpec, limit: Duration) -> Result<(Conn, SessionInfo), DbError> {
    let started = Instant::now();
    let mut opts = OptsBuilder::default()
        .user(Some(spec.user.clone()))
        .pass(Some(spec.password.expose().to_string()))
        .db_name((!spec.dbname.is_empty()).then(|| spec.dbname.clone()))
        // Postfix stays on the transport it was given; mysql_async would otherwise switch a
        // TCP connection to @@socket, which logs in as another MySQL account (user@localhost).
        .prefer_socket(false)
        .stmt_cache_size(0)
        // Given, so mysql_async skips its settings query (one round trip).
        .max_allowed_packet(Some(4 * 1024 * 1024))
        .wait_timeout(Some(28_800));
    opts = match &spec.endpoint {
        Endpoint::Tcp { host, port } => opts.ip_or_hostname(host.clone()).tcp_port(*port),
        Endpoint::Unix { path } => opts.socket(Some(path.to_string_lossy().into_owned())),
    };
    let ep = &spec.endpoint;
    let mut conn = with_deadline(ep, "connecting and logging in", limit, async {
        Conn::new(opts).await.map_err(|e| connect_error(spec, e))
    })
    .await?;
    let left = limit.saturating_sub(started.elapsed());
    let setup = with_deadline(ep, "setting up a read-only session", left, async {
        conn.query_drop("SET SESSION TRANSACTION READ ONLY")
            .await
            .map_err(|e| query_error(ep, e))?;
        let row: Option<(Option<String>, Option<String>)> = conn
            .query_first("SELECT @@version, @@sql_mode")
            .await
            .map_err(|e| query_error(ep, e))?;
        Ok(row.unwrap_or_default())
    })
    .await;
    let (version, sql_mode) = match setup {
        Ok(v) => v,
        Err(e) => {
            drop(conn);
            return Err(e);
        }
    };
    let info = SessionInfo {
        endpoint: ep.to_string(),
        server_version: version.unwrap_or_default(),
        connect_ms: ms(started.elapsed()),
        no_backslash_escapes: sql_mode
            .unwrap_or_default()
            .split(',')
            .any(|m| m.eq_ignore_ascii_case("NO_BACKSLASH_ESCAPES")),
    };
    Ok((conn, info))
}

fn query_error(endpoint: &Endpoint, e: mysql_async::Error) -> DbError {
    match e {
        mysql_async::Error::Server(s) => DbError::Query {
            endpoint: endpoint.to_string(),
            code: Some(s.code),
            message: format!("ERROR {} ({}): {}", s.code, s.state, s.message),
        },
        other => DbError::Query {
            endpoint: endpoint.to_string(),
            code: None,
            message: other.to_string(),
        },
    }
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

impl Connections {
    /// The session for `spec`, connecting on first use (memoized, failures too).
    pub async fn session(&self, spec: &ConnSpec, limit: Duration) -> Result<SessionInfo, DbError> {
        let mut slots = self.slots.lock().await;
        let i = self.ready_slot(&mut slots, spec, limit).await?;
        match &slots[i].state {
            SlotState::Ready { info, .. } => Ok(info.clone()),
            SlotState::Failed(e) => Err(e.clone().for_source(&spec.source)),
            SlotState::Busy => Err(lost(spec)),
        }
    }

    /// Runs one text query on `spec`'s connection under `limit`. A server error leaves the
    /// connection usable; a timeout or broken connection drops it.
    pub async fn query(
        &self,
        spec: &ConnSpec,
        sql: &str,
        limit: Duration,
    ) -> Result<QueryAnswer, DbError> {
        if let Some(a) = self.answered(spec, sql) {
            return Ok(a);
        }
        let answer = self.ask(spec, sql, limit).await;
        if let (Ok(a), Ok(mut answers)) = (&answer, self.answers.lock()) {
            answers.push((spec.clone(), sql.to_string(), a.clone()));
        }
        answer
    }

    /// The answer `sql` got on `spec`'s login earlier in this run.
    fn answered(&self, spec: &ConnSpec, sql: &str) -> Option<QueryAnswer> {
        let answers = self.answers.lock().ok()?;
        answers
            .iter()
            .find(|(s, q, _)| q == sql && s.same_login(spec))
            .map(|(_, _, a)| a.clone())
    }

    /// Asks the server (the connection is used by one query at a time).
    async fn ask(
        &self,
        spec: &ConnSpec,
        sql: &str,
        limit: Duration,
    ) -> Result<QueryAnswer, DbError> {
        let mut slots = self.slots.lock().await;
        let i = self.ready_slot(&mut slots, spec, limit).await?;
        let (mut conn, info) = match std::mem::replace(&mut slots[i].state, SlotState::Busy) {
            SlotState::Ready { conn, info } => (conn, info),
            SlotState::Failed(e) => {
                slots[i].state = SlotState::Failed(e.clone());
                return Err(e.for_source(&spec.source));
            }
            SlotState::Busy => return Err(lost(spec)),
        };
        let started = Instant::now();
        let ep = &spec.endpoint;
        let result = with_deadline(ep, "waiting for a query's answer", limit, async {
            conn.query::<Row, _>(sql).await.map_err(|e| {
                let fatal = e.is_fatal();
                let e = query_error(ep, e);
                if fatal { lost_with(e) } else { e }
            })
        })
        .await;
        let elapsed = started.elapsed();
        match result {
            Ok(rows) => {
                slots[i].state = SlotState::Ready { conn, info };
                let rows = rows
                    .iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|c| r.as_ref(c).and_then(value_text))
                            .collect()
                    })
                    .collect();
                Ok(QueryAnswer {
                    rows,
                    ms: ms(elapsed),
                })
            }
            Err(DbError::Query {
                endpoint,
                code: Some(code),
                message,
            }) => {
                slots[i].state = SlotState::Ready { conn, info };
                Err(DbError::Query {
                    endpoint,
                    code: Some(code),
                    message,
                })
            }
            Err(e) => {
                // Timed out or broken: the connection's protocol state is unknown.
                drop(conn);
                slots[i].state = SlotState::Busy;
                Err(e)
            }
        }
    }

    /// Index of `spec`'s slot, connected (or failed). Reconnects a slot left busy by a
    /// cancelled call.
    async fn ready_slot(
        &self,
        slots: &mut Vec<Slot>,
        spec: &ConnSpec,
        limit: Duration,
    ) -> Result<usize, DbError> {
        let found = slots.iter().position(|s| s.spec.same_login(spec));
        if let Some(i) = found
            && !matches!(slots[i].state, SlotState::Busy)
        {
            return Ok(i);
        }
        let i = match found {
            Some(i) => i,
            None => {
                slots.push(Slot {
                    spec: spec.clone(),
                    state: SlotState::Busy,
                });
                slots.len() - 1
            }
        };
        // Until open() returns the slot stays Busy, so a cancelled connect is retried.
        slots[i].state = match open(spec, limit).await {
            Ok((conn, info)) => SlotState::Ready {
                conn: Box::new(conn),
                info,
            },
            Err(e) => SlotState::Failed(e),
        };
        Ok(i)
    }

    /// Closes every connection politely (COM_QUIT), each within `limit`.
    pub async fn close(&self, limit: Duration) {
        let mut slots = self.slots.lock().await;
        for slot in slots.drain(..) {
            if let SlotState::Ready { conn, .. } = slot.state {
                let _ = tokio::time::timeout(limit, conn.disconnect()).await;
            }
        }
    }
}

fn lost(spec: &ConnSpec) -> DbError {
    DbError::Other {
        endpoint: spec.endpoint.to_string(),
        message: "the connection was lost when an earlier call was cut off".into(),
    }
}

fn lost_with(e: DbError) -> DbError {
    match e {
        DbError::Query {
            endpoint, message, ..
        } => DbError::Query {
            endpoint,
            code: None,
            message,
        },
        e => e,
    }
}

/// Where the chroot of Postfix's services would need a copy of a UNIX socket.
pub fn socket_in_chroot(queue_directory: &Path, socket: &Path) -> PathBuf {
    queue_directory.join(socket.strip_prefix("/").unwrap_or(socket))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_failure_names_each_file() {
        let e = DbError::Refused {
            endpoint: "127.0.0.1:3306".into(),
            source_file: "/etc/pam.d/smtp".into(),
        };
        let m = e.for_source(Path::new("/etc/postfix/mysql_virtual_alias_maps.cf"));
        assert!(
            m.to_string()
                .contains("hosts in /etc/postfix/mysql_virtual_alias_maps.cf")
        );
    }

    fn esc(s: &str) -> String {
        escape_sql(s, false)
    }

    #[test]
    fn hosts_are_parsed_like_dict_mysql() {
        let tcp = |h: &str, p| Endpoint::Tcp {
            host: h.into(),
            port: p,
        };
        assert_eq!(parse_host("127.0.0.1"), Ok(tcp("127.0.0.1", 3306)));
        assert_eq!(parse_host("db.example:3307"), Ok(tcp("db.example", 3307)));
        assert_eq!(parse_host("inet:db:3308"), Ok(tcp("db", 3308)));
        assert_eq!(parse_host("inet:db"), Ok(tcp("db", 3306)));
        assert_eq!(parse_host("db:mysql"), Ok(tcp("db", 3306)));
        assert_eq!(
            parse_host("unix:/var/run/mysqld/mysqld.sock"),
            Ok(Endpoint::Unix {
                path: "/var/run/mysqld/mysqld.sock".into()
            })
        );
        // MySQL's client turns localhost into its default socket, even with inet:.
        let sock = Ok(Endpoint::Unix {
            path: DEFAULT_SOCKET.into(),
        });
        assert_eq!(parse_host("localhost"), sock);
        assert_eq!(parse_host("inet:LocalHost:3306"), sock);
        assert!(parse_host("db:notaport").is_err());
        assert!(parse_host(":3306").is_err());
        assert_eq!(
            tcp("127.0.0.1", 3306).to_string(),
            "127.0.0.1:3306",
            "named as host:port in messages"
        );
    }

    #[test]
    fn hosts_list_splits_and_defaults_to_localhost() {
        let h = parse_hosts("127.0.0.1, db2:3307\tunix:/s");
        assert_eq!(h.len(), 3);
        assert_eq!(h[1].0, "db2:3307");
        let empty = parse_hosts("  ");
        assert_eq!(empty.len(), 1);
        assert_eq!(empty[0].0, "localhost");
    }

    #[test]
    fn escaping_is_mysql_real_escape_string() {
        assert_eq!(esc("root@example.com"), "root@example.com");
        assert_eq!(esc("o'brien"), "o\\'brien");
        assert_eq!(esc("a\"b"), "a\\\"b");
        assert_eq!(esc("back\\slash"), "back\\\\slash");
        assert_eq!(esc("nl\ncr\r"), "nl\\ncr\\r");
        assert_eq!(esc("nul\0sub\x1a"), "nul\\0sub\\Z");
        assert_eq!(esc("x' OR '1'='1"), "x\\' OR \\'1\\'=\\'1");
        // With NO_BACKSLASH_ESCAPES the client doubles quotes and leaves the rest alone.
        assert_eq!(escape_sql("o'b\\n", true), "o''b\\n");
    }

    #[test]
    fn expansion_of_s_u_d_and_percent() {
        let t = "SELECT x FROM t WHERE a='%s' AND u='%u' AND d='%d' AND l LIKE 'p%%'";
        assert_eq!(
            expand_query(t, "root@example.com", &esc).unwrap(),
            "SELECT x FROM t WHERE a='root@example.com' AND u='root' AND d='example.com' AND l LIKE 'p%'"
        );
        // Upper case behaves the same in a query.
        assert_eq!(
            expand_query("%S|%U|%D", "a@b.c", &esc).unwrap(),
            "a@b.c|a|b.c"
        );
    }

    #[test]
    fn expansion_escapes_every_value() {
        assert_eq!(
            expand_query("u='%u' d='%d' s='%s'", "o'n@x'.y", &esc).unwrap(),
            "u='o\\'n' d='x\\'.y' s='o\\'n@x\\'.y'"
        );
    }

    #[test]
    fn expansion_suppresses_like_postfix() {
        assert_eq!(
            expand_query("d='%d'", "example.com", &esc),
            Err(Suppressed::NoDomain)
        );
        assert_eq!(
            expand_query("d='%d'", "user@", &esc),
            Err(Suppressed::NoDomain)
        );
        assert_eq!(
            expand_query("u='%u'", "@example.com", &esc),
            Err(Suppressed::EmptyLocalPart)
        );
        // %s alone: any key, bare domains and @domain too.
        assert_eq!(
            expand_query("k='%s'", "@example.com", &esc).unwrap(),
            "k='@example.com'"
        );
        assert_eq!(expand_query("k='%s'", "", &esc), Err(Suppressed::EmptyKey));
        // %u without a domain is the whole key.
        assert_eq!(expand_query("u='%u'", "root", &esc).unwrap(), "u='root'");
    }

    #[test]
    fn expansion_of_domain_labels() {
        assert_eq!(
            expand_query("%1.%2.%3", "u@mail.example.com", &esc).unwrap(),
            "com.example.mail"
        );
        assert_eq!(
            expand_query("%3", "u@example.com", &esc),
            Err(Suppressed::TooFewLabels)
        );
        assert_eq!(
            expand_query("%2", "u@example..com", &esc),
            Err(Suppressed::TooFewLabels)
        );
    }

    #[test]
    fn legacy_query_is_built_like_postfix() {
        let t = MapQuery::legacy_template(
            "domain",
            "domain",
            "domain",
            "and backupmx = '0' and active = '1'",
        );
        assert_eq!(
            t,
            "SELECT domain FROM domain WHERE domain='%s' and backupmx = '0' and active = '1'"
        );
        assert_eq!(
            expand_query(&t, "example.com", &esc).unwrap(),
            "SELECT domain FROM domain WHERE domain='example.com' and backupmx = '0' and active = '1'"
        );
        // Without additional_conditions Postfix leaves a trailing space.
        assert_eq!(
            MapQuery::legacy_template("alias", "goto", "address", ""),
            "SELECT goto FROM alias WHERE address='%s' "
        );
    }

    #[test]
    fn invalid_templates_are_rejected() {
        let q = |t: &str| MapQuery {
            template: t.into(),
            result_format: "%s".into(),
            domain: vec![],
            expansion_limit: 0,
        };
        assert!(q("SELECT a FROM t WHERE b LIKE '%x'").validate().is_err());
        assert!(q("SELECT 1 %").validate().is_err());
        assert!(q("SELECT a FROM t WHERE b='%s'").validate().is_ok());
    }

    #[test]
    fn result_format() {
        assert_eq!(expand_result("%s", "x", "k").as_deref(), Some("x"));
        assert_eq!(
            expand_result("%d/%u/", "root@example.com", "k").as_deref(),
            Some("example.com/root/")
        );
        assert_eq!(expand_result("%d", "nodomain", "k"), None);
        assert_eq!(
            expand_result("smtp:[%s]:%D", "relay", "u@ex.com").as_deref(),
            Some("smtp:[relay]:ex.com")
        );
    }

    #[test]
    fn domain_list() {
        let mut q = MapQuery {
            template: "%s".into(),
            result_format: "%s".into(),
            domain: vec![],
            expansion_limit: 0,
        };
        assert!(q.domain_allows("example.com"));
        q.domain = vec!["example.com".into()];
        assert!(q.domain_allows("root@Example.COM"));
        assert!(!q.domain_allows("root@other.org"));
        assert!(
            !q.domain_allows("example.com"),
            "bare domains are not looked up"
        );
        assert!(!q.domain_allows("@example.com"), "nor @domain");
    }

    #[test]
    fn map_db_from_the_tutorial_maps() {
        let m = MysqlMap::parse(
            Path::new("/etc/postfix/mysql_virtual_domains_maps.cf"),
            "user = mailadmin\npassword = newpassword\nhosts = 127.0.0.1\ndbname = mail\ntable = domain\nselect_field = domain\nwhere_field = domain\nadditional_conditions = and backupmx = '0' and active = '1'\n",
        );
        let db = MapDb::from_map(&m);
        assert_eq!(db.tables, vec!["domain"]);
        assert_eq!(
            db.first_endpoint().map(ToString::to_string).as_deref(),
            Some("127.0.0.1:3306")
        );
        assert!(!format!("{db:?}").contains("newpassword"));
        let bad = MysqlMap::parse(
            Path::new("/x.cf"),
            "query = SELECT a FROM t WHERE b LIKE 'x%'\n",
        );
        assert!(MapDb::from_map(&bad).query.is_err());
        let none = MysqlMap::parse(Path::new("/x.cf"), "table = t\n");
        assert!(MapDb::from_map(&none).query.is_err());
    }

    #[test]
    fn tables_from_queries() {
        assert_eq!(
            tables_in(
                "SELECT goto FROM `mail`.`alias` a JOIN domain d ON a.domain=d.domain WHERE x IN (SELECT y FROM alias_domain)"
            ),
            vec!["alias", "domain", "alias_domain"]
        );
    }

    #[test]
    fn db_errors_never_need_the_password() {
        let spec = ConnSpec {
            endpoint: Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 3306,
            },
            user: "mailadmin".into(),
            password: Secret::new("s3cret-db-pw"),
            dbname: "mail".into(),
            source: "/etc/postfix/mysql_virtual_alias_maps.cf".into(),
        };
        let e = connect_error(
            &spec,
            mysql_async::Error::Server(mysql_async::ServerError {
                code: 1045,
                message: "Access denied for user 'mailadmin'@'localhost' (using password: YES)"
                    .into(),
                state: "28000".into(),
            }),
        );
        let text = e.to_string();
        assert!(text.contains("'mailadmin'"), "{text}");
        assert!(
            text.contains("/etc/postfix/mysql_virtual_alias_maps.cf"),
            "{text}"
        );
        assert!(!text.contains("s3cret"), "{text}");
        assert!(!format!("{spec:?}").contains("s3cret"));
        let refused = io_error(
            &spec.endpoint,
            spec.source.clone(),
            &std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        );
        assert!(refused.to_string().contains("127.0.0.1:3306"));
        assert!(matches!(refused, DbError::Refused { .. }));
    }

    /// A port that accepts and never sends the MySQL greeting: the connect ends at the
    /// deadline as a timeout, not a hang and not a refusal.
    #[tokio::test]
    async fn silent_server_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let spec = ConnSpec {
            endpoint: Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port,
            },
            user: "u".into(),
            password: Secret::new("p"),
            dbname: "d".into(),
            source: "/tmp/map.cf".into(),
        };
        let conns = Connections::default();
        let t0 = Instant::now();
        let e = conns
            .session(&spec, Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
        assert!(matches!(e, DbError::Timeout { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        // The failure is memoized: a second ask does not wait again.
        let t1 = Instant::now();
        let again = conns.session(&spec, Duration::from_millis(300)).await;
        assert_eq!(again.unwrap_err(), e);
        assert!(t1.elapsed() < Duration::from_millis(100));
        hold.abort();
    }

    #[tokio::test]
    async fn closed_port_is_refused() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let spec = ConnSpec {
            endpoint: Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port,
            },
            user: "u".into(),
            password: Secret::new("p"),
            dbname: "d".into(),
            source: "/etc/postfix/x.cf".into(),
        };
        let e = Connections::default()
            .session(&spec, Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(matches!(e, DbError::Refused { .. }), "{e:?}");
        assert!(e.to_string().contains("/etc/postfix/x.cf"));
    }
}
