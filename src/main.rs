//! `mailcheck`: parse the command line, run, render, exit with the documented code. The only
//! place besides `report/` that writes to stdout or stderr.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use mailcheck::catalogue::{self, Catalogue};
use mailcheck::cli::{Cli, Command, Format, Generated, RunArgs};
use mailcheck::config::{self, ConfigFile};
use mailcheck::exit;
use mailcheck::report::{self, RunReport};
use mailcheck::secret::{Redactor, Secret};
use mailcheck::{run, runner};

/// A usage or configuration problem, found before anything was checked: one line on stderr,
/// exit 2.
struct Usage(String);

/// The checks ran, but a report file or the recording could not be written: exit 4.
struct OutputFailed(String);

/// What ended `main` early, by phase, each with its documented exit code.
enum Failure {
    Usage(Usage),
    Output(OutputFailed),
}

impl From<Usage> for Failure {
    fn from(u: Usage) -> Self {
        Failure::Usage(u)
    }
}

impl From<OutputFailed> for Failure {
    fn from(o: OutputFailed) -> Self {
        Failure::Output(o)
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            let text = e.render().to_string();
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("bad usage");
            eprintln!(
                "mailcheck: {}; try 'mailcheck --help'",
                first.trim_start_matches("error: ")
            );
            return ExitCode::from(exit::USAGE);
        }
    };
    // A Nagios plugin reports its own usage errors as UNKNOWN on stdout (plugin guidelines).
    let nagios = matches!(&cli.command, Command::Run(a) if a.format == Format::Nagios);
    let result: Result<u8, Failure> = match cli.command {
        Command::List => list().map_err(Failure::from),
        Command::Explain { id } => explain(&id).map_err(Failure::from),
        Command::Run(args) => run(*args),
        Command::Generate { what } => generate(what).map_err(Failure::from),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Failure::Usage(Usage(msg))) if nagios => {
            print_stdout(&format!("MAILCHECK UNKNOWN - {}\n", msg.replace('|', " ")));
            eprintln!("mailcheck: {msg}");
            ExitCode::from(report::nagios::UNKNOWN)
        }
        Err(Failure::Usage(Usage(msg))) => {
            eprintln!("mailcheck: {msg}");
            ExitCode::from(exit::USAGE)
        }
        Err(Failure::Output(OutputFailed(msg))) => {
            eprintln!("mailcheck: {msg}");
            ExitCode::from(exit::OUTPUT)
        }
    }
}

fn load_catalogue() -> Result<Catalogue, Usage> {
    Catalogue::embedded().map_err(|e| Usage(format!("built-in check catalogue is invalid: {e}")))
}

fn list() -> Result<u8, Usage> {
    let cat = load_catalogue()?;
    let width = cat.checks().iter().map(|c| c.id.len()).max().unwrap_or(10);
    let mut out = String::new();
    for c in cat.checks() {
        out.push_str(&format!(
            "{:<width$}  {:<4} {}\n",
            c.id, c.requirement, c.title
        ));
    }
    print_stdout(&out);
    Ok(exit::OK)
}

fn explain(id: &str) -> Result<u8, Usage> {
    let cat = load_catalogue()?;
    let Some(c) = cat.get(id) else {
        return Err(Usage(format!(
            "unknown check id `{id}`; `mailcheck list` shows the ids"
        )));
    };
    let mut out = format!(
        "{} ({}): {}\n\nWhy:\n  {}\n\nFix:\n  {}\n\nReferences:\n",
        c.id,
        c.requirement,
        c.title,
        c.doc.why.trim().replace('\n', "\n  "),
        c.doc.fix.trim().replace('\n', "\n  ")
    );
    for r in &c.doc.refs {
        out.push_str(&format!("  {r}\n"));
    }
    if !c.needs.is_empty() {
        out.push_str(&format!("\nNeeds: {}\n", c.needs.join(", ")));
    }
    print_stdout(&out);
    Ok(exit::OK)
}

