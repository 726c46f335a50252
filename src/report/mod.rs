//! The run's report and its renderers. Only this module and main.rs write output.

pub mod baseline;
pub mod html;
pub mod human;
pub mod json;
pub mod junit;
pub mod markdown;
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

    /// The documented exit code for these counts (the default `--fail-on error`).
    pub fn exit_code(&self) -> u8 {
        self.gated(Gate::default())
    }

    /// The exit code for these counts under `--fail-on gate`: 1 if a check failed, else 3 if
    /// one could not be decided (unless `fail`), else 5 if one warned (only `warn`), else 0.
    pub fn gated(&self, gate: Gate) -> u8 {
        let counted = [
            (self.fail, Status::Fail),
            (self.error, Status::Error),
            (self.warn, Status::Warn),
        ];
        counted
            .into_iter()
            .filter(|(n, _)| *n > 0)
            .map(|(_, s)| gate.code(s))
            .find(|c| *c != crate::exit::OK)
            .unwrap_or(crate::exit::OK)
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

/// Which statuses make the exit status non-zero (`--fail-on`). Nagios keeps its own mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Gate {
    /// Only failures: exit 1.
    Fail,
    /// Failures (exit 1) and checks that could not be decided (exit 3): the default.
    #[default]
    Error,
    /// Also warnings: exit 5 when nothing failed or errored but a check warned.
    Warn,
}

impl Gate {
    /// The exit code a check of `status` asks for under this gate (`OK` when it does not gate).
    pub fn code(self, status: Status) -> u8 {
        match (self, status) {
            (_, Status::Fail) => crate::exit::FAILED,
            (Gate::Error | Gate::Warn, Status::Error) => crate::exit::INCOMPLETE,
            (Gate::Warn, Status::Warn) => crate::exit::WARNED,
            _ => crate::exit::OK,
        }
    }
}

/// One section of the tutorial's requirements (shared/requirements.md), in the tutorial's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    pub title: &'static str,
    /// `T` for the tutorial's requirements, `H` for hardening.
    pub series: char,
    pub first: u32,
    pub last: u32,
}

/// The sections of shared/requirements.md, T1..T38 then H1..H7.
pub const SECTIONS: &[Section] = &[
    Section {
        title: "Base Postfix",
        series: 'T',
        first: 1,
        last: 7,
    },
    Section {
        title: "Virtual mail user",
        series: 'T',
        first: 8,
        last: 9,
    },
    Section {
        title: "MySQL and Postfix Admin",
        series: 'T',
        first: 10,
        last: 17,
    },
    Section {
        title: "Delivery",
        series: 'T',
        first: 18,
        last: 18,
    },
    Section {
        title: "saslauthd and PAM",
        series: 'T',
        first: 19,
        last: 25,
    },
    Section {
        title: "SMTP AUTH and TLS",
        series: 'T',
        first: 26,
        last: 31,
    },
    Section {
        title: "Submission port",
        series: 'T',
        first: 32,
        last: 33,
    },
    Section {
        title: "Policy",
        series: 'T',
        first: 34,
        last: 35,
    },
    Section {
        title: "Operations",
        series: 'T',
        first: 36,
        last: 38,
    },
    Section {
        title: "Hardening (beyond the tutorial)",
        series: 'H',
        first: 1,
        last: 7,
    },
];

/// Where a requirement sorts: (section index, number); unknown ones after every section.
pub fn requirement_key(requirement: &str) -> (usize, u32) {
    let mut chars = requirement.chars();
    let series = chars.next().unwrap_or(' ');
    let n = chars.as_str().parse::<u32>().unwrap_or(u32::MAX);
    let section = SECTIONS
        .iter()
        .position(|s| s.series == series && (s.first..=s.last).contains(&n))
        .unwrap_or(SECTIONS.len());
    (section, n)
}

/// The section title of a requirement ("Other" for one outside shared/requirements.md).
pub fn section_title(requirement: &str) -> &'static str {
    SECTIONS
        .get(requirement_key(requirement).0)
        .map_or("Other", |s| s.title)
}

/// "T1–T7" for a section's title ("" for an unknown one).
pub fn section_range(title: &str) -> String {
    SECTIONS
        .iter()
        .find(|s| s.title == title)
        .map(|s| {
            if s.first == s.last {
                format!("{}{}", s.series, s.first)
            } else {
                format!("{}{}-{}{}", s.series, s.first, s.series, s.last)
            }
        })
        .unwrap_or_default()
}

