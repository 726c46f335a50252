//! The protocol floor of a full `mailcheck run` (issue 18): the same network work, as few
//! instructions as possible around it, everything at once. What a full run does on the lab
//! (counted from Postfix's log and strace of one run, 2026-12-02):
//!
//! - 11 SMTP sessions, 7 of them with STARTTLS and a full TLS handshake (rustls, as mailcheck),
//!   4 AUTH PLAIN (3 right, 1 wrong password), the relay, size and submission refusals;
//! - 4 messages through DATA (port 25, port 587 after AUTH, two with an .exe attachment), then
//!   waiting until every accepted one is in the account's Maildir, and deleting them;
//! - 2 saslauthd requests on its mux socket (right and wrong password);
//! - 1 MariaDB connection with the session setup and 8 queries (the maps' queries, the
//!   Postfix Admin tables' columns and grants);
//! - the hardening probes (issue 15), from `::1` (outside mynetworks) to port 25 unless said:
//!   H1 one message ended by `<LF>.<CR><LF>` (accepted on the clean lab, so it is waited for
//!   and deleted like the others) and `NOOP<LF>` then `NOOP`; H2 `STARTTLS<CR><LF>NOOP` in one
//!   write, the handshake, EHLO and QUIT inside TLS, on 25 and 587; H3 `EHLO`+`NOOP` in one
//!   write, MAIL, RCPT, DATA, hang up; H4 two VRFYs; H6 STARTTLS and a TLS 1.0 ClientHello,
//!   read the server's first record, hang up, on 25 and 587; H7 a STARTTLS handshake to read
//!   the certificate; the relay tricks, six RCPTs and RSET.
//!
//! Left out, because they are not protocol work: `postconf` and `postqueue` (processes mailcheck
//! spawns), reading files, judging, reporting. Prints the wall time in ms; exit 1 if any step
//! went differently from the clean lab (so a broken floor is not timed as a fast one).
//!
//! Environment: LAB_HOSTNAME, LAB_ACCOUNT, LAB_PASSWORD, LAB_DB_USER, LAB_DB_PASSWORD,
//! LAB_DB_NAME (from /run/mailcheck-lab.env), optionally MAILDIR and SASLAUTHD_MUX.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use mysql_async::prelude::Queryable;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

type Error = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, Error>;

/// Accepts any certificate: the floor does the handshake, mailcheck judges the certificate.
#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

struct Session {
    conn: Option<Conn>,
    buf: Vec<u8>,
}

