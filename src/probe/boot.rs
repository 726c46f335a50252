//! What starts a service at boot on Debian, read from the file system without systemctl (which
//! needs a running systemd): the init system (/sbin/init), the service's systemd unit and its
//! enablement links (systemd.unit(5) `[Install]`, `*.wants/`), its SysV init script and the
//! /etc/rcN.d links (update-rc.d(8)) that systemd-sysv-generator(8) and sysvinit follow.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where systemd looks for unit files, in order of precedence (systemd.unit(5)).
pub const UNIT_DIRS: &[&str] = &[
    "etc/systemd/system",
    "run/systemd/system",
    "usr/local/lib/systemd/system",
    "usr/lib/systemd/system",
    "lib/systemd/system",
];

/// The runlevels a Debian system boots into (2, multi-user; 3-5 the same on Debian).
pub const BOOT_RUNLEVELS: &[char] = &['2', '3', '4', '5'];

/// Which init system boots this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    Systemd,
    /// sysvinit (or another /sbin/init that reads /etc/rcN.d).
    Sysv,
    /// No /sbin/init (a container or a bare root): nothing here starts services at boot.
    None,
}

/// A unit file's settings that decide how the service is started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Unit {
    pub path: PathBuf,
    /// `EnvironmentFile=` values as written (a leading `-` means optional).
    #[serde(default)]
    pub environment_files: Vec<String>,
    #[serde(default)]
    pub exec_start: Option<String>,
    #[serde(default)]
    pub pid_file: Option<String>,
    #[serde(default)]
    pub runtime_directory: Option<String>,
    /// `WantedBy=` of `[Install]`.
    #[serde(default)]
    pub wanted_by: Vec<String>,
}

/// A SysV init script.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InitScript {
    pub path: PathBuf,
    /// It tests `$START` (Debian 12's saslauthd script: it starts nothing without START=yes).
    pub checks_start: bool,
    /// The /etc/default file it mentions, if any.
    #[serde(default)]
    pub reads_default: bool,
}

/// One /etc/rcN.d link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RcLink {
    pub path: PathBuf,
    pub runlevel: char,
    /// `S` (started in that runlevel) or `K`.
    pub start: bool,
}

/// A `*.wants/` (or `*.requires/`) link that enables the unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WantsLink {
    pub path: PathBuf,
    /// Whether what it points to exists (a dangling link enables nothing).
    pub resolves: bool,
}

/// How the service is started at boot, as the file system says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BootFacts {
    pub service: String,
    pub init: Init,
    /// What /sbin/init resolves to.
    #[serde(default)]
    pub init_path: Option<PathBuf>,
    /// systemd runs now (/run/systemd/system exists).
    #[serde(default)]
    pub systemd_running: bool,
    /// The service's own systemd unit (the first found in the unit directories), if any.
    #[serde(default)]
    pub unit: Option<Unit>,
    /// /etc/systemd/system/NAME.service is a link to /dev/null.
    #[serde(default)]
    pub masked: bool,
    /// Drop-in files (NAME.service.d/*.conf); they can change what the unit does.
    #[serde(default)]
    pub dropins: Vec<PathBuf>,
    #[serde(default)]
    pub wants: Vec<WantsLink>,
    #[serde(default)]
    pub init_script: Option<InitScript>,
    #[serde(default)]
    pub rc_links: Vec<RcLink>,
}

