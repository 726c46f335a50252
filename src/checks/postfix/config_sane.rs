//! T37: `postconf -n` prints no warning and every file the configuration names exists
//! (postconf(1), postconf(5)).

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::NamedFile;
use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::facts::hardening::PARAMETERS;
use crate::probe::postfix::{PostfixConfig, map_references, split_list};
use crate::verdict::{Verdict, worst_of};

/// T37: what not to treat as a required file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Parameters whose maps Postfix creates itself (caches), e.g. "*_cache_database".
    #[serde(default)]
    pub created_by_postfix: Vec<String>,
    /// Map types that do not name files (e.g. "dev", "unix", "inet").
    #[serde(default)]
    pub not_files: Vec<String>,
}

/// A file named by the configuration: where, and whether it exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConfigFileRef {
    /// e.g. "main.cf line 40: relay_domains" or "master.cf line 17: submission -o ...".
    pub source: String,
    pub file: NamedFile,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    /// The command as run.
    pub command: String,
    /// `None` when it could not be run (not installed, timed out).
    #[serde(default)]
    pub run_problem: Option<String>,
    #[serde(default)]
    pub exit_ok: bool,
    /// stderr lines, deduplicated, in order.
    #[serde(default)]
    pub stderr: Vec<String>,
    #[serde(default)]
    pub files: Vec<ConfigFileRef>,
}

/// T37: the kind.
pub struct ConfigSane;

impl Kind for ConfigSane {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let dir = cfg.config_dir.display().to_string();
        let command = format!("postconf -c {dir}");
        // postconf only reads; it is the one Postfix command run (never `postfix check`), once
        // a run: asked for the hardening checks' parameters, it warns as `postconf -n` does.
        let (mut run_problem, mut exit_ok, mut stderr) = (None, false, Vec::new());
        match facts.postconf_run().await {
            Err(e) => run_problem = Some(format!("`{command}`: {e}")),
            Ok(ran) => {
                exit_ok = ran.ok;
                for l in ran.config_warnings(PARAMETERS) {
                    if !stderr.contains(&l) {
                        stderr.push(l);
                    }
                }
            }
        }
        let files = named_files(spec, &cfg);
        Ok(Observation {
            command,
            run_problem,
            exit_ok,
            stderr,
            files,
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let mut findings = Vec::new();
        if let Some(p) = &o.run_problem {
            findings.push(Verdict::error(p.clone()));
        } else if !o.exit_ok {
            findings.push(Verdict::fail(format!(
                "`{}` failed: {}",
                o.command,
                o.stderr.join(" | ")
            )));
        } else {
            // "support for parameter X will be removed" is a deprecation: a working setting,
            // which postfix.deprecated-params reports (with its replacement), not a fault here.
            let warnings: Vec<String> = o
                .stderr
                .iter()
                .filter(|l| !super::deprecated_params::is_deprecation_notice(l))
                .map(|l| {
                    l.split_once("warning: ")
                        .map_or(l.as_str(), |(_, w)| w)
                        .to_string()
                })
                .collect();
            if !warnings.is_empty() {
                findings.push(
                    Verdict::fail(format!(
                        "`{}` warns: {}",
                        o.command,
                        warnings.join("; ")
                    ))
                    .with_fix(
                        "correct or remove each parameter postconf warns about in main.cf, then postfix reload",
                    ),
                );
            }
        }
        for r in &o.files {
            let f = &r.file;
            if f.exists {
                continue;
            }
            if f.needs_root {
                findings.push(Verdict::error(f.problem.clone().unwrap_or_default()));
            } else {
                let named = if f.opens == f.path {
                    String::new()
                } else {
                    format!(" (for {}:{})", f.kind, f.path.display())
                };
                findings.push(Verdict::fail(format!(
                    "{} names {}{named}, which does not exist",
                    r.source,
                    f.opens.display()
                )));
            }
        }
        let deprecated: Vec<&str> = o
            .stderr
            .iter()
            .filter_map(|l| super::deprecated_params::notice_param(l))
            .collect();
        let pass = if deprecated.is_empty() {
            format!(
                "`{}` prints no warning; the {} files the configuration names exist",
                o.command,
                o.files.len()
            )
        } else {
            format!(
                "`{}` prints no warning but the deprecation of {} (see postfix.deprecated-params); the {} files the configuration names exist",
                o.command,
                deprecated.join(", "),
                o.files.len()
            )
        };
        worst_of(findings, &pass)
    }
}

/// `*_cache_database` style wildcard with one `*`.
fn wildcard(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((a, b)) => name.len() >= a.len() + b.len() && name.starts_with(a) && name.ends_with(b),
    }
}

/// Parameters (by suffix) whose value is a file Postfix reads.
const FILE_PARAM_SUFFIXES: &[&str] = &[
    "_cert_file",
    "_key_file",
    "_dcert_file",
    "_dkey_file",
    "_eccert_file",
    "_eckey_file",
    "_CAfile",
    "_CApath",
    "_chain_files",
    "_dh1024_param_file",
    "_dh512_param_file",
];

/// Every absolute file the configuration names: map files of main.cf and master.cf `-o`
/// parameters, TLS files, and a myorigin file.
fn named_files(spec: &Spec, cfg: &PostfixConfig) -> Vec<ConfigFileRef> {
    let mut out: Vec<ConfigFileRef> = Vec::new();
    let mut add = |source: String, kind: &str, path: &Path| {
        if out
            .iter()
            .any(|r| r.file.path == path && r.file.kind == kind)
        {
            return;
        }
        out.push(ConfigFileRef {
            source,
            file: NamedFile::check(kind, path),
        });
    };
    let mut params: Vec<(String, String, String)> = cfg
        .main
        .settings
        .iter()
        .map(|(n, s)| {
            (
                format!("main.cf line {}: {n}", s.line),
                n.clone(),
                cfg.main.expand(&s.value, 0),
            )
        })
        .collect();
    for svc in &cfg.master.services {
        // A name given twice: only the last value counts (postconf -P).
        for (n, v) in svc.effective_overrides() {
            params.push((
                format!(
                    "master.cf line {}: {} {} -o {n}",
                    svc.line, svc.name, svc.kind
                ),
                n.to_string(),
                cfg.main.expand(v, 0),
            ));
        }
    }
    for (source, name, value) in params {
        if spec.created_by_postfix.iter().any(|p| wildcard(p, &name)) {
            continue;
        }
        for (kind, path) in map_references(&value) {
            if !spec.not_files.contains(&kind) {
                add(source.clone(), &kind, &path);
            }
        }
        let is_file_param = FILE_PARAM_SUFFIXES.iter().any(|s| name.ends_with(s))
            || (name == "myorigin" && value.trim().starts_with('/'));
        if is_file_param {
            for p in split_list(&value) {
                if p.starts_with('/') {
                    add(source.clone(), "file", Path::new(&p));
                }
            }
        }
    }
    out
}
