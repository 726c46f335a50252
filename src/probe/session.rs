//! The SMTP sessions the network checks judge (RFC 5321, 3207 STARTTLS, 4954 AUTH, 1870 SIZE):
//! one STARTTLS session per port shared by several checks, and short single-purpose sessions
//! (AUTH, submission, relay), each recorded as plain data with its transcript. Sessions never
//! send DATA and end with RSET/QUIT; the caller bounds how many run at once.

use std::net::{IpAddr, SocketAddr};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::net::ConnectError;
use crate::probe::mynetworks::Mynetworks;
use crate::probe::smtp::{
    AuthMechanism, Capabilities, CertInfo, Command, Reply, SmtpClient, SmtpError, Timeouts, TlsInfo,
};
use crate::secret::Secret;
use crate::target::Account;

/// The name mailcheck gives in EHLO (RFC 2606 reserves `.invalid`; the tutorial's server has
/// no HELO restrictions).
pub const EHLO_NAME: &str = "mailcheck.invalid";
/// Sender of the unauthenticated relay probe (RFC 2606 reserved domain).
pub const RELAY_SENDER: &str = "probe@example.org";
/// A recipient in a domain no server handles (RFC 2606): accepting it is relaying.
pub const RELAY_RECIPIENT: &str = "mailcheck-relay-test@example.net";
/// Most source addresses tried for the relay probe.
const MAX_SOURCES: usize = 6;

/// Which of the server's smtpd services.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Service {
    /// The MX port (25): plaintext allowed, STARTTLS offered.
    #[default]
    Smtp,
    /// The submission port (587): TLS and AUTH required.
    Submission,
}

impl Service {
    /// The port from the settings (`--smtp-port`, `--submission-port`).
    pub fn port(self, settings: &crate::settings::Settings) -> u16 {
        match self {
            Service::Smtp => settings.smtp_port,
            Service::Submission => settings.submission_port,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Recorded data

/// What went wrong in one step, coarsely, for the judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// Nothing listens on the port.
    Refused,
    /// Unreachable, no route, or another connect error.
    Unreachable,
    Timeout,
    /// `421`: the server is closing the channel.
    Unavailable,
    Closed,
    /// The server sent something that is not SMTP.
    Protocol,
    /// The TLS handshake failed (alert, bad certificate message, ...).
    Tls,
    /// The EHLO reply does not announce the extension the step needs.
    NotOffered,
    Io,
}

/// The reply to one command, or why there was none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Step {
    Reply {
        code: u16,
        #[serde(default)]
        lines: Vec<String>,
    },
    Error {
        kind: ErrorKind,
        /// The SMTP phase ("banner", "EHLO", "TLS handshake", ...).
        phase: String,
        /// One line naming what happened ("no banner after 10 s").
        message: String,
    },
}

impl Default for Step {
    fn default() -> Self {
        Step::Error {
            kind: ErrorKind::Io,
            phase: "connect".into(),
            message: "not attempted".into(),
        }
    }
}

impl Step {
    pub fn reply(r: &Reply) -> Step {
        Step::Reply {
            code: r.code,
            lines: r.lines.clone(),
        }
    }

    pub fn error(kind: ErrorKind, phase: &str, message: impl Into<String>) -> Step {
        Step::Error {
            kind,
            phase: phase.to_string(),
            message: message.into(),
        }
    }

    /// A client error as a step; a rejection (`Rejected`) is the server's reply.
    pub fn from_error(e: &SmtpError) -> Step {
        let kind = match e {
            SmtpError::Rejected { reply, .. } => return Step::reply(reply),
            SmtpError::Connect(ConnectError::Refused { .. }) => ErrorKind::Refused,
            SmtpError::Connect(ConnectError::Timeout { .. }) | SmtpError::Timeout { .. } => {
                ErrorKind::Timeout
            }
            SmtpError::Connect(ConnectError::Io { .. }) => ErrorKind::Unreachable,
            SmtpError::ServiceUnavailable { phase, reply } => {
                // The error's text leaves out the code; 421 is what a person looks for.
                let message = format!(
                    "service unavailable at {phase}: {}",
                    Step::reply(reply).describe()
                );
                return Step::error(ErrorKind::Unavailable, &phase.to_string(), message);
            }
            SmtpError::Closed { .. } => ErrorKind::Closed,
            SmtpError::Protocol { .. } => ErrorKind::Protocol,
            SmtpError::Tls { detail } if detail.starts_with("server closed") => ErrorKind::Closed,
            SmtpError::Tls { .. } => ErrorKind::Tls,
            SmtpError::AuthWithoutTls | SmtpError::Io { .. } => ErrorKind::Io,
        };
        Step::error(kind, &e.phase().to_string(), e.to_string())
    }

    pub fn from_result(r: &Result<Reply, SmtpError>) -> Step {
        match r {
            Ok(reply) => Step::reply(reply),
            Err(e) => Step::from_error(e),
        }
    }

