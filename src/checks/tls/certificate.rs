//! T29: the certificate served (RFC 5280 validity, RFC 6125 names), compared with smtpd_tls_cert_file

use std::collections::BTreeSet;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::judge::is_public_name;
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::session::{CertFacts, PortSession, Service};
use crate::verdict::{Verdict, worst_of};

/// Thresholds in days before `not_after`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub warn_days: i64,
    pub fail_days: i64,
    /// RSA keys shorter than this are a warning.
    pub min_rsa_bits: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub host: String,
    pub local: bool,
    #[serde(default)]
    pub myhostname: Option<String>,
    /// The MX port first.
    pub served: Vec<ServedCert>,
    #[serde(default)]
    pub files: Vec<CertFile>,
    #[serde(default)]
    pub transcript: Vec<String>,
}

/// T29: the kind.
pub struct Certificate;

impl Kind for Certificate {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let smtp = facts.port_session(Service::Smtp).await;
        let submission = facts.port_session(Service::Submission).await;
        let mut served = vec![served_from(&smtp)];
        if submission.tls.is_some() {
            served.push(served_from(&submission));
        }
        let mut myhostname = None;
        let mut files = Vec::new();
        if facts.target.local {
            if let Ok(cfg) = facts.postfix().await {
                myhostname = Some(cfg.get("myhostname"));
                let main_file = cfg.get("smtpd_tls_cert_file");
                let sub_file = cfg
                    .master
                    .service("submission", "inet")
                    .map(|svc| cfg.service_get(svc, "smtpd_tls_cert_file"))
                    .unwrap_or_else(|| main_file.clone());
                for sc in &mut served {
                    let file = if sc.port == facts.settings.submission_port {
                        &sub_file
                    } else {
                        &main_file
                    };
                    if !file.trim().is_empty() {
                        sc.cert_file = Some(file.trim().to_string());
                    }
                }
            }
            let paths: BTreeSet<String> =
                served.iter().filter_map(|s| s.cert_file.clone()).collect();
            files = paths.iter().map(|p| read_cert_file(p)).collect();
        }
        Ok(Observation {
            host: facts.target.host.clone(),
            local: facts.target.local,
            myhostname,
            served,
            files,
            transcript: smtp.transcript.clone(),
        })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let days_left = o
            .served
            .iter()
            .filter_map(|s| s.cert.as_ref().map(|c| c.days_left))
            .min();
        let v = judge_served(spec, o);
        match days_left {
            Some(d) => v.with_metric("certificate_days_left", d as f64),
            None => v,
        }
    }
}

fn judge_served(spec: &Spec, o: &Observation) -> Verdict {
    let Some(first) = o.served.first() else {
        return Verdict::error("no port was probed");
    };
    if first.cert.is_none() {
        let why = first.problem.clone().unwrap_or_default();
        return Verdict::error(format!("no certificate to judge: {why}"));
    }
    let mut wanted: Vec<(String, &str)> = Vec::new();
    if is_public_name(&o.host) {
        wanted.push((o.host.trim_end_matches('.').to_string(), "--host"));
    }
    if let Some(my) = &o.myhostname {
        match wanted.iter_mut().find(|(w, _)| w.eq_ignore_ascii_case(my)) {
            Some(w) => w.1 = "--host and myhostname",
            None => wanted.push((my.clone(), "myhostname")),
        }
    }
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    let mut summaries = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for sc in &o.served {
        let Some(c) = &sc.cert else { continue };
        let port = sc.port;
        if seen.contains(&c.sha256_fingerprint.as_str()) {
            summaries.push(format!(":{port} serves the same certificate"));
            continue;
        }
        seen.push(&c.sha256_fingerprint);
        let names = c.names().join(", ");
        for (name, source) in &wanted {
            if !c.matches_name(name) {
                findings.push(Verdict::fail(format!(
                    "the certificate on :{port} is for {names}, not {name} ({source})"
                )).with_fix(format!(
                    "make a certificate for {name} (e.g. `openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj /CN={name} -addext subjectAltName=DNS:{name} -keyout key -out crt`), put certificate and key into smtpd_tls_cert_file, `postfix reload`"
                )));
            }
        }
        findings.extend(validity(spec, port, c));
        if c.key_type == "RSA" && c.key_bits.is_some_and(|b| b < spec.min_rsa_bits) {
            findings.push(Verdict::warn(format!(
                "the certificate on :{port} has a {}-bit RSA key (use {} or more)",
                c.key_bits.unwrap_or(0),
                spec.min_rsa_bits
            )));
        }
        if let Some(path) = &sc.cert_file {
            match o.files.iter().find(|f| f.path == *path) {
                Some(f) if f.problem.is_some() => notes.push(format!(
                    "not compared with {path}: {}",
                    f.problem.clone().unwrap_or_default()
                )),
                Some(f) if f.fingerprints.contains(&c.sha256_fingerprint) => {
                    notes.push(format!(":{port} serves the certificate in {path}"))
                }
                Some(f) => findings.push(
                    Verdict::fail(format!(
                        "the certificate on :{port} (SHA-256 {}) is not the one in {path} ({}): Postfix was not reloaded after the file changed, or uses another file",
                        short(&c.sha256_fingerprint),
                        f.fingerprints.first().map(|x| short(x)).unwrap_or_else(|| "none".into())
                    ))
                    .with_fix("`postfix reload`, and check smtpd_tls_cert_file (and -o overrides in master.cf)"),
                ),
                None => {}
            }
        }
        summaries.push(format!(
            ":{port} {}{}, valid until {} ({} days), {} {}",
            names,
            if c.self_signed { " (self-signed)" } else { "" },
            c.not_after,
            c.days_left,
            c.key_type,
            c.key_bits.map(|b| b.to_string()).unwrap_or_default()
        ));
    }
    let checked: Vec<String> = wanted.iter().map(|(n, s)| format!("{n} ({s})")).collect();
    let mut pass = format!("certificate {}", summaries.join("; "));
    if !checked.is_empty() {
        pass.push_str(&format!("; names {}", checked.join(", ")));
    }
    if !notes.is_empty() {
        pass.push_str(&format!("; {}", notes.join("; ")));
    }

    worst_of(findings, &pass)
}

