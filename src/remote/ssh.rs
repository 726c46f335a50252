//! Runs mailcheck on the mail server over SSH (the system's OpenSSH client, ssh(1)), as root.
//!
//! The host checks run there; the password crosses only on the channel's stdin.
//! One [`Session`] per server: [`Session::open`] logs in (sharing one connection through a
//! ControlMaster socket in a private directory unless told not to), checks that the commands run
//! as root (a root login, or `sudo -n` with [`SshConfig::sudo`]) and looks at the server: its
//! architecture and whether the same mailcheck version is installed. [`Session::run_mailcheck`]
//! then runs that mailcheck, or uploads this binary into a `mktemp -d` directory over the same
//! channel and runs it; the remote wrapper removes the directory when it ends, is signalled, or
//! sees its stdin end because the local ssh is gone. ssh always gets `-o BatchMode=yes`: no
//! prompts, and host keys are checked the way the user's ssh is configured to check them.
//!
//! ```no_run
//! use mailcheck::remote::ssh::{Session, SshConfig, Target};
//! use mailcheck::secret::Secret;
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
//! let target: Target = "admin@mx.example.com:2222".parse()?;
//! let config = SshConfig { sudo: true, ..SshConfig::default() };
//! let session = Session::open(&target, config, deadline).await?;
//! let args = ["run", "--host", "mx.example.com", "--account", "root@example.com",
//!             "--format", "json", "--only", "fs", "--password-stdin"];
//! let password = Secret::new("userpass");
//! let run = session.run_mailcheck(&args, Some(&password), deadline).await?;
//! let report: serde_json::Value = serde_json::from_slice(&run.stdout)?;
//! println!("remote exit {}: {} checks", run.exit_code, report["checks"].as_array().map_or(0, Vec::len));
//! session.close().await;
//! # Ok(())
//! # }
//! ```

mod classify;
mod control;
mod target;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};
use tokio::time::Instant;

pub use target::{Target, TargetError};

use crate::secret::Secret;
use classify::{SshFailure, SudoFailure, last_line, ssh_failure, sudo_failure};
use control::ControlDir;

const PROBE_SH: &str = include_str!("ssh/probe.sh");
const WRAPPER_SH: &str = include_str!("ssh/wrapper.sh");
const PROBE_MARK: &str = "mailcheck-probe: ";
const REMOTE_MARK: &str = "mailcheck-remote: ";
/// The wrapper's own failures (mktemp, upload); mailcheck itself exits 0-3 or 130.
const WRAPPER_FAILED: i32 = 97;
/// ssh(1): "ssh exits with the exit status of the remote command or with 255 if an error occurred".
const SSH_FAILED: i32 = 255;
/// Bounds on what is kept of the remote output (a JSON report is some hundred KiB).
const STDOUT_CAP: usize = 64 << 20;
const STDERR_CAP: usize = 1 << 20;
/// The longest ConnectTimeout, whatever the deadline.
const CONNECT_TIMEOUT_MAX: u64 = 30;

/// This build's `mailcheck --version` line, which an installed mailcheck must print to be used.
pub fn our_version() -> String {
    format!("mailcheck {}", env!("CARGO_PKG_VERSION"))
}

/// One extra option for ssh, given by the caller (and for tests: the key and known_hosts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshOption {
    /// `-o KEY=VALUE`. Options that turn off host key checking or batch mode are refused.
    Option(String),
    /// `-i FILE`: an identity (private key) file.
    Identity(PathBuf),
    /// `-F FILE`: another ssh_config file instead of ~/.ssh/config.
    ConfigFile(PathBuf),
}

/// Whether an installed mailcheck of the same version may be used instead of uploading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UploadPolicy {
    /// Run the server's `mailcheck` when its `--version` is ours, else upload this binary.
    #[default]
    IfNeeded,
    /// Always upload this binary.
    Always,
}

/// How to reach the server and what to run there.
#[derive(Debug, Clone)]
pub struct SshConfig {
    /// The ssh program and any arguments that go before ours; `["ssh"]` unless the caller wraps
    /// it (tests: `ip netns exec mcws ssh`).
    pub command: Vec<OsString>,
    /// Extra `-o`, `-i`, `-F` options.
    pub options: Vec<SshOption>,
    /// Run the commands through `sudo -n` (`--ssh-sudo`).
    pub sudo: bool,
    /// Share one connection between the probe and the run (ControlMaster in a private 0700
    /// directory, stopped with `-O exit` at the end).
    pub multiplex: bool,
    /// The binary to upload; `None`: this process's own executable.
    pub binary: Option<PathBuf>,
    /// Whether an installed mailcheck may be used.
    pub upload: UploadPolicy,
    /// The server's directory for the upload's private directory; `None`: `${TMPDIR:-/tmp}`.
    pub remote_tmpdir: Option<String>,
}

impl Default for SshConfig {
    fn default() -> SshConfig {
        SshConfig {
            command: vec![OsString::from("ssh")],
            options: Vec::new(),
            sudo: false,
            multiplex: true,
            binary: None,
            upload: UploadPolicy::IfNeeded,
            remote_tmpdir: None,
        }
    }
}

/// What the probe learned about the server (as the user the commands run as).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub user: String,
    pub uid: u32,
    /// `uname -s` and `uname -m`.
    pub os: String,
    pub arch: String,
    /// `${TMPDIR:-/tmp}` there.
    pub tmpdir: String,
    /// The `mailcheck` in the PATH there, if any, and the first line of its `--version`.
    pub installed: Option<Installed>,
}

/// A mailcheck found on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub path: String,
    pub version: String,
}

