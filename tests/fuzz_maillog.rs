//! Property tests of probe::maillog: no input panics or hangs the line parser, the window reader
//! (arbitrary bytes in a real file, non-UTF-8, CR, NUL, huge lines), the correlation, the
//! throttling finder and the rsyslog config parser. One test runs every property in turn so it
//! can count the inputs and record the total (tests/run.sh shows target/tmp/reliability.txt).

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mailcheck::probe::maillog::{
    self, FoundBy, Limits, LogSource, Mark, Position, SessionKey, SourceKind, Want, Window,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Prints a count and appends it to target/tmp/reliability.txt.
macro_rules! record {
    ($($arg:tt)*) => {{
        let line = format!($($arg)*);
        println!("{line}");
        use std::io::Write as _;
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability.txt");
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(f, "{line}");
        }
    }};
}

/// Pieces of real log lines, recombined.
const ATOMS: &[&str] = &[
    "Dec 01 23:16:00 ",
    "Dec  1 23:16:00 ",
    "2026-12-01T23:16:00.123456+01:00 ",
    "2026-12-01T23:16:00+0100 ",
    "2026-99-99T99:99:99.9999999999Z ",
    "atlantis ",
    "postfix/smtpd",
    "postfix/submission/smtpd",
    "postfix/master",
    "saslauthd",
    "[4062]",
    "[",
    "]",
    ": ",
    ":",
    " ",
    "warning: ",
    "fatal: ",
    "panic: ",
    "error: ",
    "NOQUEUE: ",
    "DFF0AC027C: ",
    "4jfGwY51j8z5vbd: ",
    "connect from ",
    "disconnect from ",
    "lost connection after ",
    " from ",
    "localhost[127.0.0.1]",
    "unknown[::1]:50486",
    "client=",
    ", sasl_method=PLAIN, sasl_username=",
    "message-id=<",
    "from=<",
    "to=<",
    "orig_to=<",
    ">",
    ", ",
    "status=",
    "sent (",
    "bounced (",
    ")",
    "relay=virtual",
    "dsn=5.1.1",
    "reject: RCPT ",
    "reject: header ",
    "; ",
    "proto=ESMTP helo=<",
    "SASL PLAIN authentication failed: ",
    "SASL authentication failure: ",
    "process /usr/lib/postfix/sbin/smtpd pid ",
    " exit status ",
    " killed by signal ",
    ": bad command startup -- throttling",
    "connect to mysql server ",
    " lookup error for \"",
    "\"",
    ": table lookup problem",
    ": query failed: ",
    " map lookup problem for ",
    " lookup failure",
    "TLS library problem: ",
    "cannot get RSA private key from file ",
    "/etc/ssl/x.pem",
    "auth failure: [user=",
    "[reason=",
    "pam_mysql - ",
    "auth_pam: ",
    "sender non-delivery notification: ",
    "removed",
    "uid=0 ",
    "=",
    "<",
    "é",
    "\u{0}",
    "\r",
    "\n",
    "\t",
    "4294967296",
    "-1",
];

fn log_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(ATOMS.to_vec()), 0..120).prop_map(|v| v.concat())
}

fn source() -> LogSource {
    LogSource {
        kind: SourceKind::File {
            path: PathBuf::from("fuzz.log"),
        },
        found_by: FoundBy::UsualName,
        mail: true,
        auth: true,
        partial: false,
    }
}

fn want() -> Want {
    Want {
        queue_ids: vec!["DFF0AC027C".into(), "4jfGwY51j8z5vbd".into()],
        sessions: vec![
            SessionKey {
                addr: "127.0.0.1".into(),
                port: None,
            },
            SessionKey {
                addr: "::1".into(),
                port: Some(50486),
            },
        ],
        addresses: vec!["".into(), "root@example.com".into()],
        message_ids: vec!["".into()],
    }
}

