//! Every running saslauthd (options as its getopt(3) reads them, master and workers, start
//! time, pid file, socket) beside what /etc/default/saslauthd makes Debian's init script run
//! (cyrus-sasl saslauthd/saslauthd-main.c, Debian's /etc/init.d/saslauthd).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::probe::ProbeError;
use crate::probe::procfs::{self, ProcInfo};
use crate::probe::shell_vars;

/// saslauthd's getopt(3) string (saslauthd-main.c, 2.1.28).
pub const GETOPT: &str = "a:cdhO:lm:n:rs:t:vV";
/// The run directory when there is no `-m` (Debian's build: PATH_SASLAUTHD_RUNDIR).
pub const DEFAULT_RUN_DIR: &str = "/var/run/saslauthd";
/// What Debian's init script uses when OPTIONS is empty.
pub const DEBIAN_DEFAULT_OPTIONS: &str = "-c -m /var/run/saslauthd";
/// Most workers recorded per master.
const MAX_WORKERS: usize = 1024;
/// Longest defaults file read.
const MAX_DEFAULTS_BYTES: u64 = 1024 * 1024;

/// One option as getopt returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Opt {
    pub flag: char,
    #[serde(default)]
    pub arg: Option<String>,
}

/// saslauthd's options, parsed as GNU getopt(3) with saslauthd's option string does it
/// (operands are permuted to the end, so options after them still count).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SaslauthdOptions {
    /// In the order getopt returns them.
    pub opts: Vec<Opt>,
    /// Words that are not options; saslauthd ignores them.
    #[serde(default)]
    pub operands: Vec<String>,
    /// Letters getopt rejects (saslauthd then prints its usage and exits).
    #[serde(default)]
    pub unknown: Vec<char>,
    /// An option that needs an argument came last without one (usage and exit).
    #[serde(default)]
    pub missing_argument: Option<char>,
}

impl SaslauthdOptions {
    /// Parses `args` (argv without argv[0]).
    pub fn parse<S: AsRef<str>>(args: &[S]) -> SaslauthdOptions {
        let mut out = SaslauthdOptions::default();
        let mut i = 0;
        while i < args.len() {
            let w = args[i].as_ref();
            i += 1;
            if w == "--" {
                out.operands
                    .extend(args[i..].iter().map(|a| a.as_ref().to_string()));
                break;
            }
            let Some(letters) = w.strip_prefix('-').filter(|l| !l.is_empty()) else {
                out.operands.push(w.to_string());
                continue;
            };
            for (k, c) in letters.char_indices() {
                let Some(pos) = GETOPT.find(c).filter(|_| c != ':') else {
                    out.unknown.push(c);
                    continue;
                };
                let takes_arg = GETOPT[pos + c.len_utf8()..].starts_with(':');
                if !takes_arg {
                    out.opts.push(Opt { flag: c, arg: None });
                    continue;
                }
                let rest = &letters[k + c.len_utf8()..];
                let arg = if !rest.is_empty() {
                    Some(rest.to_string())
                } else if i < args.len() {
                    i += 1;
                    Some(args[i - 1].as_ref().to_string())
                } else {
                    out.missing_argument = Some(c);
                    None
                };
                if arg.is_some() {
                    out.opts.push(Opt { flag: c, arg });
                }
                break;
            }
        }
        out
    }

    /// Parses a string of options split on whitespace, as the shell splits an unquoted
    /// `$OPTIONS`.
    pub fn parse_words(options: &str) -> SaslauthdOptions {
        let words: Vec<&str> = options.split_whitespace().collect();
        SaslauthdOptions::parse(&words)
    }

    fn has(&self, flag: char) -> bool {
        self.opts.iter().any(|o| o.flag == flag)
    }

    /// The last argument given to `flag` (saslauthd keeps the last `-m`, `-n`, `-O`, ...).
    pub fn last(&self, flag: char) -> Option<&str> {
        self.opts
            .iter()
            .rev()
            .find(|o| o.flag == flag)
            .and_then(|o| o.arg.as_deref())
    }

