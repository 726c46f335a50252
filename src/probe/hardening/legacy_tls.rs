//! H6 TLS floor: a hand-built TLS 1.0/1.1 ClientHello after STARTTLS (RFC 8996, RFC 2246/4346).
//!
//! Records and ClientHello per RFC 2246/4346, SNI per RFC 6066, groups per RFC 8422,
//! renegotiation_info per RFC 5746.
//!
//! rustls cannot offer TLS 1.0 or 1.1, so after STARTTLS this module writes its own TLS 1.0 or
//! 1.1 ClientHello (ciphers of that era, SNI, supported_groups, ec_point_formats,
//! renegotiation_info: what an OpenSSL 3 server needs to answer) and parses the first thing
//! the server sends back: a ServerHello (the version and cipher it chose), an alert (e.g. 70
//! protocol_version), a close, a timeout, or bytes that are not TLS. The parser reads
//! server-controlled bytes: every length is checked, nothing panics, every read is bounded.

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Endpoint, SetupFailure, Step, Target};

/// Most bytes read while waiting for the server's first answer. A ServerHello fits in the
/// first few hundred bytes; a server may coalesce its certificate into the same record.
pub const MAX_RESPONSE: usize = 64 * 1024;
/// Longest TLSPlaintext/TLSCiphertext fragment (RFC 5246 §6.2.3: 2^14 + 2048).
const MAX_RECORD: usize = 16_384 + 2048;
/// Longest ServerHello accepted (the body is small; the extensions are the only variable part).
const MAX_SERVER_HELLO: usize = 16_384;

const CONTENT_CHANGE_CIPHER_SPEC: u8 = 20;
const CONTENT_ALERT: u8 = 21;
const CONTENT_HANDSHAKE: u8 = 22;
const CONTENT_APPLICATION_DATA: u8 = 23;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const HANDSHAKE_SERVER_HELLO: u8 = 2;

/// The version offered.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum LegacyVersion {
    #[default]
    Tls10,
    Tls11,
}

impl LegacyVersion {
    /// The `ProtocolVersion` on the wire: 0x0301, 0x0302.
    pub fn wire(self) -> u16 {
        match self {
            LegacyVersion::Tls10 => 0x0301,
            LegacyVersion::Tls11 => 0x0302,
        }
    }
}

/// The cipher suites offered, in order: what TLS 1.0/1.1 clients offered (no AEAD: GCM and
/// ChaCha20 need TLS 1.2), with the OpenSSL names.
pub const OFFERED_SUITES: [(u16, &str); 9] = [
    (0xc013, "ECDHE-RSA-AES128-SHA"),
    (0xc014, "ECDHE-RSA-AES256-SHA"),
    (0xc009, "ECDHE-ECDSA-AES128-SHA"),
    (0xc00a, "ECDHE-ECDSA-AES256-SHA"),
    (0x0033, "DHE-RSA-AES128-SHA"),
    (0x0039, "DHE-RSA-AES256-SHA"),
    (0x002f, "AES128-SHA"),
    (0x0035, "AES256-SHA"),
    (0x000a, "DES-CBC3-SHA"),
];

/// Groups offered in supported_groups: x25519, secp256r1, secp384r1.
const OFFERED_GROUPS: [u16; 3] = [0x001d, 0x0017, 0x0018];

/// "TLSv1.0" for 0x0301, "0x7f12" for what has no name.
pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSLv3".to_string(),
        0x0301 => "TLSv1.0".to_string(),
        0x0302 => "TLSv1.1".to_string(),
        0x0303 => "TLSv1.2".to_string(),
        0x0304 => "TLSv1.3".to_string(),
        _ => format!("0x{v:04x}"),
    }
}

/// The OpenSSL name of a suite mailcheck offered.
pub fn suite_name(suite: u16) -> Option<&'static str> {
    OFFERED_SUITES
        .iter()
        .find(|(id, _)| *id == suite)
        .map(|(_, name)| *name)
}

/// The AlertDescription's name (RFC 5246 §7.2, RFC 8446 §6).
pub fn alert_name(description: u8) -> String {
    let name = match description {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => return format!("unknown ({description})"),
    };
    name.to_string()
}

