//! The SMTP client (RFC 5321/3207/4954) against loopback fakes: deadlines, caps, STARTTLS, AUTH, redaction.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns panic on purpose

mod support {
    pub mod fake_smtp;
}

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use mailcheck::net::ConnectError;
use mailcheck::probe::smtp::{AuthMechanism, Command, Dir, Phase, SmtpClient, SmtpError, Timeouts};
use mailcheck::secret::Secret;
use support::fake_smtp::{self, Behaviour, TlsSetup};

const USER: &str = "root@example.com";
const PASSWORD: &str = "userpass-Secr3t";

/// Phase deadlines short enough to keep the suite fast.
fn fast() -> Timeouts {
    Timeouts::all(Duration::from_millis(400))
}

/// Every test must finish well within this, whatever the fake does.
async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), f)
        .await
        .expect("test did not finish in 5 s: some wait is unbounded")
}

async fn connect(b: Behaviour) -> (fake_smtp::FakeSmtp, Result<SmtpClient, SmtpError>) {
    let fake = fake_smtp::start(b).await;
    let client = SmtpClient::connect(fake.addr, fast()).await;
    (fake, client)
}

fn assert_no_credentials(lines: &[String]) {
    let forms = [
        PASSWORD.to_string(),
        B64.encode(PASSWORD),
        B64.encode(format!("\0{USER}\0{PASSWORD}")),
        B64.encode(USER),
    ];
    for line in lines {
        for f in &forms {
            assert!(!line.contains(f.as_str()), "transcript leaks {f:?}: {line}");
        }
    }
}

#[tokio::test]
async fn normal_dialog_greeting_ehlo_quit() {
    bounded(async {
        let (fake, client) = connect(Behaviour::Normal).await;
        let mut c = client.unwrap();
        assert_eq!(c.banner().code, 220);
        assert!(c.capabilities().is_none());
        let r = c.ehlo("probe.example").await.unwrap();
        assert_eq!(r.code, 250);
        let caps = c.capabilities().unwrap();
        assert!(caps.has("starttls"));
        assert_eq!(caps.size(), Some(Some(fake_smtp::SIZE_LIMIT)));
        assert!(caps.auth_mechanisms().is_empty());
        assert!(!c.is_tls());
        let t = c.quit().await;
        let lines = t.lines();
        assert!(
            lines.iter().any(|l| l.contains("C: EHLO probe.example")),
            "{lines:#?}"
        );
        assert!(
            lines.iter().any(|l| l.contains("S: 250-fake.example")),
            "{lines:#?}"
        );
        assert!(
            lines.iter().any(|l| l.contains("S: 221 2.0.0 Bye")),
            "{lines:#?}"
        );
        assert!(t.entries().windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
        assert_eq!(t.entries()[0].dir, Dir::Note);
        assert_eq!(fake.received()[1..], ["EHLO probe.example", "QUIT"]);
    })
    .await;
}

#[tokio::test]
async fn commands_are_sent_as_exact_bytes() {
    bounded(async {
        let (fake, client) = connect(Behaviour::Normal).await;
        let mut c = client.unwrap();
        c.ehlo("probe.example").await.unwrap();
        let big = Command::MailFrom {
            address: "probe@example.com".into(),
            params: vec![format!("SIZE={}", fake_smtp::SIZE_LIMIT + 1)],
        };
        let r = c.command(&big).await.unwrap();
        assert_eq!(r.code, 552);
        assert_eq!(r.enhanced_code(), Some("5.3.4"));
        assert!(c.command(&Command::Rset).await.unwrap().is_positive());
        let relay = c
            .command(&Command::MailFrom {
                address: "probe@example.com".into(),
                params: vec![],
            })
            .await
            .unwrap();
        assert_eq!(relay.code, 250);
        let r = c
            .command(&Command::RcptTo("x@example.net".into()))
            .await
            .unwrap();
        assert!(r.is_permanent());
        assert_eq!(
            c.command(&Command::Vrfy("root".into())).await.unwrap().code,
            252
        );
        c.quit().await;
        let got = fake.received();
        assert!(got.contains(&"MAIL FROM:<probe@example.com> SIZE=10240001".to_string()));
        assert!(got.contains(&"RCPT TO:<x@example.net>".to_string()));
    })
    .await;
}

#[tokio::test]
async fn command_with_line_break_is_not_sent() {
    bounded(async {
        let (fake, client) = connect(Behaviour::Normal).await;
        let mut c = client.unwrap();
        let e = c
            .command(&Command::RcptTo("a@b>\r\nDATA".into()))
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                SmtpError::Io {
                    phase: Phase::Rcpt,
                    ..
                }
            ),
            "{e:?}"
        );
        // The session is still fine.
        assert_eq!(c.command(&Command::Noop).await.unwrap().code, 250);
        c.quit().await;
        assert!(!fake.received().iter().any(|l| l.contains("DATA")));
    })
    .await;
}