/// Which binary ran on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteBinary {
    /// The server's own mailcheck, of our version.
    Installed { path: String },
    /// This binary, uploaded into `dir` (removed again by the remote wrapper).
    Uploaded { dir: Option<String>, bytes: u64 },
}

/// The remote mailcheck's result: its stdout (the report), its stderr (without the wrapper's
/// own lines) and its exit status, passed through (0, 1, 2, 3, 130, ...).
#[derive(Debug, Clone)]
pub struct RemoteRun {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub stdout_truncated: bool,
    pub binary: RemoteBinary,
    /// From starting ssh to its exit.
    pub elapsed: Duration,
}

/// The result of [`Session::run_command`].
#[derive(Debug, Clone)]
pub struct CommandOutput {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// Why the remote run did not happen, or did not finish. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("the ssh command is empty")]
    EmptyCommand,
    #[error(
        "refusing the ssh option {option:?}: mailcheck never turns off host key checking or batch mode"
    )]
    UnsafeOption { option: String },
    #[error(
        "cannot run {program:?}: {source} (is the OpenSSH client installed? apt install openssh-client)"
    )]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot make a private directory for the shared SSH connection: {source}")]
    ControlDir {
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{host}'s SSH host key is not in known_hosts ({detail}), and mailcheck never accepts a key unseen. \
         Compare the key's fingerprint with the server's own (there: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), \
         then accept it once with `ssh {target}`, or add it with `ssh-keyscan {keyscan} >> ~/.ssh/known_hosts`"
    )]
    HostKeyUnknown {
        host: String,
        target: String,
        keyscan: String,
        detail: String,
    },
    #[error(
        "{host}'s SSH host key has CHANGED since it was stored in known_hosts ({detail}): someone may be \
         intercepting the connection, or the server was reinstalled. mailcheck does not connect. If you know why \
         the key changed, remove the old one with `ssh-keygen -R {host}` and accept the new one with `ssh {target}`"
    )]
    HostKeyChanged {
        host: String,
        target: String,
        detail: String,
    },
    #[error(
        "cannot connect to {target}: connection refused ({detail}); is sshd running there, and on that port? (--ssh HOST:PORT)"
    )]
    ConnectionRefused { target: String, detail: String },
    #[error(
        "no answer from {target} ({detail}): the host is down, or a firewall drops the connection"
    )]
    ConnectTimeout { target: String, detail: String },
    #[error("{target} is unreachable ({detail})")]
    Unreachable { target: String, detail: String },
    #[error("cannot resolve {host} ({detail})")]
    Resolve { host: String, detail: String },
    #[error(
        "{target} refused the SSH login ({detail}). mailcheck logs in without prompts (BatchMode), so use a key: \
         load it into your agent (ssh-add), or name it (IdentityFile in ~/.ssh/config), and put its public key \
         in the user's ~/.ssh/authorized_keys on the server"
    )]
    AuthFailed { target: String, detail: String },
    #[error(
        "{target} closed the SSH connection before login ({detail}): not an SSH server on that port, or sshd refused us (MaxStartups, AllowUsers, TCP wrappers)"
    )]
    ConnectionClosed { target: String, detail: String },
    #[error("ssh {target} failed: {detail}")]
    Ssh { target: String, detail: String },
    #[error("ssh {target} was killed by a signal")]
    Killed { target: String },
    #[error("ssh {target}: no result within {} ({phase}); ssh was stopped", humantime::format_duration(*.after))]
    Timeout {
        target: String,
        phase: &'static str,
        after: Duration,
    },
    #[error(
        "on {host} the checks would run as {user} (uid {uid}), not root, and the host checks read files only \
         root may read. {hint}"
    )]
    NotRoot {
        host: String,
        user: String,
        uid: u32,
        hint: &'static str,
    },
    #[error(
        "sudo -n on {host}: {detail}. mailcheck never types a password into sudo: let {user} run sudo without \
         a password (for example `{user} ALL=(root) NOPASSWD: ALL` in /etc/sudoers.d/mailcheck, written with \
         visudo), or log in as root (--ssh root@{host})"
    )]
    SudoPasswordRequired {
        host: String,
        user: String,
        detail: String,
    },
    #[error(
        "sudo on {host}: {user} may not run commands as root ({detail}); give {user} a NOPASSWD sudo rule, or log in as root (--ssh root@{host})"
    )]
    SudoNotAllowed {
        host: String,
        user: String,
        detail: String,
    },
    #[error(
        "--ssh-sudo: there is no sudo on {host} ({detail}); install it, or log in as root (--ssh root@{host})"
    )]
    SudoMissing { host: String, detail: String },
    #[error("unexpected answer from {host} to mailcheck's probe (exit status {code}): {detail}")]
    Probe {
        host: String,
        code: i32,
        detail: String,
    },
    #[error(
        "{host} is {os} {arch}, this mailcheck is built for {} {}, and there is no {v} installed on {host}: \
         install mailcheck {v} there (it is used when it is in the PATH)",
        std::env::consts::OS,
        std::env::consts::ARCH,
        v = our_version()
    )]
    WrongArchitecture {
        host: String,
        os: String,
        arch: String,
    },
    #[error("cannot read the mailcheck binary to upload ({path}): {source}")]
    LocalBinary {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot make a private directory on {host} for the upload ({detail}); point the remote temporary directory (TMPDIR) to a writable place"
    )]
    RemoteTemp { host: String, detail: String },
    #[error("uploading mailcheck to {host} failed: {detail}")]
    Upload { host: String, detail: String },
    #[error("mailcheck did not start on {host} (exit status {code}: {detail}): {hint}")]
    RemoteExec {
        host: String,
        code: i32,
        detail: String,
        hint: String,
    },
    #[error("the remote wrapper on {host} failed: {detail}")]
    Wrapper { host: String, detail: String },
    #[error(
        "the account's password is in the remote mailcheck's arguments; it may only cross on stdin (--password-stdin)"
    )]
    SecretInArguments,
    #[error("a password was given, but the remote mailcheck's arguments lack --password-stdin")]
    PasswordWithoutStdinFlag,
    #[error("the password holds a line break or a NUL, which --password-stdin cannot carry")]
    PasswordNotOneLine,
    #[error("talking to ssh {target} failed: {source}")]
    Io {
        target: String,
        #[source]
        source: std::io::Error,
    },
}

