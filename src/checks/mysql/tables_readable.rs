//! T11: after a database server upgrade, every map's query still runs against its tables with
//! their collation: each map's query, expanded for a key no mailbox has, is sent over the map's
//! own login (a WHERE that compares mismatched collations fails at execution), and each table's
//! collation and engine are read from information_schema.TABLES (mysql_table(5)).

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::unreadable;
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::lookup::MapSummary;
use crate::probe::mysql::{escape_sql, expand_query};
use crate::verdict::{Verdict, worst_of};

/// The key the queries are expanded for (a domain no one has: RFC 2606 `.invalid`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub probe_key: String,
}

/// One table a map reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TableFacts {
    pub name: String,
    #[serde(default)]
    pub collation: Option<String>,
    #[serde(default)]
    pub engine: Option<String>,
}

/// One map's query, run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MapRun {
    pub file: PathBuf,
    pub endpoint: String,
    pub user: String,
    pub database: String,
    #[serde(default)]
    pub tables: Vec<TableFacts>,
    /// Rows the probe key found (0 expected).
    #[serde(default)]
    pub rows: usize,
    /// The server's error for the query, or why it was not sent.
    #[serde(default)]
    pub error: Option<String>,
    /// The error is the server's answer to the query (not a connection problem).
    #[serde(default)]
    pub server_error: bool,
}

/// What the check saw.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub maps: Vec<MapSummary>,
    #[serde(default)]
    pub runs: Vec<MapRun>,
    /// The connection's collation (what a string literal in a query gets).
    #[serde(default)]
    pub collation_connection: Option<String>,
}

/// The kind.
pub struct TablesReadable;

impl Kind for TablesReadable {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let (_cfg, maps) = super::maps(facts).await?;
        let limit = facts.settings.timeouts.database;
        let mut o = Observation {
            maps: super::summaries(&maps),
            runs: Vec::new(),
            collation_connection: None,
        };
        for m in maps.iter() {
            let Some(db) = &m.file else { continue };
            let Some(endpoint) = db.first_endpoint().cloned() else {
                continue;
            };
            let cs = db.conn_spec(&endpoint);
            let mut run = MapRun {
                file: db.path.clone(),
                endpoint: endpoint.to_string(),
                user: db.user.clone(),
                database: db.dbname.clone(),
                tables: Vec::new(),
                rows: 0,
                error: None,
                server_error: false,
            };
            let session = match facts.mysql.session(&cs, limit).await {
                Ok(s) => s,
                Err(e) => {
                    run.error = Some(e.to_string());
                    o.runs.push(run);
                    continue;
                }
            };
            let nbe = session.no_backslash_escapes;
            if o.collation_connection.is_none()
                && let Ok(a) = facts
                    .mysql
                    .query(&cs, "SELECT @@collation_connection", limit)
                    .await
            {
                o.collation_connection = a.rows.first().and_then(|r| r.first().cloned().flatten());
            }
            if !db.tables.is_empty() {
                let names: Vec<String> = db
                    .tables
                    .iter()
                    .map(|t| format!("'{}'", escape_sql(t, nbe)))
                    .collect();
                let sql = format!(
                    "SELECT TABLE_NAME, TABLE_COLLATION, ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({}) ORDER BY TABLE_NAME",
                    names.join(", ")
                );
                if let Ok(a) = facts.mysql.query(&cs, &sql, limit).await {
                    run.tables = a
                        .rows
                        .into_iter()
                        .filter_map(|r| {
                            let mut r = r.into_iter();
                            Some(TableFacts {
                                name: r.next().flatten()?,
                                collation: r.next().flatten(),
                                engine: r.next().flatten(),
                            })
                        })
                        .collect();
                }
            }
            let query = match &db.query {
                Ok(q) => q,
                Err(e) => {
                    run.error = Some(format!("no query: {e}"));
                    o.runs.push(run);
                    continue;
                }
            };
            let escape = |s: &str| escape_sql(s, nbe);
            match expand_query(&query.template, &spec.probe_key, &escape) {
                Err(why) => run.error = Some(format!("no query sent: {why}")),
                Ok(sql) => match facts.mysql.query(&cs, &sql, limit).await {
                    Ok(a) => run.rows = a.rows.len(),
                    Err(e) => {
                        run.server_error = e.server_answered();
                        run.error = Some(e.to_string());
                    }
                },
            }
            o.runs.push(run);
        }
        Ok(o)
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        if let Some(v) = unreadable(&o.maps) {
            return v;
        }
        if o.runs.is_empty() {
            return Verdict::error("no mysql map has a login and a server to ask");
        }
        let mut findings = Vec::new();
        let mut tables: Vec<String> = Vec::new();
        for r in &o.runs {
            let name = r.file.display();
            if let Some(e) = &r.error {
                if r.server_error {
                    findings.push(Verdict::fail(format!(
                        "{name}: its query for {} fails on {} as {}: {e}",
                        spec.probe_key, r.endpoint, r.user
                    )));
                } else {
                    findings.push(Verdict::error(format!("{name}: {e}")));
                }
            }
            for t in &r.tables {
                let shown = format!(
                    "{}.{} ({}, {})",
                    r.database,
                    t.name,
                    t.collation.as_deref().unwrap_or("no collation"),
                    t.engine.as_deref().unwrap_or("no engine")
                );
                if !tables.contains(&shown) {
                    tables.push(shown);
                }
            }
        }
        let conn = o
            .collation_connection
            .as_deref()
            .map(|c| format!("; connection collation {c}"))
            .unwrap_or_default();
        worst_of(
            findings,
            &format!(
                "the {} map queries run (for {}, found nothing, as expected) on {}{conn}",
                o.runs.len(),
                spec.probe_key,
                if tables.is_empty() {
                    "their tables".to_string()
                } else {
                    tables.join(", ")
                }
            ),
        )
    }
}
