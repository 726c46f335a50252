//! SMTP replies (RFC 5321 §4.2) read with hard caps, and EHLO capabilities (RFC 5321 §4.1.1.1).

use crate::probe::Malformed;
use std::fmt;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Longest reply line accepted, in bytes, without its line end (RFC 5321 says 512; real
/// servers send longer EHLO lines, so allow some room).
pub const MAX_LINE: usize = 2048;
/// Most lines accepted in one reply.
pub const MAX_LINES: usize = 256;
/// Most bytes accepted in one reply, line ends included.
pub const MAX_REPLY: usize = 64 * 1024;
/// Longest excerpt of server bytes quoted in an error.
const MAX_EXCERPT: usize = 120;
/// The one read buffer: room for a whole capped line and its CRLF, twice over.
const BUF_SIZE: usize = 4096;

/// One complete SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reply {
    pub code: u16,
    /// Text after the code and the separator, one entry per line, control characters replaced.
    pub lines: Vec<String>,
}

impl Reply {
    /// 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }
    /// 3xx (354 to DATA, 334 during AUTH).
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }
    /// 4xx: try again later (greylisting, deferral).
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }
    /// 5xx.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }
    /// All lines joined with `\n`.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
    /// The first line's text ("" for a bare `250`).
    pub fn first_line(&self) -> &str {
        self.lines.first().map(String::as_str).unwrap_or("")
    }
    /// The RFC 3463 enhanced status code at the start of the first line, e.g. "5.3.4".
    pub fn enhanced_code(&self) -> Option<&str> {
        let word = self.first_line().split(' ').next()?;
        let mut parts = word.split('.');
        let class = parts.next()?;
        let ok = matches!(class, "2" | "4" | "5")
            && parts
                .by_ref()
                .take(2)
                .filter(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
                .count()
                == 2
            && parts.next().is_none();
        ok.then_some(word)
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lines.is_empty() {
            return write!(f, "{}", self.code);
        }
        let last = self.lines.len() - 1;
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}{sep}{line}", self.code)?;
        }
        Ok(())
    }
}

/// What the server announced in its EHLO reply (every line after the first), kept raw for
/// evidence. Keywords compare case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Capabilities {
    raw: Vec<String>,
}

impl Capabilities {
    /// From a 250 reply to EHLO: lines 2.. are the extensions.
    pub fn from_ehlo(reply: &Reply) -> Self {
        Capabilities {
            raw: reply.lines.iter().skip(1).cloned().collect(),
        }
    }
    /// From extension lines as the server sent them (without the code).
    pub fn from_lines(raw: Vec<String>) -> Self {
        Capabilities { raw }
    }
    /// The extension lines as sent.
    pub fn raw(&self) -> &[String] {
        &self.raw
    }
    /// The keywords, uppercased ("AUTH=PLAIN" counts as "AUTH").
    pub fn keywords(&self) -> Vec<String> {
        self.raw
            .iter()
            .filter_map(|l| keyword_of(l))
            .map(str::to_ascii_uppercase)
            .collect()
    }
    /// Whether the keyword is announced.
    pub fn has(&self, keyword: &str) -> bool {
        self.line(keyword).is_some()
    }
    /// `None`: no SIZE; `Some(None)`: SIZE without a (valid) number; `Some(Some(n))`: the
    /// announced limit in bytes (RFC 1870: 0 means no fixed limit).
    pub fn size(&self) -> Option<Option<u64>> {
        let params = self.params("SIZE")?;
        Some(params.first().and_then(|p| p.parse().ok()))
    }
    /// SASL mechanisms, uppercased, from `AUTH ...` and the old `AUTH=...` form, without
    /// duplicates, in the order announced.
    pub fn auth_mechanisms(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for line in &self.raw {
            let Some(kw) = keyword_of(line) else { continue };
            if !kw.eq_ignore_ascii_case("AUTH") {
                continue;
            }
            let rest = &line[kw.len()..];
            let rest = rest.strip_prefix('=').unwrap_or(rest);
            for m in rest.split_ascii_whitespace() {
                let m = m.to_ascii_uppercase();
                if !out.contains(&m) {
                    out.push(m);
                }
            }
        }
        out
    }
    /// The parameters after a keyword, if the keyword is announced.
    pub fn params(&self, keyword: &str) -> Option<Vec<String>> {
        let line = self.line(keyword)?;
        let kw_len = keyword_of(line).map_or(0, str::len);
        let rest = &line[kw_len..];
        let rest = rest.strip_prefix('=').unwrap_or(rest);
        Some(rest.split_ascii_whitespace().map(str::to_string).collect())
    }

