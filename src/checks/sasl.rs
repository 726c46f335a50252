//! Checks of saslauthd and SASL (SASL_README): the process, its socket inside Postfix's chroot,
//! its defaults file, the PAM service, smtpd's SASL config, group sasl, a live login.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::context::Ctx;
use crate::probe::ProbeError;
use crate::probe::file::{FileFacts, FileKind, lstat, stat};
use crate::probe::maps::MysqlMap;
use crate::probe::postfix::map_references;
use crate::probe::process::{ProcessFacts, find_by_name};
use crate::probe::saslauthd::{SaslauthdAnswer, SaslauthdError, authenticate, ping};
use crate::probe::shell_vars;
use crate::probe::users::{self, GroupFacts, UserFacts};
use crate::secret::REDACTED;
use crate::verdict::{Verdict, worst_of};

/// T20 has no parameters: the directory comes from main.cf's queue_directory and the settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaslauthdSocketSpec {}

/// What T20 looks at.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SaslauthdSocketObservation {
    /// `<queue_directory>/var/run/saslauthd`.
    pub expected_dir: PathBuf,
    pub processes: Vec<ProcessFacts>,
    /// Each process's socket directory (`-m`, or saslauthd's default), resolved.
    pub socket_dirs: Vec<PathBuf>,
    /// lstat of `<expected_dir>/mux`, or why it failed.
    pub socket: Option<FileFacts>,
    pub socket_problem: Option<String>,
    /// Result of connecting to the socket: `None` = answered.
    pub connect_problem: Option<String>,
    #[serde(default)]
    pub connect_needs_root: bool,
}

/// saslauthd's compiled-in socket directory on Debian when `-m` is absent.
const DEFAULT_SOCKET_DIR: &str = "/var/run/saslauthd";