#[tokio::test]
async fn data_dot_stuffs_and_ends_with_a_dot() {
    bounded(async {
        let (fake, client) = connect(Behaviour::Normal).await;
        let mut c = client.unwrap();
        c.ehlo("probe.example").await.unwrap();
        c.command(&Command::MailFrom {
            address: "a@example.com".into(),
            params: vec![],
        })
        .await
        .unwrap();
        c.command(&Command::RcptTo("b@example.com".into()))
            .await
            .unwrap();
        let message = b"Subject: test\n\n.leading dot\nlast line";
        let r = c.data(message).await.unwrap();
        assert_eq!(r.code, 250);
        let t = c.quit().await;
        let got = fake.received();
        let start = got.iter().position(|l| l == "DATA").unwrap();
        assert_eq!(
            got[start + 1..start + 6],
            ["Subject: test", "", "..leading dot", "last line", "."]
        );
        assert!(t.contains(&format!("<message: {} bytes, 4 lines>", message.len())));
    })
    .await;
}

#[tokio::test]
async fn tarpit_times_out_at_banner() {
    bounded(async {
        let (_fake, client) = connect(Behaviour::Tarpit).await;
        let e = client.unwrap_err();
        assert!(
            matches!(e, SmtpError::Timeout { phase: Phase::Banner, after } if after == Duration::from_millis(400)),
            "{e:?}"
        );
        assert!(e.is_timeout());
        assert_eq!(e.to_string(), "no banner after 400 ms");
    })
    .await;
}

#[tokio::test]
async fn stall_at_ehlo_times_out_at_ehlo_and_session_is_unusable() {
    bounded(async {
        let (_fake, client) = connect(Behaviour::StallAtEhlo).await;
        let mut c = client.unwrap();
        let e = c.ehlo("probe.example").await.unwrap_err();
        assert!(matches!(e, SmtpError::Timeout { phase: Phase::Ehlo, .. }), "{e:?}");
        assert_eq!(e.to_string(), "no reply to EHLO after 400 ms");
        let again = c.command(&Command::Noop).await.unwrap_err();
        assert!(matches!(again, SmtpError::Io { phase: Phase::Other, ref detail } if detail.contains("unusable")), "{again:?}");
        let t = c.quit().await;
        assert!(t.contains("no reply to EHLO after 400 ms"));
        assert!(!t.contains("QUIT"), "no QUIT on an unusable session");
    })
    .await;
}

