//! Property tests for every parser that reads what a server or a user controls: SMTP replies
//! and EHLO keywords, main.cf and master.cf, mysql map files, regexp tables, PAM and SASL
//! files, shell-variable files, mynetworks, saslauthd answers, certificates (DER and PEM), the
//! config file, check TOML. Each must return (a value or a clear error) without panicking, and
//! stay bounded. Coverage-guided fuzzing of the same parsers is in fuzz/ (`bash bench/fuzz.sh`);
//! what it found is pinned at the end of this file.
//!
//! Each property counts the inputs it ran and, when it passed, writes that count to its own file,
//! target/tmp/reliability/fuzz_parsers.NAME.txt (a rerun overwrites it; no test reads another's
//! count, so the order and the threads the tests run on do not matter). tests/run.sh assembles
//! the files into target/tmp/reliability.txt. A failing property writes nothing: the run fails.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use mailcheck::probe;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Inputs a property tries (proptest's default is 256).
const CASES: u32 = 512;

/// Writes `name`'s count to its own file under target/tmp/reliability/ and prints it (cargo test
/// shows it with --nocapture).
fn record(name: &str, tried: usize) {
    let line = format!("fuzz_parsers::{name}: {tried} inputs tried, all returned");
    println!("{line}");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("fuzz_parsers.{name}.txt")), line + "\n").unwrap();
}

/// Runs `test` on `cases` inputs drawn from `strategy` (panics in `test` are failures, shrunk by
/// proptest), then records how many inputs it ran.
fn property<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let tried = AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |v| {
        tried.fetch_add(1, Ordering::Relaxed);
        test(v)
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    record(name, tried.load(Ordering::Relaxed));
}

/// Text that looks like config files: keywords, separators, `$`, braces, quotes, newlines.
fn config_text() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "mydestination",
        "myhostname",
        "=",
        " = ",
        "$",
        "${",
        "}",
        "$(",
        ")",
        "{",
        "\n",
        "\n  ",
        "#",
        ",",
        " ",
        "\t",
        "-o",
        "smtpd",
        "inet",
        "n",
        "-",
        "y",
        "?",
        ":",
        "\"",
        "'",
        "\\",
        "mysql:/etc/postfix/x.cf",
        "hash:",
        "127.0.0.0/8",
        "[::1]/128",
        "query",
        "%s",
        "%u",
        "%d",
        "%%",
        "user",
        "password",
        "hosts",
        "/name=.*\\.exe$/",
        "REJECT",
        "auth",
        "pam_mysql.so",
        "crypt=1",
        "START=yes",
        "OPTIONS=\"-c -m /x\"",
        "é",
        "\u{0}",
        "\r",
    ]);
    prop::collection::vec(atoms, 0..64).prop_map(|v| v.concat())
}

#[test]
fn smtp_replies() {
    property(
        "smtp_replies",
        CASES,
        prop::collection::vec(any::<u8>(), 0..3000),
        |bytes| {
            if let Ok(r) = probe::smtp::parse_reply(&bytes) {
                prop_assert!(r.lines.len() <= probe::smtp::MAX_LINES);
                let _ = probe::smtp::Capabilities::from_ehlo(&r).auth_mechanisms();
            }
            Ok(())
        },
    );
}

#[test]
fn smtp_reply_shaped_text() {
    property(
        "smtp_reply_shaped_text",
        CASES,
        prop::collection::vec("[0-9]{3}[- ]?[ -~]{0,40}", 1..20),
        |lines| {
            let text = lines.join("\r\n") + "\r\n";
            if let Ok(r) = probe::smtp::parse_reply(text.as_bytes()) {
                let c = probe::smtp::Capabilities::from_ehlo(&r);
                let _ = (c.size(), c.has("STARTTLS"), c.auth_mechanisms());
            }
            Ok(())
        },
    );
}

#[test]
fn main_cf_and_master_cf() {
    property("main_cf_and_master_cf", CASES, config_text(), |text| {
        let m = probe::postfix::MainCf::parse(Path::new("main.cf"), &text, "host.example.org");
        for name in [
            "mydestination",
            "myhostname",
            "mydomain",
            "smtpd_banner",
            "relay_domains",
        ] {
            let _ = m.get(name);
        }
        let _ = probe::postfix::MasterCf::parse(Path::new("master.cf"), &text);
        let _ = probe::postfix::map_references(&text);
        Ok(())
    });
}

#[test]
fn self_referencing_parameters_terminate() {
    property(
        "self_referencing_parameters_terminate",
        CASES,
        ("[a-z]{1,3}", "[a-z]{1,3}"),
        |(a, b)| {
            let text = format!("{a} = ${b} ${a}\n{b} = ${{{a}}}$({b})\n");
            let m = probe::postfix::MainCf::parse(Path::new("main.cf"), &text, "h.example");
            prop_assert!(m.get(&a).len() < 1_000_000);
            Ok(())
        },
    );
}

