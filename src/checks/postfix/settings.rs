//! T7, T26: main.cf parameters with the tutorial's values, compared as Postfix lists
//! (postconf(5)); `postfix.base-settings` and `postfix.sasl-settings` differ only in the list.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Param, same_value};
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::verdict::{Verdict, worst_of};

/// Parameters and the values the tutorial gives them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// name → value, compared as Postfix lists, case-insensitively ("" = must be empty).
    pub expect: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub params: Vec<Param>,
}

/// T7, T26: the kind.
pub struct Settings;

impl Kind for Settings {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let params = spec
            .expect
            .keys()
            .map(|n| Param::read(&cfg.main, n))
            .collect();
        Ok(Observation { params })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let mut findings = Vec::new();
        let mut ok = Vec::new();
        for (name, want) in &spec.expect {
            let Some(p) = o.params.iter().find(|p| &p.name == name) else {
                findings.push(Verdict::error(format!("{name} was not read")));
                continue;
            };
            if same_value(&p.effective, want) {
                let shown = if p.effective.trim().is_empty() {
                    "(empty)"
                } else {
                    p.effective.trim()
                };
                ok.push(format!("{name} = {shown}"));
                continue;
            }
            let want_shown = if want.is_empty() {
                "empty".to_string()
            } else {
                want.clone()
            };
            findings.push(
                Verdict::fail(format!("{}, not {want_shown}", p.shown()))
                    .with_fix(format!("postconf -e '{name} = {want}' && postfix reload")),
            );
        }
        let fix_all: Vec<String> = spec
            .expect
            .iter()
            .filter(|(n, w)| {
                o.params
                    .iter()
                    .any(|p| &p.name == *n && !same_value(&p.effective, w))
            })
            .map(|(n, w)| format!("'{n} = {w}'"))
            .collect();
        let mut v = worst_of(findings, &ok.join(", "));
        if fix_all.len() > 1 {
            v = v.with_fix(format!(
                "postconf -e {} && postfix reload",
                fix_all.join(" ")
            ));
        }
        v
    }
}
