//! Golden outputs of a recorded run in every format (`reports/golden/`), rendered by the
//! binary itself (`mailcheck run --replay fixtures/runs/broken-lab`), with the run's measured
//! times redacted, and checked by the consumers that exist here: an XML parser for JUnit,
//! `prove` for TAP, the Nagios grammar, the Prometheus text grammar, the JSON schema.
//! `MAILCHECK_BLESS=1` rewrites the goldens.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;

mod support {
    pub mod sample_report;
}

use mailcheck::report;
use mailcheck::verdict::{Status, Verdict};
use support::sample_report::{LOG_LINE, SOCKET_MESSAGE, canonical};

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
    // The causes block: the stopped saslauthd first, its fix under it, the check it blocked
    // indented under that.
    let causes: Vec<&str> = text
        .split("Causes (fix these first):\n")
        .nth(1)
        .expect("a causes block")
        .lines()
        .collect();
    assert!(
        causes[0].starts_with("  FAIL  sasl.saslauthd-socket (T20): saslauthd is not running"),
        "{text}"
    );
    assert!(
        causes[1].trim_start().starts_with("fix: start saslauthd"),
        "{text}"
    );
    assert!(
        causes[2].starts_with("      -> SKIP  sasl.saslauthd-auth (T25)"),
        "{text}"
    );
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
    assert!(
        !html.contains("<script>alert"),
        "server text must be escaped"
    );
    assert!(
        !html.contains("<details open"),
        "nothing is open: failures are not folded"
    );
    assert!(
        !html.contains("<script"),
        "the page works without JavaScript"
    );
    assert!(
        html.contains("content=\"default-src 'none'; style-src 'unsafe-inline'\""),
        "a CSP forbids scripts and external assets"
    );
    // Failures and errors, then warnings, then the folded passes; by T-order within each.
    let at = |needle: &str| html.find(needle).unwrap_or_else(|| panic!("no {needle}"));
    assert!(at("id=\"summary\"") < at("id=\"causes\""));
    assert!(at("id=\"causes\"") < at("id=\"problems\""));
    assert!(at("id=\"problems\"") < at("id=\"warnings\""));
    assert!(at("id=\"warnings\"") < at("id=\"passes\""));
    assert!(
        at("<article class=\"check error\" id=\"check-smtp.banner\"")
            < at("<article class=\"check fail\" id=\"check-fs.mysql-maps-perms\""),
        "T1 before T14"
    );
    assert!(at("Base Postfix") < at("MySQL and Postfix Admin"));
    // The header has versions and vantages.
    assert!(html.contains("OpenSSL 3.0.17, Postfix 3.7.11"), "{html}");
    assert!(
        html.contains("on the server (2 checks), from 198.18.1.2 (2 checks)"),
        "{html}"
    );
}

#[test]
fn human_puts_the_cause_first_and_its_effects_under_it_once() {
    let text = report::human::render(&canonical(), false);
    let causes = text
        .split("Causes (fix these first):")
        .nth(1)
        .expect("a causes block");
    let lines: Vec<&str> = causes.lines().collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle} in\n{causes}"))
    };
    let root = at("FAIL  sasl.saslauthd-socket (T20)");
    let effect = at("-> ERROR auth.login-works (T30)");
    let blocked = at("-> SKIP  relay.authenticated-accepted (T31) did not run");
    assert!(root < effect && effect < blocked, "{causes}");
    let indent = |i: usize| lines[i].len() - lines[i].trim_start().len();
    assert!(
        indent(root) < indent(effect) && indent(effect) < indent(blocked),
        "{causes}"
    );
    assert!(lines[root + 1].contains("fix: start saslauthd"), "{causes}");
    assert!(
        causes.contains("LOG   the server logged: postfix/smtpd[4711]"),
        "{causes}"
    );
    // The chain is told once: the listing points at the cause instead of repeating it (the
    // cause's message shows on its own line and in the block, not on its effects' lines).
    assert_eq!(text.matches(SOCKET_MESSAGE).count(), 2, "{text}");
    assert_eq!(text.matches(LOG_LINE).count(), 1, "{text}");
    assert!(text.contains("(cause: sasl.saslauthd-socket)"), "{text}");
    // The counts are the last line.
    let last = text.lines().rev().find(|l| !l.is_empty()).unwrap();
    assert_eq!(
        last,
        "1 passed, 3 failed, 1 warning, 2 skipped, 2 errors in 0.04 s"
    );
    assert!(text.contains("ran on the server (2 checks), from 198.18.1.2 (2 checks); the server runs OpenSSL 3.0.17, Postfix 3.7.11"));
}