#[test]
fn derived_defaults_that_refer_back_terminate() {
    // myhostname and mydomain have defaults derived from each other; any web of references
    // among them and the parameters whose defaults name them must expand, not overflow.
    const NAMES: [&str; 6] = [
        "myhostname",
        "mydomain",
        "mydestination",
        "myorigin",
        "smtpd_banner",
        "relay_domains",
    ];
    property(
        "derived_defaults_that_refer_back_terminate",
        CASES,
        (
            prop::collection::vec(
                (
                    0usize..6,
                    prop::collection::vec(0usize..6, 0..4),
                    any::<bool>(),
                ),
                0..6,
            ),
            any::<bool>(),
        ),
        |(refs, dotted)| {
            let mut text = String::new();
            for (name, to, braced) in &refs {
                let value: Vec<String> = to
                    .iter()
                    .map(|t| {
                        if *braced {
                            format!("${{{}?{{x.${}}}}}", NAMES[*t], NAMES[*t])
                        } else {
                            format!("${}", NAMES[*t])
                        }
                    })
                    .collect();
                text.push_str(&format!("{} = {}\n", NAMES[*name], value.join(" ")));
            }
            let host = if dotted { "vm.example.org" } else { "vm" };
            let m = probe::postfix::MainCf::parse(Path::new("main.cf"), &text, host);
            for n in NAMES {
                prop_assert!(m.get(n).len() < 1_000_000);
                let _ = m.raw_or_default(n);
            }
            Ok(())
        },
    );
}

#[test]
fn map_and_table_files() {
    property("map_and_table_files", CASES, config_text(), |text| {
        let map = probe::maps::MysqlMap::parse(Path::new("m.cf"), &text);
        let _ = map.query_template();
        let _ = map.summary();
        let _ = probe::maps::RegexpTable::parse(&text);
        let _ = probe::pam::parse(&text);
        let _ = probe::sasl_conf::parse(&text);
        let _ = probe::shell_vars::parse(&text);
        let _ = probe::mynetworks::Mynetworks::parse(&text);
        Ok(())
    });
}

#[test]
fn saslauthd_answers() {
    property(
        "saslauthd_answers",
        CASES,
        prop::collection::vec(any::<u8>(), 0..1100),
        |bytes| {
            let _ = probe::saslauthd::parse_answer(&bytes);
            Ok(())
        },
    );
}

#[test]
fn certificates() {
    property(
        "certificates",
        CASES,
        prop::collection::vec(any::<u8>(), 0..2048),
        |bytes| {
            let _ = probe::tls::CertInfo::from_der(&bytes);
            let _ = probe::tls::certs_from_pem(&bytes);
            Ok(())
        },
    );
}

#[test]
fn pem_shaped_certificates() {
    property(
        "pem_shaped_certificates",
        CASES,
        "[A-Za-z0-9+/=\n]{0,600}",
        |body| {
            let pem = format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n");
            let _ = probe::tls::certs_from_pem(pem.as_bytes());
            Ok(())
        },
    );
}

#[test]
fn config_files() {
    property("config_files", CASES, config_text(), |text| {
        let p = std::env::temp_dir().join(format!("mc-fuzz-{}.toml", std::process::id()));
        std::fs::write(&p, &text).unwrap();
        let _ = mailcheck::config::ConfigFile::load(&p, true);
        Ok(())
    });
}

#[test]
fn check_toml() {
    property("check_toml", CASES, config_text(), |text| {
        let _ = mailcheck::catalogue::Catalogue::from_sources([("postfix/x.toml", text.as_str())]);
        Ok(())
    });
}

/// A certificate mangled one byte at a time: every variant is handled without panicking.
#[test]
fn mutated_real_certificate() {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["mx.example.test".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der = cert.der().to_vec();
    assert!(probe::tls::CertInfo::from_der(&der).is_ok());
    let mut tried = 0;
    for i in 0..der.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut m = der.clone();
            m[i] ^= flip;
            let _ = probe::tls::CertInfo::from_der(&m);
            tried += 1;
        }
        let _ = probe::tls::CertInfo::from_der(&der[..i]);
        tried += 1;
    }
    record("mutated_real_certificate", tried);
}

// What coverage-guided fuzzing (fuzz/, bench/fuzz.sh) found, one test per crash.

/// fuzz/ postfix_config (seed 133cfc8d596f6a74): `mydomain = $myhostname` with a system
/// hostname without a dot recursed through myhostname's default (`host.$mydomain`) until the
/// stack overflowed. Postfix evaluates mydomain before myhostname is set, so `$myhostname` is
/// empty there: myhostname is `atlantis.`, and mydomain the same.
#[test]
fn fuzz_crash_mydomain_references_myhostname() {
    let m =
        probe::postfix::MainCf::parse(Path::new("main.cf"), "mydomain = $myhostname\n", "atlantis");
    assert_eq!(m.get("myhostname"), "atlantis.");
    assert_eq!(m.get("mydomain"), "atlantis.");
    let m = probe::postfix::MainCf::parse(
        Path::new("main.cf"),
        "mydomain = ${myhostname?{$myhostname.x}:y}\nmyorigin = $mydomain\n",
        "atlantis",
    );
    let _ = (m.get("myhostname"), m.get("myorigin"));
}

/// fuzz/ ssh_target (4 artifacts, 2026-12-02): a bracketed `--ssh` host (`u@[1:1]`, `u@[:]`)
/// parsed, but its Display dropped the brackets, so the printed target parsed to another host
/// and port; `u:@[[1]:1` kept a bracket in the host. Display now brackets every host with a
/// ':', and a bracket inside a host is refused.
#[test]
fn fuzz_crash_ssh_target_round_trip() {
    for s in ["u@[1:1]", "u@[:]", "u@[gggggggggggg1:1]", "u@::1"] {
        let t: mailcheck::remote::ssh::Target = s.parse().unwrap();
        let again = t.to_string().parse::<mailcheck::remote::ssh::Target>().ok();
        assert_eq!(again, Some(t), "{s}");
    }
    // A bracket inside the host is no host name (it cannot be shown so that it parses back).
    assert!(
        "u:@[[1]:1"
            .parse::<mailcheck::remote::ssh::Target>()
            .is_err()
    );
}
