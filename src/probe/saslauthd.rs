//! saslauthd's `mux` socket protocol (cyrus-sasl saslauthd/ipc_unix.c): four length-prefixed
//! strings (login, password, service, realm) in, one length-prefixed `OK ...`/`NO ...` out; and
//! its command line (saslauthd-main.c getopt), as the init script passes OPTIONS.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::secret::Secret;

/// saslauthd's answer to one authentication request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslauthdAnswer {
    Ok(String),
    No(String),
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SaslauthdError {
    #[error("cannot connect to {path}: {message}")]
    Connect { path: String, message: String },
    #[error("no answer from saslauthd at {path} after {}", humantime::format_duration(*.after))]
    Timeout { path: String, after: Duration },
    #[error("saslauthd at {path} sent a malformed answer: {detail}")]
    Protocol { path: String, detail: String },
}

impl SaslauthdError {
    /// The socket exists but this user may not open it (needs root or group sasl).
    pub fn permission_denied(&self) -> bool {
        matches!(self, SaslauthdError::Connect { message, .. } if message.contains("ermission denied"))
    }
}

/// saslauthd's compiled-in socket directory on Debian when `-m` is absent.
pub const DEFAULT_SOCKET_DIR: &str = "/var/run/saslauthd";

/// saslauthd's getopt string (saslauthd-main.c): which options take an argument.
const ARG_OPTS: &str = "aOmnst";

/// Parses saslauthd options as getopt(3) would: (flag, argument) pairs, e.g. ('m', "/dir").
pub fn parse_opts(options: &str) -> Vec<(char, Option<String>)> {
    let words: Vec<&str> = options.split_whitespace().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        i += 1;
        if w == "--" {
            break;
        }
        let Some(letters) = w.strip_prefix('-').filter(|l| !l.is_empty()) else {
            continue;
        };
        for (k, c) in letters.char_indices() {
            if ARG_OPTS.contains(c) {
                let rest = &letters[k + c.len_utf8()..];
                let arg = if !rest.is_empty() {
                    Some(rest.to_string())
                } else {
                    let a = words.get(i).map(|s| s.to_string());
                    i += 1;
                    a
                };
                out.push((c, arg));
                break;
            }
            out.push((c, None));
        }
    }
    out
}

/// Longest answer we accept; saslauthd's own limit is 1024.
const MAX_ANSWER: usize = 1024;

fn frame(out: &mut Vec<u8>, s: &[u8]) {
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&s[..usize::from(len)]);
}

/// Parses saslauthd's answer (length prefix already removed).
pub fn parse_answer(body: &[u8]) -> Option<SaslauthdAnswer> {
    let text = String::from_utf8_lossy(body)
        .trim_end_matches('\0')
        .to_string();
    if let Some(rest) = text.strip_prefix("OK") {
        Some(SaslauthdAnswer::Ok(rest.trim().to_string()))
    } else {
        text.strip_prefix("NO")
            .map(|rest| SaslauthdAnswer::No(rest.trim().to_string()))
    }
}

/// Opens the socket only (proves something listens there), within `deadline`.
pub async fn ping(socket: &Path, deadline: Duration) -> Result<(), SaslauthdError> {
    let path = socket.display().to_string();
    match tokio::time::timeout(deadline, UnixStream::connect(socket)).await {
        Err(_) => Err(SaslauthdError::Timeout {
            path,
            after: deadline,
        }),
        Ok(Err(e)) => Err(SaslauthdError::Connect {
            path,
            message: e.to_string(),
        }),
        Ok(Ok(_)) => Ok(()),
    }
}

/// Asks saslauthd at `socket` to authenticate `user` for `service`, within `deadline`.
pub async fn authenticate(
    socket: &Path,
    user: &str,
    password: &Secret,
    service: &str,
    realm: &str,
    deadline: Duration,
) -> Result<SaslauthdAnswer, SaslauthdError> {
    let path = socket.display().to_string();
    let exchange = async {
        let mut s = UnixStream::connect(socket)
            .await
            .map_err(|e| SaslauthdError::Connect {
                path: path.clone(),
                message: e.to_string(),
            })?;
        let mut req = Vec::new();
        frame(&mut req, user.as_bytes());
        frame(&mut req, password.expose().as_bytes());
        frame(&mut req, service.as_bytes());
        frame(&mut req, realm.as_bytes());
        let proto = |detail: String| SaslauthdError::Protocol {
            path: path.clone(),
            detail,
        };
        s.write_all(&req).await.map_err(|e| proto(e.to_string()))?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len)
            .await
            .map_err(|e| proto(e.to_string()))?;
        let len = usize::from(u16::from_be_bytes(len));
        if len > MAX_ANSWER {
            return Err(proto(format!("answer of {len} bytes")));
        }
        let mut body = vec![0u8; len];
        s.read_exact(&mut body)
            .await
            .map_err(|e| proto(e.to_string()))?;
        parse_answer(&body).ok_or_else(|| {
            let excerpt: String = String::from_utf8_lossy(&body)
                .chars()
                .filter(|c| !c.is_control())
                .take(80)
                .collect();
            proto(format!("expected OK or NO, got {excerpt:?}"))
        })
    };
    match tokio::time::timeout(deadline, exchange).await {
        Err(_) => Err(SaslauthdError::Timeout {
            path,
            after: deadline,
        }),
        Ok(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_answers() {
        assert_eq!(
            parse_answer(b"OK \"Success.\"\0"),
            Some(SaslauthdAnswer::Ok("\"Success.\"".into()))
        );
        assert_eq!(
            parse_answer(b"NO \"authentication failed\""),
            Some(SaslauthdAnswer::No("\"authentication failed\"".into()))
        );
        assert_eq!(parse_answer(b"garbage"), None);
    }

    #[test]
    fn options_parse_as_getopt_does() {
        let o = parse_opts("-cr -m/var/spool/postfix/var/run/saslauthd -n 5 -- -x");
        assert_eq!(
            o,
            vec![
                ('c', None),
                ('r', None),
                ('m', Some("/var/spool/postfix/var/run/saslauthd".into())),
                ('n', Some("5".into())),
            ]
        );
        assert_eq!(parse_opts("-m"), vec![('m', None)]);
    }
}
