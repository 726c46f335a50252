//! `mailcheck run --ssh` (issue 16) from the workstation namespace (tests/lab/workstation.sh:
//! 198.18.1.2, outside the lab's mynetworks, logging in to an sshd on 198.18.1.1): the host
//! checks run on the server over SSH, the network checks from the workstation, one report.
//!
//! Lean on purpose: one full run each way on the clean lab (statuses, vantages, the password in
//! no process, the upload directory), one break (an open relay, caught from outside), the SSH
//! failures on a few checks only, and one interrupted run.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support as lab;
use lab::{Lab, LabGuard, RunOutput, only};

use crate::workstation::Workstation;

/// A few checks for the failure cases: two host checks, two network checks.
const FEW: &[&str] = &[
    "postfix.config-sane",
    "fs.vmail-tree",
    "smtp.banner",
    "tls.starttls-25",
];

/// How to log in for one run.
struct Login<'a> {
    user: &'a str,
    known_hosts: &'a Path,
    sudo: bool,
}

fn login<'a>(ws: &'a Workstation, user: &'a str) -> Login<'a> {
    Login {
        user,
        known_hosts: &ws.known_hosts,
        sudo: false,
    }
}

/// `--ssh USER@HOST` and the options that name the test key and known_hosts.
fn ssh_args(ws: &Workstation, l: &Login) -> Vec<String> {
    let mut a = vec![
        "--ssh".to_string(),
        format!("{}@{}", l.user, ws.lab_host),
        "--ssh-option".into(),
        format!("UserKnownHostsFile={}", l.known_hosts.display()),
        "--ssh-option".into(),
        format!("IdentityFile={}", ws.key.display()),
        "--ssh-option".into(),
        "IdentitiesOnly=yes".into(),
    ];
    if l.sudo {
        a.push("--ssh-sudo".into());
    }
    a
}

/// Starts `mailcheck run --host <lab> --account <lab account> --format json --password-stdin
/// <args>` in the workstation namespace; the password goes to its stdin, nowhere else.
fn spawn_ws(g: &LabGuard, ws: &Workstation, args: &[String]) -> Child {
    let mut cmd = ws.command(lab::mailcheck_bin());
    cmd.args([
        "run",
        "--host",
        &g.lab.hostname,
        "--account",
        &g.lab.account,
        "--format",
        "json",
        "--password-stdin",
    ])
    .args(args)
    .args(lab::save_args())
    .env_remove("MAILCHECK_PASSWORD")
    .env_remove("MAILCHECK_HOST")
    .env_remove("MAILCHECK_ACCOUNT")
    .env_remove("MAILCHECK_SSH")
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run mailcheck in the workstation");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{}", g.lab.password).unwrap();
    drop(stdin);
    child
}

fn finish(child: Child) -> RunOutput {
    let out = child.wait_with_output().expect("wait for mailcheck");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("mailcheck printed no JSON ({e}):\n{stdout}\n{stderr}"));
    lab::assert_schema_v2(&json);
    lab::save_report(&stdout);
    RunOutput {
        code: out.status.code().unwrap_or(-1),
        json,
        stdout,
        stderr,
    }
}

fn run_ws(g: &LabGuard, ws: &Workstation, args: &[String]) -> RunOutput {
    finish(spawn_ws(g, ws, args))
}

fn ids(out: &RunOutput) -> Vec<String> {
    out.json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

fn place(out: &RunOutput, id: &str) -> (String, String) {
    let v = &out.check(id)["vantage"];
    (
        v["place"].as_str().unwrap_or("none").to_string(),
        v["address"].as_str().unwrap_or("").to_string(),
    )
}

/// The lab host's scope of each check: `local` checks run on the server.
fn host_side() -> BTreeSet<String> {
    let cat = mailcheck::catalogue::Catalogue::embedded().unwrap();
    cat.checks()
        .iter()
        .filter(|c| mailcheck::run::runs_on_server(c))
        .map(|c| c.id.clone())
        .collect()
}

/// The server's upload directories (the server is this machine).
fn upload_dirs() -> BTreeSet<PathBuf> {
    std::fs::read_dir("/tmp")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("mailcheck."))
        .map(|e| e.path())
        .collect()
}

/// Clock ticks since boot (the unit of /proc/PID/stat's start time).
fn ticks_now() -> u64 {
    let up = std::fs::read_to_string("/proc/uptime").unwrap();
    let secs: f64 = up.split_whitespace().next().unwrap().parse().unwrap();
    (secs * 100.0) as u64
}

