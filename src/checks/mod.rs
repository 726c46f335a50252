//! The Rust side of each check kind (`kind.rs`: a validated spec, an observation gathered
//! through the run's facts, a pure judge), one file per kind under `checks/<family>/`, and the
//! one list that registers them (`registry.rs`). The TOML in `checks/` picks the kind under
//! `[probe] kind` and gives its parameters.
//!
//! TRANSITION: kinds not yet moved to the `Kind` shape are still dispatched through the
//! `LegacyProbe` enum below.

pub mod judge;
pub mod kind;
pub mod registry;
pub mod values;

pub mod auth;
pub mod delivery;
pub mod fs;
pub mod mysql;
pub mod postfix;
pub mod queue;
pub mod relay;
pub mod sasl;
pub mod size;
pub mod smtp;
pub mod submission;
pub mod system;
pub mod tls;

use serde::Deserialize;

use crate::context::Ctx;
use crate::verdict::Verdict;

/// A check's `[probe]` table: `kind` selects the variant, the other keys are its parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LegacyProbe {
    /// T14: map files' group and mode.
    MapFilesMode(fs::MapFilesModeSpec),
    /// T10: the database server named by the maps' hosts answers.
    MysqlServerReachable(mysql::ServerReachableSpec),
    /// T11: the maps' credentials log in and can read their tables.
    MysqlMapCredentials(mysql::MapCredentialsSpec),
    /// T12: the Postfix Admin tables and columns exist.
    MysqlPostfixadminTables(mysql::PostfixadminTablesSpec),
    /// T17: the maps answer for the account as Postfix asks them.
    MysqlMapsAnswer(mysql::MapsAnswerSpec),
    /// T20: saslauthd runs with its socket inside Postfix's chroot.
    SaslauthdSocket(sasl::SaslauthdSocketSpec),
    /// T8: the vmail user and group.
    VmailUser(system::VmailUserSpec),
    /// T9: /home/vmail and the directories below it owned by vmail.
    VmailTree(fs::VmailTreeSpec),
    /// T19: /etc/default/saslauthd.
    SaslauthdDefaults(sasl::SaslauthdDefaultsSpec),
    /// T21: the /var/run/saslauthd symlink.
    SaslauthdSymlink(sasl::SaslauthdSymlinkSpec),
    /// T22: /etc/pam.d/smtp.
    PamService(sasl::PamServiceSpec),
    /// T23: smtpd's Cyrus SASL config.
    SmtpdSaslConf(sasl::SmtpdSaslConfSpec),
    /// T24: Postfix's user in group sasl.
    UserInGroup(sasl::UserInGroupSpec),
    /// T25: saslauthd accepts the account.
    SaslauthdAuth(sasl::SaslauthdAuthSpec),
    /// T36: no mail stuck in the queue.
    StuckMail(queue::StuckMailSpec),
}

/// Observes what `check` needs and judges it.
pub async fn evaluate(probe: &LegacyProbe, ctx: &Ctx) -> Verdict {
    match probe {
        LegacyProbe::MapFilesMode(spec) => fs::map_files_mode(spec, ctx).await,
        LegacyProbe::MysqlServerReachable(spec) => mysql::server_reachable(spec, ctx).await,
        LegacyProbe::MysqlMapCredentials(spec) => mysql::map_credentials(spec, ctx).await,
        LegacyProbe::MysqlPostfixadminTables(spec) => mysql::postfixadmin_tables(spec, ctx).await,
        LegacyProbe::MysqlMapsAnswer(spec) => mysql::maps_answer(spec, ctx).await,
        LegacyProbe::SaslauthdSocket(spec) => sasl::saslauthd_socket(spec, ctx).await,
        LegacyProbe::VmailUser(spec) => system::vmail_user(spec, ctx).await,
        LegacyProbe::VmailTree(spec) => fs::vmail_tree(spec, ctx).await,
        LegacyProbe::SaslauthdDefaults(spec) => sasl::saslauthd_defaults(spec, ctx).await,
        LegacyProbe::SaslauthdSymlink(spec) => sasl::saslauthd_symlink(spec, ctx).await,
        LegacyProbe::PamService(spec) => sasl::pam_service(spec, ctx).await,
        LegacyProbe::SmtpdSaslConf(spec) => sasl::smtpd_sasl_conf(spec, ctx).await,
        LegacyProbe::UserInGroup(spec) => sasl::user_in_group(spec, ctx).await,
        LegacyProbe::SaslauthdAuth(spec) => sasl::saslauthd_auth(spec, ctx).await,
        LegacyProbe::StuckMail(spec) => queue::stuck_mail(spec, ctx).await,
    }
}

/// Judges a recorded observation (a fixture) with the check's own judge, without any I/O.
pub fn judge_recorded(
    probe: &LegacyProbe,
    observation: serde_json::Value,
) -> Result<Verdict, String> {
    fn obs<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }
    Ok(match probe {
        LegacyProbe::MapFilesMode(spec) => fs::judge_map_files_mode(spec, &obs(observation)?),
        LegacyProbe::MysqlServerReachable(spec) => {
            mysql::judge_server_reachable(spec, &obs(observation)?)
        }
        LegacyProbe::MysqlMapCredentials(spec) => {
            mysql::judge_map_credentials(spec, &obs(observation)?)
        }
        LegacyProbe::MysqlPostfixadminTables(spec) => {
            mysql::judge_postfixadmin_tables(spec, &obs(observation)?)
        }
        LegacyProbe::MysqlMapsAnswer(spec) => mysql::judge_maps_answer(spec, &obs(observation)?),
        LegacyProbe::SaslauthdSocket(spec) => {
            sasl::judge_saslauthd_socket(spec, &obs(observation)?)
        }
        LegacyProbe::VmailUser(spec) => system::judge_vmail_user(spec, &obs(observation)?),
        LegacyProbe::VmailTree(spec) => fs::judge_vmail_tree(spec, &obs(observation)?),
        LegacyProbe::SaslauthdDefaults(spec) => {
            sasl::judge_saslauthd_defaults(spec, &obs(observation)?)
        }
        LegacyProbe::SaslauthdSymlink(spec) => {
            sasl::judge_saslauthd_symlink(spec, &obs(observation)?)
        }
        LegacyProbe::PamService(spec) => sasl::judge_pam_service(spec, &obs(observation)?),
        LegacyProbe::SmtpdSaslConf(spec) => sasl::judge_smtpd_sasl_conf(spec, &obs(observation)?),
        LegacyProbe::UserInGroup(spec) => sasl::judge_user_in_group(spec, &obs(observation)?),
        LegacyProbe::SaslauthdAuth(spec) => sasl::judge_saslauthd_auth(spec, &obs(observation)?),
        LegacyProbe::StuckMail(spec) => queue::judge_stuck_mail(spec, &obs(observation)?),
    })
}