/// A logged-in server: the probe's answers and, with `multiplex`, the shared connection.
#[derive(Debug)]
pub struct Session {
    target: Target,
    config: SshConfig,
    control: Option<ControlDir>,
    server: ServerInfo,
    opened_in: Duration,
}

/// What came back from one ssh invocation.
struct Collected {
    code: i32,
    stdout: Vec<u8>,
    stdout_truncated: bool,
    stderr: String,
    elapsed: Duration,
}

impl Session {
    /// Logs in to `target`, checks that commands run as root, and probes the server, all before
    /// `deadline`.
    pub async fn open(
        target: &Target,
        config: SshConfig,
        deadline: Instant,
    ) -> Result<Session, SshError> {
        if config.command.is_empty() {
            return Err(SshError::EmptyCommand);
        }
        for o in &config.options {
            check_option(o)?;
        }
        let control = if config.multiplex {
            Some(ControlDir::create().map_err(|source| SshError::ControlDir { source })?)
        } else {
            None
        };
        let mut session = Session {
            target: target.clone(),
            config,
            control,
            server: ServerInfo {
                user: String::new(),
                uid: u32::MAX,
                os: String::new(),
                arch: String::new(),
                tmpdir: String::new(),
                installed: None,
            },
            opened_in: Duration::ZERO,
        };
        if session.control.is_some() {
            let exit_argv = session.exit_argv();
            if let Some(c) = session.control.as_mut() {
                c.set_exit_argv(exit_argv);
            }
        }
        let started = Instant::now();
        let remote = session.privileged(&["sh", "-c", PROBE_SH]);
        let out = session
            .exec(
                &remote,
                None,
                deadline,
                "login and probe",
                std::future::pending(),
            )
            .await?;
        session.server = session.read_probe(&out)?;
        session.opened_in = started.elapsed();
        if session.server.uid != 0 {
            return Err(SshError::NotRoot {
                host: session.target.host().to_string(),
                user: session.server.user.clone(),
                uid: session.server.uid,
                hint: if session.config.sudo {
                    "sudo -n ran the commands as another user; check the sudo rule's run-as user"
                } else {
                    "Log in as root (--ssh root@HOST), or add --ssh-sudo with a user that may run sudo without a password"
                },
            });
        }
        Ok(session)
    }

    /// What the probe found.
    pub fn server(&self) -> &ServerInfo {
        &self.server
    }

    /// The target this session logs in to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// How long [`Session::open`] took to log in and probe.
    pub fn opened_in(&self) -> Duration {
        self.opened_in
    }

    /// The local directory of the shared connection's socket, if there is one.
    pub fn control_dir(&self) -> Option<&std::path::Path> {
        self.control.as_ref().map(|c| c.path())
    }