#[test]
fn progress_line_fits_the_terminal() {
    assert_eq!(
        report::human::progress_line(3, 49, "running tls.starttls-25", 80),
        "[3/49] running tls.starttls-25"
    );
    let cut = report::human::progress_line(3, 49, &"x".repeat(200), 40);
    assert_eq!(cut.chars().count(), 39, "{cut}");
    assert!(cut.ends_with('…'));
    assert!(!report::human::progress_line(1, 2, "a\x1b[2Jb", 80).contains('\x1b'));
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
    assert_eq!(d.exit_code(report::Gate::Error), mailcheck::exit::FAILED);
    assert!(
        d.render_human()
            .contains("was: mydestination is empty (main.cf line 40)")
    );
    let _ = Status::Pass;
}

/// Every junit case that did not pass carries its fix, its causes (root first) and its
/// vantage, in the failure text and as properties quick-junit reads back.
#[test]
fn junit_cases_carry_fix_cause_and_vantage() {
    let xml = report::junit::render(&canonical());
    let parsed = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit XML");
    let case = parsed
        .test_suites
        .iter()
        .flat_map(|s| &s.test_cases)
        .find(|c| c.name.as_str() == "auth.login-works")
        .unwrap();
    let props: Vec<(String, String)> = case
        .properties
        .iter()
        .map(|p| (p.name.to_string(), p.value.to_string()))
        .collect();
    let want = |k: &str, v: &str| {
        assert!(
            props.iter().any(|(a, b)| a == k && b.contains(v)),
            "{k}={v} not in {props:?}"
        )
    };
    want("fix", "testsaslauthd");
    want(
        "caused_by",
        &format!("sasl.saslauthd-socket (fail): {SOCKET_MESSAGE}"),
    );
    want("vantage", "from 198.18.1.2");
    let quick_junit::TestCaseStatus::NonSuccess { description, .. } = &case.status else {
        panic!("not a failure: {:?}", case.status)
    };
    let d = description.as_ref().unwrap().to_string();
    assert!(d.contains("caused by: sasl.saslauthd-socket (fail)"), "{d}");
    assert!(d.contains("fix: Run `testsaslauthd"), "{d}");
    assert!(d.contains("ran from 198.18.1.2"), "{d}");
    // Suites are the tutorial's sections, in T-order.
    let names: Vec<&str> = parsed.test_suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Base Postfix",
            "MySQL and Postfix Admin",
            "saslauthd and PAM",
            "SMTP AUTH and TLS",
            "Submission port",
            "Policy"
        ]
    );
}

#[test]
fn tap_failures_carry_fix_cause_and_vantage() {
    let tap = report::tap::render(&canonical());
    let block = tap
        .split("not ok")
        .find(|b| b.contains("auth.login-works"))
        .unwrap();
    assert!(block.contains("  fix: \"Run `testsaslauthd"), "{block}");
    assert!(
        block.contains(
            "  caused_by:\n    - \"sasl.saslauthd-socket (fail): saslauthd is not running"
        ),
        "{block}"
    );
    assert!(block.contains("  vantage: \"from 198.18.1.2\""), "{block}");
    let log = tap
        .split("not ok")
        .find(|b| b.contains("submission.auth-required"))
        .unwrap();
    assert!(
        log.contains("the server logged: postfix/smtpd[4711]"),
        "{log}"
    );
    let dir = tempdir();
    let file = dir.join("t.tap");
    std::fs::write(&file, tap.replacen("TAP version 14", "TAP version 13", 1)).unwrap();
    let out = std::process::Command::new("prove")
        .args(["--exec", "cat", file.to_str().unwrap()])
        .output()
        .expect("prove");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Failed 5/9 subtests"), "{text}");
    assert!(!text.contains("Parse errors"), "{text}");
}