/// One port's served leaf certificate.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ServedCert {
    pub port: u16,
    pub cert: Option<CertFacts>,
    /// Why there is no certificate (STARTTLS failed, nothing listens...).
    pub problem: Option<String>,
    /// The certificate file this port's smtpd uses (local only).
    pub cert_file: Option<String>,
}

/// The certificates in a `smtpd_tls_cert_file` (local only).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct CertFile {
    pub path: String,
    pub fingerprints: Vec<String>,
    pub problem: Option<String>,
}

fn served_from(s: &PortSession) -> ServedCert {
    let cert = s.tls.as_ref().and_then(|t| t.leaf().cloned());
    let problem = match (&cert, s.not_greeted(), &s.starttls) {
        (Some(_), _, _) => None,
        (None, Some(why), _) => Some(why),
        (None, None, Some(st)) => Some(format!("{}: STARTTLS: {}", s.addr, st.describe())),
        (None, None, None) => Some(format!("{}: no STARTTLS", s.addr)),
    };
    ServedCert {
        port: s.port,
        cert,
        problem,
        cert_file: None,
    }
}

fn read_cert_file(path: &str) -> CertFile {
    let mut f = CertFile {
        path: path.to_string(),
        ..CertFile::default()
    };
    match std::fs::read(path) {
        Err(e) => {
            f.problem =
                Some(crate::probe::ProbeError::from_io(&PathBuf::from(path), &e).to_string())
        }
        Ok(bytes) => match crate::probe::tls::certs_from_pem(&bytes) {
            Ok(certs) => {
                f.fingerprints = certs.into_iter().map(|c| c.sha256_fingerprint).collect();
            }
            Err(e) => f.problem = Some(format!("{path}: {e}")),
        },
    }
    f
}

fn validity(spec: &Spec, port: u16, c: &CertFacts) -> Option<Verdict> {
    let renew = "renew the certificate (the tutorial's: `openssl req -x509 ...` again), put it and its key into smtpd_tls_cert_file, `postfix reload`";
    if c.not_yet_valid {
        return Some(
            Verdict::fail(format!(
                "the certificate on :{port} is not valid before {}",
                c.not_before
            ))
            .with_fix(renew),
        );
    }
    if c.days_left < 0 {
        return Some(
            Verdict::fail(format!(
                "the certificate on :{port} expired on {} ({} days ago)",
                c.not_after, -c.days_left
            ))
            .with_fix(renew),
        );
    }
    if c.days_left < spec.fail_days {
        return Some(
            Verdict::fail(format!(
                "the certificate on :{port} expires in {} days ({})",
                c.days_left, c.not_after
            ))
            .with_fix(renew),
        );
    }
    if c.days_left < spec.warn_days {
        return Some(
            Verdict::warn(format!(
                "the certificate on :{port} expires in {} days ({})",
                c.days_left, c.not_after
            ))
            .with_fix(renew),
        );
    }
    None
}

/// The first and last bytes of a fingerprint, enough to tell two apart.
fn short(fp: &str) -> String {
    if fp.len() <= 17 {
        return fp.to_string();
    }
    format!("{}…{}", &fp[..8], &fp[fp.len() - 8..])
}
