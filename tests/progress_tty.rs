//! The progress line on a real terminal (a tmux pane): while a slow loopback fake server
//! (tests/support/fake_smtp.rs, a tarpit) keeps `smtp.banner` waiting, stderr shows
//! `[done/total] running smtp.banner`; when the run ends the line is gone and the report's
//! last line is the counts. Without a terminal there is no progress line at all.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod support {
    pub mod fake_smtp;
}

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use support::fake_smtp::{self, Behaviour};

/// A tmux server of this test only (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Tmux {
        Tmux {
            socket: format!("mailcheck-progress-{}", std::process::id()),
        }
    }
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]);
        c
    }
    fn capture(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "t"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

fn scratch(name: &str) -> (PathBuf, PathBuf) {
    let dir =
        std::env::temp_dir().join(format!("mailcheck-progress-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("main.cf"),
        "myhostname = fake.example\nmynetworks = 127.0.0.0/8\n",
    )
    .unwrap();
    std::fs::write(dir.join("master.cf"), "").unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!("[tutorial]\npostfix_config_dir = \"{}\"\n", dir.display()),
    )
    .unwrap();
    (dir, config)
}

#[tokio::test(flavor = "multi_thread")]
async fn progress_line_shows_while_a_slow_server_answers_and_is_gone_after() {
    if Command::new("tmux").arg("-V").output().is_err() {
        panic!("tmux is not installed: tests/run.sh installs it (apt-get install tmux)");
    }
    let fake = fake_smtp::start(Behaviour::Tarpit).await;
    let closed = fake_smtp::closed_port().await.port();
    let (dir, config) = scratch("tty");
    let tmux = Tmux::new();
    let script = format!(
        "env -u MAILCHECK_HOST -u MAILCHECK_FORMAT NO_COLOR=1 {} run --host 127.0.0.1 --smtp-port {} --submission-port {closed} --phase-timeout 4 --config {} --only smtp.banner --only tls.starttls-25 --only size.advertised --only size.oversize-refused; echo EXIT=$?; sleep 60",
        env!("CARGO_BIN_EXE_mailcheck"),
        fake.addr.port(),
        config.display()
    );
    let out = tmux
        .cmd()
        .args([
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "120",
            "-y",
            "40",
            &script,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // While the tarpit holds the banner: the progress line.
    let start = Instant::now();
    let mut seen = String::new();
    while start.elapsed() < Duration::from_secs(15) {
        seen = tmux.capture();
        if seen.contains("running smtp.banner") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        seen.contains("[0/4] running smtp.banner"),
        "no progress line on the terminal:\n{seen}"
    );
    // Then the report, without the progress line.
    let mut screen = String::new();
    while start.elapsed() < Duration::from_secs(40) {
        screen = tmux.capture();
        if screen.contains("EXIT=") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        screen.contains("EXIT=3"),
        "an error and nothing failed: exit 3\n{screen}"
    );
    assert!(
        !screen.contains("running smtp.banner"),
        "the progress line stayed:\n{screen}"
    );
    assert!(
        !screen.contains("[4/4]"),
        "the progress line stayed:\n{screen}"
    );
    let lines: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).collect();
    let last = lines[lines.len() - 2];
    assert!(
        last.starts_with("0 passed, 0 failed, 0 warnings, 3 skipped, 1 error in "),
        "the counts are the report's last line:\n{screen}"
    );
    let first = lines
        .iter()
        .position(|l| l.starts_with("mailcheck "))
        .unwrap();
    assert!(
        lines[first..]
            .iter()
            .any(|l| l.contains("ERROR smtp.banner")),
        "{screen}"
    );
    drop(tmux);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_progress_line_without_a_terminal() {
    let fake = fake_smtp::start(Behaviour::Normal).await;
    let closed = fake_smtp::closed_port().await.port();
    let (_dir, config) = scratch("pipe");
    let out = Command::new(env!("CARGO_BIN_EXE_mailcheck"))
        .args([
            "run",
            "--host",
            "127.0.0.1",
            "--smtp-port",
            &fake.addr.port().to_string(),
        ])
        .args([
            "--submission-port",
            &closed.to_string(),
            "--phase-timeout",
            "2",
            "--config",
        ])
        .arg(&config)
        .args(["--only", "smtp.banner"])
        .env_remove("MAILCHECK_HOST")
        .env_remove("MAILCHECK_FORMAT")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("running") && !err.contains('\u{1b}'), "{err}");
}
