//! H6: the TLS floor: TLS 1.0 and 1.1 (deprecated by RFC 8996) are refused after STARTTLS;
//! Postfix smtpd_tls_protocols / smtpd_tls_mandatory_protocols (TLS_README, postconf(5)).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Feature, ServerConfig, from_where, server_config};
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::facts::hardening::Vantage;
use crate::probe::hardening::ErrorKind;
use crate::probe::hardening::legacy_tls::{
    self, HelloResponse, LegacyTlsObservation, LegacyVersion,
};
use crate::probe::session::{Service, Step};
use crate::verdict::Verdict;

/// `>=TLSv1.2` in the protocol lists.
const RANGE_SYNTAX: Feature = Feature {
    mainline: (3, 6),
    backports: &[],
};

const PARAMS: &[&str] = &[
    "smtpd_tls_security_level",
    "smtpd_use_tls",
    "smtpd_enforce_tls",
    "smtpd_tls_protocols",
    "smtpd_tls_mandatory_protocols",
    "smtpd_tls_ciphers",
    "smtpd_tls_mandatory_ciphers",
];

/// `[probe]` of H6 (protocols): the port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub service: Service,
}

/// What H6 saw: one ClientHello offering only TLS 1.0, one only TLS 1.1.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Observation {
    pub vantage: Vantage,
    pub tls10: LegacyTlsObservation,
    pub tls11: LegacyTlsObservation,
    pub config: Option<ServerConfig>,
}

/// H6 (protocols): the kind.
pub struct TlsFloor;

/// What one offer got.
enum Answer {
    Accepted(String),
    Refused(String),
    NoTls(String),
    Unknown(String),
}

fn answer(o: &LegacyTlsObservation) -> Answer {
    if let Some(f) = &o.setup_failure {
        return if f.outcome.error_kind() == Some(ErrorKind::NotOffered) {
            Answer::NoTls("EHLO does not offer STARTTLS".into())
        } else {
            Answer::Unknown(f.describe())
        };
    }
    match &o.starttls {
        Some(s) if s.code() == Some(220) => {}
        Some(s @ Step::Reply { .. }) => {
            return Answer::NoTls(format!("STARTTLS answered `{}`", s.describe()));
        }
        Some(s) => return Answer::Unknown(format!("STARTTLS: {}", s.describe())),
        None => return Answer::Unknown("STARTTLS was not sent".into()),
    }
    let Some(r) = &o.response else {
        return Answer::Unknown("no ClientHello was sent".into());
    };
    let offered = o.offered.wire();
    match r {
        HelloResponse::ServerHello {
            version,
            version_name,
            cipher_name,
            cipher_suite,
            ..
        } if *version <= offered => Answer::Accepted(format!(
            "{version_name} ({})",
            cipher_name
                .clone()
                .unwrap_or_else(|| format!("suite 0x{cipher_suite:04x}"))
        )),
        HelloResponse::ServerHello { version_name, .. } => Answer::Unknown(format!(
            "answered a {} offer with {version_name}, which it may not choose",
            o.offered_version
        )),
        HelloResponse::Alert { .. } | HelloResponse::Closed { .. } => {
            Answer::Refused(legacy_tls::describe(r))
        }
        _ => Answer::Unknown(legacy_tls::describe(r)),
    }
}