/// Whether `name` can go into SNI: a DNS name, not an IP literal (RFC 6066 §3).
fn sni_name(name: &str) -> Option<&str> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.parse::<std::net::IpAddr>().is_err()
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    ok.then_some(name)
}

fn push_u16(out: &mut Vec<u8>, v: usize) {
    // Every length written here is far below 2^16 (bounded by the fixed lists and a 253-byte
    // name); saturate rather than wrap if that ever changed.
    let v = u16::try_from(v).unwrap_or(u16::MAX);
    out.extend_from_slice(&v.to_be_bytes());
}

fn push_u24(out: &mut Vec<u8>, v: usize) {
    let v = u32::try_from(v).unwrap_or(0x00ff_ffff).min(0x00ff_ffff);
    out.extend_from_slice(&v.to_be_bytes()[1..]);
}

fn extension(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    push_u16(out, data.len());
    out.extend_from_slice(data);
}

/// 32 bytes for ClientHello.random: the time, then hash output. A probe's handshake is never
/// completed, so the randomness need not be cryptographic.
pub fn hello_random() -> [u8; 32] {
    let mut out = [0u8; 32];
    let secs = crate::clock::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    out[..4].copy_from_slice(&u32::try_from(secs & 0xffff_ffff).unwrap_or(0).to_be_bytes());
    let state = std::collections::hash_map::RandomState::new();
    for (i, chunk) in out[4..].chunks_mut(8).enumerate() {
        let mut h = state.build_hasher();
        h.write_usize(i);
        h.write_u32(std::process::id());
        let bytes = h.finish().to_be_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    out
}

/// The ClientHello record: record version 0x0301, client_version `version`, no session id,
/// [`OFFERED_SUITES`], null compression, and the extensions server_name (when `server_name` is
/// a DNS name), supported_groups, ec_point_formats (uncompressed) and an empty
/// renegotiation_info.
pub fn client_hello(version: LegacyVersion, server_name: &str, random: [u8; 32]) -> Vec<u8> {
    let mut ext = Vec::with_capacity(128);
    if let Some(name) = sni_name(server_name) {
        let mut list = Vec::with_capacity(name.len() + 5);
        push_u16(&mut list, name.len() + 3);
        list.push(0); // host_name
        push_u16(&mut list, name.len());
        list.extend_from_slice(name.as_bytes());
        extension(&mut ext, 0x0000, &list);
    }
    let mut groups = Vec::with_capacity(2 + 2 * OFFERED_GROUPS.len());
    push_u16(&mut groups, 2 * OFFERED_GROUPS.len());
    for g in OFFERED_GROUPS {
        groups.extend_from_slice(&g.to_be_bytes());
    }
    extension(&mut ext, 0x000a, &groups);
    extension(&mut ext, 0x000b, &[1, 0]);
    extension(&mut ext, 0xff01, &[0]);

    let mut body = Vec::with_capacity(64 + ext.len());
    body.extend_from_slice(&version.wire().to_be_bytes());
    body.extend_from_slice(&random);
    body.push(0); // session_id
    push_u16(&mut body, 2 * OFFERED_SUITES.len());
    for (id, _) in OFFERED_SUITES {
        body.extend_from_slice(&id.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression_methods: null
    push_u16(&mut body, ext.len());
    body.extend_from_slice(&ext);

    let mut hs = Vec::with_capacity(4 + body.len());
    hs.push(HANDSHAKE_CLIENT_HELLO);
    push_u24(&mut hs, body.len());
    hs.extend_from_slice(&body);

    let mut record = Vec::with_capacity(5 + hs.len());
    record.push(CONTENT_HANDSHAKE);
    record.extend_from_slice(&0x0301u16.to_be_bytes());
    push_u16(&mut record, hs.len());
    record.extend_from_slice(&hs);
    record
}

/// The server's first answer to the ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum HelloResponse {
    /// The server took the offer: the version and suite it chose.
    ServerHello {
        record_version: u16,
        /// ServerHello.server_version (or supported_versions' choice, if present).
        version: u16,
        version_name: String,
        cipher_suite: u16,
        /// The OpenSSL name when it is one mailcheck offered.
        cipher_name: Option<String>,
        compression: u8,
        /// Extension types in the ServerHello, in order.
        extensions: Vec<u16>,
    },
    /// A TLS alert instead (level 1 warning, 2 fatal).
    Alert {
        record_version: u16,
        level: u8,
        description: u8,
        description_name: String,
    },
    /// The server closed the connection (FIN or reset) after `received` bytes.
    Closed { received: usize, reset: bool },
    /// Nothing complete within the TLS deadline.
    Timeout { received: usize },
    /// The first bytes are not a TLS record (e.g. an SMTP reply): a sanitised excerpt.
    NotTls { excerpt: String },
    /// A TLS record, but not a well-formed answer (a length that does not add up, a
    /// handshake message other than ServerHello, ...).
    Malformed { detail: String },
    /// More than [`MAX_RESPONSE`] bytes without a complete answer.
    TooLarge { received: usize },
    /// The read failed otherwise.
    Io { detail: String },
}

/// The parser's verdict on the bytes so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parse {
    /// Not enough bytes to tell yet.
    NeedMore,
    Done(HelloResponse),
}

/// A bounds-checked reader over a byte slice.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.rest.len() < n {
            return None;
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
}

