//! Where the running MariaDB server listens (its TCP and Unix sockets, from /proc) beside what
//! its option files say (`skip-networking`, `bind-address`, `port`, `socket`), what the client
//! library reads from `[client]`, and whether its Unix socket can be reached from inside
//! Postfix's chroot.

use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::mycnf::{self, OptionFiles};
use super::saslauthd::PidFile;
use crate::probe::access::{self, Access, AccessReport, Identity};
use crate::probe::procfs::{self, ProcInfo};

/// Debian's pid file and socket (also the client library's compiled-in socket).
pub const DEFAULT_PID_FILE: &str = "/run/mysqld/mysqld.pid";
pub const DEFAULT_SOCKET: &str = "/run/mysqld/mysqld.sock";
pub const DEFAULT_PORT: u16 = 3306;
/// The server programs' names.
const SERVER_PROGRAMS: &[&str] = &["mariadbd", "mysqld"];

/// A setting and where it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Setting {
    pub value: String,
    /// `path:line [group]`, or `command line`.
    pub source: String,
}

/// The listening-related settings, as the program would end up with them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NetSettings {
    /// `on` / `off` (server only).
    #[serde(default)]
    pub skip_networking: Option<Setting>,
    #[serde(default)]
    pub bind_address: Option<Setting>,
    #[serde(default)]
    pub port: Option<Setting>,
    #[serde(default)]
    pub socket: Option<Setting>,
    #[serde(default)]
    pub host: Option<Setting>,
    #[serde(default)]
    pub pid_file: Option<Setting>,
}

fn from_entry(e: &mycnf::Entry) -> Setting {
    Setting {
        value: e.value.clone().unwrap_or_default(),
        source: format!("{}:{} [{}]", e.file.display(), e.line, e.group),
    }
}

/// `--name[=value]` options on a command line, names normalised (`_` → `-`).
pub fn cmdline_options(args: &[String]) -> Vec<(String, Option<String>)> {
    args.iter()
        .filter_map(|a| a.strip_prefix("--"))
        .map(|a| match a.split_once('=') {
            Some((n, v)) => (mycnf::normalize(n), Some(v.to_string())),
            None => (mycnf::normalize(a), None),
        })
        .collect()
}

/// The server's settings from its option files' server groups, then its command line (which
/// wins). Pure.
pub fn server_settings(files: &OptionFiles, version: &str, args: &[String]) -> NetSettings {
    let groups = mycnf::server_groups(version);
    let mut s = NetSettings {
        skip_networking: files
            .flag(&groups, "skip-networking")
            .map(|(on, e)| Setting {
                value: if on { "on" } else { "off" }.to_string(),
                source: from_entry(e).source,
            }),
        bind_address: files.value(&groups, "bind-address").map(from_entry),
        port: files.value(&groups, "port").map(from_entry),
        socket: files.value(&groups, "socket").map(from_entry),
        host: None,
        pid_file: files.value(&groups, "pid-file").map(from_entry),
    };
    let cl = |v: String| Setting {
        value: v,
        source: "command line".to_string(),
    };
    for (name, value) in cmdline_options(args) {
        let n = name.strip_prefix("loose-").unwrap_or(&name).to_string();
        match (n.as_str(), value) {
            ("skip-networking", None) | ("enable-skip-networking", None) => {
                s.skip_networking = Some(cl("on".into()));
            }
            ("skip-networking", Some(v)) => {
                let on = !matches!(
                    v.to_ascii_lowercase().as_str(),
                    "0" | "off" | "false" | "no"
                );
                s.skip_networking = Some(cl(if on { "on" } else { "off" }.into()));
            }
            ("skip-skip-networking" | "disable-skip-networking", _) => {
                s.skip_networking = Some(cl("off".into()));
            }
            ("bind-address", Some(v)) => s.bind_address = Some(cl(v)),
            ("port", Some(v)) => s.port = Some(cl(v)),
            ("socket", Some(v)) => s.socket = Some(cl(v)),
            ("pid-file", Some(v)) => s.pid_file = Some(cl(v)),
            _ => {}
        }
    }
    s
}

/// What the client library (and so Postfix's mysql maps, whose `option_group` defaults to
/// `client`) reads from the client groups. Pure.
pub fn client_settings(files: &OptionFiles) -> NetSettings {
    let groups: Vec<String> = mycnf::CLIENT_GROUPS.iter().map(|s| s.to_string()).collect();
    NetSettings {
        port: files.value(&groups, "port").map(from_entry),
        socket: files.value(&groups, "socket").map(from_entry),
        host: files.value(&groups, "host").map(from_entry),
        ..NetSettings::default()
    }
}