fn start_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    // Fields after the command: state is field 3, starttime field 22.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// A process's environment, less the harness's own `LAB_PASSWORD=`: tests/lab/up.sh gets the
/// lab's values in its environment (support.rs `restore`), and the daemons it restarts
/// (saslauthd and the workers it forks during the run's AUTH sessions, mariadbd) inherit them.
/// That is the test harness, not mailcheck.
fn environ_of(proc_dir: &Path) -> Vec<u8> {
    let raw = std::fs::read(proc_dir.join("environ")).unwrap_or_default();
    raw.split(|b| *b == 0)
        .filter(|v| !v.starts_with(b"LAB_PASSWORD="))
        .collect::<Vec<_>>()
        .join(&0u8)
}

/// What a [`Watch`] saw while a run went on.
#[derive(Default, Debug)]
struct Seen {
    /// `pid cmdline|environ: command line` of processes that held the password there.
    leaks: BTreeSet<String>,
    /// Upload directories and their modes.
    dirs: BTreeMap<PathBuf, u32>,
    /// Processes seen running from an upload directory.
    uploaded_runs: BTreeSet<String>,
    scans: usize,
}

/// Scans every process's /proc/PID/cmdline and /proc/PID/environ (both sides of the run are
/// on this machine: the workstation is a network namespace) and /tmp, until dropped.
struct Watch {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watch {
    fn start(password: &str) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let before = upload_dirs();
        // Processes older than the run are not ours (1 s of slack for the clock).
        let since = ticks_now().saturating_sub(100);
        let me = std::process::id().to_string();
        let (s, sn, pw) = (stop.clone(), seen.clone(), password.as_bytes().to_vec());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let mut found = Seen::default();
                for e in std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()) {
                    let pid = e.file_name().to_string_lossy().into_owned();
                    if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
                        continue;
                    }
                    if start_ticks(&pid).is_none_or(|t| t < since) {
                        continue;
                    }
                    let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                    let shown = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                    if shown.contains("/tmp/mailcheck.") {
                        found.uploaded_runs.insert(format!("{pid}: {shown}"));
                    }
                    for (what, bytes) in [
                        ("cmdline", cmdline.clone()),
                        ("environ", environ_of(&e.path())),
                    ] {
                        if bytes.windows(pw.len()).any(|w| w == pw.as_slice()) {
                            found.leaks.insert(format!("{pid} {what}: {shown}"));
                        }
                    }
                }
                for d in upload_dirs().difference(&before) {
                    if let Ok(m) = std::fs::metadata(d) {
                        found
                            .dirs
                            .insert(d.clone(), m.permissions().mode() & 0o7777);
                    }
                }
                let mut all = sn.lock().unwrap();
                all.leaks.extend(found.leaks);
                all.dirs.extend(found.dirs);
                all.uploaded_runs.extend(found.uploaded_runs);
                all.scans += 1;
                drop(all);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Watch {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    fn dirs(&self) -> BTreeMap<PathBuf, u32> {
        self.seen.lock().unwrap().dirs.clone()
    }

    fn finish(mut self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Waits up to `secs` for `cond`.
fn wait_for(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// The upload directories `seen` are private (0700), and gone now (the wrapper removes them
/// when mailcheck there ends); nothing runs from one any more.
fn assert_uploads_private_and_gone(seen: &Seen, what: &str) {
    assert!(
        !seen.dirs.is_empty(),
        "{what}: no upload directory seen in /tmp in {} scans",
        seen.scans
    );
    for (d, mode) in &seen.dirs {
        assert_eq!(*mode, 0o700, "{what}: {} is {mode:o}", d.display());
    }
    let gone = wait_for(20, || seen.dirs.keys().all(|d| !d.exists()));
    let left: Vec<_> = seen.dirs.keys().filter(|d| d.exists()).collect();
    assert!(gone, "{what}: left on the server: {left:?}");
    assert!(
        !seen.uploaded_runs.is_empty(),
        "{what}: nothing seen running from the upload"
    );
    let dirs: Vec<String> = seen.dirs.keys().map(|d| d.display().to_string()).collect();
    let running = wait_for(10, || {
        !std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| {
                let c = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                let c = String::from_utf8_lossy(&c);
                dirs.iter().any(|d| c.contains(d.as_str()))
            })
    });
    assert!(running, "{what}: a process still runs from {dirs:?}");
}

#[test]
fn ssh_clean_lab_from_the_workstation_matches_the_server_run() {
    let g = Lab::lock();
    let ws = Workstation::up();
    let t = Instant::now();
    let server = g.run(&[]);
    let on_server = t.elapsed();
    assert_eq!(server.code, 0, "{}", server.stderr);

    let watch = Watch::start(&g.lab.password);
    let t = Instant::now();
    let mut args = ssh_args(&ws, &login(&ws, &ws.root_user));
    args.push("--timings".into());
    let out = run_ws(&g, &ws, &args);
    let over_ssh = t.elapsed();
    let seen = watch.finish();
    eprintln!(
        "full run on the server {:.2} s, from the workstation over SSH {:.2} s\n{}",
        on_server.as_secs_f64(),
        over_ssh.as_secs_f64(),
        out.stderr
    );

    // Same checks, same statuses; nothing skipped for "not on the server".
    assert_eq!(ids(&out), ids(&server), "{}", out.stderr);
    let differ: Vec<String> = ids(&server)
        .iter()
        .filter(|id| out.status(id) != server.status(id))
        .map(|id| {
            format!(
                "{id}: server {} ({}), ssh {} ({})",
                server.status(id),
                server.message(id),
                out.status(id),
                out.message(id)
            )
        })
        .collect();
    assert!(differ.is_empty(), "statuses differ:\n{}", differ.join("\n"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    for id in ids(&out) {
        assert!(
            !out.message(&id).contains("not on the server"),
            "{id}: {}",
            out.message(&id)
        );
    }

    // Each check says where it ran: the host checks on the server, the network checks from the
    // workstation's address, the relay probe among them (198.18.1.2 is outside mynetworks).
    let host = host_side();
    for id in ids(&out) {
        if out.status(&id) == "skip" && !out.check(&id)["blocked_by"].is_null() {
            continue;
        }
        let (p, a) = place(&out, &id);
        if host.contains(&id) {
            assert_eq!((p.as_str(), a.as_str()), ("server", ""), "{id}");
        } else {
            assert_eq!(
                (p.as_str(), a.as_str()),
                ("remote", ws.addr.as_str()),
                "{id}"
            );
        }
    }
    let relay = out.message("relay.unauthenticated-refused");
    assert!(relay.contains(&ws.addr), "{relay}");
    // The server's versions (Postfix, MariaDB) came back with its half of the report.
    assert_eq!(
        out.json["target"]["versions"], server.json["target"]["versions"],
        "{}",
        out.stdout
    );
    assert_eq!(server.json["checks"][0]["vantage"]["place"], "server");

    // The password: in no process's command line or environment on either side, nor the report.
    assert!(seen.scans > 10, "only {} scans", seen.scans);
    assert!(
        seen.leaks.is_empty(),
        "the password showed: {:#?}",
        seen.leaks
    );
    assert!(!out.stdout.contains(&g.lab.password));
    assert_uploads_private_and_gone(&seen, "clean run");
}

#[test]
fn ssh_an_open_relay_is_caught_from_outside() {
    let mut g = Lab::lock();
    let ws = Workstation::up();
    // `permit` alone would make smtpd refuse to start ("specify at least one working instance
    // of: reject_unauth_destination, ..."): an OK for every recipient before it opens the relay.
    g.break_with(
        "postconf -e \
         'smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated check_recipient_access static:OK defer_unauth_destination' \
         'smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated, check_recipient_access static:OK, reject_unauth_destination' \
         && postfix reload",
    );
    let mut args = ssh_args(&ws, &login(&ws, &ws.root_user));
    args.extend(only(&[
        "relay.unauthenticated-refused",
        "postfix.recipient-restrictions",
    ]));
    let out = run_ws(&g, &ws, &args);
    g.restore();
    let id = "relay.unauthenticated-refused";
    assert_eq!(out.status(id), "fail", "{}", out.message(id));
    assert!(out.message(id).contains(&ws.addr), "{}", out.message(id));
    assert_eq!(place(&out, id), ("remote".into(), ws.addr.clone()));
    // The host side ran on the server in the same run, and its static reading of the
    // restrictions names the table that answers OK ahead of reject_unauth_destination.
    let id = "postfix.recipient-restrictions";
    assert_eq!(place(&out, id).0, "server", "{}", out.message(id));
    assert!(out.check(id)["observed"] == true, "{}", out.message(id));
    assert_eq!(out.status(id), "fail", "{}", out.message(id));
    assert!(
        out.message(id).contains("check_recipient_access static:OK"),
        "{}",
        out.message(id)
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
}

/// Starts the sshd again when dropped, also when the test fails.
struct SshdBack<'a>(&'a Workstation);

impl Drop for SshdBack<'_> {
    fn drop(&mut self) {
        self.0.start_sshd();
    }
}

/// The host checks are `error` with `needle` in each message, the network checks still pass
/// from the workstation, and the exit status is 3.
fn expect_ssh_error(out: &RunOutput, ws: &Workstation, what: &str, needles: &[&str]) {
    assert_eq!(out.code, 3, "{what}: {}\n{}", out.stderr, out.stdout);
    for id in ["postfix.config-sane", "fs.vmail-tree"] {
        let m = out.message(id);
        assert_eq!(out.status(id), "error", "{what}: {id}: {m}");
        for n in needles {
            assert!(m.contains(n), "{what}: {id} lacks {n:?}: {m}");
        }
    }
    for id in ["smtp.banner", "tls.starttls-25"] {
        assert_eq!(out.status(id), "pass", "{what}: {id}: {}", out.message(id));
        assert_eq!(place(out, id), ("remote".into(), ws.addr.clone()), "{what}");
    }
}

#[test]
fn ssh_failures_are_errors_and_the_network_checks_still_run() {
    let g = Lab::lock();
    let ws = Workstation::up();
    let few = only(FEW);
    let with = |l: Login| {
        let mut a = ssh_args(&ws, &l);
        a.extend(few.iter().cloned());
        run_ws(&g, &ws, &a)
    };

    let wrong = Login {
        known_hosts: &ws.wrong_known_hosts,
        ..login(&ws, &ws.root_user)
    };
    let out = with(wrong);
    expect_ssh_error(
        &out,
        &ws,
        "wrong host key",
        &[
            "not run on the server",
            "host key has CHANGED",
            "ssh-keygen -R",
        ],
    );

    let out = with(login(&ws, &ws.plain_user));
    expect_ssh_error(
        &out,
        &ws,
        "user without sudo",
        &["not root", &ws.plain_user, "--ssh-sudo"],
    );
    let out = with(Login {
        sudo: true,
        ..login(&ws, &ws.plain_user)
    });
    expect_ssh_error(&out, &ws, "--ssh-sudo, no sudo rule", &["sudo", "NOPASSWD"]);

    // A user with a NOPASSWD rule and --ssh-sudo: the host checks run there as root.
    let out = with(Login {
        sudo: true,
        ..login(&ws, &ws.sudo_user)
    });
    assert_eq!(out.code, 0, "sudo user: {}\n{}", out.stderr, out.stdout);
    assert_eq!(place(&out, "postfix.config-sane").0, "server");

    {
        ws.stop_sshd();
        let _back = SshdBack(&ws);
        let t = Instant::now();
        let out = with(login(&ws, &ws.root_user));
        expect_ssh_error(
            &out,
            &ws,
            "sshd stopped",
            &[
                "not run on the server",
                "connection refused",
                "is sshd running",
            ],
        );
        assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
    }
}

/// The same login from the config file's `ssh`, `ssh_options`, and from a hosts file's `ssh=`.
#[test]
fn ssh_from_the_config_file_and_a_hosts_file() {
    let g = Lab::lock();
    let ws = Workstation::up();
    let dir = std::env::temp_dir().join(format!("mailcheck-ssh-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let opts = format!(
        "[\"UserKnownHostsFile={}\", \"IdentityFile={}\", \"IdentitiesOnly=yes\"]",
        ws.known_hosts.display(),
        ws.key.display()
    );
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "ssh = \"{}@{}\"\nssh_sudo = true\nssh_options = {opts}\n",
            ws.sudo_user, ws.lab_host
        ),
    )
    .unwrap();
    let mut args = vec!["--config".to_string(), config.display().to_string()];
    args.extend(only(FEW));
    let out = run_ws(&g, &ws, &args);
    assert_eq!(out.code, 0, "config file: {}\n{}", out.stderr, out.stdout);
    for id in FEW {
        assert_eq!(
            out.status(id),
            "pass",
            "config file: {id}: {}",
            out.message(id)
        );
    }
    assert_eq!(place(&out, "fs.vmail-tree").0, "server");
    assert_eq!(
        place(&out, "smtp.banner"),
        ("remote".into(), ws.addr.clone())
    );

    // A fleet of one: the hosts file names the login; --ssh-option from the command line.
    let hosts = dir.join("hosts.txt");
    std::fs::write(
        &hosts,
        format!(
            "# fleet\n{} ssh={}@{}\n",
            ws.lab_host, ws.root_user, ws.lab_host
        ),
    )
    .unwrap();
    let mut cmd = ws.command(lab::mailcheck_bin());
    cmd.args(["run", "--hosts-file"])
        .arg(&hosts)
        .args(["--format", "json", "--no-send"])
        .args(["--ssh-option"])
        .arg(format!("UserKnownHostsFile={}", ws.known_hosts.display()))
        .arg("--ssh-option")
        .arg(format!("IdentityFile={}", ws.key.display()))
        .args(only(FEW))
        .env_remove("MAILCHECK_PASSWORD")
        .env_remove("MAILCHECK_HOST")
        .env_remove("MAILCHECK_ACCOUNT");
    let fleet = cmd.output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&fleet.stdout);
    let err = String::from_utf8_lossy(&fleet.stderr);
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("fleet JSON: {e}\n{text}\n{err}"));
    let checks = fleet_checks(&v);
    assert_eq!(fleet.status.code(), Some(0), "fleet: {err}\n{text}");
    for id in FEW {
        let c = checks
            .iter()
            .find(|c| c["id"] == *id)
            .unwrap_or_else(|| panic!("fleet lacks {id}: {text}"));
        assert_eq!(c["status"], "pass", "fleet: {c}");
        let want = if host_side().contains(*id) {
            "server"
        } else {
            "remote"
        };
        assert_eq!(c["vantage"]["place"], want, "fleet: {c}");
    }
}