fn malformed(detail: impl Into<String>) -> Parse {
    Parse::Done(HelloResponse::Malformed {
        detail: detail.into(),
    })
}

/// Hex of the first `max` bytes: `16 03 01 00 4a ...`.
pub fn hex_prefix(bytes: &[u8], max: usize) -> String {
    let mut s: Vec<String> = bytes.iter().take(max).map(|b| format!("{b:02x}")).collect();
    if bytes.len() > max {
        s.push("…".to_string());
    }
    s.join(" ")
}

/// Parses what the server sent after the ClientHello, as far as it goes. `NeedMore` only when
/// every byte so far is a consistent prefix of an answer.
pub fn parse_response(bytes: &[u8]) -> Parse {
    let mut pos = 0usize;
    let mut handshake: Vec<u8> = Vec::new();
    let mut first_version: Option<u16> = None;
    loop {
        let rest = bytes.get(pos..).unwrap_or_default();
        let Some(&kind) = rest.first() else {
            return Parse::NeedMore;
        };
        let known = matches!(
            kind,
            CONTENT_CHANGE_CIPHER_SPEC
                | CONTENT_ALERT
                | CONTENT_HANDSHAKE
                | CONTENT_APPLICATION_DATA
        );
        let major_ok = rest.get(1).is_none_or(|&m| m == 3);
        if pos == 0 && (!known || !major_ok) {
            return Parse::Done(HelloResponse::NotTls {
                excerpt: super::show_bytes(&bytes[..bytes.len().min(64)]),
            });
        }
        if !known {
            return malformed(format!("record type {kind} after a handshake record"));
        }
        if !major_ok {
            return malformed("record version is not 3.x");
        }
        let mut r = Reader { rest };
        let header = (r.u8(), r.u16(), r.u16());
        let (Some(_), Some(version), Some(len)) = header else {
            return Parse::NeedMore;
        };
        let len = usize::from(len);
        if len == 0 || len > MAX_RECORD {
            return malformed(format!("record of {len} bytes"));
        }
        let record_version = *first_version.get_or_insert(version);
        let fragment = &r.rest[..r.rest.len().min(len)];
        let complete = fragment.len() == len;
        match kind {
            CONTENT_ALERT => {
                if !handshake.is_empty() {
                    return malformed("alert inside a fragmented ServerHello");
                }
                let (Some(&level), Some(&description)) = (fragment.first(), fragment.get(1)) else {
                    return if len < 2 {
                        malformed(format!("alert record of {len} byte"))
                    } else {
                        Parse::NeedMore
                    };
                };
                if !matches!(level, 1 | 2) {
                    return malformed(format!("alert level {level}"));
                }
                return Parse::Done(HelloResponse::Alert {
                    record_version: version,
                    level,
                    description,
                    description_name: alert_name(description),
                });
            }
            CONTENT_HANDSHAKE => {
                handshake.extend_from_slice(fragment);
                match server_hello(&handshake, record_version) {
                    Some(done) => return done,
                    None if complete => pos += 5 + len,
                    None => return Parse::NeedMore,
                }
            }
            other => {
                return malformed(format!("record type {other} before the ServerHello"));
            }
        }
    }
}