fn generate(what: Generated) -> Result<u8, Usage> {
    use clap::CommandFactory as _;
    let mut cmd = Cli::command();
    let mut buf: Vec<u8> = Vec::new();
    let sub = match what {
        Generated::ManRun => Some("run"),
        Generated::ManList => Some("list"),
        Generated::ManExplain => Some("explain"),
        _ => None,
    };
    if matches!(what, Generated::Man) || sub.is_some() {
        let page = match sub {
            None => cmd,
            Some(name) => {
                cmd.build();
                let s = cmd
                    .find_subcommand(name)
                    .cloned()
                    .ok_or_else(|| Usage(format!("no subcommand {name}")))?;
                let full: &'static str = match name {
                    "run" => "mailcheck-run",
                    "list" => "mailcheck-list",
                    _ => "mailcheck-explain",
                };
                s.name(full)
            }
        };
        clap_mangen::Man::new(page)
            .render(&mut buf)
            .map_err(|e| Usage(format!("cannot render the man page: {e}")))?;
        print_stdout(&String::from_utf8_lossy(&buf));
        return Ok(exit::OK);
    }
    let shell = match what {
        Generated::Man | Generated::ManRun | Generated::ManList | Generated::ManExplain => {
            return Ok(exit::OK);
        }
        Generated::Bash => clap_complete::Shell::Bash,
        Generated::Zsh => clap_complete::Shell::Zsh,
        Generated::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut cmd, "mailcheck", &mut buf);
    print_stdout(&String::from_utf8_lossy(&buf));
    Ok(exit::OK)
}

fn print_stdout(s: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`mailcheck list | head`) is not an error worth reporting.
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}

fn read_first_line(mut r: impl std::io::Read, what: &str) -> Result<Secret, Usage> {
    let mut s = String::new();
    r.read_to_string(&mut s)
        .map_err(|e| Usage(format!("cannot read the password from {what}: {e}")))?;
    let line = s.lines().next().unwrap_or("").to_string();
    if line.is_empty() {
        return Err(Usage(format!("the password from {what} is empty")));
    }
    Ok(Secret::new(line))
}

fn password(args: &RunArgs, file: &ConfigFile) -> Result<Option<Secret>, Usage> {
    if args.password_stdin {
        return read_first_line(std::io::stdin().lock(), "standard input").map(Some);
    }
    let from_file = |p: &std::path::Path| -> Result<Secret, Usage> {
        let f = std::fs::File::open(p)
            .map_err(|e| Usage(format!("cannot read --password-file {}: {e}", p.display())))?;
        read_first_line(f, &p.display().to_string())
    };
    if let Some(p) = &args.password_file {
        return from_file(p).map(Some);
    }
    if let Some(v) = std::env::var_os("MAILCHECK_PASSWORD") {
        let v = v.to_string_lossy().into_owned();
        if !v.is_empty() {
            return Ok(Some(Secret::new(v)));
        }
    }
    if let Some(p) = &file.password_file {
        return from_file(p).map(Some);
    }
    Ok(file.password.clone().map(Secret::new))
}

/// The servers to probe: `--host` (repeatable), `--hosts-file` (with each host's `ssh=`), else
/// the config file's `host`.
fn hosts(args: &RunArgs, file: &ConfigFile) -> Result<Vec<config::HostLine>, Usage> {
    let plain = |h: &str| config::HostLine {
        host: h.trim().to_string(),
        ssh: None,
        ssh_sudo: false,
    };
    let mut hosts: Vec<config::HostLine> = args.host.iter().map(|h| plain(h)).collect();
    if let Some(p) = &args.hosts_file {
        let text = std::fs::read_to_string(p)
            .map_err(|e| Usage(format!("cannot read --hosts-file {}: {e}", p.display())))?;
        hosts.extend(config::parse_hosts(&text, p).map_err(|e| Usage(e.to_string()))?);
    }
    if hosts.is_empty() {
        hosts.extend(file.host.as_deref().map(plain));
    }
    hosts.retain(|h| !h.host.is_empty());
    if hosts.is_empty() {
        return Err(Usage(
            "no server given: use --host HOST (or MAILCHECK_HOST, --hosts-file, or host in the config file)"
                .into(),
        ));
    }
    Ok(hosts)
}

