//! The run's facts from the server's own log (issue 13 §1): where Postfix, saslauthd and PAM log,
//! a cursor taken when the run starts, and on request the lines logged since that concern what a
//! check did (its queue id, its session, its test address) or explain a failure (Postfix's
//! `warning:`/`error:`/`fatal:`/`panic:` lines, saslauthd's and PAM's lines). Only on the server
//! itself; a log that cannot be read is said in the excerpt, never a failure by itself.

use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::Facts;
use crate::probe::maillog::{
    self, Cursor, DeliveryStatus, Discovery, Event, Limits, LogLine, LogSettings, ReadOutcome,
    SessionKey, Severity, Want, Window,
};

/// Most lines one excerpt keeps.
pub const MAX_EXCERPT_LINES: usize = 40;
/// postlogd and rsyslog write a line shortly after it was logged: a read that did not find
/// what it looks for is done again, at growing intervals, until it does or this long passed.
const SETTLE: Duration = Duration::from_millis(700);
/// The first interval between two reads of the log while waiting for a line.
const FIRST_REREAD: Duration = Duration::from_millis(5);

/// What this area of the run has learned so far.
#[derive(Default)]
pub struct Cells {
    start: OnceCell<Option<Arc<Start>>>,
}

/// Where the logs are and where they stood when the run started.
struct Start {
    discovery: Discovery,
    cursor: Cursor,
    limits: Limits,
}

/// What a line says, for a judge to pick the line that explains its failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// A delivery attempt that did not succeed (`status=bounced (...)`, deferred, expired).
    Delivery,
    /// A refusal Postfix logged (`reject: RCPT from ...`).
    Reject,
    /// TLS: a certificate or key Postfix could not load, a library error.
    Tls,
    /// SASL: `SASL authentication failure: ...`, `SASL PLAIN authentication failed`,
    /// saslauthd's `auth failure`, a PAM module's line.
    Sasl,
    /// master(8) stopped starting a service (`bad command startup -- throttling`).
    Throttle,
    /// A `fatal:` or `panic:` line: a Postfix process exited.
    Fatal,
    /// A database or map lookup that failed.
    Lookup,
    /// Any other `warning:` or `error:` line of Postfix.
    Problem,
}

/// One line of the server's log, as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Logged {
    pub topic: Topic,
    pub line: String,
}

/// The server's log lines that concern one check, and where they come from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct LogExcerpt {
    /// Which log was read (`Postfix logs to /var/log/postfix.log (main.cf maillog_file) ...`).
    pub source: String,
    /// Why the log could not be read, or only in part. Said, never a failure by itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    pub lines: Vec<Logged>,
    /// Lines over [`MAX_EXCERPT_LINES`] left out.
    #[serde(skip_serializing_if = "is_zero")]
    pub left_out: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl LogExcerpt {
    /// The first line about one of `topics`, in `topics`' order of preference.
    pub fn first(&self, topics: &[Topic]) -> Option<&str> {
        topics.iter().find_map(|t| {
            self.lines
                .iter()
                .find(|l| l.topic == *t)
                .map(|l| l.line.as_str())
        })
    }

    /// The lines about `topic`.
    pub fn about(&self, topic: Topic) -> impl Iterator<Item = &str> {
        self.lines
            .iter()
            .filter(move |l| l.topic == topic)
            .map(|l| l.line.as_str())
    }

    /// An excerpt that says why there is none.
    pub fn unavailable(source: impl Into<String>, why: impl Into<String>) -> LogExcerpt {
        LogExcerpt {
            source: source.into(),
            unavailable: Some(why.into()),
            ..Default::default()
        }
    }
}

/// What a check did, to find in the log.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub queue_ids: Vec<String>,
    /// This end of the check's connections (`ip:port`).
    pub clients: Vec<String>,
    pub addresses: Vec<String>,
    pub message_ids: Vec<String>,
    /// Topics the caller looks for: when none is found, the log is read once more a moment
    /// later (the logger may not have written the line yet).
    pub expect: Vec<Topic>,
    /// The refusals the check's client got (`451 4.3.0`, or `554` without an enhanced code):
    /// when set, a `reject:` line found only through a session (Postfix logs no client port by
    /// default, so every session from mailcheck's address matches) is kept only if it logs one
    /// of them, so another probe's refusal in the same run is not quoted as this one's.
    pub replies: Vec<String>,
}