/// Reads `service`'s boot set-up under `root` (`/` on the server).
pub fn observe(root: &Path, service: &str) -> BootFacts {
    let unit_name = format!("{service}.service");
    let init_path = std::fs::canonicalize(root.join("sbin/init")).ok();
    let init = match &init_path {
        None => Init::None,
        Some(p) if p.file_name().is_some_and(|n| n == "systemd") => Init::Systemd,
        Some(_) => Init::Sysv,
    };
    let masked_link = root.join("etc/systemd/system").join(&unit_name);
    let masked = std::fs::read_link(&masked_link).is_ok_and(|t| t == Path::new("/dev/null"));
    let unit = UNIT_DIRS
        .iter()
        .map(|d| root.join(d).join(&unit_name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file())
                && std::fs::read_link(p).map_or(true, |t| t != Path::new("/dev/null"))
        })
        .and_then(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            Some(parse_unit(&p, &text))
        });
    let mut dropins: Vec<PathBuf> = UNIT_DIRS
        .iter()
        .filter_map(|d| std::fs::read_dir(root.join(d).join(format!("{unit_name}.d"))).ok())
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    dropins.sort();
    let mut wants: Vec<WantsLink> = std::fs::read_dir(root.join("etc/systemd/system"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.ends_with(".wants") || n.ends_with(".requires")
        })
        .map(|e| e.path().join(&unit_name))
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .map(|p| WantsLink {
            resolves: std::fs::metadata(&p).is_ok(),
            path: p,
        })
        .collect();
    wants.sort_by(|a, b| a.path.cmp(&b.path));
    let script_path = root.join("etc/init.d").join(service);
    let init_script = std::fs::read_to_string(&script_path)
        .ok()
        .map(|text| InitScript {
            checks_start: text.contains("$START") || text.contains("${START}"),
            reads_default: text.contains(&format!("/etc/default/{service}")),
            path: script_path,
        });
    let mut rc_links = Vec::new();
    for level in BOOT_RUNLEVELS.iter().chain(&['S']) {
        let dir = root.join(format!("etc/rc{level}.d"));
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let (kind, rest) = name.split_at(name.len().min(1));
            let bare = rest.trim_start_matches(|c: char| c.is_ascii_digit());
            if bare == service && (kind == "S" || kind == "K") {
                rc_links.push(RcLink {
                    path: e.path(),
                    runlevel: *level,
                    start: kind == "S",
                });
            }
        }
    }
    rc_links.sort_by(|a, b| a.path.cmp(&b.path));
    BootFacts {
        service: service.to_string(),
        init,
        init_path,
        systemd_running: root.join("run/systemd/system").is_dir(),
        unit,
        masked,
        dropins,
        wants,
        init_script,
        rc_links,
    }
}

/// The `[Service]` and `[Install]` settings of a unit file that matter here (the last
/// `ExecStart=` and friends win; an empty assignment resets a list, as in systemd).
pub fn parse_unit(path: &Path, text: &str) -> Unit {
    let mut u = Unit {
        path: path.to_path_buf(),
        ..Unit::default()
    };
    let mut section = String::new();
    let mut logical = String::new();
    for raw in text.lines() {
        let line = raw.trim_end();
        if let Some(cont) = line.strip_suffix('\\') {
            logical.push_str(cont);
            logical.push(' ');
            continue;
        }
        logical.push_str(line);
        let l = std::mem::take(&mut logical);
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        if l.starts_with('[') && l.ends_with(']') {
            section = l.trim_matches(['[', ']']).to_string();
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim().to_string());
        match (section.as_str(), k) {
            ("Service", "EnvironmentFile") if v.is_empty() => u.environment_files.clear(),
            ("Service", "EnvironmentFile") => u.environment_files.push(v),
            ("Service", "ExecStart") => u.exec_start = (!v.is_empty()).then_some(v),
            ("Service", "PIDFile") => u.pid_file = (!v.is_empty()).then_some(v),
            ("Service", "RuntimeDirectory") => u.runtime_directory = (!v.is_empty()).then_some(v),
            ("Install", "WantedBy") => u.wanted_by.extend(v.split_whitespace().map(String::from)),
            _ => {}
        }
    }
    u
}

impl BootFacts {
    /// The init system that will boot the machine; `None` (no /sbin/init) is judged as
    /// systemd, Debian's default.
    pub fn effective_init(&self) -> Init {
        if self.systemd_running {
            return Init::Systemd;
        }
        match self.init {
            Init::None => Init::Systemd,
            i => i,
        }
    }

    /// Whether systemd uses the service's own unit (then the init script is ignored:
    /// systemd-sysv-generator skips scripts that have a native unit).
    pub fn native_unit(&self) -> bool {
        self.unit.is_some() && !self.masked
    }

    /// The S links in the boot runlevels.
    pub fn started_in_runlevels(&self) -> Vec<&RcLink> {
        self.rc_links
            .iter()
            .filter(|l| l.start && BOOT_RUNLEVELS.contains(&l.runlevel))
            .collect()
    }
}

/// One tmpfiles.d(5) line for a path: what systemd-tmpfiles makes there at every boot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TmpfilesEntry {
    pub file: PathBuf,
    pub line: usize,
    /// `L`, `L+`, `d`, ... as written.
    pub kind: String,
    pub path: String,
    /// The argument (a symlink's target); `-` or empty for none.
    #[serde(default)]
    pub argument: String,
}

impl TmpfilesEntry {
    /// A symlink line (`L`, `L+`, `L!`, ...).
    pub fn is_symlink(&self) -> bool {
        self.kind.starts_with('L')
    }
}

/// The directories tmpfiles.d(5) reads, in order of precedence.
pub const TMPFILES_DIRS: &[&str] = &["etc/tmpfiles.d", "run/tmpfiles.d", "usr/lib/tmpfiles.d"];