/// `Some` once `hs` holds a complete first handshake message (or enough to see it is wrong).
fn server_hello(hs: &[u8], record_version: u16) -> Option<Parse> {
    let mut r = Reader { rest: hs };
    let kind = r.u8()?;
    if kind != HANDSHAKE_SERVER_HELLO {
        return Some(malformed(format!(
            "handshake message type {kind} instead of ServerHello (2)"
        )));
    }
    let len = r.take(3)?;
    let len = (usize::from(len[0]) << 16) | (usize::from(len[1]) << 8) | usize::from(len[2]);
    // version 2 + random 32 + session id length 1 + suite 2 + compression 1
    if !(38..=MAX_SERVER_HELLO).contains(&len) {
        return Some(malformed(format!("ServerHello of {len} bytes")));
    }
    let body = r.take(len)?;
    Some(parse_server_hello_body(body, record_version))
}

fn parse_server_hello_body(body: &[u8], record_version: u16) -> Parse {
    let mut r = Reader { rest: body };
    let fields = (|| {
        let version = r.u16()?;
        r.take(32)?;
        let sid_len = usize::from(r.u8()?);
        Some((version, sid_len))
    })();
    let Some((server_version, sid_len)) = fields else {
        return malformed("ServerHello ends inside its fixed fields");
    };
    if sid_len > 32 {
        return malformed(format!("session id of {sid_len} bytes"));
    }
    let tail = (|| {
        r.take(sid_len)?;
        let suite = r.u16()?;
        let compression = r.u8()?;
        Some((suite, compression))
    })();
    let Some((cipher_suite, compression)) = tail else {
        return malformed("ServerHello ends before its cipher suite");
    };
    let mut extensions = Vec::new();
    let mut version = server_version;
    if !r.rest.is_empty() {
        let Some(total) = r.u16() else {
            return malformed("one stray byte after the compression method");
        };
        if usize::from(total) != r.rest.len() {
            return malformed(format!(
                "extensions block says {total} bytes, {} follow",
                r.rest.len()
            ));
        }
        while !r.rest.is_empty() {
            let (Some(kind), Some(len)) = (r.u16(), r.u16()) else {
                return malformed("truncated extension header");
            };
            let Some(data) = r.take(usize::from(len)) else {
                return malformed(format!("extension {kind} overruns the ServerHello"));
            };
            // supported_versions (RFC 8446 §4.2.1) overrides server_version.
            if kind == 0x002b && data.len() == 2 {
                version = u16::from_be_bytes([data[0], data[1]]);
            }
            extensions.push(kind);
        }
    }
    Parse::Done(HelloResponse::ServerHello {
        record_version,
        version,
        version_name: version_name(version),
        cipher_suite,
        cipher_name: suite_name(cipher_suite).map(str::to_string),
        compression,
        extensions,
    })
}

/// What the legacy-TLS probe needs besides the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyTlsRequest {
    pub version: LegacyVersion,
}

/// What the legacy-TLS probe saw.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct LegacyTlsObservation {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    pub offered: LegacyVersion,
    /// "TLSv1.0".
    pub offered_version: String,
    /// OpenSSL names, in the order offered.
    pub offered_suites: Vec<String>,
    /// The SNI sent (none for an IP literal).
    pub sni: Option<String>,
    pub setup_failure: Option<SetupFailure>,
    pub ehlo: Option<Step>,
    /// The reply to STARTTLS (220 expected).
    pub starttls: Option<Step>,
    /// Bytes of the ClientHello record written.
    pub hello_bytes: usize,
    /// `None` when the probe did not get as far as the ClientHello.
    pub response: Option<HelloResponse>,
    /// Bytes received after the ClientHello.
    pub received: usize,
    /// Hex of the first bytes received (evidence).
    pub first_bytes: String,
    /// From the ClientHello written to the answer (milliseconds).
    pub waited_ms: u64,
    pub transcript: Vec<String>,
}

