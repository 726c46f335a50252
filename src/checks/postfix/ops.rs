//! Operations: `postconf` warnings and files the configuration names (T37), and ports 25 and
//! 587 open to the outside: listening sockets and host firewall rules (T38).

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::maps::NamedFile;
use super::{Param, config, same_value};
use crate::context::Ctx;
use crate::probe::firewall::{self, Dump, Tool};
use crate::probe::listen::{Listener, listeners};
use crate::probe::postfix::{PostfixConfig, map_references};
use crate::verdict::{Verdict, worst_of};

// ---------------------------------------------------------------------------------------------
// T37: postconf warnings and named files.

/// T37: which postconf to run and what not to treat as a required file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSaneSpec {
    /// The program, found in PATH (and /usr/sbin).
    pub postconf: String,
    /// Parameters whose maps Postfix creates itself (caches), e.g. "*_cache_database".
    #[serde(default)]
    pub created_by_postfix: Vec<String>,
    /// Map types that do not name files (e.g. "dev", "unix", "inet").
    #[serde(default)]
    pub not_files: Vec<String>,
}

/// A file named by the configuration: where, and whether it exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigFileRef {
    /// e.g. "main.cf line 40: relay_domains" or "master.cf line 17: submission -o ...".
    pub source: String,
    pub file: NamedFile,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfigSaneObservation {
    /// The command as run.
    pub command: String,
    /// `None` when it could not be run (not installed, timed out).
    #[serde(default)]
    pub run_problem: Option<String>,
    #[serde(default)]
    pub exit_ok: bool,
    /// stderr lines, deduplicated, in order.
    #[serde(default)]
    pub stderr: Vec<String>,
    #[serde(default)]
    pub files: Vec<ConfigFileRef>,
}

/// `*_cache_database` style wildcard with one `*`.
fn wildcard(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((a, b)) => name.len() >= a.len() + b.len() && name.starts_with(a) && name.ends_with(b),
    }
}

/// Parameters (by suffix) whose value is a file Postfix reads.
const FILE_PARAM_SUFFIXES: &[&str] = &[
    "_cert_file",
    "_key_file",
    "_dcert_file",
    "_dkey_file",
    "_eccert_file",
    "_eckey_file",
    "_CAfile",
    "_CApath",
    "_chain_files",
    "_dh1024_param_file",
    "_dh512_param_file",
];

/// Every absolute file the configuration names: map files of main.cf and master.cf `-o`
/// parameters, TLS files, and a myorigin file.
fn named_files(spec: &ConfigSaneSpec, cfg: &PostfixConfig) -> Vec<ConfigFileRef> {
    let mut out: Vec<ConfigFileRef> = Vec::new();
    let mut add = |source: String, kind: &str, path: &Path| {
        if out
            .iter()
            .any(|r| r.file.path == path && r.file.kind == kind)
        {
            return;
        }
        out.push(ConfigFileRef {
            source,
            file: NamedFile::check(kind, path),
        });
    };
    let mut params: Vec<(String, String, String)> = cfg
        .main
        .settings
        .iter()
        .map(|(n, s)| {
            (
                format!("main.cf line {}: {n}", s.line),
                n.clone(),
                cfg.main.expand(&s.value, 0),
            )
        })
        .collect();
    for svc in &cfg.master.services {
        for (n, v) in &svc.overrides {
            params.push((
                format!(
                    "master.cf line {}: {} {} -o {n}",
                    svc.line, svc.name, svc.kind
                ),
                n.clone(),
                cfg.main.expand(v, 0),
            ));
        }
    }
    for (source, name, value) in params {
        if spec.created_by_postfix.iter().any(|p| wildcard(p, &name)) {
            continue;
        }
        for (kind, path) in map_references(&value) {
            if !spec.not_files.contains(&kind) {
                add(source.clone(), &kind, &path);
            }
        }
        let is_file_param = FILE_PARAM_SUFFIXES.iter().any(|s| name.ends_with(s))
            || (name == "myorigin" && value.trim().starts_with('/'));
        if is_file_param {
            for p in crate::probe::postfix::split_list(&value) {
                if p.starts_with('/') {
                    add(source.clone(), "file", Path::new(&p));
                }
            }
        }
    }
    out
}