    fn line(&self, keyword: &str) -> Option<&String> {
        self.raw
            .iter()
            .find(|l| keyword_of(l).is_some_and(|k| k.eq_ignore_ascii_case(keyword)))
    }
}

/// The ehlo-keyword at the start of an extension line (letters, digits, '-').
fn keyword_of(line: &str) -> Option<&str> {
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or(line.len());
    (end > 0).then(|| &line[..end])
}

/// Parses one complete reply from bytes (CRLF or LF line ends), for tests and fixtures.
/// Trailing bytes after the final line are an error.
pub fn parse_reply(bytes: &[u8]) -> Result<Reply, Malformed> {
    parse_reply_text(bytes)
}

fn parse_reply_text(bytes: &[u8]) -> Result<Reply, Malformed> {
    let mut parser = ReplyParser::default();
    let mut rest = bytes;
    loop {
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            return Err(Malformed(if rest.is_empty() {
                "reply ended before its last line".to_string()
            } else {
                format!("line without line end: {}", excerpt(rest))
            }));
        };
        let line = strip_cr(&rest[..nl]);
        rest = &rest[nl + 1..];
        if let Some(reply) = parser.push_line(line)? {
            if !rest.is_empty() {
                return Err(Malformed(format!(
                    "data after the last line: {}",
                    excerpt(rest)
                )));
            }
            return Ok(reply);
        }
    }
}

/// Builds one reply from lines, enforcing the grammar and the caps.
#[derive(Debug, Default)]
pub(crate) struct ReplyParser {
    code: Option<u16>,
    lines: Vec<String>,
    bytes: usize,
}

impl ReplyParser {
    /// Feeds one line without its line end. `Ok(Some(reply))` when it was the last line.
    pub(crate) fn push_line(&mut self, line: &[u8]) -> Result<Option<Reply>, Malformed> {
        if line.len() > MAX_LINE {
            return Err(Malformed(format!(
                "reply line longer than {MAX_LINE} bytes: {}",
                excerpt(line)
            )));
        }
        self.bytes += line.len() + 2;
        if self.bytes > MAX_REPLY {
            return Err(Malformed(format!("reply longer than {MAX_REPLY} bytes")));
        }
        if self.lines.len() >= MAX_LINES {
            return Err(Malformed(format!("reply has more than {MAX_LINES} lines")));
        }
        let code = parse_code(line)
            .ok_or_else(|| Malformed(format!("not an SMTP reply line: {}", excerpt(line))))?;
        match self.code {
            Some(first) if first != code => {
                return Err(Malformed(format!(
                    "reply code changed from {first} to {code} within one reply: {}",
                    excerpt(line)
                )));
            }
            _ => self.code = Some(code),
        }
        let last = match line.get(3) {
            None | Some(b' ') => true,
            Some(b'-') => false,
            Some(_) => {
                return Err(Malformed(format!(
                    "no space or hyphen after the reply code: {}",
                    excerpt(line)
                )));
            }
        };
        self.lines
            .push(clean_text(line.get(4..).unwrap_or_default()));
        if last {
            let lines = std::mem::take(&mut self.lines);
            self.bytes = 0;
            self.code = None;
            Ok(Some(Reply { code, lines }))
        } else {
            Ok(None)
        }
    }

    /// The lines of an unfinished reply (for the transcript after an error).
    pub(crate) fn partial(&self) -> Option<Reply> {
        let code = self.code?;
        Some(Reply {
            code,
            lines: self.lines.clone(),
        })
    }
}

