//! T21: /var/run/saslauthd is a symlink to saslauthd's directory inside Postfix's chroot, so
//! tools outside the chroot (testsaslauthd, an unchrooted smtpd) find the socket too; and it
//! survives a reboot: /run is a tmpfs, so only a tmpfiles.d(5) entry brings it back.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::ProbeError;
use crate::probe::boot::{self, TmpfilesEntry};
use crate::probe::daemons::postfix::service_chroots;
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
    /// The file system the link lives on ("tmpfs" for /run); `None` in older recordings.
    #[serde(default)]
    pub fs_type: Option<String>,
    /// tmpfiles.d lines that create the link's path at boot.
    #[serde(default)]
    pub tmpfiles: Vec<TmpfilesEntry>,
    /// master.cf smtpd services that do not run chrooted: they reach saslauthd through the link.
    #[serde(default)]
    pub unchrooted_smtpd: Vec<String>,
    /// saslauthd.service's RuntimeDirectory= (Debian 13: `saslauthd`, a fresh /run/saslauthd
    /// directory each time the unit starts).
    #[serde(default)]
    pub unit_runtime_directory: Option<String>,
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
            fs_type: link.parent().and_then(boot::fs_type),
            tmpfiles: boot::tmpfiles_entries(Path::new("/"), &link),
            unchrooted_smtpd: service_chroots(&cfg.master, &cfg.get("compatibility_level"))
                .into_iter()
                .filter(|s| s.command == "smtpd" && !s.chrooted)
                .map(|s| format!("{} {}", s.service, s.kind))
                .collect(),
            unit_runtime_directory: boot::observe(Path::new("/"), "saslauthd")
                .unit
                .and_then(|u| u.runtime_directory),
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
        persistence(o, &format!("{link} -> {target}"))
    }
}

/// The link is right now; whether it is there after a reboot.
fn persistence(o: &Observation, now: &str) -> Verdict {
    let link = o.link.display();
    let want = o.expected_target.display();
    let makes_it = |e: &&TmpfilesEntry| {
        e.is_symlink() && super::normal(Path::new(&e.argument)) == super::normal(&o.expected_target)
    };
    if let Some(e) = o.tmpfiles.iter().find(makes_it) {
        return Verdict::pass(format!(
            "{now}, made again at every boot by {} line {} (`{} {}`)",
            e.file.display(),
            e.line,
            e.kind,
            e.path
        ));
    }
    if o.fs_type.as_deref() != Some("tmpfs") {
        return Verdict::pass(now.to_string());
    }
    let fix = format!(
        "echo 'L+ /run/saslauthd - - - - {want}' > /etc/tmpfiles.d/saslauthd.conf (systemd-tmpfiles makes the link at every boot; with no systemd, make the link in a boot script)"
    );
    let other: Vec<String> = o
        .tmpfiles
        .iter()
        .map(|e| {
            format!(
                "{} line {}: `{} {} ... {}`",
                e.file.display(),
                e.line,
                e.kind,
                e.path,
                e.argument
            )
        })
        .collect();
    let other = if other.is_empty() {
        String::new()
    } else {
        format!("; at boot {} makes something else there", other.join(", "))
    };
    let who = if o.unchrooted_smtpd.is_empty() {
        "testsaslauthd and other tools outside Postfix's chroot".to_string()
    } else {
        format!(
            "the smtpd of {} (not chrooted: it looks for saslauthd in {link}, so AUTH there fails) and testsaslauthd",
            o.unchrooted_smtpd.join(", ")
        )
    };
    let unit = match o.unit_runtime_directory.as_deref() {
        Some(d) => format!(
            "; saslauthd.service's RuntimeDirectory={d} puts a plain directory at /run/{d} when it starts without the link"
        ),
        None => String::new(),
    };
    Verdict::warn(format!(
        "{now}, but {link} is on a tmpfs (/run): the link is gone after a reboot, and then {who} no longer find the socket in {want}{unit}{other}"
    ))
    .with_fix(fix)
}
