//! Process facts from /proc (proc(5)): argv, parent, start time, credentials, root directory,
//! socket inodes, and the kernel's socket tables (/proc/net/tcp{,6}, /proc/net/unix).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Most argv words kept from one /proc/PID/cmdline.
const MAX_ARGV: usize = 4096;
/// Most bytes read from one /proc file.
const MAX_PROC_FILE: u64 = 16 * 1024 * 1024;
/// Most processes looked at in one scan of /proc.
const MAX_PROCESSES: usize = 1 << 20;
/// Most file descriptors looked at for one process.
const MAX_FDS: usize = 1 << 20;

/// One process as /proc shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProcInfo {
    pub pid: u32,
    pub ppid: u32,
    /// The kernel's name for it (`comm`, at most 15 bytes).
    pub comm: String,
    pub argv: Vec<String>,
    /// When it started, in milliseconds since the Unix epoch (from its start time in clock
    /// ticks after boot plus the boot time; good to about 10 ms).
    #[serde(default)]
    pub started_unix_ms: Option<i64>,
    /// Credentials from /proc/PID/status; `None` when that file could not be read.
    #[serde(default)]
    pub creds: Option<Creds>,
    /// Its root directory (`/proc/PID/root`): `/` unless it is chrooted.
    #[serde(default)]
    pub root: Option<PathBuf>,
}

impl ProcInfo {
    /// argv[0]'s file name (`/usr/sbin/saslauthd` → `saslauthd`), else `comm`.
    pub fn program(&self) -> &str {
        self.argv
            .first()
            .map(|a| a.rsplit('/').next().unwrap_or(a))
            .filter(|s| !s.is_empty())
            .unwrap_or(&self.comm)
    }
}

/// A process's user and group ids (real, effective, saved, filesystem) and supplementary
/// groups, from the `Uid:`, `Gid:` and `Groups:` lines of /proc/PID/status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Creds {
    pub uid: [u32; 4],
    pub gid: [u32; 4],
    pub groups: Vec<u32>,
}

impl Creds {
    /// The ids the kernel checks file access with (fsuid, fsgid).
    pub fn fs_ids(&self) -> (u32, u32) {
        (self.uid[3], self.gid[3])
    }
}

/// Reads a /proc file, at most [`MAX_PROC_FILE`] bytes.
fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    f.take(MAX_PROC_FILE).read_to_end(&mut buf)?;
    Ok(buf)
}

/// argv from the bytes of /proc/PID/cmdline (NUL-separated; a trailing NUL ends the last word).
pub fn parse_cmdline(raw: &[u8]) -> Vec<String> {
    if raw.is_empty() {
        return Vec::new();
    }
    let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
    raw.split(|b| *b == 0)
        .take(MAX_ARGV)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// The fields of /proc/PID/stat that mailcheck uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub comm: String,
    pub ppid: u32,
    /// Start time in clock ticks after boot (field 22).
    pub starttime_ticks: u64,
}

/// Parses /proc/PID/stat. `comm` is in parentheses and may itself hold `)` and spaces, so the
/// fields after it are found from the *last* `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    if close < open {
        return None;
    }
    let comm = text[open + 1..close].to_string();
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // rest[0] is field 3 (state), so field N is rest[N - 3].
    let ppid = rest.get(1)?.parse().ok()?;
    let starttime_ticks = rest.get(19)?.parse().ok()?;
    Some(Stat {
        comm,
        ppid,
        starttime_ticks,
    })
}

/// Parses the credential lines of /proc/PID/status.
pub fn parse_status(text: &str) -> Option<Creds> {
    let mut uid = None;
    let mut gid = None;
    let mut groups = Vec::new();
    let four = |v: &str| -> Option<[u32; 4]> {
        let ids: Vec<u32> = v
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        ids.try_into().ok()
    };
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("Uid:") {
            uid = four(v);
        } else if let Some(v) = line.strip_prefix("Gid:") {
            gid = four(v);
        } else if let Some(v) = line.strip_prefix("Groups:") {
            groups = v
                .split_whitespace()
                .filter_map(|g| g.parse().ok())
                .take(65536)
                .collect();
        }
    }
    Some(Creds {
        uid: uid?,
        gid: gid?,
        groups,
    })
}

