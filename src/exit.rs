//! Exit codes of `mailcheck`, in one place (documented in `--help`).

/// No check failed and none errored.
pub const OK: u8 = 0;
/// At least one check failed: the server breaks a requirement.
pub const FAILED: u8 = 1;
/// Bad usage or configuration: nothing was checked.
pub const USAGE: u8 = 2;
/// No check failed, but at least one could not be decided (`error`).
pub const INCOMPLETE: u8 = 3;

/// The checks ran, but a report file or the recording could not be written.
pub const OUTPUT: u8 = 4;

/// Interrupted by SIGINT or SIGTERM (128 + 2, the shell's convention); test mail was cleaned up.
pub const INTERRUPTED: u8 = 130;

/// The text `--help` shows for the exit codes.
pub const HELP: &str = "Exit status:\n  0  every check passed, warned or was skipped\n  1  at least one check failed\n  2  usage or configuration error (nothing was checked)\n  3  no check failed, but at least one could not be decided (error)\n  4  the checks ran, but a report file could not be written\n  130  interrupted (SIGINT/SIGTERM); this run's test mail was deleted";
