//! T22: the database login pam_mysql makes for SMTP AUTH (user/passwd/host/db in /etc/pam.d/smtp,
//! pam_mysql(8)) tried as a read-only login, with a SELECT of the table and columns it reads
//! (`LIMIT 0`: no row, so never an account's password). saslauthd -c caches good passwords, so a
//! broken login can hide behind working AUTH until the cache expires.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::mysql::{ConnSpec, DbError, SessionInfo};
use crate::probe::pam::{self, pam_mysql_logins, parse};
use crate::verdict::{Verdict, worst_of};

/// T22: the PAM service file and the module whose login is tried.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub path: PathBuf,
    pub module: String,
}

/// One login of the pam_mysql rules (never its password).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginProbe {
    /// Lines of the rules that make this login.
    pub lines: Vec<usize>,
    pub user: String,
    /// `host=` as written (empty: not set).
    pub host: String,
    /// Where pam_mysql connects, or why it cannot.
    pub endpoint: String,
    pub db: String,
    pub table: String,
    pub columns: Vec<String>,
    /// `passwd=` is set and not empty (the value is never recorded).
    pub has_password: bool,
    #[serde(default)]
    pub session: Option<SessionInfo>,
    #[serde(default)]
    pub error: Option<DbError>,
    /// The `SELECT <columns> FROM <table> LIMIT 0` pam_mysql's lookup needs, when it failed.
    #[serde(default)]
    pub select_error: Option<DbError>,
    /// Why the SELECT was not tried (a table or column that is not a plain name).
    #[serde(default)]
    pub select_note: Option<String>,
}

/// What the check looks at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    pub path: PathBuf,
    pub logins: Vec<LoginProbe>,
}

/// ER_TABLEACCESS_DENIED_ERROR, ER_COLUMNACCESS_DENIED_ERROR, ER_NO_SUCH_TABLE, ER_BAD_FIELD_ERROR.
const SELECT_BROKEN: &[u16] = &[1142, 1143, 1146, 1054];

/// A table or column pam_mysql names, quoted for MySQL when it is a plain (dotted) name.
fn quoted(name: &str) -> Option<String> {
    let plain = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    };
    let parts: Vec<&str> = name.split('.').collect();
    parts.iter().all(|p| plain(p)).then(|| {
        parts
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(".")
    })
}

fn lines(l: &[usize]) -> String {
    let s: Vec<String> = l.iter().map(ToString::to_string).collect();
    format!(
        "line{} {}",
        if l.len() == 1 { "" } else { "s" },
        s.join(", ")
    )
}

const CACHE_NOTE: &str = "SMTP AUTH may still work for now: saslauthd -c caches good passwords and hides the break until the cache expires or saslauthd restarts, then every login fails";

/// T22: the kind.
pub struct PamMysqlLogin;

async fn probe(facts: &Facts, path: &std::path::Path, l: &pam::PamMysqlLogin) -> LoginProbe {
    let limit = facts.settings.timeouts.database;
    let mut p = LoginProbe {
        lines: l.lines.clone(),
        user: l.user.clone(),
        host: l.host.clone(),
        endpoint: match &l.endpoint {
            Ok(e) => e.to_string(),
            Err(e) => format!("none ({e})"),
        },
        db: l.db.clone(),
        table: l.table.clone(),
        columns: [&l.usercolumn, &l.passwdcolumn]
            .into_iter()
            .filter(|c| !c.is_empty())
            .cloned()
            .collect(),
        has_password: !l.password.expose().is_empty(),
        session: None,
        error: None,
        select_error: None,
        select_note: None,
    };
    let Ok(endpoint) = &l.endpoint else {
        return p;
    };
    let cs = ConnSpec {
        endpoint: endpoint.clone(),
        user: l.user.clone(),
        password: l.password.clone(),
        dbname: l.db.clone(),
        source: path.to_path_buf(),
    };
    match facts.mysql.session(&cs, limit).await {
        Ok(s) => p.session = Some(s),
        Err(e) => {
            p.error = Some(e);
            return p;
        }
    }
    let table = quoted(&l.table);
    let cols: Option<Vec<String>> = p.columns.iter().map(|c| quoted(c)).collect();
    match (table, cols) {
        (Some(t), Some(c)) if !c.is_empty() => {
            let sql = format!("SELECT {} FROM {t} LIMIT 0", c.join(", "));
            p.select_error = facts.mysql.query(&cs, &sql, limit).await.err();
        }
        _ => {
            p.select_note = Some(format!(
                "table={} with usercolumn/passwdcolumn {} is not a plain table and column names, so the SELECT was not tried",
                l.table,
                p.columns.join(", ")
            ));
        }
    }
    p
}