    /// The reply code, if a reply came.
    pub fn code(&self) -> Option<u16> {
        match self {
            Step::Reply { code, .. } => Some(*code),
            Step::Error { .. } => None,
        }
    }

    /// The reply's RFC 3463 enhanced status code ("4.3.0"), as `Reply::enhanced_code` reads it.
    pub fn enhanced_code(&self) -> Option<String> {
        match self {
            Step::Reply { code, lines } => Reply {
                code: *code,
                lines: lines.clone(),
            }
            .enhanced_code()
            .map(str::to_string),
            Step::Error { .. } => None,
        }
    }

    pub fn is_positive(&self) -> bool {
        self.code().is_some_and(|c| (200..300).contains(&c))
    }

    pub fn is_transient(&self) -> bool {
        self.code().is_some_and(|c| (400..500).contains(&c))
    }

    pub fn is_permanent(&self) -> bool {
        self.code().is_some_and(|c| (500..600).contains(&c))
    }

    /// A refusal by policy: 5xx, or a 4xx that says so (454, "... denied", "... rejected"), as
    /// opposed to a 4xx that only means "could not decide now" (451 lookup failure, 452).
    pub fn refuses(&self) -> bool {
        if self.is_permanent() {
            return true;
        }
        let text = self.describe().to_ascii_lowercase();
        self.is_transient()
            && (self.code() == Some(454) || text.contains("denied") || text.contains("rejected"))
    }

    /// The error kind, if the step failed without a reply.
    pub fn error_kind(&self) -> Option<ErrorKind> {
        match self {
            Step::Error { kind, .. } => Some(*kind),
            Step::Reply { .. } => None,
        }
    }

    /// `250 2.1.0 Ok` (the first line) or the error message.
    pub fn describe(&self) -> String {
        match self {
            Step::Reply { code, lines } => match lines.first() {
                Some(l) if !l.is_empty() => format!("{code} {l}"),
                _ => code.to_string(),
            },
            Step::Error { message, .. } => message.clone(),
        }
    }

    /// The reply lines after the first (an EHLO reply's extensions).
    pub fn extension_lines(&self) -> Vec<String> {
        match self {
            Step::Reply { lines, .. } => lines.iter().skip(1).cloned().collect(),
            Step::Error { .. } => Vec::new(),
        }
    }
}

/// One X.509 certificate as served, with its validity already measured against the clock.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct CertFacts {
    pub subject: String,
    pub subject_cn: Option<String>,
    pub issuer: String,
    /// DNS names and IP addresses from subjectAltName.
    pub sans: Vec<String>,
    /// RFC 3339.
    pub not_before: String,
    pub not_after: String,
    /// Whole days until not_after when observed (negative once expired).
    pub days_left: i64,
    /// The observation came before not_before.
    pub not_yet_valid: bool,
    pub key_type: String,
    pub key_bits: Option<u32>,
    pub sha256_fingerprint: String,
    pub self_signed: bool,
}

impl CertFacts {
    pub fn from_info(c: &CertInfo, now: SystemTime) -> CertFacts {
        CertFacts {
            subject: c.subject.clone(),
            subject_cn: c.subject_cn.clone(),
            issuer: c.issuer.clone(),
            sans: c.sans.clone(),
            not_before: crate::clock::rfc3339(c.not_before),
            not_after: crate::clock::rfc3339(c.not_after),
            days_left: c.days_left(now),
            not_yet_valid: now < c.not_before,
            key_type: c.key_type.clone(),
            key_bits: c.key_bits,
            sha256_fingerprint: c.sha256_fingerprint.clone(),
            self_signed: c.self_signed,
        }
    }

    fn as_info(&self) -> CertInfo {
        CertInfo {
            subject_cn: self.subject_cn.clone(),
            subject: self.subject.clone(),
            issuer: self.issuer.clone(),
            sans: self.sans.clone(),
            not_before: SystemTime::UNIX_EPOCH,
            not_after: SystemTime::UNIX_EPOCH,
            key_type: self.key_type.clone(),
            key_bits: self.key_bits,
            sha256_fingerprint: self.sha256_fingerprint.clone(),
            self_signed: self.self_signed,
        }
    }

    /// RFC 6125 name matching (SANs, or the CN when there is no DNS SAN).
    pub fn matches_name(&self, host: &str) -> bool {
        self.as_info().matches_name(host)
    }

    /// The names the certificate is for.
    pub fn names(&self) -> Vec<String> {
        self.as_info().names()
    }
}

/// What the TLS handshake established.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct TlsFacts {
    /// "TLSv1.3", "TLSv1.2".
    pub protocol: String,
    pub cipher: String,
    /// Leaf first.
    pub certificates: Vec<CertFacts>,
}