/// A TCP socket the server listens on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TcpListen {
    pub addr: IpAddr,
    pub port: u16,
}

/// A Unix socket path as seen from inside Postfix's chroot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChrootSocket {
    /// The socket as a client names it (e.g. /run/mysqld/mysqld.sock).
    pub socket: PathBuf,
    /// Why this path matters: "server listens", "server socket setting", "client socket
    /// setting", "client library default".
    pub why: Vec<String>,
    /// connect(2) to it as `identity` chrooted in the queue directory.
    pub inside: AccessReport,
    /// The chroot's path is the very socket the server listens on (same device and inode,
    /// e.g. a bind mount or hard link); `None` when either could not be looked at.
    pub same_socket: Option<bool>,
}

/// The running server and its configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MariadbFacts {
    pub option_files: OptionFiles,
    /// The server version used to pick its option groups ("10.11").
    pub version: String,
    pub server: NetSettings,
    pub client: NetSettings,
    pub pid_file: PidFile,
    /// The server process; `None` when none runs.
    #[serde(default)]
    pub process: Option<ProcInfo>,
    /// How the process was found: "pid file" or "process scan".
    #[serde(default)]
    pub found_by: Option<String>,
    /// TCP sockets in LISTEN that the server holds open.
    pub tcp: Vec<TcpListen>,
    /// Listening Unix socket paths the server holds open.
    pub unix: Vec<String>,
    /// Each candidate socket path seen from inside the chroot (when a chroot was given).
    pub chroot: Vec<ChrootSocket>,
}

/// Sockets held by `pid` in the given /proc/net texts. Pure.
pub fn held_sockets(
    inodes: &std::collections::BTreeSet<u64>,
    tcp_texts: &[String],
    unix_text: &str,
) -> (Vec<TcpListen>, Vec<String>) {
    let mut tcp: Vec<TcpListen> = tcp_texts
        .iter()
        .flat_map(|t| procfs::parse_net_tcp(t))
        .filter(|s| s.state == procfs::TCP_LISTEN && inodes.contains(&s.inode))
        .map(|s| TcpListen {
            addr: s.addr,
            port: s.port,
        })
        .collect();
    tcp.sort_by_key(|t| (t.port, t.addr));
    tcp.dedup();
    let mut unix: Vec<String> = procfs::parse_net_unix(unix_text)
        .into_iter()
        .filter(|u| u.listening && inodes.contains(&u.inode))
        .filter_map(|u| u.path)
        .collect();
    unix.sort();
    unix.dedup();
    (tcp, unix)
}

/// `Ver 10.11.14-MariaDB...` or the version in argv/`mariadbd --version` is not read; the
/// caller passes it, else this is used.
pub const DEFAULT_VERSION: &str = "10.11";

/// Looks at the running server, the option files `files` (normally [`mycnf::DEFAULT_FILES`]),
/// and, when `chroot` is given (queue directory, Postfix's identity), every candidate socket
/// path from inside that chroot. Without a pid file naming it, the server is looked for in
/// `table` (the process table).
pub fn observe(
    files: &[PathBuf],
    version: &str,
    chroot: Option<(&Path, &Identity)>,
    table: &[ProcInfo],
) -> MariadbFacts {
    let option_files = mycnf::load(files);
    let configured = server_settings(&option_files, version, &[]);
    let pid_path = configured
        .pid_file
        .as_ref()
        .map(|s| PathBuf::from(&s.value))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PID_FILE));
    let pid_file = PidFile::read(&pid_path);
    let is_server = |p: &ProcInfo| SERVER_PROGRAMS.contains(&p.program());
    let (process, found_by) = match pid_file.pid.and_then(procfs::process).filter(is_server) {
        Some(p) => (Some(p), Some("pid file".to_string())),
        None => match table.iter().find(|p| is_server(p)).cloned() {
            Some(p) => (Some(p), Some("process scan".to_string())),
            None => (None, None),
        },
    };
    let args = process
        .as_ref()
        .map(|p| p.argv.get(1..).unwrap_or_default().to_vec())
        .unwrap_or_default();
    let server = server_settings(&option_files, version, &args);
    let client = client_settings(&option_files);
    let (tcp, unix) = match &process {
        Some(p) => {
            let inodes = procfs::socket_inodes(p.pid).unwrap_or_default();
            let tcp_texts: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
                .iter()
                .filter_map(|f| procfs::read_net_table(Path::new(f)).ok())
                .collect();
            let unix_text = procfs::read_net_table(Path::new("/proc/net/unix")).unwrap_or_default();
            held_sockets(&inodes, &tcp_texts, &unix_text)
        }
        None => (Vec::new(), Vec::new()),
    };
    let chroot = match chroot {
        Some((queue_dir, id)) => candidates(&server, &client, &unix)
            .into_iter()
            .map(|(socket, why)| {
                let inside = access::check(id, Some(queue_dir), &socket, Access::Connect);
                let same_socket = match (inside.resolved(), std::fs::metadata(&socket)) {
                    (Some(r), Ok(real)) => std::fs::metadata(r)
                        .ok()
                        .map(|m| m.dev() == real.dev() && m.ino() == real.ino()),
                    _ => None,
                };
                ChrootSocket {
                    socket,
                    why,
                    inside,
                    same_socket,
                }
            })
            .collect(),
        None => Vec::new(),
    };
    MariadbFacts {
        option_files,
        version: version.to_string(),
        server,
        client,
        pid_file,
        process,
        found_by,
        tcp,
        unix,
        chroot,
    }
}