    /// Runs `argv` on the server (through `sudo -n` with `sudo`), stdin empty, within `deadline`.
    /// Its exit status is passed through; only ssh's own failures (255) are errors.
    pub async fn run_command(
        &self,
        argv: &[&str],
        deadline: Instant,
    ) -> Result<CommandOutput, SshError> {
        let remote = self.privileged(argv);
        let out = self
            .exec(&remote, None, deadline, "command", std::future::pending())
            .await?;
        Ok(CommandOutput {
            exit_code: out.code,
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    /// Runs mailcheck on the server with `args` (e.g. `run --host H --format json
    /// --password-stdin`): the installed one if it is our version (and the policy allows), else
    /// this binary, uploaded for this run. The password, if any, goes first on stdin; `args` must
    /// then hold `--password-stdin` and must not hold the password.
    pub async fn run_mailcheck<S: AsRef<str>>(
        &self,
        args: &[S],
        password: Option<&Secret>,
        deadline: Instant,
    ) -> Result<RemoteRun, SshError> {
        self.run_mailcheck_until(args, password, deadline, std::future::pending())
            .await
    }

    /// [`Session::run_mailcheck`], with a way to stop it gently: when `stop` resolves, ssh's
    /// stdin is closed (the upload too, if it is still going), which makes the remote wrapper
    /// send mailcheck SIGTERM; mailcheck deletes its test mail and exits 130, the wrapper
    /// removes the upload, and this returns what the remote said, still before `deadline`.
    pub async fn run_mailcheck_until<S: AsRef<str>>(
        &self,
        args: &[S],
        password: Option<&Secret>,
        deadline: Instant,
        stop: impl Future<Output = ()>,
    ) -> Result<RemoteRun, SshError> {
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        if let Some(pw) = password {
            let pw = pw.expose();
            if pw.contains(['\n', '\r', '\0']) {
                return Err(SshError::PasswordNotOneLine);
            }
            if !pw.is_empty() && args.iter().any(|a| a.contains(pw)) {
                return Err(SshError::SecretInArguments);
            }
            if !args.contains(&"--password-stdin") {
                return Err(SshError::PasswordWithoutStdinFlag);
            }
        }
        let installed = installed_to_use(&self.server, self.config.upload).map(str::to_string);
        let upload = match installed {
            Some(_) => None,
            None => {
                self.check_architecture()?;
                Some(self.open_binary().await?)
            }
        };
        let mode = match &installed {
            Some(p) => format!("installed:{p}"),
            None => "upload".to_string(),
        };
        let bytes = upload.as_ref().map_or(0, |(_, size)| *size);
        let size = bytes.to_string();
        let tmp = self.config.remote_tmpdir.as_deref().unwrap_or("-");
        let pw_flag = if password.is_some() { "1" } else { "0" };
        // $0 names the wrapper in the shell's own error messages ("mailcheck-ssh: 52: ...: not found").
        let mut argv = vec!["sh", "-c", WRAPPER_SH, "mailcheck-ssh"];
        argv.extend([mode.as_str(), size.as_str(), pw_flag, tmp]);
        argv.extend(args.iter().copied());
        let remote = self.privileged(&argv);
        let feed = Feed {
            password,
            binary: upload,
        };
        let out = self
            .exec(&remote, Some(feed), deadline, "upload and run", stop)
            .await?;
        let (marks, stderr) = split_marks(&out.stderr);
        let dir = marks
            .iter()
            .find_map(|m| m.strip_prefix("dir "))
            .map(str::to_string);
        let binary = match installed {
            Some(path) => RemoteBinary::Installed { path },
            None => RemoteBinary::Uploaded {
                dir: dir.clone(),
                bytes,
            },
        };
        let host = self.target.host().to_string();
        if out.code == WRAPPER_FAILED
            && let Some(err) = marks.iter().find_map(|m| m.strip_prefix("error "))
        {
            let (kind, detail) = err.split_once(": ").unwrap_or(("", err));
            let detail = detail.to_string();
            return Err(match kind {
                "mktemp" => SshError::RemoteTemp { host, detail },
                "upload" | "input" => SshError::Upload { host, detail },
                _ => SshError::Wrapper { host, detail },
            });
        }
        if out.code == 126 || out.code == 127 {
            let hint = match (&binary, out.code) {
                (RemoteBinary::Uploaded { dir, .. }, 126) => {
                    let parent = dir
                        .as_deref()
                        .and_then(|d| d.rsplit_once('/'))
                        .map_or(self.server.tmpdir.as_str(), |(p, _)| p);
                    format!(
                        "the file may not be executed there: is {parent} on a noexec mount? \
                         Choose another remote temporary directory"
                    )
                }
                (RemoteBinary::Installed { path }, 126) => format!("{path} may not be executed"),
                (_, _) => "the file or its interpreter was not found".to_string(),
            };
            return Err(SshError::RemoteExec {
                host,
                code: out.code,
                detail: last_line(&stderr),
                hint,
            });
        }
        Ok(RemoteRun {
            exit_code: out.code,
            stdout: out.stdout,
            stderr,
            stdout_truncated: out.stdout_truncated,
            binary,
            elapsed: out.elapsed,
        })
    }

    /// Stops the shared connection (if any) and removes its directory. Dropping the session
    /// does the same, blocking briefly.
    pub async fn close(mut self) {
        if let Some(c) = self.control.take() {
            // The stop is a blocking wait on a local socket; keep it off the async workers.
            let _ = tokio::task::spawn_blocking(move || drop(c)).await;
        }
    }

    /// `argv` as the command line the server's login shell runs, behind `sudo -n` if asked.
    fn privileged(&self, argv: &[&str]) -> String {
        let mut words: Vec<String> = Vec::new();
        if self.config.sudo {
            words.extend(["sudo", "-n", "--"].map(String::from));
        }
        words.extend(argv.iter().map(|a| sh_quote(a)));
        words.join(" ")
    }

    /// The ssh argv up to and including the host; `exit`: `-O exit` for the shared connection.
    fn ssh_argv(&self, connect_timeout: u64, exit: bool) -> Vec<OsString> {
        let mut v: Vec<OsString> = self.config.command.clone();
        let o = |v: &mut Vec<OsString>, s: OsString| {
            v.push("-o".into());
            v.push(s);
        };
        // First value wins in ssh: ours come before the caller's and before ~/.ssh/config.
        o(&mut v, "BatchMode=yes".into());
        match &self.control {
            Some(c) => {
                o(&mut v, "ControlMaster=auto".into());
                o(
                    &mut v,
                    format!("ControlPersist={}", control::PERSIST).into(),
                );
                let mut p = OsString::from("ControlPath=");
                p.push(c.socket());
                o(&mut v, p);
            }
            None => {
                o(&mut v, "ControlMaster=no".into());
                o(&mut v, "ControlPath=none".into());
            }
        }
        o(&mut v, format!("ConnectTimeout={connect_timeout}").into());
        for opt in &self.config.options {
            match opt {
                SshOption::Option(s) => o(&mut v, s.into()),
                SshOption::Identity(p) => v.extend(["-i".into(), p.into()]),
                SshOption::ConfigFile(p) => v.extend(["-F".into(), p.into()]),
            }
        }
        if exit {
            v.extend(["-O", "exit"].map(OsString::from));
        } else {
            // No terminal (binary stdin, separate stderr), no X11, no agent forwarding.
            v.extend(["-T", "-x", "-a"].map(OsString::from));
        }
        if let Some(p) = self.target.port() {
            v.extend(["-p".into(), p.to_string().into()]);
        }
        if let Some(u) = self.target.user() {
            v.extend(["-l".into(), u.into()]);
        }
        v.extend(["--".into(), self.target.host().into()]);
        v
    }

    fn exit_argv(&self) -> Vec<OsString> {
        self.ssh_argv(3, true)
    }

    /// Runs ssh with the remote command line `remote`, feeding stdin from `feed` (None: empty)
    /// and keeping it open until ssh exits or `stop` resolves, all before `deadline`.
    async fn exec(
        &self,
        remote: &str,
        feed: Option<Feed<'_>>,
        deadline: Instant,
        phase: &'static str,
        stop: impl Future<Output = ()>,
    ) -> Result<Collected, SshError> {
        let left = deadline.saturating_duration_since(Instant::now());
        let connect_timeout = left.as_secs().clamp(1, CONNECT_TIMEOUT_MAX);
        let argv = self.ssh_argv(connect_timeout, false);
        let Some((program, args)) = argv.split_first() else {
            return Err(SshError::EmptyCommand);
        };
        let mut cmd = Command::new(program);
        cmd.args(args)
            .arg(remote)
            // The password never travels in an environment variable (nor may ssh's SendEnv
            // forward it).
            .env_remove("MAILCHECK_PASSWORD")
            .stdin(if feed.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|source| SshError::Spawn {
            program: program.to_string_lossy().into_owned(),
            source,
        })?;
        let result = tokio::time::timeout_at(deadline, collect(&mut child, feed, stop)).await;
        let (status, stdout, stderr) = match result {
            Ok(r) => r,
            Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Err(SshError::Timeout {
                    target: self.target.to_string(),
                    phase,
                    after: Duration::from_millis(
                        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    ),
                });
            }
        };
        let target = self.target.to_string();
        let status = status.map_err(|source| SshError::Io {
            target: target.clone(),
            source,
        })?;
        let (stdout, stdout_truncated) = stdout.map_err(|source| SshError::Io {
            target: target.clone(),
            source,
        })?;
        let (stderr, _) = stderr.map_err(|source| SshError::Io {
            target: target.clone(),
            source,
        })?;
        let stderr = String::from_utf8_lossy(&stderr).into_owned();
        let Some(code) = status.code() else {
            return Err(SshError::Killed { target });
        };
        if code == SSH_FAILED {
            return Err(self.ssh_error(&stderr));
        }
        Ok(Collected {
            code,
            stdout,
            stdout_truncated,
            stderr,
            elapsed: started.elapsed(),
        })
    }

    fn ssh_error(&self, stderr: &str) -> SshError {
        let target = self.target.to_string();
        let host = self.target.host().to_string();
        match ssh_failure(stderr) {
            SshFailure::HostKeyChanged(detail) => SshError::HostKeyChanged {
                host,
                target,
                detail,
            },
            SshFailure::HostKeyUnknown(detail) => SshError::HostKeyUnknown {
                keyscan: match self.target.port() {
                    Some(p) => format!("-p {p} {host}"),
                    None => host.clone(),
                },
                host,
                target,
                detail,
            },
            SshFailure::Refused(detail) => SshError::ConnectionRefused { target, detail },
            SshFailure::TimedOut(detail) => SshError::ConnectTimeout { target, detail },
            SshFailure::Unreachable(detail) => SshError::Unreachable { target, detail },
            SshFailure::Resolve(detail) => SshError::Resolve { host, detail },
            SshFailure::Auth(detail) => SshError::AuthFailed { target, detail },
            SshFailure::Closed(detail) => SshError::ConnectionClosed { target, detail },
            SshFailure::Other(detail) => SshError::Ssh { target, detail },
        }
    }

    fn read_probe(&self, out: &Collected) -> Result<ServerInfo, SshError> {
        let host = self.target.host().to_string();
        let text = String::from_utf8_lossy(&out.stdout);
        let facts: Vec<(&str, &str)> = text
            .lines()
            .filter_map(|l| l.strip_prefix(PROBE_MARK))
            .filter_map(|l| l.split_once('=').or(Some((l, ""))))
            .collect();
        let get = |k: &str| {
            facts
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.trim())
        };
        if out.code != 0 || get("end").is_none() {
            if self.config.sudo && facts.is_empty() {
                let user = self
                    .target
                    .user()
                    .map(str::to_string)
                    .unwrap_or_else(|| "this user".into());
                match sudo_failure(&out.stderr, out.code) {
                    Some(SudoFailure::PasswordRequired(detail)) => {
                        return Err(SshError::SudoPasswordRequired { host, user, detail });
                    }
                    Some(SudoFailure::NotAllowed(detail)) => {
                        return Err(SshError::SudoNotAllowed { host, user, detail });
                    }
                    Some(SudoFailure::Missing(detail)) => {
                        return Err(SshError::SudoMissing { host, detail });
                    }
                    None => {}
                }
            }
            let detail = if out.stderr.trim().is_empty() {
                "no answer from the probe script (is the login shell a POSIX shell?)".to_string()
            } else {
                last_line(&out.stderr)
            };
            return Err(SshError::Probe {
                host,
                code: out.code,
                detail,
            });
        }
        let uid = get("uid")
            .and_then(|u| u.parse::<u32>().ok())
            .ok_or_else(|| SshError::Probe {
                host: host.clone(),
                code: out.code,
                detail: format!("no numeric uid in the probe's answer: {}", text.trim()),
            })?;
        let installed = get("path").filter(|p| !p.is_empty()).map(|p| Installed {
            path: p.to_string(),
            version: get("version").unwrap_or("").to_string(),
        });
        Ok(ServerInfo {
            user: get("user").unwrap_or("").to_string(),
            uid,
            os: get("os").unwrap_or("").to_string(),
            arch: get("arch").unwrap_or("").to_string(),
            tmpdir: get("tmp").unwrap_or("/tmp").to_string(),
            installed,
        })
    }

    /// The binary to upload (ours unless the config names another), open, and its size.
    async fn open_binary(&self) -> Result<(tokio::fs::File, u64), SshError> {
        let path = match &self.config.binary {
            Some(p) => p.clone(),
            None => std::env::current_exe().map_err(|source| SshError::LocalBinary {
                path: PathBuf::from("/proc/self/exe"),
                source,
            })?,
        };
        let failed = |source| SshError::LocalBinary {
            path: path.clone(),
            source,
        };
        let file = tokio::fs::File::open(&path).await.map_err(failed)?;
        let size = file.metadata().await.map_err(failed)?.len();
        Ok((file, size))
    }

    fn check_architecture(&self) -> Result<(), SshError> {
        let s = &self.server;
        if same_platform(&s.os, &s.arch) {
            return Ok(());
        }
        Err(SshError::WrongArchitecture {
            host: self.target.host().to_string(),
            os: s.os.clone(),
            arch: s.arch.clone(),
        })
    }
}

/// What goes on the run's stdin: the password line, then the binary; then stdin stays open.
struct Feed<'a> {
    password: Option<&'a Secret>,
    binary: Option<(tokio::fs::File, u64)>,
}

