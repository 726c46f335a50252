//! The running Postfix master (pid file, start time, its children) against the files its
//! configuration names, with when Postfix reads each one (master(8), postconf(5),
//! DATABASE_README), which master.cf services run chrooted, and whether the chroot's copies of
//! /etc files are current (Debian's configure-instance.sh).
//!
//! When Postfix reads what:
//! - main.cf and master.cf: the master at start and on `postfix reload`; every daemon process
//!   when it starts. A reload makes all daemons exit and restart (qmgr included), so the oldest
//!   long-lived child (`-l`: qmgr, pickup, tlsmgr, ...) started at the last reload.
//! - regexp:, pcre:, cidr:, texthash: tables, and the .cf files of mysql:, pgsql:, ldap:,
//!   sqlite:, memcache: tables: read by each daemon process when it opens the table (at
//!   start); running processes keep the old contents until they exit or a reload.
//! - hash:, btree:, lmdb:, cdb:, dbm: tables: the compiled file is what is read; postmap
//!   rebuilds it, and daemons notice the change and restart by themselves.
//! - TLS certificate and key files, the Cyrus SASL smtpd.conf, and file-valued parameters
//!   (Debian's `myorigin = /etc/mailname`): read by each smtpd/smtp process when it starts.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::saslauthd::PidFile;
use crate::probe::postfix::{MasterCf, PostfixConfig, split_list};
use crate::probe::procfs::{self, ProcInfo};

/// The files Debian's configure-instance.sh copies into the chroot at each start.
pub const CHROOT_COPIES: &[&str] = &[
    "etc/localtime",
    "etc/services",
    "etc/resolv.conf",
    "etc/hosts",
    "etc/host.conf",
    "etc/nsswitch.conf",
    "etc/nss_mdns.config",
];
/// Parameters whose value names a file (or a list of files) read at process start.
const FILE_PARAMS: &[&str] = &[
    "smtpd_tls_cert_file",
    "smtpd_tls_key_file",
    "smtpd_tls_dcert_file",
    "smtpd_tls_dkey_file",
    "smtpd_tls_eccert_file",
    "smtpd_tls_eckey_file",
    "smtpd_tls_chain_files",
    "smtpd_tls_CAfile",
    "smtpd_tls_dh1024_param_file",
    "smtp_tls_cert_file",
    "smtp_tls_key_file",
    "smtp_tls_chain_files",
    "smtp_tls_CAfile",
];
/// Parameters that Debian's Postfix reads from a file when the value is a path.
const FILE_VALUED: &[&str] = &["myorigin", "myhostname", "mydomain"];
/// Where Debian's Postfix looks for the Cyrus SASL application file when
/// cyrus_sasl_config_path is empty.
const DEBIAN_SASL_DIR: &str = "/etc/postfix/sasl";
/// Longest chroot copy compared.
const MAX_COPY_BYTES: u64 = 4 * 1024 * 1024;
/// Most map references followed into one `unionmap:{...}`/`pipemap:{...}`.
const MAX_NESTING: usize = 8;

/// When Postfix (re)reads a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReadWhen {
    /// main.cf, master.cf: the master reads them only at start and on `postfix reload`.
    Reload,
    /// Read by each daemon process when it starts or opens the table; long-running
    /// processes keep the old contents until a reload.
    ProcessStart,
    /// An indexed table: Postfix reads the compiled file (`postmap` rebuilds it) and daemons
    /// restart by themselves when it changes.
    Postmap,
}

/// The compiled form of an indexed table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Compiled {
    pub path: PathBuf,
    #[serde(default)]
    pub mtime_unix_ms: Option<i64>,
    #[serde(default)]
    pub error: Option<String>,
    /// The source was modified after the compiled file: `postmap` has not run since.
    #[serde(default)]
    pub source_newer: Option<bool>,
}

/// A file Postfix's configuration names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WatchedFile {
    pub path: PathBuf,
    /// Where it is named, e.g. `main.cf: mime_header_checks (regexp)`.
    pub sources: Vec<String>,
    #[serde(default)]
    pub map_type: Option<String>,
    pub read: ReadWhen,
    #[serde(default)]
    pub mtime_unix_ms: Option<i64>,
    /// Why there is no mtime (missing, unreadable).
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub compiled: Option<Compiled>,
    /// Modified after the running configuration was read ([`MasterFacts::config_read_unix_ms`]);
    /// `None` when either time is unknown.
    #[serde(default)]
    pub changed_after_config_read: Option<bool>,
}

