//! Postfix lookup-table files: `mysql:` configuration files (mysql_table(5)), `regexp:`/`pcre:`
//! tables (regexp_table(5), pcre_table(5)), and where indexed maps (`hash:`) keep their data.
//! Same line syntax as main.cf: `#` comments, continuation lines that start with whitespace.
//! Patterns are evaluated with the `regex` crate.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::ProbeError;
use super::postfix::{logical_lines, split_list};
use crate::secret::Secret;

/// One `mysql:` map configuration file. `Debug` hides the password (it is a [`Secret`]); the
/// struct is deliberately not `Serialize`: use [`MysqlMap::summary`] for evidence.
#[derive(Debug, Clone)]
pub struct MysqlMap {
    pub path: PathBuf,
    pub user: String,
    pub password: Secret,
    /// `hosts =`: host names, `inet:host:port` or `unix:/socket`, in the order Postfix tries them.
    pub hosts: Vec<String>,
    pub dbname: String,
    /// `query =` (Postfix 2.2+); when absent Postfix builds one from the legacy keys.
    pub query: Option<String>,
    pub table: String,
    pub select_field: String,
    pub where_field: String,
    pub additional_conditions: String,
    pub result_format: Option<String>,
    /// `domain =`: the map is only asked about addresses in these domains.
    pub domain: Vec<String>,
    /// Every key set in the file and the line where it is (last) set.
    pub keys: BTreeMap<String, usize>,
    /// Lines that are not `key = value`.
    pub malformed: Vec<(usize, String)>,
}

/// What a check may show of a [`MysqlMap`]: everything but the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MysqlMapSummary {
    pub path: PathBuf,
    /// Keys set in the file, with their lines.
    pub keys: BTreeMap<String, usize>,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub dbname: String,
    /// Whether `password =` is set and not empty (the value itself is never recorded).
    #[serde(default)]
    pub has_password: bool,
    /// The SQL template Postfix runs (`%s` is the key looked up); `None` when neither `query`
    /// nor `table`/`select_field`/`where_field` are set (Postfix refuses such a map).
    #[serde(default)]
    pub query: Option<String>,
    /// Whether the query comes from `query =` rather than the legacy keys.
    #[serde(default)]
    pub explicit_query: bool,
    #[serde(default)]
    pub malformed: Vec<(usize, String)>,
}

/// The keys mysql_table(5) documents (Postfix 3.7), for spotting misspelt ones.
pub const MYSQL_KEYS: &[&str] = &[
    "hosts",
    "user",
    "password",
    "dbname",
    "query",
    "result_format",
    "domain",
    "expansion_limit",
    "option_file",
    "option_group",
    "require_result_set",
    "tls_cert_file",
    "tls_key_file",
    "tls_CAfile",
    "tls_CApath",
    "tls_ciphers",
    "tls_verify_cert",
    "idle_interval",
    "retry_interval",
    "charset",
    "table",
    "select_field",
    "where_field",
    "additional_conditions",
];

/// key → (line, value).
type KeyValues = BTreeMap<String, (usize, String)>;

/// `key = value` pairs of a Postfix map configuration file; a later key wins, as in Postfix.
/// Also returns the lines that are not `key = value`.
fn key_values(text: &str) -> (KeyValues, Vec<(usize, String)>) {
    let mut keys = BTreeMap::new();
    let mut malformed = Vec::new();
    for (line, l) in logical_lines(text) {
        match l.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() && !k.trim().contains(char::is_whitespace) => {
                keys.insert(k.trim().to_string(), (line, v.trim().to_string()));
            }
            _ => malformed.push((line, l)),
        }
    }
    (keys, malformed)
}

