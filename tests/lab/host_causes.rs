//! Issue 13's host checks through the real binary: access as Postfix's processes have it, the
//! running daemons against their configuration, the TLS material. One clean run of all of them,
//! then one break and one restore per case; each case asserts that the failing host check names
//! the cause (path, mode, owner, option) and, where a live check shows the symptom, that the live
//! check says `caused by` it.

use crate::support as lab;

use lab::{Lab, assert_caused_by, assert_has, only, run_only, sh};

const HOST_CHECKS: &[&str] = &[
    "sasl.socket-access",
    "sasl.saslauthd-running",
    "fs.maps-access",
    "fs.maildir-access",
    "queue.queue-access",
    "postfix.reload-pending",
    "tls.material",
];

const SASL_DIR: &str = "/var/spool/postfix/var/run/saslauthd";

#[test]
fn host_checks_pass_on_the_clean_lab() {
    let g = Lab::lock();
    let out = run_only(&g, HOST_CHECKS);
    for id in HOST_CHECKS {
        assert_eq!(
            out.status(id),
            "pass",
            "{id} on the clean lab: {}",
            out.message(id)
        );
    }
    assert!(out.message("sasl.socket-access").contains("smtp/inet"));
    assert!(out.message("sasl.saslauthd-running").contains("-a pam"));
    assert!(out.message("fs.maildir-access").contains("5000"));
}

#[test]
fn a_closed_directory_above_the_saslauthd_socket_is_named() {
    let mut g = Lab::lock();
    g.break_with(&format!("chmod 0700 {SASL_DIR}"));
    let out = run_only(
        &g,
        &[
            "sasl.socket-access",
            "smtp.banner",
            "submission.listening",
            "tls.starttls-587",
            "auth.login-works",
        ],
    );
    g.restore();
    assert_has(
        &out,
        "sasl.socket-access",
        "fail",
        &[SASL_DIR, "0700 root:sasl", "search (x)"],
    );
    // smtpd answers 454 (temporary): the live check cannot tell more than "error" by itself.
    let status = out.status("auth.login-works");
    assert!(
        status == "fail" || status == "error",
        "auth.login-works: {}",
        out.message("auth.login-works")
    );
    assert_caused_by(&out, "auth.login-works", "sasl.socket-access");
}

#[test]
fn saslauthd_started_without_r_is_named() {
    let mut g = Lab::lock();
    // The lab's own saslauthd stops; one with the defaults file's options minus -r starts.
    g.break_with(&format!(
        "kill $(cat {SASL_DIR}/saslauthd.pid); for i in $(seq 50); do [ -e {SASL_DIR}/mux ] || break; sleep 0.1; done; \
         setsid /usr/sbin/saslauthd -a pam -c -m {SASL_DIR} -n 2 </dev/null >/dev/null 2>&1; \
         for i in $(seq 50); do [ -S {SASL_DIR}/mux ] && break; sleep 0.1; done"
    ));
    let out = run_only(
        &g,
        &[
            "sasl.saslauthd-running",
            "smtp.banner",
            "submission.listening",
            "tls.starttls-587",
            "auth.login-works",
            "sasl.saslauthd-auth",
        ],
    );
    // up.sh starts its own saslauthd once this one's socket is gone.
    sh(&format!(
        "kill $(cat {SASL_DIR}/saslauthd.pid); for i in $(seq 50); do [ -e {SASL_DIR}/mux ] || break; sleep 0.1; done"
    ));
    g.restore();
    assert_has(
        &out,
        "sasl.saslauthd-running",
        "fail",
        &["without -r", "/usr/sbin/saslauthd -a pam -c -m"],
    );
    assert_eq!(
        out.status("auth.login-works"),
        "fail",
        "{}",
        out.message("auth.login-works")
    );
    assert_caused_by(&out, "auth.login-works", "sasl.saslauthd-running");
    // Asked as smtpd asks (login and realm apart), saslauthd without -r refuses too.
    let (login, realm) = g.lab.account.rsplit_once('@').expect("an address");
    assert_has(
        &out,
        "sasl.saslauthd-auth",
        "fail",
        &[&format!("login `{login}`"), &format!("realm `{realm}`")],
    );
    assert_caused_by(&out, "sasl.saslauthd-auth", "sasl.saslauthd-running");
}

#[test]
fn a_map_postfix_cannot_read_is_named() {
    let mut g = Lab::lock();
    let map = "/etc/postfix/mysql_virtual_mailbox_maps.cf";
    let out = g.expect_after_break(
        &format!("chmod 0600 {map}"),
        "fs.maps-access",
        "fail",
        &[map, "0600 root:postfix", "virtual(8)", "read (r)"],
    );
    assert!(
        out.message("fs.maps-access")
            .contains("virtual_mailbox_maps")
    );
}

#[test]
fn a_maildir_directory_owned_by_root_is_named() {
    let mut g = Lab::lock();
    let new = format!(
        "/home/vmail/{}/{}/new",
        g.lab.domain,
        g.lab.account.split('@').next().unwrap()
    );
    g.expect_after_break(
        &format!("chown root:root {new}"),
        "fs.maildir-access",
        "fail",
        &[&new, "0700 root:root", "5000"],
    );
}

