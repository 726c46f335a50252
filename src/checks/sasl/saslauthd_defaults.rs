//! T19: /etc/default/saslauthd gives saslauthd PAM and the options the tutorial gives
//! (`-c -r -m <queue_directory>/var/run/saslauthd`), whatever starts it reads that file, and
//! something starts it at boot: on Debian 12 the init script (START=yes, /etc/rcN.d links); on
//! Debian 13 saslauthd.service (EnvironmentFile=, START ignored, enabled in
//! /etc/systemd/system/*.wants).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::judge::{config_file_read_finding, config_file_unusable};
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::boot::{self, BootFacts, Init};
use crate::probe::file::ConfigFile;
use crate::probe::saslauthd::parse_opts;
use crate::probe::shell_vars;
use crate::verdict::{Verdict, worst_of};

/// T19: the file and the options the init script must pass.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub path: PathBuf,
    /// Options without argument that OPTIONS must hold, e.g. ["-c", "-r"].
    pub flags: Vec<String>,
    /// MECHANISMS, when set, must name this one (pam_mysql is reached through PAM).
    pub mechanism: String,
}

/// What T19 looks at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub file: ConfigFile,
    /// `<queue_directory>/var/run/saslauthd`.
    pub expected_dir: PathBuf,
    /// Paths as written (the expected dir and OPTIONS' `-m`) mapped to where they resolve.
    #[serde(default)]
    pub resolved: BTreeMap<String, PathBuf>,
    /// What starts saslauthd (unit or init script) and whether it is enabled at boot; `None`
    /// in recordings made before mailcheck looked (they are judged by Debian 12's rules).
    #[serde(default)]
    pub boot: Option<BootFacts>,
}

/// T19: the kind.
pub struct SaslauthdDefaults;

