//! smtpd(8) settings: relay restrictions (T27), TLS and its certificate file (T28), the
//! submission service of master.cf (T32), the MIME header rule against attachments (T34).
//! SMTPD_ACCESS_README, TLS_README, master(5), header_checks(5).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Param, config};
use crate::context::Ctx;
use crate::probe::ProbeError;
use crate::probe::file::{FileFacts, stat};
use crate::probe::maps::RegexpTable;
use crate::probe::postfix::{map_references, split_list};
use crate::verdict::{Verdict, worst_of};

// ---------------------------------------------------------------------------------------------
// T27: relay restrictions.

/// T27 has no parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientRestrictionsSpec {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecipientRestrictionsObservation {
    pub smtpd_recipient_restrictions: Param,
    pub smtpd_relay_restrictions: Param,
}

pub async fn recipient_restrictions(spec: &RecipientRestrictionsSpec, ctx: &Ctx) -> Verdict {
    let cfg = match config(ctx).await {
        Ok(c) => c,
        Err(v) => return v,
    };
    judge_recipient_restrictions(
        spec,
        &RecipientRestrictionsObservation {
            smtpd_recipient_restrictions: Param::read(&cfg.main, "smtpd_recipient_restrictions"),
            smtpd_relay_restrictions: Param::read(&cfg.main, "smtpd_relay_restrictions"),
        },
    )
}

/// Restrictions that stop relaying for whoever reaches them.
const PROTECTIONS: &[&str] = &[
    "reject_unauth_destination",
    "defer_unauth_destination",
    "reject",
    "defer",
    "defer_all",
];

/// How one restriction list treats relaying.
struct ListReading {
    /// Index of the first protecting restriction.
    protection: Option<usize>,
    /// A bare `permit` before the protection: everyone may relay.
    permit_before: bool,
}

fn read_list(items: &[String]) -> ListReading {
    let lower: Vec<String> = items.iter().map(|s| s.to_ascii_lowercase()).collect();
    let protection = lower.iter().position(|i| PROTECTIONS.contains(&i.as_str()));
    let end = protection.unwrap_or(lower.len());
    ListReading {
        protection,
        permit_before: lower[..end].iter().any(|i| i == "permit"),
    }
}

pub fn judge_recipient_restrictions(
    _spec: &RecipientRestrictionsSpec,
    o: &RecipientRestrictionsObservation,
) -> Verdict {
    let evidence = json!({
        "smtpd_recipient_restrictions": o.smtpd_recipient_restrictions,
        "smtpd_relay_restrictions": o.smtpd_relay_restrictions,
    });
    let lists = [&o.smtpd_recipient_restrictions, &o.smtpd_relay_restrictions];
    let mut findings = Vec::new();
    let mut protected_by = Vec::new();
    for p in lists {
        let items = p.list();
        let r = read_list(&items);
        let Some(at) = r.protection else {
            continue;
        };
        if r.permit_before {
            findings.push(Verdict::fail(format!(
                "{}: `permit` comes before {}, so every client may relay (open relay)",
                p.shown(),
                items[at]
            )));
            continue;
        }
        protected_by.push(p.name.clone());
        // Clients the tutorial lets relay must be permitted before the protection.
        let lower: Vec<String> = items.iter().map(|s| s.to_ascii_lowercase()).collect();
        for want in ["permit_mynetworks", "permit_sasl_authenticated"] {
            match lower.iter().position(|i| i == want) {
                Some(i) if i < at => {}
                Some(_) => findings.push(Verdict::warn(format!(
                    "{}: {want} comes after {}, so it lets nobody relay (harmless, but those clients are refused mail to other domains)",
                    p.shown(),
                    items[at]
                ))),
                None => findings.push(Verdict::warn(format!(
                    "{}: no {want} before {}, so {} cannot send mail to other domains",
                    p.shown(),
                    items[at],
                    if want == "permit_mynetworks" {
                        "local programs (mynetworks)"
                    } else {
                        "authenticated users"
                    }
                ))),
            }
        }
    }
    if protected_by.is_empty() && findings.is_empty() {
        return Verdict::fail(format!(
            "neither {} nor {} has reject_unauth_destination (or defer_unauth_destination): open relay risk, anyone may send through this server to any domain",
            o.smtpd_recipient_restrictions.shown(),
            o.smtpd_relay_restrictions.shown()
        ))
        .with_fix("postconf -e 'smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination' && postfix reload")
        .with_evidence(evidence);
    }
    let pass = format!(
        "{}; relaying is refused unless permitted by {}",
        o.smtpd_recipient_restrictions.shown(),
        protected_by.join(" and ")
    );
    worst_of(findings, &pass).with_evidence(evidence)
}