/// A child of the master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Child {
    pub process: ProcInfo,
    /// master.cf service name (`-n`, else the program) and type (`-t`).
    pub service: String,
    #[serde(default)]
    pub kind: Option<String>,
    /// Started with `-l` (one long-running process: qmgr, pickup, tlsmgr, anvil, ...).
    pub long_lived: bool,
}

/// The running master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MasterFacts {
    /// `<queue_directory>/pid/master.pid`.
    pub pid_file: PidFile,
    /// The process the pid file names, if it exists.
    #[serde(default)]
    pub process: Option<ProcInfo>,
    /// That process is Postfix's master (not a reused pid).
    pub is_master: bool,
    pub children: Vec<Child>,
    /// When the running configuration was read, in ms since the epoch: the start of the oldest
    /// long-lived child (they restart on every reload), else the master's start.
    #[serde(default)]
    pub config_read_unix_ms: Option<i64>,
    /// What that time is taken from, e.g. `qmgr (pid 3510)` or `master start`.
    #[serde(default)]
    pub config_read_basis: Option<String>,
}

/// How one master.cf service runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ServiceChroot {
    pub service: String,
    pub kind: String,
    pub command: String,
    /// The chroot column as written (`y`, `n`, `-`).
    pub written: String,
    /// Whether it runs chrooted in the queue directory.
    pub chrooted: bool,
    /// Running processes of this service: (pid, root directory).
    #[serde(default)]
    pub running: Vec<(u32, Option<PathBuf>)>,
}

/// A file Debian copies into the chroot, compared with the original.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChrootCopy {
    pub host: PathBuf,
    pub chroot: PathBuf,
    /// Same bytes; `None` when either could not be read.
    #[serde(default)]
    pub same: Option<bool>,
    #[serde(default)]
    pub chroot_missing: bool,
}

/// Everything this probe reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PostfixRuntime {
    pub master: MasterFacts,
    pub files: Vec<WatchedFile>,
    pub services: Vec<ServiceChroot>,
    pub chroot_copies: Vec<ChrootCopy>,
}

/// The chroot default for a `-` in master.cf: `y` below compatibility_level 1 (Postfix < 3.0
/// behaviour, with a "using backwards-compatible default setting chroot=y" warning), else `n`.
pub fn chroot_default(compatibility_level: &str) -> bool {
    let major = compatibility_level
        .trim()
        .split('.')
        .next()
        .and_then(|m| m.parse::<u64>().ok())
        .unwrap_or(0);
    major < 1
}

/// Each master.cf service and whether it runs chrooted. Pure.
pub fn service_chroots(master: &MasterCf, compatibility_level: &str) -> Vec<ServiceChroot> {
    let default = chroot_default(compatibility_level);
    master
        .services
        .iter()
        .map(|s| ServiceChroot {
            service: s.name.clone(),
            kind: s.kind.clone(),
            command: s.command.clone(),
            written: s.chroot.clone(),
            chrooted: match s.chroot.as_str() {
                "y" | "Y" => true,
                "n" | "N" => false,
                _ => default,
            },
            running: Vec::new(),
        })
        .collect()
}

/// How Postfix reads a table of type `kind`, and the compiled file's suffix for indexed ones.
pub fn table_read(kind: &str) -> (ReadWhen, Option<&'static str>) {
    match kind {
        "hash" | "btree" => (ReadWhen::Postmap, Some(".db")),
        "lmdb" => (ReadWhen::Postmap, Some(".lmdb")),
        "cdb" => (ReadWhen::Postmap, Some(".cdb")),
        "dbm" | "sdbm" => (ReadWhen::Postmap, Some(".pag")),
        _ => (ReadWhen::ProcessStart, None),
    }
}

/// `type:/path` references in a parameter value, looking through `proxy:` and into
/// `unionmap:{...}` / `pipemap:{...}`. Pure.
pub fn table_refs(value: &str) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    refs_into(value, 0, &mut out);
    out
}

fn refs_into(value: &str, depth: usize, out: &mut Vec<(String, PathBuf)>) {
    if depth > MAX_NESTING {
        return;
    }
    for item in split_list(value) {
        let mut rest = item.as_str();
        while let Some(r) = rest
            .strip_prefix("proxy:")
            .or_else(|| rest.strip_prefix("proxywrite:"))
        {
            rest = r;
        }
        let Some((kind, arg)) = rest.split_once(':') else {
            continue;
        };
        if matches!(kind, "unionmap" | "pipemap") {
            if let Some(inner) = arg.strip_prefix('{').and_then(|a| a.strip_suffix('}')) {
                refs_into(inner, depth + 1, out);
            }
            continue;
        }
        if arg.starts_with('/') && !kind.is_empty() && !kind.contains('{') {
            out.push((kind.to_string(), PathBuf::from(arg)));
        }
    }
}