fn run(args: RunArgs) -> Result<u8, Failure> {
    if args.password.is_some() {
        return Err(Failure::Usage(Usage(
            "passwords are not accepted on the command line (they show in ps and shell history); use MAILCHECK_PASSWORD, --password-file FILE or --password-stdin".into(),
        )));
    }
    let config_path = args
        .config
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from(config::DEFAULT_PATH));
    let mut file = ConfigFile::load(&config_path, args.config.is_some())
        .map_err(|e| Usage(format!("{e}; fix the file or point --config elsewhere")))?;
    if args.server_side {
        // The server side of --ssh: never SSH further from here.
        if args.ssh.is_some() || args.hosts_file.is_some() {
            return Err(Failure::Usage(Usage(
                "--server-side runs the host checks here; it takes no --ssh or --hosts-file".into(),
            )));
        }
        file.ssh = None;
        if let Some(t) = &args.server_config {
            file.overlay(config::ServerOverrides::parse(t).map_err(Usage)?);
        }
    }
    // A replay judges a recording: it names its own host.
    let hosts = if args.replay.is_some() {
        Vec::new()
    } else {
        hosts(&args, &file)?
    };
    let account_name = args.account.clone().or_else(|| file.account.clone());
    let password = password(&args, &file)?;
    let account = run::account(account_name.as_deref(), password.clone())
        .map_err(|e| Usage(e.to_string()))?;

    let cat = load_catalogue()?;
    let mut skip = args.skip.clone();
    skip.extend(file.skip.iter().cloned());
    let checks = catalogue::select(&cat, &args.only, &skip).map_err(|e| Usage(e.to_string()))?;

    let budget = match (args.timeout, &file.timeout) {
        (Some(s), _) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
        (Some(s), _) => {
            return Err(Failure::Usage(Usage(format!(
                "--timeout {s}: give a positive number of seconds"
            ))));
        }
        (None, Some(t)) => Some(
            humantime::parse_duration(t)
                .map_err(|e| Usage(format!("config: timeout `{t}`: {e}")))?,
        ),
        (None, None) => None,
    };
    let baseline = match &args.baseline {
        Some(p) => Some(report::baseline::load(p).map_err(|e| Usage(e.to_string()))?),
        None => None,
    };
    let mut settings = file
        .settings(&config_path)
        .map_err(|e| Usage(format!("{e}; fix the file or point --config elsewhere")))?;
    args.apply_network(&mut settings).map_err(Usage)?;
    let mut redactor = Redactor::default();
    if let Some(p) = &password {
        redactor.add(p, account_name.as_deref());
    }
    let plan = run::Plan {
        checks,
        send: account.is_some() && !args.no_send,
        account,
        settings,
        budget,
        redactor,
        server_args: server_args(&args, &file),
    };

    // Four workers on any machine: the host checks read files and /proc on the workers, and
    // with two a pair of such reads held up the sessions the delivery chain waits for (full
    // run on the 2-CPU lab: 108 ms median with 2 workers, 101 with 3, 98 with 4, 104 with 6).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .map_err(|e| Usage(format!("cannot start the async runtime: {e}")))?;
    let mut signals = runtime.block_on(async { Signals::install() });

    if let Some(dir) = &args.replay {
        let recording = report::record::read(dir).map_err(|e| Usage(format!("--replay: {e}")))?;
        let sink = progress_sink(false, 0);
        let report = runtime.block_on(run::replay(&plan, recording, sink));
        let redactor = plan.redactor.clone();
        return finish(&args, report, redactor, baseline.as_ref(), runtime);
    }
    let ssh = ssh_specs(&args, &file, &hosts)?;
    if hosts.len() > 1 {
        let fleet_hosts: Vec<run::FleetHost> = hosts
            .iter()
            .zip(ssh)
            .map(|(h, ssh)| run::FleetHost {
                host: h.host.clone(),
                ssh,
            })
            .collect();
        return fleet(&args, &plan, &fleet_hosts, runtime, &mut signals).map_err(Failure::from);
    }
    let host = &hosts[0].host;
    let addrs = runtime
        .block_on(run::resolve(host))
        .map_err(|e| Usage(format!("{e}; check --host")))?;
    if let Some(Some(ssh)) = ssh.into_iter().next() {
        return run_over_ssh(
            &args,
            &plan,
            host,
            addrs,
            &ssh,
            baseline.as_ref(),
            runtime,
            &mut signals,
        );
    }
    let facts = if args.server_side {
        run::facts_on_server(&plan, host, addrs)
    } else {
        run::facts(&plan, host, addrs, true)
    };
    let sink = progress_sink(std::io::stderr().is_terminal(), plan.checks.len());
    let outcome = runtime.block_on(async {
        tokio::select! {
            report = run::run_host(&plan, facts.clone(), sink) => Ok(report),
            signal = signals.recv() => Err(signal),
        }
    });
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K");
    }
    // Test mail of this run is deleted whatever happened; after an interruption, first wait a
    // little for messages the server accepted but had not delivered yet.
    let grace = if outcome.is_err() {
        Duration::from_secs(5)
    } else {
        Duration::from_millis(500)
    };
    let cleanup = runtime.block_on(run::cleanup(&facts, grace));
    if let Some(c) = &cleanup {
        for p in &c.problems {
            eprintln!("mailcheck: cleanup: {p}");
        }
    }
    let (report, redactor) = match outcome {
        Ok(r) => r,
        Err(signal) => {
            let n = cleanup.map(|c| c.deleted.len()).unwrap_or(0);
            eprintln!(
                "mailcheck: interrupted by {signal}; deleted {n} test message(s) of this run"
            );
            runtime.shutdown_background();
            return Ok(exit::INTERRUPTED);
        }
    };
    finish(&args, report, redactor, baseline.as_ref(), runtime)
}