    /// What saslauthd makes of these options.
    pub fn effective(&self) -> Effective {
        Effective {
            mechanism: self
                .opts
                .iter()
                .find(|o| o.flag == 'a')
                .and_then(|o| o.arg.clone()),
            second_mechanism: self.opts.iter().filter(|o| o.flag == 'a').count() > 1,
            run_dir: PathBuf::from(self.last('m').unwrap_or(DEFAULT_RUN_DIR)),
            run_dir_given: self.has('m'),
            mech_option: self.last('O').map(str::to_string),
            threads: self.last('n').map(str::to_string),
            cache: self.has('c'),
            realm: self.has('r'),
            cache_size: self.last('s').map(str::to_string),
            cache_timeout: self.last('t').map(str::to_string),
            debug: self.has('d'),
            verbose: self.has('V'),
            no_accept_lock: self.has('l'),
            exits_at_start: self.missing_argument.is_some()
                || !self.unknown.is_empty()
                || self.has('h')
                || self.has('v')
                || self.opts.iter().filter(|o| o.flag == 'a').count() > 1,
        }
    }
}

/// The settings a saslauthd runs with, derived from its options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Effective {
    /// `-a` (the first; saslauthd refuses a second one).
    pub mechanism: Option<String>,
    pub second_mechanism: bool,
    /// `-m`, else [`DEFAULT_RUN_DIR`]; the socket is `mux` in it.
    pub run_dir: PathBuf,
    pub run_dir_given: bool,
    /// `-O` (the last one).
    pub mech_option: Option<String>,
    /// `-n` as written.
    pub threads: Option<String>,
    /// `-c`: credential cache.
    pub cache: bool,
    /// `-r`: `user` + realm become `user@realm` before the mechanism sees them.
    pub realm: bool,
    pub cache_size: Option<String>,
    pub cache_timeout: Option<String>,
    pub debug: bool,
    pub verbose: bool,
    pub no_accept_lock: bool,
    /// `-h`, `-v`, an unknown option, a missing argument or a second `-a`: saslauthd prints
    /// its usage or version and exits instead of serving.
    pub exits_at_start: bool,
}

/// One setting on which two option sets differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Difference {
    /// The option letter (`r`, `m`, ...).
    pub flag: char,
    /// What it is for, e.g. "realm (-r)".
    pub setting: String,
    pub running: String,
    pub configured: String,
}

/// The settings on which `running` and `configured` differ (plain comparison, no verdict).
pub fn differences(running: &Effective, configured: &Effective) -> Vec<Difference> {
    let on = |b: bool| if b { "on" } else { "off" }.to_string();
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "(not set)".to_string());
    let rows: Vec<(char, &str, String, String)> = vec![
        (
            'a',
            "mechanism (-a)",
            opt(&running.mechanism),
            opt(&configured.mechanism),
        ),
        (
            'm',
            "socket directory (-m)",
            running.run_dir.display().to_string(),
            configured.run_dir.display().to_string(),
        ),
        (
            'O',
            "mechanism option (-O)",
            opt(&running.mech_option),
            opt(&configured.mech_option),
        ),
        (
            'n',
            "worker processes (-n)",
            opt(&running.threads),
            opt(&configured.threads),
        ),
        (
            'c',
            "credential cache (-c)",
            on(running.cache),
            on(configured.cache),
        ),
        (
            'r',
            "realm appended to the user (-r)",
            on(running.realm),
            on(configured.realm),
        ),
        (
            's',
            "cache size (-s)",
            opt(&running.cache_size),
            opt(&configured.cache_size),
        ),
        (
            't',
            "cache timeout (-t)",
            opt(&running.cache_timeout),
            opt(&configured.cache_timeout),
        ),
        (
            'l',
            "no accept lock (-l)",
            on(running.no_accept_lock),
            on(configured.no_accept_lock),
        ),
        (
            'V',
            "verbose (-V)",
            on(running.verbose),
            on(configured.verbose),
        ),
    ];
    rows.into_iter()
        .filter(|(_, _, r, c)| r != c)
        .map(|(flag, setting, running, configured)| Difference {
            flag,
            setting: setting.to_string(),
            running,
            configured,
        })
        .collect()
}

