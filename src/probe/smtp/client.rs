//! The SMTP client session (RFC 5321; STARTTLS RFC 3207; AUTH RFC 4954), one deadline per phase.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::auth::{self, AuthMechanism, Sasl};
use super::reply::{Capabilities, ReadBuffer, ReadError, Reply, ReplyParser, read_reply};
use super::stream::Stream;
use super::transcript::Transcript;
use super::{Command, Phase, SmtpError, Timeouts};
use crate::probe::tls::{self, TlsInfo};
use crate::secret::{REDACTED, Redactor, Secret};

/// Longest wait for the reply to QUIT: the answer is only a courtesy.
const QUIT_DEADLINE: Duration = Duration::from_secs(2);
/// Longest wait for the TCP/TLS shutdown after QUIT.
const SHUTDOWN_DEADLINE: Duration = Duration::from_millis(500);

/// One SMTP session. Every exchange runs under its phase's deadline; after a timeout, a
/// protocol violation, a 421 or a TLS failure the session refuses further commands.
pub struct SmtpClient {
    stream: Stream,
    buf: ReadBuffer,
    peer: SocketAddr,
    /// This end of the connection (the server logs it as the client).
    local: Option<SocketAddr>,
    timeouts: Timeouts,
    banner: Reply,
    caps: Option<Capabilities>,
    tls: Option<TlsInfo>,
    /// The certificates (DER, leaf first) the server sent in a handshake that did not finish.
    failed_handshake_chain: Vec<Vec<u8>>,
    transcript: Transcript,
    /// Why the session can no longer be used, once it cannot.
    unusable: Option<String>,
}

impl std::fmt::Debug for SmtpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpClient")
            .field("peer", &self.peer)
            .field("tls", &self.is_tls())
            .field("unusable", &self.unusable)
            .finish_non_exhaustive()
    }
}

/// What [`SmtpClient::starttls_with_pipelined`] saw.
#[derive(Debug, Clone)]
pub struct PipelinedStarttls {
    /// The 220 to STARTTLS.
    pub reply: Reply,
    pub tls: TlsInfo,
    /// Sanitised excerpt of plaintext the server sent after its 220, before the handshake
    /// (e.g. an answer to the injected command); it was discarded, never fed to TLS.
    pub plaintext_after_reply: Option<String>,
}

/// The bytes to send in one exchange and what the transcript shows for them.
struct Send<'a> {
    bytes: &'a [u8],
    shown: &'a [&'a str],
}

impl SmtpClient {
    /// Connects and reads the greeting. A 421 greeting is `Err(ServiceUnavailable)`; any
    /// other greeting (220, 554, ...) is returned through `banner()` for the caller to judge.
    pub async fn connect(addr: SocketAddr, timeouts: Timeouts) -> Result<SmtpClient, SmtpError> {
        let started = Instant::now();
        let tcp = crate::net::connect(addr, timeouts.connect).await?;
        Self::greet(tcp, addr, timeouts, started, None).await
    }

    /// Like `connect`, with the local end bound to `source` first (e.g. `::1` or 127.0.0.2 for
    /// a relay probe from another address).
    pub async fn connect_from(
        source: IpAddr,
        addr: SocketAddr,
        timeouts: Timeouts,
    ) -> Result<SmtpClient, SmtpError> {
        let started = Instant::now();
        let tcp = crate::net::connect_from(source, addr, timeouts.connect).await?;
        Self::greet(tcp, addr, timeouts, started, None).await
    }

    /// Connects (from `source` when given), writes `early` at once, before reading the
    /// greeting, then reads the greeting (RFC 5321 §4.3.1 says the client waits for it). Only
    /// for the synchronisation probe: postscreen(8) counts this as a pregreet violation and
    /// may turn this client away for up to a day (`postscreen_greet_ttl`).
    pub async fn connect_speaking_first(
        source: Option<IpAddr>,
        addr: SocketAddr,
        timeouts: Timeouts,
        early: &[u8],
        shown: &[&str],
    ) -> Result<SmtpClient, SmtpError> {
        let started = Instant::now();
        let tcp = match source {
            Some(ip) => crate::net::connect_from(ip, addr, timeouts.connect).await?,
            None => crate::net::connect(addr, timeouts.connect).await?,
        };
        let send = Send {
            bytes: early,
            shown,
        };
        Self::greet(tcp, addr, timeouts, started, Some(send)).await
    }

