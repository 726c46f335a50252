//! probe::maillog on the corpus recorded from the lab (tests/data/maillog/: postlog files and a
//! real rsyslogd's output), on a private rsyslogd fed with logger(1), and on a journal directory
//! written by systemd-journal-remote and read with the real journalctl.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use mailcheck::probe::maillog::{
    self, ChildEnd, Client, DeliveryStatus, Event, FoundBy, Limits, LogLine, LogSettings,
    LogSource, Outcome, ReadOutcome, SessionKey, SessionMatch, Severity, SourceKind, TrailReason,
    Want, Window,
};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/maillog")
        .join(rel)
}

fn source(path: &Path) -> LogSource {
    LogSource {
        kind: SourceKind::File {
            path: path.to_path_buf(),
        },
        found_by: FoundBy::UsualName,
        mail: true,
        auth: true,
        partial: false,
    }
}

fn window(rel: &str) -> Window {
    let p = data(rel);
    let text = std::fs::read_to_string(&p).unwrap();
    Window::from_text(source(&p), &text)
}

fn texts<'a>(lines: impl IntoIterator<Item = &'a LogLine>) -> Vec<String> {
    lines.into_iter().map(|l| l.text.clone()).collect()
}

fn localhost(port: Option<u16>) -> SessionKey {
    SessionKey {
        addr: "127.0.0.1".into(),
        port,
    }
}

#[test]
fn every_corpus_line_has_a_header() {
    let mut n = 0;
    for dir in ["postlog", "rsyslog"] {
        for e in std::fs::read_dir(data(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_none_or(|x| x != "log") {
                continue;
            }
            let w = window(&format!(
                "{dir}/{}",
                p.file_name().unwrap().to_string_lossy()
            ));
            for l in &w.lines {
                n += 1;
                assert!(!l.program.is_empty(), "{}: {}", p.display(), l.raw);
                assert!(l.time.is_some(), "{}", l.raw);
                assert!(l.pid.is_some(), "{}", l.raw);
                // The severity prefix was taken off.
                assert!(!l.text.starts_with("warning: "), "{}", l.raw);
                if l.raw.contains(": warning: ") {
                    assert_eq!(l.severity, Severity::Warning, "{}", l.raw);
                }
                // Every postfix/* warning line is understood, except the ones listed.
                if l.is_postfix() && l.severity.is_problem() && l.event == Event::Other {
                    let known_other = [
                        "perhaps you need to create the maildirs in advance",
                        "maildir access problem",
                        "undeliverable postmaster notification discarded",
                        "unsupported SASL server implementation",
                        "SASL per-process initialization failed",
                        "macro processing error",
                        "empty macro name",
                    ];
                    assert!(
                        known_other.iter().any(|k| l.text.contains(k)),
                        "unclassified problem: {}",
                        l.raw
                    );
                }
            }
        }
    }
    assert!(n > 150, "{n} lines");
}

#[test]
fn send_ok_by_queue_id_message_id_and_session() {
    let w = window("postlog/send-ok.log");
    let c = maillog::correlate(
        &w,
        &Want {
            queue_ids: vec!["DFF0AC027C".into()],
            sessions: vec![localhost(None)],
            message_ids: vec!["corpus-send-ok@mailcheck.invalid".into()],
            ..Want::default()
        },
    );
    assert_eq!(c.messages.len(), 1);
    let m = c.message("DFF0AC027C").unwrap();
    assert_eq!(m.reason, TrailReason::QueueId);
    assert_eq!(m.lines.len(), 5);
    let d = m.deliveries();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].status, DeliveryStatus::Sent);
    assert_eq!(d[0].detail, "delivered to maildir");
    assert_eq!(d[0].relay, "virtual");
    assert!(m.removed());
    assert_eq!(c.sessions.len(), 1);
    let s = &c.sessions[0];
    assert_eq!(
        s.matched,
        SessionMatch::QueueId {
            queue_id: "DFF0AC027C".into()
        }
    );
    assert_eq!(
        (s.program.as_str(), s.pid, s.ended),
        ("postfix/smtpd", 4062, true)
    );
    assert_eq!(s.lines.len(), 3);
    assert!(c.problems.is_empty());
}

