//! Issue 13 §4 (aliases resolved to a mailbox, T17) and §5 (TLS failures in the server's
//! terms) on the real lab: alias rows that end without a mailbox or loop fail
//! mysql.alias-chains with the chain (one to user+tag@, a mailbox by recipient_delimiter, passes); a 1024-bit and a SHA-1-signed certificate fail
//! tls.material and hardening.certificate-algorithms with the same reason, and the STARTTLS
//! check names the key its TLS client refused, caused by tls.material. Each break is made and
//! undone exactly (alias rows deleted, main.cf copied back byte for byte), then up.sh runs.

use crate::support as lab;

use lab::{Lab, LabGuard, sh};

const CHAINS: &str = "mysql.alias-chains";
const MATERIAL: &str = "tls.material";
const STARTTLS: &str = "tls.starttls-25";
const ALGORITHMS: &str = "hardening.certificate-algorithms";

fn mysql(g: &LabGuard, sql: &str) -> String {
    format!("mysql {} -e \"{sql}\"", g.lab.db_name)
}

/// Inserts alias rows (address, goto), runs the alias check, deletes exactly those rows.
fn with_aliases(g: &mut LabGuard, rows: &[(&str, &str)]) -> lab::RunOutput {
    let d = g.lab.domain.clone();
    let values: Vec<String> = rows
        .iter()
        .map(|(a, t)| format!("('{a}@{d}', '{t}@{d}', '{d}', NOW(), NOW(), 1)"))
        .collect();
    let addresses: Vec<String> = rows.iter().map(|(a, _)| format!("'{a}@{d}'")).collect();
    let insert = mysql(
        g,
        &format!(
            "INSERT INTO alias (address, goto, domain, created, modified, active) VALUES {}",
            values.join(", ")
        ),
    );
    let delete = mysql(
        g,
        &format!(
            "DELETE FROM alias WHERE address IN ({})",
            addresses.join(", ")
        ),
    );
    g.break_with(&insert);
    let out = g.run(&["--only", CHAINS]);
    sh(&delete);
    out
}

#[test]
fn aliases_that_end_without_a_mailbox_or_loop_fail_t17_with_their_chain() {
    let mut g = Lab::lock();
    let d = g.lab.domain.clone();
    let before = sh(&mysql(&g, "SELECT * FROM alias ORDER BY address")).stdout;

    let clean = g.run(&["--only", CHAINS]);
    assert_eq!(clean.status(CHAINS), "pass", "{}", clean.message(CHAINS));
    assert!(
        clean
            .message(CHAINS)
            .contains(&format!("{} (mailbox {d}/", g.lab.account)),
        "{}",
        clean.message(CHAINS)
    );

    let dangling = with_aliases(&mut g, &[("mc-dangling", "mc-nobody")]);
    let looped = with_aliases(
        &mut g,
        &[("mc-loop-a", "mc-loop-b"), ("mc-loop-b", "mc-loop-a")],
    );
    // recipient_delimiter = + (Debian's main.cf): virtual(8) finds user+tag@ as user@.
    let user = g
        .lab
        .account
        .split('@')
        .next()
        .unwrap_or_default()
        .to_string();
    let tagged = with_aliases(&mut g, &[("mc-tagged", &format!("{user}+mc-tag"))]);
    let after = sh(&mysql(&g, "SELECT * FROM alias ORDER BY address")).stdout;
    g.restore();
    assert_eq!(before, after, "the alias rows were not restored exactly");

    let m = tagged.message(CHAINS);
    assert_eq!(tagged.status(CHAINS), "pass", "{m}");
    assert!(m.contains(&format!("mc-tagged@{d}")), "{m}");

    let m = dangling.message(CHAINS);
    assert_eq!(dangling.status(CHAINS), "fail", "{m}");
    assert!(
        m.contains(&format!("mc-dangling@{d} -> mc-nobody@{d}: no mailbox")),
        "{m}"
    );
    assert!(m.contains("User unknown in virtual mailbox table"), "{m}");

    let m = looped.message(CHAINS);
    assert_eq!(looped.status(CHAINS), "fail", "{m}");
    assert!(
        m.contains(&format!(
            "mc-loop-a@{d} -> mc-loop-b@{d} -> mc-loop-a@{d}: a loop"
        )),
        "{m}"
    );
    assert!(m.contains("virtual_alias_recursion_limit = 1000"), "{m}");
}