/// Parameters naming a database Postfix writes itself (TLS session caches, the address
/// verification and postscreen caches): not configuration, so not watched.
pub fn is_cache(param: &str) -> bool {
    param.ends_with("_cache_database")
        || param.ends_with("_cache_map")
        || param.ends_with("_cache_name")
        || param == "address_verify_map"
}

/// The files `cfg` names, with where and how Postfix reads them (no I/O). The Cyrus SASL file
/// is `<dir>/<smtpd_sasl_path>.conf` for each directory of cyrus_sasl_config_path (Debian:
/// /etc/postfix/sasl when empty).
pub fn named_files(cfg: &PostfixConfig) -> Vec<(PathBuf, String, Option<String>, ReadWhen)> {
    let mut out: Vec<(PathBuf, String, Option<String>, ReadWhen)> = vec![
        (
            cfg.main.path.clone(),
            "main.cf".to_string(),
            None,
            ReadWhen::Reload,
        ),
        (
            cfg.master.path.clone(),
            "master.cf".to_string(),
            None,
            ReadWhen::Reload,
        ),
    ];
    let mut add_tables = |value: &str, source: &str| {
        for (kind, path) in table_refs(value) {
            let (read, _) = table_read(&kind);
            out.push((path, format!("{source} ({kind})"), Some(kind), read));
        }
    };
    for name in cfg.main.settings.keys().filter(|n| !is_cache(n)) {
        add_tables(&cfg.get(name), &format!("main.cf: {name}"));
    }
    for s in &cfg.master.services {
        for (name, value) in s.effective_overrides() {
            let v = cfg.main.expand(value, 0);
            add_tables(&v, &format!("master.cf: {}/{} -o {name}", s.name, s.kind));
        }
    }
    for p in FILE_PARAMS {
        for f in split_list(&cfg.get(p)) {
            if f.starts_with('/') {
                out.push((
                    PathBuf::from(f),
                    format!("main.cf: {p}"),
                    None,
                    ReadWhen::ProcessStart,
                ));
            }
        }
    }
    for p in FILE_VALUED {
        if let Some(v) = cfg.main.raw(p)
            && v.starts_with('/')
        {
            out.push((
                PathBuf::from(cfg.main.expand(v, 0)),
                format!("main.cf: {p}"),
                None,
                ReadWhen::ProcessStart,
            ));
        }
    }
    if cfg.get("smtpd_sasl_type") == "cyrus" {
        let dirs = cfg.get("cyrus_sasl_config_path");
        let dirs: Vec<&str> = if dirs.trim().is_empty() {
            vec![DEBIAN_SASL_DIR]
        } else {
            dirs.split(':').filter(|d| d.starts_with('/')).collect()
        };
        let app = cfg.get("smtpd_sasl_path");
        for d in dirs {
            out.push((
                Path::new(d).join(format!("{app}.conf")),
                "Cyrus SASL (smtpd_sasl_path)".to_string(),
                None,
                ReadWhen::ProcessStart,
            ));
        }
    }
    out
}

fn mtime_ms(path: &Path) -> std::io::Result<i64> {
    let t = std::fs::metadata(path)?.modified()?;
    let d = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(std::io::Error::other)?;
    i64::try_from(d.as_millis()).map_err(std::io::Error::other)
}

