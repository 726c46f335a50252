//! PAM service files such as /etc/pam.d/smtp (pam.conf(5)): `type control module args...`,
//! with `[...]` controls and arguments, `-type` and backslash-continued lines.

use serde::{Deserialize, Serialize};

/// One rule of a PAM service file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PamRule {
    /// 1-based line where the rule starts.
    pub line: usize,
    /// `auth`, `account`, `password` or `session` (a leading `-` removed).
    pub kind: String,
    pub control: String,
    /// As written, e.g. `pam_mysql.so` or `/lib/x86_64-linux-gnu/security/pam_mysql.so`.
    pub module: String,
    pub args: Vec<String>,
}

impl PamRule {
    /// The module's file name (`pam_mysql.so` for either form above).
    pub fn module_name(&self) -> &str {
        self.module.rsplit('/').next().unwrap_or(&self.module)
    }

    /// The value of `key=value` among the arguments (the last one wins, as in pam_mysql).
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.args
            .iter()
            .rev()
            .find_map(|a| a.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v))
    }
}

/// Logical lines: comments dropped, a trailing backslash joins the next line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("");
        let (start, mut acc) = pending.take().unwrap_or((n + 1, String::new()));
        if let Some(body) = line.strip_suffix('\\') {
            acc.push_str(body);
            acc.push(' ');
            pending = Some((start, acc));
            continue;
        }
        acc.push_str(line);
        if !acc.trim().is_empty() {
            out.push((start, acc));
        }
    }
    if let Some((start, acc)) = pending
        && !acc.trim().is_empty()
    {
        out.push((start, acc));
    }
    out
}

