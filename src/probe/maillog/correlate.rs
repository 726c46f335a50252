//! Picks out of a window the lines that belong to what a run did: its messages (queue ids from
//! 250 replies, or found by message-id and address), its smtpd sessions (client address and port;
//! `connect from` to `disconnect from` of one smtpd process), and every problem Postfix,
//! saslauthd and PAM logged meanwhile; and finds master(8) throttling a service.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::parse::{Client, DeliveryStatus, Event, LogLine};
use super::read::Window;

/// The client end of one of the run's SMTP sessions, as the run saw its own socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionKey {
    /// The client address (as the server sees it: `127.0.0.1`, `::1`).
    pub addr: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// What the run did, to find in the log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Want {
    /// Queue ids from `250 2.0.0 Ok: queued as ID`.
    pub queue_ids: Vec<String>,
    pub sessions: Vec<SessionKey>,
    /// Envelope addresses the run used (`from=<...>`, `to=<...>`, `orig_to=<...>`), compared
    /// case-insensitively.
    pub addresses: Vec<String>,
    /// Message-IDs the run set, without angle brackets.
    pub message_ids: Vec<String>,
}

/// Why a message is in the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum TrailReason {
    QueueId,
    MessageId {
        message_id: String,
    },
    Address {
        address: String,
    },
    /// The bounce (or delay) notification of another message.
    NotificationOf {
        queue_id: String,
    },
}

/// One delivery attempt of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub to: String,
    pub status: DeliveryStatus,
    pub dsn: String,
    pub relay: String,
    pub detail: String,
}

/// Every line of one queue id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageTrail {
    pub queue_id: String,
    pub reason: TrailReason,
    pub lines: Vec<LogLine>,
}

impl MessageTrail {
    /// The delivery attempts, in order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.lines
            .iter()
            .filter_map(|l| match &l.event {
                Event::Delivery {
                    to,
                    status,
                    dsn,
                    relay,
                    detail,
                    ..
                } => Some(Delivery {
                    to: to.clone(),
                    status: status.clone(),
                    dsn: dsn.clone(),
                    relay: relay.clone(),
                    detail: detail.clone(),
                }),
                _ => None,
            })
            .collect()
    }

    /// qmgr removed it (delivered or bounced: no longer queued).
    pub fn removed(&self) -> bool {
        self.lines.iter().any(|l| l.event == Event::Removed)
    }

    /// The queue id of its non-delivery (or delay) notification.
    pub fn notification(&self) -> Option<&str> {
        self.lines.iter().find_map(|l| match &l.event {
            Event::Notification { queue_id, .. } => Some(queue_id.as_str()),
            _ => None,
        })
    }

    /// Warnings and worse about this message (e.g. cleanup's `map lookup problem`).
    pub fn problems(&self) -> impl Iterator<Item = &LogLine> {
        self.lines.iter().filter(|l| l.severity.is_problem())
    }
}

/// How a session was matched to the run's socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum SessionMatch {
    /// Address and port (`smtpd_client_port_logging = yes`).
    AddressAndPort,
    /// The address only, and this was the only session from it in the window.
    Address,
    /// The address only, and `sessions_from_address` sessions came from it (other clients on
    /// the same host, or several of the run's own): every candidate is returned.
    Ambiguous { sessions_from_address: usize },
    /// The session that logged a queue id the caller gave.
    QueueId { queue_id: String },
}

/// One smtpd session: `connect from` to `disconnect from` of one process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionTrail {
    pub key: SessionKey,
    pub matched: SessionMatch,
    pub client: Client,
    /// `postfix/smtpd`, `postfix/submission/smtpd`, ...
    pub program: String,
    pub pid: u32,
    /// What that process logged before `connect from` since its previous session (or since the
    /// window began): start-up warnings such as a key it could not load.
    pub before_connect: Vec<LogLine>,
    /// `connect from` through `disconnect from`.
    pub lines: Vec<LogLine>,
    /// `disconnect from` was seen.
    pub ended: bool,
}

impl SessionTrail {
    /// Warnings and worse of the session and of its process's start.
    pub fn problems(&self) -> impl Iterator<Item = &LogLine> {
        self.before_connect
            .iter()
            .chain(self.lines.iter())
            .filter(|l| l.severity.is_problem())
    }
}

