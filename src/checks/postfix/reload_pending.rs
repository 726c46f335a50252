//! T37: what mailcheck reads is what runs: no file the running Postfix read at start (main.cf,
//! master.cf; the tables, certificates and SASL file each daemon reads when it starts) changed
//! after the running master (or its last `postfix reload`) read it, and no indexed table
//! changed after `postmap` (master(8), postconf(5), DATABASE_README).

use std::time::{Duration, UNIX_EPOCH};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::daemons::postfix::{ReadWhen, WatchedFile};
use crate::verdict::{Verdict, worst_of};

/// Times closer than this are not ordered. A process's start time is known to about 10 ms (its
/// start in clock ticks since boot, and the boot from /proc/uptime); a file's mtime to the
/// kernel's coarse clock, a few ms. `postfix reload` itself takes about 100 ms, so a file written
/// just before it is still well before the daemons it restarts. (It was 1 s: an edit within a
/// second after a reload passed.)
const MARGIN_MS: i64 = 50;

/// T37: no parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {}

/// The running master, in short.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Master {
    pub pid_file: std::path::PathBuf,
    #[serde(default)]
    pub pid: Option<u32>,
    /// Why there is no running master (pid file missing, not a master).
    #[serde(default)]
    pub problem: Option<String>,
    #[serde(default)]
    pub started_unix_ms: Option<i64>,
    /// When the running configuration was read (the oldest long-lived child's start).
    #[serde(default)]
    pub config_read_unix_ms: Option<i64>,
    #[serde(default)]
    pub config_read_basis: Option<String>,
}

/// What T37's reload check looks at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub master: Master,
    pub files: Vec<WatchedFile>,
}

fn at(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    crate::clock::rfc3339_millis(t)
}

fn is_alias_db(f: &WatchedFile) -> bool {
    f.sources
        .iter()
        .any(|s| s.contains("alias_maps") || s.contains("alias_database"))
}

/// T37: the kind.
pub struct ReloadPending;

impl Kind for ReloadPending {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let rt = facts.postfix_runtime().await.map_err(Unobserved::Failed)?;
        let m = &rt.master;
        if m.pid_file.denied {
            return Err(Unobserved::NeedsRoot {
                path: m.pid_file.path.clone(),
            });
        }
        if m.process.is_none()
            && m.pid_file.pid.is_some()
            && let Some(gap) = facts.process_table_gap().await
        {
            return Err(gap.into());
        }
        let problem = if m.is_master {
            None
        } else if let Some(e) = &m.pid_file.error {
            Some(format!("{}: {e}", m.pid_file.path.display()))
        } else {
            Some(format!(
                "{} names pid {}, which is not Postfix's master",
                m.pid_file.path.display(),
                m.pid_file.pid.map(|p| p.to_string()).unwrap_or_default()
            ))
        };
        Ok(Observation {
            master: Master {
                pid_file: m.pid_file.path.clone(),
                pid: m.process.as_ref().filter(|_| m.is_master).map(|p| p.pid),
                problem,
                started_unix_ms: m.process.as_ref().and_then(|p| p.started_unix_ms),
                config_read_unix_ms: m.config_read_unix_ms,
                config_read_basis: m.config_read_basis.clone(),
            },
            files: rt.files.clone(),
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        if let Some(p) = &o.master.problem {
            return Verdict::skip(format!("Postfix's master is not running ({p})"));
        }
        let Some(read) = o.master.config_read_unix_ms else {
            return Verdict::error("the start time of Postfix's processes is not known");
        };
        let basis = o
            .master
            .config_read_basis
            .clone()
            .unwrap_or_else(|| "master start".into());
        let since = format!(
            "the running Postfix read its configuration at {} ({basis})",
            at(read)
        );
        let mut findings = Vec::new();
        let mut reload = Vec::new();
        let mut restart = Vec::new();
        for f in &o.files {
            let name = f.path.display();
            let src = f.sources.join(", ");
            match f.read {
                ReadWhen::Reload | ReadWhen::ProcessStart => {
                    let Some(m) = f.mtime_unix_ms else { continue };
                    if m <= read + MARGIN_MS {
                        continue;
                    }
                    let line = format!("{name} ({src}) changed at {}", at(m));
                    if f.read == ReadWhen::Reload {
                        reload.push(line);
                    } else {
                        restart.push(line);
                    }
                }
                ReadWhen::Postmap => {
                    let Some(c) = &f.compiled else { continue };
                    if c.source_newer == Some(true) && !is_alias_db(f) {
                        findings.push(Verdict::warn(format!(
                            "{name} ({src}) changed after {} was built: Postfix still uses the old contents until `postmap {name}`",
                            c.path.display()
                        )).with_fix(format!("postmap {name}")));
                    }
                }
            }
        }
        if !reload.is_empty() {
            findings.push(
                Verdict::warn(format!(
                    "a reload is pending: {} after {since}, so the running Postfix does not use what mailcheck read",
                    reload.join("; ")
                ))
                .with_fix("postfix reload"),
            );
        }
        if !restart.is_empty() {
            findings.push(
                Verdict::warn(format!(
                    "{} after {since}: daemons started before keep the old contents until they exit or `postfix reload`",
                    restart.join("; ")
                ))
                .with_fix("postfix reload"),
            );
        }
        let n = o
            .files
            .iter()
            .filter(|f| f.read != ReadWhen::Postmap)
            .count();
        worst_of(
            findings,
            &format!("{since}; none of the {n} files it reads at start changed since"),
        )
    }
}
