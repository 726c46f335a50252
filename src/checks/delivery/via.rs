//! T18: test mail to the account, sent to the MX port (as another server delivers) or to the
//! submission port (STARTTLS + AUTH), lands in the account's Maildir owned by the vmail ids.

use std::path::{Path, PathBuf};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::judge::with_log;
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::facts::maillog::{LogExcerpt, LogQuery, Topic};
use crate::probe::file::{FileKind, lstat};
use crate::probe::maildir;
use crate::probe::postfix::{StaticId, static_id};
use crate::probe::session::Sent;
use crate::probe::testmail;
use crate::verdict::Verdict;

/// `[probe]` of a delivery check: which port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// "smtp" (the MX port, no AUTH) or "submission" (STARTTLS + AUTH).
    pub via: Port,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Port {
    Smtp,
    Submission,
}

/// What a delivery check saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Observation {
    /// The port the message was sent to (`--smtp-port`/`--submission-port`).
    pub port: u16,
    pub maildir: Option<PathBuf>,
    pub maildir_problem: Option<String>,
    pub sent: Option<Sent>,
    /// The queue id from the 250 reply to DATA.
    pub queue_id: Option<String>,
    /// Where the message landed and its owner.
    pub delivered: Option<PathBuf>,
    pub owner: Option<(u32, u32)>,
    pub waited_ms: Option<f64>,
    pub wait_problem: Option<String>,
    /// uid/gid from virtual_uid_maps / virtual_gid_maps (`static:N`), else the settings.
    pub expected_owner: (u32, u32),
    /// `cur`, `new`, `tmp` that are missing or not directories.
    pub missing_dirs: Vec<String>,
    /// Owners of the Maildir's directories that are not the expected ones.
    pub wrong_dir_owners: Vec<String>,
    /// What the mail queue says about the message, when it did not arrive.
    pub queue_note: Option<String>,
    pub deleted: bool,
    /// What the server logged about the message or the session, when it was not delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<LogExcerpt>,
}

/// T18: the kind.
pub struct Via;

