//! `[USER@]HOST[:PORT]` for `--ssh`, with `[v6addr]:port` for IPv6 addresses (as ssh(1) and URLs do).

use std::fmt;
use std::str::FromStr;

/// Where to log in: the user (else ssh's default: ~/.ssh/config, then the local user name), the
/// host (a name, an address or a ~/.ssh/config alias) and the port (else ssh's default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    user: Option<String>,
    host: String,
    port: Option<u16>,
}

/// Why a `--ssh` target could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the SSH target is empty: give [USER@]HOST[:PORT]")]
    Empty,
    #[error("SSH target {0:?}: the user before '@' is empty")]
    EmptyUser(String),
    #[error("SSH target {0:?}: no host (give [USER@]HOST[:PORT])")]
    EmptyHost(String),
    #[error("SSH target {target:?}: port {port:?} is not a number from 1 to 65535")]
    BadPort { target: String, port: String },
    #[error(
        "SSH target {0:?}: '[' without ']' (an IPv6 address with a port is written [ADDR]:PORT)"
    )]
    UnclosedBracket(String),
    #[error("SSH target {0:?}: only ':PORT' may follow ']'")]
    AfterBracket(String),
    #[error(
        "SSH target {0:?}: a user or host must not start with '-' (ssh would read it as an option)"
    )]
    LooksLikeOption(String),
    #[error("SSH target {0:?}: spaces, control characters and '@' in the host are not allowed")]
    BadCharacter(String),
}

impl Target {
    /// A target from its parts (for callers that have them separately).
    pub fn new(user: Option<&str>, host: &str, port: Option<u16>) -> Result<Target, TargetError> {
        let shown = match user {
            Some(u) => format!("{u}@{host}"),
            None => host.to_string(),
        };
        if let Some(u) = user {
            check_word(u, &shown)?;
            if u.is_empty() {
                return Err(TargetError::EmptyUser(shown));
            }
        }
        if host.is_empty() {
            return Err(TargetError::EmptyHost(shown));
        }
        check_word(host, &shown)?;
        if host.contains(['@', '[', ']']) {
            return Err(TargetError::BadCharacter(shown));
        }
        if port == Some(0) {
            return Err(TargetError::BadPort {
                target: shown,
                port: "0".into(),
            });
        }
        Ok(Target {
            user: user.map(str::to_string),
            host: host.to_string(),
            port,
        })
    }