fn resolve(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

pub async fn saslauthd_socket(spec: &SaslauthdSocketSpec, ctx: &Ctx) -> Verdict {
    let cfg = match ctx.postfix().await {
        Ok(c) => c,
        Err(e) => return Verdict::error(e.to_string()),
    };
    let queue = PathBuf::from(cfg.get("queue_directory"));
    let expected_dir = queue.join(&ctx.settings.saslauthd_chroot_dir);
    let processes = find_by_name("saslauthd");
    let socket_dirs: Vec<PathBuf> = processes
        .iter()
        .map(|p| {
            let dir = p
                .flag_value("-m")
                .unwrap_or_else(|| DEFAULT_SOCKET_DIR.to_string());
            resolve(Path::new(&dir))
        })
        .collect();
    let mux = expected_dir.join("mux");
    let (socket, socket_problem) = match lstat(&mux) {
        Ok(f) => (Some(f), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let (connect_problem, connect_needs_root) = match ping(&mux, ctx.settings.timeouts.socket).await
    {
        Ok(()) => (None, false),
        Err(e) => {
            let denied = matches!(&e, SaslauthdError::Connect { message, .. } if message.contains("ermission denied"));
            (Some(e.to_string()), denied)
        }
    };
    judge_saslauthd_socket(
        spec,
        &SaslauthdSocketObservation {
            expected_dir: resolve(&expected_dir),
            processes,
            socket_dirs,
            socket,
            socket_problem,
            connect_problem,
            connect_needs_root,
        },
    )
}

pub fn judge_saslauthd_socket(
    _spec: &SaslauthdSocketSpec,
    o: &SaslauthdSocketObservation,
) -> Verdict {
    let evidence = json!({
        "expected_dir": o.expected_dir, "processes": o.processes, "socket_dirs": o.socket_dirs,
        "socket": o.socket, "socket_problem": o.socket_problem, "connect_problem": o.connect_problem,
    });
    let dir = o.expected_dir.display();
    if o.processes.is_empty() {
        return Verdict::fail("saslauthd is not running (no saslauthd process)")
            .with_evidence(evidence)
            .with_fix(format!("start saslauthd: saslauthd -a pam -c -r -m {dir}"));
    }
    if !o.socket_dirs.contains(&o.expected_dir) {
        let dirs: Vec<String> = o
            .socket_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        return Verdict::fail(format!(
            "saslauthd (pid {}) has its socket in {}, not in {dir}: Postfix's chrooted smtpd cannot reach it",
            o.processes[0].pid,
            dirs.join(", ")
        ))
        .with_evidence(evidence)
        .with_fix(format!(
            "set OPTIONS=\"-c -r -m {dir}\" in /etc/default/saslauthd and restart saslauthd"
        ));
    }
    match &o.socket {
        None if o
            .socket_problem
            .as_deref()
            .is_some_and(|p| p.starts_with("needs root")) =>
        {
            return Verdict::error(o.socket_problem.clone().unwrap_or_default())
                .with_evidence(evidence);
        }
        None => {
            return Verdict::fail(format!(
                "saslauthd runs with -m {dir} but {dir}/mux does not exist ({})",
                o.socket_problem.clone().unwrap_or_default()
            ))
            .with_evidence(evidence);
        }
        Some(f) if f.kind != FileKind::Socket => {
            return Verdict::fail(format!("{dir}/mux is a {:?}, not a socket", f.kind))
                .with_evidence(evidence);
        }
        Some(_) => {}
    }
    if let Some(p) = &o.connect_problem {
        if o.connect_needs_root {
            return Verdict::error(format!("{p} (needs root or group sasl)"))
                .with_evidence(evidence);
        }
        return Verdict::fail(format!("nothing answers on {dir}/mux: {p}")).with_evidence(evidence);
    }
    Verdict::pass(format!(
        "saslauthd (pid {}) answers on {dir}/mux, inside Postfix's chroot",
        o.processes[0].pid
    ))
    .with_evidence(evidence)
}

// ---------------------------------------------------------------------------------------------
// Shared by T22 and T23: a file's group and mode.

/// What is wrong with `facts` against `group` and `mode` (octal string); empty when right.
/// Stricter modes pass as long as the group can still read.
fn mode_problems(facts: &FileFacts, group: &str, mode: &str) -> Vec<String> {
    let want = u32::from_str_radix(mode.trim_start_matches("0o"), 8).unwrap_or(0o640);
    let mut wrong = Vec::new();
    let have_group = facts.group.clone().unwrap_or_else(|| facts.gid.to_string());
    if have_group != group {
        wrong.push(format!("group {have_group}, not {group}"));
    }
    if facts.mode & !want != 0 {
        let others = if facts.mode & 0o007 != 0 {
            " (every local user can read it)"
        } else {
            ""
        };
        wrong.push(format!("mode {:04o}, not {want:04o}{others}", facts.mode));
    } else if facts.mode & 0o040 == 0 {
        wrong.push(format!(
            "mode {:04o}: group {group} cannot read it",
            facts.mode
        ));
    }
    wrong
}

/// lstat-or-stat facts of a config file, or why not.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConfigFile {
    pub path: PathBuf,
    #[serde(default)]
    pub facts: Option<FileFacts>,
    /// Why stat failed.
    #[serde(default)]
    pub stat_problem: Option<String>,
    /// The text, with secrets replaced by `<redacted>`.
    #[serde(default)]
    pub text: Option<String>,
    /// Why reading failed.
    #[serde(default)]
    pub read_problem: Option<String>,
    #[serde(default)]
    pub missing: bool,
    #[serde(default)]
    pub needs_root: bool,
}

impl ConfigFile {
    /// Stats and reads `path`; `redact` removes secrets from the text before it is kept.
    fn read(path: &Path, redact: impl Fn(&str) -> String) -> ConfigFile {
        let mut f = ConfigFile {
            path: path.to_path_buf(),
            ..ConfigFile::default()
        };
        match stat(path) {
            Ok(facts) => f.facts = Some(facts),
            Err(e) => {
                f.missing = matches!(e, ProbeError::NotFound { .. });
                f.needs_root |= matches!(e, ProbeError::PermissionDenied { .. });
                f.stat_problem = Some(e.to_string());
            }
        }
        if !f.missing {
            match std::fs::read_to_string(path) {
                Ok(t) => f.text = Some(redact(&t)),
                Err(e) => {
                    let e = ProbeError::from_io(path, &e);
                    f.missing = matches!(e, ProbeError::NotFound { .. });
                    f.needs_root |= matches!(e, ProbeError::PermissionDenied { .. });
                    f.read_problem = Some(e.to_string());
                }
            }
        }
        f
    }

    /// The verdict when the file could not be examined at all, if so.
    fn unusable(&self, what_for: &str) -> Option<Verdict> {
        let name = self.path.display();
        if self.missing {
            return Some(Verdict::fail(format!("{name} does not exist{what_for}")));
        }
        if self.facts.is_none() && self.text.is_none() {
            let p = self
                .stat_problem
                .clone()
                .or_else(|| self.read_problem.clone())
                .unwrap_or_default();
            return Some(if self.needs_root {
                Verdict::error(p).with_fix(AS_ROOT)
            } else {
                Verdict::error(p)
            });
        }
        None
    }

    /// The group/mode finding, when the file could be stat'ed.
    fn mode_finding(&self, group: &str, mode: &str) -> Option<Verdict> {
        let facts = self.facts.as_ref()?;
        let name = self.path.display();
        if facts.kind != FileKind::File {
            return Some(Verdict::fail(format!(
                "{name} is a {:?}, not a regular file",
                facts.kind
            )));
        }
        let wrong = mode_problems(facts, group, mode);
        Some(if wrong.is_empty() {
            Verdict::pass(facts.describe())
        } else {
            Verdict::fail(format!("{name}: {}", wrong.join(", ")))
                .with_fix(format!("chgrp {group} {name} && chmod {mode} {name}"))
        })
    }

    /// The error finding when the text could not be read.
    fn read_finding(&self) -> Option<Verdict> {
        if self.text.is_some() {
            return None;
        }
        let p = self.read_problem.clone().unwrap_or_default();
        Some(if self.needs_root {
            Verdict::error(p).with_fix(AS_ROOT)
        } else {
            Verdict::error(format!("cannot read {}: {p}", self.path.display()))
        })
    }
}

/// The fix for what mailcheck could not read without root.
pub(crate) const AS_ROOT: &str = "run mailcheck as root on the mail server (it only reads)";

/// Normalises a path lexically: no trailing `/`, no `//` or `/./`.
fn normal(p: &Path) -> PathBuf {
    p.components().collect()
}

// ---------------------------------------------------------------------------------------------
// T19: /etc/default/saslauthd

/// T19: the file and the options the init script must pass.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaslauthdDefaultsSpec {
    pub path: PathBuf,
    /// Options without argument that OPTIONS must hold, e.g. ["-c", "-r"].
    pub flags: Vec<String>,
    /// MECHANISMS, when set, must name this one (pam_mysql is reached through PAM).
    pub mechanism: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SaslauthdDefaultsObservation {
    pub file: ConfigFile,
    /// `<queue_directory>/var/run/saslauthd`.
    pub expected_dir: PathBuf,
    /// Paths as written (the expected dir and OPTIONS' `-m`) mapped to where they resolve.
    #[serde(default)]
    pub resolved: BTreeMap<String, PathBuf>,
}

/// saslauthd's getopt string (saslauthd-main.c): which options take an argument.
const SASLAUTHD_ARG_OPTS: &str = "aOmnst";

/// Parses saslauthd options as getopt(3) would: (flag, argument) pairs, e.g. ("m", "/dir").
fn saslauthd_opts(options: &str) -> Vec<(char, Option<String>)> {
    let words: Vec<&str> = options.split_whitespace().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        i += 1;
        if w == "--" {
            break;
        }
        let Some(letters) = w.strip_prefix('-').filter(|l| !l.is_empty()) else {
            continue;
        };
        for (k, c) in letters.char_indices() {
            if SASLAUTHD_ARG_OPTS.contains(c) {
                let rest = &letters[k + c.len_utf8()..];
                let arg = if !rest.is_empty() {
                    Some(rest.to_string())
                } else {
                    let a = words.get(i).map(|s| s.to_string());
                    i += 1;
                    a
                };
                out.push((c, arg));
                break;
            }
            out.push((c, None));
        }
    }
    out
}

pub async fn saslauthd_defaults(spec: &SaslauthdDefaultsSpec, ctx: &Ctx) -> Verdict {
    let cfg = match ctx.postfix().await {
        Ok(c) => c,
        Err(e) => return Verdict::error(e.to_string()),
    };
    let expected_dir =
        PathBuf::from(cfg.get("queue_directory")).join(&ctx.settings.saslauthd_chroot_dir);
    let file = ConfigFile::read(&spec.path, str::to_string);
    let mut resolved = BTreeMap::new();
    let mut paths = vec![expected_dir.display().to_string()];
    if let Some(text) = &file.text {
        let vars = shell_vars::parse(text);
        if let Some(o) = shell_vars::last(&vars, "OPTIONS") {
            paths.extend(
                saslauthd_opts(&o.value)
                    .into_iter()
                    .filter(|(c, _)| *c == 'm')
                    .filter_map(|(_, a)| a),
            );
        }
    }
    for p in paths {
        if let Ok(r) = std::fs::canonicalize(&p) {
            resolved.insert(p, r);
        }
    }
    judge_saslauthd_defaults(
        spec,
        &SaslauthdDefaultsObservation {
            file,
            expected_dir,
            resolved,
        },
    )
}

pub fn judge_saslauthd_defaults(
    spec: &SaslauthdDefaultsSpec,
    o: &SaslauthdDefaultsObservation,
) -> Verdict {
    let name = o.file.path.display();
    let dir = o.expected_dir.display();
    let evidence = json!({ "file": o.file.path, "text": o.file.text, "expected_dir": o.expected_dir, "resolved": o.resolved });
    let tutorial = format!("OPTIONS=\"-c -r -m {dir}\"");
    if let Some(v) = o.file.unusable(" (is sasl2-bin installed?)") {
        return v.with_evidence(evidence);
    }
    let Some(text) = &o.file.text else {
        return o
            .file
            .read_finding()
            .unwrap_or_else(|| Verdict::error("unreadable"))
            .with_evidence(evidence);
    };
    let vars = shell_vars::parse(text);
    let mut findings = Vec::new();
    match shell_vars::last(&vars, "START") {
        None => findings.push(
            Verdict::fail(format!(
                "{name} does not set START: saslauthd is not started"
            ))
            .with_fix(format!("add START=yes to {name}")),
        ),
        Some(a) if a.value != "yes" => findings.push(
            Verdict::fail(format!(
                "{name} line {}: START={}, not yes: the init script does not start saslauthd",
                a.line, a.value
            ))
            .with_fix(format!("set START=yes in {name} and start saslauthd")),
        ),
        Some(_) => {}
    }
    if let Some(m) = shell_vars::last(&vars, "MECHANISMS")
        && !m.value.split_whitespace().any(|x| x == spec.mechanism)
    {
        findings.push(Verdict::fail(format!(
            "{name} line {}: MECHANISMS=\"{}\", not {}: /etc/pam.d/smtp and pam_mysql are not used",
            m.line, m.value, spec.mechanism
        )));
    }
    let opt_fix = format!("set {tutorial} in {name} and restart saslauthd");
    match shell_vars::last(&vars, "OPTIONS") {
        None => findings.push(
            Verdict::fail(format!(
                "{name} does not set OPTIONS: saslauthd runs with its defaults, socket outside {dir}"
            ))
            .with_fix(opt_fix.clone()),
        ),
        Some(a) => {
            let opts = saslauthd_opts(&a.value);
            let at = format!("{name} line {}: OPTIONS=\"{}\"", a.line, a.value);
            for f in &spec.flags {
                let c = f.trim_start_matches('-').chars().next().unwrap_or(' ');
                if !opts.iter().any(|(o, _)| *o == c) {
                    let why = match c {
                        'r' => ": saslauthd passes PAM the login without its @domain, so pam_mysql looks up the wrong username",
                        'c' => ": no credential cache",
                        _ => "",
                    };
                    findings.push(
                        Verdict::fail(format!("{at} lacks {f}{why}")).with_fix(opt_fix.clone()),
                    );
                }
            }
            let m_dirs: Vec<&String> = opts
                .iter()
                .filter(|(c, _)| *c == 'm')
                .filter_map(|(_, a)| a.as_ref())
                .collect();
            match m_dirs.last() {
                None => findings.push(
                    Verdict::fail(format!(
                        "{at} has no -m: saslauthd puts its socket in /var/run/saslauthd, which Postfix's chrooted smtpd cannot see"
                    ))
                    .with_fix(opt_fix.clone()),
                ),
                Some(m) => {
                    let same = normal(Path::new(m)) == normal(&o.expected_dir);
                    let same_resolved = o
                        .resolved
                        .get(m.as_str())
                        .zip(o.resolved.get(&o.expected_dir.display().to_string()))
                        .is_some_and(|(a, b)| a == b);
                    if !same && !same_resolved {
                        findings.push(
                            Verdict::fail(format!(
                                "{at} has -m {m}, not {dir}: Postfix's chrooted smtpd cannot reach the socket"
                            ))
                            .with_fix(opt_fix.clone()),
                        );
                    } else if !same {
                        findings.push(Verdict::pass(format!(
                            "-m {m} resolves to {dir}"
                        )));
                    }
                }
            }
        }
    }
    let pass = format!(
        "{name}: START=yes, OPTIONS=\"{}\"",
        shell_vars::last(&vars, "OPTIONS")
            .map(|a| a.value.as_str())
            .unwrap_or("")
    );
    worst_of(findings, &pass).with_evidence(evidence)
}

// ---------------------------------------------------------------------------------------------
// T21: the /var/run/saslauthd symlink

/// T21 has no parameters: the link is `settings.saslauthd_link`, its target the chroot dir.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaslauthdSymlinkSpec {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SaslauthdSymlinkObservation {
    pub link: PathBuf,
    /// `<queue_directory>/var/run/saslauthd`.
    pub expected_target: PathBuf,
    /// lstat of the link (its parent resolved: /var/run -> /run on Debian 12).
    #[serde(default)]
    pub facts: Option<FileFacts>,
    #[serde(default)]
    pub problem: Option<String>,
    #[serde(default)]
    pub missing: bool,
    #[serde(default)]
    pub needs_root: bool,
    /// Where the link leads, fully resolved; `None` when it dangles.
    #[serde(default)]
    pub resolved: Option<PathBuf>,
    #[serde(default)]
    pub expected_resolved: Option<PathBuf>,
}

