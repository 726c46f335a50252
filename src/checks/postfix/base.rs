//! Base Postfix settings of main.cf (postconf(5)): myhostname, /etc/mailname and myorigin,
//! mynetworks, mydestination, the aliases database, the simple `name = value` settings and
//! message_size_limit (T2-T7, T26, T35).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Param, config, same_value};
use crate::context::Ctx;
use crate::probe::ProbeError;
use crate::probe::postfix::split_list;
use crate::verdict::{Verdict, worst_of};

/// T5 has no parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MydestinationSpec {}

/// What T5 looks at.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MydestinationObservation {
    /// The value as written in main.cf; `None` when the parameter is not set.
    pub written: Option<String>,
    /// Line of main.cf where it is set.
    pub line: Option<usize>,
    /// The value Postfix uses (default applied, `$names` expanded).
    pub effective: String,
    /// Domains known to be virtual mailbox domains (the account's, /etc/mailname's).
    pub virtual_domains: Vec<String>,
}

pub async fn mydestination(spec: &MydestinationSpec, ctx: &Ctx) -> Verdict {
    let cfg = match ctx.postfix().await {
        Ok(c) => c,
        Err(e) => return Verdict::error(e.to_string()),
    };
    let mut virtual_domains = Vec::new();
    if let Some(a) = &ctx.account {
        virtual_domains.push(a.domain.clone());
    }
    if let Ok(m) = std::fs::read_to_string("/etc/mailname") {
        let m = m.trim().to_ascii_lowercase();
        if !m.is_empty() && !virtual_domains.contains(&m) {
            virtual_domains.push(m);
        }
    }
    let obs = MydestinationObservation {
        written: cfg.main.raw("mydestination").map(str::to_string),
        line: cfg.main.settings.get("mydestination").map(|s| s.line),
        effective: cfg.get("mydestination"),
        virtual_domains,
    };
    judge_mydestination(spec, &obs)
}

pub fn judge_mydestination(_spec: &MydestinationSpec, o: &MydestinationObservation) -> Verdict {
    let entries = split_list(&o.effective);
    let at = match o.line {
        Some(l) => format!("main.cf line {l}"),
        None => "not set in main.cf, so Postfix's default applies".to_string(),
    };
    let evidence = json!({
        "written": o.written, "line": o.line, "effective": o.effective,
        "virtual_domains": o.virtual_domains,
    });
    let clashes: Vec<&String> = entries
        .iter()
        .filter(|e| o.virtual_domains.iter().any(|d| d.eq_ignore_ascii_case(e)))
        .collect();
    if !clashes.is_empty() {
        let list: Vec<&str> = clashes.iter().map(|s| s.as_str()).collect();
        return Verdict::fail(format!(
            "mydestination = {} ({at}) lists the virtual domain {}: its mail goes to local Unix users, not to /home/vmail",
            o.effective,
            list.join(", ")
        ))
        .with_evidence(evidence);
    }
    if entries.is_empty() {
        return Verdict::pass(format!("mydestination is empty ({at})")).with_evidence(evidence);
    }
    if entries.iter().any(|e| e.contains(':')) {
        return Verdict::warn(format!(
            "mydestination = {} ({at}) uses a lookup table; mailcheck cannot tell whether it lists a virtual domain",
            o.effective
        ))
        .with_evidence(evidence);
    }
    Verdict::warn(format!(
        "mydestination = {} ({at}): no virtual domain in it, but the tutorial empties it",
        o.effective
    ))
    .with_evidence(evidence)
}

// ---------------------------------------------------------------------------------------------
// /etc/mailname, read by T2, T3.

/// The first line of a file such as /etc/mailname, or why it could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameFile {
    pub path: PathBuf,
    /// First line, trimmed and lower-cased; `None` when unreadable.
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub problem: Option<String>,
    #[serde(default)]
    pub missing: bool,
    #[serde(default)]
    pub needs_root: bool,
}