/// /etc/default/saslauthd (or an instance file `/etc/default/saslauthd-NAME`) as Debian's
/// init script reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DefaultsFile {
    pub path: PathBuf,
    /// `START` (Debian 13's file has none: systemd decides).
    pub start: Option<String>,
    pub name: Option<String>,
    pub mechanisms: Option<String>,
    pub mech_options: Option<String>,
    pub threads: Option<String>,
    pub options: Option<String>,
    /// OPTIONS is empty, so the init script uses [`DEBIAN_DEFAULT_OPTIONS`].
    pub options_defaulted: bool,
    /// The argv the init script starts saslauthd with (without the program):
    /// `-a $MECHANISMS [-O $MECH_OPTIONS] $OPTIONS [-n $THREADS]`, split as the shell does.
    pub init_args: Vec<String>,
    pub options_parsed: SaslauthdOptions,
}

/// Parses the text of a defaults file (POSIX sh assignments; the last one wins).
pub fn parse_defaults(path: &Path, text: &str) -> DefaultsFile {
    let vars = shell_vars::parse(text);
    let get = |n: &str| shell_vars::last(&vars, n).map(|a| a.value.clone());
    let mechanisms = get("MECHANISMS");
    let mech_options = get("MECH_OPTIONS");
    let threads = get("THREADS");
    let options = get("OPTIONS");
    let options_defaulted = options.as_deref().is_none_or(|o| o.is_empty());
    let effective_options = if options_defaulted {
        DEBIAN_DEFAULT_OPTIONS.to_string()
    } else {
        options.clone().unwrap_or_default()
    };
    let mut init_args: Vec<String> = vec!["-a".to_string()];
    init_args.extend(
        mechanisms
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string),
    );
    if let Some(m) = mech_options.as_deref().filter(|m| !m.is_empty()) {
        init_args.push("-O".to_string());
        init_args.extend(m.split_whitespace().map(str::to_string));
    }
    init_args.extend(effective_options.split_whitespace().map(str::to_string));
    if let Some(t) = threads.as_deref().filter(|t| !t.is_empty()) {
        init_args.push("-n".to_string());
        init_args.extend(t.split_whitespace().map(str::to_string));
    }
    let options_parsed = SaslauthdOptions::parse(&init_args);
    DefaultsFile {
        path: path.to_path_buf(),
        start: get("START"),
        name: get("NAME"),
        mechanisms,
        mech_options,
        threads,
        options,
        options_defaulted,
        init_args,
        options_parsed,
    }
}

/// Reads and parses one defaults file.
pub fn read_defaults(path: &Path) -> Result<DefaultsFile, ProbeError> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_DEFAULTS_BYTES).read_to_string(&mut text))
        .map_err(|e| ProbeError::from_io(path, &e))?;
    Ok(parse_defaults(path, &text))
}

/// The instance files Debian's init script starts, sorted: `saslauthd[_a-zA-Z0-9-]*` in `dir`
/// (normally /etc/default).
pub fn defaults_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .flatten()
        .take(100_000)
        .filter(|e| {
            e.file_name().to_str().is_some_and(|n| {
                n.strip_prefix("saslauthd").is_some_and(|rest| {
                    rest.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                })
            })
        })
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// A pid file and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PidFile {
    pub path: PathBuf,
    #[serde(default)]
    pub pid: Option<u32>,
    /// Why there is no pid (missing, unreadable, not a number).
    #[serde(default)]
    pub error: Option<String>,
    /// The file is there but this process may not read it (mailcheck is not root).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub denied: bool,
}