    async fn greet(
        tcp: TcpStream,
        peer: SocketAddr,
        timeouts: Timeouts,
        started: Instant,
        early: Option<Send<'_>>,
    ) -> Result<SmtpClient, SmtpError> {
        let mut transcript = Transcript::new(started);
        let local = tcp.local_addr().ok();
        match local {
            Some(local) => transcript.note(format!("connected to {peer} from {local}")),
            None => transcript.note(format!("connected to {peer}")),
        }
        let mut client = SmtpClient {
            stream: Stream::Plain(tcp),
            buf: ReadBuffer::default(),
            peer,
            local,
            timeouts,
            banner: Reply {
                code: 0,
                lines: Vec::new(),
            },
            caps: None,
            tls: None,
            failed_handshake_chain: Vec::new(),
            transcript,
            unusable: None,
        };
        // Never send before the greeting (postscreen's pregreet test would count it), unless
        // the caller asked for exactly that.
        client.banner = client
            .exchange(Phase::Banner, timeouts.banner, early)
            .await?;
        Ok(client)
    }

    /// The greeting.
    /// The certificates (DER, leaf first) the server sent in a STARTTLS handshake that then
    /// failed; empty when the handshake succeeded or failed before the server's Certificate.
    pub fn failed_handshake_chain(&self) -> &[Vec<u8>] {
        &self.failed_handshake_chain
    }

    pub fn banner(&self) -> &Reply {
        &self.banner
    }

