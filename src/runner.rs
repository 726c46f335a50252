//! Runs the selected checks on tokio: each after the checks it needs, independent ones
//! concurrently, every one under its deadline; a check whose dependency did not pass is
//! skipped and names the root cause.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

use crate::catalogue::{Check, Requirement, Scope};
use crate::context::Ctx;
use crate::verdict::{Status, Verdict};

/// The outcome of one check, as reporters see it.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub id: String,
    pub family: String,
    pub requirement: String,
    pub title: String,
    pub verdict: Verdict,
    /// The fix to show: the verdict's own, else the check's `[doc] fix` (only when not passing).
    pub fix: Option<String>,
    pub duration: Duration,
    /// When the check started, from the start of the run (for `--timings`).
    pub started_at: Duration,
}

/// What the runner tells the reporter while it works.
pub enum Event<'a> {
    Started { check: &'a Check },
    Finished { result: &'a CheckResult },
}

/// Receives events; must be cheap (it runs on the runtime's thread).
pub type EventSink = Arc<dyn Fn(Event<'_>) + Send + Sync>;

type SharedResult = Shared<BoxFuture<'static, Arc<CheckResult>>>;

/// Runs `checks` (already selected, in any order) and returns their results in that order.
/// `budget` bounds the whole run: a check still running when it ends gives `error`.
pub async fn run(
    checks: Vec<Check>,
    ctx: Arc<Ctx>,
    budget: Option<Duration>,
    sink: EventSink,
) -> Vec<CheckResult> {
    let run_start = Instant::now();
    let run_deadline = budget.map(|b| run_start + b);
    let order = topological(&checks);
    let mut futures: HashMap<String, SharedResult> = HashMap::new();
    for check in order {
        let deps: Vec<(String, SharedResult)> = check
            .needs
            .iter()
            .filter_map(|n| futures.get(n).map(|f| (n.clone(), f.clone())))
            .collect();
        let ctx = ctx.clone();
        let sink = sink.clone();
        let check = check.clone();
        let id = check.id.clone();
        let fut = async move {
            // A check that cannot run here says so itself, rather than naming a dependency
            // that was skipped for the same reason.
            let blocked = match precondition(&check, &ctx) {
                Some(reason) => Some(reason),
                None => blocked_by(&deps).await,
            };
            let result = match blocked {
                Some(reason) => finish(&check, Verdict::skip(reason), Duration::ZERO),
                None => run_one(&check, ctx, run_start, run_deadline, &sink).await,
            };
            sink(Event::Finished { result: &result });
            Arc::new(result)
        }
        .boxed()
        .shared();
        futures.insert(id, fut);
    }
    let mut out = Vec::with_capacity(checks.len());
    let all = checks.iter().map(|c| futures[&c.id].clone());
    for r in futures::future::join_all(all).await {
        out.push((*r).clone());
    }
    out
}

/// The checks ordered so that each comes after the selected checks it needs.
fn topological(checks: &[Check]) -> Vec<&Check> {
    let selected: std::collections::HashSet<&str> = checks.iter().map(|c| c.id.as_str()).collect();
    let mut done: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut out = Vec::new();
    for _ in 0..=checks.len() {
        for c in checks {
            let ready = c
                .needs
                .iter()
                .all(|n| !selected.contains(n.as_str()) || done.contains(n.as_str()));
            if !done.contains(c.id.as_str()) && ready {
                done.insert(&c.id);
                out.push(c);
            }
        }
    }
    out
}

/// Waits for the dependencies; returns the skip reason if one did not pass.
async fn blocked_by(deps: &[(String, SharedResult)]) -> Option<String> {
    for (id, dep) in deps {
        let r = dep.clone().await;
        match r.verdict.status {
            Status::Pass | Status::Warn => {}
            Status::Skip if r.verdict.message.starts_with("blocked by ") => {
                return Some(r.verdict.message.clone());
            }
            status => {
                return Some(format!("blocked by {id} ({status}): {}", r.verdict.message));
            }
        }
    }
    None
}

fn finish(check: &Check, verdict: Verdict, duration: Duration) -> CheckResult {
    finish_at(check, verdict, duration, Duration::ZERO)
}

fn finish_at(
    check: &Check,
    verdict: Verdict,
    duration: Duration,
    started_at: Duration,
) -> CheckResult {
    let fix = match verdict.status {
        Status::Pass | Status::Skip => verdict.fix.clone(),
        _ => verdict.fix.clone().or_else(|| Some(check.doc.fix.clone())),
    };
    CheckResult {
        id: check.id.clone(),
        family: check.family.clone(),
        requirement: check.requirement.clone(),
        title: check.title.clone(),
        verdict,
        fix,
        duration,
        started_at,
    }
}

/// Why `check` cannot run in this context, if it cannot.
fn precondition(check: &Check, ctx: &Ctx) -> Option<String> {
    if check.scope == Scope::Local && !ctx.target.local {
        return Some(format!(
            "runs on the mail server itself: {} is not this machine",
            ctx.target.host
        ));
    }
    for r in &check.requires {
        match r {
            Requirement::Account if ctx.account.is_none() => {
                return Some("needs --account".into());
            }
            Requirement::Password if ctx.account.as_ref().is_none_or(|a| a.password.is_none()) => {
                return Some(
                    "needs the account's password (MAILCHECK_PASSWORD, --password-file or --password-stdin)"
                        .into(),
                );
            }
            Requirement::Send if !ctx.send => {
                return Some(if ctx.account.is_none() {
                    "needs --account (test mail goes only to that account)".into()
                } else {
                    "--no-send: no test mail".into()
                });
            }
            _ => {}
        }
    }
    None
}

async fn run_one(
    check: &Check,
    ctx: Arc<Ctx>,
    run_start: Instant,
    run_deadline: Option<Instant>,
    sink: &EventSink,
) -> CheckResult {
    sink(Event::Started { check });
    let started = Instant::now();
    let mut limit = check.timeout;
    let mut by_budget = false;
    if let Some(d) = run_deadline {
        let left = d.saturating_duration_since(started);
        if left < limit {
            limit = left;
            by_budget = true;
        }
    }
    // A task of its own, so a panicking probe becomes an `error` instead of ending the run.
    let task = {
        let check = check.clone();
        tokio::spawn(async move { crate::checks::evaluate(&check, &ctx).await })
    };
    let abort = task.abort_handle();
    let verdict = match tokio::time::timeout(limit, task).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => Verdict::error(format!("the probe crashed: {e}")),
        Err(_) => {
            abort.abort();
            if by_budget {
                Verdict::error(format!(
                    "stopped: the run's --timeout ran out after {}",
                    humantime::format_duration(round(started.elapsed()))
                ))
            } else {
                Verdict::error(format!(
                    "no verdict within the check's {} deadline",
                    humantime::format_duration(limit)
                ))
            }
        }
    };
    finish_at(
        check,
        verdict,
        started.elapsed(),
        started.duration_since(run_start),
    )
}

fn round(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}
