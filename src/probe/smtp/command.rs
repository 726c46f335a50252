//! SMTP commands (RFC 5321 §4.1, RFC 1870 SIZE, RFC 3207 STARTTLS) and their exact bytes.

use std::fmt;

use super::Phase;

/// One SMTP command. `Display` writes the exact line sent, CRLF included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    /// `MAIL FROM:<address> PARAM...`; an empty address is the null sender `<>`.
    MailFrom {
        address: String,
        /// ESMTP parameters, e.g. `SIZE=20480001`.
        params: Vec<String>,
    },
    RcptTo(String),
    Rset,
    Noop,
    Quit,
    Starttls,
    Data,
    Vrfy(String),
    Expn(String),
}

impl Command {
    /// The phase a reply to this command belongs to.
    pub fn phase(&self) -> Phase {
        match self {
            Command::Ehlo(_) | Command::Helo(_) => Phase::Ehlo,
            Command::MailFrom { .. } => Phase::Mail,
            Command::RcptTo(_) => Phase::Rcpt,
            Command::Starttls => Phase::Starttls,
            Command::Data => Phase::Data,
            Command::Quit => Phase::Quit,
            Command::Rset | Command::Noop | Command::Vrfy(_) | Command::Expn(_) => Phase::Other,
        }
    }

    /// The line without its CRLF (what the transcript shows).
    pub fn line(&self) -> String {
        let s = self.to_string();
        s.strip_suffix("\r\n").unwrap_or(&s).to_string()
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Ehlo(name) => write!(f, "EHLO {name}")?,
            Command::Helo(name) => write!(f, "HELO {name}")?,
            Command::MailFrom { address, params } => {
                write!(f, "MAIL FROM:<{address}>")?;
                for p in params {
                    write!(f, " {p}")?;
                }
            }
            Command::RcptTo(address) => write!(f, "RCPT TO:<{address}>")?,
            Command::Rset => f.write_str("RSET")?,
            Command::Noop => f.write_str("NOOP")?,
            Command::Quit => f.write_str("QUIT")?,
            Command::Starttls => f.write_str("STARTTLS")?,
            Command::Data => f.write_str("DATA")?,
            Command::Vrfy(what) => write!(f, "VRFY {what}")?,
            Command::Expn(what) => write!(f, "EXPN {what}")?,
        }
        f.write_str("\r\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_bytes() {
        let cases = [
            (
                Command::Ehlo("probe.example".into()),
                "EHLO probe.example\r\n",
            ),
            (Command::Helo("x".into()), "HELO x\r\n"),
            (
                Command::MailFrom {
                    address: "a@b".into(),
                    params: vec!["SIZE=1".into()],
                },
                "MAIL FROM:<a@b> SIZE=1\r\n",
            ),
            (
                Command::MailFrom {
                    address: String::new(),
                    params: vec![],
                },
                "MAIL FROM:<>\r\n",
            ),
            (
                Command::RcptTo("x@example.net".into()),
                "RCPT TO:<x@example.net>\r\n",
            ),
            (Command::Rset, "RSET\r\n"),
            (Command::Noop, "NOOP\r\n"),
            (Command::Quit, "QUIT\r\n"),
            (Command::Starttls, "STARTTLS\r\n"),
            (Command::Data, "DATA\r\n"),
            (Command::Vrfy("root".into()), "VRFY root\r\n"),
            (Command::Expn("staff".into()), "EXPN staff\r\n"),
        ];
        for (cmd, bytes) in cases {
            assert_eq!(cmd.to_string(), bytes);
            assert_eq!(cmd.line(), bytes.trim_end_matches("\r\n"));
        }
    }

    #[test]
    fn phases() {
        assert_eq!(Command::Ehlo("x".into()).phase(), Phase::Ehlo);
        assert_eq!(Command::RcptTo("x".into()).phase(), Phase::Rcpt);
        assert_eq!(Command::Noop.phase(), Phase::Other);
    }
}
