//! The terminal report: one line per check grouped by the tutorial's sections, the causes with
//! what they explain indented under them, the fixes, and the counts on the last line.

use std::fmt::Write as _;

use super::{RunReport, Summary};
use crate::verdict::Status;

/// Whether to colour: only on a terminal, and never when NO_COLOR is set.
pub fn use_colour(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn paint(s: &str, status: Status, colour: bool) -> String {
    if !colour {
        return s.to_string();
    }
    let code = match status {
        Status::Pass => "32",
        Status::Fail => "1;31",
        Status::Warn => "33",
        Status::Skip => "2",
        Status::Error => "35",
    };
    format!("\x1b[{code}m{s}\x1b[0m")
}

/// Keeps server-controlled text from moving the cursor or changing colours.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The one-line counts: "38 passed, 5 failed, 2 warnings, 2 skipped, 2 errors".
pub fn counts(s: &super::Summary) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!(
        "{} passed, {} failed, {}, {} skipped, {}",
        s.pass,
        s.fail,
        plural(s.warn, "warning"),
        s.skip,
        plural(s.error, "error")
    )
}

/// The run's header: tool, host, account, where it ran from, what the server runs.
fn header(report: &RunReport) -> String {
    let account = report
        .account
        .as_deref()
        .map(|a| format!(", account {a}"))
        .unwrap_or_default();
    let mut out = format!(
        "mailcheck {} on {}{account}\nran {}",
        env!("CARGO_PKG_VERSION"),
        clean(&report.host),
        super::vantage_line(report)
    );
    if let Some(v) = super::versions_line(report) {
        let _ = write!(out, "; the server runs {}", clean(&v));
    }
    out.push('\n');
    out
}

pub fn render(report: &RunReport, colour: bool) -> String {
    let mut out = header(report);
    let width = report
        .results
        .iter()
        .map(|r| r.id.len())
        .max()
        .unwrap_or(10);
    let tag = |status: Status| {
        paint(
            &format!("{:<5}", status.as_str().to_uppercase()),
            status,
            colour,
        )
    };
    for (section, results) in super::by_section(&report.results) {
        let _ = writeln!(out, "\n{section} ({})", super::section_range(section));
        for r in results {
            // The cause itself is told once, in the Causes block; here only a pointer to it.
            let pointer = match super::direct_causes(report, r).first() {
                Some((super::CauseRef::Check(c), super::Link::CausedBy)) => {
                    format!(" (cause: {})", c.id)
                }
                Some((super::CauseRef::Log(_), _)) => " (cause: the server's log)".to_string(),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "  {} {:<width$} {:<4} {}{pointer}",
                tag(r.verdict.status),
                r.id,
                r.requirement,
                clean(&super::own_message(r))
            );
        }
    }
    let chains = super::cause_chains(report);
    let mut shown_fix: Vec<&str> = Vec::new();
    if !chains.is_empty() {
        let _ = writeln!(out, "\nCauses (fix these first):");
        for chain in &chains {
            match chain.cause {
                super::CauseRef::Check(c) => {
                    let _ = writeln!(
                        out,
                        "  {} {} ({}): {}",
                        tag(c.verdict.status),
                        c.id,
                        c.requirement,
                        clean(&super::own_message(c))
                    );
                    if let Some(f) = &c.fix {
                        let _ = writeln!(out, "        fix: {}", clean(f));
                        shown_fix.push(&c.id);
                    }
                }
                super::CauseRef::Log(line) => {
                    let _ = writeln!(out, "  LOG   the server logged: {}", clean(line));
                }
            }
            effects(&mut out, &chain.effects, 1, &tag);
        }
    }
    let fixes: Vec<_> = super::by_section(report.results.iter().filter(|r| {
        matches!(
            r.verdict.status,
            Status::Fail | Status::Warn | Status::Error
        ) && !shown_fix.contains(&r.id.as_str())
    }))
    .into_iter()
    .flat_map(|(_, list)| list)
    .filter_map(|r| r.fix.as_ref().map(|f| (r, f)))
    .collect();
    if !fixes.is_empty() {
        let _ = writeln!(out, "\nHow to fix:");
        for (r, f) in &fixes {
            let _ = writeln!(out, "  {} ({}): {}", r.id, r.verdict.status, clean(f));
        }
    }
    if !chains.is_empty() || !fixes.is_empty() {
        let _ = writeln!(
            out,
            "\n`mailcheck explain ID` tells why each requirement matters."
        );
    }
    let _ = writeln!(
        out,
        "\n{} in {:.2} s",
        counts(&report.summary()),
        report.duration.as_secs_f64()
    );
    out
}

