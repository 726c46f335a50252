//! One run of the selected checks against one server, against many at once (the network
//! checks only, a bounded number of servers in parallel), or from a recording. Builds each
//! server's facts, owns the test-mail ledger and deletes the run's test mail; prints nothing.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;

use crate::catalogue::{Check, Scope};
use crate::facts::{Facts, Ledger};
use crate::probe::maildir::{self, Cleanup};
use crate::report::RunReport;
use crate::report::record::Recording;
use crate::runner::{self, Abilities, CheckResult, EventSink, Source};
use crate::secret::{Redactor, Secret};
use crate::settings::Settings;
use crate::target::{Account, Target};
use crate::verdict::Verdict;

/// At most this many servers are probed at the same time in a fleet run.
pub const FLEET_CONCURRENCY: usize = 16;

/// What every server of a run shares.
#[derive(Clone)]
pub struct Plan {
    pub checks: Vec<Check>,
    pub account: Option<Account>,
    pub settings: Settings,
    pub budget: Option<Duration>,
    pub send: bool,
    pub redactor: Redactor,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot resolve host `{host}`: no answer from DNS after 5 s")]
    ResolveTimeout { host: String },
    #[error("cannot resolve host `{host}`: {message}")]
    Resolve { host: String, message: String },
    #[error("host `{host}` has no address")]
    NoAddress { host: String },
    #[error("--account `{0}` is not of the form user@domain")]
    BadAccount(String),
}

/// One server's run: its report and the facts that made it (for cleanup).
pub struct HostRun {
    pub report: RunReport,
    pub facts: Option<Arc<Facts>>,
}

/// Resolves `host` within 5 s. Addresses are sorted IPv4 first.
pub async fn resolve(host: &str) -> Result<Vec<IpAddr>, RunError> {
    let lookup = tokio::net::lookup_host((host, 25));
    match tokio::time::timeout(Duration::from_secs(5), lookup).await {
        Err(_) => Err(RunError::ResolveTimeout { host: host.into() }),
        Ok(Err(e)) => Err(RunError::Resolve {
            host: host.into(),
            message: e.to_string(),
        }),
        Ok(Ok(addrs)) => {
            let mut ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
            ips.sort_by_key(|ip| ip.is_ipv6());
            ips.dedup();
            if ips.is_empty() {
                return Err(RunError::NoAddress { host: host.into() });
            }
            Ok(ips)
        }
    }
}

/// The facts for `host` at `addrs`; host-side checks run only when `allow_local` and the host
/// is this machine.
pub fn facts(plan: &Plan, host: &str, addrs: Vec<IpAddr>, allow_local: bool) -> Arc<Facts> {
    let local = allow_local && addrs.iter().any(|ip| crate::net::is_local_address(*ip));
    Arc::new(Facts::new(
        Target {
            host: host.to_string(),
            addrs,
            local,
        },
        plan.account.clone(),
        plan.settings.clone(),
        plan.send,
        crate::probe::testmail::new_token(),
        Arc::new(Ledger::default()),
    ))
}

/// Runs the plan's checks against `facts`' server. Returns the report, already redacted, and
/// the redactor that did it (on the server itself it also knows the passwords in the server's
/// files).
pub async fn run_host(plan: &Plan, facts: Arc<Facts>, sink: EventSink) -> (RunReport, Redactor) {
    let started = crate::clock::now();
    let t0 = Instant::now();
    let abilities = Abilities::of(&facts);
    let results = runner::run(
        plan.checks.clone(),
        Source::Live(facts.clone()),
        abilities,
        facts.target.host.clone(),
        plan.budget,
        sink,
    )
    .await;
    // Say goodbye to MySQL (COM_QUIT), so the server logs no "Aborted connection".
    facts.mysql.close(Duration::from_millis(500)).await;
    let vantage = vantage_of(&facts);
    let mut results = results;
    for r in results.iter_mut().filter(|r| r.observed) {
        r.vantage = Some(vantage.clone());
    }
    let mut report = RunReport {
        host: facts.target.host.clone(),
        account: plan.account.as_ref().map(|a| a.address.clone()),
        started,
        duration: t0.elapsed(),
        abilities,
        versions: Default::default(),
        results,
    };
    let mut redactor = plan.redactor.clone();
    if facts.target.local {
        let dir = match facts.postfix().await {
            Ok(cfg) => cfg.config_dir.clone(),
            Err(_) => crate::probe::postfix::find_config_dir(facts.settings.config_dir.as_deref()),
        };
        for s in crate::probe::secrets::server_secrets(&dir) {
            redactor.add(&s, None);
        }
    }
    report.redact(&redactor);
    (report, redactor)
}

/// Where this run's checks ran: on the server, or from here with the source address the
/// server sees (the kernel's route choice, found without sending a packet).
fn vantage_of(facts: &Facts) -> runner::Vantage {
    if facts.target.local {
        return runner::Vantage {
            place: runner::Place::Server,
            address: None,
        };
    }
    let address = facts
        .target
        .socket_addr(facts.settings.smtp_port)
        .and_then(|to| {
            let bind = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
            let s = std::net::UdpSocket::bind(bind).ok()?;
            s.connect(to).ok()?;
            s.local_addr().ok().map(|a| a.ip().to_string())
        });
    runner::Vantage {
        place: runner::Place::Remote,
        address,
    }
}

