//! The shape of every check kind: a `Spec` validated when the catalogue loads, a plain-data
//! `Observation`, an `observe` that asks the run's facts, and a pure `judge`; plus the erased
//! form the registry dispatches through, so no code outside `registry.rs` names a kind.

use std::fmt::Debug;
use std::future::Future;
use std::marker::PhantomData;
use std::path::PathBuf;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::facts::Facts;
use crate::probe::ProbeError;
use crate::verdict::Verdict;

/// One kind of check. The check TOML's `[probe]` table (minus `kind`) deserialises into `Spec`;
/// `observe` gathers an `Observation` through `Facts` and never decides; `judge` decides
/// and never does I/O. The JSON report's `evidence` is the observation.
pub trait Kind: Send + Sync + 'static {
    type Spec: DeserializeOwned + Debug + Send + Sync + 'static;
    type Observation: Serialize
        + DeserializeOwned
        + schemars::JsonSchema
        + Debug
        + Send
        + Sync
        + 'static;

    fn observe(
        spec: &Self::Spec,
        facts: &Facts,
    ) -> impl Future<Output = Result<Self::Observation, Unobserved>> + Send;

    fn judge(spec: &Self::Spec, observation: &Self::Observation) -> Verdict;
}

/// Why a check has no observation. The runner turns these into `error` or `skip` in one place
/// (`Unobserved::status`), with the same wording for every check.
#[derive(
    Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(tag = "unobserved", rename_all = "kebab-case")]
pub enum Unobserved {
    /// mailcheck is not root and the file is not readable by it.
    #[error("needs root to read {}", .path.display())]
    NeedsRoot { path: PathBuf },
    /// A file the check must read does not exist.
    #[error("{} does not exist", .path.display())]
    Missing { path: PathBuf },
    #[error("cannot read {}: {message}", .path.display())]
    Unreadable { path: PathBuf, message: String },
    #[error("{}:{line}: {message}", .path.display())]
    Unparsable {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A program mailcheck runs, or a server, did not answer in time.
    #[error("{what} did not answer within {seconds} s")]
    Timeout { what: String, seconds: f64 },
    /// The check cannot apply here; becomes `skip`.
    #[error("{reason}")]
    NotApplicable { reason: String },
    /// Anything else that kept the probe from observing (a crashed task, a program that failed).
    #[error("{0}")]
    Failed(String),
}

/// The fix for what mailcheck could not read without root.
pub const AS_ROOT: &str = "run mailcheck as root on the mail server (it only reads)";

impl Unobserved {
    /// `error`, or `skip` for what does not apply; with the fix a person can act on.
    pub fn verdict(&self) -> Verdict {
        match self {
            Unobserved::NotApplicable { .. } => Verdict::skip(self.to_string()),
            Unobserved::NeedsRoot { .. } => Verdict::error(self.to_string()).with_fix(AS_ROOT),
            _ => Verdict::error(self.to_string()),
        }
    }
}

impl From<crate::probe::procfs::TableGap> for Unobserved {
    /// A check that found no process cannot say the daemon is not running.
    fn from(g: crate::probe::procfs::TableGap) -> Self {
        if g.as_root {
            Unobserved::Failed(format!("cannot tell which processes run: {}", g.reason))
        } else {
            Unobserved::NeedsRoot {
                path: PathBuf::from("/proc"),
            }
        }
    }
}

impl From<ProbeError> for Unobserved {
    fn from(e: ProbeError) -> Self {
        match e {
            ProbeError::PermissionDenied { path } => Unobserved::NeedsRoot { path },
            ProbeError::NotFound { path } => Unobserved::Missing { path },
            ProbeError::Io { path, message } => Unobserved::Unreadable { path, message },
            ProbeError::Parse {
                path,
                line,
                message,
            } => Unobserved::Unparsable {
                path,
                line,
                message,
            },
            ProbeError::Other(m) => Unobserved::Failed(m),
        }
    }
}

/// What one evaluation produced: the verdict and what it was judged on (the observation, or
/// why there was none), as JSON for the report and for `--record`.
#[derive(Debug, Clone)]
pub struct Evaluated {
    pub verdict: Verdict,
    pub evidence: Evidence,
}

/// The facts behind a verdict, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub enum Evidence {
    Observation(serde_json::Value),
    Unobserved(Unobserved),
}

impl Evidence {
    /// The JSON report's `evidence` value.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Evidence::Observation(v) => v.clone(),
            Evidence::Unobserved(u) => serde_json::to_value(u).unwrap_or_default(),
        }
    }
}

/// Why a recorded observation could not be judged.
#[derive(Debug, thiserror::Error)]
#[error("the observation does not fit kind `{kind}`: {source}")]
pub struct RecordedError {
    pub kind: String,
    #[source]
    pub source: serde_json::Error,
}

/// A kind, type-erased: what the catalogue and the runner see.
pub trait ErasedKind: Send + Sync {
    fn meta(&self) -> KindMeta;
    /// Validates a check's `[probe]` table (without `kind`) into a loaded probe.
    fn load(&self, table: toml::Table) -> Result<Box<dyn LoadedProbe>, SpecError>;
    /// The JSON Schema of the observation (the report's `evidence`).
    fn observation_schema(&self) -> serde_json::Value;
}

