//! Postfix's `mysql:` lookup tables (mysql_table(5)) asked the way Postfix asks them: the maps
//! main.cf names, read once, and a resolver that tries a parameter's maps in order, the first
//! answer or error ending the search.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::probe::ProbeError;
use crate::probe::maps::MysqlMap;
use crate::probe::mysql::{
    Connections, DbError, MapDb, QueryAnswer, Suppressed, escape_sql, expand_query, expand_result,
};
use crate::probe::postfix::{PostfixConfig, map_references};

/// One `mysql:` map file named in main.cf, as recorded in evidence and fixtures (never the
/// password).
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// The line where `hosts =` is set (none: Postfix uses localhost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts_line: Option<usize>,
}

/// A map file with its parse (at run time only: it holds the password).
pub struct LoadedMap {
    pub summary: MapSummary,
    pub file: Option<MapDb>,
}

impl LoadedMap {
    pub fn name(&self) -> String {
        self.summary.path.display().to_string()
    }
}

/// Every `mysql:` map named in main.cf (any parameter), read, sorted by path.
pub fn load_mysql_maps(cfg: &PostfixConfig) -> Vec<LoadedMap> {
    let mut maps: Vec<LoadedMap> = Vec::new();
    for (param, setting) in &cfg.main.settings {
        let value = cfg.main.expand(&setting.value, 0);
        for (kind, path) in map_references(&value) {
            if kind != "mysql" {
                continue;
            }
            match maps.iter_mut().find(|m| m.summary.path == path) {
                Some(m) => m.summary.referenced_by.push(param.clone()),
                None => maps.push(LoadedMap {
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
                m.summary.hosts_line = map.keys.get("hosts").copied();
                let bad: Vec<String> = f
                    .hosts
                    .iter()
                    .filter_map(|(_, e)| e.as_ref().err().map(ToString::to_string))
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

/// Why a map was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LookupPurpose {
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
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    pub purpose: LookupPurpose,
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

/// The map file (and its first endpoint) for `param`: its first mysql map, else the first map.
pub fn map_for_param<'a>(
    cfg: &PostfixConfig,
    maps: &'a [LoadedMap],
    param: &str,
) -> Option<&'a LoadedMap> {
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

/// Asks maps as Postfix does and keeps every lookup it made, in order.
pub struct Resolver<'a> {
    pub cfg: Arc<PostfixConfig>,
    pub maps: Arc<Vec<LoadedMap>>,
    conns: &'a Connections,
    limit: Duration,
    lookups: Vec<Lookup>,
}

impl<'a> Resolver<'a> {
    pub fn new(
        cfg: Arc<PostfixConfig>,
        maps: Arc<Vec<LoadedMap>>,
        conns: &'a Connections,
        limit: Duration,
    ) -> Resolver<'a> {
        Resolver {
            cfg,
            maps,
            conns,
            limit,
            lookups: Vec::new(),
        }
    }

    /// The lookups made so far, in order.
    pub fn lookups(&self) -> &[Lookup] {
        &self.lookups
    }

    pub fn into_lookups(self) -> Vec<Lookup> {
        self.lookups
    }

    /// Looks `key` up in `param`'s mysql maps in order, as Postfix does: the first answer (or
    /// error) ends the search. Returns the answer.
    pub async fn resolve(
        &mut self,
        purpose: LookupPurpose,
        param: &str,
        key: &str,
    ) -> Option<String> {
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

    async fn ask(&self, purpose: LookupPurpose, param: &str, path: &Path, key: &str) -> Lookup {
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
        let nbe = match self.conns.session(&cs, self.limit).await {
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
        match self.conns.query(&cs, &sql, self.limit).await {
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
    pub async fn diagnose(
        &self,
        param: &str,
        template: &str,
        key: &str,
    ) -> Result<QueryAnswer, DiagnoseError> {
        let found = map_for_param(&self.cfg, &self.maps, param)
            .and_then(|m| m.file.as_ref().map(|f| (m, f)));
        let Some((map, f)) = found else {
            return Err(DiagnoseError::NoMap {
                param: param.to_string(),
            });
        };
        let Some(endpoint) = f.first_endpoint() else {
            return Err(DiagnoseError::NoHost {
                map: map.summary.path.clone(),
            });
        };
        let cs = f.conn_spec(endpoint);
        let nbe = self
            .conns
            .session(&cs, self.limit)
            .await?
            .no_backslash_escapes;
        let sql = expand_query(template, &key.to_lowercase(), &|s| escape_sql(s, nbe))
            .map_err(DiagnoseError::NoQuery)?;
        Ok(self.conns.query(&cs, &sql, self.limit).await?)
    }
}

/// Why a diagnostic query (`Resolver::diagnose`) got no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DiagnoseError {
    #[error("{param} names no readable mysql map")]
    NoMap { param: String },
    #[error("{}: no usable host", .map.display())]
    NoHost { map: PathBuf },
    /// The key cannot fill the template (Postfix would send no query either).
    #[error("{0}")]
    NoQuery(Suppressed),
    #[error(transparent)]
    Db(#[from] DbError),
}