/// Merges [`named_files`] by path and looks at each file's mtime (and its compiled file's).
pub fn watched_files(cfg: &PostfixConfig, config_read_unix_ms: Option<i64>) -> Vec<WatchedFile> {
    let mut out: Vec<WatchedFile> = Vec::new();
    for (path, source, kind, read) in named_files(cfg) {
        if let Some(w) = out.iter_mut().find(|w| w.path == path) {
            if !w.sources.contains(&source) {
                w.sources.push(source);
            }
            continue;
        }
        let (mtime, error) = match mtime_ms(&path) {
            Ok(m) => (Some(m), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let compiled = kind.as_deref().and_then(|k| table_read(k).1).map(|suffix| {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            let p = PathBuf::from(p);
            let (cm, ce) = match mtime_ms(&p) {
                Ok(m) => (Some(m), None),
                Err(e) => (None, Some(e.to_string())),
            };
            Compiled {
                source_newer: mtime.zip(cm).map(|(s, c)| s > c),
                path: p,
                mtime_unix_ms: cm,
                error: ce,
            }
        });
        let effective_mtime = match (&compiled, read) {
            (Some(c), ReadWhen::Postmap) => c.mtime_unix_ms,
            _ => mtime,
        };
        out.push(WatchedFile {
            path,
            sources: vec![source],
            map_type: kind,
            read,
            mtime_unix_ms: mtime,
            error,
            compiled,
            changed_after_config_read: effective_mtime.zip(config_read_unix_ms).map(|(m, c)| m > c),
        });
    }
    out
}

/// The service a master child belongs to, from its argv (`-n name`, `-t type`).
pub fn child_service(p: &ProcInfo) -> (String, Option<String>, bool) {
    let args = p.argv.get(1..).unwrap_or_default();
    let after = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let name = after("-n").unwrap_or_else(|| p.program().to_string());
    (name, after("-t"), args.iter().any(|a| a == "-l"))
}

/// When the configuration the daemons run with was read. Pure.
pub fn config_read_time(master: &ProcInfo, children: &[Child]) -> (Option<i64>, String) {
    let oldest = children
        .iter()
        .filter(|c| c.long_lived)
        .filter_map(|c| c.process.started_unix_ms.map(|t| (t, c)))
        .min_by_key(|(t, _)| *t);
    match oldest {
        Some((t, c)) => (Some(t), format!("{} (pid {})", c.service, c.process.pid)),
        None => (master.started_unix_ms, "master start".to_string()),
    }
}

/// The master named by `<queue_directory>/pid/master.pid` and its children in `table` (the
/// process table).
pub fn master(queue_directory: &Path, table: &[ProcInfo]) -> MasterFacts {
    let pid_file = PidFile::read(&queue_directory.join("pid/master.pid"));
    let process = pid_file.pid.and_then(procfs::process);
    let is_master = process.as_ref().is_some_and(|p| p.program() == "master");
    let children: Vec<Child> = match (&process, is_master) {
        (Some(m), true) => table
            .iter()
            .filter(|p| p.ppid == m.pid)
            .cloned()
            .map(|p| {
                let (service, kind, long_lived) = child_service(&p);
                Child {
                    process: p,
                    service,
                    kind,
                    long_lived,
                }
            })
            .collect(),
        _ => Vec::new(),
    };
    let (config_read_unix_ms, basis) = match (&process, is_master) {
        (Some(m), true) => {
            let (t, b) = config_read_time(m, &children);
            (t, Some(b))
        }
        _ => (None, None),
    };
    MasterFacts {
        pid_file,
        process,
        is_master,
        children,
        config_read_unix_ms,
        config_read_basis: basis,
    }
}

fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut v = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_COPY_BYTES)
        .read_to_end(&mut v)?;
    Ok(v)
}

/// Compares the chroot's copies with the originals (only files that exist on the host).
pub fn chroot_copies(queue_directory: &Path) -> Vec<ChrootCopy> {
    CHROOT_COPIES
        .iter()
        .filter_map(|rel| {
            let host = Path::new("/").join(rel);
            let orig = read_capped(&host).ok()?;
            let chroot = queue_directory.join(rel);
            let copy = read_capped(&chroot);
            Some(ChrootCopy {
                chroot_missing: copy
                    .as_ref()
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound),
                same: copy.ok().map(|c| c == orig),
                host,
                chroot,
            })
        })
        .collect()
}