// ---------------------------------------------------------------------------------------------
// T28: TLS settings and the certificate file.

/// T28 has no parameters: the tutorial's file comes from the settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettingsSpec {}

/// A PEM file's facts: what it holds (counted by markers, never the key itself) and its mode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TlsSettingsObservation {
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
}

pub async fn tls_settings(spec: &TlsSettingsSpec, ctx: &Ctx) -> Verdict {
    let cfg = match config(ctx).await {
        Ok(c) => c,
        Err(v) => return v,
    };
    let main = &cfg.main;
    let chain = Param::read(main, "smtpd_tls_chain_files");
    let cert = Param::read(main, "smtpd_tls_cert_file");
    let key = Param::read(main, "smtpd_tls_key_file");
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
    judge_tls_settings(
        spec,
        &TlsSettingsObservation {
            smtpd_use_tls: Param::read(main, "smtpd_use_tls"),
            smtpd_tls_security_level: Param::read(main, "smtpd_tls_security_level"),
            smtpd_tls_cert_file: cert,
            smtpd_tls_key_file: key,
            smtpd_tls_chain_files: chain,
            expected_cert_file: ctx.settings.cert_file.clone(),
            files,
        },
    )
}

pub fn judge_tls_settings(_spec: &TlsSettingsSpec, o: &TlsSettingsObservation) -> Verdict {
    let evidence = serde_json::to_value(o).unwrap_or_default();
    let mut findings = Vec::new();
    let level = o
        .smtpd_tls_security_level
        .effective
        .trim()
        .to_ascii_lowercase();
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
            Verdict::fail(format!("{why}: port 25 offers no STARTTLS"))
                .with_fix("postconf -e 'smtpd_use_tls = yes' && postfix reload"),
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
            findings.push(Verdict::fail(format!(
                "{name} (smtpd_tls_{}) does not exist: STARTTLS fails",
                if using_chain {
                    "chain_files"
                } else if f.path == Path::new(cert_path) {
                    "cert_file"
                } else {
                    "key_file"
                }
            )));
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
            if holds_key && facts.mode & 0o004 != 0 {
                findings.push(
                    Verdict::fail(format!(
                        "{} is readable by others (mode {:04o}): every local user can read the private key",
                        facts.describe(),
                        facts.mode
                    ))
                    .with_fix(format!("chmod 600 {name}")),
                );
            } else if facts.mode & 0o002 != 0 {
                findings.push(
                    Verdict::fail(format!(
                        "{} is writable by others (mode {:04o})",
                        facts.describe(),
                        facts.mode
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
    let pass = format!(
        "TLS on ({}); {}{tutorial}; certificate and key present, not readable by others: {}",
        if level.is_empty() {
            o.smtpd_use_tls.shown()
        } else {
            o.smtpd_tls_security_level.shown()
        },
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
    worst_of(findings, &pass).with_evidence(evidence)
}

// ---------------------------------------------------------------------------------------------
// T32: a master.cf service and its -o overrides.

/// T32: which service (by name or port) and the overrides it must carry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterServiceSpec {
    pub service: String,
    pub port: u16,
    /// master.cf service type, e.g. "inet".
    #[serde(rename = "type")]
    pub kind: String,
    pub command: String,
    /// `name=value`, values compared as Postfix lists.
    pub overrides: Vec<String>,
}

/// One `-o name=value` as written and as the service sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    pub name: String,
    pub written: String,
    pub effective: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceFacts {
    pub name: String,
    pub kind: String,
    pub command: String,
    pub line: usize,
    #[serde(default)]
    pub overrides: Vec<Override>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MasterServiceObservation {
    pub master_cf: PathBuf,
    #[serde(default)]
    pub service: Option<ServiceFacts>,
    /// A commented-out line for the service: (line, text without `#`).
    #[serde(default)]
    pub commented: Option<(usize, String)>,
    /// The service just above a commented-out line: Postfix joins the indented `-o` lines that
    /// followed the comment to it.
    #[serde(default)]
    pub adopted_by: Option<ServiceFacts>,
    /// main.cf's value of each overridden parameter, what applies without the `-o`.
    #[serde(default)]
    pub main_values: BTreeMap<String, String>,
}

/// Whether a master.cf service name (`submission`, `587`, `127.0.0.1:587`) is for this port.
fn names_port(service_name: &str, spec: &MasterServiceSpec) -> bool {
    let port = service_name.rsplit(':').next().unwrap_or(service_name);
    port == spec.service || port == spec.port.to_string()
}

fn facts_of(
    cfg: &crate::probe::postfix::PostfixConfig,
    s: &crate::probe::postfix::MasterService,
) -> ServiceFacts {
    ServiceFacts {
        name: s.name.clone(),
        kind: s.kind.clone(),
        command: s.command.clone(),
        line: s.line,
        overrides: s
            .overrides
            .iter()
            .map(|(n, v)| Override {
                name: n.clone(),
                written: v.clone(),
                effective: cfg.main.expand(v, 0),
            })
            .collect(),
    }
}

pub async fn master_service(spec: &MasterServiceSpec, ctx: &Ctx) -> Verdict {
    let cfg = match config(ctx).await {
        Ok(c) => c,
        Err(v) => return v,
    };
    let m = &cfg.master;
    let service = m
        .services
        .iter()
        .find(|s| s.kind == spec.kind && names_port(&s.name, spec))
        .map(|s| facts_of(&cfg, s));
    let commented = m
        .commented
        .iter()
        .find(|(_, text)| {
            let words = split_list(text);
            words.len() > 1 && words[1] == spec.kind && names_port(&words[0], spec)
        })
        .cloned();
    let adopted_by = commented.as_ref().and_then(|(line, _)| {
        m.services
            .iter()
            .filter(|s| s.line < *line)
            .max_by_key(|s| s.line)
            .map(|s| facts_of(&cfg, s))
    });
    let main_values = spec
        .overrides
        .iter()
        .filter_map(|o| o.split_once('='))
        .map(|(n, _)| (n.trim().to_string(), cfg.get(n.trim())))
        .collect();
    judge_master_service(
        spec,
        &MasterServiceObservation {
            master_cf: m.path.clone(),
            service,
            commented,
            adopted_by,
            main_values,
        },
    )
}

/// Compares override values as Postfix lists (`a,b` = `a, b`), case-insensitively.
fn same_list(a: &str, b: &str) -> bool {
    let n = |s: &str| {
        split_list(s)
            .iter()
            .map(|x| x.to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    n(a) == n(b)
}

pub fn judge_master_service(spec: &MasterServiceSpec, o: &MasterServiceObservation) -> Verdict {
    let evidence = serde_json::to_value(o).unwrap_or_default();
    let file = o.master_cf.display();
    let Some(s) = &o.service else {
        let mut msg = match &o.commented {
            Some((line, text)) => format!(
                "{file} line {line}: the {} service is commented out (`#{text}`): nothing listens on port {}",
                spec.service, spec.port
            ),
            None => format!(
                "{file} has no `{} {}` service: nothing listens on port {}",
                spec.service, spec.kind, spec.port
            ),
        };
        if let Some(a) = &o.adopted_by {
            let moved: Vec<String> = a
                .overrides
                .iter()
                .filter(|ov| {
                    spec.overrides
                        .iter()
                        .any(|w| w.split_once('=').is_some_and(|(n, _)| n.trim() == ov.name))
                })
                .map(|ov| format!("-o {}={}", ov.name, ov.written))
                .collect();
            if !moved.is_empty() {
                msg.push_str(&format!(
                    "; the indented lines below it now belong to `{} {}` (line {}), which gets {}",
                    a.name,
                    a.kind,
                    a.line,
                    moved.join(" ")
                ));
            }
        }
        return Verdict::fail(msg)
            .with_fix(format!(
                "uncomment the `{} {}` line and its `-o` lines in {file}, then postfix reload",
                spec.service, spec.kind
            ))
            .with_evidence(evidence);
    };
    let at = format!("{file} line {}", s.line);
    let mut findings = Vec::new();
    if s.command != spec.command {
        findings.push(Verdict::fail(format!(
            "{at}: `{} {}` runs {}, not {}",
            s.name, s.kind, s.command, spec.command
        )));
    }
    let mut ok = Vec::new();
    for want in &spec.overrides {
        let Some((name, value)) = want.split_once('=') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        match s.overrides.iter().rev().find(|ov| ov.name == name) {
            Some(ov) if same_list(&ov.effective, value) => {
                ok.push(format!("-o {name}={}", ov.written));
            }
            Some(ov) => findings.push(Verdict::fail(format!(
                "{at}: -o {name}={}, not {value}",
                ov.written
            ))),
            None => {
                let main = o.main_values.get(name).cloned().unwrap_or_default();
                findings.push(Verdict::fail(format!(
                    "{at}: `{} {}` lacks -o {name}={value} (so main.cf's {name} = {main} applies)",
                    s.name, s.kind
                )));
            }
        }
    }
    let pass = format!(
        "{at}: `{} {}` {} with {}",
        s.name,
        s.kind,
        s.command,
        ok.join(" ")
    );
    worst_of(findings, &pass).with_evidence(evidence)
}

// ---------------------------------------------------------------------------------------------
// T34: the MIME header rule.

/// T34: the header lines a rule must reject and the fix to suggest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MimeHeaderChecksSpec {
    pub parameter: String,
    /// A MIME header with an unquoted attachment name: the tutorial's rule must reject it.
    pub unquoted: String,
    /// The same with a quoted name, as mail programs write it.
    pub quoted: String,
    /// The rule that rejects both.
    pub fix_rule: String,
}

/// One table the parameter names.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeaderTable {
    pub kind: String,
    pub path: PathBuf,
    #[serde(default)]
    pub table: Option<RegexpTable>,
    #[serde(default)]
    pub problem: Option<String>,
    #[serde(default)]
    pub missing: bool,
    #[serde(default)]
    pub needs_root: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MimeHeaderChecksObservation {
    pub param: Param,
    #[serde(default)]
    pub tables: Vec<HeaderTable>,
}

pub async fn mime_header_checks(spec: &MimeHeaderChecksSpec, ctx: &Ctx) -> Verdict {
    let cfg = match config(ctx).await {
        Ok(c) => c,
        Err(v) => return v,
    };
    let param = Param::read(&cfg.main, &spec.parameter);
    let tables = map_references(&param.effective)
        .into_iter()
        .map(|(kind, path)| {
            let mut t = HeaderTable {
                kind: kind.clone(),
                path: path.clone(),
                table: None,
                problem: None,
                missing: false,
                needs_root: false,
            };
            if kind == "regexp" || kind == "pcre" {
                match std::fs::read_to_string(&path) {
                    Ok(text) => t.table = Some(RegexpTable::parse(&text)),
                    Err(e) => {
                        let e = ProbeError::from_io(&path, &e);
                        t.missing = matches!(e, ProbeError::NotFound { .. });
                        t.needs_root = matches!(e, ProbeError::PermissionDenied { .. });
                        t.problem = Some(e.to_string());
                    }
                }
            }
            t
        })
        .collect();
    judge_mime_header_checks(spec, &MimeHeaderChecksObservation { param, tables })
}

/// The first rule, across the tables in order, that applies to `header`: (table, rule line,
/// rule text, action). `Err` when a pattern cannot be evaluated.
fn first_action(
    tables: &[HeaderTable],
    header: &str,
) -> Result<Option<(PathBuf, usize, String, String)>, String> {
    for t in tables {
        let Some(table) = &t.table else { continue };
        if let Some(r) = table.first_match(header).map_err(|e| e.to_string())? {
            let neg = if r.negated { "!" } else { "" };
            return Ok(Some((
                t.path.clone(),
                r.line,
                format!("{neg}/{}/{} {}", r.pattern, r.flags, r.action),
                r.action.clone(),
            )));
        }
    }
    Ok(None)
}

fn rejects(action: &str) -> bool {
    action
        .split_whitespace()
        .next()
        .is_some_and(|a| a.eq_ignore_ascii_case("REJECT"))
}

pub fn judge_mime_header_checks(
    spec: &MimeHeaderChecksSpec,
    o: &MimeHeaderChecksObservation,
) -> Verdict {
    let evidence = json!({ "param": o.param, "tables": o.tables });
    let shown = o.param.shown();
    let fix_file = o
        .tables
        .first()
        .map_or("/etc/postfix/mime_header_checks".to_string(), |t| {
            t.path.display().to_string()
        });
    if o.param.list().is_empty() {
        return Verdict::fail(format!(
            "{} is empty: no MIME header is checked, so .exe attachments are accepted",
            o.param.name
        ))
        .with_fix(format!(
            "postconf -e '{} = regexp:{fix_file}' && echo '{}' >> {fix_file} && postfix reload",
            o.param.name, spec.fix_rule
        ))
        .with_evidence(evidence);
    }
    for t in &o.tables {
        if t.needs_root {
            return Verdict::error(t.problem.clone().unwrap_or_default()).with_evidence(evidence);
        }
        if t.missing {
            return Verdict::fail(format!(
                "{shown}: {} does not exist: Postfix cannot check MIME headers and defers mail",
                t.path.display()
            ))
            .with_evidence(evidence);
        }
        if let Some(p) = &t.problem {
            return Verdict::error(p.clone()).with_evidence(evidence);
        }
    }
    if !o.tables.iter().any(|t| t.table.is_some()) {
        return Verdict::warn(format!(
            "{shown}: mailcheck evaluates only regexp: and pcre: tables named by a file"
        ))
        .with_evidence(evidence);
    }
    let (unquoted, quoted) = match (
        first_action(&o.tables, &spec.unquoted),
        first_action(&o.tables, &spec.quoted),
    ) {
        (Ok(u), Ok(q)) => (u, q),
        (Err(e), _) | (_, Err(e)) => {
            return Verdict::error(format!("{shown}: {e}")).with_evidence(evidence);
        }
    };
    match (&unquoted, &quoted) {
        (Some(u), Some(q)) if rejects(&u.3) && rejects(&q.3) => Verdict::pass(format!(
            "{shown}: {} line {} `{}` rejects `{}`, and line {} rejects the quoted form too",
            u.0.display(),
            u.1,
            u.2,
            spec.unquoted,
            q.1
        )),
        (Some(u), _) if rejects(&u.3) => Verdict::warn(format!(
            "{shown}: {} line {} `{}` rejects `{}` but not `{}`, the quoted form mail programs send (the tutorial's rule has this gap)",
            u.0.display(),
            u.1,
            u.2,
            spec.unquoted,
            spec.quoted
        ))
        .with_fix(format!(
            "replace the rule in {} with `{}`, then postfix reload",
            u.0.display(),
            spec.fix_rule
        )),
        (u, _) => {
            let hit = u
                .as_ref()
                .map(|u| format!(" (line {} `{}` matches first)", u.1, u.2))
                .unwrap_or_default();
            Verdict::fail(format!(
                "{shown}: no rule rejects `{}`{hit}: .exe attachments get through",
                spec.unquoted
            ))
            .with_fix(format!(
                "add `{}` to {fix_file}, then postfix reload",
                spec.fix_rule
            ))
        }
    }
    .with_evidence(evidence)
}
