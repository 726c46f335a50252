//! T21: /var/run/saslauthd is a symlink to saslauthd's directory inside Postfix's chroot, so
//! tools outside the chroot (testsaslauthd) find the socket too.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::ProbeError;
use crate::probe::file::{FileFacts, FileKind, lstat};
use crate::verdict::Verdict;

/// T21 has no parameters: the link is `settings.saslauthd_link`, its target the chroot dir.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {}

/// What T21 looks at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub link: PathBuf,
    /// `<queue_directory>/var/run/saslauthd`.
    pub expected_target: PathBuf,
    /// lstat of the link (its parent resolved: /var/run -> /run on Debian 12).
    #[serde(default)]
    pub facts: Option<FileFacts>,
    #[serde(default)]
    pub problem: Option<String>,
    #[serde(default)]
    pub missing: bool,
    #[serde(default)]
    pub needs_root: bool,
    /// Where the link leads, fully resolved; `None` when it dangles.
    #[serde(default)]
    pub resolved: Option<PathBuf>,
    #[serde(default)]
    pub expected_resolved: Option<PathBuf>,
}

/// T21: the kind.
pub struct SaslauthdSymlink;

impl Kind for SaslauthdSymlink {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let expected_target = super::chroot_socket_dir(&cfg, facts);
        let link = facts.settings.saslauthd_link.clone();
        let mut o = Observation {
            link: link.clone(),
            expected_target: expected_target.clone(),
            facts: None,
            problem: None,
            missing: false,
            needs_root: false,
            resolved: std::fs::canonicalize(&link).ok(),
            expected_resolved: std::fs::canonicalize(&expected_target).ok(),
        };
        match lstat(&link) {
            Ok(f) => o.facts = Some(f),
            Err(e) => {
                o.missing = matches!(e, ProbeError::NotFound { .. });
                o.needs_root = matches!(e, ProbeError::PermissionDenied { .. });
                o.problem = Some(e.to_string());
            }
        }
        Ok(o)
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let link = o.link.display();
        let want = o.expected_target.display();
        let fix = format!("ln -s {want} {link}");
        let Some(facts) = &o.facts else {
            if o.missing {
                return Verdict::fail(format!(
                    "{link} does not exist: tools outside Postfix's chroot (testsaslauthd) cannot find saslauthd's socket in {want}"
                ))
                .with_fix(fix);
            }
            return Verdict::error(o.problem.clone().unwrap_or_default());
        };
        if facts.kind == FileKind::Dir {
            return Verdict::fail(format!(
                "{link} is a plain directory (as the Debian package creates it), not a symlink to {want}: tools outside the chroot look for saslauthd's socket in the wrong place"
            ))
            .with_fix(format!(
                "rm -r {link} && {fix} (stop a saslauthd that still uses {link} first)"
            ));
        }
        if facts.kind != FileKind::Symlink {
            return Verdict::fail(format!(
                "{link} is a {:?}, not a symlink to {want}",
                facts.kind
            ))
            .with_fix(format!("rm {link} && {fix}"));
        }
        let target = facts
            .link_target
            .as_ref()
            .map(|t| t.display().to_string())
            .unwrap_or_default();
        let Some(resolved) = &o.resolved else {
            return Verdict::fail(format!(
                "{link} -> {target} dangles: {target} does not exist"
            ))
            .with_fix(format!("mkdir -p {want} && ln -sfn {want} {link}"));
        };
        let same = match &o.expected_resolved {
            Some(e) => e == resolved,
            None => super::normal(resolved) == super::normal(&o.expected_target),
        };
        if !same {
            return Verdict::fail(format!(
                "{link} -> {target} (resolves to {}), not {want}",
                resolved.display()
            ))
            .with_fix(format!("ln -sfn {want} {link}"));
        }
        Verdict::pass(format!("{link} -> {target}"))
    }
}