impl NameFile {
    pub fn read(path: &Path) -> NameFile {
        match std::fs::read_to_string(path) {
            Ok(t) => NameFile {
                path: path.to_path_buf(),
                value: Some(t.lines().next().unwrap_or("").trim().to_ascii_lowercase()),
                ..NameFile::default()
            },
            Err(e) => {
                let e = ProbeError::from_io(path, &e);
                NameFile {
                    path: path.to_path_buf(),
                    value: None,
                    missing: matches!(e, ProbeError::NotFound { .. }),
                    needs_root: matches!(e, ProbeError::PermissionDenied { .. }),
                    problem: Some(e.to_string()),
                }
            }
        }
    }

    /// The value when it is a usable name.
    fn name(&self) -> Option<&str> {
        self.value.as_deref().filter(|v| !v.is_empty())
    }
}

/// Whether `s` looks like a DNS name with at least two labels.
fn plausible_domain(s: &str) -> bool {
    let s = s.trim_end_matches('.');
    s.contains('.')
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

// ---------------------------------------------------------------------------------------------
// T2: myhostname.

/// T2: where the mail domain is read from when no `--account` is given.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MyhostnameSpec {
    pub mailname: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MyhostnameObservation {
    pub myhostname: Param,
    /// The account's domain, when `--account` was given.
    #[serde(default)]
    pub account_domain: Option<String>,
    /// /etc/mailname, the mail domain when there is no account.
    #[serde(default)]
    pub mailname: NameFile,
    /// What getaddrinfo(3) returned for myhostname.
    #[serde(default)]
    pub addresses: Vec<String>,
    #[serde(default)]
    pub resolve_problem: Option<String>,
    #[serde(default)]
    pub resolve_timed_out: bool,
}

pub async fn myhostname_fqdn(spec: &MyhostnameSpec, ctx: &Ctx) -> Verdict {
    let cfg = match config(ctx).await {
        Ok(c) => c,
        Err(v) => return v,
    };
    let myhostname = Param::read(&cfg.main, "myhostname");
    let host = myhostname
        .effective
        .trim()
        .trim_end_matches('.')
        .to_string();
    let deadline = ctx.settings.timeouts.connect;
    let (mut addresses, mut resolve_problem, mut resolve_timed_out) = (Vec::new(), None, false);
    if !host.is_empty() {
        match tokio::time::timeout(deadline, tokio::net::lookup_host((host.as_str(), 25))).await {
            Err(_) => {
                resolve_timed_out = true;
                resolve_problem = Some(format!(
                    "no answer within {}",
                    humantime::format_duration(deadline)
                ));
            }
            Ok(Err(e)) => resolve_problem = Some(e.to_string()),
            Ok(Ok(addrs)) => {
                for a in addrs {
                    let ip = a.ip().to_string();
                    if !addresses.contains(&ip) {
                        addresses.push(ip);
                    }
                }
            }
        }
    }
    judge_myhostname_fqdn(
        spec,
        &MyhostnameObservation {
            myhostname,
            account_domain: ctx.account.as_ref().map(|a| a.domain.clone()),
            mailname: NameFile::read(&spec.mailname),
            addresses,
            resolve_problem,
            resolve_timed_out,
        },
    )
}

pub fn judge_myhostname_fqdn(_spec: &MyhostnameSpec, o: &MyhostnameObservation) -> Verdict {
    let evidence = json!({
        "myhostname": o.myhostname, "account_domain": o.account_domain,
        "mailname": o.mailname, "addresses": o.addresses, "resolve_problem": o.resolve_problem,
    });
    let shown = o.myhostname.shown();
    let host = o
        .myhostname
        .effective
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if host.is_empty() {
        return Verdict::fail(format!("{shown}: myhostname is empty")).with_evidence(evidence);
    }
    if !host.contains('.') {
        return Verdict::fail(format!(
            "{shown} is not a fully qualified name: it needs the domain too, e.g. {host}.<your domain>"
        ))
        .with_evidence(evidence);
    }
    if !plausible_domain(&host) {
        return Verdict::fail(format!("{shown} is not a valid host name")).with_evidence(evidence);
    }
    let (domain, source) = match (&o.account_domain, o.mailname.name()) {
        (Some(d), _) => (Some(d.clone()), "the account's domain".to_string()),
        (None, Some(m)) => (Some(m.to_string()), o.mailname.path.display().to_string()),
        (None, None) => (None, String::new()),
    };
    if let Some(d) = &domain
        && host == d.to_ascii_lowercase()
    {
        let mydomain = host.split_once('.').map_or("", |(_, d)| d);
        let msg = format!(
            "{shown} is the bare mail domain ({source}), not a host in it: use a name like mail.{host}; with the bare domain Postfix derives mydomain = {mydomain}"
        );
        // Without an account the domain is only /etc/mailname's guess: either may be wrong.
        let v = if o.account_domain.is_some() {
            Verdict::fail(msg)
        } else {
            Verdict::warn(format!(
                "{msg} (or {source} is wrong; give --account to compare with the mail domain)"
            ))
        };
        return v
            .with_fix(format!(
                "postconf -e 'myhostname = mail.{host}' && postfix reload (and make that name resolve: /etc/hosts or DNS)"
            ))
            .with_evidence(evidence);
    }
    if o.resolve_timed_out {
        return Verdict::error(format!(
            "{shown}: resolving {host} on this host got {}",
            o.resolve_problem.clone().unwrap_or_default()
        ))
        .with_evidence(evidence);
    }
    if let Some(p) = &o.resolve_problem {
        return Verdict::fail(format!("{shown} does not resolve on this host: {p}"))
            .with_fix(format!(
                "add `<this server's address> {host}` to /etc/hosts, or an A record in DNS"
            ))
            .with_evidence(evidence);
    }
    if o.addresses.is_empty() {
        return Verdict::fail(format!("{shown} resolves to no address on this host"))
            .with_evidence(evidence);
    }
    Verdict::pass(format!(
        "{shown} is fully qualified and resolves to {}",
        o.addresses.join(", ")
    ))
    .with_evidence(evidence)
}

// ---------------------------------------------------------------------------------------------
// T3: /etc/mailname and myorigin.

/// T3: the file the tutorial puts the mail domain in (/etc/mailname).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MyoriginSpec {
    pub mailname: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MyoriginObservation {
    pub mailname: NameFile,
    pub myorigin: Param,
    pub myhostname: Param,
    pub mydomain: Param,
    #[serde(default)]
    pub account_domain: Option<String>,
    /// When myorigin names a file (Debian reads its first line), that file.
    #[serde(default)]
    pub myorigin_file: Option<NameFile>,
}

pub async fn myorigin_mailname(spec: &MyoriginSpec, ctx: &Ctx) -> Verdict {
    let cfg = match config(ctx).await {
        Ok(c) => c,
        Err(v) => return v,
    };
    let myorigin = Param::read(&cfg.main, "myorigin");
    let myorigin_file = myorigin
        .effective
        .trim()
        .starts_with('/')
        .then(|| NameFile::read(Path::new(myorigin.effective.trim())));
    judge_myorigin_mailname(
        spec,
        &MyoriginObservation {
            mailname: NameFile::read(&spec.mailname),
            myorigin,
            myhostname: Param::read(&cfg.main, "myhostname"),
            mydomain: Param::read(&cfg.main, "mydomain"),
            account_domain: ctx.account.as_ref().map(|a| a.domain.clone()),
            myorigin_file,
        },
    )
}

pub fn judge_myorigin_mailname(_spec: &MyoriginSpec, o: &MyoriginObservation) -> Verdict {
    let evidence = json!({
        "mailname": o.mailname, "myorigin": o.myorigin, "myhostname": o.myhostname,
        "mydomain": o.mydomain, "account_domain": o.account_domain,
        "myorigin_file": o.myorigin_file,
    });
    let path = o.mailname.path.display();
    let mut findings = Vec::new();
    // The mail domain: the account's, else what /etc/mailname says.
    let mailname = o.mailname.name();
    match (&o.mailname, mailname) {
        (f, None) if f.needs_root => {
            findings.push(Verdict::error(f.problem.clone().unwrap_or_default()));
        }
        (f, None) if f.missing => findings.push(Verdict::fail(format!(
            "{path} does not exist: the tutorial puts the mail domain in it"
        ))),
        (f, None) if f.problem.is_some() => {
            findings.push(Verdict::error(f.problem.clone().unwrap_or_default()));
        }
        (_, None) => findings.push(Verdict::fail(format!(
            "{path} is empty: the tutorial puts the mail domain in it"
        ))),
        (_, Some(m)) => match &o.account_domain {
            Some(d) if !m.eq_ignore_ascii_case(d) => findings.push(
                Verdict::fail(format!(
                    "{path} holds {m}, not the mail domain {d} (the account's domain)"
                ))
                .with_fix(format!("echo {d} > {path}")),
            ),
            Some(_) => {}
            None if !plausible_domain(m) => findings.push(Verdict::fail(format!(
                "{path} holds {m}, which is not a domain name"
            ))),
            None if m == o.myhostname.effective.to_ascii_lowercase()
                && m != o.mydomain.effective.to_ascii_lowercase() =>
            {
                findings.push(Verdict::warn(format!(
                    "{path} holds the host name {m}, while the tutorial puts the mail domain there (mydomain = {}); give --account to compare with the mail domain",
                    o.mydomain.effective
                )));
            }
            None => {}
        },
    }
    let domain = o
        .account_domain
        .clone()
        .or_else(|| mailname.map(str::to_string));
    // The origin Postfix appends: Debian reads the first line of a file named by myorigin.
    let written = o.myorigin.effective.trim();
    let origin = match &o.myorigin_file {
        Some(f) => match f.name() {
            Some(v) => Some(v.to_string()),
            None => {
                if f.needs_root {
                    findings.push(Verdict::error(f.problem.clone().unwrap_or_default()));
                } else {
                    findings.push(Verdict::fail(format!(
                        "{}: {} (Postfix then uses myhostname as the origin)",
                        o.myorigin.shown(),
                        f.problem.clone().unwrap_or_else(|| "empty".into())
                    )));
                }
                None
            }
        },
        None => Some(written.to_ascii_lowercase()),
    };
    if let (Some(origin), Some(domain)) = (&origin, &domain)
        && !origin.eq_ignore_ascii_case(domain)
    {
        let unset = if o.myorigin.written.is_none() {
            " (myorigin is not set and defaults to $myhostname)"
        } else {
            ""
        };
        findings.push(
            Verdict::fail(format!(
                "{} makes local mail (root, cron) come from @{origin}, not @{domain}{unset}",
                o.myorigin.shown()
            ))
            .with_fix(format!(
                "postconf -e 'myorigin = {}' && postfix reload",
                o.mailname.path.display()
            )),
        );
    }
    let pass = format!(
        "{path} holds {}; {} gives the origin @{}",
        mailname.unwrap_or("?"),
        o.myorigin.shown(),
        origin.clone().unwrap_or_default()
    );
    worst_of(findings, &pass).with_evidence(evidence)
}

// ---------------------------------------------------------------------------------------------
// T4: mynetworks.

/// T4 has no parameters: loopback is loopback.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MynetworksSpec {}

/// Entries of a `/file/name` in mynetworks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListFile {
    pub path: PathBuf,
    #[serde(default)]
    pub entries: Vec<String>,
    #[serde(default)]
    pub problem: Option<String>,
    #[serde(default)]
    pub needs_root: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MynetworksObservation {
    pub mynetworks: Param,
    pub mynetworks_style: Param,
    #[serde(default)]
    pub files: Vec<ListFile>,
}

pub async fn mynetworks_loopback(spec: &MynetworksSpec, ctx: &Ctx) -> Verdict {
    let cfg = match config(ctx).await {
        Ok(c) => c,
        Err(v) => return v,
    };
    let mynetworks = Param::read(&cfg.main, "mynetworks");
    let files = mynetworks
        .list()
        .iter()
        .filter(|e| e.starts_with('/'))
        .map(|e| {
            let path = PathBuf::from(e);
            match std::fs::read_to_string(&path) {
                Ok(t) => ListFile {
                    path,
                    entries: t
                        .lines()
                        .map(|l| l.split('#').next().unwrap_or(""))
                        .flat_map(split_list)
                        .collect(),
                    problem: None,
                    needs_root: false,
                },
                Err(e) => {
                    let err = ProbeError::from_io(&path, &e);
                    ListFile {
                        needs_root: matches!(err, ProbeError::PermissionDenied { .. }),
                        problem: Some(err.to_string()),
                        path,
                        entries: Vec::new(),
                    }
                }
            }
        })
        .collect();
    judge_mynetworks_loopback(
        spec,
        &MynetworksObservation {
            mynetworks,
            mynetworks_style: Param::read(&cfg.main, "mynetworks_style"),
            files,
        },
    )
}

/// What one mynetworks entry lets relay.
#[derive(Debug, PartialEq, Eq)]
enum NetClass {
    Loopback,
    /// Not loopback; the text says what it opens.
    Other(String),
    /// mailcheck cannot tell (a lookup table).
    Unknown,
}

fn classify_network(entry: &str) -> NetClass {
    if entry.eq_ignore_ascii_case("localhost") {
        return NetClass::Loopback;
    }
    if entry.contains(':') && !entry.starts_with('[') && entry.parse::<IpAddr>().is_err() {
        let bare = entry.split('/').next().unwrap_or("");
        if bare.parse::<Ipv6Addr>().is_err() {
            return NetClass::Unknown; // type:table
        }
    }
    let flat: String = entry.chars().filter(|c| *c != '[' && *c != ']').collect();
    let (addr, prefix) = match flat.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (flat.as_str(), None),
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return NetClass::Other(format!(
            "{entry} names hosts by name: any client whose name matches may relay"
        ));
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let Some(prefix) = prefix.map_or(Some(max), |p| p.parse::<u32>().ok().filter(|p| *p <= max))
    else {
        return NetClass::Other(format!("{entry} has an invalid prefix length"));
    };
    if prefix == 0 {
        let family = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
        return NetClass::Other(format!(
            "{entry} is every {family} address: anyone on the Internet may relay through this server (open relay)"
        ));
    }
    let loopback = match ip {
        IpAddr::V4(v4) => prefix >= 8 && v4.octets()[0] == 127,
        IpAddr::V6(v6) => {
            let mapped_net = u128::from(Ipv4Addr::new(127, 0, 0, 0).to_ipv6_mapped());
            let mask = |p: u32| u128::MAX.checked_shl(128 - p).unwrap_or(0);
            (prefix == 128 && v6 == Ipv6Addr::LOCALHOST)
                || (prefix >= 104 && u128::from(v6) & mask(104) == mapped_net)
        }
    };
    if loopback {
        NetClass::Loopback
    } else {
        NetClass::Other(format!(
            "{entry} is not loopback: every client in it may relay without authentication"
        ))
    }
}

pub fn judge_mynetworks_loopback(_spec: &MynetworksSpec, o: &MynetworksObservation) -> Verdict {
    let evidence = json!({
        "mynetworks": o.mynetworks, "mynetworks_style": o.mynetworks_style, "files": o.files,
    });
    if o.mynetworks.written.is_none() {
        let style = o.mynetworks_style.effective.trim().to_ascii_lowercase();
        let style_shown = o.mynetworks_style.shown();
        let fix = "postconf -e 'mynetworks = 127.0.0.0/8' && postfix reload";
        return match style.as_str() {
            "host" => Verdict::warn(format!(
                "mynetworks is not set, so {style_shown} lets this machine's own addresses relay, not only loopback; the tutorial sets mynetworks = 127.0.0.0/8"
            )),
            _ => Verdict::fail(format!(
                "mynetworks is not set, so {style_shown} lets every client in this machine's {} relay without authentication",
                if style == "class" { "class A/B/C networks" } else { "IP subnets" }
            )),
        }
        .with_fix(fix)
        .with_evidence(evidence);
    }
    let shown = o.mynetworks.shown();
    let mut entries: Vec<(String, Option<PathBuf>)> = Vec::new();
    let mut findings = Vec::new();
    for e in o.mynetworks.list() {
        if e.starts_with('/') {
            match o.files.iter().find(|f| f.path == Path::new(&e)) {
                Some(f) if f.problem.is_none() => {
                    entries.extend(f.entries.iter().map(|x| (x.clone(), Some(f.path.clone()))));
                }
                Some(f) if f.needs_root => {
                    findings.push(Verdict::error(f.problem.clone().unwrap_or_default()));
                }
                Some(f) => findings.push(Verdict::fail(format!(
                    "{shown}: {}",
                    f.problem.clone().unwrap_or_default()
                ))),
                None => findings.push(Verdict::error(format!("{shown}: {e} was not read"))),
            }
        } else {
            entries.push((e, None));
        }
    }
    for (e, file) in &entries {
        // `!pattern` excludes clients: it can only narrow what relays.
        if e.starts_with('!') {
            continue;
        }
        let from = file
            .as_ref()
            .map(|f| format!(" (in {})", f.display()))
            .unwrap_or_default();
        match classify_network(e) {
            NetClass::Loopback => {}
            NetClass::Other(why) => {
                findings.push(Verdict::fail(format!("{shown}: {why}{from}")).with_fix(
                    "postconf -e 'mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128' && postfix reload",
                ));
            }
            NetClass::Unknown => findings.push(Verdict::warn(format!(
                "{shown}: {e}{from} is a lookup table; mailcheck cannot tell which clients it lists"
            ))),
        }
    }
    if entries.iter().all(|(e, _)| e.starts_with('!')) && findings.is_empty() {
        return Verdict::pass(format!(
            "{shown}: no client is in mynetworks, so none relays without authentication"
        ))
        .with_evidence(evidence);
    }
    worst_of(findings, &format!("{shown}: loopback only")).with_evidence(evidence)
}

// ---------------------------------------------------------------------------------------------
// T6: the aliases database.

/// T6: the alias table the tutorial uses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasesSpec {
    /// e.g. "hash:/etc/aliases".
    pub map: String,
}