impl Kind for SaslauthdDefaults {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let expected_dir = super::chroot_socket_dir(&cfg, facts);
        let file = ConfigFile::read(&spec.path, str::to_string);
        let mut resolved = BTreeMap::new();
        let mut paths = vec![expected_dir.display().to_string()];
        if let Some(text) = &file.text {
            let vars = shell_vars::parse(text);
            if let Some(o) = shell_vars::last(&vars, "OPTIONS") {
                paths.extend(
                    parse_opts(&o.value)
                        .into_iter()
                        .filter(|(c, _)| *c == 'm')
                        .filter_map(|(_, a)| a),
                );
            }
        }
        for p in paths {
            if let Ok(r) = std::fs::canonicalize(&p) {
                resolved.insert(p, r);
            }
        }
        Ok(Observation {
            file,
            expected_dir,
            resolved,
            boot: Some(boot::observe(Path::new("/"), "saslauthd")),
        })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let name = o.file.path.display();
        let dir = o.expected_dir.display();
        let tutorial = format!("OPTIONS=\"-c -r -m {dir}\"");
        if let Some(v) = config_file_unusable(&o.file, " (is sasl2-bin installed?)") {
            return v;
        }
        let Some(text) = &o.file.text else {
            return config_file_read_finding(&o.file)
                .unwrap_or_else(|| Verdict::error("unreadable"));
        };
        let vars = shell_vars::parse(text);
        let mut findings = Vec::new();
        let starter = Starter::of(o.boot.as_ref());
        let mut notes = Vec::new();
        match (shell_vars::last(&vars, "START"), starter.start_matters()) {
            (None, true) => findings.push(
                Verdict::fail(format!(
                    "{name} does not set START: {} starts nothing without START=yes, so saslauthd is not started",
                    starter.script()
                ))
                .with_fix(format!("add START=yes to {name}")),
            ),
            (Some(a), true) if a.value != "yes" => findings.push(
                Verdict::fail(format!(
                    "{name} line {}: START={}, not yes: {} does not start saslauthd",
                    a.line,
                    a.value,
                    starter.script()
                ))
                .with_fix(format!("set START=yes in {name} and start saslauthd")),
            ),
            (Some(a), false) if a.value != "yes" => notes.push(format!(
                "{name} line {}: START={} is ignored by {} (it does not keep saslauthd from starting)",
                a.line,
                a.value,
                starter.what()
            )),
            _ => {}
        }
        if let Some(v) = starter.ignores_file(&o.file.path) {
            findings.push(v);
        }
        if let Some(m) = shell_vars::last(&vars, "MECHANISMS")
            && !m.value.split_whitespace().any(|x| x == spec.mechanism)
        {
            findings.push(Verdict::fail(format!(
                "{name} line {}: MECHANISMS=\"{}\", not {}: /etc/pam.d/smtp and pam_mysql are not used",
                m.line, m.value, spec.mechanism
            )));
        }
        let opt_fix = format!("set {tutorial} in {name} and restart saslauthd");
        match shell_vars::last(&vars, "OPTIONS") {
            None => findings.push(
                Verdict::fail(format!(
                    "{name} does not set OPTIONS: saslauthd runs with its defaults, socket outside {dir}"
                ))
                .with_fix(opt_fix.clone()),
            ),
            Some(a) => {
                let opts = parse_opts(&a.value);
                let at = format!("{name} line {}: OPTIONS=\"{}\"", a.line, a.value);
                for f in &spec.flags {
                    let c = f.trim_start_matches('-').chars().next().unwrap_or(' ');
                    if !opts.iter().any(|(o, _)| *o == c) {
                        let why = match c {
                            'r' => ": saslauthd passes PAM the login without its @domain, so pam_mysql looks up the wrong username",
                            'c' => ": no credential cache",
                            _ => "",
                        };
                        findings.push(
                            Verdict::fail(format!("{at} lacks {f}{why}")).with_fix(opt_fix.clone()),
                        );
                    }
                }
                let m_dirs: Vec<&String> = opts
                    .iter()
                    .filter(|(c, _)| *c == 'm')
                    .filter_map(|(_, a)| a.as_ref())
                    .collect();
                match m_dirs.last() {
                    None => findings.push(
                        Verdict::fail(format!(
                            "{at} has no -m: saslauthd puts its socket in /var/run/saslauthd, which Postfix's chrooted smtpd cannot see"
                        ))
                        .with_fix(opt_fix.clone()),
                    ),
                    Some(m) => {
                        let same = super::normal(Path::new(m)) == super::normal(&o.expected_dir);
                        let same_resolved = o
                            .resolved
                            .get(m.as_str())
                            .zip(o.resolved.get(&o.expected_dir.display().to_string()))
                            .is_some_and(|(a, b)| a == b);
                        if !same && !same_resolved {
                            findings.push(
                                Verdict::fail(format!(
                                    "{at} has -m {m}, not {dir}: Postfix's chrooted smtpd cannot reach the socket"
                                ))
                                .with_fix(opt_fix.clone()),
                            );
                        } else if !same {
                            findings.push(Verdict::pass(format!(
                                "-m {m} resolves to {dir}"
                            )));
                        }
                    }
                }
            }
        }
        let options = format!(
            "OPTIONS=\"{}\"",
            shell_vars::last(&vars, "OPTIONS")
                .map(|a| a.value.as_str())
                .unwrap_or("")
        );
        let read_by = if starter.start_matters() {
            format!("START=yes, {options}")
        } else {
            format!(
                "{options} (read by {}, which ignores START)",
                starter.what()
            )
        };
        let at_boot = match starter.at_boot() {
            Ok(how) => how,
            Err(v) => {
                findings.push(v);
                String::new()
            }
        };
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!("; {}", notes.join("; "))
        };
        let pass = format!("{name}: {read_by}{at_boot}{notes}");
        worst_of(findings, &pass)
    }
}

/// What starts saslauthd, as T19 judges it: Debian 13's saslauthd.service under systemd, or
/// the SysV init script (Debian 12, or any release under sysvinit).
struct Starter<'a> {
    boot: Option<&'a BootFacts>,
}

impl<'a> Starter<'a> {
    fn of(boot: Option<&'a BootFacts>) -> Self {
        Starter { boot }
    }

