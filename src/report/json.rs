//! JSON report, schema version 2 (reports/schema-v2.json; each check's evidence per kind in
//! reports/schemas/). These wire types are frozen: a breaking change bumps `schema_version`.

use serde::Serialize;

use super::{RunReport, Summary, millis};
use crate::verdict::Status;

pub const SCHEMA_VERSION: u32 = 2;

#[derive(Serialize)]
struct Report<'a> {
    schema_version: u32,
    tool: Tool,
    target: Target<'a>,
    started: String,
    duration_ms: u64,
    summary: Summary,
    checks: Vec<CheckEntry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline: Option<&'a super::baseline::Diff>,
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct Target<'a> {
    host: &'a str,
    account: Option<&'a str>,
    /// What the server runs (Postfix, OpenSSL, MariaDB, ...), when mailcheck could tell.
    versions: &'a std::collections::BTreeMap<String, String>,
}

#[derive(Serialize)]
struct CheckEntry<'a> {
    id: &'a str,
    requirement: &'a str,
    title: &'a str,
    status: Status,
    message: &'a str,
    evidence: &'a serde_json::Value,
    observed: bool,
    blocked_by: Option<&'a crate::runner::BlockedBy>,
    caused_by: &'a [crate::verdict::Cause],
    vantage: Option<&'a crate::runner::Vantage>,
    fix: Option<&'a str>,
    duration_ms: u64,
}

/// The report as one JSON document (pretty-printed, newline-terminated).
pub fn render(report: &RunReport, baseline: Option<&super::baseline::Diff>) -> String {
    let mut s = serde_json::to_string_pretty(&document(report, baseline)).unwrap_or_else(|e| {
        format!(
            "{{\"schema_version\":{SCHEMA_VERSION},\"error\":\"cannot serialise report: {e}\"}}"
        )
    });
    s.push('\n');
    s
}

/// The report as one line of JSON Lines (a fleet run prints one per server).
pub fn render_line(report: &RunReport) -> String {
    let mut s = serde_json::to_string(&document(report, None)).unwrap_or_else(|e| {
        format!(
            "{{\"schema_version\":{SCHEMA_VERSION},\"error\":\"cannot serialise report: {e}\"}}"
        )
    });
    s.push('\n');
    s
}

fn document<'a>(report: &'a RunReport, baseline: Option<&'a super::baseline::Diff>) -> Report<'a> {
    Report {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: "mailcheck",
            version: env!("CARGO_PKG_VERSION"),
        },
        target: Target {
            host: &report.host,
            account: report.account.as_deref(),
            versions: &report.versions,
        },
        started: crate::clock::rfc3339(report.started),
        duration_ms: millis(report.duration),
        summary: report.summary(),
        checks: report
            .results
            .iter()
            .map(|r| CheckEntry {
                id: &r.id,
                requirement: &r.requirement,
                title: &r.title,
                status: r.verdict.status,
                message: &r.verdict.message,
                evidence: &r.evidence,
                observed: r.observed,
                blocked_by: r.blocked_by.as_ref(),
                caused_by: &r.verdict.caused_by,
                vantage: r.vantage.as_ref(),
                fix: r.fix.as_deref(),
                duration_ms: millis(r.duration),
            })
            .collect(),
        baseline,
    }
}