impl MysqlMap {
    /// Parses the text of a mysql_table(5) file.
    pub fn parse(path: &Path, text: &str) -> MysqlMap {
        let (kv, malformed) = key_values(text);
        let get = |k: &str| kv.get(k).map(|(_, v)| v.clone());
        let text_of = |k: &str| get(k).unwrap_or_default();
        MysqlMap {
            path: path.to_path_buf(),
            user: text_of("user"),
            password: Secret::new(text_of("password")),
            hosts: split_list(&text_of("hosts")),
            dbname: text_of("dbname"),
            query: get("query"),
            table: text_of("table"),
            select_field: text_of("select_field"),
            where_field: text_of("where_field"),
            additional_conditions: text_of("additional_conditions"),
            result_format: get("result_format"),
            domain: split_list(&text_of("domain")),
            keys: kv.iter().map(|(k, (line, _))| (k.clone(), *line)).collect(),
            malformed,
        }
    }

    /// Reads and parses `path`. Permission denied is [`ProbeError::PermissionDenied`]
    /// ("needs root to read ...").
    pub fn load(path: &Path) -> Result<MysqlMap, ProbeError> {
        let text = std::fs::read_to_string(path).map_err(|e| ProbeError::from_io(path, &e))?;
        Ok(MysqlMap::parse(path, &text))
    }

    /// The SQL template Postfix runs for a lookup, `%s` standing for the key: `query` when
    /// set, else `SELECT select_field FROM table WHERE where_field='%s' additional_conditions`
    /// (db_common_sql_build_query). `None` when neither form is complete.
    pub fn query_template(&self) -> Option<String> {
        if let Some(q) = &self.query {
            return Some(q.clone());
        }
        if self.table.is_empty() || self.select_field.is_empty() || self.where_field.is_empty() {
            return None;
        }
        Some(format!(
            "SELECT {} FROM {} WHERE {}='%s' {}",
            self.select_field, self.table, self.where_field, self.additional_conditions
        ))
    }

    /// Everything but the password, for observations and reports.
    pub fn summary(&self) -> MysqlMapSummary {
        MysqlMapSummary {
            path: self.path.clone(),
            keys: self.keys.clone(),
            user: self.user.clone(),
            hosts: self.hosts.clone(),
            dbname: self.dbname.clone(),
            has_password: !self.password.expose().is_empty(),
            query: self.query_template(),
            explicit_query: self.query.is_some(),
            malformed: self.malformed.clone(),
        }
    }
}

/// The file Postfix actually opens for `kind:path`: indexed maps keep their data beside the
/// source (`hash:/etc/aliases` → `/etc/aliases.db`); other types read `path` itself.
pub fn data_file(kind: &str, path: &Path) -> PathBuf {
    let suffix = match kind {
        "hash" | "btree" => ".db",
        "lmdb" => ".lmdb",
        "cdb" => ".cdb",
        "dbm" | "sdbm" => ".pag",
        _ => return path.to_path_buf(),
    };
    let mut p = path.as_os_str().to_os_string();
    p.push(suffix);
    PathBuf::from(p)
}

/// What one line of a regexp/pcre table is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    /// `/pattern/flags result`
    Match,
    /// `if /pattern/flags` opens a block.
    If,
    Endif,
}

/// One rule of a regexp_table(5)/pcre_table(5) file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RegexpRule {
    pub line: usize,
    pub kind: RuleKind,
    /// `!/pattern/`: the rule applies when the pattern does *not* match.
    #[serde(default)]
    pub negated: bool,
    #[serde(default)]
    pub pattern: String,
    #[serde(default)]
    pub flags: String,
    /// The result (action), e.g. `REJECT`; empty for `if`/`endif`.
    #[serde(default)]
    pub action: String,
}

/// A parsed regexp/pcre table: its rules and the lines Postfix would reject.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RegexpTable {
    pub rules: Vec<RegexpRule>,
    #[serde(default)]
    pub malformed: Vec<(usize, String)>,
    /// Each rule's pattern compiled at most once, when a subject first reaches it.
    #[serde(skip)]
    #[schemars(skip)]
    compiled: CompiledRules,
}

