//! The private (0700) directory of one session's ControlMaster socket (ssh_config(5)), and its end.

use std::ffi::OsString;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

static NEXT: AtomicU64 = AtomicU64::new(0);

/// How long a master outlives its last session if nobody tells it to exit (a crashed mailcheck).
pub(crate) const PERSIST: &str = "30s";

/// A unix socket path must fit in sun_path (108 bytes on Linux); ssh adds a 17-byte suffix while
/// it creates the socket.
const MAX_SOCKET_PATH: usize = 80;

/// The directory, and the argv of `ssh ... -O exit HOST` that stops the master when dropped.
#[derive(Debug)]
pub(crate) struct ControlDir {
    dir: PathBuf,
    exit_argv: Vec<OsString>,
}

impl ControlDir {
    /// Makes a new 0700 directory under the temporary directory (or /tmp if that path is too
    /// long for a socket). `mkdir` fails on an existing name, so nobody else's directory is used.
    pub(crate) fn create() -> std::io::Result<ControlDir> {
        let mut base = std::env::temp_dir();
        if base.as_os_str().len() > MAX_SOCKET_PATH - 40 {
            base = PathBuf::from("/tmp");
        }
        sweep(&base);
        let pid = std::process::id();
        let mut last = None;
        for _ in 0..100 {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let nanos = std::time::UNIX_EPOCH
                .elapsed()
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let dir = base.join(format!("mailcheck-ssh.{pid}.{n}.{nanos:x}"));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {
                    return Ok(ControlDir {
                        dir,
                        exit_argv: Vec::new(),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no free name")))
    }

    /// Where the socket goes.
    pub(crate) fn socket(&self) -> PathBuf {
        self.dir.join("cm")
    }

    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    /// The command that stops the master (`ssh -o ControlPath=... -O exit HOST`).
    pub(crate) fn set_exit_argv(&mut self, argv: Vec<OsString>) {
        self.exit_argv = argv;
    }

    /// Asks the master to exit (bounded: 3 s, then the ssh client is killed) and removes the
    /// directory. Blocking, but only on a local unix socket.
    fn stop(&mut self) {
        if self.socket().exists()
            && let Some((program, args)) = self.exit_argv.split_first()
        {
            let child = std::process::Command::new(program)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            if let Ok(mut child) = child {
                let until = Instant::now() + Duration::from_secs(3);
                loop {
                    match child.try_wait() {
                        Ok(Some(_)) | Err(_) => break,
                        Ok(None) if Instant::now() >= until => {
                            let _ = child.kill();
                            let _ = child.wait();
                            break;
                        }
                        Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes the directories that killed mailchecks of this user left (`mailcheck-ssh.<pid>.*` of a
/// pid that no longer runs), once their master has exited and removed its socket.
fn sweep(base: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("mailcheck-ssh."))
            .and_then(|n| n.split('.').next())
        else {
            continue;
        };
        if !pid.bytes().all(|b| b.is_ascii_digit()) || Path::new("/proc").join(pid).exists() {
            continue;
        }
        let path = e.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() && Some(meta.uid()) == uid && !path.join("cm").exists() {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

impl Drop for ControlDir {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sweep_removes_only_dead_pids_without_a_socket() {
        let base =
            std::env::temp_dir().join(format!("mailcheck-sweep-test.{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        let dead = (1..1000u32)
            .map(|i| 4_194_000 - i)
            .find(|p| !Path::new("/proc").join(p.to_string()).exists())
            .unwrap();
        let stale = base.join(format!("mailcheck-ssh.{dead}.0.1"));
        let busy = base.join(format!("mailcheck-ssh.{dead}.1.1"));
        let live = base.join(format!("mailcheck-ssh.{}.0.1", std::process::id()));
        let other = base.join(format!("mailcheck-other.{dead}"));
        for d in [&stale, &busy, &live, &other] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(busy.join("cm"), "").unwrap();
        sweep(&base);
        assert!(!stale.exists());
        assert!(busy.exists() && live.exists() && other.exists());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn the_directory_is_private_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let c = ControlDir::create().unwrap();
        let path = c.path().to_path_buf();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(c.socket().as_os_str().len() < MAX_SOCKET_PATH + 20);
        drop(c);
        assert!(!path.exists());
    }
}