impl TlsFacts {
    pub fn from_info(info: &TlsInfo, now: SystemTime) -> TlsFacts {
        TlsFacts {
            protocol: info.protocol.clone(),
            cipher: info.cipher.clone(),
            certificates: info
                .certificates
                .iter()
                .map(|c| CertFacts::from_info(c, now))
                .collect(),
        }
    }

    pub fn leaf(&self) -> Option<&CertFacts> {
        self.certificates.first()
    }
}

/// The shared session on one port: greeting, EHLO, the port's plaintext probes, STARTTLS,
/// EHLO again, QUIT.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct PortSession {
    pub service: Service,
    pub port: u16,
    /// `host:port` connected to.
    pub addr: String,
    /// This end of the connection (`ip:port`), as the server logs the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<String>,
    /// The greeting, or why there was none (refused, timeout, 421...).
    pub banner: Step,
    pub ehlo: Option<Step>,
    /// submission: `MAIL FROM:<>` before STARTTLS (expect 530).
    pub mail_before_tls: Option<Step>,
    /// smtp: the size declared in the two `MAIL FROM:<> SIZE=` probes (the limit, then one
    /// more).
    pub size_limit: u64,
    /// smtp: `MAIL FROM:<> SIZE=<limit>` (expect 250).
    pub size_at_limit: Option<Step>,
    /// smtp: `MAIL FROM:<> SIZE=<limit+1>` (expect 552).
    pub size_over_limit: Option<Step>,
    /// `None` when STARTTLS was not tried (not offered, or the session ended before).
    pub starttls: Option<Step>,
    pub tls: Option<TlsFacts>,
    /// The certificates the server sent in a STARTTLS handshake that did not finish (leaf
    /// first): what the handshake failed on, in the server's terms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub handshake_certificates: Vec<CertFacts>,
    pub ehlo_tls: Option<Step>,
    pub transcript: Vec<String>,
}

impl PortSession {
    /// EHLO extensions before STARTTLS.
    pub fn capabilities(&self) -> Capabilities {
        Capabilities::from_lines(
            self.ehlo
                .as_ref()
                .map(Step::extension_lines)
                .unwrap_or_default(),
        )
    }

    /// EHLO extensions after STARTTLS.
    pub fn tls_capabilities(&self) -> Capabilities {
        Capabilities::from_lines(
            self.ehlo_tls
                .as_ref()
                .map(Step::extension_lines)
                .unwrap_or_default(),
        )
    }

    /// Why the session did not get as far as a 250 to the first EHLO, if it did not.
    pub fn not_greeted(&self) -> Option<String> {
        if self.banner.code() != Some(220) {
            return Some(format!("{}: {}", self.addr, self.banner.describe()));
        }
        match &self.ehlo {
            Some(s) if s.code() == Some(250) => None,
            Some(s) => Some(format!("{}: EHLO: {}", self.addr, s.describe())),
            None => Some(format!("{}: no EHLO", self.addr)),
        }
    }
}

/// Where a short session stopped before its test.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct SetupFailure {
    /// "connect", "banner", "EHLO", "STARTTLS", "EHLO after STARTTLS".
    pub step: String,
    pub outcome: Step,
}

impl SetupFailure {
    pub fn describe(&self) -> String {
        match &self.outcome {
            Step::Reply { .. } => format!("{} answered {}", self.step, self.outcome.describe()),
            Step::Error { message, .. } => message.clone(),
        }
    }
}

/// A short session on the submission port: STARTTLS, then AUTH (or not), then MAIL/RCPT.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct LoginSession {
    pub port: u16,
    pub addr: String,
    /// This end of the connection (`ip:port`), as the server logs the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<String>,
    pub setup_failure: Option<SetupFailure>,
    /// AUTH mechanisms in the EHLO after STARTTLS.
    pub mechanisms: Vec<String>,
    pub user: String,
    /// "PLAIN", "LOGIN"; `None` for the unauthenticated session.
    pub mechanism: Option<String>,
    /// Whether the password was a deliberately wrong one.
    pub wrong_password: bool,
    pub auth: Option<Step>,
    pub sender: String,
    pub mail: Option<Step>,
    /// `RCPT TO:<account>`.
    pub rcpt_local: Option<Step>,
    /// `RCPT TO:<RELAY_RECIPIENT>` (only after AUTH).
    pub rcpt_foreign: Option<Step>,
    pub foreign_recipient: String,
    /// [`Purpose::Size`]: the size declared after AUTH in `MAIL FROM:<account> SIZE=` (the
    /// limit, then one more).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub size_limit: u64,
    /// `MAIL FROM:<account> SIZE=<limit>` after AUTH (expect 250).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_at_limit: Option<Step>,
    /// `MAIL FROM:<account> SIZE=<limit+1>` after AUTH (expect 552).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_over_limit: Option<Step>,
    pub transcript: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One address considered as the source of the relay probe.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct SourceCandidate {
    pub address: String,
    /// The mynetworks entry that contains it.
    pub inside: Option<String>,
    /// Why it was not used, when it was tried and failed to connect.
    pub connect_problem: Option<String>,
}