/// The lines of a window that concern the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Correlation {
    pub messages: Vec<MessageTrail>,
    pub sessions: Vec<SessionTrail>,
    /// Warnings, errors, fatals and panics of Postfix in the window (all of them, whoever
    /// caused them), up to [`MAX_GROUP`].
    pub problems: Vec<LogLine>,
    /// saslauthd and PAM lines in the window, up to [`MAX_GROUP`].
    pub auth: Vec<LogLine>,
    /// Lines left out of `problems`, `auth` and the trails by the caps.
    pub left_out: usize,
}

impl Correlation {
    /// Applies `f` to every text (for redaction with the run's redactor).
    pub fn map_text(&mut self, f: &impl Fn(&str) -> String) {
        for m in &mut self.messages {
            m.queue_id = f(&m.queue_id);
            m.lines.iter_mut().for_each(|l| l.map_text(f));
        }
        for s in &mut self.sessions {
            s.key.addr = f(&s.key.addr);
            s.client.name = f(&s.client.name);
            s.client.addr = f(&s.client.addr);
            s.program = f(&s.program);
            s.before_connect.iter_mut().for_each(|l| l.map_text(f));
            s.lines.iter_mut().for_each(|l| l.map_text(f));
        }
        self.problems.iter_mut().for_each(|l| l.map_text(f));
        self.auth.iter_mut().for_each(|l| l.map_text(f));
    }

    /// The trail of `queue_id`.
    pub fn message(&self, queue_id: &str) -> Option<&MessageTrail> {
        self.messages.iter().find(|m| m.queue_id == queue_id)
    }
}

/// Most lines in one group (problems, auth, one trail).
pub const MAX_GROUP: usize = 500;
/// Most message trails (given ids plus those found by message-id, address, notification).
const MAX_TRAILS: usize = 200;
/// Most sessions returned for one key.
const MAX_SESSIONS_PER_KEY: usize = 50;

/// Groups the window's lines by what `want` names.
pub fn correlate(window: &Window, want: &Want) -> Correlation {
    let mut c = Correlation::default();
    let lines = &window.lines;

    // Problems and auth lines.
    for l in lines {
        if l.is_postfix() && l.severity.is_problem() {
            push_capped(&mut c.problems, l, &mut c.left_out);
        }
        if l.is_auth() {
            push_capped(&mut c.auth, l, &mut c.left_out);
        }
    }

    // Messages: the given ids, then ids found through message-id and addresses, then the
    // notifications of those, in rounds (bounded).
    let mut trails: Vec<(String, TrailReason)> = Vec::new();
    let add = |trails: &mut Vec<(String, TrailReason)>, id: &str, why: TrailReason| {
        if trails.len() < MAX_TRAILS && !trails.iter().any(|(q, _)| q == id) {
            trails.push((id.to_string(), why));
        }
    };
    for q in &want.queue_ids {
        add(&mut trails, q, TrailReason::QueueId);
    }
    let addresses: Vec<String> = want
        .addresses
        .iter()
        .map(|a| a.to_ascii_lowercase())
        .collect();
    for l in lines {
        let Some(q) = &l.queue_id else { continue };
        match &l.event {
            Event::MessageId { message_id } if want.message_ids.contains(message_id) => add(
                &mut trails,
                q,
                TrailReason::MessageId {
                    message_id: message_id.clone(),
                },
            ),
            e => {
                if let Some(a) = envelope_addresses(e)
                    .into_iter()
                    .find(|a| addresses.contains(&a.to_ascii_lowercase()))
                {
                    add(
                        &mut trails,
                        q,
                        TrailReason::Address {
                            address: a.to_string(),
                        },
                    );
                }
            }
        }
    }
    // Each queue id's lines, in one pass.
    let mut by_id: HashMap<&str, Vec<&LogLine>> = HashMap::new();
    for l in lines {
        if let Some(q) = &l.queue_id {
            by_id.entry(q.as_str()).or_default().push(l);
        }
    }
    let mut i = 0;
    while i < trails.len() && i < MAX_TRAILS {
        let id = trails[i].0.clone();
        for l in by_id.get(id.as_str()).into_iter().flatten() {
            if let Event::Notification { queue_id, .. } = &l.event {
                add(
                    &mut trails,
                    queue_id,
                    TrailReason::NotificationOf {
                        queue_id: id.clone(),
                    },
                );
            }
        }
        i += 1;
    }
    for (queue_id, reason) in trails {
        let mut t = MessageTrail {
            queue_id,
            reason,
            lines: Vec::new(),
        };
        for l in by_id.get(t.queue_id.as_str()).into_iter().flatten() {
            push_capped(&mut t.lines, l, &mut c.left_out);
        }
        c.messages.push(t);
    }

    // Sessions.
    let all = sessions(lines);
    for key in &want.sessions {
        let from_addr: Vec<&RawSession> = all
            .iter()
            .filter(|s| same_addr(&s.client.addr, &key.addr))
            .collect();
        let exact: Vec<&RawSession> = from_addr
            .iter()
            .copied()
            .filter(|s| key.port.is_some() && s.client.port == key.port)
            .collect();
        let (picked, matched): (Vec<&RawSession>, SessionMatch) = if !exact.is_empty() {
            (exact, SessionMatch::AddressAndPort)
        } else if let Some((s, q)) = from_addr.iter().find_map(|s| {
            want.queue_ids
                .iter()
                .find(|q| s.queue_ids(lines).any(|x| x == q.as_str()))
                .map(|q| (*s, q))
        }) {
            (
                vec![s],
                SessionMatch::QueueId {
                    queue_id: q.clone(),
                },
            )
        } else if from_addr.len() == 1 {
            (from_addr, SessionMatch::Address)
        } else {
            let n = from_addr.len();
            (
                from_addr,
                SessionMatch::Ambiguous {
                    sessions_from_address: n,
                },
            )
        };
        // With the port logged, a session from the address with another port is not ours.
        let picked: Vec<&RawSession> =
            if key.port.is_some() && matched != SessionMatch::AddressAndPort {
                picked
                    .into_iter()
                    .filter(|s| s.client.port.is_none())
                    .collect()
            } else {
                picked
            };
        for s in picked.into_iter().take(MAX_SESSIONS_PER_KEY) {
            c.sessions
                .push(s.trail(lines, key, matched.clone(), &mut c.left_out));
        }
    }
    c
}

