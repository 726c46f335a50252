//! Compares this run with an earlier JSON report (`--baseline last-good.json`): what newly
//! fails, what newly passes, and what changed: a status that moved otherwise, or the same
//! status on different facts (TLS version, certificate, SIZE, a file's mode).
//!
//! Facts are the check's observation (`evidence`) with what every run measures anew taken out
//! ([`normalise`]): durations, clock readings, process ids, queue ids, test-mail tokens,
//! delivered file names, client ports. When the facts agree the messages are not compared (they
//! carry timings); a check without evidence on either side (skips, schema v1 baselines) is
//! compared on its status and its message with the same volatile text masked.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Gate, RunReport};
use crate::verdict::Status;

#[derive(Debug, Deserialize)]
struct OldReport {
    schema_version: u32,
    started: String,
    checks: Vec<OldCheck>,
}

#[derive(Debug, Deserialize)]
struct OldCheck {
    id: String,
    status: Status,
    message: String,
    /// Schema v2 only.
    #[serde(default)]
    evidence: Option<Value>,
}

/// One check of the earlier report.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineCheck {
    pub status: Status,
    pub message: String,
    /// Its evidence (schema v2); `None` in a schema v1 report or when nothing was observed.
    pub evidence: Option<Value>,
}

/// The earlier report.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    pub schema_version: u32,
    /// Its `started`.
    pub started: String,
    pub checks: BTreeMap<String, BaselineCheck>,
}

/// One check whose outcome differs from the baseline.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Change {
    pub id: String,
    /// `None` when the check was not in the baseline.
    pub before: Option<Status>,
    pub after: Status,
    pub before_message: Option<String>,
    pub after_message: String,
    /// The facts that differ, `path: before -> after` (at most [`MAX_FACTS`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub facts: Vec<String>,
}

/// How many differing facts a change lists.
pub const MAX_FACTS: usize = 8;

#[derive(Debug, Clone, Serialize, Default)]
pub struct Diff {
    /// `started` of the baseline report.
    pub baseline_started: String,
    pub newly_failing: Vec<Change>,
    pub newly_passing: Vec<Change>,
    pub changed: Vec<Change>,
}

/// Why `--baseline` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("cannot read --baseline {}: {source}", .path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("--baseline {} is not a mailcheck JSON report: {source}", .path.display())]
    NotAReport {
        path: std::path::PathBuf,
        source: serde_json::Error,
    },
    #[error("--baseline {} has schema_version {version}; this mailcheck reads 1 and 2", .path.display())]
    Version {
        path: std::path::PathBuf,
        version: u32,
    },
}

/// Reads an earlier `--format json` report (schema version 1 or 2).
pub fn load(path: &Path) -> Result<Baseline, BaselineError> {
    let text = std::fs::read_to_string(path).map_err(|e| BaselineError::Read {
        path: path.to_path_buf(),
        source: e,
    })?;
    let old: OldReport = serde_json::from_str(&text).map_err(|e| BaselineError::NotAReport {
        path: path.to_path_buf(),
        source: e,
    })?;
    if !(1..=2).contains(&old.schema_version) {
        return Err(BaselineError::Version {
            path: path.to_path_buf(),
            version: old.schema_version,
        });
    }
    let checks = old
        .checks
        .into_iter()
        .map(|c| {
            let evidence = c.evidence.filter(|e| !e.is_null());
            (
                c.id,
                BaselineCheck {
                    status: c.status,
                    message: c.message,
                    evidence,
                },
            )
        })
        .collect();
    Ok(Baseline {
        schema_version: old.schema_version,
        started: old.started,
        checks,
    })
}

