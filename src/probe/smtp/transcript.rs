//! The SMTP session transcript: both directions with timings, AUTH payloads already redacted.

use std::time::Instant;

/// Most entries kept; a session that goes past it is misbehaving, and evidence needs no more.
const MAX_ENTRIES: usize = 4096;

/// Who an entry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    Client,
    Server,
    /// Something mailcheck observed (connected, TLS established, error).
    Note,
}

/// One line of the dialog.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TranscriptEntry {
    /// Milliseconds since the connection attempt started.
    pub at_ms: f64,
    pub dir: Dir,
    pub text: String,
}

impl TranscriptEntry {
    /// `[   0.3 ms] S: 220 ...`, `C: EHLO x`, `-- TLS ...`.
    pub fn render(&self) -> String {
        let tag = match self.dir {
            Dir::Client => "C:",
            Dir::Server => "S:",
            Dir::Note => "--",
        };
        format!("[{:>7.1} ms] {tag} {}", self.at_ms, self.text)
    }
}

/// What was said, in order. Never holds a password or an AUTH payload: the client stores
/// `AUTH PLAIN <redacted>` and `<redacted>` instead.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Transcript {
    entries: Vec<TranscriptEntry>,
    #[serde(skip)]
    started: Instant,
    #[serde(skip)]
    dropped: usize,
}

impl Transcript {
    pub(crate) fn new(started: Instant) -> Self {
        Transcript {
            entries: Vec::new(),
            started,
            dropped: 0,
        }
    }

    pub(crate) fn push(&mut self, dir: Dir, text: impl Into<String>) {
        if self.entries.len() >= MAX_ENTRIES {
            self.dropped += 1;
            return;
        }
        self.entries.push(TranscriptEntry {
            at_ms: self.started.elapsed().as_secs_f64() * 1000.0,
            dir,
            text: text.into(),
        });
    }

    pub(crate) fn client(&mut self, text: impl Into<String>) {
        self.push(Dir::Client, text);
    }

    pub(crate) fn note(&mut self, text: impl Into<String>) {
        self.push(Dir::Note, text);
    }

    /// Records each line of a reply as the server sent it.
    pub(crate) fn server_reply(&mut self, reply: &super::Reply) {
        for line in reply.to_string().lines() {
            self.push(Dir::Server, line);
        }
    }

    /// Records the lines of a reply that never finished, each with the `-` of a line that
    /// is not the last, as they came.
    pub(crate) fn server_partial_reply(&mut self, reply: &super::Reply) {
        for line in &reply.lines {
            self.push(Dir::Server, format!("{}-{line}", reply.code));
        }
        self.note("reply unfinished");
    }

    /// Runs `redactor` over every entry from index `from` on.
    pub(crate) fn redact_from(&mut self, from: usize, redactor: &crate::secret::Redactor) {
        for e in self.entries.iter_mut().skip(from) {
            let r = redactor.redact(&e.text);
            if r != e.text {
                e.text = r;
            }
        }
    }

    /// The entries in order.
    pub fn entries(&self) -> &[TranscriptEntry] {
        &self.entries
    }

    /// One rendered line per entry (plus a note if entries were dropped).
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self.entries.iter().map(TranscriptEntry::render).collect();
        if self.dropped > 0 {
            out.push(format!("-- {} more entries not kept", self.dropped));
        }
        out
    }

    /// Whether any entry's text contains `needle` (for tests and redaction checks).
    pub fn contains(&self, needle: &str) -> bool {
        self.entries.iter().any(|e| e.text.contains(needle))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_directions_and_times() {
        let mut t = Transcript::new(Instant::now());
        t.push(Dir::Server, "220 ready");
        t.client("EHLO x");
        t.note("TLS handshake TLSv1.3");
        let lines = t.lines();
        assert!(
            lines[0].starts_with('[') && lines[0].ends_with("ms] S: 220 ready"),
            "{}",
            lines[0]
        );
        assert!(lines[1].ends_with("ms] C: EHLO x"));
        assert!(lines[2].ends_with("ms] -- TLS handshake TLSv1.3"));
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["entries"][1]["dir"], "client");
    }

    #[test]
    fn bounded() {
        let mut t = Transcript::new(Instant::now());
        for i in 0..MAX_ENTRIES + 5 {
            t.client(format!("NOOP {i}"));
        }
        assert_eq!(t.entries().len(), MAX_ENTRIES);
        assert_eq!(t.lines().last().unwrap(), "-- 5 more entries not kept");
    }
}
