//! Lab machines (tests/lab/machine.sh) as the lab of the lab tests: with `MAILCHECK_LAB=NAME` the
//! tests run mailcheck, their break scripts and up.sh inside machine NAME (Debian 12 or 13 in its
//! own PID, mount and network namespaces) instead of on this host.
//!
//! The machine must be running (`tests/lab/machine.sh start NAME`, `... up NAME`). Its files are
//! reached through `/proc/<its PID 1>/root`; its /tmp is this host's /tmp, so files a test writes
//! to `std::env::temp_dir()` are at the same path for the mailcheck it runs inside.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Where the test binary puts mailcheck inside the machine.
const INSIDE_BIN: &str = "/usr/local/bin/mailcheck";

/// A running lab machine.
#[derive(Debug)]
pub struct Machine {
    pub name: String,
    /// The machine's `/` as this host sees it (`/proc/PID/root`).
    pub root: PathBuf,
    /// This host's end of the machine's veth: where the machine reaches a listener of the test.
    pub host_address: IpAddr,
}

/// The machine the lab tests target: `MAILCHECK_LAB` (unset, empty or `host`: this host).
pub fn target() -> Option<&'static Machine> {
    static TARGET: OnceLock<Option<Machine>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let name = std::env::var("MAILCHECK_LAB").ok()?;
            (!name.is_empty() && name != "host").then(|| Machine::open(&name))
        })
        .as_ref()
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/lab/machine.sh")
}

impl Machine {
    /// Machine `name`; panics when it is not running.
    pub fn open(name: &str) -> Machine {
        let ask = |what: &str| {
            let out = Command::new("bash")
                .arg(script())
                .args([what, name])
                .output()
                .expect("run tests/lab/machine.sh");
            assert!(
                out.status.success(),
                "MAILCHECK_LAB={name}: {}(tests/lab/machine.sh create {name} trixie && \
                 tests/lab/machine.sh start {name} && tests/lab/machine.sh up {name})",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let root = PathBuf::from(ask("root"));
        let addr = ask("addr");
        let host = addr.split_whitespace().next().unwrap_or_default();
        Machine {
            name: name.to_string(),
            root,
            host_address: host
                .parse()
                .unwrap_or_else(|e| panic!("machine.sh addr {name}: {addr:?}: {e}")),
        }
    }

    /// `path` (absolute, as inside the machine) as this host reaches it.
    pub fn path(&self, path: impl AsRef<Path>) -> PathBuf {
        let p = path.as_ref();
        self.root.join(p.strip_prefix("/").unwrap_or(p))
    }

    /// `program` run inside the machine (`machine.sh exec`: the machine's namespaces and root;
    /// the caller's LAB_* and MAILCHECK_* variables pass, the rest of the environment is reset;
    /// signals sent to the returned command's process reach `program`).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg(script())
            .args(["exec", &self.name, "--"])
            .arg(program);
        cmd
    }

    /// The test's mailcheck binary, run inside the machine (copied in once per test process).
    pub fn mailcheck(&self) -> Command {
        static COPIED: OnceLock<()> = OnceLock::new();
        COPIED.get_or_init(|| {
            // A new name, then rename: a mailcheck already running inside keeps its file.
            let dest = self.path(INSIDE_BIN);
            let tmp = dest.with_extension(format!("new.{}", std::process::id()));
            std::fs::copy(env!("CARGO_BIN_EXE_mailcheck"), &tmp)
                .unwrap_or_else(|e| panic!("copy mailcheck to {}: {e}", tmp.display()));
            std::fs::rename(&tmp, &dest)
                .unwrap_or_else(|e| panic!("rename {} to {}: {e}", tmp.display(), dest.display()));
        });
        self.command(INSIDE_BIN)
    }

    /// tests/lab/up.sh (this checkout's) run inside the machine, with the LAB_* values the caller
    /// gives it as environment variables.
    pub fn up(&self) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg(script()).args(["up", &self.name]);
        cmd
    }
}