async fn read_some<S: AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>) -> Res<()> {
    let mut chunk = [0u8; 4096];
    let n = s.read(&mut chunk).await?;
    if n == 0 {
        return Err("connection closed".into());
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

async fn write<S: AsyncWrite + Unpin>(s: &mut S, data: &[u8]) -> Res<()> {
    s.write_all(data).await?;
    s.flush().await?;
    Ok(())
}

impl Session {
    async fn open(addr: SocketAddr) -> Res<Session> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let mut s = Session { conn: Some(Conn::Plain(tcp)), buf: Vec::new() };
        s.expect(220).await?;
        Ok(s)
    }

    /// Reads one whole reply; returns its code.
    async fn reply(&mut self) -> Res<u16> {
        loop {
            // A reply is complete when its last line is "ddd text\r\n".
            let mut start = 0;
            while let Some(end) = self.buf[start..].windows(2).position(|w| w == b"\r\n") {
                let line = &self.buf[start..start + end];
                if line.len() >= 3 && line.get(3) != Some(&b'-') {
                    let code = std::str::from_utf8(&line[..3])?.parse()?;
                    self.buf.drain(..start + end + 2);
                    return Ok(code);
                }
                start += end + 2;
            }
            match self.conn.as_mut().ok_or("no connection")? {
                Conn::Plain(s) => read_some(s, &mut self.buf).await?,
                Conn::Tls(s) => read_some(s, &mut self.buf).await?,
            }
        }
    }

    async fn expect(&mut self, code: u16) -> Res<()> {
        let got = self.reply().await?;
        if got / 100 == code / 100 && (code % 100 == 0 || got == code) {
            Ok(())
        } else {
            Err(format!("expected {code}, got {got}").into())
        }
    }

    async fn send(&mut self, data: &[u8]) -> Res<()> {
        match self.conn.as_mut().ok_or("no connection")? {
            Conn::Plain(s) => write(s, data).await,
            Conn::Tls(s) => write(s, data).await,
        }
    }

    async fn cmd(&mut self, line: &str, code: u16) -> Res<()> {
        self.send(format!("{line}\r\n").as_bytes()).await?;
        self.expect(code).await
    }

    /// A command whose answer only a judge would look at: any complete reply will do.
    async fn any(&mut self, line: &str) -> Res<()> {
        self.send(format!("{line}\r\n").as_bytes()).await?;
        self.reply().await.map(|_| ())
    }

    async fn starttls(&mut self, tls: &TlsConnector, host: &str) -> Res<()> {
        self.cmd("STARTTLS", 220).await?;
        let Some(Conn::Plain(tcp)) = self.conn.take() else {
            return Err("STARTTLS twice".into());
        };
        let name = ServerName::try_from(host.to_string())?;
        let s = tls.connect(name, tcp).await?;
        self.conn = Some(Conn::Tls(Box::new(s)));
        self.cmd("EHLO mailcheck-floor.invalid", 250).await
    }

    async fn quit(mut self) -> Res<()> {
        self.cmd("QUIT", 221).await
    }

    /// Reads one TLS record (the server's answer to a hand-built ClientHello).
    async fn tls_record(&mut self) -> Res<()> {
        let Some(Conn::Plain(tcp)) = self.conn.as_mut() else {
            return Err("not plain".into());
        };
        while self.buf.len() < 5 {
            read_some(tcp, &mut self.buf).await?;
        }
        let len = 5 + usize::from(u16::from_be_bytes([self.buf[3], self.buf[4]]));
        while self.buf.len() < len {
            read_some(tcp, &mut self.buf).await?;
        }
        Ok(())
    }
}

/// A TLS 1.0 ClientHello like mailcheck's H6 probe: AES-CBC suites, the usual groups.
fn tls10_hello() -> Vec<u8> {
    let suites: [u16; 4] = [0xc013, 0xc014, 0x002f, 0x0035];
    let mut ext = Vec::new();
    ext.extend_from_slice(&[0x00, 0x0a, 0x00, 0x08, 0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18]);
    ext.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
    ext.extend_from_slice(&[0xff, 0x01, 0x00, 0x01, 0x00]);
    let mut body = vec![0x03, 0x01];
    body.extend_from_slice(&[7u8; 32]);
    body.push(0);
    body.extend_from_slice(&u16::try_from(2 * suites.len()).unwrap_or(0).to_be_bytes());
    for id in suites {
        body.extend_from_slice(&id.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]);
    body.extend_from_slice(&u16::try_from(ext.len()).unwrap_or(0).to_be_bytes());
    body.extend_from_slice(&ext);
    let n = body.len();
    let mut hs = vec![1, (n >> 16) as u8, (n >> 8) as u8, n as u8];
    hs.extend_from_slice(&body);
    let mut rec = vec![22, 3, 1];
    rec.extend_from_slice(&u16::try_from(hs.len()).unwrap_or(0).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

struct Lab {
    host: String,
    addr: SocketAddr,
    addr6: SocketAddr,
    account: String,
    password: String,
    tls: TlsConnector,
    token: String,
}

impl Lab {
    fn at(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.addr.ip(), port)
    }

    async fn ehlo(&self, port: u16, tls: bool) -> Res<Session> {
        let mut s = Session::open(self.at(port)).await?;
        s.cmd("EHLO mailcheck-floor.invalid", 250).await?;
        if tls {
            s.starttls(&self.tls, &self.host).await?;
        }
        Ok(s)
    }

    fn plain(&self, password: &str) -> String {
        let raw = format!("\0{}\0{password}", self.account);
        format!("AUTH PLAIN {}", base64::engine::general_purpose::STANDARD.encode(raw))
    }

    fn message(&self, tag: &str, attachment: Option<&str>) -> Vec<u8> {
        let id = format!("{}.{tag}", self.token);
        let mut m = format!(
            "From: <{a}>\r\nTo: <{a}>\r\nSubject: mailcheck floor {id}\r\nMessage-ID: <{id}@mailcheck.invalid>\r\nMIME-Version: 1.0\r\n",
            a = self.account
        );
        match attachment {
            None => m.push_str("Content-Type: text/plain\r\n\r\nfloor\r\n"),
            Some(ct) => m.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfloor\r\n--b\r\nContent-Type: {ct}\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--b--\r\n"
            )),
        }
        m.push_str(".\r\n");
        m.into_bytes()
    }

    /// One message through DATA; true when the server accepted it.
    async fn deliver(&self, port: u16, auth: bool, tag: &str, attachment: Option<&str>) -> Res<bool> {
        let mut s = self.ehlo(port, auth).await?;
        if auth {
            s.cmd(&self.plain(&self.password), 235).await?;
        }
        let from = if auth { self.account.as_str() } else { "" };
        s.cmd(&format!("MAIL FROM:<{from}>"), 250).await?;
        s.cmd(&format!("RCPT TO:<{}>", self.account), 250).await?;
        s.cmd("DATA", 354).await?;
        s.send(&self.message(tag, attachment)).await?;
        let accepted = s.reply().await? / 100 == 2;
        s.quit().await?;
        Ok(accepted)
    }
}

