//! What one run learns about the server: the inputs (target, account, settings) and every fact
//! a probe gathered, each gathered once, on first use, and shared by the checks that need it.
//! Probes never see this type; they get explicit inputs from here.

pub mod diagnosis;
pub mod hardening;
pub mod maillog;
pub mod per_service;
pub mod remote;
pub mod upgrade;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::{OnceCell, Semaphore, SemaphorePermit};

use crate::probe::ProbeError;
use crate::probe::lookup::{LoadedMap, Lookup, LookupPurpose, Resolver};
use crate::probe::postfix::PostfixConfig;
use crate::probe::session::{
    self, Dial, LoginSession, PortSession, Purpose, RelayProbe, RelaySetup, Service,
};
use crate::settings::Settings;
use crate::target::{Account, Target};

/// At most this many connections to the server at once for the requirements' sessions
/// (Postfix throttles busy clients: anvil's default is 50 per client).
pub const MAX_CONNECTIONS: usize = 4;

/// The hardening probes' own bound, beside [`MAX_CONNECTIONS`]: they start with the run and
/// take seconds on a slow server, and must not hold back the sessions the requirements'
/// dependency chain waits for (STARTTLS, AUTH, delivery).
pub const MAX_HARDENING_CONNECTIONS: usize = 3;

/// Test messages this run handed to the server and has not yet seen arrive. The run
/// orchestration owns it: after the checks (or an interruption) it waits for these and
/// deletes every message carrying the run's token.
#[derive(Debug, Default)]
pub struct Ledger {
    pending: Mutex<Vec<String>>,
    maildir: Mutex<Option<PathBuf>>,
}

impl Ledger {
    /// A message with this Message-ID is about to be sent to `maildir`.
    pub fn sending(&self, message_id: &str, maildir: Option<&std::path::Path>) {
        if let Ok(mut p) = self.pending.lock() {
            p.push(message_id.to_string());
        }
        if let (Some(dir), Ok(mut m)) = (maildir, self.maildir.lock()) {
            *m = Some(dir.to_path_buf());
        }
    }
    /// The message was refused, or arrived (and was deleted).
    pub fn settled(&self, message_id: &str) {
        if let Ok(mut p) = self.pending.lock() {
            p.retain(|x| x != message_id);
        }
    }
    /// Message-IDs accepted by the server and not yet seen in the Maildir.
    pub fn pending(&self) -> Vec<String> {
        self.pending.lock().map(|p| p.clone()).unwrap_or_default()
    }
    /// Where this run's test mail goes, once a check found it.
    pub fn maildir(&self) -> Option<PathBuf> {
        self.maildir.lock().ok().and_then(|m| m.clone())
    }
}

/// The account's Maildir, found the way Postfix finds it (virtual_mailbox_maps, then
/// virtual_mailbox_base).
#[derive(Debug, Clone)]
pub struct AccountMaildir {
    pub path: PathBuf,
    /// The lookup that answered, e.g. `example.com/root/` from mysql_virtual_mailbox_maps.cf.
    pub lookup: Lookup,
}

/// Everything a check may consult.
pub struct Facts {
    pub target: Target,
    pub account: Option<Account>,
    pub settings: Settings,
    /// Whether test mail may be sent (`--account` given and no `--no-send`).
    pub send: bool,
    /// This run's token, carried by every test message.
    pub run_token: String,
    pub ledger: Arc<Ledger>,
    /// The run's database connections (one per server and login), made on first use.
    pub mysql: crate::probe::mysql::Connections,
    connections: Semaphore,
    hardening_connections: Semaphore,
    postfix: OnceCell<Result<Arc<PostfixConfig>, ProbeError>>,
    mynetworks: OnceCell<Result<String, ProbeError>>,
    mysql_maps: OnceCell<Result<Arc<Vec<LoadedMap>>, ProbeError>>,
    mailbox: OnceCell<Result<AccountMaildir, String>>,
    smtp: OnceCell<Arc<PortSession>>,
    submission: OnceCell<Arc<PortSession>>,
    plain: OnceCell<Option<Arc<LoginSession>>>,
    login: OnceCell<Option<Arc<LoginSession>>>,
    wrong_password: OnceCell<Option<Arc<LoginSession>>>,
    unauthenticated: OnceCell<Option<Arc<LoginSession>>>,
    relay: OnceCell<Arc<RelayProbe>>,
    // Filled in by the areas' own modules.
    /// Issue 13's facts (facts/diagnosis.rs).
    #[allow(dead_code)]
    pub(crate) diagnosis: diagnosis::Cells,
    /// Issue 15's facts (facts/hardening.rs).
    #[allow(dead_code)]
    pub(crate) hardening: hardening::Cells,
    /// Issue 14's facts (facts/upgrade.rs).
    #[allow(dead_code)]
    pub(crate) upgrade: upgrade::Cells,
    /// Issue 16's facts (facts/remote.rs).
    pub(crate) remote: remote::Cells,
    /// Issue 13's server log (facts/maillog.rs).
    pub(crate) maillog: maillog::Cells,
    /// Issue 13 §6's per-service sessions (facts/per_service.rs).
    pub(crate) per_service: per_service::Cells,
}