/// `results` in the tutorial's order (T1..T38, H1..H7, then by id), grouped by section.
pub fn by_section<'a>(
    results: impl IntoIterator<Item = &'a CheckResult>,
) -> Vec<(&'static str, Vec<&'a CheckResult>)> {
    let mut sorted: Vec<&CheckResult> = results.into_iter().collect();
    sorted.sort_by(|a, b| {
        requirement_key(&a.requirement)
            .cmp(&requirement_key(&b.requirement))
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut out: Vec<(&'static str, Vec<&CheckResult>)> = Vec::new();
    for r in sorted {
        let title = section_title(&r.requirement);
        match out.last_mut() {
            Some((t, list)) if *t == title => list.push(r),
            _ => out.push((title, vec![r])),
        }
    }
    out
}

/// A check's own finding, without what the runner or the judge appended about its causes
/// (`; caused by ID: ...`, `; the server logged: ...`): renderers show the causes from the
/// typed `caused_by` and `blocked_by`, once. A skip blocked by a dependency says only which.
pub fn own_message(r: &CheckResult) -> String {
    if let Some(b) = &r.blocked_by
        && r.verdict.message == b.describe()
    {
        return format!("blocked by {}", b.check);
    }
    let mut m = r.verdict.message.as_str();
    for c in r.verdict.caused_by.iter().rev() {
        if let Some(rest) = m.strip_suffix(&format!("; {}", c.describe())) {
            m = rest;
        }
    }
    m.to_string()
}

/// What explains a result: a check of the run, or a line of the server's log.
#[derive(Debug, Clone, Copy)]
pub enum CauseRef<'a> {
    Check(&'a CheckResult),
    Log(&'a str),
}

/// The same check of the report (by identity), or the same log line.
impl PartialEq for CauseRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (CauseRef::Check(a), CauseRef::Check(b)) => std::ptr::eq(*a, *b),
            (CauseRef::Log(a), CauseRef::Log(b)) => a == b,
            _ => false,
        }
    }
}

/// How an effect hangs on its cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The effect failed because of it (`caused_by`).
    CausedBy,
    /// The effect did not run because it did not pass (`blocked_by`).
    BlockedBy,
}

/// A result under the cause that explains it, with what it explains in turn.
#[derive(Debug, Clone)]
pub struct Effect<'a> {
    pub result: &'a CheckResult,
    pub link: Link,
    pub effects: Vec<Effect<'a>>,
}

/// A root cause and everything it explains, as a tree.
#[derive(Debug, Clone)]
pub struct Chain<'a> {
    pub cause: CauseRef<'a>,
    pub effects: Vec<Effect<'a>>,
}

/// The direct causes of `r`, from its typed links: checks it was caused by, then the check
/// that blocked it, then log lines.
pub fn direct_causes<'a>(report: &'a RunReport, r: &'a CheckResult) -> Vec<(CauseRef<'a>, Link)> {
    let find = |id: &str| report.results.iter().find(|x| x.id == id);
    let mut out = Vec::new();
    for c in &r.verdict.caused_by {
        if let crate::verdict::Cause::Check { check, .. } = c
            && let Some(x) = find(check)
        {
            out.push((CauseRef::Check(x), Link::CausedBy));
        }
    }
    if let Some(b) = &r.blocked_by
        && let Some(x) = find(&b.check)
    {
        out.push((CauseRef::Check(x), Link::BlockedBy));
    }
    for c in &r.verdict.caused_by {
        if let crate::verdict::Cause::Log { line } = c {
            out.push((CauseRef::Log(line), Link::CausedBy));
        }
    }
    out
}

/// From the root cause down to `r` (first cause at each step; `r` last); just `[r]` when
/// nothing explains it.
pub fn chain_to<'a>(report: &'a RunReport, r: &'a CheckResult) -> Vec<CauseRef<'a>> {
    let mut path = vec![CauseRef::Check(r)];
    let mut at = r;
    while let Some((cause, _)) = direct_causes(report, at).into_iter().next() {
        if path.contains(&cause) {
            break;
        }
        path.push(cause);
        match cause {
            CauseRef::Check(c) => at = c,
            CauseRef::Log(_) => break,
        }
    }
    path.reverse();
    path
}

