//! The system, SASL and queue host checks on the real lab (T8, T9, T19-T25, T36): each passes
//! on the clean lab, each break fails the exact check with a message naming the cause, and a
//! run as an unprivileged user gives error or pass for them, never a false fail.

use crate::support as lab;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lab::{Lab, LabGuard, only, run_only, sh};

/// Every check this file covers.
const CHECKS: &[&str] = &[
    "system.vmail-user",
    "fs.vmail-tree",
    "sasl.saslauthd-defaults",
    "sasl.saslauthd-socket",
    "sasl.saslauthd-symlink",
    "sasl.pam-smtp",
    "sasl.smtpd-conf",
    "sasl.postfix-in-sasl",
    "sasl.saslauthd-auth",
    "queue.no-stuck-mail",
];

const SASL_DIR: &str = "/var/spool/postfix/var/run/saslauthd";

/// bash that stops the lab's saslauthd (master and workers: one process group) by its pid
/// file and waits until it is gone.
fn stop_saslauthd() -> String {
    format!(
        "pid=$(cat {SASL_DIR}/saslauthd.pid) && kill -TERM -- -$pid && \
         for i in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done; \
         ! kill -0 $pid 2>/dev/null"
    )
}

/// `local@domain` -> the account's Maildir.
fn maildir(g: &LabGuard) -> PathBuf {
    let local = g
        .lab
        .account
        .split('@')
        .next()
        .expect("account has a local part");
    PathBuf::from("/home/vmail").join(&g.lab.domain).join(local)
}

#[test]
fn clean_lab_passes_every_system_check() {
    let g = Lab::lock();
    let out = run_only(&g, CHECKS);
    for id in CHECKS {
        assert_eq!(out.status(id), "pass", "{id}: {}", out.message(id));
    }
    assert!(out.message("sasl.saslauthd-auth").contains(&g.lab.account));
    assert!(out.message("sasl.saslauthd-symlink").contains(SASL_DIR));
    assert!(
        !out.stdout.contains(&g.lab.db_password),
        "the DB password leaked into the report"
    );
    let pam = &out.check("sasl.pam-smtp")["evidence"]["file"]["text"];
    assert!(
        pam.as_str().unwrap_or("").contains("passwd=<redacted>"),
        "{pam}"
    );
}

#[test]
fn t8_vmail_with_a_login_shell_fails() {
    let mut g = Lab::lock();
    g.expect_after_break(
        "usermod -s /bin/bash vmail",
        "system.vmail-user",
        "fail",
        &["vmail can log in", "/bin/bash"],
    );
}

#[test]
fn t9_domain_maildir_owned_by_root_fails_naming_it() {
    let mut g = Lab::lock();
    let dir = maildir(&g);
    let shown = dir.display().to_string();
    g.expect_after_break(
        &format!("chown root:root {shown}"),
        "fs.vmail-tree",
        "fail",
        &[
            &format!("{shown} (root:root)"),
            "not owned by vmail:vmail (5000:5000)",
        ],
    );
}

#[test]
fn t19_start_no_fails() {
    let mut g = Lab::lock();
    g.expect_after_break(
        "sed -i 's/^START=yes/START=no/' /etc/default/saslauthd",
        "sasl.saslauthd-defaults",
        "fail",
        &["/etc/default/saslauthd line", "START=no"],
    );
}

#[test]
fn t20_t25_saslauthd_stopped() {
    let mut g = Lab::lock();
    g.break_with(&stop_saslauthd());
    let out = run_only(&g, &["sasl.saslauthd-socket", "sasl.saslauthd-auth"]);
    g.restore();
    assert_eq!(out.status("sasl.saslauthd-socket"), "fail");
    assert!(out.message("sasl.saslauthd-socket").contains("not running"));
    assert_eq!(out.status("sasl.saslauthd-auth"), "skip");
    assert!(
        out.message("sasl.saslauthd-auth")
            .contains("blocked by sasl.saslauthd-socket"),
        "{}",
        out.message("sasl.saslauthd-auth")
    );
}

