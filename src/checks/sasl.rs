//! Checks of saslauthd (SASL_README): the process, its socket inside Postfix's chroot.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::context::Ctx;
use crate::probe::file::{FileFacts, FileKind, lstat};
use crate::probe::process::{ProcessFacts, find_by_name};
use crate::probe::saslauthd::{SaslauthdError, ping};
use crate::verdict::Verdict;

/// T20 has no parameters: the directory comes from main.cf's queue_directory and the settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaslauthdSocketSpec {}

/// What T20 looks at.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SaslauthdSocketObservation {
    /// `<queue_directory>/var/run/saslauthd`.
    pub expected_dir: PathBuf,
    pub processes: Vec<ProcessFacts>,
    /// Each process's socket directory (`-m`, or saslauthd's default), resolved.
    pub socket_dirs: Vec<PathBuf>,
    /// lstat of `<expected_dir>/mux`, or why it failed.
    pub socket: Option<FileFacts>,
    pub socket_problem: Option<String>,
    /// Result of connecting to the socket: `None` = answered.
    pub connect_problem: Option<String>,
    #[serde(default)]
    pub connect_needs_root: bool,
}

/// saslauthd's compiled-in socket directory on Debian when `-m` is absent.
const DEFAULT_SOCKET_DIR: &str = "/var/run/saslauthd";

fn resolve(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

pub async fn saslauthd_socket(spec: &SaslauthdSocketSpec, ctx: &Ctx) -> Verdict {
    let cfg = match ctx.postfix().await {
        Ok(c) => c,
        Err(e) => return Verdict::error(e.to_string()),
    };
    let queue = PathBuf::from(cfg.get("queue_directory"));
    let expected_dir = queue.join(&ctx.settings.saslauthd_chroot_dir);
    let processes = find_by_name("saslauthd");
    let socket_dirs: Vec<PathBuf> = processes
        .iter()
        .map(|p| {
            let dir = p
                .flag_value("-m")
                .unwrap_or_else(|| DEFAULT_SOCKET_DIR.to_string());
            resolve(Path::new(&dir))
        })
        .collect();
    let mux = expected_dir.join("mux");
    let (socket, socket_problem) = match lstat(&mux) {
        Ok(f) => (Some(f), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let (connect_problem, connect_needs_root) = match ping(&mux, ctx.settings.timeouts.socket).await
    {
        Ok(()) => (None, false),
        Err(e) => {
            let denied = matches!(&e, SaslauthdError::Connect { message, .. } if message.contains("ermission denied"));
            (Some(e.to_string()), denied)
        }
    };
    judge_saslauthd_socket(
        spec,
        &SaslauthdSocketObservation {
            expected_dir: resolve(&expected_dir),
            processes,
            socket_dirs,
            socket,
            socket_problem,
            connect_problem,
            connect_needs_root,
        },
    )
}

pub fn judge_saslauthd_socket(
    _spec: &SaslauthdSocketSpec,
    o: &SaslauthdSocketObservation,
) -> Verdict {
    let evidence = json!({
        "expected_dir": o.expected_dir, "processes": o.processes, "socket_dirs": o.socket_dirs,
        "socket": o.socket, "socket_problem": o.socket_problem, "connect_problem": o.connect_problem,
    });
    let dir = o.expected_dir.display();
    if o.processes.is_empty() {
        return Verdict::fail("saslauthd is not running (no saslauthd process)")
            .with_evidence(evidence)
            .with_fix(format!("start saslauthd: saslauthd -a pam -c -r -m {dir}"));
    }
    if !o.socket_dirs.iter().any(|d| *d == o.expected_dir) {
        let dirs: Vec<String> = o
            .socket_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        return Verdict::fail(format!(
            "saslauthd (pid {}) has its socket in {}, not in {dir}: Postfix's chrooted smtpd cannot reach it",
            o.processes[0].pid,
            dirs.join(", ")
        ))
        .with_evidence(evidence)
        .with_fix(format!(
            "set OPTIONS=\"-c -r -m {dir}\" in /etc/default/saslauthd and restart saslauthd"
        ));
    }
    match &o.socket {
        None if o
            .socket_problem
            .as_deref()
            .is_some_and(|p| p.starts_with("needs root")) =>
        {
            return Verdict::error(o.socket_problem.clone().unwrap_or_default())
                .with_evidence(evidence);
        }
        None => {
            return Verdict::fail(format!(
                "saslauthd runs with -m {dir} but {dir}/mux does not exist ({})",
                o.socket_problem.clone().unwrap_or_default()
            ))
            .with_evidence(evidence);
        }
        Some(f) if f.kind != FileKind::Socket => {
            return Verdict::fail(format!("{dir}/mux is a {:?}, not a socket", f.kind))
                .with_evidence(evidence);
        }
        Some(_) => {}
    }
    if let Some(p) = &o.connect_problem {
        if o.connect_needs_root {
            return Verdict::error(format!("{p} (needs root or group sasl)"))
                .with_evidence(evidence);
        }
        return Verdict::fail(format!("nothing answers on {dir}/mux: {p}")).with_evidence(evidence);
    }
    Verdict::pass(format!(
        "saslauthd (pid {}) answers on {dir}/mux, inside Postfix's chroot",
        o.processes[0].pid
    ))
    .with_evidence(evidence)
}
