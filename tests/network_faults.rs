//! The real binary against loopback fake servers (tests/support/fake_smtp.rs) for what a real
//! Postfix won't do on demand: a tarpit, garbage, a 10 MB line, 421, a close or stall during
//! TLS. Each gives a bounded `error` naming the phase, and the rest of the run goes on. Also:
//! no password or AUTH payload in any output format.
#![allow(clippy::unwrap_used)]

mod support {
    pub mod fake_smtp;
}

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use support::fake_smtp::{self, Behaviour, TlsSetup};

const USER: &str = "alice@fake.example";
const PASSWORD: &str = "Fake-pw-4711";

/// A fresh directory with a main.cf for the fake (myhostname = fake.example) and a config file
/// that points mailcheck at it.
fn scratch(size_limit: u64) -> (PathBuf, PathBuf) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mailcheck-faults-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("main.cf"),
        "myhostname = fake.example\nmynetworks = 127.0.0.0/8\nmessage_size_limit = 10240000\n",
    )
    .unwrap();
    std::fs::write(dir.join("master.cf"), "").unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[tutorial]\npostfix_config_dir = \"{}\"\nmessage_size_limit = {size_limit}\n",
            dir.display()
        ),
    )
    .unwrap();
    (dir, config)
}

struct Run {
    code: i32,
    json: serde_json::Value,
    stdout: String,
    elapsed: Duration,
}

impl Run {
    fn check(&self, id: &str) -> &serde_json::Value {
        self.json["checks"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["id"] == id))
            .unwrap_or_else(|| panic!("no {id} in\n{}", self.stdout))
    }
    fn status(&self, id: &str) -> &str {
        self.check(id)["status"].as_str().unwrap()
    }
    fn message(&self, id: &str) -> &str {
        self.check(id)["message"].as_str().unwrap()
    }
    fn expect(&self, id: &str, status: &str, needles: &[&str]) {
        let (s, m) = (self.status(id), self.message(id));
        assert_eq!(s, status, "{id}: {m}");
        for n in needles {
            assert!(m.contains(n), "{id} message lacks {n:?}: {m}");
        }
    }
}

/// Runs `mailcheck run` against 127.0.0.1 with the fake on the MX port (and `submission` or a
/// closed port on the submission port), 1 s per phase.
async fn run(smtp: u16, submission: Option<u16>, config: &Path, extra: &[&str]) -> Run {
    let closed = fake_smtp::closed_port().await.port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailcheck"));
    cmd.args(["run", "--host", "127.0.0.1", "--format", "json"])
        .args(["--smtp-port", &smtp.to_string()])
        .args([
            "--submission-port",
            &submission.unwrap_or(closed).to_string(),
        ])
        .args(["--phase-timeout", "1", "--config"])
        .arg(config)
        .args(extra)
        .env_remove("MAILCHECK_HOST")
        .env_remove("MAILCHECK_ACCOUNT")
        .env_remove("MAILCHECK_PASSWORD")
        .env_remove("MAILCHECK_FORMAT")
        .env_remove("MAILCHECK_TIMEOUT");
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    Run {
        code: out.status.code().unwrap_or(-1),
        json,
        stdout,
        elapsed: started.elapsed(),
    }
}

/// The MX-port checks, for a fake on that port.
const MX: &[&str] = &[
    "--only",
    "smtp.banner",
    "--only",
    "tls.starttls-25",
    "--only",
    "size",
];

async fn fault(b: Behaviour) -> Run {
    let fake = fake_smtp::start(b).await;
    let (_dir, config) = scratch(fake_smtp::SIZE_LIMIT);
    run(fake.addr.port(), None, &config, MX).await
}

