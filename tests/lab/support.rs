//! Drives the real lab server (tests/lab/up.sh) from integration tests: reads the lab's
//! values, runs the real `mailcheck` binary against it, breaks one thing and puts it back.
//!
//! Lab tests change a shared machine, so they take `Lab::lock()` and run one at a time, across
//! test binaries too (an flock on /run/mailcheck-lab.lock).
//!
//! With `MAILCHECK_LAB=NAME` the lab is lab machine NAME (tests/lab/machine.sh, support/machine.rs)
//! instead of this host: `path`, `command` and `mailcheck_command` reach into it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The values the lab was built with (`/run/mailcheck-lab.env`, written by up.sh).
#[derive(Debug, Clone)]
pub struct Lab {
    pub vars: BTreeMap<String, String>,
    pub hostname: String,
    pub domain: String,
    pub account: String,
    pub password: String,
    pub db_name: String,
    pub db_user: String,
    pub db_password: String,
}

/// Holds the lab for one test; restores it (reruns up.sh) when dropped if something was broken.
pub struct LabGuard {
    pub lab: Lab,
    broken: bool,
    _lock: std::fs::File,
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Lab {
    fn read() -> Lab {
        let text = std::fs::read_to_string(path("/run/mailcheck-lab.env")).unwrap_or_else(|e| {
            panic!(
                "the lab is not built (/run/mailcheck-lab.env: {e}); run tests/lab/up.sh as root"
            )
        });
        let vars: BTreeMap<String, String> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| {
                (
                    k.trim().to_string(),
                    v.trim().trim_matches('\'').trim_matches('"').to_string(),
                )
            })
            .collect();
        let get = |k: &str| {
            vars.get(k)
                .cloned()
                .unwrap_or_else(|| panic!("lab env lacks {k}"))
        };
        Lab {
            hostname: get("LAB_HOSTNAME"),
            domain: get("LAB_DOMAIN"),
            account: get("LAB_ACCOUNT"),
            password: get("LAB_PASSWORD"),
            db_name: get("LAB_DB_NAME"),
            db_user: get("LAB_DB_USER"),
            db_password: get("LAB_DB_PASSWORD"),
            vars,
        }
    }

    /// Takes the lab for this test (waits for other lab tests to finish).
    pub fn lock() -> LabGuard {
        // flock is per open file description: each guard opens the file, so threads of one
        // test binary and other test binaries all wait for each other.
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path("/run/mailcheck-lab.lock"))
            .expect("open /run/mailcheck-lab.lock");
        lock.lock().expect("lock the lab");
        LabGuard {
            lab: Lab::read(),
            broken: false,
            _lock: lock,
        }
    }
}

/// The result of one `mailcheck run --format json`.
pub struct RunOutput {
    pub code: i32,
    pub json: serde_json::Value,
    pub stdout: String,
    pub stderr: String,
}

