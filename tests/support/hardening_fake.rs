//! Loopback SMTP fakes (RFC 5321/3207/2920) for the hostile or broken answers the hardening probes
//! must survive: a server that takes a bare-LF end of DATA, one that answers a command injected
//! before STARTTLS inside TLS, an open relay, garbage TLS records, stalls.
#![allow(dead_code)] // each test crate uses a subset

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Most bytes the fake buffers from one client.
const MAX_BUFFER: usize = 256 * 1024;

/// What the fake does.
#[derive(Clone)]
pub enum Fake {
    /// Postfix-like and permissive: announces PIPELINING, STARTTLS (answered 454) and VRFY;
    /// accepts RCPT in `fake.example`, refuses others with 554 relay denied; in DATA any line
    /// that is a lone dot ends the message, whatever its line ends (vulnerable to smuggling).
    Lenient,
    /// Like `Lenient`, but only `<CR><LF>.<CR><LF>` ends DATA (bare-LF lines are content).
    StrictEndOfData,
    /// Like `Lenient`, but any line ending in a bare LF gets `521 5.5.2 ... Error: bare <LF>
    /// received` and a hang-up.
    RejectBareLf,
    /// Like `Lenient`, but every RCPT is accepted, whatever the address.
    OpenRelay,
    /// Like `Lenient`, but a client that sends before the greeting, or more after EHLO in the
    /// same packet, gets `554 5.5.0 Error: SMTP protocol synchronization` and a hang-up.
    ForbidPipelining,
    /// VRFY disabled: `502 5.5.1 VRFY command is disabled`, not in EHLO.
    NoVrfy,
    /// Real STARTTLS (rustls, self-signed); commands that arrived in the same packet as
    /// STARTTLS are kept and answered inside TLS (CVE-2011-0411).
    TlsInjectable(Tls),
    /// Real STARTTLS; what arrived with STARTTLS is discarded (what Postfix does).
    TlsSafe(Tls),
    /// STARTTLS answered 220, then `bytes` written once the client's first bytes arrive (a
    /// hand-made TLS answer: ServerHello, alert, garbage), then the connection stays open.
    TlsAnswer(Vec<u8>),
    /// STARTTLS answered 220, then `bytes` once the client speaks, then a hang-up.
    TlsAnswerThenClose(Vec<u8>),
    /// Greets, answers EHLO, then never answers again.
    StallAfterEhlo,
    /// Like `Lenient`, but the end of DATA (any lone-dot line) gets half a reply
    /// (`250-2.0.0 Ok`), then silence.
    HalfReplyAtEndOfData,
    /// Accepts and never says anything.
    Tarpit,
}

/// The certificate for the TLS fakes.
#[derive(Clone)]
pub struct Tls {
    pub cert_der: Vec<u8>,
    pub key_der: Vec<u8>,
}

impl Tls {
    /// A fresh rcgen self-signed certificate for `localhost` and 127.0.0.1.
    pub fn self_signed() -> Tls {
        let key = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])
        .expect("rcgen certificate");
        Tls {
            cert_der: key.cert.der().to_vec(),
            key_der: key.signing_key.serialize_der(),
        }
    }

    fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(self.cert_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
            )
            .expect("server certificate");
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }
}

/// A running fake.
pub struct Running {
    pub addr: SocketAddr,
    /// Every byte received in plaintext (before any TLS), per connection, in order.
    pub raw: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Command lines received (plaintext and inside TLS), `<LF>`-split, CR removed.
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl Running {
    pub fn raw(&self) -> Vec<Vec<u8>> {
        self.raw.lock().expect("raw lock").clone()
    }
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines lock").clone()
    }
}

