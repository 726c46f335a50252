//! T36: Postfix's daemons, running as mail_owner, can create files in the queue directories
//! they write (QSHAPE_README: incoming, active, deferred, ...), walked component by component
//! from `/` (path_resolution(7)).

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::judge::{AccessFinding, access_finding, refused_access};
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::access::{self, Access, AccessReport, Outcome};
use crate::verdict::{Verdict, worst_of};

/// T36: the queue subdirectories mail_owner must create files in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub create_in: Vec<String>,
}

/// One queue directory and the walk to it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct QueueDir {
    pub name: String,
    pub access: AccessReport,
}

/// What T36's access check looks at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub queue_directory: PathBuf,
    pub dirs: Vec<QueueDir>,
}

/// T36: the kind.
pub struct QueueAccess;

impl Kind for QueueAccess {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let identity = facts.mail_owner().await.map_err(Unobserved::Failed)?;
        let queue = PathBuf::from(cfg.get("queue_directory"));
        let names = spec.create_in.clone();
        let q = queue.clone();
        let dirs = tokio::task::spawn_blocking(move || {
            names
                .into_iter()
                .map(|name| QueueDir {
                    access: access::check(&identity, None, &q.join(&name), Access::CreateIn),
                    name,
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| Unobserved::Failed(format!("the access walk crashed: {e}")))?;
        Ok(Observation {
            queue_directory: queue,
            dirs,
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let mut findings = Vec::new();
        let mut ok = Vec::new();
        for d in &o.dirs {
            let r = &d.access;
            let user = r.identity.describe();
            match access_finding(r) {
                AccessFinding::Granted => ok.push(d.name.clone()),
                // Postfix makes a missing queue directory at `postfix start`/`postfix check`.
                AccessFinding::Refused(why) if matches!(r.outcome, Outcome::NotFound { .. }) => {
                    findings.push(Verdict::warn(format!(
                        "queue directory {}: {why} (`postfix check` creates it)",
                        d.name
                    )))
                }
                AccessFinding::Refused(why) => findings.push(refused_access(
                    r,
                    format!(
                        "Postfix's daemons ({user}) cannot create files in {}: {why}; mail that needs the {} queue is not accepted or not moved on",
                        o.queue_directory.join(&d.name).display(),
                        d.name
                    ),
                )),
                AccessFinding::Unknown(why) => {
                    findings.push(Verdict::error(format!("{}: {why}", d.name)))
                }
            }
        }
        let user = o
            .dirs
            .first()
            .map(|d| d.access.identity.describe())
            .unwrap_or_default();
        worst_of(
            findings,
            &format!(
                "{user} can create files in {} under {}",
                ok.join(", "),
                o.queue_directory.display()
            ),
        )
    }
}
