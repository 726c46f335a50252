//! The hardening probes (H1-H7) on the real lab (Postfix 3.7.11, Debian 12): each probe on the lab
//! as built (the tutorial's settings) and after the Postfix parameter that hardens it, with the
//! exact replies. Every test holds the lab lock, restores the lab with up.sh, and deletes every
//! test mail a probe got accepted.
use crate::support as lab;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use lab::{Lab, LabGuard};
use mailcheck::probe::hardening::legacy_tls::{
    self, HelloResponse, LegacyTlsRequest, LegacyVersion,
};
use mailcheck::probe::hardening::pipelining::{self, PipeliningRequest, Variant};
use mailcheck::probe::hardening::relay_tricks::{self, Trick};
use mailcheck::probe::hardening::smuggling::{self, EndOfData, EndResponse, SmugglingRequest};
use mailcheck::probe::hardening::starttls_injection::{self, InjectionRequest};
use mailcheck::probe::hardening::{Target, certificate, vrfy};
use mailcheck::probe::maildir;
use mailcheck::probe::testmail;

const V6: &str = "::1";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Port `port` of the lab from `source`: `::1` is outside `mynetworks = 127.0.0.0/8`.
fn target(g: &LabGuard, source: &str, port: u16) -> Target {
    let ip: IpAddr = source.parse().unwrap();
    Target::new(SocketAddr::new(ip, port), &g.lab.hostname).from_source(ip)
}

/// Sets main.cf parameters (refusing any that make postconf warn) and reloads; the guard
/// restores the lab with up.sh when the test ends or fails.
fn set(g: &mut LabGuard, params: &[&str]) {
    let mut script = String::from("set -e\n");
    for p in params {
        script.push_str(&format!("postconf -e '{p}'\n"));
    }
    script.push_str(
        "w=$(postconf -n 2>&1 >/dev/null); [ -z \"$w\" ] || { echo \"postconf: $w\" >&2; exit 1; }\n\
         postfix reload >/dev/null 2>&1\n\
         # reload lets running smtpd processes finish first; new ones read the new main.cf.\n\
         sleep 1.5\n",
    );
    g.break_with(&script);
}

/// The lab account's Maildir.
fn maildir_of(g: &LabGuard) -> PathBuf {
    let local = g.lab.account.split('@').next().unwrap();
    PathBuf::from(format!("/home/vmail/{}/{local}", g.lab.domain))
}

/// Deletes this test's mail (by run token) and queued messages (by queue id) when dropped,
/// also when the test fails.
struct Mail {
    maildir: PathBuf,
    token: String,
    queue_ids: Vec<String>,
}

impl Mail {
    fn new(g: &LabGuard) -> Mail {
        Mail {
            maildir: maildir_of(g),
            token: testmail::new_token(),
            queue_ids: Vec::new(),
        }
    }

    /// Waits for the accepted message and deletes it; returns how many files were deleted.
    fn collect(&mut self, o: &smuggling::SmugglingObservation) -> usize {
        let id = o.message_id.clone().unwrap();
        if let Some(q) = &o.queue_id {
            self.queue_ids.push(q.clone());
        }
        let got = rt().block_on(maildir::wait_for(
            &self.maildir,
            &id,
            Duration::from_secs(30),
        ));
        assert!(got.is_ok(), "accepted message {id} not delivered: {got:?}");
        maildir::cleanup(&self.maildir, &self.token).deleted.len()
    }

    /// Asserts that nothing of this test arrived: the server dropped the unfinished message.
    fn assert_none_delivered(&self) {
        std::thread::sleep(Duration::from_secs(2));
        let c = maildir::cleanup(&self.maildir, &self.token);
        assert!(
            c.deleted.is_empty(),
            "a message that was never ended got delivered: {:?}",
            c.deleted
        );
    }
}

impl Drop for Mail {
    fn drop(&mut self) {
        for q in &self.queue_ids {
            let _ = Command::new("postsuper").args(["-d", q]).output();
        }
        let _ = maildir::cleanup(&self.maildir, &self.token);
    }
}

fn smuggle(
    g: &LabGuard,
    mail: &Mail,
    source: &str,
    end: EndOfData,
    wait: Duration,
) -> smuggling::SmugglingObservation {
    let req = SmugglingRequest {
        account: g.lab.account.clone(),
        token: mail.token.clone(),
        end,
        wait,
    };
    rt().block_on(smuggling::probe(&target(g, source, 25), &req))
}

