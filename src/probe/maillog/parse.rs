//! One line of a mail log, parsed: the syslog header (RFC 3164 / postlog, RFC 3339, journalctl
//! short-iso) and what Postfix (smtpd, cleanup, qmgr, delivery agents, master), saslauthd and PAM
//! say in it (Postfix's own message formats, as 3.7 writes them).

use serde::{Deserialize, Serialize};

/// When a line was logged, as written. Syslog and postlog timestamps have no year and no zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LogTime {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<u16>,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub micros: Option<u32>,
    /// Offset from UTC in minutes (`Z` is 0), when the format carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utc_offset_minutes: Option<i16>,
}

/// How bad Postfix says a line is (msg(3): the `warning:` ... prefixes; no prefix is info).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Fatal,
    Panic,
}

impl Severity {
    /// Warning or worse.
    pub fn is_problem(self) -> bool {
        self >= Severity::Warning
    }
}

/// A client as Postfix logs it: `name[addr]`, or `name[addr]:port` with
/// `smtpd_client_port_logging = yes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub name: String,
    pub addr: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// The `status=` of a delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Sent,
    Bounced,
    Deferred,
    Expired,
    Other(String),
}

/// How master(8) says a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildEnd {
    ExitStatus(i32),
    Signal(i32),
}

/// What a line says, for the kinds of line mailcheck reasons about. Everything else is `Other`
/// (its text is still in [`LogLine::text`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// smtpd: `connect from NAME[ADDR]`.
    Connect {
        client: Client,
    },
    /// smtpd: `disconnect from NAME[ADDR] ehlo=1 ... commands=5`.
    Disconnect {
        client: Client,
        stats: String,
    },
    /// smtpd: `lost connection after STARTTLS from NAME[ADDR]` (also `timeout after ...`).
    LostConnection {
        client: Client,
        after: String,
        timeout: bool,
    },
    /// smtpd: `QUEUEID: client=NAME[ADDR], sasl_method=PLAIN, sasl_username=...`.
    QueuedFrom {
        client: Client,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sasl_method: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sasl_username: Option<String>,
    },
    /// pickup: `QUEUEID: uid=0 from=<...>`.
    Pickup {
        uid: String,
        from: String,
    },
    /// cleanup: `QUEUEID: message-id=<...>`.
    MessageId {
        message_id: String,
    },
    /// qmgr: `QUEUEID: from=<...>, size=428, nrcpt=1 (queue active)`.
    QueueActive {
        from: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nrcpt: Option<u32>,
    },
    /// A delivery agent (virtual, smtp, local, ...): `QUEUEID: to=<...>, relay=..., status=sent (...)`.
    Delivery {
        to: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        orig_to: Option<String>,
        relay: String,
        dsn: String,
        status: DeliveryStatus,
        /// The text in parentheses after the status.
        detail: String,
    },
    /// qmgr: `QUEUEID: from=<...>, status=expired, returned to sender`.
    Expired {
        from: String,
    },
    /// qmgr: `QUEUEID: removed`.
    Removed,
    /// bounce: `QUEUEID: sender non-delivery notification: NEWQUEUEID`.
    Notification {
        notice: String,
        queue_id: String,
    },
    /// smtpd/cleanup: `NOQUEUE: reject: RCPT from NAME[ADDR]: 550 5.1.1 ...; from=<> to=<> ...`
    /// or cleanup's `QUEUEID: reject: header ...`. `action` is `reject`, `discard`, `hold`, ...
    Reject {
        action: String,
        /// `RCPT`, `MAIL`, `header`, `body`, ...
        stage: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<Client>,
        /// The reply or reason, e.g. `554 5.7.1 <...>: Relay access denied`.
        reply: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        helo: Option<String>,
    },
    /// smtpd: `warning: NAME[ADDR]: SASL PLAIN authentication failed: REASON, sasl_username=USER`.
    SaslAuthFailed {
        client: Client,
        mechanism: String,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sasl_username: Option<String>,
    },
    /// The Cyrus SASL library in smtpd: `warning: SASL authentication failure: REASON`.
    SaslLibrary {
        reason: String,
    },
    /// smtpd/tlsmgr TLS trouble: key, certificate or library problems.
    Tls {
        detail: String,
        /// The key or certificate file named, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<String>,
    },
    /// `warning: connect to mysql server HOST: DETAIL` (also pgsql, ldap).
    DatabaseConnect {
        kind: String,
        server: String,
        detail: String,
    },
    /// A table lookup that failed: `TYPE:NAME lookup error for "KEY"`, `...: table lookup
    /// problem`, `TYPE:NAME: query failed: ...`, `PARAM lookup failure`, `map lookup problem`.
    LookupError {
        /// `mysql:/etc/postfix/x.cf`, or the parameter (`virtual_alias_domains`) when that is all
        /// the line names.
        table: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        detail: String,
    },
    /// master: `warning: process /usr/lib/postfix/sbin/smtpd pid 123 exit status 1`.
    ChildExit {
        command: String,
        pid: u32,
        end: ChildEnd,
    },
    /// master: `warning: /usr/lib/postfix/sbin/smtpd: bad command startup -- throttling`.
    Throttling {
        command: String,
    },
    /// master: `daemon started -- version 3.7.11, ...`, `reload -- version ...`,
    /// `terminating on signal 15`.
    MasterState {
        state: String,
    },
    /// saslauthd: `auth failure: [user=...] [service=smtp] [realm=...] [mech=pam] [reason=...]`.
    SaslauthdFailure {
        user: String,
        service: String,
        realm: String,
        mech: String,
        reason: String,
    },
    /// A PAM module's line, e.g. `pam_mysql - MySQL error (...)` or
    /// `pam_unix(smtp:auth): authentication failure; ...`.
    Pam {
        module: String,
        detail: String,
    },
    Other,
}

