//! The Rust side of each check kind: which probe to ask (through the run's shared facts) and
//! the pure judge that turns the observation into a verdict. The TOML in `checks/` picks the
//! kind and its parameters under `[probe]`.

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

use crate::catalogue::Check;
use crate::context::Ctx;
use crate::verdict::Verdict;

/// A check's `[probe]` table: `kind` selects the variant, the other keys are its parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Probe {
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
    /// T18: test mail reaches the account's Maildir.
    Delivery(delivery::DeliverySpec),
    /// T34 (live): an .exe attachment is refused.
    AttachmentBan(delivery::AttachmentBanSpec),
    /// T1: the MX port greets with 220 naming myhostname; EHLO answers.
    SmtpBanner(smtp::BannerSpec),
    /// T29: STARTTLS on a port.
    Starttls(tls::StarttlsSpec),
    /// T29: the served certificate.
    TlsCertificate(tls::CertificateSpec),
    /// T30: AUTH mechanisms after STARTTLS.
    AuthMechanisms(auth::MechanismsSpec),
    /// T30: the account logs in with each mechanism.
    AuthLogin(auth::LoginSpec),
    /// T30: a wrong password is refused.
    AuthWrongPassword(auth::WrongPasswordSpec),
    /// T31: no relaying for unauthenticated clients outside mynetworks.
    RelayUnauthenticated(relay::UnauthenticatedSpec),
    /// T31: relaying after AUTH.
    RelayAuthenticated(relay::AuthenticatedSpec),
    /// T33: the submission port listens.
    SubmissionListening(submission::ListeningSpec),
    /// T33: the submission port requires TLS.
    SubmissionTlsRequired(submission::TlsRequiredSpec),
    /// T33: the submission port requires AUTH.
    SubmissionAuthRequired(submission::AuthRequiredSpec),
    /// T35: EHLO announces SIZE = message_size_limit.
    SizeAdvertised(size::AdvertisedSpec),
    /// T35: a declared size above the limit gets 552.
    SizeOversize(size::OversizeSpec),
}