impl Facts {
    /// Finds the server's logs and takes the cursor (once, at the start of the run; later calls
    /// do nothing). Only on the server itself.
    pub async fn maillog_start(&self) {
        self.maillog
            .start
            .get_or_init(|| async {
                if !self.target.local {
                    return None;
                }
                let (file, prefixes) = match self.postfix().await {
                    Ok(cfg) => (cfg.get("maillog_file"), cfg.get("maillog_file_prefixes")),
                    Err(_) => (String::new(), "/var, /dev/stdout".to_string()),
                };
                let discovery = maillog::discover(&LogSettings::debian(&file, &prefixes));
                let limits = Limits::default();
                let cursor = maillog::take_cursor(&discovery, &limits).await;
                Some(Arc::new(Start {
                    discovery,
                    cursor,
                    limits,
                }))
            })
            .await;
    }

    /// Where the server logs, in one sentence (or why mailcheck cannot read it).
    pub async fn maillog_summary(&self) -> String {
        match self.maillog.start.get() {
            Some(Some(s)) => s.discovery.summary(),
            Some(None) => "the server's log is read only when mailcheck runs on the server".into(),
            None => "the log cursor was not taken at the start of the run".into(),
        }
    }

    /// The whole window of the run so far (every source), parsed.
    pub async fn maillog_window(&self) -> Result<(Window, String), LogExcerpt> {
        let start = self.maillog_started().await?;
        let window = maillog::read_window(&start.cursor, &start.limits).await;
        Ok((window, start.discovery.summary()))
    }

    /// The lines logged since the run started that concern `q`, plus the problem and auth lines
    /// of the window.
    pub async fn maillog_excerpt(&self, q: &LogQuery) -> LogExcerpt {
        let start = match self.maillog_started().await {
            Ok(s) => s,
            Err(e) => return e,
        };
        let mut excerpt = read_excerpt(&start, q).await;
        let began = std::time::Instant::now();
        let mut pause = FIRST_REREAD;
        while !q.expect.is_empty() && excerpt.first(&q.expect).is_none() {
            let left = SETTLE.saturating_sub(began.elapsed());
            if left.is_zero() {
                break;
            }
            tokio::time::sleep(pause.min(left)).await;
            pause = (pause * 2).min(Duration::from_millis(80));
            excerpt = read_excerpt(&start, q).await;
        }
        excerpt
    }

    /// The run's SMTP sessions (already made; none is opened here) that got no greeting: the
    /// ports a throttled smtpd serves.
    pub fn sessions_not_greeted(&self) -> Vec<String> {
        [self.smtp.get(), self.submission.get()]
            .into_iter()
            .flatten()
            .filter_map(|s| {
                s.not_greeted()
                    .map(|why| format!("port {} ({why})", s.port))
            })
            .collect()
    }

    async fn maillog_started(&self) -> Result<Arc<Start>, LogExcerpt> {
        match self.maillog.start.get() {
            Some(Some(s)) => Ok(s.clone()),
            Some(None) => Err(LogExcerpt::unavailable(
                "none",
                "the server's log is read only when mailcheck runs on the server",
            )),
            None => Err(LogExcerpt::unavailable(
                "none",
                "the log cursor was not taken at the start of the run",
            )),
        }
    }
}

async fn read_excerpt(start: &Start, q: &LogQuery) -> LogExcerpt {
    let window = maillog::read_window(&start.cursor, &start.limits).await;
    excerpt_of(&window, &start.discovery.summary(), q)
}

/// The excerpt of `window` for `q` (pure: fixtures and tests call it on a window of text).
pub fn excerpt_of(window: &Window, source: &str, q: &LogQuery) -> LogExcerpt {
    let mut excerpt = LogExcerpt {
        source: source.to_string(),
        ..Default::default()
    };
    let failed: Vec<String> = window
        .reads
        .iter()
        .filter_map(|r| match &r.outcome {
            ReadOutcome::Failed { error } => Some(format!("{}: {error}", r.source.describe())),
            ReadOutcome::Read(_) => None,
        })
        .collect();
    if window.reads.is_empty() {
        excerpt.unavailable = Some(source.to_string());
    } else if !failed.is_empty() {
        excerpt.unavailable = Some(failed.join("; "));
    }
    let want = Want {
        queue_ids: q.queue_ids.clone(),
        sessions: q.clients.iter().filter_map(|c| session_key(c)).collect(),
        addresses: q.addresses.clone(),
        message_ids: q.message_ids.clone(),
    };
    let found = maillog::correlate(window, &want);
    let mut picked: Vec<&LogLine> = Vec::new();
    for m in &found.messages {
        picked.extend(m.lines.iter().filter(|l| topic_of(l).is_some()));
    }
    for s in &found.sessions {
        picked.extend(s.lines.iter().filter(|l| match topic_of(l) {
            Some(Topic::Reject) => {
                q.replies.is_empty() || q.replies.iter().any(|r| l.raw.contains(r.as_str()))
            }
            Some(_) => true,
            None => false,
        }));
    }
    picked.extend(found.problems.iter());
    picked.extend(found.auth.iter());
    for l in picked {
        let Some(topic) = topic_of(l) else { continue };
        let line = l.raw.trim_end().to_string();
        if excerpt.lines.iter().any(|x| x.line == line) {
            continue;
        }
        if excerpt.lines.len() >= MAX_EXCERPT_LINES {
            excerpt.left_out += 1;
            continue;
        }
        excerpt.lines.push(Logged { topic, line });
    }
    excerpt
}