/// One parsed log line. Every text is an owned `String`, so a caller can redact all of it with
/// [`LogLine::map_text`] (a password typed as a user name ends up in `sasl_username=`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Index of the source in [`super::Window::reads`] the line came from.
    pub source: usize,
    /// The line as read (lossy UTF-8, cut at the line cap).
    pub raw: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<LogTime>,
    pub host: String,
    /// The syslog tag without the pid: `postfix/smtpd`, `postfix/submission/smtpd`, `saslauthd`.
    /// Empty when the line has no recognisable header.
    pub program: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    pub severity: Severity,
    /// A Postfix queue id (short hex or long form); never `NOQUEUE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
    /// The message after the tag, the severity and the queue id.
    pub text: String,
    pub event: Event,
}

/// The Postfix daemons whose names identify a Postfix line even under a custom `syslog_name`.
const POSTFIX_DAEMONS: &[&str] = &[
    "anvil",
    "bounce",
    "cleanup",
    "discard",
    "dnsblog",
    "error",
    "flush",
    "lmtp",
    "local",
    "master",
    "oqmgr",
    "pickup",
    "pipe",
    "postdrop",
    "postfix-script",
    "postlogd",
    "postmap",
    "postqueue",
    "postscreen",
    "postsuper",
    "proxymap",
    "qmgr",
    "qmqpd",
    "scache",
    "sendmail",
    "showq",
    "smtp",
    "smtpd",
    "spawn",
    "tlsmgr",
    "tlsproxy",
    "trivial-rewrite",
    "verify",
    "virtual",
];

impl LogLine {
    /// The daemon: the last part of the tag (`smtpd` for `postfix/submission/smtpd`).
    pub fn daemon(&self) -> &str {
        self.program.rsplit('/').next().unwrap_or("")
    }

    /// The `syslog_name` part of the tag (`postfix/submission` for `postfix/submission/smtpd`).
    pub fn syslog_name(&self) -> &str {
        self.program.rsplit_once('/').map_or("", |(a, _)| a)
    }

    /// A line Postfix wrote: the tag is `<syslog_name>/<daemon>` with `syslog_name` starting with
    /// `postfix` (the default and Debian's multi-instance names), or with a Postfix daemon's name.
    pub fn is_postfix(&self) -> bool {
        match self.program.rsplit_once('/') {
            Some((name, daemon)) => {
                name.starts_with("postfix") || POSTFIX_DAEMONS.contains(&daemon)
            }
            None => false,
        }
    }

    /// A line of saslauthd or of a PAM module.
    pub fn is_auth(&self) -> bool {
        self.daemon().starts_with("saslauthd")
            || matches!(
                self.event,
                Event::SaslauthdFailure { .. } | Event::Pam { .. }
            )
    }

