//! Runs the selected checks on tokio: each after the checks it needs, independent ones
//! concurrently, every one under its deadline; a check whose dependency did not pass is
//! skipped and names the root cause. Observations come from the run's facts, or from a
//! recording (`--replay`), and are judged the same way.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use serde::{Deserialize, Serialize};

use crate::catalogue::{Check, Requirement, Scope};
use crate::checks::kind::{Evidence, Unobserved};
use crate::facts::Facts;
use crate::verdict::{Status, Verdict};

/// The failed check a skipped check depends on (the root cause when the dependency was itself
/// skipped for one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BlockedBy {
    pub check: String,
    pub status: Status,
    pub message: String,
}

impl BlockedBy {
    /// "blocked by ID (fail): message", the skip's message.
    pub fn describe(&self) -> String {
        format!(
            "blocked by {} ({}): {}",
            self.check, self.status, self.message
        )
    }
}

/// Where a check ran: on the mail server itself, or from another machine (a workstation, a
/// CI runner) with the source address the server saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Vantage {
    pub place: Place,
    /// The client address the server sees (remote vantages), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Place {
    /// mailcheck ran on the mail server.
    Server,
    /// mailcheck ran elsewhere and reached the server over the network.
    Remote,
}

impl Vantage {
    pub fn describe(&self) -> String {
        match (&self.place, &self.address) {
            (Place::Server, _) => "on the server".to_string(),
            (Place::Remote, Some(a)) => format!("from {a}"),
            (Place::Remote, None) => "from another machine".to_string(),
        }
    }
}

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
    /// What the verdict was judged on: the observation, or why there is none (JSON null when
    /// the check did not run).
    pub evidence: serde_json::Value,
    /// Whether `evidence` is an observation (else it is the reason there is none).
    pub observed: bool,
    pub blocked_by: Option<BlockedBy>,
    /// Where it ran (set by the run; `None` for a check that did not run).
    pub vantage: Option<Vantage>,
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

/// What the run could do: decides the runner's own skips (scope, `requires`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Abilities {
    /// On the server itself (host-side checks run).
    pub local: bool,
    pub account: bool,
    pub password: bool,
    /// Test mail may be sent.
    pub send: bool,
}

impl Abilities {
    pub fn of(facts: &Facts) -> Abilities {
        Abilities {
            local: facts.target.local,
            account: facts.account.is_some(),
            password: facts.account.as_ref().is_some_and(|a| a.password.is_some()),
            send: facts.send,
        }
    }
}

/// A recorded observation (or the reason there was none) for one check.
#[derive(Debug, Clone)]
pub enum Recorded {
    Observation(serde_json::Value),
    Unobserved(Unobserved),
}

/// Where observations come from.
#[derive(Clone)]
pub enum Source {
    /// Probes, through the run's facts.
    Live(Arc<Facts>),
    /// A recording: check id -> what was observed (`--replay`).
    Replay(Arc<BTreeMap<String, Recorded>>),
}

type SharedResult = Shared<BoxFuture<'static, Arc<CheckResult>>>;

/// Runs `checks` (already selected, in any order) and returns their results in that order.
/// `budget` bounds the whole run: a check still running when it ends gives `error`.
pub async fn run(
    checks: Vec<Check>,
    source: Source,
    abilities: Abilities,
    host: String,
    budget: Option<Duration>,
    sink: EventSink,
) -> Vec<CheckResult> {
    let run_start = Instant::now();
    let run_deadline = budget.map(|b| run_start + b);
    let mut futures: HashMap<String, SharedResult> = HashMap::new();
    // Checks marked `last` start after all the others (they read what the run did).
    let order = crate::catalogue::topological(&checks);
    let (first, last): (Vec<&Check>, Vec<&Check>) = order.into_iter().partition(|c| !c.last);
    let mut before_last: Vec<SharedResult> = Vec::new();
    for check in first.into_iter().chain(last) {
        let deps: Vec<(String, SharedResult)> = check
            .needs
            .iter()
            .filter_map(|n| futures.get(n).map(|f| (n.clone(), f.clone())))
            .collect();
        let wait_for: Vec<SharedResult> = if check.last {
            before_last.clone()
        } else {
            Vec::new()
        };
        let source = source.clone();
        let sink = sink.clone();
        let check = check.clone();
        let check_is_last = check.last;
        let id = check.id.clone();
        let host = host.clone();
        let fut = async move {
            futures::future::join_all(wait_for).await;
            // A check that cannot run here says so itself, rather than naming a dependency
            // that was skipped for the same reason.
            let result = if let Some(reason) = precondition(&check, abilities, &host) {
                finish(&check, Verdict::skip(reason), None, Duration::ZERO)
            } else if let Some(b) = blocked_by(&deps).await {
                let mut r = finish(&check, Verdict::skip(b.describe()), None, Duration::ZERO);
                r.blocked_by = Some(b);
                r
            } else {
                run_one(&check, source, run_start, run_deadline, &sink).await
            };
            sink(Event::Finished { result: &result });
            Arc::new(result)
        }
        .boxed()
        .shared();
        if !check_is_last {
            before_last.push(fut.clone());
        }
        futures.insert(id, fut);
    }
    let all = checks.iter().map(|c| futures[&c.id].clone());
    let mut results: Vec<CheckResult> = futures::future::join_all(all)
        .await
        .into_iter()
        .map(|r| (*r).clone())
        .collect();
    link_causes(&checks, &mut results);
    results
}

