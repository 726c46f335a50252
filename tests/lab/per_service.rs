//! Issue 13 §6 through the real binary: what port 25's checks verify (SIZE and
//! message_size_limit, the attachment ban, relay restrictions, STARTTLS) verified on the
//! submission port too, with master.cf `-o` overrides under `submission inet` that break each
//! one for 587 alone. One clean run, then per break: copy master.cf, edit it, `postfix reload`,
//! one run with `--only` the checks asserted, restore master.cf byte for byte (stop/start).
//! Each failing 587 check is caught for its reason, the host check names the master.cf line and
//! the `-o` text, and the live check says `caused by` it.

use crate::support as lab;

use lab::{Lab, assert_caused_by, assert_has, run_only, sh};

const MASTER_CF: &str = "/etc/postfix/master.cf";
const BACKUP: &str = "/run/mailcheck-per-service-master.cf";

const CHECKS: &[&str] = &[
    "postfix.message-size-limit-587",
    "postfix.mime-header-checks-587",
    "postfix.recipient-restrictions-587",
    "postfix.tls-settings-587",
    "size.advertised-587",
    "size.oversize-refused-587",
    "delivery.attachment-ban-587",
    "relay.unauthenticated-refused-587",
    "tls.starttls-587",
];

/// master.cf broken with `-o` lines under `submission inet`; put back byte for byte (and
/// Postfix stopped and started, so no throttled or exited daemon keeps the break) when dropped.
struct Broken;

impl Broken {
    /// Inserts `lines` right after the `submission inet` line, then `postfix reload`.
    /// Returns the master.cf line number of each inserted line.
    fn with(lines: &[&str], sed_extra: &str) -> (Broken, Vec<usize>) {
        sh(&format!("cp -p {MASTER_CF} {BACKUP}"));
        let b = Broken;
        let mut script = String::new();
        for l in lines.iter().rev() {
            script.push_str(&format!(
                "sed -i '/^submission inet/a\\  {l}' {MASTER_CF}\n"
            ));
        }
        script.push_str(sed_extra);
        script.push_str("\npostfix reload >/dev/null 2>&1\nsleep 1\n");
        sh(&script);
        let at = sh(&format!(
            "grep -n '^submission inet' {MASTER_CF} | cut -d: -f1"
        ));
        let first: usize = String::from_utf8_lossy(&at.stdout).trim().parse().unwrap();
        (b, (1..=lines.len()).map(|i| first + i).collect())
    }
}

impl Drop for Broken {
    fn drop(&mut self) {
        let _ = lab::command("bash")
            .args([
                "-c",
                &format!(
                    "cp -p {BACKUP} {MASTER_CF} && rm -f {BACKUP} && postfix stop >/dev/null 2>&1; sleep 1; postfix start >/dev/null 2>&1; sleep 1"
                ),
            ])
            .output();
    }
}

