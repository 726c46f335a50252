//! A short Markdown summary for CI job pages (GitHub's `$GITHUB_STEP_SUMMARY`, GitLab's job
//! summaries), readable as plain text too: one table of counts by tutorial section, then the
//! root causes with their fixes, then the other failures and errors and the warnings, each with
//! its cause and fix (GitHub Flavored Markdown; server text escaped, never raw HTML).

use std::fmt::Write as _;

use super::{CauseRef, RunReport};
use crate::runner::CheckResult;
use crate::verdict::Status;

/// Server text as inline Markdown: what mailcheck put in backticks stays a code span (its
/// content is literal there), everything else has Markdown's and GitHub's active characters
/// escaped, so a message can neither become markup nor raw HTML.
pub fn inline(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut out = String::with_capacity(s.len() + 8);
    let mut rest = s.as_str();
    while let Some(open) = rest.find('`') {
        let after = &rest[open + 1..];
        match after.find('`') {
            Some(close) if close > 0 => {
                escape_into(&mut out, &rest[..open]);
                code_into(&mut out, &after[..close]);
                rest = &after[close + 1..];
            }
            _ => {
                escape_into(&mut out, &rest[..open + 1]);
                rest = after;
            }
        }
    }
    escape_into(&mut out, rest);
    out
}

/// A code span holding `s` literally (a longer fence when `s` holds backticks).
fn code_into(out: &mut String, s: &str) {
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    // A space inside the fence when the content starts or ends with a backtick or a space.
    let pad = s.starts_with(['`', ' ']) || s.ends_with(['`', ' ']);
    let sp = if pad { " " } else { "" };
    let _ = write!(out, "{fence}{sp}{s}{sp}{fence}");
}

fn escape_into(out: &mut String, s: &str) {
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let word = |j: Option<usize>| {
            j.and_then(|j| chars.get(j))
                .is_some_and(|c| c.is_alphanumeric())
        };
        let escape = match c {
            '\\' | '`' | '*' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '$' | '#' | '!' => true,
            // An underscore inside a word (mysql_virtual_maps) is never emphasis.
            '_' => !(word(i.checked_sub(1)) && word(Some(i + 1))),
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
}

fn code(s: &str) -> String {
    let mut out = String::new();
    code_into(&mut out, s);
    out
}

fn status_word(s: Status) -> String {
    format!("**{}**", s.as_str().to_uppercase())
}

/// "`a` (fail) → `b` (error)": the chain of causes above `r`, root first, without `r`.
fn cause_line(report: &RunReport, r: &CheckResult) -> Option<String> {
    let chain = super::chain_to(report, r);
    if chain.len() < 2 {
        return None;
    }
    let steps: Vec<String> = chain[..chain.len() - 1]
        .iter()
        .map(|c| match c {
            CauseRef::Check(c) => format!(
                "{} ({}): {}",
                code(&c.id),
                c.verdict.status,
                inline(&super::own_message(c))
            ),
            CauseRef::Log(line) => format!("the server logged {}", code(line)),
        })
        .collect();
    Some(steps.join(" → "))
}

fn item(out: &mut String, report: &RunReport, r: &CheckResult, explains: &[&CheckResult]) {
    let _ = writeln!(
        out,
        "- {} {} ({}): {}",
        status_word(r.verdict.status),
        code(&r.id),
        r.requirement,
        inline(&super::own_message(r))
    );
    if let Some(c) = cause_line(report, r) {
        let _ = writeln!(out, "  - cause: {c}");
    }
    if !explains.is_empty() {
        let ids: Vec<String> = explains
            .iter()
            .map(|e| format!("{} ({})", code(&e.id), e.verdict.status))
            .collect();
        let _ = writeln!(out, "  - explains: {}", ids.join(", "));
    }
    if let Some(f) = &r.fix {
        let _ = writeln!(out, "  - fix: {}", inline(f));
    }
}

/// Every result that `r` explains, directly or further down (tutorial order).
fn explained_by<'a>(report: &'a RunReport, r: &CheckResult) -> Vec<&'a CheckResult> {
    let mut out: Vec<&CheckResult> = report
        .results
        .iter()
        .filter(|e| {
            !std::ptr::eq(*e, r)
                && super::chain_to(report, e)
                    .iter()
                    .any(|c| matches!(c, CauseRef::Check(x) if std::ptr::eq(*x, r)))
        })
        .collect();
    out.sort_by(|a, b| super::order(a, b));
    out
}