#[test]
fn t20_saslauthd_with_another_socket_dir_fails_naming_it() {
    let mut g = Lab::lock();
    let other = "/run/saslauthd-other";
    g.break_with(&format!(
        "{} && mkdir -p {other} && setsid /usr/sbin/saslauthd -a pam -c -r -m {other} -n 1 \
         </dev/null >/dev/null 2>&1 && for i in $(seq 50); do [ -S {other}/mux ] && break; sleep 0.1; done",
        stop_saslauthd()
    ));
    let out = run_only(&g, &["sasl.saslauthd-socket"]);
    g.restore();
    sh(&format!("rm -rf -- {other}"));
    let msg = out.message("sasl.saslauthd-socket");
    assert_eq!(out.status("sasl.saslauthd-socket"), "fail", "{msg}");
    assert!(msg.contains(other), "{msg}");
    assert!(msg.contains(SASL_DIR), "{msg}");
}

#[test]
fn t21_symlink_removed_fails() {
    let mut g = Lab::lock();
    g.expect_after_break(
        "rm /var/run/saslauthd",
        "sasl.saslauthd-symlink",
        "fail",
        &["/var/run/saslauthd does not exist"],
    );
}

#[test]
fn t21_plain_directory_fails() {
    let mut g = Lab::lock();
    g.expect_after_break(
        "rm /var/run/saslauthd && mkdir /var/run/saslauthd",
        "sasl.saslauthd-symlink",
        "fail",
        &["/var/run/saslauthd is a plain directory", SASL_DIR],
    );
}

#[test]
fn t21_dangling_symlink_fails() {
    let mut g = Lab::lock();
    g.expect_after_break(
        "ln -sfn /var/spool/postfix/var/run/saslautdh /var/run/saslauthd",
        "sasl.saslauthd-symlink",
        "fail",
        &["dangles", "saslautdh"],
    );
}

#[test]
fn t22_world_readable_pam_file_fails() {
    let mut g = Lab::lock();
    g.expect_after_break(
        "chmod 644 /etc/pam.d/smtp",
        "sasl.pam-smtp",
        "fail",
        &["/etc/pam.d/smtp", "mode 0644, not 0640"],
    );
}

#[test]
fn t22_crypt_0_fails_without_printing_the_password() {
    let mut g = Lab::lock();
    let out = g.expect_after_break(
        "sed -i 's/crypt=1/crypt=0/' /etc/pam.d/smtp",
        "sasl.pam-smtp",
        "fail",
        &["/etc/pam.d/smtp line 1 (auth)", "crypt=0", "plaintext"],
    );
    assert!(!out.stdout.contains(&g.lab.db_password), "passwd= leaked");
}

#[test]
fn t23_smtpd_conf_group_root_fails() {
    let mut g = Lab::lock();
    g.expect_after_break(
        "chgrp root /etc/postfix/sasl/smtpd.conf",
        "sasl.smtpd-conf",
        "fail",
        &["/etc/postfix/sasl/smtpd.conf", "group root, not postfix"],
    );
}

#[test]
fn t24_postfix_removed_from_sasl_fails() {
    let mut g = Lab::lock();
    g.expect_after_break(
        "gpasswd -d postfix sasl >/dev/null",
        "sasl.postfix-in-sasl",
        "fail",
        &["user postfix is not in group sasl"],
    );
}

#[test]
fn t25_wrong_password_in_the_db_is_refused() {
    let mut g = Lab::lock();
    let (db, account) = (g.lab.db_name.clone(), g.lab.account.clone());
    // A new hash in the DB, then a fresh saslauthd: its -c cache holds the old success.
    g.break_with(&format!(
        "hash=$(openssl passwd -1 'not-the-lab-password-{pid}') && \
         mysql {db} -e \"UPDATE mailbox SET password='$hash' WHERE username='{account}'\" && \
         {stop} && rm -f {SASL_DIR}/cache.mmap {SASL_DIR}/cache.flock && \
         setsid /usr/sbin/saslauthd -a pam -c -r -m {SASL_DIR} -n 5 </dev/null >/dev/null 2>&1 && \
         for i in $(seq 50); do [ -S {SASL_DIR}/mux ] && break; sleep 0.1; done",
        pid = std::process::id(),
        stop = stop_saslauthd(),
    ));
    let out = run_only(&g, &["sasl.saslauthd-socket", "sasl.saslauthd-auth"]);
    g.restore();
    let msg = out.message("sasl.saslauthd-auth");
    assert_eq!(out.status("sasl.saslauthd-auth"), "fail", "{msg}");
    assert!(
        msg.contains(&format!("saslauthd refused {account} for service smtp")),
        "{msg}"
    );
    let fix = out.check("sasl.saslauthd-auth")["fix"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        fix.contains("/etc/pam.d/smtp") && fix.contains("md5-crypt"),
        "{fix}"
    );
    assert!(
        !out.stdout.contains(&g.lab.password),
        "the account password leaked"
    );
}

