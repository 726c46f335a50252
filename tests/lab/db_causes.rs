//! Issue 13 §3-4 on the host lab: MariaDB's real listening places against the maps and
//! pam_mysql (mysql.server-listens), pam_mysql's own database login (sasl.pam-mysql-login), and
//! the maps over a UNIX socket that chrooted services cannot see (mysql.server-reachable, failed
//! once the live RCPT shows `451 4.3.0`). One clean run, then one break, one run (`--only` the
//! checks asserted) and one restore per case.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use crate::support as lab;

use lab::{Lab, assert_caused_by, assert_has, only, run_only, sh};

const MAPS: &str = "/etc/postfix/mysql_*.cf";
const PAM: &str = "/etc/pam.d/smtp";
const WRONG_PW: &str = "j13db-not-the-password-4711";
/// The lab's mariadbd (pid file, socket) as tests/lab/up.sh starts it.
const MY_PID: &str = "/run/mysqld/mysqld.pid";

/// `mailcheck run --format human --json FILE --only ...`: the human report on stdout and the JSON
/// one in a file, from one run.
fn run_human_and_json(g: &lab::LabGuard, ids: &[&str]) -> (lab::RunOutput, String) {
    let file =
        std::env::temp_dir().join(format!("mailcheck-db-causes-{}.json", std::process::id()));
    let out = lab::mailcheck_command()
        .args([
            "run",
            "--host",
            &g.lab.hostname,
            "--account",
            &g.lab.account,
            "--format",
            "human",
            "--json",
        ])
        .arg(&file)
        .args(only(ids))
        .args(lab::save_args())
        .env("MAILCHECK_PASSWORD", &g.lab.password)
        .env_remove("MAILCHECK_HOST")
        .env_remove("MAILCHECK_ACCOUNT")
        .output()
        .expect("run mailcheck");
    let human = String::from_utf8_lossy(&out.stdout).into_owned();
    let text = std::fs::read_to_string(&file).expect("the --json report");
    let _ = std::fs::remove_file(&file);
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON report");
    lab::assert_schema_v2(&json);
    lab::save_report(&text);
    let run = lab::RunOutput {
        code: out.status.code().unwrap_or(-1),
        json,
        stdout: text,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    (run, human)
}

/// Stops the running mariadbd and waits until it is gone (up.sh then starts the lab's own).
fn stop_mariadb() -> String {
    format!(
        "pid=$(cat {MY_PID}); kill $pid; for i in $(seq 300); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done; \
         ! kill -0 $pid 2>/dev/null"
    )
}

/// Runs `f` (the one mailcheck run of a break), then `restore`, then re-raises a panic of `f`.
fn run_then_restore<T>(
    g: &mut lab::LabGuard,
    f: impl FnOnce(&lab::LabGuard) -> T,
    restore: impl FnOnce(&mut lab::LabGuard),
) -> T {
    let r = catch_unwind(AssertUnwindSafe(|| f(g)));
    restore(g);
    r.unwrap_or_else(|e| resume_unwind(e))
}

#[test]
fn database_causes_are_named() {
    let mut g = Lab::lock();

    // Clean: all three pass.
    let clean = run_only(
        &g,
        &[
            "mysql.server-listens",
            "mysql.server-reachable",
            "sasl.pam-mysql-login",
        ],
    );
    assert_has(
        &clean,
        "mysql.server-listens",
        "pass",
        &["127.0.0.1:3306", "unix:/run/mysqld/mysqld.sock"],
    );
    assert_has(&clean, "mysql.server-reachable", "pass", &[]);
    assert_has(
        &clean,
        "sasl.pam-mysql-login",
        "pass",
        &[
            "/etc/pam.d/smtp lines 1, 2",
            "may read username, password of mailbox",
        ],
    );

    // 1. MariaDB restarted with skip-networking while the maps and pam_mysql say 127.0.0.1.
    g.break_with(&format!(
        "{}; start-stop-daemon --start --quiet --background --pidfile {MY_PID} --exec /usr/sbin/mariadbd \
         --output /var/log/mailcheck-lab/mariadb.log -- --user=mysql --skip-networking 9>&-; \
         for i in $(seq 300); do mysqladmin --connect-timeout=2 ping >/dev/null 2>&1 && break; sleep 0.1; done; \
         mysqladmin --connect-timeout=2 ping >/dev/null",
        stop_mariadb()
    ));
    let out = run_then_restore(
        &mut g,
        |g| {
            run_only(
                g,
                &[
                    "mysql.server-listens",
                    "mysql.server-reachable",
                    "sasl.pam-mysql-login",
                    "delivery.via-25",
                ],
            )
        },
        |g| {
            sh(&stop_mariadb());
            g.restore();
            // dict_mysql marks a dead server for retry_interval (60 s): fresh processes.
            sh("postfix reload >/dev/null 2>&1");
        },
    );
    println!(
        "skip-networking: {}\n  delivery.via-25: {}",
        out.message("mysql.server-listens"),
        out.message("delivery.via-25")
    );
    assert_has(
        &out,
        "mysql.server-listens",
        "fail",
        &[
            "hosts = 127.0.0.1 in /etc/postfix/mysql_",
            "host=127.0.0.1 in /etc/pam.d/smtp",
            "skip-networking = on (command line)",
            "listens only on unix:/run/mysqld/mysqld.sock",
        ],
    );
    assert_has(&out, "sasl.pam-mysql-login", "fail", &["cannot connect"]);
    assert_caused_by(&out, "delivery.via-25", "mysql.server-listens");

    // 2. A wrong passwd= in /etc/pam.d/smtp while saslauthd -c has the account cached.
    // saslauthd -c caches the account's password as SMTP AUTH checked it: log in first.
    let warm = run_only(&g, &["auth.login-works"]);
    assert_has(&warm, "auth.login-works", "pass", &[]);
    g.break_with(&format!("sed -i 's/passwd=[^ ]*/passwd={WRONG_PW}/' {PAM}"));
    let (out, human) = run_then_restore(
        &mut g,
        |g| run_human_and_json(g, &["sasl.pam-mysql-login", "auth.login-works"]),
        |g| g.restore(),
    );
    println!("wrong passwd=: {}", out.message("sasl.pam-mysql-login"));
    assert_has(
        &out,
        "sasl.pam-mysql-login",
        "fail",
        &[
            &format!("user={} host=127.0.0.1 db={}", g.lab.db_user, g.lab.db_name),
            "is refused",
            "Access denied for user",
            "saslauthd -c caches good passwords",
        ],
    );
    // The cache hides the break from SMTP AUTH.
    assert_has(&out, "auth.login-works", "pass", &[]);
    for secret in [WRONG_PW, g.lab.db_password.as_str()] {
        assert!(
            !out.stdout.contains(secret),
            "the pam password is in the JSON"
        );
        assert!(
            !human.contains(secret),
            "the pam password is in the human report"
        );
    }
    assert!(human.contains("sasl.pam-mysql-login"), "{human}");

    // 3. hosts = localhost in the maps: chrooted smtpd/cleanup/trivial-rewrite see no socket.
    g.break_with(&format!(
        "sed -i 's/^hosts = 127.0.0.1/hosts = localhost/' {MAPS}; postfix reload >/dev/null 2>&1; sleep 1"
    ));
    let out = run_then_restore(
        &mut g,
        |g| {
            run_only(
                g,
                &[
                    "mysql.server-reachable",
                    "mysql.server-listens",
                    "relay.unauthenticated-refused",
                    "delivery.via-25",
                ],
            )
        },
        |g| {
            g.restore();
            sh("postfix reload >/dev/null 2>&1");
        },
    );
    println!(
        "hosts = localhost: {}",
        out.message("mysql.server-reachable")
    );
    assert_has(
        &out,
        "mysql.server-reachable",
        "fail",
        &[
            "hosts = localhost in /etc/postfix/mysql_",
            "smtp, cleanup, rewrite run chrooted",
            "/var/spool/postfix/run/mysqld/mysqld.sock does not exist",
            "451 4.3.0",
        ],
    );
    // MariaDB itself listens on the socket the maps name now.
    assert_has(&out, "mysql.server-listens", "pass", &[]);
    assert_caused_by(&out, "delivery.via-25", "mysql.server-reachable");
    assert_caused_by(
        &out,
        "relay.unauthenticated-refused",
        "mysql.server-reachable",
    );
}