#[test]
fn bounce_and_its_notification() {
    let w = window("postlog/bounce.log");
    let c = maillog::correlate(
        &w,
        &Want {
            message_ids: vec!["corpus-bounce@mailcheck.invalid".into()],
            ..Want::default()
        },
    );
    assert_eq!(c.messages.len(), 2);
    let m = &c.messages[0];
    assert_eq!(m.queue_id, "F16A0C02A3");
    assert!(matches!(m.reason, TrailReason::MessageId { .. }));
    let d = &m.deliveries()[0];
    assert_eq!(d.status, DeliveryStatus::Bounced);
    assert_eq!(d.dsn, "5.4.4");
    assert_eq!(
        d.detail,
        "Host or domain name not found. Name service error for name=example.invalid type=AAAA: Host not found"
    );
    assert_eq!(m.notification(), Some("06F9EC02A9"));
    let n = &c.messages[1];
    assert_eq!(
        n.reason,
        TrailReason::NotificationOf {
            queue_id: "F16A0C02A3".into()
        }
    );
    assert_eq!(n.deliveries()[0].status, DeliveryStatus::Sent);
    // By address: the sender's address finds the original (qmgr from=, pickup from=).
    let c = maillog::correlate(
        &w,
        &Want {
            addresses: vec!["NOBODY@example.invalid".into()],
            ..Want::default()
        },
    );
    assert_eq!(c.messages[0].queue_id, "F16A0C02A3");
}

#[test]
fn port_logging_and_long_queue_ids() {
    let w = window("postlog/port-logging-long-ids.log");
    assert!(
        w.lines
            .iter()
            .all(|l| l.queue_id.as_deref() != Some("NOQUEUE"))
    );
    let c = maillog::correlate(
        &w,
        &Want {
            sessions: vec![localhost(Some(50486)), localhost(Some(1))],
            message_ids: vec!["corpus-port-logging-long-ids@mailcheck.invalid".into()],
            ..Want::default()
        },
    );
    assert_eq!(c.messages[0].queue_id, "4jfGwY51j8z5vbd");
    assert_eq!(c.messages[0].deliveries()[0].status, DeliveryStatus::Sent);
    // Port 50486 is the session; port 1 matches nothing (the logged port is another one).
    assert_eq!(c.sessions.len(), 1);
    assert_eq!(c.sessions[0].matched, SessionMatch::AddressAndPort);
    assert_eq!(
        c.sessions[0].client,
        Client {
            name: "localhost".into(),
            addr: "127.0.0.1".into(),
            port: Some(50486)
        }
    );
}

#[test]
fn tls_key_missing_is_in_the_session_start() {
    let w = window("postlog/tls-key-missing.log");
    let c = maillog::correlate(
        &w,
        &Want {
            sessions: vec![localhost(Some(40000))],
            ..Want::default()
        },
    );
    // Port not logged: matched by address, the only session from it.
    assert_eq!(c.sessions.len(), 1);
    let s = &c.sessions[0];
    assert_eq!(s.matched, SessionMatch::Address);
    assert_eq!(
        texts(&s.before_connect),
        vec![
            "No private key found in /etc/ssl/self-signed/server.pem",
            "error loading private keys and certificates from: /etc/ssl/self-signed/server.pem: disabling TLS support"
        ]
    );
    for l in &s.before_connect {
        assert_eq!(
            l.event,
            Event::Tls {
                detail: l.text.clone(),
                file: Some("/etc/ssl/self-signed/server.pem".into())
            }
        );
    }
    assert!(s.lines.iter().any(|l| matches!(
        &l.event,
        Event::LostConnection { after, timeout: false, .. } if after == "STARTTLS"
    )));
    assert_eq!(s.problems().count(), 2);
    // Problems: the two TLS warnings and bounce's postmaster notice.
    assert_eq!(c.problems.len(), 3);
}