/// Judges a recording (`--record DIR` of an earlier run) again, without any I/O.
pub async fn replay(plan: &Plan, recording: Recording, sink: EventSink) -> RunReport {
    let t0 = Instant::now();
    let mut checks = plan.checks.clone();
    checks.retain(|c| recording.checks.contains_key(&c.id));
    let vantages: BTreeMap<String, runner::Vantage> = recording
        .checks
        .iter()
        .filter_map(|(id, e)| {
            crate::report::record::vantage(&recording.run, e).map(|v| (id.clone(), v))
        })
        .collect();
    let observations: BTreeMap<String, runner::Recorded> = recording
        .checks
        .into_iter()
        .filter_map(|(id, e)| recorded(&e).map(|r| (id, r)))
        .collect();
    let results = runner::run(
        checks,
        Source::Replay(Arc::new(observations)),
        recording.run.abilities,
        recording.run.host.clone(),
        None,
        sink,
    )
    .await;
    let mut results = results;
    for r in results.iter_mut().filter(|r| r.observed) {
        r.vantage = vantages.get(&r.id).cloned();
    }
    let mut report = RunReport {
        host: recording.run.host,
        account: recording.run.account,
        started: crate::clock::parse_rfc3339(&recording.run.started)
            .unwrap_or(std::time::UNIX_EPOCH),
        duration: t0.elapsed(),
        abilities: recording.run.abilities,
        versions: recording.run.versions,
        results,
    };
    report.redact(&plan.redactor);
    report
}

/// What a recorded entry holds for the runner; `None` for a check that did not run.
fn recorded(e: &crate::report::record::RecordEntry) -> Option<runner::Recorded> {
    use crate::checks::kind::Unobserved;
    if let Some(o) = &e.observation {
        return Some(runner::Recorded::Observation(o.clone()));
    }
    let u = e.unobserved.as_ref()?;
    Some(runner::Recorded::Unobserved(
        serde_json::from_value::<Unobserved>(u.clone())
            .unwrap_or_else(|err| Unobserved::Failed(format!("unreadable recording: {err}"))),
    ))
}

/// Deletes this run's test messages (and leftovers of dead runs). After an interruption, first
/// waits up to `grace` for messages the server accepted but had not delivered yet.
pub async fn cleanup(facts: &Facts, grace: Duration) -> Option<Cleanup> {
    let dir = facts.ledger.maildir()?;
    // All in-flight messages share one grace period.
    let waits = facts
        .ledger
        .pending()
        .into_iter()
        .map(|id| {
            let dir = dir.clone();
            async move { maildir::wait_for(&dir, &id, grace).await }
        })
        .collect::<Vec<_>>();
    let _ = futures::future::join_all(waits).await;
    let token = facts.run_token.clone();
    tokio::task::spawn_blocking(move || maildir::cleanup(&dir, &token))
        .await
        .ok()
}

/// A report where every check is `error` because the server could not be reached at all.
fn unreachable(plan: &Plan, host: &str, why: &str) -> RunReport {
    RunReport {
        host: host.to_string(),
        account: plan.account.as_ref().map(|a| a.address.clone()),
        started: crate::clock::now(),
        duration: Duration::ZERO,
        abilities: Abilities {
            local: false,
            account: plan.account.is_some(),
            password: plan.account.as_ref().is_some_and(|a| a.password.is_some()),
            send: false,
        },
        versions: Default::default(),
        results: plan
            .checks
            .iter()
            .map(|c| CheckResult {
                id: c.id.clone(),
                family: c.family.clone(),
                requirement: c.requirement.clone(),
                title: c.title.clone(),
                verdict: Verdict::error(why.to_string()),
                fix: Some("check the host name and that it resolves from here".into()),
                evidence: serde_json::Value::Null,
                observed: false,
                blocked_by: None,
                vantage: None,
                duration: Duration::ZERO,
                started_at: Duration::ZERO,
            })
            .collect(),
    }
}

/// Runs the network checks against every host, at most `FLEET_CONCURRENCY` at a time; the
/// reports come back in the order of `hosts`.
pub async fn fleet(plan: &Plan, hosts: &[String]) -> Vec<HostRun> {
    let mut plan = plan.clone();
    plan.checks.retain(|c| c.scope == Scope::Remote);
    plan.send = false;
    let plan = &plan;
    futures::stream::iter(hosts.iter().cloned())
        .map(|host| async move {
            match resolve(&host).await {
                Err(why) => HostRun {
                    report: unreachable(plan, &host, &why.to_string()),
                    facts: None,
                },
                Ok(addrs) => {
                    // Fleet runs are network-only: a loopback alias is not "this server".
                    let facts = facts(plan, &host, addrs, false);
                    let sink: EventSink = Arc::new(|_| {});
                    HostRun {
                        report: run_host(plan, facts.clone(), sink).await.0,
                        facts: Some(facts),
                    }
                }
            }
        })
        .buffered(FLEET_CONCURRENCY)
        .collect()
        .await
}

/// The account with its password, or why the account is not usable.
pub fn account(
    address: Option<&str>,
    password: Option<Secret>,
) -> Result<Option<Account>, RunError> {
    match address {
        None => Ok(None),
        Some(a) => Account::parse(a, password)
            .map(Some)
            .ok_or_else(|| RunError::BadAccount(a.to_string())),
    }
}

/// Whether `dir` holds a recording (its `run.json`).
pub fn is_recording(dir: &Path) -> bool {
    dir.join("run.json").is_file()
}