pub async fn saslauthd_symlink(spec: &SaslauthdSymlinkSpec, ctx: &Ctx) -> Verdict {
    let cfg = match ctx.postfix().await {
        Ok(c) => c,
        Err(e) => return Verdict::error(e.to_string()),
    };
    let expected_target =
        PathBuf::from(cfg.get("queue_directory")).join(&ctx.settings.saslauthd_chroot_dir);
    let link = ctx.settings.saslauthd_link.clone();
    let mut o = SaslauthdSymlinkObservation {
        link: link.clone(),
        expected_target: expected_target.clone(),
        facts: None,
        problem: None,
        missing: false,
        needs_root: false,
        resolved: std::fs::canonicalize(&link).ok(),
        expected_resolved: std::fs::canonicalize(&expected_target).ok(),
    };
    match lstat(&link) {
        Ok(f) => o.facts = Some(f),
        Err(e) => {
            o.missing = matches!(e, ProbeError::NotFound { .. });
            o.needs_root = matches!(e, ProbeError::PermissionDenied { .. });
            o.problem = Some(e.to_string());
        }
    }
    judge_saslauthd_symlink(spec, &o)
}

pub fn judge_saslauthd_symlink(
    _spec: &SaslauthdSymlinkSpec,
    o: &SaslauthdSymlinkObservation,
) -> Verdict {
    let link = o.link.display();
    let want = o.expected_target.display();
    let evidence = json!({
        "link": o.link, "facts": o.facts, "problem": o.problem, "resolved": o.resolved,
        "expected_target": o.expected_target, "expected_resolved": o.expected_resolved,
    });
    let fix = format!("ln -s {want} {link}");
    let Some(facts) = &o.facts else {
        if o.missing {
            return Verdict::fail(format!(
                "{link} does not exist: tools outside Postfix's chroot (testsaslauthd) cannot find saslauthd's socket in {want}"
            ))
            .with_fix(fix)
            .with_evidence(evidence);
        }
        return Verdict::error(o.problem.clone().unwrap_or_default()).with_evidence(evidence);
    };
    if facts.kind == FileKind::Dir {
        return Verdict::fail(format!(
            "{link} is a plain directory (as the Debian package creates it), not a symlink to {want}: tools outside the chroot look for saslauthd's socket in the wrong place"
        ))
        .with_fix(format!(
            "rm -r {link} && {fix} (stop a saslauthd that still uses {link} first)"
        ))
        .with_evidence(evidence);
    }
    if facts.kind != FileKind::Symlink {
        return Verdict::fail(format!(
            "{link} is a {:?}, not a symlink to {want}",
            facts.kind
        ))
        .with_fix(format!("rm {link} && {fix}"))
        .with_evidence(evidence);
    }
    let target = facts
        .link_target
        .as_ref()
        .map(|t| t.display().to_string())
        .unwrap_or_default();
    let Some(resolved) = &o.resolved else {
        return Verdict::fail(format!(
            "{link} -> {target} dangles: {target} does not exist"
        ))
        .with_fix(format!("mkdir -p {want} && ln -sfn {want} {link}"))
        .with_evidence(evidence);
    };
    let same = match &o.expected_resolved {
        Some(e) => e == resolved,
        None => normal(resolved) == normal(&o.expected_target),
    };
    if !same {
        return Verdict::fail(format!(
            "{link} -> {target} (resolves to {}), not {want}",
            resolved.display()
        ))
        .with_fix(format!("ln -sfn {want} {link}"))
        .with_evidence(evidence);
    }
    Verdict::pass(format!("{link} -> {target}")).with_evidence(evidence)
}