/// The compiled patterns of a table's rules, by index, filled lazily. Each entry keeps what it
/// was compiled from, so a rule changed after its pattern was compiled is compiled afresh. Not
/// part of the table's value: every two caches compare equal.
#[derive(Clone, Default)]
struct CompiledRules(OnceLock<Vec<OnceLock<Compiled>>>);

#[derive(Clone)]
struct Compiled {
    line: usize,
    pattern: String,
    flags: String,
    regex: Result<regex::Regex, PatternError>,
}

impl CompiledRules {
    /// Runs `f` on rule `i`'s compiled pattern, compiling it on first use.
    fn with<T>(
        &self,
        rules: &[RegexpRule],
        i: usize,
        f: impl FnOnce(&regex::Regex) -> T,
    ) -> Result<T, PatternError> {
        let r = &rules[i];
        let slots = self
            .0
            .get_or_init(|| rules.iter().map(|_| OnceLock::new()).collect());
        let c = slots.get(i).map(|slot| {
            slot.get_or_init(|| Compiled {
                line: r.line,
                pattern: r.pattern.clone(),
                flags: r.flags.clone(),
                regex: compile(r),
            })
        });
        match c {
            Some(c) if c.line == r.line && c.pattern == r.pattern && c.flags == r.flags => {
                c.regex.as_ref().map(f).map_err(Clone::clone)
            }
            _ => compile(r).as_ref().map(f).map_err(Clone::clone),
        }
    }
}

impl fmt::Debug for CompiledRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self
            .0
            .get()
            .map_or(0, |v| v.iter().filter(|s| s.get().is_some()).count());
        write!(f, "CompiledRules({n} compiled)")
    }
}

impl PartialEq for CompiledRules {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for CompiledRules {}

/// Splits `/pattern/flags rest` (any delimiter, `\` escapes it) into (pattern, flags, rest).
fn split_pattern(s: &str) -> Option<(String, String, String)> {
    let mut chars = s.chars();
    let delim = chars.next()?;
    if delim.is_whitespace() || delim == '\\' {
        return None;
    }
    let mut pattern = String::new();
    let mut closed = false;
    while let Some(c) = chars.next() {
        if c == '\\' {
            // dict_regexp.c keeps the backslash: `\/` reaches regcomp(3) as a literal `/`.
            pattern.push('\\');
            pattern.push(chars.next()?);
        } else if c == delim {
            closed = true;
            break;
        } else {
            pattern.push(c);
        }
    }
    if !closed {
        return None;
    }
    let rest: String = chars.collect();
    let flags_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    Some((
        pattern,
        rest[..flags_end].to_string(),
        rest[flags_end..].trim().to_string(),
    ))
}

impl RegexpTable {
    pub fn parse(text: &str) -> RegexpTable {
        let mut t = RegexpTable::default();
        for (line, l) in logical_lines(text) {
            let lower = l.to_ascii_lowercase();
            if lower == "endif" {
                t.rules.push(RegexpRule {
                    line,
                    kind: RuleKind::Endif,
                    negated: false,
                    pattern: String::new(),
                    flags: String::new(),
                    action: String::new(),
                });
                continue;
            }
            let (kind, body) = match lower.strip_prefix("if") {
                Some(r) if r.starts_with(char::is_whitespace) || r.starts_with(['/', '!']) => {
                    (RuleKind::If, l[2..].trim_start())
                }
                _ => (RuleKind::Match, l.as_str()),
            };
            // Each `!` toggles the sense, as in dict_regexp.c.
            let mut negated = false;
            let mut body = body;
            while let Some(b) = body.strip_prefix('!') {
                negated = !negated;
                body = b.trim_start();
            }
            match split_pattern(body) {
                Some((pattern, flags, action)) if (kind == RuleKind::If) == action.is_empty() => {
                    t.rules.push(RegexpRule {
                        line,
                        kind,
                        negated,
                        pattern,
                        flags,
                        action,
                    });
                }
                _ => t.malformed.push((line, l)),
            }
        }
        t
    }

