//! Finds where the server logs mail and auth: Postfix's `maillog_file` (postlog(1), MAILLOG_README),
//! else the files rsyslog writes the mail and auth facilities to, else files by their usual names,
//! else the systemd journal when journald runs here.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::rsyslog::{self, Coverage, FileRule};

/// What discovery looks at. [`LogSettings::debian`] fills in Debian's paths; tests point them at
/// a temporary directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSettings {
    /// main.cf's effective `maillog_file` (empty: Postfix logs to syslog).
    pub maillog_file: String,
    /// main.cf's effective `maillog_file_prefixes`.
    pub maillog_file_prefixes: String,
    /// rsyslog's main config (`/etc/rsyslog.conf`); its includes are followed.
    pub rsyslog_conf: PathBuf,
    /// rsyslogd's pid file, to say whether it runs.
    pub rsyslog_pid_file: PathBuf,
    /// Mail log files by their usual names, used when no syslog config names one.
    pub usual_mail_files: Vec<PathBuf>,
    /// Auth log files by their usual names.
    pub usual_auth_files: Vec<PathBuf>,
    pub journalctl: PathBuf,
    /// journald's runtime directory (`/run/systemd/journal`: journald runs).
    pub journal_runtime: PathBuf,
    /// The persistent journal (`/var/log/journal`: used when it holds journal files).
    pub journal_persistent: PathBuf,
    /// Passed as `journalctl -D DIR` (tests read a journal directory of their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_directory: Option<PathBuf>,
}

impl LogSettings {
    /// Debian's locations, with main.cf's effective `maillog_file` and `maillog_file_prefixes`.
    pub fn debian(maillog_file: &str, maillog_file_prefixes: &str) -> Self {
        LogSettings {
            maillog_file: maillog_file.trim().to_string(),
            maillog_file_prefixes: maillog_file_prefixes.to_string(),
            rsyslog_conf: "/etc/rsyslog.conf".into(),
            rsyslog_pid_file: "/run/rsyslogd.pid".into(),
            usual_mail_files: vec!["/var/log/mail.log".into(), "/var/log/maillog".into()],
            usual_auth_files: vec!["/var/log/auth.log".into(), "/var/log/secure".into()],
            journalctl: "/usr/bin/journalctl".into(),
            journal_runtime: "/run/systemd/journal".into(),
            journal_persistent: "/var/log/journal".into(),
            journal_directory: None,
        }
    }
}

/// A file or the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceKind {
    File {
        path: PathBuf,
    },
    /// `journalctl` filtered on the mail and/or auth facilities.
    Journal {
        journalctl: PathBuf,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        directory: Option<PathBuf>,
    },
}

/// Why a source was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum FoundBy {
    /// main.cf's `maillog_file`.
    MaillogFile { value: String },
    /// An rsyslog rule.
    Rsyslog {
        config: PathBuf,
        line: usize,
        selector: String,
        /// Whether rsyslogd runs (its pid file names a live process).
        running: bool,
    },
    /// No syslog configuration names it; it has the usual name.
    UsualName,
    /// journald runs (or the persistent journal holds files) and no file carries the stream.
    Journal { evidence: PathBuf },
}

/// A place to read, and what it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSource {
    pub kind: SourceKind,
    pub found_by: FoundBy,
    /// Carries Postfix's lines (mail facility or maillog_file).
    pub mail: bool,
    /// Carries saslauthd's and PAM's lines (auth/authpriv facilities).
    pub auth: bool,
    /// Only warnings and worse (e.g. only `mail.warn` is written to a file).
    pub partial: bool,
}

impl LogSource {
    /// `/var/log/postfix.log (maillog_file)`, `journal`, ...
    pub fn describe(&self) -> String {
        let what = match &self.kind {
            SourceKind::File { path } => path.display().to_string(),
            SourceKind::Journal { .. } => "the systemd journal".to_string(),
        };
        let why = match &self.found_by {
            FoundBy::MaillogFile { .. } => "main.cf maillog_file".to_string(),
            FoundBy::Rsyslog {
                config,
                line,
                selector,
                running,
            } => format!(
                "{}:{line} `{selector}`{}",
                config.display(),
                if *running {
                    ""
                } else {
                    ", rsyslogd not running"
                }
            ),
            FoundBy::UsualName => "usual name".to_string(),
            FoundBy::Journal { evidence } => format!("journald: {}", evidence.display()),
        };
        format!("{what} ({why})")
    }
}