const ENDS: [EndOfData; 3] = [
    EndOfData::LfDotCrLf,
    EndOfData::CrLfDotLf,
    EndOfData::LfDotLf,
];

// ------------------------------------------------------------------------------------ H1

/// Postfix 3.7.11's default `smtpd_forbid_bare_newline = no`: every non-standard end ends the
/// message, from inside and from outside mynetworks.
#[test]
fn h1_default_lab_takes_every_bare_lf_end() {
    let g = Lab::lock();
    let mut mail = Mail::new(&g);
    for source in [V6, "127.0.0.1"] {
        for end in ENDS {
            let o = smuggle(&g, &mail, source, end, Duration::from_secs(10));
            assert_eq!(
                o.response,
                EndResponse::Accepted,
                "{source} {end:?}:\n{}",
                o.transcript.join("\n")
            );
            let reply = o.end_reply.as_ref().unwrap().describe();
            assert!(reply.starts_with("250 2.0.0 Ok: queued as "), "{reply}");
            assert!(o.queue_id.is_some());
            assert_eq!(mail.collect(&o), 1, "{source} {end:?}");
        }
    }
}

/// The recommended fix: `normalize` with the default exclusion of `$mynetworks`. From `::1`
/// the server stays in DATA (no reply) and drops the message when the probe hangs up; from
/// 127.0.0.1 (excluded) it still takes the bare-LF end. `NOOP<LF>` is answered 250.
#[test]
fn h1_normalize_leaves_the_probe_in_data_outside_mynetworks() {
    let mut g = Lab::lock();
    let mut mail = Mail::new(&g);
    set(
        &mut g,
        &[
            "smtpd_forbid_bare_newline = normalize",
            "smtpd_forbid_bare_newline_exclusions = $mynetworks",
        ],
    );
    for end in ENDS {
        let o = smuggle(&g, &mail, V6, end, Duration::from_secs(2));
        assert_eq!(
            o.response,
            EndResponse::Silent,
            "{end:?}:\n{}",
            o.transcript.join("\n")
        );
        assert_eq!(o.end_reply, None);
    }
    mail.assert_none_delivered();
    let o = smuggle(
        &g,
        &mail,
        "127.0.0.1",
        EndOfData::LfDotCrLf,
        Duration::from_secs(10),
    );
    assert_eq!(
        o.response,
        EndResponse::Accepted,
        "mynetworks is excluded:\n{}",
        o.transcript.join("\n")
    );
    assert_eq!(mail.collect(&o), 1);
    let b = rt().block_on(smuggling::bare_lf_command(&target(&g, V6, 25)));
    assert_eq!(
        b.bare_lf_noop.as_ref().unwrap().describe(),
        "250 2.0.0 Ok",
        "{b:#?}"
    );
    assert_eq!(b.noop_after.as_ref().and_then(|s| s.code()), Some(250));
    g.restore();
}

/// `yes` is a compatibility alias of `normalize` since 3.7.10; `reject` also stays silent in
/// DATA, but answers `NOOP<LF>` with `550 5.5.2 <host> Error: bare <LF> received` and hangs up.
#[test]
fn h1_yes_and_reject_leave_the_probe_in_data_and_reject_tells_itself_by_noop_lf() {
    let mut g = Lab::lock();
    let mail = Mail::new(&g);
    set(&mut g, &["smtpd_forbid_bare_newline = yes"]);
    let o = smuggle(&g, &mail, V6, EndOfData::LfDotCrLf, Duration::from_secs(2));
    assert_eq!(
        o.response,
        EndResponse::Silent,
        "{}",
        o.transcript.join("\n")
    );
    let b = rt().block_on(smuggling::bare_lf_command(&target(&g, V6, 25)));
    assert_eq!(
        b.bare_lf_noop.as_ref().and_then(|s| s.code()),
        Some(250),
        "{b:#?}"
    );
    set(&mut g, &["smtpd_forbid_bare_newline = reject"]);
    let o = smuggle(&g, &mail, V6, EndOfData::LfDotCrLf, Duration::from_secs(2));
    assert_eq!(
        o.response,
        EndResponse::Silent,
        "{}",
        o.transcript.join("\n")
    );
    let b = rt().block_on(smuggling::bare_lf_command(&target(&g, V6, 25)));
    let host = &g.lab.hostname;
    assert_eq!(
        b.bare_lf_noop.as_ref().unwrap().describe(),
        format!("550 5.5.2 {host} Error: bare <LF> received"),
        "{b:#?}"
    );
    assert!(
        b.noop_after.as_ref().and_then(|s| s.error_kind()).is_some(),
        "{b:#?}"
    );
    mail.assert_none_delivered();
    g.restore();
}