/// After STARTTLS on `target`, offers only `req.version` and records the server's answer.
/// Completes no handshake: the connection is closed after the first answer.
pub async fn probe(target: &Target, req: LegacyTlsRequest) -> LegacyTlsObservation {
    let mut o = LegacyTlsObservation {
        endpoint: super::Endpoint::of(target),
        offered: req.version,
        offered_version: version_name(req.version.wire()),
        offered_suites: OFFERED_SUITES.iter().map(|(_, n)| n.to_string()).collect(),
        sni: sni_name(&target.server_name).map(str::to_string),
        ..LegacyTlsObservation::default()
    };
    let (c, ehlo) = match super::open(target).await {
        Ok(x) => x,
        Err((f, transcript)) => {
            o.setup_failure = Some(f);
            o.transcript = transcript;
            return o;
        }
    };
    o.ehlo = Some(ehlo);
    if !c.capabilities().is_some_and(|k| k.has("STARTTLS")) {
        o.setup_failure = Some(super::starttls_not_offered());
        o.transcript = c.quit().await.lines();
        return o;
    }
    let (mut tcp, mut transcript, reply) = match c.starttls_handover().await {
        Ok(x) => x,
        Err((e, transcript)) => {
            o.starttls = Some(Step::from_error(&e));
            o.transcript = transcript.lines();
            return o;
        }
    };
    o.starttls = Some(Step::reply(&reply));
    let hello = client_hello(req.version, &target.server_name, hello_random());
    o.hello_bytes = hello.len();
    transcript.client(format!(
        "<TLS ClientHello {}, {} bytes, {} suites, SNI {}>",
        o.offered_version,
        hello.len(),
        OFFERED_SUITES.len(),
        o.sni.as_deref().unwrap_or("none")
    ));
    let write = tokio::time::timeout(target.timeouts.command, async {
        tcp.write_all(&hello).await?;
        tcp.flush().await
    })
    .await;
    let started = Instant::now();
    let response = match write {
        Err(_) => HelloResponse::Timeout { received: 0 },
        Ok(Err(e)) => io_response(&e, 0),
        Ok(Ok(())) => {
            let (response, got) = read_answer(&mut tcp, target.timeouts.tls).await;
            o.received = got.len();
            o.first_bytes = hex_prefix(&got, 48);
            response
        }
    };
    o.waited_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    transcript.note(format!("TLS answer: {}", describe(&response)));
    o.response = Some(response);
    let _ = tokio::time::timeout(Duration::from_millis(500), tcp.shutdown()).await;
    transcript.note("closed the connection (no handshake completed)");
    o.transcript = transcript.lines();
    o
}

/// One line for the transcript.
pub fn describe(r: &HelloResponse) -> String {
    match r {
        HelloResponse::ServerHello {
            version_name,
            cipher_suite,
            cipher_name,
            ..
        } => format!(
            "ServerHello {version_name}, cipher {} (0x{cipher_suite:04x})",
            cipher_name.as_deref().unwrap_or("not one offered")
        ),
        HelloResponse::Alert {
            level,
            description,
            description_name,
            ..
        } => format!(
            "alert {} {description} {description_name}",
            if *level == 2 { "fatal" } else { "warning" }
        ),
        HelloResponse::Closed { received, reset } => format!(
            "connection {} after {received} bytes",
            if *reset { "reset" } else { "closed" }
        ),
        HelloResponse::Timeout { received } => {
            format!("no complete answer in time ({received} bytes)")
        }
        HelloResponse::NotTls { excerpt } => format!("not TLS: {excerpt}"),
        HelloResponse::Malformed { detail } => format!("malformed TLS: {detail}"),
        HelloResponse::TooLarge { received } => {
            format!("no complete answer in the first {received} bytes")
        }
        HelloResponse::Io { detail } => format!("read failed: {detail}"),
    }
}

fn io_response(e: &std::io::Error, received: usize) -> HelloResponse {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => HelloResponse::Closed {
            received,
            reset: true,
        },
        K::UnexpectedEof => HelloResponse::Closed {
            received,
            reset: false,
        },
        _ => HelloResponse::Io {
            detail: e.to_string(),
        },
    }
}