/// What happened to one candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Used,
    /// A better source for the same stream was used.
    Superseded,
    NotFound,
    NotReadable {
        message: String,
    },
    /// Found but not usable, and why (e.g. maillog_file outside maillog_file_prefixes).
    Unusable {
        why: String,
    },
}

/// One place looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Considered {
    /// A path, `maillog_file`, `journal`, or an rsyslog config.
    pub what: String,
    pub outcome: Outcome,
}

/// Where the logs are, and everything looked at on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    /// Sources to read: the mail source first, then the auth source if it is another one.
    pub sources: Vec<LogSource>,
    pub considered: Vec<Considered>,
}

impl Discovery {
    /// The source of Postfix's lines.
    pub fn mail(&self) -> Option<&LogSource> {
        self.sources.iter().find(|s| s.mail)
    }

    /// The source of saslauthd's and PAM's lines.
    pub fn auth(&self) -> Option<&LogSource> {
        self.sources.iter().find(|s| s.auth)
    }

    /// One sentence: where Postfix logs, or why no log was found.
    pub fn summary(&self) -> String {
        let why_not = || -> String {
            let why: Vec<String> = self
                .considered
                .iter()
                .filter(|c| !matches!(c.outcome, Outcome::Used | Outcome::Superseded))
                .map(|c| format!("{}: {}", c.what, outcome_text(&c.outcome)))
                .collect();
            why.join("; ")
        };
        let auth = match self.auth() {
            Some(a) => format!("; saslauthd/PAM: {}", a.describe()),
            None => format!("; no saslauthd/PAM log found ({})", why_not()),
        };
        match self.mail() {
            Some(m) => format!("Postfix logs to {}{auth}", m.describe()),
            None if self.auth().is_none() => {
                format!("no Postfix log found ({})", why_not())
            }
            None => format!("no Postfix log found ({}){auth}", why_not()),
        }
    }
}

fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Used => "used".into(),
        Outcome::Superseded => "not needed".into(),
        Outcome::NotFound => "not found".into(),
        Outcome::NotReadable { message } => format!("not readable ({message})"),
        Outcome::Unusable { why } => why.clone(),
    }
}

/// Most rsyslog config files read (main file plus includes).
const MAX_CONFIG_FILES: usize = 64;
/// Largest config file read.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Finds the mail and auth logs as `settings` describes the machine.
pub fn discover(settings: &LogSettings) -> Discovery {
    let mut d = Discovery::default();
    let mut mail: Option<LogSource> = None;
    let mut mail_decided = false;

    // 1. Postfix's own log file (postlog, Postfix >= 3.4).
    let mf = settings.maillog_file.trim();
    if mf.is_empty() {
        d.considered.push(Considered {
            what: "maillog_file".into(),
            outcome: Outcome::Unusable {
                why: "empty: Postfix logs to syslog".into(),
            },
        });
    } else if !has_allowed_prefix(mf, &settings.maillog_file_prefixes) {
        d.considered.push(Considered {
            what: format!("maillog_file = {mf}"),
            outcome: Outcome::Unusable {
                why: format!(
                    "does not start with one of maillog_file_prefixes ({}): postlogd refuses it",
                    settings.maillog_file_prefixes.trim()
                ),
            },
        });
    } else if mf.starts_with("/dev/") {
        // /dev/stdout with `postfix start-fg` (containers): nothing on disk to read.
        d.considered.push(Considered {
            what: format!("maillog_file = {mf}"),
            outcome: Outcome::Unusable {
                why: "a device (postfix start-fg logging to its output): not readable afterwards"
                    .into(),
            },
        });
        mail_decided = true;
    } else {
        let path = PathBuf::from(mf);
        // Postfix logs only here; the file appears with the first line, so a missing file is
        // still the source.
        let outcome = match file_readable(&path) {
            Ok(()) | Err(Outcome::NotFound) => Outcome::Used,
            Err(o) => o,
        };
        d.considered.push(Considered {
            what: format!("maillog_file = {mf}"),
            outcome,
        });
        mail = Some(LogSource {
            kind: SourceKind::File { path },
            found_by: FoundBy::MaillogFile {
                value: mf.to_string(),
            },
            mail: true,
            auth: false,
            partial: false,
        });
        mail_decided = true;
    }

    // 2. rsyslog's files.
    let rules = rsyslog_rules(settings, &mut d.considered);
    let running = rsyslog_running(&settings.rsyslog_pid_file);
    if !mail_decided {
        mail = pick_file(&rules, true, running, &mut d.considered);
    }
    let mut auth = pick_file(&rules, false, running, &mut d.considered);

    // 3. Usual names.
    if mail.is_none() && !mail_decided {
        mail = usual_file(&settings.usual_mail_files, true, &mut d.considered);
    }
    if auth.is_none() {
        auth = usual_file(&settings.usual_auth_files, false, &mut d.considered);
    }

    // 4. The journal.
    if (mail.is_none() && !mail_decided) || auth.is_none() {
        match journal(settings) {
            Ok(evidence) => {
                let kind = SourceKind::Journal {
                    journalctl: settings.journalctl.clone(),
                    directory: settings.journal_directory.clone(),
                };
                d.considered.push(Considered {
                    what: "journal".into(),
                    outcome: Outcome::Used,
                });
                let j = LogSource {
                    kind,
                    found_by: FoundBy::Journal { evidence },
                    mail: mail.is_none() && !mail_decided,
                    auth: auth.is_none(),
                    partial: false,
                };
                if j.mail {
                    mail = Some(j.clone());
                }
                if j.auth {
                    auth = Some(j);
                }
            }
            Err(why) => d.considered.push(Considered {
                what: "journal".into(),
                outcome: Outcome::Unusable {
                    why: why.to_string(),
                },
            }),
        }
    }

    // One source may carry both.
    if let Some(m) = mail {
        match auth {
            Some(a) if a.kind == m.kind => {
                d.sources.push(LogSource { auth: true, ..m });
            }
            Some(a) => {
                d.sources.push(m);
                d.sources.push(a);
            }
            None => d.sources.push(m),
        }
    } else if let Some(a) = auth {
        d.sources.push(a);
    }
    d
}