#[tokio::test]
async fn close_at_ehlo_is_closed() {
    bounded(async {
        let (_fake, client) = connect(Behaviour::CloseAtEhlo).await;
        let e = client.unwrap().ehlo("probe.example").await.unwrap_err();
        assert!(
            matches!(e, SmtpError::Closed { phase: Phase::Ehlo }),
            "{e:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn trickle_hits_the_phase_deadline_not_a_per_byte_one() {
    bounded(async {
        // Each byte arrives well within 400 ms, the whole greeting would take ~1.2 s.
        let (_fake, client) = connect(Behaviour::Trickle(Duration::from_millis(50))).await;
        let e = client.unwrap_err();
        assert!(
            matches!(
                e,
                SmtpError::Timeout {
                    phase: Phase::Banner,
                    ..
                }
            ),
            "{e:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn trickle_one_byte_a_second() {
    bounded(async {
        let (_fake, client) = connect(Behaviour::Trickle(Duration::from_secs(1))).await;
        let e = client.unwrap_err();
        assert!(
            matches!(
                e,
                SmtpError::Timeout {
                    phase: Phase::Banner,
                    ..
                }
            ),
            "{e:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn garbage_is_a_protocol_error_with_a_clean_excerpt() {
    bounded(async {
        let (_fake, client) = connect(Behaviour::Garbage).await;
        let e = client.unwrap_err();
        let SmtpError::Protocol { phase, detail } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(*phase, Phase::Banner);
        assert!(detail.contains("HTTP/1.1 400"), "{detail}");
        assert!(!e.to_string().chars().any(char::is_control), "{e}");
        assert!(detail.chars().count() < 200);
    })
    .await;
}

#[tokio::test]
async fn ten_megabyte_line_fails_fast() {
    bounded(async {
        let (_fake, client) = connect(Behaviour::HugeLine).await;
        let e = client.unwrap_err();
        let SmtpError::Protocol { phase, detail } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(*phase, Phase::Banner);
        assert!(detail.contains("longer than 2048 bytes"), "{detail}");
        assert!(detail.chars().count() < 200);
    })
    .await;
}

#[tokio::test]
async fn hundred_thousand_line_reply_fails_fast() {
    bounded(async {
        let (_fake, client) = connect(Behaviour::HugeReply).await;
        let mut c = client.unwrap();
        let e = c.ehlo("probe.example").await.unwrap_err();
        assert!(
            matches!(e, SmtpError::Protocol { phase: Phase::Ehlo, ref detail } if detail.contains("more than 256 lines")),
            "{e:?}"
        );
        assert!(c.capabilities().is_none());
        let t = c.quit().await;
        assert!(t.entries().len() < 400, "{}", t.entries().len());
    })
    .await;
}

#[tokio::test]
async fn greeting_421_is_service_unavailable() {
    bounded(async {
        let (_fake, client) = connect(Behaviour::Greeting421).await;
        let e = client.unwrap_err();
        let SmtpError::ServiceUnavailable { phase, reply } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(*phase, Phase::Banner);
        assert_eq!(reply.code, 421);
        assert!(!e.is_timeout());
    })
    .await;
}

#[tokio::test]
async fn refused_connection_is_a_connect_error() {
    bounded(async {
        let addr = fake_smtp::closed_port().await;
        let e = SmtpClient::connect(addr, fast()).await.unwrap_err();
        assert!(
            matches!(e, SmtpError::Connect(ConnectError::Refused { .. })),
            "{e:?}"
        );
        assert_eq!(e.phase(), Phase::Connect);
    })
    .await;
}

#[tokio::test]
async fn connect_from_binds_the_source_address() {
    bounded(async {
        let fake = fake_smtp::start(Behaviour::Normal).await;
        let source: IpAddr = "127.0.0.2".parse().unwrap();
        let c = SmtpClient::connect_from(source, fake.addr, fast())
            .await
            .unwrap();
        assert!(c.transcript().contains("from 127.0.0.2:"));
        c.quit().await;
        assert_eq!(fake.received()[0], "peer 127.0.0.2");
    })
    .await;
}

#[tokio::test]
async fn starttls_refused_is_rejected() {
    bounded(async {
        let (_fake, client) = connect(Behaviour::Normal).await;
        let mut c = client.unwrap();
        c.ehlo("probe.example").await.unwrap();
        let e = c.starttls("localhost").await.unwrap_err();
        assert!(
            matches!(e, SmtpError::Rejected { phase: Phase::Starttls, ref reply } if reply.code == 454),
            "{e:?}"
        );
        // A refusal leaves the plaintext session usable.
        assert_eq!(c.command(&Command::Noop).await.unwrap().code, 250);
    })
    .await;
}

#[tokio::test]
async fn starttls_injection_is_detected_before_the_handshake() {
    bounded(async {
        let (fake, client) = connect(Behaviour::StarttlsInjection).await;
        let mut c = client.unwrap();
        c.ehlo("probe.example").await.unwrap();
        assert!(c.capabilities().is_some());
        let e = c.starttls("localhost").await.unwrap_err();
        let SmtpError::Protocol { phase, detail } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(*phase, Phase::Starttls);
        assert!(detail.starts_with("data after STARTTLS 220"), "{detail}");
        assert!(detail.contains("250 injected"), "{detail}");
        assert!(
            c.capabilities().is_none(),
            "plaintext capabilities must be dropped"
        );
        assert!(!c.is_tls());
        c.quit().await;
        assert!(!fake.received().iter().any(|l| l.starts_with("tls")));
    })
    .await;
}

#[tokio::test]
async fn close_after_starttls_220_is_a_tls_error() {
    bounded(async {
        let (_fake, client) = connect(Behaviour::StarttlsThenClose).await;
        let mut c = client.unwrap();
        c.ehlo("probe.example").await.unwrap();
        let e = c.starttls("localhost").await.unwrap_err();
        assert!(matches!(e, SmtpError::Tls { .. }), "{e:?}");
        assert_eq!(e.phase(), Phase::TlsHandshake);
        assert!(!c.is_tls());
        assert!(c.ehlo("probe.example").await.is_err());
    })
    .await;
}

#[tokio::test]
async fn auth_is_refused_without_tls_and_nothing_is_sent() {
    bounded(async {
        let setup = TlsSetup::self_signed(USER, PASSWORD);
        let (fake, client) = connect(Behaviour::Tls(setup)).await;
        let mut c = client.unwrap();
        c.ehlo("probe.example").await.unwrap();
        let e = c
            .auth(AuthMechanism::Plain, USER, &Secret::new(PASSWORD))
            .await
            .unwrap_err();
        assert!(matches!(e, SmtpError::AuthWithoutTls), "{e:?}");
        c.quit().await;
        assert!(!fake.received().iter().any(|l| l.starts_with("AUTH")));
    })
    .await;
}

/// Connects, EHLO, STARTTLS, EHLO again.
async fn tls_session(setup: TlsSetup) -> (fake_smtp::FakeSmtp, SmtpClient) {
    let cert_der = setup.cert_der.clone();
    let (fake, client) = connect(Behaviour::Tls(setup)).await;
    let mut c = client.unwrap();
    c.ehlo("probe.example").await.unwrap();
    assert!(c.capabilities().unwrap().has("STARTTLS"));
    assert!(c.capabilities().unwrap().auth_mechanisms().is_empty());
    let info = c.starttls("localhost").await.unwrap();
    assert!(c.is_tls());
    assert!(
        c.capabilities().is_none(),
        "capabilities must be dropped by STARTTLS"
    );
    assert_eq!(info.peer_chain_der, vec![cert_der]);
    let leaf = &info.certificates[0];
    assert!(leaf.self_signed);
    assert_eq!(leaf.sans, vec!["localhost", "127.0.0.1"]);
    assert!(leaf.matches_name("localhost"));
    assert!(!leaf.matches_name("mail.example.com"));
    assert!(leaf.days_left(mailcheck::clock::now()) > 300);
    assert!(!info.cipher.is_empty() && info.cipher != "unknown");
    let r = c.ehlo("probe.example").await.unwrap();
    assert_eq!(r.code, 250);
    let caps = c.capabilities().unwrap();
    assert_eq!(caps.auth_mechanisms(), vec!["PLAIN", "LOGIN"]);
    assert!(!caps.has("STARTTLS"));
    (fake, c)
}

#[tokio::test]
async fn starttls_real_handshake_then_auth_plain() {
    bounded(async {
        let (fake, mut c) = tls_session(TlsSetup::self_signed(USER, PASSWORD)).await;
        assert_eq!(c.tls_info().unwrap().protocol, "TLSv1.3");
        let r = c
            .auth(AuthMechanism::Plain, USER, &Secret::new(PASSWORD))
            .await
            .unwrap();
        assert_eq!(r.code, 235, "{r}");
        assert!(c.transcript().contains("AUTH PLAIN <redacted>"));
        assert!(c.transcript().contains("TLS handshake TLSv1.3"));
        let t = c.quit().await;
        assert_no_credentials(&t.lines());
        assert_no_credentials(&[serde_json::to_string(&t).unwrap()]);
        // The server did get the real credentials.
        let sent = B64.encode(format!("\0{USER}\0{PASSWORD}"));
        assert!(fake.received().contains(&format!("AUTH PLAIN {sent}")));
    })
    .await;
}

#[tokio::test]
async fn auth_login_good_and_bad_password() {
    bounded(async {
        let (_fake, mut c) = tls_session(TlsSetup::self_signed(USER, PASSWORD)).await;
        let r = c
            .auth(AuthMechanism::Login, USER, &Secret::new("wrong-password"))
            .await
            .unwrap();
        assert_eq!(r.code, 535, "{r}");
        let r = c
            .auth(AuthMechanism::Login, USER, &Secret::new(PASSWORD))
            .await
            .unwrap();
        assert_eq!(r.code, 235, "{r}");
        let t = c.quit().await;
        let lines = t.lines();
        assert_no_credentials(&lines);
        assert!(!lines.iter().any(|l| l.contains("wrong-password")));
        assert!(
            lines.iter().any(|l| l.ends_with("C: AUTH LOGIN")),
            "{lines:#?}"
        );
        assert!(
            lines.iter().any(|l| l.ends_with("S: 334 VXNlcm5hbWU6")),
            "{lines:#?}"
        );
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.ends_with("C: <redacted>"))
                .count(),
            4
        );
    })
    .await;
}

#[tokio::test]
async fn auth_plain_wrong_password_is_535() {
    bounded(async {
        let (_fake, mut c) = tls_session(TlsSetup::self_signed(USER, PASSWORD)).await;
        let r = c
            .auth(AuthMechanism::Plain, USER, &Secret::new("wrong-password"))
            .await
            .unwrap();
        assert_eq!(r.code, 535);
        assert!(r.is_permanent());
        let t = c.quit().await;
        assert!(!t.lines().iter().any(|l| l.contains("wrong-password")
            || l.contains(&B64.encode(format!("\0{USER}\0wrong-password")))));
    })
    .await;
}

#[tokio::test]
async fn starttls_with_tls12_only_server() {
    bounded(async {
        let mut setup = TlsSetup::self_signed(USER, PASSWORD);
        setup.tls12_only = true;
        let (_fake, mut c) = tls_session(setup).await;
        let info = c.tls_info().unwrap();
        assert_eq!(info.protocol, "TLSv1.2");
        assert!(info.cipher.starts_with("TLS_ECDHE_"), "{}", info.cipher);
        let r = c
            .auth(AuthMechanism::Plain, USER, &Secret::new(PASSWORD))
            .await
            .unwrap();
        assert_eq!(r.code, 235);
        c.quit().await;
    })
    .await;
}

#[tokio::test]
async fn data_inside_tls() {
    bounded(async {
        let (fake, mut c) = tls_session(TlsSetup::self_signed(USER, PASSWORD)).await;
        c.command(&Command::MailFrom {
            address: "a@example.com".into(),
            params: vec![],
        })
        .await
        .unwrap();
        c.command(&Command::RcptTo("b@example.com".into()))
            .await
            .unwrap();
        let r = c.data(b"Subject: x\r\n\r\nbody\r\n").await.unwrap();
        assert_eq!(r.code, 250);
        c.quit().await;
        assert!(fake.received().contains(&"body".to_string()));
    })
    .await;
}

#[tokio::test]
async fn stalled_tls_handshake_times_out() {
    bounded(async {
        let (_fake, client) = connect(Behaviour::StarttlsThenStall).await;
        let mut c = client.unwrap();
        let e = c.starttls("localhost").await.unwrap_err();
        assert!(
            matches!(
                e,
                SmtpError::Timeout {
                    phase: Phase::TlsHandshake,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "TLS handshake not finished after 400 ms");
    })
    .await;
}

#[tokio::test]
async fn service_unavailable_mid_session() {
    bounded(async {
        let (_fake, client) = connect(Behaviour::Busy421AtMail).await;
        let mut c = client.unwrap();
        c.ehlo("probe.example").await.unwrap();
        let e = c
            .command(&Command::MailFrom {
                address: "a@example.com".into(),
                params: vec![],
            })
            .await
            .unwrap_err();
        assert!(
            matches!(e, SmtpError::ServiceUnavailable { phase: Phase::Mail, ref reply } if reply.code == 421),
            "{e:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn auth_is_cancelled_when_the_server_keeps_challenging() {
    bounded(async {
        let mut setup = TlsSetup::self_signed(USER, PASSWORD);
        setup.endless_challenges = true;
        let (fake, mut c) = tls_session(setup).await;
        let r = c
            .auth(AuthMechanism::Login, USER, &Secret::new(PASSWORD))
            .await
            .unwrap();
        assert_eq!(r.code, 501, "{r}");
        let t = c.quit().await;
        assert_no_credentials(&t.lines());
        let got = fake.received();
        let auth = got.iter().position(|l| l == "AUTH LOGIN").unwrap();
        // user, password, then the cancel: never more than the mechanism has to say.
        assert_eq!(got[auth + 3], "*");
    })
    .await;
}
