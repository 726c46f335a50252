//! The run's report and its renderers. Only this module and main.rs write output.

pub mod baseline;
pub mod html;
pub mod human;
pub mod json;
pub mod junit;
pub mod nagios;
pub mod prometheus;
pub mod record;
pub mod tap;

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::runner::CheckResult;
use crate::secret::Redactor;
use crate::verdict::Status;

/// Counts per status.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub pass: usize,
    pub fail: usize,
    pub warn: usize,
    pub skip: usize,
    pub error: usize,
}

impl Summary {
    pub fn of(results: &[CheckResult]) -> Summary {
        let mut s = Summary::default();
        for r in results {
            match r.verdict.status {
                Status::Pass => s.pass += 1,
                Status::Fail => s.fail += 1,
                Status::Warn => s.warn += 1,
                Status::Skip => s.skip += 1,
                Status::Error => s.error += 1,
            }
        }
        s
    }

    /// The documented exit code for these counts.
    pub fn exit_code(&self) -> u8 {
        if self.fail > 0 {
            crate::exit::FAILED
        } else if self.error > 0 {
            crate::exit::INCOMPLETE
        } else {
            crate::exit::OK
        }
    }
}

/// Everything a renderer needs about one run.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub host: String,
    pub account: Option<String>,
    pub started: SystemTime,
    pub duration: Duration,
    /// What the run could do (on the server, account, password, test mail).
    pub abilities: crate::runner::Abilities,
    /// Versions of what the server runs (Postfix, OpenSSL, MariaDB, ...), by name.
    pub versions: std::collections::BTreeMap<String, String>,
    pub results: Vec<CheckResult>,
}

impl RunReport {
    pub fn summary(&self) -> Summary {
        Summary::of(&self.results)
    }

    /// Replaces every secret in messages, evidence and fixes. Called once, before any renderer.
    pub fn redact(&mut self, redactor: &Redactor) {
        for r in &mut self.results {
            r.verdict.message = redactor.redact(&r.verdict.message);
            redactor.redact_json(&mut r.evidence);
            if let Some(f) = &mut r.fix {
                *f = redactor.redact(f);
            }
            if let Some(f) = &mut r.verdict.fix {
                *f = redactor.redact(f);
            }
            for c in &mut r.verdict.caused_by {
                match c {
                    crate::verdict::Cause::Check { message, .. } => {
                        *message = redactor.redact(message)
                    }
                    crate::verdict::Cause::Log { line } => *line = redactor.redact(line),
                }
            }
        }
    }
}

/// Milliseconds, for reports.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
