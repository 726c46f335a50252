//! The TOML form of a check, exactly as written; `into_check` validates it.

use std::time::Duration;

use serde::Deserialize;

use super::{Check, Doc, ProbeSpec, Requirement, Scope};
use crate::checks::registry;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCheck {
    id: String,
    requirement: String,
    title: String,
    #[serde(default)]
    needs: Vec<String>,
    /// Live checks whose failure this check's finding explains.
    #[serde(default)]
    explains: Vec<String>,
    /// Runs after every other selected check has finished, whatever their status (it reads
    /// what the run did, e.g. the server's log).
    #[serde(default)]
    last: bool,
    /// Its probe may get test mail delivered: it runs where the Maildir is (with --ssh, on the
    /// server), so the message is waited for and deleted.
    #[serde(default)]
    maildir: bool,
    scope: Scope,
    #[serde(default)]
    requires: Vec<Requirement>,
    /// e.g. "15s"; defaults to 20 s.
    timeout: Option<String>,
    probe: toml::Table,
    doc: Option<Doc>,
}

impl RawCheck {
    pub(super) fn into_check(
        self,
        path: &str,
        expected_id: &str,
        family: &str,
    ) -> Result<Check, String> {
        if self.id != expected_id {
            return Err(format!(
                "id `{}` does not match the file's path: expected `{expected_id}`",
                self.id
            ));
        }
        if !super::is_requirement(&self.requirement) {
            return Err(format!(
                "requirement `{}` is not one of T1..T38 or H1..H7 (see shared/requirements.md)",
                self.requirement
            ));
        }
        let Some(doc) = self.doc else {
            return Err("missing [doc] table (why, fix, refs)".into());
        };
        if doc.why.trim().is_empty() || doc.fix.trim().is_empty() || doc.refs.is_empty() {
            return Err("[doc] needs non-empty why, fix and refs".into());
        }
        let timeout = match &self.timeout {
            None => Duration::from_secs(20),
            Some(t) => humantime::parse_duration(t).map_err(|e| format!("timeout `{t}`: {e}"))?,
        };
        let _ = path;
        let probe = load_probe(family, self.probe)?;
        Ok(Check {
            id: self.id,
            family: family.to_string(),
            requirement: self.requirement,
            title: self.title,
            needs: self.needs,
            explains: self.explains,
            last: self.last,
            maildir: self.maildir,
            scope: self.scope,
            requires: self.requires,
            timeout,
            probe,
            doc,
        })
    }
}

/// `[probe]`: `kind` names a registered kind of the check's family (or `family/kind` of
/// another family); the other keys are its spec, validated here.
fn load_probe(family: &str, mut table: toml::Table) -> Result<ProbeSpec, String> {
    let Some(kind) = table
        .get("kind")
        .and_then(|k| k.as_str())
        .map(str::to_string)
    else {
        return Err("[probe] needs `kind = \"...\"`".into());
    };
    // `kind = "fs/access"` names another family's kind.
    let (family, name) = kind.split_once('/').unwrap_or((family, kind.as_str()));
    let Some(k) = registry::find(family, name) else {
        return Err(format!(
            "[probe] kind `{kind}` is not a kind of family {family} (its kinds: {})",
            registry::names(family).join(", ")
        ));
    };
    table.remove("kind");
    k.load(table).map_err(|e| format!("[probe] {e}"))
}