/// `ip:port` (or `[v6]:port`) as the correlator's key.
fn session_key(client: &str) -> Option<SessionKey> {
    let addr: std::net::SocketAddr = client.parse().ok()?;
    Some(SessionKey {
        addr: addr.ip().to_string(),
        port: Some(addr.port()),
    })
}

/// What a line is about, if it can explain a failure.
pub fn topic_of(l: &LogLine) -> Option<Topic> {
    let topic = match &l.event {
        Event::Delivery { status, .. } if *status != DeliveryStatus::Sent => Topic::Delivery,
        Event::Expired { .. } => Topic::Delivery,
        Event::Reject { .. } => Topic::Reject,
        Event::Tls { .. } => Topic::Tls,
        Event::SaslAuthFailed { .. }
        | Event::SaslLibrary { .. }
        | Event::SaslauthdFailure { .. }
        | Event::Pam { .. } => Topic::Sasl,
        Event::Throttling { .. } => Topic::Throttle,
        Event::DatabaseConnect { .. } | Event::LookupError { .. } => Topic::Lookup,
        _ if l.is_auth() => Topic::Sasl,
        _ if matches!(l.severity, Severity::Fatal | Severity::Panic) => Topic::Fatal,
        _ if l.is_postfix() && l.severity.is_problem() => {
            let t = l.text.to_ascii_lowercase();
            if t.contains("tls") || t.contains("certificate") || t.contains("private key") {
                Topic::Tls
            } else if t.contains("sasl") {
                Topic::Sasl
            } else {
                Topic::Problem
            }
        }
        _ => return None,
    };
    Some(topic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::maillog::{FoundBy, LogSource, SourceKind};

    fn window(path: &str, text: &str) -> Window {
        let source = LogSource {
            kind: SourceKind::File { path: path.into() },
            found_by: FoundBy::UsualName,
            mail: true,
            auth: true,
            partial: false,
        };
        Window::from_text(source, text)
    }

    /// The syslog-file source (rsyslog's traditional format): the SASL library's line is a
    /// Sasl line of the excerpt, and the source is named.
    #[test]
    fn syslog_file_sasl_failure_is_quoted() {
        let w = window(
            "/var/log/mail.log",
            include_str!("../../tests/data/maillog/rsyslog/mail-traditional.log"),
        );
        let e = excerpt_of(
            &w,
            "Postfix logs to /var/log/mail.log",
            &LogQuery::default(),
        );
        assert_eq!(e.source, "Postfix logs to /var/log/mail.log");
        assert!(e.unavailable.is_none());
        let first = e.first(&[Topic::Sasl]).unwrap();
        assert!(
            first.ends_with("warning: SASL authentication failure: Password verification failed"),
            "{first}"
        );
        assert!(e.first(&[Topic::Tls, Topic::Delivery]).is_none());
    }

    #[test]
    fn saslauthd_and_pam_lines_of_the_auth_log() {
        let w = window(
            "/var/log/auth.log",
            include_str!("../../tests/data/maillog/rsyslog/auth.log"),
        );
        let e = excerpt_of(&w, "auth.log", &LogQuery::default());
        let sasl: Vec<&str> = e.about(Topic::Sasl).collect();
        assert!(
            sasl.iter().any(|l| l.contains("pam_mysql - MySQL error")),
            "{sasl:?}"
        );
        assert!(
            sasl.iter().any(|l| l.contains("[reason=PAM auth error]")),
            "{sasl:?}"
        );
        // "sql auxprop plugin using mysql engine" is information, not a cause.
        assert!(
            !sasl.iter().any(|l| l.contains("auxprop plugin")),
            "{sasl:?}"
        );
    }

    #[test]
    fn tls_key_error_and_bounce_by_queue_id() {
        let w = window(
            "/var/log/postfix.log",
            include_str!("../../tests/data/maillog/postlog/tls-key-missing.log"),
        );
        let e = excerpt_of(&w, "postlog", &LogQuery::default());
        let tls = e.first(&[Topic::Tls]).unwrap();
        assert!(
            tls.contains("No private key found in /etc/ssl/self-signed/server.pem"),
            "{tls}"
        );

        let w = window(
            "/var/log/postfix.log",
            include_str!("../../tests/data/maillog/postlog/bounce.log"),
        );
        let q = LogQuery {
            queue_ids: vec!["F16A0C02A3".into()],
            ..LogQuery::default()
        };
        let e = excerpt_of(&w, "postlog", &q);
        let d = e.first(&[Topic::Delivery]).unwrap();
        assert!(
            d.contains("status=bounced (Host or domain name not found."),
            "{d}"
        );
        // Without the queue id (or address) the bounce is not the run's.
        let e = excerpt_of(&w, "postlog", &LogQuery::default());
        assert!(e.first(&[Topic::Delivery]).is_none());
    }

    /// Postfix logs no client port by default: every session from mailcheck's address matches
    /// a session key, so a refusal another probe got in the same run must not be quoted as
    /// this check's; the reply the check got picks its own line.
    #[test]
    fn a_refusal_is_quoted_only_by_the_check_that_got_it() {
        let text = "\
Dec  2 07:00:01 vm postfix/smtpd[7]: connect from localhost[127.0.0.1]
Dec  2 07:00:01 vm postfix/smtpd[7]: NOQUEUE: reject: MAIL from localhost[127.0.0.1]: 552 5.3.4 Message size exceeds fixed limit; proto=ESMTP helo=<mailcheck.invalid>
Dec  2 07:00:01 vm postfix/smtpd[7]: disconnect from localhost[127.0.0.1] ehlo=1 mail=0/1 quit=1 commands=2/3
Dec  2 07:00:02 vm postfix/smtpd[8]: connect from localhost[127.0.0.1]
Dec  2 07:00:02 vm postfix/smtpd[8]: NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 451 4.3.0 <root@example.com>: Temporary lookup failure; from=<a@example.com> to=<root@example.com> proto=ESMTP helo=<mailcheck.invalid>
Dec  2 07:00:02 vm postfix/smtpd[8]: disconnect from localhost[127.0.0.1] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4
";
        let w = window("/var/log/postfix.log", text);
        let q = LogQuery {
            clients: vec!["127.0.0.1:40000".into()],
            expect: vec![Topic::Reject],
            replies: vec!["451 4.3.0".into()],
            ..LogQuery::default()
        };
        let e = excerpt_of(&w, "postlog", &q);
        let quoted = e.first(&[Topic::Reject]).unwrap();
        assert!(quoted.contains("451 4.3.0"), "{quoted}");
        assert!(
            !e.lines.iter().any(|l| l.line.contains("552 5.3.4")),
            "{e:?}"
        );
        // Without the reply, both sessions' refusals are candidates (as before).
        let q = LogQuery {
            replies: Vec::new(),
            ..q
        };
        let e = excerpt_of(&w, "postlog", &q);
        assert!(
            e.lines.iter().any(|l| l.line.contains("552 5.3.4")),
            "{e:?}"
        );
    }

    #[test]
    fn an_unreadable_log_is_said_not_failed() {
        let e = LogExcerpt::unavailable("none", "needs root to read /var/log/mail.log");
        assert_eq!(e.first(&[Topic::Sasl]), None);
        assert_eq!(
            e.unavailable.as_deref(),
            Some("needs root to read /var/log/mail.log")
        );
    }

    #[test]
    fn the_excerpt_is_bounded() {
        let line = "Dec  1 23:42:31 vm postfix/smtpd[1]: warning: something odd number ";
        let text: String = (0..(MAX_EXCERPT_LINES + 7))
            .map(|i| format!("{line}{i}\n"))
            .collect();
        let e = excerpt_of(&window("/x", &text), "x", &LogQuery::default());
        assert_eq!(e.lines.len(), MAX_EXCERPT_LINES);
        assert_eq!(e.left_out, 7);
    }
}