    /// The first rule whose pattern applies to `text` (inside the `if` blocks that apply), as
    /// Postfix's header_checks use the table; `Ok(None)` when no rule matches.
    pub fn first_match(&self, text: &str) -> Result<Option<&RegexpRule>, PatternError> {
        // Depth of `if` blocks we are inside, and the depth up to which they all applied.
        let mut depth = 0usize;
        let mut live = 0usize;
        for (i, r) in self.rules.iter().enumerate() {
            match r.kind {
                RuleKind::Endif => {
                    if live == depth && live > 0 {
                        live -= 1;
                    }
                    depth = depth.saturating_sub(1);
                }
                RuleKind::If => {
                    let applies = live == depth && self.applies(i, text)?;
                    depth += 1;
                    if applies {
                        live += 1;
                    }
                }
                RuleKind::Match => {
                    if live == depth && self.applies(i, text)? {
                        return Ok(Some(r));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Whether rule `i` applies to `text` (its pattern matches, or does not if negated).
    fn applies(&self, i: usize, text: &str) -> Result<bool, PatternError> {
        let negated = self.rules[i].negated;
        self.compiled
            .with(&self.rules, i, |re| re.is_match(text) != negated)
    }

    /// Rule `i`'s pattern compiled as [`compile`] does, once per table; `None` past the last
    /// rule.
    pub fn check_rule(&self, i: usize) -> Option<Result<(), PatternError>> {
        (i < self.rules.len()).then(|| self.compiled.with(&self.rules, i, |_| ()))
    }
}

/// A pattern mailcheck cannot evaluate (e.g. a PCRE back-reference the `regex` crate lacks).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot evaluate /{pattern}/ (line {line}): {message}")]
pub struct PatternError {
    pub line: usize,
    pub pattern: String,
    pub message: String,
}

/// Compiles a rule's pattern with its regexp_table(5) flags: case-insensitive unless `i`
/// toggles it off; `m` (REG_NEWLINE) makes `^`/`$` match at embedded newlines and keeps `.`
/// from matching one. The `regex` crate's syntax covers the POSIX ERE and PCRE forms header
/// rules use (`[^>]*`, `\.`, `(a|b)`, `[[:alpha:]]`, `"?`); where they differ (a backslash
/// inside brackets is literal in POSIX) the result may differ from Postfix's.
pub fn compile(rule: &RegexpRule) -> Result<regex::Regex, PatternError> {
    let mut icase = true;
    let mut newline = false;
    for f in rule.flags.chars() {
        match f {
            'i' => icase = !icase,
            'm' => newline = !newline,
            _ => {}
        }
    }
    regex::RegexBuilder::new(&rule.pattern)
        .case_insensitive(icase)
        .multi_line(newline)
        .dot_matches_new_line(!newline)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| PatternError {
            line: rule.line,
            pattern: rule.pattern.clone(),
            message: e
                .to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
                .to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAILBOX: &str = "user = mailadmin\npassword = newpassword\nhosts = 127.0.0.1\ndbname = mail\ntable = mailbox\nquery = SELECT CONCAT(domain,'/',SUBSTRING_INDEX(maildir,'@',1),'/') FROM mailbox\n  WHERE username='%s' AND active = 1\n";

    #[test]
    fn mysql_map_query_and_continuation() {
        let m = MysqlMap::parse(Path::new("/etc/postfix/m.cf"), MAILBOX);
        assert_eq!(m.user, "mailadmin");
        assert_eq!(m.hosts, vec!["127.0.0.1"]);
        assert_eq!(
            m.query_template().unwrap(),
            "SELECT CONCAT(domain,'/',SUBSTRING_INDEX(maildir,'@',1),'/') FROM mailbox WHERE username='%s' AND active = 1"
        );
        assert_eq!(m.keys["query"], 6);
        let s = m.summary();
        assert!(s.has_password);
        assert!(!format!("{m:?}{s:?}").contains("newpassword"));
        assert!(!serde_json::to_string(&s).unwrap().contains("newpassword"));
    }

    #[test]
    fn mysql_map_legacy_keys_build_the_query() {
        let m = MysqlMap::parse(
            Path::new("d.cf"),
            "# comment\nuser=u\npassword=p\nhosts = db1 , unix:/run/mysqld.sock\ndbname=mail\ntable = domain\nselect_field = domain\nwhere_field = domain\nadditional_conditions = and backupmx = '0' and active = '1'\n",
        );
        assert_eq!(m.hosts, vec!["db1", "unix:/run/mysqld.sock"]);
        assert_eq!(
            m.query_template().unwrap(),
            "SELECT domain FROM domain WHERE domain='%s' and backupmx = '0' and active = '1'"
        );
        let incomplete = MysqlMap::parse(Path::new("x.cf"), "table = t\n");
        assert_eq!(incomplete.query_template(), None);
    }

    #[test]
    fn regexp_table_rules_and_if_blocks() {
        let t = RegexpTable::parse(
            "# attachments\n/name=[^>]*\\.(bat|com|exe|dll|vbs)$/ REJECT\nif /^Content-Type:/\n!/text/ WARN not text\nendif\n#x|a\\|b|i DUNNO\nbroken line\n",
        );
        assert_eq!(t.rules.len(), 4);
        assert_eq!(t.malformed.len(), 1);
        assert_eq!(t.rules[0].action, "REJECT");
        let hit = t
            .first_match("Content-Type: application/x; name=a.exe")
            .unwrap()
            .unwrap();
        assert_eq!(hit.line, 2);
        let hit = t.first_match("Content-Type: image/png").unwrap().unwrap();
        assert_eq!(hit.action, "WARN not text");
        assert!(t.first_match("Subject: image").unwrap().is_none());
        let d = RegexpTable::parse("#a\\#b# OK\n");
        assert!(d.rules.is_empty(), "a # line is a comment");
        let d = RegexpTable::parse("|a/b\\|c|i OK\n");
        assert_eq!(d.rules[0].pattern, "a/b\\|c");
        assert_eq!(d.rules[0].flags, "i");
    }

    #[test]
    fn tutorial_attachment_rule_misses_quoted_names() {
        let unquoted = "Content-Type: application/octet-stream; name=x.exe";
        let quoted = "Content-Type: application/octet-stream; name=\"x.exe\"";
        let t = RegexpTable::parse("/name=[^>]*\\.(bat|com|exe|dll|vbs)$/ REJECT\n");
        assert!(t.first_match(unquoted).unwrap().is_some());
        assert!(t.first_match(&unquoted.to_uppercase()).unwrap().is_some());
        assert!(t.first_match(quoted).unwrap().is_none());
        let fixed = RegexpTable::parse("/name=[^>]*\\.(bat|com|exe|dll|vbs)\"?$/ REJECT\n");
        assert!(fixed.first_match(quoted).unwrap().is_some());
        let case = RegexpTable::parse("/name=x\\.exe$/i REJECT\n");
        assert!(
            case.first_match("NAME=X.EXE").unwrap().is_none(),
            "i turns case-insensitivity off"
        );
        let bad = RegexpTable::parse("/(a)\\1/ REJECT\n");
        assert!(bad.first_match("aa").is_err());
    }

    #[test]
    fn indexed_maps_keep_data_beside_the_source() {
        assert_eq!(
            data_file("hash", Path::new("/etc/aliases")),
            PathBuf::from("/etc/aliases.db")
        );
        assert_eq!(
            data_file("mysql", Path::new("/etc/postfix/a.cf")),
            PathBuf::from("/etc/postfix/a.cf")
        );
    }
}
