//! The run's facts for issue 15: the hardening probes (H1-H7), each run once per run, from a
//! source outside mynetworks when mailcheck runs on the server, and the Postfix parameters
//! (`postconf`) they are compared with. H1's test message goes through the run's ledger.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::Facts;
use crate::probe::hardening::certificate::{self, CertificatesObservation};
use crate::probe::hardening::legacy_tls::{
    self, LegacyTlsObservation, LegacyTlsRequest, LegacyVersion,
};
use crate::probe::hardening::pipelining::{self, PipeliningObservation, PipeliningRequest};
use crate::probe::hardening::postconf::{self, PostconfRun, PostconfValues};
use crate::probe::hardening::relay_tricks::{self, RelayTricksObservation};
use crate::probe::hardening::smuggling::{self, EndOfData, SmugglingObservation, SmugglingRequest};
use crate::probe::hardening::starttls_injection::{
    self, InjectionRequest, StarttlsInjectionObservation,
};
use crate::probe::hardening::vrfy::{self, VrfyObservation};
use crate::probe::hardening::{self as probes, Target};
use crate::probe::maildir;
use crate::probe::session::Service;

/// Every parameter a hardening check compares with what it saw, read in one `postconf` call.
pub const PARAMETERS: &[&str] = &[
    "mail_version",
    "mynetworks",
    // H1
    "smtpd_forbid_bare_newline",
    "smtpd_forbid_bare_newline_exclusions",
    "smtpd_forbid_bare_newline_reject_code",
    // H3 (and H1's workaround for Postfix without smtpd_forbid_bare_newline)
    "smtpd_forbid_unauth_pipelining",
    "smtpd_client_restrictions",
    "smtpd_helo_restrictions",
    "smtpd_sender_restrictions",
    "smtpd_relay_restrictions",
    "smtpd_recipient_restrictions",
    "smtpd_data_restrictions",
    "smtpd_discard_ehlo_keywords",
    // H4
    "disable_vrfy_command",
    // H5
    "smtpd_sasl_auth_enable",
    "smtpd_tls_auth_only",
    // H6
    "smtpd_use_tls",
    "smtpd_enforce_tls",
    "smtpd_tls_security_level",
    "smtpd_tls_protocols",
    "smtpd_tls_mandatory_protocols",
    "smtpd_tls_ciphers",
    "smtpd_tls_mandatory_ciphers",
    "tls_medium_cipherlist",
    // H7
    "allow_untrusted_routing",
    "allow_percent_hack",
    "swap_bangpath",
    "resolve_dequoted_address",
];

/// What this area of the run has learned so far (each fact gathered once).
#[derive(Default)]
pub struct Cells {
    postconf_run: OnceCell<Result<Arc<PostconfRun>, String>>,
    smuggling: OnceCell<Option<Arc<Smuggled>>>,
    pipelining: OnceCell<Result<Arc<PipeliningObservation>, String>>,
    vrfy: OnceCell<Result<Arc<VrfyObservation>, String>>,
    /// Indexed by [`index`] of the service.
    injection: [OnceCell<Result<Arc<StarttlsInjectionObservation>, String>>; 2],
    /// Indexed by 2 * service + version (TLS 1.0, 1.1).
    legacy: [OnceCell<Result<Arc<LegacyTlsObservation>, String>>; 4],
    certificates: [OnceCell<Result<Arc<CertificatesObservation>, String>>; 2],
    relay_tricks: OnceCell<Result<Arc<RelayTricksObservation>, String>>,
}

fn index(service: Service) -> usize {
    match service {
        Service::Smtp => 0,
        Service::Submission => 1,
    }
}

/// Where the hardening probes came from, as the server saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Vantage {
    /// mailcheck ran on the server.
    pub local: bool,
    /// On the server: the address the probes came from, outside mynetworks (e.g. `::1`).
    pub source: Option<String>,
    /// On the server: why the probes came from inside mynetworks (no address of this machine
    /// outside it reaches Postfix, or mynetworks holds every address). Relay-type results
    /// prove nothing then, unless `holds_everything`.
    pub inside_mynetworks: Option<String>,
    /// The source is inside mynetworks only through an entry that holds every address: any
    /// client on the Internet is treated the same, so relay results still count.
    pub holds_everything: bool,
}

/// H1's one test message, and what became of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Smuggled {
    pub probe: SmugglingObservation,
    /// The account's Maildir (on the server), where an accepted message is looked for.
    pub maildir: Option<PathBuf>,
    /// Why the Maildir is not known (from another machine it never is).
    pub maildir_problem: Option<String>,
    /// Where the accepted message landed.
    pub delivered: Option<PathBuf>,
    /// It was deleted again.
    pub deleted: bool,
    /// Why the accepted message was not seen in the Maildir in time (the run's cleanup still
    /// looks for it by the run token).
    pub wait_problem: Option<String>,
}