// ---------------------------------------------------------------------------------------------
// T22: /etc/pam.d/smtp

/// T22: the PAM service file, the module and arguments its auth and account rules need.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PamServiceSpec {
    pub path: PathBuf,
    pub module: String,
    /// Rule types that must use `module`, e.g. ["auth", "account"].
    pub types: Vec<String>,
    /// Arguments that must be present and non-empty.
    pub present: Vec<String>,
    /// Arguments with a required value.
    pub args: BTreeMap<String, String>,
    /// Arguments that must equal the map's key: pam argument -> map key (db -> dbname).
    #[serde(default)]
    pub same_as_map: BTreeMap<String, String>,
    /// The map file (in the config directory) whose database the rules must use.
    pub map: String,
    pub group: String,
    pub mode: String,
}

/// The database a map file names (never its password).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MapDb {
    pub path: PathBuf,
    /// The map's keys that a PAM rule is compared with (dbname, user, hosts).
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PamServiceObservation {
    /// The service file, `passwd=` values redacted.
    pub file: ConfigFile,
    #[serde(default)]
    pub map: Option<MapDb>,
    #[serde(default)]
    pub map_problem: Option<String>,
    /// Lines of rules whose `passwd=` differs from the map's `password` (compared by the probe;
    /// neither value is recorded).
    #[serde(default)]
    pub passwd_differs: Vec<usize>,
}

