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
    /// T5: mydestination holds no virtual domain.
    Mydestination(postfix::MydestinationSpec),
    /// T2: myhostname is fully qualified and resolves.
    MyhostnameFqdn(postfix::MyhostnameSpec),
    /// T3: /etc/mailname holds the mail domain; myorigin uses it.
    MyoriginMailname(postfix::MyoriginSpec),
    /// T4: mynetworks is loopback only.
    MynetworksLoopback(postfix::MynetworksSpec),
    /// T6: alias_maps and a current aliases.db.
    AliasesDbCurrent(postfix::AliasesSpec),
    /// T7, T26: main.cf parameters with the tutorial's values.
    MainCfValues(postfix::MainCfValuesSpec),
    /// T13: the mysql map files and their lookups.
    MysqlMapFiles(postfix::MysqlMapFilesSpec),
    /// T15: virtual_* settings and the vmail ids.
    VirtualSettings(postfix::VirtualSettingsSpec),
    /// T16: relay_domains names map files that exist.
    RelayDomainsMap(postfix::RelayDomainsSpec),
    /// T27: relay restrictions.
    RecipientRestrictions(postfix::RecipientRestrictionsSpec),
    /// T28: TLS parameters and the certificate file.
    TlsSettings(postfix::TlsSettingsSpec),
    /// T32: a master.cf service and its -o overrides.
    MasterService(postfix::MasterServiceSpec),
    /// T34: mime_header_checks rejects attachments by name.
    MimeHeaderChecks(postfix::MimeHeaderChecksSpec),
    /// T35: message_size_limit.
    MessageSizeLimit(postfix::MessageSizeSpec),
    /// T37: postconf warnings and files the configuration names.
    ConfigSane(postfix::ConfigSaneSpec),
    /// T38: ports listening on all interfaces, not blocked by the host firewall.
    PortsListening(postfix::PortsListeningSpec),
}

/// Observes what `check` needs and judges it.
pub async fn evaluate(probe: &LegacyProbe, ctx: &Ctx) -> Verdict {
    match probe {
        LegacyProbe::Mydestination(spec) => postfix::mydestination(spec, ctx).await,
        LegacyProbe::MyhostnameFqdn(spec) => postfix::myhostname_fqdn(spec, ctx).await,
        LegacyProbe::MyoriginMailname(spec) => postfix::myorigin_mailname(spec, ctx).await,
        LegacyProbe::MynetworksLoopback(spec) => postfix::mynetworks_loopback(spec, ctx).await,
        LegacyProbe::AliasesDbCurrent(spec) => postfix::aliases_db_current(spec, ctx).await,
        LegacyProbe::MainCfValues(spec) => postfix::main_cf_values(spec, ctx).await,
        LegacyProbe::MysqlMapFiles(spec) => postfix::mysql_map_files(spec, ctx).await,
        LegacyProbe::VirtualSettings(spec) => postfix::virtual_settings(spec, ctx).await,
        LegacyProbe::RelayDomainsMap(spec) => postfix::relay_domains_map(spec, ctx).await,
        LegacyProbe::RecipientRestrictions(spec) => {
            postfix::recipient_restrictions(spec, ctx).await
        }
        LegacyProbe::TlsSettings(spec) => postfix::tls_settings(spec, ctx).await,
        LegacyProbe::MasterService(spec) => postfix::master_service(spec, ctx).await,
        LegacyProbe::MimeHeaderChecks(spec) => postfix::mime_header_checks(spec, ctx).await,
        LegacyProbe::MessageSizeLimit(spec) => postfix::message_size_limit(spec, ctx).await,
        LegacyProbe::ConfigSane(spec) => postfix::config_sane(spec, ctx).await,
        LegacyProbe::PortsListening(spec) => postfix::ports_listening(spec, ctx).await,
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
        LegacyProbe::Mydestination(spec) => postfix::judge_mydestination(spec, &obs(observation)?),
        LegacyProbe::MyhostnameFqdn(spec) => {
            postfix::judge_myhostname_fqdn(spec, &obs(observation)?)
        }
        LegacyProbe::MyoriginMailname(spec) => {
            postfix::judge_myorigin_mailname(spec, &obs(observation)?)
        }
        LegacyProbe::MynetworksLoopback(spec) => {
            postfix::judge_mynetworks_loopback(spec, &obs(observation)?)
        }
        LegacyProbe::AliasesDbCurrent(spec) => {
            postfix::judge_aliases_db_current(spec, &obs(observation)?)
        }
        LegacyProbe::MainCfValues(spec) => postfix::judge_main_cf_values(spec, &obs(observation)?),
        LegacyProbe::MysqlMapFiles(spec) => {
            postfix::judge_mysql_map_files(spec, &obs(observation)?)
        }
        LegacyProbe::VirtualSettings(spec) => {
            postfix::judge_virtual_settings(spec, &obs(observation)?)
        }
        LegacyProbe::RelayDomainsMap(spec) => {
            postfix::judge_relay_domains_map(spec, &obs(observation)?)
        }
        LegacyProbe::RecipientRestrictions(spec) => {
            postfix::judge_recipient_restrictions(spec, &obs(observation)?)
        }
        LegacyProbe::TlsSettings(spec) => postfix::judge_tls_settings(spec, &obs(observation)?),
        LegacyProbe::MasterService(spec) => postfix::judge_master_service(spec, &obs(observation)?),
        LegacyProbe::MimeHeaderChecks(spec) => {
            postfix::judge_mime_header_checks(spec, &obs(observation)?)
        }
        LegacyProbe::MessageSizeLimit(spec) => {
            postfix::judge_message_size_limit(spec, &obs(observation)?)
        }
        LegacyProbe::ConfigSane(spec) => postfix::judge_config_sane(spec, &obs(observation)?),
        LegacyProbe::PortsListening(spec) => {
            postfix::judge_ports_listening(spec, &obs(observation)?)
        }
    })
}