impl Facts {
    pub fn new(
        target: Target,
        account: Option<Account>,
        settings: Settings,
        send: bool,
        run_token: String,
        ledger: Arc<Ledger>,
    ) -> Facts {
        Facts {
            target,
            account,
            settings,
            send,
            run_token,
            ledger,
            mysql: Default::default(),
            connections: Semaphore::new(MAX_CONNECTIONS),
            hardening_connections: Semaphore::new(MAX_HARDENING_CONNECTIONS),
            postfix: OnceCell::new(),
            mynetworks: OnceCell::new(),
            mysql_maps: OnceCell::new(),
            mailbox: OnceCell::new(),
            smtp: OnceCell::new(),
            submission: OnceCell::new(),
            plain: OnceCell::new(),
            login: OnceCell::new(),
            wrong_password: OnceCell::new(),
            unauthenticated: OnceCell::new(),
            relay: OnceCell::new(),
            diagnosis: Default::default(),
            hardening: Default::default(),
            upgrade: Default::default(),
            remote: Default::default(),
            maillog: Default::default(),
            per_service: Default::default(),
        }
    }

    /// A permit to open one more connection to the server. A closed semaphore only means the
    /// run is ending; callers go on without the bound then.
    pub async fn connection_permit(&self) -> Option<SemaphorePermit<'_>> {
        self.connections.acquire().await.ok()
    }

    /// A permit for one more hardening probe's connection (its own pool).
    pub async fn hardening_permit(&self) -> Option<SemaphorePermit<'_>> {
        self.hardening_connections.acquire().await.ok()
    }

    /// The SMTP client's per-phase deadlines, from the settings.
    pub fn smtp_timeouts(&self) -> crate::probe::smtp::Timeouts {
        let t = &self.settings.timeouts;
        crate::probe::smtp::Timeouts {
            connect: t.connect,
            banner: t.banner,
            command: t.command,
            tls: t.tls,
            data: t.data,
        }
    }

    /// How to reach `port` on the target.
    pub fn dial(&self, port: u16) -> Dial {
        Dial {
            addr: self.target.socket_addr(port),
            label: format!("{}:{port}", self.target.host),
            server_name: self.target.host.clone(),
            timeouts: self.smtp_timeouts(),
        }
    }

    /// main.cf and master.cf, read once; the directory comes from the settings or, off the
    /// critical path, from `postconf -h config_directory`.
    pub async fn postfix(&self) -> Result<Arc<PostfixConfig>, ProbeError> {
        self.postfix
            .get_or_init(|| async {
                let explicit = self.settings.config_dir.clone();
                tokio::task::spawn_blocking(move || {
                    let dir = crate::probe::postfix::find_config_dir(explicit.as_deref());
                    PostfixConfig::load(&dir).map(Arc::new)
                })
                .await
                .unwrap_or_else(|e| Err(ProbeError::Other(format!("config reader crashed: {e}"))))
            })
            .await
            .clone()
    }

    /// mynetworks as Postfix uses it: main.cf's value or, when main.cf does not set it, what
    /// `postconf -h mynetworks` computes from mynetworks_style.
    pub async fn mynetworks(&self) -> Result<String, ProbeError> {
        self.mynetworks
            .get_or_init(|| async {
                let cfg = self.postfix().await?;
                if cfg.main.raw("mynetworks").is_some() {
                    return Ok(cfg.get("mynetworks"));
                }
                crate::probe::postfix::postconf_value(
                    &cfg.config_dir,
                    "mynetworks",
                    self.settings.timeouts.socket,
                )
                .await
                .map_err(|e| ProbeError::Other(e.to_string()))
            })
            .await
            .clone()
    }

    /// Every `mysql:` map main.cf names, read once (they hold the DB passwords: never
    /// recorded, only their summaries).
    pub async fn mysql_maps(&self) -> Result<Arc<Vec<LoadedMap>>, ProbeError> {
        self.mysql_maps
            .get_or_init(|| async {
                let cfg = self.postfix().await?;
                tokio::task::spawn_blocking(move || {
                    Arc::new(crate::probe::lookup::load_mysql_maps(&cfg))
                })
                .await
                .map_err(|e| ProbeError::Other(format!("map reader crashed: {e}")))
            })
            .await
            .clone()
    }

    /// A resolver that asks the maps as Postfix does, on this run's DB connections.
    pub async fn resolver(&self) -> Result<Resolver<'_>, ProbeError> {
        let cfg = self.postfix().await?;
        let maps = self.mysql_maps().await?;
        Ok(Resolver::new(
            cfg,
            maps,
            &self.mysql,
            self.settings.timeouts.database,
        ))
    }

    /// The account's Maildir through virtual_mailbox_maps and virtual_mailbox_base, found once.
    pub async fn account_maildir(&self) -> Result<AccountMaildir, String> {
        self.mailbox
            .get_or_init(|| async {
                let account = self.account.as_ref().ok_or("needs --account")?;
                let cfg = self.postfix().await.map_err(|e| e.to_string())?;
                let base = cfg.get("virtual_mailbox_base");
                if base.is_empty() {
                    return Err("virtual_mailbox_base is not set in main.cf".to_string());
                }
                let mut r = self.resolver().await.map_err(|e| e.to_string())?;
                let key = account.address.to_lowercase();
                let answer = r
                    .resolve(LookupPurpose::Mailbox, "virtual_mailbox_maps", &key)
                    .await;
                let lookups = r.into_lookups();
                match (answer, lookups.last()) {
                    (Some(v), Some(l)) => Ok(AccountMaildir {
                        path: join_clean(&PathBuf::from(&base), &v),
                        lookup: l.clone(),
                    }),
                    (_, Some(l)) if l.error.is_some() => Err(format!(
                        "virtual_mailbox_maps: {} for {key}: {}",
                        l.file.display(),
                        l.error.clone().unwrap_or_default()
                    )),
                    _ => Err(format!(
                        "virtual_mailbox_maps has no mysql map that answers for {key}"
                    )),
                }
            })
            .await
            .clone()
    }

    /// The shared session on `service`'s port.
    pub async fn port_session(&self, service: Service) -> Arc<PortSession> {
        let cell = match service {
            Service::Smtp => &self.smtp,
            Service::Submission => &self.submission,
        };
        cell.get_or_init(|| async {
            let port = service.port(&self.settings);
            let _permit = self.connection_permit().await;
            Arc::new(
                session::port_session(
                    service,
                    port,
                    &self.dial(port),
                    self.settings.message_size_limit,
                )
                .await,
            )
        })
        .await
        .clone()
    }

    /// The short submission session for `purpose`; `None` without an account (or, except for
    /// the wrong password and the unauthenticated session, without its password).
    pub async fn login_session(&self, purpose: Purpose) -> Option<Arc<LoginSession>> {
        let cell = match purpose {
            Purpose::PlainAndRelay => &self.plain,
            Purpose::Login => &self.login,
            Purpose::WrongPassword => &self.wrong_password,
            Purpose::Unauthenticated => &self.unauthenticated,
            Purpose::Size(_) => return self.submission_size_session().await,
        };
        cell.get_or_init(|| async {
            let account = self.account.as_ref()?;
            let _permit = self.connection_permit().await;
            let dial = self.dial(self.settings.submission_port);
            session::login_session(&dial, account, purpose)
                .await
                .map(Arc::new)
        })
        .await
        .clone()
    }

    /// The unauthenticated relay probe, from outside mynetworks when on the server; from
    /// elsewhere with `--ssh`, checked against the server's mynetworks.
    pub async fn relay_probe(&self) -> Arc<RelayProbe> {
        self.relay
            .get_or_init(|| async {
                let mynetworks = if self.target.local {
                    Some(self.mynetworks().await)
                } else {
                    None
                };
                let setup = self
                    .relay_setup(self.settings.smtp_port, mynetworks, None)
                    .await;
                let _permit = self.connection_permit().await;
                Arc::new(session::relay_probe(&setup).await)
            })
            .await
            .clone()
    }

    /// A relay probe's setup for `port`: on the server, from a local address outside
    /// `mynetworks`; elsewhere, checked against the server's mynetworks learned over SSH.
    pub(crate) async fn relay_setup(
        &self,
        port: u16,
        mynetworks: Option<Result<String, crate::probe::ProbeError>>,
        starttls: Option<String>,
    ) -> RelaySetup {
        let (local_addresses, server_mynetworks) = if self.target.local {
            (crate::probe::mynetworks::local_addresses(), None)
        } else {
            (Vec::new(), self.server_mynetworks().await)
        };
        RelaySetup {
            dial: self.dial(port),
            mynetworks,
            local_addresses,
            server_mynetworks,
            starttls,
        }
    }
}

/// `base` joined with a map's answer, without the `//` a leading `/` or a trailing one leaves.
pub fn join_clean(base: &std::path::Path, rel: &str) -> PathBuf {
    let joined = base.join(rel.trim_start_matches('/'));
    joined.components().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maildir_paths_have_no_double_slashes() {
        let p = join_clean(std::path::Path::new("/home/vmail/"), "example.com/root/");
        assert_eq!(p, PathBuf::from("/home/vmail/example.com/root"));
        let p = join_clean(std::path::Path::new("/home/vmail"), "/example.com//root/");
        assert_eq!(p, PathBuf::from("/home/vmail/example.com/root"));
    }
}
