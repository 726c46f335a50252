//! The Postfix parameters the hardening checks compare with what they saw live, as this server's
//! Postfix computes them: `postconf -c DIR name...` (postconf(1)), read-only.
//!
//! postconf applies the defaults of the installed version (smtpd_forbid_bare_newline is `no` on
//! 3.7.11 and `normalize` on 3.9), which main.cf alone does not tell. A name the version does not
//! know gets `postconf: warning: NAME: unknown parameter` on stderr and no line on stdout: that
//! is how mailcheck learns that a Postfix is too old for a setting.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::probe::versions::{self, RunError};

/// What `postconf -c DIR name...` printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostconfValues {
    /// `name` -> the value Postfix uses (defaults applied, `$name`s left as postconf prints them).
    pub values: BTreeMap<String, String>,
    /// Names this Postfix does not know.
    pub unknown: Vec<String>,
}

impl PostconfValues {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
}

/// Why postconf gave no values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostconfError {
    #[error("postconf did not answer within {} s", .after.as_secs())]
    Timeout { after: Duration },
    #[error("cannot run postconf: {message}")]
    Spawn { message: String },
    #[error("postconf -c {dir} failed: {stderr}")]
    Failed { dir: String, stderr: String },
}

/// What `postconf -c DIR name...` printed, and whether it succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostconfRun {
    pub config_dir: String,
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl PostconfRun {
    /// The values of `names` (those it was asked for); `Failed` when postconf exited non-zero.
    pub fn values(&self, names: &[&str]) -> Result<PostconfValues, PostconfError> {
        if !self.ok {
            return Err(PostconfError::Failed {
                dir: self.config_dir.clone(),
                stderr: self.stderr.trim().chars().take(500).collect(),
            });
        }
        Ok(parse(&self.stdout, &self.stderr, names))
    }

    /// stderr's warnings, without postconf's own "NAME: unknown parameter" for the `names` it
    /// was asked about (a Postfix too old for a parameter: not a fault of main.cf). These are
    /// the warnings `postconf -n` prints too: postconf reports unused and deprecated
    /// parameters in every mode but `-d` (postconf_unused.c).
    pub fn config_warnings(&self, names: &[&str]) -> Vec<String> {
        self.stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .filter(|l| {
                !names
                    .iter()
                    .any(|n| l.ends_with(&format!(" {n}: unknown parameter")))
            })
            .map(str::to_string)
            .collect()
    }
}

/// Runs `postconf -c config_dir names...`, bounded by `limit` (read-only), with the
/// project's command runner.
pub async fn run(
    config_dir: &Path,
    names: &[&str],
    limit: Duration,
) -> Result<PostconfRun, PostconfError> {
    let dir = config_dir.display().to_string();
    let mut args = vec!["-c", dir.as_str()];
    args.extend_from_slice(names);
    let ran = match versions::run("postconf", &args, limit).await {
        Ok(ran) => ran,
        Err(RunError::Timeout { .. }) => return Err(PostconfError::Timeout { after: limit }),
        Err(e) => {
            return Err(PostconfError::Spawn {
                message: e.to_string(),
            });
        }
    };
    Ok(PostconfRun {
        config_dir: dir,
        ok: ran.ok,
        stdout: ran.stdout,
        stderr: ran.stderr,
    })
}

/// `name = value` lines from stdout; a name asked for that has no line, or that stderr calls an
/// unknown parameter, is unknown.
pub fn parse(stdout: &str, stderr: &str, names: &[&str]) -> PostconfValues {
    let mut values = BTreeMap::new();
    for line in stdout.lines() {
        if let Some((name, value)) = line.split_once(" = ").or_else(|| {
            // `name =` for an empty value.
            line.strip_suffix(" =").map(|n| (n, ""))
        }) && names.contains(&name.trim())
        {
            values.insert(name.trim().to_string(), value.trim().to_string());
        }
    }
    let told_unknown = |n: &str| {
        stderr
            .lines()
            .any(|l| l.contains(&format!(" {n}: unknown parameter")))
    };
    let unknown = names
        .iter()
        .filter(|n| !values.contains_key(**n) || told_unknown(n))
        .map(|n| (*n).to_string())
        .collect::<Vec<_>>();
    for n in &unknown {
        values.remove(n);
    }
    PostconfValues { values, unknown }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_unknown_names_are_told_apart() {
        let out =
            "smtpd_forbid_bare_newline = no\nmail_version = 3.7.11\nsmtpd_data_restrictions =\n";
        let err = "postconf: warning: smtpd_forbid_unauth_pipelining: unknown parameter\n";
        let names = [
            "smtpd_forbid_bare_newline",
            "mail_version",
            "smtpd_data_restrictions",
            "smtpd_forbid_unauth_pipelining",
        ];
        let v = parse(out, err, &names);
        assert_eq!(v.get("smtpd_forbid_bare_newline"), Some("no"));
        assert_eq!(v.get("mail_version"), Some("3.7.11"));
        assert_eq!(v.get("smtpd_data_restrictions"), Some(""));
        assert_eq!(v.get("smtpd_forbid_unauth_pipelining"), None);
        assert_eq!(
            v.unknown,
            vec!["smtpd_forbid_unauth_pipelining".to_string()]
        );
    }

    #[test]
    fn warnings_leave_out_the_names_mailcheck_asked_about() {
        let run = PostconfRun {
            config_dir: "/etc/postfix".into(),
            ok: true,
            stdout: String::new(),
            stderr: "postconf: warning: smtpd_forbid_unauth_pipelining: unknown parameter\n\
                     postconf: warning: /etc/postfix/main.cf: unused parameter: smtpd_sasl_auht_enable=yes\n\
                     postconf: warning: mynetworks_stlye: unknown parameter\n"
                .into(),
        };
        assert_eq!(
            run.config_warnings(&["smtpd_forbid_unauth_pipelining"]),
            vec![
                "postconf: warning: /etc/postfix/main.cf: unused parameter: smtpd_sasl_auht_enable=yes",
                "postconf: warning: mynetworks_stlye: unknown parameter",
            ]
        );
        let failed = PostconfRun { ok: false, ..run };
        assert!(matches!(
            failed.values(&["mail_version"]),
            Err(PostconfError::Failed { .. })
        ));
    }

    #[test]
    fn values_keep_their_inner_spaces() {
        let v = parse(
            "smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated defer_unauth_destination\n",
            "",
            &["smtpd_relay_restrictions"],
        );
        assert_eq!(
            v.get("smtpd_relay_restrictions"),
            Some("permit_mynetworks permit_sasl_authenticated defer_unauth_destination")
        );
    }
}