impl Feed<'_> {
    /// Writes everything and hands stdin back, still open. A write error (the server closed
    /// early) is not reported here: the exit status and stderr say why.
    async fn write(self, mut stdin: ChildStdin) -> Option<ChildStdin> {
        if let Some(pw) = self.password {
            if stdin.write_all(pw.expose().as_bytes()).await.is_err() {
                return None;
            }
            if stdin.write_all(b"\n").await.is_err() {
                return None;
            }
        }
        if let Some((file, size)) = self.binary {
            let mut limited = file.take(size);
            match tokio::io::copy(&mut limited, &mut stdin).await {
                Ok(n) if n == size => {}
                // Short (the file shrank) or failed: the server sees fewer bytes and says so.
                _ => return None,
            }
        }
        if stdin.flush().await.is_err() {
            return None;
        }
        Some(stdin)
    }
}

type Read = std::io::Result<(Vec<u8>, bool)>;

/// Feeds stdin, reads stdout and stderr, waits for ssh; stdin is closed only after the exit,
/// or as soon as `stop` resolves (mid-upload too: the wrapper then refuses the short binary).
async fn collect(
    child: &mut Child,
    feed: Option<Feed<'_>>,
    stop: impl Future<Output = ()>,
) -> (std::io::Result<std::process::ExitStatus>, Read, Read) {
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    // Owns stdin: feeds it, then holds it open; dropping this future closes it.
    let fed = async {
        let kept_open = match (feed, stdin) {
            (Some(f), Some(s)) => f.write(s).await,
            _ => None,
        };
        std::future::pending::<()>().await;
        drop(kept_open);
    };
    let holder = async {
        tokio::select! {
            () = fed => {}
            () = stop => {}
        }
    };
    let reads = async {
        tokio::join!(
            read_capped(stdout, STDOUT_CAP),
            read_capped(stderr, STDERR_CAP)
        )
    };
    tokio::pin!(reads);
    let (out, err) = tokio::select! {
        // ssh closed both pipes: it is exiting; stdin goes with `holder`.
        r = &mut reads => r,
        // Stopped: stdin is closed now; the remote winds down and ssh exits.
        () = holder => reads.await,
    };
    let status = child.wait().await;
    (status, out, err)
}

