//! The run's facts for issue 13: the server's log, access as Postfix's processes have it, running daemons against their configuration, TLS material: memoised here, gathered by probes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::OnceCell;

use super::Facts;
use crate::probe::access::Identity;
use crate::probe::daemons::mariadb::{self, MariadbFacts};
use crate::probe::daemons::postfix::{self as pfrun, PostfixRuntime, ServiceChroot};
use crate::probe::daemons::saslauthd::{self as sasld, SaslauthdFacts};
use crate::probe::postfix::PostfixConfig;
use crate::probe::procfs::{self, ProcInfo};
use crate::probe::sasl_conf::{self, SaslConf};

/// What this area of the run has learned so far (each fact gathered once).
#[derive(Default)]
pub struct Cells {
    mail_owner: OnceCell<Result<Identity, String>>,
    postfix_runtime: OnceCell<Result<Arc<PostfixRuntime>, String>>,
    saslauthd: OnceCell<Arc<SaslauthdFacts>>,
    mariadb: OnceCell<Result<Arc<MariadbFacts>, String>>,
    processes: OnceCell<Arc<Vec<ProcInfo>>>,
}

/// Where the Cyrus SASL library of an smtpd service finds saslauthd: the application file
/// (`<cyrus_sasl_config_path or config_directory/sasl>/<smtpd_sasl_path>.conf`) and its
/// `pwcheck_method` and `saslauthd_path`.
#[derive(Debug, Clone)]
pub struct SaslClient {
    pub conf_path: PathBuf,
    /// The file's options; `None` when it could not be read.
    pub conf: Option<SaslConf>,
    pub read_problem: Option<String>,
    /// The file is there but mailcheck may not read it (not root).
    pub conf_denied: bool,
    /// `saslauthd_path`, else Cyrus SASL's compiled-in `/var/run/saslauthd/mux`.
    pub socket: PathBuf,
    pub socket_from_conf: bool,
}

/// The compiled-in saslauthd socket of Debian's libsasl2 (PATH_SASLAUTHD_RUNDIR "/mux").
pub const CYRUS_DEFAULT_SOCKET: &str = "/var/run/saslauthd/mux";

/// An smtpd service of master.cf that offers SASL AUTH (smtpd_sasl_auth_enable = yes, its
/// own `-o` or main.cf's), with how it runs.
#[derive(Debug, Clone)]
pub struct SaslService {
    pub service: ServiceChroot,
    /// `smtpd_sasl_path` as this service sees it.
    pub sasl_path: String,
    /// `smtpd_sasl_type` (empty means cyrus).
    pub sasl_type: String,
}

impl Facts {
    /// The process table (this PID namespace), read once: /proc holds hundreds of processes
    /// on a busy server, and four probes pick daemons from it.
    pub async fn processes(&self) -> Arc<Vec<ProcInfo>> {
        self.diagnosis
            .processes
            .get_or_init(|| async {
                tokio::task::spawn_blocking(|| Arc::new(procfs::snapshot()))
                    .await
                    .unwrap_or_default()
            })
            .await
            .clone()
    }

    /// Why the process table may leave out running daemons (/proc mounted with `hidepid=`,
    /// or not mounted): `None` when it is whole.
    pub async fn process_table_gap(&self) -> Option<procfs::TableGap> {
        let reason = procfs::table_gap(&self.processes().await, std::process::id())?;
        Some(procfs::TableGap {
            reason,
            as_root: rustix::process::geteuid().is_root(),
        })
    }

    /// Postfix's `mail_owner` (postfix) as initgroups(3) sets it up: the identity its
    /// unprivileged daemons run with.
    pub async fn mail_owner(&self) -> Result<Identity, String> {
        self.diagnosis
            .mail_owner
            .get_or_init(|| async {
                let cfg = self.postfix().await.map_err(|e| e.to_string())?;
                let name = match cfg.get("mail_owner") {
                    n if n.trim().is_empty() => "postfix".to_string(),
                    n => n.trim().to_string(),
                };
                tokio::task::spawn_blocking(move || {
                    Identity::for_user(&name)
                        .map(Identity::with_names)
                        .map_err(|e| e.to_string())
                })
                .await
                .unwrap_or_else(|e| Err(format!("user lookup crashed: {e}")))
            })
            .await
            .clone()
    }

