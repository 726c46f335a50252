//! A cursor on each log source taken when a run starts, and a bounded read of what was logged
//! after it (files: device, inode and size, with rotation followed by inode; the journal:
//! `journalctl --show-cursor` / `--after-cursor`, journalctl(1)).
//!
//! Rotation: when the file at the path is another inode than the cursor's, the rotated file is
//! looked for by inode among `<name>.*` in the same directory (logrotate's `mail.log.1`, postlog's
//! `postfix.log.20261201-231500` before it is compressed); its tail after the cursor is read, then
//! the new file from its start. A rotated file that was compressed or deleted cannot be read:
//! [`Rotation::lost`] says so. A file that shrank (copytruncate) is read from its start.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt as _;

use super::MaillogError;
use super::parse::{LogLine, parse_line};
use super::source::{Discovery, LogSource, SourceKind};

/// Bounds of one read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Most bytes read from all sources together.
    pub max_bytes: u64,
    /// Most lines kept from all sources together.
    pub max_lines: usize,
    /// Longer lines are cut to this many bytes.
    pub max_line_bytes: usize,
    /// Deadline of each journalctl run (it is killed after it).
    pub journal_deadline_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 4 << 20,
            max_lines: 20_000,
            max_line_bytes: 16 << 10,
            journal_deadline_ms: 5_000,
        }
    }
}

/// Where a source stood when the cursor was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Position {
    File {
        dev: u64,
        inode: u64,
        size: u64,
    },
    /// The file did not exist yet (postlogd creates it with its first line).
    Absent,
    Journal {
        /// The cursor of the last entry (`--show-cursor`); none when no entry matched yet.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<String>,
        /// Seconds since the epoch, for `--since @N` when there is no cursor.
        since_epoch: u64,
    },
    /// The cursor could not be taken (the read will say the same).
    Unavailable {
        error: MaillogError,
    },
}

/// One source and where it stood.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub source: LogSource,
    pub position: Position,
}

/// The cursors of all sources, taken at the start of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Seconds since the epoch when the cursor was taken.
    pub taken_at: u64,
    pub marks: Vec<Mark>,
}

/// Why a read stopped before the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Cut {
    /// The byte cap was reached; `unread` bytes were logged after it (files only).
    Bytes {
        unread: u64,
    },
    Lines,
    /// journalctl did not finish within the deadline; what it printed until then is kept.
    Deadline,
}

/// The file was rotated (or truncated) between cursor and read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    /// The rotated file, found by its inode, whose tail was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<PathBuf>,
    /// The file shrank in place (copytruncate); read from its start.
    pub truncated: bool,
    /// The lines between the cursor and the rotation could not be read (the old file was
    /// compressed or removed).
    pub lost: bool,
}

/// What one read of one source gave.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadStats {
    pub bytes: u64,
    pub lines: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut: Option<Cut>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
    /// Lines cut to [`Limits::max_line_bytes`].
    pub long_lines: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReadOutcome {
    Read(ReadStats),
    Failed { error: MaillogError },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRead {
    pub source: LogSource,
    pub outcome: ReadOutcome,
}

/// What was logged between the cursor and the read, parsed, in source order (each source's lines
/// in the order logged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub reads: Vec<SourceRead>,
    pub lines: Vec<LogLine>,
}

impl Window {
    /// A window of the lines of `text`, as if read from one source (tests, fixtures).
    pub fn from_text(source: LogSource, text: &str) -> Window {
        let mut stats = ReadStats::default();
        let mut lines = Vec::new();
        split_lines(
            text.as_bytes(),
            0,
            &Limits::default(),
            &mut stats,
            &mut lines,
        );
        stats.bytes = text.len() as u64;
        Window {
            reads: vec![SourceRead {
                source,
                outcome: ReadOutcome::Read(stats),
            }],
            lines,
        }
    }

    /// Applies `f` to every text of every line (for redaction).
    pub fn map_text(&mut self, f: &impl Fn(&str) -> String) {
        for l in &mut self.lines {
            l.map_text(f);
        }
    }
}

/// Takes the cursor of every source `discovery` found.
pub async fn take_cursor(discovery: &Discovery, limits: &Limits) -> Cursor {
    let taken_at = now_epoch();
    let mut marks = Vec::new();
    for source in &discovery.sources {
        let position = match &source.kind {
            SourceKind::File { path } => file_position(path),
            SourceKind::Journal {
                journalctl,
                directory,
            } => journal_position(journalctl, directory.as_deref(), source, limits, taken_at).await,
        };
        marks.push(Mark {
            source: source.clone(),
            position,
        });
    }
    Cursor { taken_at, marks }
}

