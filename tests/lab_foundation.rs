//! The foundation's promise on the real lab: a clean lab gives exit 0 with no failure, and
//! breaking T1, T5, T14 or T20 gives exit 1 with the right check failing and naming the cause.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

#[path = "support/lab.rs"]
mod lab;

use lab::Lab;

#[test]
fn clean_lab_passes_every_check() {
    let g = Lab::lock();
    let out = g.run(&[]);
    let bad: Vec<String> = ["fail", "error"]
        .iter()
        .flat_map(|s| out.with_status(s))
        .collect();
    assert!(
        bad.is_empty(),
        "clean lab has failures/errors:\n{}",
        bad.join("\n")
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json["schema_version"], 1);
    assert_eq!(out.json["target"]["host"], g.lab.hostname.as_str());
}

#[test]
fn t1_wrong_banner_fails_naming_it() {
    let mut g = Lab::lock();
    let out = g.expect_after_break(
        "postconf -e 'smtpd_banner = mail.wrong.test ESMTP $mail_name' && postfix reload",
        "smtp.banner",
        "fail",
        &["mail.wrong.test"],
    );
    assert_eq!(out.code, 1);
}

#[test]
fn t1_postfix_stopped_fails_with_refused() {
    let mut g = Lab::lock();
    let out = g.expect_after_break("postfix stop", "smtp.banner", "fail", &["refused", ":25"]);
    assert_eq!(out.code, 1);
}

#[test]
fn t5_virtual_domain_in_mydestination_fails() {
    let mut g = Lab::lock();
    let domain = g.lab.domain.clone();
    let out = g.expect_after_break(
        &format!("postconf -e 'mydestination = {domain}, localhost'"),
        "postfix.mydestination-empty",
        "fail",
        &[&domain, "line"],
    );
    assert_eq!(out.code, 1);
}

#[test]
fn t14_world_readable_map_fails_naming_the_file() {
    let mut g = Lab::lock();
    let out = g.expect_after_break(
        "chmod 644 /etc/postfix/mysql_virtual_mailbox_maps.cf",
        "fs.mysql-maps-perms",
        "fail",
        &["/etc/postfix/mysql_virtual_mailbox_maps.cf", "0644"],
    );
    assert_eq!(out.code, 1);
}

#[test]
fn t20_saslauthd_stopped_fails() {
    let mut g = Lab::lock();
    let out = g.expect_after_break(
        "pkill -x saslauthd; for i in $(seq 50); do pgrep -x saslauthd >/dev/null || break; sleep 0.1; done",
        "sasl.saslauthd-socket",
        "fail",
        &["not running"],
    );
    assert_eq!(out.code, 1);
}

#[test]
fn bad_input_gets_one_line_and_exit_2() {
    let _g = Lab::lock();
    let bin = lab::mailcheck_bin();
    let cases: &[&[&str]] = &[
        &["run", "--host", "localhost", "--bogus"],
        &["run", "--host", "no-such-host.invalid"],
        &["run", "--host", "localhost", "--only", "no.such-check"],
        &["explain", "no.such-check"],
        &["run", "--host", "localhost", "--password", "hunter22"],
        &[
            "run",
            "--host",
            "localhost",
            "--config",
            "/nonexistent/mailcheck.toml",
        ],
    ];
    for args in cases {
        let out = std::process::Command::new(&bin)
            .args(*args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("mailcheck: "), "{args:?}: {err}");
        assert!(!err.contains("hunter22"), "password echoed: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