/// The hardening probes' sessions (see the top of the file); returns the messages accepted.
async fn hardening(lab: &Lab) -> Res<usize> {
    let a = lab.account.as_str();
    let six = |p: u16| SocketAddr::new(lab.addr6.ip(), p);
    let ehlo6 = |p: u16| async move {
        let mut s = Session::open(six(p)).await?;
        s.cmd("EHLO mailcheck-floor.invalid", 250).await?;
        Res::Ok(s)
    };
    let inject = |p: u16| async move {
        let mut s = ehlo6(p).await?;
        s.send(b"STARTTLS\r\nNOOP\r\n").await?;
        s.expect(220).await?;
        let Some(Conn::Plain(tcp)) = s.conn.take() else {
            return Err("STARTTLS twice".into());
        };
        let name = ServerName::try_from(lab.host.clone())?;
        s.conn = Some(Conn::Tls(Box::new(lab.tls.connect(name, tcp).await?)));
        s.cmd("EHLO mailcheck-floor.invalid", 250).await?;
        s.quit().await
    };
    let floor = |p: u16| async move {
        let mut s = ehlo6(p).await?;
        s.cmd("STARTTLS", 220).await?;
        s.send(&tls10_hello()).await?;
        s.tls_record().await
    };
    let (h1, h1b, h2a, h2b, h3, h4, h6a, h6b, h7, tricks) = tokio::join!(
        async {
            let mut s = ehlo6(25).await?;
            s.cmd(&format!("MAIL FROM:<{a}>"), 250).await?;
            s.cmd(&format!("RCPT TO:<{a}>"), 250).await?;
            s.cmd("DATA", 354).await?;
            let mut m = lab.message("smuggling", None);
            m.truncate(m.len() - 3);
            m.extend_from_slice(b"\n.\r\n");
            s.send(&m).await?;
            let accepted = s.reply().await? / 100 == 2;
            s.quit().await?;
            Res::Ok(usize::from(accepted))
        },
        async {
            let mut s = ehlo6(25).await?;
            s.send(b"NOOP\n").await?;
            s.reply().await?;
            s.any("NOOP").await?;
            s.quit().await
        },
        inject(25),
        inject(587),
        async {
            let mut s = Session::open(six(25)).await?;
            s.send(b"EHLO mailcheck-floor.invalid\r\nNOOP\r\n").await?;
            s.expect(250).await?;
            s.expect(250).await?;
            s.cmd(&format!("MAIL FROM:<{a}>"), 250).await?;
            s.cmd(&format!("RCPT TO:<{a}>"), 250).await?;
            s.any("DATA").await
        },
        async {
            let mut s = ehlo6(25).await?;
            s.any(&format!("VRFY {a}")).await?;
            s.any("VRFY postmaster").await?;
            s.quit().await
        },
        floor(25),
        floor(587),
        async {
            let mut s = ehlo6(25).await?;
            s.starttls(&lab.tls, &lab.host).await?;
            s.quit().await
        },
        async {
            let mut s = ehlo6(25).await?;
            s.cmd("MAIL FROM:<probe@example.org>", 250).await?;
            for r in [
                "mailcheck-relay-test%example.net@example.com",
                "example.net!mailcheck-relay-test@example.com",
                "\"mailcheck-relay-test@example.net\"@example.com",
                "@example.com:mailcheck-relay-test@example.net",
                "mailcheck-relay-test@[198.51.100.7]",
                "mailcheck-relay-test@example.net",
            ] {
                s.cmd(&format!("RCPT TO:<{r}>"), 400).await?;
            }
            s.cmd("RSET", 250).await?;
            s.quit().await
        },
    );
    for r in [h1b, h2a, h2b, h3, h4, h6a, h6b, h7, tricks] {
        r?;
    }
    h1
}

