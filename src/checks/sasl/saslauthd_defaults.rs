//! T19: /etc/default/saslauthd starts saslauthd (START=yes) with PAM and the options the
//! tutorial gives: `-c -r -m <queue_directory>/var/run/saslauthd`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::judge::{config_file_read_finding, config_file_unusable};
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
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
        match shell_vars::last(&vars, "START") {
            None => findings.push(
                Verdict::fail(format!(
                    "{name} does not set START: saslauthd is not started"
                ))
                .with_fix(format!("add START=yes to {name}")),
            ),
            Some(a) if a.value != "yes" => findings.push(
                Verdict::fail(format!(
                    "{name} line {}: START={}, not yes: the init script does not start saslauthd",
                    a.line, a.value
                ))
                .with_fix(format!("set START=yes in {name} and start saslauthd")),
            ),
            Some(_) => {}
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
        let pass = format!(
            "{name}: START=yes, OPTIONS=\"{}\"",
            shell_vars::last(&vars, "OPTIONS")
                .map(|a| a.value.as_str())
                .unwrap_or("")
        );
        worst_of(findings, &pass)
    }
}