/// What the server side of `--ssh` gets of this run's flags and config file: the ports and
/// `--phase-timeout` when given, and the config file's [tutorial] and [timeouts].
fn server_args(args: &RunArgs, file: &ConfigFile) -> Vec<String> {
    let mut a = Vec::new();
    if let Some(p) = args.smtp_port {
        a.extend(["--smtp-port".to_string(), p.to_string()]);
    }
    if let Some(p) = args.submission_port {
        a.extend(["--submission-port".to_string(), p.to_string()]);
    }
    if let Some(s) = args.phase_timeout {
        a.extend(["--phase-timeout".to_string(), s.to_string()]);
    }
    if let Some(t) = config::ServerOverrides::of(file) {
        a.extend(["--server-config".to_string(), t]);
    }
    a
}

/// How to reach each host over SSH, if at all: `--ssh` or the config file's `ssh` for one
/// host, each line's `ssh=` in a hosts file; `--ssh-sudo` and `--ssh-option` (and the config
/// file's `ssh_sudo`, `ssh_options`) apply to all of them.
fn ssh_specs(
    args: &RunArgs,
    file: &ConfigFile,
    hosts: &[config::HostLine],
) -> Result<Vec<Option<run::SshSpec>>, Usage> {
    use mailcheck::remote::ssh::{SshConfig, SshOption, Target};
    let single = match (&args.ssh, &file.ssh) {
        (Some(t), _) => Some(("--ssh", t)),
        (None, Some(t)) if hosts.len() == 1 => Some(("ssh in the config file", t)),
        _ => None,
    };
    if args.ssh.is_some() && hosts.len() > 1 {
        return Err(Usage(
            "--ssh names one server; for several, give each line of --hosts-file its own ssh=[USER@]HOST[:PORT]".into(),
        ));
    }
    let mut options: Vec<SshOption> = Vec::new();
    for o in file.ssh_options.iter().chain(&args.ssh_option) {
        if o.trim_start().starts_with('-') {
            return Err(Usage(format!(
                "--ssh-option {o:?}: give KEY=VALUE (it becomes ssh -o KEY=VALUE)"
            )));
        }
        options.push(SshOption::Option(o.clone()));
    }
    let sudo = args.ssh_sudo || file.ssh_sudo;
    let mut out = Vec::with_capacity(hosts.len());
    for h in hosts {
        let target: Option<Target> = match (&h.ssh, single) {
            (Some(t), _) => Some(t.clone()),
            (None, Some((what, t))) => Some(t.parse().map_err(|e| Usage(format!("{what}: {e}")))?),
            (None, None) => None,
        };
        out.push(target.map(|target| run::SshSpec {
            target,
            config: SshConfig {
                options: options.clone(),
                sudo: sudo || h.ssh_sudo,
                binary: args.ssh_binary.clone(),
                ..SshConfig::default()
            },
        }));
    }
    let any = out.iter().any(Option::is_some);
    if !any && (args.ssh_sudo || !args.ssh_option.is_empty() || args.ssh_binary.is_some()) {
        return Err(Usage(
            "--ssh-sudo and --ssh-option go with --ssh [USER@]HOST[:PORT] (or ssh= in --hosts-file)".into(),
        ));
    }
    Ok(out)
}