/// A `[probe]` table that does not fit its kind's spec: the key (when one is to blame) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", key.as_deref().map(|k| format!("{k}: ")).unwrap_or_default())]
pub struct SpecError {
    pub key: Option<String>,
    pub message: String,
}

/// A check's validated `[probe]`, ready to run.
pub trait LoadedProbe: Send + Sync + Debug {
    fn meta(&self) -> KindMeta;
    fn evaluate<'a>(&'a self, facts: &'a Facts) -> BoxFuture<'a, Evaluated>;
    /// Judges a recorded observation with this check's spec, without any I/O.
    fn judge_recorded(&self, observation: serde_json::Value) -> Result<Verdict, RecordedError>;
    fn clone_box(&self) -> Box<dyn LoadedProbe>;
}

impl Clone for Box<dyn LoadedProbe> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// A kind's names, derived from where its type lives: `checks::<family>::<file>::<Type>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindMeta {
    /// The Rust path of the type, e.g. `mailcheck::checks::smtp::banner::Banner`.
    pub type_path: &'static str,
}

impl KindMeta {
    fn segments(&self) -> Vec<&'static str> {
        self.type_path.split("::").collect()
    }
    /// The family directory, e.g. `smtp`.
    pub fn family(&self) -> &'static str {
        let s = self.segments();
        s.iter()
            .position(|x| *x == "checks")
            .and_then(|i| s.get(i + 1).copied())
            .unwrap_or("")
    }
    /// The kind's file stem, e.g. `vmail_tree`.
    pub fn file(&self) -> &'static str {
        let s = self.segments();
        s.len()
            .checked_sub(2)
            .and_then(|i| s.get(i).copied())
            .unwrap_or("")
    }
    /// The type's name, e.g. `VmailTree`.
    pub fn type_name(&self) -> &'static str {
        self.segments().last().copied().unwrap_or("")
    }
    /// The name a check TOML gives in `[probe] kind`, e.g. `vmail-tree`.
    pub fn name(&self) -> String {
        self.file().replace('_', "-")
    }
}

/// The registry's adapter from a `Kind` to `ErasedKind`.
pub struct Registered<K>(PhantomData<fn() -> K>);

impl<K> Default for Registered<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K> Registered<K> {
    pub const fn new() -> Self {
        Registered(PhantomData)
    }
}

fn meta_of<K: Kind>() -> KindMeta {
    KindMeta {
        type_path: std::any::type_name::<K>(),
    }
}

impl<K: Kind> ErasedKind for Registered<K> {
    fn meta(&self) -> KindMeta {
        meta_of::<K>()
    }

    fn load(&self, table: toml::Table) -> Result<Box<dyn LoadedProbe>, SpecError> {
        let de = toml::Value::Table(table);
        let spec: K::Spec = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            SpecError {
                key: (path != "." && !path.is_empty()).then_some(path),
                message: e.inner().to_string(),
            }
        })?;
        Ok(Box::new(Loaded::<K> {
            spec: std::sync::Arc::new(spec),
        }))
    }

    fn observation_schema(&self) -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(K::Observation)).unwrap_or_default()
    }
}

struct Loaded<K: Kind> {
    spec: std::sync::Arc<K::Spec>,
}

impl<K: Kind> Debug for Loaded<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({:?})", meta_of::<K>().name(), self.spec)
    }
}

impl<K: Kind> LoadedProbe for Loaded<K> {
    fn meta(&self) -> KindMeta {
        meta_of::<K>()
    }

    fn evaluate<'a>(&'a self, facts: &'a Facts) -> BoxFuture<'a, Evaluated> {
        async move {
            match K::observe(&self.spec, facts).await {
                Ok(o) => Evaluated {
                    verdict: K::judge(&self.spec, &o),
                    evidence: Evidence::Observation(serde_json::to_value(&o).unwrap_or_default()),
                },
                Err(u) => Evaluated {
                    verdict: u.verdict(),
                    evidence: Evidence::Unobserved(u),
                },
            }
        }
        .boxed()
    }

    fn judge_recorded(&self, observation: serde_json::Value) -> Result<Verdict, RecordedError> {
        let o: K::Observation =
            serde_path_to_error::deserialize(observation).map_err(|e| RecordedError {
                kind: format!("{} at {}", meta_of::<K>().name(), e.path()),
                source: e.into_inner(),
            })?;
        Ok(K::judge(&self.spec, &o))
    }

    fn clone_box(&self) -> Box<dyn LoadedProbe> {
        Box::new(Loaded::<K> {
            spec: self.spec.clone(),
        })
    }
}

/// Lists every kind once; generates the registry the catalogue loads `[probe] kind` from.
#[macro_export]
macro_rules! register_kinds {
    ($($path:path),* $(,)?) => {
        /// Every check kind, one line each.
        pub static KINDS: &[&dyn $crate::checks::kind::ErasedKind] = &[
            $( &$crate::checks::kind::Registered::<$path>::new() ),*
        ];
    };
}
