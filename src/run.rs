//! One run of the selected checks against one server, against many at once (the network
//! checks only, a bounded number of servers in parallel), or from a recording. Builds each
//! server's facts, owns the test-mail ledger and deletes the run's test mail; prints nothing.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;

mod ssh;

pub use ssh::{SERVER_RUN_LIMIT, ServerNotes, SshOutcome, SshSpec, run_host_ssh, runs_on_server};

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
    /// With `--ssh`: what the server-side mailcheck gets of this run's flags and config file
    /// (`--phase-timeout`, the ports, `--server-config`), besides the checks and the account.
    pub server_args: Vec<String>,
}

/// Asks a run to stop early (SIGINT/SIGTERM), so that what runs on a server over SSH can
/// delete its test mail and its upload first.
#[derive(Clone)]
pub struct Stop(tokio::sync::watch::Receiver<bool>);

/// The sending side of a [`Stop`].
pub struct StopHandle(tokio::sync::watch::Sender<bool>);

impl StopHandle {
    pub fn stop(&self) {
        let _ = self.0.send(true);
    }
}

impl Stop {
    pub fn new() -> (StopHandle, Stop) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (StopHandle(tx), Stop(rx))
    }

    /// A stop that never comes.
    pub fn never() -> Stop {
        Stop::new().1
    }

    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once stopped (never, if the handle is gone without stopping).
    pub async fn wait(&self) {
        let mut rx = self.0.clone();
        if rx.wait_for(|s| *s).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
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

/// The facts for `host` when this machine is the server whatever `host` resolves to (the
/// server side of `--ssh`: a public name may resolve to an address behind NAT).
pub fn facts_on_server(plan: &Plan, host: &str, addrs: Vec<IpAddr>) -> Arc<Facts> {
    Arc::new(Facts::new(
        Target {
            host: host.to_string(),
            addrs,
            local: true,
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
    // Where the server's log stands now: checks quote what it logs from here on.
    facts.maillog_start().await;
    let results = runner::run(
        plan.checks.clone(),
        Source::Live(facts.clone()),
        abilities,
        facts.target.host.clone(),
        plan.budget,
        sink,
    )
    .await;
    // Issue 14: what the server runs (memoised; read before the database connection closes).
    let versions = facts.report_versions().await;
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
        versions,
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
        .and_then(crate::net::route_source)
        .map(|ip| ip.to_string());
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

/// One server of a fleet, and how to reach it over SSH for its host checks, if at all.
#[derive(Debug, Clone)]
pub struct FleetHost {
    pub host: String,
    pub ssh: Option<SshSpec>,
}

/// Runs the checks against every host, at most `FLEET_CONCURRENCY` at a time: the network
/// checks, and for a host with `ssh` the host checks too (there over SSH, test mail included).
/// Each host's run goes through `done` as soon as it is over (so that only what `done` keeps of
/// it, not its facts and full report, stays in memory while the rest run); the results come back
/// in the order of `hosts`. After `stop`, what has not finished is left out (servers reached
/// over SSH are told to stop and clean up, and waited for).
pub async fn fleet<T>(
    plan: &Plan,
    hosts: &[FleetHost],
    stop: Stop,
    done: impl Fn(HostRun) -> T,
) -> Vec<T> {
    let mut network = plan.clone();
    network.checks.retain(|c| c.scope == Scope::Remote);
    network.send = false;
    let (network, full) = (&network, plan);
    let (stop, done) = (&stop, &done);
    let runs: Vec<Option<T>> = futures::stream::iter(hosts.iter().cloned())
        .map(|h| async move {
            let host = h.host;
            let addrs = match resolve(&host).await {
                Err(why) => {
                    let plan = if h.ssh.is_some() { full } else { network };
                    return Some(done(HostRun {
                        report: unreachable(plan, &host, &why.to_string()),
                        facts: None,
                    }));
                }
                Ok(a) => a,
            };
            // Fleet runs never take a loopback alias for "this server".
            let sink: EventSink = Arc::new(|_| {});
            match &h.ssh {
                Some(ssh) => {
                    let facts = facts(full, &host, addrs, false);
                    match run_host_ssh(full, facts.clone(), ssh, sink, stop.clone()).await {
                        SshOutcome::Done { report, .. } => Some(done(HostRun {
                            report,
                            facts: Some(facts),
                        })),
                        SshOutcome::Interrupted { .. } => None,
                    }
                }
                None => {
                    let facts = facts(network, &host, addrs, false);
                    tokio::select! {
                        (report, _) = run_host(network, facts.clone(), sink) => Some(done(HostRun {
                            report,
                            facts: Some(facts),
                        })),
                        () = stop.wait() => None,
                    }
                }
            }
        })
        .buffered(FLEET_CONCURRENCY)
        .collect()
        .await;
    runs.into_iter().flatten().collect()
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