    /// The server this session talks to.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// This end of the connection, as the server sees the client (its log names it).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local
    }

    /// Sends EHLO; on 250 stores the capabilities, otherwise clears them. Returns the reply
    /// whatever its code.
    pub async fn ehlo(&mut self, client_name: &str) -> Result<Reply, SmtpError> {
        self.command(&Command::Ehlo(client_name.to_string())).await
    }

    /// From the latest successful EHLO in the current (plain or TLS) part of the session.
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.caps.as_ref()
    }

    /// Sends STARTTLS. On 220, requires that the server sent nothing more (anything already
    /// buffered would be plaintext injected before TLS), drops the capabilities, and performs
    /// the handshake with the dangerous recording verifier. The caller sends EHLO again.
    pub async fn starttls(&mut self, server_name: &str) -> Result<TlsInfo, SmtpError> {
        let send = Send {
            bytes: b"STARTTLS\r\n",
            shown: &["STARTTLS"],
        };
        self.starttls_sending(server_name, send, false)
            .await
            .map(|(_, info, _)| info)
    }

    /// Like [`starttls`](Self::starttls), but writes `extra` in the same write as `STARTTLS`
    /// (the CVE-2011-0411 injection test) and records, instead of refusing, plaintext the server
    /// sent after its 220: that excerpt is returned and then discarded, never fed to TLS.
    pub async fn starttls_with_pipelined(
        &mut self,
        server_name: &str,
        extra: &[u8],
        shown_extra: &[&str],
    ) -> Result<PipelinedStarttls, SmtpError> {
        let mut bytes = b"STARTTLS\r\n".to_vec();
        bytes.extend_from_slice(extra);
        let mut shown = vec!["STARTTLS"];
        shown.extend_from_slice(shown_extra);
        let send = Send {
            bytes: &bytes,
            shown: &shown,
        };
        let (reply, tls, plaintext_after_reply) =
            self.starttls_sending(server_name, send, true).await?;
        Ok(PipelinedStarttls {
            reply,
            tls,
            plaintext_after_reply,
        })
    }

    async fn starttls_sending(
        &mut self,
        server_name: &str,
        send: Send<'_>,
        tolerate_pending: bool,
    ) -> Result<(Reply, TlsInfo, Option<String>), SmtpError> {
        if self.is_tls() {
            return Err(SmtpError::Io {
                phase: Phase::Starttls,
                detail: "TLS is already active".to_string(),
            });
        }
        let name = tls::server_name(server_name).map_err(|e| SmtpError::Tls {
            detail: e.to_string(),
        })?;
        let (config, verifier) = tls::dangerous_client_config().map_err(|e| SmtpError::Tls {
            detail: e.to_string(),
        })?;
        let reply = self
            .exchange(Phase::Starttls, self.timeouts.command, Some(send))
            .await?;
        if reply.code != 220 {
            return Err(SmtpError::Rejected {
                phase: Phase::Starttls,
                reply,
            });
        }
        // What was learned in plaintext means nothing once TLS is up (RFC 3207 §4.2).
        self.caps = None;
        let mut pending = None;
        if !self.buf.is_empty() {
            if !tolerate_pending {
                let err = SmtpError::Protocol {
                    phase: Phase::Starttls,
                    detail: format!(
                        "data after STARTTLS 220, before the TLS handshake (possible command \
                         injection): {}",
                        self.buf.pending_excerpt()
                    ),
                };
                return Err(self.fail(err));
            }
            let excerpt = self.buf.take_pending_excerpt();
            self.transcript.note(format!(
                "plaintext after STARTTLS 220, before the TLS handshake (discarded): {excerpt}"
            ));
            pending = Some(excerpt);
        }
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err(self.fail(SmtpError::Io {
                phase: Phase::Starttls,
                detail: "connection no longer usable".to_string(),
            }));
        };
        let connector = TlsConnector::from(Arc::new(config));
        let deadline = self.timeouts.tls;
        let stream = match tokio::time::timeout(deadline, connector.connect(name, tcp)).await {
            Err(_) => {
                return Err(self.fail(SmtpError::Timeout {
                    phase: Phase::TlsHandshake,
                    after: deadline,
                }));
            }
            Ok(Err(e)) => {
                let detail = match e.kind() {
                    std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe => {
                        format!("server closed the connection during the handshake ({e})")
                    }
                    _ => e.to_string(),
                };
                // The server's certificates, when the handshake got as far as them: what a
                // judge names instead of the TLS library's words.
                self.failed_handshake_chain = verifier
                    .recorded_chain()
                    .iter()
                    .map(|c| c.to_vec())
                    .collect();
                return Err(self.fail(SmtpError::Tls { detail }));
            }
            Ok(Ok(s)) => s,
        };
        let (info, problems) =
            TlsInfo::from_connection(stream.get_ref().1, verifier.recorded_chain());
        self.stream = Stream::Tls(Box::new(stream));
        let leaf = info.leaf().map_or_else(
            || "no parsable certificate".to_string(),
            |c| {
                format!(
                    "leaf {}{}",
                    c.subject,
                    if c.self_signed { " (self-signed)" } else { "" }
                )
            },
        );
        self.transcript.note(format!(
            "TLS handshake {} {}, {} certificate(s), {leaf}",
            info.protocol,
            info.cipher,
            info.peer_chain_der.len()
        ));
        for p in problems {
            self.transcript.note(p);
        }
        self.tls = Some(info.clone());
        Ok((reply, info, pending))
    }

    /// Sends STARTTLS and, on 220 with nothing else buffered, hands the plain TCP stream over
    /// for a handshake mailcheck builds itself (the TLS 1.0/1.1 ClientHello probe), with the
    /// transcript so far and the 220. On any other outcome returns the error and the transcript.
    pub async fn starttls_handover(
        mut self,
    ) -> Result<(TcpStream, Transcript, Reply), (SmtpError, Transcript)> {
        let send = Send {
            bytes: b"STARTTLS\r\n",
            shown: &["STARTTLS"],
        };
        let reply = match self
            .exchange(Phase::Starttls, self.timeouts.command, Some(send))
            .await
        {
            Ok(r) => r,
            Err(e) => return Err((e, self.close().await)),
        };
        if reply.code != 220 {
            let e = SmtpError::Rejected {
                phase: Phase::Starttls,
                reply,
            };
            return Err((e, self.quit().await));
        }
        if !self.buf.is_empty() {
            let e = self.fail(SmtpError::Protocol {
                phase: Phase::Starttls,
                detail: format!(
                    "data after STARTTLS 220, before the TLS handshake: {}",
                    self.buf.pending_excerpt()
                ),
            });
            return Err((e, self.close().await));
        }
        match std::mem::replace(&mut self.stream, Stream::Gone) {
            Stream::Plain(tcp) => Ok((tcp, self.transcript, reply)),
            other => {
                self.stream = other;
                let e = self.fail(SmtpError::Io {
                    phase: Phase::Starttls,
                    detail: "TLS is already active".to_string(),
                });
                Err((e, self.close().await))
            }
        }
    }

    /// Whether the session runs inside TLS.
    pub fn is_tls(&self) -> bool {
        self.stream.is_tls()
    }

    /// The facts of the TLS handshake, once `starttls` succeeded.
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.tls.as_ref()
    }

    /// Sends one command (its exact bytes) and returns the reply whatever its code, except
    /// 421, which is `Err(ServiceUnavailable)` because the server is closing the channel.
    /// Use `starttls`, `auth` and `data` for those exchanges.
    pub async fn command(&mut self, cmd: &Command) -> Result<Reply, SmtpError> {
        let phase = cmd.phase();
        let wire = cmd.to_string();
        let line = cmd.line();
        if line.contains(['\r', '\n']) {
            return Err(SmtpError::Io {
                phase,
                detail: "command contains a line break; not sent".to_string(),
            });
        }
        let send = Send {
            bytes: wire.as_bytes(),
            shown: &[&line],
        };
        let reply = self
            .exchange(phase, self.timeouts.command, Some(send))
            .await?;
        match cmd {
            Command::Ehlo(_) => {
                self.caps = (reply.code == 250).then(|| Capabilities::from_ehlo(&reply));
            }
            Command::Helo(_) if reply.code == 250 => self.caps = None,
            Command::Starttls if reply.code == 220 => {
                self.unusable = Some(
                    "STARTTLS accepted outside starttls(); the server expects a TLS handshake"
                        .to_string(),
                );
            }
            Command::Quit => self.unusable = Some("QUIT was sent".to_string()),
            _ => {}
        }
        Ok(reply)
    }

    /// AUTH PLAIN or LOGIN through rsasl. Refuses unless the session runs inside TLS. Returns
    /// the final reply (235, 535, ...). The transcript shows `AUTH PLAIN <redacted>` and
    /// `<redacted>` for every response.
    pub async fn auth(
        &mut self,
        mechanism: AuthMechanism,
        user: &str,
        password: &Secret,
    ) -> Result<Reply, SmtpError> {
        // Checked here, not left to a library (RFC 4954 §4).
        if !self.is_tls() {
            return Err(SmtpError::AuthWithoutTls);
        }
        let sasl_error = |detail: String| SmtpError::Io {
            phase: Phase::Auth,
            detail,
        };
        let mut redactor = Redactor::default();
        redactor.add(password, Some(user));
        let first_entry = self.transcript.entries().len();
        let result = self
            .auth_dialog(mechanism, user, password, sasl_error)
            .await;
        // Nothing we sent is in the transcript; this also hides a server that echoes it.
        self.transcript.redact_from(first_entry, &redactor);
        result
    }

    async fn auth_dialog(
        &mut self,
        mechanism: AuthMechanism,
        user: &str,
        password: &Secret,
        sasl_error: impl Fn(String) -> SmtpError,
    ) -> Result<Reply, SmtpError> {
        let name = mechanism.name();
        let sasl_error = |e: auth::SaslError| sasl_error(e.to_string());
        let mut sasl = Sasl::start(mechanism, user, password).map_err(sasl_error)?;
        let deadline = self.timeouts.command;
        let (wire, shown) = if sasl.client_first() {
            let initial = sasl.step(None).map_err(sasl_error)?;
            // RFC 4954 §4: "=" stands for an empty initial response.
            let initial = if initial.is_empty() { "=" } else { &initial };
            (
                format!("AUTH {name} {initial}\r\n"),
                format!("AUTH {name} {REDACTED}"),
            )
        } else {
            (format!("AUTH {name}\r\n"), format!("AUTH {name}"))
        };
        let send = Send {
            bytes: wire.as_bytes(),
            shown: &[&shown],
        };
        let mut reply = self.exchange(Phase::Auth, deadline, Some(send)).await?;
        drop(wire);
        for _ in 0..auth::MAX_ROUNDS {
            if reply.code != 334 {
                return Ok(reply);
            }
            if sasl.finished() {
                // The mechanism has said all it has; cancel (RFC 4954 §4) and report the answer.
                let send = Send {
                    bytes: b"*\r\n",
                    shown: &["*"],
                };
                return self.exchange(Phase::Auth, deadline, Some(send)).await;
            }
            let challenge = match auth::decode_challenge(reply.first_line()) {
                Ok(c) => c,
                Err(e) => {
                    return Err(self.fail(SmtpError::Protocol {
                        phase: Phase::Auth,
                        detail: e.to_string(),
                    }));
                }
            };
            let response = sasl.step(Some(&challenge)).map_err(sasl_error)?;
            let wire = format!("{response}\r\n");
            let send = Send {
                bytes: wire.as_bytes(),
                shown: &[REDACTED],
            };
            reply = self.exchange(Phase::Auth, deadline, Some(send)).await?;
        }
        if reply.code == 334 {
            let detail = format!("more than {} AUTH challenges", auth::MAX_ROUNDS);
            return Err(self.fail(SmtpError::Protocol {
                phase: Phase::Auth,
                detail,
            }));
        }
        Ok(reply)
    }

    /// Sends DATA; unless the answer is 354 returns that reply. Then sends the message with
    /// CRLF line ends and dot-stuffing, and the final `.` in the same write, and returns the
    /// reply to it.
    pub async fn data(&mut self, message: &[u8]) -> Result<Reply, SmtpError> {
        let reply = self.command(&Command::Data).await?;
        if reply.code != 354 {
            return Ok(reply);
        }
        let (body, lines) = dot_stuff(message);
        let shown = format!("<message: {} bytes, {lines} lines>", message.len());
        let send = Send {
            bytes: &body,
            shown: &[&shown, "."],
        };
        self.exchange(Phase::DataEnd, self.timeouts.data, Some(send))
            .await
    }

    /// Writes `bytes` exactly as given (no CRLF added, no dot-stuffing), under the command
    /// deadline, and shows `shown` in the transcript. Reads nothing: follow with
    /// [`reply`](Self::reply) or [`reply_within`](Self::reply_within). For probes that must put
    /// unusual bytes on the wire (pipelined commands, bare LF, a non-standard end of DATA).
    pub async fn send_raw(
        &mut self,
        phase: Phase,
        bytes: &[u8],
        shown: &[&str],
    ) -> Result<(), SmtpError> {
        if let Some(why) = &self.unusable {
            return Err(SmtpError::Io {
                phase,
                detail: format!("session unusable: {why}"),
            });
        }
        for line in shown {
            self.transcript.client(*line);
        }
        let deadline = self.timeouts.command;
        let stream = &mut self.stream;
        let result = tokio::time::timeout(deadline, async move {
            stream.write_all(bytes).await?;
            stream.flush().await
        })
        .await;
        let err = match result {
            Ok(Ok(())) => return Ok(()),
            Err(_) => SmtpError::Timeout {
                phase,
                after: deadline,
            },
            Ok(Err(e)) => io_error(phase, &e),
        };
        Err(self.fail(err))
    }

    /// Reads one complete reply within `deadline` (a 421 is `Err(ServiceUnavailable)`), as
    /// after a command, for bytes written with [`send_raw`](Self::send_raw).
    pub async fn reply(&mut self, phase: Phase, deadline: Duration) -> Result<Reply, SmtpError> {
        self.exchange(phase, deadline, None).await
    }

    /// Waits up to `wait` for a reply. `Ok(None)` when not a single byte arrived: the server is
    /// silent (still reading DATA, or it discarded what was sent) and the session stays usable.
    /// A reply that started but did not finish in time is `Err(Timeout)`, like any other wait.
    pub async fn reply_within(
        &mut self,
        phase: Phase,
        wait: Duration,
    ) -> Result<Option<Reply>, SmtpError> {
        if let Some(why) = &self.unusable {
            return Err(SmtpError::Io {
                phase,
                detail: format!("session unusable: {why}"),
            });
        }
        let mut parser = ReplyParser::default();
        let stream = &mut self.stream;
        let buf = &mut self.buf;
        let parser_ref = &mut parser;
        let result =
            tokio::time::timeout(
                wait,
                async move { read_reply(buf, stream, parser_ref).await },
            )
            .await;
        let err = match result {
            Ok(Ok(reply)) => {
                self.transcript.server_reply(&reply);
                if reply.code == 421 {
                    self.unusable = Some(format!("421 during {phase}"));
                    return Err(SmtpError::ServiceUnavailable { phase, reply });
                }
                return Ok(Some(reply));
            }
            Err(_) if parser.partial().is_none() && self.buf.is_empty() => {
                self.transcript
                    .note(format!("no reply within {}", super::human_duration(wait)));
                return Ok(None);
            }
            Err(_) => SmtpError::Timeout { phase, after: wait },
            Ok(Err(ReadError::Closed)) => SmtpError::Closed { phase },
            Ok(Err(ReadError::Protocol(detail))) => SmtpError::Protocol {
                phase,
                detail: detail.0,
            },
            Ok(Err(ReadError::Io(e))) => io_error(phase, &e),
        };
        if let Some(partial) = parser.partial() {
            self.transcript.server_partial_reply(&partial);
        }
        Err(self.fail(err))
    }

    /// Closes the connection without QUIT (e.g. in the middle of DATA, so that the server
    /// discards the unfinished message) and returns the transcript.
    pub async fn close(mut self) -> Transcript {
        self.transcript.note("closed the connection without QUIT");
        let _ = tokio::time::timeout(SHUTDOWN_DEADLINE, self.stream.shutdown()).await;
        self.transcript
    }

    /// Closes the connection after a QUIT the caller wrote itself (with
    /// [`send_raw`](Self::send_raw), to read its reply in place) and returns the transcript.
    pub async fn close_after_quit(mut self) -> Transcript {
        let _ = tokio::time::timeout(SHUTDOWN_DEADLINE, self.stream.shutdown()).await;
        self.transcript
    }

    /// Best-effort QUIT under a short deadline, then closes; returns the transcript.
    pub async fn quit(mut self) -> Transcript {
        if self.unusable.is_none() {
            let deadline = self.timeouts.command.min(QUIT_DEADLINE);
            let send = Send {
                bytes: b"QUIT\r\n",
                shown: &["QUIT"],
            };
            // A failure is already noted in the transcript; there is nothing else to do.
            let _ = self.exchange(Phase::Quit, deadline, Some(send)).await;
        }
        let _ = tokio::time::timeout(SHUTDOWN_DEADLINE, self.stream.shutdown()).await;
        self.transcript
    }

    /// The dialog so far.
    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    /// Notes `err`, marks the session unusable, and hands `err` back.
    fn fail(&mut self, err: SmtpError) -> SmtpError {
        self.transcript.note(err.to_string());
        self.unusable = Some(err.to_string());
        err
    }

    /// Writes `send` (if any) and reads one complete reply, all under `deadline`.
    async fn exchange(
        &mut self,
        phase: Phase,
        deadline: Duration,
        send: Option<Send<'_>>,
    ) -> Result<Reply, SmtpError> {
        if let Some(why) = &self.unusable {
            return Err(SmtpError::Io {
                phase,
                detail: format!("session unusable: {why}"),
            });
        }
        let bytes = send.as_ref().map(|s| {
            for line in s.shown {
                self.transcript.client(*line);
            }
            s.bytes
        });
        let mut parser = ReplyParser::default();
        let stream = &mut self.stream;
        let buf = &mut self.buf;
        let parser_ref = &mut parser;
        let result = tokio::time::timeout(deadline, async move {
            if let Some(bytes) = bytes {
                stream.write_all(bytes).await.map_err(ReadError::Io)?;
                stream.flush().await.map_err(ReadError::Io)?;
            }
            read_reply(buf, stream, parser_ref).await
        })
        .await;
        let err = match result {
            Ok(Ok(reply)) => {
                self.transcript.server_reply(&reply);
                if reply.code == 421 {
                    self.unusable = Some(format!("421 during {phase}"));
                    return Err(SmtpError::ServiceUnavailable { phase, reply });
                }
                return Ok(reply);
            }
            Err(_) => SmtpError::Timeout {
                phase,
                after: deadline,
            },
            Ok(Err(ReadError::Closed)) => SmtpError::Closed { phase },
            Ok(Err(ReadError::Protocol(detail))) => SmtpError::Protocol {
                phase,
                detail: detail.0,
            },
            Ok(Err(ReadError::Io(e))) => io_error(phase, &e),
        };
        if let Some(partial) = parser.partial() {
            self.transcript.server_reply(&partial);
        }
        Err(self.fail(err))
    }
}

