//! T34 (live): a message with an `.exe` attachment is refused at the end of DATA, with the file
//! name unquoted (what the tutorial's rule matches) and quoted (what mail programs send).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::maildir;
use crate::probe::session::{Sent, Service};
use crate::probe::testmail::{self, AttachmentName};
use crate::verdict::Verdict;

/// Where the messages go: the MX port as another server delivers (default), or the submission
/// port after STARTTLS and AUTH, from the account, as users submit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(default)]
    pub service: Service,
}

/// What happened to each of the two messages.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Observation {
    /// The message whose attachment name is unquoted (`name=invoice.exe`).
    pub unquoted: Option<Sent>,
    /// The same with the name quoted (`name="invoice.exe"`).
    pub quoted: Option<Sent>,
    /// Accepted messages that were found and deleted.
    pub deleted: usize,
}

/// T34 (live): the kind.
pub struct AttachmentBan;

impl Kind for AttachmentBan {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let submission = spec.service == Service::Submission;
        let Some(account) = &facts.account else {
            return Err(Unobserved::NotApplicable {
                reason: "needs --account".into(),
            });
        };
        let mut o = Observation::default();
        // Accepted messages will be delivered: know where, so they can be deleted.
        let md = facts.account_maildir().await.ok();
        for how in [AttachmentName::Unquoted, AttachmentName::Quoted] {
            let via = if submission { "submission" } else { "smtp" };
            let msg = testmail::with_exe_attachment(&facts.run_token, &account.address, how, via)
                .map_err(|e| Unobserved::Failed(e.to_string()))?;
            let Some(sent) = super::send(
                facts,
                submission,
                &msg,
                md.as_ref().map(|m| m.path.as_path()),
            )
            .await
            else {
                return Err(Unobserved::NotApplicable {
                    reason: if submission {
                        "needs --account and its password".into()
                    } else {
                        "needs --account".into()
                    },
                });
            };
            let accepted = sent.reply.as_ref().is_some_and(|r| r.is_positive());
            if accepted
                && let Some(m) = &md
                && let Ok(d) =
                    maildir::wait_for(&m.path, &msg.message_id, facts.settings.timeouts.delivery)
                        .await
            {
                if std::fs::remove_file(&d.path).is_ok() {
                    o.deleted += 1;
                }
                facts.ledger.settled(&msg.message_id);
            }
            let stop = sent.failure.is_some();
            match how {
                AttachmentName::Unquoted => o.unquoted = Some(sent),
                AttachmentName::Quoted => o.quoted = Some(sent),
            }
            if stop {
                break;
            }
        }
        Ok(o)
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let v = ban_verdict(o);
        // On submission, say where (and as whom): the MX port's messages stay as they were.
        match (spec.service, &o.unquoted) {
            (Service::Submission, Some(s)) => Verdict {
                message: format!("{} (after STARTTLS and AUTH): {}", s.addr, v.message),
                ..v
            },
            _ => v,
        }
    }
}

fn ban_verdict(o: &Observation) -> Verdict {
    for s in [&o.unquoted, &o.quoted].into_iter().flatten() {
        if let Some(f) = &s.failure {
            return Verdict::error(format!(
                "could not send the attachment test: {}",
                f.describe()
            ));
        }
    }
    let reply = |s: &Option<Sent>| s.as_ref().and_then(|s| s.reply.clone());
    let (Some(u), Some(q)) = (reply(&o.unquoted), reply(&o.quoted)) else {
        return Verdict::error("the attachment test did not finish");
    };
    let (ud, qd) = (u.describe(), q.describe());
    match (u.is_permanent(), q.is_permanent()) {
            (true, true) => Verdict::pass(format!(
                "an .exe attachment is refused at the end of DATA, with the name unquoted ({ud}) and quoted ({qd})"
            )),
            (true, false) => Verdict::warn(format!(
                "an .exe attachment named name=invoice.exe is refused ({ud}), but name=\"invoice.exe\", as mail programs write it, gets through ({qd})"
            ))
            .with_fix(r#"make the rule match a closing quote: /name=[^>]*\.(bat|com|exe|dll|vbs)"?$/ REJECT in /etc/postfix/mime_header_checks, then postfix reload"#),
            (false, _) => Verdict::fail(format!(
                "an .exe attachment gets through: name=invoice.exe was accepted ({ud}), name=\"invoice.exe\" too ({qd})"
            )),
        }
}