impl PidFile {
    /// Reads a pid file holding a decimal pid (leading spaces allowed, as Postfix pads it).
    pub fn read(path: &Path) -> PidFile {
        use std::io::Read;
        let mut text = String::new();
        let read = std::fs::File::open(path).and_then(|f| f.take(64).read_to_string(&mut text));
        let denied = matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied);
        let (pid, error) = match read {
            Err(e) => (None, Some(e.to_string())),
            Ok(_) => match text.trim().parse::<u32>() {
                Ok(p) => (Some(p), None),
                Err(_) => (None, Some(format!("not a pid: {:?}", text.trim()))),
            },
        };
        PidFile {
            path: path.to_path_buf(),
            pid,
            error,
            denied,
        }
    }
}

/// The `mux` socket of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MuxSocket {
    pub path: PathBuf,
    /// The path exists and is a socket.
    pub is_socket: bool,
    /// A listening Unix socket bound to this path is open in the instance's master or one of
    /// its workers (else connecting gets ECONNREFUSED: a stale socket file).
    pub held: bool,
}

/// One running saslauthd: the master (whose parent is not a saslauthd) and its workers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Instance {
    pub master: ProcInfo,
    pub options: SaslauthdOptions,
    pub effective: Effective,
    pub workers: Vec<ProcInfo>,
    /// `<run dir>/saslauthd.pid` and whether it names this master.
    pub pid_file: PidFile,
    pub pid_file_matches: bool,
    pub socket: MuxSocket,
}

/// Groups saslauthd processes into instances: a master is one whose parent is not one of them;
/// its workers are its children. Pure.
pub fn group_instances(procs: &[ProcInfo]) -> Vec<(ProcInfo, Vec<ProcInfo>)> {
    let pids: std::collections::BTreeSet<u32> = procs.iter().map(|p| p.pid).collect();
    procs
        .iter()
        .filter(|p| !pids.contains(&p.ppid))
        .map(|m| {
            let workers = procs
                .iter()
                .filter(|w| w.ppid == m.pid)
                .take(MAX_WORKERS)
                .cloned()
                .collect();
            (m.clone(), workers)
        })
        .collect()
}

/// Every running saslauthd among `table` (the process table), with its pid file and socket.
pub fn running(table: &[ProcInfo]) -> Vec<Instance> {
    // A zombie or exiting saslauthd has an empty command line: it serves nothing, and its
    // options (none) are not the daemon's.
    let procs: Vec<ProcInfo> = table
        .iter()
        .filter(|p| !p.argv.is_empty() && (p.program() == "saslauthd" || p.comm == "saslauthd"))
        .cloned()
        .collect();
    let unix = procfs::read_net_table(Path::new("/proc/net/unix"))
        .map(|t| procfs::parse_net_unix(&t))
        .unwrap_or_default();
    group_instances(&procs)
        .into_iter()
        .map(|(master, workers)| {
            let options = SaslauthdOptions::parse(master.argv.get(1..).unwrap_or_default());
            let effective = options.effective();
            let pid_file = PidFile::read(&effective.run_dir.join("saslauthd.pid"));
            let pid_file_matches = pid_file.pid == Some(master.pid);
            let mux = effective.run_dir.join("mux");
            let is_socket = std::fs::symlink_metadata(&mux).is_ok_and(|m| {
                use std::os::unix::fs::FileTypeExt;
                m.file_type().is_socket()
            });
            let mut inodes = std::collections::BTreeSet::new();
            for p in std::iter::once(&master).chain(&workers) {
                inodes.extend(procfs::socket_inodes(p.pid).unwrap_or_default());
            }
            let mux_text = mux.to_string_lossy();
            let held = unix.iter().any(|u| {
                u.listening && u.path.as_deref() == Some(&*mux_text) && inodes.contains(&u.inode)
            });
            Instance {
                options,
                effective,
                workers,
                pid_file,
                pid_file_matches,
                socket: MuxSocket {
                    path: mux,
                    is_socket,
                    held,
                },
                master,
            }
        })
        .collect()
}

