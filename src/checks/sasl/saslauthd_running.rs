//! T19/T20: the running saslauthd (its real options, from /proc/PID/cmdline) against
//! /etc/default/saslauthd and against what Postfix's smtpd needs: the mechanism, `-r` (users
//! log in with their full address) and the socket each SASL smtpd service connects to.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::facts::diagnosis::{sasl_client, sasl_services};
use crate::probe::daemons::saslauthd::{Difference, Effective};
use crate::verdict::{Verdict, worst_of};

/// What Postfix needs of saslauthd.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// `-a`: the mechanism the logins go through (pam for pam_mysql).
    pub mechanism: String,
    /// `-r`: the realm is appended to the user, so PAM sees the full address.
    pub realm: bool,
}

/// One running saslauthd, in short.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Running {
    pub pid: u32,
    /// Its command line as /proc/PID/cmdline has it.
    pub argv: Vec<String>,
    pub effective: Effective,
    /// `<run dir>/mux`, resolved on the host.
    pub socket: PathBuf,
    /// The socket is a listening socket of this instance.
    pub socket_held: bool,
}

/// The socket an smtpd service's Cyrus SASL library connects to.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Wanted {
    /// `smtp/inet`.
    pub service: String,
    /// As the library names it (inside the chroot when chrooted).
    pub socket: PathBuf,
    /// Where that is on the host, resolved.
    pub host_socket: PathBuf,
}

/// A defaults file, the instance serving its socket directory, and how they differ.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Compared {
    pub defaults: PathBuf,
    /// `OPTIONS`, `MECHANISMS`, `THREADS` turned into the command line the init script runs.
    pub configured_args: Vec<String>,
    /// Index into `running`.
    #[serde(default)]
    pub running: Option<usize>,
    pub differences: Vec<Difference>,
}

/// What the check looks at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub running: Vec<Running>,
    pub wanted: Vec<Wanted>,
    pub compared: Vec<Compared>,
    /// Defaults files that could not be read: (path, reason).
    #[serde(default)]
    pub unreadable: Vec<(PathBuf, String)>,
}

fn resolve(p: &Path) -> PathBuf {
    // The socket itself may be missing: resolve its directory.
    match (p.parent(), p.file_name()) {
        (Some(d), Some(f)) => std::fs::canonicalize(d)
            .unwrap_or_else(|_| d.to_path_buf())
            .join(f),
        _ => p.to_path_buf(),
    }
}

/// T19/T20: the kind.
pub struct SaslauthdRunning;

