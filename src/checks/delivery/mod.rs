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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;
    use crate::facts::{Facts, Ledger};
    use crate::settings::Settings;
    use crate::target::{Account, Target};

    /// A server that greets with `greeting` and records what the client sent until it closes.
    async fn fake(greeting: &'static str) -> (u16, tokio::task::JoinHandle<Vec<u8>>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = l.local_addr().expect("addr").port();
        let h = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.expect("accept");
            s.write_all(greeting.as_bytes()).await.expect("greet");
            let mut got = Vec::new();
            let mut buf = [0u8; 512];
            while let Ok(Ok(n)) =
                tokio::time::timeout(std::time::Duration::from_secs(2), s.read(&mut buf)).await
            {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                if got.ends_with(b"QUIT\r\n") {
                    let _ = s.write_all(b"221 bye\r\n").await;
                    break;
                }
            }
            got
        });
        (port, h)
    }

    fn facts(smtp_port: u16) -> Facts {
        let settings = Settings {
            smtp_port,
            ..Settings::default()
        };
        Facts::new(
            Target {
                host: "127.0.0.1".into(),
                addrs: vec![std::net::IpAddr::from([127, 0, 0, 1])],
                local: false,
            },
            Account::parse("root@example.com", None),
            settings,
            true,
            "token".into(),
            Arc::new(Ledger::default()),
        )
    }

    #[tokio::test]
    async fn test_mail_goes_to_the_configured_port_and_sends_no_ehlo_after_a_refusing_greeting() {
        let (port, server) = fake("554 5.7.1 no service for you\r\n").await;
        let f = facts(port);
        let msg =
            crate::probe::testmail::plain("token", "label", "root@example.com").expect("message");
        let sent = send(&f, false, &msg, None)
            .await
            .expect("an account was given");
        assert!(sent.addr.ends_with(&format!(":{port}")), "{}", sent.addr);
        let failure = sent.failure.expect("refused at the greeting");
        assert_eq!(failure.step, "banner", "{failure:?}");
        let got = String::from_utf8_lossy(&server.await.expect("server")).into_owned();
        assert!(!got.contains("EHLO"), "EHLO after a 554 greeting: {got:?}");
        assert!(
            f.ledger.pending().is_empty(),
            "a refused message is not pending"
        );
    }
}