    /// The running Postfix master, the files its configuration names (with their mtimes), and
    /// which services run chrooted.
    pub async fn postfix_runtime(&self) -> Result<Arc<PostfixRuntime>, String> {
        self.diagnosis
            .postfix_runtime
            .get_or_init(|| async {
                let cfg = self.postfix().await.map_err(|e| e.to_string())?;
                let table = self.processes().await;
                tokio::task::spawn_blocking(move || Arc::new(pfrun::observe(&cfg, &table)))
                    .await
                    .map_err(|e| format!("the Postfix runtime probe crashed: {e}"))
            })
            .await
            .clone()
    }

    /// Every running saslauthd beside the defaults files in /etc/default.
    pub async fn saslauthd_runtime(&self) -> Arc<SaslauthdFacts> {
        self.diagnosis
            .saslauthd
            .get_or_init(|| async {
                let table = self.processes().await;
                tokio::task::spawn_blocking(move || {
                    Arc::new(sasld::observe(Path::new("/etc/default"), &table))
                })
                .await
                .unwrap_or_else(|_| {
                    Arc::new(SaslauthdFacts {
                        running: Vec::new(),
                        defaults: Vec::new(),
                        unreadable: Vec::new(),
                        pairs: Vec::new(),
                    })
                })
            })
            .await
            .clone()
    }

    /// The running MariaDB server, its option files, and its sockets as seen from inside
    /// Postfix's chroot (as mail_owner).
    pub async fn mariadb(&self) -> Result<Arc<MariadbFacts>, String> {
        self.diagnosis
            .mariadb
            .get_or_init(|| async {
                let cfg = self.postfix().await.map_err(|e| e.to_string())?;
                let queue = PathBuf::from(cfg.get("queue_directory"));
                let id = self.mail_owner().await.ok();
                let table = self.processes().await;
                tokio::task::spawn_blocking(move || {
                    let files: Vec<PathBuf> = crate::probe::daemons::mycnf::DEFAULT_FILES
                        .iter()
                        .map(PathBuf::from)
                        .collect();
                    let chroot = id.as_ref().map(|id| (queue.as_path(), id));
                    Arc::new(mariadb::observe(
                        &files,
                        mariadb::DEFAULT_VERSION,
                        chroot,
                        &table,
                    ))
                })
                .await
                .map_err(|e| format!("the MariaDB probe crashed: {e}"))
            })
            .await
            .clone()
    }
}

/// The smtpd services of master.cf that offer SASL AUTH, with their chroot as master(8)
/// decides it (`-` follows compatibility_level).
pub fn sasl_services(cfg: &PostfixConfig) -> Vec<SaslService> {
    let chroots = pfrun::service_chroots(&cfg.master, &cfg.get("compatibility_level"));
    cfg.master
        .services
        .iter()
        .zip(chroots)
        .filter(|(s, _)| s.command == "smtpd")
        .filter(|(s, _)| cfg.service_get(s, "smtpd_sasl_auth_enable").trim() == "yes")
        .map(|(s, c)| SaslService {
            service: c,
            sasl_path: match cfg.service_get(s, "smtpd_sasl_path") {
                p if p.trim().is_empty() => "smtpd".to_string(),
                p => p.trim().to_string(),
            },
            sasl_type: cfg.service_get(s, "smtpd_sasl_type").trim().to_string(),
        })
        .collect()
}

/// The Cyrus SASL application file for `sasl_path` and the saslauthd socket it names.
/// Debian's libsasl2 looks in cyrus_sasl_config_path, else `<config_directory>/sasl`.
pub fn sasl_client(cfg: &PostfixConfig, sasl_path: &str) -> SaslClient {
    let dir = match cfg.get("cyrus_sasl_config_path") {
        d if d.trim().is_empty() => cfg.config_dir.join("sasl"),
        d => PathBuf::from(d.split(':').next().unwrap_or("").trim()),
    };
    let conf_path = dir.join(format!("{sasl_path}.conf"));
    let (conf, read_problem, conf_denied) = match std::fs::read_to_string(&conf_path) {
        Ok(t) => (Some(sasl_conf::parse(&t)), None, false),
        Err(e) => (
            None,
            Some(e.to_string()),
            e.kind() == std::io::ErrorKind::PermissionDenied,
        ),
    };
    let from_conf = conf
        .as_ref()
        .and_then(|c| c.get("saslauthd_path"))
        .map(|o| PathBuf::from(&o.value));
    SaslClient {
        conf_path,
        conf,
        read_problem,
        conf_denied,
        socket_from_conf: from_conf.is_some(),
        socket: from_conf.unwrap_or_else(|| PathBuf::from(CYRUS_DEFAULT_SOCKET)),
    }
}