/// Takes the cursor without running anything: files by stat(2); the journal by the time only
/// (read later with `--since`, so lines of the same second before the cursor may be included).
/// For a caller that is not in an async context when the run starts.
pub fn take_cursor_now(discovery: &Discovery) -> Cursor {
    let taken_at = now_epoch();
    let marks = discovery
        .sources
        .iter()
        .map(|source| Mark {
            source: source.clone(),
            position: match &source.kind {
                SourceKind::File { path } => file_position(path),
                SourceKind::Journal { .. } => Position::Journal {
                    cursor: None,
                    since_epoch: taken_at,
                },
            },
        })
        .collect();
    Cursor { taken_at, marks }
}

fn now_epoch() -> u64 {
    crate::clock::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn file_position(path: &Path) -> Position {
    match std::fs::metadata(path) {
        Ok(md) => Position::File {
            dev: md.dev(),
            inode: md.ino(),
            size: md.len(),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Position::Absent,
        Err(e) => Position::Unavailable {
            error: MaillogError::from_io(path, &e),
        },
    }
}

/// Reads every source from its cursor to its end, within `limits` (shared by all sources).
pub async fn read_window(cursor: &Cursor, limits: &Limits) -> Window {
    let mut w = Window::default();
    let mut budget = limits.clone();
    for (i, mark) in cursor.marks.iter().enumerate() {
        let before = w.lines.len();
        let outcome = match (&mark.source.kind, &mark.position) {
            (_, Position::Unavailable { error }) => ReadOutcome::Failed {
                error: error.clone(),
            },
            (SourceKind::File { path }, pos) => {
                match read_file_window(path, pos, i, &budget, &mut w.lines) {
                    Ok(stats) => ReadOutcome::Read(stats),
                    Err(error) => ReadOutcome::Failed { error },
                }
            }
            (
                SourceKind::Journal {
                    journalctl,
                    directory,
                },
                pos,
            ) => {
                match read_journal_window(
                    journalctl,
                    directory.as_deref(),
                    &mark.source,
                    pos,
                    cursor.taken_at,
                    i,
                    &budget,
                    &mut w.lines,
                )
                .await
                {
                    Ok(stats) => ReadOutcome::Read(stats),
                    Err(error) => ReadOutcome::Failed { error },
                }
            }
        };
        if let ReadOutcome::Read(stats) = &outcome {
            budget.max_bytes = budget.max_bytes.saturating_sub(stats.bytes);
        }
        budget.max_lines = budget.max_lines.saturating_sub(w.lines.len() - before);
        w.reads.push(SourceRead {
            source: mark.source.clone(),
            outcome,
        });
    }
    w
}

/// Splits `bytes` into lines (the last one kept even without its newline), cutting long lines
/// and stopping at the line cap.
fn split_lines(
    bytes: &[u8],
    source: usize,
    limits: &Limits,
    stats: &mut ReadStats,
    out: &mut Vec<LogLine>,
) {
    for raw in bytes.split(|b| *b == b'\n') {
        if raw.is_empty() {
            continue;
        }
        if stats.lines >= limits.max_lines {
            stats.cut.get_or_insert(Cut::Lines);
            return;
        }
        let raw = if raw.len() > limits.max_line_bytes {
            stats.long_lines += 1;
            raw.get(..limits.max_line_bytes).unwrap_or(raw)
        } else {
            raw
        };
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let mut text = String::from_utf8_lossy(raw).into_owned();
        // Invalid bytes become U+FFFD (3 bytes each): cut again, at a character boundary.
        text.truncate(text.floor_char_boundary(limits.max_line_bytes));
        out.push(parse_line(source, &text));
        stats.lines += 1;
    }
}

/// Bytes `[from, from + cap)` of `path`, cut back to the last whole line when the cap cut it.
/// Returns the bytes and how many more the file held.
fn read_range(path: &Path, from: u64, cap: u64) -> Result<(Vec<u8>, u64), MaillogError> {
    let mut f = std::fs::File::open(path).map_err(|e| MaillogError::from_io(path, &e))?;
    let len = f
        .metadata()
        .map_err(|e| MaillogError::from_io(path, &e))?
        .len();
    if from >= len {
        return Ok((Vec::new(), 0));
    }
    f.seek(SeekFrom::Start(from))
        .map_err(|e| MaillogError::from_io(path, &e))?;
    let want = (len - from).min(cap);
    let mut buf = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
    f.take(want)
        .read_to_end(&mut buf)
        .map_err(|e| MaillogError::from_io(path, &e))?;
    let mut unread = len - from - buf.len() as u64;
    if unread > 0
        && let Some(nl) = buf.iter().rposition(|b| *b == b'\n')
    {
        unread += (buf.len() - nl - 1) as u64;
        buf.truncate(nl + 1);
    }
    Ok((buf, unread))
}

/// The rotated file of `path` with this inode: `<name>.*` in the same directory.
fn find_rotated(path: &Path, dev: u64, inode: u64) -> Option<PathBuf> {
    let dir = path.parent()?;
    let name = path.file_name()?.to_str()?;
    let prefix = format!("{name}.");
    let rd = std::fs::read_dir(dir).ok()?;
    rd.take(10_000).filter_map(Result::ok).find_map(|e| {
        let n = e.file_name();
        let n = n.to_str()?;
        if !n.starts_with(&prefix) {
            return None;
        }
        let md = std::fs::metadata(e.path()).ok()?;
        (md.dev() == dev && md.ino() == inode).then(|| e.path())
    })
}

fn read_file_window(
    path: &Path,
    pos: &Position,
    source: usize,
    limits: &Limits,
    out: &mut Vec<LogLine>,
) -> Result<ReadStats, MaillogError> {
    let mut stats = ReadStats::default();
    let now = match std::fs::metadata(path) {
        Ok(md) => Some((md.dev(), md.ino(), md.len())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(MaillogError::from_io(path, &e)),
    };
    // (file, offset) pairs to read in order.
    let mut parts: Vec<(PathBuf, u64)> = Vec::new();
    match (pos, now) {
        (Position::File { dev, inode, size }, Some((d, i, len))) if (*dev, *inode) == (d, i) => {
            if len < *size {
                stats.rotation = Some(Rotation {
                    old: None,
                    truncated: true,
                    lost: false,
                });
                parts.push((path.to_path_buf(), 0));
            } else {
                parts.push((path.to_path_buf(), *size));
            }
        }
        (Position::File { dev, inode, size }, now) => {
            let old = find_rotated(path, *dev, *inode);
            stats.rotation = Some(Rotation {
                old: old.clone(),
                truncated: false,
                lost: old.is_none(),
            });
            if let Some(old) = old {
                parts.push((old, *size));
            }
            if now.is_some() {
                parts.push((path.to_path_buf(), 0));
            }
        }
        (Position::Absent, Some(_)) => parts.push((path.to_path_buf(), 0)),
        (Position::Absent, None) => {}
        (Position::Journal { .. } | Position::Unavailable { .. }, _) => {}
    }
    for (file, from) in parts {
        let cap = limits.max_bytes.saturating_sub(stats.bytes);
        let (bytes, unread) = read_range(&file, from, cap)?;
        stats.bytes += bytes.len() as u64;
        split_lines(&bytes, source, limits, &mut stats, out);
        if unread > 0 {
            let prev = match stats.cut {
                Some(Cut::Bytes { unread: u }) => u,
                _ => 0,
            };
            stats.cut = Some(Cut::Bytes {
                unread: prev + unread,
            });
        }
    }
    Ok(stats)
}

/// journalctl's facility matches for what `source` carries (syslog(3): mail 2, auth 4,
/// authpriv 10). Matches of one field are ORed.
fn journal_matches(source: &LogSource) -> Vec<String> {
    let mut m = Vec::new();
    if source.mail {
        m.push("SYSLOG_FACILITY=2".to_string());
    }
    if source.auth {
        m.push("SYSLOG_FACILITY=4".to_string());
        m.push("SYSLOG_FACILITY=10".to_string());
    }
    m
}

/// What a journalctl run printed and how it ended.
struct JournalOutput {
    stdout: Vec<u8>,
    stderr: String,
    status: Option<std::process::ExitStatus>,
    timed_out: bool,
    capped: bool,
}

/// Runs journalctl with `args` (stdin closed), keeping at most `cap` bytes of its output; killed
/// at the deadline.
async fn run_journalctl(
    journalctl: &Path,
    args: &[String],
    cap: u64,
    deadline: Duration,
) -> Result<JournalOutput, MaillogError> {
    let command = format!("{} {}", journalctl.display(), args.join(" "));
    let mut child = tokio::process::Command::new(journalctl)
        .args(args)
        .env("SYSTEMD_PAGER", "")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => MaillogError::JournalctlMissing {
                command: journalctl.display().to_string(),
            },
            _ => MaillogError::Spawn {
                command: command.clone(),
                message: e.to_string(),
            },
        })?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(MaillogError::Spawn {
            command,
            message: "no pipes to the child".into(),
        });
    };
    let mut out = Vec::new();
    let mut err = Vec::new();
    let work = async {
        let mut so = stdout.take(cap.saturating_add(1));
        let mut se = stderr.take(8192);
        let (a, b) = tokio::join!(so.read_to_end(&mut out), se.read_to_end(&mut err));
        let _ = (a, b);
        // Stop a journalctl that still writes after the cap (dropping the pipe ends it too).
        let capped = out.len() as u64 > cap;
        if capped {
            let _ = child.start_kill();
        }
        let status = child.wait().await.ok();
        (status, capped)
    };
    let (status, capped, timed_out) = match tokio::time::timeout(deadline, work).await {
        Ok((status, capped)) => (status, capped, false),
        Err(_) => (None, false, true),
    };
    // The child is killed when dropped (kill_on_drop) if it still runs.
    drop(child);
    if capped {
        out.truncate(usize::try_from(cap).unwrap_or(usize::MAX));
    }
    Ok(JournalOutput {
        stdout: out,
        stderr: String::from_utf8_lossy(&err).trim().to_string(),
        status,
        timed_out,
        capped,
    })
}