/// The unauthenticated relay probe on the MX port.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct RelayProbe {
    /// mailcheck runs on the server: mynetworks was read and a source picked.
    pub local: bool,
    /// mailcheck runs elsewhere, and mynetworks came from the server (`--ssh`): this
    /// machine's address was checked against it.
    pub mynetworks_from_server: bool,
    /// mynetworks as Postfix uses it (on the server, or from it over SSH).
    pub mynetworks: Option<String>,
    /// Why mynetworks could not be read.
    pub mynetworks_problem: Option<String>,
    pub unknown_entries: Vec<String>,
    pub candidates: Vec<SourceCandidate>,
    /// The address the probe came from (local), if it ran.
    pub source: Option<String>,
    /// The (whole address space) mynetworks entry holding the source, if it is inside.
    pub source_inside: Option<String>,
    /// Why no probe ran.
    pub no_probe: Option<String>,
    /// Not local, yet the server's address is a loopback one: the probe came from loopback too.
    pub peer_loopback: bool,
    pub addr: String,
    pub setup_failure: Option<SetupFailure>,
    pub sender: String,
    pub recipient: String,
    pub mail: Option<Step>,
    pub rcpt: Option<Step>,
    pub transcript: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// The sessions

/// What a short session on the submission port does after STARTTLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// AUTH PLAIN with the account, then MAIL, RCPT to the account and to
    /// [`RELAY_RECIPIENT`], RSET.
    PlainAndRelay,
    /// AUTH LOGIN with the account.
    Login,
    /// AUTH PLAIN with a random wrong password (once per run: Postfix slows down clients that
    /// make errors).
    WrongPassword,
    /// No AUTH: MAIL and RCPT to the account, RSET.
    Unauthenticated,
    /// AUTH PLAIN with the account, then `MAIL FROM:<account> SIZE=` the limit and one more,
    /// RSET after each: the size limit where users submit mail.
    Size(u64),
}

/// Where a session connects and how long it waits.
#[derive(Debug, Clone)]
pub struct Dial {
    /// `None` when the host has no address.
    pub addr: Option<SocketAddr>,
    /// `host:port`, for messages when there is no address.
    pub label: String,
    /// The name sent in SNI (`--host`).
    pub server_name: String,
    pub timeouts: Timeouts,
}

/// The shared session on `service`'s port: greeting, EHLO, the port's plaintext probes,
/// STARTTLS, EHLO again, QUIT.
pub async fn port_session(
    service: Service,
    port: u16,
    dial: &Dial,
    size_limit: u64,
) -> PortSession {
    let mut s = PortSession {
        service,
        port,
        size_limit,
        ..PortSession::default()
    };
    let Some(addr) = dial.addr else {
        s.addr = dial.label.clone();
        s.banner = Step::error(ErrorKind::Unreachable, "connect", "the host has no address");
        return s;
    };
    s.addr = addr.to_string();
    let mut client = match SmtpClient::connect(addr, dial.timeouts).await {
        Ok(c) => c,
        Err(e) => {
            s.banner = Step::from_error(&e);
            return s;
        }
    };
    s.local = client.local_addr().map(|a| a.to_string());
    s.banner = Step::reply(client.banner());
    if client.banner().code == 220 {
        s.converse(&mut client, &dial.server_name).await;
    }
    s.transcript = client.quit().await.lines();
    s
}

impl PortSession {
    /// Everything after the greeting; stops at the first step that leaves the session unusable
    /// or unfit to go on.
    async fn converse(&mut self, c: &mut SmtpClient, server_name: &str) {
        let r = c.ehlo(EHLO_NAME).await;
        self.ehlo = Some(Step::from_result(&r));
        if !matches!(&r, Ok(reply) if reply.code == 250) {
            return;
        }
        let offers_starttls = c.capabilities().is_some_and(|k| k.has("STARTTLS"));
        let usable = match self.service {
            Service::Submission => {
                let (step, ok) = mail_then_rset(c, "", &[]).await;
                self.mail_before_tls = Some(step);
                ok
            }
            Service::Smtp => {
                let at = vec![format!("SIZE={}", self.size_limit)];
                let (step, ok) = mail_then_rset(c, "", &at).await;
                self.size_at_limit = Some(step);
                if !ok {
                    return;
                }
                let over = vec![format!("SIZE={}", self.size_limit.saturating_add(1))];
                let (step, ok) = mail_then_rset(c, "", &over).await;
                self.size_over_limit = Some(step);
                ok
            }
        };
        if !usable || !offers_starttls {
            return;
        }
        match c.starttls(server_name).await {
            Ok(info) => {
                self.starttls = Some(Step::Reply {
                    code: 220,
                    lines: Vec::new(),
                });
                self.tls = Some(TlsFacts::from_info(&info, crate::clock::now()));
            }
            Err(e) => {
                self.starttls = Some(Step::from_error(&e));
                let now = crate::clock::now();
                self.handshake_certificates = c
                    .failed_handshake_chain()
                    .iter()
                    .filter_map(|der| CertInfo::from_der(der).ok())
                    .map(|ci| CertFacts::from_info(&ci, now))
                    .collect();
                return;
            }
        }
        let r = c.ehlo(EHLO_NAME).await;
        self.ehlo_tls = Some(Step::from_result(&r));
    }
}

