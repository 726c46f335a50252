//! Golden outputs of one canonical run in every format (`reports/golden/`), checked by the
//! consumers that exist here: an XML parser for JUnit, `prove` for TAP, the Nagios grammar,
//! the Prometheus text grammar, the JSON schema. `MAILCHECK_BLESS=1` rewrites the goldens.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use mailcheck::report::{self, RunReport};
use mailcheck::runner::CheckResult;
use mailcheck::verdict::{Status, Verdict};
use serde_json::json;

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
    golden("human.txt", &report::human::render(&canonical(), false));
}

#[test]
fn json_golden_and_schema() {
    let text = report::json::render(&canonical(), None);
    golden("run.json", &text);
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("reports/schema-v2.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(jsonschema::is_valid(&schema, &v));
}

#[test]
fn junit_golden_parses_as_junit() {
    let xml = report::junit::render(&canonical());
    golden("junit.xml", &xml);
    let parsed = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit XML");
    assert_eq!(parsed.tests, 5);
    assert_eq!(parsed.failures, 1);
    assert_eq!(parsed.errors, 1);
    let suites: Vec<_> = parsed
        .test_suites
        .iter()
        .map(|s| s.name.as_str().to_string())
        .collect();
    assert_eq!(suites, ["fs", "postfix", "sasl", "smtp"]);
}

#[test]
fn tap_golden_is_read_by_prove() {
    let tap = report::tap::render(&canonical());
    golden("report.tap", &tap);
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
    // Two `not ok` (fail, error) out of five; the skip is counted as a skip.
    assert!(text.contains("Failed 2/5 subtests"), "{text}");
    assert!(!text.contains("Parse errors"), "{text}");
}

#[test]
fn nagios_golden_follows_the_plugin_grammar() {
    let r = canonical();
    let text = report::nagios::render(&r);
    golden("nagios.txt", &text);
    assert_eq!(report::nagios::exit_code(&r), report::nagios::CRITICAL);
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
    let text = report::prometheus::render(&canonical());
    // The run timestamp and duration are data, not noise: the canonical run fixes both.
    golden("metrics.prom", &text);
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
        "mailcheck_certificate_days_left{host=\"atlantis.example.com\",id=\"smtp.banner\"} 800"
    ));
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
fn html_is_self_contained_and_escaped() {
    let html = report::html::render(&canonical());
    golden("report.html", &html);
    assert!(
        html.contains("gets through &lt;b&gt;"),
        "server text must be escaped"
    );
    assert!(
        !html.contains("gets through <b>"),
        "server text must be escaped"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("src="),
        "external asset"
    );
    assert!(html.contains("id=\"summary\""));
    assert_eq!(
        html.matches("<details open>").count(),
        2,
        "fail and error open"
    );
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
