//! The database checks (T10-T12, T17) on the real lab: a clean lab passes them with one
//! connection, and each break fails the right check naming its cause: MariaDB stopped, the DB
//! password changed, the mailbox made inactive, a map query that errs or finds nothing, and a
//! database port that accepts but never answers.

use crate::support as lab;

use std::io::Write as _;

use lab::Lab;

const T10: &str = "mysql.server-reachable";
const T11: &str = "mysql.map-credentials";
const T12: &str = "mysql.postfixadmin-tables";
const T17: &str = "mysql.maps-answer";
const MAILBOX_MAP: &str = "/etc/postfix/mysql_virtual_mailbox_maps.cf";

/// Stops the lab's MariaDB by its pid file and waits until it is gone (up.sh restarts it).
const STOP_MARIADB: &str = "pid=$(cat /run/mysqld/mysqld.pid); kill \"$pid\"; \
    for i in $(seq 200); do [ -d /proc/$pid ] || exit 0; sleep 0.1; done; echo mariadbd did not stop; exit 1";

#[test]
fn clean_lab_passes_the_database_checks_with_one_login() {
    let g = Lab::lock();
    let out = g.run(&["--only", "mysql"]);
    for id in [T10, T11, T12, T17] {
        assert_eq!(out.status(id), "pass", "{id}: {}", out.message(id));
    }
    let t11 = out.check(T11);
    assert_eq!(
        t11["evidence"]["distinct_logins"], 1,
        "the four maps share one login: {t11}"
    );
    assert!(out.message(T10).contains("127.0.0.1:3306"));
    assert!(out.message(T11).contains(&g.lab.db_user));
    let expected = format!(
        "{} → {}/{}/",
        g.lab.account,
        g.lab.domain,
        g.lab.account.split('@').next().unwrap()
    );
    assert!(out.message(T17).contains(&expected), "{}", out.message(T17));
    // Hash schemes are counted; neither the hash nor any password is ever printed.
    assert!(
        out.message(T12).contains("md5-crypt"),
        "{}",
        out.message(T12)
    );
    assert!(!out.stdout.contains("$1$"), "a password hash leaked");
    assert!(
        !out.stdout.contains(&g.lab.db_password),
        "the DB password leaked"
    );
}

#[test]
fn t10_database_stopped_fails_naming_host_port_and_dependents_skip() {
    let mut g = Lab::lock();
    g.break_with(STOP_MARIADB);
    let out = g.run(&["--only", "mysql"]);
    g.restore();
    assert_eq!(out.status(T10), "fail", "{}", out.message(T10));
    let msg = out.message(T10);
    for needle in ["127.0.0.1:3306", "refused", "/etc/postfix/mysql_"] {
        assert!(msg.contains(needle), "T10 lacks {needle:?}: {msg}");
    }
    for id in [T11, T12, T17] {
        assert_eq!(out.status(id), "skip", "{id}: {}", out.message(id));
        assert!(out.message(id).contains(T10), "{id}: {}", out.message(id));
    }
    assert_eq!(out.code, 1);
}

#[test]
fn t11_changed_db_password_fails_naming_user_and_file() {
    let mut g = Lab::lock();
    let user = g.lab.db_user.clone();
    let out = g.expect_after_break(
        &format!(
            "mysql -e \"ALTER USER '{user}'@'127.0.0.1' IDENTIFIED BY 'mc-changed-7'; ALTER USER '{user}'@'localhost' IDENTIFIED BY 'mc-changed-7'\""
        ),
        T11,
        "fail",
        &["access denied", &format!("'{user}'"), "/etc/postfix/mysql_"],
    );
    assert!(!out.stdout.contains(&g.lab.db_password));
    assert!(!out.stdout.contains("mc-changed-7"));
}

#[test]
fn t17_inactive_mailbox_fails() {
    let mut g = Lab::lock();
    let (db, account) = (g.lab.db_name.clone(), g.lab.account.clone());
    g.expect_after_break(
        &format!("mysql {db} -e \"UPDATE mailbox SET active = 0 WHERE username = '{account}'\""),
        T17,
        "fail",
        &[MAILBOX_MAP, &account, "returned nothing", "active = 0"],
    );
}