/// How long an interrupted `--ssh` run waits for the server side to delete its test mail and
/// its upload (it waits up to 5 s for mail in flight itself).
const SSH_STOP_GRACE: Duration = Duration::from_secs(20);

/// One server, its host checks over SSH and its network checks from here.
#[allow(clippy::too_many_arguments)]
fn run_over_ssh(
    args: &RunArgs,
    plan: &run::Plan,
    host: &str,
    addrs: Vec<std::net::IpAddr>,
    ssh: &run::SshSpec,
    baseline: Option<&report::baseline::Baseline>,
    runtime: tokio::runtime::Runtime,
    signals: &mut Signals,
) -> Result<u8, Failure> {
    // The host checks run there, never here, even when --host is this machine.
    let facts = run::facts(plan, host, addrs, false);
    let sink = progress_sink(std::io::stderr().is_terminal(), plan.checks.len());
    let (handle, stop) = run::Stop::new();
    let outcome = runtime.block_on(async {
        let run = run::run_host_ssh(plan, facts.clone(), ssh, sink, stop);
        tokio::pin!(run);
        tokio::select! {
            o = &mut run => Ok(o),
            signal = signals.recv() => {
                handle.stop();
                // A second signal stops waiting (the server side still cleans up by itself).
                let o = tokio::select! {
                    o = tokio::time::timeout(SSH_STOP_GRACE, &mut run) => o.ok(),
                    _ = signals.recv() => None,
                };
                Err((signal, o))
            }
        }
    });
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K");
    }
    let grace = if outcome.is_err() {
        Duration::from_secs(5)
    } else {
        Duration::from_millis(500)
    };
    if let Some(c) = runtime.block_on(run::cleanup(&facts, grace)) {
        for p in &c.problems {
            eprintln!("mailcheck: cleanup: {p}");
        }
    }
    let say = |notes: &run::ServerNotes| {
        for l in &notes.stderr {
            eprintln!(
                "mailcheck: on {}: {}",
                ssh.target.host(),
                l.trim_start_matches("mailcheck: ")
            );
        }
    };
    match outcome {
        Ok(run::SshOutcome::Done {
            report,
            redactor,
            server,
        }) => {
            say(&server);
            if let Some(f) = &server.failure {
                let why = f.strip_prefix("not run on the server: ").unwrap_or(f);
                eprintln!("mailcheck: the host checks did not run on the server: {why}");
            }
            if args.timings
                && let Some(s) = &server.summary
            {
                eprintln!("mailcheck: over SSH: {s}");
            }
            finish(args, report, redactor, baseline, runtime)
        }
        Ok(run::SshOutcome::Interrupted { server }) => {
            say(&server);
            eprintln!(
                "mailcheck: interrupted; the run on {} was stopped",
                ssh.target.host()
            );
            runtime.shutdown_background();
            Ok(exit::INTERRUPTED)
        }
        Err((signal, other)) => {
            let how = match &other {
                Some(
                    run::SshOutcome::Interrupted { server } | run::SshOutcome::Done { server, .. },
                ) => {
                    say(server);
                    "the run there was stopped and has cleaned up"
                }
                None => "stopped waiting for the run there, which cleans up by itself",
            };
            eprintln!("mailcheck: interrupted by {signal}; {how}");
            runtime.shutdown_background();
            Ok(exit::INTERRUPTED)
        }
    }
}