/// A host check that found a fault explains the live checks it lists under `explains` when
/// they failed or could not finish: each effect names it (`caused by ID: ...`; a cause that is
/// only a warning as `perhaps caused by ID (a warning): ...`, and it stays a warning). Linking
/// results that were linked already changes nothing.
pub fn link_causes(checks: &[Check], results: &mut [CheckResult]) {
    let index: HashMap<String, usize> = results
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.clone(), i))
        .collect();
    for c in checks {
        let Some(&ci) = index.get(&c.id) else {
            continue;
        };
        if !matches!(results[ci].verdict.status, Status::Fail | Status::Warn) {
            continue;
        }
        for e in &c.explains {
            let Some(&ei) = index.get(e) else { continue };
            let effect = results[ei].verdict.status;
            if !matches!(effect, Status::Fail | Status::Error) {
                continue;
            }
            let cause = crate::verdict::Cause::Check {
                check: c.id.clone(),
                status: results[ci].verdict.status,
                message: results[ci].verdict.message.clone(),
            };
            let v = &mut results[ei].verdict;
            // Once per cause: linking again (after merging a --ssh run's two sides) adds nothing.
            let linked = v
                .caused_by
                .iter()
                .any(|x| matches!(x, crate::verdict::Cause::Check { check, .. } if *check == c.id));
            if !linked {
                v.message = format!("{}; {}", v.message, cause.describe());
                v.caused_by.push(cause);
            }
        }
        // A warning stays a warning: the live failure may have another reason (a SHA-1
        // signature does not make STARTTLS fail), so it is offered as a possible cause only.
    }
}

/// Waits for the dependencies; returns the root cause if one did not pass.
async fn blocked_by(deps: &[(String, SharedResult)]) -> Option<BlockedBy> {
    for (id, dep) in deps {
        let r = dep.clone().await;
        match r.verdict.status {
            Status::Pass | Status::Warn => {}
            _ if r.blocked_by.is_some() => return r.blocked_by.clone(),
            status => {
                return Some(BlockedBy {
                    check: id.clone(),
                    status,
                    message: r.verdict.message.clone(),
                });
            }
        }
    }
    None
}

fn finish(
    check: &Check,
    verdict: Verdict,
    evidence: Option<Evidence>,
    duration: Duration,
) -> CheckResult {
    let fix = match verdict.status {
        Status::Pass | Status::Skip => verdict.fix.clone(),
        _ => verdict.fix.clone().or_else(|| Some(check.doc.fix.clone())),
    };
    let observed = matches!(evidence, Some(Evidence::Observation(_)));
    CheckResult {
        id: check.id.clone(),
        family: check.family.clone(),
        requirement: check.requirement.clone(),
        title: check.title.clone(),
        evidence: evidence.map(|e| e.to_json()).unwrap_or_default(),
        observed,
        verdict,
        fix,
        blocked_by: None,
        vantage: None,
        duration,
        started_at: Duration::ZERO,
    }
}

