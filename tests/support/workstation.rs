//! The "workstation" test vantage (tests/lab/workstation.sh), held up by a guard while tests use it.
//!
//! A network namespace outside the lab's mynetworks, and an sshd on the lab's side to log in to.
//! `Workstation::up()` brings it up (or finds it up) and keeps it up while any guard lives, in
//! this process or another: each guard holds a shared flock on /run/mailcheck-ws.users.lock, and
//! the last one to drop (also when a test panics) runs `workstation.sh down`. Up and down
//! transitions are serialised on /run/mailcheck-ws.guard.lock.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

const ENV_FILE: &str = "/run/mailcheck-ws.env";
const GUARD_LOCK: &str = "/run/mailcheck-ws.guard.lock";
const USERS_LOCK: &str = "/run/mailcheck-ws.users.lock";

/// The workstation while it is up. Field values come from /run/mailcheck-ws.env.
#[derive(Debug)]
pub struct Workstation {
    /// The network namespace (`mcws`).
    pub ns: String,
    /// The lab's address on the veth pair (198.18.1.1), where the sshd listens.
    pub host_addr: String,
    /// The workstation's own address (198.18.1.2): outside mynetworks.
    pub addr: String,
    pub ssh_port: u16,
    /// The lab's hostname; in the namespace it resolves to `host_addr`.
    pub lab_host: String,
    /// The test key (private; `.pub` beside it), accepted for every user below.
    pub key: PathBuf,
    /// known_hosts with the sshd's real host key, and one with another key for the same names.
    pub known_hosts: PathBuf,
    pub wrong_known_hosts: PathBuf,
    /// Users: root; one without sudo; one with passwordless `sudo -n`.
    pub root_user: String,
    pub plain_user: String,
    pub sudo_user: String,
    pub sshd_log: PathBuf,
    users: File,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/lab/workstation.sh")
}

fn open_lock(path: &str) -> File {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {path}: {e}"))
}

/// Runs `workstation.sh <what>`; its output on failure.
fn run_script(what: &str) -> Result<String, String> {
    let out = Command::new("bash")
        .arg(script())
        .arg(what)
        .output()
        .map_err(|e| format!("cannot run workstation.sh: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

impl Workstation {
    /// Brings the workstation up (idempotent) and holds it up until dropped.
    pub fn up() -> Workstation {
        let guard = open_lock(GUARD_LOCK);
        guard.lock().expect("lock the workstation guard");
        let users = open_lock(USERS_LOCK);
        if let Err(out) = run_script("up") {
            // Undo a half-built workstation, unless someone else is using it.
            if users.try_lock().is_ok() {
                let _ = run_script("down");
            }
            panic!("workstation.sh up failed:\n{out}");
        }
        users.lock_shared().expect("share the workstation");
        drop(guard);
        let vars = read_env();
        let get = |k: &str| {
            vars.get(k)
                .cloned()
                .unwrap_or_else(|| panic!("{ENV_FILE} lacks {k}"))
        };
        Workstation {
            ns: get("WS_NS"),
            host_addr: get("WS_HOST_ADDR"),
            addr: get("WS_ADDR"),
            ssh_port: get("WS_SSH_PORT").parse().expect("WS_SSH_PORT is a port"),
            lab_host: get("WS_LAB_HOST"),
            key: get("WS_KEY").into(),
            known_hosts: get("WS_KNOWN_HOSTS").into(),
            wrong_known_hosts: get("WS_WRONG_KNOWN_HOSTS").into(),
            root_user: get("WS_USER_ROOT"),
            plain_user: get("WS_USER_PLAIN"),
            sudo_user: get("WS_USER_SUDO"),
            sshd_log: get("WS_SSHD_LOG").into(),
            users,
        }
    }

    /// `program` run inside the namespace (`ip netns exec <ns> program`); add arguments as usual.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]).arg(program);
        c
    }

    /// The argv prefix that runs ssh inside the namespace, for `SshConfig::command`.
    pub fn ssh_command(&self) -> Vec<OsString> {
        ["ip", "netns", "exec", &self.ns, "ssh"]
            .iter()
            .map(OsString::from)
            .collect()
    }

    /// `ssh -o BatchMode=yes -o UserKnownHostsFile=<known_hosts> -i <key> user@<lab host> remote...`
    /// inside the namespace.
    pub fn ssh(&self, user: &str, known_hosts: &Path, remote: &[&str]) -> Command {
        let mut c = self.command("ssh");
        c.args(["-o", "BatchMode=yes", "-o"])
            .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
            .arg("-i")
            .arg(&self.key)
            .arg(format!("{user}@{}", self.lab_host))
            .args(remote);
        c
    }

    /// Stops the sshd (for "sshd is down" tests); [`Workstation::start_sshd`] starts it again.
    pub fn stop_sshd(&self) {
        if let Err(out) = run_script("sshd-stop") {
            panic!("workstation.sh sshd-stop failed:\n{out}");
        }
    }

    /// Starts the sshd again (reruns `up`).
    pub fn start_sshd(&self) {
        let guard = open_lock(GUARD_LOCK);
        guard.lock().expect("lock the workstation guard");
        if let Err(out) = run_script("up") {
            panic!("workstation.sh up failed:\n{out}");
        }
    }
}

fn read_env() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(ENV_FILE)
        .unwrap_or_else(|e| panic!("{ENV_FILE}: {e} (workstation.sh up did not finish?)"));
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

impl Drop for Workstation {
    #[allow(clippy::print_stderr)]
    fn drop(&mut self) {
        let guard = open_lock(GUARD_LOCK);
        if guard.lock().is_err() {
            return;
        }
        let _ = self.users.unlock();
        // Exclusive only when no other guard (here or in another process) holds it shared.
        let last = open_lock(USERS_LOCK);
        if last.try_lock().is_ok()
            && let Err(out) = run_script("down")
        {
            // Not a panic: this may run while a test is already panicking.
            eprintln!("workstation.sh down failed:\n{out}");
        }
    }
}
