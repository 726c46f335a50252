//! What a judge decides about one check: a status, a one-line message and the evidence.

use serde::{Deserialize, Serialize};

/// The five outcomes. `Fail` means the server breaks the requirement; `Error` means mailcheck
/// could not tell; `Skip` says why the check did not run.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Skip,
    Error,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::Skip => "skip",
            Status::Error => "error",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What explains a live failure: a host check that found the fault, or a line of the server's
/// own log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "source", rename_all = "kebab-case")]
pub enum Cause {
    /// Another check of this run (its TOML lists this check under `explains`).
    Check {
        check: String,
        status: Status,
        message: String,
    },
    /// What the server logged (Postfix's log, saslauthd's).
    Log { line: String },
}

impl Cause {
    /// "caused by ID: message" (a warning: "perhaps caused by ID (a warning): message") /
    /// "the server logged: line".
    pub fn describe(&self) -> String {
        match self {
            Cause::Check {
                check,
                status: Status::Warn,
                message,
            } => format!("perhaps caused by {check} (a warning): {message}"),
            Cause::Check { check, message, .. } => format!("caused by {check}: {message}"),
            Cause::Log { line } => format!("the server logged: {line}"),
        }
    }
}

/// A judge's decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub status: Status,
    /// One line naming what was found: the file, parameter, value, port or reply.
    pub message: String,
    /// A fix specific to what was found; the check's `[doc] fix` is used when absent.
    pub fix: Option<String>,
    /// Numbers worth graphing (Prometheus), e.g. `certificate_days_left`.
    pub metrics: Vec<(String, f64)>,
    /// What explains this (live) failure, cause first.
    pub caused_by: Vec<Cause>,
}

impl Verdict {
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Verdict {
            status,
            message: message.into(),
            fix: None,
            metrics: Vec::new(),
            caused_by: Vec::new(),
        }
    }
    pub fn pass(message: impl Into<String>) -> Self {
        Self::new(Status::Pass, message)
    }
    pub fn fail(message: impl Into<String>) -> Self {
        Self::new(Status::Fail, message)
    }
    pub fn warn(message: impl Into<String>) -> Self {
        Self::new(Status::Warn, message)
    }
    pub fn skip(message: impl Into<String>) -> Self {
        Self::new(Status::Skip, message)
    }
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Status::Error, message)
    }
    pub fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
    /// A log line that explains this failure; the message says so.
    pub fn with_log_cause(mut self, line: impl Into<String>) -> Self {
        let line = line.into();
        self.message = format!("{}; the server logged: {line}", self.message);
        self.caused_by.push(Cause::Log { line });
        self
    }
    pub fn with_metric(mut self, name: &str, value: f64) -> Self {
        self.metrics.push((name.to_string(), value));
        self
    }
}

/// Folds several findings of one check into one verdict: the worst status wins, and the
/// message lists the findings of that status.
pub fn worst_of(findings: Vec<Verdict>, pass_message: &str) -> Verdict {
    let Some(worst) = findings.iter().map(|v| v.status).max() else {
        return Verdict::pass(pass_message);
    };
    if worst == Status::Pass {
        return Verdict::pass(pass_message);
    }
    let mut msgs = Vec::new();
    let mut fix = None;
    for v in findings.iter().filter(|v| v.status == worst) {
        msgs.push(v.message.clone());
        if fix.is_none() {
            fix.clone_from(&v.fix);
        }
    }
    Verdict {
        status: worst,
        message: msgs.join("; "),
        fix,
        metrics: Vec::new(),
        caused_by: Vec::new(),
    }
}