impl RunOutput {
    /// The entry of check `id`.
    pub fn check(&self, id: &str) -> &serde_json::Value {
        self.json["checks"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["id"] == id))
            .unwrap_or_else(|| panic!("no check {id} in report:\n{}", self.stdout))
    }
    pub fn status(&self, id: &str) -> String {
        self.check(id)["status"].as_str().unwrap_or("").to_string()
    }
    pub fn message(&self, id: &str) -> String {
        self.check(id)["message"].as_str().unwrap_or("").to_string()
    }
    /// Every check with `status`.
    pub fn with_status(&self, status: &str) -> Vec<String> {
        self.json["checks"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|c| c["status"] == status)
                    .map(|c| {
                        format!(
                            "{}: {}",
                            c["id"].as_str().unwrap_or(""),
                            c["message"].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub fn mailcheck_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mailcheck"))
}

/// With `MAILCHECK_LAB_SAVE=DIR`, every run of a lab test also keeps its JSON report as
/// `DIR/<test>-<n>.json` and its recording (`--record`) in `DIR/<test>-<n>/`: the fixtures are
/// re-recorded from these (tests/lab/record-fixtures.sh), and two versions' statuses compared.
fn save_slot() -> Option<PathBuf> {
    static SEEN: std::sync::Mutex<BTreeMap<String, usize>> = std::sync::Mutex::new(BTreeMap::new());
    let dir = PathBuf::from(std::env::var_os("MAILCHECK_LAB_SAVE")?);
    let test = std::thread::current()
        .name()
        .unwrap_or("main")
        .replace("::", "-");
    let n = {
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        let n = seen.entry(test.clone()).or_default();
        *n += 1;
        *n
    };
    Some(dir.join(format!("{test}-{n:03}")))
}

pub fn save_args() -> Vec<String> {
    match save_slot() {
        Some(slot) => {
            LAST_SLOT.with(|s| *s.borrow_mut() = Some(slot.clone()));
            vec!["--record".into(), slot.display().to_string()]
        }
        None => Vec::new(),
    }
}

thread_local! {
    static LAST_SLOT: std::cell::RefCell<Option<PathBuf>> = const { std::cell::RefCell::new(None) };
}

pub fn save_report(stdout: &str) {
    if let Some(slot) = LAST_SLOT.with(|s| s.borrow_mut().take()) {
        let _ = std::fs::create_dir_all(slot.parent().unwrap_or(Path::new("/")));
        let _ = std::fs::write(slot.with_extension("json"), stdout);
    }
}

/// `p` (an absolute path on the lab server) as this process reaches it.
pub fn path(p: impl AsRef<Path>) -> PathBuf {
    let p = p.as_ref();
    crate::machine::target().map_or_else(|| p.to_path_buf(), |m| m.path(p))
}

/// The address the lab server reaches this process at (a listener a test points the lab at).
pub fn host_address() -> std::net::IpAddr {
    crate::machine::target().map_or(std::net::IpAddr::from([127, 0, 0, 1]), |m| m.host_address)
}

/// `program`, run on the lab server.
pub fn command(program: &str) -> Command {
    crate::machine::target().map_or_else(|| Command::new(program), |m| m.command(program))
}

/// The mailcheck binary under test, run on the lab server.
pub fn mailcheck_command() -> Command {
    crate::machine::target().map_or_else(|| Command::new(mailcheck_bin()), |m| m.mailcheck())
}

/// tests/lab/up.sh, run on the lab server.
fn up_command() -> Command {
    crate::machine::target().map_or_else(
        || {
            let mut cmd = Command::new("bash");
            cmd.arg(repo().join("tests/lab/up.sh"));
            cmd
        },
        |m| m.up(),
    )
}

/// Runs a shell command as part of a test; panics with its output if it fails.
pub fn sh(script: &str) -> Output {
    let out = command("bash")
        .args(["-c", script])
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "`{script}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl LabGuard {
    /// `mailcheck run --host <lab host> --account <lab account> --format json <extra>`, with the
    /// password in MAILCHECK_PASSWORD.
    pub fn run(&self, extra: &[&str]) -> RunOutput {
        self.run_command(mailcheck_command(), extra)
    }

    /// Like `run`, as the user nobody (uid and gid 65534, no groups) instead of root.
    pub fn run_unprivileged(&self, extra: &[&str]) -> RunOutput {
        let mut cmd = command("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        cmd.arg(mailcheck_bin());
        self.run_command(cmd, extra)
    }

    /// Like `run_unprivileged`, with /proc mounted `hidepid=2` (in a mount namespace of its
    /// own, gone when the run ends): nobody sees only its own processes.
    pub fn run_unprivileged_hidepid(&self, extra: &[&str]) -> RunOutput {
        let mut cmd = command("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount -t proc -o hidepid=2 proc /proc && exec \"$@\"")
            .args([
                "sh",
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
            ])
            .arg(mailcheck_bin());
        self.run_command(cmd, extra)
    }

    fn run_command(&self, mut cmd: Command, extra: &[&str]) -> RunOutput {
        let save = save_args();
        if let Some(dir) = save.get(1).and_then(|d| Path::new(d).parent()) {
            // The recording is written by the run's own user.
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::create_dir_all(dir);
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777));
        }
        cmd.args([
            "run",
            "--host",
            &self.lab.hostname,
            "--account",
            &self.lab.account,
            "--format",
            "json",
        ])
        .args(extra)
        .args(save)
        .env("MAILCHECK_PASSWORD", &self.lab.password)
        .env_remove("MAILCHECK_HOST")
        .env_remove("MAILCHECK_ACCOUNT");
        let out = cmd.output().expect("run mailcheck");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "mailcheck printed no JSON ({e}):\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert_schema_v2(&json);
        save_report(&stdout);
        RunOutput {
            code: out.status.code().unwrap_or(-1),
            json,
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `script` (bash) to break the lab; the guard restores the lab when dropped.
    pub fn break_with(&mut self, script: &str) {
        self.broken = true;
        sh(script);
    }

    /// Puts the lab back now (reruns up.sh with the lab's own values).
    pub fn restore(&mut self) {
        let out = up_command()
            .envs(self.lab.vars.iter())
            .output()
            .expect("run up.sh");
        assert!(
            out.status.success(),
            "restoring the lab failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        self.broken = false;
    }

    /// Breaks with `script`, runs only `check` (plus `extra`), asserts its status and that the
    /// message contains each of `needles`, and restores the lab.
    pub fn expect_after_break(
        &mut self,
        script: &str,
        check: &str,
        status: &str,
        needles: &[&str],
    ) -> RunOutput {
        self.break_with(script);
        let out = self.run(&["--only", check]);
        let got = out.status(check);
        let msg = out.message(check);
        self.restore();
        assert_eq!(got, status, "{check} after `{script}`: {msg}");
        for n in needles {
            assert!(msg.contains(n), "{check} message lacks {n:?}: {msg}");
        }
        out
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        if self.broken {
            let _ = up_command().envs(self.lab.vars.iter()).output();
        }
    }
}

/// `--only ID` for each of `ids`.
pub fn only(ids: &[&str]) -> Vec<String> {
    ids.iter()
        .flat_map(|id| ["--only".to_string(), id.to_string()])
        .collect()
}

/// One run of just the checks `ids`; prints what each said (`--nocapture` shows it).
pub fn run_only(g: &LabGuard, ids: &[&str]) -> RunOutput {
    let args = only(ids);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = g.run(&refs);
    for id in ids {
        println!("{id}: {}: {}", out.status(id), out.message(id));
    }
    out
}

/// Check `id` has `status` and its message contains each of `needles`.
pub fn assert_has(out: &RunOutput, id: &str, status: &str, needles: &[&str]) {
    let (got, msg) = (out.status(id), out.message(id));
    assert_eq!(got, status, "{id}: {msg}");
    for n in needles {
        assert!(msg.contains(n), "{id} message lacks {n:?}: {msg}");
    }
}

/// The effect names the cause in its message and in its typed `caused_by`.
pub fn assert_caused_by(out: &RunOutput, effect: &str, cause: &str) {
    let msg = out.message(effect);
    assert!(
        msg.contains(&format!("caused by {cause}")),
        "{effect} does not say it is caused by {cause}: {msg}"
    );
    let typed = out.check(effect)["caused_by"].to_string();
    assert!(typed.contains(cause), "{effect} caused_by: {typed}");
}

/// Every JSON report a lab test sees must match reports/schema-v2.json, and each observed
/// check's evidence the schema of its kind (reports/schemas/).
pub fn assert_schema_v2(v: &serde_json::Value) {
    let load = |p: PathBuf| -> serde_json::Value {
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        serde_json::from_str(&text).expect("schema is JSON")
    };
    let validate = |schema: &serde_json::Value, v: &serde_json::Value, what: &str| {
        let validator = jsonschema::validator_for(schema).expect("schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(v)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what} does not match its schema: {errors:?}"
        );
    };
    validate(&load(repo().join("reports/schema-v2.json")), v, "report");
    let cat = mailcheck::catalogue::Catalogue::embedded().expect("catalogue");
    for c in v["checks"].as_array().into_iter().flatten() {
        if c["observed"] != true {
            continue;
        }
        let id = c["id"].as_str().unwrap_or("");
        let Some(check) = cat.get(id) else { continue };
        let m = check.probe.meta();
        let file = repo().join(format!("reports/schemas/{}.{}.json", m.family(), m.name()));
        validate(&load(file), &c["evidence"], &format!("{id}'s evidence"));
    }
}