pub async fn start(fake: Fake) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let raw = Arc::new(Mutex::new(Vec::new()));
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (raw2, lines2) = (raw.clone(), lines.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let conn = {
                let mut r = raw2.lock().expect("raw lock");
                r.push(Vec::new());
                r.len() - 1
            };
            let state = State {
                fake: fake.clone(),
                raw: raw2.clone(),
                conn,
                lines: lines2.clone(),
                buf: Vec::new(),
            };
            tokio::spawn(async move {
                let _ = serve(tcp, state).await;
            });
        }
    });
    Running { addr, raw, lines }
}

struct State {
    fake: Fake,
    raw: Arc<Mutex<Vec<Vec<u8>>>>,
    conn: usize,
    lines: Arc<Mutex<Vec<String>>>,
    /// Bytes received and not yet consumed.
    buf: Vec<u8>,
}

enum Line {
    /// A line and whether it ended in CRLF.
    Got(Vec<u8>, bool),
    Eof,
}

impl State {
    /// Reads more bytes; false at end of stream or at the buffer cap.
    async fn fill<S: AsyncRead + Unpin>(&mut self, s: &mut S, plain: bool) -> bool {
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                if plain {
                    self.raw.lock().expect("raw lock")[self.conn].extend_from_slice(&chunk[..n]);
                }
                self.buf.extend_from_slice(&chunk[..n]);
                self.buf.len() < MAX_BUFFER
            }
        }
    }

    async fn line<S: AsyncRead + Unpin>(&mut self, s: &mut S, plain: bool) -> Line {
        loop {
            if let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=nl).collect();
                line.pop();
                let crlf = line.last() == Some(&b'\r');
                if crlf {
                    line.pop();
                }
                return Line::Got(line, crlf);
            }
            if !self.fill(s, plain).await {
                return Line::Eof;
            }
        }
    }

    fn log(&self, line: &[u8]) {
        self.lines
            .lock()
            .expect("lines lock")
            .push(String::from_utf8_lossy(line).into_owned());
    }
}

async fn say<S: AsyncWrite + Unpin>(s: &mut S, text: &str) -> std::io::Result<()> {
    s.write_all(text.as_bytes()).await?;
    s.flush().await
}

async fn serve(mut tcp: TcpStream, mut st: State) -> std::io::Result<()> {
    if matches!(st.fake, Fake::Tarpit) {
        std::future::pending::<()>().await;
    }
    if matches!(st.fake, Fake::ForbidPipelining) {
        // Postfix looks for input before it greets.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut probe = [0u8; 1];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(1), tcp.peek(&mut probe)).await
            && n > 0
        {
            say(
                &mut tcp,
                "554 5.5.0 Error: SMTP protocol synchronization\r\n",
            )
            .await?;
            return Ok(());
        }
    }
    say(&mut tcp, "220 fake.example ESMTP hardening-fake\r\n").await?;
    match dialog(&mut tcp, &mut st, true).await? {
        AfterDialog::Done => Ok(()),
        AfterDialog::StartTls => match st.fake.clone() {
            Fake::TlsInjectable(tls) | Fake::TlsSafe(tls) => {
                if matches!(st.fake, Fake::TlsSafe(_)) {
                    st.buf.clear();
                }
                let mut stream = match tls.acceptor().accept(tcp).await {
                    Ok(s) => s,
                    Err(_) => return Ok(()),
                };
                dialog(&mut stream, &mut st, false).await.map(|_| ())
            }
            Fake::TlsAnswer(bytes) | Fake::TlsAnswerThenClose(bytes) => {
                let close = matches!(st.fake, Fake::TlsAnswerThenClose(_));
                if st.buf.is_empty() && !st.fill(&mut tcp, true).await {
                    return Ok(());
                }
                tcp.write_all(&bytes).await?;
                tcp.flush().await?;
                if close {
                    return Ok(());
                }
                std::future::pending::<()>().await;
                Ok(())
            }
            _ => Ok(()),
        },
    }
}

enum AfterDialog {
    Done,
    StartTls,
}

