//! Reports of real lab runs: two runs of the unchanged lab differ in nothing the baseline diff
//! calls a change (their timings, queue ids, Maildir file names, client ports and pids do); a
//! run with saslauthd stopped, against the last good run, shows its regressions, gates the
//! exit status with --fail-on-regression, and writes an HTML page and a Markdown summary that
//! put the failing checks first.

use crate::support::{self as lab, Lab};

/// The lab's saslauthd stopped (master and workers, by its pid file).
const STOP_SASLAUTHD: &str = "pid=$(cat /var/spool/postfix/var/run/saslauthd/saslauthd.pid) && kill -TERM -- -$pid && \
     for i in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done; ! kill -0 $pid 2>/dev/null";

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "mailcheck-lab-reports-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn two_runs_of_the_unchanged_lab_have_no_changed_entry() {
    let g = Lab::lock();
    let dir = scratch("twice");
    let first = g.run(&[]);
    let path = dir.join("first.json");
    std::fs::write(&path, &first.stdout).unwrap();
    let second = g.run(&["--baseline", path.to_str().unwrap()]);
    let b = &second.json["baseline"];
    for k in ["changed", "newly_failing", "newly_passing"] {
        assert_eq!(
            b[k],
            serde_json::json!([]),
            "{k} after an unchanged lab: {b:#}"
        );
    }
    // The runs did measure differently: the diff is not empty for want of data.
    let msg = |r: &lab::RunOutput| r.message("delivery.via-25");
    assert_ne!(msg(&first), msg(&second), "two deliveries, two file names");
    assert_eq!(second.code, 0, "{:?}", second.with_status("fail"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_broken_lab_against_its_last_good_run() {
    let mut g = Lab::lock();
    let dir = scratch("broken");
    let good = g.run(&[]);
    assert_eq!(good.code, 0, "{:?}", good.with_status("fail"));
    let path = dir.join("good.json");
    std::fs::write(&path, &good.stdout).unwrap();
    g.break_with(STOP_SASLAUTHD);
    let (html, md) = (dir.join("report.html"), dir.join("summary.md"));
    let broken = g.run(&[
        "--baseline",
        path.to_str().unwrap(),
        "--fail-on-regression",
        "--html",
        html.to_str().unwrap(),
        "--markdown",
        md.to_str().unwrap(),
    ]);
    let gated = g.run(&[
        "--baseline",
        path.to_str().unwrap(),
        "--fail-on-regression",
        "--fail-on",
        "fail",
        "--only",
        "T30",
    ]);
    g.restore();
    assert_eq!(broken.status("sasl.saslauthd-socket"), "fail");
    let newly: Vec<String> = broken.json["baseline"]["newly_failing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        newly.contains(&"sasl.saslauthd-socket".to_string()),
        "{newly:?}"
    );
    assert!(newly.contains(&"auth.login-works".to_string()), "{newly:?}");
    assert_eq!(broken.code, 1, "a new failure fails the run");
    // Only errors among T30, and --fail-on fail: no regression counts.
    assert_eq!(gated.status("auth.login-works"), "error");
    assert_eq!(gated.code, 0, "--fail-on fail does not count errors");
    // The HTML page: the failing check before the passes; the Markdown lists it with its fix.
    let page = std::fs::read_to_string(&html).unwrap();
    let at = |s: &str| page.find(s).unwrap_or_else(|| panic!("no {s}"));
    assert!(at("id=\"check-sasl.saslauthd-socket\"") < at("id=\"passes\""));
    assert!(
        page.contains("on the server ("),
        "the vantage in the header"
    );
    let summary = std::fs::read_to_string(&md).unwrap();
    assert!(
        summary.contains("`sasl.saslauthd-socket` (T20)"),
        "{summary}"
    );
    assert!(summary.contains("  - fix: start saslauthd"), "{summary}");
    let _ = std::fs::remove_dir_all(dir);
}
