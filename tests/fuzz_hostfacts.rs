//! Property tests for the host-fact probes' parsers of server-controlled input: /proc files
//! (cmdline, stat, status, uptime, net/tcp, net/unix), saslauthd command lines and defaults
//! files, my.cnf with includes, passwd/group, PEM certificate and key files, Postfix table
//! references; and the access walk over arbitrary fabricated trees (symlink loops included).
//! Each must return without panicking and stay bounded. The suite prints how many inputs it
//! tried.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use mailcheck::probe::access::{self, Access, Identity, MemFs};
use mailcheck::probe::daemons::{mycnf, postfix as pfrun, saslauthd};
use mailcheck::probe::file::FileKind;
use mailcheck::probe::{procfs, tls_material};
use proptest::prelude::*;

/// Prints a count and appends it to target/tmp/reliability.txt (shown by tests/run.sh).
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

static TRIED: AtomicUsize = AtomicUsize::new(0);

fn count() {
    TRIED.fetch_add(1, Ordering::Relaxed);
}

fn text_of(atoms: Vec<&'static str>, max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(atoms), 0..max).prop_map(|v| v.concat())
}

fn proc_text() -> impl Strategy<Value = String> {
    text_of(
        vec![
            "42 ",
            "(",
            ")",
            "smtpd",
            " ",
            "S ",
            "1 ",
            "123456 ",
            "\n",
            "Uid:",
            "Gid:",
            "Groups:",
            "\t",
            "0",
            "103",
            "-1",
            "18446744073709551616",
            "btime ",
            "12345.67",
            ".",
            ":",
            "0100007F:0CEA",
            "00000000000000000000000001000000:0019",
            "0A",
            "01",
            "socket:[",
            "]",
            "00010000",
            "/run/mysqld/mysqld.sock",
            "@abs",
            "Num RefCount\n",
            "ZZ",
            "é",
        ],
        80,
    )
}

fn cnf_text() -> impl Strategy<Value = String> {
    text_of(
        vec![
            "[mysqld]",
            "[client]",
            "[",
            "]",
            "\n",
            " ",
            "=",
            "skip-networking",
            "skip_",
            "loose-",
            "bind-address",
            "port",
            "socket",
            "'",
            "\"",
            "\\",
            "#",
            ";",
            "!include ",
            "!includedir ",
            "/a.cnf",
            "/d",
            "/d/x.cnf",
            "127.0.0.1",
            "3306",
            "disable-",
            "é",
        ],
        60,
    )
}

fn sasl_text() -> impl Strategy<Value = String> {
    text_of(
        vec![
            "-a",
            "pam",
            "-c",
            "-r",
            "-m",
            "/var/run/saslauthd",
            "-n",
            "5",
            "-O",
            "-t",
            "-s",
            "-d",
            "-h",
            "-v",
            "-V",
            "-l",
            "-z",
            "-",
            "--",
            ":",
            " ",
            "-cr",
            "-m/x",
            "OPTIONS=",
            "START=",
            "MECHANISMS=",
            "THREADS=",
            "MECH_OPTIONS=",
            "\"",
            "'",
            "$",
            "${",
            "}",
            "\n",
            "#",
            "\\",
        ],
        50,
    )
}

fn pem_text() -> impl Strategy<Value = String> {
    text_of(
        vec![
            "-----BEGIN CERTIFICATE-----\n",
            "-----END CERTIFICATE-----\n",
            "-----BEGIN PRIVATE KEY-----\n",
            "-----END PRIVATE KEY-----\n",
            "-----BEGIN RSA PRIVATE KEY-----\n",
            "-----END RSA PRIVATE KEY-----\n",
            "-----BEGIN EC PRIVATE KEY-----\n",
            "-----END EC PRIVATE KEY-----\n",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\n",
            "Proc-Type: 4,ENCRYPTED\n",
            "MIIB",
            "MAA=",
            "AAAA",
            "MA==",
            "MCowBQYDK2VwAyEA",
            "!!",
            "\n",
            " ",
            "-----BEGIN ",
            "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg",
        ],
        40,
    )
}

fn postfix_value() -> impl Strategy<Value = String> {
    text_of(
        vec![
            "hash:",
            "regexp:",
            "proxy:",
            "mysql:",
            "unionmap:{",
            "pipemap:{",
            "}",
            "{",
            ",",
            " ",
            "/etc/postfix/x",
            "static:5000",
            "inline:{a=b}",
            "lmdb:",
            ":",
            "$x",
        ],
        40,
    )
}