/// Splits on whitespace, keeping `[...]` groups (with `\]` escapes) as one word, brackets removed.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut in_bracket = false;
    let mut had_bracket = false;
    while let Some(c) = chars.next() {
        if in_bracket {
            match c {
                '\\' if chars.peek() == Some(&']') => {
                    cur.push(']');
                    chars.next();
                }
                ']' => in_bracket = false,
                c => cur.push(c),
            }
            continue;
        }
        match c {
            '[' if cur.is_empty() => {
                in_bracket = true;
                had_bracket = true;
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() || had_bracket {
                    out.push(std::mem::take(&mut cur));
                }
                had_bracket = false;
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() || had_bracket {
        out.push(cur);
    }
    out
}

/// The rules of a PAM service file; `@include` lines and malformed lines are skipped.
pub fn parse(text: &str) -> Vec<PamRule> {
    let mut out = Vec::new();
    for (line, l) in logical_lines(text) {
        let w = words(&l);
        if w.len() < 3 || w[0].starts_with('@') {
            continue;
        }
        out.push(PamRule {
            line,
            kind: w[0].trim_start_matches('-').to_ascii_lowercase(),
            control: w[1].clone(),
            module: w[2].clone(),
            args: w[3..].to_vec(),
        });
    }
    out
}

/// `text` with the value of every `key=` argument in `keys` replaced by `replacement`, so a
/// service file can be kept as evidence. Only non-empty values are replaced.
pub fn redact_args(text: &str, keys: &[&str], replacement: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    // Each key with its `=`, as characters, made once rather than at every word.
    let prefixes: Vec<(&str, Vec<char>)> = keys
        .iter()
        .map(|k| (*k, k.chars().chain(['=']).collect()))
        .collect();
    let mut i = 0;
    while i < chars.len() {
        let at_word_start = i == 0 || chars[i - 1].is_whitespace() || chars[i - 1] == '[';
        let hit = at_word_start
            .then(|| {
                prefixes
                    .iter()
                    .find(|(_, kc)| chars[i..].starts_with(kc))
                    .map(|(k, _)| *k)
            })
            .flatten();
        if let Some(k) = hit {
            let in_bracket = i > 0 && chars[i - 1] == '[';
            out.push_str(k);
            out.push('=');
            i += k.chars().count() + 1;
            let start = i;
            while i < chars.len() {
                let c = chars[i];
                let end = if in_bracket {
                    c == ']' && chars[i - 1] != '\\'
                } else {
                    c.is_whitespace()
                };
                if end || c == '\n' {
                    break;
                }
                i += 1;
            }
            if i > start {
                out.push_str(replacement);
            }
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// The login one or more pam_mysql rules make (pam_mysql.c `pam_mysql_open_db`): `host=` a path
/// is a UNIX socket, `host:port` TCP, no host (or `localhost`) the client library's socket.
/// Holds the password, so it is never recorded.
#[derive(Debug, Clone)]
pub struct PamMysqlLogin {
    /// Lines of the rules that make this same login.
    pub lines: Vec<usize>,
    pub user: String,
    pub password: crate::secret::Secret,
    /// `host=` as written (empty when absent).
    pub host: String,
    pub endpoint: Result<crate::probe::mysql::Endpoint, crate::probe::mysql::MapError>,
    pub db: String,
    pub table: String,
    pub usercolumn: String,
    pub passwdcolumn: String,
}

/// Where pam_mysql connects for `host=` (absent: `None`).
pub fn pam_mysql_endpoint(
    host: Option<&str>,
) -> Result<crate::probe::mysql::Endpoint, crate::probe::mysql::MapError> {
    use crate::probe::mysql::{DEFAULT_SOCKET, Endpoint, parse_host};
    match host.map(str::trim) {
        None | Some("") => Ok(Endpoint::Unix {
            path: DEFAULT_SOCKET.into(),
        }),
        Some(h) if h.starts_with('/') => Ok(Endpoint::Unix { path: h.into() }),
        Some(h) => parse_host(h),
    }
}

/// The distinct logins of the `module` rules in `rules` (same user, password, host and db: one).
pub fn pam_mysql_logins(rules: &[PamRule], module: &str) -> Vec<PamMysqlLogin> {
    let mut out: Vec<PamMysqlLogin> = Vec::new();
    for r in rules.iter().filter(|r| r.module_name() == module) {
        let get = |k: &str| r.arg(k).unwrap_or("").to_string();
        let (user, password, host, db) = (get("user"), get("passwd"), get("host"), get("db"));
        if let Some(known) = out.iter_mut().find(|l| {
            l.user == user && l.password.expose() == password && l.host == host && l.db == db
        }) {
            known.lines.push(r.line);
            continue;
        }
        out.push(PamMysqlLogin {
            lines: vec![r.line],
            endpoint: pam_mysql_endpoint(r.arg("host")),
            user,
            password: crate::secret::Secret::new(password),
            host,
            db,
            table: get("table"),
            usercolumn: get("usercolumn"),
            passwdcolumn: get("passwdcolumn"),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TUTORIAL: &str = "auth    required   pam_mysql.so user=mailadmin passwd=newpassword host=127.0.0.1 db=mail table=mailbox usercolumn=username passwdcolumn=password crypt=1\n\
account sufficient pam_mysql.so user=mailadmin passwd=newpassword host=127.0.0.1 db=mail table=mailbox usercolumn=username passwdcolumn=password crypt=1\n";

    #[test]
    fn tutorial_lines() {
        let r = parse(TUTORIAL);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].kind, "auth");
        assert_eq!(r[1].kind, "account");
        assert_eq!(r[1].control, "sufficient");
        assert_eq!(r[0].module_name(), "pam_mysql.so");
        assert_eq!(r[0].arg("crypt"), Some("1"));
        assert_eq!(r[0].arg("passwdcolumn"), Some("password"));
        assert_eq!(r[0].arg("nope"), None);
    }

    #[test]
    fn brackets_continuations_comments() {
        let text = "# comment\n-auth [success=1 default=ignore] /lib/security/pam_mysql.so \\\n  [passwd=a b] db=mail # trailing\n@include common-auth\naccount required\n";
        let r = parse(text);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].line, 2);
        assert_eq!(r[0].kind, "auth");
        assert_eq!(r[0].control, "success=1 default=ignore");
        assert_eq!(r[0].module_name(), "pam_mysql.so");
        assert_eq!(r[0].arg("passwd"), Some("a b"));
        assert_eq!(r[0].arg("db"), Some("mail"));
    }

    #[test]
    fn pam_mysql_logins_and_endpoints() {
        let l = pam_mysql_logins(&parse(TUTORIAL), "pam_mysql.so");
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].lines, vec![1, 2]);
        assert_eq!(
            l[0].endpoint
                .as_ref()
                .map(ToString::to_string)
                .ok()
                .as_deref(),
            Some("127.0.0.1:3306")
        );
        let ep = |h| {
            pam_mysql_endpoint(h)
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert_eq!(ep(None), "unix:/run/mysqld/mysqld.sock");
        assert_eq!(ep(Some("localhost")), "unix:/run/mysqld/mysqld.sock");
        assert_eq!(ep(Some("/tmp/my.sock")), "unix:/tmp/my.sock");
        assert_eq!(ep(Some("10.0.0.1:3307")), "10.0.0.1:3307");
    }

    #[test]
    fn redacts_passwords_only() {
        let out = redact_args(TUTORIAL, &["passwd"], "<redacted>");
        assert!(!out.contains("newpassword"), "{out}");
        assert_eq!(out.matches("passwd=<redacted>").count(), 2);
        assert!(out.contains("passwdcolumn=password"));
        assert!(out.contains("user=mailadmin"));
        let out = redact_args(
            "auth x pam_mysql.so [passwd=a b] passwd= db=m",
            &["passwd"],
            "R",
        );
        assert_eq!(out, "auth x pam_mysql.so [passwd=R] passwd= db=m");
    }
}
