//! Property tests for what the hardening probes build and parse: the TLS 1.0/1.1 answer parser
//! (server-controlled bytes: never panics, never a wrong answer from a prefix, round-trips any
//! ServerHello or alert however it is split into records), the ClientHello builder, and the
//! smuggling payload (never a standard end of DATA inside). And the hardening checks in the
//! catalogue: one or more per H1..H7, shown by `mailcheck list`, selected by `--only`/`--skip 'H*'`.

#![allow(clippy::unwrap_used)]

use mailcheck::probe::hardening::legacy_tls::{
    HelloResponse, LegacyVersion, Parse, client_hello, parse_response,
};
use mailcheck::probe::hardening::smuggling::{EndOfData, payload, queue_id};
use proptest::prelude::*;

/// A ServerHello handshake message from its fields.
fn server_hello_message(version: u16, sid: &[u8], suite: u16, exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    body.extend_from_slice(&[0x5a; 32]);
    body.push(sid.len() as u8);
    body.extend_from_slice(sid);
    body.extend_from_slice(&suite.to_be_bytes());
    body.push(0);
    if !exts.is_empty() {
        let mut block = Vec::new();
        for (kind, data) in exts {
            block.extend_from_slice(&kind.to_be_bytes());
            block.extend_from_slice(&(data.len() as u16).to_be_bytes());
            block.extend_from_slice(data);
        }
        body.extend_from_slice(&(block.len() as u16).to_be_bytes());
        body.extend_from_slice(&block);
    }
    let len = body.len();
    let mut msg = vec![2, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    msg.extend_from_slice(&body);
    msg
}

/// `payload` split into handshake records of at most `size` bytes.
fn records(payload: &[u8], size: usize, version: u16) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in payload.chunks(size.max(1)) {
        out.push(22);
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

fn extension() -> impl Strategy<Value = (u16, Vec<u8>)> {
    (
        any::<u16>().prop_filter("not supported_versions", |k| *k != 0x002b),
        prop::collection::vec(any::<u8>(), 0..40),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 768, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any bytes: an answer or "need more", never a panic; "need more" only below the sizes a
    /// complete answer could take.
    #[test]
    fn any_bytes_parse_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..3000)) {
        if let Parse::NeedMore = parse_response(&bytes) {
            // Needing more means every record so far was a handshake fragment of a ServerHello
            // still incomplete, so the input is bounded by the largest possible one.
            prop_assert!(bytes.len() < 40_000);
        }
    }

    /// Bytes that start like a TLS handshake record (the hard case for a parser).
    #[test]
    fn record_shaped_bytes_parse_without_panic(
        version in prop::sample::select(vec![0x0300u16, 0x0301, 0x0302, 0x0303]),
        len in 0u16..600,
        kind in prop::sample::select(vec![20u8, 21, 22, 23]),
        tail in prop::collection::vec(any::<u8>(), 0..700),
    ) {
        let mut bytes = vec![kind];
        bytes.extend_from_slice(&version.to_be_bytes());
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(&tail);
        let _ = parse_response(&bytes);
    }

    /// Any ServerHello, split into records anywhere and followed by anything: parsed back to
    /// its fields; every prefix short of it needs more.
    #[test]
    fn server_hellos_round_trip_however_split(
        version in any::<u16>(),
        sid in prop::collection::vec(any::<u8>(), 0..=32),
        suite in any::<u16>(),
        exts in prop::collection::vec(extension(), 0..6),
        size in 1usize..120,
        trailer in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let msg = server_hello_message(version, &sid, suite, &exts);
        let wire = records(&msg, size, 0x0301);
        let mut full = wire.clone();
        full.extend_from_slice(&trailer);
        match parse_response(&full) {
            Parse::Done(HelloResponse::ServerHello { version: v, cipher_suite, extensions, record_version, .. }) => {
                prop_assert_eq!(v, version);
                prop_assert_eq!(cipher_suite, suite);
                prop_assert_eq!(record_version, 0x0301);
                prop_assert_eq!(extensions, exts.iter().map(|(k, _)| *k).collect::<Vec<_>>());
            }
            other => prop_assert!(false, "{:?}", other),
        }
        for cut in 0..wire.len() {
            prop_assert_eq!(parse_response(&wire[..cut]), Parse::NeedMore, "cut at {}", cut);
        }
    }

    /// A ServerHello whose extension block lies about its length is malformed, never accepted.
    #[test]
    fn lying_extension_lengths_are_malformed(
        exts in prop::collection::vec(extension(), 1..4),
        delta in prop::sample::select(vec![-3i32, -1, 1, 2, 7]),
    ) {
        let mut msg = server_hello_message(0x0301, &[], 0xc013, &exts);
        let at = 4 + 2 + 32 + 1 + 2 + 1;
        let claimed = i32::from(u16::from_be_bytes([msg[at], msg[at + 1]])) + delta;
        prop_assume!((0..=0xffff).contains(&claimed));
        msg[at..at + 2].copy_from_slice(&(claimed as u16).to_be_bytes());
        let wire = records(&msg, 500, 0x0301);
        let parsed = parse_response(&wire);
        prop_assert!(matches!(parsed, Parse::Done(HelloResponse::Malformed { .. })), "{:?}", parsed);
    }

    /// Alerts of any level 1/2 and description come back as sent.
    #[test]
    fn alerts_round_trip(level in 1u8..=2, description in any::<u8>(), version in 0x0300u16..=0x0303) {
        let mut rec = vec![21];
        rec.extend_from_slice(&version.to_be_bytes());
        rec.extend_from_slice(&[0, 2, level, description]);
        let parsed = parse_response(&rec);
        prop_assert!(
            matches!(parsed, Parse::Done(HelloResponse::Alert { level: l, description: d, .. }) if l == level && d == description),
            "{:?}", parsed
        );
    }

    /// The ClientHello's lengths add up for any host name and either version.
    #[test]
    fn client_hellos_are_consistent(
        labels in prop::collection::vec("[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", 1..5),
        tls11 in any::<bool>(),
        random in prop::array::uniform32(any::<u8>()),
    ) {
        let name = labels.join(".");
        let version = if tls11 { LegacyVersion::Tls11 } else { LegacyVersion::Tls10 };
        let h = client_hello(version, &name, random);
        prop_assert_eq!(usize::from(u16::from_be_bytes([h[3], h[4]])), h.len() - 5);
        prop_assert_eq!(h[5], 1);
        let hs_len = (usize::from(h[6]) << 16) | (usize::from(h[7]) << 8) | usize::from(h[8]);
        prop_assert_eq!(hs_len, h.len() - 9);
        prop_assert_eq!(u16::from_be_bytes([h[9], h[10]]), version.wire());
        prop_assert_eq!(&h[11..43], &random[..]);
        // session id, suites, compression, then an extension block that fills the rest.
        let mut at = 43;
        prop_assert_eq!(h[at], 0);
        at += 1;
        let suites = usize::from(u16::from_be_bytes([h[at], h[at + 1]]));
        at += 2 + suites;
        prop_assert_eq!(&h[at..at + 2], &[1u8, 0][..]);
        at += 2;
        let ext_len = usize::from(u16::from_be_bytes([h[at], h[at + 1]]));
        prop_assert_eq!(ext_len, h.len() - at - 2);
        let mut kinds = Vec::new();
        let mut p = at + 2;
        while p < h.len() {
            let kind = u16::from_be_bytes([h[p], h[p + 1]]);
            let len = usize::from(u16::from_be_bytes([h[p + 2], h[p + 3]]));
            kinds.push(kind);
            p += 4 + len;
        }
        prop_assert_eq!(p, h.len());
        if name.parse::<std::net::IpAddr>().is_ok() {
            // RFC 6066 §3: no IP literals in SNI.
            prop_assert_eq!(kinds, vec![0x000a, 0x000b, 0xff01]);
        } else {
            prop_assert_eq!(kinds, vec![0x0000, 0x000a, 0x000b, 0xff01]);
            prop_assert!(h.windows(name.len()).any(|w| w == name.as_bytes()));
        }
    }

    /// Whatever the message, the payload never holds a standard end of DATA, its only bare LFs
    /// are those of the chosen end, and it ends with that end.
    #[test]
    fn smuggling_payloads_hold_one_end_only(
        message in prop::collection::vec(prop::sample::select(vec![b'a', b'.', b'\r', b'\n', b' ', b'X']), 0..400),
        end in prop::sample::select(vec![EndOfData::LfDotCrLf, EndOfData::CrLfDotLf, EndOfData::LfDotLf]),
    ) {
        let p = payload(&message, end);
        prop_assert!(p.ends_with(end.bytes()));
        let body = &p[..p.len() - end.bytes().len()];
        prop_assert!(!p.windows(5).any(|w| w == b"\r\n.\r\n"), "standard end in {:?}", p);
        prop_assert!(!body.starts_with(b".\r\n"));
        for (i, &b) in body.iter().enumerate() {
            if b == b'\n' {
                prop_assert!(i > 0 && body[i - 1] == b'\r', "bare LF at {} in {:?}", i, body);
            }
        }
        // Lines that start with a dot are doubled.
        for line in body.split(|&b| b == b'\n') {
            if line.first() == Some(&b'.') {
                prop_assert_eq!(line.get(1), Some(&b'.'));
            }
        }
    }

    /// Queue ids: bounded, alphanumeric, whatever the server wrote.
    #[test]
    fn queue_ids_are_bounded(text in ".{0,300}") {
        if let Some(id) = queue_id(&text) {
            prop_assert!(!id.is_empty() && id.len() <= 64);
            prop_assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        }
    }
}

/// Every hardening requirement has a check in the `hardening` family, and `H*` selects exactly
/// those (`--only 'H*'`) or all but those (`--skip 'H*'`).
#[test]
fn h_star_selects_the_hardening_checks_and_only_them() {
    use mailcheck::catalogue::{Catalogue, select};
    let cat = Catalogue::embedded().unwrap();
    let only = select(&cat, &["H*".to_string()], &[]).unwrap();
    let mut reqs: Vec<&str> = only.iter().map(|c| c.requirement.as_str()).collect();
    reqs.sort_unstable();
    reqs.dedup();
    assert_eq!(reqs.len(), 7, "{reqs:?}");
    for n in 1..=7 {
        assert!(
            reqs.contains(&format!("H{n}").as_str()),
            "no check for H{n}"
        );
    }
    assert!(
        only.iter()
            .all(|c| c.family == "hardening" && c.id.starts_with("hardening."))
    );
    let hardening = cat
        .checks()
        .iter()
        .filter(|c| c.family == "hardening")
        .count();
    assert_eq!(only.len(), hardening);
    let rest = select(&cat, &[], &["H*".to_string()]).unwrap();
    assert_eq!(rest.len() + only.len(), cat.checks().len());
    assert!(rest.iter().all(|c| c.requirement.starts_with('T')));
    // `mailcheck list` shows each with its requirement.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mailcheck"))
        .arg("list")
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    for c in &only {
        assert!(
            list.lines().any(|l| l.starts_with(&c.id)
                && l.split_whitespace().nth(1) == Some(c.requirement.as_str())),
            "`mailcheck list` lacks {} {}:\n{list}",
            c.id,
            c.requirement
        );
    }
}