/// Observes what `check` needs and judges it.
pub async fn evaluate(check: &Check, ctx: &Ctx) -> Verdict {
    match &check.probe {
        Probe::Mydestination(spec) => postfix::mydestination(spec, ctx).await,
        Probe::MyhostnameFqdn(spec) => postfix::myhostname_fqdn(spec, ctx).await,
        Probe::MyoriginMailname(spec) => postfix::myorigin_mailname(spec, ctx).await,
        Probe::MynetworksLoopback(spec) => postfix::mynetworks_loopback(spec, ctx).await,
        Probe::AliasesDbCurrent(spec) => postfix::aliases_db_current(spec, ctx).await,
        Probe::MainCfValues(spec) => postfix::main_cf_values(spec, ctx).await,
        Probe::MysqlMapFiles(spec) => postfix::mysql_map_files(spec, ctx).await,
        Probe::VirtualSettings(spec) => postfix::virtual_settings(spec, ctx).await,
        Probe::RelayDomainsMap(spec) => postfix::relay_domains_map(spec, ctx).await,
        Probe::RecipientRestrictions(spec) => postfix::recipient_restrictions(spec, ctx).await,
        Probe::TlsSettings(spec) => postfix::tls_settings(spec, ctx).await,
        Probe::MasterService(spec) => postfix::master_service(spec, ctx).await,
        Probe::MimeHeaderChecks(spec) => postfix::mime_header_checks(spec, ctx).await,
        Probe::MessageSizeLimit(spec) => postfix::message_size_limit(spec, ctx).await,
        Probe::ConfigSane(spec) => postfix::config_sane(spec, ctx).await,
        Probe::PortsListening(spec) => postfix::ports_listening(spec, ctx).await,
        Probe::MapFilesMode(spec) => fs::map_files_mode(spec, ctx).await,
        Probe::MysqlServerReachable(spec) => mysql::server_reachable(spec, ctx).await,
        Probe::MysqlMapCredentials(spec) => mysql::map_credentials(spec, ctx).await,
        Probe::MysqlPostfixadminTables(spec) => mysql::postfixadmin_tables(spec, ctx).await,
        Probe::MysqlMapsAnswer(spec) => mysql::maps_answer(spec, ctx).await,
        Probe::SaslauthdSocket(spec) => sasl::saslauthd_socket(spec, ctx).await,
        Probe::VmailUser(spec) => system::vmail_user(spec, ctx).await,
        Probe::VmailTree(spec) => fs::vmail_tree(spec, ctx).await,
        Probe::SaslauthdDefaults(spec) => sasl::saslauthd_defaults(spec, ctx).await,
        Probe::SaslauthdSymlink(spec) => sasl::saslauthd_symlink(spec, ctx).await,
        Probe::PamService(spec) => sasl::pam_service(spec, ctx).await,
        Probe::SmtpdSaslConf(spec) => sasl::smtpd_sasl_conf(spec, ctx).await,
        Probe::UserInGroup(spec) => sasl::user_in_group(spec, ctx).await,
        Probe::SaslauthdAuth(spec) => sasl::saslauthd_auth(spec, ctx).await,
        Probe::StuckMail(spec) => queue::stuck_mail(spec, ctx).await,
        Probe::Delivery(spec) => delivery::deliver(spec, ctx).await,
        Probe::AttachmentBan(spec) => delivery::attachment_ban(spec, ctx).await,
        Probe::SmtpBanner(spec) => smtp::banner(spec, ctx).await,
        Probe::Starttls(spec) => tls::starttls(spec, ctx).await,
        Probe::TlsCertificate(spec) => tls::certificate(spec, ctx).await,
        Probe::AuthMechanisms(spec) => auth::mechanisms(spec, ctx).await,
        Probe::AuthLogin(spec) => auth::login(spec, ctx).await,
        Probe::AuthWrongPassword(spec) => auth::wrong_password(spec, ctx).await,
        Probe::RelayUnauthenticated(spec) => relay::unauthenticated(spec, ctx).await,
        Probe::RelayAuthenticated(spec) => relay::authenticated(spec, ctx).await,
        Probe::SubmissionListening(spec) => submission::listening(spec, ctx).await,
        Probe::SubmissionTlsRequired(spec) => submission::tls_required(spec, ctx).await,
        Probe::SubmissionAuthRequired(spec) => submission::auth_required(spec, ctx).await,
        Probe::SizeAdvertised(spec) => size::advertised(spec, ctx).await,
        Probe::SizeOversize(spec) => size::oversize(spec, ctx).await,
    }
}