#[test]
fn t17_map_query_on_a_wrong_column_fails_with_the_server_error() {
    let mut g = Lab::lock();
    let account = g.lab.account.clone();
    g.expect_after_break(
        &format!("sed -i 's/SUBSTRING_INDEX(maildir,/SUBSTRING_INDEX(maildirx,/' {MAILBOX_MAP}"),
        T17,
        "fail",
        &[MAILBOX_MAP, &account, "Unknown column 'maildirx'", "defers"],
    );
}

#[test]
fn t17_map_query_that_finds_nothing_fails() {
    let mut g = Lab::lock();
    let account = g.lab.account.clone();
    g.expect_after_break(
        &format!("sed -i 's/AND active = 1/AND active = 2/' {MAILBOX_MAP}"),
        T17,
        "fail",
        &[
            MAILBOX_MAP,
            &account,
            "returned nothing",
            "the map's query does not match it",
        ],
    );
}

#[test]
fn t12_missing_column_fails_naming_it() {
    let mut g = Lab::lock();
    let db = g.lab.db_name.clone();
    // up.sh recreates a table that lost a column (and re-inserts the lab's rows).
    g.expect_after_break(
        &format!("mysql {db} -e 'ALTER TABLE alias DROP COLUMN active'"),
        T12,
        "fail",
        &["alias", "lacks column active"],
    );
}

/// A database port that accepts and never sends its greeting: T10 is an error after the
/// database deadline, not a fail and not a hang. The lab's own files are copied to a
/// temporary configuration directory whose maps point at a silent loopback listener.
#[test]
fn t10_silent_database_port_is_an_error_not_a_fail() {
    let g = Lab::lock();
    let ip = lab::host_address();
    let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s); // accept, never answer
        }
    });
    let dir = std::env::temp_dir().join(format!("mailcheck-silent-db-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let d = dir.display().to_string();
    let main_cf = std::fs::read_to_string(lab::path("/etc/postfix/main.cf")).unwrap();
    std::fs::write(
        dir.join("main.cf"),
        main_cf.replace("/etc/postfix/mysql_", &format!("{d}/mysql_")),
    )
    .unwrap();
    std::fs::copy(lab::path("/etc/postfix/master.cf"), dir.join("master.cf")).unwrap();
    for e in std::fs::read_dir(lab::path("/etc/postfix"))
        .unwrap()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("mysql_") && name.ends_with(".cf") {
            let text = std::fs::read_to_string(e.path()).unwrap();
            let text: String = text
                .lines()
                .map(|l| {
                    if l.trim_start().starts_with("hosts") {
                        format!("hosts = {ip}:{port}\n")
                    } else {
                        format!("{l}\n")
                    }
                })
                .collect();
            std::fs::write(dir.join(&name), text).unwrap();
        }
    }
    let config = dir.join("config.toml");
    let mut f = std::fs::File::create(&config).unwrap();
    writeln!(f, "[tutorial]\npostfix_config_dir = {d:?}").unwrap();
    drop(f);
    let started = std::time::Instant::now();
    let out = lab::mailcheck_command()
        .args([
            "run",
            "--host",
            &g.lab.hostname,
            "--account",
            &g.lab.account,
        ])
        .args(["--format", "json", "--only", T10, "--config"])
        .arg(&config)
        .env_remove("MAILCHECK_PASSWORD")
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let check = json["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["id"] == T10))
        .unwrap();
    let msg = check["message"].as_str().unwrap_or_default();
    assert_eq!(check["status"], "error", "{msg}");
    assert!(msg.contains(&format!("{ip}:{port}")), "{msg}");
    assert!(msg.contains("no answer"), "{msg}");
    assert!(
        elapsed < std::time::Duration::from_secs(11),
        "the database deadline did not hold: {elapsed:?}"
    );
}
