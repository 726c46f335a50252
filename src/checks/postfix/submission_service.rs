//! T32: master.cf has the submission service on port 587 running smtpd with the tutorial's
//! `-o` overrides (master(5), postconf(5)).

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::same_value;
use crate::checks::kind::{Kind, Unobserved};
use crate::checks::values::Port;
use crate::facts::Facts;
use crate::probe::postfix::{MasterService, PostfixConfig, split_list};
use crate::verdict::{Verdict, worst_of};

/// T32: which service (by name or port) and the overrides it must carry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub service: String,
    pub port: Port,
    /// master.cf service type, e.g. "inet".
    #[serde(rename = "type")]
    pub kind: String,
    pub command: String,
    /// `name=value`, values compared as Postfix lists.
    pub overrides: Vec<WantedOverride>,
}

/// One `-o name=value` the service must carry, written `"name=value"` in the TOML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedOverride {
    pub name: String,
    pub value: String,
}

impl<'de> Deserialize<'de> for WantedOverride {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.split_once('=') {
            Some((n, v)) if !n.trim().is_empty() => Ok(WantedOverride {
                name: n.trim().to_string(),
                value: v.trim().to_string(),
            }),
            _ => Err(serde::de::Error::custom(format!(
                "`{s}` is not an override like \"smtpd_sasl_auth_enable=yes\""
            ))),
        }
    }
}

/// One `-o name=value` as written and as the service sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Override {
    pub name: String,
    pub written: String,
    pub effective: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServiceFacts {
    pub name: String,
    pub kind: String,
    pub command: String,
    pub line: usize,
    #[serde(default)]
    pub overrides: Vec<Override>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
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

/// T32: the kind.
pub struct SubmissionService;

impl Kind for SubmissionService {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
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
            .map(|w| (w.name.clone(), cfg.get(&w.name)))
            .collect();
        Ok(Observation {
            master_cf: m.path.clone(),
            service,
            commented,
            adopted_by,
            main_values,
        })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let file = o.master_cf.display();
        let Some(s) = &o.service else {
            let mut msg = match &o.commented {
                Some((line, text)) => format!(
                    "{file} line {line}: the {} service is commented out (`#{text}`): nothing listens on port {}",
                    spec.service, spec.port.0
                ),
                None => format!(
                    "{file} has no `{} {}` service: nothing listens on port {}",
                    spec.service, spec.kind, spec.port.0
                ),
            };
            if let Some(a) = &o.adopted_by {
                let moved: Vec<String> = a
                    .overrides
                    .iter()
                    .filter(|ov| spec.overrides.iter().any(|w| w.name == ov.name))
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
            return Verdict::fail(msg).with_fix(format!(
                "uncomment the `{} {}` line and its `-o` lines in {file}, then postfix reload",
                spec.service, spec.kind
            ));
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
            let (name, value) = (want.name.as_str(), want.value.as_str());
            match s.overrides.iter().rev().find(|ov| ov.name == name) {
                Some(ov) if same_value(&ov.effective, value) => {
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
        worst_of(findings, &pass)
    }
}

/// Whether a master.cf service name (`submission`, `587`, `127.0.0.1:587`) is for this port.
fn names_port(service_name: &str, spec: &Spec) -> bool {
    let port = service_name.rsplit(':').next().unwrap_or(service_name);
    port == spec.service || port == spec.port.0.to_string()
}

fn facts_of(cfg: &PostfixConfig, s: &MasterService) -> ServiceFacts {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_are_name_value_pairs_checked_at_load() {
        let w: WantedOverride = serde_json::from_str("\" smtpd_sasl_auth_enable = yes \"")
            .expect("a name=value override loads");
        assert_eq!(
            w,
            WantedOverride {
                name: "smtpd_sasl_auth_enable".into(),
                value: "yes".into()
            }
        );
        let empty: WantedOverride =
            serde_json::from_str("\"mynetworks=\"").expect("an empty value is a value");
        assert_eq!(empty.value, "");
        for bad in ["\"smtpd_sasl_auth_enable\"", "\"=yes\""] {
            let err = serde_json::from_str::<WantedOverride>(bad).unwrap_err();
            assert!(err.to_string().contains("is not an override"), "{err}");
        }
    }
}
