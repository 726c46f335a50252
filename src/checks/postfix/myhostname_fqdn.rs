//! T2: myhostname is a fully qualified host name in the mail domain that resolves on this host
//! (postconf(5) myhostname, mydomain).

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{NameFile, Param, plausible_domain};
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::verdict::Verdict;

/// T2: where the mail domain is read from when no `--account` is given.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub mailname: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
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

/// T2: the kind.
pub struct MyhostnameFqdn;

impl Kind for MyhostnameFqdn {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let myhostname = Param::read(&cfg.main, "myhostname");
        let host = myhostname
            .effective
            .trim()
            .trim_end_matches('.')
            .to_string();
        let deadline = facts.settings.timeouts.connect;
        let (mut addresses, mut resolve_problem, mut resolve_timed_out) = (Vec::new(), None, false);
        if !host.is_empty() {
            match tokio::time::timeout(deadline, tokio::net::lookup_host((host.as_str(), 25))).await
            {
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
        Ok(Observation {
            myhostname,
            account_domain: facts.account.as_ref().map(|a| a.domain.clone()),
            mailname: NameFile::read(&spec.mailname),
            addresses,
            resolve_problem,
            resolve_timed_out,
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let shown = o.myhostname.shown();
        let host = o
            .myhostname
            .effective
            .trim()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if host.is_empty() {
            return Verdict::fail(format!("{shown}: myhostname is empty"));
        }
        if !host.contains('.') {
            return Verdict::fail(format!(
                "{shown} is not a fully qualified name: it needs the domain too, e.g. {host}.<your domain>"
            ));
        }
        if !plausible_domain(&host) {
            return Verdict::fail(format!("{shown} is not a valid host name"));
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
            return v.with_fix(format!(
                "postconf -e 'myhostname = mail.{host}' && postfix reload (and make that name resolve: /etc/hosts or DNS)"
            ));
        }
        if o.resolve_timed_out {
            return Verdict::error(format!(
                "{shown}: resolving {host} on this host got {}",
                o.resolve_problem.clone().unwrap_or_default()
            ));
        }
        if let Some(p) = &o.resolve_problem {
            return Verdict::fail(format!("{shown} does not resolve on this host: {p}")).with_fix(
                format!(
                    "add `<this server's address> {host}` to /etc/hosts, or an A record in DNS"
                ),
            );
        }
        if o.addresses.is_empty() {
            return Verdict::fail(format!("{shown} resolves to no address on this host"));
        }
        Verdict::pass(format!(
            "{shown} is fully qualified and resolves to {}",
            o.addresses.join(", ")
        ))
    }
}