fn io_error(phase: Phase, e: &std::io::Error) -> SmtpError {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::UnexpectedEof | K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => {
            SmtpError::Closed { phase }
        }
        _ => SmtpError::Io {
            phase,
            detail: e.to_string(),
        },
    }
}

/// The message with CRLF line ends, leading dots doubled (RFC 5321 §4.5.2), and the final
/// `.` line; plus the number of message lines.
fn dot_stuff(message: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(message.len() + message.len() / 32 + 8);
    let mut pieces: Vec<&[u8]> = message.split(|&b| b == b'\n').collect();
    if pieces.last().is_some_and(|p| p.is_empty()) {
        pieces.pop();
    }
    let lines = pieces.len();
    for piece in pieces {
        let line = piece.strip_suffix(b"\r").unwrap_or(piece);
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    (out, lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing_and_line_ends() {
        assert_eq!(dot_stuff(b""), (b".\r\n".to_vec(), 0));
        assert_eq!(
            dot_stuff(b"Subject: x\n\n.hidden\r\n..two\nlast"),
            (
                b"Subject: x\r\n\r\n..hidden\r\n...two\r\nlast\r\n.\r\n".to_vec(),
                5
            )
        );
        assert_eq!(dot_stuff(b"a\r\n.\r\n").0, b"a\r\n..\r\n.\r\n".to_vec());
    }
}
