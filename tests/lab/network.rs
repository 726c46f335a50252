//! The network checks (T1, T29-T31, T33, T35) on the real lab: all pass on the clean lab, and
//! each break fails exactly the check it should, with a message naming the cause.
use crate::support as lab;

use lab::{Lab, LabGuard, RunOutput};

const NETWORK_CHECKS: &[&str] = &[
    "smtp.banner",
    "tls.starttls-25",
    "tls.starttls-587",
    "tls.certificate",
    "auth.mechanisms-offered",
    "auth.login-works",
    "auth.wrong-password-refused",
    "relay.unauthenticated-refused",
    "relay.authenticated-accepted",
    "submission.listening",
    "submission.tls-required",
    "submission.auth-required",
    "size.advertised",
    "size.oversize-refused",
];

fn run_network(g: &LabGuard) -> RunOutput {
    let mut args = Vec::new();
    for id in NETWORK_CHECKS {
        args.push("--only");
        args.push(*id);
    }
    g.run(&args)
}

fn expect(out: &RunOutput, id: &str, status: &str, needles: &[&str]) {
    let (s, m) = (out.status(id), out.message(id));
    assert_eq!(s, status, "{id}: {m}");
    for n in needles {
        assert!(m.contains(n), "{id} message lacks {n:?}: {m}");
    }
}

#[test]
fn clean_lab_passes_every_network_check() {
    let g = Lab::lock();
    let out = run_network(&g);
    for id in NETWORK_CHECKS {
        assert_eq!(out.status(id), "pass", "{id}: {}", out.message(id));
    }
    assert_eq!(out.code, 0, "{}", out.stderr);
    let host = g.lab.hostname.as_str();
    expect(&out, "smtp.banner", "pass", &[host, "myhostname"]);
    expect(&out, "tls.starttls-25", "pass", &["TLSv1."]);
    expect(&out, "relay.unauthenticated-refused", "pass", &["from ::1"]);
    let days = &out.check("tls.certificate")["evidence"]["served"][0]["cert"]["days_left"];
    assert!(days.as_i64().unwrap() > 30, "{days}");
    // Passing checks carry no transcript; nothing holds the password.
    assert!(!out.stdout.contains(&g.lab.password));
}

#[test]
fn t33_submission_without_tls_requirement_fails() {
    let mut g = Lab::lock();
    g.expect_after_break(
        "postconf -P 'submission/inet/smtpd_tls_security_level=may' && postfix reload",
        "submission.tls-required",
        "fail",
        &[":587", "before STARTTLS"],
    );
}

/// Writes a certificate and its key into the lab's certificate file and reloads Postfix.
fn install_certificate(g: &mut LabGuard, cert_pem: &str, key_pem: &str) {
    let path = "/etc/ssl/self-signed/server.pem";
    let tmp = std::env::temp_dir().join(format!("mailcheck-cert-{}.pem", std::process::id()));
    std::fs::write(&tmp, format!("{cert_pem}{key_pem}")).unwrap();
    g.break_with(&format!(
        "install -m 600 -o root -g root {} {path} && rm -f {} && postfix reload",
        tmp.display(),
        tmp.display()
    ));
}

fn certificate(names: &[&str], from: (i32, u8, u8), to: (i32, u8, u8)) -> (String, String) {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0]);
    params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
    params.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
fn t29_wrongly_named_certificate_fails() {
    let mut g = Lab::lock();
    let (cert, key) = certificate(&["wrong.example.net"], (2024, 1, 1), (2040, 1, 1));
    install_certificate(&mut g, &cert, &key);
    let out = g.run(&["--only", "tls.certificate"]);
    g.restore();
    let host = g.lab.hostname.clone();
    expect(
        &out,
        "tls.certificate",
        "fail",
        &["wrong.example.net", &format!("not {host}")],
    );
    assert!(out.check("tls.certificate")["evidence"]["transcript"].is_array());
}

