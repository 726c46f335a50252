//! T10: the MySQL server(s) that the maps' `hosts =` name answer (mysql_table(5)); a UNIX
//! socket must also exist inside Postfix's chroot for the chrooted services that ask the maps.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{file_list, round_ms, unreadable};
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::lookup::MapSummary;
use crate::probe::mysql::{DbError, Endpoint, SessionInfo, socket_in_chroot};
use crate::verdict::{Verdict, worst_of};

/// T10: the server(s) named by `hosts =` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// master.cf services (name/type) that look up the maps; when one runs chrooted, a UNIX
    /// socket must also exist inside the chroot.
    #[serde(default)]
    pub chroot_services: Vec<String>,
}

/// One server from `hosts`, and how it answered.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointProbe {
    pub endpoint: String,
    #[serde(default)]
    pub unix: bool,
    /// Map files whose `hosts` name it.
    pub files: Vec<PathBuf>,
    #[serde(default)]
    pub session: Option<SessionInfo>,
    #[serde(default)]
    pub error: Option<DbError>,
    /// For a UNIX socket: chrooted services that look up maps, and whether the socket exists
    /// at its path inside the chroot.
    #[serde(default)]
    pub chrooted_services: Vec<String>,
    #[serde(default)]
    pub socket_in_chroot: Option<PathBuf>,
    #[serde(default)]
    pub socket_in_chroot_exists: bool,
    /// When the chrooted services cannot reach the socket: the live reply that shows it (a
    /// `451 4.3.0 ... Temporary lookup failure` to the relay probe's RCPT on port 25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_lookup_failure: Option<String>,
}

/// What T10 looks at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    pub maps: Vec<MapSummary>,
    #[serde(default)]
    pub endpoints: Vec<EndpointProbe>,
}

/// The relay probe's RCPT answer when it is Postfix's temporary lookup failure (4.3.0).
fn lookup_failure(p: &crate::probe::session::RelayProbe) -> Option<String> {
    match &p.rcpt {
        Some(crate::probe::session::Step::Reply { code: 451, lines })
            if lines.iter().any(|l| l.contains("4.3.0")) =>
        {
            Some(format!(
                "RCPT TO:<{}> on {} answered 451 {}",
                p.recipient,
                p.addr,
                lines.join(" ")
            ))
        }
        _ => None,
    }
}

/// `hosts = ... in FILE line N` for the map files that name an endpoint.
fn hosts_at(maps: &[MapSummary], files: &[PathBuf]) -> String {
    let mut out: Vec<String> = Vec::new();
    for f in files {
        let Some(m) = maps.iter().find(|m| &m.path == f) else {
            continue;
        };
        let hosts = if m.hosts.is_empty() {
            "(unset: localhost)".to_string()
        } else {
            m.hosts.join(" ")
        };
        out.push(match m.hosts_line {
            Some(n) => format!("hosts = {hosts} in {} line {n}", f.display()),
            None => format!("no hosts in {} (localhost)", f.display()),
        });
    }
    match out.len() {
        0 => "hosts".to_string(),
        1..=2 => out.join(" and "),
        n => format!("{} and {} other map files", out[0], n - 1),
    }
}

/// T10: the kind.
pub struct ServerReachable;