    /// The user to log in as, if the target names one.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The host, without brackets (an IPv6 address is given to ssh as it is).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, if the target names one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

fn check_word(w: &str, shown: &str) -> Result<(), TargetError> {
    if w.starts_with('-') {
        return Err(TargetError::LooksLikeOption(shown.to_string()));
    }
    if w.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(TargetError::BadCharacter(shown.to_string()));
    }
    Ok(())
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Target, TargetError> {
        if s.is_empty() {
            return Err(TargetError::Empty);
        }
        // A user name has no '@'; an address or host name has none either, so the last '@' splits.
        let (user, rest) = match s.rsplit_once('@') {
            Some((u, r)) => (Some(u), r),
            None => (None, s),
        };
        if user == Some("") {
            return Err(TargetError::EmptyUser(s.to_string()));
        }
        let bad_port = |p: &str| TargetError::BadPort {
            target: s.to_string(),
            port: p.to_string(),
        };
        let parse_port = |p: &str| -> Result<u16, TargetError> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad_port(p));
            }
            match p.parse::<u16>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(bad_port(p)),
            }
        };
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let Some((addr, after)) = inner.split_once(']') else {
                return Err(TargetError::UnclosedBracket(s.to_string()));
            };
            let port = match after {
                "" => None,
                a => match a.strip_prefix(':') {
                    Some(p) => Some(parse_port(p)?),
                    None => return Err(TargetError::AfterBracket(s.to_string())),
                },
            };
            (addr, port)
        } else {
            match rest.split_once(':') {
                // More than one ':' is a bare IPv6 address, which cannot carry a port.
                Some((h, p)) if !p.contains(':') => (h, Some(parse_port(p)?)),
                _ => (rest, None),
            }
        };
        if host.is_empty() {
            return Err(TargetError::EmptyHost(s.to_string()));
        }
        Target::new(user, host, port).map_err(|e| match e {
            // Report the text as the user wrote it.
            TargetError::LooksLikeOption(_) => TargetError::LooksLikeOption(s.to_string()),
            TargetError::BadCharacter(_) => TargetError::BadCharacter(s.to_string()),
            other => other,
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(u) = &self.user {
            write!(f, "{u}@")?;
        }
        // A host with a ':' (an IPv6 address) is bracketed, with or without a port, so that
        // what is shown parses back to the same target.
        match (self.host.contains(':'), self.port) {
            (true, Some(p)) => write!(f, "[{}]:{p}", self.host),
            (true, None) => write!(f, "[{}]", self.host),
            (false, Some(p)) => write!(f, "{}:{p}", self.host),
            (false, None) => f.write_str(&self.host),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn t(s: &str) -> (Option<String>, String, Option<u16>) {
        let t: Target = s.parse().unwrap();
        (t.user.clone(), t.host.clone(), t.port)
    }

    #[test]
    fn forms() {
        assert_eq!(t("mx.example.com"), (None, "mx.example.com".into(), None));
        assert_eq!(t("root@mx"), (Some("root".into()), "mx".into(), None));
        assert_eq!(
            t("root@mx:2222"),
            (Some("root".into()), "mx".into(), Some(2222))
        );
        assert_eq!(t("mx:22"), (None, "mx".into(), Some(22)));
        assert_eq!(
            t("[2001:db8::1]:2222"),
            (None, "2001:db8::1".into(), Some(2222))
        );
        assert_eq!(t("admin@[::1]"), (Some("admin".into()), "::1".into(), None));
        assert_eq!(t("2001:db8::1"), (None, "2001:db8::1".into(), None));
        assert_eq!(t("a@b@host"), (Some("a@b".into()), "host".into(), None));
        assert_eq!(t("198.18.1.1:22"), (None, "198.18.1.1".into(), Some(22)));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "mx",
            "root@mx:2222",
            "[2001:db8::1]:2222",
            "u@::1",
            "u@[::1]:22",
        ] {
            let t: Target = s.parse().unwrap();
            assert_eq!(t.to_string().parse::<Target>().unwrap(), t, "{s}");
        }
    }

    #[test]
    fn errors() {
        use TargetError::*;
        let e = |s: &str| s.parse::<Target>().unwrap_err();
        assert_eq!(e(""), Empty);
        assert!(matches!(e("@mx"), EmptyUser(_)));
        assert!(matches!(e("root@"), EmptyHost(_)));
        assert!(matches!(e(":22"), EmptyHost(_)));
        assert!(matches!(e("mx:"), BadPort { .. }));
        assert!(matches!(e("mx:0"), BadPort { .. }));
        assert!(matches!(e("mx:65536"), BadPort { .. }));
        assert!(matches!(e("mx:+22"), BadPort { .. }));
        assert!(matches!(e("mx:ssh"), BadPort { .. }));
        assert!(matches!(e("[::1"), UnclosedBracket(_)));
        assert!(matches!(e("[::1]22"), AfterBracket(_)));
        assert!(matches!(e("[]:22"), EmptyHost(_)));
        assert!(matches!(e("-oProxyCommand=x"), LooksLikeOption(_)));
        assert!(matches!(e("-l@mx"), LooksLikeOption(_)));
        assert!(matches!(e("root@mx example"), BadCharacter(_)));
        assert!(matches!(e("mx\n"), BadCharacter(_)));
        let msg = e("mx:99999").to_string();
        assert!(msg.contains("99999") && msg.contains("1 to 65535"), "{msg}");
    }
}