/// mtime of one file, or why it could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mtime {
    pub path: PathBuf,
    /// Nanoseconds since the epoch.
    #[serde(default)]
    pub mtime_ns: Option<i64>,
    #[serde(default)]
    pub problem: Option<String>,
    #[serde(default)]
    pub missing: bool,
    #[serde(default)]
    pub needs_root: bool,
}

impl Mtime {
    pub fn read(path: &Path) -> Mtime {
        let md = std::fs::metadata(path);
        match md.and_then(|m| m.modified()) {
            Ok(t) => Mtime {
                path: path.to_path_buf(),
                mtime_ns: t
                    .duration_since(UNIX_EPOCH)
                    .ok()
                    .and_then(|d| i64::try_from(d.as_nanos()).ok()),
                ..Mtime::default()
            },
            Err(e) => {
                let e = ProbeError::from_io(path, &e);
                Mtime {
                    path: path.to_path_buf(),
                    mtime_ns: None,
                    missing: matches!(e, ProbeError::NotFound { .. }),
                    needs_root: matches!(e, ProbeError::PermissionDenied { .. }),
                    problem: Some(e.to_string()),
                }
            }
        }
    }

    fn when(&self) -> String {
        self.mtime_ns
            .and_then(|ns| u64::try_from(ns).ok())
            .map(|ns| crate::clock::rfc3339(UNIX_EPOCH + Duration::from_nanos(ns)))
            .unwrap_or_else(|| "?".into())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AliasesObservation {
    pub alias_maps: Param,
    pub alias_database: Param,
    pub source: Mtime,
    pub database: Mtime,
}

pub async fn aliases_db_current(spec: &AliasesSpec, ctx: &Ctx) -> Verdict {
    let cfg = match config(ctx).await {
        Ok(c) => c,
        Err(v) => return v,
    };
    let (kind, path) = spec
        .map
        .split_once(':')
        .unwrap_or(("hash", spec.map.as_str()));
    let source = Path::new(path);
    judge_aliases_db_current(
        spec,
        &AliasesObservation {
            alias_maps: Param::read(&cfg.main, "alias_maps"),
            alias_database: Param::read(&cfg.main, "alias_database"),
            source: Mtime::read(source),
            database: Mtime::read(&crate::probe::maps::data_file(kind, source)),
        },
    )
}

pub fn judge_aliases_db_current(spec: &AliasesSpec, o: &AliasesObservation) -> Verdict {
    let evidence = json!({
        "alias_maps": o.alias_maps, "alias_database": o.alias_database,
        "source": o.source, "database": o.database,
    });
    let src = o.source.path.display();
    let db = o.database.path.display();
    if !o.alias_maps.list().iter().any(|m| m == &spec.map) {
        return Verdict::fail(format!(
            "{} does not name {}: Postfix does not read the aliases the tutorial relies on",
            o.alias_maps.shown(),
            spec.map
        ))
        .with_fix(format!(
            "postconf -e 'alias_maps = {0}' 'alias_database = {0}' && newaliases && postfix reload",
            spec.map
        ))
        .with_evidence(evidence);
    }
    for f in [&o.source, &o.database] {
        if f.needs_root || (f.problem.is_some() && !f.missing) {
            return Verdict::error(f.problem.clone().unwrap_or_default()).with_evidence(evidence);
        }
    }
    if o.source.missing {
        return Verdict::fail(format!(
            "{src} does not exist, but alias_maps names {}",
            spec.map
        ))
        .with_fix("create /etc/aliases (at least `postmaster: root`), then run newaliases")
        .with_evidence(evidence);
    }
    if o.database.missing {
        return Verdict::fail(format!(
            "{db} does not exist: Postfix cannot look up {}; run newaliases",
            spec.map
        ))
        .with_fix("newaliases")
        .with_evidence(evidence);
    }
    let mut findings = Vec::new();
    if let (Some(s), Some(d)) = (o.source.mtime_ns, o.database.mtime_ns)
        && d < s
    {
        findings.push(
            Verdict::fail(format!(
                "{src} (modified {}) is newer than {db} (built {}): edits since the last newaliases are not in effect; run newaliases",
                o.source.when(),
                o.database.when()
            ))
            .with_fix("newaliases"),
        );
    }
    if !o.alias_database.list().iter().any(|m| m == &spec.map) {
        findings.push(Verdict::warn(format!(
            "{}: newaliases rebuilds that, not {}",
            o.alias_database.shown(),
            spec.map
        )));
    }
    worst_of(
        findings,
        &format!(
            "{}; {db} (built {}) is not older than {src}",
            o.alias_maps.shown(),
            o.database.when()
        ),
    )
    .with_evidence(evidence)
}

// ---------------------------------------------------------------------------------------------
// T7, T26: parameters with one expected value each.

/// Parameters and the values the tutorial gives them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MainCfValuesSpec {
    /// name → value, compared as Postfix lists, case-insensitively ("" = must be empty).
    pub expect: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MainCfValuesObservation {
    pub params: Vec<Param>,
}

pub async fn main_cf_values(spec: &MainCfValuesSpec, ctx: &Ctx) -> Verdict {
    let cfg = match config(ctx).await {
        Ok(c) => c,
        Err(v) => return v,
    };
    let params = spec
        .expect
        .keys()
        .map(|n| Param::read(&cfg.main, n))
        .collect();
    judge_main_cf_values(spec, &MainCfValuesObservation { params })
}

pub fn judge_main_cf_values(spec: &MainCfValuesSpec, o: &MainCfValuesObservation) -> Verdict {
    let evidence = json!({ "params": o.params });
    let mut findings = Vec::new();
    let mut ok = Vec::new();
    for (name, want) in &spec.expect {
        let Some(p) = o.params.iter().find(|p| &p.name == name) else {
            findings.push(Verdict::error(format!("{name} was not read")));
            continue;
        };
        if same_value(&p.effective, want) {
            let shown = if p.effective.trim().is_empty() {
                "(empty)"
            } else {
                p.effective.trim()
            };
            ok.push(format!("{name} = {shown}"));
            continue;
        }
        let want_shown = if want.is_empty() {
            "empty".to_string()
        } else {
            want.clone()
        };
        findings.push(
            Verdict::fail(format!("{}, not {want_shown}", p.shown()))
                .with_fix(format!("postconf -e '{name} = {want}' && postfix reload")),
        );
    }
    let fix_all: Vec<String> = spec
        .expect
        .iter()
        .filter(|(n, w)| {
            o.params
                .iter()
                .any(|p| &p.name == *n && !same_value(&p.effective, w))
        })
        .map(|(n, w)| format!("'{n} = {w}'"))
        .collect();
    let mut v = worst_of(findings, &ok.join(", "));
    if fix_all.len() > 1 {
        v = v.with_fix(format!(
            "postconf -e {} && postfix reload",
            fix_all.join(" ")
        ));
    }
    v.with_evidence(evidence)
}

// ---------------------------------------------------------------------------------------------
// T35: message_size_limit.

/// T35: the limit comes from the settings (the tutorial's 20480000, or the config's).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageSizeSpec {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageSizeObservation {
    pub expected: u64,
    pub message_size_limit: Param,
    pub mailbox_size_limit: Param,
    pub virtual_mailbox_limit: Param,
}

pub async fn message_size_limit(spec: &MessageSizeSpec, ctx: &Ctx) -> Verdict {
    let cfg = match config(ctx).await {
        Ok(c) => c,
        Err(v) => return v,
    };
    judge_message_size_limit(
        spec,
        &MessageSizeObservation {
            expected: ctx.settings.message_size_limit,
            message_size_limit: Param::read(&cfg.main, "message_size_limit"),
            mailbox_size_limit: Param::read(&cfg.main, "mailbox_size_limit"),
            virtual_mailbox_limit: Param::read(&cfg.main, "virtual_mailbox_limit"),
        },
    )
}

pub fn judge_message_size_limit(_spec: &MessageSizeSpec, o: &MessageSizeObservation) -> Verdict {
    let evidence = json!({
        "expected": o.expected, "message_size_limit": o.message_size_limit,
        "mailbox_size_limit": o.mailbox_size_limit,
        "virtual_mailbox_limit": o.virtual_mailbox_limit,
    });
    let shown = o.message_size_limit.shown();
    let Ok(limit) = o.message_size_limit.effective.trim().parse::<u64>() else {
        return Verdict::fail(format!("{shown} is not a number")).with_evidence(evidence);
    };
    let mut findings = Vec::new();
    if limit != o.expected {
        let mb = |n: u64| format!("{:.1} MB", n as f64 / 1_000_000.0);
        findings.push(
            Verdict::fail(format!(
                "{shown}, not {} ({} instead of {})",
                o.expected,
                mb(limit),
                mb(o.expected)
            ))
            .with_fix(format!(
                "postconf -e 'message_size_limit = {}' && postfix reload",
                o.expected
            )),
        );
    }
    // local(8) and virtual(8) refuse to run when their mailbox limit is below the message limit.
    for (p, agent) in [
        (&o.mailbox_size_limit, "local(8)"),
        (&o.virtual_mailbox_limit, "virtual(8)"),
    ] {
        if let Ok(n) = p.effective.trim().parse::<u64>()
            && n != 0
            && n < limit
        {
            findings.push(
                Verdict::fail(format!(
                    "{} is smaller than message_size_limit = {limit}: {agent} refuses to deliver (\"{} is smaller than message_size_limit\")",
                    p.shown(),
                    p.name
                ))
                .with_fix(format!("postconf -e '{} = 0' && postfix reload", p.name)),
            );
        }
    }
    worst_of(findings, &shown).with_evidence(evidence)
}
