//! The SSH transport (src/remote/ssh.rs) against a real sshd, from the workstation namespace.
//!
//! The sshd and namespace are tests/lab/workstation.sh's. Covered: logins as root, as a user
//! without sudo and with `sudo -n`, upload, run and cleanup (also when the local side is
//! interrupted or killed), host key and connection failures, deadlines, ssh_config files and jump
//! hosts, and the password in no process's cmdline or environment. Needs root.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]
// `serial()` is a std Mutex held for a whole test on purpose: each #[tokio::test] has its own
// runtime on its own thread, so the guard serialises tests, not tasks.
#![allow(clippy::await_holding_lock)]

#[path = "support/workstation.rs"]
mod workstation;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use mailcheck::remote::ssh::{
    RemoteBinary, Session, SshConfig, SshError, SshOption, Target, UploadPolicy,
};
use mailcheck::secret::Secret;
use tokio::time::Instant;
use workstation::Workstation;

/// The tests stop the sshd and count directories in /tmp: one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn mailcheck_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mailcheck"))
}

fn config(ws: &Workstation, known_hosts: &Path) -> SshConfig {
    SshConfig {
        command: ws.ssh_command(),
        options: vec![
            SshOption::Option(format!("UserKnownHostsFile={}", known_hosts.display())),
            SshOption::Identity(ws.key.clone()),
            SshOption::Option("IdentitiesOnly=yes".into()),
        ],
        binary: Some(mailcheck_bin()),
        upload: UploadPolicy::Always,
        ..SshConfig::default()
    }
}

fn target(ws: &Workstation, user: &str) -> Target {
    format!("{user}@{}", ws.lab_host).parse().unwrap()
}

fn within(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

/// The upload directories in /tmp (the server is this machine).
fn remote_dirs() -> BTreeSet<PathBuf> {
    std::fs::read_dir("/tmp")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("mailcheck."))
        .map(|e| e.path())
        .collect()
}

/// Processes whose cmdline contains `needle`, as `pid: cmdline`.
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) || name == std::process::id().to_string() {
            continue;
        }
        if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
            let c = String::from_utf8_lossy(&c).replace('\0', " ");
            if c.contains(needle) {
                found.push(format!("{name}: {c}"));
            }
        }
    }
    found
}

