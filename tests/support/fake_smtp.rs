//! Scripted loopback SMTP servers (RFC 5321/3207/4954) for the failure modes a real Postfix won't show on demand.
#![allow(dead_code)] // every test crate that includes this uses a different subset

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The size limit the fake announces (Postfix's default `message_size_limit`).
pub const SIZE_LIMIT: u64 = 10_240_000;
/// Longest line the fake reads from a client.
const MAX_CLIENT_LINE: u64 = 4096;

/// What the fake does with each connection.
#[derive(Clone)]
pub enum Behaviour {
    /// Greeting, EHLO (PIPELINING, SIZE, STARTTLS refused with 454), MAIL/RCPT/DATA/RSET/
    /// NOOP/VRFY, QUIT.
    Normal,
    /// Accepts and never says anything.
    Tarpit,
    /// Greets, then never answers.
    StallAtEhlo,
    /// Greets, then closes the connection when EHLO arrives.
    CloseAtEhlo,
    /// Sends the greeting one byte per `interval`.
    Trickle(Duration),
    /// Sends an HTTP error with terminal escapes instead of a greeting.
    Garbage,
    /// Sends a 10 MB greeting line that never ends.
    HugeLine,
    /// Normal greeting, then a 100,000-line reply to EHLO.
    HugeReply,
    /// `421` greeting, then closes.
    Greeting421,
    /// Answers STARTTLS with `220` and a plaintext `250` in the same write.
    StarttlsInjection,
    /// Answers STARTTLS with `220`, then closes.
    StarttlsThenClose,
    /// Answers STARTTLS with `220`, then never starts TLS.
    StarttlsThenStall,
    /// Normal until MAIL, which gets `421` and a close (overload, shutdown).
    Busy421AtMail,
    /// Real STARTTLS (rustls server, the given self-signed certificate); after TLS it offers
    /// AUTH PLAIN LOGIN and checks the credentials.
    Tls(TlsSetup),
}

/// The TLS side of [`Behaviour::Tls`].
#[derive(Clone)]
pub struct TlsSetup {
    pub cert_der: Vec<u8>,
    pub key_der: Vec<u8>,
    pub user: String,
    pub password: String,
    /// Offer only TLS 1.2.
    pub tls12_only: bool,
    /// Answer every AUTH message with another empty `334` until the client cancels with `*`.
    pub endless_challenges: bool,
}

impl TlsSetup {
    /// A fresh rcgen self-signed certificate for `localhost` and 127.0.0.1.
    pub fn self_signed(user: &str, password: &str) -> Self {
        let key = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])
        .expect("rcgen certificate");
        TlsSetup {
            cert_der: key.cert.der().to_vec(),
            key_der: key.signing_key.serialize_der(),
            user: user.to_string(),
            password: password.to_string(),
            tls12_only: false,
            endless_challenges: false,
        }
    }
}

/// A running fake server. Dropping it does not stop it; the test's runtime does.
pub struct FakeSmtp {
    pub addr: SocketAddr,
    /// Every line the server received, in order, with `peer` notes (`"peer 127.0.0.1"`).
    pub log: Arc<Mutex<Vec<String>>>,
}

impl FakeSmtp {
    /// The lines received so far.
    pub fn received(&self) -> Vec<String> {
        self.log.lock().expect("log lock").clone()
    }
}

/// Starts a fake on 127.0.0.1, any port.
pub async fn start(behaviour: Behaviour) -> FakeSmtp {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                return;
            };
            log2.lock()
                .expect("log lock")
                .push(format!("peer {}", peer.ip()));
            let behaviour = behaviour.clone();
            let log = log2.clone();
            tokio::spawn(async move {
                let _ = serve(tcp, behaviour, log).await;
            });
        }
    });
    FakeSmtp { addr, log }
}

/// A loopback address nobody listens on.
pub async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    addr
}

type Log = Arc<Mutex<Vec<String>>>;

async fn serve(mut tcp: TcpStream, behaviour: Behaviour, log: Log) -> std::io::Result<()> {
    match &behaviour {
        Behaviour::Tarpit => {
            std::future::pending::<()>().await;
            return Ok(());
        }
        Behaviour::Trickle(every) => {
            for b in b"220 slow.example ESMTP\r\n" {
                tcp.write_all(&[*b]).await?;
                tokio::time::sleep(*every).await;
            }
            std::future::pending::<()>().await;
            return Ok(());
        }
        Behaviour::Garbage => {
            tcp.write_all(b"HTTP/1.1 400 Bad Request\x1b[2J\x1b]0;owned\x07\r\n\r\n")
                .await?;
            std::future::pending::<()>().await;
            return Ok(());
        }
        Behaviour::HugeLine => {
            tcp.write_all(b"220 ").await?;
            let chunk = vec![b'a'; 64 * 1024];
            for _ in 0..160 {
                tcp.write_all(&chunk).await?;
            }
            std::future::pending::<()>().await;
            return Ok(());
        }
        Behaviour::Greeting421 => {
            tcp.write_all(b"421 4.3.2 fake.example Service not available, closing channel\r\n")
                .await?;
            return Ok(());
        }
        _ => {}
    }
    tcp.write_all(b"220 fake.example ESMTP mailcheck-fake\r\n")
        .await?;
    let mut reader = BufReader::new(tcp);
    match dialog(&mut reader, &behaviour, &log, false).await? {
        Next::Done => Ok(()),
        Next::StartTls => {
            let Behaviour::Tls(setup) = &behaviour else {
                return Ok(());
            };
            // The client sent nothing after STARTTLS, so nothing is lost with the buffer.
            let tcp = reader.into_inner();
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config(setup)));
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(e) => {
                    log.lock().expect("log lock").push(format!("tls error {e}"));
                    return Ok(());
                }
            };
            log.lock()
                .expect("log lock")
                .push("tls established".to_string());
            let mut reader = BufReader::new(tls);
            dialog(&mut reader, &behaviour, &log, true).await?;
            Ok(())
        }
    }
}