// ------------------------------------------------------------------------------------ H2

/// Postfix discards what came with STARTTLS (since 2.8.0/2.7.3/2.6.9/2.5.12/2.4.16; no
/// parameter brings the CVE-2011-0411 behaviour back), also with
/// `smtpd_forbid_unauth_pipelining = yes`, on both ports. The weak case is the loopback fake's.
#[test]
fn h2_lab_discards_the_command_injected_with_starttls() {
    let mut g = Lab::lock();
    let req = InjectionRequest::default();
    for forbid in [false, true] {
        if forbid {
            set(&mut g, &["smtpd_forbid_unauth_pipelining = yes"]);
        }
        for port in [25, 587] {
            let o = rt().block_on(starttls_injection::probe(&target(&g, V6, port), &req));
            let ctx = format!("port {port}, forbid {forbid}:\n{}", o.transcript.join("\n"));
            assert_eq!(
                o.starttls.as_ref().unwrap().describe(),
                "220 2.0.0 Ready to start TLS",
                "{ctx}"
            );
            assert_eq!(o.plaintext_after_starttls, None, "{ctx}");
            assert_eq!(o.reply_inside_tls, None, "{ctx}");
            assert_eq!(
                o.ehlo_tls.as_ref().and_then(|s| s.code()),
                Some(250),
                "{ctx}"
            );
            assert_eq!(
                o.quit_tls.as_ref().and_then(|s| s.code()),
                Some(221),
                "{ctx}"
            );
            assert_eq!(o.tls_protocol.as_deref(), Some("TLSv1.3"), "{ctx}");
        }
    }
    g.restore();
}

// ------------------------------------------------------------------------------------ H3

fn pipelining_probe(g: &LabGuard, variant: Variant) -> pipelining::PipeliningObservation {
    let req = PipeliningRequest {
        variant,
        account: g.lab.account.clone(),
        wait: Duration::from_millis(1000),
    };
    rt().block_on(pipelining::probe(&target(g, V6, 25), &req))
}

/// Default: both pipelined commands answered, DATA accepted (the probe hangs up at 354).
/// `smtpd_forbid_unauth_pipelining = yes`: 554 and a hang-up, also to an EHLO sent before the
/// greeting. `reject_unauth_pipelining` in `smtpd_data_restrictions`: 503 to DATA.
#[test]
fn h3_pipelining_default_forbid_and_reject_unauth_pipelining() {
    let mut g = Lab::lock();
    let o = pipelining_probe(&g, Variant::EhloThenNoop);
    let ctx = o.transcript.join("\n");
    assert_eq!(o.first.as_ref().and_then(|s| s.code()), Some(250), "{ctx}");
    assert_eq!(
        o.second.as_ref().unwrap().describe(),
        "250 2.0.0 Ok",
        "{ctx}"
    );
    assert_eq!(o.data.as_ref().and_then(|s| s.code()), Some(354), "{ctx}");
    assert!(!o.closed_by_server);

    set(&mut g, &["smtpd_forbid_unauth_pipelining = yes"]);
    let o = pipelining_probe(&g, Variant::EhloThenNoop);
    let ctx = o.transcript.join("\n");
    assert_eq!(
        o.first.as_ref().unwrap().describe(),
        "554 5.5.0 Error: SMTP protocol synchronization",
        "{ctx}"
    );
    assert_eq!(o.second, None, "{ctx}");
    assert!(o.closed_by_server, "{ctx}");
    assert_eq!(o.mail, None);
    // Racy by nature (Variant::BeforeGreeting): smtpd refuses an early talker only if the EHLO
    // is there before it greets. It greets within a millisecond once it need not ask DNS for
    // ::1's name (the lab's /etc/hosts maps it), so the EHLO may arrive after the greeting and
    // be answered normally. Both outcomes are checked; a 220 is never followed by a 554 here.
    let o = pipelining_probe(&g, Variant::BeforeGreeting);
    let ctx = o.transcript.join("\n");
    let banner = o.banner.as_ref().unwrap().describe();
    if banner.starts_with("220") {
        assert_eq!(o.first.as_ref().and_then(|s| s.code()), Some(250), "{ctx}");
        assert!(!o.closed_by_server, "{ctx}");
    } else {
        assert_eq!(
            banner, "554 5.5.0 Error: SMTP protocol synchronization",
            "{ctx}"
        );
        assert!(o.closed_by_server, "{ctx}");
    }

    set(
        &mut g,
        &[
            "smtpd_forbid_unauth_pipelining = no",
            "smtpd_data_restrictions = reject_unauth_pipelining",
        ],
    );
    let o = pipelining_probe(&g, Variant::EhloThenNoop);
    let ctx = o.transcript.join("\n");
    assert_eq!(o.second.as_ref().and_then(|s| s.code()), Some(250), "{ctx}");
    assert_eq!(o.rcpt.as_ref().and_then(|s| s.code()), Some(250), "{ctx}");
    assert_eq!(
        o.data.as_ref().unwrap().describe(),
        "503 5.5.0 <DATA>: Data command rejected: Improper use of SMTP command pipelining",
        "{ctx}"
    );
    g.restore();
}

