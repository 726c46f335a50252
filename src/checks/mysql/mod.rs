//! Checks of the database behind Postfix's `mysql:` maps (mysql_table(5)): the server named by
//! `hosts` answers (T10), the maps' credentials log in and read their tables (T11), the
//! Postfix Admin tables exist (T12), and the maps answer for the account the way Postfix asks
//! them (T17). The maps are read once per run (`Facts::mysql_maps`), their passwords never
//! recorded.

pub mod alias_chains;
pub mod map_credentials;
pub mod maps_answer;
pub mod postfixadmin_tables;
pub mod server_listens;
pub mod server_reachable;
pub mod tables_readable;
pub mod upgrade_pending;

use std::path::PathBuf;
use std::sync::Arc;

use crate::checks::kind::Unobserved;
use crate::facts::Facts;
use crate::probe::lookup::{LoadedMap, MapSummary};
use crate::probe::postfix::PostfixConfig;
use crate::verdict::Verdict;

/// main.cf and the `mysql:` maps it names; not applicable when it names none.
async fn maps(facts: &Facts) -> Result<(Arc<PostfixConfig>, Arc<Vec<LoadedMap>>), Unobserved> {
    let cfg = facts.postfix().await?;
    let maps = facts.mysql_maps().await?;
    if maps.is_empty() {
        return Err(Unobserved::NotApplicable {
            reason: "main.cf names no mysql: map, so there is no database to check (see T15)"
                .into(),
        });
    }
    Ok((cfg, maps))
}

/// The summaries of the maps, as recorded (never a password).
fn summaries(maps: &[LoadedMap]) -> Vec<MapSummary> {
    maps.iter().map(|m| m.summary.clone()).collect()
}

/// The error for maps that need root to read: every database setting is in them.
fn unreadable(maps: &[MapSummary]) -> Option<Verdict> {
    let needs_root: Vec<String> = maps
        .iter()
        .filter(|m| m.needs_root)
        .map(|m| m.path.display().to_string())
        .collect();
    if needs_root.is_empty() {
        return None;
    }
    Some(Verdict::error(format!(
        "needs root to read {} (the database settings are in them)",
        needs_root.join(", ")
    )))
}

fn round_ms(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Names the first file in full and counts the rest (the evidence lists them all).
fn file_list(files: &[PathBuf]) -> String {
    match files {
        [] => "no map file".to_string(),
        [one] => one.display().to_string(),
        [first, rest @ ..] => format!(
            "{} and {} other map file{}",
            first.display(),
            rest.len(),
            if rest.len() == 1 { "" } else { "s" }
        ),
    }
}