/// Queue ids of messages from `sender`, from `postqueue -j`.
fn queued_from(sender: &str) -> Vec<(String, String)> {
    let out = lab::command("postqueue")
        .arg("-j")
        .output()
        .expect("run postqueue -j");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["sender"] == sender)
        .map(|m| {
            (
                m["queue_id"].as_str().unwrap_or("").to_string(),
                m["queue_name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn t36_mail_deferred_for_the_virtual_domain_fails_listing_it() {
    let mut g = Lab::lock();
    let tmp = maildir(&g).join("tmp");
    let sender = format!("mailcheck-t36-{}@{}", std::process::id(), g.lab.domain);
    // virtual(8) cannot create the file in tmp/ and defers the message.
    g.break_with(&format!(
        "chown root:root {tmp} && printf 'Subject: mailcheck T36 lab test\\n\\nstuck on purpose\\n' | \
         sendmail -i -f {sender} -- {account}",
        tmp = tmp.display(),
        account = g.lab.account,
    ));
    let started = Instant::now();
    let mut deferred = Vec::new();
    while started.elapsed() < Duration::from_secs(30) {
        deferred = queued_from(&sender)
            .into_iter()
            .filter(|(_, q)| q == "deferred")
            .map(|(id, _)| id)
            .collect();
        if !deferred.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = run_only(&g, &["queue.no-stuck-mail"]);
    // Our message goes away before the lab is restored (up.sh would only flush it).
    for (id, _) in queued_from(&sender) {
        sh(&format!("postsuper -d {id} >/dev/null 2>&1"));
    }
    g.restore();
    assert!(!deferred.is_empty(), "the test mail was never deferred");
    let msg = out.message("queue.no-stuck-mail");
    assert_eq!(out.status("queue.no-stuck-mail"), "fail", "{msg}");
    for needle in [
        deferred[0].as_str(),
        g.lab.account.as_str(),
        "Permission denied",
    ] {
        assert!(msg.contains(needle), "lacks {needle:?}: {msg}");
    }
}

#[test]
fn unprivileged_user_gets_no_false_fail() {
    let g = Lab::lock();
    // A copy that nobody can execute, wherever the target directory is.
    let dir = std::env::temp_dir().join(format!("mailcheck-nonroot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.join("mailcheck");
    std::fs::copy(lab::mailcheck_bin(), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = lab::command("runuser")
        .args(["-u", "nobody", "--"])
        .arg(&bin)
        .args([
            "run",
            "--host",
            &g.lab.hostname,
            "--account",
            &g.lab.account,
        ])
        .args(["--format", "json"])
        .args(only(CHECKS))
        .env("MAILCHECK_PASSWORD", &g.lab.password)
        .current_dir(&dir)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON as nobody ({e}): {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let checks = json["checks"].as_array().unwrap();
    let status = |id: &str| {
        let c = checks.iter().find(|c| c["id"] == id).unwrap();
        (
            c["status"].as_str().unwrap().to_string(),
            c["message"].as_str().unwrap_or("").to_string(),
        )
    };
    for id in CHECKS {
        let (s, m) = status(id);
        assert!(
            ["pass", "error", "skip"].contains(&s.as_str()),
            "{id} as nobody: {s}: {m}"
        );
    }
    // What nobody cannot read is an error that says so.
    for id in ["fs.vmail-tree", "sasl.pam-smtp", "sasl.smtpd-conf"] {
        let (s, m) = status(id);
        assert_eq!(s, "error", "{id}: {m}");
        assert!(m.contains("needs root"), "{id}: {m}");
    }
    for id in ["sasl.saslauthd-socket", "sasl.saslauthd-auth"] {
        let (s, m) = status(id);
        assert!(s == "error" || s == "skip", "{id}: {s}: {m}");
    }
    assert!(
        !stdout.contains(&g.lab.password),
        "the account password leaked"
    );
}