/// Socket paths worth looking for inside the chroot, each with why. Pure.
pub fn candidates(
    server: &NetSettings,
    client: &NetSettings,
    listening: &[String],
) -> Vec<(PathBuf, Vec<String>)> {
    let mut out: Vec<(PathBuf, Vec<String>)> = Vec::new();
    let mut add = |p: &str, why: &str| {
        if !p.starts_with('/') {
            return;
        }
        let p = PathBuf::from(p);
        match out.iter_mut().find(|(q, _)| *q == p) {
            Some((_, w)) => w.push(why.to_string()),
            None => out.push((p, vec![why.to_string()])),
        }
    };
    for l in listening {
        add(l, "server listens");
    }
    if let Some(s) = &server.socket {
        add(&s.value, "server socket setting");
    }
    if let Some(s) = &client.socket {
        add(&s.value, "client socket setting");
    }
    add(DEFAULT_SOCKET, "client library default");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(text: &str) -> OptionFiles {
        let mut out = OptionFiles::default();
        for (line, l) in mycnf::parse_text(text) {
            let _ = line;
            if let mycnf::Line::Option { name, value } = l {
                out.entries.push(mycnf::Entry {
                    group: "mysqld".into(),
                    name: mycnf::normalize(&name),
                    value,
                    file: "/etc/mysql/mariadb.conf.d/50-server.cnf".into(),
                    line,
                });
            }
        }
        out
    }

    #[test]
    fn command_line_wins() {
        let f = files("bind-address = 127.0.0.1\nskip-networking\n");
        let s = server_settings(&f, "10.11", &[]);
        assert_eq!(
            s.skip_networking.as_ref().map(|s| s.value.as_str()),
            Some("on")
        );
        assert!(
            s.bind_address
                .as_ref()
                .is_some_and(|b| b.source.ends_with("50-server.cnf:1 [mysqld]"))
        );
        let s = server_settings(
            &f,
            "10.11",
            &[
                "--user=mysql".into(),
                "--skip-skip-networking".into(),
                "--port=3307".into(),
            ],
        );
        assert_eq!(
            s.skip_networking.as_ref().map(|s| s.value.as_str()),
            Some("off")
        );
        assert_eq!(
            s.port
                .as_ref()
                .map(|s| (s.value.as_str(), s.source.as_str())),
            Some(("3307", "command line"))
        );
    }

    #[test]
    fn sockets_of_the_server() {
        let inodes = [100u64, 101].into_iter().collect();
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 100 1\n   1: 00000000:0019 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1\n".to_string();
        let unix = "Num RefCount Protocol Flags Type St Inode Path\n0: 00000002 00000000 00010000 0001 01 101 /run/mysqld/mysqld.sock\n0: 00000002 00000000 00010000 0001 01 102 /other.sock\n";
        let (t, u) = held_sockets(&inodes, &[tcp], unix);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].port, 3306);
        assert_eq!(u, vec!["/run/mysqld/mysqld.sock"]);
        let c = candidates(&NetSettings::default(), &NetSettings::default(), &u);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].1, vec!["server listens", "client library default"]);
    }
}