    /// Applies `f` to every text of the line (for redaction).
    pub fn map_text(&mut self, f: &impl Fn(&str) -> String) {
        let m = |s: &mut String| *s = f(s);
        let mo = |s: &mut Option<String>| {
            if let Some(s) = s {
                *s = f(s);
            }
        };
        let mc = |c: &mut Client| {
            c.name = f(&c.name);
            c.addr = f(&c.addr);
        };
        m(&mut self.raw);
        m(&mut self.host);
        m(&mut self.program);
        mo(&mut self.queue_id);
        m(&mut self.text);
        match &mut self.event {
            Event::Connect { client } => mc(client),
            Event::Disconnect { client, stats } => {
                mc(client);
                m(stats);
            }
            Event::LostConnection { client, after, .. } => {
                mc(client);
                m(after);
            }
            Event::QueuedFrom {
                client,
                sasl_method,
                sasl_username,
            } => {
                mc(client);
                mo(sasl_method);
                mo(sasl_username);
            }
            Event::Pickup { uid, from } => {
                m(uid);
                m(from);
            }
            Event::MessageId { message_id } => m(message_id),
            Event::QueueActive { from, .. } | Event::Expired { from } => m(from),
            Event::Delivery {
                to,
                orig_to,
                relay,
                dsn,
                status,
                detail,
            } => {
                m(to);
                mo(orig_to);
                m(relay);
                m(dsn);
                if let DeliveryStatus::Other(s) = status {
                    m(s);
                }
                m(detail);
            }
            Event::Removed | Event::Other => {}
            Event::Notification { notice, queue_id } => {
                m(notice);
                m(queue_id);
            }
            Event::Reject {
                action,
                stage,
                client,
                reply,
                from,
                to,
                helo,
            } => {
                m(action);
                m(stage);
                if let Some(c) = client {
                    mc(c);
                }
                m(reply);
                mo(from);
                mo(to);
                mo(helo);
            }
            Event::SaslAuthFailed {
                client,
                mechanism,
                reason,
                sasl_username,
            } => {
                mc(client);
                m(mechanism);
                m(reason);
                mo(sasl_username);
            }
            Event::SaslLibrary { reason } => m(reason),
            Event::Tls { detail, file } => {
                m(detail);
                mo(file);
            }
            Event::DatabaseConnect {
                kind,
                server,
                detail,
            } => {
                m(kind);
                m(server);
                m(detail);
            }
            Event::LookupError { table, key, detail } => {
                m(table);
                mo(key);
                m(detail);
            }
            Event::ChildExit { command, .. } | Event::Throttling { command } => m(command),
            Event::MasterState { state } => m(state),
            Event::SaslauthdFailure {
                user,
                service,
                realm,
                mech,
                reason,
            } => {
                m(user);
                m(service);
                m(realm);
                m(mech);
                m(reason);
            }
            Event::Pam { module, detail } => {
                m(module);
                m(detail);
            }
        }
    }
}

/// Parses one line (without its newline) read from source `source`.
pub fn parse_line(source: usize, raw: &str) -> LogLine {
    let mut line = LogLine {
        source,
        raw: raw.to_string(),
        time: None,
        host: String::new(),
        program: String::new(),
        pid: None,
        severity: Severity::Info,
        queue_id: None,
        text: raw.to_string(),
        event: Event::Other,
    };
    let Some((time, rest)) = parse_time(raw) else {
        return line;
    };
    let Some((host, rest)) = rest.split_once(' ') else {
        return line;
    };
    let Some((program, pid, message)) = parse_tag(rest) else {
        return line;
    };
    line.time = Some(time);
    line.host = host.to_string();
    line.program = program.to_string();
    line.pid = pid;
    let (severity, message) = parse_severity(message);
    line.severity = severity;
    let (queue_id, text) = split_queue_id(message);
    line.queue_id = queue_id.map(str::to_string);
    line.text = text.to_string();
    let postfix = line.is_postfix();
    line.event = parse_event(line.daemon(), postfix, queue_id.is_some(), text, message);
    line
}

/// `Mmm dd hh:mm:ss ` (postlog writes `Dec 01`, syslog `Dec  1`) or an RFC 3339 / ISO 8601
/// timestamp (`2026-12-01T23:16:00.123456+01:00`, journalctl's `+0100`). Returns the rest after
/// the space that ends the timestamp.
fn parse_time(s: &str) -> Option<(LogTime, &str)> {
    let b = s.as_bytes();
    if b.len() >= 11 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' {
        return parse_iso(s);
    }
    let month = month_number(s.get(..3)?)?;
    let rest = s.get(3..)?.strip_prefix(' ')?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let (day, rest) = rest.split_once(' ')?;
    let day = small_number(day, 1, 2)?;
    let (hms, rest) = rest.split_once(' ')?;
    let (hour, minute, second, micros) = parse_hms(hms)?;
    let rest = rest.trim_start_matches(' ');
    Some((
        LogTime {
            year: None,
            month: u8::try_from(month).ok()?,
            day: u8::try_from(day).ok()?,
            hour,
            minute,
            second,
            micros,
            utc_offset_minutes: None,
        },
        rest,
    ))
}