// ------------------------------------------------------------------------------------ H4

#[test]
fn h4_vrfy_default_and_disabled() {
    let mut g = Lab::lock();
    let account = g.lab.account.clone();
    let o = rt().block_on(vrfy::probe(
        &target(&g, V6, 25),
        &[&account, vrfy::POSTMASTER],
    ));
    assert!(o.ehlo_offers_vrfy, "{o:#?}");
    assert_eq!(
        o.attempts[0].reply.describe(),
        format!("252 2.0.0 {account}")
    );
    assert_eq!(o.attempts[1].reply.describe(), "252 2.0.0 postmaster");
    set(&mut g, &["disable_vrfy_command = yes"]);
    let o = rt().block_on(vrfy::probe(
        &target(&g, V6, 25),
        &[&account, vrfy::POSTMASTER],
    ));
    assert!(!o.ehlo_offers_vrfy, "{o:#?}");
    for a in &o.attempts {
        assert_eq!(a.reply.describe(), "502 5.5.1 VRFY command is disabled");
    }
    g.restore();
}

// ------------------------------------------------------------------------------------ H6

fn hello(g: &LabGuard, port: u16, version: LegacyVersion) -> legacy_tls::LegacyTlsObservation {
    rt().block_on(legacy_tls::probe(
        &target(g, V6, port),
        LegacyTlsRequest { version },
    ))
}

fn describe(o: &legacy_tls::LegacyTlsObservation) -> String {
    format!(
        "{} on {}: {}\n{}",
        o.offered_version,
        o.endpoint.addr,
        o.response
            .as_ref()
            .map_or("no answer".into(), legacy_tls::describe),
        o.transcript.join("\n")
    )
}

/// Default (`smtpd_tls_protocols = >=TLSv1`, `smtpd_tls_mandatory_protocols = >=TLSv1`,
/// Debian's OpenSSL 3.0): TLS 1.0 and 1.1 are accepted on both ports, with
/// ECDHE-RSA-AES128-SHA. `smtpd_tls_protocols = >=TLSv1.2` refuses them on 25 only (587 has
/// `smtpd_tls_security_level = encrypt` and follows the mandatory list); adding
/// `smtpd_tls_mandatory_protocols = >=TLSv1.2` refuses them on 587 too: alert 70.
#[test]
fn h6_tls10_and_tls11_default_then_protocol_floors() {
    let mut g = Lab::lock();
    let accepted = |o: &legacy_tls::LegacyTlsObservation, name: &str| match &o.response {
        Some(HelloResponse::ServerHello {
            version_name,
            cipher_name,
            ..
        }) => {
            assert_eq!(version_name, name, "{}", describe(o));
            assert_eq!(
                cipher_name.as_deref(),
                Some("ECDHE-RSA-AES128-SHA"),
                "{}",
                describe(o)
            );
        }
        _ => panic!("expected a ServerHello: {}", describe(o)),
    };
    let refused = |o: &legacy_tls::LegacyTlsObservation| {
        assert!(
            matches!(
                o.response,
                Some(HelloResponse::Alert {
                    level: 2,
                    description: 70,
                    ..
                })
            ),
            "expected alert 70 protocol_version: {}",
            describe(o)
        );
    };
    for port in [25, 587] {
        accepted(&hello(&g, port, LegacyVersion::Tls10), "TLSv1.0");
        accepted(&hello(&g, port, LegacyVersion::Tls11), "TLSv1.1");
    }
    set(&mut g, &["smtpd_tls_protocols = >=TLSv1.2"]);
    refused(&hello(&g, 25, LegacyVersion::Tls10));
    refused(&hello(&g, 25, LegacyVersion::Tls11));
    accepted(&hello(&g, 587, LegacyVersion::Tls10), "TLSv1.0");
    set(&mut g, &["smtpd_tls_mandatory_protocols = >=TLSv1.2"]);
    for port in [25, 587] {
        refused(&hello(&g, port, LegacyVersion::Tls10));
        refused(&hello(&g, port, LegacyVersion::Tls11));
    }
    g.restore();
}