#[test]
fn sasl_failures() {
    for (file, reason) in [
        (
            "postlog/saslauthd-stopped.log",
            "cannot connect to saslauthd server: No such file or directory",
        ),
        (
            "postlog/saslauthd-socket-permission.log",
            "cannot connect to saslauthd server: Permission denied",
        ),
    ] {
        let w = window(file);
        let c = maillog::correlate(&w, &Want::default());
        assert_eq!(
            c.problems[0].event,
            Event::SaslLibrary {
                reason: reason.into()
            },
            "{file}"
        );
        assert_eq!(
            c.problems[2].event,
            Event::SaslAuthFailed {
                client: Client {
                    name: "localhost".into(),
                    addr: "127.0.0.1".into(),
                    port: None
                },
                mechanism: "PLAIN".into(),
                reason: "generic failure".into(),
                sasl_username: Some("root@example.com".into())
            }
        );
    }
}

#[test]
fn a_password_typed_as_user_name_is_redacted_through_map_text() {
    let w = window("postlog/auth-wrong.log");
    let c = maillog::correlate(
        &w,
        &Want {
            sessions: vec![localhost(None)],
            ..Want::default()
        },
    );
    // Two sessions of the same smtpd process from 127.0.0.1: both returned, marked ambiguous.
    assert_eq!(c.sessions.len(), 2);
    assert_eq!(
        c.sessions[0].matched,
        SessionMatch::Ambiguous {
            sessions_from_address: 2
        }
    );
    let mut red = mailcheck::secret::Redactor::default();
    red.add(
        &mailcheck::secret::Secret::new("userpass"),
        Some("root@example.com"),
    );
    let json = serde_json::to_string(&c).unwrap();
    assert!(json.contains("sasl_username=userpass"));
    let mut c = c;
    c.map_text(&|s: &str| red.redact(s));
    let json = serde_json::to_string(&c).unwrap();
    assert!(!json.contains("userpass"), "{json}");
    assert!(json.contains("sasl_username=<redacted>"));
    let mut w = w;
    w.map_text(&|s: &str| red.redact(s));
    assert!(!serde_json::to_string(&w).unwrap().contains("userpass"));
}