impl Kind for TlsFloor {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let tls10 = facts
            .legacy_tls(spec.service, LegacyVersion::Tls10)
            .await
            .map_err(Unobserved::Failed)?;
        let tls11 = facts
            .legacy_tls(spec.service, LegacyVersion::Tls11)
            .await
            .map_err(Unobserved::Failed)?;
        Ok(Observation {
            vantage: facts.hardening_vantage().await,
            tls10: (*tls10).clone(),
            tls11: (*tls11).clone(),
            config: server_config(facts, spec.service, PARAMS).await,
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let addr = &o.tls10.endpoint.addr;
        let from = from_where(&o.vantage);
        let answers = [("TLS 1.0", answer(&o.tls10)), ("TLS 1.1", answer(&o.tls11))];
        if let [(_, Answer::NoTls(why)), (_, Answer::NoTls(_))] = &answers {
            return Verdict::skip(format!(
                "{addr}: {why} (tls.starttls and submission.tls-required say why)"
            ));
        }
        let accepted: Vec<String> = answers
            .iter()
            .filter_map(|(_, a)| match a {
                Answer::Accepted(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        let note = applies(o.config.as_ref());
        if !accepted.is_empty() {
            return Verdict::warn(format!(
                "{addr} accepts {} after STARTTLS {from}: protocols RFC 8996 retired (no client needs them){note}",
                accepted.join(" and ")
            ))
            .with_fix(fix(o.config.as_ref()));
        }
        if let Some((what, why)) = answers.iter().find_map(|(w, a)| match a {
            Answer::Unknown(s) | Answer::NoTls(s) => Some((w, s)),
            _ => None,
        }) {
            return Verdict::error(format!("{addr}: offering only {what}: {why}: cannot tell"));
        }
        let refused: Vec<String> = answers
            .iter()
            .filter_map(|(w, a)| match a {
                Answer::Refused(s) => Some(format!("{w} ({s})")),
                _ => None,
            })
            .collect();
        Verdict::pass(format!(
            "{addr} refuses {} {from}{note}",
            refused.join(" and ")
        ))
    }
}

/// Which protocol list the port uses, and what it says: `encrypt` uses the mandatory one.
fn applies(config: Option<&ServerConfig>) -> String {
    let Some(c) = config else {
        return String::new();
    };
    let level = c
        .get("smtpd_tls_security_level")
        .and_then(|s| s.lower())
        .unwrap_or_default();
    let enforce = c
        .get("smtpd_enforce_tls")
        .and_then(|s| s.lower())
        .is_some_and(|v| v == "yes");
    let mandatory = level == "encrypt" || (level.is_empty() && enforce);
    let service = c.service.clone().unwrap_or_else(|| "this port".into());
    let list = if mandatory {
        "smtpd_tls_mandatory_protocols"
    } else {
        "smtpd_tls_protocols"
    };
    // The tutorial sets the old smtpd_use_tls / smtpd_enforce_tls instead of the level.
    let level_note = if level.is_empty() {
        let old = if enforce {
            "smtpd_enforce_tls"
        } else {
            "smtpd_use_tls"
        };
        c.shown(old).unwrap_or_default()
    } else {
        c.shown("smtpd_tls_security_level").unwrap_or_default()
    };
    let list_note = c.shown(list).unwrap_or_default();
    format!("; {service} uses {list} ({level_note}): {list_note}")
}

/// Both lines: port 25 (security level may) follows smtpd_tls_protocols, the submission port
/// (encrypt) smtpd_tls_mandatory_protocols.
fn fix(config: Option<&ServerConfig>) -> String {
    let version = config.and_then(ServerConfig::version);
    let (value, why) = match version {
        Some(v) if v.has(&RANGE_SYNTAX) => (">=TLSv1.2", format!("Postfix {v} reads the >= form")),
        Some(v) => (
            "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1",
            format!("Postfix {v} has no >= form; it came with 3.6"),
        ),
        None => (
            ">=TLSv1.2",
            "Postfix 3.6 and later; older: `!SSLv2, !SSLv3, !TLSv1, !TLSv1.1`".to_string(),
        ),
    };
    let overrides: Vec<String> = config
        .map(|c| {
            ["smtpd_tls_protocols", "smtpd_tls_mandatory_protocols"]
                .iter()
                .filter_map(|n| c.get(n))
                .filter(|s| s.master_cf.is_some())
                .map(|s| {
                    format!(
                        " and remove `-o {}=...` from master.cf line {}",
                        s.name,
                        s.master_cf_line.unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!(
        "add to main.cf: `smtpd_tls_protocols = {value}` and `smtpd_tls_mandatory_protocols = {value}` ({why}; port 25 follows the first, the submission port with smtpd_tls_security_level = encrypt the second){}, then `postfix reload`",
        overrides.join("")
    )
}