pub fn render(report: &RunReport) -> String {
    let s = report.summary();
    let mut out = String::new();
    let verdict = if s.fail + s.error + s.warn == 0 {
        format!("all {} checks passed or were skipped", s.pass + s.skip)
    } else {
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
        parts.join(", ")
    };
    let _ = writeln!(out, "## mailcheck on {}: {verdict}\n", inline(&report.host));
    let mut about = vec![format!("ran {}", inline(&super::vantage_line(report)))];
    if let Some(a) = &report.account {
        about.push(format!("account {}", inline(a)));
    }
    about.push(match super::versions_line(report) {
        Some(v) => format!("the server runs {}", inline(&v)),
        None => "server versions not known".into(),
    });
    about.push(format!(
        "mailcheck {} at {}",
        env!("CARGO_PKG_VERSION"),
        crate::clock::rfc3339(report.started)
    ));
    let _ = writeln!(out, "{}\n", about.join("; "));

    let _ = writeln!(out, "| Section | fail | error | warn | pass | skip |");
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: |");
    for (section, results) in super::by_section(&report.results) {
        let n = |st: Status| results.iter().filter(|r| r.verdict.status == st).count();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            inline(section),
            n(Status::Fail),
            n(Status::Error),
            n(Status::Warn),
            n(Status::Pass),
            n(Status::Skip)
        );
    }
    let _ = writeln!(
        out,
        "| **all** | **{}** | **{}** | **{}** | **{}** | **{}** |",
        s.fail, s.error, s.warn, s.pass, s.skip
    );

    let bad = |r: &&CheckResult| matches!(r.verdict.status, Status::Fail | Status::Error);
    let chains = super::cause_chains(report);
    let roots: Vec<&CheckResult> = {
        let mut v: Vec<&CheckResult> = chains
            .iter()
            .filter_map(|c| match c.cause {
                CauseRef::Check(r) if !matches!(r.verdict.status, Status::Pass | Status::Skip) => {
                    Some(r)
                }
                _ => None,
            })
            .collect();
        v.sort_by(|a, b| super::order(a, b));
        v
    };
    if !roots.is_empty() {
        let _ = writeln!(out, "\n### Fix these first\n");
        for r in &roots {
            item(&mut out, report, r, &explained_by(report, r));
        }
    }
    let rest: Vec<&CheckResult> = report
        .results
        .iter()
        .filter(bad)
        .filter(|r| !roots.iter().any(|x| std::ptr::eq(*x, *r)))
        .collect();
    if !rest.is_empty() {
        let title = if roots.is_empty() {
            "Failures and errors"
        } else {
            "Other failures and errors"
        };
        let _ = writeln!(out, "\n### {title}\n");
        for (_, list) in super::by_section(rest) {
            for r in list {
                item(&mut out, report, r, &[]);
            }
        }
    }
    let warnings: Vec<&CheckResult> = report
        .results
        .iter()
        .filter(|r| r.verdict.status == Status::Warn)
        .filter(|r| !roots.iter().any(|x| std::ptr::eq(*x, *r)))
        .collect();
    if !warnings.is_empty() {
        let _ = writeln!(out, "\n### Warnings\n");
        for (_, list) in super::by_section(warnings) {
            for r in list {
                item(&mut out, report, r, &[]);
            }
        }
    }
    let _ = writeln!(
        out,
        "\n{} passing and {} skipped checks are not listed; `mailcheck explain ID` tells why a requirement matters.",
        s.pass, s.skip
    );
    out
}

#[cfg(test)]
mod tests {
    use super::inline;

    #[test]
    fn server_text_is_escaped_and_code_spans_stay() {
        assert_eq!(inline("a <b> | c"), "a \\<b\\> \\| c");
        assert_eq!(
            inline("run `postfix reload` now"),
            "run `postfix reload` now"
        );
        assert_eq!(
            inline("mysql_virtual_maps _x_"),
            "mysql_virtual_maps \\_x\\_"
        );
        assert_eq!(inline("one ` alone"), "one \\` alone");
        assert_eq!(inline("`a`b`"), "`a`b\\`");
        assert_eq!(inline("$a and $b"), "\\$a and \\$b");
    }
}