/// The checks of a fleet report's only server, whatever the fleet JSON's shape.
fn fleet_checks(v: &serde_json::Value) -> Vec<serde_json::Value> {
    if let Some(c) = v["checks"].as_array() {
        return c.clone();
    }
    for key in ["hosts", "servers", "targets", "reports"] {
        if let Some(first) = v[key].as_array().and_then(|a| a.first()) {
            if let Some(c) = first["checks"].as_array() {
                return c.clone();
            }
            if let Some(c) = first["report"]["checks"].as_array() {
                return c.clone();
            }
        }
    }
    panic!("no checks in the fleet report: {v}");
}

#[test]
fn ssh_interrupted_run_leaves_nothing_on_the_server() {
    let g = Lab::lock();
    let ws = Workstation::up();
    let (local, domain) = g.lab.account.split_once('@').unwrap();
    let maildir = PathBuf::from(format!("/home/vmail/{domain}/{local}"));
    let mails = || -> BTreeSet<PathBuf> {
        ["new", "cur"]
            .iter()
            .flat_map(|d| std::fs::read_dir(maildir.join(d)).into_iter().flatten())
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect()
    };
    let mail_before = mails();
    let watch = Watch::start(&g.lab.password);
    let child = spawn_ws(&g, &ws, &ssh_args(&ws, &login(&ws, &ws.root_user)));
    let pid = child.id();
    // Interrupt as soon as the uploaded mailcheck runs there (waiting for its first test mail
    // too proved racy: the run there may be over by then). Whatever it sent, it must delete.
    let running = wait_for(60, || {
        let dirs = watch.dirs();
        !dirs.is_empty()
            && std::fs::read_dir("/proc")
                .unwrap()
                .filter_map(|e| e.ok())
                .any(|e| {
                    let c = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                    let c = String::from_utf8_lossy(&c);
                    dirs.keys()
                        .any(|d| c.starts_with(&format!("{}/mailcheck", d.display())))
                })
    });
    let t = Instant::now();
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    let stopped_in = t.elapsed();
    let seen = watch.finish();
    assert!(running, "the upload never ran: {seen:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(stopped_in < Duration::from_secs(60), "{stopped_in:?}");
    eprintln!(
        "interrupted: stopped in {:.2} s: {err}",
        stopped_in.as_secs_f64()
    );
    assert!(
        seen.leaks.is_empty(),
        "the password showed: {:#?}",
        seen.leaks
    );
    assert_uploads_private_and_gone(&seen, "interrupted run");
    let left: Vec<_> = mails().difference(&mail_before).cloned().collect();
    assert!(
        left.is_empty(),
        "test mail left after the interrupt: {left:?}"
    );
}