/// `MAIL FROM:<sender> params`, then RSET if it opened a transaction. Returns the MAIL step and
/// whether the session can go on.
async fn mail_then_rset(c: &mut SmtpClient, sender: &str, params: &[String]) -> (Step, bool) {
    let r = c
        .command(&Command::MailFrom {
            address: sender.to_string(),
            params: params.to_vec(),
        })
        .await;
    let step = Step::from_result(&r);
    match r {
        Err(_) => (step, false),
        Ok(reply) if reply.is_positive() => {
            let ok = c.command(&Command::Rset).await.is_ok();
            (step, ok)
        }
        Ok(_) => (step, true),
    }
}

/// Where opening a session stopped: the step, the transcript, and this end's address.
struct Opening {
    failure: SetupFailure,
    transcript: Vec<String>,
    local: Option<String>,
}

/// Connects (from `source` when given), reads the greeting, EHLO, STARTTLS, EHLO again (when
/// `tls`). On failure returns where it stopped and the transcript.
async fn open(
    addr: SocketAddr,
    source: Option<IpAddr>,
    timeouts: Timeouts,
    tls: Option<&str>,
) -> Result<SmtpClient, Opening> {
    let fail = |step: &str, outcome: Step| SetupFailure {
        step: step.to_string(),
        outcome,
    };
    let connected = match source {
        Some(ip) => SmtpClient::connect_from(ip, addr, timeouts).await,
        None => SmtpClient::connect(addr, timeouts).await,
    };
    let mut c = match connected {
        Ok(c) => c,
        Err(e) => {
            let step = if matches!(e, SmtpError::Connect(_)) {
                "connect"
            } else {
                "banner"
            };
            return Err(Opening {
                failure: fail(step, Step::from_error(&e)),
                transcript: Vec::new(),
                local: None,
            });
        }
    };
    let stop = |c: SmtpClient, f: SetupFailure| async move {
        let local = c.local_addr().map(|a| a.to_string());
        Err(Opening {
            failure: f,
            transcript: c.quit().await.lines(),
            local,
        })
    };
    if c.banner().code != 220 {
        let f = fail("banner", Step::reply(c.banner()));
        return stop(c, f).await;
    }
    let r = c.ehlo(EHLO_NAME).await;
    if !matches!(&r, Ok(reply) if reply.code == 250) {
        return stop(c, fail("EHLO", Step::from_result(&r))).await;
    }
    let Some(server_name) = tls else {
        return Ok(c);
    };
    if !c.capabilities().is_some_and(|k| k.has("STARTTLS")) {
        let f = fail(
            "STARTTLS",
            Step::error(
                ErrorKind::NotOffered,
                "STARTTLS",
                "EHLO does not offer STARTTLS",
            ),
        );
        return stop(c, f).await;
    }
    if let Err(e) = c.starttls(server_name).await {
        return stop(c, fail("STARTTLS", Step::from_error(&e))).await;
    }
    let r = c.ehlo(EHLO_NAME).await;
    if !matches!(&r, Ok(reply) if reply.code == 250) {
        return stop(c, fail("EHLO after STARTTLS", Step::from_result(&r))).await;
    }
    Ok(c)
}

/// What became of one test message: the final reply to DATA, or the step that stopped it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct Sent {
    pub addr: String,
    /// This end of the connection (`ip:port`), as the server logs the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<String>,
    /// The reply to the end of DATA.
    pub reply: Option<Step>,
    /// Where the session stopped before DATA was answered.
    pub failure: Option<SetupFailure>,
    pub transcript: Vec<String>,
}

