//! Property tests for every parser that reads what a server or a user controls: SMTP replies
//! and EHLO keywords, main.cf and master.cf, mysql map files, regexp tables, PAM and SASL
//! files, shell-variable files, mynetworks, saslauthd answers, certificates (DER and PEM), the
//! config file, check TOML. Each must return (a value or a clear error) without panicking, and
//! stay bounded. The suite prints how many inputs it tried.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Prints a count and appends it to target/tmp/reliability.txt, which tests/run.sh shows at the
/// end of the suite (cargo test hides the output of passing tests).
macro_rules! record {
    ($($arg:tt)*) => {{
        let line = format!($($arg)*);
        println!("{line}");
        use std::io::Write as _;
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability.txt");
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(f, "{line}");
        }
    }};
}

use mailcheck::probe;
use proptest::prelude::*;

static TRIED: AtomicUsize = AtomicUsize::new(0);

fn count() {
    TRIED.fetch_add(1, Ordering::Relaxed);
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn smtp_replies(bytes in prop::collection::vec(any::<u8>(), 0..3000)) {
        count();
        if let Ok(r) = probe::smtp::parse_reply(&bytes) {
            prop_assert!(r.lines.len() <= probe::smtp::MAX_LINES);
            let _ = probe::smtp::Capabilities::from_ehlo(&r).auth_mechanisms();
        }
    }

    #[test]
    fn smtp_reply_shaped_text(lines in prop::collection::vec("[0-9]{3}[- ]?[ -~]{0,40}", 1..20)) {
        count();
        let text = lines.join("\r\n") + "\r\n";
        if let Ok(r) = probe::smtp::parse_reply(text.as_bytes()) {
            let c = probe::smtp::Capabilities::from_ehlo(&r);
            let _ = (c.size(), c.has("STARTTLS"), c.auth_mechanisms());
        }
    }

    #[test]
    fn main_cf_and_master_cf(text in config_text()) {
        count();
        let m = probe::postfix::MainCf::parse(Path::new("main.cf"), &text, "host.example.org");
        for name in ["mydestination", "myhostname", "mydomain", "smtpd_banner", "relay_domains"] {
            let _ = m.get(name);
        }
        let _ = probe::postfix::MasterCf::parse(Path::new("master.cf"), &text);
        let _ = probe::postfix::map_references(&text);
    }

    #[test]
    fn self_referencing_parameters_terminate(a in "[a-z]{1,3}", b in "[a-z]{1,3}") {
        count();
        let text = format!("{a} = ${b} ${a}\n{b} = ${{{a}}}$({b})\n");
        let m = probe::postfix::MainCf::parse(Path::new("main.cf"), &text, "h.example");
        prop_assert!(m.get(&a).len() < 1_000_000);
    }

    #[test]
    fn derived_defaults_that_refer_back_terminate(
        refs in prop::collection::vec((0usize..6, prop::collection::vec(0usize..6, 0..4), any::<bool>()), 0..6),
        dotted in any::<bool>(),
    ) {
        count();
        // myhostname and mydomain have defaults derived from each other; any web of references
        // among them and the parameters whose defaults name them must expand, not overflow.
        const NAMES: [&str; 6] = ["myhostname", "mydomain", "mydestination", "myorigin", "smtpd_banner", "relay_domains"];
        let mut text = String::new();
        for (name, to, braced) in &refs {
            let value: Vec<String> = to
                .iter()
                .map(|t| if *braced { format!("${{{}?{{x.${}}}}}", NAMES[*t], NAMES[*t]) } else { format!("${}", NAMES[*t]) })
                .collect();
            text.push_str(&format!("{} = {}\n", NAMES[*name], value.join(" ")));
        }
        let host = if dotted { "vm.example.org" } else { "vm" };
        let m = probe::postfix::MainCf::parse(Path::new("main.cf"), &text, host);
        for n in NAMES {
            prop_assert!(m.get(n).len() < 1_000_000);
            let _ = m.raw_or_default(n);
        }
    }

    #[test]
    fn map_and_table_files(text in config_text()) {
        count();
        let map = probe::maps::MysqlMap::parse(Path::new("m.cf"), &text);
        let _ = map.query_template();
        let _ = map.summary();
        let _ = probe::maps::RegexpTable::parse(&text);
        let _ = probe::pam::parse(&text);
        let _ = probe::sasl_conf::parse(&text);
        let _ = probe::shell_vars::parse(&text);
        let _ = probe::mynetworks::Mynetworks::parse(&text);
    }

    #[test]
    fn saslauthd_answers(bytes in prop::collection::vec(any::<u8>(), 0..1100)) {
        count();
        let _ = probe::saslauthd::parse_answer(&bytes);
    }

    #[test]
    fn certificates(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        count();
        let _ = probe::tls::CertInfo::from_der(&bytes);
        let _ = probe::tls::certs_from_pem(&bytes);
    }

    #[test]
    fn pem_shaped_certificates(body in "[A-Za-z0-9+/=\n]{0,600}") {
        count();
        let pem = format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n");
        let _ = probe::tls::certs_from_pem(pem.as_bytes());
    }

    #[test]
    fn config_files(text in config_text()) {
        count();
        let p = std::env::temp_dir().join(format!("mc-fuzz-{}.toml", std::process::id()));
        std::fs::write(&p, &text).unwrap();
        let _ = mailcheck::config::ConfigFile::load(&p, true);
    }

    #[test]
    fn check_toml(text in config_text()) {
        count();
        let _ = mailcheck::catalogue::Catalogue::from_sources([("postfix/x.toml", text.as_str())]);
    }
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
    for i in 0..der.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut m = der.clone();
            m[i] ^= flip;
            let _ = probe::tls::CertInfo::from_der(&m);
            count();
        }
        let _ = probe::tls::CertInfo::from_der(&der[..i]);
        count();
    }
}

/// Prints the number of inputs tried by the tests that ran before it in this process (run the
/// file with `--test-threads=1 --nocapture` to see the total; tests/run.sh does).
#[test]
fn zz_report_inputs_tried() {
    record!(
        "fuzz_parsers: {} inputs tried, 0 panics",
        TRIED.load(Ordering::Relaxed)
    );
}
