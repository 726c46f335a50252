//! The terminal report: one line per check grouped by family, a summary, then the fixes.

use std::fmt::Write as _;

use super::RunReport;
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

pub fn render(report: &RunReport, colour: bool) -> String {
    let mut out = String::new();
    let account = report
        .account
        .as_deref()
        .map(|a| format!(", account {a}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "mailcheck {} on {}{account}",
        env!("CARGO_PKG_VERSION"),
        report.host
    );
    let width = report
        .results
        .iter()
        .map(|r| r.id.len())
        .max()
        .unwrap_or(10);
    let mut family = "";
    for r in &report.results {
        if r.family != family {
            family = &r.family;
            let _ = writeln!(out, "\n{family}");
        }
        let tag = paint(
            &format!("{:<5}", r.verdict.status.as_str().to_uppercase()),
            r.verdict.status,
            colour,
        );
        let _ = writeln!(
            out,
            "  {tag} {:<width$} {:<4} {}",
            r.id,
            r.requirement,
            clean(&r.verdict.message)
        );
    }
    let s = report.summary();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let _ = writeln!(
        out,
        "\n{} passed, {} failed, {}, {} skipped, {} in {:.2} s",
        s.pass,
        s.fail,
        plural(s.warn, "warning"),
        s.skip,
        plural(s.error, "error"),
        report.duration.as_secs_f64()
    );
    let chains = cause_chains(report);
    if !chains.is_empty() {
        let _ = writeln!(out, "\nCauses (fix these first):");
        for (cause, status, message, effects) in chains {
            let tag = paint(&status.as_str().to_uppercase(), status, colour);
            let _ = writeln!(out, "  {tag} {cause}: {}", clean(&message));
            for (e, s) in effects {
                let _ = writeln!(out, "      -> {e} ({s})");
            }
        }
    }
    let fixes: Vec<_> = report
        .results
        .iter()
        .filter(|r| {
            matches!(
                r.verdict.status,
                Status::Fail | Status::Warn | Status::Error
            )
        })
        .filter_map(|r| r.fix.as_ref().map(|f| (r, f)))
        .collect();
    if !fixes.is_empty() {
        let _ = writeln!(out, "\nHow to fix:");
        for (r, f) in fixes {
            let _ = writeln!(out, "  {} ({}): {}", r.id, r.verdict.status, clean(f));
        }
        let _ = writeln!(
            out,
            "\n`mailcheck explain ID` tells why each requirement matters."
        );
    }
    out
}

/// A check that explains others: (id, status, message, [(effect id, effect status)]).
pub type CauseChain = (String, Status, String, Vec<(String, Status)>);

/// Each check that explains others, with the checks it explains, in report order.
pub fn cause_chains(report: &RunReport) -> Vec<CauseChain> {
    let mut out: Vec<CauseChain> = Vec::new();
    for r in &report.results {
        for c in &r.verdict.caused_by {
            let crate::verdict::Cause::Check { check, .. } = c else {
                continue;
            };
            let Some(cause) = report.results.iter().find(|x| &x.id == check) else {
                continue;
            };
            match out.iter_mut().find(|(id, ..)| id == check) {
                Some(entry) => entry.3.push((r.id.clone(), r.verdict.status)),
                None => out.push((
                    cause.id.clone(),
                    cause.verdict.status,
                    cause.verdict.message.clone(),
                    vec![(r.id.clone(), r.verdict.status)],
                )),
            }
        }
    }
    out
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

/// Several servers: one line each with the counts and the first failing check.
pub fn fleet_table(reports: &[&RunReport]) -> String {
    let width = reports
        .iter()
        .map(|r| r.host.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!(
        "{:<width$}  {:>4} {:>4} {:>4} {:>4} {:>5}  first problem\n",
        "host", "pass", "fail", "warn", "skip", "error"
    );
    for r in reports {
        let s = r.summary();
        let first = r
            .results
            .iter()
            .find(|c| c.verdict.status == Status::Fail)
            .or_else(|| r.results.iter().find(|c| c.verdict.status == Status::Error))
            .map(|c| format!("{}: {}", c.id, clean(&c.verdict.message)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<width$}  {:>4} {:>4} {:>4} {:>4} {:>5}  {first}",
            clean(&r.host),
            s.pass,
            s.fail,
            s.warn,
            s.skip,
            s.error
        );
    }
    let failed = reports.iter().filter(|r| r.summary().fail > 0).count();
    let undecided = reports
        .iter()
        .filter(|r| r.summary().fail == 0 && r.summary().error > 0)
        .count();
    let _ = writeln!(
        out,
        "\n{} servers: {failed} with failures, {undecided} more with checks that could not be decided",
        reports.len()
    );
    out
}
