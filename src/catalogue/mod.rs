//! The check catalogue: one TOML per requirement under `checks/<family>/`, embedded at build
//! time, loaded in two stages (raw serde struct, then a validated `Check`).

mod raw;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use crate::checks::kind::LoadedProbe;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/checks.rs"));
}

/// Where a check must run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Talks to the server over the network; runs from anywhere.
    Remote,
    /// Reads the server's files, processes or sockets; runs only on the server itself.
    Local,
}

/// What a check needs from the user before it can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Requirement {
    /// `--account`.
    Account,
    /// The account's password (MAILCHECK_PASSWORD, --password-file, --password-stdin).
    Password,
    /// Permission to send test mail (`--account` given and no `--no-send`).
    Send,
}

/// The `[doc]` table: why the requirement matters, how to fix it, where to read more.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Doc {
    pub why: String,
    pub fix: String,
    pub refs: Vec<String>,
}

/// A check's `[probe]`, validated: a registered kind with its spec.
pub type ProbeSpec = Box<dyn LoadedProbe>;

/// A validated check.
#[derive(Debug, Clone)]
pub struct Check {
    /// `family.name`, equal to the file's path `checks/family/name.toml`.
    pub id: String,
    pub family: String,
    /// The tutorial requirement it verifies, `T1`..`T38`.
    pub requirement: String,
    pub title: String,
    pub needs: Vec<String>,
    /// Live checks whose failure this check's finding explains (`caused by` links).
    pub explains: Vec<String>,
    /// Runs after every other selected check has finished, whatever their status (TOML
    /// `last = true`): it reads what the whole run did.
    pub last: bool,
    /// Its probe may get test mail delivered, so it runs where the Maildir is (TOML
    /// `maildir = true`; with --ssh, on the server).
    pub maildir: bool,
    pub scope: Scope,
    pub requires: Vec<Requirement>,
    pub timeout: Duration,
    pub probe: ProbeSpec,
    pub doc: Doc,
}

/// Why the catalogue could not be loaded; names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("checks/{file}: {message}")]
    Invalid { file: String, message: String },
}

fn invalid(file: &str, message: impl Into<String>) -> CatalogueError {
    CatalogueError::Invalid {
        file: file.to_string(),
        message: message.into(),
    }
}

/// Every check, in a stable order (family, then id).
#[derive(Debug, Clone)]
pub struct Catalogue {
    checks: Vec<Check>,
}

impl Catalogue {
    /// The checks embedded in the binary.
    pub fn embedded() -> Result<Self, CatalogueError> {
        Self::from_sources(embedded::EMBEDDED.iter().copied())
    }

    /// Loads checks from `(path relative to checks/, TOML text)` pairs.
    pub fn from_sources<'a>(
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, CatalogueError> {
        let mut checks = Vec::new();
        for (path, text) in sources {
            checks.push(load_one(path, text)?);
        }
        checks.sort_by(|a, b| a.id.cmp(&b.id));
        let cat = Catalogue { checks };
        cat.validate_graph()?;
        Ok(cat)
    }

    pub fn checks(&self) -> &[Check] {
        &self.checks
    }

    pub fn get(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// `needs` must name existing checks and form no cycle.
    fn validate_graph(&self) -> Result<(), CatalogueError> {
        let ids: HashSet<&str> = self.checks.iter().map(|c| c.id.as_str()).collect();
        if ids.len() != self.checks.len() {
            return Err(invalid("", "two checks share an id"));
        }
        for c in &self.checks {
            for n in &c.needs {
                if !ids.contains(n.as_str()) {
                    return Err(invalid(&c.file(), format!("needs: unknown check id `{n}`")));
                }
            }
            for n in &c.explains {
                if !ids.contains(n.as_str()) || *n == c.id {
                    return Err(invalid(
                        &c.file(),
                        format!("explains: unknown check id `{n}`"),
                    ));
                }
            }
        }
        // Depth-first search with colours: a grey node reached again is a cycle.
        let index: BTreeMap<&str, &Check> =
            self.checks.iter().map(|c| (c.id.as_str(), c)).collect();
        let mut state: BTreeMap<&str, u8> = BTreeMap::new();
        fn visit<'a>(
            id: &'a str,
            index: &BTreeMap<&'a str, &'a Check>,
            state: &mut BTreeMap<&'a str, u8>,
        ) -> Result<(), CatalogueError> {
            match state.get(id) {
                Some(2) => return Ok(()),
                Some(1) => {
                    return Err(invalid(
                        &index[id].file(),
                        format!("needs: dependency cycle through `{id}`"),
                    ));
                }
                _ => {}
            }
            state.insert(id, 1);
            for n in &index[id].needs {
                visit(n, index, state)?;
            }
            state.insert(id, 2);
            Ok(())
        }
        for c in &self.checks {
            visit(&c.id, &index, &mut state)?;
        }
        Ok(())
    }
}