/// Renders the report to stdout and the report files, and decides the exit status.
fn finish(
    args: &RunArgs,
    report: RunReport,
    redactor: Redactor,
    baseline: Option<&report::baseline::Baseline>,
    runtime: tokio::runtime::Runtime,
) -> Result<u8, Failure> {
    let diff = baseline.map(|b| report::baseline::diff(b, &report));

    let stdout_text = match args.format {
        Format::Human => {
            let mut t = report::human::render(
                &report,
                report::human::use_colour(std::io::stdout().is_terminal()),
            );
            if let Some(d) = &diff {
                t.push_str(&d.render_human());
            }
            t
        }
        f => render(f, &report, diff.as_ref()),
    };
    print_stdout(&redactor.redact(&stdout_text));
    if args.timings {
        eprint!("{}", report::human::timings(&report));
    }
    let files = [
        (&args.json, Format::Json),
        (&args.junit, Format::Junit),
        (&args.tap, Format::Tap),
        (&args.html, Format::Html),
        (&args.prometheus, Format::Prometheus),
        (&args.markdown, Format::Markdown),
    ];
    for (path, format) in files {
        let Some(path) = path else { continue };
        let text = redactor.redact(&render(format, &report, diff.as_ref()));
        report::prometheus::write_atomically(path, &text).map_err(|e| {
            OutputFailed(format!(
                "the checks ran, but {} cannot be written: {e}",
                path.display()
            ))
        })?;
    }
    if let Some(dir) = &args.record {
        report::record::write(dir, &report)
            .map_err(|e| OutputFailed(format!("the checks ran, but --record failed: {e}")))?;
    }
    // Don't wait for probes that were abandoned at a deadline.
    runtime.shutdown_background();
    Ok(match (args.format, &diff) {
        (Format::Nagios, _) => report::nagios::exit_code(&report),
        (_, Some(d)) if args.fail_on_regression => d.exit_code(args.fail_on),
        _ => report.summary().gated(args.fail_on),
    })
}