/// Why `check` cannot run with these abilities, if it cannot.
fn precondition(check: &Check, a: Abilities, host: &str) -> Option<String> {
    if check.scope == Scope::Local && !a.local {
        return Some(format!(
            "runs on the mail server itself: {host} is not this machine"
        ));
    }
    for r in &check.requires {
        match r {
            Requirement::Account if !a.account => return Some("needs --account".into()),
            Requirement::Password if !a.password => {
                return Some(
                    "needs the account's password (MAILCHECK_PASSWORD, --password-file or --password-stdin)"
                        .into(),
                );
            }
            Requirement::Send if !a.send => {
                return Some(if !a.account {
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

/// Observes (or takes the recording) and judges one check under its deadline.
async fn evaluate(check: &Check, source: Source) -> (Verdict, Option<Evidence>) {
    match source {
        Source::Live(facts) => {
            let e = check.probe.evaluate(&facts).await;
            (e.verdict, Some(e.evidence))
        }
        Source::Replay(rec) => match rec.get(&check.id) {
            Some(Recorded::Observation(o)) => match check.probe.judge_recorded(o.clone()) {
                Ok(v) => (v, Some(Evidence::Observation(o.clone()))),
                Err(e) => (
                    Verdict::error(format!("the recording cannot be judged: {e}")),
                    None,
                ),
            },
            Some(Recorded::Unobserved(u)) => (u.verdict(), Some(Evidence::Unobserved(u.clone()))),
            None => (Verdict::skip("not in the recording"), None),
        },
    }
}

async fn run_one(
    check: &Check,
    source: Source,
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
        tokio::spawn(async move { evaluate(&check, source).await })
    };
    let abort = task.abort_handle();
    let (verdict, evidence) = match tokio::time::timeout(limit, task).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => (Verdict::error(format!("the probe crashed: {e}")), None),
        Err(_) => {
            abort.abort();
            let v = if by_budget {
                Verdict::error(format!(
                    "stopped: the run's --timeout ran out after {}",
                    humantime::format_duration(round(started.elapsed()))
                ))
            } else {
                Verdict::error(format!(
                    "no verdict within the check's {} deadline",
                    humantime::format_duration(limit)
                ))
            };
            (v, None)
        }
    };
    let mut r = finish(check, verdict, evidence, started.elapsed());
    r.started_at = started.duration_since(run_start);
    r
}

fn round(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Catalogue;

    const DOC: &str = "[doc]\nwhy = \"w\"\nfix = \"f\"\nrefs = [\"r\"]\n";

    fn result(c: &Check, v: Verdict) -> CheckResult {
        let mut r = finish(c, v, None, Duration::ZERO);
        r.blocked_by = None;
        r
    }

    #[test]
    fn a_host_finding_explains_a_live_failure_and_a_warning_stays_a_warning() {
        let cause = format!(
            "id = \"smtp.a\"\nrequirement = \"T1\"\ntitle = \"t\"\nscope = \"local\"\nexplains = [\"smtp.banner\"]\n[probe]\nkind = \"banner\"\n{DOC}"
        );
        let effect = format!(
            "id = \"smtp.banner\"\nrequirement = \"T1\"\ntitle = \"t\"\nscope = \"remote\"\n[probe]\nkind = \"banner\"\n{DOC}"
        );
        let cat = Catalogue::from_sources([
            ("smtp/a.toml", cause.as_str()),
            ("smtp/banner.toml", effect.as_str()),
        ])
        .expect("loads");
        let checks = cat.checks().to_vec();
        let mut results = vec![
            result(&checks[0], Verdict::warn("the key is 0644")),
            result(&checks[1], Verdict::fail("454 TLS not available")),
        ];
        link_causes(&checks, &mut results);
        assert_eq!(
            results[0].verdict.status,
            Status::Warn,
            "a warning is not promoted by a failure that may have another reason"
        );
        assert_eq!(results[1].verdict.caused_by.len(), 1);
        assert!(
            results[1]
                .verdict
                .message
                .contains("perhaps caused by smtp.a (a warning): the key is 0644"),
            "{}",
            results[1].verdict.message
        );
        // A passing effect is not linked, and its cause stays a warning.
        let mut results = vec![
            result(&checks[0], Verdict::warn("the key is 0644")),
            result(&checks[1], Verdict::pass("fine")),
        ];
        link_causes(&checks, &mut results);
        assert_eq!(results[0].verdict.status, Status::Warn);
        assert!(results[1].verdict.caused_by.is_empty());
    }
}