/// Sends `message` from `sender` to `recipient`: plain on the MX port (`auth` = `None`, as
/// another server delivers), or after STARTTLS and AUTH PLAIN. The opening is the same as
/// every other session's: no EHLO after a greeting that is not 220.
pub async fn send_message(
    dial: &Dial,
    auth: Option<(&Account, &Secret)>,
    sender: &str,
    recipient: &str,
    message: &[u8],
) -> Sent {
    let mut sent = Sent::default();
    let fail = |step: &str, outcome: Step| SetupFailure {
        step: step.to_string(),
        outcome,
    };
    let Some(addr) = dial.addr else {
        sent.addr = dial.label.clone();
        sent.failure = Some(fail(
            "connect",
            Step::error(ErrorKind::Unreachable, "connect", "the host has no address"),
        ));
        return sent;
    };
    sent.addr = addr.to_string();
    let tls = auth.map(|_| dial.server_name.as_str());
    let mut c = match open(addr, None, dial.timeouts, tls).await {
        Ok(c) => c,
        Err(o) => {
            sent.failure = Some(o.failure);
            sent.transcript = o.transcript;
            sent.local = o.local;
            return sent;
        }
    };
    sent.local = c.local_addr().map(|a| a.to_string());
    let outcome = transaction(&mut c, auth, sender, recipient, message).await;
    match outcome {
        Ok(reply) => sent.reply = Some(reply),
        Err(f) => sent.failure = Some(f),
    }
    sent.transcript = c.quit().await.lines();
    sent
}

async fn transaction(
    c: &mut SmtpClient,
    auth: Option<(&Account, &Secret)>,
    sender: &str,
    recipient: &str,
    message: &[u8],
) -> Result<Step, SetupFailure> {
    let fail = |step: &str, outcome: Step| SetupFailure {
        step: step.to_string(),
        outcome,
    };
    if let Some((account, password)) = auth {
        let r = c
            .auth(AuthMechanism::Plain, &account.address, password)
            .await;
        if !matches!(&r, Ok(reply) if reply.code == 235) {
            return Err(fail("AUTH PLAIN", Step::from_result(&r)));
        }
    }
    let r = c
        .command(&Command::MailFrom {
            address: sender.to_string(),
            params: Vec::new(),
        })
        .await;
    if !matches!(&r, Ok(reply) if reply.is_positive()) {
        return Err(fail(
            &format!("MAIL FROM:<{sender}>"),
            Step::from_result(&r),
        ));
    }
    let r = c.command(&Command::RcptTo(recipient.to_string())).await;
    if !matches!(&r, Ok(reply) if reply.is_positive()) {
        return Err(fail(
            &format!("RCPT TO:<{recipient}>"),
            Step::from_result(&r),
        ));
    }
    match c.data(message).await {
        Ok(reply) => Ok(Step::reply(&reply)),
        Err(e) => Err(fail("DATA", Step::from_error(&e))),
    }
}

/// A password that is certainly wrong: random, and different from the real one.
fn wrong_password(real: Option<&Secret>) -> Secret {
    use std::hash::{BuildHasher, Hasher};
    loop {
        let mut text = String::from("mc-wrong-");
        for i in 0..2u8 {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u8(i);
            h.write_u32(std::process::id());
            text.push_str(&format!("{:016x}", h.finish()));
        }
        if real.is_none_or(|r| r.expose() != text) {
            return Secret::new(text);
        }
    }
}

/// The short submission session for `purpose`; `None` when it needs the account's password
/// and there is none.
pub async fn login_session(
    dial: &Dial,
    account: &Account,
    purpose: Purpose,
) -> Option<LoginSession> {
    let (mechanism, password) = match purpose {
        Purpose::PlainAndRelay => (Some(AuthMechanism::Plain), account.password.clone()?),
        Purpose::Login => (Some(AuthMechanism::Login), account.password.clone()?),
        Purpose::WrongPassword => (
            Some(AuthMechanism::Plain),
            wrong_password(account.password.as_ref()),
        ),
        Purpose::Unauthenticated => (None, Secret::new(String::new())),
        Purpose::Size(_) => (Some(AuthMechanism::Plain), account.password.clone()?),
    };
    let port = dial.addr.map(|a| a.port()).unwrap_or_default();
    let mut s = LoginSession {
        port,
        user: account.address.clone(),
        mechanism: mechanism.map(|m| m.name().to_string()),
        wrong_password: purpose == Purpose::WrongPassword,
        sender: account.address.clone(),
        ..LoginSession::default()
    };
    let Some(addr) = dial.addr else {
        s.addr = dial.label.clone();
        s.setup_failure = Some(SetupFailure {
            step: "connect".into(),
            outcome: Step::error(ErrorKind::Unreachable, "connect", "the host has no address"),
        });
        return Some(s);
    };
    s.addr = addr.to_string();
    let mut c = match open(addr, None, dial.timeouts, Some(&dial.server_name)).await {
        Ok(c) => c,
        Err(o) => {
            s.setup_failure = Some(o.failure);
            s.transcript = o.transcript;
            s.local = o.local;
            return Some(s);
        }
    };
    s.local = c.local_addr().map(|a| a.to_string());
    s.mechanisms = c
        .capabilities()
        .map(Capabilities::auth_mechanisms)
        .unwrap_or_default();
    s.converse(&mut c, mechanism, &password, purpose, account)
        .await;
    s.transcript = c.quit().await.lines();
    Some(s)
}

