//! Rules more than one judge applies: what a greeting means, which host names are worth
//! comparing, and the file mode rule (stricter is fine while the group can still read).

use std::net::IpAddr;

use crate::checks::values::Mode;
use crate::probe::file::FileFacts;
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
    let mut wrong = Vec::new();
    let have_group = facts.group.clone().unwrap_or_else(|| facts.gid.to_string());
    if have_group != group {
        wrong.push(format!("group {have_group}, not {group}"));
    }
    let have = Mode::new(facts.mode);
    if !have.within(mode) {
        let others = if have.others_can_read() {
            " (every local user can read it)"
        } else {
            ""
        };
        wrong.push(format!("mode {have}, not {mode}{others}"));
    } else if !have.group_can_read() {
        wrong.push(format!("mode {have}: group {group} cannot read it"));
    }
    wrong
}