/// Reads until the answer parses, the server closes, `MAX_RESPONSE` bytes, or `deadline`.
async fn read_answer<R: AsyncReadExt + Unpin>(
    r: &mut R,
    deadline: Duration,
) -> (HelloResponse, Vec<u8>) {
    let until = Instant::now() + deadline;
    let mut got: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        if let Parse::Done(r) = parse_response(&got) {
            return (r, got);
        }
        if got.len() >= MAX_RESPONSE {
            let received = got.len();
            return (HelloResponse::TooLarge { received }, got);
        }
        let left = until.saturating_duration_since(Instant::now());
        let room = chunk.len().min(MAX_RESPONSE - got.len());
        let received = got.len();
        match tokio::time::timeout(left, r.read(&mut chunk[..room])).await {
            Err(_) => return (HelloResponse::Timeout { received }, got),
            Ok(Ok(0)) => {
                return (
                    HelloResponse::Closed {
                        received,
                        reset: false,
                    },
                    got,
                );
            }
            Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => return (io_response(&e, received), got),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ServerHello record as OpenSSL sends one for TLS 1.0: renegotiation_info and
    /// ec_point_formats extensions.
    fn server_hello_record(version: u16, suite: u16) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&version.to_be_bytes());
        body.extend_from_slice(&[7u8; 32]);
        body.push(32);
        body.extend_from_slice(&[9u8; 32]);
        body.extend_from_slice(&suite.to_be_bytes());
        body.push(0);
        let ext = [
            0xff, 0x01, 0x00, 0x01, 0x00, 0x00, 0x0b, 0x00, 0x02, 0x01, 0x00,
        ];
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
        let mut hs = vec![2, 0, 0, body.len() as u8];
        hs.extend_from_slice(&body);
        let mut rec = vec![22, 3, 1, 0, hs.len() as u8];
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn a_tls10_server_hello_is_parsed() {
        let rec = server_hello_record(0x0301, 0xc014);
        let Parse::Done(HelloResponse::ServerHello {
            version,
            version_name,
            cipher_suite,
            cipher_name,
            extensions,
            ..
        }) = parse_response(&rec)
        else {
            panic!("{:?}", parse_response(&rec));
        };
        assert_eq!(version, 0x0301);
        assert_eq!(version_name, "TLSv1.0");
        assert_eq!(cipher_suite, 0xc014);
        assert_eq!(cipher_name.as_deref(), Some("ECDHE-RSA-AES256-SHA"));
        assert_eq!(extensions, vec![0xff01, 0x000b]);
        for cut in 0..rec.len() {
            assert_eq!(parse_response(&rec[..cut]), Parse::NeedMore, "cut at {cut}");
        }
    }

    #[test]
    fn a_server_hello_split_over_records_is_reassembled() {
        let rec = server_hello_record(0x0302, 0x002f);
        let hs = &rec[5..];
        let mut split = vec![22, 3, 2, 0, 10];
        split.extend_from_slice(&hs[..10]);
        split.extend_from_slice(&[22, 3, 2, 0, (hs.len() - 10) as u8]);
        split.extend_from_slice(&hs[10..]);
        assert!(matches!(
            parse_response(&split),
            Parse::Done(HelloResponse::ServerHello {
                version: 0x0302,
                cipher_suite: 0x002f,
                record_version: 0x0302,
                ..
            })
        ));
    }

    #[test]
    fn alerts_and_garbage() {
        assert_eq!(
            parse_response(&[21, 3, 1, 0, 2, 2, 70]),
            Parse::Done(HelloResponse::Alert {
                record_version: 0x0301,
                level: 2,
                description: 70,
                description_name: "protocol_version".into(),
            })
        );
        assert_eq!(parse_response(&[21, 3, 1, 0, 2, 2]), Parse::NeedMore);
        assert!(matches!(
            parse_response(&[21, 3, 1, 0, 1, 2]),
            Parse::Done(HelloResponse::Malformed { .. })
        ));
        assert!(matches!(
            parse_response(b"554 5.5.0 Error\r\n"),
            Parse::Done(HelloResponse::NotTls { ref excerpt }) if excerpt == "554 5.5.0 Error<CR><LF>"
        ));
        assert!(matches!(
            parse_response(&[22, 4, 1]),
            Parse::Done(HelloResponse::NotTls { .. })
        ));
        assert!(matches!(
            parse_response(&[22, 3, 1, 0, 0]),
            Parse::Done(HelloResponse::Malformed { .. })
        ));
        assert!(matches!(
            parse_response(&[22, 3, 1, 0x48, 0x01]),
            Parse::Done(HelloResponse::Malformed { .. })
        ));
        // A Certificate where the ServerHello belongs.
        assert!(matches!(
            parse_response(&[22, 3, 1, 0, 4, 11, 0, 0, 0]),
            Parse::Done(HelloResponse::Malformed { .. })
        ));
        assert!(matches!(
            parse_response(&[23, 3, 3, 0, 1, 0]),
            Parse::Done(HelloResponse::Malformed { .. })
        ));
        assert_eq!(parse_response(&[]), Parse::NeedMore);
    }

    #[test]
    fn inconsistent_extension_lengths_are_malformed() {
        let mut rec = server_hello_record(0x0301, 0xc013);
        // Claim one more byte of extensions than follow.
        let ext_len_at = 5 + 4 + 2 + 32 + 1 + 32 + 2 + 1;
        rec[ext_len_at + 1] += 1;
        assert!(matches!(
            parse_response(&rec),
            Parse::Done(HelloResponse::Malformed { .. })
        ));
    }

    #[test]
    fn the_client_hello_is_well_formed() {
        let hello = client_hello(LegacyVersion::Tls11, "mx.example.com", [1; 32]);
        assert_eq!(&hello[..3], &[22, 3, 1]);
        let rec_len = usize::from(u16::from_be_bytes([hello[3], hello[4]]));
        assert_eq!(rec_len, hello.len() - 5);
        assert_eq!(hello[5], 1);
        let hs_len =
            (usize::from(hello[6]) << 16) | (usize::from(hello[7]) << 8) | usize::from(hello[8]);
        assert_eq!(hs_len, rec_len - 4);
        assert_eq!(&hello[9..11], &[3, 2]);
        assert!(hello.windows(14).any(|w| w == b"mx.example.com"));
        // renegotiation_info, empty, at the very end.
        assert_eq!(&hello[hello.len() - 5..], &[0xff, 0x01, 0, 1, 0]);
        let no_sni = client_hello(LegacyVersion::Tls10, "192.0.2.1", [1; 32]);
        assert!(no_sni.len() < hello.len());
        assert_eq!(&no_sni[9..11], &[3, 1]);
    }

    #[test]
    fn sni_takes_dns_names_only() {
        assert_eq!(sni_name("mx.example.com."), Some("mx.example.com"));
        assert_eq!(sni_name("::1"), None);
        assert_eq!(sni_name("127.0.0.1"), None);
        assert_eq!(sni_name("bad name"), None);
        assert_eq!(sni_name(""), None);
    }

    #[tokio::test]
    async fn reads_are_bounded_by_bytes_and_time() {
        let (response, got) = read_answer(&mut tokio::io::repeat(22), Duration::from_secs(5)).await;
        assert!(
            matches!(response, HelloResponse::NotTls { .. }),
            "{response:?}"
        );
        assert!(got.len() <= MAX_RESPONSE);
        // A record header, then silence: the deadline ends the wait.
        let (mut server, mut client) = tokio::io::duplex(64);
        server.write_all(&[22, 3, 1, 0, 60, 2]).await.unwrap();
        let (response, got) = read_answer(&mut client, Duration::from_millis(200)).await;
        assert_eq!(response, HelloResponse::Timeout { received: 6 });
        assert_eq!(got.len(), 6);
        drop(server);
        let (response, _) = read_answer(&mut tokio::io::empty(), Duration::from_secs(1)).await;
        assert_eq!(
            response,
            HelloResponse::Closed {
                received: 0,
                reset: false
            }
        );
    }
}