    /// saslauthd.service, when systemd boots the machine and the package ships the unit.
    fn unit(&self) -> Option<&'a boot::Unit> {
        let b = self.boot?;
        (b.effective_init() == Init::Systemd && b.native_unit())
            .then_some(b.unit.as_ref())
            .flatten()
    }

    fn what(&self) -> String {
        match self.unit() {
            Some(u) => format!("saslauthd.service ({})", u.path.display()),
            None => self.script(),
        }
    }

    fn script(&self) -> String {
        self.boot.and_then(|b| b.init_script.as_ref()).map_or_else(
            || "the init script".to_string(),
            |s| format!("the init script {}", s.path.display()),
        )
    }

    /// START=yes is needed: the init script starts it and tests START (Debian 12's does).
    fn start_matters(&self) -> bool {
        if self.unit().is_some() {
            return false;
        }
        self.boot
            .and_then(|b| b.init_script.as_ref())
            .is_none_or(|s| s.checks_start)
    }

    /// A unit that does not read the defaults file: its OPTIONS are not what saslauthd runs with.
    fn ignores_file(&self, file: &Path) -> Option<Verdict> {
        let u = self.unit()?;
        let reads = u
            .environment_files
            .iter()
            .any(|e| Path::new(e.trim_start_matches('-')) == file);
        (!reads).then(|| {
            Verdict::fail(format!(
                "{} has no EnvironmentFile={}: saslauthd does not get the OPTIONS written there (ExecStart={})",
                u.path.display(),
                file.display(),
                u.exec_start.clone().unwrap_or_default()
            ))
            .with_fix(format!(
                "add EnvironmentFile={} to the unit's [Service] (systemctl edit saslauthd), or remove the override; then systemctl restart saslauthd",
                file.display()
            ))
        })
    }

    /// How saslauthd starts at boot ("; saslauthd.service is enabled (...)"), or the warning
    /// that nothing starts it.
    fn at_boot(&self) -> Result<String, Verdict> {
        let Some(b) = self.boot else {
            return Ok(String::new());
        };
        let assumed = if b.init == Init::None && !b.systemd_running {
            " (no /sbin/init here: judged for systemd, Debian's init)"
        } else {
            ""
        };
        let reboot = "after a reboot saslauthd does not run and nobody can AUTH";
        if let Some(u) = self.unit() {
            let enabled: Vec<String> = b
                .wants
                .iter()
                .filter(|w| w.resolves)
                .map(|w| w.path.display().to_string())
                .collect();
            if !enabled.is_empty() {
                return Ok(format!(
                    "; saslauthd.service is enabled ({}): systemd starts it at boot{assumed}",
                    enabled.join(", ")
                ));
            }
            let rc = b.started_in_runlevels();
            let sysv = if rc.is_empty() {
                String::new()
            } else {
                format!(
                    "; the S links of the init script ({}) do not count: systemd ignores /etc/init.d/saslauthd because sasl2-bin ships {} (Debian 13), and the upgrade from Debian 12 does not enable the unit",
                    rc.iter()
                        .map(|l| l.path.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    u.path.display()
                )
            };
            return Err(Verdict::warn(format!(
                "saslauthd.service ({}) is not enabled (no link to it in /etc/systemd/system/{}.wants/): {reboot}{sysv}{assumed}",
                u.path.display(),
                u.wanted_by.first().map_or("multi-user.target", String::as_str)
            ))
            .with_fix("systemctl enable saslauthd (Debian installs it disabled)"));
        }
        let Some(script) = &b.init_script else {
            return Err(Verdict::warn(format!(
                "neither saslauthd.service nor /etc/init.d/saslauthd exists: nothing starts saslauthd at boot; {reboot}{assumed}"
            )));
        };
        let rc = b.started_in_runlevels();
        if rc.is_empty() {
            let k: Vec<String> = b
                .rc_links
                .iter()
                .filter(|l| !l.start)
                .map(|l| l.path.display().to_string())
                .collect();
            let links = if k.is_empty() {
                "no /etc/rc2.d..rc5.d link".to_string()
            } else {
                format!("only K links: {}", k.join(", "))
            };
            let fix = if b.effective_init() == Init::Systemd {
                "systemctl enable saslauthd (Debian installs it disabled; this makes the S links)"
            } else {
                "update-rc.d saslauthd enable (Debian installs it disabled)"
            };
            return Err(Verdict::warn(format!(
                "{} is not enabled at boot ({links}): {reboot}{assumed}",
                script.path.display()
            ))
            .with_fix(fix));
        }
        Ok(format!(
            "; {} starts it at boot ({}){assumed}",
            script.path.display(),
            rc.iter()
                .map(|l| l.path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}
