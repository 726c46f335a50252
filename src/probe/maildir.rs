//! Maildir (cr.yp.to/proto/maildir.html): waits for a test message to appear in `new/` (or
//! `cur/`, if a mail reader moved it), and deletes exactly the messages carrying a run token.
//! `tmp/` is never read or touched: files there are still being written.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::file::{FileFacts, lstat};
use super::testmail::{RUN_HEADER, parse_token};
use super::watch::DirWatch;

/// Longest header block read from a message.
const MAX_HEAD: usize = 64 * 1024;
/// Most directory entries examined per scan.
const MAX_ENTRIES: usize = 100_000;
/// Leftovers of runs older than this are removed even if their pid looks alive (pid reuse).
const LEFTOVER_AGE: Duration = Duration::from_secs(3600);

/// A delivered test message.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub path: PathBuf,
    pub facts: FileFacts,
    /// From the start of the wait to the moment the file was seen.
    pub waited: Duration,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum WaitError {
    #[error("no message with Message-ID <{message_id}> in {} after {}", .dir.display(), humantime::format_duration(*.after))]
    NotArrived {
        dir: PathBuf,
        message_id: String,
        after: Duration,
    },
    #[error("cannot read {}: {message}", .dir.display())]
    Unreadable { dir: PathBuf, message: String },
}

/// The header block of a message file (up to the first empty line), unfolded.
fn headers(path: &Path) -> Option<Vec<(String, String)>> {
    use std::io::Read as _;
    let f = std::fs::File::open(path).ok()?;
    let mut buf = Vec::with_capacity(4096);
    f.take(MAX_HEAD as u64).read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                if !last.1.is_empty() {
                    last.1.push(' ');
                }
                last.1.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    Some(out)
}

fn header<'a>(hs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    hs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
}

/// Files in `<maildir>/new` and `<maildir>/cur` (never `tmp`), bounded.
fn message_files(maildir: &Path) -> Result<Vec<PathBuf>, std::io::Error> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let dir = maildir.join(sub);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && sub == "cur" => continue,
            Err(e) => return Err(e),
        };
        for e in entries.flatten().take(MAX_ENTRIES) {
            if e.file_type().is_ok_and(|t| t.is_file()) {
                out.push(e.path());
            }
        }
    }
    Ok(out)
}

