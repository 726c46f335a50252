//! T20: every smtpd service that offers AUTH can connect to saslauthd's socket the way its
//! process does it: as mail_owner with its supplementary groups (initgroups(3)), inside the
//! chroot master.cf gives it, through every directory and symlink (path_resolution(7)).

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::judge::{AccessFinding, access_finding, refused_access, who};
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::facts::diagnosis::{sasl_client, sasl_services};
use crate::probe::access::{self, Access, AccessReport};
use crate::verdict::{Verdict, worst_of};

/// T20: the Cyrus SASL method whose socket is walked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// `pwcheck_method` of smtpd.conf that talks to saslauthd.
    pub pwcheck_method: String,
}

/// One smtpd service and the walk to the socket as its process makes it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ServiceAccess {
    /// `submission/inet`.
    pub service: String,
    pub chrooted: bool,
    /// The Cyrus SASL file the service reads (smtpd_sasl_path).
    pub sasl_conf: PathBuf,
    /// The socket as the SASL library names it (saslauthd_path, else /var/run/saslauthd/mux).
    pub socket: PathBuf,
    /// Connect to the socket as mail_owner, in the service's root.
    pub access: AccessReport,
}

/// What T20's access check looks at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub services: Vec<ServiceAccess>,
}

/// T20: the kind.
pub struct SocketAccess;

impl Kind for SocketAccess {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let services = sasl_services(&cfg);
        if services.is_empty() {
            return Err(Unobserved::NotApplicable {
                reason: "no smtpd service of master.cf enables SASL (smtpd_sasl_auth_enable)"
                    .into(),
            });
        }
        let identity = facts.mail_owner().await.map_err(Unobserved::Failed)?;
        let queue = PathBuf::from(cfg.get("queue_directory"));
        let mut out = Vec::new();
        for s in services {
            if !(s.sasl_type.is_empty() || s.sasl_type == "cyrus") {
                continue;
            }
            let client = sasl_client(&cfg, &s.sasl_path);
            if client.conf_denied {
                return Err(Unobserved::NeedsRoot {
                    path: client.conf_path,
                });
            }
            let method = client
                .conf
                .as_ref()
                .and_then(|c| c.get("pwcheck_method"))
                .map(|o| o.value.clone());
            if method.as_deref() != Some(spec.pwcheck_method.as_str()) {
                continue;
            }
            let root = s.service.chrooted.then_some(queue.as_path());
            let (id, socket) = (identity.clone(), client.socket.clone());
            let root_owned = root.map(PathBuf::from);
            let access = tokio::task::spawn_blocking(move || {
                access::check(&id, root_owned.as_deref(), &socket, Access::Connect)
            })
            .await
            .map_err(|e| Unobserved::Failed(format!("the access walk crashed: {e}")))?;
            out.push(ServiceAccess {
                service: format!("{}/{}", s.service.service, s.service.kind),
                chrooted: s.service.chrooted,
                sasl_conf: client.conf_path,
                socket: client.socket,
                access,
            });
        }
        if out.is_empty() {
            return Err(Unobserved::NotApplicable {
                reason: format!(
                    "no SASL smtpd service asks saslauthd (pwcheck_method: {} in its Cyrus SASL file)",
                    spec.pwcheck_method
                ),
            });
        }
        Ok(Observation { services: out })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let mut findings = Vec::new();
        let mut ok = Vec::new();
        for s in &o.services {
            let r = &s.access;
            let chroot = if s.chrooted {
                format!(" (chrooted in {})", r.root.display())
            } else {
                " (not chrooted)".to_string()
            };
            match access_finding(r) {
                AccessFinding::Granted => ok.push(format!(
                    "{}{chroot} reaches {}",
                    s.service,
                    r.resolved().unwrap_or(&s.socket).display()
                )),
                AccessFinding::Refused(why) => findings.push(refused_access(
                    r,
                    format!(
                        "smtpd of {}{chroot} cannot connect to {} as {}: {why}; every SMTP AUTH there fails",
                        s.service,
                        s.socket.display(),
                        r.identity.describe()
                    ),
                )),
                AccessFinding::Unknown(why) => findings.push(Verdict::error(format!(
                    "{}: cannot tell whether {} can connect to {}: {why}",
                    s.service,
                    who(r),
                    s.socket.display()
                ))),
            }
        }
        let identity = o
            .services
            .first()
            .map(|s| s.access.identity.describe())
            .unwrap_or_default();
        worst_of(
            findings,
            &format!(
                "{identity} can connect to saslauthd's socket from every SASL service: {}",
                ok.join("; ")
            ),
        )
    }
}
