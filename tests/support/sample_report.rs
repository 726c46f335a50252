//! A hand-built run report with one check of every status, awkward characters in server text,
//! versions, vantages and cause chains (a host finding that explains live failures, a check
//! blocked by one, a log line): what every renderer must handle, whatever a recording holds.
#![allow(dead_code)] // every test crate that includes this uses a different subset

use std::time::{Duration, UNIX_EPOCH};

use mailcheck::report::RunReport;
use mailcheck::runner::{BlockedBy, CheckResult, Place, Vantage};
use mailcheck::verdict::{Cause, Status, Verdict};
use serde_json::json;

pub fn result(id: &str, req: &str, v: Verdict, fix: Option<&str>) -> CheckResult {
    with_evidence(id, req, v, fix, serde_json::Value::Null)
}

pub fn with_evidence(
    id: &str,
    req: &str,
    v: Verdict,
    fix: Option<&str>,
    evidence: serde_json::Value,
) -> CheckResult {
    CheckResult {
        id: id.into(),
        family: id.split('.').next().unwrap_or("x").into(),
        requirement: req.into(),
        title: format!("title of {id}"),
        observed: !evidence.is_null(),
        evidence,
        blocked_by: None,
        vantage: None,
        verdict: v,
        fix: fix.map(str::to_string),
        duration: Duration::from_millis(3),
        started_at: Duration::ZERO,
    }
}

pub const SOCKET_MESSAGE: &str = "saslauthd is not running (no saslauthd process)";
pub const LOG_LINE: &str = "postfix/smtpd[4711]: warning: SASL authentication failure: cannot connect to saslauthd server: No such file or directory";

fn server() -> Option<Vantage> {
    Some(Vantage {
        place: Place::Server,
        address: None,
    })
}

fn remote() -> Option<Vantage> {
    Some(Vantage {
        place: Place::Remote,
        address: Some("198.18.1.2".into()),
    })
}

/// A run with one check of every status, awkward characters included, and causes.
pub fn canonical() -> RunReport {
    let socket_cause = Cause::Check {
        check: "sasl.saslauthd-socket".into(),
        status: Status::Fail,
        message: SOCKET_MESSAGE.into(),
    };
    let mut login = with_evidence(
        "auth.login-works",
        "T30",
        Verdict::error(format!(
            "AUTH PLAIN on 127.0.1.1:587: temporary failure `454 4.7.0 Temporary authentication failure`; {}",
            socket_cause.describe()
        )),
        Some("Run `testsaslauthd -s smtp -u USER -p PASSWORD`"),
        json!({"mechanisms": [{"name": "PLAIN", "reply": "454 4.7.0 Temporary authentication failure"}]}),
    );
    login.verdict.caused_by.push(socket_cause.clone());
    login.vantage = remote();
    let mut submission = result(
        "submission.auth-required",
        "T33",
        Verdict::fail("root@example.com cannot log in on 127.0.1.1:587, so cannot submit mail")
            .with_log_cause(LOG_LINE),
        Some("see the auth.* checks"),
    );
    submission.vantage = remote();
    let mut relay = result(
        "relay.authenticated-accepted",
        "T31",
        Verdict::skip("x"),
        None,
    );
    let blocked = BlockedBy {
        check: "auth.login-works".into(),
        status: Status::Error,
        message: login.verdict.message.clone(),
    };
    relay.verdict.message = blocked.describe();
    relay.blocked_by = Some(blocked);
    let mut socket = with_evidence(
        "sasl.saslauthd-socket",
        "T20",
        Verdict::fail(SOCKET_MESSAGE),
        Some("start saslauthd: saslauthd -a pam -c -r -m /var/spool/postfix/var/run/saslauthd"),
        json!({"processes": [], "socket": "/var/spool/postfix/var/run/saslauthd/mux"}),
    );
    socket.vantage = server();
    let mut perms = with_evidence(
        "fs.mysql-maps-perms",
        "T14",
        Verdict::fail(
            "/etc/postfix/mysql_virtual_mailbox_maps.cf: mode 0644, not 0640 (every local user can read the database password in it)",
        ),
        Some(
            "chgrp postfix /etc/postfix/mysql_virtual_mailbox_maps.cf && chmod 0640 /etc/postfix/mysql_virtual_mailbox_maps.cf",
        ),
        json!({"files": [{"path": "/etc/postfix/mysql_virtual_mailbox_maps.cf", "mode": "0644"}]}),
    );
    perms.vantage = server();
    RunReport {
        host: "atlantis.example.com".into(),
        account: Some("root@example.com".into()),
        started: UNIX_EPOCH + Duration::from_secs(1_795_700_000),
        duration: Duration::from_millis(42),
        abilities: mailcheck::runner::Abilities {
            local: true,
            account: true,
            password: true,
            send: true,
        },
        versions: [
            ("Postfix".to_string(), "3.7.11".to_string()),
            ("OpenSSL".to_string(), "3.0.17".to_string()),
        ]
        .into_iter()
        .collect(),
        results: vec![
            perms,
            result(
                "postfix.mydestination-empty",
                "T5",
                Verdict::pass("mydestination is empty (main.cf line 47)"),
                None,
            ),
            result(
                "postfix.mime-header-checks",
                "T34",
                Verdict::warn(
                    "the rule in /etc/postfix/mime_header_checks misses quoted names: name=\"x.exe\" # gets through <b> | *bold* $x $y [link](http://evil.example) <script>alert(1)</script>",
                ),
                Some("/name=[^>]*\\.(bat|com|exe|dll|vbs)\"?$/ REJECT"),
            ),
            result(
                "sasl.saslauthd-auth",
                "T25",
                Verdict::skip("needs the account's password"),
                None,
            ),
            with_evidence(
                "smtp.banner",
                "T1",
                Verdict::error("no banner after 10 s | tarpit?")
                    .with_metric("certificate_days_left", 800.0),
                Some("check that Postfix runs"),
                json!({"certificate_days_left": 800, "transcript": ["[0.2 ms] -- connected"]}),
            ),
            socket,
            login,
            relay,
            submission,
        ],
    }
}
