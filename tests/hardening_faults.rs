//! The hardening probes (H1-H7) against loopback fakes (tests/support/hardening_fake.rs): the
//! hostile and broken answers a real Postfix will not give on demand. Each probe must return
//! within its deadlines and record exactly what was sent and what came back.
#![allow(clippy::unwrap_used)]

mod support {
    pub mod hardening_fake;
}

use std::future::Future;
use std::time::Duration;

use mailcheck::probe::hardening::legacy_tls::{
    self, HelloResponse, LegacyTlsRequest, LegacyVersion,
};
use mailcheck::probe::hardening::pipelining::{self, PipeliningRequest, Variant};
use mailcheck::probe::hardening::relay_tricks::{self, Trick};
use mailcheck::probe::hardening::smuggling::{self, EndOfData, EndResponse, SmugglingRequest};
use mailcheck::probe::hardening::starttls_injection::{self, InjectionRequest};
use mailcheck::probe::hardening::{ErrorKind, Target, vrfy};
use mailcheck::probe::smtp::Timeouts;
use support::hardening_fake::{self, Fake, Tls};

const ACCOUNT: &str = "alice@fake.example";
const TOKEN: &str = "mc-1700000000-1-0000abcd";

fn target(addr: std::net::SocketAddr) -> Target {
    Target::new(addr, "localhost").with_timeouts(Timeouts::all(Duration::from_millis(800)))
}

/// Every probe must finish well within this, whatever the fake does.
async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(8), f)
        .await
        .expect("probe did not finish in 8 s: some wait is unbounded")
}

/// Observations are plain data: JSON and back gives the same value (what fixtures rely on).
fn roundtrip<T>(o: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let text = serde_json::to_string(o).unwrap();
    let back: T = serde_json::from_str(&text).unwrap();
    assert_eq!(&back, o, "{text}");
}

fn smuggling_request(end: EndOfData) -> SmugglingRequest {
    SmugglingRequest {
        account: ACCOUNT.to_string(),
        token: TOKEN.to_string(),
        end,
        wait: Duration::from_millis(400),
    }
}

// ------------------------------------------------------------------------------------ H1