#[test]
fn main_cf_edited_without_reload_is_a_pending_reload() {
    let mut g = Lab::lock();
    g.expect_after_break(
        "sleep 0.3; echo '# edited by a lab test, not reloaded' >> /etc/postfix/main.cf",
        "postfix.reload-pending",
        "warn",
        &["/etc/postfix/main.cf", "a reload is pending"],
    );
}

#[test]
fn a_key_that_is_not_the_certificates_is_named() {
    let mut g = Lab::lock();
    let pem = "/etc/ssl/self-signed/server.pem";
    g.break_with(&format!(
        "cp -p {pem} /root/server.pem.lab-test && t=$(mktemp -d) && \
         openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out $t/other.key 2>/dev/null && \
         openssl x509 -in {pem} > $t/crt && cat $t/crt $t/other.key > {pem} && rm -rf $t && \
         postfix reload 2>/dev/null && sleep 1"
    ));
    // smtpd loads certificate and key when it starts: the reload makes new ones load the break.
    let out = run_only(&g, &["tls.material", "smtp.banner", "tls.starttls-25"]);
    // smtpd loads the key when it starts: new processes after the reload use the restored one.
    sh(&format!(
        "mv -f /root/server.pem.lab-test {pem} && postfix reload 2>/dev/null && sleep 1"
    ));
    g.restore();
    assert_has(
        &out,
        "tls.material",
        "fail",
        &[pem, "does not belong to the certificate", "2048-bit RSA"],
    );
    assert_eq!(
        out.status("tls.starttls-25"),
        "fail",
        "{}",
        out.message("tls.starttls-25")
    );
    assert_caused_by(&out, "tls.starttls-25", "tls.material");
}

#[test]
fn a_queue_directory_postfix_cannot_write_is_named() {
    let mut g = Lab::lock();
    let incoming = "/var/spool/postfix/incoming";
    g.break_with(&format!("chown root:root {incoming}"));
    let cfg = std::env::temp_dir().join(format!("mailcheck-queue-{}.toml", std::process::id()));
    std::fs::write(&cfg, "[timeouts]\ndelivery = \"3s\"\n").unwrap();
    let mut args = only(&["queue.queue-access", "delivery.via-25"]);
    args.extend(["--config".to_string(), cfg.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = g.run(&args);
    sh(&format!("chown postfix:root {incoming}"));
    g.restore();
    let _ = std::fs::remove_file(&cfg);
    assert_has(
        &out,
        "queue.queue-access",
        "fail",
        &[incoming, "root:root", "postfix"],
    );
    assert_eq!(
        out.status("delivery.via-25"),
        "fail",
        "{}",
        out.message("delivery.via-25")
    );
    assert_caused_by(&out, "delivery.via-25", "queue.queue-access");
}

/// Debian 12's Postfix reads /etc/postfix/sasl whatever cyrus_sasl_config_path says (measured:
/// a smtpd.conf only in the other directory is not read). Pointing it elsewhere is a warning for
/// the upgrade; the file gone from /etc/postfix/sasl is the failure, and AUTH's cause.
#[test]
fn the_sasl_config_path_as_debian_12_reads_it() {
    let mut g = Lab::lock();
    g.break_with(
        "mkdir -p /etc/postfix/sasl-moved && cp -p /etc/postfix/sasl/smtpd.conf /etc/postfix/sasl-moved/ && \
         postconf -e cyrus_sasl_config_path=/etc/postfix/sasl-moved && postfix reload 2>/dev/null && sleep 1",
    );
    let ids = ["sasl.smtpd-conf-path", "auth.login-works"];
    let moved = run_only(&g, &ids);
    sh(
        "mv /etc/postfix/sasl/smtpd.conf /root/smtpd.conf.lab-test && postfix reload 2>/dev/null && sleep 1",
    );
    let gone = run_only(&g, &ids);
    sh(
        "mv /root/smtpd.conf.lab-test /etc/postfix/sasl/smtpd.conf && rm -rf /etc/postfix/sasl-moved && \
        postconf -X cyrus_sasl_config_path && postfix reload 2>/dev/null && sleep 1",
    );
    g.restore();
    assert_has(
        &moved,
        "sasl.smtpd-conf-path",
        "warn",
        &[
            "/etc/postfix/sasl-moved",
            "main.cf line",
            "ignores it",
            "Debian 13",
        ],
    );
    assert_has(&moved, "auth.login-works", "pass", &[]);
    assert_has(
        &gone,
        "sasl.smtpd-conf-path",
        "fail",
        &["/etc/postfix/sasl/smtpd.conf", "does not exist"],
    );
    assert_has(&gone, "auth.login-works", "fail", &["535"]);
    assert_caused_by(&gone, "auth.login-works", "sasl.smtpd-conf-path");
    let checks = gone.check("auth.login-works")["caused_by"]
        .as_array()
        .map_or(0, |a| a.iter().filter(|c| c["source"] == "check").count());
    assert_eq!(checks, 1, "{}", gone.check("auth.login-works"));
}
