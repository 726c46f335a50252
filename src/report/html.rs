//! A self-contained HTML page (no external assets, no script; a Content-Security-Policy that
//! forbids both): the header (host, account, where the checks ran from, what the server runs),
//! the summary, the root causes with what they explain, then the failures and errors, then the
//! warnings, each with its cause chain, its fix and its evidence folded, grouped by the
//! tutorial's sections in T-order; the passes and skips folded last. Prints without the evidence.

use std::fmt::Write as _;

use super::{CauseRef, Effect, Link, RunReport};
use crate::runner::CheckResult;
use crate::verdict::Status;

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The anchor of a check's entry.
fn anchor(id: &str) -> String {
    format!("check-{}", esc(id))
}

const STYLE: &str = "\
:root{--fail:#b71c1c;--failbg:#fde2e1;--error:#6a1b9a;--errorbg:#f0e3fa;--warn:#8a5a00;--warnbg:#fff4d6;--pass:#1b5e20;--passbg:#e3f6e5;--skip:#555;--skipbg:#eee}\
body{font:15px/1.45 system-ui,sans-serif;margin:1.2rem auto;max-width:72rem;padding:0 1rem;color:#222}\
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.15rem;margin:1.4rem 0 .5rem;border-bottom:1px solid #ddd}\
h3{font-size:1rem;margin:1rem 0 .3rem;color:#444}h3 .range{color:#888;font-weight:400;margin-left:.4rem}\
.meta{display:grid;grid-template-columns:max-content 1fr;gap:0 .8rem;margin:.3rem 0;font-size:.9rem;color:#444}.meta dt{font-weight:600}.meta dd{margin:0}\
.summary{display:flex;gap:.6rem;flex-wrap:wrap;align-items:center;margin:.6rem 0}\
.pill{padding:.25rem .7rem;border-radius:.4rem;font-weight:600}\
.pass{background:var(--passbg);color:var(--pass)}.fail{background:var(--failbg);color:var(--fail)}\
.warn{background:var(--warnbg);color:var(--warn)}.skip{background:var(--skipbg);color:var(--skip)}.error{background:var(--errorbg);color:var(--error)}\
.st{display:inline-block;min-width:3.6rem;text-align:center;border-radius:.3rem;margin-right:.5rem;font-size:.8rem;font-weight:700;padding:0 .2rem}\
.st.fail{background:var(--fail);color:#fff}.st.error{background:var(--error);color:#fff}.st.warn{background:#e0a000;color:#222}\
.id{font-family:ui-monospace,monospace;font-weight:600}.req{color:#777;margin:0 .4rem}\
article{border:1px solid #e3e3e3;border-left:.35rem solid #ccc;border-radius:.4rem;margin:.5rem 0;padding:.4rem .8rem;background:#fff}\
article.check{background:#fff;color:#222}article.fail{border-left-color:var(--fail)}article.error{border-left-color:var(--error)}article.warn{border-left-color:#e0a000}\
article h4{margin:.1rem 0;font-size:1rem}article .title{color:#555;font-weight:400}\
.msg{margin:.3rem 0}.fix{background:#eef6ff;padding:.4rem .6rem;border-radius:.3rem;margin:.3rem 0}\
.chain{margin:.3rem 0;padding:.3rem .6rem;background:#fafafa;border-radius:.3rem}.chain ol{margin:.2rem 0;padding-left:1.4rem}\
.chains ul{list-style:none;padding-left:1.4rem;margin:.1rem 0}.chains>ul{padding-left:0}.chains li{margin:.15rem 0}\
.chains .arrow{color:#999;margin-right:.3rem}\
.vantage{color:#777;font-size:.85rem;margin:.2rem 0}\
details{margin:.3rem 0}summary{cursor:pointer}\
details.row{border:1px solid #eee;border-radius:.3rem;padding:.2rem .5rem;margin:.2rem 0}\
details.fold>summary{font-size:1.1rem;font-weight:600;margin:1.2rem 0 .4rem;border-bottom:1px solid #ddd}\
pre{background:#f7f7f7;padding:.6rem;overflow:auto;font-size:.8rem;max-height:30rem}\
a{color:inherit}\
@media print{\
body{margin:0;max-width:none;font-size:10pt}\
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}\
details.evidence{display:none}\
details.fold::details-content{content-visibility:visible;display:block}\
details.fold>summary{list-style:none}\
article{break-inside:avoid}h2,h3{break-after:avoid}\
a{text-decoration:none}\
}";

/// The status badge.
fn badge(status: Status) -> String {
    format!(
        "<span class=\"st {}\">{}</span>",
        status.as_str(),
        status.as_str().to_uppercase()
    )
}

/// A link to a check's entry: badge, id.
fn check_link(r: &CheckResult) -> String {
    format!(
        "{}<a class=\"id\" href=\"#{}\">{}</a>",
        badge(r.verdict.status),
        anchor(&r.id),
        esc(&r.id)
    )
}

