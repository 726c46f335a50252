//! Issue 13 §6's facts: what the submission port does as its master.cf service sees it
//! (master(5) `-o` overrides): the size probes after AUTH and the unauthenticated relay probe
//! on the submission port, from outside the mynetworks that service uses.

use std::sync::Arc;

use tokio::sync::OnceCell;

use super::Facts;
use crate::probe::session::{self, LoginSession, Purpose, RelayProbe};

#[derive(Default)]
pub(crate) struct Cells {
    size: OnceCell<Option<Arc<LoginSession>>>,
    relay: OnceCell<Arc<RelayProbe>>,
}

impl Facts {
    /// After STARTTLS and AUTH PLAIN on the submission port, `MAIL FROM:<account> SIZE=` the
    /// limit and one more; `None` without the account's password.
    pub async fn submission_size_session(&self) -> Option<Arc<LoginSession>> {
        self.per_service
            .size
            .get_or_init(|| async {
                let account = self.account.as_ref()?;
                let _permit = self.connection_permit().await;
                let dial = self.dial(self.settings.submission_port);
                let purpose = Purpose::Size(self.settings.message_size_limit);
                session::login_session(&dial, account, purpose)
                    .await
                    .map(Arc::new)
            })
            .await
            .clone()
    }

    /// The unauthenticated relay probe on the submission port, after STARTTLS: on the server,
    /// from an address outside the mynetworks the submission service uses (its `-o
    /// mynetworks`, else main.cf's).
    pub async fn submission_relay_probe(&self) -> Arc<RelayProbe> {
        self.per_service
            .relay
            .get_or_init(|| async {
                let port = self.settings.submission_port;
                let mynetworks = if self.target.local {
                    let own = match self.postfix().await {
                        Ok(cfg) => cfg
                            .inet_service("submission", port)
                            .and_then(|s| s.override_value("mynetworks"))
                            .map(|v| cfg.main.expand(v, 0)),
                        Err(e) => return Arc::new(problem(e.to_string())),
                    };
                    Some(match own {
                        Some(v) => Ok(v),
                        None => self.mynetworks().await,
                    })
                } else {
                    None
                };
                let setup = self
                    .relay_setup(port, mynetworks, Some(self.target.host.clone()))
                    .await;
                let _permit = self.connection_permit().await;
                Arc::new(session::relay_probe(&setup).await)
            })
            .await
            .clone()
    }
}

fn problem(why: String) -> RelayProbe {
    RelayProbe {
        local: true,
        mynetworks_problem: Some(why),
        ..RelayProbe::default()
    }
}