/// Points smtpd at a new key and certificate made by `openssl req <req_args>`, runs the TLS
/// checks, and copies main.cf back byte for byte.
fn with_certificate(g: &mut LabGuard, req_args: &str) -> lab::RunOutput {
    g.break_with(&format!(
        "cp -p /etc/postfix/main.cf /root/main.cf.alias-tls && t=/root/mc-weak-cert && \
         rm -rf $t && mkdir -m 700 $t && \
         openssl req -x509 {req_args} -nodes -days 30 -subj /CN={} -keyout $t/key.pem \
           -out $t/cert.pem 2>/dev/null && \
         postconf -e smtpd_tls_cert_file=$t/cert.pem smtpd_tls_key_file=$t/key.pem && \
         postfix reload 2>/dev/null && sleep 1",
        g.lab.hostname
    ));
    let out = g.run(&[
        "--only",
        "smtp.banner",
        "--only",
        MATERIAL,
        "--only",
        STARTTLS,
        "--only",
        ALGORITHMS,
    ]);
    sh(
        "mv -f /root/main.cf.alias-tls /etc/postfix/main.cf && postfix reload 2>/dev/null && \
        sleep 1 && rm -rf /root/mc-weak-cert",
    );
    out
}

#[test]
fn a_weak_certificate_is_named_in_the_servers_terms() {
    let mut g = Lab::lock();
    let before = sh("sha256sum /etc/postfix/main.cf").stdout;
    let rsa1024 = with_certificate(&mut g, "-newkey rsa:1024 -sha256");
    let sha1 = with_certificate(&mut g, "-newkey rsa:2048 -sha1");
    let after = sh("sha256sum /etc/postfix/main.cf").stdout;
    g.restore();
    assert_eq!(before, after, "main.cf was not restored byte for byte");

    // Measured: Postfix loads the 1024-bit pair and serves it; rustls ends the handshake.
    let key = "has a 1024-bit RSA key, which current clients refuse (Debian's OpenSSL security level 2 needs at least 2048 bits)";
    for id in [MATERIAL, ALGORITHMS] {
        let m = rsa1024.message(id);
        assert_eq!(rsa1024.status(id), "fail", "{id}: {m}");
        assert!(m.contains(key), "{id}: {m}");
    }
    assert!(
        rsa1024
            .message(MATERIAL)
            .contains("/root/mc-weak-cert/cert.pem")
    );
    let m = rsa1024.message(STARTTLS);
    assert_eq!(rsa1024.status(STARTTLS), "fail", "{m}");
    assert!(
        m.contains(&format!(
            "the server's certificate (CN={}, self-signed) {key}",
            g.lab.hostname
        )),
        "{m}"
    );
    assert!(m.contains("caused by tls.material"), "{m}");
    let caused = &rsa1024.check(STARTTLS)["caused_by"];
    assert!(
        caused.to_string().contains(MATERIAL),
        "caused_by lacks tls.material: {caused}"
    );

    // SHA-1: Postfix serves it and the handshake succeeds; both certificate checks fail it.
    for id in [MATERIAL, ALGORITHMS] {
        let m = sha1.message(id);
        assert_eq!(sha1.status(id), "fail", "{id}: {m}");
        assert!(m.contains("sha1WithRSAEncryption"), "{id}: {m}");
        assert!(m.contains("current clients refuse"), "{id}: {m}");
    }
    assert_eq!(sha1.status(STARTTLS), "pass", "{}", sha1.message(STARTTLS));
}