/// OpenSSL's security level is what keeps Debian's default from refusing TLS < 1.2: with
/// `@SECLEVEL=2` appended to the medium cipher list the handshake fails with alert 80
/// internal_error instead (the protocol floor above is the clean fix).
#[test]
fn h6_seclevel_2_refuses_tls10_with_internal_error() {
    let mut g = Lab::lock();
    set(
        &mut g,
        &["tls_medium_cipherlist = aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH:@SECLEVEL=2"],
    );
    for port in [25, 587] {
        let o = hello(&g, port, LegacyVersion::Tls10);
        assert!(
            matches!(
                o.response,
                Some(HelloResponse::Alert {
                    level: 2,
                    description: 80,
                    ..
                })
            ),
            "{}",
            describe(&o)
        );
    }
    g.restore();
}

/// The lab's self-signed certificate (tests/lab/up.sh): RSA-2048, SHA-256, on both ports.
#[test]
fn h6_certificate_algorithms() {
    let g = Lab::lock();
    for port in [25, 587] {
        let o = rt().block_on(certificate::probe(&target(&g, V6, port)));
        assert!(o.problems.is_empty(), "{o:#?}");
        let leaf = o.certificates.first().expect("a certificate");
        assert_eq!(
            (leaf.key_type.as_str(), leaf.key_bits),
            ("RSA", Some(2048)),
            "{o:#?}"
        );
        assert_eq!(leaf.signature_algorithm, "sha256WithRSAEncryption");
        assert_eq!(leaf.signature_hash.as_deref(), Some("SHA-256"));
    }
}

// ------------------------------------------------------------------------------------ H7

/// The tutorial's lab (reject_unauth_destination, Debian's defer_unauth_destination relay
/// restrictions) refuses every form from `::1` with `454 4.7.1 <...>: Relay access denied`:
/// Postfix resolves the percent hack, bang path and quoted local part (and drops the source
/// route) before the relay check, and `allow_untrusted_routing = no` refuses routed local parts.
/// With `allow_untrusted_routing = yes` the three routed forms get past the relay check and are
/// refused only as unknown users (550 5.1.1); with an access map that says OK to everything
/// (an open relay that Postfix's "at least one working reject" start-up check still allows),
/// the source route, the address literal and the plain foreign address are accepted. RCPT only,
/// then RSET: nothing is ever sent.
#[test]
fn h7_relay_tricks_default_untrusted_routing_and_open_relay() {
    let mut g = Lab::lock();
    let domain = g.lab.domain.clone();
    let probe = |g: &LabGuard| {
        let o = rt().block_on(relay_tricks::probe(&target(g, V6, 25), &domain));
        assert_eq!(o.attempts.len(), Trick::ALL.len(), "{o:#?}");
        assert!(
            !o.transcript.iter().any(|l| l.contains("C: DATA")),
            "{o:#?}"
        );
        assert_eq!(o.rset.as_ref().and_then(|s| s.code()), Some(250), "{o:#?}");
        o
    };
    let routed = |t: Trick| {
        matches!(
            t,
            Trick::PercentHack | Trick::BangPath | Trick::QuotedLocalPart
        )
    };
    let o = probe(&g);
    for a in &o.attempts {
        let r = a.rcpt.describe();
        assert!(
            r.starts_with("454 4.7.1 <") && r.ends_with(">: Relay access denied"),
            "{:?}: {r}",
            a.trick
        );
    }
    let quoted = o
        .attempts
        .iter()
        .find(|a| a.trick == Trick::QuotedLocalPart)
        .unwrap();
    assert_eq!(
        quoted.rcpt.describe(),
        format!("454 4.7.1 <mailcheck-relay-test@example.net@{domain}>: Relay access denied")
    );

    set(&mut g, &["allow_untrusted_routing = yes"]);
    let o = probe(&g);
    for a in &o.attempts {
        let r = a.rcpt.describe();
        if routed(a.trick) {
            assert!(
                r.starts_with("550 5.1.1 <")
                    && r.ends_with("User unknown in virtual mailbox table"),
                "{:?}: {r}",
                a.trick
            );
        } else {
            assert!(r.ends_with(">: Relay access denied"), "{:?}: {r}", a.trick);
        }
    }

    set(
        &mut g,
        &[
            "smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated check_recipient_access static:OK defer_unauth_destination",
            "smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated, check_recipient_access static:OK, reject_unauth_destination",
        ],
    );
    let o = probe(&g);
    for a in &o.attempts {
        let want = if routed(a.trick) { 550 } else { 250 };
        assert_eq!(
            a.rcpt.code(),
            Some(want),
            "{:?}: {}",
            a.trick,
            a.rcpt.describe()
        );
    }
    g.restore();
}

