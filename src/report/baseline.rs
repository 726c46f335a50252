//! Compares this run with an earlier JSON report (`--baseline last-good.json`): what newly
//! fails, what newly passes, and what changed while still passing (TLS version, expiry, SIZE).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::RunReport;
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
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Diff {
    /// `started` of the baseline report.
    pub baseline_started: String,
    pub newly_failing: Vec<Change>,
    pub newly_passing: Vec<Change>,
    pub changed: Vec<Change>,
}

/// The earlier report: `(started, id -> (status, message))`.
pub type Baseline = (String, BTreeMap<String, (Status, String)>);

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
        .map(|c| (c.id, (c.status, c.message)))
        .collect();
    Ok((old.started, checks))
}

fn bad(s: Status) -> bool {
    matches!(s, Status::Fail | Status::Error)
}

pub fn diff(baseline: &Baseline, report: &RunReport) -> Diff {
    let mut d = Diff {
        baseline_started: baseline.0.clone(),
        ..Diff::default()
    };
    for r in &report.results {
        let before = baseline.1.get(&r.id);
        let change = Change {
            id: r.id.clone(),
            before: before.map(|b| b.0),
            after: r.verdict.status,
            before_message: before.map(|b| b.1.clone()),
            after_message: r.verdict.message.clone(),
        };
        let was_bad = before.is_some_and(|b| bad(b.0));
        if bad(r.verdict.status) && !was_bad {
            d.newly_failing.push(change);
        } else if r.verdict.status == Status::Pass && was_bad {
            d.newly_passing.push(change);
        } else if r.verdict.status == Status::Pass
            && before.is_some_and(|b| b.0 == Status::Pass && b.1 != r.verdict.message)
        {
            d.changed.push(change);
        }
    }
    d
}

impl Diff {
    /// Exit code when only regressions count (`--fail-on-regression`).
    pub fn exit_code(&self) -> u8 {
        if self.newly_failing.iter().any(|c| c.after == Status::Fail) {
            crate::exit::FAILED
        } else if self.newly_failing.is_empty() {
            crate::exit::OK
        } else {
            crate::exit::INCOMPLETE
        }
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
            ("changed, still passing", &self.changed),
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
                if let (Some(m), true) = (&c.before_message, title.starts_with("changed")) {
                    let _ = writeln!(out, "      was: {m}");
                }
            }
        }
        out
    }
}
