//! T5: mydestination lists no virtual mailbox domain (postconf(5) mydestination, VIRTUAL_README).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::postfix::split_list;
use crate::verdict::Verdict;

/// T5 has no parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {}

/// What T5 looks at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    /// The value as written in main.cf; `None` when the parameter is not set.
    pub written: Option<String>,
    /// Line of main.cf where it is set.
    pub line: Option<usize>,
    /// The value Postfix uses (default applied, `$names` expanded).
    pub effective: String,
    /// Domains known to be virtual mailbox domains (the account's, /etc/mailname's).
    pub virtual_domains: Vec<String>,
}

/// T5: the kind.
pub struct MydestinationEmpty;

impl Kind for MydestinationEmpty {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let mut virtual_domains = Vec::new();
        if let Some(a) = &facts.account {
            virtual_domains.push(a.domain.clone());
        }
        if let Ok(m) = std::fs::read_to_string("/etc/mailname") {
            let m = m.trim().to_ascii_lowercase();
            if !m.is_empty() && !virtual_domains.contains(&m) {
                virtual_domains.push(m);
            }
        }
        Ok(Observation {
            written: cfg.main.raw("mydestination").map(str::to_string),
            line: cfg.main.line("mydestination"),
            effective: cfg.get("mydestination"),
            virtual_domains,
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let entries = split_list(&o.effective);
        let at = match o.line {
            Some(l) => format!("main.cf line {l}"),
            None => "not set in main.cf, so Postfix's default applies".to_string(),
        };
        let clashes: Vec<&str> = entries
            .iter()
            .filter(|e| o.virtual_domains.iter().any(|d| d.eq_ignore_ascii_case(e)))
            .map(String::as_str)
            .collect();
        if !clashes.is_empty() {
            return Verdict::fail(format!(
                "mydestination = {} ({at}) lists the virtual domain {}: its mail goes to local Unix users, not to /home/vmail",
                o.effective,
                clashes.join(", ")
            ));
        }
        if entries.is_empty() {
            return Verdict::pass(format!("mydestination is empty ({at})"));
        }
        if entries.iter().any(|e| e.contains(':')) {
            return Verdict::warn(format!(
                "mydestination = {} ({at}) uses a lookup table; mailcheck cannot tell whether it lists a virtual domain",
                o.effective
            ));
        }
        Verdict::warn(format!(
            "mydestination = {} ({at}): no virtual domain in it, but the tutorial empties it",
            o.effective
        ))
    }
}