#[tokio::test]
async fn h1_a_server_that_takes_the_bare_lf_end_queues_the_message() {
    bounded(async {
        let fake = hardening_fake::start(Fake::Lenient).await;
        for end in [
            EndOfData::LfDotCrLf,
            EndOfData::CrLfDotLf,
            EndOfData::LfDotLf,
        ] {
            let o = smuggling::probe(&target(fake.addr), &smuggling_request(end)).await;
            assert_eq!(o.response, EndResponse::Accepted, "{end:?}: {o:#?}");
            roundtrip(&o);
            assert_eq!(o.end_reply.as_ref().and_then(|s| s.code()), Some(250));
            assert_eq!(o.queue_id.as_deref(), Some("FAKEQ123"));
            let id = o.message_id.clone().unwrap();
            assert!(id.starts_with(TOKEN), "{id}");
            assert!(
                o.transcript
                    .iter()
                    .any(|l| l.contains("instead of <CR><LF>.<CR><LF>"))
            );
        }
        // On the wire: the message ends with exactly the non-standard sequence, nothing after
        // it but QUIT, and no standard end of DATA anywhere.
        for (conn, end) in fake
            .raw()
            .iter()
            .zip([&b"\n.\r\n"[..], &b"\r\n.\n"[..], &b"\n.\n"[..]])
        {
            let quit = conn.len() - b"QUIT\r\n".len();
            assert_eq!(&conn[quit..], b"QUIT\r\n");
            assert_eq!(&conn[quit - end.len()..quit], end);
            assert!(
                !conn.windows(5).any(|w| w == b"\r\n.\r\n"),
                "standard end sent"
            );
            let text = String::from_utf8_lossy(conn);
            assert!(
                text.contains(&format!("X-Mailcheck-Run: {TOKEN}\r\n")),
                "{text}"
            );
            assert_eq!(
                text.matches("MAIL FROM:").count(),
                1,
                "a second message was sent"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn h1_a_server_still_in_data_is_left_without_an_end() {
    bounded(async {
        let fake = hardening_fake::start(Fake::StrictEndOfData).await;
        let o =
            smuggling::probe(&target(fake.addr), &smuggling_request(EndOfData::LfDotCrLf)).await;
        assert_eq!(o.response, EndResponse::Silent, "{o:#?}");
        assert_eq!(o.end_reply, None);
        assert_eq!(o.queue_id, None);
        assert!(o.waited_ms >= 350, "{}", o.waited_ms);
        assert!(
            o.transcript
                .iter()
                .any(|l| l.contains("no reply within 400 ms"))
        );
        assert!(o.transcript.iter().any(|l| l.contains("without QUIT")));
        let raw = &fake.raw()[0];
        assert!(raw.ends_with(b"\n.\r\n"), "sent after the end: {raw:?}");
    })
    .await;
}

#[tokio::test]
async fn h1_a_server_that_rejects_bare_lf_is_recorded_with_its_reply() {
    bounded(async {
        let fake = hardening_fake::start(Fake::RejectBareLf).await;
        let o =
            smuggling::probe(&target(fake.addr), &smuggling_request(EndOfData::LfDotCrLf)).await;
        assert_eq!(o.response, EndResponse::Refused, "{o:#?}");
        let step = o.end_reply.unwrap();
        assert_eq!(step.code(), Some(521));
        assert!(step.describe().contains("bare <LF> received"));

        let o = smuggling::bare_lf_command(&target(fake.addr)).await;
        roundtrip(&o);
        assert_eq!(o.bare_lf_noop.as_ref().and_then(|s| s.code()), Some(521));
        assert_eq!(
            o.noop_after.as_ref().and_then(|s| s.error_kind()),
            Some(ErrorKind::Closed),
            "{o:#?}"
        );
        let lenient = hardening_fake::start(Fake::Lenient).await;
        let o = smuggling::bare_lf_command(&target(lenient.addr)).await;
        assert_eq!(o.bare_lf_noop.as_ref().and_then(|s| s.code()), Some(250));
        assert_eq!(o.noop_after.as_ref().and_then(|s| s.code()), Some(250));
        assert!(
            lenient.raw()[0].windows(6).any(|w| w == b"NOOP\nN"),
            "NOOP<LF> not sent bare"
        );
    })
    .await;
}

#[tokio::test]
async fn h1_a_stalled_or_silent_server_costs_only_the_deadlines() {
    bounded(async {
        let fake = hardening_fake::start(Fake::StallAfterEhlo).await;
        let o =
            smuggling::probe(&target(fake.addr), &smuggling_request(EndOfData::LfDotCrLf)).await;
        assert_eq!(o.response, EndResponse::NotSent);
        assert_eq!(
            o.mail.as_ref().and_then(|s| s.error_kind()),
            Some(ErrorKind::Timeout)
        );
        assert_eq!(o.message_id, None);
        let tarpit = hardening_fake::start(Fake::Tarpit).await;
        let o = smuggling::probe(
            &target(tarpit.addr),
            &smuggling_request(EndOfData::LfDotCrLf),
        )
        .await;
        let f = o.setup_failure.unwrap();
        assert_eq!(f.step, "banner");
        assert_eq!(f.outcome.error_kind(), Some(ErrorKind::Timeout));
    })
    .await;
}

#[tokio::test]
async fn h1_half_a_reply_then_silence_is_a_failure_not_silence() {
    bounded(async {
        let fake = hardening_fake::start(Fake::HalfReplyAtEndOfData).await;
        let o =
            smuggling::probe(&target(fake.addr), &smuggling_request(EndOfData::LfDotCrLf)).await;
        // Bytes came, so the server did answer the bare-LF end; it is not "still in DATA".
        assert_eq!(o.response, EndResponse::Failed, "{o:#?}");
        assert_eq!(
            o.end_reply.as_ref().and_then(|s| s.error_kind()),
            Some(ErrorKind::Timeout)
        );
        assert!(
            o.transcript.iter().any(|l| l.contains("S: 250-2.0.0 Ok")),
            "{o:#?}"
        );
    })
    .await;
}

// ------------------------------------------------------------------------------------ H2

#[tokio::test]
async fn h2_a_server_that_answers_the_injected_command_inside_tls() {
    bounded(async {
        let fake = hardening_fake::start(Fake::TlsInjectable(Tls::self_signed())).await;
        let o = starttls_injection::probe(&target(fake.addr), &InjectionRequest::default()).await;
        assert_eq!(o.sent, "STARTTLS<CR><LF>NOOP<CR><LF>");
        roundtrip(&o);
        assert_eq!(
            o.starttls.as_ref().and_then(|s| s.code()),
            Some(220),
            "{o:#?}"
        );
        assert!(o.tls_protocol.is_some());
        let inside = o.reply_inside_tls.expect("the injected NOOP was answered");
        assert_eq!(inside.code(), Some(250));
        assert_eq!(o.ehlo_tls.as_ref().and_then(|s| s.code()), Some(250));
        assert_eq!(o.quit_tls.as_ref().and_then(|s| s.code()), Some(221));
        // STARTTLS and NOOP went out in one write, i.e. in the same plaintext bytes.
        let raw = String::from_utf8_lossy(&fake.raw()[0]).into_owned();
        assert!(raw.contains("STARTTLS\r\nNOOP\r\n"), "{raw:?}");
        assert_eq!(fake.lines().iter().filter(|l| *l == "NOOP").count(), 1);
    })
    .await;
}

#[tokio::test]
async fn h2_a_server_that_discards_it_says_nothing_until_ehlo() {
    bounded(async {
        let fake = hardening_fake::start(Fake::TlsSafe(Tls::self_signed())).await;
        let o = starttls_injection::probe(&target(fake.addr), &InjectionRequest::default()).await;
        assert_eq!(o.reply_inside_tls, None, "{o:#?}");
        assert_eq!(o.plaintext_after_starttls, None);
        assert_eq!(o.ehlo_tls.as_ref().and_then(|s| s.code()), Some(250));
        // The replies' order is the proof: no silent wait.
        assert_eq!(o.quit_tls.as_ref().and_then(|s| s.code()), Some(221));
        assert!(o.waited_ms < 1000, "{o:#?}");
    })
    .await;
}

#[tokio::test]
async fn h2_no_starttls_or_a_broken_handshake_is_a_setup_fact() {
    bounded(async {
        let fake = hardening_fake::start(Fake::Lenient).await;
        let o = starttls_injection::probe(&target(fake.addr), &InjectionRequest::default()).await;
        // The fake announces STARTTLS but answers 454.
        assert_eq!(
            o.starttls.as_ref().and_then(|s| s.code()),
            Some(454),
            "{o:#?}"
        );
        assert_eq!(o.reply_inside_tls, None);
        let garbage =
            hardening_fake::start(Fake::TlsAnswerThenClose(b"HTTP/1.0 400\r\n".to_vec())).await;
        let o =
            starttls_injection::probe(&target(garbage.addr), &InjectionRequest::default()).await;
        assert_eq!(o.starttls.as_ref().and_then(|s| s.code()), Some(220));
        assert!(o.handshake_error.is_some(), "{o:#?}");
        assert_eq!(o.tls_protocol, None);
    })
    .await;
}

// ------------------------------------------------------------------------------------ H3

fn pipelining_request(variant: Variant) -> PipeliningRequest {
    PipeliningRequest {
        variant,
        account: ACCOUNT.to_string(),
        wait: Duration::from_millis(300),
    }
}

#[tokio::test]
async fn h3_a_permissive_server_answers_both_and_goes_on_to_data() {
    bounded(async {
        let fake = hardening_fake::start(Fake::Lenient).await;
        let o = pipelining::probe(
            &target(fake.addr),
            &pipelining_request(Variant::EhloThenNoop),
        )
        .await;
        assert_eq!(o.sent, "EHLO mailcheck.invalid<CR><LF>NOOP<CR><LF>");
        roundtrip(&o);
        assert_eq!(o.first.as_ref().and_then(|s| s.code()), Some(250), "{o:#?}");
        assert_eq!(o.second.as_ref().and_then(|s| s.code()), Some(250));
        assert_eq!(o.data.as_ref().and_then(|s| s.code()), Some(354));
        assert!(!o.closed_by_server);
        // One write holding both commands; after DATA's 354 nothing more (no content, no QUIT).
        let raw = &fake.raw()[0];
        let text = String::from_utf8_lossy(raw);
        assert!(
            text.starts_with("EHLO mailcheck.invalid\r\nNOOP\r\nMAIL FROM:"),
            "{text:?}"
        );
        assert!(text.ends_with("DATA\r\n"), "{text:?}");
    })
    .await;
}

#[tokio::test]
async fn h3_a_strict_server_says_554_and_hangs_up() {
    bounded(async {
        let fake = hardening_fake::start(Fake::ForbidPipelining).await;
        let o = pipelining::probe(
            &target(fake.addr),
            &pipelining_request(Variant::EhloThenNoop),
        )
        .await;
        let first = o.first.clone().unwrap();
        assert_eq!(first.code(), Some(554), "{o:#?}");
        assert!(first.describe().contains("SMTP protocol synchronization"));
        assert_eq!(o.second, None);
        assert!(o.closed_by_server);
        assert_eq!(o.mail, None);

        let o = pipelining::probe(
            &target(fake.addr),
            &pipelining_request(Variant::BeforeGreeting),
        )
        .await;
        assert_eq!(
            o.banner.as_ref().and_then(|s| s.code()),
            Some(554),
            "{o:#?}"
        );
        assert!(o.closed_by_server);
        assert_eq!(o.sent, "EHLO mailcheck.invalid<CR><LF>");
    })
    .await;
}

#[tokio::test]
async fn h3_speaking_before_the_greeting_to_a_permissive_server() {
    bounded(async {
        let fake = hardening_fake::start(Fake::Lenient).await;
        let o = pipelining::probe(
            &target(fake.addr),
            &pipelining_request(Variant::BeforeGreeting),
        )
        .await;
        assert_eq!(
            o.banner.as_ref().and_then(|s| s.code()),
            Some(220),
            "{o:#?}"
        );
        assert_eq!(o.first.as_ref().and_then(|s| s.code()), Some(250));
        assert_eq!(o.second, None);
        assert_eq!(o.data.as_ref().and_then(|s| s.code()), Some(354));
    })
    .await;
}

#[tokio::test]
async fn h3_a_stall_after_the_pipelined_write_is_bounded() {
    bounded(async {
        let fake = hardening_fake::start(Fake::Tarpit).await;
        let o = pipelining::probe(
            &target(fake.addr),
            &pipelining_request(Variant::EhloThenNoop),
        )
        .await;
        let f = o.setup_failure.unwrap();
        assert_eq!(f.outcome.error_kind(), Some(ErrorKind::Timeout));
    })
    .await;
}

// ------------------------------------------------------------------------------------ H4

#[tokio::test]
async fn h4_vrfy_answers_are_recorded() {
    bounded(async {
        let fake = hardening_fake::start(Fake::Lenient).await;
        let o = vrfy::probe(&target(fake.addr), &[ACCOUNT, vrfy::POSTMASTER]).await;
        assert!(o.ehlo_offers_vrfy);
        roundtrip(&o);
        assert_eq!(o.attempts.len(), 2);
        assert_eq!(o.attempts[0].reply.code(), Some(252));
        assert_eq!(o.attempts[1].argument, "postmaster");
        let off = hardening_fake::start(Fake::NoVrfy).await;
        let o = vrfy::probe(&target(off.addr), &[ACCOUNT, vrfy::POSTMASTER]).await;
        assert!(!o.ehlo_offers_vrfy);
        assert!(
            o.attempts.iter().all(|a| a.reply.code() == Some(502)),
            "{o:#?}"
        );
        assert_eq!(
            off.lines(),
            vec![
                "EHLO mailcheck.invalid",
                "VRFY alice@fake.example",
                "VRFY postmaster",
                "QUIT"
            ]
        );
    })
    .await;
}

// ------------------------------------------------------------------------------------ H6

async fn legacy(answer: Fake, version: LegacyVersion) -> legacy_tls::LegacyTlsObservation {
    let fake = hardening_fake::start(answer).await;
    let o = legacy_tls::probe(&target(fake.addr), LegacyTlsRequest { version }).await;
    // What the fake got after STARTTLS is exactly one ClientHello record.
    let raw = fake.raw()[0].clone();
    let at = raw
        .windows(10)
        .position(|w| w == b"STARTTLS\r\n")
        .expect("STARTTLS sent")
        + 10;
    let hello = &raw[at..];
    assert_eq!(hello.len(), o.hello_bytes, "{o:#?}");
    assert_eq!(&hello[..3], &[22, 3, 1]);
    assert_eq!(u16::from_be_bytes([hello[9], hello[10]]), version.wire());
    roundtrip(&o);
    o
}

fn server_hello(version: u16, suite: u16) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    body.extend_from_slice(&[0x42; 32]);
    body.push(0);
    body.extend_from_slice(&suite.to_be_bytes());
    body.push(0);
    let mut hs = vec![2, 0, 0, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut rec = vec![22, 3, 1, 0, hs.len() as u8];
    rec.extend_from_slice(&hs);
    // A certificate record follows, as a real server sends one.
    rec.extend_from_slice(&[22, 3, 1, 0, 4, 11, 0, 0, 0]);
    rec
}

#[tokio::test]
async fn h6_a_server_hello_names_version_and_cipher() {
    bounded(async {
        let o = legacy(
            Fake::TlsAnswer(server_hello(0x0301, 0xc013)),
            LegacyVersion::Tls10,
        )
        .await;
        match o.response.unwrap() {
            HelloResponse::ServerHello {
                version_name,
                cipher_name,
                ..
            } => {
                assert_eq!(version_name, "TLSv1.0");
                assert_eq!(cipher_name.as_deref(), Some("ECDHE-RSA-AES128-SHA"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(o.sni.as_deref(), Some("localhost"));
        assert!(o.first_bytes.starts_with("16 03 01"), "{}", o.first_bytes);
    })
    .await;
}

#[tokio::test]
async fn h6_alerts_garbage_closes_and_stalls() {
    bounded(async {
        let o = legacy(Fake::TlsAnswer(vec![21, 3, 2, 0, 2, 2, 70]), LegacyVersion::Tls11).await;
        assert!(
            matches!(o.response, Some(HelloResponse::Alert { description: 70, ref description_name, .. }) if description_name == "protocol_version"),
            "{o:#?}"
        );
        let o = legacy(
            Fake::TlsAnswer(b"554 5.5.0 Error: not TLS\r\n".to_vec()),
            LegacyVersion::Tls10,
        )
        .await;
        assert!(matches!(o.response, Some(HelloResponse::NotTls { .. })), "{o:#?}");
        let o = legacy(
            Fake::TlsAnswer(vec![22, 3, 1, 0xff, 0xff, 2]),
            LegacyVersion::Tls10,
        )
        .await;
        assert!(matches!(o.response, Some(HelloResponse::Malformed { .. })), "{o:#?}");
        let o = legacy(Fake::TlsAnswerThenClose(Vec::new()), LegacyVersion::Tls10).await;
        assert!(
            matches!(o.response, Some(HelloResponse::Closed { received: 0, .. })),
            "{o:#?}"
        );
        // Half a record, then silence: the TLS deadline ends the wait.
        let o = legacy(Fake::TlsAnswer(vec![22, 3, 1, 0, 80, 2, 0]), LegacyVersion::Tls10).await;
        assert_eq!(o.response, Some(HelloResponse::Timeout { received: 7 }), "{o:#?}");
        assert!(o.waited_ms >= 700, "{}", o.waited_ms);
    })
    .await;
}

#[tokio::test]
async fn h6_no_starttls_is_a_setup_fact() {
    bounded(async {
        let fake = hardening_fake::start(Fake::Lenient).await;
        let o = legacy_tls::probe(
            &target(fake.addr),
            LegacyTlsRequest {
                version: LegacyVersion::Tls10,
            },
        )
        .await;
        assert_eq!(
            o.starttls.as_ref().and_then(|s| s.code()),
            Some(454),
            "{o:#?}"
        );
        assert_eq!(o.response, None);
    })
    .await;
}

// ------------------------------------------------------------------------------------ H7

#[tokio::test]
async fn h7_an_open_relay_accepts_every_form_and_gets_no_data() {
    bounded(async {
        let fake = hardening_fake::start(Fake::OpenRelay).await;
        let o = relay_tricks::probe(&target(fake.addr), "fake.example").await;
        assert_eq!(o.attempts.len(), Trick::ALL.len());
        roundtrip(&o);
        assert!(
            o.attempts.iter().all(|a| a.rcpt.code() == Some(250)),
            "{o:#?}"
        );
        assert_eq!(o.rset.as_ref().and_then(|s| s.code()), Some(250));
        let lines = fake.lines();
        assert!(
            !lines.iter().any(|l| l.eq_ignore_ascii_case("DATA")),
            "{lines:?}"
        );
        let rcpts: Vec<&String> = lines.iter().filter(|l| l.starts_with("RCPT")).collect();
        assert_eq!(
            rcpts,
            vec![
                "RCPT TO:<mailcheck-relay-test%example.net@fake.example>",
                "RCPT TO:<example.net!mailcheck-relay-test@fake.example>",
                "RCPT TO:<\"mailcheck-relay-test@example.net\"@fake.example>",
                "RCPT TO:<@fake.example:mailcheck-relay-test@example.net>",
                "RCPT TO:<mailcheck-relay-test@[198.51.100.7]>",
                "RCPT TO:<mailcheck-relay-test@example.net>",
            ]
        );
        for (a, l) in o.attempts.iter().zip(&rcpts) {
            assert_eq!(&a.wire, *l);
        }
    })
    .await;
}

#[tokio::test]
async fn h7_a_closed_server_refuses_the_foreign_forms() {
    bounded(async {
        let fake = hardening_fake::start(Fake::Lenient).await;
        let o = relay_tricks::probe(&target(fake.addr), "example.org").await;
        assert!(
            o.attempts.iter().all(|a| a.rcpt.code() == Some(554)),
            "{o:#?}"
        );
        let stall = hardening_fake::start(Fake::StallAfterEhlo).await;
        let o = relay_tricks::probe(&target(stall.addr), "fake.example").await;
        assert_eq!(
            o.mail.as_ref().and_then(|s| s.error_kind()),
            Some(ErrorKind::Timeout)
        );
        assert!(o.attempts.is_empty());
    })
    .await;
}