fn parse_iso(s: &str) -> Option<(LogTime, &str)> {
    let (stamp, rest) = s.split_once(' ')?;
    let year = small_number(stamp.get(..4)?, 4, 4)?;
    let month = small_number(stamp.get(5..7)?, 2, 2)?;
    if stamp.get(7..8)? != "-" {
        return None;
    }
    let day = small_number(stamp.get(8..10)?, 2, 2)?;
    let sep = stamp.get(10..11)?;
    if sep != "T" && sep != " " {
        return None;
    }
    let clock = stamp.get(11..)?;
    // The zone starts at the first `Z`, `+` or `-` after the time.
    let zone_at = clock.find(['Z', '+', '-']).unwrap_or(clock.len());
    let (hms, zone) = clock.split_at(zone_at);
    let (hour, minute, second, micros) = parse_hms(hms)?;
    let utc_offset_minutes = parse_zone(zone)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some((
        LogTime {
            year: Some(u16::try_from(year).ok()?),
            month: u8::try_from(month).ok()?,
            day: u8::try_from(day).ok()?,
            hour,
            minute,
            second,
            micros,
            utc_offset_minutes,
        },
        rest.trim_start_matches(' '),
    ))
}

/// `Z`, `+01:00`, `+0100`, or nothing.
fn parse_zone(zone: &str) -> Option<Option<i16>> {
    if zone.is_empty() {
        return Some(None);
    }
    if zone == "Z" {
        return Some(Some(0));
    }
    let sign: i16 = if zone.starts_with('-') { -1 } else { 1 };
    let digits: String = zone.get(1..)?.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 {
        return None;
    }
    let h = i16::try_from(small_number(digits.get(..2)?, 2, 2)?).ok()?;
    let m = i16::try_from(small_number(digits.get(2..)?, 2, 2)?).ok()?;
    Some(Some(sign * (h * 60 + m)))
}

/// `hh:mm:ss` with an optional `.fraction` (kept to microseconds).
fn parse_hms(s: &str) -> Option<(u8, u8, u8, Option<u32>)> {
    let (hms, frac) = match s.split_once('.') {
        Some((a, f)) => (a, Some(f)),
        None => (s, None),
    };
    let mut it = hms.split(':');
    let h = small_number(it.next()?, 2, 2)?;
    let m = small_number(it.next()?, 2, 2)?;
    let sec = small_number(it.next()?, 2, 2)?;
    if it.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let micros = match frac {
        None => None,
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|c| c.is_ascii_digit()) => {
            let six: String = f.chars().chain(std::iter::repeat('0')).take(6).collect();
            Some(six.parse().ok()?)
        }
        Some(_) => return None,
    };
    Some((
        u8::try_from(h).ok()?,
        u8::try_from(m).ok()?,
        u8::try_from(sec).ok()?,
        micros,
    ))
}

/// A decimal number of `min..=max` digits.
fn small_number(s: &str, min: usize, max: usize) -> Option<u32> {
    if s.len() < min || s.len() > max || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn month_number(s: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS
        .iter()
        .position(|m| *m == s)
        .and_then(|i| u32::try_from(i + 1).ok())
}

/// `program[pid]: message` or `program: message`.
fn parse_tag(s: &str) -> Option<(&str, Option<u32>, &str)> {
    let end = s.find([':', '[', ' '])?;
    let program = s.get(..end)?;
    if program.is_empty() {
        return None;
    }
    let rest = s.get(end..)?;
    if let Some(after) = rest.strip_prefix('[') {
        let (pid, after) = after.split_once(']')?;
        let pid = pid.parse().ok()?;
        let message = after.strip_prefix(':')?;
        return Some((
            program,
            Some(pid),
            message.strip_prefix(' ').unwrap_or(message),
        ));
    }
    let message = rest.strip_prefix(':')?;
    Some((program, None, message.strip_prefix(' ').unwrap_or(message)))
}

fn parse_severity(s: &str) -> (Severity, &str) {
    for (prefix, sev) in [
        ("warning: ", Severity::Warning),
        ("error: ", Severity::Error),
        ("fatal: ", Severity::Fatal),
        ("panic: ", Severity::Panic),
    ] {
        if let Some(rest) = s.strip_prefix(prefix) {
            return (sev, rest);
        }
    }
    (Severity::Info, s)
}

/// Splits a leading `QUEUEID: ` off; `NOQUEUE: ` is removed but gives no id.
fn split_queue_id(s: &str) -> (Option<&str>, &str) {
    if let Some(rest) = s.strip_prefix("NOQUEUE: ") {
        return (None, rest);
    }
    match s.split_once(": ") {
        Some((id, rest)) if is_queue_id(id) => (Some(id), rest),
        _ => (None, s),
    }
}

/// A Postfix queue id: short (upper-case hex, 6 or more digits) or long (`enable_long_queue_ids`:
/// seconds and microseconds in base 52, `z`, the inode in base 51; the alphabet has no vowels).
pub fn is_queue_id(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 6 || b.len() > 32 {
        return false;
    }
    if b.iter()
        .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c))
    {
        return true;
    }
    b.len() >= 12
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() && !b"AEIOUaeiou".contains(c))
        && b.get(10..).is_some_and(|t| t.contains(&b'z'))
        && b.iter().any(u8::is_ascii_digit)
}

