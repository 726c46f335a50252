//! T12: the Postfix Admin tables and columns that the maps and pam_mysql read exist in the
//! database the mailbox map uses; the mailboxes' password schemes are counted by the server,
//! so no hash ever leaves it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{round_ms, unreadable};
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::lookup::{MapSummary, map_for_param};
use crate::probe::mysql::{DbError, escape_sql};
use crate::verdict::{Verdict, worst_of};

/// T12: the tables and columns the maps and pam_mysql use exist; password schemes by count.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Table name → the columns it must have.
    pub tables: BTreeMap<String, Vec<String>>,
    /// The database to look in is the one this main.cf parameter's (first) mysql map uses.
    pub via_param: String,
    /// Where the mailbox passwords are (for the scheme count).
    pub password_table: String,
    pub password_column: String,
}

/// What T12 looks at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Observation {
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

/// The tables' columns, as information_schema shows them to the map's login (`tables` quoted
/// and escaped).
fn columns_sql(tables: &[String]) -> String {
    format!(
        "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({}) ORDER BY TABLE_NAME, ORDINAL_POSITION",
        tables.join(", ")
    )
}

/// Whether the login has column-level grants (information_schema then hides columns).
const COLUMN_GRANTS_SQL: &str =
    "SELECT COUNT(*) FROM information_schema.COLUMN_PRIVILEGES WHERE TABLE_SCHEMA = DATABASE()";

/// Schemes that pam_mysql's `crypt=1` (crypt(3)) cannot check.
fn not_crypt3(scheme: &str) -> bool {
    matches!(
        scheme,
        "plain-or-unknown" | "mysql-password" | "hex-md5" | "empty"
    ) || scheme.starts_with("scheme-prefixed")
}

/// T12: the kind.
pub struct PostfixadminTables;

impl Kind for PostfixadminTables {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let (cfg, maps) = super::maps(facts).await?;
        let limit = facts.settings.timeouts.database;
        let mut o = Observation {
            maps: super::summaries(&maps),
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
            let session = facts.mysql.session(&cs, limit).await;
            let nbe = session
                .as_ref()
                .map(|s| s.no_backslash_escapes)
                .unwrap_or(false);
            let names: Vec<String> = spec
                .tables
                .keys()
                .map(|t| format!("'{}'", escape_sql(t, nbe)))
                .collect();
            match facts.mysql.query(&cs, &columns_sql(&names), limit).await {
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
            if o.error.is_none()
                && missing_any
                && let Ok(a) = facts.mysql.query(&cs, COLUMN_GRANTS_SQL, limit).await
            {
                o.queries_ms += a.ms;
                o.column_grants = a
                    .rows
                    .first()
                    .and_then(|r| r.first().cloned().flatten())
                    .and_then(|n| n.parse::<u64>().ok())
                    .is_some_and(|n| n > 0);
            }
            if o.error.is_none() && o.columns.contains_key(&spec.password_table) {
                let sql = SCHEME_SQL
                    .replace("{col}", &quote_ident(&spec.password_column))
                    .replace("{table}", &quote_ident(&spec.password_table));
                match facts.mysql.query(&cs, &sql, limit).await {
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
        Ok(o)
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        if let Some(v) = unreadable(&o.maps) {
            return v;
        }
        let Some(file) = &o.via_file else {
            return Verdict::error("no readable mysql map file names the database");
        };
        if let Some(e) = &o.error {
            return Verdict::error(format!(
                "cannot list the tables of '{}' as '{}' (from {}): {e}",
                o.database,
                o.user,
                file.display()
            ));
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
        worst_of(findings, &pass)
    }
}