/// Judges a recorded observation (a fixture) with the check's own judge, without any I/O.
pub fn judge_recorded(check: &Check, observation: toml::Value) -> Result<Verdict, String> {
    fn obs<T: serde::de::DeserializeOwned>(v: toml::Value) -> Result<T, String> {
        v.try_into().map_err(|e: toml::de::Error| e.to_string())
    }
    Ok(match &check.probe {
        Probe::Mydestination(spec) => postfix::judge_mydestination(spec, &obs(observation)?),
        Probe::MyhostnameFqdn(spec) => postfix::judge_myhostname_fqdn(spec, &obs(observation)?),
        Probe::MyoriginMailname(spec) => postfix::judge_myorigin_mailname(spec, &obs(observation)?),
        Probe::MynetworksLoopback(spec) => {
            postfix::judge_mynetworks_loopback(spec, &obs(observation)?)
        }
        Probe::AliasesDbCurrent(spec) => {
            postfix::judge_aliases_db_current(spec, &obs(observation)?)
        }
        Probe::MainCfValues(spec) => postfix::judge_main_cf_values(spec, &obs(observation)?),
        Probe::MysqlMapFiles(spec) => postfix::judge_mysql_map_files(spec, &obs(observation)?),
        Probe::VirtualSettings(spec) => postfix::judge_virtual_settings(spec, &obs(observation)?),
        Probe::RelayDomainsMap(spec) => postfix::judge_relay_domains_map(spec, &obs(observation)?),
        Probe::RecipientRestrictions(spec) => {
            postfix::judge_recipient_restrictions(spec, &obs(observation)?)
        }
        Probe::TlsSettings(spec) => postfix::judge_tls_settings(spec, &obs(observation)?),
        Probe::MasterService(spec) => postfix::judge_master_service(spec, &obs(observation)?),
        Probe::MimeHeaderChecks(spec) => {
            postfix::judge_mime_header_checks(spec, &obs(observation)?)
        }
        Probe::MessageSizeLimit(spec) => {
            postfix::judge_message_size_limit(spec, &obs(observation)?)
        }
        Probe::ConfigSane(spec) => postfix::judge_config_sane(spec, &obs(observation)?),
        Probe::PortsListening(spec) => postfix::judge_ports_listening(spec, &obs(observation)?),
        Probe::MapFilesMode(spec) => fs::judge_map_files_mode(spec, &obs(observation)?),
        Probe::MysqlServerReachable(spec) => {
            mysql::judge_server_reachable(spec, &obs(observation)?)
        }
        Probe::MysqlMapCredentials(spec) => mysql::judge_map_credentials(spec, &obs(observation)?),
        Probe::MysqlPostfixadminTables(spec) => {
            mysql::judge_postfixadmin_tables(spec, &obs(observation)?)
        }
        Probe::MysqlMapsAnswer(spec) => mysql::judge_maps_answer(spec, &obs(observation)?),
        Probe::SaslauthdSocket(spec) => sasl::judge_saslauthd_socket(spec, &obs(observation)?),
        Probe::VmailUser(spec) => system::judge_vmail_user(spec, &obs(observation)?),
        Probe::VmailTree(spec) => fs::judge_vmail_tree(spec, &obs(observation)?),
        Probe::SaslauthdDefaults(spec) => sasl::judge_saslauthd_defaults(spec, &obs(observation)?),
        Probe::SaslauthdSymlink(spec) => sasl::judge_saslauthd_symlink(spec, &obs(observation)?),
        Probe::PamService(spec) => sasl::judge_pam_service(spec, &obs(observation)?),
        Probe::SmtpdSaslConf(spec) => sasl::judge_smtpd_sasl_conf(spec, &obs(observation)?),
        Probe::UserInGroup(spec) => sasl::judge_user_in_group(spec, &obs(observation)?),
        Probe::Delivery(spec) => delivery::judge_delivery(spec, &obs(observation)?),
        Probe::AttachmentBan(spec) => delivery::judge_attachment_ban(spec, &obs(observation)?),
        Probe::SaslauthdAuth(spec) => sasl::judge_saslauthd_auth(spec, &obs(observation)?),
        Probe::StuckMail(spec) => queue::judge_stuck_mail(spec, &obs(observation)?),
        Probe::SmtpBanner(spec) => smtp::judge_banner(spec, &obs(observation)?),
        Probe::Starttls(spec) => tls::judge_starttls(spec, &obs(observation)?),
        Probe::TlsCertificate(spec) => tls::judge_certificate(spec, &obs(observation)?),
        Probe::AuthMechanisms(spec) => auth::judge_mechanisms(spec, &obs(observation)?),
        Probe::AuthLogin(spec) => auth::judge_login(spec, &obs(observation)?),
        Probe::AuthWrongPassword(spec) => auth::judge_wrong_password(spec, &obs(observation)?),
        Probe::RelayUnauthenticated(spec) => relay::judge_unauthenticated(spec, &obs(observation)?),
        Probe::RelayAuthenticated(spec) => relay::judge_authenticated(spec, &obs(observation)?),
        Probe::SubmissionListening(spec) => submission::judge_listening(spec, &obs(observation)?),
        Probe::SubmissionTlsRequired(spec) => {
            submission::judge_tls_required(spec, &obs(observation)?)
        }
        Probe::SubmissionAuthRequired(spec) => {
            submission::judge_auth_required(spec, &obs(observation)?)
        }
        Probe::SizeAdvertised(spec) => size::judge_advertised(spec, &obs(observation)?),
        Probe::SizeOversize(spec) => size::judge_oversize(spec, &obs(observation)?),
    })
}