fn parse_event(
    daemon: &str,
    postfix: bool,
    has_queue_id: bool,
    text: &str,
    message: &str,
) -> Event {
    if !postfix {
        return parse_saslauthd(message)
            .or_else(|| parse_pam(message))
            .unwrap_or(Event::Other);
    }
    if let Some(e) = parse_client_event(text) {
        return e;
    }
    if has_queue_id && let Some(e) = parse_queue_event(text) {
        return e;
    }
    if let Some(e) = parse_reject(text) {
        return e;
    }
    if daemon == "master"
        && let Some(e) = parse_master(text)
    {
        return e;
    }
    if let Some(e) = parse_sasl(text) {
        return e;
    }
    if let Some(e) = parse_lookup(text) {
        return e;
    }
    parse_tls(text).unwrap_or(Event::Other)
}

/// `NAME[ADDR]` or `NAME[ADDR]:PORT`, and what follows it.
pub fn parse_client(s: &str) -> Option<(Client, &str)> {
    let open = s.find('[')?;
    let name = s.get(..open)?;
    if name.contains(' ') {
        return None;
    }
    let after = s.get(open + 1..)?;
    let close = after.find(']')?;
    let addr = after.get(..close)?;
    let mut rest = after.get(close + 1..)?;
    let mut port = None;
    if let Some(p) = rest.strip_prefix(':') {
        let digits = p.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            port = p.get(..digits).and_then(|d| d.parse().ok());
            rest = p.get(digits..).unwrap_or("");
        }
    }
    Some((
        Client {
            name: name.to_string(),
            addr: addr.to_string(),
            port,
        },
        rest,
    ))
}

fn parse_client_event(text: &str) -> Option<Event> {
    if let Some(rest) = text.strip_prefix("connect from ") {
        let (client, _) = parse_client(rest)?;
        return Some(Event::Connect { client });
    }
    if let Some(rest) = text.strip_prefix("disconnect from ") {
        let (client, stats) = parse_client(rest)?;
        return Some(Event::Disconnect {
            client,
            stats: stats.trim().to_string(),
        });
    }
    for (prefix, timeout) in [("lost connection after ", false), ("timeout after ", true)] {
        if let Some(rest) = text.strip_prefix(prefix) {
            let (after, from) = rest.split_once(" from ")?;
            let (client, _) = parse_client(from)?;
            return Some(Event::LostConnection {
                client,
                after: after.to_string(),
                timeout,
            });
        }
    }
    if let Some(rest) = text.strip_prefix("client=") {
        let (client, rest) = parse_client(rest)?;
        return Some(Event::QueuedFrom {
            client,
            sasl_method: field(rest, "sasl_method=").map(str::to_string),
            sasl_username: field(rest, "sasl_username=").map(str::to_string),
        });
    }
    None
}

/// The value of `name` in `name=value, other=...` (up to the next `, ` or the end).
fn field<'a>(s: &'a str, name: &str) -> Option<&'a str> {
    let start = find_field(s, name)?;
    let v = s.get(start + name.len()..)?;
    Some(v.split(", ").next().unwrap_or(v))
}

