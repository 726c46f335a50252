//! Postfix, saslauthd and PAM log lines (src/probe/maillog): each line parsed, then the lines
//! grouped by the run's queue ids, sessions and addresses, and the throttling finder.
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use mailcheck::probe::maillog::{self, FoundBy, LogSource, SessionKey, SourceKind, Want, Window};

fuzz_target!(|data: &[u8]| {
    let text = mailcheck_fuzz::text(data);
    let source = LogSource {
        kind: SourceKind::File { path: PathBuf::from("/var/log/mail.log") },
        found_by: FoundBy::UsualName,
        mail: true,
        auth: true,
        partial: false,
    };
    let w = Window::from_text(source, &text);
    assert!(w.lines.len() <= text.len() + 1);
    for l in w.lines.iter().take(4) {
        let _ = (l.daemon(), l.syslog_name(), l.is_postfix(), l.is_auth());
    }
    let want = Want {
        queue_ids: vec!["DFF0AC027C".into(), "4jfGwY51j8z5vbd".into()],
        sessions: vec![
            SessionKey { addr: "127.0.0.1".into(), port: None },
            SessionKey { addr: "::1".into(), port: Some(50486) },
        ],
        addresses: vec!["root@example.com".into(), "".into()],
        message_ids: vec!["<x@mailcheck.invalid>".into()],
    };
    let mut c = maillog::correlate(&w, &want);
    for m in &c.messages {
        let _ = (m.deliveries(), m.removed(), m.notification(), m.problems().count());
    }
    for s in &c.sessions {
        let _ = s.problems().count();
    }
    let _ = maillog::find_throttling(&w, "smtpd");
    c.map_text(&|s: &str| s.replace('a', "b"));
    let _ = maillog::parse_client(&text);
    let _ = maillog::is_queue_id(&text);
});
