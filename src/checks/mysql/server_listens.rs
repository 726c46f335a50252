//! T10: where the running MariaDB server listens (its sockets in /proc/net/tcp{,6} and
//! /proc/net/unix, its `skip-networking`, `bind-address`, `port`, `socket` from the command line
//! and option files) against where the mysql_*.cf maps' `hosts =` and pam_mysql's `host=` in
//! /etc/pam.d/smtp connect (mysql_table(5), pam_mysql(8)).

use std::net::IpAddr;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::unreadable;
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::daemons::mariadb::{NetSettings, TcpListen};
use crate::probe::lookup::MapSummary;
use crate::probe::mysql::Endpoint;
use crate::verdict::{Verdict, worst_of};

/// T10: the PAM service file whose pam_mysql rules connect too.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub pam_path: PathBuf,
    pub pam_module: String,
}

/// One place a client of the database connects to.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Client {
    /// The file and line that say it, e.g. `hosts = 127.0.0.1 in /etc/postfix/x.cf line 3`.
    pub said: String,
    /// The file (a map file or the PAM service file).
    pub file: PathBuf,
    /// `map` or `pam`.
    pub who: String,
    pub endpoint: Endpoint,
    /// For a UNIX socket: the path with its directories' symlinks resolved.
    #[serde(default)]
    pub resolved: Option<PathBuf>,
}

/// The running server, as far as listening goes.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Server {
    pub pid: u32,
    pub command_line: String,
    /// "pid file" or "process scan".
    pub found_by: String,
    pub settings: NetSettings,
    pub tcp: Vec<TcpListen>,
    pub unix: Vec<String>,
}

/// What the check looks at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    pub maps: Vec<MapSummary>,
    pub server: Server,
    pub clients: Vec<Client>,
    /// This host's addresses (a TCP client to any other address uses another server).
    pub local_addresses: Vec<IpAddr>,
    #[serde(default)]
    pub pam_problem: Option<String>,
}

/// `path` with its parent directory's symlinks resolved (the socket itself is kept).
fn resolve(path: &std::path::Path) -> Option<PathBuf> {
    let parent = path.parent()?.canonicalize().ok()?;
    Some(parent.join(path.file_name()?))
}

/// T10: the kind.
pub struct ServerListens;

