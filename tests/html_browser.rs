//! The HTML report in a real headless browser (Debian's chromium): it renders, the summary is
//! in the DOM, and a screenshot is taken (reports/golden/report.png is not compared, only made:
//! pixels differ between chromium builds).

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::Command;

fn chromium() -> &'static str {
    for c in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if std::path::Path::new(c).exists() {
            return c;
        }
    }
    panic!("chromium is not installed: tests/run.sh installs it (apt-get install chromium)");
}

fn browser(args: &[&str], profile: &std::path::Path) -> std::process::Output {
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("run chromium")
}

#[test]
fn html_report_renders_with_its_summary() {
    let dir = std::env::temp_dir().join(format!("mailcheck-html-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("reports/golden/report.html");
    let page = dir.join("report.html");
    std::fs::copy(&golden, &page).unwrap();
    let url = format!("file://{}", page.display());

    let dom = browser(&["--dump-dom", &url], &dir.join("profile-dom"));
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("id=\"summary\""),
        "no summary in the rendered DOM:\n{dom}"
    );
    assert!(
        dom.contains("class=\"pill fail\"") && dom.contains("class=\"pill pass\""),
        "{dom}"
    );

    let shot = dir.join("report.png");
    let out = browser(
        &[
            "--window-size=1100,700",
            &format!("--screenshot={}", shot.display()),
            &url,
        ],
        &dir.join("profile-shot"),
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    assert!(
        png.len() > 10_000,
        "screenshot suspiciously small: {} bytes",
        png.len()
    );
    let keep = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report.png");
    std::fs::copy(&shot, &keep).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
