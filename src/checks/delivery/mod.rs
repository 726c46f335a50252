//! Delivery (T18) and the live attachment ban (T34): test mail to the account through the MX
//! and submission ports, watched until it lands in the account's Maildir, then deleted. Every
//! message carries the run token; the run deletes whatever this run's checks left.

pub mod attachment_ban;
pub mod via;

use std::path::Path;

use crate::facts::Facts;
use crate::probe::session::{self, Sent};
use crate::probe::testmail::TestMessage;

/// Sends `msg` to the account: to the MX port as another server would (null sender, no AUTH),
/// or to the submission port after STARTTLS and AUTH PLAIN. The ledger knows about it from
/// before the first byte, so an interrupted run still deletes it.
pub(crate) async fn send(
    facts: &Facts,
    submission: bool,
    msg: &TestMessage,
    maildir: Option<&Path>,
) -> Option<Sent> {
    let account = facts.account.as_ref()?;
    let (port, auth, sender) = if submission {
        let pw = account.password.as_ref()?;
        (
            facts.settings.submission_port,
            Some((account, pw)),
            account.address.as_str(),
        )
    } else {
        (facts.settings.smtp_port, None, "")
    };
    facts.ledger.sending(&msg.message_id, maildir);
    let _permit = facts.connection_permit().await;
    let sent = session::send_message(
        &facts.dial(port),
        auth,
        sender,
        &account.address,
        &msg.bytes,
    )
    .await;
    if !sent.reply.as_ref().is_some_and(|r| r.is_positive()) {
        facts.ledger.settled(&msg.message_id);
    }
    Some(sent)
}