/// Parses, correlates and looks for throttling in `text`; returns the number of lines.
fn exercise(text: &str) -> usize {
    let w = Window::from_text(source(), text);
    let c = maillog::correlate(&w, &want());
    for m in &c.messages {
        let _ = (
            m.deliveries(),
            m.removed(),
            m.notification(),
            m.problems().count(),
        );
    }
    for s in &c.sessions {
        let _ = s.problems().count();
    }
    let _ = maillog::find_throttling(&w, "smtpd");
    let mut c = c;
    c.map_text(&|s: &str| s.replace('a', "b"));
    let _ = serde_json::to_string(&c).unwrap();
    w.lines.len()
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn maillog_never_panics_nor_hangs() {
    let mut tried = 0usize;
    let count = std::cell::Cell::new(0usize);
    let bump = || count.set(count.get() + 1);

    // 1. Log-shaped text.
    runner(1024)
        .run(&log_text(), |text| {
            bump();
            let n = exercise(&text);
            prop_assert!(n <= text.len() + 1);
            Ok(())
        })
        .unwrap();

    // 2. Arbitrary bytes (lossy UTF-8, as the reader does).
    runner(512)
        .run(&prop::collection::vec(any::<u8>(), 0..4000), |bytes| {
            bump();
            exercise(&String::from_utf8_lossy(&bytes));
            Ok(())
        })
        .unwrap();

    // 3. Huge lines: one atom-built prefix, then a piece repeated up to 100k times. A liveness
    //    bound, not a benchmark: a parser that is not linear would take minutes.
    runner(64)
        .run(
            &(
                log_text(),
                prop::sample::select(ATOMS.to_vec()),
                1usize..100_000,
            ),
            |(head, piece, times)| {
                bump();
                let line = format!("{head}{}", piece.repeat(times));
                let t = Instant::now();
                let _ = maillog::parse_line(0, &line);
                exercise(&line);
                prop_assert!(
                    t.elapsed() < Duration::from_secs(10),
                    "{} bytes",
                    line.len()
                );
                Ok(())
            },
        )
        .unwrap();

    // 4. Arbitrary bytes in a real file, read through the window reader (non-UTF-8, CR, NUL).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("mc-fuzz-maillog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("mail.log");
    let limits = Limits {
        max_bytes: 3000,
        max_lines: 40,
        max_line_bytes: 200,
        journal_deadline_ms: 1000,
    };
    runner(256)
        .run(
            &(prop::collection::vec(any::<u8>(), 0..6000), 0u64..6000),
            |(bytes, offset)| {
                bump();
                std::fs::write(&file, &bytes).unwrap();
                let cursor = maillog::Cursor {
                    taken_at: 0,
                    marks: vec![Mark {
                        source: LogSource {
                            kind: SourceKind::File { path: file.clone() },
                            ..source()
                        },
                        position: match std::fs::metadata(&file) {
                            Ok(md) => {
                                use std::os::unix::fs::MetadataExt as _;
                                Position::File {
                                    dev: md.dev(),
                                    inode: md.ino(),
                                    size: offset,
                                }
                            }
                            Err(_) => Position::Absent,
                        },
                    }],
                };
                let w = rt.block_on(maillog::read_window(&cursor, &limits));
                prop_assert!(w.lines.len() <= limits.max_lines);
                prop_assert!(w.lines.iter().all(|l| l.raw.len() <= limits.max_line_bytes));
                let _ = maillog::correlate(&w, &want());
                Ok(())
            },
        )
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    // 5. rsyslog configuration text.
    let conf_atoms = prop::sample::select(vec![
        "mail.*",
        "mail.warn",
        "mail.=info",
        "mail.!err",
        "*.*",
        ";",
        ",",
        "auth,authpriv.*",
        "mail.none",
        " ",
        "\t",
        "-/var/log/mail.log",
        "/var/log/auth.log",
        "action(",
        ")",
        "type=\"omfile\"",
        "file=\"/x\"",
        "{",
        "}",
        "if ",
        " then ",
        "$programname",
        "==",
        "'postfix'",
        ":programname, startswith, \"postfix\" ",
        "$IncludeConfig /etc/rsyslog.d/*.conf",
        "include(file=\"/x/*.conf\")",
        "#",
        "\"",
        "'",
        "\\",
        "\n",
        "é",
        "\u{0}",
    ]);
    runner(512)
        .run(
            &prop::collection::vec(conf_atoms, 0..80).prop_map(|v| v.concat()),
            |text| {
                bump();
                let p = maillog::rsyslog::parse(&text);
                prop_assert!(p.rules.len() <= text.len());
                Ok(())
            },
        )
        .unwrap();

    tried += count.get();
    record!("fuzz_maillog: {tried} inputs tried, 0 panics");
}