fn evidence(out: &mut String, r: &CheckResult) {
    if r.evidence.is_null() {
        return;
    }
    let what = if r.observed {
        "Evidence: what was observed"
    } else {
        "Evidence: why nothing was observed"
    };
    let ev = serde_json::to_string_pretty(&r.evidence).unwrap_or_default();
    let _ = writeln!(
        out,
        "<details class=\"evidence\"><summary>{what}</summary><pre>{}</pre></details>",
        esc(&ev)
    );
}

/// One failing, erroring or warning check: message, cause chain, what it explains, fix,
/// evidence.
fn problem(out: &mut String, report: &RunReport, r: &CheckResult) {
    let st = r.verdict.status;
    let _ = writeln!(
        out,
        "<article class=\"check {}\" id=\"{}\"><h4>{}<span class=\"id\">{}</span><span class=\"req\">{}</span><span class=\"title\">{}</span></h4>",
        st.as_str(),
        anchor(&r.id),
        badge(st),
        esc(&r.id),
        esc(&r.requirement),
        esc(&r.title)
    );
    let _ = writeln!(out, "<p class=\"msg\">{}</p>", esc(&super::own_message(r)));
    let chain = super::chain_to(report, r);
    if chain.len() > 1 {
        let _ = writeln!(
            out,
            "<div class=\"chain\"><b>Cause chain</b> (root cause first):<ol>"
        );
        for step in &chain {
            match step {
                CauseRef::Check(c) if std::ptr::eq(*c, r) => {
                    let _ = writeln!(out, "<li>{} (this check)</li>", check_link(c));
                }
                CauseRef::Check(c) => {
                    let _ = writeln!(
                        out,
                        "<li>{}: {}</li>",
                        check_link(c),
                        esc(&super::own_message(c))
                    );
                }
                CauseRef::Log(line) => {
                    let _ = writeln!(
                        out,
                        "<li>the server logged: <code>{}</code></li>",
                        esc(line)
                    );
                }
            }
        }
        let _ = writeln!(out, "</ol></div>");
        let root_fix = match chain.first() {
            Some(CauseRef::Check(c)) if !std::ptr::eq(*c, r) => c.fix.as_deref().map(|f| (c, f)),
            _ => None,
        };
        if let Some((c, f)) = root_fix {
            let _ = writeln!(
                out,
                "<p class=\"fix\"><b>Fix the cause first</b> ({}): {}</p>",
                esc(&c.id),
                esc(f)
            );
        }
    }
    let explained: Vec<&CheckResult> = report
        .results
        .iter()
        .filter(|e| {
            super::direct_causes(report, e)
                .iter()
                .any(|(c, _)| matches!(c, CauseRef::Check(x) if std::ptr::eq(*x, r)))
        })
        .collect();
    if !explained.is_empty() {
        let links: Vec<String> = explained.iter().map(|e| check_link(e)).collect();
        let _ = writeln!(
            out,
            "<p class=\"explains\"><b>Explains:</b> {}</p>",
            links.join(", ")
        );
    }
    if let Some(fix) = &r.fix {
        let _ = writeln!(out, "<p class=\"fix\"><b>Fix:</b> {}</p>", esc(fix));
    }
    if let Some(v) = &r.vantage {
        let _ = writeln!(out, "<p class=\"vantage\">Ran {}.</p>", esc(&v.describe()));
    }
    evidence(out, r);
    let _ = writeln!(out, "</article>");
}

/// A folded one-line entry (passes, skips): the line, then title, vantage and evidence.
fn row(out: &mut String, r: &CheckResult) {
    let st = r.verdict.status;
    let _ = writeln!(
        out,
        "<details class=\"row\" id=\"{}\"><summary>{}<span class=\"id\">{}</span><span class=\"req\">{}</span>{}</summary>",
        anchor(&r.id),
        badge(st),
        esc(&r.id),
        esc(&r.requirement),
        esc(&super::own_message(r))
    );
    let _ = writeln!(out, "<p>{}</p>", esc(&r.title));
    if let Some(b) = &r.blocked_by {
        let _ = writeln!(
            out,
            "<p class=\"chain\">Blocked by <a class=\"id\" href=\"#{}\">{}</a> ({}): {}</p>",
            anchor(&b.check),
            esc(&b.check),
            b.status,
            esc(&b.message)
        );
    }
    if let Some(v) = &r.vantage {
        let _ = writeln!(out, "<p class=\"vantage\">Ran {}.</p>", esc(&v.describe()));
    }
    evidence(out, r);
    let _ = writeln!(out, "</details>");
}