/// Keys whose values every run measures or assigns anew, wherever they appear in an
/// observation; a key not listed here is a fact. Millisecond keys (`ms`, `*_ms`) are also
/// volatile: durations (`connect_ms`, `waited_ms`, `queries_ms`) and clock readings
/// (`started_unix_ms`).
pub const VOLATILE_KEYS: &[(&str, &str)] = &[
    ("waited", "how long delivery took (a duration)"),
    ("elapsed", "a duration"),
    ("now", "the clock when the check looked"),
    ("taken_at", "the clock when the log was read"),
    (
        "days_left",
        "certificate days left: drifts every day; not_after is the fact",
    ),
    ("time", "a log line's time"),
    (
        "pid",
        "a process instance: a restart is no change of configuration",
    ),
    ("ppid", "a process instance"),
    ("starttime_ticks", "a process instance"),
    ("queue_id", "Postfix's id for this run's test message"),
    ("message_id", "this run's test message"),
    ("message_ids", "this run's test messages"),
    ("token", "this run's test-mail token"),
    (
        "local",
        "this end of a connection (ip:port): the source port is new each time",
    ),
    (
        "config_read_basis",
        "which long-running Postfix daemon dates the configuration read (pickup restarts on its own)",
    ),
    (
        "first_bytes",
        "the server's first TLS bytes: the ServerHello's random differs every time",
    ),
    (
        "delivered",
        "the Maildir file name of this run's test message (the Maildir is `maildir`)",
    ),
];

/// Whether an observation key is volatile ([`VOLATILE_KEYS`], `ms`, `*_ms`).
pub fn volatile_key(key: &str) -> bool {
    key == "ms" || key.ends_with("_ms") || VOLATILE_KEYS.iter().any(|(k, _)| *k == key)
}

/// Text that every run measures or assigns anew, masked in every string (transcripts, log
/// lines, messages): (pattern, replacement, what it is).
static VOLATILE_TEXT: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // A transcript line's time since connecting: `[    1.2 ms] S: 250 ...`.
        (r"^\[\s*[0-9.]+ ms\] ", ""),
        // A log line's leading time (syslog or ISO 8601).
        (
            r"^(?:[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) ",
            "",
        ),
        // Measured durations in prose: `in 1.4 ms`, `connected in 13.69 ms`, `after 2.1 s`.
        (r"\b\d+(?:\.\d+)? ?(ms|s)\b", "N $1"),
        // Days left on a certificate.
        (r"\b\d+ days\b", "N days"),
        // The client's ephemeral port: `from 127.0.0.1:40536`, `from [::1]:40536`.
        (r"(from \[?[0-9A-Fa-f:.]+\]?):\d+\b", "$1:*"),
        // Postfix queue ids: `queued as 5FB12C0268`, and after a log line's `[pid]: `.
        (r"queued as [0-9A-Za-z]+", "queued as *"),
        (r"\[\d+\]: [0-9A-F]{6,12}:", "[*]: *:"),
        (r"\[\d+\]:", "[*]:"),
        // Maildir file names: `new/1796174221.Vfe00Ic0269M397156.vm`.
        (r"/(new|cur|tmp)/\d+\.[^/\s\x22]+", "/$1/*"),
        // Process ids in prose: `pickup (pid 499)`, `pid 20560 \`/usr/sbin/saslauthd ...\``.
        (r"\bpid \d+\b", "pid *"),
        // Test-mail tokens (probe::testmail::new_token).
        (r"mc-\d+-\d+-[0-9a-f]{8}", "mc-*"),
        // The size of this run's test message (its date and token vary in length).
        (r"<message: \d+ bytes, \d+ lines>", "<message>"),
    ]
    .into_iter()
    .filter_map(|(re, with)| Regex::new(re).ok().map(|r| (r, with)))
    .collect()
});

/// `s` with [`VOLATILE_TEXT`] masked.
pub fn mask(s: &str) -> String {
    let mut out = s.to_string();
    for (re, with) in VOLATILE_TEXT.iter() {
        if re.is_match(&out) {
            out = re.replace_all(&out, *with).into_owned();
        }
    }
    out
}

