//! T37: the copies of /etc files that Debian puts in Postfix's chroot (`<queue_directory>/etc`:
//! resolv.conf, hosts, services, nsswitch.conf, localtime, host.conf) are the same as the
//! originals, which `postfix check` warns about; read-only here (Debian's configure-instance.sh
//! copies them when Postfix starts; master(5) chroot column).

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::kind::{Kind, Unobserved};
use crate::facts::Facts;
use crate::probe::daemons::postfix::{CHROOT_COPIES, service_chroots};
use crate::verdict::{Verdict, worst_of};

/// No parameters: the list is Debian's (configure-instance.sh).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {}

/// Most bytes of a file compared.
const MAX_BYTES: u64 = 1024 * 1024;

/// One copy against its original.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Copy {
    pub original: PathBuf,
    pub copy: PathBuf,
    #[serde(default)]
    pub copy_missing: bool,
    /// Same bytes; `None` when either could not be read.
    #[serde(default)]
    pub same: Option<bool>,
    /// The first line that differs (text files): its number and both versions.
    #[serde(default)]
    pub line: Option<usize>,
    #[serde(default)]
    pub original_line: Option<String>,
    #[serde(default)]
    pub copy_line: Option<String>,
    #[serde(default)]
    pub problem: Option<String>,
}

/// What the check saw.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    pub queue_directory: PathBuf,
    /// master.cf services that run chrooted ("smtp inet", ...).
    #[serde(default)]
    pub chrooted: Vec<String>,
    #[serde(default)]
    pub copies: Vec<Copy>,
}

/// The kind.
pub struct ChrootCopies;

impl Kind for ChrootCopies {
    type Spec = Spec;
    type Observation = Observation;

    async fn observe(_spec: &Spec, facts: &Facts) -> Result<Observation, Unobserved> {
        let cfg = facts.postfix().await?;
        let queue = PathBuf::from(cfg.get("queue_directory"));
        let chrooted: Vec<String> = service_chroots(&cfg.master, &cfg.get("compatibility_level"))
            .into_iter()
            .filter(|s| s.chrooted)
            .map(|s| format!("{} {}", s.service, s.kind))
            .collect();
        let q = queue.clone();
        let copies = tokio::task::spawn_blocking(move || {
            CHROOT_COPIES
                .iter()
                .filter_map(|rel| compare(&Path::new("/").join(rel), &q.join(rel)))
                .collect()
        })
        .await
        .map_err(|e| Unobserved::Failed(format!("the file reader crashed: {e}")))?;
        Ok(Observation {
            queue_directory: queue,
            chrooted,
            copies,
        })
    }

    fn judge(_spec: &Spec, o: &Observation) -> Verdict {
        let dir = o.queue_directory.join("etc");
        if o.chrooted.is_empty() {
            return Verdict::pass(format!(
                "no master.cf service runs chrooted: the copies in {} are not used",
                dir.display()
            ));
        }
        // "smtp inet and 18 unix services": the network-facing ones by name.
        let inet: Vec<&str> = o
            .chrooted
            .iter()
            .filter(|s| !s.ends_with(" unix"))
            .map(String::as_str)
            .collect();
        let others = o.chrooted.len() - inet.len();
        let who = match (inet.is_empty(), others) {
            (false, 0) => inet.join(", "),
            (false, n) => format!("{} and {n} internal services", inet.join(", ")),
            (true, n) => format!("{n} internal services"),
        };
        let fix = "systemctl restart postfix (Debian copies these files into the chroot when Postfix starts; `postfix check` reports them too, but it also changes files)";
        let mut findings = Vec::new();
        for c in &o.copies {
            let (orig, copy) = (c.original.display(), c.copy.display());
            if c.copy_missing {
                findings.push(
                    Verdict::warn(format!(
                        "{copy} is missing: the chrooted services ({who}) cannot read {orig}"
                    ))
                    .with_fix(fix),
                );
            } else if let Some(p) = &c.problem {
                findings.push(Verdict::error(p.clone()));
            } else if c.same == Some(false) {
                let at = match (c.line, &c.original_line, &c.copy_line) {
                    (Some(n), o, k) => format!(
                        " from line {n} ({orig}: {}, copy: {})",
                        o.as_deref()
                            .map_or("end of file".into(), |l| format!("`{l}`")),
                        k.as_deref()
                            .map_or("end of file".into(), |l| format!("`{l}`"))
                    ),
                    _ => String::new(),
                };
                findings.push(
                    Verdict::warn(format!(
                        "{copy} differs from {orig}{at}: the chrooted services ({who}) still use the old copy"
                    ))
                    .with_fix(fix),
                );
            }
        }
        let names: Vec<String> = o
            .copies
            .iter()
            .filter_map(|c| {
                c.original
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .collect();
        worst_of(
            findings,
            &format!(
                "the chroot's copies of {} in {} are the same as /etc's (chrooted: {who})",
                names.join(", "),
                dir.display()
            ),
        )
    }
}

fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut v = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_BYTES)
        .read_to_end(&mut v)?;
    Ok(v)
}

/// `original` against `copy`; `None` when the original does not exist (nothing to copy).
fn compare(original: &Path, copy: &Path) -> Option<Copy> {
    let a = match read_capped(original) {
        Ok(a) => a,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            return Some(Copy {
                original: original.to_path_buf(),
                copy: copy.to_path_buf(),
                copy_missing: false,
                same: None,
                line: None,
                original_line: None,
                copy_line: None,
                problem: Some(format!("{}: {e}", original.display())),
            });
        }
    };
    let mut c = Copy {
        original: original.to_path_buf(),
        copy: copy.to_path_buf(),
        copy_missing: false,
        same: None,
        line: None,
        original_line: None,
        copy_line: None,
        problem: None,
    };
    match read_capped(copy) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => c.copy_missing = true,
        Err(e) => c.problem = Some(format!("{}: {e}", copy.display())),
        Ok(b) => {
            c.same = Some(a == b);
            if a != b
                && let (Ok(ta), Ok(tb)) = (std::str::from_utf8(&a), std::str::from_utf8(&b))
            {
                let (la, lb): (Vec<&str>, Vec<&str>) = (ta.lines().collect(), tb.lines().collect());
                let n = (0..la.len().max(lb.len()))
                    .find(|&i| la.get(i) != lb.get(i))
                    .unwrap_or(0);
                c.line = Some(n + 1);
                c.original_line = la.get(n).map(|l| l.to_string());
                c.copy_line = lb.get(n).map(|l| l.to_string());
            }
        }
    }
    Some(c)
}