impl Kind for SaslauthdRunning {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let rt = facts.saslauthd_runtime().await;
        if rt.running.is_empty() {
            if let Some(gap) = facts.process_table_gap().await {
                return Err(gap.into());
            }
            return Err(Unobserved::NotApplicable {
                reason: "no saslauthd is running (sasl.saslauthd-socket reports it)".into(),
            });
        }
        let queue = PathBuf::from(cfg.get("queue_directory"));
        let mut wanted = Vec::new();
        for s in sasl_services(&cfg) {
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
            if method.as_deref() != Some("saslauthd") {
                continue;
            }
            let on_host = if s.service.chrooted {
                queue.join(client.socket.strip_prefix("/").unwrap_or(&client.socket))
            } else {
                client.socket.clone()
            };
            wanted.push(Wanted {
                service: format!("{}/{}", s.service.service, s.service.kind),
                host_socket: resolve(&on_host),
                socket: client.socket,
            });
        }
        let running = rt
            .running
            .iter()
            .map(|i| Running {
                pid: i.master.pid,
                argv: i.master.argv.clone(),
                effective: i.effective.clone(),
                socket: resolve(&i.socket.path),
                socket_held: i.socket.held,
            })
            .collect();
        let compared = rt
            .pairs
            .iter()
            .map(|p| Compared {
                configured_args: rt
                    .defaults
                    .iter()
                    .find(|d| d.path == p.defaults)
                    .map(|d| d.init_args.clone())
                    .unwrap_or_default(),
                defaults: p.defaults.clone(),
                running: p.running,
                differences: p.differences.clone(),
            })
            .collect();
        Ok(Observation {
            running,
            wanted,
            compared,
            unreadable: rt.unreadable.clone(),
        })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        if o.wanted.is_empty() {
            return Verdict::skip(
                "no SASL smtpd service asks saslauthd (pwcheck_method: saslauthd in its Cyrus SASL file)",
            );
        }
        let mut findings = Vec::new();
        let cmd = |r: &Running| format!("pid {} `{}`", r.pid, r.argv.join(" "));
        // What Postfix needs, against what runs: each instance that serves a service once.
        let mut served: Vec<(usize, Vec<String>)> = Vec::new();
        for w in &o.wanted {
            // A live socket beats a stale path of an instance that no longer holds it.
            let serving = o
                .running
                .iter()
                .enumerate()
                .filter(|(_, r)| r.socket == w.host_socket)
                .max_by_key(|(_, r)| r.socket_held)
                .map(|(i, _)| i);
            match serving {
                None => findings.push(Verdict::fail(format!(
                    "smtpd of {} connects to {} ({} on the host), but no running saslauthd listens there: {}; every SMTP AUTH there fails",
                    w.service,
                    w.socket.display(),
                    w.host_socket.display(),
                    o.running
                        .iter()
                        .map(|r| format!("{} listens at {}", cmd(r), r.socket.display()))
                        .collect::<Vec<_>>()
                        .join("; ")
                ))),
                Some(i) => match served.iter_mut().find(|(j, _)| *j == i) {
                    Some((_, s)) => s.push(w.service.clone()),
                    None => served.push((i, vec![w.service.clone()])),
                },
            }
        }
        for (i, services) in &served {
            let Some(r) = o.running.get(*i) else { continue };
            let services = services.join(" and ");
            if r.effective.mechanism.as_deref().unwrap_or("") != spec.mechanism {
                findings.push(Verdict::fail(format!(
                    "the saslauthd that smtpd of {services} uses ({}) checks passwords with -a {}, not -a {}: the pam_mysql logins fail",
                    cmd(r),
                    r.effective.mechanism.as_deref().unwrap_or("(none)"),
                    spec.mechanism
                )));
            }
            if spec.realm && !r.effective.realm {
                findings.push(Verdict::fail(format!(
                    "the saslauthd that smtpd of {services} uses ({}) runs without -r: PAM gets the user without its domain (\"user\" instead of \"user@domain\"), so no mailbox matches and every login fails",
                    cmd(r)
                )));
            }
        }
        // What runs, against its defaults file.
        for c in &o.compared {
            let Some(r) = c.running.and_then(|i| o.running.get(i)) else {
                continue;
            };
            if c.differences.is_empty() {
                continue;
            }
            let diffs = c
                .differences
                .iter()
                .map(|d| {
                    format!(
                        "{}: running {}, {} says {}",
                        d.setting,
                        d.running,
                        c.defaults.display(),
                        d.configured
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            findings.push(
                Verdict::warn(format!(
                    "the running saslauthd ({}) is not what {} starts (`{}`): {diffs}; the next restart changes it",
                    cmd(r),
                    c.defaults.display(),
                    c.configured_args.join(" ")
                ))
                .with_fix("systemctl restart saslauthd (after checking the defaults file)"),
            );
        }
        let pass = format!(
            "{} runs with -a {}{}, as {} says, and listens where {} connect{}",
            o.running.iter().map(cmd).collect::<Vec<_>>().join(", "),
            spec.mechanism,
            if spec.realm { " -r" } else { "" },
            o.compared
                .iter()
                .map(|c| c.defaults.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            o.wanted
                .iter()
                .map(|w| format!("{} ({})", w.service, w.socket.display()))
                .collect::<Vec<_>>()
                .join(" and "),
            if o.wanted.len() == 1 { "s" } else { "" }
        );
        worst_of(findings, &pass)
    }
}
