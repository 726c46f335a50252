//! T13: the four `mysql:` map files main.cf names hold the connection keys and the tutorial's
//! lookups (mysql_table(5), VIRTUAL_README).

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Param, typo_note};
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::ProbeError;
use crate::probe::maps::{MYSQL_KEYS, MysqlMap, MysqlMapSummary};
use crate::probe::postfix::map_references;
use crate::verdict::{Verdict, worst_of};

/// One map the tutorial creates: the parameter that names it and the lookup it must do.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedMysqlMap {
    /// main.cf parameter, e.g. "virtual_alias_maps".
    pub parameter: String,
    /// The tutorial's file name, for messages.
    pub file: String,
    /// `SELECT <select> FROM <from> WHERE <key>='%s'`, compared without spaces, case and
    /// quotes around numbers.
    pub select: String,
    pub from: String,
    pub key: String,
    /// Conditions the query must also have, e.g. "backupmx = '0'".
    #[serde(default)]
    pub conditions: Vec<String>,
}

/// T13: the maps and the keys every map file needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub required_keys: Vec<String>,
    pub maps: Vec<ExpectedMysqlMap>,
}

/// One parameter's mysql map file as read.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MysqlMapFile {
    pub param: Param,
    /// The first `mysql:` file the parameter names.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Its keys and query (never the password).
    #[serde(default)]
    pub map: Option<MysqlMapSummary>,
    #[serde(default)]
    pub problem: Option<String>,
    #[serde(default)]
    pub missing: bool,
    #[serde(default)]
    pub needs_root: bool,
    /// For a missing `.cfl` file: whether the `.cf` beside it exists.
    #[serde(default)]
    pub sibling_exists: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub files: Vec<MysqlMapFile>,
}

/// T13: the kind.
pub struct MysqlMapFiles;

impl Kind for MysqlMapFiles {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let files = spec
            .maps
            .iter()
            .map(|m| {
                let param = Param::read(&cfg.main, &m.parameter);
                let path = map_references(&param.effective)
                    .into_iter()
                    .find(|(k, _)| k == "mysql")
                    .map(|(_, p)| p);
                let mut f = MysqlMapFile {
                    param,
                    path: path.clone(),
                    map: None,
                    problem: None,
                    missing: false,
                    needs_root: false,
                    sibling_exists: false,
                };
                if let Some(p) = &path {
                    match MysqlMap::load(p) {
                        Ok(m) => f.map = Some(m.summary()),
                        Err(e) => {
                            f.missing = matches!(e, ProbeError::NotFound { .. });
                            f.needs_root = matches!(e, ProbeError::PermissionDenied { .. });
                            f.sibling_exists = p.with_extension("cf").exists();
                            f.problem = Some(e.to_string());
                        }
                    }
                }
                f
            })
            .collect();
        Ok(Observation { files })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let mut findings = Vec::new();
        let mut ok = Vec::new();
        for want in &spec.maps {
            let Some(f) = o.files.iter().find(|f| f.param.name == want.parameter) else {
                findings.push(Verdict::error(format!("{} was not read", want.parameter)));
                continue;
            };
            let Some(path) = &f.path else {
                findings.push(Verdict::fail(format!(
                    "{} names no mysql: map; the tutorial has mysql:<config dir>/{}",
                    f.param.shown(),
                    want.file
                )));
                continue;
            };
            let shown = path.display();
            let Some(map) = &f.map else {
                let problem = f.problem.clone().unwrap_or_default();
                if f.needs_root {
                    findings.push(Verdict::error(problem));
                } else if f.missing {
                    findings.push(Verdict::fail(format!(
                        "{}: {shown} does not exist{}",
                        f.param.shown(),
                        typo_note(path, f.sibling_exists)
                    )));
                } else {
                    findings.push(Verdict::error(problem));
                }
                continue;
            };
            let mut wrong = Vec::new();
            for key in &spec.required_keys {
                let empty = match key.as_str() {
                    "password" => !map.has_password,
                    "user" => map.user.is_empty(),
                    "hosts" => map.hosts.is_empty(),
                    "dbname" => map.dbname.is_empty(),
                    _ => false,
                };
                if !map.keys.contains_key(key) {
                    wrong.push(format!("no `{key} =` line"));
                } else if empty {
                    wrong.push(format!("`{key} =` is empty"));
                }
            }
            let expected = format!(
                "SELECT {} FROM {} WHERE {}='%s'",
                want.select, want.from, want.key
            );
            match &map.query {
                None => wrong.push(
                    "neither `query =` nor table/select_field/where_field: Postfix cannot build a lookup"
                        .to_string(),
                ),
                Some(q) => {
                    let nq = normalise_sql(q);
                    if !nq.contains(&normalise_sql(&expected)) {
                        wrong.push(format!("the lookup is `{q}`, not the tutorial's `{expected}`"));
                    }
                    for c in &want.conditions {
                        if !nq.contains(&normalise_sql(c)) {
                            wrong.push(format!("the lookup `{q}` lacks the condition `{c}`"));
                        }
                    }
                }
            }
            if !wrong.is_empty() {
                findings.push(Verdict::fail(format!(
                    "{shown} (from {}): {}",
                    want.parameter,
                    wrong.join(", ")
                )));
                continue;
            }
            let mut oddities = Vec::new();
            for (k, line) in &map.keys {
                if !MYSQL_KEYS.contains(&k.as_str()) {
                    oddities.push(format!("unknown key `{k}` (line {line})"));
                }
            }
            for (line, text) in &map.malformed {
                oddities.push(format!("line {line} is not `key = value`: {text}"));
            }
            if !oddities.is_empty() {
                findings.push(Verdict::warn(format!("{shown}: {}", oddities.join(", "))));
            }
            ok.push(format!(
                "{} ({})",
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                map.query.clone().unwrap_or_default().trim()
            ));
        }
        let pass = format!(
            "{} map files hold user, password, hosts, dbname and the tutorial's lookups: {}",
            ok.len(),
            ok.join("; ")
        );
        worst_of(findings, &pass)
    }
}

/// SQL as compared: lower case, no whitespace or backquotes, `"` as `'`, and `'123'` as `123`.
fn normalise_sql(s: &str) -> String {
    let flat: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '`')
        .map(|c| {
            if c == '"' {
                '\''
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    // Unquote numeric literals.
    let chars: Vec<char> = flat.chars().collect();
    let mut out = String::with_capacity(flat.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\'' {
            let digits = chars[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if digits > 0 && chars.get(i + 1 + digits) == Some(&'\'') {
                out.extend(&chars[i + 1..i + 1 + digits]);
                i += digits + 2;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}
