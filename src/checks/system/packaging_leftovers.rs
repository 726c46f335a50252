//! T37: no configuration file that dpkg or ucf set aside on an upgrade (`.dpkg-dist`,
//! `.dpkg-old`, `.ucf-dist`, ...) lies beside a file mailcheck reads: each one is a decision
//! the upgrade left to the admin, named with what differs (dpkg(1), ucf(1)).

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::leftovers::{self, Difference, Leftover};
use crate::probe::postfix::map_references;
use crate::verdict::{Verdict, worst_of};

/// The files outside Postfix's configuration directory that the checks read.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub files: Vec<PathBuf>,
}

/// What the check saw.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    /// How many files were looked beside.
    pub looked_at: usize,
    #[serde(default)]
    pub leftovers: Vec<Leftover>,
}

/// The kind.
pub struct PackagingLeftovers;

impl Kind for PackagingLeftovers {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let mut files: Vec<PathBuf> = ["main.cf", "master.cf", "dynamicmaps.cf", "sasl/smtpd.conf"]
            .iter()
            .map(|f| cfg.config_dir.join(f))
            .collect();
        for s in cfg.main.settings.values() {
            for (_, p) in map_references(&cfg.main.expand(&s.value, 0)) {
                if p.is_absolute() {
                    files.push(p);
                }
            }
        }
        files.extend(spec.files.iter().cloned());
        files.extend(leftovers::mysql_config_files(Path::new("/")));
        files.sort();
        files.dedup();
        let looked_at = files.len();
        let found = tokio::task::spawn_blocking(move || leftovers::find(&files))
            .await
            .map_err(|e| Unobserved::Failed(format!("the file reader crashed: {e}")))?;
        Ok(Observation {
            looked_at,
            leftovers: found,
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let findings: Vec<Verdict> = o.leftovers.iter().map(finding).collect();
        worst_of(
            findings,
            &format!(
                "no .dpkg-dist, .dpkg-old, .ucf-dist or similar file beside the {} configuration files mailcheck reads",
                o.looked_at
            ),
        )
    }
}

/// What a suffix means.
fn meaning(suffix: &str) -> &'static str {
    match suffix {
        ".dpkg-dist" | ".ucf-dist" => {
            "the package's new version, not installed because yours was changed"
        }
        ".dpkg-old" | ".ucf-old" => {
            "your previous version: the package installed its own in its place"
        }
        ".dpkg-new" | ".ucf-new" => "a new version dpkg did not finish installing",
        _ => "a backup dpkg made",
    }
}

fn finding(l: &Leftover) -> Verdict {
    let name = l.leftover.display();
    let file = l.file.display();
    let what = meaning(&l.suffix);
    if l.identical {
        return Verdict::warn(format!(
            "{name} ({what}) is the same as {file}: nothing to merge"
        ))
        .with_fix(format!("rm {name}"));
    }
    if let Some(p) = &l.problem
        && l.differences.is_empty()
    {
        return Verdict::warn(format!("{name} ({what}) beside {file}; {p}"));
    }
    let mut shown: Vec<String> = l
        .differences
        .iter()
        .take(5)
        .map(|d| difference(l, d))
        .collect();
    let rest = l.differences.len().saturating_sub(5) + l.more;
    if rest > 0 {
        shown.push(format!("{rest} more"));
    }
    let fix = match l.suffix.as_str() {
        ".dpkg-old" | ".ucf-old" => format!(
            "compare {name} (yours) with {file} (the package's), put your changes back into {file}, then rm {name}"
        ),
        _ => format!(
            "merge what you want from {name} into {file} (diff -u {file} {name}), then rm {name}"
        ),
    };
    Verdict::warn(format!(
        "{name} ({what}) differs from {file}: {}",
        shown.join("; ")
    ))
    .with_fix(fix)
}

fn difference(l: &Leftover, d: &Difference) -> String {
    let file = l.file.file_name().map_or_else(
        || l.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let other = format!("{file}{}", l.suffix);
    let val = |v: &Option<String>| v.as_ref().map(|v| format!(" `{v}`")).unwrap_or_default();
    match (d.line, d.leftover_line) {
        (Some(a), Some(b)) => format!(
            "{}: {file} line {a}{}, {other} line {b}{}",
            d.key,
            val(&d.value),
            val(&d.leftover_value)
        ),
        (Some(a), None) => format!("{} only in {file} (line {a}{})", d.key, val(&d.value)),
        (None, Some(b)) => format!(
            "{} only in {other} (line {b}{})",
            d.key,
            val(&d.leftover_value)
        ),
        (None, None) => d.key.clone(),
    }
}
