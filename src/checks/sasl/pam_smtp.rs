//! T22: /etc/pam.d/smtp checks logins with pam_mysql against Postfix Admin's mailbox table
//! (pam_mysql(8): table, columns, crypt=1 for md5-crypt), in the database the maps use; group
//! sasl, mode 0640, as it holds the database password (never recorded).

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::judge::{
    config_file_mode_finding, config_file_read_finding, config_file_unusable, mode_and_group,
};
use crate::checks::kind::{Kind, Unobserved};
use crate::checks::values::Mode;
use crate::facts::Facts;
use crate::probe::file::ConfigFile;
use crate::probe::maps::MysqlMap;
use crate::probe::postfix::map_references;
use crate::secret::REDACTED;
use crate::verdict::{Verdict, worst_of};

/// T22: the PAM service file, the module and arguments its auth and account rules need.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub path: PathBuf,
    pub module: String,
    /// Rule types that must use `module`, e.g. ["auth", "account"].
    pub types: Vec<String>,
    /// Arguments that must be present and non-empty.
    pub present: Vec<String>,
    /// Arguments with a required value.
    pub args: BTreeMap<String, String>,
    /// Arguments that must equal the map's key: pam argument -> map key (db -> dbname).
    #[serde(default)]
    pub same_as_map: BTreeMap<String, String>,
    /// The map file (in the config directory) whose database the rules must use.
    pub map: String,
    pub group: String,
    pub mode: Mode,
}

/// The database a map file names (never its password).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct MailboxMap {
    pub path: PathBuf,
    /// The map's keys that a PAM rule is compared with (dbname, user, hosts).
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
}

/// What T22 looks at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    /// The service file, `passwd=` values redacted.
    pub file: ConfigFile,
    #[serde(default)]
    pub map: Option<MailboxMap>,
    #[serde(default)]
    pub map_problem: Option<String>,
    /// Lines of rules whose `passwd=` differs from the map's `password` (compared by the probe;
    /// neither value is recorded).
    #[serde(default)]
    pub passwd_differs: Vec<usize>,
}

/// What pam_mysql's `crypt=` means (pam_mysql.c): 0 plain, 1 crypt(3), 2 PASSWORD(), 3 md5...
fn pam_mysql_crypt(v: &str) -> String {
    match v.to_ascii_lowercase().as_str() {
        "0" | "n" | "plain" => "0".into(),
        "1" | "y" | "crypt" => "1".into(),
        "2" | "mysql" => "2".into(),
        "3" | "md5" => "3".into(),
        "4" | "sha1" => "4".into(),
        other => other.to_string(),
    }
}

/// T22: the kind.
pub struct PamSmtp;