/// The effects of a cause, each indented under what explains it.
fn effects(
    out: &mut String,
    list: &[super::Effect<'_>],
    depth: usize,
    tag: &dyn Fn(Status) -> String,
) {
    for e in list {
        let r = e.result;
        let what = match e.link {
            super::Link::CausedBy => format!(": {}", clean(&super::own_message(r))),
            super::Link::BlockedBy => " did not run".to_string(),
        };
        let _ = writeln!(
            out,
            "{}-> {} {} ({}){what}",
            "   ".repeat(depth + 1),
            tag(r.verdict.status),
            r.id,
            r.requirement,
        );
        effects(out, &e.effects, depth + 1, tag);
    }
}

/// The progress line on a terminal: how many checks are done of how many, and the latest
/// event, cut to `width` columns so that `\r` can overwrite it (a wrapped line cannot be).
pub fn progress_line(done: usize, total: usize, event: &str, width: usize) -> String {
    let line = format!("[{done}/{total}] {}", clean(event));
    let width = width.max(10);
    if line.chars().count() < width {
        return line;
    }
    let mut cut: String = line.chars().take(width - 2).collect();
    cut.push('…');
    cut
}

/// `--timings`: each check's duration, slowest first, and the run's total.
pub fn timings(report: &RunReport) -> String {
    let mut rows: Vec<_> = report.results.iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.duration));
    let width = rows.iter().map(|r| r.id.len()).max().unwrap_or(10);
    let mut out = String::from(
        "\ntimings in ms, slowest first (checks run concurrently, so they overlap):\n     took  started  check\n",
    );
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    for r in rows {
        let _ = writeln!(
            out,
            "  {:>7.2}  {:>7.2}  {:<width$}  {}",
            ms(r.duration),
            ms(r.started_at),
            r.id,
            r.verdict.status
        );
    }
    let _ = writeln!(out, "  {:>7.2}           whole run", ms(report.duration));
    out
}

/// What the fleet table keeps of one server's report: its host, counts and first problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetRow {
    pub host: String,
    pub summary: Summary,
    /// The first failing check (else the first undecided one), with its message.
    pub first: String,
}

impl FleetRow {
    pub fn of(r: &RunReport) -> FleetRow {
        let first = r
            .results
            .iter()
            .find(|c| c.verdict.status == Status::Fail)
            .or_else(|| r.results.iter().find(|c| c.verdict.status == Status::Error))
            .map(|c| format!("{}: {}", c.id, clean(&c.verdict.message)))
            .unwrap_or_default();
        FleetRow {
            host: r.host.clone(),
            summary: r.summary(),
            first,
        }
    }
}

/// Several servers: one line each with the counts and the first failing check.
pub fn fleet_table(rows: &[FleetRow]) -> String {
    let width = rows.iter().map(|r| r.host.len()).max().unwrap_or(4).max(4);
    let mut out = format!(
        "{:<width$}  {:>4} {:>4} {:>4} {:>4} {:>5}  first problem\n",
        "host", "pass", "fail", "warn", "skip", "error"
    );
    for r in rows {
        let s = r.summary;
        let _ = writeln!(
            out,
            "{:<width$}  {:>4} {:>4} {:>4} {:>4} {:>5}  {}",
            clean(&r.host),
            s.pass,
            s.fail,
            s.warn,
            s.skip,
            s.error,
            r.first
        );
    }
    let failed = rows.iter().filter(|r| r.summary.fail > 0).count();
    let undecided = rows
        .iter()
        .filter(|r| r.summary.fail == 0 && r.summary.error > 0)
        .count();
    let _ = writeln!(
        out,
        "\n{} servers: {failed} with failures, {undecided} more with checks that could not be decided",
        rows.len()
    );
    out
}