fn journal_base_args(directory: Option<&Path>) -> Vec<String> {
    let mut a = vec!["--no-pager".to_string(), "-q".to_string()];
    if let Some(d) = directory {
        a.push("-D".into());
        a.push(d.display().to_string());
    }
    a
}

fn journal_error(journalctl: &Path, out: &JournalOutput) -> Option<MaillogError> {
    let command = journalctl.display().to_string();
    let lower = out.stderr.to_ascii_lowercase();
    if lower.contains("insufficient permissions") || lower.contains("not seeing messages") {
        return Some(MaillogError::JournalPermission {
            command,
            stderr: out.stderr.clone(),
        });
    }
    match out.status {
        Some(s) if !s.success() && !out.capped => Some(MaillogError::JournalctlFailed {
            command,
            status: s.to_string(),
            stderr: out.stderr.clone(),
        }),
        _ => None,
    }
}

async fn journal_position(
    journalctl: &Path,
    directory: Option<&Path>,
    source: &LogSource,
    limits: &Limits,
    now: u64,
) -> Position {
    let mut args = journal_base_args(directory);
    args.extend(["-n", "1", "--show-cursor", "-o", "cat"].map(String::from));
    args.extend(journal_matches(source));
    let deadline = Duration::from_millis(limits.journal_deadline_ms);
    let out = match run_journalctl(journalctl, &args, 64 << 10, deadline).await {
        Ok(o) => o,
        Err(error) => return Position::Unavailable { error },
    };
    if out.timed_out {
        return Position::Unavailable {
            error: MaillogError::Timeout {
                command: journalctl.display().to_string(),
                after_ms: limits.journal_deadline_ms,
            },
        };
    }
    if let Some(error) = journal_error(journalctl, &out) {
        return Position::Unavailable { error };
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let cursor = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("-- cursor: "))
        .map(|c| c.trim().to_string());
    Position::Journal {
        cursor,
        since_epoch: now,
    }
}

