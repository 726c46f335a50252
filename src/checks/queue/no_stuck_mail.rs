//! T36: no mail for the virtual domains is stuck in Postfix's queue (postqueue(1) -j,
//! QSHAPE_README): deferred mail fails, held and long-waiting mail warns.

use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{AS_ROOT, Kind, Unobserved};
use crate::checks::values::Span;
use crate::facts::Facts;
use crate::probe::postfix::split_list;
use crate::probe::queue::{QueuedMessage, QueuedRecipient, read_queue};
use crate::verdict::{Verdict, worst_of};

/// T36: how long postqueue may take, how much to read, and what counts as in transit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// How long `postqueue -j` may take, e.g. "10s".
    pub deadline: Span,
    pub max_messages: usize,
    /// Messages in the incoming/active queue younger than this are mail in transit.
    pub min_age: Span,
}

/// What T36 looks at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    /// Seconds since the epoch when the queue was read.
    pub now: u64,
    /// Domains whose mail this server stores (the account's, /etc/mailname, main.cf's literal
    /// virtual_mailbox_domains / virtual_alias_domains entries).
    pub virtual_domains: Vec<String>,
    #[serde(default)]
    pub messages: Vec<QueuedMessage>,
    #[serde(default)]
    pub truncated: bool,
    /// Why the queue could not be read.
    #[serde(default)]
    pub problem: Option<String>,
    /// The failure looks like a permission problem (not root, not in authorized_mailq_users).
    #[serde(default)]
    pub needs_root: bool,
}

/// T36: the kind.
pub struct NoStuckMail;

impl Kind for NoStuckMail {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let mut virtual_domains: Vec<String> = Vec::new();
        let mut add = |d: &str| {
            let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
            if !d.is_empty() && !virtual_domains.contains(&d) {
                virtual_domains.push(d);
            }
        };
        if let Some(a) = &facts.account {
            add(&a.domain);
        }
        if let Ok(m) = std::fs::read_to_string("/etc/mailname") {
            add(&m);
        }
        for param in ["virtual_mailbox_domains", "virtual_alias_domains"] {
            for item in split_list(&cfg.get(param)) {
                // Lookup tables (mysql:..., hash:...) are not read here.
                if !item.contains(':') && !item.starts_with('/') {
                    add(&item);
                }
            }
        }
        let postqueue = PathBuf::from(cfg.get("command_directory")).join("postqueue");
        let now = crate::clock::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut o = Observation {
            now,
            virtual_domains,
            messages: Vec::new(),
            truncated: false,
            problem: None,
            needs_root: false,
        };
        match read_queue(&postqueue, spec.deadline.0, spec.max_messages).await {
            Ok(q) => {
                o.messages = q.messages;
                o.truncated = q.truncated;
            }
            Err(e) => {
                o.needs_root = e.is_permission();
                o.problem = Some(e.to_string());
            }
        }
        Ok(o)
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let min_age = spec.min_age.0.as_secs();
        if let Some(p) = &o.problem {
            if o.needs_root {
                return Verdict::error(format!(
                    "cannot read the mail queue: {p} (needs root or authorized_mailq_users)"
                ))
                .with_fix(AS_ROOT);
            }
            return Verdict::error(format!("cannot read the mail queue: {p}"));
        }
        let is_virtual = |addr: &str| {
            addr.rsplit_once('@').is_some_and(|(_, d)| {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                o.virtual_domains.contains(&d)
            })
        };
        let show = |r: &QueuedRecipient| match &r.delay_reason {
            Some(why) => format!("{} ({why})", r.address),
            None => r.address.clone(),
        };
        let mut stuck_virtual = Vec::new();
        let mut stuck_other = Vec::new();
        let mut waiting = Vec::new();
        let mut held = Vec::new();
        let mut in_transit = 0usize;
        for m in &o.messages {
            let age = o.now.saturating_sub(m.arrival_time);
            match m.queue_name.as_str() {
                "deferred" => {
                    let (v, other): (Vec<_>, Vec<_>) =
                        m.recipients.iter().partition(|r| is_virtual(&r.address));
                    if !v.is_empty() {
                        stuck_virtual.push((m, v.into_iter().map(show).collect()));
                    } else {
                        stuck_other.push((m, other.into_iter().map(show).collect()));
                    }
                }
                "hold" => held.push((m, m.recipients.iter().map(show).collect())),
                _ if age < min_age => in_transit += 1,
                _ => waiting.push((
                    m,
                    m.recipients
                        .iter()
                        .map(|r| format!("{} (in {} for {age}s)", r.address, m.queue_name))
                        .collect(),
                )),
            }
        }
        let mut findings = Vec::new();
        if !stuck_virtual.is_empty() {
            findings.push(
                Verdict::fail(format!(
                    "{} deferred message(s) for the virtual domains ({}): {}",
                    stuck_virtual.len(),
                    o.virtual_domains.join(", "),
                    describe(&stuck_virtual, 5)
                ))
                .with_fix(
                    "fix the delay reason (see /var/log/mail.log or maillog_file), then `postqueue -f`; \
                     `postqueue -j` or `mailq` lists the queue",
                ),
            );
        }
        if !stuck_other.is_empty() {
            findings.push(Verdict::warn(format!(
                "{} deferred message(s) for other domains: {}",
                stuck_other.len(),
                describe(&stuck_other, 5)
            )));
        }
        if !held.is_empty() {
            findings.push(Verdict::warn(format!(
                "{} message(s) on hold: {}",
                held.len(),
                describe(&held, 5)
            )));
        }
        if !waiting.is_empty() {
            findings.push(Verdict::warn(format!(
                "{} message(s) waiting in the queue for more than {}s: {}",
                waiting.len(),
                min_age,
                describe(&waiting, 5)
            )));
        }
        if o.truncated {
            findings.push(Verdict::warn(format!(
                "the queue holds more than {} messages; only those were examined",
                spec.max_messages
            )));
        }
        let pass = if o.messages.is_empty() {
            "the mail queue is empty".to_string()
        } else {
            format!("no deferred mail; {in_transit} message(s) in transit")
        };
        worst_of(findings, &pass)
    }
}

/// "4F2A1C0123 to root@example.com (reason)" for at most `n` messages.
fn describe(list: &[(&QueuedMessage, Vec<String>)], n: usize) -> String {
    let mut parts: Vec<String> = list
        .iter()
        .take(n)
        .map(|(m, rcpts)| format!("{} to {}", m.queue_id, rcpts.join(", ")))
        .collect();
    if list.len() > n {
        parts.push(format!("and {} more", list.len() - n));
    }
    parts.join("; ")
}
