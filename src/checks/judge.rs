//! Rules more than one judge applies: what a greeting means, which host names are worth
//! comparing, the file mode rule (stricter is fine while the group can still read), and what
//! a config file that could not be examined means.

use std::net::IpAddr;

use crate::checks::kind::AS_ROOT;
use crate::checks::values::Mode;
use crate::probe::file::{ConfigFile, FileFacts, FileKind};
use crate::probe::session::{ErrorKind, PortSession, Step};
use crate::verdict::Verdict;

/// Whether `host` is a DNS name worth comparing with a certificate or banner (not an address,
/// not `localhost`).
pub fn is_public_name(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_err()
        && !bare.eq_ignore_ascii_case("localhost")
        && !bare.to_ascii_lowercase().ends_with(".localhost")
}

/// The verdict for a session that got no usable greeting (`None` when it was greeted):
/// refused is a fail (nothing listens), timeouts and 421 are errors, another code is a fail.
pub fn greeting_verdict(s: &PortSession, what: &str) -> Option<Verdict> {
    let addr = &s.addr;
    let v = match &s.banner {
        Step::Error {
            kind: ErrorKind::Refused,
            ..
        } => Verdict::fail(format!(
            "nothing listens on {addr}: connection refused ({what} is not running there)"
        )),
        Step::Error { message, .. } => Verdict::error(format!("{addr}: {message}")),
        Step::Reply { code: 220, .. } => return None,
        other => Verdict::fail(format!(
            "{addr} greets with `{}`, not 220: it refuses this client",
            other.describe()
        )),
    };
    Some(v)
}

/// What is wrong with a file's group and mode against `group` and `mode`; empty when right.
/// A stricter mode passes as long as the group can still read the file.
pub fn mode_problems(facts: &FileFacts, group: &str, mode: Mode) -> Vec<String> {
    mode_problems_noting(facts, group, mode, " (every local user can read it)")
}

/// `mode_problems`, with `others_note` after a mode that lets every local user read the file
/// (e.g. " (every local user can read the database password in it)").
pub fn mode_problems_noting(
    facts: &FileFacts,
    group: &str,
    mode: Mode,
    others_note: &str,
) -> Vec<String> {
    let mut wrong = Vec::new();
    let have_group = facts.group.clone().unwrap_or_else(|| facts.gid.to_string());
    if have_group != group {
        wrong.push(format!("group {have_group}, not {group}"));
    }
    let have = Mode::new(facts.mode);
    if !have.within(mode) {
        let others = if have.others_can_read() {
            others_note
        } else {
            ""
        };
        wrong.push(format!("mode {have}, not {mode}{others}"));
    } else if !have.group_can_read() {
        wrong.push(format!("mode {have}: group {group} cannot read it"));
    }
    wrong
}

/// The verdict for a config file that could not be examined at all, if so: missing is a fail
/// (`what_for` says what that breaks, e.g. ": smtpd offers no working AUTH"), neither stat'ed
/// nor read an error.
pub fn config_file_unusable(f: &ConfigFile, what_for: &str) -> Option<Verdict> {
    let name = f.path.display();
    if f.missing {
        return Some(Verdict::fail(format!("{name} does not exist{what_for}")));
    }
    if f.facts.is_none() && f.text.is_none() {
        let p = f
            .stat_problem
            .clone()
            .or_else(|| f.read_problem.clone())
            .unwrap_or_default();
        return Some(if f.needs_root {
            Verdict::error(p).with_fix(AS_ROOT)
        } else {
            Verdict::error(p)
        });
    }
    None
}

/// The group/mode finding of a config file, when it could be stat'ed.
pub fn config_file_mode_finding(f: &ConfigFile, group: &str, mode: Mode) -> Option<Verdict> {
    let facts = f.facts.as_ref()?;
    let name = f.path.display();
    if facts.kind != FileKind::File {
        return Some(Verdict::fail(format!(
            "{name} is a {:?}, not a regular file",
            facts.kind
        )));
    }
    let wrong = mode_problems(facts, group, mode);
    Some(if wrong.is_empty() {
        Verdict::pass(facts.describe())
    } else {
        Verdict::fail(format!("{name}: {}", wrong.join(", ")))
            .with_fix(format!("chgrp {group} {name} && chmod {mode} {name}"))
    })
}

/// The error finding when a config file's text could not be read.
pub fn config_file_read_finding(f: &ConfigFile) -> Option<Verdict> {
    if f.text.is_some() {
        return None;
    }
    let p = f.read_problem.clone().unwrap_or_default();
    Some(if f.needs_root {
        Verdict::error(p).with_fix(AS_ROOT)
    } else {
        Verdict::error(format!("cannot read {}: {p}", f.path.display()))
    })
}

/// "0640 sasl": a config file's mode and group, for a pass message.
pub fn mode_and_group(f: &ConfigFile) -> String {
    f.facts
        .as_ref()
        .map(|f| format!("{:04o} {}", f.mode, f.group.clone().unwrap_or_default()))
        .unwrap_or_default()
}

/// `v` with the first line of the server's log about one of `topics` (in that order of
/// preference) quoted as its cause; `v` unchanged when the log says nothing about them.
pub fn with_log(
    v: Verdict,
    log: Option<&crate::facts::maillog::LogExcerpt>,
    topics: &[crate::facts::maillog::Topic],
) -> Verdict {
    match log.and_then(|l| l.first(topics)) {
        Some(line) => v.with_log_cause(line),
        None => v,
    }
}
