//! Delivery (T18) and the live attachment ban (T34): test mail to the account through ports 25
//! and 587, watched until it lands in the account's Maildir, then deleted. Every message carries
//! the run token; nothing else in the Maildir is touched.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::OnceCell;

use crate::checks::postfix::static_id;
use crate::context::Ctx;
use crate::probe::file::{FileKind, lstat};
use crate::probe::maildir::{self, Cleanup};
use crate::probe::maps::MysqlMap;
use crate::probe::mysql::{MapDb, escape_sql, expand_query, expand_result};
use crate::probe::postfix::map_references;
use crate::probe::smtp::{AuthMechanism, Command, Reply, SmtpClient, SmtpError};
use crate::probe::testmail::{self, AttachmentName, TestMessage};
use crate::verdict::Verdict;

/// The run's delivery state on `Ctx`: where the account's Maildir is, and which test messages
/// the server accepted but were not yet seen (so an interrupted run can still clean them up).
#[derive(Debug, Default)]
pub struct Deliveries {
    maildir: OnceCell<Result<AccountMaildir, String>>,
    pending: Mutex<Vec<String>>,
}

/// The account's Maildir, found the way Postfix finds it.
#[derive(Debug, Clone, Serialize)]
pub struct AccountMaildir {
    pub path: PathBuf,
    /// `virtual_mailbox_maps` answer, e.g. `example.com/root/`.
    pub map_answer: String,
    pub map_file: PathBuf,
    /// Leftovers of earlier interrupted runs, removed before this run sent anything.
    pub leftovers_removed: usize,
}