/// Waits, polling tightly (a few ms: warm delivery takes about 2 ms), until the message with
/// `message_id` is in `maildir`, or `deadline` passes.
pub async fn wait_for(
    maildir: &Path,
    message_id: &str,
    deadline: Duration,
) -> Result<Delivered, WaitError> {
    let start = Instant::now();
    let wanted = format!("<{message_id}>");
    let mut seen: HashSet<PathBuf> = HashSet::new();
    // Set up before the first scan, so a delivery between the scan and the wait still wakes it.
    let new = maildir.join("new");
    let mut watch = DirWatch::new(&[new.as_path()]);
    // With inotify the pause only covers a missed event; without it, a backing-off poll.
    let mut pause = if watch.is_active() {
        Duration::from_millis(50)
    } else {
        Duration::from_micros(500)
    };
    loop {
        let dir = maildir.to_path_buf();
        let wanted = wanted.clone();
        let already = seen.clone();
        let scan = tokio::task::spawn_blocking(
            move || -> Result<(Option<PathBuf>, Vec<PathBuf>), std::io::Error> {
                let mut fresh = Vec::new();
                for p in message_files(&dir)? {
                    if already.contains(&p) {
                        continue;
                    }
                    if let Some(hs) = headers(&p)
                        && header(&hs, "message-id") == Some(wanted.as_str())
                    {
                        return Ok((Some(p), fresh));
                    }
                    fresh.push(p);
                }
                Ok((None, fresh))
            },
        )
        .await;
        match scan {
            Ok(Ok((Some(path), _))) => {
                let waited = start.elapsed();
                let facts = lstat(&path).map_err(|e| WaitError::Unreadable {
                    dir: maildir.to_path_buf(),
                    message: e.to_string(),
                })?;
                return Ok(Delivered {
                    path,
                    facts,
                    waited,
                });
            }
            Ok(Ok((None, fresh))) => seen.extend(fresh),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            Ok(Err(e)) => {
                return Err(WaitError::Unreadable {
                    dir: maildir.join("new"),
                    message: e.to_string(),
                });
            }
            Err(e) => {
                return Err(WaitError::Unreadable {
                    dir: maildir.join("new"),
                    message: format!("scanner crashed: {e}"),
                });
            }
        }
        if start.elapsed() >= deadline {
            return Err(WaitError::NotArrived {
                dir: maildir.join("new"),
                message_id: message_id.to_string(),
                after: deadline,
            });
        }
        let left = deadline.saturating_sub(start.elapsed());
        watch.changed(pause.min(left)).await;
        if !watch.is_active() {
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}

/// What one cleanup pass did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Cleanup {
    /// This run's messages, deleted.
    pub deleted: Vec<PathBuf>,
    /// Messages of earlier mailcheck runs that were killed before their cleanup, deleted.
    pub leftovers: Vec<PathBuf>,
    pub problems: Vec<String>,
}

fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Whether a message with run token `other` belongs to a run that is over.
fn is_leftover(other: &str, now_secs: u64) -> bool {
    match parse_token(other) {
        None => false,
        Some((secs, pid)) => {
            now_secs.saturating_sub(secs) > LEFTOVER_AGE.as_secs() || !pid_alive(pid)
        }
    }
}

/// Deletes every message in `maildir` whose `X-Mailcheck-Run` header is `token`, and those of
/// earlier mailcheck runs that are over. Touches no other file.
pub fn cleanup(maildir: &Path, token: &str) -> Cleanup {
    let mut c = Cleanup::default();
    let files = match message_files(maildir) {
        Ok(f) => f,
        Err(e) => {
            c.problems
                .push(format!("cannot list {}: {e}", maildir.display()));
            return c;
        }
    };
    let now_secs = crate::clock::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for p in files {
        let Some(hs) = headers(&p) else { continue };
        let Some(run) = header(&hs, RUN_HEADER) else {
            continue;
        };
        let mine = run == token;
        if !mine && !is_leftover(run, now_secs) {
            continue;
        }
        match std::fs::remove_file(&p) {
            Ok(()) if mine => c.deleted.push(p),
            Ok(()) => c.leftovers.push(p),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => c
                .problems
                .push(format!("cannot delete {}: {e}", p.display())),
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maildir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "mc-maildir-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        for s in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(d.join(s)).unwrap();
        }
        d
    }

    fn msg(headers: &str) -> String {
        format!("{headers}\n\nbody X-Mailcheck-Run: mc-1-1-00000000\n")
    }

    #[test]
    fn cleanup_deletes_only_this_runs_and_dead_runs_messages() {
        let d = maildir();
        let token = format!("mc-{}-{}-0000abcd", 1_900_000_000u64, std::process::id());
        std::fs::write(
            d.join("new/a"),
            msg(&format!("Subject: x\nX-Mailcheck-Run: {token}")),
        )
        .unwrap();
        std::fs::write(
            d.join("cur/b:2,S"),
            msg(&format!("X-Mailcheck-Run:\n  {token}")),
        )
        .unwrap();
        // An old run whose process is gone: a leftover.
        std::fs::write(
            d.join("new/c"),
            msg("X-Mailcheck-Run: mc-1000-4000000-00000001"),
        )
        .unwrap();
        // Someone else's mail, with our header text only in the body: untouched.
        std::fs::write(d.join("new/d"), msg("Subject: hello")).unwrap();
        // tmp is never touched.
        std::fs::write(d.join("tmp/e"), msg(&format!("X-Mailcheck-Run: {token}"))).unwrap();
        let c = cleanup(&d, &token);
        assert_eq!(c.deleted.len(), 2, "{c:?}");
        assert_eq!(c.leftovers.len(), 1, "{c:?}");
        assert!(d.join("new/d").exists());
        assert!(d.join("tmp/e").exists());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[tokio::test]
    async fn wait_finds_the_message_by_id_or_times_out() {
        let d = maildir();
        std::fs::write(d.join("new/other"), msg("Message-ID: <other@x>")).unwrap();
        let d2 = d.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            std::fs::write(
                d2.join("new/ours"),
                msg("Message-ID: <ours@mailcheck.invalid>"),
            )
            .unwrap();
        });
        let got = wait_for(&d, "ours@mailcheck.invalid", Duration::from_secs(2))
            .await
            .unwrap();
        assert!(got.path.ends_with("new/ours"));
        let err = wait_for(&d, "never@x", Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("never@x"), "{err}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
