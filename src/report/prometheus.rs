//! Prometheus text exposition for node_exporter's textfile collector: one gauge per check,
//! certificate days left, duration, last run time. `write_atomically` renames a temp file into
//! place, so a scrape never sees half a file.

use std::fmt::Write as _;
use std::path::Path;

use super::RunReport;
use crate::verdict::Status;

/// The gauge value of each status.
pub fn status_value(s: Status) -> u8 {
    match s {
        Status::Pass => 0,
        Status::Warn => 1,
        Status::Fail => 2,
        Status::Error => 3,
        Status::Skip => 4,
    }
}

fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub fn render(report: &RunReport) -> String {
    let mut out = String::new();
    let host = label(&report.host);
    out.push_str("# HELP mailcheck_check_status Outcome of each check: 0 pass, 1 warn, 2 fail, 3 error, 4 skip.\n");
    out.push_str("# TYPE mailcheck_check_status gauge\n");
    for r in &report.results {
        let _ = writeln!(
            out,
            "mailcheck_check_status{{host=\"{host}\",id=\"{}\",requirement=\"{}\"}} {}",
            label(&r.id),
            label(&r.requirement),
            status_value(r.verdict.status)
        );
    }
    out.push_str("# HELP mailcheck_checks Number of checks per outcome in the last run.\n");
    out.push_str("# TYPE mailcheck_checks gauge\n");
    let s = report.summary();
    for (name, n) in [
        ("pass", s.pass),
        ("fail", s.fail),
        ("warn", s.warn),
        ("skip", s.skip),
        ("error", s.error),
    ] {
        let _ = writeln!(
            out,
            "mailcheck_checks{{host=\"{host}\",status=\"{name}\"}} {n}"
        );
    }
    let certs: Vec<(String, f64)> = report
        .results
        .iter()
        .filter_map(|r| {
            r.verdict
                .metrics
                .iter()
                .find(|(n, _)| n == "certificate_days_left")
                .map(|(_, d)| (r.id.clone(), *d))
        })
        .collect();
    if !certs.is_empty() {
        out.push_str(
            "# HELP mailcheck_certificate_days_left Days until the served certificate expires.\n",
        );
        out.push_str("# TYPE mailcheck_certificate_days_left gauge\n");
        for (id, d) in certs {
            let _ = writeln!(
                out,
                "mailcheck_certificate_days_left{{host=\"{host}\",id=\"{}\"}} {d}",
                label(&id)
            );
        }
    }
    out.push_str("# HELP mailcheck_run_duration_seconds How long the last run took.\n");
    out.push_str("# TYPE mailcheck_run_duration_seconds gauge\n");
    let _ = writeln!(
        out,
        "mailcheck_run_duration_seconds{{host=\"{host}\"}} {:.6}",
        report.duration.as_secs_f64()
    );
    out.push_str(
        "# HELP mailcheck_last_run_timestamp_seconds When the last run started (Unix time).\n",
    );
    out.push_str("# TYPE mailcheck_last_run_timestamp_seconds gauge\n");
    let ts = report
        .started
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let _ = writeln!(
        out,
        "mailcheck_last_run_timestamp_seconds{{host=\"{host}\"}} {ts}"
    );
    out
}

/// Writes `text` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "mailcheck.prom".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text)?;
    // Metrics are not secret, and node_exporter usually runs as another user: readable by all,
    // whatever the umask.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