fn push_capped(group: &mut Vec<LogLine>, l: &LogLine, left_out: &mut usize) {
    if group.len() < MAX_GROUP {
        group.push(l.clone());
    } else {
        *left_out += 1;
    }
}

fn envelope_addresses(e: &Event) -> Vec<&str> {
    match e {
        Event::QueueActive { from, .. } | Event::Pickup { from, .. } | Event::Expired { from } => {
            vec![from.as_str()]
        }
        Event::Delivery { to, orig_to, .. } => {
            let mut v = vec![to.as_str()];
            if let Some(o) = orig_to {
                v.push(o.as_str());
            }
            v
        }
        Event::Reject { from, to, .. } => {
            from.iter().chain(to.iter()).map(String::as_str).collect()
        }
        _ => Vec::new(),
    }
}

/// Addresses compare as IPs when both parse (`::ffff:127.0.0.1` is `127.0.0.1`), else as text.
fn same_addr(logged: &str, ours: &str) -> bool {
    let norm = |s: &str| -> Option<IpAddr> {
        let s = s.strip_prefix("IPv6:").unwrap_or(s);
        let ip: IpAddr = s.parse().ok()?;
        Some(match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        })
    };
    match (norm(logged), norm(ours)) {
        (Some(a), Some(b)) => a == b,
        _ => logged.eq_ignore_ascii_case(ours),
    }
}

/// A session as indices into the window's lines.
struct RawSession {
    client: Client,
    program: String,
    pid: u32,
    /// Index of the first line of that process after its previous session.
    since: usize,
    connect: usize,
    /// Index of `disconnect from`, if seen.
    end: Option<usize>,
}

impl RawSession {
    fn belongs(&self, l: &LogLine) -> bool {
        l.pid == Some(self.pid) && l.program == self.program
    }

    fn last(&self, lines: &[LogLine]) -> usize {
        self.end.unwrap_or(lines.len().saturating_sub(1))
    }

    fn queue_ids<'a>(&'a self, lines: &'a [LogLine]) -> impl Iterator<Item = &'a str> + 'a {
        lines
            .get(self.connect..=self.last(lines))
            .unwrap_or(&[])
            .iter()
            .filter(|l| self.belongs(l))
            .filter_map(|l| l.queue_id.as_deref())
    }

    fn trail(
        &self,
        lines: &[LogLine],
        key: &SessionKey,
        matched: SessionMatch,
        left_out: &mut usize,
    ) -> SessionTrail {
        let mut t = SessionTrail {
            key: key.clone(),
            matched,
            client: self.client.clone(),
            program: self.program.clone(),
            pid: self.pid,
            before_connect: Vec::new(),
            lines: Vec::new(),
            ended: self.end.is_some(),
        };
        for l in lines.get(self.since..self.connect).unwrap_or(&[]) {
            if self.belongs(l) {
                push_capped(&mut t.before_connect, l, left_out);
            }
        }
        for l in lines.get(self.connect..=self.last(lines)).unwrap_or(&[]) {
            if self.belongs(l) {
                push_capped(&mut t.lines, l, left_out);
            }
        }
        t
    }
}