/// Reads to the end, keeping at most `cap` bytes (the rest is drained); says if it cut.
async fn read_capped<R: AsyncRead + Unpin>(r: Option<R>, cap: usize) -> Read {
    let Some(mut r) = r else {
        return Ok((Vec::new(), false));
    };
    let mut kept = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut cut = false;
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok((kept, cut));
        }
        let room = cap.saturating_sub(kept.len());
        if n > room {
            cut = true;
        }
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
}

/// The wrapper's `mailcheck-remote: ...` lines, and the rest of stderr.
fn split_marks(stderr: &str) -> (Vec<String>, String) {
    let mut marks = Vec::new();
    let mut rest = String::new();
    for line in stderr.split_inclusive('\n') {
        match line.strip_prefix(REMOTE_MARK) {
            Some(m) => marks.push(m.trim_end().to_string()),
            None => rest.push_str(line),
        }
    }
    (marks, rest)
}

/// The server's mailcheck, if the policy allows it and its `--version` is ours.
fn installed_to_use(server: &ServerInfo, policy: UploadPolicy) -> Option<&str> {
    match (&server.installed, policy) {
        (Some(i), UploadPolicy::IfNeeded) if i.version == our_version() => Some(&i.path),
        _ => None,
    }
}

/// Whether this binary runs on a server with `uname -s` = `os` and `uname -m` = `arch`.
fn same_platform(os: &str, arch: &str) -> bool {
    let os_ok = os.eq_ignore_ascii_case(std::env::consts::OS);
    let arch_ok = match std::env::consts::ARCH {
        "x86_64" => matches!(arch, "x86_64" | "amd64"),
        "aarch64" => matches!(arch, "aarch64" | "arm64" | "aarch64_be"),
        "x86" => matches!(arch, "i386" | "i486" | "i586" | "i686"),
        "arm" => arch.starts_with("armv"),
        "riscv64" => arch == "riscv64",
        "powerpc64" => matches!(arch, "ppc64" | "ppc64le"),
        "s390x" => arch == "s390x",
        other => arch == other,
    };
    os_ok && arch_ok
}

