//! probe::maillog on the real lab: finds the lab's postlog file from main.cf's values, takes a
//! cursor, sends one mail and one wrong AUTH with swaks, and reads and correlates the window.
//! Read-only on the server (the test mail is deleted from the Maildir afterwards).

use crate::support as lab;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use mailcheck::probe::maillog::{
    self, DeliveryStatus, Event, FoundBy, Limits, LogSettings, ReadOutcome, SessionKey,
    SessionMatch, SourceKind, Want,
};

fn postconf(name: &str) -> String {
    let out = Command::new("postconf")
        .args(["-h", name])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn swaks(args: &[&str]) -> String {
    let out = Command::new("swaks")
        .args([
            "--server",
            "127.0.0.1",
            "--ehlo",
            "mailcheck-maillog.invalid",
        ])
        .args(args)
        .output()
        .expect("swaks (the lab installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn postlog_window_of_one_mail_and_one_wrong_auth() {
    let guard = lab::Lab::lock();
    let lab = &guard.lab;
    let settings = LogSettings::debian(
        &postconf("maillog_file"),
        &postconf("maillog_file_prefixes"),
    );
    let disc = maillog::discover(&settings);
    let mail = disc.mail().unwrap();
    assert_eq!(
        mail.kind,
        SourceKind::File {
            path: PathBuf::from("/var/log/postfix.log")
        }
    );
    assert!(matches!(mail.found_by, FoundBy::MaillogFile { .. }));
    println!("{}", disc.summary());

    let limits = Limits::default();
    let cursor = maillog::take_cursor(&disc, &limits).await;
    let token = format!(
        "maillog-lab-{}-{}",
        std::process::id(),
        std::time::SystemTime::UNIX_EPOCH
            .elapsed()
            .unwrap()
            .as_nanos()
    );
    let message_id = format!("{token}@mailcheck.invalid");
    let out = swaks(&[
        "--port",
        "25",
        "--from",
        &lab.account,
        "--to",
        &lab.account,
        "--header",
        &format!("Subject: {token}"),
        "--header",
        &format!("Message-Id: <{message_id}>"),
        "--body",
        "maillog lab test",
    ]);
    let queue_id = out
        .lines()
        .find_map(|l| l.split("queued as ").nth(1))
        .map(|q| q.trim().to_string())
        .unwrap_or_else(|| panic!("no 250 queued as in swaks output:\n{out}"));
    swaks(&[
        "--port",
        "587",
        "-tls",
        "-a",
        "PLAIN",
        "-au",
        &lab.account,
        "-ap",
        "not-the-password",
        "--from",
        &lab.account,
        "--to",
        &lab.account,
        "--quit-after",
        "AUTH",
    ]);

    let want = Want {
        queue_ids: vec![queue_id.clone()],
        sessions: vec![SessionKey {
            addr: "127.0.0.1".into(),
            port: None,
        }],
        message_ids: vec![message_id.clone()],
        addresses: vec![lab.account.clone()],
    };
    // Delivery is asynchronous: read again until qmgr removed the message (bounded).
    let started = Instant::now();
    let (w, c) = loop {
        let w = maillog::read_window(&cursor, &limits).await;
        let c = maillog::correlate(&w, &want);
        let done = c.message(&queue_id).is_some_and(|m| m.removed())
            && c.problems
                .iter()
                .any(|l| matches!(l.event, Event::SaslAuthFailed { .. }));
        if done || started.elapsed() > Duration::from_secs(20) {
            break (w, c);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let ReadOutcome::Read(stats) = &w.reads[0].outcome else {
        panic!("{:?}", w.reads[0]);
    };
    println!(
        "window: {} lines, {} bytes, rotation {:?}",
        stats.lines, stats.bytes, stats.rotation
    );
    let m = c
        .message(&queue_id)
        .unwrap_or_else(|| panic!("no trail for {queue_id}: {:#?}", w.lines));
    let d = m.deliveries();
    assert_eq!(d.len(), 1, "{:#?}", m.lines);
    assert_eq!(d[0].status, DeliveryStatus::Sent);
    assert_eq!(d[0].to, lab.account);
    assert!(m.lines.iter().any(|l| l.event
        == Event::MessageId {
            message_id: message_id.clone()
        }));
    // Our sending session: found through the queue id it logged (other clients on 127.0.0.1
    // may be in the window too).
    let s = c
        .sessions
        .iter()
        .find(|s| matches!(&s.matched, SessionMatch::QueueId { queue_id: q } if *q == queue_id))
        .unwrap_or_else(|| panic!("no session: {:#?}", c.sessions));
    assert!(s.ended);
    let failed = c
        .problems
        .iter()
        .find_map(|l| match &l.event {
            Event::SaslAuthFailed {
                mechanism,
                sasl_username,
                ..
            } if sasl_username.as_deref() == Some(lab.account.as_str()) => Some(mechanism.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no SASL failure for {}: {:#?}", lab.account, c.problems));
    assert_eq!(failed, "PLAIN");

    // Delete the test mail.
    let (local, domain) = lab.account.split_once('@').unwrap();
    for sub in ["new", "cur"] {
        let dir = PathBuf::from(format!("/home/vmail/{domain}/{local}/{sub}"));
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains(&token)) {
                std::fs::remove_file(e.path()).unwrap();
            }
        }
    }
}
