//! Checks of Postfix's mail queue (postqueue(1), QSHAPE_README): no mail stuck for the virtual
//! domains.

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::context::Ctx;
use crate::probe::postfix::split_list;
use crate::probe::queue::{QueueError, QueuedMessage, read_queue};
use crate::verdict::{Verdict, worst_of};

/// T36: how long postqueue may take, how much to read, and what counts as in transit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StuckMailSpec {
    pub deadline_secs: u64,
    pub max_messages: usize,
    /// Messages in the incoming/active queue younger than this are mail in transit.
    pub min_age_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StuckMailObservation {
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
}

pub async fn stuck_mail(spec: &StuckMailSpec, ctx: &Ctx) -> Verdict {
    let cfg = match ctx.postfix().await {
        Ok(c) => c,
        Err(e) => return Verdict::error(e.to_string()),
    };
    let mut virtual_domains: Vec<String> = Vec::new();
    let mut add = |d: &str| {
        let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
        if !d.is_empty() && !virtual_domains.contains(&d) {
            virtual_domains.push(d);
        }
    };
    if let Some(a) = &ctx.account {
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
    let deadline = Duration::from_secs(spec.deadline_secs);
    let now = crate::clock::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (messages, truncated, problem) =
        match read_queue(&postqueue, deadline, spec.max_messages).await {
            Ok(q) => (q.messages, q.truncated, None),
            Err(e) => {
                let hint = match &e {
                    QueueError::Missing { .. } => "",
                    e if e.is_permission() => " (needs root or authorized_mailq_users)",
                    _ => "",
                };
                (Vec::new(), false, Some(format!("{e}{hint}")))
            }
        };
    judge_stuck_mail(
        spec,
        &StuckMailObservation {
            now,
            virtual_domains,
            messages,
            truncated,
            problem,
        },
    )
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

pub fn judge_stuck_mail(spec: &StuckMailSpec, o: &StuckMailObservation) -> Verdict {
    let evidence = json!({
        "virtual_domains": o.virtual_domains,
        "messages": o.messages.iter().take(50).collect::<Vec<_>>(),
        "queued": o.messages.len(), "truncated": o.truncated,
    });
    if let Some(p) = &o.problem {
        let error = Verdict::error(format!("cannot read the mail queue: {p}"));
        return if p.contains("needs root") {
            error.with_fix(crate::checks::sasl::AS_ROOT)
        } else {
            error
        }
        .with_evidence(evidence);
    }
    let is_virtual = |addr: &str| {
        addr.rsplit_once('@').is_some_and(|(_, d)| {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            o.virtual_domains.contains(&d)
        })
    };
    let show = |r: &crate::probe::queue::QueuedRecipient| match &r.delay_reason {
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
            _ if age < spec.min_age_secs => in_transit += 1,
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
            spec.min_age_secs,
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
    worst_of(findings, &pass).with_evidence(evidence)
}