impl Kind for ServerReachable {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let (cfg, maps) = super::maps(facts).await?;
        let limit = facts.settings.timeouts.database;
        // Each endpoint once, asked with the first map (by path) that names it.
        let mut endpoints: Vec<(Endpoint, Vec<PathBuf>, usize)> = Vec::new();
        for (i, m) in maps.iter().enumerate() {
            let Some(f) = &m.file else { continue };
            for (_, e) in &f.hosts {
                let Ok(e) = e else { continue };
                match endpoints.iter_mut().find(|(x, _, _)| x == e) {
                    Some((_, files, _)) => files.push(m.summary.path.clone()),
                    None => endpoints.push((e.clone(), vec![m.summary.path.clone()], i)),
                }
            }
        }
        let chrooted: Vec<String> = spec
            .chroot_services
            .iter()
            .filter(|name| {
                cfg.master
                    .services
                    .iter()
                    .any(|s| &&s.name == name && s.chroot == "y")
            })
            .cloned()
            .collect();
        let queue_dir = PathBuf::from(cfg.get("queue_directory"));
        let mut probes = Vec::new();
        for (endpoint, files, i) in endpoints {
            let Some(f) = &maps[i].file else { continue };
            let session = facts.mysql.session(&f.conn_spec(&endpoint), limit).await;
            let (unix, in_chroot) = match &endpoint {
                Endpoint::Unix { path } => (true, Some(socket_in_chroot(&queue_dir, path))),
                Endpoint::Tcp { .. } => (false, None),
            };
            let exists = in_chroot.as_deref().is_some_and(Path::exists);
            // Only when the chroot lacks the socket: ask the server (the relay probe is shared
            // with relay.unauthenticated-refused) whether smtpd's lookups fail.
            let live_lookup_failure = if unix && !chrooted.is_empty() && !exists {
                lookup_failure(&*facts.relay_probe().await)
            } else {
                None
            };
            probes.push(EndpointProbe {
                endpoint: endpoint.to_string(),
                unix,
                files,
                session: session.as_ref().ok().cloned(),
                error: session.err(),
                chrooted_services: if unix { chrooted.clone() } else { Vec::new() },
                socket_in_chroot: in_chroot,
                socket_in_chroot_exists: exists,
                live_lookup_failure,
            });
        }
        Ok(Observation {
            maps: super::summaries(&maps),
            endpoints: probes,
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        if let Some(v) = unreadable(&o.maps) {
            return v;
        }
        let mut findings = Vec::new();
        for m in &o.maps {
            if let Some(p) = &m.problem
                && !m.missing
            {
                findings.push(Verdict::fail(format!("{}: {p}", m.path.display())));
            }
        }
        if o.endpoints.is_empty() {
            findings.push(Verdict::error(
                "no map file that main.cf names could be read, so no database host is known",
            ));
            return worst_of(findings, "");
        }
        let answered: Vec<&EndpointProbe> = o
            .endpoints
            .iter()
            .filter(|e| {
                e.session.is_some() || e.error.as_ref().is_some_and(DbError::server_answered)
            })
            .collect();
        let several = o.endpoints.len() > 1;
        for e in &o.endpoints {
            let files = file_list(&e.files);
            match &e.error {
                None => {}
                Some(err) if err.server_answered() => {}
                Some(DbError::Refused { .. }) | Some(DbError::Unreachable { .. }) => {
                    let what = match e.error.as_ref() {
                        Some(DbError::Unreachable { reason, .. }) => {
                            format!("is unreachable ({reason})")
                        }
                        _ if e.unix => {
                            "has no server listening on it (refused or no socket)".into()
                        }
                        _ => "refused the connection".into(),
                    };
                    let msg = format!(
                        "{} {what}: the MySQL server named by hosts in {files} is down or listens elsewhere",
                        e.endpoint
                    );
                    // With another host answering, Postfix fails over: a weakness, not an outage.
                    findings.push(if several && !answered.is_empty() {
                        Verdict::warn(msg)
                    } else {
                        Verdict::fail(msg)
                    });
                }
                Some(err) => findings.push(Verdict::error(format!("{err} (hosts in {files})"))),
            }
            if e.unix
                && !e.chrooted_services.is_empty()
                && !e.socket_in_chroot_exists
                && let Some(p) = &e.socket_in_chroot
            {
                let at = hosts_at(&o.maps, &e.files);
                let services = e.chrooted_services.join(", ");
                findings.push(match &e.live_lookup_failure {
                    Some(live) => Verdict::fail(format!(
                        "{at} means the UNIX socket {}, but {services} run chrooted in the queue directory (master.cf chroot column) and {} does not exist, so their lookups fail: {live}",
                        e.endpoint.trim_start_matches("unix:"),
                        p.display()
                    ))
                    .with_fix(format!(
                        "Set hosts = 127.0.0.1 in {} as the tutorial does (or make the socket appear at {}), then postfix reload",
                        file_list(&e.files),
                        p.display()
                    )),
                    None => Verdict::warn(format!(
                        "{} is a UNIX socket ({at}), but {services} run chrooted (master.cf) and {} does not exist, so they cannot reach it; use hosts = 127.0.0.1 as the tutorial does",
                        e.endpoint,
                        p.display()
                    )),
                });
            }
        }
        let parts: Vec<String> = answered
            .iter()
            .map(|e| match &e.session {
                Some(s) => format!(
                    "{} answers ({}, connected in {} ms)",
                    e.endpoint,
                    s.server_version,
                    round_ms(s.connect_ms)
                ),
                None => format!(
                    "{} answers (it refused the login, which mysql.map-credentials reports)",
                    e.endpoint
                ),
            })
            .collect();
        let pass = format!(
            "{}; named by hosts in {} map file{}",
            parts.join("; "),
            o.maps.len(),
            if o.maps.len() == 1 { "" } else { "s" }
        );
        worst_of(findings, &pass)
    }
}