async fn sessions(lab: &Lab) -> Res<usize> {
    let a = lab.account.as_str();
    let (r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11) = tokio::join!(
        // size on 587: an oversize MAIL is refused.
        async {
            let mut s = lab.ehlo(587, true).await?;
            s.any("MAIL FROM:<> SIZE=999999999999").await?;
            s.quit().await
        },
        // size: an oversize MAIL is refused, a plain one accepted.
        async {
            let mut s = lab.ehlo(25, true).await?;
            s.any("MAIL FROM:<> SIZE=999999999999").await?;
            s.any("MAIL FROM:<> SIZE=1000").await?;
            s.any("RSET").await?;
            s.quit().await
        },
        // relay.unauthenticated-refused, over IPv6 loopback.
        async {
            let mut s = Session::open(lab.addr6).await?;
            s.cmd("EHLO mailcheck-floor.invalid", 250).await?;
            s.cmd("MAIL FROM:<probe@example.org>", 250).await?;
            s.cmd("RCPT TO:<mailcheck-relay-test@example.net>", 400).await?;
            s.cmd("RSET", 250).await?;
            s.quit().await
        },
        // auth.wrong-password-refused.
        async {
            let mut s = lab.ehlo(587, true).await?;
            s.cmd(&lab.plain("mailcheck-wrong-password"), 535).await?;
            s.quit().await
        },
        // submission without AUTH: RCPT refused.
        async {
            let mut s = lab.ehlo(587, true).await?;
            s.cmd(&format!("MAIL FROM:<{a}>"), 250).await?;
            s.cmd(&format!("RCPT TO:<{a}>"), 500).await?;
            s.cmd("RSET", 250).await?;
            s.quit().await
        },
        // relay.authenticated-accepted: two RCPTs after AUTH.
        async {
            let mut s = lab.ehlo(587, true).await?;
            s.cmd(&lab.plain(&lab.password), 235).await?;
            s.cmd(&format!("MAIL FROM:<{a}>"), 250).await?;
            s.cmd("RCPT TO:<mailcheck-relay-test@example.net>", 250).await?;
            s.cmd(&format!("RCPT TO:<{a}>"), 250).await?;
            s.cmd("RSET", 250).await?;
            s.quit().await
        },
        // auth.login-works.
        async {
            let mut s = lab.ehlo(587, true).await?;
            s.cmd(&lab.plain(&lab.password), 235).await?;
            s.quit().await
        },
        lab.deliver(25, false, "exe-unquoted", Some("application/octet-stream; name=invoice.exe")),
        lab.deliver(25, false, "port-25", None),
        lab.deliver(587, true, "port-587", None),
        lab.deliver(25, false, "exe-quoted", Some("application/octet-stream; name=\"invoice.exe\"")),
    );
    for r in [r1, r2, r3, r4, r5, r6, r7] {
        r?;
    }
    let mut accepted = 0;
    for r in [r8, r9, r10, r11] {
        accepted += usize::from(r?);
    }
    Ok(accepted)
}

