//! `--record DIR`: each check's observation (or why there was none) as a file
//! `DIR/<check-id>.json`, with the run's context in `DIR/run.json`; secrets redacted like every
//! other output. The same per-check format is a judge fixture (`fixtures/<check-id>/*.json`),
//! and `--replay DIR` judges a recording again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::RunReport;
use crate::runner::Abilities;
use crate::verdict::Status;

/// The context of a recorded run (`run.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunInfo {
    pub host: String,
    pub account: Option<String>,
    /// RFC 3339.
    pub started: String,
    pub abilities: Abilities,
    /// Versions of what the server runs, as the report's target carries them.
    #[serde(default)]
    pub versions: BTreeMap<String, String>,
    /// The mailcheck version that recorded it.
    pub mailcheck: String,
}

/// One check's recording, and the shape of a judge fixture.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordEntry {
    pub check: String,
    /// Where it came from: "recorded on HOST by mailcheck VERSION at TIME", or why a fixture
    /// is hand-written.
    pub origin: String,
    pub verdict: Status,
    /// The exact message (recorded); fixtures may give `message_contains` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub message_contains: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation: Option<serde_json::Value>,
    /// Why there was no observation (the runner's `Unobserved`, as JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unobserved: Option<serde_json::Value>,
    /// Where the check ran (recordings made before this field: see [`vantage`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vantage: Option<crate::runner::Vantage>,
}

/// Where a recorded check ran: as recorded, else, for an observed check of a recording made
/// before vantages were recorded, what the run's abilities say (host-side checks ran only on
/// the server then).
pub fn vantage(run: &RunInfo, e: &RecordEntry) -> Option<crate::runner::Vantage> {
    if e.vantage.is_some() || e.observation.is_none() {
        return e.vantage.clone();
    }
    Some(crate::runner::Vantage {
        place: if run.abilities.local {
            crate::runner::Place::Server
        } else {
            crate::runner::Place::Remote
        },
        address: None,
    })
}

/// A recording read back.
#[derive(Debug, Clone)]
pub struct Recording {
    pub run: RunInfo,
    pub checks: BTreeMap<String, RecordEntry>,
}

/// Why a recording could not be written or read; names the file.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", .path.display())]
    Invalid {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// The entry of one result.
pub fn entry(report: &RunReport, r: &crate::runner::CheckResult) -> RecordEntry {
    let (observation, unobserved) = match (&r.evidence, r.observed) {
        (serde_json::Value::Null, _) => (None, None),
        (e, true) => (Some(e.clone()), None),
        (e, false) => (None, Some(e.clone())),
    };
    RecordEntry {
        check: r.id.clone(),
        origin: format!(
            "recorded on {} by mailcheck {} at {}",
            report.host,
            env!("CARGO_PKG_VERSION"),
            crate::clock::rfc3339(report.started)
        ),
        verdict: r.verdict.status,
        message: Some(r.verdict.message.clone()),
        message_contains: Vec::new(),
        observation,
        unobserved,
        vantage: r.vantage.clone(),
    }
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), RecordError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| RecordError::Invalid {
        path: path.to_path_buf(),
        source: e,
    })?;
    text.push('\n');
    std::fs::write(path, text).map_err(|e| RecordError::Write {
        path: path.to_path_buf(),
        source: e,
    })
}

/// Writes the (already redacted) report's observations into `dir`.
pub fn write(dir: &Path, report: &RunReport) -> Result<(), RecordError> {
    std::fs::create_dir_all(dir).map_err(|e| RecordError::Write {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let info = RunInfo {
        host: report.host.clone(),
        account: report.account.clone(),
        started: crate::clock::rfc3339(report.started),
        abilities: report.abilities,
        versions: report.versions.clone(),
        mailcheck: env!("CARGO_PKG_VERSION").to_string(),
    };
    write_json(&dir.join("run.json"), &info)?;
    for r in &report.results {
        write_json(&dir.join(format!("{}.json", r.id)), &entry(report, r))?;
    }
    Ok(())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RecordError> {
    let text = std::fs::read_to_string(path).map_err(|e| RecordError::Read {
        path: path.to_path_buf(),
        source: e,
    })?;
    serde_json::from_str(&text).map_err(|e| RecordError::Invalid {
        path: path.to_path_buf(),
        source: e,
    })
}

/// Reads one check's entry (a recording's or a fixture).
pub fn read_entry(path: &Path) -> Result<RecordEntry, RecordError> {
    read_json(path)
}

/// Reads a recording written by `write`.
pub fn read(dir: &Path) -> Result<Recording, RecordError> {
    let run: RunInfo = read_json(&dir.join("run.json"))?;
    let mut checks = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| RecordError::Read {
        path: dir.to_path_buf(),
        source: e,
    })?;
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "run.json" || !name.ends_with(".json") {
            continue;
        }
        let entry = read_entry(&path)?;
        checks.insert(entry.check.clone(), entry);
    }
    Ok(Recording { run, checks })
}