// ---- The checks (H1-H7), as a user runs them: the real binary from the workstation namespace ----

use crate::workstation::Workstation;
use std::collections::BTreeMap;

/// Every hardening check and its requirement.
const CHECKS: &[(&str, &str)] = &[
    ("hardening.smuggling", "H1"),
    ("hardening.starttls-injection-25", "H2"),
    ("hardening.starttls-injection-587", "H2"),
    ("hardening.pipelining", "H3"),
    ("hardening.vrfy", "H4"),
    ("hardening.auth-before-tls", "H5"),
    ("hardening.tls-floor-25", "H6"),
    ("hardening.tls-floor-587", "H6"),
    ("hardening.certificate-algorithms", "H6"),
    ("hardening.relay-tricks", "H7"),
];

/// `mailcheck run ... --format json <extra>` from the workstation namespace (198.18.1.2, outside
/// mynetworks; the lab's name resolves to 198.18.1.1 there), so mailcheck is another machine.
fn run_from(g: &LabGuard, ws: &Workstation, extra: &[&str]) -> lab::RunOutput {
    let out = ws
        .command(lab::mailcheck_bin())
        .args([
            "run",
            "--host",
            &g.lab.hostname,
            "--account",
            &g.lab.account,
            "--format",
            "json",
        ])
        .args(extra)
        .args(lab::save_args())
        .env("MAILCHECK_PASSWORD", &g.lab.password)
        .env_remove("MAILCHECK_HOST")
        .env_remove("MAILCHECK_ACCOUNT")
        .output()
        .expect("run mailcheck in the workstation namespace");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "mailcheck printed no JSON ({e}):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    lab::assert_schema_v2(&json);
    lab::save_report(&stdout);
    lab::RunOutput {
        code: out.status.code().unwrap_or(-1),
        json,
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Each check's status, and the run selected exactly the hardening checks.
fn statuses(out: &lab::RunOutput) -> BTreeMap<String, String> {
    let got: BTreeMap<String, String> = out.json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<&str> = CHECKS.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        got.keys().map(String::as_str).collect::<Vec<_>>(),
        {
            let mut w = want.clone();
            w.sort_unstable();
            w
        },
        "--only 'H*' selects exactly the hardening checks"
    );
    for (id, req) in CHECKS {
        assert_eq!(out.check(id)["requirement"], *req, "{id}");
    }
    got
}

fn fix(out: &lab::RunOutput, id: &str) -> String {
    out.check(id)["fix"].as_str().unwrap_or("").to_string()
}

/// Files under the vmail tree and the Postfix queue that hold `token` (a run's test mail).
fn files_with(token: &str) -> Vec<String> {
    let out = lab::command("grep")
        .args([
            "-rlF",
            "--devices=skip",
            token,
            "/home/vmail",
            "/var/spool/postfix",
        ])
        .output()
        .expect("grep");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// H1's test message of the run `out`: when the server took it, waits until it is in the test
/// account's Maildir and nowhere else, and deletes it. Returns whether one was delivered.
fn smuggled_mail_only_in_the_account(g: &LabGuard, out: &lab::RunOutput) -> bool {
    let probe = &out.check("hardening.smuggling")["evidence"]["live"]["probe"];
    let token = probe["token"].as_str().expect("H1's run token").to_string();
    let id = probe["message_id"]
        .as_str()
        .expect("H1's Message-ID")
        .to_string();
    let accepted = probe["response"] == "accepted";
    let maildir = lab::path(maildir_of(g));
    if accepted {
        let got = rt().block_on(maildir::wait_for(&maildir, &id, Duration::from_secs(30)));
        assert!(
            got.is_ok(),
            "H1's accepted message {id} not delivered: {got:?}"
        );
    } else {
        // A dropped message never shows up; give a wrong delivery time to happen.
        std::thread::sleep(Duration::from_secs(2));
    }
    let files = files_with(&token);
    let inside = lab::path(&maildir).display().to_string();
    assert!(
        files.iter().all(|f| f.starts_with(&inside)),
        "the run's mail reached more than the test account's Maildir {inside}: {files:?}"
    );
    assert_eq!(files.len(), usize::from(accepted), "{files:?}");
    maildir::cleanup(&maildir, &token);
    assert!(
        files_with(&token).is_empty(),
        "H1's test message was not deleted"
    );
    accepted
}

/// The Debian 12 lab as built (Postfix 3.7.11) from the workstation: H1 (with the two lines to
/// add), H3, H4, H5 and H6 warn, H2 and H7 pass; after the hardening lines, every check passes.
/// Then H7's weak and open settings. On the server, H1 names the setting and version too. Each
/// phase asserts that the run's only message reached the test account and is deleted.
#[test]
fn checks_h1_to_h7_from_the_workstation_weak_then_hardened() {
    if crate::machine::target().is_some() {
        eprintln!("the workstation namespace reaches the host lab only: skipped on a lab machine");
        return;
    }
    let mut g = Lab::lock();
    let ws = Workstation::up();
    let version = String::from_utf8_lossy(&lab::sh("postconf -h mail_version").stdout)
        .trim()
        .to_string();
    let out = run_from(&g, &ws, &["--only", "H*"]);
    let got = statuses(&out);
    if version.starts_with("3.7.") {
        let want: BTreeMap<String, String> = [
            ("hardening.smuggling", "warn"),
            ("hardening.starttls-injection-25", "pass"),
            ("hardening.starttls-injection-587", "pass"),
            ("hardening.pipelining", "warn"),
            ("hardening.vrfy", "warn"),
            ("hardening.auth-before-tls", "warn"),
            ("hardening.tls-floor-25", "warn"),
            ("hardening.tls-floor-587", "warn"),
            ("hardening.certificate-algorithms", "pass"),
            ("hardening.relay-tricks", "pass"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(got, want, "{}", out.stdout);
        let h1 = out.message("hardening.smuggling");
        assert!(
            h1.contains("took `<LF>.<CR><LF>` as the end of DATA from this machine")
                && h1.contains("250 2.0.0 Ok: queued as"),
            "{h1}"
        );
        let f = fix(&out, "hardening.smuggling");
        for line in [
            "`smtpd_forbid_bare_newline = normalize`",
            "`smtpd_forbid_bare_newline_exclusions = $mynetworks`",
            "3.7.10",
        ] {
            assert!(f.contains(line), "H1's fix lacks {line}: {f}");
        }
        assert!(
            fix(&out, "hardening.pipelining").contains("`smtpd_forbid_unauth_pipelining = yes`")
        );
        assert!(fix(&out, "hardening.vrfy").contains("`disable_vrfy_command = yes`"));
        assert!(fix(&out, "hardening.auth-before-tls").contains("`smtpd_tls_auth_only = yes`"));
        for id in ["hardening.tls-floor-25", "hardening.tls-floor-587"] {
            let f = fix(&out, id);
            assert!(
                f.contains("`smtpd_tls_protocols = >=TLSv1.2`")
                    && f.contains("`smtpd_tls_mandatory_protocols = >=TLSv1.2`"),
                "{id}: {f}"
            );
            assert!(
                out.message(id).contains("accepts TLSv1.0"),
                "{}",
                out.message(id)
            );
        }
        assert!(
            out.message("hardening.vrfy")
                .contains("`VRFY postmaster` -> `252")
        );
        assert!(smuggled_mail_only_in_the_account(&g, &out));
        // On the server: the setting and its version's default, and mailcheck deletes the mail.
        let local = g.run(&["--only", "H1"]);
        let m = local.message("hardening.smuggling");
        assert_eq!(local.status("hardening.smuggling"), "warn", "{m}");
        assert!(
            m.contains(
                "`smtpd_forbid_bare_newline = no` (not set in main.cf: Postfix 3.7.11's default)"
            ) && m.contains("and deleted)"),
            "{m}"
        );
        assert!(fix(&local, "hardening.smuggling").contains("Postfix 3.7.11 has them"));
    } else {
        eprintln!(
            "Postfix {version}: the weak-lab expectations are Debian 12's; only checking the hardened run"
        );
        smuggled_mail_only_in_the_account(&g, &out);
    }

    // Hardened: the two H1 lines and the other fixes.
    set(
        &mut g,
        &[
            "smtpd_forbid_bare_newline = normalize",
            "smtpd_forbid_bare_newline_exclusions = $mynetworks",
            "smtpd_forbid_unauth_pipelining = yes",
            "disable_vrfy_command = yes",
            "smtpd_tls_auth_only = yes",
            "smtpd_tls_protocols = >=TLSv1.2",
            "smtpd_tls_mandatory_protocols = >=TLSv1.2",
        ],
    );
    let out = run_from(&g, &ws, &["--only", "H*"]);
    let got = statuses(&out);
    assert!(
        got.values().all(|s| s == "pass"),
        "hardened: {:?}",
        out.with_status("warn")
            .into_iter()
            .chain(out.with_status("fail"))
            .chain(out.with_status("error"))
            .collect::<Vec<_>>()
    );
    let h1 = out.message("hardening.smuggling");
    assert!(h1.contains("stayed in DATA after `<LF>.<CR><LF>`"), "{h1}");
    assert!(!smuggled_mail_only_in_the_account(&g, &out));
    assert!(
        out.message("hardening.pipelining")
            .contains("554 5.5.0 Error: SMTP protocol synchronization")
    );
    assert!(
        out.message("hardening.vrfy")
            .contains("502 5.5.1 VRFY command is disabled")
    );
    assert!(
        out.message("hardening.tls-floor-25")
            .contains("alert fatal 70 protocol_version")
    );
    let local = g.run(&["--only", "H1"]);
    assert_eq!(
        local.status("hardening.smuggling"),
        "pass",
        "{}",
        local.message("hardening.smuggling")
    );

    // H7 weak: routed forms get past the relay check; --skip drops every other requirement.
    set(&mut g, &["allow_untrusted_routing = yes"]);
    let skip_all_but_h7 = [
        "--only",
        "hardening",
        "--skip",
        "H1",
        "--skip",
        "H2",
        "--skip",
        "H3",
        "--skip",
        "H4",
        "--skip",
        "H5",
        "--skip",
        "H6",
    ];
    let out = run_from(&g, &ws, &skip_all_but_h7);
    assert_eq!(
        out.json["checks"].as_array().unwrap().len(),
        1,
        "{}",
        out.stdout
    );
    let m = out.message("hardening.relay-tricks");
    assert_eq!(out.status("hardening.relay-tricks"), "warn", "{m}");
    assert!(
        m.contains("let routed addresses past the relay check") && m.contains("User unknown"),
        "{m}"
    );
    // Open to every recipient: the percent-free forms are accepted at RCPT (never DATA).
    set(
        &mut g,
        &[
            "smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated check_recipient_access static:OK defer_unauth_destination",
            "smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated, check_recipient_access static:OK, reject_unauth_destination",
        ],
    );
    let out = run_from(&g, &ws, &["--only", "H7"]);
    let m = out.message("hardening.relay-tricks");
    assert_eq!(out.status("hardening.relay-tricks"), "fail", "{m}");
    assert!(
        m.contains("is an open relay from this machine") && m.contains("nothing was sent"),
        "{m}"
    );
    let transcript =
        out.check("hardening.relay-tricks")["evidence"]["probe"]["transcript"].to_string();
    assert!(!transcript.contains("C: DATA"), "{transcript}");
    g.restore();
    drop(ws);
}

/// H7 from another machine with `--host` an address and no `--account`: the server's mail
/// domain is unknown, so the relay tricks cannot be aimed (the address without its first label
/// was once used as the domain, and every server refused it as relaying: a pass proving
/// nothing). A skip saying what to give instead.
#[test]
fn h7_by_address_without_an_account_is_a_skip() {
    if crate::machine::target().is_some() {
        eprintln!("the workstation namespace reaches the host lab only: skipped on a lab machine");
        return;
    }
    let _g = Lab::lock();
    let ws = Workstation::up();
    let out = ws
        .command(lab::mailcheck_bin())
        .args(["run", "--host", &ws.host_addr, "--format", "json"])
        .args(["--only", "hardening.relay-tricks"])
        .env_remove("MAILCHECK_HOST")
        .env_remove("MAILCHECK_ACCOUNT")
        .env_remove("MAILCHECK_PASSWORD")
        .output()
        .expect("run mailcheck in the workstation namespace");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let c = &json["checks"][0];
    assert_eq!(c["id"], "hardening.relay-tricks");
    assert_eq!(c["status"], "skip", "{c}");
    let m = c["message"].as_str().unwrap_or_default();
    assert!(
        m.contains("is an address") && m.contains("--account"),
        "{m}"
    );
}