/// An observation as facts: volatile keys removed, volatile text masked.
pub fn normalise(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, v)| !volatile_key(k) && !is_line_count(k, v))
                .map(|(k, v)| (k.clone(), normalise(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalise).collect()),
        Value::String(s) => Value::String(mask(s)),
        v => v.clone(),
    }
}

/// `lines` as a number counts the log lines of this run's window (log.server-log): volatile.
/// (`lines` as an array is an SMTP reply's text: a fact.)
fn is_line_count(key: &str, v: &Value) -> bool {
    key == "lines" && v.is_number()
}

/// Where two normalised observations differ: `path: before -> after`, in document order.
fn differences(before: &Value, after: &Value, path: &str, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                differences(
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    &p,
                    out,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(x, y, &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if a != b => {
            let short = |v: &Value| {
                let s = v.to_string();
                if s.chars().count() > 120 {
                    format!("{}…", s.chars().take(119).collect::<String>())
                } else {
                    s
                }
            };
            out.push(format!("{path}: {} -> {}", short(a), short(b)));
        }
        _ => {}
    }
}

/// The facts that differ between a baseline check and this run's result (empty when they
/// agree), or `None` when there are no facts to compare (no evidence on one side).
fn fact_changes(before: &BaselineCheck, after: &crate::runner::CheckResult) -> Option<Vec<String>> {
    let b = before.evidence.as_ref()?;
    if after.evidence.is_null() {
        return None;
    }
    let mut out = Vec::new();
    differences(&normalise(b), &normalise(&after.evidence), "", &mut out);
    Some(out)
}

fn bad(s: Status) -> bool {
    matches!(s, Status::Fail | Status::Error)
}

pub fn diff(baseline: &Baseline, report: &RunReport) -> Diff {
    let mut d = Diff {
        baseline_started: baseline.started.clone(),
        ..Diff::default()
    };
    for r in &report.results {
        let before = baseline.checks.get(&r.id);
        let mut change = Change {
            id: r.id.clone(),
            before: before.map(|b| b.status),
            after: r.verdict.status,
            before_message: before.map(|b| b.message.clone()),
            after_message: r.verdict.message.clone(),
            facts: Vec::new(),
        };
        let was_bad = before.is_some_and(|b| bad(b.status));
        if bad(r.verdict.status) && !was_bad {
            d.newly_failing.push(change);
            continue;
        }
        if r.verdict.status == Status::Pass && was_bad {
            d.newly_passing.push(change);
            continue;
        }
        let Some(before) = before else { continue };
        if before.status != r.verdict.status {
            d.changed.push(change);
            continue;
        }
        match fact_changes(before, r) {
            Some(facts) if facts.is_empty() => {}
            Some(mut facts) => {
                facts.truncate(MAX_FACTS);
                change.facts = facts;
                d.changed.push(change);
            }
            None if mask(&before.message) != mask(&r.verdict.message) => d.changed.push(change),
            None => {}
        }
    }
    d
}

impl Diff {
    /// Exit code when only regressions count (`--fail-on-regression`): checks that now reach
    /// what `gate` counts and did not before.
    pub fn exit_code(&self, gate: Gate) -> u8 {
        self.newly_failing
            .iter()
            .chain(&self.changed)
            .filter(|c| c.before.is_none_or(|b| gate.code(b) == crate::exit::OK))
            .map(|c| gate.code(c.after))
            .max_by_key(|c| crate::exit::severity(*c))
            .unwrap_or(crate::exit::OK)
    }

    pub fn render_human(&self) -> String {
        let mut out = format!(
            "\nCompared with the baseline of {}:\n",
            self.baseline_started
        );
        if self.newly_failing.is_empty() && self.newly_passing.is_empty() && self.changed.is_empty()
        {
            out.push_str("  no change\n");
            return out;
        }
        for (title, list) in [
            ("newly failing", &self.newly_failing),
            ("newly passing", &self.newly_passing),
            ("changed", &self.changed),
        ] {
            if list.is_empty() {
                continue;
            }
            let _ = writeln!(out, "  {title}:");
            for c in list {
                let before = c.before.map(|s| s.as_str()).unwrap_or("absent");
                let _ = writeln!(
                    out,
                    "    {} ({before} -> {}): {}",
                    c.id, c.after, c.after_message
                );
                for f in &c.facts {
                    let _ = writeln!(out, "      {f}");
                }
                if let (Some(m), true) =
                    (&c.before_message, title == "changed" && c.facts.is_empty())
                {
                    let _ = writeln!(out, "      was: {m}");
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn volatile_keys_and_text_are_not_facts() {
        let a = json!({
            "port": 25,
            "waited_ms": 1.35,
            "queue_id": "5FB12C0268",
            "delivered": "/home/vmail/example.com/root/new/1796174221.Vfe00Ic0269M397156.vm",
            "sent": {"transcript": [
                "[    1.1 ms] -- connected to 127.0.1.1:25 from 127.0.0.1:40536",
                "[   12.8 ms] S: 250 2.0.0 Ok: queued as 5FB12C0268",
                "[    9.0 ms] C: <message: 445 bytes, 11 lines>"
            ]},
            "logins": [{"session": {"connect_ms": 13.692}}],
            "days_left": 824,
            "not_after": "2029-03-06T00:06:36Z"
        });
        let b = json!({
            "port": 25,
            "waited_ms": 42.46,
            "queue_id": "99B89C0177",
            "delivered": "/home/vmail/example.com/root/new/1796174218.Vfe00Ic0173M668958.vm",
            "sent": {"transcript": [
                "[    0.2 ms] -- connected to 127.0.1.1:25 from 127.0.0.1:40498",
                "[   41.5 ms] S: 250 2.0.0 Ok: queued as 99B89C0177",
                "[   28.9 ms] C: <message: 446 bytes, 11 lines>"
            ]},
            "logins": [{"session": {"connect_ms": 54.489}}],
            "days_left": 823,
            "not_after": "2029-03-06T00:06:36Z"
        });
        assert_eq!(normalise(&a), normalise(&b));
        let mut c = b.clone();
        c["not_after"] = json!("2030-01-01T00:00:00Z");
        c["port"] = json!(2525);
        let mut out = Vec::new();
        differences(&normalise(&a), &normalise(&c), "", &mut out);
        assert_eq!(
            out,
            [
                "not_after: \"2029-03-06T00:06:36Z\" -> \"2030-01-01T00:00:00Z\"",
                "port: 25 -> 2525"
            ]
        );
    }

    #[test]
    fn pids_in_prose_and_log_line_counts_are_not_facts() {
        // From the 12 -> 13 upgrade lab: the only differences of two checks that did not change.
        let a = json!({"lines": 90, "master": {"config_read_basis": "pickup (pid 499)"},
                       "reply": {"lines": ["4.7.0 a"]}});
        let b = json!({"lines": 87, "master": {"config_read_basis": "pickup (pid 10949)"},
                       "reply": {"lines": ["4.7.0 a"]}});
        assert_eq!(normalise(&a), normalise(&b));
        let mut c = b.clone();
        c["reply"]["lines"] = json!(["5.7.1 b"]);
        assert_ne!(normalise(&a), normalise(&c), "a reply's lines are facts");
    }

    #[test]
    fn log_lines_lose_their_time_pid_and_queue_id() {
        assert_eq!(
            mask("Dec  2 01:16:59 atlantis postfix/smtpd[4711]: 5FB12C0268: client=localhost"),
            mask("Dec 12 11:06:09 atlantis postfix/smtpd[815]: 99B89C0177: client=localhost")
        );
        assert_ne!(
            mask("postfix/smtpd[4711]: warning: SASL authentication failure"),
            mask("postfix/smtpd[4711]: warning: something else")
        );
    }
}
