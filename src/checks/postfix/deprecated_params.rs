//! T37: no parameter or restriction that this Postfix has deprecated or removed is in main.cf or
//! master.cf; each one found is named with its line, its replacement and the Postfix version
//! that deprecated or removed it (DEPRECATION_README, postconf(5)).

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::postfix::{PostfixConfig, split_list};
use crate::probe::versions::at_least;
use crate::verdict::{Verdict, worst_of};

/// No parameters: the table of deprecations is Postfix's (DEPRECATION_README).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {}

/// How an obsolete setting is replaced.
#[derive(Debug, Clone, Copy)]
enum Replace {
    /// The same value under a new name.
    Renamed(&'static str),
    /// `name = yes` / `name = no` become these settings of another parameter.
    YesNo {
        param: &'static str,
        yes: &'static str,
        no: &'static str,
    },
    /// Remove it: the default is right.
    Remove,
    /// Something else, described.
    Other(&'static str),
}

/// One obsolete parameter or restriction.
struct Obsolete {
    name: &'static str,
    restriction: bool,
    /// The Postfix version whose postconf or smtpd warns about it.
    deprecated_in: &'static str,
    /// The version that no longer has it.
    removed_in: Option<&'static str>,
    replace: Replace,
}

const fn param(name: &'static str, since: &'static str, replace: Replace) -> Obsolete {
    Obsolete {
        name,
        restriction: false,
        deprecated_in: since,
        removed_in: None,
        replace,
    }
}

const fn restriction(
    name: &'static str,
    since: &'static str,
    removed_in: Option<&'static str>,
    replace: Replace,
) -> Obsolete {
    Obsolete {
        name,
        restriction: true,
        deprecated_in: since,
        removed_in,
        replace,
    }
}

/// DEPRECATION_README's table (Postfix 3.11), plus the restriction names renamed in 2.3
/// (still accepted; they only get a note).
const OBSOLETE: &[Obsolete] = &[
    param(
        "smtpd_use_tls",
        "3.9",
        Replace::YesNo {
            param: "smtpd_tls_security_level",
            yes: "may",
            no: "none",
        },
    ),
    param(
        "smtp_use_tls",
        "3.9",
        Replace::YesNo {
            param: "smtp_tls_security_level",
            yes: "may",
            no: "none",
        },
    ),
    param(
        "lmtp_use_tls",
        "3.9",
        Replace::YesNo {
            param: "lmtp_tls_security_level",
            yes: "may",
            no: "none",
        },
    ),
    param(
        "smtpd_enforce_tls",
        "3.9",
        Replace::YesNo {
            param: "smtpd_tls_security_level",
            yes: "encrypt",
            no: "may",
        },
    ),
    param(
        "smtp_enforce_tls",
        "3.9",
        Replace::YesNo {
            param: "smtp_tls_security_level",
            yes: "encrypt",
            no: "may",
        },
    ),
    param(
        "lmtp_enforce_tls",
        "3.9",
        Replace::YesNo {
            param: "lmtp_tls_security_level",
            yes: "encrypt",
            no: "may",
        },
    ),
    param(
        "smtp_tls_per_site",
        "3.9",
        Replace::Other("smtp_tls_policy_maps (a different table format: convert it by hand)"),
    ),
    param(
        "lmtp_tls_per_site",
        "3.9",
        Replace::Other("lmtp_tls_policy_maps (a different table format: convert it by hand)"),
    ),
    param("smtpd_tls_dh1024_param_file", "3.9", Replace::Remove),
    param("smtpd_tls_eecdh_grade", "3.9", Replace::Remove),
    param(
        "disable_dns_lookups",
        "3.9",
        Replace::YesNo {
            param: "smtp_dns_support_level",
            yes: "disabled",
            no: "",
        },
    ),
    param(
        "smtp_tls_enforce_peername",
        "3.11",
        Replace::YesNo {
            param: "smtp_tls_security_level",
            yes: "verify",
            no: "may",
        },
    ),
    param(
        "lmtp_tls_enforce_peername",
        "3.11",
        Replace::YesNo {
            param: "lmtp_tls_security_level",
            yes: "verify",
            no: "may",
        },
    ),
    param(
        "authorized_verp_clients",
        "3.11",
        Replace::Renamed("smtpd_authorized_verp_clients"),
    ),
    param(
        "fallback_relay",
        "3.11",
        Replace::Renamed("smtp_fallback_relay"),
    ),
    param(
        "postscreen_blacklist_action",
        "3.11",
        Replace::Renamed("postscreen_denylist_action"),
    ),
    param(
        "postscreen_dnsbl_ttl",
        "3.11",
        Replace::Renamed("postscreen_dnsbl_max_ttl"),
    ),
    param(
        "postscreen_dnsbl_whitelist_threshold",
        "3.11",
        Replace::Renamed("postscreen_dnsbl_allowlist_threshold"),
    ),
    param(
        "postscreen_whitelist_interfaces",
        "3.11",
        Replace::Renamed("postscreen_allowlist_interfaces"),
    ),
    param(
        "smtpd_client_connection_limit_exceptions",
        "3.11",
        Replace::Renamed("smtpd_client_event_limit_exceptions"),
    ),
    param(
        "tlsproxy_client_level",
        "3.11",
        Replace::Renamed("tlsproxy_client_security_level"),
    ),
    param(
        "tlsproxy_client_policy",
        "3.11",
        Replace::Renamed("tlsproxy_client_policy_maps"),
    ),
    param(
        "virtual_maps",
        "3.11",
        Replace::Renamed("virtual_alias_maps"),
    ),
    param("smtp_cname_overrides_servername", "3.11", Replace::Remove),
    param("lmtp_cname_overrides_servername", "3.11", Replace::Remove),
    restriction(
        "check_relay_domains",
        "2.2",
        Some("3.9"),
        Replace::Other("permit_mynetworks, reject_unauth_destination"),
    ),
    restriction(
        "reject_maps_rbl",
        "2.1",
        Some("3.9"),
        Replace::Other("reject_rbl_client <domain of a DNS reputation service>"),
    ),
    restriction(
        "permit_naked_ip_address",
        "2.0",
        Some("3.9"),
        Replace::Other("permit_mynetworks or permit_sasl_authenticated"),
    ),
    restriction(
        "permit_mx_backup",
        "3.9",
        None,
        Replace::Other("relay_domains (list the domains this server is backup MX for)"),
    ),
];

/// Restriction names Postfix 2.3 renamed; the old ones still work, so they get a note only.
const RENAMED_2_3: &[(&str, &str)] = &[
    (
        "reject_unknown_client",
        "reject_unknown_reverse_client_hostname",
    ),
    ("reject_invalid_hostname", "reject_invalid_helo_hostname"),
    ("reject_non_fqdn_hostname", "reject_non_fqdn_helo_hostname"),
    ("reject_unknown_hostname", "reject_unknown_helo_hostname"),
];

/// One obsolete name found in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Use {
    /// The obsolete parameter or restriction.
    pub name: String,
    /// main.cf or master.cf.
    pub file: PathBuf,
    pub line: usize,
    /// Where: `smtpd_use_tls = yes`, `smtpd_recipient_restrictions`, or
    /// `submission inet -o smtpd_use_tls=yes`.
    pub context: String,
    /// The parameter's value as written (for a parameter).
    #[serde(default)]
    pub value: String,
}

/// What the deprecation check saw.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    /// `mail_version`; `None` when postconf could not tell.
    #[serde(default)]
    pub postfix_version: Option<String>,
    #[serde(default)]
    pub uses: Vec<Use>,
    /// postconf -n's own deprecation notices ("support for parameter ... will be removed").
    #[serde(default)]
    pub postconf_notices: Vec<String>,
}

