//! Checks of main.cf settings (postconf(5)).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::context::Ctx;
use crate::probe::postfix::split_list;
use crate::verdict::Verdict;

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