/// What pam_mysql's `crypt=` means (pam_mysql.c): 0 plain, 1 crypt(3), 2 PASSWORD(), 3 md5...
fn pam_mysql_crypt(v: &str) -> String {
    match v.to_ascii_lowercase().as_str() {
        "0" | "n" | "plain" => "0".into(),
        "1" | "y" | "crypt" => "1".into(),
        "2" | "mysql" => "2".into(),
        "3" | "md5" => "3".into(),
        "4" | "sha1" => "4".into(),
        other => other.to_string(),
    }
}

pub async fn pam_service(spec: &PamServiceSpec, ctx: &Ctx) -> Verdict {
    let cfg = match ctx.postfix().await {
        Ok(c) => c,
        Err(e) => return Verdict::error(e.to_string()),
    };
    let redact = |t: &str| crate::probe::pam::redact_args(t, &["passwd"], REDACTED);
    let file = ConfigFile::read(&spec.path, redact);
    // The mailbox map named in main.cf, else the tutorial's file name in the config directory.
    let map_path = cfg
        .main
        .settings
        .values()
        .flat_map(|s| map_references(&cfg.main.expand(&s.value, 0)))
        .map(|(_, p)| p)
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy() == spec.map)
        })
        .unwrap_or_else(|| cfg.config_dir.join(&spec.map));
    let mut passwd_differs = Vec::new();
    let (map, map_problem) = match MysqlMap::load(&map_path) {
        Ok(m) => {
            // The passwords are compared here and dropped; only the line numbers are kept.
            if let Ok(text) = std::fs::read_to_string(&spec.path) {
                for r in crate::probe::pam::parse(&text) {
                    if r.module_name() == spec.module
                        && let Some(p) = r.arg("passwd")
                        && !m.password.expose().is_empty()
                        && p != m.password.expose()
                        && !passwd_differs.contains(&r.line)
                    {
                        passwd_differs.push(r.line);
                    }
                }
            }
            let mut keys = BTreeMap::new();
            keys.insert("dbname".to_string(), m.dbname.clone());
            keys.insert("user".to_string(), m.user.clone());
            keys.insert("hosts".to_string(), m.hosts.join(" "));
            (
                Some(MapDb {
                    path: map_path,
                    keys,
                }),
                None,
            )
        }
        Err(e) => (None, Some(e.to_string())),
    };
    judge_pam_service(
        spec,
        &PamServiceObservation {
            file,
            map,
            map_problem,
            passwd_differs,
        },
    )
}