impl Kind for PamSmtp {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let redact = |t: &str| crate::probe::pam::redact_args(t, &["passwd"], REDACTED);
        let file = ConfigFile::read(&spec.path, redact);
        // The mailbox map named in main.cf, else the tutorial's file name in the config directory.
        let map_path = cfg
            .main
            .settings
            .values()
            .flat_map(|s| map_references(&cfg.main.expand(&s.value, 0)))
            .map(|(_, p)| p)
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy() == spec.map)
            })
            .unwrap_or_else(|| cfg.config_dir.join(&spec.map));
        let mut passwd_differs = Vec::new();
        let (map, map_problem) = match MysqlMap::load(&map_path) {
            Ok(m) => {
                // The passwords are compared here and dropped; only the line numbers are kept.
                if let Ok(text) = std::fs::read_to_string(&spec.path) {
                    for r in crate::probe::pam::parse(&text) {
                        if r.module_name() == spec.module
                            && let Some(p) = r.arg("passwd")
                            && !m.password.expose().is_empty()
                            && p != m.password.expose()
                            && !passwd_differs.contains(&r.line)
                        {
                            passwd_differs.push(r.line);
                        }
                    }
                }
                let mut keys = BTreeMap::new();
                keys.insert("dbname".to_string(), m.dbname.clone());
                keys.insert("user".to_string(), m.user.clone());
                keys.insert("hosts".to_string(), m.hosts.join(" "));
                (
                    Some(MailboxMap {
                        path: map_path,
                        keys,
                    }),
                    None,
                )
            }
            Err(e) => (None, Some(e.to_string())),
        };
        Ok(Observation {
            file,
            map,
            map_problem,
            passwd_differs,
        })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let name = o.file.path.display();
        if let Some(v) = config_file_unusable(
            &o.file,
            ": PAM falls back to /etc/pam.d/other and refuses every login",
        ) {
            return v;
        }
        let mut findings: Vec<Verdict> = Vec::new();
        findings.extend(config_file_mode_finding(&o.file, &spec.group, spec.mode));
        findings.extend(config_file_read_finding(&o.file));
        let mut summary = Vec::new();
        if let Some(text) = &o.file.text {
            let rules = crate::probe::pam::parse(text);
            for ty in &spec.types {
                let Some(rule) = rules
                    .iter()
                    .find(|r| r.kind == *ty && r.module_name() == spec.module)
                else {
                    findings.push(Verdict::fail(format!(
                        "{name} has no `{ty}` rule with {}",
                        spec.module
                    )));
                    continue;
                };
                let at = format!("{name} line {} ({ty})", rule.line);
                let mut wrong = Vec::new();
                for key in &spec.present {
                    if rule.arg(key).is_none_or(str::is_empty) {
                        wrong.push(format!("no {key}="));
                    }
                }
                for (key, want) in &spec.args {
                    let have = rule.arg(key);
                    let ok = match (key.as_str(), have) {
                        ("crypt", Some(h)) => pam_mysql_crypt(h) == pam_mysql_crypt(want),
                        (_, Some(h)) => h == want,
                        (_, None) => false,
                    };
                    if ok {
                        continue;
                    }
                    let shown = have.map_or_else(|| format!("no {key}="), |h| format!("{key}={h}"));
                    let why = match (key.as_str(), have.map(pam_mysql_crypt).as_deref()) {
                        ("crypt", Some("0")) => {
                            " (plaintext: pam_mysql compares the password as stored, but Postfix Admin stores md5-crypt hashes)"
                        }
                        ("crypt", _) => {
                            " (Postfix Admin stores md5-crypt hashes, which need crypt=1)"
                        }
                        _ => "",
                    };
                    wrong.push(format!("{shown}, not {key}={want}{why}"));
                }
                if let Some(map) = &o.map {
                    let map_name = map.path.display();
                    for (arg, key) in &spec.same_as_map {
                        let (Some(have), Some(m)) = (rule.arg(arg), map.keys.get(key)) else {
                            continue;
                        };
                        if have == m {
                            continue;
                        }
                        let msg = format!("{at}: {arg}={have}, but {map_name} has {key} = {m}");
                        if arg == "user" {
                            findings.push(Verdict::warn(format!(
                                "{msg}: fine only if {have} can read the mailbox table"
                            )));
                        } else {
                            findings.push(Verdict::fail(format!(
                                "{msg}: logins are checked against another database"
                            )));
                        }
                    }
                }
                if o.passwd_differs.contains(&rule.line) {
                    findings.push(Verdict::warn(format!(
                        "{at}: passwd= differs from the password in {} for the same database user: one of them cannot log in",
                        o.map.as_ref().map(|m| m.path.display().to_string()).unwrap_or_default()
                    )));
                }
                if wrong.is_empty() {
                    summary.push(format!("{ty} line {}", rule.line));
                } else {
                    findings.push(Verdict::fail(format!("{at}: {}", wrong.join(", "))));
                }
            }
        }
        if o.map.is_none()
            && let Some(p) = &o.map_problem
        {
            findings.push(Verdict::error(format!(
                "cannot compare db= with the mailbox map: {p}"
            )));
        }
        let facts = mode_and_group(&o.file);
        let pass = format!(
            "{name} ({facts}): {} use {} with table, columns and crypt as the tutorial says",
            summary.join(", "),
            spec.module
        );
        worst_of(findings, &pass)
    }
}
