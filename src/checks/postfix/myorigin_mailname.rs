//! T3: /etc/mailname holds the mail domain and myorigin makes local mail come from it
//! (postconf(5) myorigin; Debian reads the first line of a file named there).

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{NameFile, Param, plausible_domain};
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::verdict::{Verdict, worst_of};

/// T3: the file the tutorial puts the mail domain in (/etc/mailname).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub mailname: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
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

/// T3: the kind.
pub struct MyoriginMailname;

impl Kind for MyoriginMailname {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let myorigin = Param::read(&cfg.main, "myorigin");
        let myorigin_file = myorigin
            .effective
            .trim()
            .starts_with('/')
            .then(|| NameFile::read(Path::new(myorigin.effective.trim())));
        Ok(Observation {
            mailname: NameFile::read(&spec.mailname),
            myorigin,
            myhostname: Param::read(&cfg.main, "myhostname"),
            mydomain: Param::read(&cfg.main, "mydomain"),
            account_domain: facts.account.as_ref().map(|a| a.domain.clone()),
            myorigin_file,
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
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
        worst_of(findings, &pass)
    }
}
