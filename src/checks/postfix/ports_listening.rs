//! T38: ports 25 and 587 accept connections from anywhere: inet_interfaces = all, sockets on
//! every interface (/proc/net/tcp), no host firewall rule dropping them (nft, iptables).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Param, same_value};
use crate::checks::kind::{Kind, Unobserved};
use crate::checks::values::Port;
use crate::facts::Facts;
use crate::probe::firewall::{self, Dump, Tool};
use crate::probe::listen::{Listener, listeners};
use crate::verdict::{Verdict, worst_of};

/// T38: the ports that must accept connections from anywhere.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub ports: Vec<Port>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub inet_interfaces: Param,
    /// The listening sockets on the ports asked about.
    #[serde(default)]
    pub listeners: Vec<Listener>,
    #[serde(default)]
    pub listen_problem: Option<String>,
    #[serde(default)]
    pub firewalls: Vec<Dump>,
}

/// T38: the kind.
pub struct PortsListening;

impl Kind for PortsListening {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let (listeners, listen_problem) = match listeners() {
            Ok(l) => (
                l.into_iter()
                    .filter(|l| spec.ports.iter().any(|p| p.0 == l.port))
                    .collect(),
                None,
            ),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        let deadline = facts.settings.timeouts.command;
        let mut firewalls = Vec::new();
        for tool in Tool::ALL {
            firewalls.push(firewall::dump(tool, deadline).await);
        }
        Ok(Observation {
            inet_interfaces: Param::read(&cfg.main, "inet_interfaces"),
            listeners,
            listen_problem,
            firewalls,
        })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let mut findings = Vec::new();
        if !same_value(&o.inet_interfaces.effective, "all") {
            findings.push(
                Verdict::fail(format!(
                    "{}: Postfix does not listen on every interface",
                    o.inet_interfaces.shown()
                ))
                .with_fix("postconf -e 'inet_interfaces = all' && postfix stop && postfix start"),
            );
        }
        let mut listening = Vec::new();
        match &o.listen_problem {
            Some(p) => findings.push(Verdict::error(p.clone())),
            None => {
                for Port(port) in &spec.ports {
                    let on: Vec<&Listener> =
                        o.listeners.iter().filter(|l| l.port == *port).collect();
                    if let Some(w) = on.iter().find(|l| l.is_wildcard()) {
                        listening.push(w.to_string());
                    } else if on.is_empty() {
                        findings.push(Verdict::fail(format!(
                            "nothing listens on port {port} (/proc/net/tcp, /proc/net/tcp6)"
                        )));
                    } else {
                        let addrs: Vec<String> = on.iter().map(ToString::to_string).collect();
                        findings.push(Verdict::fail(format!(
                            "port {port} listens only on {}, not on all interfaces",
                            addrs.join(", ")
                        )));
                    }
                }
            }
        }
        let mut consulted = Vec::new();
        for d in &o.firewalls {
            let (name, args) = d.tool.command();
            if d.program.is_none() {
                continue;
            }
            if let Some(p) = &d.problem {
                findings.push(Verdict::error(p.clone()));
                continue;
            }
            consulted.push(format!("{name} {}", args.join(" ")).trim().to_string());
            for Port(port) in &spec.ports {
                for r in firewall::read(d, *port) {
                    if let Some(rule) = &r.blocked_by {
                        findings.push(Verdict::fail(format!(
                            "{name}: the rule `{rule}` drops or rejects connections to port {port}"
                        )));
                    } else if r.accepted_by.is_none() {
                        if !r.partly_blocked_by.is_empty() {
                            findings.push(Verdict::warn(format!(
                                "{name}: `{}` drops or rejects some connections to port {port}",
                                r.partly_blocked_by.join("`, `")
                            )));
                        }
                        if let Some(p) = &r.policy_drop {
                            findings.push(Verdict::fail(format!(
                                "{name}: {p} and no rule accepts port {port}"
                            )));
                        }
                    }
                }
            }
        }
        let fw = if consulted.is_empty() {
            "no host firewall found (nft, iptables-save, ip6tables-save not installed)".to_string()
        } else {
            format!("the firewall rules ({}) let them in", consulted.join(", "))
        };
        let pass = format!(
            "{}; listening on {}; {fw}",
            o.inet_interfaces.shown(),
            listening.join(", ")
        );
        worst_of(findings, &pass)
    }
}