fn server_config(setup: &TlsSetup) -> rustls::ServerConfig {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider);
    let builder = if setup.tls12_only {
        builder.with_protocol_versions(&[&rustls::version::TLS12])
    } else {
        builder.with_safe_default_protocol_versions()
    }
    .expect("protocol versions");
    builder
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(setup.cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(setup.key_der.clone())),
        )
        .expect("server certificate")
}

enum Next {
    Done,
    StartTls,
}

/// Reads one client line (CRLF removed); `None` at end of stream.
async fn read_line<S: AsyncRead + Unpin>(
    r: &mut BufReader<S>,
    log: &Log,
) -> std::io::Result<Option<String>> {
    let mut bytes = Vec::new();
    let n = tokio::io::AsyncReadExt::take(&mut *r, MAX_CLIENT_LINE)
        .read_until(b'\n', &mut bytes)
        .await?;
    if n == 0 {
        return Ok(None);
    }
    let line = String::from_utf8_lossy(&bytes)
        .trim_end_matches(['\r', '\n'])
        .to_string();
    log.lock().expect("log lock").push(line.clone());
    Ok(Some(line))
}

async fn send<S: AsyncWrite + Unpin>(w: &mut S, text: &str) -> std::io::Result<()> {
    w.write_all(text.as_bytes()).await?;
    w.flush().await
}