#[test]
fn overrides_under_submission_break_587_alone_and_are_named() {
    let g = Lab::lock();
    let before = std::fs::read(lab::path(MASTER_CF)).unwrap();

    // Clean: no fail from the 587 checks.
    let out = run_only(&g, CHECKS);
    for id in CHECKS {
        let status = out.status(id);
        assert!(
            status == "pass" || status == "warn",
            "{id} on the clean lab: {status}: {}",
            out.message(id)
        );
    }
    assert_has(
        &out,
        "size.oversize-refused-587",
        "pass",
        &[
            ":587",
            &format!("MAIL FROM:<{}> SIZE=20480000", g.lab.account),
            "552",
        ],
    );
    assert_has(
        &out,
        "relay.unauthenticated-refused-587",
        "pass",
        &[":587", "refuses to relay"],
    );
    assert_has(
        &out,
        "postfix.message-size-limit-587",
        "pass",
        &["main.cf line", "no -o in `submission inet`"],
    );

    // 1. A smaller message_size_limit for the submission service only.
    {
        let (_b, lines) = Broken::with(&["-o message_size_limit=1000000"], "");
        let at = format!("master.cf:{}: `-o message_size_limit=1000000`", lines[0]);
        let out = run_only(
            &g,
            &[
                "postfix.message-size-limit-587",
                "size.advertised-587",
                "size.oversize-refused-587",
                "size.advertised",
            ],
        );
        assert_has(&out, "postfix.message-size-limit-587", "fail", &[&at]);
        assert_has(
            &out,
            "size.advertised-587",
            "fail",
            &["SIZE 1000000", ":587", &at],
        );
        assert_has(
            &out,
            "size.oversize-refused-587",
            "fail",
            &["SIZE=20480000", "552", &at],
        );
        assert_caused_by(
            &out,
            "size.advertised-587",
            "postfix.message-size-limit-587",
        );
        assert_caused_by(
            &out,
            "size.oversize-refused-587",
            "postfix.message-size-limit-587",
        );
        assert_has(&out, "size.advertised", "pass", &["SIZE 20480000"]);
    }

    // 2. Header checks off for mail received on 587.
    {
        let (_b, lines) = Broken::with(&["-o receive_override_options=no_header_body_checks"], "");
        let at = format!(
            "master.cf:{}: `-o receive_override_options=no_header_body_checks`",
            lines[0]
        );
        let out = run_only(
            &g,
            &[
                "postfix.mime-header-checks-587",
                "delivery.attachment-ban-587",
            ],
        );
        assert_has(
            &out,
            "postfix.mime-header-checks-587",
            "fail",
            &[&at, "no_header_body_checks"],
        );
        assert_has(
            &out,
            "delivery.attachment-ban-587",
            "fail",
            &[":587", "gets through", "name=invoice.exe was accepted"],
        );
        assert_caused_by(
            &out,
            "delivery.attachment-ban-587",
            "postfix.mime-header-checks-587",
        );
    }

    // 3. A relay hole on 587: the client list emptied, and an access table that answers OK
    // for every client before the relay protection in both lists. (A bare `permit` before
    // reject_unauth_destination is no hole on Postfix 3.x: smtpd logs "restriction ... after
    // `permit' is ignored" and refuses to start without a working protection.)
    {
        let (_b, lines) = Broken::with(
            &[
                "-o smtpd_relay_restrictions=permit_mynetworks,check_client_access,static:OK,defer_unauth_destination",
                "-o smtpd_recipient_restrictions=permit_mynetworks,check_client_access,static:OK,reject_unauth_destination",
            ],
            &format!(
                "sed -i 's/-o smtpd_client_restrictions=permit_sasl_authenticated,reject/-o smtpd_client_restrictions=/' {MASTER_CF}"
            ),
        );
        let out = run_only(
            &g,
            &[
                "postfix.recipient-restrictions-587",
                "relay.unauthenticated-refused-587",
                "relay.unauthenticated-refused",
            ],
        );
        assert_has(
            &out,
            "postfix.recipient-restrictions-587",
            "fail",
            &[
                &format!(
                    "master.cf:{}: `-o smtpd_recipient_restrictions=permit_mynetworks,check_client_access,static:OK,reject_unauth_destination`",
                    lines[1]
                ),
                &format!("master.cf:{}: `-o smtpd_relay_restrictions=", lines[0]),
                "static:OK",
                "open relay",
            ],
        );
        assert_has(
            &out,
            "relay.unauthenticated-refused-587",
            "fail",
            &[":587", "open relay", "RSET"],
        );
        assert_caused_by(
            &out,
            "relay.unauthenticated-refused-587",
            "postfix.recipient-restrictions-587",
        );
        assert_has(&out, "relay.unauthenticated-refused", "pass", &[":25"]);
    }

    // 4. STARTTLS broken on 587 only: a certificate file that does not exist.
    {
        let (_b, lines) = Broken::with(&["-o smtpd_tls_cert_file=/nonexistent"], "");
        let at = format!(
            "master.cf:{}: `-o smtpd_tls_cert_file=/nonexistent`",
            lines[0]
        );
        let out = run_only(&g, &["postfix.tls-settings-587", "tls.starttls-587"]);
        assert_has(
            &out,
            "postfix.tls-settings-587",
            "fail",
            &["/nonexistent", &at],
        );
        assert_has(&out, "tls.starttls-587", "fail", &[":587"]);
        assert_caused_by(&out, "tls.starttls-587", "postfix.tls-settings-587");
    }

    let after = std::fs::read(lab::path(MASTER_CF)).unwrap();
    assert!(before == after, "master.cf was not restored byte for byte");
}