/// Waits up to `secs` for `cond`.
fn wait_for(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < until {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// Asserts that every upload directory made since `before` is gone and nothing runs from one.
fn assert_cleaned_up(before: &BTreeSet<PathBuf>, what: &str) {
    let clean = wait_for(20, || {
        remote_dirs().difference(before).next().is_none()
            && processes_with("/tmp/mailcheck.").is_empty()
    });
    let left: Vec<_> = remote_dirs().difference(before).cloned().collect();
    assert!(
        clean,
        "{what}: left on the server: {left:?}, running: {:?}",
        processes_with("/tmp/mailcheck.")
    );
}

/// A TCP listener that accepts and never says anything (an SMTP greeting or SSH banner that
/// never comes), until dropped.
struct Tarpit {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Tarpit {
    fn on(ip: &str) -> Tarpit {
        let l = TcpListener::bind((ip, 0)).unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !s.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((c, _)) => held.push(c),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Tarpit { port, stop }
    }
}

impl Drop for Tarpit {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Arguments for a remote run that waits up to `secs` for an SMTP greeting from a tarpit.
fn slow_run_args(tarpit: &Tarpit, secs: u64) -> Vec<String> {
    [
        "run",
        "--host",
        "127.0.0.1",
        "--smtp-port",
        &tarpit.port.to_string(),
        "--only",
        "smtp.banner",
        "--phase-timeout",
        &secs.to_string(),
        "--no-send",
        "--format",
        "json",
    ]
    .map(String::from)
    .to_vec()
}

#[tokio::test]
async fn root_login_runs_a_command_and_probes_the_server() {
    let _s = serial();
    let ws = Workstation::up();
    let s = Session::open(
        &target(&ws, &ws.root_user),
        config(&ws, &ws.known_hosts),
        within(30),
    )
    .await
    .unwrap();
    assert_eq!(s.server().uid, 0);
    assert_eq!(s.server().user, "root");
    assert_eq!(s.server().os, "Linux");
    assert_eq!(s.server().arch, std::env::consts::ARCH);
    let control = s.control_dir().unwrap().to_path_buf();
    let mode = std::fs::metadata(&control).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o700
    );
    let out = s.run_command(&["id", "-u"], within(10)).await.unwrap();
    assert_eq!(out.exit_code, 0);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n");
    // The client's address as the server sees it: the workstation's.
    let out = s
        .run_command(&["sh", "-c", "echo $SSH_CONNECTION"], within(10))
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(&format!("{} ", ws.addr)),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Exit status passes through; words with spaces and quotes arrive as they were.
    let out = s
        .run_command(
            &[
                "sh",
                "-c",
                "printf '%s|' \"$@\"; exit 7",
                "x",
                "a b",
                "it's",
                "$HOME",
            ],
            within(10),
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, 7);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a b|it's|$HOME|");
    s.close().await;
    assert!(!control.exists(), "the control directory is removed");
}

#[tokio::test]
async fn upload_run_and_cleanup() {
    let _s = serial();
    let ws = Workstation::up();
    let before = remote_dirs();
    for multiplex in [true, false] {
        let mut cfg = config(&ws, &ws.known_hosts);
        cfg.multiplex = multiplex;
        let s = Session::open(&target(&ws, &ws.root_user), cfg, within(30))
            .await
            .unwrap();
        let args = [
            "run",
            "--host",
            &ws.lab_host,
            "--only",
            "smtp.banner",
            "--no-send",
            "--format",
            "json",
        ];
        let run = s.run_mailcheck(&args, None, within(120)).await.unwrap();
        let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap_or_else(|e| {
            panic!(
                "no JSON ({e}): {}\n{}",
                String::from_utf8_lossy(&run.stdout),
                run.stderr
            )
        });
        assert_eq!(report["checks"][0]["id"], "smtp.banner", "{report}");
        assert!(
            [0, 1, 3].contains(&run.exit_code),
            "exit {}: {}",
            run.exit_code,
            run.stderr
        );
        let RemoteBinary::Uploaded {
            dir: Some(dir),
            bytes,
        } = &run.binary
        else {
            panic!("not uploaded: {:?}", run.binary);
        };
        assert_eq!(*bytes, std::fs::metadata(mailcheck_bin()).unwrap().len());
        assert!(dir.starts_with("/tmp/mailcheck."), "{dir}");
        let gone = s
            .run_command(&["test", "-e", dir], within(10))
            .await
            .unwrap();
        assert_eq!(gone.exit_code, 1, "{dir} is still there");
        s.close().await;
        assert_cleaned_up(&before, &format!("a finished run (multiplex {multiplex})"));
    }
}

#[tokio::test]
async fn remote_exit_codes_and_stderr_pass_through() {
    let _s = serial();
    let ws = Workstation::up();
    let s = Session::open(
        &target(&ws, &ws.root_user),
        config(&ws, &ws.known_hosts),
        within(30),
    )
    .await
    .unwrap();
    let run = s
        .run_mailcheck(&["--version"], None, within(120))
        .await
        .unwrap();
    assert_eq!(run.exit_code, 0);
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim(),
        mailcheck::remote::ssh::our_version()
    );
    let run = s
        .run_mailcheck(&["run", "--no-such-flag"], None, within(120))
        .await
        .unwrap();
    assert_eq!(run.exit_code, 2, "clap's usage error: {}", run.stderr);
    assert!(run.stderr.contains("--no-such-flag"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("mailcheck-remote:"),
        "wrapper lines are taken out: {}",
        run.stderr
    );
    s.close().await;
}

#[tokio::test]
async fn the_password_reaches_the_remote_stdin_only() {
    let _s = serial();
    let ws = Workstation::up();
    let before = remote_dirs();
    let s = Session::open(
        &target(&ws, &ws.root_user),
        config(&ws, &ws.known_hosts),
        within(30),
    )
    .await
    .unwrap();
    let canary = format!(
        "mcws-canary-{}-{:x}",
        std::process::id(),
        std::time::UNIX_EPOCH.elapsed().unwrap().as_nanos()
    );
    let secret = Secret::new(canary.clone());
    let tarpit = Tarpit::on("127.0.0.1");
    let mut args = slow_run_args(&tarpit, 4);
    args.extend(["--account", "root@example.com", "--password-stdin"].map(String::from));

    // Scan every process's cmdline and environ while the run goes on.
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let needle = canary.clone().into_bytes();
    let scanner = std::thread::spawn(move || {
        let mut hits = Vec::new();
        let (mut scans, mut saw_remote) = (0u32, 0u32);
        while !d.load(Ordering::Relaxed) {
            scans += 1;
            for e in std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()) {
                let name = e.file_name().to_string_lossy().into_owned();
                if !name.bytes().all(|b| b.is_ascii_digit()) {
                    continue;
                }
                let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                let environ = std::fs::read(e.path().join("environ")).unwrap_or_default();
                let text = String::from_utf8_lossy(&cmdline);
                if text.contains("/tmp/mailcheck.") && text.contains("--password-stdin") {
                    saw_remote += 1;
                }
                for (what, bytes) in [("cmdline", &cmdline), ("environ", &environ)] {
                    if bytes.windows(needle.len()).any(|w| w == needle.as_slice()) {
                        hits.push(format!("/proc/{name}/{what}: {}", text.replace('\0', " ")));
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        (hits, scans, saw_remote)
    });
    let run = s.run_mailcheck(&args, Some(&secret), within(120)).await;
    done.store(true, Ordering::Relaxed);
    let (hits, scans, saw_remote) = scanner.join().unwrap();
    let run = run.unwrap();
    assert!(hits.is_empty(), "the password is visible: {hits:?}");
    assert!(
        saw_remote > 0,
        "the scan ({scans} rounds) never saw the remote mailcheck run"
    );
    // An empty or missing password would be a usage error (2); the report never shows it.
    assert_ne!(run.exit_code, 2, "{}", run.stderr);
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(!out.contains(&canary) && !run.stderr.contains(&canary));
    println!(
        "password scan: {scans} rounds over /proc, {saw_remote} saw the remote mailcheck, 0 hits"
    );

    // The control: --password-stdin without a password gets an empty stdin, and says so.
    let mut args = slow_run_args(&tarpit, 1);
    args.push("--password-stdin".into());
    let run = s.run_mailcheck(&args, None, within(120)).await.unwrap();
    assert_eq!(run.exit_code, 2);
    assert!(run.stderr.contains("empty"), "{}", run.stderr);

    // The transport refuses a password that would travel any other way.
    let e = s
        .run_mailcheck(
            &["run", "--password-stdin", &canary],
            Some(&secret),
            within(10),
        )
        .await;
    assert!(matches!(e, Err(SshError::SecretInArguments)), "{e:?}");
    let e = s.run_mailcheck(&["run"], Some(&secret), within(10)).await;
    assert!(
        matches!(e, Err(SshError::PasswordWithoutStdinFlag)),
        "{e:?}"
    );
    s.close().await;
    assert_cleaned_up(&before, "password runs");
}

#[tokio::test]
async fn host_key_unknown_or_changed() {
    let _s = serial();
    let ws = Workstation::up();
    let e = Session::open(
        &target(&ws, &ws.root_user),
        config(&ws, &ws.wrong_known_hosts),
        within(30),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, SshError::HostKeyChanged { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("CHANGED") && msg.contains("ssh-keygen -R"),
        "{msg}"
    );
    println!("changed host key: {msg}");

    let empty = std::env::temp_dir().join(format!("mcws-empty-known-hosts-{}", std::process::id()));
    std::fs::write(&empty, "").unwrap();
    let e = Session::open(&target(&ws, &ws.root_user), config(&ws, &empty), within(30))
        .await
        .unwrap_err();
    std::fs::remove_file(&empty).unwrap();
    assert!(matches!(e, SshError::HostKeyUnknown { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("ssh-keyscan") && msg.contains("known_hosts"),
        "{msg}"
    );
    println!("unknown host key: {msg}");

    // Turning host key checks off is refused before ssh runs.
    let mut cfg = config(&ws, &ws.known_hosts);
    cfg.options
        .push(SshOption::Option("StrictHostKeyChecking=no".into()));
    let e = Session::open(&target(&ws, &ws.root_user), cfg, within(30))
        .await
        .unwrap_err();
    assert!(matches!(e, SshError::UnsafeOption { .. }), "{e:?}");
}

#[tokio::test]
async fn sshd_stopped_unreachable_and_silent() {
    let _s = serial();
    let ws = Workstation::up();
    ws.stop_sshd();
    let e = Session::open(
        &target(&ws, &ws.root_user),
        config(&ws, &ws.known_hosts),
        within(30),
    )
    .await;
    ws.start_sshd();
    let e = e.unwrap_err();
    assert!(matches!(e, SshError::ConnectionRefused { .. }), "{e:?}");
    println!("sshd stopped: {e}");

    // Nobody at that address on the workstation's network.
    let t: Target = "root@198.18.1.77".parse().unwrap();
    let e = Session::open(&t, config(&ws, &ws.known_hosts), within(30))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            SshError::Unreachable { .. } | SshError::ConnectTimeout { .. }
        ),
        "{e:?}"
    );
    println!("no such host: {e}");

    // A port that accepts and never sends a banner: ssh's ConnectTimeout, then our deadline.
    let tarpit = Tarpit::on(&ws.host_addr);
    let t: Target = format!("root@{}:{}", ws.lab_host, tarpit.port)
        .parse()
        .unwrap();
    let started = std::time::Instant::now();
    let e = Session::open(&t, config(&ws, &ws.known_hosts), within(3))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(
            e,
            SshError::ConnectTimeout { .. } | SshError::Timeout { .. }
        ),
        "{e:?}"
    );
    assert!(took < Duration::from_secs(6), "deadline 3 s, took {took:?}");
    println!("silent port: {e} ({took:?})");

    let t: Target = "root@no-such-host.invalid".parse().unwrap();
    let e = Session::open(&t, config(&ws, &ws.known_hosts), within(30))
        .await
        .unwrap_err();
    assert!(matches!(e, SshError::Resolve { .. }), "{e:?}");
}

#[tokio::test]
async fn wrong_key_is_refused() {
    let _s = serial();
    let ws = Workstation::up();
    let mut cfg = config(&ws, &ws.known_hosts);
    // A valid key that is in no authorized_keys file.
    let other = PathBuf::from("/var/lib/mailcheck-ws/sshd/other_host_ed25519_key");
    cfg.options = vec![
        SshOption::Option(format!("UserKnownHostsFile={}", ws.known_hosts.display())),
        SshOption::Identity(other),
        SshOption::Option("IdentitiesOnly=yes".into()),
    ];
    let e = Session::open(&target(&ws, &ws.root_user), cfg, within(30))
        .await
        .unwrap_err();
    assert!(matches!(e, SshError::AuthFailed { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("publickey") && msg.contains("ssh-add"),
        "{msg}"
    );
    println!("wrong key: {msg}");
}

#[tokio::test]
async fn users_without_root() {
    let _s = serial();
    let ws = Workstation::up();
    let e = Session::open(
        &target(&ws, &ws.plain_user),
        config(&ws, &ws.known_hosts),
        within(30),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, SshError::NotRoot { .. }), "{e:?}");
    assert!(e.to_string().contains("--ssh-sudo"), "{e}");
    println!("plain user: {e}");

    let mut cfg = config(&ws, &ws.known_hosts);
    cfg.sudo = true;
    let e = Session::open(&target(&ws, &ws.plain_user), cfg, within(30))
        .await
        .unwrap_err();
    assert!(matches!(e, SshError::SudoPasswordRequired { .. }), "{e:?}");
    assert!(e.to_string().contains("NOPASSWD"), "{e}");
    println!("plain user with --ssh-sudo: {e}");

    let e = Session::open(
        &target(&ws, &ws.sudo_user),
        config(&ws, &ws.known_hosts),
        within(30),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, SshError::NotRoot { .. }), "{e:?}");
}

#[tokio::test]
async fn sudo_user_with_sudo_runs_as_root() {
    let _s = serial();
    let ws = Workstation::up();
    let before = remote_dirs();
    let mut cfg = config(&ws, &ws.known_hosts);
    cfg.sudo = true;
    let s = Session::open(&target(&ws, &ws.sudo_user), cfg, within(30))
        .await
        .unwrap();
    assert_eq!(s.server().uid, 0);
    let out = s.run_command(&["id", "-un"], within(10)).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "root\n");
    let args = [
        "run",
        "--host",
        &ws.lab_host,
        "--only",
        "smtp.banner",
        "--no-send",
        "--format",
        "json",
    ];
    let run = s.run_mailcheck(&args, None, within(120)).await.unwrap();
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["checks"][0]["id"], "smtp.banner");
    let RemoteBinary::Uploaded { dir: Some(dir), .. } = &run.binary else {
        panic!("{:?}", run.binary);
    };
    let meta = std::fs::metadata(dir);
    assert!(meta.is_err(), "{dir} is left");
    s.close().await;
    assert_cleaned_up(&before, "sudo run");
}

#[tokio::test]
async fn a_binary_that_does_not_start_is_an_error() {
    let _s = serial();
    let ws = Workstation::up();
    let before = remote_dirs();
    let fake = std::env::temp_dir().join(format!("mcws-fake-binary-{}", std::process::id()));
    std::fs::write(&fake, "#!/nonexistent/interpreter\n").unwrap();
    let mut cfg = config(&ws, &ws.known_hosts);
    cfg.binary = Some(fake.clone());
    let s = Session::open(&target(&ws, &ws.root_user), cfg, within(30))
        .await
        .unwrap();
    let e = s.run_mailcheck(&["--version"], None, within(30)).await;
    std::fs::remove_file(&fake).unwrap();
    let e = e.unwrap_err();
    assert!(matches!(e, SshError::RemoteExec { code: 127, .. }), "{e:?}");
    assert!(e.to_string().contains("mailcheck: not found"), "{e}");
    println!("binary that does not start: {e}");
    s.close().await;
    assert_cleaned_up(&before, "failed exec");
}

#[tokio::test]
async fn the_deadline_stops_ssh_and_the_server_cleans_up() {
    let _s = serial();
    let ws = Workstation::up();
    let before = remote_dirs();
    let tarpit = Tarpit::on("127.0.0.1");
    let s = Session::open(
        &target(&ws, &ws.root_user),
        config(&ws, &ws.known_hosts),
        within(30),
    )
    .await
    .unwrap();
    // Long enough for the upload, short of the remote's 60 s wait for a greeting.
    let started = std::time::Instant::now();
    let e = s
        .run_mailcheck(&slow_run_args(&tarpit, 60), None, within(20))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(e, SshError::Timeout { .. }), "{e:?}");
    assert!(took < Duration::from_secs(22), "{took:?}");
    println!("deadline: {e}");
    s.close().await;
    assert_cleaned_up(&before, "a run stopped at its deadline");
}

/// How the local side of a run ends in [`interrupted_runs_leave_nothing_on_the_server`].
#[derive(Debug, Clone, Copy)]
enum Interrupt {
    /// SIGINT to the process that runs the transport: it drops the run and closes the session.
    SigintHandled,
    /// SIGKILL to that process: nothing runs on the local side any more.
    KillProcess,
    /// SIGKILL to its ssh only.
    KillSsh,
}

#[test]
fn interrupted_runs_leave_nothing_on_the_server() {
    let _s = serial();
    let _ws = Workstation::up();
    let tarpit = Tarpit::on("127.0.0.1");
    for how in [
        Interrupt::SigintHandled,
        Interrupt::KillProcess,
        Interrupt::KillSsh,
    ] {
        let before = remote_dirs();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_run_until_interrupted",
                "--ignored",
                "--nocapture",
            ])
            .env("MCWS_CHILD_PORT", tarpit.port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let pid = child.id();
        // Wait for the uploaded mailcheck to run on the server.
        let running = wait_for(120, || !processes_with("/tmp/mailcheck.").is_empty());
        assert!(running, "{how:?}: the remote mailcheck never started");
        let victim = match how {
            Interrupt::SigintHandled | Interrupt::KillProcess => pid,
            Interrupt::KillSsh => ssh_child_of(pid).expect("the child's ssh"),
        };
        let signal = match how {
            Interrupt::SigintHandled => "-INT",
            _ => "-KILL",
        };
        let st = Command::new("kill")
            .args([signal, &victim.to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let exited = wait_for(30, || child.try_wait().unwrap().is_some());
        if !exited {
            let _ = child.kill();
        }
        let mut said = String::new();
        if let Some(out) = child.stdout.take() {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                said.push_str(&l);
                said.push('\n');
            }
        }
        assert!(exited, "{how:?}: the local process did not end");
        match how {
            Interrupt::SigintHandled => assert!(said.contains("child: interrupted"), "{said}"),
            Interrupt::KillSsh => assert!(said.contains("child: error"), "{said}"),
            Interrupt::KillProcess => {}
        }
        let started = std::time::Instant::now();
        assert_cleaned_up(&before, &format!("{how:?}"));
        println!(
            "{how:?}: server clean {:?} after the local side ended",
            started.elapsed()
        );
    }
}

/// The pid of an `ssh` whose parent is `parent`.
fn ssh_child_of(parent: u32) -> Option<u32> {
    for e in std::fs::read_dir("/proc").ok()?.filter_map(|e| e.ok()) {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some((head, tail)) = stat.rsplit_once(") ") else {
            continue;
        };
        let comm = head.split_once(" (").map(|(_, c)| c).unwrap_or("");
        let ppid = tail
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if comm == "ssh" && ppid == Some(parent) {
            return e.file_name().to_string_lossy().parse().ok();
        }
    }
    None
}

/// Runs as a child of [`interrupted_runs_leave_nothing_on_the_server`]: a run that takes a
/// minute, until SIGINT (then the run is dropped and the session closed) or death.
#[tokio::test]
#[ignore = "started by interrupted_runs_leave_nothing_on_the_server"]
async fn child_run_until_interrupted() {
    let Ok(port) = std::env::var("MCWS_CHILD_PORT") else {
        return;
    };
    let mut sigint =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).unwrap();
    let ws_env = std::fs::read_to_string("/run/mailcheck-ws.env").unwrap();
    let get = |k: &str| {
        ws_env
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap()
            .to_string()
    };
    let cfg = SshConfig {
        command: ["ip", "netns", "exec", &get("WS_NS"), "ssh"]
            .map(Into::into)
            .to_vec(),
        options: vec![
            SshOption::Option(format!("UserKnownHostsFile={}", get("WS_KNOWN_HOSTS"))),
            SshOption::Identity(get("WS_KEY").into()),
        ],
        binary: Some(mailcheck_bin()),
        upload: UploadPolicy::Always,
        ..SshConfig::default()
    };
    let t: Target = format!("root@{}", get("WS_LAB_HOST")).parse().unwrap();
    let s = Session::open(&t, cfg, within(30)).await.unwrap();
    let args = [
        "run",
        "--host",
        "127.0.0.1",
        "--smtp-port",
        &port,
        "--only",
        "smtp.banner",
        "--phase-timeout",
        "60",
        "--no-send",
        "--format",
        "json",
    ];
    tokio::select! {
        r = s.run_mailcheck(&args, None, within(300)) => match r {
            Ok(run) => println!("child: finished {}", run.exit_code),
            Err(e) => println!("child: error {e}"),
        },
        _ = sigint.recv() => println!("child: interrupted"),
    }
    s.close().await;
}

/// Not a test of behaviour: prints how long the SSH round trips take. Run with
/// `cargo test --test ssh_transport measure -- --ignored --nocapture`; MCWS_MEASURE_SUDO=1 logs
/// in as the sudo user with `sudo -n` instead of as root (whose login shell's rc files run for
/// every session, and may be slow on a development machine). The configurations take turns in
/// each round, so that a change in the machine's load hits them alike.
#[tokio::test]
#[ignore = "a measurement, run by hand"]
async fn measure_round_trips() {
    let _s = serial();
    let ws = Workstation::up();
    let rounds = 7;
    let sudo = std::env::var_os("MCWS_MEASURE_SUDO").is_some();
    let user = if sudo {
        ws.sudo_user.clone()
    } else {
        ws.root_user.clone()
    };
    let mut binaries = vec![("debug", mailcheck_bin())];
    let release = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/mailcheck");
    if release.exists() {
        binaries.insert(0, ("release", release));
    }
    let mut times: std::collections::BTreeMap<String, Vec<Duration>> = Default::default();
    let mut add = |k: String, d: Duration| times.entry(k).or_default().push(d);
    for _ in 0..rounds {
        let t = std::time::Instant::now();
        let st = ws.ssh(&user, &ws.known_hosts, &["true"]).status().unwrap();
        assert!(st.success());
        add("0 plain `ssh true` (new connection)".into(), t.elapsed());
        for multiplex in [false, true] {
            let mux = if multiplex { "mux" } else { "no mux" };
            let mut cfg = config(&ws, &ws.known_hosts);
            cfg.multiplex = multiplex;
            cfg.sudo = sudo;
            let t = std::time::Instant::now();
            let s = Session::open(&target(&ws, &user), cfg.clone(), within(30))
                .await
                .unwrap();
            add(
                format!("1 {mux}: Session::open (login + probe)"),
                t.elapsed(),
            );
            let t = std::time::Instant::now();
            s.run_command(&["true"], within(30)).await.unwrap();
            add(
                format!("2 {mux}: run_command(true) after open"),
                t.elapsed(),
            );
            s.close().await;
            for (name, bin) in &binaries {
                let size = std::fs::metadata(bin).unwrap().len() as f64 / 1e6;
                let mut cfg = cfg.clone();
                cfg.binary = Some(bin.clone());
                let t = std::time::Instant::now();
                let s = Session::open(&target(&ws, &user), cfg, within(30))
                    .await
                    .unwrap();
                let run = s
                    .run_mailcheck(&["--version"], None, within(300))
                    .await
                    .unwrap();
                assert_eq!(run.exit_code, 0);
                add(
                    format!("3 {mux}: upload {size:.1} MB {name} + --version"),
                    run.elapsed,
                );
                s.close().await;
                add(
                    format!("4 {mux}: open + upload {size:.1} MB {name} + run + close"),
                    t.elapsed(),
                );
            }
        }
    }
    println!(
        "as {user}{}, {rounds} rounds:",
        if sudo { " with sudo -n" } else { "" }
    );
    for (k, mut v) in times {
        v.sort();
        let (med, min) = (v[v.len() / 2].as_millis(), v[0].as_millis());
        println!("  {:<58} median {med:>5} ms  min {min:>5} ms", &k[2..]);
    }
}

#[tokio::test]
async fn a_noexec_remote_tmpdir_is_explained() {
    let _s = serial();
    let ws = Workstation::up();
    let dir = format!("/run/mcws-noexec-{}", std::process::id());
    std::fs::create_dir_all(&dir).unwrap();
    let st = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "noexec,size=400m,mode=700",
            "mcws-noexec",
            &dir,
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let mut cfg = config(&ws, &ws.known_hosts);
    cfg.remote_tmpdir = Some(dir.clone());
    let s = Session::open(&target(&ws, &ws.root_user), cfg, within(30)).await;
    let e = match s {
        Ok(s) => {
            let e = s.run_mailcheck(&["--version"], None, within(120)).await;
            s.close().await;
            e
        }
        Err(e) => Err(e),
    };
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    let st = Command::new("umount").arg(&dir).status().unwrap();
    std::fs::remove_dir(&dir).unwrap();
    assert!(st.success());
    let e = e.unwrap_err();
    assert!(matches!(e, SshError::RemoteExec { code: 126, .. }), "{e:?}");
    assert!(e.to_string().contains("noexec"), "{e}");
    assert!(left.is_empty(), "left in the noexec directory: {left:?}");
    println!("noexec: {e}");
}

#[tokio::test]
async fn an_ssh_config_file_and_a_jump_host_are_honoured() {
    let _s = serial();
    let ws = Workstation::up();
    let file = std::env::temp_dir().join(format!("mcws-ssh-config-{}", std::process::id()));
    let common = format!(
        "  User root\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n",
        ws.key.display(),
        ws.known_hosts.display()
    );
    std::fs::write(
        &file,
        format!(
            "Host mcws-jump\n  HostName {h}\n{common}\nHost mcws-behind\n  HostName {h}\n  ProxyJump mcws-jump\n{common}",
            h = ws.host_addr
        ),
    )
    .unwrap();
    let cfg = SshConfig {
        command: ws.ssh_command(),
        options: vec![SshOption::ConfigFile(file.clone())],
        ..SshConfig::default()
    };
    let s = Session::open(&"mcws-behind".parse().unwrap(), cfg, within(30)).await;
    let s = s.unwrap();
    let out = s
        .run_command(&["sh", "-c", "echo $SSH_CONNECTION"], within(10))
        .await
        .unwrap();
    s.close().await;
    std::fs::remove_file(&file).unwrap();
    // Through the jump, the client is the jump host itself, not the workstation.
    let seen = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(seen.starts_with(&format!("{} ", ws.host_addr)), "{seen}");
}

#[test]
fn the_workstation_vantage() {
    let _s = serial();
    let ws = Workstation::up();
    let out = ws
        .ssh(&ws.root_user, &ws.known_hosts, &["id"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("uid=0(root)"));
    for (user, sudo_ok) in [(&ws.plain_user, false), (&ws.sudo_user, true)] {
        let out = ws
            .ssh(user, &ws.known_hosts, &["sudo", "-n", "id", "-u"])
            .output()
            .unwrap();
        assert_eq!(
            out.status.success(),
            sudo_ok,
            "{user}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = ws
        .ssh(&ws.root_user, &ws.wrong_known_hosts, &["id"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
            && err.contains("Host key verification failed"),
        "{err}"
    );
    // Postfix sees the workstation's address, outside mynetworks: no relaying.
    let out = ws
        .command("swaks")
        .args([
            "--server",
            &ws.lab_host,
            "--to",
            "x@example.net",
            "--quit-after",
            "RCPT",
            "--timeout",
            "20",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Relay access denied"), "{text}");
    let ns = ws.ns.clone();
    drop(ws);
    let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        !list.split_whitespace().any(|w| w == ns),
        "{ns} still there: {list}"
    );
    assert!(!Path::new("/etc/netns").join(&ns).exists());
    let st = Command::new("ip")
        .args(["link", "show", "mcws-host"])
        .output()
        .unwrap();
    assert!(!st.status.success(), "the veth is still there");
    let sshd = processes_with("/var/lib/mailcheck-ws/sshd/sshd_config");
    assert!(sshd.is_empty(), "sshd still runs: {sshd:?}");
}