/// `btime` (boot time, whole seconds since the epoch) from /proc/stat.
pub fn parse_btime(text: &str) -> Option<i64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The first number of /proc/uptime (seconds since boot, two decimals), in milliseconds.
pub fn parse_uptime_ms(text: &str) -> Option<i64> {
    let first = text.split_whitespace().next()?;
    let (secs, frac) = first.split_once('.').unwrap_or((first, "0"));
    let secs: i64 = secs.parse().ok()?;
    let frac: String = frac.chars().chain("000".chars()).take(3).collect();
    let ms: i64 = frac.parse().ok()?;
    secs.checked_mul(1000)?.checked_add(ms)
}

/// When the machine booted, in ms since the epoch: now minus /proc/uptime (10 ms precision),
/// else /proc/stat's `btime` (whole seconds).
pub fn boot_time_ms() -> Option<i64> {
    let now = crate::clock::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok());
    if let (Some(now), Ok(up)) = (now, std::fs::read_to_string("/proc/uptime"))
        && let Some(up) = parse_uptime_ms(&up)
    {
        return Some(now - up);
    }
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    parse_btime(&text)?.checked_mul(1000)
}

/// A start time in clock ticks after boot → ms since the epoch.
pub fn ticks_to_unix_ms(boot_ms: i64, ticks: u64, ticks_per_second: u64) -> Option<i64> {
    if ticks_per_second == 0 {
        return None;
    }
    let ms = u128::from(ticks) * 1000 / u128::from(ticks_per_second);
    boot_ms.checked_add(i64::try_from(ms).ok()?)
}

/// The process `pid`, or `None` when it does not exist (or vanished while being read).
pub fn process(pid: u32) -> Option<ProcInfo> {
    process_with_boot(pid, boot_time_ms())
}

fn process_with_boot(pid: u32, boot_ms: Option<i64>) -> Option<ProcInfo> {
    let dir = PathBuf::from("/proc").join(pid.to_string());
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    let stat = parse_stat(&stat)?;
    let argv = read_bounded(&dir.join("cmdline"))
        .map(|raw| parse_cmdline(&raw))
        .unwrap_or_default();
    let creds = std::fs::read_to_string(dir.join("status"))
        .ok()
        .and_then(|t| parse_status(&t));
    let root = std::fs::read_link(dir.join("root")).ok();
    let tck = rustix::param::clock_ticks_per_second();
    Some(ProcInfo {
        pid,
        ppid: stat.ppid,
        comm: stat.comm,
        argv,
        started_unix_ms: boot_ms.and_then(|b| ticks_to_unix_ms(b, stat.starttime_ticks, tck)),
        creds,
        root,
    })
}

/// Every process of this PID namespace, sorted by pid: the run reads the table once
/// (`Facts::processes`) and the daemon probes pick from it.
pub fn snapshot() -> Vec<ProcInfo> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let boot = boot_time_ms();
    // Only this PID namespace: a container or lab machine started from this host shows its
    // processes here too, but they are another machine's daemons. This process's namespace is
    // read once; unknown (no permission) counts as the same.
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/pid")).ok();
    let own = ns("self");
    let mut out: Vec<ProcInfo> = dir
        .flatten()
        .take(MAX_PROCESSES)
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter(|pid| match (&own, ns(&pid.to_string())) {
            (Some(a), Some(b)) => *a == b,
            _ => true,
        })
        .filter_map(|pid| process_with_boot(pid, boot))
        .collect();
    out.sort_by_key(|p| p.pid);
    out
}

/// A process table that may leave out running processes, and whether mailcheck runs as root
/// (as a user, root would see them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableGap {
    pub reason: String,
    pub as_root: bool,
}

