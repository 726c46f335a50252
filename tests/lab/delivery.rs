//! Delivery (T18) and the live attachment ban (T34) on the real lab: clean passes, each break
//! names its cause, and no test mail is ever left behind, not even after SIGINT/SIGTERM.

use crate::support as lab;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lab::{Lab, LabGuard};

/// The account's Maildir on the lab: /home/vmail/<domain>/<local part>.
fn maildir(g: &LabGuard) -> PathBuf {
    let local = g.lab.account.split('@').next().unwrap();
    PathBuf::from("/home/vmail").join(&g.lab.domain).join(local)
}

/// Files in new/ and cur/ that carry an X-Mailcheck-Run header.
fn our_mail(g: &LabGuard) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(rd) = std::fs::read_dir(lab::path(maildir(g).join(sub))) else {
            continue;
        };
        for e in rd.flatten() {
            let text = std::fs::read(e.path()).unwrap_or_default();
            let head = String::from_utf8_lossy(&text[..text.len().min(8192)]).to_string();
            let head = head.split("\n\n").next().unwrap_or("").to_ascii_lowercase();
            if head.contains("x-mailcheck-run:") {
                out.push(e.path());
            }
        }
    }
    out
}

/// Names of every file in new/ and cur/.
fn listing(g: &LabGuard) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(rd) = std::fs::read_dir(lab::path(maildir(g).join(sub))) {
            out.extend(
                rd.flatten()
                    .map(|e| format!("{sub}/{}", e.file_name().to_string_lossy())),
            );
        }
    }
    out.sort();
    out
}

/// A config file with short delivery deadlines, so a broken lab fails fast.
fn quick_config() -> PathBuf {
    let p = std::env::temp_dir().join(format!("mailcheck-quick-{}.toml", std::process::id()));
    std::fs::write(&p, "[timeouts]\ndelivery = \"3s\"\n").unwrap();
    p
}

#[test]
fn clean_lab_delivers_via_25_and_587_and_leaves_nothing() {
    let g = Lab::lock();
    let before = listing(&g);
    let out = g.run(&["--only", "delivery"]);
    for id in ["delivery.via-25", "delivery.via-587"] {
        assert_eq!(out.status(id), "pass", "{id}: {}", out.message(id));
        assert!(
            out.message(id).contains(&maildir(&g).display().to_string()),
            "{}",
            out.message(id)
        );
        assert!(
            out.message(id).contains("owned 5000:5000"),
            "{}",
            out.message(id)
        );
    }
    // The tutorial's rule misses quoted names: a warning, not a failure.
    assert_eq!(
        out.status("delivery.attachment-ban"),
        "warn",
        "{}",
        out.message("delivery.attachment-ban")
    );
    assert_eq!(listing(&g), before, "the Maildir changed");
    assert!(our_mail(&g).is_empty());
}

#[test]
fn no_send_sends_nothing() {
    let g = Lab::lock();
    let out = g.run(&["--only", "delivery", "--no-send"]);
    for id in [
        "delivery.via-25",
        "delivery.via-587",
        "delivery.attachment-ban",
    ] {
        assert_eq!(out.status(id), "skip", "{id}");
        assert!(out.message(id).contains("--no-send"), "{}", out.message(id));
    }
}

/// The fix mailcheck gives for the tutorial's rule works: with it, both checks of T34 pass.
#[test]
fn the_fixed_attachment_rule_passes() {
    let mut g = Lab::lock();
    let fix = g.run(&["--only", "postfix.mime-header-checks", "--no-send"]);
    let fix = fix.check("postfix.mime-header-checks")["fix"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let rule = fix
        .split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("no rule in the fix: {fix}"))
        .to_string();
    g.break_with(&format!(
        "printf '%s\\n' '{rule}' > /etc/postfix/mime_header_checks && postfix reload"
    ));
    let ids = [
        "postfix.mime-header-checks",
        "delivery.attachment-ban",
        "postfix.mime-header-checks-587",
        "delivery.attachment-ban-587",
    ];
    let args: Vec<&str> = ids.iter().flat_map(|i| ["--only", i]).collect();
    let out = g.run(&args);
    g.restore();
    for id in ids {
        assert_eq!(
            out.status(id),
            "pass",
            "{id} with `{rule}`: {}",
            out.message(id)
        );
    }
    assert!(
        our_mail(&g).is_empty(),
        "accepted attachment mail was left behind"
    );
}

#[test]
fn mime_header_checks_removed_fails_the_attachment_ban() {
    let mut g = Lab::lock();
    g.expect_after_break(
        "postconf -X mime_header_checks && postfix reload",
        "delivery.attachment-ban",
        "fail",
        &["gets through"],
    );
    assert!(
        our_mail(&g).is_empty(),
        "accepted attachment mail was left behind"
    );
}

#[test]
fn maildir_owned_by_root_fails_delivery_naming_the_cause() {
    let mut g = Lab::lock();
    let dir = maildir(&g);
    g.break_with(&format!("chown root:root {}/new", dir.display()));
    let cfg = quick_config();
    let out = g.run(&[
        "--only",
        "delivery.via-25",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    let msg = out.message("delivery.via-25");
    g.restore();
    // Postfix defers the message; flush it now that the directory is right again, so it is
    // delivered, and let the next run's leftover sweep (or this one) delete it.
    lab::sh("postqueue -f");
    assert_eq!(out.status("delivery.via-25"), "fail", "{msg}");
    assert!(msg.contains("not delivered"), "{msg}");
    assert!(msg.contains("owned 0:0"), "{msg}");
    // The deferred message arrives after the flush; the next run removes it as a leftover.
    let deadline = Instant::now() + Duration::from_secs(10);
    while our_mail(&g).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let again = g.run(&["--only", "delivery.via-25"]);
    assert_eq!(
        again.status("delivery.via-25"),
        "pass",
        "{}",
        again.message("delivery.via-25")
    );
    assert!(
        our_mail(&g).is_empty(),
        "leftover not removed: {:?}",
        our_mail(&g)
    );
}

#[test]
fn interrupted_runs_leave_no_test_mail() {
    let g = Lab::lock();
    let before = listing(&g);
    // Signals at different points of the run: before, during and after the deliveries.
    let delays = [0u64, 5, 15, 30, 60, 120, 250];
    for (i, ms) in delays.iter().enumerate() {
        let signal = if i % 2 == 0 { "INT" } else { "TERM" };
        let child = lab::mailcheck_command()
            .args([
                "run",
                "--host",
                &g.lab.hostname,
                "--account",
                &g.lab.account,
                "--only",
                "delivery",
                "--format",
                "json",
            ])
            .env("MAILCHECK_PASSWORD", &g.lab.password)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(*ms));
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status();
        let out = child.wait_with_output().unwrap();
        // Killed outright (None) only happens before the handlers exist, when nothing was sent.
        let code = out.status.code();
        assert!(
            matches!(code, None | Some(0) | Some(1) | Some(130)),
            "SIG{signal} after {ms} ms: {code:?} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            our_mail(&g).is_empty(),
            "SIG{signal} after {ms} ms left {:?}",
            our_mail(&g)
        );
    }
    assert_eq!(listing(&g), before);
}