/// A random small tree: paths over a few names, every kind, random modes and owners, and
/// symlinks to absolute, relative, `..` and looping targets.
fn memfs() -> impl Strategy<Value = MemFs> {
    let name = prop::sample::select(vec!["a", "b", "c", "..", "."]);
    let path = prop::collection::vec(name, 1..4).prop_map(|v| format!("/{}", v.join("/")));
    let target = prop::sample::select(vec![
        "/", "/a", "/a/b", "a", "b/c", "..", "../a", ".", "/c/../a", "",
    ]);
    let node = (path, 0u8..5, 0u32..0o10000, 0u32..3, 0u32..3, target);
    prop::collection::vec(node, 0..24).prop_map(|nodes| {
        let mut fs = MemFs::new();
        for (p, kind, mode, uid, gid, t) in nodes {
            let kind = match kind {
                0 => FileKind::Dir,
                1 => FileKind::File,
                2 => FileKind::Socket,
                3 => FileKind::Symlink,
                _ => FileKind::Other,
            };
            let n = fs.add(&p, kind, mode, uid, gid);
            if kind == FileKind::Symlink {
                n.link_target = Some(PathBuf::from(t));
            }
        }
        fs.protected_symlinks = true;
        fs
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn proc_files(raw in prop::collection::vec(any::<u8>(), 0..256), text in proc_text()) {
        count();
        let argv = procfs::parse_cmdline(&raw);
        prop_assert!(argv.len() <= raw.len() + 1);
        let _ = procfs::parse_stat(&text);
        let _ = procfs::parse_status(&text);
        let _ = procfs::parse_btime(&text);
        let _ = procfs::parse_uptime_ms(&text);
        let _ = procfs::parse_net_tcp(&text);
        let _ = procfs::parse_net_unix(&text);
        let _ = procfs::socket_inode(&text);
        let _ = procfs::ticks_to_unix_ms(i64::MAX, u64::MAX, 1);
    }

    #[test]
    fn saslauthd_argv_and_defaults(text in sasl_text()) {
        count();
        let o = saslauthd::SaslauthdOptions::parse_words(&text);
        // At most one option per letter and one operand per word.
        prop_assert!(o.opts.len() + o.operands.len() <= text.len());
        let e = o.effective();
        let d = saslauthd::parse_defaults(Path::new("/etc/default/saslauthd"), &text);
        let _ = saslauthd::differences(&e, &d.options_parsed.effective());
    }

    #[test]
    fn my_cnf_with_includes(a in cnf_text(), b in cnf_text(), c in cnf_text()) {
        count();
        let _ = mycnf::parse_text(&a);
        struct Fake(BTreeMap<PathBuf, String>);
        impl mycnf::Source for Fake {
            fn read(&self, p: &Path) -> std::io::Result<String> {
                self.0.get(p).cloned().ok_or_else(|| std::io::ErrorKind::NotFound.into())
            }
            fn list(&self, d: &Path) -> std::io::Result<Vec<PathBuf>> {
                Ok(self.0.keys().filter(|p| p.parent() == Some(d)).cloned().collect())
            }
        }
        let fake = Fake([("/etc/my.cnf".into(), a), ("/a.cnf".into(), b), ("/d/x.cnf".into(), c)].into());
        let o = mycnf::load_from(&fake, &[PathBuf::from("/etc/my.cnf")]);
        prop_assert!(o.files.len() <= 256);
        let g = mycnf::server_groups("10.11");
        let _ = o.flag(&g, "skip-networking");
        let _ = o.value(&g, "bind-address");
    }

    #[test]
    fn passwd_and_group(text in text_of(vec!["postfix", ":", "x", "103", "106", "\n", "sasl", ",", "", "+", "-", "#", "4294967296"], 40)) {
        count();
        let _ = access::parse_passwd(&text);
        let _ = access::parse_group(&text);
        let _ = Identity::from_databases("postfix", &text, &text, (Path::new("p"), Path::new("g")));
    }

    #[test]
    fn pem_files(text in pem_text(), other in pem_text()) {
        count();
        let blocks = tls_material::pem_blocks(&text);
        prop_assert!(blocks.len() <= 64);
        let _ = tls_material::examine(Path::new("c"), &text, Path::new("c"), None);
        let _ = tls_material::examine(Path::new("c"), &text, Path::new("k"), Some(&other));
    }

    #[test]
    fn table_references(v in postfix_value()) {
        count();
        let _ = pfrun::table_refs(&v);
        let _ = pfrun::chroot_default(&v);
    }

    #[test]
    fn access_walk_terminates(fs in memfs(), uid in 0u32..3, gid in 0u32..3, p in prop::sample::select(vec!["/a", "/a/b/c", "/b/../a", "/c", "a/b", "/", "/a/../../b", "/a/./b"]), root in prop::sample::select(vec![None, Some("/a"), Some("/b")]), acc in 0u8..5) {
        count();
        let access = [Access::Read, Access::Write, Access::Execute, Access::Connect, Access::CreateIn][usize::from(acc)];
        let id = Identity::from_ids(uid, gid, &[gid + 1]);
        let r = access::walk(&fs, &id, root.map(Path::new), Path::new(p), access);
        prop_assert!(r.hops <= access::MAX_SYMLINKS + 1);
        prop_assert!(r.steps.len() <= 20_000);
    }
}

/// A real certificate and key, mangled one byte at a time in the DER: examined without
/// panicking.
#[test]
fn mutated_real_pem() {
    use base64::Engine as _;
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["mx.example.test".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let key_der = key.serialize_der();
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    for (label, der) in [
        ("PRIVATE KEY", key_der.clone()),
        ("CERTIFICATE", cert.der().to_vec()),
    ] {
        for i in 0..der.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut m = der.clone();
                m[i] ^= flip;
                let text = format!(
                    "-----BEGIN {label}-----\n{}\n-----END {label}-----\n{}",
                    b64(&m),
                    if label == "CERTIFICATE" {
                        key.serialize_pem()
                    } else {
                        cert.pem()
                    }
                );
                let _ = tls_material::examine(Path::new("c"), &text, Path::new("c"), None);
                count();
            }
            let text = format!(
                "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
                b64(&der[..i])
            );
            let _ = tls_material::examine(Path::new("c"), &text, Path::new("c"), None);
            count();
        }
    }
}

/// Prints the number of inputs tried by the tests that ran before it in this process.
#[test]
fn zz_report_inputs_tried() {
    record!(
        "fuzz_hostfacts: {} inputs tried, 0 panics",
        TRIED.load(Ordering::Relaxed)
    );
}