impl Kind for PamMysqlLogin {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let text = match std::fs::read_to_string(&spec.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(Unobserved::NeedsRoot {
                    path: spec.path.clone(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Unobserved::NotApplicable {
                    reason: format!(
                        "{} does not exist (sasl.pam-smtp reports it)",
                        spec.path.display()
                    ),
                });
            }
            Err(e) => {
                return Err(Unobserved::Unreadable {
                    path: spec.path.clone(),
                    message: e.to_string(),
                });
            }
        };
        let logins = pam_mysql_logins(&parse(&text), &spec.module);
        if logins.is_empty() {
            return Err(Unobserved::NotApplicable {
                reason: format!(
                    "{} has no {} rule (sasl.pam-smtp reports it)",
                    spec.path.display(),
                    spec.module
                ),
            });
        }
        let mut out = Vec::new();
        for l in &logins {
            out.push(probe(facts, &spec.path, l).await);
        }
        Ok(Observation {
            path: spec.path.clone(),
            logins: out,
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let name = o.path.display();
        let mut findings = Vec::new();
        let mut good = Vec::new();
        for l in &o.logins {
            let at = format!(
                "pam_mysql's login in {name} {} (user={} host={} db={})",
                lines(&l.lines),
                l.user,
                if l.host.is_empty() {
                    "(unset)"
                } else {
                    &l.host
                },
                l.db
            );
            match &l.error {
                None if l.session.is_none() => findings.push(Verdict::fail(format!(
                    "{at}: pam_mysql cannot connect anywhere: {}",
                    l.endpoint
                ))),
                None => {}
                Some(DbError::AccessDenied { message, .. }) => {
                    findings.push(
                        Verdict::fail(format!(
                            "{at} is refused by the database on {}: {message}{}; {CACHE_NOTE}",
                            l.endpoint,
                            if l.has_password { "" } else { " (passwd= is empty)" }
                        ))
                        .with_fix(format!(
                            "Make passwd= in {name} the password of the MySQL account '{}' (the maps' password = when they log in as the same user), or ALTER USER it; then restart saslauthd to empty its cache",
                            l.user
                        )),
                    );
                    continue;
                }
                Some(DbError::UnknownDatabase { dbname, .. }) => {
                    findings.push(Verdict::fail(format!(
                        "{at}: database '{dbname}' does not exist on {}; {CACHE_NOTE}",
                        l.endpoint
                    )));
                    continue;
                }
                Some(e @ (DbError::Refused { .. } | DbError::Unreachable { .. })) => {
                    findings.push(Verdict::fail(format!(
                        "{at}: pam_mysql cannot connect: {e} (mysql.server-listens names where MariaDB listens); {CACHE_NOTE}"
                    )));
                    continue;
                }
                Some(e) => {
                    findings.push(Verdict::error(format!("{at}: cannot tell: {e}")));
                    continue;
                }
            }
            match &l.select_error {
                Some(DbError::Query {
                    code: Some(c),
                    message,
                    ..
                }) if SELECT_BROKEN.contains(c) => findings.push(Verdict::fail(format!(
                    "{at} logs in, but cannot read {} of table {}: {message}; {CACHE_NOTE}",
                    l.columns.join(", "),
                    l.table
                ))),
                Some(e) => findings.push(Verdict::error(format!(
                    "{at} logs in; cannot tell whether it may read table {}: {e}",
                    l.table
                ))),
                None => {}
            }
            if let Some(n) = &l.select_note {
                findings.push(Verdict::warn(format!("{at}: {n}")));
            }
            let read = if l.select_error.is_none() && l.select_note.is_none() {
                format!(" and may read {} of {}", l.columns.join(", "), l.table)
            } else {
                String::new()
            };
            good.push(format!(
                "{name} {} log in as {}@{} on {}{read}",
                lines(&l.lines),
                l.user,
                l.db,
                l.endpoint
            ));
        }
        let pass = format!("pam_mysql's database login works: {}", good.join("; "));
        worst_of(findings, &pass)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_only() {
        assert_eq!(quoted("mailbox").as_deref(), Some("`mailbox`"));
        assert_eq!(quoted("mail.mailbox").as_deref(), Some("`mail`.`mailbox`"));
        assert_eq!(quoted("mailbox m JOIN x"), None);
        assert_eq!(quoted("a`b"), None);
        assert_eq!(quoted(""), None);
    }
}
