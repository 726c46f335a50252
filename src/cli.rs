//! The command line (clap): `run`, `list`, `explain`.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "mailcheck",
    version,
    about = "Checks a Postfix + MySQL + saslauthd mail server, requirement by requirement",
    after_help = crate::exit::HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe the server and report pass/fail for every requirement.
    #[command(after_help = RUN_HELP)]
    Run(Box<RunArgs>),
    /// List every check: id, requirement (T1..T38), title.
    List,
    /// Why a check matters, how to fix it, where to read more.
    Explain {
        /// A check id, as `mailcheck list` shows it.
        id: String,
    },
    /// Write the man page or a shell completion script to stdout (for packaging).
    #[command(hide = true)]
    Generate {
        #[arg(value_enum)]
        what: Generated,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Generated {
    Man,
    ManRun,
    ManList,
    ManExplain,
    Bash,
    Zsh,
    Fish,
}

const RUN_HELP: &str = "The account's password comes from the environment (MAILCHECK_PASSWORD), a file \
(--password-file) or standard input (--password-stdin), never from the command line.\n\n\
Host-side checks (files, users, processes, database, Maildir) run only when mailcheck runs on the \
server itself, or there over SSH with --ssh; otherwise they are skipped with the reason.\n\n\
Exit status: 0 nothing failed or errored, 1 a check failed, 2 usage or configuration error, \
3 nothing failed but a check could not be decided, 4 a report file could not be written, \
5 (only with --fail-on warn) nothing failed or errored but a check warned. --fail-on fail \
counts only failures. --format nagios exits 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Junit,
    Tap,
    Nagios,
    Prometheus,
    Html,
    /// A short summary for CI job pages (GitHub's $GITHUB_STEP_SUMMARY, GitLab's).
    Markdown,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The mail server to probe (name or address). Repeat it, or use --hosts-file, to run the
    /// network checks against many servers at once.
    #[arg(long, env = "MAILCHECK_HOST", value_delimiter = ',')]
    pub host: Vec<String>,
    /// Read servers to probe from FILE, one per line (`#` starts a comment).
    #[arg(long, value_name = "FILE")]
    pub hosts_file: Option<PathBuf>,
    /// Also print how long each check took, slowest first, on stderr.
    #[arg(long)]
    pub timings: bool,
    /// The mailbox used for SMTP AUTH and test mail, user@domain.
    #[arg(long, env = "MAILCHECK_ACCOUNT")]
    pub account: Option<String>,
    /// Read the account's password from this file (first line).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Read the account's password from standard input (first line).
    #[arg(long)]
    pub password_stdin: bool,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Human, env = "MAILCHECK_FORMAT")]
    pub format: Format,
    /// Also write the JSON report to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write a JUnit XML report to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write a TAP report to FILE.
    #[arg(long, value_name = "FILE")]
    pub tap: Option<PathBuf>,
    /// Also write an HTML report to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Also write a Markdown summary to FILE (e.g. "$GITHUB_STEP_SUMMARY").
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Which statuses make the exit status non-zero: `fail` (only failures, exit 1), `error`
    /// (also undecided checks, exit 3; the default), `warn` (also warnings, exit 5).
    /// `--format nagios` keeps the plugin's 0-3 whatever this says.
    #[arg(long, value_enum, value_name = "LEVEL", default_value_t = crate::report::Gate::Error, env = "MAILCHECK_FAIL_ON")]
    pub fail_on: crate::report::Gate,
    /// Also write Prometheus metrics to FILE (atomically, for node_exporter's textfile collector).
    #[arg(long, value_name = "FILE")]
    pub prometheus: Option<PathBuf>,
    /// Compare with an earlier JSON report: what newly fails, newly passes, changed.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// With --baseline: only checks that newly reach the --fail-on level count for the exit
    /// status.
    #[arg(long, requires = "baseline")]
    pub fail_on_regression: bool,
    /// Run only checks whose id, family or requirement matches (e.g. `smtp`, `T14`,
    /// `fs.mysql-maps-perms`, `tls.*`). Repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub only: Vec<String>,
    /// Leave out checks that match. Repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub skip: Vec<String>,
    /// Bound on the whole run, in seconds; checks still running then give `error`.
    #[arg(long, value_name = "SECS", env = "MAILCHECK_TIMEOUT")]
    pub timeout: Option<f64>,
    /// Send no test mail.
    #[arg(long)]
    pub no_send: bool,
    /// Configuration file (default /etc/mailcheck/config.toml when it exists).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The port Postfix's MX service (smtpd, T1) listens on, if not 25.
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub smtp_port: Option<u16>,
    /// The submission port (T33), if not 587.
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub submission_port: Option<u16>,
    /// Longest wait for each network step (connect, greeting, each SMTP command, TLS
    /// handshake), in seconds; default 5 s to connect, 10 s for the others.
    #[arg(long, value_name = "SECS")]
    pub phase_timeout: Option<f64>,
    /// Also write each check's observation to DIR (one JSON file per check, secrets
    /// redacted): judge fixtures, and input for --replay.
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// Judge a recording (from --record) again instead of probing: no network, no files read
    /// on the server.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["record", "hosts_file"])]
    pub replay: Option<PathBuf>,
    /// Run the host-side checks on the server over SSH (the system's ssh: ~/.ssh/config,
    /// agent, known_hosts), as root or with --ssh-sudo; the network checks still run from here.
    #[arg(
        long,
        value_name = "[USER@]HOST[:PORT]",
        env = "MAILCHECK_SSH",
        conflicts_with = "replay"
    )]
    pub ssh: Option<String>,
    /// With --ssh: run mailcheck on the server through `sudo -n` (a NOPASSWD sudo rule).
    #[arg(long)]
    pub ssh_sudo: bool,
    /// With --ssh: an ssh option, e.g. `IdentityFile=~/.ssh/deploy_key` or `ProxyJump=bastion`
    /// (ssh -o KEY=VALUE). Repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    pub ssh_option: Vec<String>,
    /// With --ssh: upload FILE (this version of mailcheck, e.g. a stripped build) instead of
    /// this executable.
    #[arg(long, hide = true, value_name = "FILE")]
    pub ssh_binary: Option<PathBuf>,
    /// Given by --ssh to the server-side mailcheck: this machine is the server, whatever --host
    /// resolves to here (a public address behind NAT).
    #[arg(long, hide = true)]
    pub server_side: bool,
    /// Given by --ssh to the server-side mailcheck: the workstation's [tutorial] and [timeouts]
    /// (TOML), laid over this machine's config file.
    #[arg(long, hide = true, value_name = "TOML", requires = "server_side")]
    pub server_config: Option<String>,
    /// Not accepted: passwords on the command line show up in `ps` and shell history.
    #[arg(long, hide = true, value_name = "PASSWORD")]
    pub password: Option<String>,
}

impl RunArgs {
    /// Applies `--smtp-port`, `--submission-port` and `--phase-timeout` to `settings`.
    pub fn apply_network(&self, settings: &mut crate::settings::Settings) -> Result<(), String> {
        if let Some(p) = self.smtp_port {
            settings.smtp_port = p;
        }
        if let Some(p) = self.submission_port {
            settings.submission_port = p;
        }
        if let Some(s) = self.phase_timeout {
            if !(s.is_finite() && s > 0.0 && s <= 3600.0) {
                return Err(format!(
                    "--phase-timeout {s}: give a number of seconds between 0 and 3600"
                ));
            }
            let d = std::time::Duration::from_secs_f64(s);
            let t = &mut settings.timeouts;
            (t.connect, t.banner, t.command, t.tls) = (d, d, d, d);
        }
        Ok(())
    }
}
