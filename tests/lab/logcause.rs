//! Issue 13 §1/§5: a failing check quotes the server's own log. Each case breaks the lab once,
//! runs only the checks it asserts on (one run), restores, then asserts: the quoted log line is
//! the cause (the key file Postfix could not load, the saslauthd socket it could not reach, the
//! bounce's status=bounced (...), the fatal line of a service master(8) throttles), and the
//! clean lab names the log it read (the lab's maillog_file).

use crate::support::{Lab, sh};

fn lab_log() -> String {
    let out = std::process::Command::new("postconf")
        .args(["-h", "maillog_file"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn clean_lab_names_its_log_and_quotes_nothing() {
    let g = Lab::lock();
    let out = g.run(&["--only", "log", "--only", "tls.starttls-25"]);
    let msg = out.message("log.server-log");
    assert_eq!(out.status("log.server-log"), "pass", "{msg}");
    let log = lab_log();
    assert!(!log.is_empty(), "the lab sets maillog_file");
    assert!(msg.contains(&log), "names {log}: {msg}");
    assert!(msg.contains("maillog_file"), "{msg}");
    assert_eq!(out.status("tls.starttls-25"), "pass");
    assert!(!out.message("tls.starttls-25").contains("the server logged"));
}

#[test]
fn starttls_454_quotes_the_key_postfix_could_not_load() {
    let mut g = Lab::lock();
    g.break_with(
        "postconf -e 'smtpd_tls_key_file = /etc/ssl/private/mailcheck-lab-missing.key' && postfix reload",
    );
    let out = g.run(&["--only", "tls.starttls-25"]);
    g.restore();
    let msg = out.message("tls.starttls-25");
    assert_eq!(out.status("tls.starttls-25"), "fail", "{msg}");
    assert!(msg.contains("454"), "{msg}");
    assert!(msg.contains("the server logged:"), "{msg}");
    assert!(msg.contains("mailcheck-lab-missing.key"), "{msg}");
    let caused = &out.check("tls.starttls-25")["caused_by"];
    assert!(
        caused.to_string().contains("mailcheck-lab-missing.key"),
        "{caused}"
    );
}

#[test]
fn auth_failure_quotes_the_sasl_library() {
    let mut g = Lab::lock();
    g.break_with(
        "echo 'saslauthd_path: /var/run/saslauthd/mailcheck-lab-nosuch' >> /etc/postfix/sasl/smtpd.conf && postfix reload",
    );
    let out = g.run(&["--only", "auth.login-works"]);
    g.restore();
    let msg = out.message("auth.login-works");
    assert_ne!(out.status("auth.login-works"), "pass", "{msg}");
    assert!(
        msg.contains("the server logged:")
            && msg.contains("SASL authentication failure: cannot connect to saslauthd server"),
        "{msg}"
    );
}

#[test]
fn bounced_test_mail_says_why() {
    let mut g = Lab::lock();
    g.break_with(
        "postconf -e 'virtual_transport = error:mailbox disabled by the mailcheck lab' && postfix reload",
    );
    let cfg = std::env::temp_dir().join(format!("mailcheck-logcause-{}.toml", std::process::id()));
    std::fs::write(&cfg, "[timeouts]\ndelivery = \"3s\"\n").unwrap();
    let out = g.run(&[
        "--only",
        "delivery.via-25",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    g.restore();
    let _ = std::fs::remove_file(&cfg);
    let msg = out.message("delivery.via-25");
    assert_eq!(out.status("delivery.via-25"), "fail", "{msg}");
    assert!(
        msg.contains("status=bounced (mailbox disabled by the mailcheck lab)"),
        "{msg}"
    );
}

#[test]
fn throttled_submission_is_named_with_its_fatal_line() {
    let mut g = Lab::lock();
    g.break_with(
        "postconf -P 'submission/inet/smtpd_sasl_type=mailcheck-lab-nosasl' && postfix reload",
    );
    // The throttled port accepts and never greets: a short banner deadline keeps this lean.
    let cfg = std::env::temp_dir().join(format!("mailcheck-throttle-{}.toml", std::process::id()));
    std::fs::write(&cfg, "[timeouts]\nbanner = \"5s\"\n").unwrap();
    let out = g.run(&[
        "--only",
        "submission.listening",
        "--only",
        "log.server-log",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_file(&cfg);
    g.restore();
    // master(8) keeps the throttled service stopped; reload does not clear it.
    sh("postfix stop; postfix start");
    let msg = out.message("log.server-log");
    assert_eq!(out.status("log.server-log"), "fail", "{msg}");
    assert!(msg.contains("smtpd"), "{msg}");
    assert!(msg.contains("no greeting on port 587"), "{msg}");
    assert!(msg.contains("throttling"), "{msg}");
    assert!(
        msg.contains("fatal: SASL per-process initialization failed"),
        "{msg}"
    );
    let effect = out.message("submission.listening");
    assert_ne!(out.status("submission.listening"), "pass", "{effect}");
    assert!(effect.contains("caused by log.server-log"), "{effect}");
}

/// A log line can hold a secret (a password typed as a user name, a map's password in a
/// debugging line): the excerpts mailcheck quotes are redacted like everything else. Lines with
/// the account's password, its base64 and the database password are logged while the run reads
/// the log; none reaches the report.
#[test]
fn secrets_in_the_servers_log_are_redacted() {
    let g = Lab::lock();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&g.lab.password);
    let secrets = [g.lab.password.clone(), b64, g.lab.db_password.clone()];
    let mut writer = std::process::Command::new("bash")
        .args([
            "-c",
            "for i in $(seq 200); do for s in \"$S1\" \"$S2\" \"$S3\"; do \
             postlog -t postfix/smtpd -p warning \"SASL LOGIN authentication failed: user=$s\"; done; \
             sleep 0.03; done",
        ])
        .env("S1", &secrets[0])
        .env("S2", &secrets[1])
        .env("S3", &secrets[2])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = g.run(&["--only", "log.server-log", "--only", "auth.login-works"]);
    let _ = writer.kill();
    let _ = writer.wait();
    assert!(
        out.stdout
            .contains("SASL LOGIN authentication failed: user="),
        "the run should have read the injected lines: {}",
        out.stdout
    );
    for s in &secrets {
        assert!(
            !out.stdout.contains(s.as_str()),
            "a secret reached the report"
        );
        assert!(!out.stderr.contains(s.as_str()), "a secret reached stderr");
    }
}