/// Where `name` starts in `s` at a field boundary (start, or after a space or comma).
fn find_field(s: &str, name: &str) -> Option<usize> {
    let mut from = 0;
    for _ in 0..64 {
        let i = from + s.get(from..)?.find(name)?;
        if i == 0 || matches!(s.as_bytes().get(i - 1), Some(b' ' | b',')) {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

/// `<addr>` (angle brackets removed) in `name=<addr>`.
fn bracketed<'a>(s: &'a str, name: &str) -> Option<&'a str> {
    let start = find_field(s, name)?;
    let v = s.get(start + name.len()..)?.strip_prefix('<')?;
    Some(v.split_once('>').map_or(v, |(a, _)| a))
}

fn parse_queue_event(text: &str) -> Option<Event> {
    if text == "removed" {
        return Some(Event::Removed);
    }
    if let Some(rest) = text.strip_prefix("message-id=") {
        let id = rest.trim();
        let id = id.strip_prefix('<').unwrap_or(id);
        let id = id.strip_suffix('>').unwrap_or(id);
        return Some(Event::MessageId {
            message_id: id.to_string(),
        });
    }
    if let Some(rest) = text.strip_prefix("uid=") {
        let (uid, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        return Some(Event::Pickup {
            uid: uid.to_string(),
            from: bracketed(rest, "from=").unwrap_or("").to_string(),
        });
    }
    if text.starts_with("to=") {
        let to = bracketed(text, "to=")?.to_string();
        let status_at = find_field(text, "status=")?;
        let status_text = text.get(status_at + "status=".len()..)?;
        let (word, detail) = status_text.split_once(' ').unwrap_or((status_text, ""));
        let word = word.trim_end_matches(',');
        let status = match word {
            "sent" => DeliveryStatus::Sent,
            "bounced" => DeliveryStatus::Bounced,
            "deferred" => DeliveryStatus::Deferred,
            "expired" => DeliveryStatus::Expired,
            w => DeliveryStatus::Other(w.to_string()),
        };
        let detail = detail.trim();
        let detail = detail
            .strip_prefix('(')
            .and_then(|d| d.strip_suffix(')'))
            .unwrap_or(detail);
        return Some(Event::Delivery {
            to,
            orig_to: bracketed(text, "orig_to=").map(str::to_string),
            relay: field(text, "relay=").unwrap_or("").to_string(),
            dsn: field(text, "dsn=").unwrap_or("").to_string(),
            status,
            detail: detail.to_string(),
        });
    }
    if text.starts_with("from=") {
        let from = bracketed(text, "from=").unwrap_or("").to_string();
        if text.contains("status=expired") {
            return Some(Event::Expired { from });
        }
        return Some(Event::QueueActive {
            from,
            size: field(text, "size=").and_then(|v| v.parse().ok()),
            nrcpt: field(text, "nrcpt=")
                .and_then(|v| v.split(' ').next())
                .and_then(|v| v.parse().ok()),
        });
    }
    // bounce(8): "sender non-delivery notification: ID", "postmaster delay notification: ID".
    if let Some((notice, id)) = text.rsplit_once(" notification: ")
        && is_queue_id(id.trim())
    {
        return Some(Event::Notification {
            notice: format!("{notice} notification"),
            queue_id: id.trim().to_string(),
        });
    }
    None
}

/// `reject: RCPT from NAME[ADDR]: REPLY; from=<> to=<> proto=ESMTP helo=<>` (smtpd), or
/// cleanup's `reject: header NAME: VALUE from NAME[ADDR]; from=<> to=<> proto=... helo=<...>: REPLY`.
fn parse_reject(text: &str) -> Option<Event> {
    let (action, rest) = text.split_once(": ")?;
    if !matches!(
        action,
        "reject" | "reject_warning" | "discard" | "hold" | "filter" | "redirect"
    ) {
        return None;
    }
    let (stage, rest) = rest.split_once(' ')?;
    if stage.is_empty()
        || !stage
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-')
    {
        return None;
    }
    // smtpd: "STAGE from CLIENT: REPLY; from=<...> ..."
    if let Some(from_client) = rest.strip_prefix("from ") {
        let (client, after) = parse_client(from_client)?;
        let after = after.strip_prefix(": ").unwrap_or(after);
        let (reply, envelope) = after.split_once("; ").unwrap_or((after, ""));
        return Some(Event::Reject {
            action: action.to_string(),
            stage: stage.to_string(),
            client: Some(client),
            reply: reply.to_string(),
            from: bracketed(envelope, "from=").map(str::to_string),
            to: bracketed(envelope, "to=").map(str::to_string),
            helo: bracketed(envelope, "helo=").map(str::to_string),
        });
    }
    // cleanup: "header|body TEXT from CLIENT; from=<...> to=<...> proto=... helo=<...>: REPLY"
    let (head, envelope) = rest.rsplit_once("; ")?;
    let client = head
        .rfind(" from ")
        .and_then(|i| head.get(i + 6..))
        .and_then(parse_client)
        .map(|(c, _)| c);
    let reply = envelope
        .split_once(">: ")
        .map_or("", |(_, r)| r)
        .to_string();
    Some(Event::Reject {
        action: action.to_string(),
        stage: stage.to_string(),
        client,
        reply: if reply.is_empty() {
            head.to_string()
        } else {
            reply
        },
        from: bracketed(envelope, "from=").map(str::to_string),
        to: bracketed(envelope, "to=").map(str::to_string),
        helo: bracketed(envelope, "helo=").map(str::to_string),
    })
}

fn parse_master(text: &str) -> Option<Event> {
    if let Some(rest) = text.strip_prefix("process ") {
        // "process /usr/lib/postfix/sbin/smtpd pid 123 exit status 1" / "... killed by signal 9"
        let (command, rest) = rest.split_once(" pid ")?;
        let (pid, how) = rest.split_once(' ')?;
        let pid = pid.parse().ok()?;
        let end = if let Some(s) = how.strip_prefix("exit status ") {
            ChildEnd::ExitStatus(s.trim().parse().ok()?)
        } else if let Some(s) = how.strip_prefix("killed by signal ") {
            ChildEnd::Signal(s.trim().parse().ok()?)
        } else {
            return None;
        };
        return Some(Event::ChildExit {
            command: command.to_string(),
            pid,
            end,
        });
    }
    if let Some(command) = text.strip_suffix(": bad command startup -- throttling") {
        return Some(Event::Throttling {
            command: command.to_string(),
        });
    }
    for state in ["daemon started", "reload", "terminating on signal"] {
        if text.starts_with(state) {
            return Some(Event::MasterState {
                state: text.to_string(),
            });
        }
    }
    None
}

fn parse_sasl(text: &str) -> Option<Event> {
    if let Some(reason) = text.strip_prefix("SASL authentication failure: ") {
        return Some(Event::SaslLibrary {
            reason: reason.to_string(),
        });
    }
    // "NAME[ADDR]: SASL PLAIN authentication failed: REASON, sasl_username=USER"
    let (client, rest) = parse_client(text)?;
    let rest = rest.strip_prefix(": SASL ")?;
    let (mechanism, rest) = rest.split_once(" authentication failed")?;
    let rest = rest.strip_prefix(": ").unwrap_or(rest);
    let (reason, user) = match rest.rsplit_once(", sasl_username=") {
        Some((r, u)) => (r, Some(u.to_string())),
        None => (rest, None),
    };
    Some(Event::SaslAuthFailed {
        client,
        mechanism: mechanism.to_string(),
        reason: reason.to_string(),
        sasl_username: user,
    })
}

fn parse_lookup(text: &str) -> Option<Event> {
    // "connect to mysql server 127.0.0.1: Access denied for user ..."
    if let Some(rest) = text.strip_prefix("connect to ")
        && let Some((kind, rest)) = rest.split_once(" server ")
        && let Some((server, detail)) = rest.split_once(": ")
    {
        return Some(Event::DatabaseConnect {
            kind: kind.to_string(),
            server: server.to_string(),
            detail: detail.to_string(),
        });
    }
    // `TYPE:NAME lookup error for "KEY"`
    if let Some((table, key)) = text.split_once(" lookup error for ") {
        let key = key.trim().trim_matches('"');
        return Some(Event::LookupError {
            table: table.to_string(),
            key: Some(key.to_string()),
            detail: "lookup error".into(),
        });
    }
    // "PARAM: TYPE:NAME: table lookup problem", "TYPE:NAME: query failed: DETAIL"
    if let Some(head) = text.strip_suffix(": table lookup problem") {
        let table = head.rsplit_once(": ").map_or(head, |(_, t)| t);
        return Some(Event::LookupError {
            table: table.to_string(),
            key: None,
            detail: "table lookup problem".into(),
        });
    }
    if let Some((table, detail)) = text.split_once(": query failed: ") {
        return Some(Event::LookupError {
            table: table.to_string(),
            key: None,
            detail: format!("query failed: {detail}"),
        });
    }
    // cleanup: "QUEUEID: virtual_alias_maps map lookup problem for ADDR -- message not accepted..."
    if let Some((table, rest)) = text.split_once(" map lookup problem for ") {
        let (key, _) = rest.split_once(" -- ").unwrap_or((rest, ""));
        return Some(Event::LookupError {
            table: table.to_string(),
            key: Some(key.to_string()),
            detail: text.to_string(),
        });
    }
    // trivial-rewrite: "virtual_alias_domains lookup failure"
    if let Some(table) = text.strip_suffix(" lookup failure")
        && !table.contains(' ')
    {
        return Some(Event::LookupError {
            table: table.to_string(),
            key: None,
            detail: "lookup failure".into(),
        });
    }
    None
}

fn parse_tls(text: &str) -> Option<Event> {
    let lower = text.to_ascii_lowercase();
    let tls = lower.contains("tls")
        || lower.contains("private key")
        || lower.contains("certificate")
        || lower.contains("ssl_");
    if !tls {
        return None;
    }
    // The file is the quoted name, or what follows " from file " / " in " / "from: ".
    let file = quoted(text)
        .or_else(|| after_word(text, " from file "))
        .or_else(|| after_word(text, " from: "))
        .or_else(|| after_word(text, " found in "))
        .filter(|f| f.starts_with('/'))
        .map(|f| f.trim_end_matches([':', ',']).to_string());
    Some(Event::Tls {
        detail: text.to_string(),
        file,
    })
}

fn quoted(s: &str) -> Option<&str> {
    let (_, rest) = s.split_once('"')?;
    Some(rest.split_once('"')?.0)
}

fn after_word<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    let (_, rest) = s.split_once(word)?;
    rest.split([' ', ':']).next()
}

/// saslauthd: `[do_auth         : ]auth failure: [user=u] [service=smtp] [realm=r] [mech=pam]
/// [reason=PAM auth error]`.
fn parse_saslauthd(message: &str) -> Option<Event> {
    let (_, rest) = message.split_once("auth failure: ")?;
    let get = |k: &str| -> String {
        let open = format!("[{k}=");
        rest.split_once(open.as_str())
            .and_then(|(_, v)| v.split_once(']'))
            .map_or(String::new(), |(v, _)| v.to_string())
    };
    if !rest.contains("[user=") {
        return None;
    }
    Some(Event::SaslauthdFailure {
        user: get("user"),
        service: get("service"),
        realm: get("realm"),
        mech: get("mech"),
        reason: get("reason"),
    })
}

/// `pam_mysql - MySQL error (...)`, `pam_unix(smtp:auth): authentication failure; ...`, and
/// saslauthd's `auth_pam: pam_authenticate failed: REASON` (with `-d`: `DEBUG: auth_pam: ...`).
fn parse_pam(message: &str) -> Option<Event> {
    if let Some((_, detail)) = message.split_once("auth_pam: ") {
        return Some(Event::Pam {
            module: "auth_pam".into(),
            detail: detail.trim().to_string(),
        });
    }
    let start = message.find("pam_")?;
    let rest = message.get(start..)?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let module = rest.get(..end)?;
    if module.len() <= 4 {
        return None;
    }
    let detail = rest.get(end..)?;
    // "(smtp:auth): ..." or " - ..." or ": ..."
    let detail = match detail.strip_prefix('(') {
        Some(d) => d.split_once("):").map_or(d, |(_, r)| r),
        None => detail,
    };
    let detail = detail.trim_start_matches([' ', '-', ':']).trim();
    Some(Event::Pam {
        module: module.to_string(),
        detail: detail.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> LogLine {
        parse_line(0, s)
    }

    #[test]
    fn postlog_header() {
        let l =
            p("Dec 01 23:16:00 atlantis postfix/smtpd[4062]: connect from localhost[127.0.0.1]");
        assert_eq!(l.host, "atlantis");
        assert_eq!(l.program, "postfix/smtpd");
        assert_eq!(l.pid, Some(4062));
        assert_eq!(l.daemon(), "smtpd");
        assert!(l.is_postfix());
        let t = l.time.unwrap();
        assert_eq!(
            (t.month, t.day, t.hour, t.minute, t.second),
            (12, 1, 23, 16, 0)
        );
        assert_eq!(
            l.event,
            Event::Connect {
                client: Client {
                    name: "localhost".into(),
                    addr: "127.0.0.1".into(),
                    port: None
                }
            }
        );
    }

    #[test]
    fn syslog_and_iso_headers() {
        let trad = p("Dec  1 23:16:00 mx postfix/qmgr[7]: DFF0AC027C: removed");
        assert_eq!(trad.time.unwrap().day, 1);
        assert_eq!(trad.queue_id.as_deref(), Some("DFF0AC027C"));
        assert_eq!(trad.event, Event::Removed);
        let iso = p("2026-12-01T23:16:00.123456+01:00 mx postfix/submission/smtpd[7]: warning: x");
        let t = iso.time.unwrap();
        assert_eq!(t.year, Some(2026));
        assert_eq!(t.micros, Some(123_456));
        assert_eq!(t.utc_offset_minutes, Some(60));
        assert_eq!(iso.syslog_name(), "postfix/submission");
        assert_eq!(iso.severity, Severity::Warning);
        let journal = p("2026-12-01T23:16:00-0130 mx saslauthd[9]: hello");
        assert_eq!(journal.time.unwrap().utc_offset_minutes, Some(-90));
        assert_eq!(journal.program, "saslauthd");
        let utc = p("2026-12-01T23:16:00Z mx postfix/pickup: x");
        assert_eq!(utc.time.unwrap().utc_offset_minutes, Some(0));
        assert_eq!(utc.pid, None);
    }

    #[test]
    fn not_a_log_line() {
        for s in [
            "",
            "garbage",
            "Dec 01 23:16:00",
            "Dec 01 23:16:00 host",
            "2026-13-01T00:00:00 h p: x",
        ] {
            let l = p(s);
            assert_eq!(l.program, "", "{s}");
            assert_eq!(l.event, Event::Other);
            assert_eq!(l.text, s);
        }
    }

    #[test]
    fn queue_ids() {
        assert!(is_queue_id("DFF0AC027C"));
        assert!(is_queue_id("4jfGwY51j8z5vbd"));
        assert!(!is_queue_id("NOQUEUE"));
        assert!(!is_queue_id("warning"));
        assert!(!is_queue_id("virtual_alias_domains"));
        assert!(!is_queue_id("connect"));
        assert!(!is_queue_id("ABC"));
    }
}
