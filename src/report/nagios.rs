//! Nagios plugin output (Monitoring Plugins guidelines): one status line with perfdata, then the
//! checks that did not pass; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

use std::fmt::Write as _;

use super::RunReport;
use crate::verdict::Status;

pub const OK: u8 = 0;
pub const WARNING: u8 = 1;
pub const CRITICAL: u8 = 2;
pub const UNKNOWN: u8 = 3;

/// The plugin exit code: a failed check is CRITICAL, an undecided one UNKNOWN, a warning WARNING.
pub fn exit_code(report: &RunReport) -> u8 {
    let s = report.summary();
    if s.fail > 0 {
        CRITICAL
    } else if s.error > 0 {
        UNKNOWN
    } else if s.warn > 0 {
        WARNING
    } else {
        OK
    }
}

fn one_line(s: &str) -> String {
    // `|` separates perfdata; keep it out of text.
    s.chars()
        .map(|c| if c.is_control() || c == '|' { ' ' } else { c })
        .collect()
}

pub fn render(report: &RunReport) -> String {
    let s = report.summary();
    let state = match exit_code(report) {
        OK => "OK",
        WARNING => "WARNING",
        CRITICAL => "CRITICAL",
        _ => "UNKNOWN",
    };
    let mut out = String::new();
    let _ = write!(out, "MAILCHECK {state} - ");
    let mut parts = Vec::new();
    if s.fail > 0 {
        parts.push(format!("{} failed", s.fail));
    }
    if s.error > 0 {
        parts.push(format!("{} undecided", s.error));
    }
    if s.warn > 0 {
        parts.push(format!(
            "{} warning{}",
            s.warn,
            if s.warn == 1 { "" } else { "s" }
        ));
    }
    if parts.is_empty() {
        parts.push(format!(
            "{} checks passed on {}",
            s.pass,
            one_line(&report.host)
        ));
    }
    let _ = writeln!(
        out,
        "{} | failed={};;; warned={};;; errors={};;; passed={};;; skipped={};;; duration={:.3}s",
        parts.join(", "),
        s.fail,
        s.warn,
        s.error,
        s.pass,
        s.skip,
        report.duration.as_secs_f64()
    );
    for status in [Status::Fail, Status::Error, Status::Warn] {
        for r in report.results.iter().filter(|r| r.verdict.status == status) {
            let _ = writeln!(
                out,
                "{}: {} ({}) {}",
                status.as_str().to_uppercase(),
                r.id,
                r.requirement,
                one_line(&r.verdict.message)
            );
        }
    }
    out
}
