//! T28: smtpd offers STARTTLS with a certificate and key that exist, load and are not
//! readable by others (TLS_README, postconf(5) smtpd_tls_*).

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Param;
use crate::checks::kind::{Kind, Unobserved};
use crate::checks::values::Mode;
use crate::facts::Facts;
use crate::probe::ProbeError;
use crate::probe::file::{FileFacts, stat};
use crate::verdict::{Verdict, worst_of};

/// T28: the tutorial's file comes from the settings; with `service`, the settings that
/// master.cf service's smtpd uses (its `-o`, else main.cf's).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(default)]
    pub service: Option<super::ServiceSpec>,
}

/// A PEM file's facts: what it holds (counted by markers, never the key itself) and its mode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PemFile {
    pub path: PathBuf,
    #[serde(default)]
    pub facts: Option<FileFacts>,
    #[serde(default)]
    pub certificates: usize,
    #[serde(default)]
    pub private_keys: usize,
    /// A passphrase-protected key, which Postfix cannot load.
    #[serde(default)]
    pub encrypted_keys: usize,
    #[serde(default)]
    pub problem: Option<String>,
    #[serde(default)]
    pub missing: bool,
    #[serde(default)]
    pub needs_root: bool,
}

impl PemFile {
    pub fn read(path: &Path) -> PemFile {
        let mut f = PemFile {
            path: path.to_path_buf(),
            ..PemFile::default()
        };
        let fail = |f: &mut PemFile, e: ProbeError| {
            f.missing = matches!(e, ProbeError::NotFound { .. });
            f.needs_root = matches!(e, ProbeError::PermissionDenied { .. });
            f.problem = Some(e.to_string());
        };
        match stat(path) {
            Ok(facts) => f.facts = Some(facts),
            Err(e) => {
                fail(&mut f, e);
                return f;
            }
        }
        match std::fs::read_to_string(path) {
            Ok(text) => {
                for line in text.lines().map(str::trim) {
                    let Some(label) = line
                        .strip_prefix("-----BEGIN ")
                        .and_then(|l| l.strip_suffix("-----"))
                    else {
                        continue;
                    };
                    if label == "CERTIFICATE" || label == "TRUSTED CERTIFICATE" {
                        f.certificates += 1;
                    } else if label == "ENCRYPTED PRIVATE KEY" {
                        f.encrypted_keys += 1;
                    } else if label.ends_with("PRIVATE KEY") {
                        f.private_keys += 1;
                    }
                }
                // Legacy `openssl genrsa -des3` keys say so in a header.
                if text.contains("Proc-Type: 4,ENCRYPTED") {
                    f.encrypted_keys += f.private_keys;
                    f.private_keys = 0;
                }
            }
            Err(e) => fail(&mut f, ProbeError::from_io(path, &e)),
        }
        f
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub smtpd_use_tls: Param,
    pub smtpd_tls_security_level: Param,
    pub smtpd_tls_cert_file: Param,
    pub smtpd_tls_key_file: Param,
    pub smtpd_tls_chain_files: Param,
    /// The tutorial's certificate file (settings).
    pub expected_cert_file: PathBuf,
    /// Every distinct file named by the parameters above.
    #[serde(default)]
    pub files: Vec<PemFile>,
    /// `mail_version`: from 3.9, smtpd_use_tls is deprecated in favour of
    /// smtpd_tls_security_level.
    #[serde(default)]
    pub postfix_version: Option<String>,
}

/// T28: the kind.
pub struct TlsSettings;

impl Kind for TlsSettings {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let svc = super::service_of(&cfg, spec.service.as_ref())?;
        let chain = Param::read_for(&cfg, svc, "smtpd_tls_chain_files");
        let cert = Param::read_for(&cfg, svc, "smtpd_tls_cert_file");
        let key = Param::read_for(&cfg, svc, "smtpd_tls_key_file");
        let mut paths: Vec<String> = if chain.list().is_empty() {
            vec![
                cert.effective.trim().to_string(),
                key.effective.trim().to_string(),
            ]
        } else {
            chain.list()
        };
        paths.retain(|p| !p.is_empty());
        paths.dedup();
        let files = paths.iter().map(|p| PemFile::read(Path::new(p))).collect();
        Ok(Observation {
            smtpd_use_tls: Param::read_for(&cfg, svc, "smtpd_use_tls"),
            smtpd_tls_security_level: Param::read_for(&cfg, svc, "smtpd_tls_security_level"),
            smtpd_tls_cert_file: cert,
            smtpd_tls_key_file: key,
            smtpd_tls_chain_files: chain,
            expected_cert_file: facts.settings.cert_file.clone(),
            files,
            postfix_version: facts.versions().await.postfix_version().map(str::to_string),
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let mut findings = Vec::new();
        let level = o
            .smtpd_tls_security_level
            .effective
            .trim()
            .to_ascii_lowercase();
        // From Postfix 3.9 smtpd_use_tls is deprecated (it still works): the modern form is
        // smtpd_tls_security_level = may, which overrides smtpd_use_tls when set.
        let modern = o
            .postfix_version
            .as_deref()
            .is_some_and(|v| crate::probe::versions::at_least(v, "3.9"));
        let tls_on = match level.as_str() {
            "may" | "encrypt" => true,
            "" => o.smtpd_use_tls.effective.trim().eq_ignore_ascii_case("yes"),
            _ => false,
        };
        if !tls_on {
            let why = if level.is_empty() {
                format!(
                    "{} and smtpd_tls_security_level is empty",
                    o.smtpd_use_tls.shown()
                )
            } else {
                o.smtpd_tls_security_level.shown()
            };
            findings.push(
                Verdict::fail(format!(
                    "{why}: {} offers no STARTTLS",
                    o.smtpd_tls_security_level
                        .service
                        .as_ref()
                        .map_or("port 25".to_string(), |s| format!("`{}`", s.name))
                ))
                .with_fix(if modern || !level.is_empty() {
                    "postconf -e 'smtpd_tls_security_level = may' && postfix reload"
                } else {
                    "postconf -e 'smtpd_use_tls = yes' && postfix reload"
                }),
            );
        }
        let using_chain = !o.smtpd_tls_chain_files.list().is_empty();
        let cert_path = o.smtpd_tls_cert_file.effective.trim();
        let key_path = o.smtpd_tls_key_file.effective.trim();
        if !using_chain && cert_path.is_empty() {
            findings.push(Verdict::fail(format!(
                "{} is empty: Postfix has no certificate to offer (the tutorial's is {})",
                o.smtpd_tls_cert_file.name,
                o.expected_cert_file.display()
            )));
        }
        let mut certs = 0;
        let mut keys = 0;
        for f in &o.files {
            let name = f.path.display();
            if f.needs_root {
                findings.push(Verdict::error(f.problem.clone().unwrap_or_default()));
                continue;
            }
            if f.missing {
                let param = if using_chain {
                    &o.smtpd_tls_chain_files
                } else if f.path == Path::new(cert_path) {
                    &o.smtpd_tls_cert_file
                } else {
                    &o.smtpd_tls_key_file
                };
                // Named by a master.cf -o: say which line.
                let named = match param.override_at() {
                    Some(_) => param.shown(),
                    None => param.name.clone(),
                };
                let v = Verdict::fail(format!("{name} ({named}) does not exist: STARTTLS fails"));
                findings.push(match param.override_at() {
                    Some(_) => v.with_fix(param.fix("")),
                    None => v,
                });
                continue;
            }
            if let Some(p) = &f.problem {
                findings.push(Verdict::error(p.clone()));
                continue;
            }
            certs += f.certificates;
            keys += f.private_keys;
            if f.encrypted_keys > 0 {
                findings.push(Verdict::fail(format!(
                    "{name} holds a passphrase-protected private key, which Postfix cannot load"
                )));
            }
            let holds_key = f.private_keys + f.encrypted_keys > 0;
            if let Some(facts) = &f.facts {
                let mode = Mode::new(facts.mode);
                if holds_key && mode.others_can_read() {
                    findings.push(
                        Verdict::fail(format!(
                            "{} is readable by others (mode {mode}): every local user can read the private key",
                            facts.describe()
                        ))
                        .with_fix(format!("chmod 600 {name}")),
                    );
                } else if mode.bits() & 0o002 != 0 {
                    findings.push(
                        Verdict::fail(format!(
                            "{} is writable by others (mode {mode})",
                            facts.describe()
                        ))
                        .with_fix(format!("chmod 600 {name}")),
                    );
                }
            }
            if !using_chain {
                if f.path == Path::new(cert_path) && f.certificates == 0 {
                    findings.push(Verdict::fail(format!(
                        "{name} (smtpd_tls_cert_file) holds no certificate (no -----BEGIN CERTIFICATE----- block)"
                    )));
                }
                if f.path == Path::new(key_path) && f.private_keys + f.encrypted_keys == 0 {
                    findings.push(Verdict::fail(format!(
                        "{name} (smtpd_tls_key_file = {}) holds no private key (no -----BEGIN ... PRIVATE KEY----- block)",
                        o.smtpd_tls_key_file.written.clone().unwrap_or_else(|| o.smtpd_tls_key_file.effective.clone())
                    )));
                }
            }
        }
        if using_chain && o.files.iter().all(|f| f.problem.is_none()) {
            if certs == 0 {
                findings.push(Verdict::fail(format!(
                    "{}: no certificate in those files",
                    o.smtpd_tls_chain_files.shown()
                )));
            }
            if keys == 0 {
                findings.push(Verdict::fail(format!(
                    "{}: no private key in those files",
                    o.smtpd_tls_chain_files.shown()
                )));
            }
        }
        let files: Vec<String> = o
            .files
            .iter()
            .filter_map(|f| f.facts.as_ref().map(FileFacts::describe))
            .collect();
        let tutorial = if !using_chain && Path::new(cert_path) != o.expected_cert_file {
            format!(
                " (the tutorial's file is {})",
                o.expected_cert_file.display()
            )
        } else {
            String::new()
        };
        let how = if level.is_empty() {
            let note = match &o.postfix_version {
                Some(v) if modern => format!(
                    ", deprecated since Postfix 3.9 (this is {v}; it still works): smtpd_tls_security_level = may is the modern form, see postfix.deprecated-params"
                ),
                _ => String::new(),
            };
            format!("{}{note}", o.smtpd_use_tls.shown())
        } else if o.smtpd_use_tls.written.is_some() {
            format!(
                "{}, which overrides {}",
                o.smtpd_tls_security_level.shown(),
                o.smtpd_use_tls.shown()
            )
        } else {
            o.smtpd_tls_security_level.shown()
        };
        let pass = format!(
            "TLS on ({how}); {}{tutorial}; certificate and key present, not readable by others: {}",
            if using_chain {
                o.smtpd_tls_chain_files.shown()
            } else {
                format!(
                    "{}, {}",
                    o.smtpd_tls_cert_file.shown(),
                    o.smtpd_tls_key_file.shown()
                )
            },
            files.join(", ")
        );
        worst_of(findings, &pass)
    }
}