/// postlogd accepts `maillog_file` only under one of `maillog_file_prefixes`.
fn has_allowed_prefix(file: &str, prefixes: &str) -> bool {
    let list: Vec<&str> = prefixes
        .split([',', ' ', '\t', '\n'])
        .filter(|p| !p.is_empty())
        .collect();
    list.is_empty() || list.iter().any(|p| file.starts_with(p))
}

fn file_readable(path: &Path) -> Result<(), Outcome> {
    match std::fs::File::open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Outcome::NotFound),
        Err(e) => Err(Outcome::NotReadable {
            message: e.to_string(),
        }),
    }
}

fn rsyslog_running(pid_file: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(pid_file) else {
        return false;
    };
    let pid = text.trim();
    !pid.is_empty()
        && pid.bytes().all(|c| c.is_ascii_digit())
        && Path::new("/proc").join(pid).exists()
}

/// Every file rule of rsyslog's config and its includes, with the file each came from.
fn rsyslog_rules(
    settings: &LogSettings,
    considered: &mut Vec<Considered>,
) -> Vec<(PathBuf, FileRule)> {
    let mut out = Vec::new();
    let mut queue = vec![settings.rsyslog_conf.clone()];
    let mut seen: Vec<PathBuf> = Vec::new();
    while let Some(path) = queue.pop() {
        if seen.len() >= MAX_CONFIG_FILES {
            considered.push(Considered {
                what: path.display().to_string(),
                outcome: Outcome::Unusable {
                    why: format!("more than {MAX_CONFIG_FILES} rsyslog config files; not read"),
                },
            });
            break;
        }
        if seen.contains(&path) {
            continue;
        }
        seen.push(path.clone());
        let text = match read_capped(&path) {
            Ok(t) => t,
            Err(outcome) => {
                // Only the main file's absence is worth saying.
                if path == settings.rsyslog_conf {
                    considered.push(Considered {
                        what: path.display().to_string(),
                        outcome,
                    });
                }
                continue;
            }
        };
        let parsed = rsyslog::parse(&text);
        for rule in parsed.rules {
            out.push((path.clone(), rule));
        }
        // Depth-first in file order: push the includes reversed.
        let mut inc: Vec<PathBuf> = Vec::new();
        for pattern in &parsed.includes {
            inc.extend(expand_include(pattern));
        }
        for p in inc.into_iter().rev() {
            if queue.len() < 4 * MAX_CONFIG_FILES {
                queue.push(p);
            }
        }
    }
    out
}

