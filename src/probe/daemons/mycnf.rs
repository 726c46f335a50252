//! MariaDB/MySQL option files (my.cnf) as mysys/my_default.c reads them: `[group]`,
//! `name[=value]`, quotes and escapes, `#` comments, `!include` and `!includedir` (the `.cnf`
//! files of a directory, in sorted order), the last setting winning.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The files mariadbd and libmariadb read on Debian, in order (`~/.my.cnf` left out: it is
/// the home of whoever starts the program).
pub const DEFAULT_FILES: &[&str] = &["/etc/my.cnf", "/etc/mysql/my.cnf"];
/// The groups MariaDB's client library reads (Postfix's dict_mysql reads `[client]` by
/// default since Postfix 3.2: `option_group = client`).
pub const CLIENT_GROUPS: &[&str] = &["client", "client-server", "client-mariadb"];
/// MariaDB stops following `!include` this deep.
const MAX_DEPTH: usize = 10;
/// Most files read in one load.
const MAX_FILES: usize = 256;
/// Longest option file read.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The groups mariadbd reads, for server version `major.minor` (e.g. "10.11").
pub fn server_groups(version: &str) -> Vec<String> {
    let mut g: Vec<String> = ["mysqld", "server"].map(String::from).to_vec();
    g.push(format!("mysqld-{version}"));
    g.push("mariadb".to_string());
    g.push(format!("mariadb-{version}"));
    g.push("mariadbd".to_string());
    g.push(format!("mariadbd-{version}"));
    g.push("client-server".to_string());
    g.push("galera".to_string());
    g
}

/// One line of an option file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Group(String),
    Option {
        name: String,
        value: Option<String>,
    },
    Include(PathBuf),
    IncludeDir(PathBuf),
    /// Not understood (MariaDB refuses to start on such a line).
    Bad(String),
}

/// One `name[=value]` with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Entry {
    /// Lower-case group name.
    pub group: String,
    /// The name with `_` turned into `-`, as MariaDB compares them (`loose-` kept).
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
    pub file: PathBuf,
    pub line: usize,
}

/// A line MariaDB would complain about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

/// Everything read from a list of option files and their includes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OptionFiles {
    /// Files read, in order.
    pub files: Vec<PathBuf>,
    /// Listed files that do not exist (normal for /etc/my.cnf).
    #[serde(default)]
    pub missing: Vec<PathBuf>,
    pub entries: Vec<Entry>,
    #[serde(default)]
    pub problems: Vec<Problem>,
}

/// Strips a `#` comment that is outside quotes.
fn strip_comment(s: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev_backslash = false;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q && !prev_backslash => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, '#') => return &s[..i],
            _ => {}
        }
        prev_backslash = c == '\\' && !prev_backslash;
    }
    s
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('b') => out.push('\u{8}'),
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('s') => out.push(' '),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Parses one option file's text into (1-based line, line) pairs; blank and comment lines
/// are left out.
pub fn parse_text(text: &str) -> Vec<(usize, Line)> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        let line = if let Some(rest) = l.strip_prefix('[') {
            match rest.find(']') {
                Some(end) => Line::Group(rest[..end].trim().to_ascii_lowercase()),
                None => Line::Bad(l.to_string()),
            }
        } else if let Some(p) = l.strip_prefix("!includedir") {
            match p.trim() {
                "" => Line::Bad(l.to_string()),
                p => Line::IncludeDir(PathBuf::from(p)),
            }
        } else if let Some(p) = l.strip_prefix("!include") {
            match p.trim() {
                "" => Line::Bad(l.to_string()),
                p => Line::Include(PathBuf::from(p)),
            }
        } else if l.starts_with('!') {
            Line::Bad(l.to_string())
        } else {
            let body = strip_comment(l).trim_end();
            let end = body
                .find(|c: char| c == '=' || c.is_whitespace())
                .unwrap_or(body.len());
            let name = body[..end].to_string();
            let rest = body[end..].trim_start();
            if name.is_empty() {
                Line::Bad(l.to_string())
            } else if rest.is_empty() {
                Line::Option { name, value: None }
            } else if let Some(v) = rest.strip_prefix('=') {
                let v = v.trim();
                let unquoted = ['\'', '"']
                    .iter()
                    .find_map(|q| {
                        v.strip_prefix(*q)
                            .and_then(|x| x.strip_suffix(*q))
                            .filter(|_| v.len() >= 2)
                    })
                    .unwrap_or(v);
                Line::Option {
                    name,
                    value: Some(unescape(unquoted)),
                }
            } else {
                Line::Bad(l.to_string())
            }
        };
        out.push((i + 1, line));
    }
    out
}

/// `max_allowed_packet` → `max-allowed-packet`.
pub fn normalize(name: &str) -> String {
    name.replace('_', "-")
}