/// The heading of a tutorial section, with its requirement range.
fn section_heading(out: &mut String, title: &str) {
    let range = super::section_range(title).replace('-', "–");
    let _ = writeln!(
        out,
        "<h3>{}<span class=\"range\">{}</span></h3>",
        esc(title),
        esc(&range)
    );
}

fn effects(out: &mut String, list: &[Effect<'_>]) {
    if list.is_empty() {
        return;
    }
    let _ = writeln!(out, "<ul>");
    for e in list {
        let what = match e.link {
            Link::CausedBy => format!(": {}", esc(&super::own_message(e.result))),
            Link::BlockedBy => " did not run".to_string(),
        };
        let _ = write!(
            out,
            "<li><span class=\"arrow\">→</span>{}{what}",
            check_link(e.result),
        );
        effects(out, &e.effects);
        let _ = writeln!(out, "</li>");
    }
    let _ = writeln!(out, "</ul>");
}

pub fn render(report: &RunReport) -> String {
    let s = report.summary();
    let mut out = String::new();
    let title = format!("mailcheck: {} — {}", report.host, super::human::counts(&s));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
<title>{}</title><style>{STYLE}</style></head><body>\n",
        esc(&title)
    );
    let _ = writeln!(
        out,
        "<header><h1>mailcheck on {}</h1>\n<dl class=\"meta\">",
        esc(&report.host)
    );
    let mut meta = |k: &str, v: &str| {
        let _ = writeln!(out, "<dt>{k}</dt><dd>{}</dd>", esc(v));
    };
    if let Some(a) = &report.account {
        meta("Account", a);
    }
    meta("Ran", &super::vantage_line(report));
    meta(
        "Server runs",
        &super::versions_line(report).unwrap_or_else(|| "(versions not known)".into()),
    );
    meta(
        "Started",
        &format!(
            "{} UTC, took {:.2} s, mailcheck {}",
            crate::clock::rfc3339(report.started),
            report.duration.as_secs_f64(),
            env!("CARGO_PKG_VERSION")
        ),
    );
    let _ = writeln!(out, "</dl></header>");

    let _ = writeln!(out, "<div class=\"summary\" id=\"summary\">");
    for (status, n) in [
        (Status::Fail, s.fail),
        (Status::Error, s.error),
        (Status::Warn, s.warn),
        (Status::Pass, s.pass),
        (Status::Skip, s.skip),
    ] {
        let word = match status {
            Status::Pass => "passed",
            Status::Fail => "failed",
            Status::Warn if n == 1 => "warning",
            Status::Warn => "warnings",
            Status::Skip => "skipped",
            Status::Error => "undecided",
        };
        let _ = writeln!(
            out,
            "<span class=\"pill {}\">{n} {word}</span>",
            status.as_str()
        );
    }
    let _ = writeln!(out, "</div>");

    let chains = super::cause_chains(report);
    if !chains.is_empty() {
        let _ = writeln!(
            out,
            "<section id=\"causes\" class=\"chains\"><h2>Fix these first: the causes</h2><ul>"
        );
        for chain in &chains {
            match chain.cause {
                CauseRef::Check(c) => {
                    let _ = write!(
                        out,
                        "<li>{}: {}",
                        check_link(c),
                        esc(&super::own_message(c))
                    );
                }
                CauseRef::Log(line) => {
                    let _ = write!(out, "<li>the server logged: <code>{}</code>", esc(line));
                }
            }
            effects(&mut out, &chain.effects);
            let _ = writeln!(out, "</li>");
        }
        let _ = writeln!(out, "</ul></section>");
    }

    let problems: Vec<&CheckResult> = report
        .results
        .iter()
        .filter(|r| matches!(r.verdict.status, Status::Fail | Status::Error))
        .collect();
    let warnings: Vec<&CheckResult> = report
        .results
        .iter()
        .filter(|r| r.verdict.status == Status::Warn)
        .collect();
    for (id, heading, list) in [
        ("problems", "Failures and errors", problems),
        ("warnings", "Warnings", warnings),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "<section id=\"{id}\"><h2>{heading} ({})</h2>",
            list.len()
        );
        for (section, results) in super::by_section(list) {
            section_heading(&mut out, section);
            for r in results {
                problem(&mut out, report, r);
            }
        }
        let _ = writeln!(out, "</section>");
    }

    for (id, status, heading) in [
        ("passes", Status::Pass, "Passed"),
        ("skips", Status::Skip, "Skipped"),
    ] {
        let list: Vec<&CheckResult> = report
            .results
            .iter()
            .filter(|r| r.verdict.status == status)
            .collect();
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "<section id=\"{id}\"><details class=\"fold\"><summary>{heading} ({})</summary>",
            list.len()
        );
        for (section, results) in super::by_section(list) {
            section_heading(&mut out, section);
            for r in results {
                row(&mut out, r);
            }
        }
        let _ = writeln!(out, "</details></section>");
    }
    out.push_str("</body></html>\n");
    out
}
