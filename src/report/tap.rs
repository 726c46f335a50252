//! TAP version 14: `ok N - id: message`, `not ok` for fail and error, `# SKIP reason`; a YAML
//! block under each failure, error and warning with the requirement, the fix, the causes (root
//! first) and where the check ran from.

use std::fmt::Write as _;

use super::RunReport;
use crate::verdict::Status;

/// TAP descriptions may not contain `#` (it starts a directive) or line breaks.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('#', "\\#")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// YAML block scalar line: quoted, so any text is safe.
fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

pub fn render(report: &RunReport) -> String {
    let mut out = String::from("TAP version 14\n");
    let _ = writeln!(out, "1..{}", report.results.len());
    for (i, r) in report.results.iter().enumerate() {
        let n = i + 1;
        let msg = escape(&super::own_message(r));
        match r.verdict.status {
            Status::Pass => {
                let _ = writeln!(out, "ok {n} - {}: {msg}", r.id);
                continue;
            }
            Status::Warn => {
                let _ = writeln!(out, "ok {n} - {}: warning: {msg}", r.id);
            }
            Status::Skip => {
                let _ = writeln!(out, "ok {n} - {} # SKIP {msg}", r.id);
                continue;
            }
            Status::Fail | Status::Error => {
                let _ = writeln!(out, "not ok {n} - {}: {msg}", r.id);
            }
        }
        let _ = writeln!(out, "  ---");
        let _ = writeln!(out, "  status: {}", r.verdict.status);
        let _ = writeln!(out, "  requirement: {}", r.requirement);
        let _ = writeln!(out, "  message: {}", yaml_str(&r.verdict.message));
        if let Some(fix) = &r.fix {
            let _ = writeln!(out, "  fix: {}", yaml_str(fix));
        }
        let causes = super::causes_of(report, r);
        if !causes.is_empty() {
            let _ = writeln!(out, "  caused_by:");
            for c in causes {
                let _ = writeln!(out, "    - {}", yaml_str(&c));
            }
        }
        if let Some(v) = &r.vantage {
            let _ = writeln!(out, "  vantage: {}", yaml_str(&v.describe()));
        }
        let _ = writeln!(out, "  ...");
    }
    out
}
