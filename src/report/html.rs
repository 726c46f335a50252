//! A self-contained HTML page (no external assets): the summary first, one section per family,
//! failing checks open with evidence and fix, the rest folded.

use std::fmt::Write as _;

use super::RunReport;
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

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#222}\
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}\
.summary{display:flex;gap:.75rem;flex-wrap:wrap;margin:1rem 0}\
.pill{padding:.4rem .8rem;border-radius:.4rem;font-weight:600}\
.pass{background:#e3f6e5;color:#1b5e20}.fail{background:#fde2e1;color:#b71c1c}\
.warn{background:#fff4d6;color:#8a5a00}.skip{background:#eee;color:#555}.error{background:#f0e3fa;color:#6a1b9a}\
details{border:1px solid #e3e3e3;border-radius:.4rem;margin:.35rem 0;padding:.3rem .6rem}\
summary{cursor:pointer}summary .st{display:inline-block;width:4.2rem;text-align:center;border-radius:.3rem;margin-right:.5rem;font-size:.8rem;font-weight:700}\
.id{font-family:ui-monospace,monospace}.req{color:#777;margin:0 .4rem}\
pre{background:#f7f7f7;padding:.6rem;overflow:auto;font-size:.8rem}.fix{background:#eef6ff;padding:.5rem;border-radius:.3rem}";

pub fn render(report: &RunReport) -> String {
    let s = report.summary();
    let mut out = String::new();
    let title = format!("mailcheck: {}", report.host);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n",
        esc(&title)
    );
    let account = report
        .account
        .as_deref()
        .map(|a| format!(", account {a}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "<h1>mailcheck {} on {}{}</h1>\n<p>Started {} UTC, took {:.2} s.</p>",
        env!("CARGO_PKG_VERSION"),
        esc(&report.host),
        esc(&account),
        esc(&crate::clock::rfc3339(report.started)),
        report.duration.as_secs_f64()
    );
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
    let mut families: Vec<&str> = report.results.iter().map(|r| r.family.as_str()).collect();
    families.dedup();
    for family in families {
        let _ = writeln!(out, "<section><h2>{}</h2>", esc(family));
        for r in report.results.iter().filter(|r| r.family == family) {
            let st = r.verdict.status;
            let open = if matches!(st, Status::Fail | Status::Error) {
                " open"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "<details{open}><summary><span class=\"st {}\">{}</span><span class=\"id\">{}</span><span class=\"req\">{}</span>{}</summary>",
                st.as_str(),
                st.as_str().to_uppercase(),
                esc(&r.id),
                esc(&r.requirement),
                esc(&r.verdict.message)
            );
            let _ = writeln!(out, "<p>{}</p>", esc(&r.title));
            if let Some(fix) = &r.fix {
                let _ = writeln!(out, "<p class=\"fix\"><b>Fix:</b> {}</p>", esc(fix));
            }
            if !r.evidence.is_null() {
                let ev = serde_json::to_string_pretty(&r.evidence).unwrap_or_default();
                let _ = writeln!(out, "<pre>{}</pre>", esc(&ev));
            }
            let _ = writeln!(out, "</details>");
        }
        let _ = writeln!(out, "</section>");
    }
    out.push_str("</body></html>\n");
    out
}