#[test]
fn t29_expired_certificate_fails() {
    let mut g = Lab::lock();
    let host = g.lab.hostname.clone();
    let (cert, key) = certificate(&[&host], (2020, 1, 1), (2021, 1, 1));
    install_certificate(&mut g, &cert, &key);
    let out = g.run(&["--only", "tls.certificate"]);
    g.restore();
    expect(&out, "tls.certificate", "fail", &["expired on 2021-01-01"]);
    let days = &out.check("tls.certificate")["evidence"]["served"][0]["cert"]["days_left"];
    assert!(days.as_i64().unwrap() < 0, "{days}");
}

#[test]
fn t31_mynetworks_everything_is_an_open_relay() {
    let mut g = Lab::lock();
    g.expect_after_break(
        "postconf -e 'mynetworks = 0.0.0.0/0 [::]/0' && postfix reload",
        "relay.unauthenticated-refused",
        "fail",
        &[
            "open relay",
            "mailcheck-relay-test@example.net",
            "holds every address",
        ],
    );
}

#[test]
fn t31_every_local_address_in_mynetworks_skips_with_the_reason() {
    let mut g = Lab::lock();
    let addrs = String::from_utf8(lab::sh("hostname -I").stdout).unwrap();
    let mut nets = vec!["127.0.0.0/8".to_string(), "[::1]/128".to_string()];
    for a in addrs.split_whitespace() {
        nets.push(if a.contains(':') {
            format!("[{a}]/128")
        } else {
            format!("{a}/32")
        });
    }
    g.expect_after_break(
        &format!(
            "postconf -e 'mynetworks = {}' && postfix reload",
            nets.join(" ")
        ),
        "relay.unauthenticated-refused",
        "skip",
        &[
            "every address of this machine is inside mynetworks",
            "run mailcheck from another machine",
        ],
    );
}

#[test]
fn t30_sasl_disabled_fails_the_auth_checks() {
    let mut g = Lab::lock();
    g.break_with(
        "postconf -e 'smtpd_sasl_auth_enable = no' \
         && postconf -P 'submission/inet/smtpd_sasl_auth_enable=no' && postfix reload",
    );
    let out = g.run(&["--only", "auth", "--only", "tls.starttls-587"]);
    g.restore();
    expect(&out, "auth.mechanisms-offered", "fail", &["offers no AUTH"]);
    expect(
        &out,
        "auth.login-works",
        "fail",
        &["authentication not enabled"],
    );
    expect(
        &out,
        "auth.wrong-password-refused",
        "skip",
        &["blocked by auth.mechanisms-offered"],
    );
    assert_eq!(out.code, 1);
}

#[test]
fn t35_default_size_limit_fails_the_size_checks() {
    let mut g = Lab::lock();
    g.break_with("postconf -e 'message_size_limit = 10240000' && postfix reload");
    let out = g.run(&["--only", "size"]);
    g.restore();
    expect(
        &out,
        "size.advertised",
        "fail",
        &["SIZE 10240000", "20480000", "main.cf line"],
    );
    expect(
        &out,
        "size.oversize-refused",
        "fail",
        &["refuses MAIL FROM:<> SIZE=20480000"],
    );
}

#[test]
fn t33_submission_commented_out_fails_once_and_the_rest_skip() {
    let mut g = Lab::lock();
    g.break_with("postconf -M# submission/inet && postfix reload");
    let out = g.run(&[
        "--only",
        "submission",
        "--only",
        "tls.starttls-587",
        "--only",
        "auth",
        "--only",
        "relay.authenticated-accepted",
    ]);
    g.restore();
    expect(
        &out,
        "submission.listening",
        "fail",
        &["nothing listens on", ":587", "refused", "comments it out"],
    );
    for id in [
        "submission.tls-required",
        "submission.auth-required",
        "tls.starttls-587",
        "auth.mechanisms-offered",
        "auth.login-works",
        "auth.wrong-password-refused",
        "relay.authenticated-accepted",
    ] {
        expect(&out, id, "skip", &["submission.listening"]);
    }
    assert_eq!(
        out.with_status("fail").len(),
        1,
        "{:?}",
        out.with_status("fail")
    );
}
