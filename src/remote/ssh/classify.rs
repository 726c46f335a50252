//! What went wrong, read from OpenSSH's stderr after its exit status 255 (ssh(1)) and from sudo's.

/// The kind of failure ssh reported, with the line of its stderr that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SshFailure {
    HostKeyChanged(String),
    HostKeyUnknown(String),
    Refused(String),
    TimedOut(String),
    Unreachable(String),
    Resolve(String),
    Auth(String),
    Closed(String),
    Other(String),
}

/// Reads ssh's stderr after an exit with status 255. The most specific match wins: a changed key
/// also prints "Host key verification failed.".
pub(crate) fn ssh_failure(stderr: &str) -> SshFailure {
    let line = |needle: &str| {
        stderr
            .lines()
            .find(|l| l.contains(needle))
            .map(|l| l.trim().to_string())
    };
    let pick = |needles: &[&str]| needles.iter().find_map(|n| line(n));
    if let Some(l) = pick(&[
        "REMOTE HOST IDENTIFICATION HAS CHANGED",
        "has changed and you have requested strict checking",
    ]) {
        // The interesting line is the one naming the fingerprint and the file, if present.
        let detail = line("Offending").unwrap_or(l);
        return SshFailure::HostKeyChanged(detail);
    }
    if let Some(l) = pick(&["Host key verification failed", "host key is known for"]) {
        return SshFailure::HostKeyUnknown(l);
    }
    if let Some(l) = pick(&["Connection refused"]) {
        return SshFailure::Refused(l);
    }
    if let Some(l) = pick(&[
        "Connection timed out",
        "Operation timed out",
        "timed out during banner exchange",
    ]) {
        return SshFailure::TimedOut(l);
    }
    if let Some(l) = pick(&[
        "No route to host",
        "Network is unreachable",
        "Host is unreachable",
    ]) {
        return SshFailure::Unreachable(l);
    }
    if let Some(l) = pick(&[
        "Could not resolve hostname",
        "Name or service not known",
        "Temporary failure in name resolution",
        "nodename nor servname",
    ]) {
        return SshFailure::Resolve(l);
    }
    if let Some(l) = pick(&[
        "Permission denied (",
        "Too many authentication failures",
        "no more authentication methods",
    ]) {
        return SshFailure::Auth(l);
    }
    if let Some(l) = pick(&[
        "kex_exchange_identification",
        "Connection closed by",
        "Connection reset by",
        "banner exchange",
        "Broken pipe",
    ]) {
        return SshFailure::Closed(l);
    }
    SshFailure::Other(last_line(stderr))
}

/// What `sudo -n` said when it did not run the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SudoFailure {
    PasswordRequired(String),
    NotAllowed(String),
    Missing(String),
}

/// Reads the stderr of `sudo -n ...` that exited non-zero before our script printed anything.
pub(crate) fn sudo_failure(stderr: &str, code: i32) -> Option<SudoFailure> {
    let find = |needles: &[&str]| {
        stderr
            .lines()
            .find(|l| needles.iter().any(|n| l.contains(n)))
            .map(|l| l.trim().to_string())
    };
    if let Some(l) = find(&["a password is required", "a terminal is required"]) {
        return Some(SudoFailure::PasswordRequired(l));
    }
    if let Some(l) = find(&[
        "is not in the sudoers file",
        "is not allowed to",
        "may not run sudo",
    ]) {
        return Some(SudoFailure::NotAllowed(l));
    }
    if code == 127
        && let Some(l) = find(&["sudo"])
    {
        return Some(SudoFailure::Missing(l));
    }
    None
}

/// The last non-empty line, for messages that quote ssh's or the server's own words.
pub(crate) fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(no message)")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The texts are OpenSSH 9.2's and sudo 1.9.13's, as seen on Debian 12.
    #[test]
    fn ssh_messages() {
        let changed = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
            @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
            Offending ED25519 key in /root/.ssh/known_hosts:1\n\
            Host key for mx has changed and you have requested strict checking.\n\
            Host key verification failed.\n";
        assert!(
            matches!(ssh_failure(changed), SshFailure::HostKeyChanged(l) if l.contains("known_hosts:1"))
        );
        assert!(matches!(
            ssh_failure("Host key verification failed.\n"),
            SshFailure::HostKeyUnknown(_)
        ));
        assert!(matches!(
            ssh_failure(
                "No ED25519 host key is known for mx and you have requested strict checking.\nHost key verification failed.\n"
            ),
            SshFailure::HostKeyUnknown(_)
        ));
        assert!(matches!(
            ssh_failure("ssh: connect to host 198.18.1.1 port 22: Connection refused\n"),
            SshFailure::Refused(_)
        ));
        assert!(matches!(
            ssh_failure("ssh: connect to host 10.0.0.1 port 22: Connection timed out\n"),
            SshFailure::TimedOut(_)
        ));
        assert!(matches!(
            ssh_failure(
                "Connection timed out during banner exchange\nConnection to 198.18.1.1 port 2222 timed out\n"
            ),
            SshFailure::TimedOut(_)
        ));
        assert!(matches!(
            ssh_failure("ssh: connect to host 198.18.1.9 port 22: No route to host\n"),
            SshFailure::Unreachable(_)
        ));
        assert!(matches!(
            ssh_failure("ssh: Could not resolve hostname nx.invalid: Name or service not known\n"),
            SshFailure::Resolve(_)
        ));
        assert!(matches!(
            ssh_failure("mcuser@mx: Permission denied (publickey).\n"),
            SshFailure::Auth(l) if l.contains("publickey")
        ));
        assert!(matches!(
            ssh_failure("kex_exchange_identification: Connection closed by remote host\n"),
            SshFailure::Closed(_)
        ));
        assert_eq!(
            ssh_failure("something new\n\n"),
            SshFailure::Other("something new".into())
        );
    }

    #[test]
    fn sudo_messages() {
        assert!(matches!(
            sudo_failure("sudo: a password is required\n", 1),
            Some(SudoFailure::PasswordRequired(_))
        ));
        assert!(matches!(
            sudo_failure("mcuser is not in the sudoers file.\n", 1),
            Some(SudoFailure::NotAllowed(_))
        ));
        assert!(matches!(
            sudo_failure("bash: line 1: sudo: command not found\n", 127),
            Some(SudoFailure::Missing(_))
        ));
        assert_eq!(sudo_failure("sh: 1: mailcheck: oops\n", 2), None);
    }
}
