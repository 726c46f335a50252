//! mailcheck run by a user who is not root: what it cannot read is an `error` that says it
//! needs root (or a `skip` naming the check it depends on), never a guess. A pid file it may
//! not open is not "Postfix is not running"; a Cyrus SASL file it may not read is not "no
//! service asks saslauthd", and a process table /proc does not show whole (hidepid=) is not
//! "saslauthd is not running".

use crate::support::Lab;

#[test]
fn a_run_without_root_never_guesses() {
    let g = Lab::lock();
    if crate::machine::target().is_some() {
        return; // the machine's mailcheck runs as its root; the host run covers the rule
    }
    let root = g.run(&["--no-send"]);
    never_guesses(&root, &g.run_unprivileged(&["--no-send"]));
}

#[test]
fn a_run_without_root_behind_hidepid_never_guesses() {
    let g = Lab::lock();
    if crate::machine::target().is_some() {
        return;
    }
    let root = g.run(&["--no-send"]);
    let user = g.run_unprivileged_hidepid(&["--no-send"]);
    never_guesses(&root, &user);
    for id in [
        "sasl.saslauthd-socket",
        "sasl.saslauthd-running",
        "mysql.server-listens",
    ] {
        assert_eq!(user.status(id), "error", "{id}: {}", user.message(id));
    }
}

fn never_guesses(root: &crate::support::RunOutput, user: &crate::support::RunOutput) {
    let mut wrong = Vec::new();
    for c in root.json["checks"].as_array().expect("checks") {
        let id = c["id"].as_str().unwrap_or("");
        let (was, now, message) = (root.status(id), user.status(id), user.message(id));
        let explained = match now.as_str() {
            _ if now == was => true,
            "error" => message.contains("needs root"),
            "skip" => message.contains("blocked by") || message.contains("needs root"),
            _ => false,
        };
        if !explained {
            wrong.push(format!("{id}: {was} as root, {now} as nobody: {message}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "checks that guessed without root:\n{}",
        wrong.join("\n")
    );
    assert!(
        user.with_status("error").len() >= 5,
        "a run as nobody should miss what only root can read:\n{}",
        user.stdout
    );
}