async fn dialog<S: AsyncRead + AsyncWrite + Unpin>(
    r: &mut BufReader<S>,
    behaviour: &Behaviour,
    log: &Log,
    tls: bool,
) -> std::io::Result<Next> {
    loop {
        let Some(line) = read_line(r, log).await? else {
            return Ok(Next::Done);
        };
        let upper = line.to_ascii_uppercase();
        let verb = upper.split(' ').next().unwrap_or("").to_string();
        match verb.as_str() {
            "EHLO" => match behaviour {
                Behaviour::StallAtEhlo => std::future::pending::<()>().await,
                Behaviour::CloseAtEhlo => return Ok(Next::Done),
                Behaviour::HugeReply => {
                    let mut text = String::with_capacity(100_001 * 12);
                    for i in 0..100_000 {
                        text.push_str(&format!("250-X-LINE-{i}\r\n"));
                    }
                    text.push_str("250 END\r\n");
                    send(r.get_mut(), &text).await?;
                }
                Behaviour::Tls(_) if tls => {
                    send(
                        r.get_mut(),
                        &format!(
                            "250-fake.example\r\n250-PIPELINING\r\n250-SIZE {SIZE_LIMIT}\r\n\
                             250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n250 8BITMIME\r\n"
                        ),
                    )
                    .await?
                }
                _ => {
                    send(
                        r.get_mut(),
                        &format!(
                            "250-fake.example\r\n250-PIPELINING\r\n250-SIZE {SIZE_LIMIT}\r\n\
                             250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n"
                        ),
                    )
                    .await?
                }
            },
            "HELO" => send(r.get_mut(), "250 fake.example\r\n").await?,
            "STARTTLS" => match behaviour {
                Behaviour::StarttlsInjection => {
                    send(
                        r.get_mut(),
                        "220 2.0.0 Ready to start TLS\r\n250 injected\r\n",
                    )
                    .await?
                }
                Behaviour::StarttlsThenClose => {
                    send(r.get_mut(), "220 2.0.0 Ready to start TLS\r\n").await?;
                    return Ok(Next::Done);
                }
                Behaviour::StarttlsThenStall => {
                    send(r.get_mut(), "220 2.0.0 Ready to start TLS\r\n").await?;
                    std::future::pending::<()>().await;
                }
                Behaviour::Tls(_) if !tls => {
                    send(r.get_mut(), "220 2.0.0 Ready to start TLS\r\n").await?;
                    return Ok(Next::StartTls);
                }
                _ if tls => send(r.get_mut(), "554 5.5.1 Error: TLS already active\r\n").await?,
                _ => send(r.get_mut(), "454 4.7.0 TLS not available\r\n").await?,
            },
            "AUTH" => match behaviour {
                Behaviour::Tls(setup) if tls => auth(r, &line, setup, log).await?,
                _ => {
                    send(
                        r.get_mut(),
                        "503 5.5.1 Error: authentication not enabled\r\n",
                    )
                    .await?
                }
            },
            "MAIL" if matches!(behaviour, Behaviour::Busy421AtMail) => {
                send(
                    r.get_mut(),
                    "421 4.3.2 Service shutting down, closing channel\r\n",
                )
                .await?;
                return Ok(Next::Done);
            }
            "MAIL" => {
                let too_big = upper
                    .split(' ')
                    .filter_map(|p| p.strip_prefix("SIZE="))
                    .filter_map(|n| n.parse::<u64>().ok())
                    .any(|n| n > SIZE_LIMIT);
                if too_big {
                    send(
                        r.get_mut(),
                        "552 5.3.4 Message size exceeds fixed limit\r\n",
                    )
                    .await?
                } else {
                    send(r.get_mut(), "250 2.1.0 Ok\r\n").await?
                }
            }
            "RCPT" => {
                if upper.contains("@EXAMPLE.NET>") {
                    send(
                        r.get_mut(),
                        "554 5.7.1 <x@example.net>: Relay access denied\r\n",
                    )
                    .await?
                } else {
                    send(r.get_mut(), "250 2.1.5 Ok\r\n").await?
                }
            }
            "DATA" => {
                send(r.get_mut(), "354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let mut lines = 0usize;
                loop {
                    let Some(l) = read_line(r, log).await? else {
                        return Ok(Next::Done);
                    };
                    if l == "." {
                        break;
                    }
                    lines += 1;
                    if lines > 10_000 {
                        return Ok(Next::Done);
                    }
                }
                send(r.get_mut(), "250 2.0.0 Ok: queued as FAKE123\r\n").await?
            }
            "RSET" | "NOOP" => send(r.get_mut(), "250 2.0.0 Ok\r\n").await?,
            "VRFY" => send(r.get_mut(), "252 2.0.0 root\r\n").await?,
            "QUIT" => {
                send(r.get_mut(), "221 2.0.0 Bye\r\n").await?;
                let _ = r.get_mut().shutdown().await;
                return Ok(Next::Done);
            }
            _ => send(r.get_mut(), "502 5.5.2 Error: command not recognized\r\n").await?,
        }
    }
}

/// Server side of AUTH PLAIN (with or without initial response) and LOGIN.
async fn auth<S: AsyncRead + AsyncWrite + Unpin>(
    r: &mut BufReader<S>,
    line: &str,
    setup: &TlsSetup,
    log: &Log,
) -> std::io::Result<()> {
    let words: Vec<&str> = line.split(' ').collect();
    let mech = words
        .get(1)
        .map(|m| m.to_ascii_uppercase())
        .unwrap_or_default();
    if setup.endless_challenges {
        for _ in 0..50 {
            send(r.get_mut(), "334 \r\n").await?;
            match read_line(r, log).await? {
                Some(l) if l == "*" => {
                    return send(r.get_mut(), "501 5.7.0 Authentication aborted\r\n").await;
                }
                Some(_) => {}
                None => return Ok(()),
            }
        }
        return Ok(());
    }
    let decode = |s: &str| {
        B64.decode(s.trim())
            .ok()
            .map(|b| String::from_utf8_lossy(&b).to_string())
    };
    let ok = match mech.as_str() {
        "PLAIN" => {
            let payload = match words.get(2) {
                Some(p) => p.to_string(),
                None => {
                    send(r.get_mut(), "334 \r\n").await?;
                    match read_line(r, log).await? {
                        Some(l) => l,
                        None => return Ok(()),
                    }
                }
            };
            if payload == "*" {
                return send(r.get_mut(), "501 5.7.0 Authentication aborted\r\n").await;
            }
            decode(&payload) == Some(format!("\0{}\0{}", setup.user, setup.password))
        }
        "LOGIN" => {
            send(r.get_mut(), "334 VXNlcm5hbWU6\r\n").await?;
            let Some(user) = read_line(r, log).await? else {
                return Ok(());
            };
            send(r.get_mut(), "334 UGFzc3dvcmQ6\r\n").await?;
            let Some(pw) = read_line(r, log).await? else {
                return Ok(());
            };
            decode(&user).as_deref() == Some(setup.user.as_str())
                && decode(&pw).as_deref() == Some(setup.password.as_str())
        }
        _ => {
            return send(
                r.get_mut(),
                "535 5.7.8 Error: authentication failed: Invalid authentication mechanism\r\n",
            )
            .await;
        }
    };
    if ok {
        send(r.get_mut(), "235 2.7.0 Authentication successful\r\n").await
    } else {
        send(
            r.get_mut(),
            "535 5.7.8 Error: authentication failed: authentication failure\r\n",
        )
        .await
    }
}