pub fn judge_pam_service(spec: &PamServiceSpec, o: &PamServiceObservation) -> Verdict {
    let name = o.file.path.display();
    let evidence = json!({
        "file": o.file.facts, "text": o.file.text, "map": o.map, "map_problem": o.map_problem,
        "passwd_differs_on_lines": o.passwd_differs,
    });
    if let Some(v) = o
        .file
        .unusable(": PAM falls back to /etc/pam.d/other and refuses every login")
    {
        return v.with_evidence(evidence);
    }
    let mut findings: Vec<Verdict> = Vec::new();
    findings.extend(o.file.mode_finding(&spec.group, &spec.mode));
    findings.extend(o.file.read_finding());
    let mut summary = Vec::new();
    if let Some(text) = &o.file.text {
        let rules = crate::probe::pam::parse(text);
        for ty in &spec.types {
            let Some(rule) = rules
                .iter()
                .find(|r| r.kind == *ty && r.module_name() == spec.module)
            else {
                findings.push(Verdict::fail(format!(
                    "{name} has no `{ty}` rule with {}",
                    spec.module
                )));
                continue;
            };
            let at = format!("{name} line {} ({ty})", rule.line);
            let mut wrong = Vec::new();
            for key in &spec.present {
                if rule.arg(key).is_none_or(str::is_empty) {
                    wrong.push(format!("no {key}="));
                }
            }
            for (key, want) in &spec.args {
                let have = rule.arg(key);
                let ok = match (key.as_str(), have) {
                    ("crypt", Some(h)) => pam_mysql_crypt(h) == pam_mysql_crypt(want),
                    (_, Some(h)) => h == want,
                    (_, None) => false,
                };
                if ok {
                    continue;
                }
                let shown = have.map_or_else(|| format!("no {key}="), |h| format!("{key}={h}"));
                let why = match (key.as_str(), have.map(pam_mysql_crypt).as_deref()) {
                    ("crypt", Some("0")) => {
                        " (plaintext: pam_mysql compares the password as stored, but Postfix Admin stores md5-crypt hashes)"
                    }
                    ("crypt", _) => " (Postfix Admin stores md5-crypt hashes, which need crypt=1)",
                    _ => "",
                };
                wrong.push(format!("{shown}, not {key}={want}{why}"));
            }
            if let Some(map) = &o.map {
                let map_name = map.path.display();
                for (arg, key) in &spec.same_as_map {
                    let (Some(have), Some(m)) = (rule.arg(arg), map.keys.get(key)) else {
                        continue;
                    };
                    if have == m {
                        continue;
                    }
                    let msg = format!("{at}: {arg}={have}, but {map_name} has {key} = {m}");
                    if arg == "user" {
                        findings.push(Verdict::warn(format!(
                            "{msg}: fine only if {have} can read the mailbox table"
                        )));
                    } else {
                        findings.push(Verdict::fail(format!(
                            "{msg}: logins are checked against another database"
                        )));
                    }
                }
            }
            if o.passwd_differs.contains(&rule.line) {
                findings.push(Verdict::warn(format!(
                    "{at}: passwd= differs from the password in {} for the same database user: one of them cannot log in",
                    o.map.as_ref().map(|m| m.path.display().to_string()).unwrap_or_default()
                )));
            }
            if wrong.is_empty() {
                summary.push(format!("{ty} line {}", rule.line));
            } else {
                findings.push(Verdict::fail(format!("{at}: {}", wrong.join(", "))));
            }
        }
    }
    if o.map.is_none()
        && let Some(p) = &o.map_problem
    {
        findings.push(Verdict::error(format!(
            "cannot compare db= with the mailbox map: {p}"
        )));
    }
    let facts = o
        .file
        .facts
        .as_ref()
        .map(|f| format!("{:04o} {}", f.mode, f.group.clone().unwrap_or_default()))
        .unwrap_or_default();
    let pass = format!(
        "{name} ({facts}): {} use {} with table, columns and crypt as the tutorial says",
        summary.join(", "),
        spec.module
    );
    worst_of(findings, &pass).with_evidence(evidence)
}

// ---------------------------------------------------------------------------------------------
// T23: <config_dir>/sasl/smtpd.conf

/// T23: what smtpd's Cyrus SASL config must say, and its group and mode.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpdSaslConfSpec {
    pub pwcheck_method: String,
    /// Mechanisms `mech_list` must hold (case-insensitive).
    pub mechanisms: Vec<String>,
    pub group: String,
    pub mode: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SmtpdSaslConfObservation {
    /// The file, `sql_passwd` redacted.
    pub file: ConfigFile,
}