/// `mailcheck run --replay DIR --format F` plus extra arguments: the exit code.
fn replay_code(run: &str, extra: &[&str]) -> i32 {
    std::process::Command::new(env!("CARGO_BIN_EXE_mailcheck"))
        .args(["run", "--replay"])
        .arg(repo().join("fixtures/runs").join(run))
        .args(extra)
        .env_remove("MAILCHECK_FORMAT")
        .env_remove("MAILCHECK_FAIL_ON")
        .output()
        .unwrap()
        .status
        .code()
        .unwrap_or(-1)
}

#[test]
fn fail_on_decides_which_statuses_gate() {
    use mailcheck::exit;
    let code = |extra: &[&str]| replay_code("broken-lab", extra);
    let (fail, error, warn) = (
        i32::from(exit::FAILED),
        i32::from(exit::INCOMPLETE),
        i32::from(exit::WARNED),
    );
    // A failure gates at every level.
    assert_eq!(code(&["--format", "json"]), fail);
    assert_eq!(code(&["--fail-on", "fail"]), fail);
    assert_eq!(code(&["--fail-on", "warn"]), fail);
    // Only errors (T30 here): 3 by default and with warn, 0 with fail.
    assert_eq!(code(&["--only", "T30"]), error);
    assert_eq!(code(&["--only", "T30", "--fail-on", "fail"]), 0);
    assert_eq!(code(&["--only", "T30", "--fail-on", "warn"]), error);
    // Only warnings (T34 here): 0 by default, 5 with warn.
    assert_eq!(code(&["--only", "T34"]), 0);
    assert_eq!(code(&["--only", "T34", "--fail-on", "warn"]), warn);
    assert_eq!(code(&["--only", "T34", "--fail-on", "fail"]), 0);
    // Nagios keeps its own mapping whatever --fail-on says.
    assert_eq!(
        code(&["--format", "nagios", "--fail-on", "fail"]),
        i32::from(report::nagios::CRITICAL)
    );
    assert_eq!(
        code(&["--only", "T34", "--format", "nagios", "--fail-on", "fail"]),
        i32::from(report::nagios::WARNING)
    );
    // The clean run: nothing fails or errors; it warns (T34, the tutorial's own rule has the
    // gap), so only --fail-on warn counts that.
    assert_eq!(replay_code("clean-lab", &[]), 0);
    assert_eq!(replay_code("clean-lab", &["--fail-on", "fail"]), 0);
    assert_eq!(replay_code("clean-lab", &["--fail-on", "error"]), 0);
    assert_eq!(replay_code("clean-lab", &["--fail-on", "warn"]), warn);
}

