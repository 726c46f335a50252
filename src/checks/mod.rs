//! The Rust side of each check kind: which probe to ask (through the run's shared facts) and
//! the pure judge that turns the observation into a verdict. The TOML in `checks/` picks the
//! kind and its parameters under `[probe]`.

pub mod fs;
pub mod postfix;
pub mod sasl;

use serde::Deserialize;

use crate::catalogue::Check;
use crate::context::Ctx;
use crate::verdict::Verdict;

/// A check's `[probe]` table: `kind` selects the variant, the other keys are its parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Probe {
    /// T5: mydestination holds no virtual domain.
    Mydestination(postfix::MydestinationSpec),
    /// T14: map files' group and mode.
    MapFilesMode(fs::MapFilesModeSpec),
    /// T20: saslauthd runs with its socket inside Postfix's chroot.
    SaslauthdSocket(sasl::SaslauthdSocketSpec),
}

/// Observes what `check` needs and judges it.
pub async fn evaluate(check: &Check, ctx: &Ctx) -> Verdict {
    match &check.probe {
        Probe::Mydestination(spec) => postfix::mydestination(spec, ctx).await,
        Probe::MapFilesMode(spec) => fs::map_files_mode(spec, ctx).await,
        Probe::SaslauthdSocket(spec) => sasl::saslauthd_socket(spec, ctx).await,
    }
}

/// Judges a recorded observation (a fixture) with the check's own judge, without any I/O.
pub fn judge_recorded(check: &Check, observation: toml::Value) -> Result<Verdict, String> {
    fn obs<T: serde::de::DeserializeOwned>(v: toml::Value) -> Result<T, String> {
        v.try_into().map_err(|e: toml::de::Error| e.to_string())
    }
    Ok(match &check.probe {
        Probe::Mydestination(spec) => postfix::judge_mydestination(spec, &obs(observation)?),
        Probe::MapFilesMode(spec) => fs::judge_map_files_mode(spec, &obs(observation)?),
        Probe::SaslauthdSocket(spec) => sasl::judge_saslauthd_socket(spec, &obs(observation)?),
    })
}
