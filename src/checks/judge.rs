//! Rules more than one judge applies: what a greeting means, which host names are worth
//! comparing, the file mode rule (stricter is fine while the group can still read), and what
//! a config file that could not be examined means.

use std::net::IpAddr;

use crate::checks::kind::AS_ROOT;
use crate::checks::values::Mode;
use crate::probe::file::{ConfigFile, FileFacts, FileKind};
use crate::probe::session::{ErrorKind, PortSession, Step};
use crate::verdict::Verdict;

/// Whether `host` is an IP address, bracketed or not (`198.19.0.1`, `[2001:db8::1]`, `::1`).
pub fn is_address(host: &str) -> bool {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok()
}

/// Whether `host` is a DNS name worth comparing with a certificate or banner (not an address,
/// not `localhost`).
pub fn is_public_name(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    !is_address(host)
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

/// What an access walk found, in the words a verdict uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessFinding {
    Granted,
    /// The kernel refuses (or the path is not there): what and why, naming the component.
    Refused(String),
    /// mailcheck could not look at a component.
    Unknown(String),
}

/// "search (x)", "read (r)", ...: the bits a class lacks.
fn perm_words(perms: &[crate::probe::access::Perm], role: crate::probe::access::Role) -> String {
    use crate::probe::access::{Perm, Role};
    perms
        .iter()
        .map(|p| match (p, role) {
            (Perm::Execute, Role::Search) => "search (x)",
            (Perm::Execute, _) => "execute (x)",
            (Perm::Read, _) => "read (r)",
            (Perm::Write, _) => "write (w)",
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

/// "0710 root:sasl": a node's mode and owner.
pub fn mode_owner(node: &crate::probe::access::Node) -> String {
    format!(
        "{:04o} {}:{}",
        node.mode,
        node.owner.clone().unwrap_or_else(|| node.uid.to_string()),
        node.group.clone().unwrap_or_else(|| node.gid.to_string())
    )
}

/// The first component that refuses the access, its mode and owner, and which bits the class
/// the process falls in lacks; or that a component does not exist.
pub fn access_finding(r: &crate::probe::access::AccessReport) -> AccessFinding {
    use crate::probe::access::{Outcome, PermClass};
    let inside = |path: &std::path::Path, host: &std::path::Path| {
        if path == host {
            String::new()
        } else {
            format!(" ({} inside the chroot)", path.display())
        }
    };
    match &r.outcome {
        Outcome::Granted { .. } => AccessFinding::Granted,
        Outcome::Denied(d) if d.protected_symlink => AccessFinding::Refused(format!(
            "the symlink {} is in a sticky world-writable directory and not owned by {}: fs.protected_symlinks stops the lookup",
            d.host_path.display(),
            r.identity
                .user
                .clone()
                .unwrap_or_else(|| r.identity.uid.to_string())
        )),
        Outcome::Denied(d) => {
            let class = match d.class {
                PermClass::Owner => "the owner's bits",
                PermClass::Group => "the group's bits",
                PermClass::Other => "the others' bits",
                PermClass::Root => "root's",
            };
            let what = match (d.role, d.node.kind) {
                (crate::probe::access::Role::Search, _) | (_, FileKind::Dir) => "directory",
                (_, FileKind::Socket) => "socket",
                _ => "file",
            };
            AccessFinding::Refused(format!(
                "{what} {}{} is {}: {class} lack {}",
                d.host_path.display(),
                inside(&d.path, &d.host_path),
                mode_owner(&d.node),
                perm_words(&d.missing, d.role)
            ))
        }
        Outcome::NotFound { path, host_path } => AccessFinding::Refused(format!(
            "{}{} does not exist",
            host_path.display(),
            inside(path, host_path)
        )),
        Outcome::NotADirectory {
            path,
            host_path,
            kind,
        } => AccessFinding::Refused(format!(
            "{}{} is a {kind:?}, not a directory",
            host_path.display(),
            inside(path, host_path)
        )),
        Outcome::TooManySymlinks { path, hops } => AccessFinding::Refused(format!(
            "{hops} symlinks at {}: the kernel gives up (ELOOP)",
            path.display()
        )),
        Outcome::NotASocket {
            path,
            host_path,
            kind,
        } => AccessFinding::Refused(format!(
            "{}{} is a {kind:?}, not a socket",
            host_path.display(),
            inside(path, host_path)
        )),
        Outcome::CannotLook {
            host_path, message, ..
        } => AccessFinding::Unknown(format!("cannot look at {}: {message}", host_path.display())),
    }
}

/// "postfix (103:106, groups sasl(45)), chrooted in /var/spool/postfix": who walked the path.
pub fn who(r: &crate::probe::access::AccessReport) -> String {
    if r.root == std::path::Path::new("/") {
        r.identity.describe()
    } else {
        format!(
            "{}, chrooted in {}",
            r.identity.describe(),
            r.root.display()
        )
    }
}

/// A `chmod` that grants what an access walk found missing, when the bits were the reason.
pub fn access_fix(r: &crate::probe::access::AccessReport) -> Option<String> {
    use crate::probe::access::{Outcome, Perm, PermClass};
    let Outcome::Denied(d) = &r.outcome else {
        return None;
    };
    if d.protected_symlink || d.missing.is_empty() {
        return None;
    }
    let who = match d.class {
        PermClass::Owner => "u",
        PermClass::Group => "g",
        PermClass::Other => "o",
        PermClass::Root => return None,
    };
    let bits: String = d
        .missing
        .iter()
        .map(|p| match p {
            Perm::Read => 'r',
            Perm::Write => 'w',
            Perm::Execute => 'x',
        })
        .collect();
    Some(format!("chmod {who}+{bits} {}", d.host_path.display()))
}

/// The verdict for an access the walk refused: a failure with the `chmod` that grants it, or
/// a warning when a POSIX ACL on the way may change the kernel's answer.
pub fn refused_access(r: &crate::probe::access::AccessReport, message: String) -> Verdict {
    let v = if r.acl_caveat() {
        Verdict::warn(format!(
            "{message} (a POSIX ACL on the way may allow it: the mode bits are not the whole answer)"
        ))
    } else {
        Verdict::fail(message)
    };
    match access_fix(r) {
        Some(f) => v.with_fix(f),
        None => v,
    }
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