/// Where option files come from: real files, or a fabricated set in tests.
pub trait Source {
    fn read(&self, path: &Path) -> std::io::Result<String>;
    /// The entries of a directory (full paths).
    fn list(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>>;
}

/// The real filesystem.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFiles;

impl Source for RealFiles {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        use std::io::Read;
        let mut s = String::new();
        std::fs::File::open(path)?
            .take(MAX_FILE_BYTES)
            .read_to_string(&mut s)?;
        Ok(s)
    }

    fn list(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        Ok(std::fs::read_dir(dir)?
            .flatten()
            .take(10_000)
            .map(|e| e.path())
            .collect())
    }
}

/// Reads `files` (in order) and everything they include, from `src`.
pub fn load_from(src: &impl Source, files: &[PathBuf]) -> OptionFiles {
    let mut out = OptionFiles::default();
    for f in files {
        match src.read(f) {
            Ok(text) => read_file(src, f, &text, 0, &mut out),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => out.missing.push(f.clone()),
            Err(e) => out.problems.push(Problem {
                file: f.clone(),
                line: 0,
                message: e.to_string(),
            }),
        }
    }
    out
}

/// [`load_from`] the real files.
pub fn load(files: &[PathBuf]) -> OptionFiles {
    load_from(&RealFiles, files)
}

fn read_file(src: &impl Source, path: &Path, text: &str, depth: usize, out: &mut OptionFiles) {
    if out.files.len() >= MAX_FILES {
        out.problems.push(Problem {
            file: path.to_path_buf(),
            line: 0,
            message: format!("more than {MAX_FILES} option files; the rest is not read"),
        });
        return;
    }
    out.files.push(path.to_path_buf());
    let mut group: Option<String> = None;
    let problem = |out: &mut OptionFiles, line: usize, message: String| {
        out.problems.push(Problem {
            file: path.to_path_buf(),
            line,
            message,
        });
    };
    for (line, l) in parse_text(text) {
        match l {
            Line::Group(g) => group = Some(g),
            Line::Option { name, value } => match &group {
                Some(g) => out.entries.push(Entry {
                    group: g.clone(),
                    name: normalize(&name),
                    value,
                    file: path.to_path_buf(),
                    line,
                }),
                None => problem(out, line, format!("option {name:?} before any [group]")),
            },
            Line::Bad(text) => problem(out, line, format!("not understood: {text:?}")),
            Line::Include(p) | Line::IncludeDir(p) if depth + 1 >= MAX_DEPTH => {
                problem(
                    out,
                    line,
                    format!("{} nested too deep; not read", p.display()),
                );
            }
            Line::Include(p) => match src.read(&p) {
                Ok(t) => read_file(src, &p, &t, depth + 1, out),
                Err(e) => problem(out, line, format!("!include {}: {e}", p.display())),
            },
            Line::IncludeDir(d) => match src.list(&d) {
                Ok(mut entries) => {
                    entries.retain(|p| p.extension().is_some_and(|e| e == "cnf"));
                    entries.sort();
                    for p in entries {
                        match src.read(&p) {
                            Ok(t) => read_file(src, &p, &t, depth + 1, out),
                            Err(e) => problem(out, line, format!("{}: {e}", p.display())),
                        }
                    }
                }
                // MariaDB skips a missing include directory silently.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => problem(out, line, format!("!includedir {}: {e}", d.display())),
            },
        }
    }
}

