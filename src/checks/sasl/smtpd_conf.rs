//! T23: smtpd's Cyrus SASL config (`<config_directory>/sasl/smtpd.conf`, SASL_README) asks
//! saslauthd (pwcheck_method) and offers PLAIN and LOGIN (mech_list); group postfix, mode 0640.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::judge::{
    config_file_mode_finding, config_file_read_finding, config_file_unusable, mode_and_group,
};
use crate::checks::kind::{Kind, Unobserved};
use crate::checks::values::Mode;
use crate::facts::Facts;
use crate::probe::file::ConfigFile;
use crate::secret::REDACTED;
use crate::verdict::{Verdict, worst_of};

/// T23: what smtpd's Cyrus SASL config must say, and its group and mode.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub pwcheck_method: String,
    /// Mechanisms `mech_list` must hold (case-insensitive).
    pub mechanisms: Vec<String>,
    pub group: String,
    pub mode: Mode,
}

/// What T23 looks at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    /// The file, `sql_passwd` redacted.
    pub file: ConfigFile,
}

/// T23: the kind.
pub struct SmtpdConf;

impl Kind for SmtpdConf {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        // Debian's libsasl2 reads <config_directory>/sasl/<smtpd_sasl_path>.conf unless
        // cyrus_sasl_config_path says otherwise.
        let dir = match cfg.get("cyrus_sasl_config_path") {
            d if d.trim().is_empty() => cfg.config_dir.join("sasl"),
            d => PathBuf::from(d.split(':').next().unwrap_or("").trim()),
        };
        let app = match cfg.get("smtpd_sasl_path") {
            p if p.trim().is_empty() => "smtpd".to_string(),
            p => p,
        };
        let path = dir.join(format!("{app}.conf"));
        let redact = |t: &str| {
            crate::probe::sasl_conf::redact(t, &["sql_passwd", "ldapdb_pw", "password"], REDACTED)
        };
        Ok(Observation {
            file: ConfigFile::read(&path, redact),
        })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let name = o.file.path.display();
        if let Some(v) = config_file_unusable(&o.file, ": smtpd offers no working AUTH") {
            return v;
        }
        let mut findings: Vec<Verdict> = Vec::new();
        findings.extend(config_file_mode_finding(&o.file, &spec.group, spec.mode));
        findings.extend(config_file_read_finding(&o.file));
        let mut said = Vec::new();
        if let Some(text) = &o.file.text {
            let conf = crate::probe::sasl_conf::parse(text);
            for (line, l) in &conf.malformed {
                findings.push(Verdict::fail(format!(
                    "{name} line {line} is not `key: value` ({:?}): libsasl2 rejects the whole file",
                    l.trim()
                )));
            }
            match conf.get("pwcheck_method") {
                None => findings.push(Verdict::fail(format!(
                    "{name} does not set pwcheck_method (want pwcheck_method: {})",
                    spec.pwcheck_method
                ))),
                Some(opt)
                    if !opt
                        .value
                        .split_whitespace()
                        .any(|m| m == spec.pwcheck_method) =>
                {
                    findings.push(Verdict::fail(format!(
                        "{name} line {}: pwcheck_method: {}, not {}",
                        opt.line, opt.value, spec.pwcheck_method
                    )))
                }
                Some(opt) => said.push(format!("pwcheck_method: {}", opt.value)),
            }
            match conf.get("mech_list") {
                None => findings.push(Verdict::fail(format!(
                    "{name} does not set mech_list: smtpd offers every installed mechanism, and those saslauthd cannot check fail (want mech_list: {})",
                    spec.mechanisms.join(" ")
                ))),
                Some(opt) => {
                    let have: Vec<String> = opt
                        .value
                        .split(|c: char| c.is_whitespace() || c == ',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_ascii_lowercase)
                        .collect();
                    let missing: Vec<&String> = spec
                        .mechanisms
                        .iter()
                        .filter(|m| !have.contains(&m.to_ascii_lowercase()))
                        .collect();
                    if missing.is_empty() {
                        said.push(format!("mech_list: {}", opt.value));
                    } else {
                        let list: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
                        findings.push(Verdict::fail(format!(
                            "{name} line {}: mech_list: {} lacks {}",
                            opt.line,
                            opt.value,
                            list.join(", ")
                        )));
                    }
                }
            }
        }
        let facts = mode_and_group(&o.file);
        let pass = format!("{name} ({facts}): {}", said.join(", "));
        worst_of(findings, &pass)
    }
}
