//! Test messages (built with lettre's message builder, RFC 5322/2045): each carries the run's
//! token in its Message-ID, Subject and an `X-Mailcheck-Run` header, so cleanup can find
//! exactly the messages of this run and nothing else.

use lettre::Message;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};

/// The header that marks mailcheck's test mail; its value is the run token.
pub const RUN_HEADER: &str = "X-Mailcheck-Run";

#[derive(Debug, Clone, PartialEq, Eq)]
struct XMailcheckRun(String);

impl Header for XMailcheckRun {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str(RUN_HEADER)
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(XMailcheckRun(s.trim().to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// How an attachment's file name is written in Content-Type (the T34 probe sends both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentName {
    /// `name="invoice.exe"`: what mail programs send.
    Quoted,
    /// `name=invoice.exe`: what the tutorial's rule catches.
    Unquoted,
}

/// One test message: its unique Message-ID (without angle brackets) and its bytes.
#[derive(Debug, Clone)]
pub struct TestMessage {
    pub message_id: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the test message: {0}")]
pub struct BuildError(String);

fn mailbox(address: &str) -> Result<Mailbox, BuildError> {
    address
        .parse::<Mailbox>()
        .map_err(|e| BuildError(format!("{address}: {e}")))
}

/// A plain test message to `to`. `label` says which probe sent it (e.g. "port 25").
pub fn plain(token: &str, label: &str, to: &str) -> Result<TestMessage, BuildError> {
    let message_id = format!("{token}.{}@mailcheck.invalid", slug(label));
    let msg = Message::builder()
        .from(mailbox(to)?)
        .to(mailbox(to)?)
        .subject(format!("mailcheck test {token} ({label})"))
        .message_id(Some(format!("<{message_id}>")))
        .date(crate::clock::now())
        .header(XMailcheckRun(token.to_string()))
        .header(ContentType::TEXT_PLAIN)
        .body(format!(
            "This message was sent by mailcheck to prove delivery ({label}).\r\nmailcheck deletes it when the run ends.\r\n"
        ))
        .map_err(|e| BuildError(e.to_string()))?;
    Ok(TestMessage {
        message_id,
        bytes: msg.formatted(),
    })
}

/// A test message with an `.exe` attachment whose name is written `how`.
pub fn with_exe_attachment(
    token: &str,
    to: &str,
    how: AttachmentName,
    via: &str,
) -> Result<TestMessage, BuildError> {
    // `via` (the service) keeps the Message-IDs of the probes on 25 and 587 apart: the ledger
    // and the delivery wait find a message by its Message-ID.
    let label = match how {
        AttachmentName::Quoted => format!("exe attachment, quoted name, {via}"),
        AttachmentName::Unquoted => format!("exe attachment, unquoted name, {via}"),
    };
    let label = label.as_str();
    let message_id = format!("{token}.{}@mailcheck.invalid", slug(label));
    let content_type = match how {
        AttachmentName::Quoted => "application/octet-stream; name=\"invoice.exe\"",
        AttachmentName::Unquoted => "application/octet-stream; name=invoice.exe",
    };
    let content_type = ContentType::parse(content_type).map_err(|e| BuildError(e.to_string()))?;
    let attachment = Attachment::new("invoice.exe".into())
        .body(b"MZ-not-really-a-program".to_vec(), content_type);
    let msg = Message::builder()
        .from(mailbox(to)?)
        .to(mailbox(to)?)
        .subject(format!("mailcheck test {token} ({label})"))
        .message_id(Some(format!("<{message_id}>")))
        .date(crate::clock::now())
        .header(XMailcheckRun(token.to_string()))
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(format!(
                    "mailcheck attachment-ban probe ({label}); deleted when the run ends.\r\n"
                )))
                .singlepart(attachment),
        )
        .map_err(|e| BuildError(e.to_string()))?;
    Ok(TestMessage {
        message_id,
        bytes: msg.formatted(),
    })
}

fn slug(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// A fresh run token: `mc-<unix seconds>-<pid>-<random>`. The pid and time let a later run
/// recognise leftovers of a run that was killed.
pub fn new_token() -> String {
    let secs = crate::clock::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut rnd = [0u8; 4];
    // Randomness only has to keep two runs in the same second apart.
    let nanos = crate::clock::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    rnd.copy_from_slice(&nanos.to_le_bytes());
    format!(
        "mc-{secs}-{}-{:08x}",
        std::process::id(),
        u32::from_le_bytes(rnd) ^ 0x9e37_79b9
    )
}

/// The parts of a token: (unix seconds, pid), if it is one of ours.
pub fn parse_token(token: &str) -> Option<(u64, u32)> {
    let mut it = token.strip_prefix("mc-")?.split('-');
    let secs = it.next()?.parse().ok()?;
    let pid = it.next()?.parse().ok()?;
    let rest = it.next()?;
    (rest.len() == 8 && it.next().is_none()).then_some((secs, pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(m: &TestMessage) -> String {
        String::from_utf8_lossy(&m.bytes).into_owned()
    }

    #[test]
    fn plain_message_carries_the_token_three_times() {
        let m = plain("mc-1-2-0000abcd", "port 25", "root@example.com").unwrap();
        let t = text(&m);
        assert!(t.contains("X-Mailcheck-Run: mc-1-2-0000abcd\r\n"), "{t}");
        assert!(
            t.contains("Message-ID: <mc-1-2-0000abcd.port-25@mailcheck.invalid>"),
            "{t}"
        );
        assert!(
            t.contains("Subject: mailcheck test mc-1-2-0000abcd (port 25)"),
            "{t}"
        );
    }

    #[test]
    fn attachment_names_are_written_as_asked() {
        let q = text(
            &with_exe_attachment(
                "mc-1-2-0000abcd",
                "a@b.test",
                AttachmentName::Quoted,
                "smtp",
            )
            .unwrap(),
        );
        assert!(q.contains("name=\"invoice.exe\""), "{q}");
        let u = text(
            &with_exe_attachment(
                "mc-1-2-0000abcd",
                "a@b.test",
                AttachmentName::Unquoted,
                "smtp",
            )
            .unwrap(),
        );
        assert!(
            u.contains("Content-Type: application/octet-stream; name=invoice.exe\r\n"),
            "{u}"
        );
    }

    /// The probes on 25 and 587 run in one run: one Message-ID each, or the ledger settles
    /// both when one arrives (an interrupted run then left the other behind).
    #[test]
    fn attachment_probes_of_two_services_have_their_own_message_ids() {
        let a = with_exe_attachment(
            "mc-1-2-0000abcd",
            "a@b.test",
            AttachmentName::Quoted,
            "smtp",
        );
        let b = with_exe_attachment(
            "mc-1-2-0000abcd",
            "a@b.test",
            AttachmentName::Quoted,
            "submission",
        );
        assert_ne!(a.unwrap().message_id, b.unwrap().message_id);
    }

    #[test]
    fn tokens_round_trip() {
        let t = new_token();
        let (secs, pid) = parse_token(&t).unwrap();
        assert_eq!(pid, std::process::id());
        assert!(secs > 1_700_000_000);
        assert_eq!(parse_token("mc-x-1-00000000"), None);
        assert_eq!(parse_token("other"), None);
    }
}