/// Several servers: the network checks against each, one JSON line per server (`--format
/// json`) or one summary table; the exit status is the worst server's.
fn fleet(
    args: &RunArgs,
    plan: &run::Plan,
    hosts: &[run::FleetHost],
    runtime: tokio::runtime::Runtime,
    signals: &mut Signals,
) -> Result<u8, Usage> {
    if !matches!(args.format, Format::Human | Format::Json)
        || args.json.is_some()
        || args.junit.is_some()
        || args.tap.is_some()
        || args.html.is_some()
        || args.prometheus.is_some()
        || args.markdown.is_some()
        || args.baseline.is_some()
    {
        return Err(Usage(
            "with several hosts, use --format human or --format json (JSON Lines), and no report files or --baseline".into(),
        ));
    }
    let (handle, stop) = run::Stop::new();
    // What is kept of each server once its run is over: its JSON line or table row, and its
    // exit code; its facts and report are dropped at once.
    let json = args.format == Format::Json;
    let fail_on = args.fail_on;
    let keep = |r: run::HostRun| -> (Done, u8) {
        let code = r.report.summary().gated(fail_on);
        let done = if json {
            Done::Line(plan.redactor.redact(&report::json::render_line(&r.report)))
        } else {
            Done::Row(report::human::FleetRow::of(&r.report))
        };
        (done, code)
    };
    let runs = runtime.block_on(async {
        let runs = run::fleet(plan, hosts, stop, keep);
        tokio::pin!(runs);
        tokio::select! {
            runs = &mut runs => Ok(runs),
            signal = signals.recv() => {
                // Servers reached over SSH delete their test mail and uploads first.
                handle.stop();
                tokio::select! {
                    _ = tokio::time::timeout(SSH_STOP_GRACE, &mut runs) => {}
                    _ = signals.recv() => {}
                }
                Err(signal)
            }
        }
    });
    let runs = match runs {
        Ok(r) => r,
        Err(signal) => {
            eprintln!("mailcheck: interrupted by {signal}");
            runtime.shutdown_background();
            return Ok(exit::INTERRUPTED);
        }
    };
    let mut lines = String::new();
    let mut rows = Vec::new();
    let mut worst = exit::OK;
    for (done, code) in runs {
        match done {
            Done::Line(l) => lines.push_str(&l),
            Done::Row(r) => rows.push(r),
        }
        worst = std::cmp::max_by_key(worst, code, |c| exit::severity(*c));
    }
    let text = if json {
        lines
    } else {
        plan.redactor.redact(&report::human::fleet_table(&rows))
    };
    print_stdout(&text);
    runtime.shutdown_background();
    Ok(worst)
}

/// One server's part of a fleet's output, made as soon as its run is over.
enum Done {
    /// `--format json`: its JSON line, redacted.
    Line(String),
    /// The human table's row for it.
    Row(report::human::FleetRow),
}

/// Renders the machine formats (human has its own colour and baseline handling).
fn render(format: Format, report: &RunReport, diff: Option<&report::baseline::Diff>) -> String {
    match format {
        Format::Human => report::human::render(report, false),
        Format::Json => report::json::render(report, diff),
        Format::Junit => report::junit::render(report),
        Format::Tap => report::tap::render(report),
        Format::Nagios => report::nagios::render(report),
        Format::Prometheus => report::prometheus::render(report),
        Format::Html => report::html::render(report),
        Format::Markdown => report::markdown::render(report),
    }
}

/// On a terminal, one progress line on stderr while checks run ("[12/49] running
/// tls.starttls-25"), cut to the terminal's width; nothing otherwise.
fn progress_sink(terminal: bool, total: usize) -> runner::EventSink {
    if !terminal {
        return Arc::new(|_event| {});
    }
    let width = terminal_width().unwrap_or(80);
    let done = std::sync::atomic::AtomicUsize::new(0);
    Arc::new(move |event| {
        let n = |add: usize| done.fetch_add(add, std::sync::atomic::Ordering::Relaxed) + add;
        let line = match event {
            runner::Event::Started { check } => {
                report::human::progress_line(n(0), total, &format!("running {}", check.id), width)
            }
            runner::Event::Finished { result } => report::human::progress_line(
                n(1),
                total,
                &format!("{} {}", result.id, result.verdict.status),
                width,
            ),
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
    })
}

/// The width of the terminal on stderr, when it is one.
fn terminal_width() -> Option<usize> {
    let ws = rustix::termios::tcgetwinsize(std::io::stderr()).ok()?;
    (ws.ws_col > 0).then_some(usize::from(ws.ws_col))
}

/// SIGINT and SIGTERM, caught from the moment the runtime exists, so an interrupted run can
/// still delete its test mail.
struct Signals {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Must be called inside the runtime.
    fn install() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        Signals {
            int: signal(SignalKind::interrupt()).ok(),
            term: signal(SignalKind::terminate()).ok(),
        }
    }

    /// Resolves when one arrives; names it.
    async fn recv(&mut self) -> &'static str {
        async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = next(&mut self.int) => "SIGINT",
            _ = next(&mut self.term) => "SIGTERM",
        }
    }
}