/// Every root cause of the run with the tree of results it explains (through `caused_by` and
/// `blocked_by`), roots and effects in the tutorial's order, log lines after checks.
pub fn cause_chains(report: &RunReport) -> Vec<Chain<'_>> {
    // cause id (or log line) -> [(effect index, link)]
    let mut by_check: std::collections::BTreeMap<&str, Vec<(usize, Link)>> = Default::default();
    let mut by_log: Vec<(&str, Vec<usize>)> = Vec::new();
    let mut is_effect = vec![false; report.results.len()];
    for (i, r) in report.results.iter().enumerate() {
        for (cause, link) in direct_causes(report, r) {
            is_effect[i] = true;
            match cause {
                CauseRef::Check(c) => by_check.entry(c.id.as_str()).or_default().push((i, link)),
                CauseRef::Log(line) => match by_log.iter_mut().find(|(l, _)| *l == line) {
                    Some((_, v)) => v.push(i),
                    None => by_log.push((line, vec![i])),
                },
            }
        }
    }
    fn tree<'a>(
        report: &'a RunReport,
        by_check: &std::collections::BTreeMap<&str, Vec<(usize, Link)>>,
        edges: &[(usize, Link)],
        path: &mut Vec<usize>,
    ) -> Vec<Effect<'a>> {
        let mut out: Vec<Effect<'a>> = Vec::new();
        for &(i, link) in edges {
            if path.contains(&i)
                || out
                    .iter()
                    .any(|e| std::ptr::eq(e.result, &report.results[i]))
            {
                continue;
            }
            let r = &report.results[i];
            path.push(i);
            let effects = by_check
                .get(r.id.as_str())
                .map(|e| tree(report, by_check, e, path))
                .unwrap_or_default();
            path.pop();
            out.push(Effect {
                result: r,
                link,
                effects,
            });
        }
        out.sort_by(|a, b| order(a.result, b.result));
        out
    }
    let mut chains: Vec<Chain<'_>> = Vec::new();
    let mut roots: Vec<usize> = (0..report.results.len())
        .filter(|&i| by_check.contains_key(report.results[i].id.as_str()) && !is_effect[i])
        .collect();
    // A cycle of causes has no root: each cause that no root reaches starts a chain of its own.
    let mut reached = vec![false; report.results.len()];
    let mut stack: Vec<usize> = roots.clone();
    stack.extend(by_log.iter().flat_map(|(_, v)| v.iter().copied()));
    loop {
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut reached[i], true) {
                continue;
            }
            if let Some(e) = by_check.get(report.results[i].id.as_str()) {
                stack.extend(e.iter().map(|(j, _)| *j));
            }
        }
        match (0..report.results.len())
            .find(|&i| !reached[i] && by_check.contains_key(report.results[i].id.as_str()))
        {
            Some(i) => {
                roots.push(i);
                stack.push(i);
            }
            None => break,
        }
    }
    let mut roots: Vec<(usize, &CheckResult)> =
        roots.into_iter().map(|i| (i, &report.results[i])).collect();
    // A root that did not itself go wrong (a check skipped for want of an account) is no cause
    // to fix.
    roots.retain(|(_, r)| !matches!(r.verdict.status, Status::Pass | Status::Skip));
    roots.sort_by(|a, b| order(a.1, b.1));
    for (i, r) in roots {
        let mut path = vec![i];
        chains.push(Chain {
            cause: CauseRef::Check(r),
            effects: tree(report, &by_check, &by_check[r.id.as_str()], &mut path),
        });
    }
    for (line, effects) in by_log {
        let edges: Vec<(usize, Link)> = effects.into_iter().map(|i| (i, Link::CausedBy)).collect();
        chains.push(Chain {
            cause: CauseRef::Log(line),
            effects: tree(report, &by_check, &edges, &mut Vec::new()),
        });
    }
    chains
}

/// The tutorial's order of two results: requirement, then id.
pub fn order(a: &CheckResult, b: &CheckResult) -> std::cmp::Ordering {
    requirement_key(&a.requirement)
        .cmp(&requirement_key(&b.requirement))
        .then_with(|| a.id.cmp(&b.id))
}

/// Where the run's checks ran: each distinct vantage with how many checks ran from it, most
/// first ("on the server (38 checks)"), ties in report order.
pub fn vantages(report: &RunReport) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for v in report.results.iter().filter_map(|r| r.vantage.as_ref()) {
        let d = v.describe();
        match out.iter_mut().find(|(x, _)| *x == d) {
            Some((_, n)) => *n += 1,
            None => out.push((d, 1)),
        }
    }
    // Most checks first; a tie in the order met.
    out.sort_by_key(|v| std::cmp::Reverse(v.1));
    out
}

/// "on the server (38 checks), from 198.18.1.2 (11 checks)", or why it is not known.
pub fn vantage_line(report: &RunReport) -> String {
    let v = vantages(report);
    if v.is_empty() {
        return "not recorded".to_string();
    }
    v.iter()
        .map(|(d, n)| format!("{d} ({n} check{})", if *n == 1 { "" } else { "s" }))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "Postfix 3.7.11, OpenSSL 3.0.17", or `None` when the run did not learn any.
pub fn versions_line(report: &RunReport) -> Option<String> {
    if report.versions.is_empty() {
        return None;
    }
    Some(
        report
            .versions
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// "ID (status): message" for a check, "the server logged: LINE" for a log line.
pub fn describe_cause(c: CauseRef<'_>) -> String {
    match c {
        CauseRef::Check(r) => format!("{} ({}): {}", r.id, r.verdict.status, own_message(r)),
        CauseRef::Log(line) => format!("the server logged: {line}"),
    }
}

/// What explains `r`, root cause first, each described (empty when nothing does).
pub fn causes_of(report: &RunReport, r: &CheckResult) -> Vec<String> {
    let chain = chain_to(report, r);
    chain[..chain.len().saturating_sub(1)]
        .iter()
        .map(|c| describe_cause(*c))
        .collect()
}