/// Reply code per RFC 5321 §4.2: `%x32-35 %x30-35 %x30-39`.
fn parse_code(line: &[u8]) -> Option<u16> {
    match line {
        [a @ b'2'..=b'5', b @ b'0'..=b'5', c @ b'0'..=b'9', ..] => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Server text for storage: UTF-8 (lossy), control characters replaced by '?'.
fn clean_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c.is_control() && c != '\t' { '?' } else { c })
        .collect()
}

/// A sanitised, length-capped excerpt of server bytes for an error message: control bytes and
/// non-UTF-8 shown as `\xNN`, at most ~120 characters.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut chars = 0;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if chars >= MAX_EXCERPT {
                out.push('…');
                return out;
            }
            if c.is_control() {
                let mut b = [0u8; 4];
                for byte in c.encode_utf8(&mut b).bytes() {
                    out.push_str(&format!("\\x{byte:02x}"));
                }
            } else {
                out.push(c);
            }
            chars += 1;
        }
        for byte in chunk.invalid() {
            if chars >= MAX_EXCERPT {
                out.push('…');
                return out;
            }
            out.push_str(&format!("\\x{byte:02x}"));
            chars += 1;
        }
    }
    out
}

/// Why a reply could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// End of stream before a complete reply.
    Closed,
    Io(std::io::Error),
    /// Grammar or cap violated; the message is sanitised.
    Protocol(Malformed),
}

/// The connection's one read buffer: fixed size, never grows.
pub(crate) struct ReadBuffer {
    buf: Box<[u8; BUF_SIZE]>,
    start: usize,
    end: usize,
}

impl Default for ReadBuffer {
    fn default() -> Self {
        ReadBuffer {
            buf: Box::new([0; BUF_SIZE]),
            start: 0,
            end: 0,
        }
    }
}

impl ReadBuffer {
    /// Whether bytes are waiting that no reply has consumed yet.
    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// An excerpt of the waiting bytes.
    pub(crate) fn pending_excerpt(&self) -> String {
        excerpt(&self.buf[self.start..self.end])
    }

    /// An excerpt of the waiting bytes, which are then dropped (plaintext that must not reach
    /// the TLS layer).
    pub(crate) fn take_pending_excerpt(&mut self) -> String {
        let text = self.pending_excerpt();
        self.start = 0;
        self.end = 0;
        text
    }

    /// Takes the next complete line (line end removed) if one is buffered.
    fn next_line(&mut self) -> Result<Option<Vec<u8>>, Malformed> {
        let pending = &self.buf[self.start..self.end];
        match pending.iter().position(|&b| b == b'\n') {
            Some(nl) => {
                let line = strip_cr(&pending[..nl]).to_vec();
                self.start += nl + 1;
                if self.start == self.end {
                    self.start = 0;
                    self.end = 0;
                }
                Ok(Some(line))
            }
            // No line end within a capped line plus CRLF: give up without reading more.
            None if pending.len() > MAX_LINE + 1 => Err(Malformed(format!(
                "reply line longer than {MAX_LINE} bytes: {}",
                excerpt(pending)
            ))),
            None => Ok(None),
        }
    }

    /// Reads once from `r` into the free space; `Ok(0)` at end of stream.
    async fn fill<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> std::io::Result<usize> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = r.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }
}