impl LoginSession {
    async fn converse(
        &mut self,
        c: &mut SmtpClient,
        mechanism: Option<AuthMechanism>,
        password: &Secret,
        purpose: Purpose,
        account: &Account,
    ) {
        if let Some(m) = mechanism {
            let r = c.auth(m, &account.address, password).await;
            let ok = matches!(&r, Ok(reply) if reply.code == 235);
            self.auth = Some(Step::from_result(&r));
            if let (true, Purpose::Size(limit)) = (ok, purpose) {
                self.size_limit = limit;
                let at = vec![format!("SIZE={limit}")];
                let (step, usable) = mail_then_rset(c, &account.address, &at).await;
                self.size_at_limit = Some(step);
                if usable {
                    let over = vec![format!("SIZE={}", limit.saturating_add(1))];
                    self.size_over_limit = Some(mail_then_rset(c, &account.address, &over).await.0);
                }
                return;
            }
            if !ok || purpose != Purpose::PlainAndRelay {
                return;
            }
        }
        let r = c
            .command(&Command::MailFrom {
                address: account.address.clone(),
                params: Vec::new(),
            })
            .await;
        let opened = matches!(&r, Ok(reply) if reply.is_positive());
        self.mail = Some(Step::from_result(&r));
        if !opened {
            return;
        }
        let r = c.command(&Command::RcptTo(account.address.clone())).await;
        self.rcpt_local = Some(Step::from_result(&r));
        if r.is_err() {
            return;
        }
        if purpose == Purpose::PlainAndRelay {
            self.foreign_recipient = RELAY_RECIPIENT.to_string();
            let r = c
                .command(&Command::RcptTo(RELAY_RECIPIENT.to_string()))
                .await;
            self.rcpt_foreign = Some(Step::from_result(&r));
            if r.is_err() {
                return;
            }
        }
        // Never DATA: end the transaction.
        let _ = c.command(&Command::Rset).await;
    }
}

/// What the relay probe needs to know: where the server is and, on the server itself,
/// mynetworks as Postfix uses it and this machine's addresses.
#[derive(Debug, Clone)]
pub struct RelaySetup {
    pub dial: Dial,
    /// `Some` when mailcheck runs on the server: the effective mynetworks, or why it could not
    /// be read.
    pub mynetworks: Option<Result<String, crate::probe::ProbeError>>,
    pub local_addresses: Vec<IpAddr>,
    /// Not on the server: the server's mynetworks, when mailcheck learned it over SSH; the
    /// probe then comes from this machine's route to the server, checked against it.
    pub server_mynetworks: Option<String>,
    /// STARTTLS (with this SNI name) before MAIL: the submission port requires it.
    pub starttls: Option<String>,
}