impl Kind for Via {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let submission = spec.via == Port::Submission;
        let mut o = Observation {
            port: if submission {
                facts.settings.submission_port
            } else {
                facts.settings.smtp_port
            },
            ..Default::default()
        };
        let cfg = facts.postfix().await?;
        let id = |param: &str, default: u32| match static_id(&cfg.get(param)) {
            StaticId::Id(n) => n,
            _ => default,
        };
        o.expected_owner = (
            id("virtual_uid_maps", facts.settings.vmail_uid),
            id("virtual_gid_maps", facts.settings.vmail_gid),
        );
        let md = match facts.account_maildir().await {
            Ok(m) => m,
            Err(e) => {
                o.maildir_problem = Some(e);
                return Ok(o);
            }
        };
        o.maildir = Some(md.path.clone());
        let Some(account) = &facts.account else {
            return Err(Unobserved::NotApplicable {
                reason: "needs --account".into(),
            });
        };
        let label = if submission {
            format!("port {} with AUTH", o.port)
        } else {
            format!("port {}", o.port)
        };
        let msg = testmail::plain(&facts.run_token, &label, &account.address)
            .map_err(|e| Unobserved::Failed(e.to_string()))?;
        let Some(sent) = super::send(facts, submission, &msg, Some(&md.path)).await else {
            return Err(Unobserved::NotApplicable {
                reason: "needs the account's password".into(),
            });
        };
        let accepted = sent.reply.as_ref().is_some_and(|r| r.is_positive());
        o.queue_id = sent.reply.as_ref().and_then(queue_id);
        let local = sent.local.clone();
        o.sent = Some(sent);
        let query = LogQuery {
            queue_ids: o.queue_id.iter().cloned().collect(),
            clients: local.into_iter().collect(),
            addresses: vec![account.address.clone()],
            message_ids: vec![msg.message_id.clone()],
            expect: if accepted {
                vec![Topic::Delivery]
            } else {
                vec![Topic::Reject, Topic::Sasl, Topic::Tls]
            },
            replies: o
                .sent
                .as_ref()
                .and_then(|s| s.reply.as_ref())
                .and_then(|step| {
                    let code = step.code().filter(|c| *c >= 400)?;
                    Some(match step.enhanced_code() {
                        Some(e) => format!("{code} {e}"),
                        None => format!(": {code} "),
                    })
                })
                .into_iter()
                .collect(),
        };
        if !accepted {
            o.log = Some(facts.maillog_excerpt(&query).await);
        }
        if accepted {
            let limit = facts.settings.timeouts.delivery;
            match maildir::wait_for(&md.path, &msg.message_id, limit).await {
                Ok(d) => {
                    o.delivered = Some(d.path.clone());
                    o.owner = Some((d.facts.uid, d.facts.gid));
                    o.waited_ms = Some((d.waited.as_secs_f64() * 1e5).round() / 100.0);
                    o.deleted = std::fs::remove_file(&d.path).is_ok();
                    facts.ledger.settled(&msg.message_id);
                }
                Err(e) => {
                    o.wait_problem = Some(e.to_string());
                    if let Some(q) = &o.queue_id {
                        o.queue_note = queue_note(q).await;
                    }
                    o.log = Some(facts.maillog_excerpt(&query).await);
                }
            }
        }
        let (missing, wrong) = maildir_dirs(&md.path, o.expected_owner);
        o.missing_dirs = missing;
        o.wrong_dir_owners = wrong;
        Ok(o)
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let (uid, gid) = o.expected_owner;
        let port = o.port;
        if let Some(p) = &o.maildir_problem {
            return Verdict::error(format!("cannot find the account's Maildir: {p}"));
        }
        let dir = o
            .maildir
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let Some(sent) = &o.sent else {
            return Verdict::error("no test message was sent");
        };
        let refused = &[Topic::Reject, Topic::Sasl, Topic::Tls, Topic::Lookup];
        let accepted = match (&sent.reply, &sent.failure) {
            (_, Some(f)) => {
                return with_log(
                    Verdict::fail(format!(
                        "test mail via port {port} was not accepted: {}",
                        f.describe()
                    )),
                    o.log.as_ref(),
                    refused,
                );
            }
            (Some(r), None) if !r.is_positive() => {
                return with_log(
                    Verdict::fail(format!(
                        "test mail via port {port} was not accepted: end of DATA refused: {}",
                        r.describe()
                    )),
                    o.log.as_ref(),
                    refused,
                );
            }
            (Some(r), None) => r.describe(),
            (None, None) => return Verdict::error("the test message got no reply"),
        };
        let Some(delivered) = &o.delivered else {
            let mut why = Vec::new();
            if let Some(q) = &o.queue_note {
                why.push(q.clone());
            }
            why.extend(o.wrong_dir_owners.iter().cloned());
            why.extend(o.missing_dirs.iter().cloned());
            let why = if why.is_empty() {
                String::new()
            } else {
                format!(": {}", why.join("; "))
            };
            return with_log(
                Verdict::fail(format!(
                    "accepted via port {port} ({accepted}) but not delivered to {dir}/new{why}"
                )),
                o.log.as_ref(),
                &[Topic::Delivery, Topic::Lookup, Topic::Fatal],
            );
        };
        let mut problems = Vec::new();
        if let Some((u, g)) = o.owner
            && (u, g) != (uid, gid)
        {
            problems.push(format!(
                "{} is owned {u}:{g}, not {uid}:{gid}",
                delivered.display()
            ));
        }
        problems.extend(o.missing_dirs.iter().cloned());
        problems.extend(o.wrong_dir_owners.iter().cloned());
        if !problems.is_empty() {
            return Verdict::fail(format!(
                "delivered via port {port}, but {}",
                problems.join("; ")
            ));
        }
        Verdict::pass(format!(
            "delivered via port {port} to {} in {:.1} ms, owned {uid}:{gid}{}",
            delivered.display(),
            o.waited_ms.unwrap_or_default(),
            if o.deleted { ", deleted again" } else { "" },
        ))
    }
}

/// "250 2.0.0 Ok: queued as 4Xyz" → "4Xyz".
fn queue_id(reply: &crate::probe::session::Step) -> Option<String> {
    let text = reply.describe();
    let rest = text.split("queued as ").nth(1)?;
    Some(rest.split_whitespace().next()?.to_string())
}

/// Looks for the message's queue entry (read-only `postqueue -j`) to say why it did not arrive.
async fn queue_note(queue_id: &str) -> Option<String> {
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::process::Command::new("postqueue")
            .arg("-j")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .ok()?
    .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["queue_id"] != queue_id {
            continue;
        }
        let reasons: Vec<String> = v["recipients"]
            .as_array()
            .map(|rs| {
                rs.iter()
                    .filter_map(|r| r["delay_reason"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        return Some(format!(
            "queue {queue_id} is in the {} queue{}",
            v["queue_name"].as_str().unwrap_or("?"),
            if reasons.is_empty() {
                String::new()
            } else {
                format!(": {}", reasons.join("; "))
            }
        ));
    }
    Some(format!(
        "queue {queue_id} is no longer in the queue (delivered elsewhere or bounced)"
    ))
}

fn maildir_dirs(maildir: &Path, expected: (u32, u32)) -> (Vec<String>, Vec<String>) {
    let mut missing = Vec::new();
    let mut wrong = Vec::new();
    for d in [
        maildir.to_path_buf(),
        maildir.join("cur"),
        maildir.join("new"),
        maildir.join("tmp"),
    ] {
        match lstat(&d) {
            Ok(f) if f.kind == FileKind::Dir => {
                if (f.uid, f.gid) != expected {
                    wrong.push(format!("{} is owned {}:{}", d.display(), f.uid, f.gid));
                }
            }
            Ok(_) => missing.push(format!("{} is not a directory", d.display())),
            Err(e) => {
                if d != maildir {
                    missing.push(e.to_string());
                }
            }
        }
    }
    (missing, wrong)
}