/// Why `table` (a [`snapshot`]) may leave out running processes, or `None` when it is whole.
/// Every PID namespace has a pid 1, and /proc shows it to everyone unless it is mounted with
/// `hidepid=` (then a user sees only their own processes) or not mounted at all, so a table
/// without pid 1 cannot tell that a daemon is not running. `self_pid` is mailcheck's. Pure.
pub fn table_gap(table: &[ProcInfo], self_pid: u32) -> Option<String> {
    if self_pid == 1 || table.iter().any(|p| p.pid == 1) {
        return None;
    }
    Some(if table.is_empty() {
        "/proc lists no process (not mounted here, or unreadable)".to_string()
    } else {
        format!(
            "/proc shows mailcheck {} process{} and not pid 1: it is mounted with hidepid=, which hides other users' processes",
            table.len(),
            if table.len() == 1 { "" } else { "es" }
        )
    })
}

/// `socket:[12345]` → 12345.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The inodes of the sockets process `pid` holds open (from the links in /proc/PID/fd).
pub fn socket_inodes(pid: u32) -> std::io::Result<BTreeSet<u64>> {
    let dir = PathBuf::from("/proc").join(pid.to_string()).join("fd");
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir(&dir)?.flatten().take(MAX_FDS) {
        if let Ok(target) = std::fs::read_link(e.path())
            && let Some(ino) = target.to_str().and_then(socket_inode)
        {
            out.insert(ino);
        }
    }
    Ok(out)
}

/// One TCP socket from /proc/net/tcp or tcp6.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TcpSocket {
    pub addr: IpAddr,
    pub port: u16,
    /// The kernel's state number (10 = LISTEN).
    pub state: u8,
    pub inode: u64,
}

/// TCP state LISTEN (include/net/tcp_states.h).
pub const TCP_LISTEN: u8 = 0x0A;

/// Every socket in the text of /proc/net/tcp or /proc/net/tcp6 (the header line is skipped).
pub fn parse_net_tcp(text: &str) -> Vec<TcpSocket> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (addr, port) = super::listen::parse_endpoint(f.get(1)?)?;
            let state = u8::from_str_radix(f.get(3)?, 16).ok()?;
            let inode = f.get(9)?.parse().ok()?;
            Some(TcpSocket {
                addr,
                port,
                state,
                inode,
            })
        })
        .collect()
}

/// One Unix-domain socket from /proc/net/unix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UnixSocket {
    pub inode: u64,
    /// Accepting connections (the `__SO_ACCEPTCON` flag, 0x10000).
    pub listening: bool,
    /// The bound path; `@name` for the abstract namespace; `None` when unbound.
    pub path: Option<String>,
}

/// Every socket in the text of /proc/net/unix (the header line is skipped).
pub fn parse_net_unix(text: &str) -> Vec<UnixSocket> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            // Num RefCount Protocol Flags Type St Inode [Path]; the path is the rest of the
            // line and may hold spaces.
            let mut rest = l.trim_start();
            let mut f = Vec::with_capacity(7);
            for _ in 0..7 {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                if end == 0 {
                    return None;
                }
                f.push(&rest[..end]);
                rest = rest[end..].trim_start();
            }
            let flags = u32::from_str_radix(f[3], 16).ok()?;
            let inode = f[6].parse().ok()?;
            Some(UnixSocket {
                inode,
                listening: flags & 0x10000 != 0,
                path: (!rest.is_empty()).then(|| rest.to_string()),
            })
        })
        .collect()
}