fn read_capped(path: &Path) -> Result<String, Outcome> {
    use std::io::Read as _;
    let f = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Outcome::NotFound,
        _ => Outcome::NotReadable {
            message: e.to_string(),
        },
    })?;
    let mut buf = Vec::new();
    f.take(MAX_CONFIG_BYTES)
        .read_to_end(&mut buf)
        .map_err(|e| Outcome::NotReadable {
            message: e.to_string(),
        })?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// `/etc/rsyslog.d/*.conf`: a `*`/`?` pattern in the last component, or a directory (all its
/// files), or a file. Sorted, as glob(3) returns them.
fn expand_include(pattern: &str) -> Vec<PathBuf> {
    let p = Path::new(pattern);
    if !pattern.contains(['*', '?']) {
        if p.is_dir() {
            return list_dir(p, "*");
        }
        return vec![p.to_path_buf()];
    }
    let (Some(dir), Some(name)) = (p.parent(), p.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    list_dir(dir, name)
}

fn list_dir(dir: &Path, pattern: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .take(4096)
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()))
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| glob_match(pattern, n))
        })
        .map(|e| e.path())
        .take(MAX_CONFIG_FILES)
        .collect();
    out.sort();
    out
}

/// `*` and `?` wildcards (no leading-dot rule needed for rsyslog.d names: they are skipped).
fn glob_match(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') {
        return false;
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matcher with one backtrack point: linear-ish, no recursion.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The best rule for mail (or auth) whose file exists and is readable: complete coverage first,
/// then rules that name the facility over `*.*`, then the order of the config. When rsyslogd
/// runs and none of the files exists yet, the best one is used anyway: rsyslog creates it with
/// its first line.
fn pick_file(
    rules: &[(PathBuf, FileRule)],
    mail: bool,
    running: bool,
    considered: &mut Vec<Considered>,
) -> Option<LogSource> {
    let mut cands: Vec<(usize, &PathBuf, &FileRule, Coverage)> = rules
        .iter()
        .enumerate()
        .filter_map(|(i, (conf, r))| {
            let c = if mail { r.mail } else { r.auth }?;
            Some((i, conf, r, c))
        })
        .collect();
    cands.sort_by_key(|(i, _, r, c)| {
        let named = if mail { r.mail_named } else { r.auth_named };
        (!c.is_complete(), !named, std::cmp::Reverse(*c), *i)
    });
    let source = |conf: &PathBuf, rule: &FileRule, cov: Coverage| LogSource {
        kind: SourceKind::File {
            path: PathBuf::from(&rule.file),
        },
        found_by: FoundBy::Rsyslog {
            config: conf.clone(),
            line: rule.line,
            selector: rule.selector.clone(),
            running,
        },
        mail,
        auth: !mail,
        partial: !cov.is_complete(),
    };
    let mut chosen: Option<LogSource> = None;
    let mut first_missing: Option<(usize, LogSource)> = None;
    for (_, conf, rule, cov) in cands {
        if chosen.is_some() {
            if !considered.iter().any(|c| c.what == rule.file) {
                considered.push(Considered {
                    what: rule.file.clone(),
                    outcome: Outcome::Superseded,
                });
            }
            continue;
        }
        match file_readable(Path::new(&rule.file)) {
            Ok(()) => {
                considered.push(Considered {
                    what: rule.file.clone(),
                    outcome: Outcome::Used,
                });
                chosen = Some(source(conf, rule, cov));
            }
            Err(outcome) => {
                if outcome == Outcome::NotFound && first_missing.is_none() {
                    first_missing = Some((considered.len(), source(conf, rule, cov)));
                }
                considered.push(Considered {
                    what: rule.file.clone(),
                    outcome,
                });
            }
        }
    }
    if chosen.is_none()
        && running
        && let Some((at, s)) = first_missing
    {
        if let Some(c) = considered.get_mut(at) {
            c.outcome = Outcome::Used;
        }
        return Some(s);
    }
    chosen
}

fn usual_file(
    paths: &[PathBuf],
    mail: bool,
    considered: &mut Vec<Considered>,
) -> Option<LogSource> {
    for p in paths {
        let what = p.display().to_string();
        if considered.iter().any(|c| c.what == what) {
            continue;
        }
        match file_readable(p) {
            Ok(()) => {
                considered.push(Considered {
                    what,
                    outcome: Outcome::Used,
                });
                return Some(LogSource {
                    kind: SourceKind::File { path: p.clone() },
                    found_by: FoundBy::UsualName,
                    mail,
                    auth: !mail,
                    partial: false,
                });
            }
            Err(outcome) => considered.push(Considered { what, outcome }),
        }
    }
    None
}

/// Whether the journal is where logs go: journalctl is installed and journald runs (its runtime
/// directory exists) or the persistent journal holds journal files.
fn journal(settings: &LogSettings) -> Result<PathBuf, NoJournal> {
    if !settings.journalctl.is_file() {
        return Err(NoJournal::NotInstalled(settings.journalctl.clone()));
    }
    if let Some(dir) = &settings.journal_directory {
        return Ok(dir.clone());
    }
    if settings.journal_runtime.is_dir() {
        return Ok(settings.journal_runtime.clone());
    }
    if holds_journal_files(&settings.journal_persistent) {
        return Ok(settings.journal_persistent.clone());
    }
    Err(NoJournal::NotRunning {
        runtime: settings.journal_runtime.clone(),
        persistent: settings.journal_persistent.clone(),
    })
}

/// Why the journal is not where logs go.
#[derive(Debug, Clone, thiserror::Error)]
enum NoJournal {
    #[error("{} not installed", .0.display())]
    NotInstalled(PathBuf),
    #[error("journald does not run ({} missing) and {} holds no journal files", runtime.display(), persistent.display())]
    NotRunning {
        runtime: PathBuf,
        persistent: PathBuf,
    },
}

/// `/var/log/journal/<machine-id>/*.journal`.
fn holds_journal_files(dir: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.take(64).filter_map(Result::ok).any(|e| {
        std::fs::read_dir(e.path()).is_ok_and(|sub| {
            sub.take(4096)
                .filter_map(Result::ok)
                .any(|f| f.file_name().to_string_lossy().ends_with(".journal"))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &Path, maillog_file: &str) -> LogSettings {
        LogSettings {
            rsyslog_conf: dir.join("rsyslog.conf"),
            rsyslog_pid_file: dir.join("rsyslogd.pid"),
            usual_mail_files: vec![dir.join("usual-mail.log")],
            usual_auth_files: vec![dir.join("usual-auth.log")],
            journalctl: dir.join("no-journalctl"),
            journal_runtime: dir.join("run-journal"),
            journal_persistent: dir.join("var-journal"),
            ..LogSettings::debian(maillog_file, "/var, /dev/stdout, /tmp")
        }
    }

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mc-maillog-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn glob() {
        assert!(glob_match("*.conf", "postfix.conf"));
        assert!(!glob_match("*.conf", "postfix.conf.dpkg-old"));
        assert!(glob_match("a?c*", "abcdef"));
        assert!(!glob_match("*.conf", ".hidden.conf"));
        assert!(glob_match("*", "x"));
    }

    #[test]
    fn prefixes() {
        assert!(has_allowed_prefix(
            "/var/log/postfix.log",
            "/var, /dev/stdout"
        ));
        assert!(!has_allowed_prefix("/srv/postfix.log", "/var, /dev/stdout"));
        assert!(has_allowed_prefix("/srv/postfix.log", ""));
    }

    #[test]
    fn maillog_file_wins_and_rsyslog_gives_auth() {
        let d = tempdir("mf");
        std::fs::write(d.join("auth.log"), "").unwrap();
        std::fs::write(d.join("mail.log"), "").unwrap();
        std::fs::write(
            d.join("rsyslog.conf"),
            format!(
                "auth,authpriv.* {}\nmail.* -{}\n",
                d.join("auth.log").display(),
                d.join("mail.log").display()
            ),
        )
        .unwrap();
        let pf = d.join("postfix.log");
        let disc = discover(&settings(&d, pf.to_str().unwrap()));
        let mail = disc.mail().unwrap();
        assert_eq!(mail.kind, SourceKind::File { path: pf.clone() });
        assert!(matches!(mail.found_by, FoundBy::MaillogFile { .. }));
        let auth = disc.auth().unwrap();
        assert_eq!(
            auth.kind,
            SourceKind::File {
                path: d.join("auth.log")
            }
        );
        assert_eq!(disc.sources.len(), 2);
        assert!(
            disc.summary()
                .starts_with(&format!("Postfix logs to {}", pf.display())),
            "{}",
            disc.summary()
        );
    }

    #[test]
    fn rsyslog_with_includes_picks_the_complete_named_file() {
        let d = tempdir("inc");
        std::fs::create_dir_all(d.join("rsyslog.d")).unwrap();
        for f in ["syslog", "mail.log", "mail.warn", "auth.log"] {
            std::fs::write(d.join(f), "").unwrap();
        }
        std::fs::write(
            d.join("rsyslog.conf"),
            format!(
                "$IncludeConfig {}/rsyslog.d/*.conf\n*.*;auth,authpriv.none -{}/syslog\nmail.warn -{}/mail.warn\n",
                d.display(),
                d.display(),
                d.display()
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("rsyslog.d/50-mail.conf"),
            format!(
                "mail.* -{}/mail.log\nauth.* {}/auth.log\n",
                d.display(),
                d.display()
            ),
        )
        .unwrap();
        std::fs::write(d.join("rsyslog.d/README"), "mail.* /nonexistent\n").unwrap();
        let disc = discover(&settings(&d, ""));
        let mail = disc.mail().unwrap();
        assert_eq!(
            mail.kind,
            SourceKind::File {
                path: d.join("mail.log")
            }
        );
        match &mail.found_by {
            FoundBy::Rsyslog {
                config,
                line,
                selector,
                running,
            } => {
                assert_eq!(config, &d.join("rsyslog.d/50-mail.conf"));
                assert_eq!((*line, selector.as_str(), *running), (1, "mail.*", false));
            }
            other => panic!("{other:?}"),
        }
        assert!(!mail.partial);
        assert_eq!(
            disc.auth().unwrap().kind,
            SourceKind::File {
                path: d.join("auth.log")
            }
        );
        let superseded: Vec<&str> = disc
            .considered
            .iter()
            .filter(|c| c.outcome == Outcome::Superseded)
            .map(|c| c.what.as_str())
            .collect();
        assert_eq!(superseded.len(), 2, "{:?}", disc.considered);
    }

    #[test]
    fn only_mail_warn_is_partial_and_missing_files_are_said() {
        let d = tempdir("warn");
        std::fs::write(d.join("mail.warn"), "").unwrap();
        std::fs::write(
            d.join("rsyslog.conf"),
            format!(
                "mail.* -{0}/gone.log\nmail.warn -{0}/mail.warn\n",
                d.display()
            ),
        )
        .unwrap();
        let disc = discover(&settings(&d, ""));
        let mail = disc.mail().unwrap();
        assert!(mail.partial);
        assert!(
            disc.considered
                .iter()
                .any(|c| c.what.ends_with("gone.log") && c.outcome == Outcome::NotFound)
        );
    }

    #[test]
    fn nothing_found_says_why() {
        let d = tempdir("none");
        let disc = discover(&settings(&d, ""));
        assert!(disc.sources.is_empty());
        let s = disc.summary();
        assert!(s.starts_with("no Postfix log found"), "{s}");
        assert!(
            s.contains("maillog_file: empty: Postfix logs to syslog"),
            "{s}"
        );
        assert!(s.contains("rsyslog.conf: not found"), "{s}");
        assert!(s.contains("usual-mail.log: not found"), "{s}");
        assert!(s.contains("no-journalctl not installed"), "{s}");
    }

    #[test]
    fn maillog_file_outside_prefixes_falls_back_to_syslog() {
        let d = tempdir("pfx");
        std::fs::write(d.join("usual-mail.log"), "").unwrap();
        let mut s = settings(&d, "/srv/postfix.log");
        s.maillog_file_prefixes = "/var, /dev/stdout".into();
        let disc = discover(&s);
        assert_eq!(disc.mail().unwrap().found_by, FoundBy::UsualName);
        assert!(matches!(
            disc.considered[0].outcome,
            Outcome::Unusable { .. }
        ));
    }

    #[test]
    fn journal_when_journald_runs() {
        let d = tempdir("journal");
        std::fs::write(d.join("journalctl"), "").unwrap();
        std::fs::create_dir_all(d.join("run-journal")).unwrap();
        let mut s = settings(&d, "");
        s.journalctl = d.join("journalctl");
        let disc = discover(&s);
        assert_eq!(disc.sources.len(), 1);
        let j = &disc.sources[0];
        assert!(j.mail && j.auth);
        assert!(matches!(j.kind, SourceKind::Journal { .. }));
        // An empty persistent directory (this machine) is not a journal.
        std::fs::remove_dir_all(d.join("run-journal")).unwrap();
        std::fs::create_dir_all(d.join("var-journal")).unwrap();
        assert!(discover(&s).sources.is_empty());
        std::fs::create_dir_all(d.join("var-journal/0123")).unwrap();
        std::fs::write(d.join("var-journal/0123/system.journal"), "").unwrap();
        assert_eq!(discover(&s).sources.len(), 1);
    }
}
