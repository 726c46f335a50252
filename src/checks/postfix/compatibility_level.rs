//! T37: `compatibility_level` and the old defaults it keeps in force on this server: each
//! parameter (and master.cf chroot column) left at a default that a higher level changes
//! (COMPATIBILITY_README, postconf(5) compatibility_level).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Param;
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::versions::at_least;
use crate::verdict::Verdict;

/// No parameters: the table is COMPATIBILITY_README's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {}

/// One default that changes at a compatibility level.
struct LevelDefault {
    /// The level (and the Postfix version) from which the new default applies.
    level: &'static str,
    param: &'static str,
    old: &'static str,
    new: &'static str,
    /// Why it matters here.
    why: &'static str,
}

/// COMPATIBILITY_README (Postfix 3.11), without the master.cf chroot column (below).
const LEVEL_DEFAULTS: &[LevelDefault] = &[
    LevelDefault {
        level: "1",
        param: "append_dot_mydomain",
        old: "yes",
        new: "no",
        why: "T7 wants no",
    },
    LevelDefault {
        level: "1",
        param: "smtpd_relay_restrictions",
        old: "(empty)",
        new: "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination",
        why: "without it smtpd_recipient_restrictions alone stands between the server and an open relay",
    },
    LevelDefault {
        level: "1",
        param: "smtputf8_enable",
        old: "no",
        new: "yes",
        why: "",
    },
    LevelDefault {
        level: "2",
        param: "mynetworks_style",
        old: "subnet",
        new: "host",
        why: "with mynetworks unset, every host on the server's subnets may relay",
    },
    LevelDefault {
        level: "2",
        param: "relay_domains",
        old: "$mydestination",
        new: "(empty)",
        why: "",
    },
    LevelDefault {
        level: "3.6",
        param: "smtpd_tls_fingerprint_digest",
        old: "md5",
        new: "sha256",
        why: "",
    },
    LevelDefault {
        level: "3.6",
        param: "smtp_tls_fingerprint_digest",
        old: "md5",
        new: "sha256",
        why: "",
    },
    LevelDefault {
        level: "3.6",
        param: "lmtp_tls_fingerprint_digest",
        old: "md5",
        new: "sha256",
        why: "",
    },
    LevelDefault {
        level: "3.6",
        param: "smtpd_relay_before_recipient_restrictions",
        old: "no",
        new: "yes",
        why: "",
    },
    LevelDefault {
        level: "3.6",
        param: "respectful_logging",
        old: "no",
        new: "yes",
        why: "",
    },
    LevelDefault {
        level: "3.11",
        param: "smtp_tlsrpt_skip_reused_handshakes",
        old: "yes",
        new: "no",
        why: "",
    },
    LevelDefault {
        level: "3.11",
        param: "smtp_tls_security_level",
        old: "(empty)",
        new: "may",
        why: "",
    },
];

/// A master.cf service with `-` in its chroot column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DashChroot {
    pub service: String,
    pub kind: String,
    pub line: usize,
}

/// What the compatibility check saw.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub compatibility_level: Param,
    #[serde(default)]
    pub postfix_version: Option<String>,
    /// The level-dependent parameters main.cf sets explicitly.
    #[serde(default)]
    pub set_explicitly: Vec<String>,
    /// Whether main.cf sets mynetworks (mynetworks_style then does not matter).
    #[serde(default)]
    pub mynetworks_set: bool,
    /// master.cf services whose chroot column is `-`.
    #[serde(default)]
    pub dash_chroot: Vec<DashChroot>,
}

/// The kind.
pub struct CompatibilityLevel;

impl Kind for CompatibilityLevel {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let versions = facts.versions().await;
        Ok(Observation {
            compatibility_level: Param::read(&cfg.main, "compatibility_level"),
            postfix_version: versions.postfix_version().map(str::to_string),
            set_explicitly: LEVEL_DEFAULTS
                .iter()
                .filter(|d| cfg.main.raw(d.param).is_some())
                .map(|d| d.param.to_string())
                .collect(),
            mynetworks_set: cfg.main.raw("mynetworks").is_some(),
            dash_chroot: cfg
                .master
                .services
                .iter()
                .filter(|s| s.chroot == "-")
                .map(|s| DashChroot {
                    service: s.name.clone(),
                    kind: s.kind.clone(),
                    line: s.line,
                })
                .collect(),
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let level = o.compatibility_level.effective.trim();
        let level = if level.is_empty() { "0" } else { level };
        let shown = if o.compatibility_level.line.is_some() {
            o.compatibility_level.shown()
        } else {
            format!("compatibility_level is not set in main.cf (level {level})")
        };
        let version = o.postfix_version.as_deref().unwrap_or("");
        let this = if version.is_empty() {
            "this Postfix".to_string()
        } else {
            format!("Postfix {version}")
        };
        // A default changes only where Postfix knows the level and main.cf leaves it alone.
        let applies =
            |from: &str| !at_least(level, from) && (version.is_empty() || at_least(version, from));
        let mut kept = Vec::new();
        for d in LEVEL_DEFAULTS {
            if !applies(d.level) || o.set_explicitly.iter().any(|p| p == d.param) {
                continue;
            }
            if d.param == "mynetworks_style" && o.mynetworks_set {
                continue;
            }
            let why = if d.why.is_empty() {
                String::new()
            } else {
                format!(": {}", d.why)
            };
            kept.push(format!(
                "{} = {} (from level {}: {}){why}",
                d.param, d.old, d.level, d.new
            ));
        }
        if applies("1") && !o.dash_chroot.is_empty() {
            let lines: Vec<String> = o
                .dash_chroot
                .iter()
                .map(|s| format!("{} {} (line {})", s.service, s.kind, s.line))
                .collect();
            kept.push(format!(
                "master.cf chroot `-` = y (from level 1: n) for {}",
                lines.join(", ")
            ));
        }
        if !kept.is_empty() {
            return Verdict::warn(format!(
                    "{shown}: {this} keeps {} old default{} in force: {}",
                    kept.len(),
                    if kept.len() == 1 { "" } else { "s" },
                    kept.join("; ")
                ))
            .with_fix(
                "make each old default you rely on explicit in main.cf (or master.cf), then raise compatibility_level (postconf -e compatibility_level=3.6, or the running version) and postfix reload; see COMPATIBILITY_README",
            );
        }
        let newer = if !version.is_empty() && !at_least(version, level) {
            format!(" (a level above {this}: it uses every new default it has)")
        } else {
            String::new()
        };
        let chroot = if o.dash_chroot.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = o.dash_chroot.iter().map(|s| s.service.as_str()).collect();
            format!(
                "; master.cf's `-` in the chroot column means n (not chrooted) for {}",
                names.join(", ")
            )
        };
        Verdict::pass(format!(
            "{shown}: {this} uses the current default of every parameter that depends on it{newer}{chroot}"
        ))
    }
}
