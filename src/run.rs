//! One run of the selected checks against one server, and against many at once (the network
//! checks only, a bounded number of servers in parallel). Builds each server's `Ctx`; prints
//! nothing.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;

use crate::catalogue::{Check, Scope};
use crate::context::{Account, Ctx, Target};
use crate::report::RunReport;
use crate::runner::{self, CheckResult, EventSink};
use crate::secret::{Redactor, Secret};
use crate::settings::Settings;
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

/// One server's run: its report and the context that made it (for cleanup).
pub struct HostRun {
    pub report: RunReport,
    pub ctx: Option<Arc<Ctx>>,
}

/// Resolves `host` within 5 s. Addresses are sorted IPv4 first.
pub async fn resolve(host: &str) -> Result<Vec<IpAddr>, String> {
    let lookup = tokio::net::lookup_host((host, 25));
    match tokio::time::timeout(Duration::from_secs(5), lookup).await {
        Err(_) => Err(format!(
            "cannot resolve host `{host}`: no answer from DNS after 5 s"
        )),
        Ok(Err(e)) => Err(format!("cannot resolve host `{host}`: {e}")),
        Ok(Ok(addrs)) => {
            let mut ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
            ips.sort_by_key(|ip| ip.is_ipv6());
            ips.dedup();
            if ips.is_empty() {
                return Err(format!("host `{host}` has no address"));
            }
            Ok(ips)
        }
    }
}

/// The context for `host` at `addrs`; host-side checks run only when `allow_local` and the
/// host is this machine.
pub fn context(plan: &Plan, host: &str, addrs: Vec<IpAddr>, allow_local: bool) -> Arc<Ctx> {
    let local = allow_local && addrs.iter().any(|ip| crate::net::is_local_address(*ip));
    let redactor = plan.redactor.clone();
    let settings = plan.settings.clone();
    Arc::new(Ctx::new(
        Target {
            host: host.to_string(),
            addrs,
            local,
        },
        plan.account.clone(),
        settings,
        plan.send,
        crate::probe::testmail::new_token(),
        redactor,
    ))
}

/// Runs the plan's checks against `ctx`'s server. Returns the report, already redacted, and the
/// redactor that did it (on the server itself it also knows the passwords in the server's files).
pub async fn run_ctx(plan: &Plan, ctx: Arc<Ctx>, sink: EventSink) -> (RunReport, Redactor) {
    let started = crate::clock::now();
    let t0 = Instant::now();
    let results = runner::run(plan.checks.clone(), ctx.clone(), plan.budget, sink).await;
    // Say goodbye to MySQL (COM_QUIT), so the server logs no "Aborted connection".
    ctx.mysql.close(Duration::from_millis(500)).await;
    let mut report = RunReport {
        host: ctx.target.host.clone(),
        account: plan.account.as_ref().map(|a| a.address.clone()),
        started,
        duration: t0.elapsed(),
        results,
    };
    let mut redactor = ctx.redactor.clone();
    if ctx.target.local {
        let dir = match ctx.postfix().await {
            Ok(cfg) => cfg.config_dir.clone(),
            Err(_) => crate::probe::postfix::find_config_dir(ctx.settings.config_dir.as_deref()),
        };
        for s in crate::probe::secrets::server_secrets(&dir) {
            redactor.add(&s, None);
        }
    }
    report.redact(&redactor);
    (report, redactor)
}

/// A report where every check is `error` because the server could not be reached at all.
fn unreachable(plan: &Plan, host: &str, why: &str) -> RunReport {
    RunReport {
        host: host.to_string(),
        account: plan.account.as_ref().map(|a| a.address.clone()),
        started: crate::clock::now(),
        duration: Duration::ZERO,
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
                    report: unreachable(plan, &host, &why),
                    ctx: None,
                },
                Ok(addrs) => {
                    // Fleet runs are network-only: a loopback alias is not "this server".
                    let ctx = context(plan, &host, addrs, false);
                    let sink: EventSink = Arc::new(|_| {});
                    HostRun {
                        report: run_ctx(plan, ctx.clone(), sink).await.0,
                        ctx: Some(ctx),
                    }
                }
            }
        })
        .buffered(FLEET_CONCURRENCY)
        .collect()
        .await
}

/// The account with its password, or why the account is not usable.
pub fn account(address: Option<&str>, password: Option<Secret>) -> Result<Option<Account>, String> {
    match address {
        None => Ok(None),
        Some(a) => Account::parse(a, password)
            .map(Some)
            .ok_or_else(|| format!("--account `{a}` is not of the form user@domain")),
    }
}