/// The running instances and the defaults files, side by side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SaslauthdFacts {
    pub running: Vec<Instance>,
    pub defaults: Vec<DefaultsFile>,
    /// Defaults files that could not be read: (path, reason).
    #[serde(default)]
    pub unreadable: Vec<(PathBuf, String)>,
    /// For each defaults file, the running instance serving its run directory (index into
    /// `running`) and how they differ.
    pub pairs: Vec<Pair>,
}

/// A defaults file and the instance that serves its socket directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Pair {
    pub defaults: PathBuf,
    /// Index into [`SaslauthdFacts::running`]; `None`: no running saslauthd uses that run
    /// directory.
    pub running: Option<usize>,
    pub differences: Vec<Difference>,
}

/// Pairs each defaults file with the running instance of the same run directory (after
/// resolving symlinks with `canon`), else the only instance if there is exactly one. Pure.
pub fn pair(
    running: &[Instance],
    defaults: &[DefaultsFile],
    canon: impl Fn(&Path) -> PathBuf,
) -> Vec<Pair> {
    defaults
        .iter()
        .map(|d| {
            let want = d.options_parsed.effective();
            let dir = canon(&want.run_dir);
            let idx = running
                .iter()
                .position(|r| canon(&r.effective.run_dir) == dir)
                .or((running.len() == 1).then_some(0));
            Pair {
                defaults: d.path.clone(),
                running: idx,
                // Run directories are compared resolved: /var/run/saslauthd may be a symlink
                // to the chroot's directory.
                differences: idx
                    .map(|i| {
                        let mut r = running[i].effective.clone();
                        r.run_dir = canon(&r.run_dir);
                        let mut w = want.clone();
                        w.run_dir = dir.clone();
                        differences(&r, &w)
                    })
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// Running saslauthd instances (from the process table) and the defaults files in
/// `defaults_dir` (normally /etc/default).
pub fn observe(defaults_dir: &Path, table: &[ProcInfo]) -> SaslauthdFacts {
    let running = running(table);
    let mut defaults = Vec::new();
    let mut unreadable = Vec::new();
    for p in defaults_files(defaults_dir) {
        match read_defaults(&p) {
            Ok(d) => defaults.push(d),
            Err(e) => unreadable.push((p, e.to_string())),
        }
    }
    let pairs = pair(&running, &defaults, |p| {
        std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
    });
    SaslauthdFacts {
        running,
        defaults,
        unreadable,
        pairs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getopt_like_saslauthd() {
        let o = SaslauthdOptions::parse_words(
            "-a pam -c -r -m /var/spool/postfix/var/run/saslauthd -n 5",
        );
        let e = o.effective();
        assert_eq!(e.mechanism.as_deref(), Some("pam"));
        assert!(e.cache && e.realm && !e.exits_at_start);
        assert_eq!(e.run_dir, Path::new("/var/spool/postfix/var/run/saslauthd"));
        assert_eq!(e.threads.as_deref(), Some("5"));
        // Clusters, attached arguments, operands before options, the last -m wins.
        let o = SaslauthdOptions::parse_words("-cr -m/a stray -m /b -n5 -O -x");
        assert_eq!(o.operands, vec!["stray"]);
        let e = o.effective();
        assert!(e.cache && e.realm);
        assert_eq!(e.run_dir, Path::new("/b"));
        assert_eq!(e.threads.as_deref(), Some("5"));
        assert_eq!(
            e.mech_option.as_deref(),
            Some("-x"),
            "an option argument may start with -"
        );
        // No -m: the compiled-in run directory.
        let e = SaslauthdOptions::parse_words("-a shadow").effective();
        assert_eq!(e.run_dir, Path::new(DEFAULT_RUN_DIR));
        assert!(!e.run_dir_given);
        // Unknown letters, a missing argument, `--`, a second -a.
        let o = SaslauthdOptions::parse_words("-a pam -z -- -r");
        assert_eq!(o.unknown, vec!['z']);
        assert_eq!(o.operands, vec!["-r"]);
        assert!(!o.effective().realm && o.effective().exits_at_start);
        let o = SaslauthdOptions::parse_words("-a pam -m");
        assert_eq!(o.missing_argument, Some('m'));
        assert!(
            SaslauthdOptions::parse_words("-a pam -a shadow")
                .effective()
                .second_mechanism
        );
        assert_eq!(SaslauthdOptions::parse_words("-:").unknown, vec![':']);
    }

    #[test]
    fn defaults_file_as_the_init_script_builds_it() {
        let text = "START=yes\nMECHANISMS=\"pam\"\nMECH_OPTIONS=\"\"\nTHREADS=5\nOPTIONS=\"-c -r -m /var/spool/postfix/var/run/saslauthd\"\n";
        let d = parse_defaults(Path::new("/etc/default/saslauthd"), text);
        assert_eq!(
            d.init_args.join(" "),
            "-a pam -c -r -m /var/spool/postfix/var/run/saslauthd -n 5"
        );
        assert!(!d.options_defaulted);
        // Debian 13 style: no START; empty OPTIONS falls back to the init script's default.
        let d = parse_defaults(
            Path::new("x"),
            "MECHANISMS=pam\nMECH_OPTIONS=\"/etc/x.conf\"\n",
        );
        assert_eq!(d.start, None);
        assert!(d.options_defaulted);
        assert_eq!(
            d.init_args.join(" "),
            "-a pam -O /etc/x.conf -c -m /var/run/saslauthd"
        );
    }

    fn instance(args: &str) -> Instance {
        let options = SaslauthdOptions::parse_words(args);
        Instance {
            master: ProcInfo {
                pid: 10,
                ppid: 1,
                comm: "saslauthd".into(),
                argv: vec![],
                started_unix_ms: None,
                creds: None,
                root: None,
            },
            effective: options.effective(),
            options,
            workers: vec![],
            pid_file: PidFile {
                path: "/p".into(),
                pid: Some(10),
                error: None,
                denied: false,
            },
            pid_file_matches: true,
            socket: MuxSocket {
                path: "/m".into(),
                is_socket: true,
                held: true,
            },
        }
    }

    #[test]
    fn running_without_r_while_the_file_has_it() {
        let run = vec![instance(
            "-a pam -c -m /var/spool/postfix/var/run/saslauthd -n 5",
        )];
        let d = parse_defaults(
            Path::new("/etc/default/saslauthd"),
            "START=yes\nMECHANISMS=pam\nTHREADS=5\nOPTIONS=\"-c -r -m /var/run/saslauthd\"\n",
        );
        // /var/run/saslauthd is a symlink to the chroot's directory.
        let canon = |p: &Path| {
            if p == Path::new("/var/run/saslauthd") {
                PathBuf::from("/var/spool/postfix/var/run/saslauthd")
            } else {
                p.to_path_buf()
            }
        };
        let pairs = pair(&run, &[d], canon);
        assert_eq!(pairs[0].running, Some(0));
        let diffs = &pairs[0].differences;
        assert_eq!(diffs.len(), 1, "{diffs:?}");
        assert_eq!(
            (
                diffs[0].flag,
                diffs[0].running.as_str(),
                diffs[0].configured.as_str()
            ),
            ('r', "off", "on")
        );
    }

    #[test]
    fn masters_and_workers() {
        let p = |pid, ppid| ProcInfo {
            pid,
            ppid,
            comm: "saslauthd".into(),
            argv: vec![],
            started_unix_ms: None,
            creds: None,
            root: None,
        };
        let g = group_instances(&[p(10, 1), p(11, 10), p(12, 10), p(20, 1), p(21, 20)]);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].1.len(), 2);
        assert_eq!(g[1].1.len(), 1);
    }
}
