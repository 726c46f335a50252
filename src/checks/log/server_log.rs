//! T38: while the run talked to the server, no Postfix service failed to start (master(8)
//! `bad command startup -- throttling`) and no Postfix process logged `fatal:` or `panic:`;
//! the log that says so, named.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::facts::maillog::{LogExcerpt, LogQuery, Topic, excerpt_of};
use crate::probe::maillog::{Event, Severity, find_throttling};
use crate::verdict::Verdict;

/// Most lines of one kind kept in the evidence.
const MAX_KEPT: usize = 20;

/// `[probe]` of the server-log check: nothing to set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {}

/// A service master(8) stopped starting, with the line its process died with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ThrottledService {
    /// The command master.cf runs (`/usr/lib/postfix/sbin/smtpd`).
    pub command: String,
    /// The failing process's tag (`postfix/submission/smtpd` names the service), if found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// master's `bad command startup -- throttling` line.
    pub throttle: String,
    /// The `fatal:`/`panic:` line the process logged before it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fatal: Option<String>,
    /// Its warnings before that (the cause, often).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Observation {
    /// Which log was read (or why none could be).
    pub source: String,
    /// Why the log could not be read. Said, never a failure by itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    /// Lines logged during the run.
    pub lines: usize,
    pub throttled: Vec<ThrottledService>,
    /// `fatal:`/`panic:` lines of Postfix processes.
    pub fatal: Vec<String>,
    /// `warning:`/`error:` lines of Postfix and saslauthd's/PAM's lines, with their topic.
    pub problems: LogExcerpt,
    /// The run's SMTP sessions that got no greeting (the ports a throttled service serves).
    pub not_greeted: Vec<String>,
}

/// T38 from the log: the kind.
pub struct ServerLog;

impl Kind for ServerLog {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let (window, source) = match facts.maillog_window().await {
            Ok(w) => w,
            Err(e) => {
                return Ok(Observation {
                    source: e.source,
                    unavailable: e.unavailable,
                    ..Observation::default()
                });
            }
        };
        let problems = excerpt_of(&window, &source, &LogQuery::default());
        let mut commands: Vec<String> = Vec::new();
        for l in &window.lines {
            if let Event::Throttling { command } = &l.event
                && !commands.contains(command)
            {
                commands.push(command.clone());
            }
        }
        let raw = |l: &crate::probe::maillog::LogLine| l.raw.trim_end().to_string();
        let mut throttled = Vec::new();
        for c in &commands {
            for t in find_throttling(&window, c).into_iter().take(MAX_KEPT) {
                throttled.push(ThrottledService {
                    command: c.clone(),
                    program: t.program().map(str::to_string),
                    throttle: raw(&t.throttle),
                    fatal: t.fatal.as_ref().map(raw),
                    warnings: t.warnings.iter().take(5).map(raw).collect(),
                });
            }
        }
        let fatal = window
            .lines
            .iter()
            .filter(|l| l.is_postfix() && l.severity >= Severity::Fatal)
            .take(MAX_KEPT)
            .map(raw)
            .collect();
        Ok(Observation {
            source,
            unavailable: problems.unavailable.clone(),
            lines: window.lines.len(),
            throttled,
            fatal,
            problems,
            not_greeted: facts.sessions_not_greeted(),
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        if o.lines == 0
            && let Some(why) = &o.unavailable
        {
            return Verdict::skip(format!(
                "the server's log could not be read ({why}): mailcheck cannot quote the server's reasons"
            ));
        }
        if let Some(t) = o.throttled.first() {
            let who = t.program.clone().unwrap_or_else(|| t.command.clone());
            let why = t
                .fatal
                .clone()
                .or_else(|| t.warnings.last().cloned())
                .unwrap_or_else(|| "its own lines were not found".into());
            let more = if o.throttled.len() > 1 {
                format!(" ({} throttlings in all)", o.throttled.len())
            } else {
                String::new()
            };
            let ports = if o.not_greeted.is_empty() {
                String::new()
            } else {
                format!("; the run got no greeting on {}", o.not_greeted.join(", "))
            };
            return Verdict::fail(format!(
                "master(8) stopped starting {who}: it exits at start (bad command startup -- throttling){more}{ports}"
            ))
            .with_log_cause(why)
            .with_fix("fix what the fatal line names, then `postfix stop; postfix start` (master keeps a throttled service stopped for about 60 s, and `postfix reload` does not clear it)");
        }
        if let Some(f) = o.fatal.first() {
            let n = o.fatal.len();
            return Verdict::fail(format!(
                "{n} Postfix process{} died during the run",
                if n == 1 { "" } else { "es" }
            ))
            .with_log_cause(f.clone())
            .with_fix("fix what the fatal line names; `postfix check` finds many such faults");
        }
        let warnings = o.problems.lines.len() + o.problems.left_out;
        let tls = o.problems.about(Topic::Tls).count();
        let mut msg = format!(
            "{}; {} lines logged during the run, no service failed to start and no Postfix process died",
            o.source, o.lines
        );
        if warnings > 0 {
            msg.push_str(&format!(
                "; {warnings} warning or auth line{} (in the evidence{})",
                if warnings == 1 { "" } else { "s" },
                if tls > 0 { ", TLS among them" } else { "" }
            ));
        }
        Verdict::pass(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{Cause, Status};

    #[test]
    fn throttled_service_is_named_with_its_fatal_line() {
        let o = Observation {
            source: "Postfix logs to /var/log/postfix.log (main.cf maillog_file)".into(),
            lines: 4,
            throttled: vec![ThrottledService {
                command: "/usr/lib/postfix/sbin/smtpd".into(),
                program: Some("postfix/submission/smtpd".into()),
                throttle: "... warning: /usr/lib/postfix/sbin/smtpd: bad command startup -- throttling".into(),
                fatal: Some("... postfix/submission/smtpd[5872]: fatal: SASL per-process initialization failed".into()),
                warnings: vec![],
            }],
            ..Observation::default()
        };
        let v = ServerLog::judge(&Spec {}, &o);
        assert_eq!(v.status, Status::Fail);
        assert!(
            v.message.contains("postfix/submission/smtpd"),
            "{}",
            v.message
        );
        assert!(
            v.message
                .contains("fatal: SASL per-process initialization failed")
        );
        assert!(matches!(&v.caused_by[..], [Cause::Log { .. }]));
    }

    #[test]
    fn no_log_is_a_skip_that_says_why() {
        let o = Observation {
            source: "none".into(),
            unavailable: Some("no Postfix log found (maillog_file: empty)".into()),
            ..Observation::default()
        };
        let v = ServerLog::judge(&Spec {}, &o);
        assert_eq!(v.status, Status::Skip);
        assert!(v.message.contains("no Postfix log found"), "{}", v.message);
    }

    #[test]
    fn a_quiet_log_passes_and_names_its_source() {
        let o = Observation {
            source: "Postfix logs to /var/log/postfix.log (main.cf maillog_file)".into(),
            lines: 12,
            ..Observation::default()
        };
        let v = ServerLog::judge(&Spec {}, &o);
        assert_eq!(v.status, Status::Pass);
        assert!(v.message.contains("/var/log/postfix.log"), "{}", v.message);
    }
}