#[test]
fn relay_and_unknown_user_rejects() {
    let w = window("postlog/relay-denied.log");
    let c = maillog::correlate(
        &w,
        &Want {
            sessions: vec![SessionKey {
                addr: "::1".into(),
                port: Some(41000),
            }],
            ..Want::default()
        },
    );
    let reject = c.sessions[0]
        .lines
        .iter()
        .find_map(|l| match &l.event {
            Event::Reject {
                stage, reply, to, ..
            } => Some((stage.clone(), reply.clone(), to.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        reject,
        (
            "RCPT".into(),
            "454 4.7.1 <mailcheck-relay-test@example.net>: Relay access denied".into(),
            Some("mailcheck-relay-test@example.net".into())
        )
    );
    let w = window("postlog/unknown-user.log");
    let Event::Reject { reply, helo, .. } = &w.lines[1].event else {
        panic!("{:?}", w.lines[1])
    };
    assert!(reply.starts_with(
        "550 5.1.1 <nobody-corpus@example.com>: Recipient address rejected: User unknown"
    ));
    assert_eq!(helo.as_deref(), Some("mailcheck-corpus.invalid"));
}

#[test]
fn database_errors_behind_a_temporary_lookup_failure() {
    for (file, server, detail) in [
        (
            "postlog/map-wrong-db-password.log",
            "127.0.0.1",
            "Access denied for user 'mailadmin'@'localhost' (using password: YES)",
        ),
        (
            "postlog/map-localhost-in-chroot.log",
            "localhost",
            "Can't connect to local server through socket '/run/mysqld/mysqld.sock' (2)",
        ),
        (
            "postlog/mysql-stopped.log",
            "127.0.0.1",
            "Can't connect to server on '127.0.0.1' (115)",
        ),
    ] {
        let w = window(file);
        let c = maillog::correlate(
            &w,
            &Want {
                addresses: vec!["root@example.com".into()],
                ..Want::default()
            },
        );
        assert_eq!(
            c.problems[0].event,
            Event::DatabaseConnect {
                kind: "mysql".into(),
                server: server.into(),
                detail: detail.into()
            },
            "{file}"
        );
        assert_eq!(c.problems[0].daemon(), "trivial-rewrite");
        assert_eq!(
            c.problems[1].event,
            Event::LookupError {
                table: "mysql:/etc/postfix/mysql_virtual_alias_maps.cf".into(),
                key: None,
                detail: "table lookup problem".into()
            }
        );
        assert_eq!(
            c.problems[2].event,
            Event::LookupError {
                table: "virtual_alias_domains".into(),
                key: None,
                detail: "lookup failure".into()
            }
        );
        // NOQUEUE rejects have no queue id, so no trail; the session shows the 451.
        assert!(c.messages.is_empty());
        let Event::Reject { reply, .. } = &w.lines[6].event else {
            panic!()
        };
        assert_eq!(
            reply,
            "451 4.3.0 <root@example.com>: Temporary lookup failure"
        );
    }
}

#[test]
fn service_that_exits_at_start_is_throttled() {
    let w = window("postlog/service-exits-at-start.log");
    let t = maillog::find_throttling(&w, "smtpd");
    assert_eq!(t.len(), 1);
    let t = &t[0];
    assert_eq!(
        t.throttle.event,
        Event::Throttling {
            command: "/usr/lib/postfix/sbin/smtpd".into()
        }
    );
    assert_eq!(
        t.exit.as_ref().unwrap().event,
        Event::ChildExit {
            command: "/usr/lib/postfix/sbin/smtpd".into(),
            pid: 5872,
            end: ChildEnd::ExitStatus(1)
        }
    );
    let fatal = t.fatal.as_ref().unwrap();
    assert_eq!(fatal.program, "postfix/submission/smtpd");
    assert_eq!(fatal.syslog_name(), "postfix/submission");
    assert_eq!(t.program(), Some("postfix/submission/smtpd"));
    assert_eq!(fatal.severity, Severity::Fatal);
    assert_eq!(fatal.text, "SASL per-process initialization failed");
    assert_eq!(
        texts(&t.warnings),
        vec!["unsupported SASL server implementation: no-such-sasl"]
    );
    assert!(maillog::find_throttling(&w, "/usr/lib/postfix/sbin/smtpd").len() == 1);
    assert!(maillog::find_throttling(&w, "qmgr").is_empty());
    // In the lab's history (other people's tests): a main.cf macro error.
    let h = window("postlog/lab-history.log");
    let t = maillog::find_throttling(&h, "smtpd");
    assert!(t.iter().any(|t| {
        t.fatal
            .as_ref()
            .is_some_and(|f| f.text == "SASL per-process initialization failed")
    }));
}

#[test]
fn lab_history_formats() {
    let h = window("postlog/lab-history.log");
    let find = |needle: &str| -> &LogLine {
        h.lines
            .iter()
            .find(|l| l.raw.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle}"))
    };
    let l = find("TLS library problem");
    assert!(matches!(&l.event, Event::Tls { file: None, .. }), "{l:?}");
    let l = find("reject: header Content-Type");
    let Event::Reject {
        stage,
        client,
        reply,
        to,
        ..
    } = &l.event
    else {
        panic!("{l:?}")
    };
    assert_eq!(stage, "header");
    assert_eq!(client.as_ref().unwrap().addr, "127.0.0.1");
    assert!(reply.starts_with("5.7.1"), "{reply}");
    assert!(to.is_some());
    assert!(l.queue_id.is_some());
    let l = find("map lookup problem for postmaster");
    assert_eq!(
        l.event,
        Event::LookupError {
            table: "virtual_alias_maps".into(),
            key: Some("postmaster@example.com".into()),
            detail: l.text.clone()
        }
    );
    let l = find("lookup error for \"root@example.com\"");
    assert!(matches!(&l.event, Event::LookupError { key: Some(k), .. } if k == "root@example.com"));
    let l = find("status=deferred");
    assert!(matches!(
        &l.event,
        Event::Delivery {
            status: DeliveryStatus::Deferred,
            ..
        }
    ));
    let l = find("lost connection after DATA (0 bytes)");
    assert!(matches!(&l.event, Event::LostConnection { after, .. } if after == "DATA (0 bytes)"));
}

#[test]
fn rsyslog_formats_parse_alike() {
    let iso = window("rsyslog/mail-rfc3339.log");
    let trad = window("rsyslog/mail-traditional.log");
    assert_eq!(iso.lines.len(), trad.lines.len());
    for (a, b) in iso.lines.iter().zip(&trad.lines) {
        assert_eq!(
            (&a.program, a.pid, &a.queue_id, &a.event, a.severity),
            (&b.program, b.pid, &b.queue_id, &b.event, b.severity)
        );
        assert_eq!(a.time.unwrap().year, Some(2026));
        assert_eq!(a.time.unwrap().utc_offset_minutes, Some(0));
        assert!(a.time.unwrap().micros.is_some());
        assert_eq!(b.time.unwrap().year, None);
        assert_eq!(a.host, "vm");
    }
    let c = maillog::correlate(
        &iso,
        &Want {
            message_ids: vec!["corpus-syslog-auth-ok@mailcheck.invalid".into()],
            ..Want::default()
        },
    );
    assert_eq!(c.messages[0].deliveries()[0].status, DeliveryStatus::Sent);
}

#[test]
fn saslauthd_and_pam_lines() {
    let w = window("rsyslog/auth.log");
    let c = maillog::correlate(&w, &Want::default());
    // The Cyrus library's auxprop notice is logged by smtpd on the auth facility, not saslauthd.
    assert_eq!(c.auth.len(), 9);
    let failures: Vec<(String, String)> = c
        .auth
        .iter()
        .filter_map(|l| match &l.event {
            Event::SaslauthdFailure {
                user,
                service,
                realm,
                mech,
                reason,
            } => {
                assert_eq!(
                    (service.as_str(), realm.as_str(), mech.as_str()),
                    ("smtp", "example.com", "pam")
                );
                Some((user.clone(), reason.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        failures,
        vec![
            ("root@example.com".into(), "PAM auth error".into()),
            ("nobody@example.com".into(), "PAM auth error".into()),
            ("root@example.com".into(), "PAM auth error".into()),
        ]
    );
    let pam: Vec<(String, String)> = c
        .auth
        .iter()
        .filter_map(|l| match &l.event {
            Event::Pam { module, detail } => Some((module.clone(), detail.clone())),
            _ => None,
        })
        .collect();
    assert!(pam.contains(&(
        "pam_mysql".into(),
        "MySQL error (Access denied for user 'mailadmin'@'localhost' (using password: YES))".into()
    )));
    assert!(pam.contains(&("pam_mysql".into(), "SELECT returned no result.".into())));
    assert!(
        pam.contains(&(
            "auth_pam".into(),
            "pam_authenticate failed: Authentication service cannot retrieve authentication info"
                .into()
        ))
    );
}

// ---------------------------------------------------------------------------------------------
// A private rsyslogd (own config, socket, pid file and output directory; not the system's).

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mc-maillog-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Kills the child (by its pid) when the test ends, however it ends.
struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

fn which(cmd: &str) -> Option<PathBuf> {
    [
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
        "/lib/systemd",
        "/usr/lib/systemd",
    ]
    .iter()
    .map(|d| Path::new(d).join(cmd))
    .find(|p| p.is_file())
}

#[tokio::test]
async fn private_rsyslogd_discovery_cursor_and_window() {
    let (Some(rsyslogd), Some(logger)) = (which("rsyslogd"), which("logger")) else {
        println!("SKIP: rsyslogd or logger not installed (apt-get install rsyslog)");
        return;
    };
    let d = tempdir("rsyslog");
    let sock = d.join("log.sock");
    std::fs::create_dir_all(d.join("work")).unwrap();
    // Debian 12's rules for mail and auth, Debian 12's default file format.
    let conf = format!(
        "global(workDirectory=\"{dir}/work\")\n\
         module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
         input(type=\"imuxsock\" Socket=\"{sock}\")\n\
         *.*;auth,authpriv.none\t\t-{dir}/syslog\n\
         auth,authpriv.*\t\t\t{dir}/auth.log\n\
         mail.*\t\t\t\t-{dir}/mail.log\n",
        dir = d.display(),
        sock = sock.display()
    );
    std::fs::write(d.join("rsyslog.conf"), conf).unwrap();
    let child = Command::new(&rsyslogd)
        .arg("-n")
        .arg("-f")
        .arg(d.join("rsyslog.conf"))
        .arg("-i")
        .arg(d.join("rsyslogd.pid"))
        .spawn()
        .unwrap();
    let _kill = Kill(child);
    wait_until("rsyslogd's socket", 10, || {
        sock.exists() && d.join("rsyslogd.pid").exists()
    });
    let log = |prio: &str, tag: &str, pid: &str, msg: &str| {
        let st = Command::new(&logger)
            .arg("-u")
            .arg(&sock)
            .args(["-p", prio, "-t", tag, &format!("--id={pid}"), "--", msg])
            .status()
            .unwrap();
        assert!(st.success());
    };
    // Lines before the cursor (they also create the files).
    log(
        "mail.info",
        "postfix/smtpd",
        "100",
        "connect from localhost[127.0.0.1]",
    );
    log("auth.info", "saslauthd", "200", "before the cursor");
    wait_until("the first lines", 10, || {
        std::fs::read_to_string(d.join("mail.log")).is_ok_and(|t| t.contains("connect from"))
            && std::fs::read_to_string(d.join("auth.log")).is_ok_and(|t| t.contains("before"))
    });

    let mut settings = LogSettings::debian("", "/var, /dev/stdout");
    settings.rsyslog_conf = d.join("rsyslog.conf");
    settings.rsyslog_pid_file = d.join("rsyslogd.pid");
    settings.usual_mail_files = vec![];
    settings.usual_auth_files = vec![];
    let disc = maillog::discover(&settings);
    let mail = disc.mail().unwrap();
    assert_eq!(
        mail.kind,
        SourceKind::File {
            path: d.join("mail.log")
        }
    );
    assert!(
        matches!(&mail.found_by, FoundBy::Rsyslog { selector, running: true, line: 6, .. } if selector == "mail.*"),
        "{:?}",
        mail.found_by
    );
    assert_eq!(
        disc.auth().unwrap().kind,
        SourceKind::File {
            path: d.join("auth.log")
        }
    );
    assert!(
        disc.considered
            .iter()
            .any(|c| c.what.ends_with("/syslog") && c.outcome == Outcome::Superseded)
    );

    let limits = Limits::default();
    let cursor = maillog::take_cursor(&disc, &limits).await;
    log(
        "mail.info",
        "postfix/smtpd",
        "4242",
        "connect from localhost[127.0.0.1]",
    );
    log(
        "mail.warning",
        "postfix/smtpd",
        "4242",
        "warning: SASL authentication failure: cannot connect to saslauthd server: Permission denied",
    );
    log(
        "mail.info",
        "postfix/smtpd",
        "4242",
        "disconnect from localhost[127.0.0.1] ehlo=2 starttls=1 auth=0/1 quit=1 commands=4/5",
    );
    log(
        "auth.notice",
        "saslauthd",
        "4243",
        "                 : auth failure: [user=root@example.com] [service=smtp] [realm=example.com] [mech=pam] [reason=PAM auth error]",
    );
    wait_until("the window's lines", 10, || {
        std::fs::read_to_string(d.join("mail.log")).is_ok_and(|t| t.contains("disconnect from"))
            && std::fs::read_to_string(d.join("auth.log")).is_ok_and(|t| t.contains("auth failure"))
    });
    let w = maillog::read_window(&cursor, &limits).await;
    assert_eq!(w.reads.len(), 2);
    for r in &w.reads {
        assert!(matches!(r.outcome, ReadOutcome::Read(_)), "{r:?}");
    }
    assert_eq!(w.lines.len(), 4, "{:#?}", w.lines);
    let c = maillog::correlate(
        &w,
        &Want {
            sessions: vec![localhost(None)],
            ..Want::default()
        },
    );
    assert_eq!(c.sessions.len(), 1);
    assert_eq!(c.sessions[0].pid, 4242);
    assert_eq!(c.sessions[0].lines.len(), 3);
    assert_eq!(c.problems.len(), 1);
    assert!(
        c.problems[0].time.unwrap().micros.is_some(),
        "RFC 3339 high precision"
    );
    assert_eq!(c.auth.len(), 1);
    assert!(
        matches!(&c.auth[0].event, Event::SaslauthdFailure { user, .. } if user == "root@example.com")
    );
    println!(
        "rsyslogd {}: discovery, cursor, window: ok",
        rsyslogd.display()
    );
}

// ---------------------------------------------------------------------------------------------
// The journal, read with the real journalctl from a journal directory that
// systemd-journal-remote writes (journald does not run on this machine).

fn journal_append(remote: &Path, file: &Path, entries: &[(u8, &str, u32, &str)]) {
    use std::io::Write as _;
    let now = std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .unwrap()
        .as_micros();
    let mut export = String::new();
    for (i, (facility, ident, pid, msg)) in entries.iter().enumerate() {
        export.push_str(&format!(
            "__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=mx\nSYSLOG_FACILITY={facility}\nSYSLOG_IDENTIFIER={ident}\n_PID={pid}\nPRIORITY=6\nMESSAGE={msg}\n\n",
            now + i as u128,
            now + i as u128
        ));
    }
    let mut child = Command::new(remote)
        .arg("-o")
        .arg(file)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(export.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

#[tokio::test]
async fn journal_cursor_and_window_with_real_journalctl() {
    let (Some(remote), Some(journalctl)) = (which("systemd-journal-remote"), which("journalctl"))
    else {
        println!("SKIP: systemd-journal-remote or journalctl not installed");
        return;
    };
    let d = tempdir("journal");
    let file = d.join("remote.journal");
    journal_append(
        &remote,
        &file,
        &[(2, "postfix/smtpd", 100, "connect from localhost[127.0.0.1]")],
    );

    let mut settings = LogSettings::debian("", "");
    settings.rsyslog_conf = d.join("no-rsyslog.conf");
    settings.usual_mail_files = vec![];
    settings.usual_auth_files = vec![];
    settings.journalctl = journalctl;
    settings.journal_directory = Some(d.clone());
    let disc = maillog::discover(&settings);
    assert_eq!(disc.sources.len(), 1);
    let j = &disc.sources[0];
    assert!(j.mail && j.auth, "{j:?}");
    let limits = Limits::default();
    let cursor = maillog::take_cursor(&disc, &limits).await;
    assert!(
        matches!(
            &cursor.marks[0].position,
            maillog::Position::Journal {
                cursor: Some(_),
                ..
            }
        ),
        "{:?}",
        cursor.marks[0].position
    );
    journal_append(
        &remote,
        &file,
        &[
            (
                2,
                "postfix/smtpd",
                4062,
                "connect from localhost[127.0.0.1]",
            ),
            (
                2,
                "postfix/smtpd",
                4062,
                "warning: SASL authentication failure: Password verification failed",
            ),
            (3, "mariadbd", 77, "not mail: daemon facility"),
            (
                4,
                "saslauthd",
                5138,
                "                 : auth failure: [user=root@example.com] [service=smtp] [realm=example.com] [mech=pam] [reason=PAM auth error]",
            ),
            (
                2,
                "postfix/smtpd",
                4062,
                "disconnect from localhost[127.0.0.1] ehlo=2 starttls=1 auth=0/1 quit=1 commands=4/5",
            ),
        ],
    );
    let w = maillog::read_window(&cursor, &limits).await;
    assert!(
        matches!(w.reads[0].outcome, ReadOutcome::Read(_)),
        "{:?}",
        w.reads[0]
    );
    let programs: Vec<&str> = w.lines.iter().map(|l| l.program.as_str()).collect();
    assert_eq!(
        programs,
        vec![
            "postfix/smtpd",
            "postfix/smtpd",
            "saslauthd",
            "postfix/smtpd"
        ],
        "{:#?}",
        w.lines
    );
    let t = w.lines[0].time.unwrap();
    assert!(t.year.is_some() && t.micros.is_some() && t.utc_offset_minutes.is_some());
    let c = maillog::correlate(
        &w,
        &Want {
            sessions: vec![localhost(None)],
            ..Want::default()
        },
    );
    assert_eq!(c.sessions.len(), 1);
    assert!(c.sessions[0].ended);
    assert_eq!(c.problems.len(), 1);
    assert_eq!(c.auth.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// The cost of a window (a benchmark, not a test: it asserts nothing about time).
//   cargo test --release --test maillog -- --ignored --nocapture

#[tokio::test]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
async fn bench_window_cost() {
    // A 10 MB log made of the corpus's real lines (or the lab's log, when readable).
    let lab_log = std::fs::read_to_string("/var/log/postfix.log").unwrap_or_default();
    let mut seed = lab_log;
    for f in [
        "postlog/send-ok.log",
        "postlog/tls-key-missing.log",
        "postlog/bounce.log",
    ] {
        seed.push_str(&std::fs::read_to_string(data(f)).unwrap());
    }
    let d = tempdir("bench");
    let file = d.join("mail.log");
    let mut text = String::with_capacity(11 << 20);
    while text.len() < 10 << 20 {
        text.push_str(&seed);
    }
    std::fs::write(&file, &text).unwrap();
    let len = text.len() as u64;
    let disc = maillog::Discovery {
        sources: vec![source(&file)],
        considered: vec![],
    };
    let limits = Limits::default();
    let want = Want {
        queue_ids: vec!["DFF0AC027C".into()],
        sessions: vec![localhost(None)],
        addresses: vec!["root@example.com".into()],
        message_ids: vec!["corpus-send-ok@mailcheck.invalid".into()],
    };
    for back in [64u64 << 10, 1 << 20, 4 << 20] {
        let mut cursor = maillog::take_cursor(&disc, &limits).await;
        if let maillog::Position::File { size, .. } = &mut cursor.marks[0].position {
            *size = len - back;
        }
        let (mut t_cursor, mut t_read, mut t_corr) = (vec![], vec![], vec![]);
        let mut lines = 0;
        for _ in 0..30 {
            let t = Instant::now();
            let _ = maillog::take_cursor(&disc, &limits).await;
            t_cursor.push(t.elapsed());
            let t = Instant::now();
            let w = maillog::read_window(&cursor, &limits).await;
            t_read.push(t.elapsed());
            let t = Instant::now();
            let c = maillog::correlate(&w, &want);
            t_corr.push(t.elapsed());
            lines = w.lines.len();
            std::hint::black_box(c);
        }
        let med = |v: &mut Vec<Duration>| {
            v.sort();
            v[v.len() / 2]
        };
        println!(
            "10 MB log, cursor {} KiB before the end: {lines} lines; cursor {:?}, read+parse {:?}, correlate {:?} (median of 30)",
            back >> 10,
            med(&mut t_cursor),
            med(&mut t_read),
            med(&mut t_corr)
        );
    }
}