/// Every tmpfiles.d line that creates `path` (or its /var/run or /run twin: systemd-tmpfiles
/// reads /var/run/X as /run/X). A file in /etc/tmpfiles.d hides one of the same name below.
pub fn tmpfiles_entries(root: &Path, path: &Path) -> Vec<TmpfilesEntry> {
    let twin = |p: &str| -> String {
        p.strip_prefix("/var/run/")
            .map_or_else(|| p.to_string(), |rest| format!("/run/{rest}"))
    };
    let want = twin(&path.display().to_string());
    let mut seen: Vec<std::ffi::OsString> = Vec::new();
    let mut out = Vec::new();
    for dir in TMPFILES_DIRS {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .collect();
        files.sort();
        for f in files {
            let Some(name) = f.file_name().map(|n| n.to_os_string()) else {
                continue;
            };
            if seen.contains(&name) {
                continue;
            }
            seen.push(name);
            let Ok(text) = std::fs::read_to_string(&f) else {
                continue;
            };
            for (i, l) in text.lines().enumerate() {
                let fields: Vec<&str> = l.split_whitespace().collect();
                if fields.len() < 2 || fields[0].starts_with('#') || twin(fields[1]) != want {
                    continue;
                }
                out.push(TmpfilesEntry {
                    file: Path::new("/").join(f.strip_prefix(root).unwrap_or(&f)),
                    line: i + 1,
                    kind: fields[0].to_string(),
                    path: fields[1].to_string(),
                    argument: fields.get(6..).map(|a| a.join(" ")).unwrap_or_default(),
                });
            }
        }
    }
    out
}

/// The file system type of the mount holding `path` (from /proc/self/mounts), e.g. "tmpfs".
pub fn fs_type(path: &Path) -> Option<String> {
    let path = std::fs::canonicalize(path).ok()?;
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, point, kind) = (f.next()?, f.next()?, f.next()?);
            let point = point.replace("\\040", " ");
            path.starts_with(&point)
                .then(|| (point.len(), kind.to_string()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, kind)| kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_13_unit_parses() {
        let text = "[Unit]\nDescription=SASL Authentication Daemon\n\n[Service]\nType=forking\nGroup=sasl\nPIDFile=/var/run/saslauthd/saslauthd.pid\nEnvironmentFile=/etc/default/saslauthd\nExecStart=/usr/sbin/saslauthd -a $MECHANISMS $MECH_OPTIONS $OPTIONS -n $THREADS\nRuntimeDirectory=saslauthd\n\n[Install]\nWantedBy=multi-user.target\n";
        let u = parse_unit(Path::new("/usr/lib/systemd/system/saslauthd.service"), text);
        assert_eq!(u.environment_files, ["/etc/default/saslauthd"]);
        assert_eq!(
            u.pid_file.as_deref(),
            Some("/var/run/saslauthd/saslauthd.pid")
        );
        assert_eq!(u.runtime_directory.as_deref(), Some("saslauthd"));
        assert_eq!(u.wanted_by, ["multi-user.target"]);
        assert!(u.exec_start.is_some_and(|e| e.contains("$OPTIONS")));
    }

    #[test]
    fn a_root_without_init_is_read() {
        let dir = std::env::temp_dir().join(format!("mailcheck-boot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("etc/rc2.d")).unwrap();
        std::fs::create_dir_all(dir.join("etc/init.d")).unwrap();
        std::fs::write(
            dir.join("etc/init.d/saslauthd"),
            "if [ \"$START\" != \"yes\" ]; then exit 0; fi # /etc/default/saslauthd\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("../init.d/saslauthd", dir.join("etc/rc2.d/K01saslauthd"))
            .unwrap();
        let b = observe(&dir, "saslauthd");
        assert_eq!(b.init, Init::None);
        assert_eq!(b.effective_init(), Init::Systemd);
        assert!(
            b.init_script
                .as_ref()
                .is_some_and(|s| s.checks_start && s.reads_default)
        );
        assert_eq!(b.rc_links.len(), 1);
        assert!(b.started_in_runlevels().is_empty());
        std::fs::create_dir_all(dir.join("etc/tmpfiles.d")).unwrap();
        std::fs::write(
            dir.join("etc/tmpfiles.d/saslauthd.conf"),
            "# the tutorial's link, at every boot\nL+ /run/saslauthd - - - - /var/spool/postfix/var/run/saslauthd\n",
        )
        .unwrap();
        let t = tmpfiles_entries(&dir, Path::new("/var/run/saslauthd"));
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].file, Path::new("/etc/tmpfiles.d/saslauthd.conf"));
        assert_eq!(t[0].line, 2);
        assert!(t[0].is_symlink());
        assert_eq!(t[0].argument, "/var/spool/postfix/var/run/saslauthd");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
