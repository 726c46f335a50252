//! `mailcheck run --ssh`: the host checks (and the deliveries, which need the Maildir) run on
//! the server by the same mailcheck over SSH (remote/ssh.rs), the network checks run from here
//! at the same time, and the two reports become one, each check saying where it ran. `needs`
//! between the two sides are settled after merging; `explains` are linked again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use serde::Deserialize;
use tokio::time::Instant;

use super::{Plan, Stop, run_host};
use crate::catalogue::{Check, Scope};
use crate::facts::Facts;
use crate::remote::ssh::{RemoteBinary, RemoteRun, Session, SshConfig, SshError, Target};
use crate::report::RunReport;
use crate::runner::{self, Abilities, BlockedBy, CheckResult, EventSink, Place, Vantage};
use crate::secret::Redactor;
use crate::verdict::{Cause, Status, Verdict};

/// Checks that also run on the server. The relay probe from here comes from outside
/// mynetworks, unless this machine's address is inside the server's mynetworks: then it proves
/// nothing, and the server's own probe (from an address of the server outside mynetworks)
/// decides.
const BOTH_SIDES: &[&str] = &["relay.unauthenticated-refused"];

/// Without `--timeout`, the longest the server-side run may take.
pub const SERVER_RUN_LIMIT: Duration = Duration::from_secs(600);

/// mailcheck's exit status when interrupted (exit.rs), as the remote run passes it through.
const REMOTE_INTERRUPTED: i32 = crate::exit::INTERRUPTED as i32;

/// How to reach one server over SSH (`--ssh`, `ssh` in the config file, `ssh=` in a hosts file).
#[derive(Debug, Clone)]
pub struct SshSpec {
    pub target: Target,
    pub config: SshConfig,
}

/// What the server side said besides its report.
#[derive(Debug, Clone, Default)]
pub struct ServerNotes {
    /// The server-side mailcheck's own stderr lines (cleanup problems, its interruption).
    pub stderr: Vec<String>,
    /// Why the host checks did not run there, when they did not.
    pub failure: Option<String>,
    /// Login time, binary and run time, for `--timings`.
    pub summary: Option<String>,
}

/// The end of a `--ssh` run.
pub enum SshOutcome {
    Done {
        report: RunReport,
        redactor: Redactor,
        server: ServerNotes,
    },
    /// Stopped (SIGINT/SIGTERM); the server-side run was stopped too and has cleaned up.
    Interrupted { server: ServerNotes },
}

/// Which side runs a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Here,
    Server,
}

/// Whether `--ssh` runs the check on the server (the host checks, and what needs the Maildir).
pub fn runs_on_server(c: &Check) -> bool {
    side(c) == Side::Server
}

fn side(c: &Check) -> Side {
    match c.scope {
        Scope::Local => Side::Server,
        // A probe that may get test mail delivered (H1) runs where the Maildir is, like the
        // deliveries, so the message is waited for and deleted with the run's other test mail.
        Scope::Remote if c.maildir => Side::Server,
        Scope::Remote => Side::Here,
    }
}

/// What the server-side run gave.
enum ServerResult {
    /// Nothing to run there.
    Nothing,
    Ran {
        checks: Vec<WireCheck>,
        versions: BTreeMap<String, String>,
        /// When it started, from the start of the whole run.
        started_at: Duration,
    },
    Failed(String),
    Interrupted,
}