#[test]
fn fail_on_regression_counts_only_what_newly_reaches_the_level() {
    let dir = tempdir();
    let broken = dir.join("broken.json");
    let (json, _) = replay("broken-lab", "json");
    std::fs::write(&broken, json).unwrap();
    let code = |run: &str, extra: &[&str]| {
        let mut args = vec![
            "--baseline",
            broken.to_str().unwrap(),
            "--fail-on-regression",
        ];
        args.extend_from_slice(extra);
        replay_code(run, &args)
    };
    // The same failures as the baseline: no regression.
    assert_eq!(code("broken-lab", &[]), 0);
    assert_eq!(code("broken-lab", &["--fail-on", "warn"]), 0);
    // Against a clean baseline every failure is new.
    let clean = dir.join("clean.json");
    let (json, _) = replay("clean-lab", "json");
    std::fs::write(&clean, json).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mailcheck"))
        .args(["run", "--replay"])
        .arg(repo().join("fixtures/runs/broken-lab"))
        .args([
            "--format",
            "json",
            "--baseline",
            clean.to_str().unwrap(),
            "--fail-on-regression",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// Two recordings of the lab (clean, then broken) compared: checks that still pass on the same
/// facts are not "changed", though their timings, queue ids, Maildir file names and client
/// ports differ; a fact that did change (mynetworks, as the relay probe saw it) is.
#[test]
fn baseline_diff_compares_facts_not_measurements() {
    let dir = tempdir();
    let clean = dir.join("clean.json");
    let (json, _) = replay("clean-lab", "json");
    std::fs::write(&clean, json).unwrap();
    let base = report::baseline::load(&clean).unwrap();
    let (json, _) = replay("broken-lab", "json");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mailcheck"))
        .args(["run", "--replay"])
        .arg(repo().join("fixtures/runs/broken-lab"))
        .args(["--format", "json", "--baseline", clean.to_str().unwrap()])
        .output()
        .unwrap();
    let diffed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids = |k: &str| -> Vec<String> {
        diffed["baseline"][k]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    let changed = ids("changed");
    // delivery.via-25 passed both times with another queue id, file name and time.
    for id in [
        "delivery.via-25",
        "mysql.server-reachable",
        "mysql.maps-answer",
        "queue.no-stuck-mail",
        "auth.mechanisms-offered",
    ] {
        assert!(
            !changed.contains(&id.to_string()),
            "{id} changed: {:#}",
            diffed["baseline"]
        );
    }
    assert!(
        changed.contains(&"relay.unauthenticated-refused".to_string()),
        "{changed:?}"
    );
    let relay = diffed["baseline"]["changed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "relay.unauthenticated-refused")
        .unwrap();
    assert!(
        relay["facts"][0]
            .as_str()
            .unwrap()
            .contains("probe.mynetworks: \"127.0.0.0/8\" -> \"127.0.0.0/8 192.168.0.0/16\""),
        "{relay}"
    );
    assert!(ids("newly_failing").contains(&"fs.mysql-maps-perms".to_string()));
    // The clean run against itself: nothing at all.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mailcheck"))
        .args(["run", "--replay"])
        .arg(repo().join("fixtures/runs/clean-lab"))
        .args(["--format", "json", "--baseline", clean.to_str().unwrap()])
        .output()
        .unwrap();
    let same: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in ["changed", "newly_failing", "newly_passing"] {
        assert_eq!(same["baseline"][k], serde_json::json!([]), "{k}");
    }
    let _ = (base, v);
}

/// A schema v1 baseline (no evidence) is compared on statuses and messages, with measured
/// times, queue ids and file names masked.
#[test]
fn baseline_of_schema_v1_compares_masked_messages() {
    let dir = tempdir();
    let path = dir.join("v1.json");
    std::fs::write(
        &path,
        r#"{"schema_version": 1, "started": "2026-01-01T00:00:00Z", "checks": [
            {"id": "delivery.via-25", "status": "pass", "message": "delivered via port 25 to /home/vmail/example.com/root/new/1796174218.Vfe00Ic0173M668958.vm in 42.5 ms, owned 5000:5000, deleted again"},
            {"id": "postfix.mydestination-empty", "status": "pass", "message": "mydestination is empty (main.cf line 40)"}
        ]}"#,
    )
    .unwrap();
    let base = report::baseline::load(&path).unwrap();
    let mut now = canonical();
    now.results = vec![
        support::sample_report::result(
            "delivery.via-25",
            "T18",
            Verdict::pass(
                "delivered via port 25 to /home/vmail/example.com/root/new/1796174221.Vfe00Ic0269M397156.vm in 1.4 ms, owned 5000:5000, deleted again",
            ),
            None,
        ),
        support::sample_report::result(
            "postfix.mydestination-empty",
            "T5",
            Verdict::pass("mydestination is empty (main.cf line 47)"),
            None,
        ),
    ];
    let d = report::baseline::diff(&base, &now);
    let ids: Vec<&str> = d.changed.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["postfix.mydestination-empty"]);
}

/// The Markdown summary, read by a CommonMark + GFM parser (pulldown-cmark, as GitHub renders
/// step summaries): a heading, one table of counts by section, the failures with their fixes.
fn markdown_events(md: &str) -> Vec<pulldown_cmark::Event<'_>> {
    let opts =
        pulldown_cmark::Options::ENABLE_TABLES | pulldown_cmark::Options::ENABLE_STRIKETHROUGH;
    pulldown_cmark::Parser::new_ext(md, opts).collect()
}

/// The plain text of each list item's first paragraph line (text and code, markup dropped).
fn item_texts(events: &[pulldown_cmark::Event<'_>]) -> Vec<String> {
    use pulldown_cmark::{Event, Tag, TagEnd};
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut cur: Option<String> = None;
    for e in events {
        match e {
            Event::Start(Tag::Item) => {
                if let Some(c) = cur.take() {
                    out.push(c);
                }
                depth += 1;
                cur = Some(String::new());
            }
            Event::End(TagEnd::Item) => {
                if let Some(c) = cur.take() {
                    out.push(c);
                }
                depth -= 1;
            }
            Event::Text(t) | Event::Code(t) if depth > 0 => {
                if let Some(c) = cur.as_mut() {
                    c.push_str(t);
                }
            }
            Event::SoftBreak if depth > 0 => {
                if let Some(c) = cur.as_mut() {
                    c.push(' ');
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn markdown_golden_renders_as_a_summary_table_and_the_failures() {
    use pulldown_cmark::{Event, HeadingLevel, Tag, TagEnd};
    let (md, code) = replay("broken-lab", "markdown");
    golden("summary.md", &md);
    assert_eq!(code, 1);
    let events = markdown_events(&md);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Html(_) | Event::InlineHtml(_))),
        "no raw HTML reaches the page"
    );
    // Headings.
    let mut headings = Vec::new();
    let mut in_heading = None;
    for e in &events {
        match e {
            Event::Start(Tag::Heading { level, .. }) => in_heading = Some((*level, String::new())),
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, h)) = in_heading.as_mut() {
                    h.push_str(t);
                }
            }
            Event::End(TagEnd::Heading(_)) => headings.extend(in_heading.take()),
            _ => {}
        }
    }
    assert_eq!(headings[0].0, HeadingLevel::H2);
    assert_eq!(
        headings[0].1,
        "mailcheck on atlantis.example.com: 5 failed, 2 undecided, 2 warnings"
    );
    let h3: Vec<&str> = headings
        .iter()
        .filter(|h| h.0 == HeadingLevel::H3)
        .map(|h| h.1.as_str())
        .collect();
    assert_eq!(
        h3,
        ["Fix these first", "Other failures and errors", "Warnings"]
    );
    // One table: a header and a row per section, then the totals.
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut cell: Option<String> = None;
    for e in &events {
        match e {
            Event::Start(Tag::TableHead | Tag::TableRow) => rows.push(Vec::new()),
            Event::Start(Tag::TableCell) => cell = Some(String::new()),
            Event::Text(t) => {
                if let Some(c) = cell.as_mut() {
                    c.push_str(t);
                }
            }
            Event::End(TagEnd::TableCell) => rows.last_mut().unwrap().push(cell.take().unwrap()),
            _ => {}
        }
    }
    assert_eq!(
        rows[0],
        ["Section", "fail", "error", "warn", "pass", "skip"]
    );
    assert_eq!(rows[1], ["Base Postfix", "1", "0", "0", "6", "0"]);
    assert_eq!(rows.last().unwrap(), &["all", "5", "2", "2", "38", "2"]);
    let (json, _) = replay("broken-lab", "json");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let sections = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| report::section_title(c["requirement"].as_str().unwrap()))
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(rows.len(), 1 + sections.len() + 1);
    // Every failure, error and warning is an item with its message and its fix, as written.
    let items = item_texts(&events);
    for c in v["checks"].as_array().unwrap() {
        if !matches!(c["status"].as_str(), Some("fail" | "error" | "warn")) {
            continue;
        }
        let id = c["id"].as_str().unwrap();
        // What the item shows is the check's own finding; its causes are items of their own.
        let message = c["message"].as_str().unwrap();
        let message = message.split("; caused by ").next().unwrap();
        let message = message
            .split("; the server logged: ")
            .next()
            .unwrap()
            .replace('`', "");
        let head = items
            .iter()
            .find(|i| {
                i.contains(&format!(
                    "{} {id} (",
                    c["status"].as_str().unwrap().to_uppercase()
                ))
            })
            .unwrap_or_else(|| panic!("no item for {id} in {items:#?}"));
        assert!(head.ends_with(&message), "{id}: {head} vs {message}");
        let fix = c["fix"]
            .as_str()
            .unwrap()
            .replace('`', "")
            .replace('\n', " ");
        assert!(
            items.iter().any(|i| i == &format!("fix: {fix}")),
            "{id}: no fix item {fix:?} in {items:#?}"
        );
    }
}