impl Deliveries {
    fn add_pending(&self, id: &str) {
        if let Ok(mut p) = self.pending.lock() {
            p.push(id.to_string());
        }
    }
    fn done(&self, id: &str) {
        if let Ok(mut p) = self.pending.lock() {
            p.retain(|x| x != id);
        }
    }
    /// The resolved Maildir, if any check resolved it.
    pub fn resolved(&self) -> Option<PathBuf> {
        self.maildir
            .get()
            .and_then(|r| r.as_ref().ok())
            .map(|m| m.path.clone())
    }
    /// Message-IDs accepted by the server and not yet seen in the Maildir.
    pub fn pending(&self) -> Vec<String> {
        self.pending.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

/// Runs the account through `virtual_mailbox_maps` (the first mysql: map that answers) and
/// joins the answer to `virtual_mailbox_base`.
async fn find_maildir(ctx: &Ctx) -> Result<AccountMaildir, String> {
    let account = ctx.account.as_ref().ok_or("needs --account")?;
    let cfg = ctx.postfix().await.map_err(|e| e.to_string())?;
    let base = cfg.get("virtual_mailbox_base");
    if base.is_empty() {
        return Err("virtual_mailbox_base is not set in main.cf".into());
    }
    let key = account.address.to_lowercase();
    let limit = ctx.settings.timeouts.database;
    let mut tried = Vec::new();
    for (kind, path) in map_references(&cfg.get("virtual_mailbox_maps")) {
        if kind != "mysql" {
            tried.push(format!("{kind}:{} (not a mysql map)", path.display()));
            continue;
        }
        let map = MysqlMap::load(&path).map_err(|e| e.to_string())?;
        let db = MapDb::from_map(&map);
        let query = db
            .query
            .clone()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let endpoint = db
            .first_endpoint()
            .ok_or_else(|| format!("{}: no usable hosts", path.display()))?
            .clone();
        let spec = db.conn_spec(&endpoint);
        let session = ctx
            .mysql
            .session(&spec, limit)
            .await
            .map_err(|e| e.to_string())?;
        let escape = |s: &str| escape_sql(s, session.no_backslash_escapes);
        let Ok(sql) = expand_query(&query.template, &key, &escape) else {
            tried.push(format!("{}: no query for {key}", path.display()));
            continue;
        };
        let answer = ctx
            .mysql
            .query(&spec, &sql, limit)
            .await
            .map_err(|e| e.to_string())?;
        let value = answer
            .rows
            .iter()
            .filter_map(|r| r.first().cloned().flatten())
            .find(|v| !v.is_empty())
            .and_then(|v| expand_result(&query.result_format, &v, &key));
        if let Some(v) = value {
            let path_in_base = Path::new(&base).join(v.trim_start_matches('/'));
            let leftovers = {
                let dir = path_in_base.clone();
                let token = ctx.run_token.clone();
                tokio::task::spawn_blocking(move || maildir::cleanup(&dir, &token))
                    .await
                    .map(|c| c.leftovers.len())
                    .unwrap_or(0)
            };
            return Ok(AccountMaildir {
                path: path_in_base,
                map_answer: v,
                map_file: path,
                leftovers_removed: leftovers,
            });
        }
        tried.push(format!("{}: nothing for {key}", path.display()));
    }
    Err(format!(
        "virtual_mailbox_maps has no Maildir for {key}: {}",
        if tried.is_empty() {
            "no maps".to_string()
        } else {
            tried.join("; ")
        }
    ))
}

impl Ctx {
    /// The account's Maildir, found once per run.
    pub async fn account_maildir(&self) -> Result<AccountMaildir, String> {
        self.deliveries
            .maildir
            .get_or_init(|| find_maildir(self))
            .await
            .clone()
    }
}

/// Deletes this run's test messages (and leftovers of dead runs). After an interruption, first
/// waits up to `grace` for messages the server accepted but had not delivered yet.
pub async fn cleanup(ctx: &Ctx, grace: Duration) -> Option<Cleanup> {
    let dir = ctx.deliveries.resolved()?;
    // All in-flight messages share one grace period.
    let waits = ctx
        .deliveries
        .pending()
        .into_iter()
        .map(|id| {
            let dir = dir.clone();
            async move { maildir::wait_for(&dir, &id, grace).await }
        })
        .collect::<Vec<_>>();
    let _ = futures::future::join_all(waits).await;
    let token = ctx.run_token.clone();
    tokio::task::spawn_blocking(move || maildir::cleanup(&dir, &token))
        .await
        .ok()
}

/// `[probe]` of a delivery check.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySpec {
    /// "smtp" (port 25, no AUTH: as another server delivers) or "submission" (587, STARTTLS+AUTH).
    pub via: Via,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    Smtp,
    Submission,
}

impl Via {
    fn port(self) -> u16 {
        match self {
            Via::Smtp => 25,
            Via::Submission => 587,
        }
    }
}

/// What a delivery check saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeliveryObservation {
    pub port: u16,
    pub maildir: Option<PathBuf>,
    pub maildir_problem: Option<String>,
    #[serde(default)]
    pub leftovers_removed: usize,
    /// The SMTP step that went wrong, and the reply or error.
    pub smtp_problem: Option<String>,
    /// The final reply to DATA (e.g. `250 2.0.0 Ok: queued as 4Xyz`).
    pub accepted: Option<String>,
    pub queue_id: Option<String>,
    /// Where the message landed and its owner.
    pub delivered: Option<PathBuf>,
    pub owner: Option<(u32, u32)>,
    pub waited_ms: Option<f64>,
    pub wait_problem: Option<String>,
    /// uid/gid from virtual_uid_maps / virtual_gid_maps (`static:N`), else the settings.
    pub expected_owner: (u32, u32),
    /// `cur`, `new`, `tmp` that are missing or not directories.
    #[serde(default)]
    pub missing_dirs: Vec<String>,
    /// Owners of the Maildir's directories that are not the expected ones.
    #[serde(default)]
    pub wrong_dir_owners: Vec<String>,
    /// What the mail queue says about the message, when it did not arrive.
    pub queue_note: Option<String>,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub transcript: Vec<String>,
}