/// Runs `plan` against `facts`' server: the host checks over `ssh`, the network checks from
/// here. `stop` ends it early: the checks here are dropped, the server-side run is asked to
/// stop (it deletes its test mail and its upload) and waited for.
pub async fn run_host_ssh(
    plan: &Plan,
    facts: Arc<Facts>,
    ssh: &SshSpec,
    sink: EventSink,
    stop: Stop,
) -> SshOutcome {
    let started = crate::clock::now();
    let t0 = std::time::Instant::now();
    let deadline = Instant::now() + plan.budget.unwrap_or(SERVER_RUN_LIMIT);
    let there: Vec<Check> = plan
        .checks
        .iter()
        .filter(|c| side(c) == Side::Server || BOTH_SIDES.contains(&c.id.as_str()))
        .cloned()
        .collect();
    let here = Plan {
        checks: plan
            .checks
            .iter()
            .filter(|c| side(c) == Side::Here)
            .cloned()
            .collect(),
        ..plan.clone()
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<Option<String>>();
    facts.expect_server_mynetworks(async move { rx.await.ok().flatten() }.boxed());
    let mut server = std::pin::pin!(server_side(
        plan,
        &facts.target.host,
        &there,
        ssh,
        deadline,
        stop.clone(),
        tx,
        t0,
    ));
    let mut local = std::pin::pin!(run_host(&here, facts.clone(), sink.clone()));
    let finished = tokio::select! {
        r = futures::future::join(local.as_mut(), server.as_mut()) => Some(r),
        () = stop.wait() => None,
    };
    let Some(((local_report, _), (server_result, mut notes))) = finished else {
        let (_, notes) = server.await;
        return SshOutcome::Interrupted { server: notes };
    };
    if matches!(server_result, ServerResult::Interrupted) {
        return SshOutcome::Interrupted { server: notes };
    }
    if let ServerResult::Failed(why) = &server_result {
        notes.failure = Some(why.clone());
    }
    let results = merge(&plan.checks, local_report.results, &server_result);
    for r in results
        .iter()
        .filter(|r| matches!(&r.vantage, Some(v) if v.place == Place::Server))
    {
        sink(runner::Event::Finished { result: r });
    }
    let (versions, ran_there) = match server_result {
        ServerResult::Ran { versions, .. } => (versions, true),
        _ => (BTreeMap::new(), false),
    };
    let mut report = RunReport {
        host: facts.target.host.clone(),
        account: plan.account.as_ref().map(|a| a.address.clone()),
        started,
        duration: t0.elapsed(),
        abilities: Abilities {
            local: ran_there,
            ..local_report.abilities
        },
        versions,
        results,
    };
    // The server redacted its own secrets (its database passwords); this is the account's.
    report.redact(&plan.redactor);
    SshOutcome::Done {
        report,
        redactor: plan.redactor.clone(),
        server: notes,
    }
}

/// Logs in, learns mynetworks for the relay probe from here, runs mailcheck there with the
/// server-side checks, and reads its report.
#[allow(clippy::too_many_arguments)]
async fn server_side(
    plan: &Plan,
    host: &str,
    checks: &[Check],
    ssh: &SshSpec,
    deadline: Instant,
    stop: Stop,
    mynetworks: tokio::sync::oneshot::Sender<Option<String>>,
    t0: std::time::Instant,
) -> (ServerResult, ServerNotes) {
    let mut notes = ServerNotes::default();
    let result = server_run(
        plan, host, checks, ssh, deadline, stop, mynetworks, t0, &mut notes,
    )
    .await;
    (result, notes)
}

#[allow(clippy::too_many_arguments)]
async fn server_run(
    plan: &Plan,
    host: &str,
    checks: &[Check],
    ssh: &SshSpec,
    deadline: Instant,
    stop: Stop,
    mynetworks: tokio::sync::oneshot::Sender<Option<String>>,
    t0: std::time::Instant,
    notes: &mut ServerNotes,
) -> ServerResult {
    if checks.is_empty() {
        return ServerResult::Nothing;
    }
    let t = &plan.settings.timeouts;
    // Logging in and the probe are one connect and a few commands.
    let open_by = deadline.min(Instant::now() + t.connect + t.command);
    let opened = tokio::select! {
        s = Session::open(&ssh.target, ssh.config.clone(), open_by) => s,
        () = stop.wait() => return ServerResult::Interrupted,
    };
    let session = match opened {
        Ok(s) => s,
        Err(e) => return ServerResult::Failed(ssh_failure(&e)),
    };
    let left = deadline.saturating_duration_since(Instant::now());
    // The remote run's own --timeout ends before ours, so that its report still arrives.
    let margin = (left / 10).clamp(Duration::from_secs(2), Duration::from_secs(15));
    if left < margin + Duration::from_secs(1) {
        session.close().await;
        return ServerResult::Failed(format!(
            "logged in to {}, but the run's --timeout left no time for the checks there",
            ssh.target
        ));
    }
    let wants_mynetworks = checks.iter().any(|c| BOTH_SIDES.contains(&c.id.as_str()));
    let learn = async {
        if !wants_mynetworks {
            return;
        }
        let mut argv = vec!["postconf"];
        let dir = plan
            .settings
            .config_dir
            .as_ref()
            .map(|d| d.display().to_string());
        if let Some(d) = &dir {
            argv.extend(["-c", d.as_str()]);
        }
        argv.extend(["-h", "mynetworks"]);
        let by = deadline.min(Instant::now() + t.command);
        let value = match session.run_command(&argv, by).await {
            Ok(o) if o.exit_code == 0 => {
                let v = String::from_utf8_lossy(&o.stdout).trim().to_string();
                (!v.is_empty()).then_some(v)
            }
            _ => None,
        };
        let _ = mynetworks.send(value);
    };
    let args = server_args(plan, host, checks, left - margin);
    let password = plan.account.as_ref().and_then(|a| a.password.as_ref());
    let started_at = t0.elapsed();
    let run = session.run_mailcheck_until(&args, password, deadline, stop.wait());
    let ((), run) = tokio::join!(learn, run);
    let opened_in = session.opened_in();
    session.close().await;
    if let Ok(r) = &run {
        notes.stderr = r
            .stderr
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        notes.summary = Some(summary(&ssh.target, opened_in, r));
    }
    read_server_run(run, stop.is_stopped(), started_at)
}

/// "root@mx: logged in in 0.41 s; uploaded 11.6 MB; ran in 3.20 s".
fn summary(target: &Target, opened_in: Duration, r: &RemoteRun) -> String {
    let binary = match &r.binary {
        RemoteBinary::Installed { path } => format!("ran the installed {path}"),
        RemoteBinary::Uploaded { bytes, .. } => {
            format!("uploaded {:.1} MB", *bytes as f64 / 1_000_000.0)
        }
    };
    format!(
        "{target}: logged in and probed in {:.2} s; {binary}; the server-side run took {:.2} s (exit {})",
        opened_in.as_secs_f64(),
        r.elapsed.as_secs_f64(),
        r.exit_code
    )
}

/// An SSH failure as the one line each host check shows.
fn ssh_failure(e: &SshError) -> String {
    format!("not run on the server: {}", one_line(&e.to_string()))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The server-side mailcheck's arguments: only the server-side checks, JSON out, the account
/// (its password follows on stdin), and what this run's flags and config file set.
fn server_args(plan: &Plan, host: &str, checks: &[Check], budget: Duration) -> Vec<String> {
    let mut a: Vec<String> = [
        "run",
        "--server-side",
        "--host",
        host,
        "--format",
        "json",
        "--timeout",
    ]
    .map(String::from)
    .to_vec();
    a.push(format!("{:.1}", budget.as_secs_f64()));
    for c in checks {
        a.extend(["--only".to_string(), c.id.clone()]);
    }
    if let Some(acc) = &plan.account {
        a.extend(["--account".to_string(), acc.address.clone()]);
        if acc.password.is_some() {
            a.push("--password-stdin".into());
        }
    }
    if !plan.send {
        a.push("--no-send".into());
    }
    a.extend(plan.server_args.iter().cloned());
    a
}

/// One check of the server-side JSON report (reports/schema-v2.json).
#[derive(Debug, Clone, Deserialize)]
struct WireCheck {
    id: String,
    status: Status,
    message: String,
    #[serde(default)]
    evidence: serde_json::Value,
    #[serde(default)]
    observed: bool,
    #[serde(default)]
    blocked_by: Option<BlockedBy>,
    #[serde(default)]
    caused_by: Vec<Cause>,
    #[serde(default)]
    vantage: Option<Vantage>,
    #[serde(default)]
    fix: Option<String>,
    #[serde(default)]
    duration_ms: u64,
}

#[derive(Debug, Deserialize)]
struct WireReport {
    schema_version: u32,
    #[serde(default)]
    target: WireTarget,
    checks: Vec<WireCheck>,
}

#[derive(Debug, Default, Deserialize)]
struct WireTarget {
    #[serde(default)]
    versions: BTreeMap<String, String>,
}

/// What the server-side run's exit status, stdout and stderr say.
fn read_server_run(
    run: Result<RemoteRun, SshError>,
    stopped: bool,
    started_at: Duration,
) -> ServerResult {
    let r = match run {
        Ok(r) => r,
        Err(_) if stopped => return ServerResult::Interrupted,
        Err(e) => return ServerResult::Failed(ssh_failure(&e)),
    };
    let last = r
        .stderr
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.trim_start_matches("mailcheck: ").to_string())
        .unwrap_or_else(|| "it said nothing on stderr".into());
    match r.exit_code {
        _ if stopped => ServerResult::Interrupted,
        0 | 1 | 3 if r.stdout_truncated => ServerResult::Failed(
            "the server-side mailcheck's report is larger than mailcheck reads (64 MiB)".into(),
        ),
        0 | 1 | 3 => match parse_report(&r.stdout) {
            Ok(w) => ServerResult::Ran {
                checks: w.checks,
                versions: w.target.versions,
                started_at,
            },
            Err(e) => ServerResult::Failed(format!(
                "the server-side mailcheck's report cannot be read ({e}); it said: {last}"
            )),
        },
        2 => ServerResult::Failed(format!(
            "the server-side mailcheck refused to run (exit status 2): {last}; fix that on the server (e.g. its /etc/mailcheck/config.toml)"
        )),
        REMOTE_INTERRUPTED => ServerResult::Failed(format!(
            "the server-side mailcheck was interrupted on the server: {last}"
        )),
        c if c > 128 => ServerResult::Failed(format!(
            "the server-side mailcheck died (exit status {c}, signal {}): {last}",
            c - 128
        )),
        c => ServerResult::Failed(format!(
            "the server-side mailcheck ended with exit status {c}: {last}"
        )),
    }
}

fn parse_report(stdout: &[u8]) -> Result<WireReport, String> {
    let w: WireReport = serde_json::from_slice(stdout).map_err(|e| e.to_string())?;
    if w.schema_version != crate::report::json::SCHEMA_VERSION {
        return Err(format!(
            "schema version {}, not {}",
            w.schema_version,
            crate::report::json::SCHEMA_VERSION
        ));
    }
    Ok(w)
}

/// The server's result for `check`, as the runner would have made it.
fn from_wire(check: &Check, w: &WireCheck, started_at: Duration) -> CheckResult {
    let mut verdict = Verdict::new(w.status, w.message.clone());
    verdict.caused_by.clone_from(&w.caused_by);
    CheckResult {
        id: check.id.clone(),
        family: check.family.clone(),
        requirement: check.requirement.clone(),
        title: check.title.clone(),
        verdict,
        fix: w.fix.clone(),
        evidence: w.evidence.clone(),
        observed: w.observed,
        blocked_by: w.blocked_by.clone(),
        vantage: w.vantage.clone().or_else(|| {
            w.observed.then_some(Vantage {
                place: Place::Server,
                address: None,
            })
        }),
        duration: Duration::from_millis(w.duration_ms),
        started_at,
    }
}

/// A result without a run: `verdict`, no evidence.
fn unrun(check: &Check, verdict: Verdict) -> CheckResult {
    CheckResult {
        id: check.id.clone(),
        family: check.family.clone(),
        requirement: check.requirement.clone(),
        title: check.title.clone(),
        verdict,
        fix: None,
        evidence: serde_json::Value::Null,
        observed: false,
        blocked_by: None,
        vantage: None,
        duration: Duration::ZERO,
        started_at: Duration::ZERO,
    }
}

/// One result per check of `checks`, in their order: the network checks from `here`, the host
/// checks from the server (or an `error` saying why they did not run there); then `needs`
/// across the sides and `explains` are settled.
fn merge(checks: &[Check], here: Vec<CheckResult>, server: &ServerResult) -> Vec<CheckResult> {
    let mut here: HashMap<String, CheckResult> =
        here.into_iter().map(|r| (r.id.clone(), r)).collect();
    let (there, started_at): (HashMap<&str, &WireCheck>, Duration) = match server {
        ServerResult::Ran {
            checks, started_at, ..
        } => (
            checks.iter().map(|w| (w.id.as_str(), w)).collect(),
            *started_at,
        ),
        _ => (HashMap::new(), Duration::ZERO),
    };
    let mut results = Vec::with_capacity(checks.len());
    for c in checks {
        let theirs = there
            .get(c.id.as_str())
            .map(|w| from_wire(c, w, started_at));
        let r = match side(c) {
            Side::Here => {
                let Some(mine) = here.remove(&c.id) else {
                    continue;
                };
                match theirs {
                    Some(t) if BOTH_SIDES.contains(&c.id.as_str()) => relay_result(mine, t),
                    _ => mine,
                }
            }
            Side::Server => match (server, theirs) {
                (_, Some(t)) => t,
                (ServerResult::Failed(why), None) => unrun(c, Verdict::error(why.clone())),
                (_, None) => unrun(
                    c,
                    Verdict::skip(
                        "the server-side run left it out (does a `skip` in the server's /etc/mailcheck/config.toml name it?)",
                    ),
                ),
            },
        };
        results.push(r);
    }
    relink_needs(checks, &mut results);
    runner::link_causes(checks, &mut results);
    results
}

/// The relay probe's result: the one from here, unless it proves nothing from here (this
/// machine is inside the server's mynetworks: a skip), then the server's; and when the server
/// refuses relaying from outside mynetworks but accepted it from here, this machine is trusted
/// by the server in a way mailcheck cannot see from here (NAT into mynetworks, an access map):
/// a warning, not an open relay.
fn relay_result(mine: CheckResult, theirs: CheckResult) -> CheckResult {
    if !theirs.observed {
        return mine;
    }
    match (mine.verdict.status, theirs.verdict.status) {
        (Status::Skip, _) if mine.blocked_by.is_none() => {
            let mut r = theirs;
            r.verdict.message = format!(
                "{}, so the probe ran on the server: {}",
                mine.verdict.message, r.verdict.message
            );
            r
        }
        (Status::Fail, Status::Pass) => {
            let mut r = mine;
            r.verdict = Verdict::warn(format!(
                "{}; yet on the server the probe was refused ({}): the server trusts this machine's address, though mailcheck sees it outside mynetworks (NAT into mynetworks? an access map?); not an open relay to everyone, but check that the trust is meant",
                r.verdict.message, theirs.verdict.message
            ));
            r.fix = Some(
                "find what lets this machine relay: postconf mynetworks smtpd_relay_restrictions smtpd_recipient_restrictions, and the client address Postfix logged"
                    .into(),
            );
            r
        }
        _ => mine,
    }
}

/// Each side's runner saw only its own checks, so a check that needs one of the other side
/// ran regardless. Now that both are known, a check whose dependency on the other side (or a
/// dependency that changed here) did not pass is skipped, naming the root cause, as the runner
/// does. A check that skipped by itself (it cannot run here, or does not apply) stays.
fn relink_needs(checks: &[Check], results: &mut [CheckResult]) {
    let index: HashMap<String, usize> = results
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.clone(), i))
        .collect();
    let sides: HashMap<&str, Side> = checks.iter().map(|c| (c.id.as_str(), side(c))).collect();
    let mut changed: HashSet<String> = HashSet::new();
    let passes = |r: &CheckResult| matches!(r.verdict.status, Status::Pass | Status::Warn);
    for c in crate::catalogue::topological(checks) {
        let Some(&i) = index.get(&c.id) else { continue };
        if results[i].verdict.status == Status::Skip && results[i].blocked_by.is_none() {
            continue;
        }
        let deps: Vec<&String> = c.needs.iter().filter(|n| index.contains_key(*n)).collect();
        let unseen = |n: &String| sides.get(n.as_str()) != Some(&side(c)) || changed.contains(n);
        if !deps
            .iter()
            .any(|n| unseen(n) && !passes(&results[index[*n]]))
        {
            continue;
        }
        // As runner::blocked_by: the first dependency that did not pass, or its root cause.
        let Some(b) = deps.iter().find_map(|n| {
            let d = &results[index[*n]];
            if passes(d) {
                return None;
            }
            Some(d.blocked_by.clone().unwrap_or_else(|| BlockedBy {
                check: (*n).clone(),
                status: d.verdict.status,
                message: d.verdict.message.clone(),
            }))
        }) else {
            continue;
        };
        if results[i].blocked_by.as_ref() == Some(&b) {
            continue;
        }
        let r = &mut results[i];
        r.verdict = Verdict::skip(b.describe());
        r.blocked_by = Some(b);
        r.fix = None;
        r.evidence = serde_json::Value::Null;
        r.observed = false;
        r.vantage = None;
        r.duration = Duration::ZERO;
        changed.insert(c.id.clone());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::catalogue::Catalogue;

    const DOC: &str = "[doc]\nwhy = \"w\"\nfix = \"f\"\nrefs = [\"r\"]\n";

    /// A catalogue: (id, scope, needs, explains).
    fn checks(spec: &[(&str, &str, &[&str], &[&str])]) -> Vec<Check> {
        let sources: Vec<(String, String)> = spec
            .iter()
            .map(|(id, scope, needs, explains)| {
                let (family, name) = id.split_once('.').unwrap();
                let list = |l: &[&str]| {
                    l.iter()
                        .map(|s| format!("\"{s}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                (
                    format!("{family}/{name}.toml"),
                    format!(
                        "id = \"{id}\"\nrequirement = \"T1\"\ntitle = \"t\"\nscope = \"{scope}\"\nneeds = [{}]\nexplains = [{}]\n[probe]\nkind = \"smtp/banner\"\n{DOC}",
                        list(needs),
                        list(explains)
                    ),
                )
            })
            .collect();
        let cat =
            Catalogue::from_sources(sources.iter().map(|(a, b)| (a.as_str(), b.as_str()))).unwrap();
        spec.iter()
            .map(|(id, ..)| cat.get(id).unwrap().clone())
            .collect()
    }

    fn here(c: &Check, v: Verdict) -> CheckResult {
        let mut r = unrun(c, v);
        r.observed = true;
        r.evidence = serde_json::json!({"x": 1});
        r.vantage = Some(Vantage {
            place: Place::Remote,
            address: Some("198.18.1.2".into()),
        });
        r
    }

    fn wire(id: &str, status: Status, message: &str) -> WireCheck {
        WireCheck {
            id: id.into(),
            status,
            message: message.into(),
            evidence: serde_json::json!({"y": 2}),
            observed: true,
            blocked_by: None,
            caused_by: Vec::new(),
            vantage: Some(Vantage {
                place: Place::Server,
                address: None,
            }),
            fix: None,
            duration_ms: 7,
        }
    }

    fn ran(checks: Vec<WireCheck>) -> ServerResult {
        ServerResult::Ran {
            checks,
            versions: BTreeMap::new(),
            started_at: Duration::ZERO,
        }
    }

    fn status(results: &[CheckResult], id: &str) -> (Status, String) {
        let r = results.iter().find(|r| r.id == id).unwrap();
        (r.verdict.status, r.verdict.message.clone())
    }

    #[test]
    fn results_keep_the_catalogue_order_and_say_where_they_ran() {
        let cs = checks(&[
            ("postfix.a", "local", &[], &[]),
            ("smtp.b", "remote", &[], &[]),
        ]);
        let out = merge(
            &cs,
            vec![here(&cs[1], Verdict::pass("ok here"))],
            &ran(vec![wire("postfix.a", Status::Fail, "bad there")]),
        );
        assert_eq!(
            out.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["postfix.a", "smtp.b"]
        );
        assert_eq!(out[0].vantage.as_ref().unwrap().place, Place::Server);
        assert_eq!(out[0].evidence, serde_json::json!({"y": 2}));
        assert_eq!(out[0].duration, Duration::from_millis(7));
        assert_eq!(out[1].vantage.as_ref().unwrap().place, Place::Remote);
    }

    #[test]
    fn needs_across_the_sides_skip_only_when_the_dependency_did_not_pass() {
        // here.n needs there.a (fails); there.b needs here.m (fails); there.c needs there.b
        // (so its root cause is here.m); here.p needs there.d (passes): runs.
        let cs = checks(&[
            ("postfix.a", "local", &[], &[]),
            ("postfix.d", "local", &[], &[]),
            ("smtp.m", "remote", &[], &[]),
            ("smtp.n", "remote", &["postfix.a"], &[]),
            ("smtp.p", "remote", &["postfix.d"], &[]),
            ("postfix.b", "local", &["smtp.m"], &[]),
            ("postfix.c", "local", &["postfix.b"], &[]),
        ]);
        let mine = vec![
            here(&cs[2], Verdict::fail("m broke")),
            here(&cs[3], Verdict::pass("n ran")),
            here(&cs[4], Verdict::pass("p ran")),
        ];
        let theirs = ran(vec![
            wire("postfix.a", Status::Fail, "a broke"),
            wire("postfix.d", Status::Pass, "d fine"),
            wire("postfix.b", Status::Pass, "b ran"),
            wire("postfix.c", Status::Pass, "c ran"),
        ]);
        let out = merge(&cs, mine, &theirs);
        assert_eq!(
            status(&out, "smtp.n"),
            (Status::Skip, "blocked by postfix.a (fail): a broke".into())
        );
        assert_eq!(status(&out, "smtp.p").0, Status::Pass, "no false skip");
        assert_eq!(
            status(&out, "postfix.b"),
            (Status::Skip, "blocked by smtp.m (fail): m broke".into())
        );
        let c = out.iter().find(|r| r.id == "postfix.c").unwrap();
        assert_eq!(
            c.blocked_by.as_ref().unwrap().check,
            "smtp.m",
            "the root cause"
        );
        assert!(!c.observed && c.evidence.is_null() && c.vantage.is_none());
    }

    #[test]
    fn an_ssh_failure_errors_the_host_checks_only() {
        let cs = checks(&[
            ("postfix.a", "local", &[], &[]),
            ("postfix.b", "local", &["postfix.a"], &[]),
            ("smtp.m", "remote", &[], &[]),
            ("smtp.n", "remote", &["postfix.a"], &[]),
        ]);
        let mine = vec![
            here(&cs[2], Verdict::pass("m")),
            here(&cs[3], Verdict::pass("n")),
        ];
        let out = merge(
            &cs,
            mine,
            &ServerResult::Failed("not run on the server: connection refused".into()),
        );
        assert_eq!(status(&out, "postfix.a").0, Status::Error);
        assert_eq!(
            status(&out, "postfix.b"),
            (
                Status::Error,
                "not run on the server: connection refused".into()
            ),
            "every host check says why, not 'blocked by'"
        );
        assert_eq!(status(&out, "smtp.m").0, Status::Pass);
        assert_eq!(status(&out, "smtp.n").0, Status::Skip);
    }

    #[test]
    fn a_host_finding_explains_a_network_failure_once() {
        let cs = checks(&[
            ("postfix.a", "local", &[], &["smtp.m"]),
            ("smtp.m", "remote", &[], &[]),
        ]);
        let out = merge(
            &cs,
            vec![here(&cs[1], Verdict::fail("454 TLS not available"))],
            &ran(vec![wire("postfix.a", Status::Warn, "the key is 0644")]),
        );
        assert_eq!(
            status(&out, "postfix.a").0,
            Status::Warn,
            "a warning stays one"
        );
        let m = out.iter().find(|r| r.id == "smtp.m").unwrap();
        assert_eq!(m.verdict.caused_by.len(), 1);
        let mut again = out.clone();
        runner::link_causes(&cs, &mut again);
        assert_eq!(again[1].verdict.caused_by.len(), 1, "idempotent");
        assert_eq!(again[1].verdict.message, out[1].verdict.message);
    }

    #[test]
    fn a_check_the_server_left_out_is_skipped_with_the_reason() {
        let cs = checks(&[("postfix.a", "local", &[], &[])]);
        let out = merge(&cs, Vec::new(), &ran(Vec::new()));
        assert_eq!(status(&out, "postfix.a").0, Status::Skip);
        assert!(status(&out, "postfix.a").1.contains("left it out"));
    }

    #[test]
    fn the_relay_probe_falls_back_to_the_server_only_when_it_proves_nothing_here() {
        let cs = checks(&[("relay.unauthenticated-refused", "remote", &[], &[])]);
        let c = &cs[0];
        let server_pass = || {
            ran(vec![wire(
                &c.id,
                Status::Pass,
                "127.0.0.1:25 refuses to relay from ::1, outside mynetworks",
            )])
        };
        // Inside mynetworks here: the server decides, and the message says why.
        let inside = here(
            c,
            Verdict::skip(
                "this machine's address 198.18.1.2 is inside the server's mynetworks (entry 198.18.1.0/24): a relay probe from here proves nothing",
            ),
        );
        let out = merge(&cs, vec![inside], &server_pass());
        let (s, m) = status(&out, &c.id);
        assert_eq!(s, Status::Pass);
        assert!(
            m.contains("inside the server's mynetworks") && m.contains("from ::1"),
            "{m}"
        );
        assert_eq!(out[0].vantage.as_ref().unwrap().place, Place::Server);
        // Outside: the probe from here stands, whatever the server's says.
        let out = merge(
            &cs,
            vec![here(c, Verdict::pass("refused from 198.18.1.2"))],
            &server_pass(),
        );
        assert_eq!(status(&out, &c.id).1, "refused from 198.18.1.2");
        let open = ran(vec![wire(&c.id, Status::Fail, "open relay from ::1")]);
        let out = merge(
            &cs,
            vec![here(c, Verdict::fail("open relay from 198.18.1.2"))],
            &open,
        );
        assert_eq!(status(&out, &c.id).0, Status::Fail);
        assert_eq!(out[0].vantage.as_ref().unwrap().place, Place::Remote);
        // Accepted from here, refused on the server: this machine is trusted somehow.
        let out = merge(
            &cs,
            vec![here(c, Verdict::fail("open relay from 198.18.1.2"))],
            &server_pass(),
        );
        let (s, m) = status(&out, &c.id);
        assert_eq!(s, Status::Warn, "{m}");
        assert!(m.contains("trusts this machine"), "{m}");
        // No server result (SSH failed): the probe from here stands.
        let out = merge(
            &cs,
            vec![here(c, Verdict::pass("refused"))],
            &ServerResult::Failed("ssh".into()),
        );
        assert_eq!(status(&out, &c.id).0, Status::Pass);
    }

    #[test]
    fn the_server_side_arguments_carry_no_password() {
        let cs = checks(&[
            ("postfix.a", "local", &[], &[]),
            ("delivery.b", "local", &[], &[]),
        ]);
        let plan = Plan {
            checks: cs.clone(),
            account: crate::target::Account::parse(
                "root@example.com",
                Some(crate::secret::Secret::new("s3cret-pw")),
            ),
            settings: Default::default(),
            budget: None,
            send: true,
            redactor: Redactor::default(),
            server_args: vec!["--phase-timeout".into(), "3".into()],
        };
        let a = server_args(&plan, "mx.example.com", &cs, Duration::from_secs(54));
        let line = a.join(" ");
        assert!(
            line.starts_with(
                "run --server-side --host mx.example.com --format json --timeout 54.0 --only postfix.a --only delivery.b --account root@example.com --password-stdin"
            ),
            "{line}"
        );
        assert!(line.ends_with("--phase-timeout 3"), "{line}");
        assert!(!line.contains("s3cret") && !line.contains("--no-send"));
    }

    #[test]
    fn server_exit_statuses_are_explained() {
        let run = |code: i32, stdout: &str, stderr: &str| RemoteRun {
            exit_code: code,
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.into(),
            stdout_truncated: false,
            binary: RemoteBinary::Installed {
                path: "/usr/bin/mailcheck".into(),
            },
            elapsed: Duration::ZERO,
        };
        let failed = |r: ServerResult| match r {
            ServerResult::Failed(m) => m,
            _ => panic!("not a failure"),
        };
        let m = failed(read_server_run(
            Ok(run(
                2,
                "",
                "mailcheck: config /etc/mailcheck/config.toml: bad\n",
            )),
            false,
            Duration::ZERO,
        ));
        assert!(
            m.contains("refused to run") && m.contains("config.toml: bad"),
            "{m}"
        );
        let m = failed(read_server_run(Ok(run(137, "", "")), false, Duration::ZERO));
        assert!(m.contains("signal 9"), "{m}");
        let m = failed(read_server_run(Ok(run(1, "{", "")), false, Duration::ZERO));
        assert!(m.contains("cannot be read"), "{m}");
        let ok = read_server_run(
            Ok(run(
                1,
                r#"{"schema_version":2,"target":{"versions":{"postfix":"3.7.11"}},"checks":[{"id":"postfix.a","status":"fail","message":"m","evidence":null,"observed":false,"blocked_by":null,"caused_by":[],"vantage":null,"fix":null,"duration_ms":3}]}"#,
                "",
            )),
            false,
            Duration::ZERO,
        );
        assert!(
            matches!(ok, ServerResult::Ran { ref checks, ref versions, .. } if checks.len() == 1 && versions["postfix"] == "3.7.11")
        );
        assert!(matches!(
            read_server_run(Ok(run(130, "", "")), true, Duration::ZERO),
            ServerResult::Interrupted
        ));
    }
}