/// The kind.
pub struct DeprecatedParams;

impl Kind for DeprecatedParams {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let versions = facts.versions().await;
        let notices = postconf_notices(facts).await;
        Ok(Observation {
            postfix_version: versions.postfix_version().map(str::to_string),
            uses: uses(&cfg),
            postconf_notices: notices,
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let version = o.postfix_version.as_deref();
        let this = version.map_or_else(
            || "this Postfix (version unknown)".to_string(),
            |v| format!("Postfix {v}"),
        );
        let mut findings = Vec::new();
        let mut notes = Vec::new();
        for u in &o.uses {
            let at = format!(
                "{} line {}: {}",
                u.file.file_name().map_or_else(
                    || u.file.display().to_string(),
                    |n| n.to_string_lossy().into_owned()
                ),
                u.line,
                u.context
            );
            if let Some((_, new)) = RENAMED_2_3.iter().find(|(old, _)| *old == u.name) {
                notes.push(format!(
                    "{at}: {} is the pre-2.3 name of {new} (still accepted)",
                    u.name
                ));
                continue;
            }
            let Some(ob) = OBSOLETE.iter().find(|ob| ob.name == u.name) else {
                continue;
            };
            let what = if ob.restriction {
                "restriction"
            } else {
                "parameter"
            };
            let fix = replacement(ob, u);
            let removed = ob
                .removed_in
                .filter(|r| version.is_some_and(|v| at_least(v, r)));
            let deprecated = version.is_none_or(|v| at_least(v, ob.deprecated_in));
            if let Some(r) = removed {
                findings.push(
                    Verdict::fail(format!(
                        "{at}: the {what} {} was removed in Postfix {r} ({this}): {}",
                        u.name,
                        if ob.restriction {
                            "smtpd answers `451 4.3.5 Server configuration error` to every client that reaches it"
                        } else {
                            "it has no effect"
                        }
                    ))
                    .with_fix(fix),
                );
            } else if deprecated {
                let gone = ob
                    .removed_in
                    .map(|r| format!(", removed in {r}"))
                    .unwrap_or_default();
                findings.push(
                    Verdict::warn(format!(
                        "{at}: the {what} {} is deprecated since Postfix {}{gone} ({this}; it still works): {}",
                        u.name, ob.deprecated_in, fix
                    ))
                    .with_fix(fix),
                );
            } else {
                notes.push(format!(
                    "{at} is deprecated from Postfix {} ({this} does not warn yet; before upgrading: {fix})",
                    ob.deprecated_in
                ));
            }
        }
        // What postconf itself calls deprecated and the table does not know.
        for n in &o.postconf_notices {
            let known = notice_param(n).is_some_and(|p| o.uses.iter().any(|u| u.name == p));
            if !known {
                findings.push(
                    Verdict::warn(format!("postconf warns: {n}"))
                        .with_fix("replace the parameter as postconf says, then postfix reload"),
                );
            }
        }
        let pass = if notes.is_empty() {
            format!(
                "main.cf and master.cf use no parameter or restriction that {this} deprecates or removed"
            )
        } else {
            format!(
                "nothing {this} deprecates or removed is in use; notes: {}",
                notes.join("; ")
            )
        };
        worst_of(findings, &pass)
    }
}

/// What to write instead of `u`.
fn replacement(ob: &Obsolete, u: &Use) -> String {
    let v = u.value.trim().to_ascii_lowercase();
    match ob.replace {
        Replace::Renamed(new) => format!("rename it to {new} (same value)"),
        Replace::YesNo { param, yes, no } => {
            let to = match v.as_str() {
                "yes" | "true" | "1" => Some(yes),
                "no" | "false" | "0" => Some(no),
                _ => None,
            };
            match to {
                Some("") => format!("remove {} ({param} at its default does the same)", u.name),
                Some(t) => format!("replace `{} = {}` with `{param} = {t}`", u.name, u.value),
                None => format!("use {param} instead (yes = {yes}, no = {no})"),
            }
        }
        Replace::Remove => format!("remove {} (leave it at its default)", u.name),
        Replace::Other(text) => format!("use {text} instead"),
    }
}

/// The parameters whose values are restriction lists: every `*_restrictions` and the
/// classes smtpd_restriction_classes names.
fn restriction_lists(cfg: &PostfixConfig) -> Vec<String> {
    let mut names: Vec<String> = cfg
        .main
        .settings
        .keys()
        .filter(|n| n.ends_with("_restrictions"))
        .cloned()
        .collect();
    names.extend(split_list(&cfg.get("smtpd_restriction_classes")));
    names.sort();
    names.dedup();
    names
}

/// Every obsolete name in main.cf and master.cf, in file order.
fn uses(cfg: &PostfixConfig) -> Vec<Use> {
    let is_obsolete_param = |n: &str| OBSOLETE.iter().any(|o| !o.restriction && o.name == n);
    let is_obsolete_restriction = |n: &str| {
        OBSOLETE.iter().any(|o| o.restriction && o.name == n)
            || RENAMED_2_3.iter().any(|(old, _)| *old == n)
    };
    let lists = restriction_lists(cfg);
    let mut out = Vec::new();
    for (name, s) in &cfg.main.settings {
        if is_obsolete_param(name) {
            out.push(Use {
                name: name.clone(),
                file: cfg.main.path.clone(),
                line: s.line,
                context: format!("{name} = {}", s.value),
                value: s.value.clone(),
            });
        }
        if lists.contains(name) || name.ends_with("_restrictions") {
            for item in split_list(&s.value) {
                if is_obsolete_restriction(&item) {
                    out.push(Use {
                        name: item,
                        file: cfg.main.path.clone(),
                        line: s.line,
                        context: name.clone(),
                        value: String::new(),
                    });
                }
            }
        }
    }
    for svc in &cfg.master.services {
        for (n, v) in &svc.overrides {
            let context = format!("{} {} -o {n}={v}", svc.name, svc.kind);
            if is_obsolete_param(n) {
                out.push(Use {
                    name: n.clone(),
                    file: cfg.master.path.clone(),
                    line: svc.line,
                    context: context.clone(),
                    value: v.clone(),
                });
            }
            if n.ends_with("_restrictions") || lists.contains(n) {
                for item in split_list(v) {
                    if is_obsolete_restriction(&item) {
                        out.push(Use {
                            name: item,
                            file: cfg.master.path.clone(),
                            line: svc.line,
                            context: context.clone(),
                            value: String::new(),
                        });
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| (&a.file, a.line, &a.name).cmp(&(&b.file, b.line, &b.name)));
    out
}

/// `support for parameter "X" will be removed; instead, specify "Y"` -> X.
pub(crate) fn notice_param(line: &str) -> Option<&str> {
    let rest = line.split("support for parameter \"").nth(1)?;
    rest.split('"').next()
}

/// Whether a postconf warning line is a deprecation notice (this check's finding, not T37's).
pub(crate) fn is_deprecation_notice(line: &str) -> bool {
    notice_param(line).is_some() && (line.contains("will be removed") || line.contains("removed"))
}

/// postconf's deprecation notices (the run's one postconf), without the
/// `postconf: warning: FILE: ` prefix.
async fn postconf_notices(facts: &Facts) -> Vec<String> {
    let Ok(ran) = facts.postconf_run().await else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for l in ran.stderr.lines().filter(|l| is_deprecation_notice(l)) {
        let text = l
            .split_once("warning: ")
            .map_or(l, |(_, w)| w)
            .trim()
            .to_string();
        if !out.contains(&text) {
            out.push(text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_name_their_parameter() {
        let l = r#"postconf: warning: /etc/postfix/main.cf: support for parameter "smtpd_use_tls" will be removed; instead, specify "smtpd_tls_security_level""#;
        assert!(is_deprecation_notice(l));
        assert_eq!(notice_param(l), Some("smtpd_use_tls"));
        assert!(!is_deprecation_notice(
            "postconf: warning: /etc/postfix/main.cf: unused parameter: smtpd_sasl_auht_enable=yes"
        ));
    }

    #[test]
    fn every_obsolete_name_is_listed_once() {
        let mut names: Vec<&str> = OBSOLETE.iter().map(|o| o.name).collect();
        names.extend(RENAMED_2_3.iter().map(|(o, _)| *o));
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