/// Looks at the running master, the files `cfg` names, the services' chroots and the chroot
/// copies (those only when some service runs chrooted).
pub fn observe(cfg: &PostfixConfig, table: &[ProcInfo]) -> PostfixRuntime {
    let queue = PathBuf::from(cfg.get("queue_directory"));
    let master = master(&queue, table);
    let files = watched_files(cfg, master.config_read_unix_ms);
    let mut services = service_chroots(&cfg.master, &cfg.get("compatibility_level"));
    for s in &mut services {
        s.running = master
            .children
            .iter()
            .filter(|c| c.service == s.service && c.kind.as_deref().is_none_or(|k| k == s.kind))
            .map(|c| (c.process.pid, c.process.root.clone()))
            .collect();
    }
    let chroot_copies = if services.iter().any(|s| s.chrooted) {
        chroot_copies(&queue)
    } else {
        Vec::new()
    };
    PostfixRuntime {
        master,
        files,
        services,
        chroot_copies,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::postfix::{MainCf, MasterCf};

    fn cfg(main: &str, master: &str) -> PostfixConfig {
        PostfixConfig {
            config_dir: "/etc/postfix".into(),
            main: MainCf::parse(
                Path::new("/etc/postfix/main.cf"),
                main,
                "atlantis.example.com",
            ),
            master: MasterCf::parse(Path::new("/etc/postfix/master.cf"), master),
        }
    }

    #[test]
    fn chroot_column_defaults_by_compatibility_level() {
        let m = MasterCf::parse(
            Path::new("master.cf"),
            "smtp inet n - y - - smtpd\nsubmission inet n - - - - smtpd\nlocal unix - n n - - local\n",
        );
        let new = service_chroots(&m, "3.6");
        assert_eq!(
            new.iter().map(|s| s.chrooted).collect::<Vec<_>>(),
            vec![true, false, false]
        );
        let old = service_chroots(&m, "0");
        assert_eq!(
            old.iter().map(|s| s.chrooted).collect::<Vec<_>>(),
            vec![true, true, false]
        );
        assert!(chroot_default(""));
        assert!(!chroot_default("2"));
    }

    #[test]
    fn files_and_when_they_are_read() {
        let c = cfg(
            "alias_maps = hash:/etc/aliases\nmime_header_checks = regexp:/etc/postfix/mime_header_checks\nvirtual_alias_maps = proxy:mysql:/etc/postfix/mysql_virtual_alias_maps.cf, unionmap:{cidr:/etc/postfix/a.cidr, lmdb:/etc/postfix/b}\nvirtual_uid_maps = static:5000\nsmtpd_tls_cert_file = /etc/ssl/self-signed/server.pem\nmyorigin = /etc/mailname\n",
            "submission inet n - - - - smtpd\n  -o smtpd_recipient_restrictions=check_recipient_access,pcre:/etc/postfix/sub.pcre\n",
        );
        let caches = cfg(
            "smtp_tls_session_cache_database = btree:${data_directory}/smtp_scache\naddress_verify_map = btree:$data_directory/verify_cache\n",
            "",
        );
        assert_eq!(
            named_files(&caches).len(),
            3,
            "main.cf, master.cf, smtpd.conf only"
        );
        let f = named_files(&c);
        let find = |p: &str| {
            f.iter()
                .find(|x| x.0 == Path::new(p))
                .map(|x| (x.2.clone(), x.3))
        };
        assert_eq!(find("/etc/postfix/main.cf"), Some((None, ReadWhen::Reload)));
        assert_eq!(
            find("/etc/aliases"),
            Some((Some("hash".into()), ReadWhen::Postmap))
        );
        assert_eq!(
            find("/etc/postfix/mime_header_checks").map(|x| x.1),
            Some(ReadWhen::ProcessStart)
        );
        assert_eq!(
            find("/etc/postfix/mysql_virtual_alias_maps.cf").map(|x| x.1),
            Some(ReadWhen::ProcessStart)
        );
        assert_eq!(
            find("/etc/postfix/a.cidr").map(|x| x.1),
            Some(ReadWhen::ProcessStart)
        );
        assert_eq!(find("/etc/postfix/b").map(|x| x.1), Some(ReadWhen::Postmap));
        assert_eq!(
            find("/etc/postfix/sub.pcre").map(|x| x.1),
            Some(ReadWhen::ProcessStart)
        );
        assert_eq!(
            find("/etc/ssl/self-signed/server.pem").map(|x| x.1),
            Some(ReadWhen::ProcessStart)
        );
        assert!(find("/etc/mailname").is_some());
        assert!(find("/etc/postfix/sasl/smtpd.conf").is_some());
        // The key file defaults to the cert file: listed once after merging.
        let n = f
            .iter()
            .filter(|x| x.0 == Path::new("/etc/ssl/self-signed/server.pem"))
            .count();
        assert_eq!(n, 2, "cert_file and key_file both name it");
    }

    #[test]
    fn config_read_time_is_the_oldest_long_lived_child() {
        let p = |pid, argv: &str, t| ProcInfo {
            pid,
            ppid: 1,
            comm: "x".into(),
            argv: argv.split(' ').map(String::from).collect(),
            started_unix_ms: Some(t),
            creds: None,
            root: None,
        };
        let m = p(1, "/usr/lib/postfix/sbin/master -w", 1000);
        let kids: Vec<Child> = [
            p(2, "qmgr -l -t unix -u", 5000),
            p(3, "smtpd -n smtp -t inet -u -c", 4000),
            p(4, "tlsmgr -l -t unix -u -c", 7000),
        ]
        .into_iter()
        .map(|p| {
            let (service, kind, long_lived) = child_service(&p);
            Child {
                process: p,
                service,
                kind,
                long_lived,
            }
        })
        .collect();
        assert_eq!(kids[1].service, "smtp");
        assert_eq!(kids[1].kind.as_deref(), Some("inet"));
        assert_eq!(
            config_read_time(&m, &kids),
            (Some(5000), "qmgr (pid 2)".to_string())
        );
        assert_eq!(
            config_read_time(&m, &[]),
            (Some(1000), "master start".to_string())
        );
    }
}