/// Every smtpd session in the window. One pass; a process's open session ends at its
/// `disconnect from`, or at its next `connect from` (a lost `disconnect` line).
fn sessions(lines: &[LogLine]) -> Vec<RawSession> {
    let mut out: Vec<RawSession> = Vec::new();
    // (program, pid) -> index in `out` of its open session, and where the process's lines since
    // its last session start.
    let mut open: HashMap<(String, u32), usize> = HashMap::new();
    let mut since: HashMap<(String, u32), usize> = HashMap::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(pid) = l.pid else { continue };
        if l.daemon() != "smtpd" {
            continue;
        }
        let k = (l.program.clone(), pid);
        match &l.event {
            Event::Connect { client } => {
                if let Some(prev) = open.remove(&k)
                    && let Some(s) = out.get_mut(prev)
                {
                    s.end = Some(i.saturating_sub(1));
                }
                let start = since.remove(&k).unwrap_or(i);
                open.insert(k, out.len());
                out.push(RawSession {
                    client: client.clone(),
                    program: l.program.clone(),
                    pid,
                    since: start,
                    connect: i,
                    end: None,
                });
            }
            Event::Disconnect { .. } => {
                if let Some(idx) = open.remove(&k)
                    && let Some(s) = out.get_mut(idx)
                {
                    s.end = Some(i);
                }
                since.insert(k, i + 1);
            }
            _ => {
                if !open.contains_key(&k) {
                    since.entry(k).or_insert(i);
                }
            }
        }
    }
    out
}

/// master(8) stopped starting a service: the throttling line, the exit before it, and the fatal
/// line its process logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throttled {
    /// `warning: /usr/lib/postfix/sbin/smtpd: bad command startup -- throttling`.
    pub throttle: LogLine,
    /// `warning: process /usr/lib/postfix/sbin/smtpd pid 5872 exit status 1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<LogLine>,
    /// What that pid logged last at `fatal:`/`panic:` (e.g. `fatal: SASL per-process
    /// initialization failed`), and its warnings just before (the cause, usually).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fatal: Option<LogLine>,
    pub warnings: Vec<LogLine>,
}

impl Throttled {
    /// The tag of the process that failed (`postfix/submission/smtpd` names the service when
    /// master.cf gives it `-o syslog_name=postfix/submission`), when its lines were found.
    pub fn program(&self) -> Option<&str> {
        self.fatal
            .as_ref()
            .or(self.warnings.first())
            .map(|l| l.program.as_str())
    }
}

/// Every time master throttled `daemon` (a command name such as `smtpd`, or its full path).
pub fn find_throttling(window: &Window, daemon: &str) -> Vec<Throttled> {
    let lines = &window.lines;
    let matches_daemon = |command: &str| {
        command == daemon
            || command.rsplit('/').next() == Some(daemon.rsplit('/').next().unwrap_or(daemon))
    };
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Event::Throttling { command } = &l.event else {
            continue;
        };
        if !matches_daemon(command) || out.len() >= MAX_GROUP {
            continue;
        }
        // The exit of that command logged by the same master just before.
        let exit = lines[..i].iter().rev().take(1000).find(|e| {
            e.pid == l.pid
                && matches!(&e.event, Event::ChildExit { command: c, .. } if c == command)
        });
        let child_pid = exit.and_then(|e| match e.event {
            Event::ChildExit { pid, .. } => Some(pid),
            _ => None,
        });
        let (mut fatal, mut warnings) = (None, Vec::new());
        if let Some(pid) = child_pid {
            // Its lines come shortly before master notices the exit.
            let own: Vec<&LogLine> = lines[i.saturating_sub(5_000)..i]
                .iter()
                .filter(|x| x.pid == Some(pid) && x.is_postfix() && x.daemon() != "master")
                .collect();
            fatal = own
                .iter()
                .rev()
                .find(|x| x.severity >= super::parse::Severity::Fatal)
                .map(|x| (*x).clone());
            warnings = own
                .iter()
                .filter(|x| x.severity == super::parse::Severity::Warning)
                .take(20)
                .map(|x| (*x).clone())
                .collect();
        }
        out.push(Throttled {
            throttle: l.clone(),
            exit: exit.cloned(),
            fatal,
            warnings,
        });
    }
    out
}
