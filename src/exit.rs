//! Exit codes of `mailcheck`, in one place (documented in `--help` and the README).
//!
//! Which statuses count is `--fail-on` (`report::Gate`): `error` by default (1 and 3),
//! `fail` (only 1), `warn` (1, 3 and 5). `--format nagios` exits with the plugin codes instead
//! (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; `report::nagios`), whatever `--fail-on` says.

/// Nothing that `--fail-on` counts: no check failed, none errored (and, with `--fail-on warn`,
/// none warned).
pub const OK: u8 = 0;
/// At least one check failed: the server breaks a requirement.
pub const FAILED: u8 = 1;
/// Bad usage or configuration: nothing was checked.
pub const USAGE: u8 = 2;
/// No check failed, but at least one could not be decided (`error`). Not with `--fail-on fail`.
pub const INCOMPLETE: u8 = 3;

/// The checks ran, but a report file or the recording could not be written.
pub const OUTPUT: u8 = 4;

/// With `--fail-on warn` only: nothing failed or errored, but at least one check warned.
pub const WARNED: u8 = 5;

/// Interrupted by SIGINT or SIGTERM (128 + 2, the shell's convention); test mail was cleaned up.
pub const INTERRUPTED: u8 = 130;

/// Which of two run outcomes is worse, for a fleet's status (the worst server's): a failure,
/// then an undecided check, then a warning.
pub fn severity(code: u8) -> u8 {
    match code {
        FAILED => 3,
        INCOMPLETE => 2,
        WARNED => 1,
        _ => 0,
    }
}

/// The text `--help` shows for the exit codes.
pub const HELP: &str = "Exit status:\n  0  nothing --fail-on counts: no check failed or errored (by default warnings and skips do not count)\n  1  at least one check failed\n  2  usage or configuration error (nothing was checked)\n  3  no check failed, but at least one could not be decided (error); not with --fail-on fail\n  4  the checks ran, but a report file could not be written\n  5  with --fail-on warn: nothing failed or errored, but a check warned\n  130  interrupted (SIGINT/SIGTERM); this run's test mail was deleted\n--format nagios exits 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN instead. With --baseline and\n--fail-on-regression, only checks that newly reach the --fail-on level count.";
