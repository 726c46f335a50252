//! Every check kind, registered once. The catalogue finds a check's `[probe] kind` here (by
//! family and name); nothing else lists kinds. A kind's name, file and type agree:
//! `checks/smtp/banner.rs` holds `Banner`, named `banner` in `checks/smtp/*.toml`.

use super::kind::{ErasedKind, KindMeta};

crate::register_kinds![
    // smtp
    crate::checks::smtp::banner::Banner,
    // tls
    crate::checks::tls::certificate::Certificate,
    crate::checks::tls::starttls::Starttls,
    crate::checks::tls::material::Material,
    // auth
    crate::checks::auth::wrong_password_refused::WrongPasswordRefused,
    crate::checks::auth::login_works::LoginWorks,
    crate::checks::auth::mechanisms_offered::MechanismsOffered,
    // relay
    crate::checks::relay::authenticated_accepted::AuthenticatedAccepted,
    crate::checks::relay::unauthenticated_refused::UnauthenticatedRefused,
    // submission
    crate::checks::submission::auth_required::AuthRequired,
    crate::checks::submission::tls_required::TlsRequired,
    crate::checks::submission::listening::Listening,
    // size
    crate::checks::size::oversize_refused::OversizeRefused,
    crate::checks::size::advertised::Advertised,
    // delivery
    crate::checks::delivery::attachment_ban::AttachmentBan,
    crate::checks::delivery::via::Via,
    // postfix
    crate::checks::postfix::myhostname_fqdn::MyhostnameFqdn,
    crate::checks::postfix::myorigin_mailname::MyoriginMailname,
    crate::checks::postfix::mynetworks_loopback::MynetworksLoopback,
    crate::checks::postfix::mydestination_empty::MydestinationEmpty,
    crate::checks::postfix::aliases_db_current::AliasesDbCurrent,
    crate::checks::postfix::settings::Settings,
    crate::checks::postfix::mysql_map_files::MysqlMapFiles,
    crate::checks::postfix::virtual_settings::VirtualSettings,
    crate::checks::postfix::relay_domains_map::RelayDomainsMap,
    crate::checks::postfix::recipient_restrictions::RecipientRestrictions,
    crate::checks::postfix::tls_settings::TlsSettings,
    crate::checks::postfix::submission_service::SubmissionService,
    crate::checks::postfix::mime_header_checks::MimeHeaderChecks,
    crate::checks::postfix::message_size_limit::MessageSizeLimit,
    crate::checks::postfix::config_sane::ConfigSane,
    crate::checks::postfix::ports_listening::PortsListening,
    crate::checks::postfix::deprecated_params::DeprecatedParams,
    crate::checks::postfix::compatibility_level::CompatibilityLevel,
    crate::checks::postfix::chroot_copies::ChrootCopies,
    crate::checks::postfix::reload_pending::ReloadPending,
    // fs
    crate::checks::fs::vmail_tree::VmailTree,
    crate::checks::fs::mysql_maps_perms::MysqlMapsPerms,
    crate::checks::fs::maps_access::MapsAccess,
    crate::checks::fs::maildir_access::MaildirAccess,
    // mysql
    crate::checks::mysql::server_reachable::ServerReachable,
    crate::checks::mysql::map_credentials::MapCredentials,
    crate::checks::mysql::postfixadmin_tables::PostfixadminTables,
    crate::checks::mysql::maps_answer::MapsAnswer,
    crate::checks::mysql::alias_chains::AliasChains,
    crate::checks::mysql::upgrade_pending::UpgradePending,
    crate::checks::mysql::tables_readable::TablesReadable,
    crate::checks::mysql::server_listens::ServerListens,
    // sasl
    crate::checks::sasl::saslauthd_defaults::SaslauthdDefaults,
    crate::checks::sasl::saslauthd_socket::SaslauthdSocket,
    crate::checks::sasl::saslauthd_symlink::SaslauthdSymlink,
    crate::checks::sasl::pam_smtp::PamSmtp,
    crate::checks::sasl::smtpd_conf::SmtpdConf,
    crate::checks::sasl::postfix_in_sasl::PostfixInSasl,
    crate::checks::sasl::saslauthd_auth::SaslauthdAuth,
    crate::checks::sasl::smtpd_conf_path::SmtpdConfPath,
    crate::checks::sasl::socket_access::SocketAccess,
    crate::checks::sasl::saslauthd_running::SaslauthdRunning,
    crate::checks::sasl::pam_mysql_login::PamMysqlLogin,
    // system
    crate::checks::system::vmail_user::VmailUser,
    crate::checks::system::versions::Versions,
    crate::checks::system::packaging_leftovers::PackagingLeftovers,
    // queue
    crate::checks::queue::no_stuck_mail::NoStuckMail,
    crate::checks::queue::queue_access::QueueAccess,
    // log
    crate::checks::log::server_log::ServerLog,
    // hardening
    crate::checks::hardening::smuggling::Smuggling,
    crate::checks::hardening::starttls_injection::StarttlsInjection,
    crate::checks::hardening::pipelining::Pipelining,
    crate::checks::hardening::vrfy::Vrfy,
    crate::checks::hardening::auth_before_tls::AuthBeforeTls,
    crate::checks::hardening::tls_floor::TlsFloor,
    crate::checks::hardening::certificate_algorithms::CertificateAlgorithms,
    crate::checks::hardening::relay_tricks::RelayTricks,
];

/// The kind named `name` in `family`.
pub fn find(family: &str, name: &str) -> Option<&'static dyn ErasedKind> {
    KINDS
        .iter()
        .copied()
        .find(|k| k.meta().family() == family && k.meta().name() == name)
}

/// The names of `family`'s kinds (for the error on an unknown kind).
pub fn names(family: &str) -> Vec<String> {
    KINDS
        .iter()
        .map(|k| k.meta())
        .filter(|m: &KindMeta| m.family() == family)
        .map(|m| m.name())
        .collect()
}