/// Waits until `n` messages carrying the token are in new/, then deletes them.
async fn collect(maildir: &Path, token: &str, n: usize) -> Res<()> {
    let new = maildir.join("new");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut found: Vec<PathBuf> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    while found.len() < n {
        if Instant::now() > deadline {
            return Err(format!("{} of {n} messages arrived", found.len()).into());
        }
        let mut dir = tokio::fs::read_dir(&new).await?;
        while let Some(e) = dir.next_entry().await? {
            let p = e.path();
            if seen.insert(p.clone()) {
                let body = tokio::fs::read(&p).await.unwrap_or_default();
                if body.windows(token.len()).any(|w| w == token.as_bytes()) {
                    found.push(p);
                }
            }
        }
        if found.len() < n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    for p in found {
        tokio::fs::remove_file(p).await?;
    }
    Ok(())
}

async fn saslauthd(mux: &Path, user: &str, password: &str) -> Res<bool> {
    let mut s = UnixStream::connect(mux).await?;
    let mut req = Vec::new();
    for f in [user, password, "smtp", ""] {
        let len = u16::try_from(f.len())?;
        req.extend_from_slice(&len.to_be_bytes());
        req.extend_from_slice(f.as_bytes());
    }
    s.write_all(&req).await?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut body).await?;
    Ok(body.starts_with(b"OK"))
}

async fn database(account: &str) -> Res<()> {
    let var = |k: &str| std::env::var(k).map_err(|_| format!("{k} not set"));
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(3306)
        .user(Some(var("LAB_DB_USER")?))
        .pass(Some(var("LAB_DB_PASSWORD")?))
        .db_name(Some(var("LAB_DB_NAME")?));
    let mut c = mysql_async::Conn::new(opts).await?;
    let domain = account.rsplit('@').next().unwrap_or_default();
    c.query_drop("SET SESSION TRANSACTION READ ONLY").await?;
    let _: Option<(String, String)> = c.query_first("SELECT @@version, @@sql_mode").await?;
    let queries = [
        format!("SELECT domain FROM domain WHERE domain='{domain}' AND backupmx = '0' AND active = '1'"),
        format!("SELECT goto FROM alias WHERE address='{account}' AND active = '1'"),
        format!("SELECT CONCAT(domain,'/',SUBSTRING_INDEX(maildir,'@',1),'/') FROM mailbox WHERE username='{account}' AND active = 1"),
        format!("SELECT domain FROM domain WHERE domain='{domain}' AND backupmx = '1' AND active = '1'"),
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name IN ('domain','mailbox','alias','admin','domain_admins')".to_string(),
        "SHOW GRANTS FOR CURRENT_USER()".to_string(),
        format!("SELECT username FROM mailbox WHERE username='{account}'"),
        format!("SELECT address FROM alias WHERE address='{account}'"),
    ];
    for q in queries {
        let _: Vec<mysql_async::Row> = c.query(q).await?;
    }
    c.disconnect().await?;
    Ok(())
}

async fn run() -> Res<()> {
    let var = |k: &str| std::env::var(k).map_err(|_| format!("{k} not set"));
    let host = var("LAB_HOSTNAME")?;
    let account = var("LAB_ACCOUNT")?;
    let password = var("LAB_PASSWORD")?;
    let (local, domain) = account.split_once('@').ok_or("LAB_ACCOUNT without @")?;
    let maildir = std::env::var("MAILDIR").unwrap_or(format!("/home/vmail/{domain}/{local}"));
    let mux = std::env::var("SASLAUTHD_MUX")
        .unwrap_or("/var/spool/postfix/var/run/saslauthd/mux".to_string());
    let addr = tokio::net::lookup_host((host.as_str(), 25)).await?.next().ok_or("no address")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let lab = Lab {
        host,
        addr,
        addr6: "[::1]:25".parse()?,
        account,
        password,
        tls: TlsConnector::from(Arc::new(config)),
        token: format!("mcfloor-{nanos}-{}", std::process::id()),
    };
    let (smtp, hard, right, wrong, db) = tokio::join!(
        sessions(&lab),
        hardening(&lab),
        saslauthd(Path::new(&mux), &lab.account, &lab.password),
        saslauthd(Path::new(&mux), &lab.account, "mailcheck-wrong-password"),
        database(&lab.account),
    );
    db?;
    if !right? || wrong? {
        return Err("saslauthd answered differently from the clean lab".into());
    }
    collect(Path::new(&maildir), &lab.token, smtp? + hard?).await
}

fn main() -> std::process::ExitCode {
    let t0 = Instant::now();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("floor: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run()) {
        Ok(()) => {
            println!("{:.1}", t0.elapsed().as_secs_f64() * 1e3);
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("floor: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