impl Kind for ServerListens {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let (_cfg, maps) = super::maps(facts).await?;
        let db = facts.mariadb().await.map_err(Unobserved::Failed)?;
        let Some(process) = &db.process else {
            if let Some(gap) = facts.process_table_gap().await {
                return Err(gap.into());
            }
            return Err(Unobserved::NotApplicable {
                reason: "no mariadbd or mysqld runs on this host (mysql.server-reachable tells whether the maps' server answers)".into(),
            });
        };
        let mut clients = Vec::new();
        for m in maps.iter() {
            let Some(f) = &m.file else { continue };
            for (entry, e) in &f.hosts {
                let Ok(endpoint) = e else { continue };
                let said = match m.summary.hosts_line {
                    Some(n) => format!("hosts = {entry} in {} line {n}", f.path.display()),
                    None => format!("no hosts = in {} (localhost)", f.path.display()),
                };
                clients.push((said, f.path.clone(), "map", endpoint.clone()));
            }
        }
        let mut pam_problem = None;
        match std::fs::read_to_string(&spec.pam_path) {
            Ok(text) => {
                let rules = crate::probe::pam::parse(&text);
                for l in crate::probe::pam::pam_mysql_logins(&rules, &spec.pam_module) {
                    let Ok(endpoint) = l.endpoint else { continue };
                    let lines: Vec<String> = l.lines.iter().map(ToString::to_string).collect();
                    let said = format!(
                        "{} in {} line{} {}",
                        if l.host.is_empty() {
                            "no host= (localhost)".to_string()
                        } else {
                            format!("host={}", l.host)
                        },
                        spec.pam_path.display(),
                        if lines.len() == 1 { "" } else { "s" },
                        lines.join(", ")
                    );
                    clients.push((said, spec.pam_path.clone(), "pam", endpoint));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => pam_problem = Some(format!("{}: {e}", spec.pam_path.display())),
        }
        let clients = clients
            .into_iter()
            .map(|(said, file, who, endpoint)| Client {
                resolved: match &endpoint {
                    Endpoint::Unix { path } => resolve(path),
                    Endpoint::Tcp { .. } => None,
                },
                said,
                file,
                who: who.to_string(),
                endpoint,
            })
            .collect();
        Ok(Observation {
            maps: super::summaries(&maps),
            server: Server {
                pid: process.pid,
                command_line: process.argv.join(" "),
                found_by: db.found_by.clone().unwrap_or_default(),
                settings: db.server.clone(),
                tcp: db.tcp.clone(),
                unix: db.unix.clone(),
            },
            clients,
            local_addresses: crate::probe::mynetworks::local_addresses(),
            pam_problem,
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        if let Some(v) = unreadable(&o.maps) {
            return v;
        }
        let mut findings = Vec::new();
        let s = &o.server;
        let listens = listening_places(s);
        // Per file: whether some place it names is served (Postfix fails over to it).
        let local = &o.local_addresses;
        let served = |c: &Client| reaches(s, local, c) == Some(true);
        let mut reported: Vec<String> = Vec::new();
        let mut compared = 0;
        for c in &o.clients {
            let Some(ok) = reaches(s, local, c) else {
                continue;
            };
            compared += 1;
            if ok {
                continue;
            }
            let key = format!("{}|{}", c.who, c.endpoint);
            if reported.contains(&key) {
                continue;
            }
            reported.push(key.clone());
            let same: Vec<&Client> = o
                .clients
                .iter()
                .filter(|x| x.who == c.who && x.endpoint == c.endpoint)
                .collect();
            let said = match same.len() {
                1 => c.said.clone(),
                n => format!(
                    "{} (and {} other map file{})",
                    c.said,
                    n - 1,
                    if n == 2 { "" } else { "s" }
                ),
            };
            let fallback = same.iter().all(|x| {
                o.clients
                    .iter()
                    .any(|y| y.file == x.file && y.endpoint != x.endpoint && served(y))
            });
            let what = match c.who.as_str() {
                "pam" => "pam_mysql connects to",
                _ => "Postfix's lookups connect to",
            };
            let why = reason(s, &c.endpoint);
            let msg = format!(
                "{said}: {what} {}, but MariaDB (pid {}) does not listen there: {why}listens only on {listens}",
                c.endpoint, s.pid
            );
            findings.push(if fallback {
                Verdict::warn(format!("{msg}; another of its hosts answers"))
            } else {
                Verdict::fail(msg).with_fix(format!(
                    "Make MariaDB listen where {} says (bind-address = 127.0.0.1, port = 3306, no skip-networking, in /etc/mysql/mariadb.conf.d/50-server.cnf; then restart mariadb), or point it at {listens}",
                    c.file.display()
                ))
            });
        }
        if let Some(p) = &o.pam_problem {
            findings.push(Verdict::error(format!(
                "cannot read pam_mysql's host=: {p}"
            )));
        }
        if compared == 0 && findings.is_empty() {
            return Verdict::skip(format!(
                "no map or pam_mysql rule connects to this host's MariaDB (it listens on {listens})"
            ));
        }
        let pass = format!(
            "MariaDB (pid {}) listens on {listens}, where the {} map file{} and pam_mysql connect",
            s.pid,
            o.maps.len(),
            if o.maps.len() == 1 { "" } else { "s" }
        );
        worst_of(findings, &pass)
    }
}

/// `127.0.0.1:3306, unix:/run/mysqld/mysqld.sock`, or `nothing`.
fn listening_places(s: &Server) -> String {
    let mut v: Vec<String> = s
        .tcp
        .iter()
        .map(|t| match t.addr {
            IpAddr::V6(a) => format!("[{a}]:{}", t.port),
            a => format!("{a}:{}", t.port),
        })
        .collect();
    v.extend(s.unix.iter().map(|u| format!("unix:{u}")));
    if v.is_empty() {
        "nothing".to_string()
    } else {
        v.join(", ")
    }
}

/// Whether the server listens where `c` connects; `None` when `c` names another host (or a name
/// this check does not resolve). Pure.
fn reaches(s: &Server, local: &[IpAddr], c: &Client) -> Option<bool> {
    match &c.endpoint {
        Endpoint::Unix { path } => {
            let p = path.display().to_string();
            let r = c.resolved.as_ref().map(|r| r.display().to_string());
            Some(s.unix.iter().any(|u| *u == p || Some(u) == r.as_ref()))
        }
        Endpoint::Tcp { host, port } => {
            let ip: IpAddr = host.trim_matches(['[', ']']).parse().ok()?;
            if !(ip.is_loopback() || local.contains(&ip)) {
                return None;
            }
            Some(s.tcp.iter().any(|t| {
                t.port == *port
                    && (t.addr == ip
                        || (t.addr.is_unspecified() && (t.addr.is_ipv6() || ip.is_ipv4())))
            }))
        }
    }
}

/// The server setting that keeps it off `endpoint`, as `setting (source), so it `; or empty.
fn reason(s: &Server, endpoint: &Endpoint) -> String {
    let set = &s.settings;
    let at = |x: &crate::probe::daemons::mariadb::Setting, name: &str| {
        format!("{name} = {} ({}), so it ", x.value, x.source)
    };
    match endpoint {
        Endpoint::Tcp { port, .. } => {
            if let Some(x) = set.skip_networking.as_ref().filter(|x| x.value == "on") {
                return at(x, "skip-networking");
            }
            if let Some(x) = &set.port
                && x.value.parse::<u16>().ok() != Some(*port)
            {
                return at(x, "port");
            }
            if let Some(x) = &set.bind_address {
                return at(x, "bind-address");
            }
            String::new()
        }
        Endpoint::Unix { path } => match &set.socket {
            Some(x) if x.value != path.display().to_string() => at(x, "socket"),
            _ => String::new(),
        },
    }
}
