//! `mailcheck`: parse the command line, run, render, exit with the documented code. The only
//! place besides `report/` that writes to stdout or stderr.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;

use mailcheck::catalogue::{self, Catalogue};
use mailcheck::cli::{Cli, Command, Format, Generated, RunArgs};
use mailcheck::config::{self, ConfigFile};
use mailcheck::context::{Account, Ctx, Target};
use mailcheck::report::{self, RunReport};
use mailcheck::runner;
use mailcheck::secret::{Redactor, Secret};
use mailcheck::{clock, exit, net};

/// A usage or configuration problem: one line on stderr, exit 2.
struct Usage(String);

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
    let result = match cli.command {
        Command::List => list(),
        Command::Explain { id } => explain(&id),
        Command::Run(args) => run(args),
        Command::Generate { what } => generate(what),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Usage(msg)) => {
            eprintln!("mailcheck: {msg}");
            ExitCode::from(exit::USAGE)
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
    let shell = match what {
        Generated::Man => {
            clap_mangen::Man::new(cmd)
                .render(&mut buf)
                .map_err(|e| Usage(format!("cannot render the man page: {e}")))?;
            print_stdout(&String::from_utf8_lossy(&buf));
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

fn run(args: RunArgs) -> Result<u8, Usage> {
    if args.password.is_some() {
        return Err(Usage(
            "passwords are not accepted on the command line (they show in ps and shell history); use MAILCHECK_PASSWORD, --password-file FILE or --password-stdin".into(),
        ));
    }
    let file = match &args.config {
        Some(p) => ConfigFile::load(p, true),
        None => ConfigFile::load(std::path::Path::new(config::DEFAULT_PATH), false),
    }
    .map_err(|e| Usage(format!("{e}; fix the file or point --config elsewhere")))?;

    let Some(host) = args.host.clone().or_else(|| file.host.clone()) else {
        return Err(Usage(
            "no server given: use --host HOST (or MAILCHECK_HOST, or host in the config file)"
                .into(),
        ));
    };
    let account_name = args.account.clone().or_else(|| file.account.clone());
    let password = password(&args, &file)?;
    let account = match &account_name {
        None => None,
        Some(a) => Some(
            Account::parse(a, password.clone())
                .ok_or_else(|| Usage(format!("--account `{a}` is not of the form user@domain")))?,
        ),
    };

    let cat = load_catalogue()?;
    let mut skip = args.skip.clone();
    skip.extend(file.skip.iter().cloned());
    let checks = catalogue::select(&cat, &args.only, &skip).map_err(Usage)?;

    let budget = match (args.timeout, &file.timeout) {
        (Some(s), _) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
        (Some(s), _) => {
            return Err(Usage(format!(
                "--timeout {s}: give a positive number of seconds"
            )));
        }
        (None, Some(t)) => Some(
            humantime::parse_duration(t)
                .map_err(|e| Usage(format!("config: timeout `{t}`: {e}")))?,
        ),
        (None, None) => None,
    };

    let baseline = match &args.baseline {
        Some(p) => Some(report::baseline::load(p).map_err(Usage)?),
        None => None,
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Usage(format!("cannot start the async runtime: {e}")))?;
    let mut signals = runtime.block_on(async { Signals::install() });

    let addrs = runtime.block_on(resolve(&host))?;
    let local = addrs.iter().any(|ip| net::is_local_address(*ip));
    let target = Target {
        host: host.clone(),
        addrs,
        local,
    };

    let mut redactor = Redactor::default();
    if let Some(p) = &password {
        redactor.add(p, account_name.as_deref());
    }
    let send = account.is_some() && !args.no_send;
    let run_token = mailcheck::probe::testmail::new_token();
    let config_path = args
        .config
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from(config::DEFAULT_PATH));
    let mut settings = file
        .settings(&config_path)
        .map_err(|e| Usage(format!("{e}; fix the file or point --config elsewhere")))?;
    args.apply_network(&mut settings).map_err(Usage)?;
    let ctx = Arc::new(Ctx::new(
        target,
        account,
        settings,
        send,
        run_token,
        redactor.clone(),
    ));

    let started = clock::now();
    let t0 = Instant::now();
    let sink = progress_sink(std::io::stderr().is_terminal());
    let outcome = runtime.block_on(async {
        tokio::select! {
            results = runner::run(checks, ctx.clone(), budget, sink) => Ok(results),
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
    let cleanup = runtime.block_on(mailcheck::checks::delivery::cleanup(&ctx, grace));
    if let Some(c) = &cleanup {
        for p in &c.problems {
            eprintln!("mailcheck: cleanup: {p}");
        }
    }
    let results = match outcome {
        Ok(r) => r,
        Err(signal) => {
            let n = cleanup.map(|c| c.deleted.len()).unwrap_or(0);
            eprintln!("mailcheck: interrupted by {signal}; deleted {n} test message(s) of this run");
            runtime.shutdown_background();
            return Ok(exit::INTERRUPTED);
        }
    };
    let mut report = RunReport {
        host,
        account: account_name,
        started,
        duration: t0.elapsed(),
        results,
    };
    report.redact(&redactor);
    let diff = baseline
        .as_ref()
        .map(|b| report::baseline::diff(b, &report));

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
    let files = [
        (&args.json, Format::Json),
        (&args.junit, Format::Junit),
        (&args.tap, Format::Tap),
        (&args.html, Format::Html),
        (&args.prometheus, Format::Prometheus),
    ];
    for (path, format) in files {
        let Some(path) = path else { continue };
        let text = redactor.redact(&render(format, &report, diff.as_ref()));
        report::prometheus::write_atomically(path, &text)
            .map_err(|e| Usage(format!("cannot write {}: {e}", path.display())))?;
    }
    // Don't wait for probes that were abandoned at a deadline.
    runtime.shutdown_background();
    Ok(match (args.format, &diff) {
        (Format::Nagios, _) => report::nagios::exit_code(&report),
        (_, Some(d)) if args.fail_on_regression => d.exit_code(),
        _ => report.summary().exit_code(),
    })
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
    }
}

/// On a terminal, one progress line on stderr while checks run; nothing otherwise.
fn progress_sink(terminal: bool) -> runner::EventSink {
    if !terminal {
        return Arc::new(|_event| {});
    }
    let done = std::sync::atomic::AtomicUsize::new(0);
    Arc::new(move |event| {
        let line = match event {
            runner::Event::Started { check } => format!("running {}", check.id),
            runner::Event::Finished { result } => {
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                format!(
                    "{n} checks done, last {} {}",
                    result.id, result.verdict.status
                )
            }
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
    })
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

/// Resolves `host` within 5 s; failure is a usage error (the name is wrong, or DNS is).
async fn resolve(host: &str) -> Result<Vec<std::net::IpAddr>, Usage> {
    let lookup = tokio::net::lookup_host((host, 25));
    match tokio::time::timeout(Duration::from_secs(5), lookup).await {
        Err(_) => Err(Usage(format!(
            "cannot resolve host `{host}`: no answer from DNS after 5 s; check --host"
        ))),
        Ok(Err(e)) => Err(Usage(format!(
            "cannot resolve host `{host}`: {e}; check --host"
        ))),
        Ok(Ok(addrs)) => {
            let mut ips: Vec<std::net::IpAddr> = addrs.map(|a| a.ip()).collect();
            ips.sort_by_key(|ip| ip.is_ipv6());
            ips.dedup();
            if ips.is_empty() {
                return Err(Usage(format!("host `{host}` has no address; check --host")));
            }
            Ok(ips)
        }
    }
}