/// Refuses caller options that would turn off host key checking or batch mode.
fn check_option(o: &SshOption) -> Result<(), SshError> {
    let SshOption::Option(s) = o else {
        return Ok(());
    };
    let (key, value) = s
        .split_once(['=', ' ', '\t'])
        .map(|(k, v)| (k.trim(), v.trim().trim_start_matches('=').trim()))
        .unwrap_or((s.trim(), ""));
    let key = key.to_ascii_lowercase();
    let value = value.to_ascii_lowercase();
    let unsafe_option = match key.as_str() {
        "stricthostkeychecking" => matches!(value.as_str(), "no" | "off"),
        "batchmode" => value != "yes",
        "userknownhostsfile" | "globalknownhostsfile" => value == "/dev/null",
        "permitlocalcommand" | "localcommand" => true,
        _ => false,
    };
    if unsafe_option {
        return Err(SshError::UnsafeOption { option: s.clone() });
    }
    Ok(())
}

/// `s` as one word for a POSIX shell: as it is if harmless, else in single quotes.
fn sh_quote(s: &str) -> String {
    let harmless = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:=@%+,".contains(&b));
    if harmless {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("run"), "run");
        assert_eq!(sh_quote("--host=mx.example.com"), "--host=mx.example.com");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote("$(id)"), "'$(id)'");
        assert_eq!(sh_quote("tls.*"), "'tls.*'");
    }

    #[test]
    fn quoting_survives_a_real_shell() {
        let words = [
            "a b", "it's", "$(id)", "`id`", "*", "\\n", "-", "x\ny", "\"q\"",
        ];
        let line = words
            .iter()
            .map(|w| sh_quote(w))
            .collect::<Vec<_>>()
            .join(" ");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s\\0' {line}"))
            .output()
            .unwrap();
        let got: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .split_terminator('\0')
            .map(String::from)
            .collect();
        assert_eq!(got, words);
    }

    #[test]
    fn unsafe_options_are_refused() {
        for bad in [
            "StrictHostKeyChecking=no",
            "stricthostkeychecking off",
            "BatchMode=no",
            "UserKnownHostsFile=/dev/null",
            "UserKnownHostsFile /dev/null",
            "LocalCommand=touch /tmp/x",
        ] {
            assert!(
                matches!(
                    check_option(&SshOption::Option(bad.into())),
                    Err(SshError::UnsafeOption { .. })
                ),
                "{bad}"
            );
        }
        for ok in [
            "StrictHostKeyChecking=yes",
            "StrictHostKeyChecking=accept-new",
            "UserKnownHostsFile=/tmp/kh",
            "ProxyJump=bastion",
            "BatchMode=yes",
        ] {
            assert!(check_option(&SshOption::Option(ok.into())).is_ok(), "{ok}");
        }
    }

    #[test]
    fn platforms() {
        assert!(same_platform(std::env::consts::OS, std::env::consts::ARCH));
        assert!(!same_platform("FreeBSD", std::env::consts::ARCH));
        assert!(!same_platform("Linux", "sparc64"));
        if std::env::consts::ARCH == "x86_64" {
            assert!(same_platform("Linux", "x86_64"));
            assert!(!same_platform("Linux", "aarch64"));
        }
    }

    #[test]
    fn an_installed_mailcheck_is_used_only_at_our_version() {
        let mut server = ServerInfo {
            user: "root".into(),
            uid: 0,
            os: "Linux".into(),
            arch: std::env::consts::ARCH.into(),
            tmpdir: "/tmp".into(),
            installed: Some(Installed {
                path: "/usr/bin/mailcheck".into(),
                version: our_version(),
            }),
        };
        assert_eq!(
            installed_to_use(&server, UploadPolicy::IfNeeded),
            Some("/usr/bin/mailcheck")
        );
        assert_eq!(installed_to_use(&server, UploadPolicy::Always), None);
        server.installed = Some(Installed {
            path: "/usr/bin/mailcheck".into(),
            version: "mailcheck 0.0.9".into(),
        });
        assert_eq!(installed_to_use(&server, UploadPolicy::IfNeeded), None);
        server.installed = None;
        assert_eq!(installed_to_use(&server, UploadPolicy::IfNeeded), None);
    }

    /// Runs the wrapper with a local `sh`, as ssh would on the server: `stdin` is written, then
    /// kept open (the local ssh is alive) until the wrapper exits, or closed after `hangup`.
    /// A wrapper that has not exited after 20 s is killed and the test fails.
    fn wrapper(args: &[&str], stdin: &[u8], hangup: Option<Duration>) -> (i32, String, String) {
        use std::io::{Read, Write};
        let mut child = std::process::Command::new("sh")
            .args(["-c", WRAPPER_SH, "mailcheck-ssh"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take();
        input.as_mut().unwrap().write_all(stdin).unwrap();
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if hangup.is_some_and(|h| started.elapsed() >= h) {
                input = None;
            }
            if started.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                panic!("the wrapper hangs: {args:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        drop(input);
        let (mut out, mut err) = (String::new(), String::new());
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (status.code().unwrap_or(-1), out, err)
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "mailcheck-wrapper-test.{name}.{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn wrapper_runs_an_installed_binary() {
        let (code, out, _) = wrapper(
            &["installed:/bin/echo", "0", "0", "-", "hello", "a b"],
            b"",
            None,
        );
        assert_eq!((code, out.as_str()), (0, "hello a b\n"));
        // A binary that exits at once, before the watcher is even set up: no hang, no race.
        for _ in 0..50 {
            let (code, _, _) = wrapper(&["installed:/bin/false", "0", "0", "-"], b"", None);
            assert_eq!(code, 1, "the exit status passes through");
        }
    }

    #[test]
    fn wrapper_uploads_hands_over_the_password_and_cleans_up() {
        let tmp = scratch("upload");
        let bin = b"#!/bin/sh\nread -r pw; printf 'pw=%s args=%s\\n' \"$pw\" \"$*\"; exit 3\n";
        let mut stdin = b"pass word\n".to_vec();
        stdin.extend_from_slice(bin);
        let size = bin.len().to_string();
        let tmp_s = tmp.to_string_lossy().into_owned();
        let (code, out, err) = wrapper(&["upload", &size, "1", &tmp_s, "x", "y"], &stdin, None);
        assert_eq!(code, 3, "{err}");
        assert_eq!(out, "pw=pass word args=x y\n");
        let (marks, _) = split_marks(&err);
        let dir = marks.iter().find_map(|m| m.strip_prefix("dir ")).unwrap();
        assert!(dir.starts_with(&format!("{tmp_s}/mailcheck.")), "{dir}");
        assert_eq!(
            std::fs::read_dir(&tmp).unwrap().count(),
            0,
            "the upload directory is removed"
        );

        // A short upload (the local side died mid-way) is refused, and cleaned up too.
        let (code, _, err) = wrapper(
            &["upload", "999", "0", &tmp_s],
            b"short",
            Some(Duration::from_millis(100)),
        );
        assert_eq!(code, WRAPPER_FAILED);
        assert!(
            err.contains("error upload: received 5 of 999 bytes"),
            "{err}"
        );
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn wrapper_stops_mailcheck_when_stdin_ends() {
        let tmp = scratch("hangup");
        // Stands in for mailcheck: SIGTERM makes it exit 130 after its cleanup, as mailcheck does.
        let bin = b"#!/bin/sh\ntrap 'kill $s; echo cleaned; exit 130' TERM\nsleep 30 >/dev/null 2>&1 &\ns=$!\nwait\n";
        let size = bin.len().to_string();
        let tmp_s = tmp.to_string_lossy().into_owned();
        let started = std::time::Instant::now();
        let (code, out, err) = wrapper(
            &["upload", &size, "0", &tmp_s],
            bin,
            Some(Duration::from_millis(500)),
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert_eq!((code, out.as_str()), (130, "cleaned\n"), "{err}");
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn wrapper_lines_are_split_off() {
        let (marks, rest) =
            split_marks("Warning: added\nmailcheck-remote: dir /tmp/mailcheck.x\nreal error\n");
        assert_eq!(marks, ["dir /tmp/mailcheck.x"]);
        assert_eq!(rest, "Warning: added\nreal error\n");
    }

    fn session(user: Option<&str>, sudo: bool, multiplex: bool) -> Session {
        Session {
            target: Target::new(user, "mx.example.com", Some(2222)).unwrap(),
            config: SshConfig {
                sudo,
                multiplex,
                options: vec![SshOption::Identity("/k".into())],
                ..SshConfig::default()
            },
            control: None,
            server: ServerInfo {
                user: String::new(),
                uid: 0,
                os: String::new(),
                arch: String::new(),
                tmpdir: String::new(),
                installed: None,
            },
            opened_in: Duration::ZERO,
        }
    }

    #[test]
    fn ssh_argv_keeps_our_options_first_and_the_host_last() {
        let s = session(Some("admin"), true, false);
        let argv: Vec<String> = s
            .ssh_argv(7, false)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(&argv[..3], ["ssh", "-o", "BatchMode=yes"]);
        assert!(argv.contains(&"ConnectTimeout=7".to_string()));
        assert!(argv.contains(&"ControlPath=none".to_string()));
        let tail = &argv[argv.len() - 11..];
        assert_eq!(
            tail,
            [
                "-i",
                "/k",
                "-T",
                "-x",
                "-a",
                "-p",
                "2222",
                "-l",
                "admin",
                "--",
                "mx.example.com"
            ]
        );
        assert_eq!(
            s.privileged(&["sh", "-c", "echo $HOME", "x"]),
            "sudo -n -- sh -c 'echo $HOME' x"
        );
    }

    #[test]
    fn probe_answers() {
        let s = session(None, false, false);
        let out = Collected {
            code: 0,
            stdout: b"motd noise\nmailcheck-probe: uid=0\nmailcheck-probe: user=root\nmailcheck-probe: os=Linux\n\
                mailcheck-probe: arch=x86_64\nmailcheck-probe: tmp=/tmp\nmailcheck-probe: path=/usr/bin/mailcheck\n\
                mailcheck-probe: version=mailcheck 0.1.0\nmailcheck-probe: end\n"
                .to_vec(),
            stdout_truncated: false,
            stderr: String::new(),
            elapsed: Duration::ZERO,
        };
        let info = s.read_probe(&out).unwrap();
        assert_eq!(info.uid, 0);
        assert_eq!(info.arch, "x86_64");
        assert_eq!(
            info.installed,
            Some(Installed {
                path: "/usr/bin/mailcheck".into(),
                version: "mailcheck 0.1.0".into()
            })
        );
        let nologin = Collected {
            code: 1,
            stdout: Vec::new(),
            stdout_truncated: false,
            stderr: "This account is currently not available.\n".into(),
            elapsed: Duration::ZERO,
        };
        let e = s.read_probe(&nologin).unwrap_err();
        assert!(e.to_string().contains("currently not available"), "{e}");
        let sudo = session(Some("mcuser"), true, false);
        let pw = Collected {
            code: 1,
            stdout: Vec::new(),
            stdout_truncated: false,
            stderr: "sudo: a password is required\n".into(),
            elapsed: Duration::ZERO,
        };
        let e = sudo.read_probe(&pw).unwrap_err();
        assert!(matches!(e, SshError::SudoPasswordRequired { .. }), "{e}");
        assert!(e.to_string().contains("NOPASSWD"), "{e}");
    }
}
