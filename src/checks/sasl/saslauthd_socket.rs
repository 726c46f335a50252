//! T20: saslauthd runs and answers on its socket inside Postfix's chroot
//! (`<queue_directory>/var/run/saslauthd/mux`), where the chrooted smtpd looks for it.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::ProbeError;
use crate::probe::file::{FileFacts, FileKind, lstat};
use crate::probe::process::{ProcessFacts, find_by_name};
use crate::probe::saslauthd::{DEFAULT_SOCKET_DIR, ping};
use crate::verdict::Verdict;

/// T20 has no parameters: the directory comes from main.cf's queue_directory and the settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {}

/// What T20 looks at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    /// `<queue_directory>/var/run/saslauthd`.
    pub expected_dir: PathBuf,
    pub processes: Vec<ProcessFacts>,
    /// Each process's socket directory (`-m`, or saslauthd's default), resolved.
    pub socket_dirs: Vec<PathBuf>,
    /// lstat of `<expected_dir>/mux`, or why it failed.
    pub socket: Option<FileFacts>,
    pub socket_problem: Option<String>,
    /// lstat was refused: the directory is closed to this user.
    #[serde(default)]
    pub socket_needs_root: bool,
    /// Result of connecting to the socket: `None` = answered.
    pub connect_problem: Option<String>,
    #[serde(default)]
    pub connect_needs_root: bool,
}

fn resolve(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// T20: the kind.
pub struct SaslauthdSocket;

impl Kind for SaslauthdSocket {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let expected_dir = super::chroot_socket_dir(&cfg, facts);
        let processes = find_by_name(&facts.processes().await, "saslauthd");
        if processes.is_empty()
            && let Some(gap) = facts.process_table_gap().await
        {
            return Err(gap.into());
        }
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
        let (socket, socket_problem, socket_needs_root) = match lstat(&mux) {
            Ok(f) => (Some(f), None, false),
            Err(e) => {
                let denied = matches!(e, ProbeError::PermissionDenied { .. });
                (None, Some(e.to_string()), denied)
            }
        };
        let (connect_problem, connect_needs_root) =
            match ping(&mux, facts.settings.timeouts.socket).await {
                Ok(()) => (None, false),
                Err(e) => (Some(e.to_string()), e.permission_denied()),
            };
        Ok(Observation {
            expected_dir: resolve(&expected_dir),
            processes,
            socket_dirs,
            socket,
            socket_problem,
            socket_needs_root,
            connect_problem,
            connect_needs_root,
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let dir = o.expected_dir.display();
        let Some(first) = o.processes.first() else {
            return Verdict::fail("saslauthd is not running (no saslauthd process)")
                .with_fix(format!("start saslauthd: saslauthd -a pam -c -r -m {dir}"));
        };
        if !o.socket_dirs.contains(&o.expected_dir) {
            let dirs: Vec<String> = o
                .socket_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            return Verdict::fail(format!(
                "saslauthd (pid {}) has its socket in {}, not in {dir}: Postfix's chrooted smtpd cannot reach it",
                first.pid,
                dirs.join(", ")
            ))
            .with_fix(format!(
                "set OPTIONS=\"-c -r -m {dir}\" in /etc/default/saslauthd and restart saslauthd"
            ));
        }
        match &o.socket {
            None if o.socket_needs_root => {
                return Verdict::error(o.socket_problem.clone().unwrap_or_default());
            }
            None => {
                return Verdict::fail(format!(
                    "saslauthd runs with -m {dir} but {dir}/mux does not exist ({})",
                    o.socket_problem.clone().unwrap_or_default()
                ));
            }
            Some(f) if f.kind != FileKind::Socket => {
                return Verdict::fail(format!("{dir}/mux is a {:?}, not a socket", f.kind));
            }
            Some(_) => {}
        }
        if let Some(p) = &o.connect_problem {
            if o.connect_needs_root {
                return Verdict::error(format!("{p} (needs root or group sasl)"));
            }
            return Verdict::fail(format!("nothing answers on {dir}/mux: {p}"));
        }
        Verdict::pass(format!(
            "saslauthd (pid {}) answers on {dir}/mux, inside Postfix's chroot",
            first.pid
        ))
    }
}