#[test]
fn markdown_keeps_server_text_as_text() {
    use pulldown_cmark::Event;
    let md = report::markdown::render(&canonical());
    let events = markdown_events(&md);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Html(_) | Event::InlineHtml(_))),
        "{md}"
    );
    assert!(
        !events.iter().any(|e| matches!(
            e,
            Event::Start(pulldown_cmark::Tag::Link { .. } | pulldown_cmark::Tag::Emphasis)
        )),
        "server text made a link or emphasis: {md}"
    );
    let items = item_texts(&events);
    let warn = items
        .iter()
        .find(|i| i.contains("postfix.mime-header-checks"))
        .unwrap();
    assert!(
        warn.ends_with("misses quoted names: name=\"x.exe\" # gets through <b> | *bold* $x $y [link](http://evil.example) <script>alert(1)</script>"),
        "{warn}"
    );
    assert!(
        items
            .iter()
            .any(|i| i == "fix: /name=[^>]*\\.(bat|com|exe|dll|vbs)\"?$/ REJECT"),
        "{items:#?}"
    );
    // The cause chain of an effect, root first; a log line as code.
    assert!(
        items.iter().any(|i| i.starts_with(&format!(
            "cause: sasl.saslauthd-socket (fail): {SOCKET_MESSAGE}"
        ))),
        "{items:#?}"
    );
    assert!(
        items
            .iter()
            .any(|i| i == &format!("cause: the server logged {LOG_LINE}")),
        "{items:#?}"
    );
    // Rendered to HTML, no tag comes from server text.
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    assert!(
        !html.contains("<script>") && !html.contains("<b>") && !html.contains("href=\"http://evil"),
        "{html}"
    );
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