#[allow(clippy::too_many_arguments)]
async fn read_journal_window(
    journalctl: &Path,
    directory: Option<&Path>,
    source: &LogSource,
    pos: &Position,
    taken_at: u64,
    index: usize,
    limits: &Limits,
    out: &mut Vec<LogLine>,
) -> Result<ReadStats, MaillogError> {
    let mut args = journal_base_args(directory);
    args.extend(["-o", "short-iso-precise"].map(String::from));
    match pos {
        Position::Journal {
            cursor: Some(c), ..
        } => args.push(format!("--after-cursor={c}")),
        Position::Journal { since_epoch, .. } => args.push(format!("--since=@{since_epoch}")),
        _ => args.push(format!("--since=@{taken_at}")),
    }
    // The window is read oldest first, so the cap keeps the lines nearest the cursor.
    args.push("-n".into());
    args.push(limits.max_lines.to_string());
    args.extend(journal_matches(source));
    let deadline = Duration::from_millis(limits.journal_deadline_ms);
    let o = run_journalctl(journalctl, &args, limits.max_bytes, deadline).await?;
    if let Some(e) = journal_error(journalctl, &o) {
        return Err(e);
    }
    let mut stats = ReadStats::default();
    let mut bytes = o.stdout.as_slice();
    if o.capped || o.timed_out {
        // Keep whole lines only.
        if let Some(nl) = bytes.iter().rposition(|b| *b == b'\n') {
            bytes = bytes.get(..=nl).unwrap_or(bytes);
        }
        stats.cut = Some(if o.timed_out {
            Cut::Deadline
        } else {
            Cut::Bytes { unread: 0 }
        });
    }
    stats.bytes = bytes.len() as u64;
    split_lines(bytes, index, limits, &mut stats, out);
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::maillog::source::FoundBy;

    fn file_source(path: &Path) -> LogSource {
        LogSource {
            kind: SourceKind::File {
                path: path.to_path_buf(),
            },
            found_by: FoundBy::UsualName,
            mail: true,
            auth: false,
            partial: false,
        }
    }

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mc-maillog-read-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn discovery(path: &Path) -> Discovery {
        Discovery {
            sources: vec![file_source(path)],
            considered: Vec::new(),
        }
    }

    const L1: &str = "Dec 01 23:16:00 atlantis postfix/qmgr[1]: AAAAAA0001: removed\n";
    const L2: &str = "Dec 01 23:16:01 atlantis postfix/qmgr[1]: AAAAAA0002: removed\n";
    const L3: &str = "Dec 01 23:16:02 atlantis postfix/qmgr[1]: AAAAAA0003: removed\n";

    fn ids(w: &Window) -> Vec<String> {
        w.lines.iter().filter_map(|l| l.queue_id.clone()).collect()
    }

    #[tokio::test]
    async fn reads_only_after_the_cursor() {
        let d = tempdir("after");
        let f = d.join("mail.log");
        std::fs::write(&f, L1).unwrap();
        let limits = Limits::default();
        let c = take_cursor(&discovery(&f), &limits).await;
        std::fs::write(&f, format!("{L1}{L2}{L3}")).unwrap();
        let w = read_window(&c, &limits).await;
        assert_eq!(ids(&w), vec!["AAAAAA0002", "AAAAAA0003"]);
        let ReadOutcome::Read(s) = &w.reads[0].outcome else {
            panic!("{:?}", w.reads[0]);
        };
        assert_eq!(
            (s.lines, s.cut.clone(), s.rotation.clone()),
            (2, None, None)
        );
    }

    #[tokio::test]
    async fn follows_a_rotation_by_inode() {
        let d = tempdir("rot");
        let f = d.join("mail.log");
        std::fs::write(&f, L1).unwrap();
        let limits = Limits::default();
        let c = take_cursor(&discovery(&f), &limits).await;
        // Appended, then rotated (logrotate: rename to .1, new file), then more lines.
        let mut text = L1.to_string();
        text.push_str(L2);
        std::fs::write(&f, &text).unwrap();
        std::fs::rename(&f, d.join("mail.log.1")).unwrap();
        std::fs::write(&f, L3).unwrap();
        let w = read_window(&c, &limits).await;
        assert_eq!(ids(&w), vec!["AAAAAA0002", "AAAAAA0003"]);
        let ReadOutcome::Read(s) = &w.reads[0].outcome else {
            panic!()
        };
        let r = s.rotation.clone().unwrap();
        assert_eq!(r.old, Some(d.join("mail.log.1")));
        assert!(!r.lost);
        // The rotated file compressed away: the lines before the rotation are lost, said so.
        std::fs::remove_file(d.join("mail.log.1")).unwrap();
        let w = read_window(&c, &limits).await;
        assert_eq!(ids(&w), vec!["AAAAAA0003"]);
        let ReadOutcome::Read(s) = &w.reads[0].outcome else {
            panic!()
        };
        assert!(s.rotation.clone().unwrap().lost);
    }

    #[tokio::test]
    async fn truncated_file_is_read_from_the_start() {
        let d = tempdir("trunc");
        let f = d.join("mail.log");
        std::fs::write(&f, format!("{L1}{L2}")).unwrap();
        let limits = Limits::default();
        let c = take_cursor(&discovery(&f), &limits).await;
        // copytruncate: same inode, shorter.
        let fh = std::fs::OpenOptions::new().write(true).open(&f).unwrap();
        fh.set_len(0).unwrap();
        drop(fh);
        std::fs::write(&f, L3).unwrap();
        let w = read_window(&c, &limits).await;
        assert_eq!(ids(&w), vec!["AAAAAA0003"]);
    }

    #[tokio::test]
    async fn absent_file_then_created() {
        let d = tempdir("absent");
        let f = d.join("postfix.log");
        let limits = Limits::default();
        let c = take_cursor(&discovery(&f), &limits).await;
        assert_eq!(c.marks[0].position, Position::Absent);
        let w = read_window(&c, &limits).await;
        assert!(w.lines.is_empty());
        std::fs::write(&f, L1).unwrap();
        let w = read_window(&c, &limits).await;
        assert_eq!(ids(&w), vec!["AAAAAA0001"]);
    }

    #[tokio::test]
    async fn caps_bytes_lines_and_line_length() {
        let d = tempdir("caps");
        let f = d.join("mail.log");
        std::fs::write(&f, "").unwrap();
        let limits = Limits {
            max_bytes: (L1.len() * 2 + 10) as u64,
            max_lines: 100,
            max_line_bytes: 30,
            journal_deadline_ms: 1000,
        };
        let c = take_cursor(&discovery(&f), &limits).await;
        std::fs::write(&f, format!("{L1}{L2}{L3}")).unwrap();
        let w = read_window(&c, &limits).await;
        assert_eq!(w.lines.len(), 2);
        let ReadOutcome::Read(s) = &w.reads[0].outcome else {
            panic!()
        };
        assert_eq!(
            s.cut,
            Some(Cut::Bytes {
                unread: L3.len() as u64
            })
        );
        assert_eq!(s.long_lines, 2);
        assert_eq!(w.lines[0].raw.len(), 30);
        let few = Limits {
            max_lines: 1,
            ..Limits::default()
        };
        let w = read_window(&c, &few).await;
        assert_eq!(w.lines.len(), 1);
        let ReadOutcome::Read(s) = &w.reads[0].outcome else {
            panic!()
        };
        assert_eq!(s.cut, Some(Cut::Lines));
    }

    #[tokio::test]
    async fn journalctl_missing_is_an_error_not_a_panic() {
        let src = LogSource {
            kind: SourceKind::Journal {
                journalctl: "/nonexistent/journalctl".into(),
                directory: None,
            },
            found_by: FoundBy::UsualName,
            mail: true,
            auth: true,
            partial: false,
        };
        let d = Discovery {
            sources: vec![src],
            considered: Vec::new(),
        };
        let limits = Limits::default();
        let c = take_cursor(&d, &limits).await;
        assert!(matches!(
            c.marks[0].position,
            Position::Unavailable {
                error: MaillogError::JournalctlMissing { .. }
            }
        ));
        let w = read_window(&c, &limits).await;
        assert!(matches!(w.reads[0].outcome, ReadOutcome::Failed { .. }));
    }

    #[tokio::test]
    async fn a_journalctl_that_hangs_is_killed_at_the_deadline() {
        let d = tempdir("hang");
        let fake = d.join("journalctl");
        std::fs::write(&fake, "#!/bin/sh\necho 'Dec 01 23:16:00 h postfix/qmgr[1]: AAAAAA0001: removed'\nexec sleep 30\n").unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let src = LogSource {
            kind: SourceKind::Journal {
                journalctl: fake,
                directory: None,
            },
            found_by: FoundBy::UsualName,
            mail: true,
            auth: false,
            partial: false,
        };
        let cursor = Cursor {
            taken_at: 0,
            marks: vec![Mark {
                source: src,
                position: Position::Journal {
                    cursor: None,
                    since_epoch: 0,
                },
            }],
        };
        let limits = Limits {
            journal_deadline_ms: 300,
            ..Limits::default()
        };
        let t = std::time::Instant::now();
        let w = read_window(&cursor, &limits).await;
        assert!(t.elapsed() < Duration::from_secs(5));
        let ReadOutcome::Read(s) = &w.reads[0].outcome else {
            panic!("{:?}", w.reads[0]);
        };
        assert_eq!(s.cut, Some(Cut::Deadline));
        assert_eq!(ids(&w), vec!["AAAAAA0001"]);
    }
}