/// An error must come from the 1 s phase deadline, not from the check's own (60 s) deadline.
fn assert_bounded(r: &Run) {
    assert!(
        r.elapsed < Duration::from_secs(20),
        "run took {:?}: a wait is not bounded by --phase-timeout",
        r.elapsed
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tarpit_is_an_error_at_the_banner_and_the_run_goes_on() {
    let r = fault(Behaviour::Tarpit).await;
    r.expect(
        "smtp.banner",
        "error",
        &["no banner after 1 s", "127.0.0.1:"],
    );
    r.expect("tls.starttls-25", "skip", &["blocked by smtp.banner"]);
    r.expect("size.advertised", "skip", &["blocked by smtp.banner"]);
    assert_eq!(r.code, 3, "an error and nothing failed: exit 3");
    assert_bounded(&r);
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_is_a_protocol_error_without_control_characters() {
    let r = fault(Behaviour::Garbage).await;
    r.expect(
        "smtp.banner",
        "error",
        &["protocol violation during banner"],
    );
    assert!(!r.stdout.contains('\u{1b}'), "escape reached the output");
    assert!(!r.message("smtp.banner").contains('\u{7}'));
    assert_bounded(&r);
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_megabyte_line_is_an_error() {
    let r = fault(Behaviour::HugeLine).await;
    r.expect(
        "smtp.banner",
        "error",
        &["protocol violation during banner"],
    );
    assert!(
        r.stdout.len() < 200_000,
        "the line was copied into the report"
    );
    assert_bounded(&r);
}

#[tokio::test(flavor = "multi_thread")]
async fn greeting_421_is_an_error_not_a_fail() {
    let r = fault(Behaviour::Greeting421).await;
    r.expect("smtp.banner", "error", &["421", "banner"]);
    assert_bounded(&r);
}

#[tokio::test(flavor = "multi_thread")]
async fn close_during_tls_is_an_error_and_the_other_checks_still_run() {
    let r = fault(Behaviour::StarttlsThenClose).await;
    r.expect("smtp.banner", "pass", &["fake.example"]);
    r.expect(
        "tls.starttls-25",
        "error",
        &["closed the connection during the handshake"],
    );
    r.expect("size.oversize-refused", "pass", &["552"]);
    assert!(
        r.check("tls.starttls-25")["evidence"]["session"]["transcript"].is_array(),
        "a failing check carries its transcript"
    );
    assert_bounded(&r);
}

#[tokio::test(flavor = "multi_thread")]
async fn stall_after_starttls_is_a_handshake_timeout() {
    let r = fault(Behaviour::StarttlsThenStall).await;
    r.expect(
        "tls.starttls-25",
        "error",
        &["TLS handshake not finished after 1 s"],
    );
    assert_bounded(&r);
}

#[tokio::test(flavor = "multi_thread")]
async fn stall_at_ehlo_is_an_error_naming_ehlo() {
    let r = fault(Behaviour::StallAtEhlo).await;
    r.expect("smtp.banner", "error", &["no reply to EHLO after 1 s"]);
    assert_bounded(&r);
}

#[tokio::test(flavor = "multi_thread")]
async fn busy_421_at_mail_is_an_error_for_the_size_checks() {
    let r = fault(Behaviour::Busy421AtMail).await;
    r.expect("smtp.banner", "pass", &[]);
    r.expect(
        "size.oversize-refused",
        "error",
        &["service unavailable at MAIL FROM: 421"],
    );
    assert_bounded(&r);
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_refused_with_454_fails() {
    let r = fault(Behaviour::Normal).await;
    r.expect("tls.starttls-25", "fail", &["454 4.7.0 TLS not available"]);
    r.expect("size.advertised", "pass", &["SIZE 10240000"]);
    assert_eq!(r.code, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn closed_submission_port_fails_once_and_the_rest_skip() {
    let fake = fake_smtp::start(Behaviour::Normal).await;
    let (_dir, config) = scratch(fake_smtp::SIZE_LIMIT);
    let r = run(
        fake.addr.port(),
        None,
        &config,
        &["--only", "submission", "--only", "tls.starttls-587"],
    )
    .await;
    r.expect(
        "submission.listening",
        "fail",
        &["nothing listens on 127.0.0.1:", "refused"],
    );
    for id in ["submission.tls-required", "tls.starttls-587"] {
        r.expect(id, "skip", &["submission.listening"]);
    }
}

/// A TLS fake on the submission port, with the account's credentials: every output format is
/// written, and none holds the password or an AUTH payload.
#[tokio::test(flavor = "multi_thread")]
async fn no_password_in_any_output() {
    let setup = TlsSetup::self_signed(USER, PASSWORD);
    let tls = fake_smtp::start(Behaviour::Tls(setup)).await;
    let mx = fake_smtp::start(Behaviour::Normal).await;
    let (dir, config) = scratch(fake_smtp::SIZE_LIMIT);
    let pw_file = dir.join("pw");
    std::fs::write(&pw_file, format!("{PASSWORD}\n")).unwrap();
    let files: Vec<(String, PathBuf)> = ["json", "junit", "tap", "html", "prometheus"]
        .iter()
        .map(|f| (format!("--{f}"), dir.join(format!("out.{f}"))))
        .collect();
    let mut extra: Vec<String> = vec![
        "--account".into(),
        USER.into(),
        "--password-file".into(),
        pw_file.display().to_string(),
        "--only".into(),
        "auth".into(),
        "--only".into(),
        "submission".into(),
        "--only".into(),
        "relay.authenticated-accepted".into(),
        "--only".into(),
        "tls.starttls-587".into(),
        "--no-send".into(),
    ];
    for (flag, path) in &files {
        extra.push(flag.clone());
        extra.push(path.display().to_string());
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let r = run(mx.addr.port(), Some(tls.addr.port()), &config, &extra).await;
    r.expect("auth.login-works", "pass", &["PLAIN", "LOGIN"]);
    r.expect("auth.wrong-password-refused", "pass", &["535"]);
    // The fake refuses example.net even after AUTH, accepts mail without AUTH and MAIL before
    // STARTTLS: these fail and carry their transcripts (AUTH exchanges included), which must
    // still hold no secret.
    r.expect(
        "relay.authenticated-accepted",
        "fail",
        &["Relay access denied"],
    );
    assert!(r.stdout.contains("AUTH PLAIN <redacted>"), "{}", r.stdout);
    r.expect("submission.auth-required", "fail", &["did not log in"]);
    r.expect("submission.tls-required", "fail", &["before STARTTLS"]);
    // A wrong password: the login fails and its transcript (AUTH exchanges) is in the report.
    let wrong = "Wrong-pw-0815";
    std::fs::write(&pw_file, format!("{wrong}\n")).unwrap();
    let bad = run(
        mx.addr.port(),
        Some(tls.addr.port()),
        &config,
        &[
            "--account",
            USER,
            "--password-file",
            pw_file.to_str().unwrap(),
            "--only",
            "auth.login-works",
        ],
    )
    .await;
    bad.expect("auth.login-works", "fail", &["535"]);
    assert!(
        bad.stdout.contains("AUTH PLAIN <redacted>"),
        "the failing login's transcript is in the report:\n{}",
        bad.stdout
    );
    let human = Command::new(env!("CARGO_BIN_EXE_mailcheck"))
        .args(["run", "--host", "127.0.0.1", "--format", "human"])
        .args(["--smtp-port", &mx.addr.port().to_string()])
        .args(["--submission-port", &tls.addr.port().to_string()])
        .args(["--phase-timeout", "1", "--config"])
        .arg(&config)
        .args(["--account", USER, "--password-file"])
        .arg(&pw_file)
        .args([
            "--only",
            "auth.login-works",
            "--only",
            "submission.auth-required",
        ])
        .env_remove("MAILCHECK_PASSWORD")
        .output()
        .unwrap();
    let mut outputs = vec![
        ("stdout json".to_string(), r.stdout.clone()),
        (
            "stdout json, wrong password".to_string(),
            bad.stdout.clone(),
        ),
        (
            "stdout human".to_string(),
            String::from_utf8_lossy(&human.stdout).into_owned(),
        ),
    ];
    for (flag, path) in &files {
        outputs.push((flag.clone(), std::fs::read_to_string(path).unwrap()));
    }
    let forms: Vec<String> = [PASSWORD, wrong]
        .iter()
        .flat_map(|pw| {
            [
                pw.to_string(),
                B64.encode(pw),
                B64.encode(format!("\0{USER}\0{pw}")),
                B64.encode(format!("{USER}\0{USER}\0{pw}")),
            ]
        })
        .collect();
    for (name, text) in &outputs {
        assert!(!text.is_empty(), "{name} is empty");
        for f in &forms {
            assert!(!text.contains(f.as_str()), "{name} leaks {f:?}");
        }
    }
    // The fake saw the real AUTH: the test would notice if nothing had been sent.
    assert!(tls.received().iter().any(|l| l.starts_with("AUTH PLAIN")));
    let _ = std::fs::remove_dir_all(dir);
}

/// `--hosts-file`: every server's result is kept as its run ends (a JSON line, or a table row)
/// and printed in the file's order, once all are over; the exit status is the worst server's.
#[tokio::test(flavor = "multi_thread")]
async fn fleet_prints_every_server_in_the_files_order() {
    let fake = fake_smtp::start(Behaviour::Normal).await;
    let closed = fake_smtp::closed_port().await.port();
    let (dir, config) = scratch(fake_smtp::SIZE_LIMIT);
    let hosts = dir.join("hosts.txt");
    std::fs::write(&hosts, "127.0.0.1\n# a comment\nlocalhost\n127.0.0.1\n").unwrap();
    let (port, hosts_file, config_file) = (fake.addr.port(), hosts.clone(), config.clone());
    let fleet = move |format: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailcheck"));
        cmd.args(["run", "--hosts-file"])
            .arg(&hosts_file)
            .args(["--format", format])
            .args(["--smtp-port", &port.to_string()])
            .args(["--submission-port", &closed.to_string()])
            .args(["--phase-timeout", "1", "--config"])
            .arg(&config_file)
            .args(MX)
            .env_remove("MAILCHECK_HOST")
            .env_remove("MAILCHECK_ACCOUNT")
            .env_remove("MAILCHECK_PASSWORD")
            .env_remove("MAILCHECK_FORMAT")
            .env_remove("MAILCHECK_TIMEOUT");
        cmd.output().unwrap()
    };
    let (json, human) = tokio::task::spawn_blocking(move || (fleet("json"), fleet("human")))
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&json.stdout);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let order: Vec<&str> = lines
        .iter()
        .map(|l| l["target"]["host"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["127.0.0.1", "localhost", "127.0.0.1"], "{text}");
    let verdicts = |l: &serde_json::Value| -> Vec<(String, String)> {
        l["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["id"].to_string(), c["status"].to_string()))
            .collect()
    };
    // The same fake behind each name: the same verdicts, and STARTTLS refused fails each.
    for l in &lines {
        assert_eq!(verdicts(l), verdicts(&lines[0]), "{text}");
    }
    assert!(
        verdicts(&lines[0]).contains(&("\"tls.starttls-25\"".into(), "\"fail\"".into())),
        "{text}"
    );
    assert_eq!(json.status.code(), Some(1), "{text}");
    assert_eq!(human.status.code(), Some(1));
    let table = String::from_utf8_lossy(&human.stdout);
    let rows: Vec<&str> = table
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(rows, ["127.0.0.1", "localhost", "127.0.0.1"], "{table}");
    assert!(
        table.contains("tls.starttls-25: ") && table.contains("3 servers: 3 with failures, 0 more"),
        "{table}"
    );
}