/// Every observation key (of every kind's evidence schema) that looks measured is either
/// masked by the baseline diff or kept on purpose (moved out of src/report: report must not import
/// checks, tests/layering.rs).
#[test]
fn every_kinds_measurement_like_keys_are_classified() {
    const KEPT: &[&str] = &[
        "cache_timeout",
        "looked_at",
        "pid_file",
        "runtime_directory",
        "unit_runtime_directory",
        // file times: a file that changed is a changed fact (newaliases ran again)
        "mtime_ns",
        // a stuck message in the queue is the same message in the next run
        "arrival_time",
        "not_before",
        "not_after",
        "not_yet_valid",
        "resolve_timed_out",
        "peer_loopback",
        "port",
        "secs",
        "nanos",
    ];
    let looks = regex::Regex::new(
        r"(_ms$|^ms$|pid|time|^now$|_at$|token|queue_id|message_id|elapsed|waited|days|secs|nanos|started|mtime|^age|duration|took|delivered)",
    )
    .expect("regex");
    let mut unclassified = std::collections::BTreeSet::new();
    fn keys(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::Object(p)) = m.get("properties") {
                    out.extend(p.keys().cloned());
                }
                m.values().for_each(|x| keys(x, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| keys(x, out)),
            _ => {}
        }
    }
    for k in mailcheck::checks::registry::KINDS {
        let mut names = Vec::new();
        keys(&k.observation_schema(), &mut names);
        for n in names {
            if looks.is_match(&n)
                && !report::baseline::volatile_key(&n)
                && !KEPT.contains(&n.as_str())
            {
                unclassified.insert(n);
            }
        }
    }
    assert!(
        unclassified.is_empty(),
        "observation keys that look measured: add each to VOLATILE_KEYS or KEPT: {unclassified:?}"
    );
}