/// "250 2.0.0 Ok: queued as 4Xyz" → "4Xyz".
fn queue_id(reply: &Reply) -> Option<String> {
    let text = reply.text();
    let rest = text.split("queued as ").nth(1)?;
    Some(rest.split_whitespace().next()?.to_string())
}

/// Sends `msg` to the account through `via`; returns the final reply to DATA.
async fn send(
    ctx: &Ctx,
    via: Via,
    msg: &TestMessage,
    transcript: &mut Vec<String>,
) -> Result<Reply, String> {
    let account = ctx.account.as_ref().ok_or("needs --account")?;
    let port = match via {
        Via::Smtp => ctx.settings.smtp_port,
        Via::Submission => ctx.settings.submission_port,
    };
    let addr = ctx
        .target
        .socket_addr(port)
        .ok_or("the host has no address")?;
    let _permit = ctx.connections.acquire().await.map_err(|e| e.to_string())?;
    let mut c = SmtpClient::connect(addr, ctx.smtp_timeouts())
        .await
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    let result = dialog(ctx, via, &mut c, account, msg).await;
    *transcript = c.quit().await.lines();
    result
}

async fn dialog(
    ctx: &Ctx,
    via: Via,
    c: &mut SmtpClient,
    account: &crate::context::Account,
    msg: &TestMessage,
) -> Result<Reply, String> {
    let helo = "mailcheck.invalid";
    let step = |what: &str, e: SmtpError| format!("{what}: {e}");
    let ehlo = c.ehlo(helo).await.map_err(|e| step("EHLO", e))?;
    if !ehlo.is_positive() {
        return Err(format!("EHLO refused: {ehlo}"));
    }
    let sender = match via {
        Via::Smtp => String::new(),
        Via::Submission => {
            c.starttls(&ctx.target.host)
                .await
                .map_err(|e| step("STARTTLS", e))?;
            c.ehlo(helo)
                .await
                .map_err(|e| step("EHLO after STARTTLS", e))?;
            let pw = account
                .password
                .as_ref()
                .ok_or("needs the account's password")?;
            let r = c
                .auth(AuthMechanism::Plain, &account.address, pw)
                .await
                .map_err(|e| step("AUTH PLAIN", e))?;
            if r.code != 235 {
                return Err(format!("AUTH PLAIN refused: {}", r.first_line()));
            }
            account.address.clone()
        }
    };
    let r = c
        .command(&Command::MailFrom {
            address: sender.clone(),
            params: Vec::new(),
        })
        .await
        .map_err(|e| step("MAIL FROM", e))?;
    if !r.is_positive() {
        return Err(format!("MAIL FROM:<{sender}> refused: {}", r.first_line()));
    }
    let r = c
        .command(&Command::RcptTo(account.address.clone()))
        .await
        .map_err(|e| step("RCPT TO", e))?;
    if !r.is_positive() {
        return Err(format!(
            "RCPT TO:<{}> refused: {}",
            account.address,
            r.first_line()
        ));
    }
    c.data(&msg.bytes).await.map_err(|e| step("DATA", e))
}