pub async fn smtpd_sasl_conf(spec: &SmtpdSaslConfSpec, ctx: &Ctx) -> Verdict {
    let cfg = match ctx.postfix().await {
        Ok(c) => c,
        Err(e) => return Verdict::error(e.to_string()),
    };
    // Debian's libsasl2 reads <config_directory>/sasl/<smtpd_sasl_path>.conf unless
    // cyrus_sasl_config_path says otherwise.
    let dir = match cfg.get("cyrus_sasl_config_path") {
        d if d.trim().is_empty() => cfg.config_dir.join("sasl"),
        d => PathBuf::from(d.split(':').next().unwrap_or("").trim()),
    };
    let app = match cfg.get("smtpd_sasl_path") {
        p if p.trim().is_empty() => "smtpd".to_string(),
        p => p,
    };
    let path = dir.join(format!("{app}.conf"));
    let redact = |t: &str| {
        crate::probe::sasl_conf::redact(t, &["sql_passwd", "ldapdb_pw", "password"], REDACTED)
    };
    judge_smtpd_sasl_conf(
        spec,
        &SmtpdSaslConfObservation {
            file: ConfigFile::read(&path, redact),
        },
    )
}

pub fn judge_smtpd_sasl_conf(spec: &SmtpdSaslConfSpec, o: &SmtpdSaslConfObservation) -> Verdict {
    let name = o.file.path.display();
    let evidence =
        json!({ "file": o.file.facts, "text": o.file.text, "problem": o.file.read_problem });
    if let Some(v) = o.file.unusable(": smtpd offers no working AUTH") {
        return v.with_evidence(evidence);
    }
    let mut findings: Vec<Verdict> = Vec::new();
    findings.extend(o.file.mode_finding(&spec.group, &spec.mode));
    findings.extend(o.file.read_finding());
    let mut said = Vec::new();
    if let Some(text) = &o.file.text {
        let conf = crate::probe::sasl_conf::parse(text);
        for (line, l) in &conf.malformed {
            findings.push(Verdict::fail(format!(
                "{name} line {line} is not `key: value` ({:?}): libsasl2 rejects the whole file",
                l.trim()
            )));
        }
        match conf.get("pwcheck_method") {
            None => findings.push(Verdict::fail(format!(
                "{name} does not set pwcheck_method (want pwcheck_method: {})",
                spec.pwcheck_method
            ))),
            Some(opt)
                if !opt
                    .value
                    .split_whitespace()
                    .any(|m| m == spec.pwcheck_method) =>
            {
                findings.push(Verdict::fail(format!(
                    "{name} line {}: pwcheck_method: {}, not {}",
                    opt.line, opt.value, spec.pwcheck_method
                )))
            }
            Some(opt) => said.push(format!("pwcheck_method: {}", opt.value)),
        }
        match conf.get("mech_list") {
            None => findings.push(Verdict::fail(format!(
                "{name} does not set mech_list: smtpd offers every installed mechanism, and those saslauthd cannot check fail (want mech_list: {})",
                spec.mechanisms.join(" ")
            ))),
            Some(opt) => {
                let have: Vec<String> = opt
                    .value
                    .split(|c: char| c.is_whitespace() || c == ',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_ascii_lowercase)
                    .collect();
                let missing: Vec<&String> = spec
                    .mechanisms
                    .iter()
                    .filter(|m| !have.contains(&m.to_ascii_lowercase()))
                    .collect();
                if missing.is_empty() {
                    said.push(format!("mech_list: {}", opt.value));
                } else {
                    let list: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
                    findings.push(Verdict::fail(format!(
                        "{name} line {}: mech_list: {} lacks {}",
                        opt.line,
                        opt.value,
                        list.join(", ")
                    )));
                }
            }
        }
    }
    let facts = o
        .file
        .facts
        .as_ref()
        .map(|f| format!("{:04o} {}", f.mode, f.group.clone().unwrap_or_default()))
        .unwrap_or_default();
    let pass = format!("{name} ({facts}): {}", said.join(", "));
    worst_of(findings, &pass).with_evidence(evidence)
}

// ---------------------------------------------------------------------------------------------
// T24: postfix in group sasl

/// T24: the group Postfix's user must belong to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserInGroupSpec {
    pub group: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserInGroupObservation {
    /// main.cf's mail_owner (postfix).
    pub user_name: String,
    #[serde(default)]
    pub user: Option<UserFacts>,
    #[serde(default)]
    pub group: Option<GroupFacts>,
}

pub async fn user_in_group(spec: &UserInGroupSpec, ctx: &Ctx) -> Verdict {
    let cfg = match ctx.postfix().await {
        Ok(c) => c,
        Err(e) => return Verdict::error(e.to_string()),
    };
    let user_name = cfg.get("mail_owner");
    judge_user_in_group(
        spec,
        &UserInGroupObservation {
            user: users::user(&user_name),
            group: users::group(&spec.group),
            user_name,
        },
    )
}

pub fn judge_user_in_group(spec: &UserInGroupSpec, o: &UserInGroupObservation) -> Verdict {
    let evidence = json!({ "user": o.user, "group": o.group });
    let (u, g) = (&o.user_name, &spec.group);
    let Some(group) = &o.group else {
        return Verdict::fail(format!(
            "group {g} does not exist (is sasl2-bin installed?)"
        ))
        .with_evidence(evidence);
    };
    let Some(user) = &o.user else {
        return Verdict::fail(format!("user {u} (main.cf mail_owner) does not exist"))
            .with_evidence(evidence);
    };
    if user.gid == group.gid {
        return Verdict::pass(format!("{g} is the primary group of {u}")).with_evidence(evidence);
    }
    if group.members.iter().any(|m| m == u) {
        return Verdict::pass(format!(
            "{u} is a member of group {g} (gid {}, members: {})",
            group.gid,
            group.members.join(", ")
        ))
        .with_evidence(evidence);
    }
    let members = if group.members.is_empty() {
        "none".to_string()
    } else {
        group.members.join(", ")
    };
    Verdict::fail(format!(
        "user {u} is not in group {g} (gid {}, members: {members}): smtpd cannot open saslauthd's socket, and AUTH fails",
        group.gid
    ))
    .with_fix(format!("adduser {u} {g}, then restart Postfix so smtpd gets the group"))
    .with_evidence(evidence)
}

// ---------------------------------------------------------------------------------------------
// T25: saslauthd accepts the account

/// T25: the service and realm smtpd asks saslauthd for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaslauthdAuthSpec {
    pub service: String,
    #[serde(default)]
    pub realm: String,
}

