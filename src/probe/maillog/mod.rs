//! The server's own mail log: where Postfix, saslauthd and PAM log (postlog(1) `maillog_file`,
//! rsyslog's files for the mail and auth facilities, or the systemd journal), a cursor taken when
//! a run starts, a bounded read of what was logged since, the lines parsed, and the lines that
//! belong to what the run did (its queue ids, its SMTP sessions, its addresses) grouped.
//!
//! ```no_run
//! # async fn demo() {
//! use mailcheck::probe::maillog::{self, Limits, LogSettings, Want};
//! // main.cf's effective values (postconf maillog_file maillog_file_prefixes).
//! let settings = LogSettings::debian("/var/log/postfix.log", "/var, /dev/stdout");
//! let discovery = maillog::discover(&settings);
//! let limits = Limits::default();
//! let cursor = maillog::take_cursor(&discovery, &limits).await;
//! // ... the run talks SMTP, gets "250 2.0.0 Ok: queued as DFF0AC027C" ...
//! let window = maillog::read_window(&cursor, &limits).await;
//! let want = Want {
//!     queue_ids: vec!["DFF0AC027C".into()],
//!     ..Want::default()
//! };
//! let found = maillog::correlate(&window, &want);
//! for m in &found.messages {
//!     for d in m.deliveries() {
//!         println!("{}: {:?} ({})", m.queue_id, d.status, d.detail);
//!     }
//! }
//! # }
//! ```

mod correlate;
mod parse;
mod read;
pub mod rsyslog;
mod source;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use correlate::{
    Correlation, Delivery, MessageTrail, SessionKey, SessionMatch, SessionTrail, Throttled,
    TrailReason, Want, correlate, find_throttling,
};
pub use parse::{
    ChildEnd, Client, DeliveryStatus, Event, LogLine, LogTime, Severity, is_queue_id, parse_client,
    parse_line,
};
pub use read::{
    Cursor, Cut, Limits, Mark, Position, ReadOutcome, ReadStats, Rotation, SourceRead, Window,
    read_window, take_cursor, take_cursor_now,
};
pub use source::{
    Considered, Discovery, FoundBy, LogSettings, LogSource, Outcome, SourceKind, discover,
};

/// Why the log could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MaillogError {
    #[error("needs root to read {}", .path.display())]
    PermissionDenied { path: PathBuf },
    #[error("{} does not exist", .path.display())]
    NotFound { path: PathBuf },
    #[error("cannot read {}: {message}", .path.display())]
    Io { path: PathBuf, message: String },
    #[error("{command} is not installed")]
    JournalctlMissing { command: String },
    #[error("cannot run {command}: {message}")]
    Spawn { command: String, message: String },
    #[error("{command} gave no answer within {after_ms} ms")]
    Timeout { command: String, after_ms: u64 },
    #[error("{command} failed ({status}): {stderr}")]
    JournalctlFailed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error(
        "{command} cannot read the system journal (needs root or group adm/systemd-journal): {stderr}"
    )]
    JournalPermission { command: String, stderr: String },
}

impl MaillogError {
    pub(crate) fn from_io(path: &std::path::Path, e: &std::io::Error) -> Self {
        let path = path.to_path_buf();
        match e.kind() {
            std::io::ErrorKind::PermissionDenied => MaillogError::PermissionDenied { path },
            std::io::ErrorKind::NotFound => MaillogError::NotFound { path },
            _ => MaillogError::Io {
                path,
                message: e.to_string(),
            },
        }
    }

    /// A permission problem (run as root, or add the user to group adm).
    pub fn is_permission(&self) -> bool {
        matches!(
            self,
            MaillogError::PermissionDenied { .. } | MaillogError::JournalPermission { .. }
        )
    }
}
