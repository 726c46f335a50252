//! The TLS material probe on certificates and keys made by `openssl` (what admins make them
//! with): RSA 1024 and 2048, EC P-256 in PKCS#8 and SEC1, Ed25519, a SHA-1 signature, PKCS#1
//! keys, a key that is not the certificate's, a chain in and out of order, encrypted keys, and
//! files that are missing or unreadable. Needs the openssl command (on Debian: package openssl).

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::Command;

use mailcheck::probe::tls_material::{self, FileState, KeyMatch, TlsMaterial};

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("mailcheck-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn p(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }
    /// Runs `script` with `cd` into the directory; panics with openssl's output on failure.
    fn sh(&self, script: &str) {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("set -e; cd {}; {script}", self.0.display()))
            .output()
            .expect("bash runs (and openssl is installed)");
        assert!(
            out.status.success(),
            "`{script}`: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    fn cat(&self, out: &str, parts: &[&str]) -> PathBuf {
        let text: String = parts
            .iter()
            .map(|p| std::fs::read_to_string(self.p(p)).unwrap())
            .collect();
        std::fs::write(self.p(out), text).unwrap();
        self.p(out)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const SUBJ: &str = "-subj /CN=atlantis.example.com";

fn same(p: &Path) -> TlsMaterial {
    tls_material::observe(p, p)
}

#[test]
fn rsa_sizes_and_signatures() {
    let d = Dir::new("rsa");
    d.sh(&format!("openssl req -x509 -newkey rsa:1024 -nodes -keyout k1024.pem -out c1024.pem -days 30 {SUBJ} 2>/dev/null"));
    d.sh(&format!("openssl req -x509 -newkey rsa:2048 -nodes -sha1 -keyout k2048.pem -out c2048.pem -days 30 {SUBJ} 2>/dev/null"));
    let m = same(&d.cat("1024.pem", &["c1024.pem", "k1024.pem"]));
    let leaf = &m.certificates[0];
    assert_eq!(
        (leaf.key.algorithm.as_str(), leaf.key.bits),
        ("RSA", Some(1024))
    );
    assert_eq!(leaf.signature.name, "sha256WithRSAEncryption");
    assert!(!leaf.signature.weak_digest);
    assert_eq!(m.keys[0].kind.as_ref().and_then(|k| k.bits), Some(1024));
    assert_eq!(m.key_matches_leaf, KeyMatch::Matches);
    assert_eq!(
        m.cert_blocks
            .iter()
            .map(|b| b.label.as_str())
            .collect::<Vec<_>>(),
        ["CERTIFICATE", "PRIVATE KEY"]
    );

    let m = same(&d.cat("2048.pem", &["c2048.pem", "k2048.pem"]));
    let leaf = &m.certificates[0];
    assert_eq!(leaf.key.bits, Some(2048));
    assert_eq!(leaf.signature.name, "sha1WithRSAEncryption");
    assert_eq!(leaf.signature.digest.as_deref(), Some("sha1"));
    assert!(leaf.signature.weak_digest);
    assert_eq!(m.key_matches_leaf, KeyMatch::Matches);
    println!("{}", serde_json::to_string_pretty(&m).unwrap());

    // The same key as PKCS#1 ("RSA PRIVATE KEY"), in a separate file, before the certificate.
    d.sh("openssl rsa -in k2048.pem -traditional -out k2048-pkcs1.pem 2>/dev/null");
    let m = tls_material::observe(&d.p("c2048.pem"), &d.p("k2048-pkcs1.pem"));
    assert!(!m.same_file);
    assert_eq!(m.keys[0].format, "PKCS#1");
    assert_eq!(m.key_matches_leaf, KeyMatch::Matches);
    // Serial as openssl prints it.
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(d.p("c2048.pem"))
        .output()
        .unwrap();
    let serial = String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches("serial=")
        .to_string();
    assert_eq!(
        m.certificates[0]
            .serial
            .replace(':', "")
            .to_ascii_uppercase(),
        serial.to_ascii_uppercase()
    );
}

#[test]
fn ec_and_ed25519() {
    let d = Dir::new("ec");
    d.sh(&format!("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -out c.pem -days 30 {SUBJ} 2>/dev/null"));
    let m = same(&d.cat("p8.pem", &["k.pem", "c.pem"]));
    assert_eq!(m.certificates[0].key.curve.as_deref(), Some("prime256v1"));
    assert_eq!(m.certificates[0].signature.name, "ecdsa-with-SHA256");
    assert_eq!(m.keys[0].format, "PKCS#8");
    assert_eq!(m.keys[0].consistent, Some(true));
    assert_eq!(m.key_matches_leaf, KeyMatch::Matches);
    // SEC1 ("EC PRIVATE KEY"), with the EC PARAMETERS block openssl ecparam writes.
    d.sh("openssl ec -in k.pem -out sec1.pem 2>/dev/null && openssl ecparam -name prime256v1 -out params.pem");
    let m = same(&d.cat("sec1-all.pem", &["params.pem", "sec1.pem", "c.pem"]));
    assert_eq!(m.keys.len(), 1);
    assert_eq!(m.keys[0].format, "SEC1");
    assert_eq!(m.keys[0].consistent, Some(true));
    assert_eq!(m.key_matches_leaf, KeyMatch::Matches);

    d.sh(&format!("openssl req -x509 -newkey ed25519 -nodes -keyout ek.pem -out ec.pem -days 30 {SUBJ} 2>/dev/null"));
    let m = same(&d.cat("ed.pem", &["ec.pem", "ek.pem"]));
    assert_eq!(m.certificates[0].key.algorithm, "Ed25519");
    assert_eq!(m.certificates[0].signature.name, "ED25519");
    assert_eq!(m.key_matches_leaf, KeyMatch::Matches);
    // An EC certificate with the Ed25519 key.
    let m = tls_material::observe(&d.p("c.pem"), &d.p("ek.pem"));
    match &m.key_matches_leaf {
        KeyMatch::DoesNotMatch { key, certificate } => {
            assert_eq!(
                (key.algorithm.as_str(), certificate.algorithm.as_str()),
                ("Ed25519", "EC")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn mismatched_key_and_chain_order() {
    let d = Dir::new("chain");
    d.sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 -subj /CN=Lab-CA 2>/dev/null");
    d.sh(&format!(
        "openssl req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr {SUBJ} 2>/dev/null"
    ));
    d.sh("openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem -days 30 2>/dev/null");
    let good = same(&d.cat("good.pem", &["leaf.pem", "ca.pem", "leaf.key"]));
    assert_eq!(good.certificates.len(), 2);
    assert!(good.chain[0].issuer_is_next_subject);
    assert!(!good.certificates[0].self_signed && good.certificates[1].self_signed);
    assert!(good.certificates[1].is_ca);
    assert_eq!(good.key_matches_leaf, KeyMatch::Matches);

    // CA first: the chain is out of order, and the first certificate (what Postfix presents)
    // is the CA, whose key the file does not hold.
    let bad = same(&d.cat("bad.pem", &["ca.pem", "leaf.pem", "leaf.key"]));
    assert!(!bad.chain[0].issuer_is_next_subject);
    assert_eq!(bad.certificates[0].subject, "CN=Lab-CA");
    assert!(matches!(
        bad.key_matches_leaf,
        KeyMatch::DoesNotMatch { .. }
    ));

    // The CA's key with the leaf certificate.
    let m = tls_material::observe(&d.p("leaf.pem"), &d.p("ca.key"));
    assert!(matches!(m.key_matches_leaf, KeyMatch::DoesNotMatch { .. }));
}

#[test]
fn encrypted_missing_and_unreadable() {
    let d = Dir::new("enc");
    d.sh(&format!("openssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem -out c.pem -days 30 {SUBJ} 2>/dev/null"));
    d.sh("openssl pkey -in k.pem -aes256 -passout pass:secret -out k8enc.pem");
    d.sh("openssl rsa -in k.pem -aes128 -traditional -passout pass:secret -out k1enc.pem 2>/dev/null");
    for (file, format) in [
        ("k8enc.pem", "encrypted PKCS#8"),
        ("k1enc.pem", "legacy encrypted PEM"),
    ] {
        let m = tls_material::observe(&d.p("c.pem"), &d.p(file));
        assert!(m.keys[0].encrypted, "{file}");
        assert_eq!(m.keys[0].format, format);
        assert!(
            matches!(&m.key_matches_leaf, KeyMatch::Unknown { reason } if reason.contains("encrypted")),
            "{:?}",
            m.key_matches_leaf
        );
    }
    let m = tls_material::observe(&d.p("c.pem"), &d.p("missing.key"));
    assert_eq!(m.key_state, FileState::Missing);
    assert_eq!(m.key_matches_leaf, KeyMatch::NoKey);
    // A directory where the file should be: the read fails.
    let m = tls_material::observe(&d.0, &d.0);
    assert!(
        matches!(m.cert_state, FileState::Unreadable { .. }),
        "{:?}",
        m.cert_state
    );
}