/// Looks for the message's queue entry (read-only `postqueue -j`) to say why it did not arrive.
async fn queue_note(queue_id: &str) -> Option<String> {
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::process::Command::new("postqueue")
            .arg("-j")
            .stdin(std::process::Stdio::null())
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

pub async fn deliver(spec: &DeliverySpec, ctx: &Ctx) -> Verdict {
    let mut o = DeliveryObservation {
        port: spec.via.port(),
        ..Default::default()
    };
    let cfg = match ctx.postfix().await {
        Ok(c) => c,
        Err(e) => return Verdict::error(e.to_string()),
    };
    o.expected_owner = (
        static_id(&cfg.get("virtual_uid_maps"))
            .and_then(Result::ok)
            .unwrap_or(ctx.settings.vmail_uid),
        static_id(&cfg.get("virtual_gid_maps"))
            .and_then(Result::ok)
            .unwrap_or(ctx.settings.vmail_gid),
    );
    let md = match ctx.account_maildir().await {
        Ok(m) => m,
        Err(e) => {
            o.maildir_problem = Some(e);
            return judge_delivery(spec, &o);
        }
    };
    o.maildir = Some(md.path.clone());
    o.leftovers_removed = md.leftovers_removed;
    let token = &ctx.run_token;
    let label = match spec.via {
        Via::Smtp => "port 25",
        Via::Submission => "port 587 with AUTH",
    };
    let Some(account) = &ctx.account else {
        return Verdict::skip("needs --account");
    };
    let msg = match testmail::plain(token, label, &account.address) {
        Ok(m) => m,
        Err(e) => return Verdict::error(e.to_string()),
    };
    ctx.deliveries.add_pending(&msg.message_id);
    let mut transcript = Vec::new();
    let reply = send(ctx, spec.via, &msg, &mut transcript).await;
    o.transcript = transcript;
    match reply {
        Err(e) => {
            ctx.deliveries.done(&msg.message_id);
            o.smtp_problem = Some(e);
        }
        Ok(r) if !r.is_positive() => {
            ctx.deliveries.done(&msg.message_id);
            o.smtp_problem = Some(format!("end of DATA refused: {}", r.first_line()));
        }
        Ok(r) => {
            o.accepted = Some(r.first_line().to_string());
            o.queue_id = queue_id(&r);
            match maildir::wait_for(&md.path, &msg.message_id, ctx.settings.timeouts.delivery).await
            {
                Ok(d) => {
                    o.delivered = Some(d.path.clone());
                    o.owner = Some((d.facts.uid, d.facts.gid));
                    o.waited_ms = Some((d.waited.as_secs_f64() * 1e5).round() / 100.0);
                    o.deleted = std::fs::remove_file(&d.path).is_ok();
                    ctx.deliveries.done(&msg.message_id);
                }
                Err(e) => {
                    o.wait_problem = Some(e.to_string());
                    if let Some(q) = &o.queue_id {
                        o.queue_note = queue_note(q).await;
                    }
                }
            }
        }
    }
    let (missing, wrong) = maildir_dirs(&md.path, o.expected_owner);
    o.missing_dirs = missing;
    o.wrong_dir_owners = wrong;
    judge_delivery(spec, &o)
}

pub fn judge_delivery(_spec: &DeliverySpec, o: &DeliveryObservation) -> Verdict {
    let evidence = serde_json::to_value(o).unwrap_or_default();
    let (uid, gid) = o.expected_owner;
    if let Some(p) = &o.maildir_problem {
        return Verdict::error(format!("cannot find the account's Maildir: {p}"))
            .with_evidence(evidence);
    }
    let dir = o
        .maildir
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    if let Some(p) = &o.smtp_problem {
        return Verdict::fail(format!(
            "test mail via port {} was not accepted: {p}",
            o.port
        ))
        .with_evidence(evidence);
    }
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
        return Verdict::fail(format!(
            "accepted via port {} ({}) but not delivered to {dir}/new{why}",
            o.port,
            o.accepted.clone().unwrap_or_default(),
        ))
        .with_evidence(evidence);
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
            "delivered via port {}, but {}",
            o.port,
            problems.join("; ")
        ))
        .with_evidence(evidence);
    }
    let leftovers = if o.leftovers_removed > 0 {
        format!(
            "; removed {} test message(s) left by an earlier interrupted run",
            o.leftovers_removed
        )
    } else {
        String::new()
    };
    Verdict::pass(format!(
        "delivered via port {} to {} in {:.1} ms, owned {uid}:{gid}{}{leftovers}",
        o.port,
        delivered.display(),
        o.waited_ms.unwrap_or_default(),
        if o.deleted { ", deleted again" } else { "" },
    ))
    .with_evidence(evidence)
}

/// `[probe]` of the live attachment-ban check.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentBanSpec {}