impl OptionFiles {
    /// The entries of any of `groups`, in the order the program sees them.
    pub fn in_groups<'a, 'g>(
        &'a self,
        groups: &'g [String],
    ) -> impl Iterator<Item = &'a Entry> + use<'a, 'g> {
        self.entries
            .iter()
            .filter(move |e| groups.iter().any(|g| g.eq_ignore_ascii_case(&e.group)))
    }

    /// The last `name` (or `loose-name`) in `groups`.
    pub fn value(&self, groups: &[String], name: &str) -> Option<&Entry> {
        let name = normalize(name);
        self.in_groups(groups)
            .filter(|e| e.name == name || e.name.strip_prefix("loose-") == Some(&name))
            .last()
    }

    /// A boolean option as my_getopt reads it: `name`, `name=1|on|true`, `name=0|off|false`,
    /// `skip-name`, `disable-name`, `enable-name`, with or without `loose-`. The last one wins.
    pub fn flag(&self, groups: &[String], name: &str) -> Option<(bool, &Entry)> {
        let name = normalize(name);
        self.in_groups(groups)
            .filter_map(|e| {
                let n = e.name.strip_prefix("loose-").unwrap_or(&e.name);
                let base = if n == name {
                    match e.value.as_deref().map(str::to_ascii_lowercase).as_deref() {
                        None | Some("1" | "on" | "true" | "yes" | "") => Some(true),
                        Some("0" | "off" | "false" | "no") => Some(false),
                        Some(_) => None,
                    }
                } else if n.strip_prefix("skip-") == Some(&name)
                    || n.strip_prefix("disable-") == Some(&name)
                {
                    Some(false)
                } else if n.strip_prefix("enable-") == Some(&name) {
                    Some(true)
                } else {
                    None
                };
                base.map(|b| (b, e))
            })
            .last()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct Fake(BTreeMap<PathBuf, String>);

    impl Source for Fake {
        fn read(&self, path: &Path) -> std::io::Result<String> {
            self.0
                .get(path)
                .cloned()
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
        }
        fn list(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
            let v: Vec<PathBuf> = self
                .0
                .keys()
                .filter(|p| p.parent() == Some(dir))
                .rev()
                .cloned()
                .collect();
            if v.is_empty() {
                Err(std::io::ErrorKind::NotFound.into())
            } else {
                Ok(v)
            }
        }
    }

    #[test]
    fn lines() {
        let t = "# c\n; c\n[MySQLd]\nbind-address = 127.0.0.1 # local only\nskip_networking\nsocket=\"/run/my sql.sock\"\npassword = 'a#b'\nx = a\\sb\n=bad\n!includedir /etc/mysql/conf.d/\n[broken\n";
        let l: Vec<Line> = parse_text(t).into_iter().map(|(_, l)| l).collect();
        assert_eq!(l[0], Line::Group("mysqld".into()));
        assert_eq!(
            l[1],
            Line::Option {
                name: "bind-address".into(),
                value: Some("127.0.0.1".into())
            }
        );
        assert_eq!(
            l[2],
            Line::Option {
                name: "skip_networking".into(),
                value: None
            }
        );
        assert_eq!(
            l[3],
            Line::Option {
                name: "socket".into(),
                value: Some("/run/my sql.sock".into())
            }
        );
        assert_eq!(
            l[4],
            Line::Option {
                name: "password".into(),
                value: Some("a#b".into())
            }
        );
        assert_eq!(
            l[5],
            Line::Option {
                name: "x".into(),
                value: Some("a b".into())
            }
        );
        assert!(matches!(l[6], Line::Bad(_)));
        assert_eq!(l[7], Line::IncludeDir("/etc/mysql/conf.d/".into()));
        assert!(matches!(l[8], Line::Bad(_)));
    }

    #[test]
    fn includes_in_sorted_order_and_last_wins() {
        let mut m = BTreeMap::new();
        m.insert(
            PathBuf::from("/etc/mysql/my.cnf"),
            "[client-server]\nsocket = /run/mysqld/mysqld.sock\n!includedir /etc/mysql/d\n"
                .to_string(),
        );
        m.insert(
            PathBuf::from("/etc/mysql/d/50-server.cnf"),
            "[mysqld]\nbind-address = 127.0.0.1\nport = 3306\n".to_string(),
        );
        m.insert(
            PathBuf::from("/etc/mysql/d/99-local.cnf"),
            "[mariadb]\nskip-networking\nloose-port = 3307\n".to_string(),
        );
        m.insert(
            PathBuf::from("/etc/mysql/d/README"),
            "[mysqld]\nport=1\n".to_string(),
        );
        let files: Vec<PathBuf> = DEFAULT_FILES.iter().map(PathBuf::from).collect();
        let o = load_from(&Fake(m), &files);
        assert_eq!(o.missing, vec![PathBuf::from("/etc/my.cnf")]);
        assert_eq!(o.files.len(), 3);
        assert!(o.files[1].ends_with("50-server.cnf"), "{:?}", o.files);
        let g = server_groups("10.11");
        assert_eq!(
            o.value(&g, "port").and_then(|e| e.value.as_deref()),
            Some("3307")
        );
        let (on, e) = o.flag(&g, "skip_networking").expect("set");
        assert!(on);
        assert!(e.file.ends_with("99-local.cnf"));
        let client: Vec<String> = CLIENT_GROUPS.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            o.value(&client, "socket").and_then(|e| e.value.as_deref()),
            Some("/run/mysqld/mysqld.sock")
        );
        assert!(o.value(&client, "port").is_none());
    }

    #[test]
    fn flags_and_include_loops() {
        let mut m = BTreeMap::new();
        m.insert(
            PathBuf::from("/a.cnf"),
            "[mysqld]\nskip-networking\nskip-skip-networking\n!include /a.cnf\n".to_string(),
        );
        let o = load_from(&Fake(m), &[PathBuf::from("/a.cnf")]);
        let g = server_groups("10.11");
        assert_eq!(o.flag(&g, "skip-networking").map(|f| f.0), Some(false));
        assert!(o.files.len() <= MAX_DEPTH);
        assert!(o.problems.iter().any(|p| p.message.contains("too deep")));
        let orphan = load_from(
            &Fake([(PathBuf::from("/b.cnf"), "port=1\n".to_string())].into()),
            &[PathBuf::from("/b.cnf")],
        );
        assert_eq!(orphan.problems.len(), 1);
    }
}
