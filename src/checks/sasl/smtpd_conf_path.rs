//! T23: Postfix's smtpd reads the tutorial's /etc/postfix/sasl/smtpd.conf: Debian's Postfix
//! before 3.9.0-3 has that directory built in; from 3.9.0-3 (Debian 13) it uses upstream's
//! empty default and main.cf must say `cyrus_sasl_config_path = /etc/postfix/sasl`, which the
//! package adds on upgrade (postconf(5) cyrus_sasl_config_path, SASL_README).

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::checks::postfix::Param;
use crate::facts::Facts;
use crate::verdict::Verdict;

/// No parameters: the directory is `<config_directory>/sasl`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {}

/// The first Debian postfix package whose smtpd no longer reads /etc/postfix/sasl by itself.
pub const DEBIAN_DROPPED_BUILTIN: &str = "3.9.0-3";

/// What the check saw.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub cyrus_sasl_config_path: Param,
    pub smtpd_sasl_path: Param,
    /// `<config_directory>/sasl`, where the tutorial puts smtpd.conf.
    pub tutorial_dir: PathBuf,
    /// `<tutorial_dir>/<smtpd_sasl_path>.conf` exists.
    #[serde(default)]
    pub tutorial_file_exists: bool,
    #[serde(default)]
    pub postfix_version: Option<String>,
    /// dpkg's version of the postfix package; `None` without dpkg (not Debian's Postfix).
    #[serde(default)]
    pub postfix_package: Option<String>,
}

/// The kind.
pub struct SmtpdConfPath;

impl Kind for SmtpdConfPath {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let sasl_type = cfg.get("smtpd_sasl_type");
        if !sasl_type.trim().eq_ignore_ascii_case("cyrus") {
            return Err(Unobserved::NotApplicable {
                reason: format!(
                    "smtpd_sasl_type = {sasl_type}: smtpd does not use Cyrus SASL's smtpd.conf"
                ),
            });
        }
        let versions = facts.versions().await;
        let sasl_path = Param::read(&cfg.main, "smtpd_sasl_path");
        let tutorial_dir = cfg.config_dir.join("sasl");
        let app = match sasl_path.effective.trim() {
            "" => "smtpd",
            p => p,
        };
        Ok(Observation {
            cyrus_sasl_config_path: Param::read(&cfg.main, "cyrus_sasl_config_path"),
            tutorial_file_exists: tutorial_dir.join(format!("{app}.conf")).exists(),
            smtpd_sasl_path: sasl_path,
            tutorial_dir,
            postfix_version: versions.postfix_version().map(str::to_string),
            postfix_package: versions.packages.get("postfix").cloned(),
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let dir = o.tutorial_dir.display();
        let app = match o.smtpd_sasl_path.effective.trim() {
            "" => "smtpd",
            p => p,
        };
        let file = format!("{dir}/{app}.conf");
        let param = &o.cyrus_sasl_config_path;
        let dirs: Vec<&str> = param
            .effective
            .split(':')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .collect();
        let postfix = match (&o.postfix_version, &o.postfix_package) {
            (Some(v), Some(p)) => format!("Postfix {v} (Debian package {p})"),
            (Some(v), None) => format!("Postfix {v}"),
            (None, Some(p)) => format!("Postfix (Debian package {p})"),
            (None, None) => "this Postfix".to_string(),
        };
        let fix = format!("postconf -e cyrus_sasl_config_path={dir} && postfix reload");
        let names_tutorial_dir = dirs
            .iter()
            .any(|d| normal(Path::new(d)) == normal(&o.tutorial_dir));
        let missing = || {
            Verdict::fail(format!(
                "smtpd reads {file}, which does not exist: Cyrus SASL then uses its defaults instead of the tutorial's pwcheck_method: saslauthd and mech_list: plain login"
            ))
            .with_fix(format!("create {file} as the tutorial says, then postfix reload"))
        };
        let built_in = o
            .postfix_package
            .as_deref()
            .is_some_and(|p| debian_older(p, DEBIAN_DROPPED_BUILTIN));
        if built_in {
            // Measured on Debian 12 (3.7.11-0+deb12u1): smtpd reads <config_directory>/sasl
            // whatever cyrus_sasl_config_path says, even when the file is only in the other
            // directory.
            if !o.tutorial_file_exists {
                return missing();
            }
            if dirs.is_empty() || names_tutorial_dir {
                return Verdict::pass(format!(
                    "{}: {postfix} has {dir} built in, so smtpd reads {file} (Debian's postfix {DEBIAN_DROPPED_BUILTIN} and later, in Debian 13, need `cyrus_sasl_config_path = {dir}` in main.cf; the package's upgrade adds it)",
                    if dirs.is_empty() {
                        "cyrus_sasl_config_path is not set".to_string()
                    } else {
                        param.shown()
                    }
                ));
            }
            return Verdict::warn(format!(
                "{}: {postfix} ignores it and reads {file} (its built-in {dir}), but Debian's postfix {DEBIAN_DROPPED_BUILTIN} and later (Debian 13) will look for {app}.conf in {} instead",
                param.shown(),
                dirs.join(", ")
            ))
            .with_fix(fix);
        }
        if !dirs.is_empty() {
            if names_tutorial_dir {
                if !o.tutorial_file_exists {
                    return missing();
                }
                return Verdict::pass(format!("{}: smtpd reads {file}", param.shown()));
            }
            return Verdict::fail(format!(
                "{}: smtpd looks for {app}.conf in {}, not in {dir} where the tutorial's {file} is{}",
                param.shown(),
                dirs.join(", "),
                if o.tutorial_file_exists { "" } else { " (it does not exist either)" }
            ))
            .with_fix(fix);
        }
        let debian = if o.postfix_package.is_some() {
            format!(
                " (Debian's postfix dropped its built-in {dir} in {DEBIAN_DROPPED_BUILTIN}; its upgrade adds the line, a main.cf written or restored since does not have it)"
            )
        } else {
            String::new()
        };
        Verdict::fail(format!(
            "main.cf does not set cyrus_sasl_config_path: {postfix} does not read {file}{debian}, so smtpd uses the Cyrus SASL library's defaults instead of the tutorial's pwcheck_method: saslauthd and mech_list: plain login"
        ))
        .with_fix(fix)
    }
}

fn normal(p: &Path) -> PathBuf {
    p.components().collect()
}

/// Whether Debian version `v` sorts before `than` (epoch ignored; upstream numbers, then the
/// Debian revision's leading number): "3.7.11-0+deb12u1" < "3.9.0-3" <= "3.10.13-0+deb13u1".
pub fn debian_older(v: &str, than: &str) -> bool {
    fn split(v: &str) -> (Vec<u32>, u32) {
        let v = v.split_once(':').map_or(v, |(_, rest)| rest);
        let (up, rev) = v.rsplit_once('-').unwrap_or((v, "0"));
        let rev = rev
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap_or(0);
        (crate::probe::versions::numeric(up), rev)
    }
    let (a, ar) = split(v);
    let (b, br) = split(than);
    let n = a.len().max(b.len());
    let pad = |x: &[u32]| {
        let mut x = x.to_vec();
        x.resize(n, 0);
        x
    };
    (pad(&a), ar) < (pad(&b), br)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_versions_order() {
        assert!(debian_older("3.7.11-0+deb12u1", "3.9.0-3"));
        assert!(debian_older("3.9.0-2", "3.9.0-3"));
        assert!(!debian_older("3.9.0-3", "3.9.0-3"));
        assert!(!debian_older("3.10.13-0+deb13u1", "3.9.0-3"));
    }
}