/// What happened to each of the two messages.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AttachmentBanObservation {
    /// Final reply to the message whose attachment name is unquoted (`name=invoice.exe`).
    pub unquoted: Option<String>,
    /// Same for the quoted name (`name="invoice.exe"`).
    pub quoted: Option<String>,
    /// Why a message could not be tried.
    pub problem: Option<String>,
    /// Accepted messages that were found and deleted.
    #[serde(default)]
    pub deleted: usize,
    #[serde(default)]
    pub transcript: Vec<String>,
}

pub async fn attachment_ban(spec: &AttachmentBanSpec, ctx: &Ctx) -> Verdict {
    let mut o = AttachmentBanObservation::default();
    let Some(account) = &ctx.account else {
        return Verdict::skip("needs --account");
    };
    // Accepted messages will be delivered: know where, so they can be deleted.
    let md = ctx.account_maildir().await.ok();
    for how in [AttachmentName::Unquoted, AttachmentName::Quoted] {
        let msg = match testmail::with_exe_attachment(&ctx.run_token, &account.address, how) {
            Ok(m) => m,
            Err(e) => return Verdict::error(e.to_string()),
        };
        ctx.deliveries.add_pending(&msg.message_id);
        let mut transcript = Vec::new();
        let r = send(ctx, Via::Smtp, &msg, &mut transcript).await;
        o.transcript.extend(transcript);
        let line = match r {
            Err(e) => {
                ctx.deliveries.done(&msg.message_id);
                o.problem = Some(e);
                break;
            }
            Ok(r) => {
                if r.is_positive() {
                    if let Some(m) = &md
                        && let Ok(d) = maildir::wait_for(
                            &m.path,
                            &msg.message_id,
                            ctx.settings.timeouts.delivery,
                        )
                        .await
                    {
                        if std::fs::remove_file(&d.path).is_ok() {
                            o.deleted += 1;
                        }
                        ctx.deliveries.done(&msg.message_id);
                    }
                } else {
                    ctx.deliveries.done(&msg.message_id);
                }
                format!("{} {}", r.code, r.first_line())
            }
        };
        match how {
            AttachmentName::Unquoted => o.unquoted = Some(line),
            AttachmentName::Quoted => o.quoted = Some(line),
        }
    }
    judge_attachment_ban(spec, &o)
}

fn refused(reply: &Option<String>) -> Option<bool> {
    reply.as_ref().map(|r| r.starts_with('5'))
}

pub fn judge_attachment_ban(_spec: &AttachmentBanSpec, o: &AttachmentBanObservation) -> Verdict {
    let evidence = serde_json::to_value(o).unwrap_or_default();
    if let Some(p) = &o.problem {
        return Verdict::error(format!("could not send the attachment test: {p}"))
            .with_evidence(evidence);
    }
    let (Some(unquoted), Some(quoted)) = (refused(&o.unquoted), refused(&o.quoted)) else {
        return Verdict::error("the attachment test did not finish").with_evidence(evidence);
    };
    let u = o.unquoted.clone().unwrap_or_default();
    let q = o.quoted.clone().unwrap_or_default();
    match (unquoted, quoted) {
        (true, true) => Verdict::pass(format!(
            "an .exe attachment is refused at the end of DATA, with the name unquoted ({u}) and quoted ({q})"
        )),
        (true, false) => Verdict::warn(format!(
            "an .exe attachment named name=invoice.exe is refused ({u}), but name=\"invoice.exe\", as mail programs write it, gets through ({q})"
        ))
        .with_fix(r#"make the rule match a closing quote: /name=[^>]*\.(bat|com|exe|dll|vbs)"?$/ REJECT in /etc/postfix/mime_header_checks, then postfix reload"#),
        (false, _) => Verdict::fail(format!(
            "an .exe attachment gets through: name=invoice.exe was accepted ({u}), name=\"invoice.exe\" too ({q})"
        )),
    }
    .with_evidence(json!(evidence))
}
