//! Postfix's mail queue, read-only through `postqueue -j` (postqueue(1), JSON Lines since
//! Postfix 3.1): one object per queued message.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

/// One recipient of a queued message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct QueuedRecipient {
    pub address: String,
    /// Why delivery was delayed (deferred messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_reason: Option<String>,
}

/// One queued message as `postqueue -j` describes it (unknown fields ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct QueuedMessage {
    /// `maildrop`, `incoming`, `active`, `deferred`, `hold` or `corrupt`.
    pub queue_name: String,
    pub queue_id: String,
    /// Seconds since the epoch.
    #[serde(default)]
    pub arrival_time: u64,
    #[serde(default)]
    pub message_size: u64,
    #[serde(default)]
    pub sender: String,
    #[serde(default)]
    pub recipients: Vec<QueuedRecipient>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    #[error("{} is not installed", .command)]
    Missing { command: String },
    #[error("cannot run {command}: {message}")]
    Spawn { command: String, message: String },
    #[error("{command} gave no answer within {}", humantime::format_duration(*.after))]
    Timeout { command: String, after: Duration },
    #[error("{command} failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("{command} printed a line that is not a queue entry: {detail}")]
    Parse { command: String, detail: String },
}

impl QueueError {
    /// Whether the failure looks like a permission problem (`authorized_mailq_users`, setgid).
    pub fn is_permission(&self) -> bool {
        match self {
            QueueError::Spawn { message, .. } => message.contains("ermission denied"),
            QueueError::Failed { stderr, .. } => {
                // postqueue.c: "User %s(%ld) is not allowed to view the mail queue".
                stderr.contains("ermission denied")
                    || stderr.contains("not allowed")
                    || stderr.contains("not authorized")
            }
            _ => false,
        }
    }
}

/// The queue as read, and whether reading stopped early.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Queue {
    pub messages: Vec<QueuedMessage>,
    /// More messages were queued than `max_messages`; the rest were not read.
    pub truncated: bool,
}

/// Most bytes read from postqueue's output.
const MAX_OUTPUT: u64 = 64 << 20;

/// Parses one line of `postqueue -j` output.
pub fn parse_line(line: &str) -> Result<QueuedMessage, crate::probe::Malformed> {
    serde_json::from_str(line).map_err(|e| {
        let excerpt: String = line.chars().take(80).collect();
        crate::probe::Malformed(format!("{e}: {excerpt:?}"))
    })
}

/// Runs `<postqueue> -j` (stdin closed, within `deadline`) and reads at most `max_messages`.
pub async fn read_queue(
    postqueue: &Path,
    deadline: Duration,
    max_messages: usize,
) -> Result<Queue, QueueError> {
    let command = format!("{} -j", postqueue.display());
    let mut child = tokio::process::Command::new(postqueue)
        .arg("-j")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => QueueError::Missing {
                command: postqueue.display().to_string(),
            },
            _ => QueueError::Spawn {
                command: command.clone(),
                message: e.to_string(),
            },
        })?;
    let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(QueueError::Spawn {
            command,
            message: "no pipes to the child".into(),
        });
    };
    let work = async {
        let lines = BufReader::new(stdout.take(MAX_OUTPUT)).lines();
        let read_err = async {
            let mut buf = Vec::new();
            let _ = (&mut stderr).take(8192).read_to_end(&mut buf).await;
            String::from_utf8_lossy(&buf).trim().to_string()
        };
        // Owns stdout: when it stops early it drops the pipe, so postqueue ends (EPIPE).
        let read_out = {
            let command = command.clone();
            async move {
                let mut lines = lines;
                let mut queue = Queue::default();
                while let Some(line) = lines.next_line().await.map_err(|e| QueueError::Spawn {
                    command: command.clone(),
                    message: e.to_string(),
                })? {
                    if line.trim().is_empty() {
                        continue;
                    }
                    if queue.messages.len() >= max_messages {
                        queue.truncated = true;
                        break;
                    }
                    let m = parse_line(&line).map_err(|detail| QueueError::Parse {
                        command: command.clone(),
                        detail: detail.to_string(),
                    })?;
                    queue.messages.push(m);
                }
                Ok::<Queue, QueueError>(queue)
            }
        };
        let (out, err_text) = tokio::join!(read_out, read_err);
        let status = child.wait().await.map_err(|e| QueueError::Spawn {
            command: command.clone(),
            message: e.to_string(),
        })?;
        let truncated = out.as_ref().is_ok_and(|q| q.truncated);
        if !status.success() && !truncated {
            return Err(QueueError::Failed {
                command: command.clone(),
                status: status.to_string(),
                stderr: err_text,
            });
        }
        out
    };
    match tokio::time::timeout(deadline, work).await {
        Ok(r) => r,
        Err(_) => Err(QueueError::Timeout {
            command: command.clone(),
            after: deadline,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_postqueue_json() {
        let line = r#"{"queue_name": "deferred", "queue_id": "4F2A1C0123", "arrival_time": 1700000000, "message_size": 512, "forced_expire": false, "sender": "a@b.test", "recipients": [{"address": "root@example.com", "delay_reason": "delivery temporarily suspended"}]}"#;
        let m = parse_line(line).expect("parses");
        assert_eq!(m.queue_name, "deferred");
        assert_eq!(m.recipients[0].address, "root@example.com");
        assert_eq!(
            m.recipients[0].delay_reason.as_deref(),
            Some("delivery temporarily suspended")
        );
        assert!(parse_line("Mail queue is empty").is_err());
    }

    #[tokio::test]
    async fn missing_command_is_reported() {
        let r = read_queue(
            Path::new("/nonexistent/postqueue"),
            Duration::from_secs(2),
            10,
        )
        .await;
        assert!(matches!(r, Err(QueueError::Missing { .. })), "{r:?}");
    }
}