/// `checks` ordered so that each comes after the checks of the list it needs (the catalogue's
/// graph is acyclic, so every check is placed within `len()` rounds).
pub fn topological(checks: &[Check]) -> Vec<&Check> {
    let selected: HashSet<&str> = checks.iter().map(|c| c.id.as_str()).collect();
    let mut done: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    for _ in 0..=checks.len() {
        for c in checks {
            let ready = c
                .needs
                .iter()
                .all(|n| !selected.contains(n.as_str()) || done.contains(n.as_str()));
            if !done.contains(c.id.as_str()) && ready {
                done.insert(&c.id);
                out.push(c);
            }
        }
        if out.len() == checks.len() {
            break;
        }
    }
    out
}

impl Check {
    /// The file the check came from, relative to `checks/`.
    pub fn file(&self) -> String {
        format!("{}.toml", self.id.replacen('.', "/", 1))
    }
}

fn load_one(path: &str, text: &str) -> Result<Check, CatalogueError> {
    let path = path.replace('\\', "/");
    let Some(stem) = path.strip_suffix(".toml") else {
        return Err(invalid(&path, "not a .toml file"));
    };
    let Some((family, name)) = stem.split_once('/') else {
        return Err(invalid(&path, "checks live in checks/<family>/<name>.toml"));
    };
    if name.contains('/') {
        return Err(invalid(&path, "checks live in checks/<family>/<name>.toml"));
    }
    let expected_id = format!("{family}.{name}");
    let raw: raw::RawCheck = toml::from_str(text).map_err(|e| invalid(&path, e.to_string()))?;
    raw.into_check(&path, &expected_id, family)
        .map_err(|m| invalid(&path, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_catalogue_loads_with_docs_and_requirements() {
        let cat = Catalogue::embedded().expect("embedded checks load");
        assert!(!cat.checks().is_empty());
        for c in cat.checks() {
            assert!(!c.doc.why.trim().is_empty(), "{}: empty why", c.id);
            assert!(!c.doc.fix.trim().is_empty(), "{}: empty fix", c.id);
            assert!(!c.doc.refs.is_empty(), "{}: no refs", c.id);
            assert!(
                is_requirement(&c.requirement),
                "{}: requirement {}",
                c.id,
                c.requirement
            );
        }
        assert_eq!(topological(cat.checks()).len(), cat.checks().len());
    }

    fn camel(stem: &str) -> String {
        stem.split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn kind_names_agree_with_files_types_and_check_ids() {
        for k in crate::checks::registry::KINDS {
            let m = k.meta();
            assert_eq!(m.type_name(), camel(m.file()), "{}", m.type_path);
        }
        let cat = Catalogue::embedded().expect("embedded checks load");
        for c in cat.checks() {
            let m = c.probe.meta();
            let name = c.id.split_once('.').map(|x| x.1).unwrap_or("");
            let kind = m.name();
            assert!(
                name == kind
                    || name.starts_with(&format!("{kind}-"))
                    || name.ends_with(&format!("-{kind}")),
                "{}: kind `{kind}` does not agree with the check's name",
                c.id
            );
        }
    }

    #[test]
    fn a_mistyped_spec_value_fails_at_load_naming_file_and_key() {
        let src = "id = \"smtp.banner\"\nrequirement = \"T1\"\ntitle = \"t\"\nscope = \"remote\"\n[probe]\nkind = \"banner\"\nbogus = 1\n[doc]\nwhy = \"w\"\nfix = \"f\"\nrefs = [\"r\"]\n";
        let err = Catalogue::from_sources([("smtp/banner.toml", src)]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("smtp/banner.toml") && text.contains("bogus"),
            "{text}"
        );
        let src = src.replace("kind = \"banner\"\nbogus = 1", "kind = \"no-such-kind\"");
        let err = Catalogue::from_sources([("smtp/banner.toml", src.as_str())]).unwrap_err();
        assert!(err.to_string().contains("no-such-kind"), "{err}");
    }

    #[test]
    fn a_mistyped_mode_fails_at_load_naming_the_file_and_key() {
        let files = [
            (
                "fs/mysql-maps-perms.toml",
                include_str!("../../checks/fs/mysql-maps-perms.toml"),
            ),
            (
                "sasl/pam-smtp.toml",
                include_str!("../../checks/sasl/pam-smtp.toml"),
            ),
            (
                "sasl/smtpd-conf.toml",
                include_str!("../../checks/sasl/smtpd-conf.toml"),
            ),
        ];
        for (path, toml) in files {
            assert!(toml.contains("mode = \"0640\""), "{path}");
            for bad in ["0x640", "0680", "rw-r-----", "106400", "0o64O"] {
                let src = toml.replace("mode = \"0640\"", &format!("mode = \"{bad}\""));
                let err = Catalogue::from_sources([(path, src.as_str())])
                    .expect_err(bad)
                    .to_string();
                assert!(err.contains(&format!("checks/{path}")), "{err}");
                assert!(err.contains("mode"), "{err}");
                assert!(err.contains(bad), "{err}");
            }
        }
    }

    const DOC: &str = "[doc]\nwhy = \"w\"\nfix = \"f\"\nrefs = [\"r\"]\n";

    fn check_src(id: &str, needs: &str) -> String {
        format!(
            "id = \"{id}\"\nrequirement = \"T5\"\ntitle = \"t\"\nneeds = [{needs}]\nscope = \"local\"\n[probe]\nkind = \"mydestination-empty\"\n{DOC}"
        )
    }

    #[test]
    fn id_must_match_path() {
        let src = check_src("postfix.other", "");
        let err = Catalogue::from_sources([("postfix/x.toml", src.as_str())]).unwrap_err();
        assert!(err.to_string().contains("postfix/x.toml"), "{err}");
        assert!(err.to_string().contains("postfix.x"), "{err}");
    }

    #[test]
    fn cycles_and_unknown_needs_are_rejected() {
        let a = check_src("postfix.a", "\"postfix.b\"");
        let b = check_src("postfix.b", "\"postfix.a\"");
        let err = Catalogue::from_sources([
            ("postfix/a.toml", a.as_str()),
            ("postfix/b.toml", b.as_str()),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("cycle"), "{err}");
        let c = check_src("postfix.c", "\"postfix.nope\"");
        let err = Catalogue::from_sources([("postfix/c.toml", c.as_str())]).unwrap_err();
        assert!(err.to_string().contains("postfix.nope"), "{err}");
    }

    #[test]
    fn unknown_keys_are_rejected_with_the_file_name() {
        let src = format!("{}\nbogus = 1\n", check_src("postfix.a", ""));
        let err = Catalogue::from_sources([("postfix/a.toml", src.as_str())]).unwrap_err();
        assert!(err.to_string().contains("postfix/a.toml"), "{err}");
    }
}

/// Whether `r` names a requirement of shared/requirements.md: the tutorial's T1..T38 or the
/// hardening H1..H7.
pub fn is_requirement(r: &str) -> bool {
    let number = |prefix: char, max: u32| {
        r.strip_prefix(prefix)
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| (1..=max).contains(&n))
    };
    number('T', 38) || number('H', 7)
}

/// Whether `pattern` selects `check`: its id, its family, its requirement (`T14`), or a
/// `*` wildcard over the id or the requirement (`tls.*`, `H*`).
pub fn matches(pattern: &str, check: &Check) -> bool {
    pattern == check.id
        || pattern == check.family
        || pattern.eq_ignore_ascii_case(&check.requirement)
        || check
            .id
            .starts_with(&format!("{}.", pattern.trim_end_matches('.')))
        || (pattern.contains('*')
            && (wildcard(pattern, &check.id)
                || wildcard(&pattern.to_ascii_uppercase(), &check.requirement)))
}

fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(p) => rest = &rest[p + part.len()..],
                None => return false,
            }
        }
    }
    rest.is_empty() || parts.last().is_some_and(|p| p.is_empty())
}

/// The checks selected by `--only` (all when empty) minus `--skip`. A pattern that selects
/// nothing is an error: it is almost always a typo.
pub fn select(cat: &Catalogue, only: &[String], skip: &[String]) -> Result<Vec<Check>, String> {
    for p in only.iter().chain(skip) {
        if !cat.checks().iter().any(|c| matches(p, c)) {
            return Err(format!(
                "no check matches `{p}`; `mailcheck list` shows the ids"
            ));
        }
    }
    Ok(cat
        .checks()
        .iter()
        .filter(|c| only.is_empty() || only.iter().any(|p| matches(p, c)))
        .filter(|c| !skip.iter().any(|p| matches(p, c)))
        .cloned()
        .collect())
}

#[cfg(test)]
mod select_tests {
    use super::wildcard;

    #[test]
    fn wildcards() {
        assert!(wildcard("tls.*", "tls.starttls-25"));
        assert!(wildcard("*perms", "fs.mysql-maps-perms"));
        assert!(wildcard("fs.*-perms", "fs.mysql-maps-perms"));
        assert!(wildcard("H*", "H7"));
        assert!(!wildcard("H*", "T7"));
        assert!(!wildcard("tls.*", "smtp.banner"));
    }
}