/// The unauthenticated relay probe on the MX port, from a source outside mynetworks when
/// mailcheck runs on the server.
pub async fn relay_probe(setup: &RelaySetup) -> RelayProbe {
    let port = setup.dial.addr.map(|a| a.port()).unwrap_or_default();
    let mut p = RelayProbe {
        local: setup.mynetworks.is_some(),
        sender: RELAY_SENDER.to_string(),
        recipient: RELAY_RECIPIENT.to_string(),
        ..RelayProbe::default()
    };
    // Where to connect, and from where.
    let mut routes: Vec<(SocketAddr, Option<IpAddr>)> = Vec::new();
    if let Some(mynetworks) = &setup.mynetworks {
        let value = match mynetworks {
            Ok(v) => v.clone(),
            Err(e) => {
                p.mynetworks_problem = Some(e.to_string());
                return p;
            }
        };
        let nets = Mynetworks::parse(&value);
        p.mynetworks = Some(value);
        p.unknown_entries = nets.unknown.clone();
        for ip in setup.local_addresses.iter().copied() {
            p.candidates.push(SourceCandidate {
                address: ip.to_string(),
                inside: nets.matching(ip).map(|n| n.text.clone()),
                connect_problem: None,
            });
        }
        // Outside mynetworks first; then inside an entry that holds every address (any
        // client on the Internet is treated the same, so the probe still proves something).
        let everything = |text: &str| {
            nets.networks
                .iter()
                .any(|n| n.text == text && n.is_everything())
        };
        let n = p.candidates.len();
        let mut order: Vec<usize> = (0..n)
            .filter(|&i| p.candidates[i].inside.is_none())
            .collect();
        order.extend((0..n).filter(|&i| p.candidates[i].inside.as_deref().is_some_and(everything)));
        for i in order.into_iter().take(MAX_SOURCES) {
            if let Ok(ip) = p.candidates[i].address.parse::<IpAddr>() {
                // Postfix listens on the machine's addresses; connecting to the source itself
                // always reaches this machine.
                routes.push((SocketAddr::new(ip, port), Some(ip)));
            }
        }
        if routes.is_empty() {
            p.no_probe = Some(format!(
                "every address of this machine is inside mynetworks ({}): a relay probe from here proves nothing; run mailcheck from another machine",
                p.mynetworks.clone().unwrap_or_default()
            ));
            return p;
        }
    } else {
        let Some(a) = setup.dial.addr else {
            p.no_probe = Some("the host has no address".into());
            return p;
        };
        p.peer_loopback = a.ip().is_loopback();
        let source = setup
            .server_mynetworks
            .as_ref()
            .and_then(|m| crate::net::route_source(a).map(|ip| (m, ip)));
        match source {
            Some((value, ip)) => {
                let nets = Mynetworks::parse(value);
                let inside = nets.matching(ip).cloned();
                p.mynetworks_from_server = true;
                p.mynetworks = Some(value.clone());
                p.unknown_entries = nets.unknown.clone();
                p.candidates.push(SourceCandidate {
                    address: ip.to_string(),
                    inside: inside.as_ref().map(|n| n.text.clone()),
                    connect_problem: None,
                });
                if let Some(n) = inside.filter(|n| !n.is_everything()) {
                    p.no_probe = Some(format!(
                        "this machine's address {ip} is inside the server's mynetworks (entry {}): a relay probe from here proves nothing",
                        n.text
                    ));
                    return p;
                }
                routes.push((a, Some(ip)));
            }
            None => routes.push((a, None)),
        }
    }
    let mut client = None;
    for (addr, source) in routes {
        p.addr = addr.to_string();
        match open(addr, source, setup.dial.timeouts, setup.starttls.as_deref()).await {
            Ok(c) => {
                p.source = source.map(|s| s.to_string());
                client = Some(c);
                break;
            }
            Err(o)
                if source.is_some()
                    && matches!(
                        o.failure.outcome.error_kind(),
                        Some(ErrorKind::Refused | ErrorKind::Unreachable)
                    ) =>
            {
                let text = source.map(|s| s.to_string()).unwrap_or_default();
                if let Some(c) = p.candidates.iter_mut().find(|c| c.address == text) {
                    c.connect_problem = Some(o.failure.describe());
                }
                p.transcript = o.transcript;
            }
            Err(o) => {
                p.source = source.map(|s| s.to_string());
                p.setup_failure = Some(o.failure);
                p.transcript = o.transcript;
                return p;
            }
        }
    }
    let Some(mut c) = client else {
        let tried: Vec<String> = p
            .candidates
            .iter()
            .filter_map(|c| {
                c.connect_problem
                    .as_ref()
                    .map(|why| format!("{} ({why})", c.address))
            })
            .collect();
        p.no_probe = Some(format!(
            "no address of this machine outside mynetworks reaches Postfix on port {port}: {}; run mailcheck from another machine",
            tried.join(", ")
        ));
        return p;
    };
    p.source_inside = p.source.as_ref().and_then(|s| {
        p.candidates
            .iter()
            .find(|c| c.address == *s)
            .and_then(|c| c.inside.clone())
    });
    let r = c
        .command(&Command::MailFrom {
            address: RELAY_SENDER.to_string(),
            params: Vec::new(),
        })
        .await;
    let opened = matches!(&r, Ok(reply) if reply.is_positive());
    p.mail = Some(Step::from_result(&r));
    if opened {
        let r = c
            .command(&Command::RcptTo(RELAY_RECIPIENT.to_string()))
            .await;
        p.rcpt = Some(Step::from_result(&r));
        if r.is_ok() {
            // Never DATA, even when RCPT was accepted.
            let _ = c.command(&Command::Rset).await;
        }
    }
    p.transcript = c.quit().await.lines();
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_passwords_are_random_and_never_the_real_one() {
        let a = wrong_password(None);
        let b = wrong_password(Some(&a));
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().len() > 30);
    }

    #[test]
    fn steps_describe_replies_and_errors() {
        let s = Step::Reply {
            code: 552,
            lines: vec!["5.3.4 Message size exceeds fixed limit".into()],
        };
        assert_eq!(s.describe(), "552 5.3.4 Message size exceeds fixed limit");
        assert!(s.is_permanent());
        let e = SmtpError::Timeout {
            phase: crate::probe::smtp::Phase::Banner,
            after: std::time::Duration::from_secs(10),
        };
        let s = Step::from_error(&e);
        assert_eq!(s.error_kind(), Some(ErrorKind::Timeout));
        assert_eq!(s.describe(), "no banner after 10 s");
    }

    #[test]
    fn steps_round_trip_through_toml() {
        let s = PortSession {
            banner: Step::Reply {
                code: 220,
                lines: vec!["mx.example ESMTP".into()],
            },
            ehlo: Some(Step::error(ErrorKind::Closed, "EHLO", "closed")),
            ..PortSession::default()
        };
        let text = toml::to_string(&s).unwrap();
        let back: PortSession = toml::from_str(&text).unwrap();
        assert_eq!(back, s);
    }
}