async fn dialog<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    st: &mut State,
    plain: bool,
) -> std::io::Result<AfterDialog> {
    loop {
        let (line, crlf) = match st.line(s, plain).await {
            Line::Got(l, c) => (l, c),
            Line::Eof => return Ok(AfterDialog::Done),
        };
        st.log(&line);
        if !crlf && matches!(st.fake, Fake::RejectBareLf) {
            say(s, "521 5.5.2 fake.example Error: bare <LF> received\r\n").await?;
            return Ok(AfterDialog::Done);
        }
        let text = String::from_utf8_lossy(&line).to_ascii_uppercase();
        let verb = text.split(' ').next().unwrap_or("").to_string();
        match verb.as_str() {
            "EHLO" => {
                if matches!(st.fake, Fake::ForbidPipelining) && !st.buf.is_empty() {
                    say(s, "554 5.5.0 Error: SMTP protocol synchronization\r\n").await?;
                    return Ok(AfterDialog::Done);
                }
                let vrfy = if matches!(st.fake, Fake::NoVrfy) {
                    ""
                } else {
                    "250-VRFY\r\n"
                };
                say(
                    s,
                    &format!(
                        "250-fake.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n{vrfy}\
                         250-STARTTLS\r\n250 8BITMIME\r\n"
                    ),
                )
                .await?;
                if matches!(st.fake, Fake::StallAfterEhlo) {
                    std::future::pending::<()>().await;
                }
            }
            "STARTTLS" => match &st.fake {
                Fake::TlsInjectable(_)
                | Fake::TlsSafe(_)
                | Fake::TlsAnswer(_)
                | Fake::TlsAnswerThenClose(_)
                    if plain =>
                {
                    say(s, "220 2.0.0 Ready to start TLS\r\n").await?;
                    return Ok(AfterDialog::StartTls);
                }
                _ => say(s, "454 4.7.0 TLS not available\r\n").await?,
            },
            "MAIL" => say(s, "250 2.1.0 Ok\r\n").await?,
            "RCPT" => {
                let ours = text.ends_with("@FAKE.EXAMPLE>");
                if ours || matches!(st.fake, Fake::OpenRelay) {
                    say(s, "250 2.1.5 Ok\r\n").await?
                } else {
                    say(s, "554 5.7.1 Relay access denied\r\n").await?
                }
            }
            "DATA" => {
                say(s, "354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let mut prev_crlf = true;
                loop {
                    let (l, c) = match st.line(s, plain).await {
                        Line::Got(l, c) => (l, c),
                        Line::Eof => return Ok(AfterDialog::Done),
                    };
                    if !c && matches!(st.fake, Fake::RejectBareLf) {
                        say(s, "521 5.5.2 fake.example Error: bare <LF> received\r\n").await?;
                        return Ok(AfterDialog::Done);
                    }
                    let end = l == b"."
                        && (!matches!(st.fake, Fake::StrictEndOfData) || (c && prev_crlf));
                    if end {
                        break;
                    }
                    prev_crlf = c;
                }
                if matches!(st.fake, Fake::HalfReplyAtEndOfData) {
                    say(s, "250-2.0.0 Ok\r\n").await?;
                    std::future::pending::<()>().await;
                }
                say(s, "250 2.0.0 Ok: queued as FAKEQ123\r\n").await?
            }
            "VRFY" if matches!(st.fake, Fake::NoVrfy) => {
                say(s, "502 5.5.1 VRFY command is disabled\r\n").await?
            }
            "VRFY" => {
                let arg = String::from_utf8_lossy(&line[line.len().min(5)..]).into_owned();
                say(s, &format!("252 2.0.0 {arg}\r\n")).await?
            }
            "RSET" | "NOOP" => say(s, "250 2.0.0 Ok\r\n").await?,
            "QUIT" => {
                say(s, "221 2.0.0 Bye\r\n").await?;
                return Ok(AfterDialog::Done);
            }
            _ => say(s, "502 5.5.2 Error: command not recognized\r\n").await?,
        }
    }
}