/// Reads one of the /proc/net tables; a missing file (IPv6 disabled) reads as empty.
pub fn read_net_table(path: &Path) -> std::io::Result<String> {
    match read_bounded(path) {
        Ok(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_without_pid_1_is_not_whole() {
        let proc_ = |pid| ProcInfo {
            pid,
            ppid: 0,
            comm: "x".into(),
            argv: Vec::new(),
            started_unix_ms: None,
            creds: None,
            root: None,
        };
        assert_eq!(table_gap(&[proc_(1), proc_(900)], 900), None);
        // hidepid=2 as a user: only mailcheck itself and its shell.
        let gap = table_gap(&[proc_(800), proc_(900)], 900).expect("gap");
        assert!(
            gap.contains("2 processes and not pid 1") && gap.contains("hidepid"),
            "{gap}"
        );
        assert!(table_gap(&[], 900).expect("gap").contains("no process"));
        // mailcheck as a namespace's init sees itself as pid 1.
        assert_eq!(table_gap(&[], 1), None);
    }

    #[test]
    fn stat_with_awkward_comm() {
        let s = "42 (a) b (c)) S 7 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 10 18446744073709551615\n";
        let st = parse_stat(s).expect("parses");
        assert_eq!(st.comm, "a) b (c)");
        assert_eq!(st.ppid, 7);
        assert_eq!(st.starttime_ticks, 123456);
        assert_eq!(parse_stat("42 (x) S 1"), None);
        assert_eq!(parse_stat(")("), None);
    }

    #[test]
    fn status_credentials() {
        let t =
            "Name:\tsmtpd\nUid:\t103\t103\t103\t103\nGid:\t106\t106\t106\t106\nGroups:\t45 106 \n";
        let c = parse_status(t).expect("parses");
        assert_eq!(c.fs_ids(), (103, 106));
        assert_eq!(c.groups, vec![45, 106]);
        assert_eq!(parse_status("Uid:\t1 2 3\nGid:\t1 1 1 1\n"), None);
    }

    #[test]
    fn cmdline_words() {
        assert_eq!(
            parse_cmdline(b"/usr/sbin/saslauthd\0-a\0pam\0\0-n\x005\0"),
            vec!["/usr/sbin/saslauthd", "-a", "pam", "", "-n", "5"]
        );
        assert!(parse_cmdline(b"").is_empty());
        assert!(parse_cmdline(b"\0").len() == 1);
    }

    #[test]
    fn times() {
        assert_eq!(parse_uptime_ms("12345.67 9999.00\n"), Some(12_345_670));
        assert_eq!(parse_uptime_ms("5\n"), Some(5000));
        assert_eq!(
            parse_btime("cpu 1 2\nbtime 1764630000\n"),
            Some(1_764_630_000)
        );
        assert_eq!(ticks_to_unix_ms(1000, 250, 100), Some(3500));
        assert_eq!(ticks_to_unix_ms(1000, 250, 0), None);
    }

    #[test]
    fn own_process() {
        let me = process(std::process::id()).expect("this process is in /proc");
        assert_eq!(me.pid, std::process::id());
        assert!(me.started_unix_ms.is_some());
        assert_eq!(me.root.as_deref(), Some(Path::new("/")));
        assert!(me.creds.is_some());
    }

    #[test]
    fn net_tables() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 4242 1 0\n   1: 0100007F:0CEA 0100007F:D431 01 00000000:00000000 00:00000000 00000000   106        0 0 1\n";
        let s = parse_net_tcp(tcp);
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].port, s[0].state, s[0].inode),
            (3306, TCP_LISTEN, 4242)
        );
        let unix = "Num       RefCount Protocol Flags    Type St Inode Path\n0000000000000000: 00000002 00000000 00010000 0001 01 777 /run/mysqld/mysqld.sock\n0000000000000000: 00000003 00000000 00000000 0001 03 778\n0000000000000000: 00000002 00000000 00010000 0001 01 779 /tmp/with space\n0000000000000000: 00000002 00000000 00010000 0001 01 780 @abstract\n";
        let u = parse_net_unix(unix);
        assert_eq!(u.len(), 4);
        assert!(u[0].listening);
        assert_eq!(u[0].path.as_deref(), Some("/run/mysqld/mysqld.sock"));
        assert_eq!(u[1].path, None);
        assert!(!u[1].listening);
        assert_eq!(u[2].path.as_deref(), Some("/tmp/with space"));
        assert_eq!(socket_inode("socket:[777]"), Some(777));
        assert_eq!(socket_inode("pipe:[777]"), None);
    }
}
