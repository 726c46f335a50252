//! The foundation's promise on the real lab: a clean lab gives exit 0 with no failure, and
//! breaking T1, T5, T14 or T20 gives exit 1 with the right check failing and naming the cause.

use crate::support as lab;

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
    assert_eq!(out.json["schema_version"], 2);
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

#[test]
fn baseline_diff_shows_what_a_break_changed() {
    let mut g = Lab::lock();
    let dir = std::env::temp_dir().join(format!("mailcheck-baseline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("last-good.json");
    let first = g.run(&["--json", good.to_str().unwrap(), "--no-send"]);
    assert_eq!(first.code, 0, "{}", first.stdout);
    g.break_with("chmod 644 /etc/postfix/mysql_virtual_alias_maps.cf");
    let second = g.run(&["--baseline", good.to_str().unwrap(), "--no-send"]);
    g.restore();
    let newly: Vec<&str> = second.json["baseline"]["newly_failing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(newly, ["fs.mysql-maps-perms"], "{}", second.stdout);
    assert_eq!(second.code, 1);
    // Repaired: nothing newly fails, so --fail-on-regression exits 0.
    let again = g.run(&[
        "--baseline",
        good.to_str().unwrap(),
        "--fail-on-regression",
        "--no-send",
    ]);
    assert_eq!(again.code, 0, "{}", again.stdout);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn config_file_with_a_password_must_not_be_group_readable() {
    let _g = Lab::lock();
    let dir = std::env::temp_dir().join(format!("mailcheck-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.toml");
    std::fs::write(
        &cfg,
        "host = \"localhost\"\npassword = \"hunter2-secret\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = lab::mailcheck_command()
        .args([
            "run",
            "--config",
            cfg.to_str().unwrap(),
            "--only",
            "smtp.banner",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("readable by group or others") && err.contains("0640"),
        "{err}"
    );
    assert!(!err.contains("hunter2-secret"));
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = lab::mailcheck_command()
        .args([
            "run",
            "--config",
            cfg.to_str().unwrap(),
            "--only",
            "smtp.banner",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_ne!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