pub async fn config_sane(spec: &ConfigSaneSpec, ctx: &Ctx) -> Verdict {
    let cfg = match config(ctx).await {
        Ok(c) => c,
        Err(v) => return v,
    };
    let dir = cfg.config_dir.display().to_string();
    let command = format!("{} -c {dir} -n", spec.postconf);
    let deadline = ctx.settings.timeouts.command;
    // /usr/sbin is often not in a user's PATH.
    let program = firewall::find_program(&spec.postconf)
        .unwrap_or_else(|| std::path::PathBuf::from(&spec.postconf));
    // `postconf -n` only reads; it is the one Postfix command run here (never `postfix check`).
    let run = tokio::process::Command::new(&program)
        .args(["-c", &dir, "-n"])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let (mut run_problem, mut exit_ok, mut stderr) = (None, false, Vec::new());
    match tokio::time::timeout(deadline, run).await {
        Err(_) => {
            run_problem = Some(format!(
                "`{command}` gave no answer within {}",
                humantime::format_duration(deadline)
            ));
        }
        Ok(Err(e)) => run_problem = Some(format!("cannot run `{command}`: {e}")),
        Ok(Ok(out)) => {
            exit_ok = out.status.success();
            for l in String::from_utf8_lossy(&out.stderr).lines() {
                let l = l.trim().to_string();
                if !l.is_empty() && !stderr.contains(&l) {
                    stderr.push(l);
                }
            }
        }
    }
    let files = named_files(spec, &cfg);
    judge_config_sane(
        spec,
        &ConfigSaneObservation {
            command,
            run_problem,
            exit_ok,
            stderr,
            files,
        },
    )
}

pub fn judge_config_sane(_spec: &ConfigSaneSpec, o: &ConfigSaneObservation) -> Verdict {
    let evidence = serde_json::to_value(o).unwrap_or_default();
    let mut findings = Vec::new();
    if let Some(p) = &o.run_problem {
        findings.push(Verdict::error(p.clone()));
    } else if !o.exit_ok {
        findings.push(Verdict::fail(format!(
            "`{}` failed: {}",
            o.command,
            o.stderr.join(" | ")
        )));
    } else {
        let warnings: Vec<String> = o
            .stderr
            .iter()
            .map(|l| {
                l.split_once("warning: ")
                    .map_or(l.as_str(), |(_, w)| w)
                    .to_string()
            })
            .collect();
        if !warnings.is_empty() {
            findings.push(
                Verdict::fail(format!(
                    "`{}` warns: {}",
                    o.command,
                    warnings.join("; ")
                ))
                .with_fix(
                    "correct or remove each parameter postconf warns about in main.cf, then postfix reload",
                ),
            );
        }
    }
    for r in &o.files {
        let f = &r.file;
        if f.exists {
            continue;
        }
        if f.needs_root {
            findings.push(Verdict::error(f.problem.clone().unwrap_or_default()));
        } else {
            let named = if f.opens == f.path {
                String::new()
            } else {
                format!(" (for {}:{})", f.kind, f.path.display())
            };
            findings.push(Verdict::fail(format!(
                "{} names {}{named}, which does not exist",
                r.source,
                f.opens.display()
            )));
        }
    }
    let pass = format!(
        "`{}` prints no warning; the {} files the configuration names exist",
        o.command,
        o.files.len()
    );
    worst_of(findings, &pass).with_evidence(evidence)
}

// ---------------------------------------------------------------------------------------------
// T38: ports open to the outside.

/// T38: the ports that must accept connections from anywhere.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortsListeningSpec {
    pub ports: Vec<u16>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortsListeningObservation {
    pub inet_interfaces: Param,
    /// The listening sockets on the ports asked about.
    #[serde(default)]
    pub listeners: Vec<Listener>,
    #[serde(default)]
    pub listen_problem: Option<String>,
    #[serde(default)]
    pub firewalls: Vec<Dump>,
}

pub async fn ports_listening(spec: &PortsListeningSpec, ctx: &Ctx) -> Verdict {
    let cfg = match config(ctx).await {
        Ok(c) => c,
        Err(v) => return v,
    };
    let (listeners, listen_problem) = match listeners() {
        Ok(l) => (
            l.into_iter()
                .filter(|l| spec.ports.contains(&l.port))
                .collect(),
            None,
        ),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let deadline = ctx.settings.timeouts.command;
    let mut firewalls = Vec::new();
    for tool in Tool::ALL {
        firewalls.push(firewall::dump(tool, deadline).await);
    }
    judge_ports_listening(
        spec,
        &PortsListeningObservation {
            inet_interfaces: Param::read(&cfg.main, "inet_interfaces"),
            listeners,
            listen_problem,
            firewalls,
        },
    )
}

pub fn judge_ports_listening(spec: &PortsListeningSpec, o: &PortsListeningObservation) -> Verdict {
    let evidence = serde_json::to_value(o).unwrap_or_default();
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
            for port in &spec.ports {
                let on: Vec<&Listener> = o.listeners.iter().filter(|l| l.port == *port).collect();
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
        for port in &spec.ports {
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
    worst_of(findings, &pass).with_evidence(json!(evidence))
}
