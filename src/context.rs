//! What one run knows: the target, the account, the settings, and the facts probes have
//! gathered so far (each gathered once and shared by every check that needs it).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::sync::{OnceCell, Semaphore};

use crate::probe::ProbeError;
use crate::probe::postfix::PostfixConfig;
use crate::secret::{Redactor, Secret};
use crate::settings::Settings;

/// The mailbox used for AUTH and test mail.
#[derive(Debug, Clone)]
pub struct Account {
    /// `user@domain`.
    pub address: String,
    pub local_part: String,
    pub domain: String,
    pub password: Option<Secret>,
}

impl Account {
    /// Parses `user@domain`; `None` when it is not of that form.
    pub fn parse(address: &str, password: Option<Secret>) -> Option<Account> {
        let (local, domain) = address.rsplit_once('@')?;
        if local.is_empty() || domain.is_empty() || domain.contains(char::is_whitespace) {
            return None;
        }
        Some(Account {
            address: address.to_string(),
            local_part: local.to_string(),
            domain: domain.to_ascii_lowercase(),
            password,
        })
    }
}

/// The server under test.
#[derive(Debug, Clone)]
pub struct Target {
    /// As given with `--host`.
    pub host: String,
    /// Its addresses, IPv4 first.
    pub addrs: Vec<IpAddr>,
    /// Whether mailcheck runs on the server itself (host-side checks are possible).
    pub local: bool,
}

impl Target {
    /// The address to reach `port` on.
    pub fn socket_addr(&self, port: u16) -> Option<SocketAddr> {
        self.addrs.first().map(|ip| SocketAddr::new(*ip, port))
    }
}

/// Everything a check may consult. Facts are gathered lazily, once per run.
pub struct Ctx {
    pub target: Target,
    pub account: Option<Account>,
    pub settings: Settings,
    /// Whether test mail may be sent (`--account` given and no `--no-send`).
    pub send: bool,
    /// This run's token, carried by every test message.
    pub run_token: String,
    pub redactor: Redactor,
    /// Bounds concurrent connections to the server (Postfix throttles busy clients).
    pub connections: Semaphore,
    postfix: OnceCell<Result<Arc<PostfixConfig>, ProbeError>>,
    /// The run's database connections (one per server and login), made on first use.
    pub mysql: crate::probe::mysql::Connections,
    /// The run's SMTP sessions (one per port and purpose), made on first use.
    pub network: crate::probe::session::Sessions,
    /// Where test mail lands and which messages are still on their way (for cleanup).
    pub deliveries: crate::checks::delivery::Deliveries,
}

/// At most this many connections to the server at once.
pub const MAX_CONNECTIONS: usize = 4;

impl Ctx {
    pub fn new(
        target: Target,
        account: Option<Account>,
        settings: Settings,
        send: bool,
        run_token: String,
        redactor: Redactor,
    ) -> Ctx {
        Ctx {
            target,
            account,
            settings,
            send,
            run_token,
            redactor,
            connections: Semaphore::new(MAX_CONNECTIONS),
            postfix: OnceCell::new(),
            mysql: Default::default(),
            network: Default::default(),
            deliveries: Default::default(),
        }
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
}