impl Facts {
    /// `postconf -c DIR` with the hardening checks' [`PARAMETERS`], run once (on the server
    /// only): the hardening checks read its values, postfix.config-sane and
    /// postfix.deprecated-params its warnings (the same as `postconf -n`'s), the versions its
    /// mail_version. Read-only (never `postfix check`).
    pub async fn postconf_run(&self) -> Result<Arc<PostconfRun>, String> {
        self.hardening
            .postconf_run
            .get_or_init(|| async {
                if !self.target.local {
                    return Err("not on the server".to_string());
                }
                let cfg = self.postfix().await.map_err(|e| e.to_string())?;
                postconf::run(&cfg.config_dir, PARAMETERS, self.settings.timeouts.command)
                    .await
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .await
            .clone()
    }

    /// The hardening parameters from [`Self::postconf_run`].
    pub async fn hardening_postconf(&self) -> Result<PostconfValues, String> {
        let run = self.postconf_run().await?;
        run.values(PARAMETERS).map_err(|e| e.to_string())
    }

    /// Where the hardening probes come from: on the server, the relay probe's source outside
    /// mynetworks (T31 picks it: e.g. `::1` when mynetworks holds only 127.0.0.0/8).
    pub async fn hardening_vantage(&self) -> Vantage {
        if !self.target.local {
            return Vantage::default();
        }
        let relay = self.relay_probe().await;
        let mut v = Vantage {
            local: true,
            ..Vantage::default()
        };
        match (&relay.source, &relay.source_inside) {
            (Some(s), None) => v.source = Some(s.clone()),
            (Some(s), Some(entry)) => {
                v.source = Some(s.clone());
                v.holds_everything = true;
                v.inside_mynetworks = Some(format!(
                    "every address of this machine is inside mynetworks; {s} only through {entry}, which holds every address"
                ));
            }
            (None, _) => {
                v.inside_mynetworks = Some(
                    relay
                        .no_probe
                        .clone()
                        .or_else(|| relay.mynetworks_problem.clone())
                        .unwrap_or_else(|| "no source outside mynetworks was found".into()),
                );
            }
        }
        v
    }

    /// The probe target for `port`: from the vantage's source on the server (connecting to
    /// that address, where Postfix listens too), else to the host's address.
    async fn hardening_target(&self, port: u16) -> Result<Target, String> {
        let v = self.hardening_vantage().await;
        let source: Option<IpAddr> = v.source.as_deref().and_then(|s| s.parse().ok());
        let target = match source {
            Some(ip) => Target::new(SocketAddr::new(ip, port), &self.target.host).from_source(ip),
            None => {
                let addr = self
                    .dial(port)
                    .addr
                    .ok_or_else(|| format!("{} has no address", self.target.host))?;
                Target::new(addr, &self.target.host)
            }
        };
        Ok(target.with_timeouts(self.smtp_timeouts()))
    }

    /// H1: one message to the account ended by `end` on the MX port; `None` without an account
    /// or when test mail may not be sent. The ledger knows the message before the first byte;
    /// an accepted one is waited for in the Maildir (on the server) and deleted.
    pub async fn smuggling(&self, end: EndOfData, wait: Duration) -> Option<Arc<Smuggled>> {
        self.hardening
            .smuggling
            .get_or_init(|| async {
                let account = self.account.as_ref()?;
                if !self.send {
                    return None;
                }
                Some(Arc::new(self.smuggle(&account.address, end, wait).await))
            })
            .await
            .clone()
    }

    async fn smuggle(&self, account: &str, end: EndOfData, wait: Duration) -> Smuggled {
        let mut out = Smuggled::default();
        let req = SmugglingRequest {
            account: account.to_string(),
            token: self.run_token.clone(),
            end,
            wait,
        };
        if self.target.local {
            match self.account_maildir().await {
                Ok(m) => out.maildir = Some(m.path),
                Err(e) => out.maildir_problem = Some(e),
            }
        } else {
            out.maildir_problem = Some(
                "mailcheck runs on another machine: it cannot see the Maildir, so an accepted message stays in the test account".into(),
            );
        }
        let target = match self.hardening_target(self.settings.smtp_port).await {
            Ok(t) => t,
            Err(e) => {
                out.probe.setup_failure = Some(probes::SetupFailure {
                    step: "connect".into(),
                    outcome: probes::Step::error(probes::ErrorKind::Unreachable, "connect", e),
                });
                return out;
            }
        };
        let message_id = smuggling::test_message(&req).ok().map(|m| m.message_id);
        if let Some(id) = &message_id {
            self.ledger.sending(id, out.maildir.as_deref());
        }
        let probe = {
            let _permit = self.hardening_permit().await;
            smuggling::probe(&target, &req).await
        };
        let accepted = probe.response == smuggling::EndResponse::Accepted;
        if let Some(id) = &message_id {
            match (&out.maildir, accepted) {
                (_, false) => self.ledger.settled(id),
                (Some(dir), true) => {
                    match maildir::wait_for(dir, id, self.settings.timeouts.delivery).await {
                        Ok(d) => {
                            out.delivered = Some(d.path.clone());
                            out.deleted = std::fs::remove_file(&d.path).is_ok();
                            if out.deleted {
                                self.ledger.settled(id);
                            }
                        }
                        Err(e) => out.wait_problem = Some(e.to_string()),
                    }
                }
                // From elsewhere nothing can be done about it: the account's owner deletes it.
                (None, true) => self.ledger.settled(id),
            }
        }
        out.probe = probe;
        out
    }

    /// H3: EHLO and NOOP in one write, then MAIL/RCPT to the account and DATA (hung up at 354).
    pub async fn pipelining(
        &self,
        account: &str,
        wait: Duration,
    ) -> Result<Arc<PipeliningObservation>, String> {
        self.hardening
            .pipelining
            .get_or_init(|| async {
                let target = self.hardening_target(self.settings.smtp_port).await?;
                let req = PipeliningRequest {
                    variant: pipelining::Variant::EhloThenNoop,
                    account: account.to_string(),
                    wait,
                };
                let _permit = self.hardening_permit().await;
                Ok(Arc::new(pipelining::probe(&target, &req).await))
            })
            .await
            .clone()
    }

    /// H4: VRFY of each of `arguments` on the MX port.
    pub async fn vrfy(&self, arguments: &[String]) -> Result<Arc<VrfyObservation>, String> {
        self.hardening
            .vrfy
            .get_or_init(|| async {
                let target = self.hardening_target(self.settings.smtp_port).await?;
                let args: Vec<&str> = arguments.iter().map(String::as_str).collect();
                let _permit = self.hardening_permit().await;
                Ok(Arc::new(vrfy::probe(&target, &args).await))
            })
            .await
            .clone()
    }

    /// H2: STARTTLS with a NOOP in the same write on `service`'s port.
    pub async fn starttls_injection(
        &self,
        service: Service,
    ) -> Result<Arc<StarttlsInjectionObservation>, String> {
        self.hardening.injection[index(service)]
            .get_or_init(|| async {
                let target = self.hardening_target(service.port(&self.settings)).await?;
                let req = InjectionRequest::default();
                let _permit = self.hardening_permit().await;
                Ok(Arc::new(starttls_injection::probe(&target, &req).await))
            })
            .await
            .clone()
    }

    /// H6: a hand-built TLS 1.0 or 1.1 ClientHello after STARTTLS on `service`'s port.
    pub async fn legacy_tls(
        &self,
        service: Service,
        version: LegacyVersion,
    ) -> Result<Arc<LegacyTlsObservation>, String> {
        let v = match version {
            LegacyVersion::Tls10 => 0,
            LegacyVersion::Tls11 => 1,
        };
        self.hardening.legacy[2 * index(service) + v]
            .get_or_init(|| async {
                let target = self.hardening_target(service.port(&self.settings)).await?;
                let _permit = self.hardening_permit().await;
                Ok(Arc::new(
                    legacy_tls::probe(&target, LegacyTlsRequest { version }).await,
                ))
            })
            .await
            .clone()
    }

    /// H6: the certificates `service`'s port serves, with their algorithms.
    pub async fn certificate_algorithms(
        &self,
        service: Service,
    ) -> Result<Arc<CertificatesObservation>, String> {
        self.hardening.certificates[index(service)]
            .get_or_init(|| async {
                let target = self.hardening_target(service.port(&self.settings)).await?;
                let _permit = self.hardening_permit().await;
                Ok(Arc::new(certificate::probe(&target).await))
            })
            .await
            .clone()
    }

    /// H7: the classic relay forms for `domain`, RCPT only, on the MX port.
    pub async fn relay_tricks(&self, domain: &str) -> Result<Arc<RelayTricksObservation>, String> {
        self.hardening
            .relay_tricks
            .get_or_init(|| async {
                let target = self.hardening_target(self.settings.smtp_port).await?;
                let _permit = self.hardening_permit().await;
                Ok(Arc::new(relay_tricks::probe(&target, domain).await))
            })
            .await
            .clone()
    }
}
