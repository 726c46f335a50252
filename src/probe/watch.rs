//! Waking on file-system changes: inotify(7) where it works, a timed pause where it does not.
//!
//! For waits on something another process writes (virtual(8) renaming a message into a
//! Maildir's `new/`): the caller re-checks after every wake-up, so a wake-up without the change
//! it waits for only costs one more check, and a missed event only costs the fallback pause.

use std::path::Path;
use std::time::Duration;

use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
use tokio::net::unix::pipe::Receiver;

/// Watches a few directories for entries created, closed after writing, or moved in.
pub struct DirWatch {
    /// The inotify descriptor (non-blocking), registered with the runtime through tokio's
    /// "any readable descriptor" receiver: reads are plain read(2)s of whole events.
    fd: Option<Receiver>,
}

impl DirWatch {
    /// Best effort: without inotify (or when no directory could be watched) every
    /// [`changed`](Self::changed) is a plain pause.
    pub fn new(dirs: &[&Path]) -> DirWatch {
        DirWatch { fd: watch(dirs) }
    }

    /// Whether inotify is in use (else the waits are timed pauses).
    pub fn is_active(&self) -> bool {
        self.fd.is_some()
    }

    /// Returns when a watched directory changed, or after `at_most`, whichever is first.
    pub async fn changed(&mut self, at_most: Duration) {
        let Some(fd) = &self.fd else {
            tokio::time::sleep(at_most).await;
            return;
        };
        if !matches!(
            tokio::time::timeout(at_most, fd.readable()).await,
            Ok(Ok(()))
        ) {
            return;
        }
        // Drain the queued events (until WouldBlock, which clears the readiness); what changed
        // is for the caller to look at.
        let mut buf = [0u8; 4096];
        while matches!(fd.try_read(&mut buf), Ok(n) if n > 0) {}
    }
}

fn watch(dirs: &[&Path]) -> Option<Receiver> {
    let fd = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC).ok()?;
    let flags = WatchFlags::CREATE | WatchFlags::MOVED_TO | WatchFlags::CLOSE_WRITE;
    let watched = dirs
        .iter()
        .filter(|d| inotify::add_watch(&fd, **d, flags).is_ok())
        .count();
    if watched == 0 {
        return None;
    }
    // Panics outside a runtime with I/O enabled; mailcheck's runtime (and #[tokio::test]'s)
    // has it.
    Receiver::from_owned_fd_unchecked(fd).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn a_file_moved_in_wakes_the_wait() {
        let dir = std::env::temp_dir().join(format!("mailcheck-watch-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        std::fs::create_dir_all(dir.join("new")).unwrap();
        let new = dir.join("new");
        let mut w = DirWatch::new(&[new.as_path()]);
        assert!(w.is_active());
        let (src, dst) = (dir.join("tmp/m"), dir.join("new/m"));
        std::fs::write(&src, b"x").unwrap();
        let mover = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            std::fs::rename(src, dst).unwrap();
        });
        let start = Instant::now();
        w.changed(Duration::from_secs(5)).await;
        assert!(start.elapsed() < Duration::from_secs(4));
        assert!(dir.join("new/m").exists());
        mover.await.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn without_a_directory_it_is_a_pause() {
        let mut w = DirWatch::new(&[Path::new("/nonexistent/mailcheck-watch")]);
        assert!(!w.is_active());
        let start = Instant::now();
        w.changed(Duration::from_millis(20)).await;
        assert!(start.elapsed() >= Duration::from_millis(20));
    }
}
