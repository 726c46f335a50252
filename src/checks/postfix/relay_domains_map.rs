//! T16: relay_domains names map files that exist; the tutorial prints the relay map's name
//! with a `.cfl` typo (postconf(5) relay_domains, mysql_table(5)).

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{NamedFile, Param, typo_note};
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::postfix::map_references;
use crate::verdict::{Verdict, worst_of};

/// T16: the parameter and the tutorial's file name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub parameter: String,
    pub file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub param: Param,
    #[serde(default)]
    pub files: Vec<NamedFile>,
}

/// T16: the kind.
pub struct RelayDomainsMap;

impl Kind for RelayDomainsMap {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let param = Param::read(&cfg.main, &spec.parameter);
        let mut files: Vec<NamedFile> = map_references(&param.effective)
            .iter()
            .map(|(k, p)| NamedFile::check(k, p))
            .collect();
        for e in param.list() {
            if e.starts_with('/') {
                files.push(NamedFile::check("file", Path::new(&e)));
            }
        }
        Ok(Observation { param, files })
    }

    fn judge(spec: &Spec, o: &Observation) -> Verdict {
        let shown = o.param.shown();
        if o.param.list().is_empty() {
            return Verdict::warn(format!(
                "{} is empty: this server is backup MX for no domain; the tutorial points it at a mysql: map ({})",
                o.param.name, spec.file
            ));
        }
        if o.files.is_empty() {
            return Verdict::pass(format!("{shown} lists domains, no map file"));
        }
        let mut findings = Vec::new();
        for f in &o.files {
            if f.exists {
                continue;
            }
            if f.needs_root {
                findings.push(Verdict::error(f.problem.clone().unwrap_or_default()));
                continue;
            }
            let what = if f.opens == f.path {
                format!("{} does not exist", f.path.display())
            } else {
                format!(
                    "{} does not exist (run postmap {})",
                    f.opens.display(),
                    f.path.display()
                )
            };
            findings.push(
                Verdict::fail(format!(
                    "{shown}: {what}{}: Postfix cannot open the table and defers mail with \"451 4.3.5 Server configuration error\"",
                    typo_note(&f.path, f.sibling_exists)
                ))
                .with_fix(if f.path.extension().is_some_and(|e| e == "cfl") {
                    format!(
                        "postconf -e '{} = {}:{}' && postfix reload",
                        o.param.name,
                        f.kind,
                        f.path.with_extension("cf").display()
                    )
                } else {
                    format!(
                        "create {} or correct {} in main.cf, then postfix reload",
                        f.opens.display(),
                        o.param.name
                    )
                }),
            );
        }
        let names: Vec<String> = o
            .files
            .iter()
            .map(|f| f.opens.display().to_string())
            .collect();
        worst_of(findings, &format!("{shown}: {} exists", names.join(", ")))
    }
}