/// Reads one complete reply. Memory stays bounded by the buffer and the reply caps whatever
/// the server sends. `parser` keeps the lines read so far if the future is dropped.
pub(crate) async fn read_reply<R: AsyncRead + Unpin>(
    buf: &mut ReadBuffer,
    r: &mut R,
    parser: &mut ReplyParser,
) -> Result<Reply, ReadError> {
    loop {
        while let Some(line) = buf.next_line().map_err(ReadError::Protocol)? {
            if let Some(reply) = parser.push_line(&line).map_err(ReadError::Protocol)? {
                return Ok(reply);
            }
        }
        match buf.fill(r).await {
            Ok(0) => return Err(ReadError::Closed),
            Ok(_) => {}
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, lines: &[&str]) -> Reply {
        Reply {
            code,
            lines: lines.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn rfc5321_single_line_examples() {
        assert_eq!(
            parse_reply(b"220 foo.com Simple Mail Transfer Service Ready\r\n").unwrap(),
            reply(220, &["foo.com Simple Mail Transfer Service Ready"])
        );
        assert_eq!(parse_reply(b"250 OK\r\n").unwrap(), reply(250, &["OK"]));
        assert_eq!(
            parse_reply(b"354 Start mail input; end with <CRLF>.<CRLF>\r\n")
                .unwrap()
                .code,
            354
        );
        assert_eq!(
            parse_reply(b"550 No such user here\r\n").unwrap(),
            reply(550, &["No such user here"])
        );
    }

    #[test]
    fn rfc5321_multiline_ehlo() {
        let text =
            b"250-foo.com greets bar.com\r\n250-8BITMIME\r\n250-SIZE\r\n250-DSN\r\n250 HELP\r\n";
        let r = parse_reply(text).unwrap();
        assert_eq!(
            r,
            reply(
                250,
                &["foo.com greets bar.com", "8BITMIME", "SIZE", "DSN", "HELP"]
            )
        );
        assert_eq!(
            r.to_string(),
            String::from_utf8_lossy(text)
                .replace("\r\n", "\n")
                .trim_end()
        );
        let caps = Capabilities::from_ehlo(&r);
        assert!(caps.has("size"));
        assert_eq!(caps.size(), Some(None));
        assert!(!caps.has("STARTTLS"));
        assert!(caps.auth_mechanisms().is_empty());
    }

    #[test]
    fn postfix_ehlo_capabilities() {
        let r = parse_reply(
            b"250-mail.example.com\r\n250-PIPELINING\r\n250-SIZE 20480000\r\n250-VRFY\r\n\
              250-ETRN\r\n250-STARTTLS\r\n250-AUTH PLAIN login\r\n250-AUTH=PLAIN LOGIN\r\n\
              250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250 CHUNKING\r\n",
        )
        .unwrap();
        let caps = Capabilities::from_ehlo(&r);
        assert!(caps.has("starttls"));
        assert_eq!(caps.size(), Some(Some(20_480_000)));
        assert_eq!(caps.auth_mechanisms(), vec!["PLAIN", "LOGIN"]);
        assert_eq!(caps.raw().len(), 11);
        assert!(caps.keywords().contains(&"CHUNKING".to_string()));
        assert!(!caps.has("AUTH=PLAIN"));
    }

    #[test]
    fn bare_code_is_a_final_line() {
        assert_eq!(parse_reply(b"250\r\n").unwrap(), reply(250, &[""]));
        assert_eq!(
            parse_reply(b"250-a\n250\n").unwrap(),
            reply(250, &["a", ""])
        );
        assert_eq!(parse_reply(b"250\r\n").unwrap().first_line(), "");
    }

    #[test]
    fn bare_lf_is_accepted() {
        assert_eq!(
            parse_reply(b"250-a\n250 b\n").unwrap(),
            reply(250, &["a", "b"])
        );
    }

    #[test]
    fn mismatched_codes_are_rejected() {
        let e = parse_reply(b"250-a\r\n251 b\r\n").unwrap_err();
        assert!(e.0.contains("changed from 250 to 251"), "{e}");
    }

    #[test]
    fn missing_space_is_rejected() {
        let e = parse_reply(b"250OK\r\n").unwrap_err();
        assert!(e.0.contains("no space or hyphen"), "{e}");
    }

    #[test]
    fn garbage_is_rejected_with_a_sanitised_excerpt() {
        for bad in [
            &b"HTTP/1.1 400 Bad Request\r\n"[..],
            b"\r\n",
            b"25\r\n",
            b"2x0 hi\r\n",
            b"650 six hundred\r\n",
            b"199 too low\r\n",
        ] {
            assert!(parse_reply(bad).is_err(), "{:?}", bad);
        }
        let e = parse_reply(b"\x1b[31mred\x07 and more\r\n").unwrap_err();
        assert!(!e.0.chars().any(|c| c.is_control()), "{e:?}");
        assert!(e.0.contains("\\x1b[31mred\\x07"), "{e}");
        let long = vec![b'x'; 5000];
        let e = parse_reply(&[&long[..], b"\r\n"].concat()).unwrap_err();
        assert!(e.0.chars().count() < 200, "{}", e.0.len());
    }

    #[test]
    fn control_characters_in_text_are_replaced() {
        let r = parse_reply(b"250 ok\x1b[2J\r\n").unwrap();
        assert_eq!(r.first_line(), "ok?[2J");
    }

    #[test]
    fn over_long_line_is_rejected() {
        let mut ok = b"250 ".to_vec();
        ok.extend(vec![b'a'; MAX_LINE - 4]);
        ok.extend(b"\r\n");
        assert!(parse_reply(&ok).is_ok());
        let mut long = b"250 ".to_vec();
        long.extend(vec![b'a'; MAX_LINE]);
        long.extend(b"\r\n");
        let e = parse_reply(&long).unwrap_err();
        assert!(e.0.contains("longer than 2048"), "{e}");
    }

    #[test]
    fn too_many_lines_are_rejected() {
        let mut text = Vec::new();
        for _ in 0..MAX_LINES {
            text.extend(b"250-x\r\n");
        }
        text.extend(b"250 end\r\n");
        let e = parse_reply(&text).unwrap_err();
        assert!(e.0.contains("more than 256 lines"), "{e}");
        let mut text = Vec::new();
        for _ in 0..MAX_LINES - 1 {
            text.extend(b"250-x\r\n");
        }
        text.extend(b"250 end\r\n");
        assert_eq!(parse_reply(&text).unwrap().lines.len(), MAX_LINES);
    }

    #[test]
    fn too_many_bytes_are_rejected() {
        let mut text = Vec::new();
        let line = format!("250-{}\r\n", "y".repeat(1000));
        for _ in 0..70 {
            text.extend(line.as_bytes());
        }
        text.extend(b"250 end\r\n");
        let e = parse_reply(&text).unwrap_err();
        assert!(e.0.contains("longer than 65536 bytes"), "{e}");
    }

    #[test]
    fn helpers() {
        let r = reply(552, &["5.3.4 Message size exceeds fixed limit"]);
        assert!(r.is_permanent() && !r.is_positive() && !r.is_transient());
        assert_eq!(r.enhanced_code(), Some("5.3.4"));
        assert_eq!(reply(250, &["mail.example.com"]).enhanced_code(), None);
        assert!(reply(451, &[]).is_transient());
        assert!(reply(354, &[]).is_intermediate());
        assert_eq!(reply(221, &[]).to_string(), "221");
        assert_eq!(reply(250, &["a", "b"]).text(), "a\nb");
    }

    #[tokio::test]
    async fn endless_line_fails_after_one_buffer() {
        let mut buf = ReadBuffer::default();
        let mut parser = ReplyParser::default();
        let mut r = tokio::io::repeat(b'a');
        let e = read_reply(&mut buf, &mut r, &mut parser).await.unwrap_err();
        assert!(
            matches!(e, ReadError::Protocol(ref m) if m.0.contains("longer than 2048")),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn endless_reply_fails_at_the_line_cap() {
        let mut buf = ReadBuffer::default();
        let mut parser = ReplyParser::default();
        let mut r = tokio::io::AsyncReadExt::chain(&b"250-first\r\n"[..], tokio::io::repeat(b'\n'));
        let e = read_reply(&mut buf, &mut r, &mut parser).await.unwrap_err();
        assert!(matches!(e, ReadError::Protocol(_)), "{e:?}");
    }

    #[tokio::test]
    async fn reads_replies_in_sequence_and_leaves_the_rest() {
        let mut buf = ReadBuffer::default();
        let mut r = &b"220 hi\r\n250-a\r\n250 b\r\nextra"[..];
        let first = read_reply(&mut buf, &mut r, &mut ReplyParser::default())
            .await
            .unwrap();
        assert_eq!(first.code, 220);
        let second = read_reply(&mut buf, &mut r, &mut ReplyParser::default())
            .await
            .unwrap();
        assert_eq!(second.lines, vec!["a", "b"]);
        assert!(!buf.is_empty());
        assert_eq!(buf.pending_excerpt(), "extra");
        let e = read_reply(&mut buf, &mut r, &mut ReplyParser::default())
            .await
            .unwrap_err();
        assert!(matches!(e, ReadError::Closed));
    }
}