/// What saslauthd said.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum AuthOutcome {
    Accepted {
        reply: String,
    },
    Refused {
        reply: String,
    },
    Timeout {
        message: String,
    },
    CannotConnect {
        message: String,
        #[serde(default)]
        needs_root: bool,
    },
    Protocol {
        message: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SaslauthdAuthObservation {
    pub account: String,
    pub socket: PathBuf,
    pub outcome: AuthOutcome,
    /// Whether a running saslauthd has `-c` (a cached success may not have asked the DB).
    #[serde(default)]
    pub cache: bool,
}

pub async fn saslauthd_auth(spec: &SaslauthdAuthSpec, ctx: &Ctx) -> Verdict {
    let (Some(account), Some(password)) = (
        ctx.account.as_ref(),
        ctx.account.as_ref().and_then(|a| a.password.as_ref()),
    ) else {
        return Verdict::skip("needs --account and its password");
    };
    let cfg = match ctx.postfix().await {
        Ok(c) => c,
        Err(e) => return Verdict::error(e.to_string()),
    };
    let socket = PathBuf::from(cfg.get("queue_directory"))
        .join(&ctx.settings.saslauthd_chroot_dir)
        .join("mux");
    let cache = find_by_name("saslauthd")
        .iter()
        .any(|p| p.argv.iter().skip(1).any(|a| a == "-c"));
    let outcome = match authenticate(
        &socket,
        &account.address,
        password,
        &spec.service,
        &spec.realm,
        ctx.settings.timeouts.socket,
    )
    .await
    {
        Ok(SaslauthdAnswer::Ok(reply)) => AuthOutcome::Accepted { reply },
        Ok(SaslauthdAnswer::No(reply)) => AuthOutcome::Refused { reply },
        Err(e @ SaslauthdError::Timeout { .. }) => AuthOutcome::Timeout {
            message: e.to_string(),
        },
        Err(e @ SaslauthdError::Connect { .. }) => {
            let message = e.to_string();
            AuthOutcome::CannotConnect {
                needs_root: message.contains("ermission denied"),
                message,
            }
        }
        Err(e @ SaslauthdError::Protocol { .. }) => AuthOutcome::Protocol {
            message: e.to_string(),
        },
    };
    judge_saslauthd_auth(
        spec,
        &SaslauthdAuthObservation {
            account: account.address.clone(),
            socket,
            outcome,
            cache,
        },
    )
}

pub fn judge_saslauthd_auth(spec: &SaslauthdAuthSpec, o: &SaslauthdAuthObservation) -> Verdict {
    let cache_note = if o.cache {
        "saslauthd runs with -c: a success may come from its cache of earlier successes, without asking the database"
    } else {
        "saslauthd runs without a cache: the answer came from PAM and the database"
    };
    let evidence = json!({
        "account": o.account, "service": spec.service, "realm": spec.realm, "socket": o.socket,
        "outcome": o.outcome, "cache": cache_note,
    });
    let (acct, svc) = (&o.account, &spec.service);
    match &o.outcome {
        AuthOutcome::Accepted { reply } => Verdict::pass(format!(
            "saslauthd accepted {acct} for service {svc} ({})",
            format!("OK {reply}").trim()
        )),
        AuthOutcome::Refused { reply } => Verdict::fail(format!(
            "saslauthd refused {acct} for service {svc}: {}",
            if reply.is_empty() { "NO" } else { reply }
        ))
        .with_fix(format!(
            "check /etc/pam.d/{svc} (user, passwd, db, crypt=1) and the mailbox row of {acct}: it must exist with a password that is the md5-crypt ($1$...) hash of this password, and active = 1 if a where= argument asks for it (the tutorial's lines do not); /var/log/auth.log shows pam_mysql's reason"
        )),
        AuthOutcome::Timeout { message } => Verdict::error(message.clone()),
        AuthOutcome::CannotConnect {
            message,
            needs_root: true,
        } => Verdict::error(format!("{message} (needs root or group sasl)")).with_fix(AS_ROOT),
        AuthOutcome::CannotConnect { message, .. } => Verdict::error(message.clone()),
        AuthOutcome::Protocol { message } => Verdict::error(message.clone()),
    }
    .with_evidence(evidence)
}
