//! Golden outputs of a recorded run in every format (`reports/golden/`), rendered by the
//! binary itself (`mailcheck run --replay fixtures/runs/broken-lab`), with the run's measured
//! times redacted, and checked by the consumers that exist here: an XML parser for JUnit,
//! `prove` for TAP, the Nagios grammar, the Prometheus text grammar, the JSON schema.
//! `MAILCHECK_BLESS=1` rewrites the goldens.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use mailcheck::report::{self, RunReport};
use mailcheck::runner::CheckResult;
use mailcheck::verdict::{Status, Verdict};
use serde_json::json;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `mailcheck run --replay fixtures/runs/RUN --format FORMAT`: (stdout, exit code).
fn replay(run: &str, format: &str) -> (String, i32) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mailcheck"))
        .args(["run", "--replay"])
        .arg(repo().join("fixtures/runs").join(run))
        .args(["--format", format])
        .env("NO_COLOR", "1")
        .env_remove("MAILCHECK_HOST")
        .env_remove("MAILCHECK_ACCOUNT")
        .env_remove("MAILCHECK_FORMAT")
        .output()
        .unwrap();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// Replaces what a replay measures anew (the run's and each check's duration).
fn redact(text: &str) -> String {
    let rules = [
        (r#""duration_ms": \d+"#, r#""duration_ms": 0"#),
        (r#"in \d+\.\d+ s\b"#, "in 0.00 s"),
        (r#"took \d+\.\d+ s\b"#, "took 0.00 s"),
        (r#"time="[0-9.]+""#, r#"time="0""#),
        (r#"duration_ms: \d+"#, "duration_ms: 0"),
        (r#"duration=[0-9.]+s"#, "duration=0s"),
        (
            r#"(mailcheck_(run_)?duration_seconds\{[^}]*\}) [0-9.e-]+"#,
            "$1 0",
        ),
        (
            r#"(mailcheck_check_duration_seconds\{[^}]*\}) [0-9.e-]+"#,
            "$1 0",
        ),
        (r#"<td class="ms">[0-9.]+</td>"#, r#"<td class="ms">0</td>"#),
        (r#"\d+ ms</"#, "0 ms</"),
    ];
    let mut out = text.to_string();
    for (re, with) in rules {
        out = regex::Regex::new(re)
            .unwrap()
            .replace_all(&out, with)
            .into_owned();
    }
    out
}

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("reports/golden")
        .join(name);
    if std::env::var_os("MAILCHECK_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with MAILCHECK_BLESS=1 to create it",
            path.display()
        )
    });
    assert_eq!(
        expected,
        actual,
        "{} differs; MAILCHECK_BLESS=1 rewrites it",
        path.display()
    );
}

#[test]
fn human_golden() {
    let (text, code) = replay("broken-lab", "human");
    golden("human.txt", &redact(&text));
    assert_eq!(code, 1, "a failing check makes the exit status 1");
    assert!(text.contains("FAIL  fs.mysql-maps-perms"), "{text}");
}

#[test]
fn clean_run_replays_to_the_same_statuses_it_recorded() {
    let (text, code) = replay("clean-lab", "json");
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    for c in v["checks"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        let rec: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(repo().join(format!("fixtures/runs/clean-lab/{id}.json")))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(c["status"], rec["verdict"], "{id}");
        assert_eq!(c["message"], rec["message"], "{id}");
    }
}

#[test]
fn json_golden_and_schema() {
    let (text, _) = replay("broken-lab", "json");
    golden("run.json", &redact(&text));
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("reports/schema-v2.json")).unwrap(),
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let blocked = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "sasl.saslauthd-auth")
        .unwrap();
    assert_eq!(blocked["status"], "skip");
    assert_eq!(blocked["blocked_by"]["check"], "sasl.saslauthd-socket");
}

#[test]
fn junit_golden_parses_as_junit() {
    let (xml, _) = replay("broken-lab", "junit");
    golden("junit.xml", &redact(&xml));
    let parsed = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit XML");
    let (v, _) = replay("broken-lab", "json");
    let v: serde_json::Value = serde_json::from_str(&v).unwrap();
    let n = |s: &str| v["summary"][s].as_u64().unwrap() as usize;
    assert_eq!(parsed.tests, v["checks"].as_array().unwrap().len());
    assert_eq!(parsed.failures, n("fail"));
    assert_eq!(parsed.errors, n("error"));
}

#[test]
fn tap_golden_is_read_by_prove() {
    let (tap, _) = replay("broken-lab", "tap");
    golden("report.tap", &redact(&tap));
    let dir = tempdir();
    let file = dir.join("report.tap");
    // Debian 12's prove (Test::Harness 3.44) predates TAP 14 and calls its version line a parse
    // error; what we emit under it (plans, ok/not ok, # SKIP, YAML blocks) is the same in 13.
    let body = tap.replacen("TAP version 14", "TAP version 13", 1);
    std::fs::write(&file, &body).unwrap();
    let out = std::process::Command::new("prove")
        .args(["--exec", "cat", file.to_str().unwrap()])
        .output()
        .expect("prove (perl) is installed");
    let text = String::from_utf8_lossy(&out.stdout);
    let (v, _) = replay("broken-lab", "json");
    let v: serde_json::Value = serde_json::from_str(&v).unwrap();
    let bad = v["summary"]["fail"].as_u64().unwrap() + v["summary"]["error"].as_u64().unwrap();
    let all = v["checks"].as_array().unwrap().len();
    assert!(
        text.contains(&format!("Failed {bad}/{all} subtests")),
        "{text}"
    );
    assert!(!text.contains("Parse errors"), "{text}");
}

#[test]
fn nagios_golden_follows_the_plugin_grammar() {
    let (text, code) = replay("broken-lab", "nagios");
    golden("nagios.txt", &redact(&text));
    assert_eq!(code, i32::from(report::nagios::CRITICAL));
    let first = text.lines().next().unwrap();
    let (status, perf) = first.split_once(" | ").expect("perfdata after ' | '");
    assert!(status.starts_with("MAILCHECK CRITICAL - "), "{status}");
    assert_eq!(
        text.matches('|').count(),
        1,
        "only the perfdata separator: {text}"
    );
    for item in perf.split(' ') {
        let (label, rest) = item.split_once('=').unwrap();
        assert!(
            label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{label}"
        );
        let value: String = rest.split(';').next().unwrap().trim_end_matches('s').into();
        value.parse::<f64>().unwrap_or_else(|_| panic!("{item}"));
    }
}

#[test]
fn prometheus_golden_follows_the_text_format() {
    let (text, _) = replay("broken-lab", "prometheus");
    golden("metrics.prom", &redact(&text));
    for line in text.lines() {
        if line.starts_with('#') {
            assert!(
                line.starts_with("# HELP mailcheck_") || line.starts_with("# TYPE mailcheck_"),
                "{line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("value in {line}"));
        assert!(
            series.starts_with("mailcheck_") && series.ends_with('}'),
            "{line}"
        );
    }
    assert!(text.contains(
        "mailcheck_certificate_days_left{host=\"atlantis.example.com\",id=\"tls.certificate\"}"
    ));
}

#[test]
fn html_golden_is_self_contained() {
    let (html, _) = replay("broken-lab", "html");
    golden("report.html", &redact(&html));
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("src="),
        "external asset"
    );
    assert!(html.contains("id=\"summary\""));
}

/// A hand-built report with awkward characters, for escaping: server text must never become
/// markup or break a format's grammar.
fn result(id: &str, req: &str, v: Verdict, fix: Option<&str>) -> CheckResult {
    with_evidence(id, req, v, fix, serde_json::Value::Null)
}

fn with_evidence(
    id: &str,
    req: &str,
    v: Verdict,
    fix: Option<&str>,
    evidence: serde_json::Value,
) -> CheckResult {
    CheckResult {
        id: id.into(),
        family: id.split('.').next().unwrap().into(),
        requirement: req.into(),
        title: format!("title of {id}"),
        evidence,
        observed: true,
        blocked_by: None,
        vantage: None,
        verdict: v,
        fix: fix.map(str::to_string),
        duration: Duration::from_millis(3),
        started_at: Duration::ZERO,
    }
}

/// A run with one check of every status, awkward characters included.
fn canonical() -> RunReport {
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
        versions: Default::default(),
        results: vec![
            with_evidence(
                "fs.mysql-maps-perms",
                "T14",
                Verdict::fail(
                    "/etc/postfix/mysql_virtual_mailbox_maps.cf: mode 0644, not 0640 (every local user can read the database password in it)",
                ),
                Some(
                    "chgrp postfix /etc/postfix/mysql_virtual_mailbox_maps.cf && chmod 0640 /etc/postfix/mysql_virtual_mailbox_maps.cf",
                ),
                json!({"files": [{"path": "/etc/postfix/mysql_virtual_mailbox_maps.cf", "mode": "0644"}]}),
            ),
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
                    "the rule in /etc/postfix/mime_header_checks misses quoted names: name=\"x.exe\" # gets through <b>",
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
        ],
    }
}

#[test]
fn html_escapes_server_text() {
    let html = report::html::render(&canonical());
    assert!(
        html.contains("gets through &lt;b&gt;"),
        "server text must be escaped"
    );
    assert!(
        !html.contains("gets through <b>"),
        "server text must be escaped"
    );
    assert_eq!(
        html.matches("<details open>").count(),
        2,
        "fail and error open"
    );
}

#[test]
fn nagios_keeps_one_perfdata_separator_whatever_the_messages_hold() {
    let text = report::nagios::render(&canonical());
    assert_eq!(text.matches('|').count(), 1, "{text}");
}

#[test]
fn prometheus_file_is_replaced_atomically() {
    let dir = tempdir();
    let path = dir.join("mailcheck.prom");
    report::prometheus::write_atomically(&path, "a 1\n").unwrap();
    report::prometheus::write_atomically(&path, "a 2\n").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "a 2\n");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode, 0o644,
        "node_exporter (another user) must be able to read it"
    );
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert_eq!(left.len(), 1, "temp files left behind");
}

#[test]
fn baseline_diff_names_new_failures_and_changes() {
    let mut before = canonical();
    before.results[0].verdict = Verdict::pass("4 mysql map files are group postfix and mode 0640");
    before.results[1].verdict = Verdict::pass("mydestination is empty (main.cf line 40)");
    let dir = tempdir();
    let path = dir.join("last-good.json");
    std::fs::write(&path, report::json::render(&before, None)).unwrap();
    let base = report::baseline::load(&path).unwrap();
    let d = report::baseline::diff(&base, &canonical());
    let ids = |v: &[report::baseline::Change]| v.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&d.newly_failing), ["fs.mysql-maps-perms"]);
    assert_eq!(ids(&d.changed), ["postfix.mydestination-empty"]);
    assert_eq!(d.exit_code(), mailcheck::exit::FAILED);
    assert!(
        d.render_human()
            .contains("was: mydestination is empty (main.cf line 40)")
    );
    let _ = Status::Pass;
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "mailcheck-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
